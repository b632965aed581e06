"""ZeroPadding2D and ZeroPadding1D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import functional as F
from ..layer import Shape
from .base_spatial import SpatialLayer, flat_pads, pad_pairs


class ZeroPadding2D(SpatialLayer):
    """Zeros added around each image: padding = p (every side), (ph, pw) or
    ((top, bottom), (left, right)), as Keras.  The backward crops them off
    again -- the same C kernel with the pads negated."""

    def __init__(self, padding: Any = (1, 1), data_format: Optional[str] = None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = pad_pairs(padding, "padding", self.rank)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, spatial = self._split(input_shape)
        return self._join(n, c, (None if d is None else d + lo + hi
                                 for d, (lo, hi) in zip(spatial, self.padding)))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        pads = flat_pads(self.padding, +1)
        return self._apply(self._check_input(x), lambda a4: F.pad_unchecked(a4, pads))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        pads = flat_pads(self.padding, -1)
        return self._apply(dout, lambda g4: F.pad_unchecked(g4, pads))

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding}


class ZeroPadding1D(ZeroPadding2D):
    """Zeros added at the start and end of each sequence (N, steps, features):
    padding = p or (before, after)."""

    rank = 1

    def __init__(self, padding: Any = 1, data_format: Optional[str] = None, **kwargs):
        super().__init__(padding, data_format, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding[0]}
