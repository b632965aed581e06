"""Reshape."""
from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

from ... import _checks as chk
from ..layer import Layer, Shape


class Reshape(Layer):
    """Each sample reshaped to target_shape (the batch axis stays); one entry
    may be -1, inferred from the input's size, as in Keras."""

    def __init__(self, target_shape: Any, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(target_shape, (tuple, list)):
            raise TypeError(f"target_shape must be a tuple of ints, got "
                            f"{type(target_shape).__name__} {target_shape!r}")
        shape = tuple(-1 if d == -1 else chk.integer(d, f"target_shape[{i}]", 1)
                      for i, d in enumerate(target_shape))
        if shape.count(-1) > 1:
            raise ValueError(f"target_shape may contain one -1, got {tuple(target_shape)}")
        self.target_shape: Tuple[int, ...] = shape

    def _resolved(self, input_shape: Shape) -> Tuple:
        """target_shape with its -1 worked out (None while the size is unknown)."""
        rest = tuple(input_shape[1:])
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = math.prod(int(d or 0) for d in rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"Reshape: an input of shape {tuple(input_shape)} cannot be "
                                 f"reshaped to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"Reshape: an input of shape {tuple(input_shape)} ({size} values "
                             f"per sample) cannot be reshaped to {self.target_shape} ({known})")
        return self.target_shape

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0],) + self._resolved(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.x_shape = x.shape
        return x.reshape((x.shape[0],) + self._resolved(x.shape))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self.x_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}
