"""Permute."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ... import _checks as chk
from ..layer import AnySize, Layer, Shape


class Permute(AnySize, Layer):
    """The non-batch axes of each sample reordered: dims is a permutation of
    1..ndim-1 (1-based, as in Keras), so Permute((2, 1)) swaps the two axes
    of (N, a, b).  A view; the backward applies the inverse permutation."""

    def __init__(self, dims: Any, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dims, (tuple, list)):
            raise TypeError(f"dims must be a tuple of ints, got {type(dims).__name__} {dims!r}")
        dims = tuple(chk.integer(d, f"dims[{i}]", 1) for i, d in enumerate(dims))
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims must be a permutation of 1..{len(dims)}, got {dims}")
        self.dims: Tuple[int, ...] = dims
        self.input_ndim = len(dims) + 1

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(tuple(input_shape)) != len(self.dims) + 1:
            raise ValueError(f"Permute{self.dims} expects {len(self.dims) + 1}-D input, got "
                             f"shape {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self._check_input(x).transpose((0,) + self.dims)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.transpose(np.argsort((0,) + self.dims))

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": self.dims}
