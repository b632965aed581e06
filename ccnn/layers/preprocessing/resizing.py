"""Resizing."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..._reshaping import RESIZE_BILINEAR, RESIZE_NEAREST_EXACT
from ..layer import Shape
from ..reshaping.base_spatial import SpatialLayer

#: Keras's interpolation names -> resize.h's modes (Keras's "nearest" has
#: half-pixel centres: PyTorch's "nearest-exact")
RESIZE_MODES = {"bilinear": RESIZE_BILINEAR, "nearest": RESIZE_NEAREST_EXACT}


def interpolation_arg(v: Any) -> str:
    if v not in RESIZE_MODES:
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest' (ccnn has no "
                         f"{v!r} resizing), got {v!r}")
    return v


class Resizing(SpatialLayer):
    """Keras 3's Resizing: images resized to (height, width) in training and at
    inference (keras.ops.image.resize, antialias off): 'bilinear' (half-pixel
    centres) or 'nearest' (half-pixel centres).  crop_to_aspect_ratio first
    crops the largest centred window of the target's aspect ratio;
    pad_to_aspect_ratio first pads the short side evenly with fill_value (as
    Keras's torch backend: the same amount on both sides).  C kernels:
    resize.c, pad.c; the backward is the resize's transpose (then the crop's
    or the padding's)."""

    def __init__(self, height: Any, width: Any, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: Any = False, pad_to_aspect_ratio: Any = False,
                 fill_mode: str = "constant", fill_value: Any = 0.0, antialias: Any = False,
                 data_format: Optional[str] = None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.height = chk.integer(height, "height", 1)
        self.width = chk.integer(width, "width", 1)
        self.interpolation = interpolation_arg(interpolation)
        self.crop_to_aspect_ratio = chk.boolean(crop_to_aspect_ratio, "crop_to_aspect_ratio")
        self.pad_to_aspect_ratio = chk.boolean(pad_to_aspect_ratio, "pad_to_aspect_ratio")
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be "
                             "True")
        if fill_mode != "constant":
            raise ValueError(f"fill_mode must be 'constant' (Keras supports no other), got "
                             f"{fill_mode!r}")
        self.fill_mode = fill_mode
        self.fill_value = chk.finite_float(fill_value, "fill_value")
        if chk.boolean(antialias, "antialias"):
            raise ValueError("antialias must be False (ccnn has no antialiased resizing)")
        self.antialias = False

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, _ = self._split(input_shape)
        return self._join(n, c, (self.height, self.width))

    def _box(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right) pads (negative: crops) of the input before
        the resize, as Keras's torch backend computes them."""
        th, tw = self.height, self.width
        if self.crop_to_aspect_ratio:
            ch = max(min(h, int(float(w * th) / tw)), 1)
            cw = max(min(w, int(float(h * tw) / th)), 1)
            top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
            return -top, -(h - top - ch), -left, -(w - left - cw)
        if self.pad_to_aspect_ratio:
            ph = max(h, int(float(w * th) / tw))
            pw = max(w, int(float(h * tw) / th))
            top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
            return top, top, left, left
        return 0, 0, 0, 0

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.x_shape = x.shape
        mode = RESIZE_MODES[self.interpolation]

        def kernel(a4: np.ndarray) -> np.ndarray:
            box = self._box(a4.shape[1], a4.shape[2])
            if any(box):
                a4 = F.pad_unchecked(a4, box, self.fill_value)
            return F.resize_unchecked(a4, self.height, self.width, mode)
        return self._apply(x, kernel)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        first = 1 if self.data_format == "channels_last" else 2
        h, w = self.x_shape[first], self.x_shape[first + 1]
        mode = RESIZE_MODES[self.interpolation]

        def kernel(g4: np.ndarray) -> np.ndarray:
            top, bottom, left, right = self._box(h, w)
            d4 = F.resize_backward_unchecked(g4, h + top + bottom, w + left + right, mode)
            if top or bottom or left or right:
                d4 = F.pad_unchecked(d4, (-top, -bottom, -left, -right), 0.0)
            return d4
        return self._apply(np.asarray(dout, dtype=self.dtype), kernel)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}
