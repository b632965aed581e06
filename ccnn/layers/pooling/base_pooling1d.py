"""Pooling1D: what MaxPooling1D and AveragePooling1D add to their 2-D forms --
Keras's int arguments, run as the 2-D kernels with a window of height 1."""
from __future__ import annotations

from typing import Any, Optional

from ..convolutional.conv1d import _one
from .base_pooling import Pooling2D


class Pooling1D(Pooling2D):
    """Mixed in before MaxPooling2D / AveragePooling2D: sequences (N, steps,
    features) as images of height 1 (ImageLayer.rank = 1)."""

    rank = 1
    input_ndim = 3

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: Optional[str] = None, **kwargs):
        k = _one(pool_size, "pool_size")
        s = k if strides is None else _one(strides, "strides")
        super().__init__(pool_size=(1, k), strides=(1, s), padding=padding,
                         data_format="channels_last" if data_format is None else data_format,
                         **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "pool_size": (config["pool_size"][1],),
                "strides": (config["strides"][1],)}
