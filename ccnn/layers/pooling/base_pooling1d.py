"""The 1-D pooling layers' arguments: Keras's ints, the 2-D kernels with a
window of height 1."""
from __future__ import annotations

from typing import Any, Optional

from ..convolutional.conv1d import _one


def pooling1d_args(pool_size: Any, strides: Any, data_format: Optional[str]) -> dict:
    """Keras's MaxPooling1D / AveragePooling1D arguments as Pooling2D's."""
    k = _one(pool_size, "pool_size")
    s = k if strides is None else _one(strides, "strides")
    return {"pool_size": (1, k), "strides": (1, s),
            "data_format": "channels_last" if data_format is None else data_format}


def pooling1d_config(config: dict) -> dict:
    """Pooling2D's config with Keras's 1-D (k,) pool_size and strides."""
    return {**config, "pool_size": (config["pool_size"][1],),
            "strides": (config["strides"][1],)}
