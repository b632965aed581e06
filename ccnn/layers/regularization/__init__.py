"""Regularization layers, one module each: Dropout, SpatialDropout2D,
GaussianNoise, GaussianDropout (all identity at inference)."""
from .dropout import Dropout
from .gaussian_dropout import GaussianDropout
from .gaussian_noise import GaussianNoise
from .spatial_dropout import SpatialDropout2D

__all__ = ["Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"]
