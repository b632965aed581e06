"""Preprocessing layers, one module each, as Keras 3: the augmentations
RandomTranslation, RandomFlip, RandomRotation, RandomZoom, RandomCrop,
RandomContrast (active only in training) and Rescaling, Normalization,
Resizing (always applied); base: their shared seed / data-format handling."""
from .normalization import Normalization
from .random_contrast import RandomContrast
from .random_crop import RandomCrop
from .random_flip import RandomFlip
from .random_rotation import RandomRotation
from .random_translation import RandomTranslation
from .random_zoom import RandomZoom
from .rescaling import Rescaling
from .resizing import Resizing

__all__ = ["RandomTranslation", "RandomFlip", "RandomRotation", "RandomZoom", "RandomCrop",
           "RandomContrast", "Rescaling", "Normalization", "Resizing"]
