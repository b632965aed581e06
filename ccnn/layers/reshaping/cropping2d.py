"""Cropping2D and Cropping1D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import functional as F
from ..layer import Shape
from .base_spatial import SpatialLayer, flat_pads, pad_pairs


class Cropping2D(SpatialLayer):
    """Rows and columns cut from the edges of each image: cropping = p, (ph, pw)
    or ((top, bottom), (left, right)), as Keras.  The backward pads them back
    with zeros -- the same C kernel as ZeroPadding2D."""

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: Optional[str] = None,
                 **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = pad_pairs(cropping, "cropping", self.rank)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, spatial = self._split(input_shape)
        out = []
        for d, (lo, hi) in zip(spatial, self.cropping):
            if d is not None and d - lo - hi < 1:
                raise ValueError(f"{type(self).__name__}: cropping {self.cropping} leaves "
                                 f"nothing of an input of shape {tuple(input_shape)}")
            out.append(None if d is None else d - lo - hi)
        return self._join(n, c, out)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.compute_output_shape(x.shape)     # a clear error for a too-small input
        pads = flat_pads(self.cropping, -1)
        return self._apply(x, lambda a4: F.pad_unchecked(a4, pads))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        pads = flat_pads(self.cropping, +1)
        return self._apply(dout, lambda g4: F.pad_unchecked(g4, pads))

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping1D(Cropping2D):
    """Steps cut from the start and end of each sequence (N, steps, features):
    cropping = p or (before, after).  Channels-last only, as in Keras."""

    rank = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs):
        super().__init__(cropping, None, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["data_format"]
        return {**config, "cropping": self.cropping[0]}
