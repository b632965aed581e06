"""AveragePooling1D."""
from __future__ import annotations

from .average_pooling2d import AveragePooling2D
from .base_pooling1d import Pooling1D


class AveragePooling1D(Pooling1D, AveragePooling2D):
    """Mean over each window of pool_size steps of a sequence (N, steps, features)."""
