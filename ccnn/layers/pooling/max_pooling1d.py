"""MaxPooling1D."""
from __future__ import annotations

from .base_pooling1d import Pooling1D
from .max_pooling2d import MaxPooling2D


class MaxPooling1D(Pooling1D, MaxPooling2D):
    """Max over each window of pool_size steps of a sequence (N, steps, features)."""
