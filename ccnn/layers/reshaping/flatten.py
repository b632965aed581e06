"""Flatten."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ... import functional as F
from ..layer import AnySize, Layer, Shape, data_format_arg


class Flatten(AnySize, Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), in the input's logical order: for
    channels-last images that is (H, W, C) order, as in Keras.  With
    data_format='channels_first' an (N, C, H, W) input is first moved to
    (N, H, W, C), as Keras does to keep weights portable between formats."""

    def __init__(self, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = None if data_format is None else data_format_arg(data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(int(d or 0) for d in rest)
        return (input_shape[0], size)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        self.x_shape = x.shape
        if x.ndim == 4 and not x.flags.c_contiguous:
            # the channels-last view of an NCHW result (Conv2D, pooling): one
            # C transpose to (H, W, C) order instead of reshape's strided copy
            x = F.move_channels_unchecked(x.transpose(0, 3, 1, 2), to_last=True)
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout.reshape(self.x_shape)
        if self.data_format == "channels_first" and dx.ndim > 2:
            dx = np.moveaxis(dx, -1, 1)
        return dx

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}
