"""AveragePooling1D."""
from __future__ import annotations

from typing import Any, Optional

from .average_pooling2d import AveragePooling2D
from .base_pooling1d import pooling1d_args, pooling1d_config


class AveragePooling1D(AveragePooling2D):
    """Mean over each window of pool_size steps of a sequence (N, steps, features)."""

    rank = 1
    input_ndim = 3

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: Optional[str] = None, **kwargs):
        super().__init__(padding=padding, **pooling1d_args(pool_size, strides, data_format),
                         **kwargs)

    def get_config(self) -> dict:
        return pooling1d_config(super().get_config())
