"""UpSampling2D and UpSampling1D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..._reshaping import RESIZE_BILINEAR
from ..layer import Shape, int_pair
from .base_spatial import SpatialLayer


class UpSampling2D(SpatialLayer):
    """Each pixel repeated size = (sh, sw) times (interpolation 'nearest');
    the backward sums the copies' gradients.  interpolation 'bilinear': Keras
    3's resize to (h * sh, w * sw) with half-pixel centres, the backward its
    transpose.  C kernels: upsample.c, resize.c."""

    def __init__(self, size: Any = (2, 2), data_format: Optional[str] = None,
                 interpolation: str = "nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = int_pair(size, "size")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear' (ccnn has no "
                             f"{interpolation!r} upsampling yet), got {interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, spatial = self._split(input_shape)
        return self._join(n, c, (None if d is None else d * f
                                 for d, f in zip(spatial, self.size)))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return self._apply(self._check_input(x), lambda a4: F.resize_unchecked(
                a4, a4.shape[1] * sh, a4.shape[2] * sw, RESIZE_BILINEAR))
        return self._apply(self._check_input(x),
                           lambda a4: F.upsample_nearest_unchecked(a4, sh, sw))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return self._apply(dout, lambda g4: F.resize_backward_unchecked(
                g4, g4.shape[1] // sh, g4.shape[2] // sw, RESIZE_BILINEAR))
        return self._apply(dout, lambda g4: F.upsample_nearest_backward_unchecked(g4, sh, sw))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


class UpSampling1D(UpSampling2D):
    """Each step of a sequence (N, steps, features) repeated `size` times."""

    rank = 1

    def __init__(self, size: int = 2, **kwargs):
        super().__init__((chk.integer(size, "size", 1), 1), None, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("data_format", "interpolation"):
            del config[key]
        return {**config, "size": self.size[0]}
