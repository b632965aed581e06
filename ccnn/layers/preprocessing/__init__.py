"""Preprocessing layers: RandomTranslation (data augmentation, active only in training)."""
from .random_translation import RandomTranslation

__all__ = ["RandomTranslation"]
