"""RandomCrop."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..layer import Shape
from .base import ImageAugmentation


def keras_crop_box(ih: int, iw: int, height: int, width: int, rng: Optional[np.random.Generator]
                   ) -> Tuple[int, int, int, int]:
    """Keras's RandomCrop box (top, bottom, left, right), clipped to the image:
    a random (height, width) window (one for the whole batch) when rng is given
    and the image is larger both ways, else Keras's centred aspect-ratio start
    followed by a (height, width) window clipped to the image."""
    if rng is not None and ih > height and iw > width:
        top = int(rng.uniform(0, float(ih - height + 1)))
        left = int(rng.uniform(0, float(iw - width + 1)))
    else:
        crop_h = max(min(ih, int(float(iw * height) / width)), 1)
        crop_w = max(min(iw, int(float(ih * width) / height)), 1)
        top, left = int(float(ih - crop_h) / 2), int(float(iw - crop_w) / 2)
    return top, min(top + height, ih), left, min(left + width, iw)


def resize_transforms(n: int, sh: int, sw: int, height: int, width: int) -> np.ndarray:
    """The affine maps of a bilinear resize (sh, sw) -> (height, width) with
    half-pixel centres (keras.ops.image.resize, antialias off): (n, 6)."""
    ry, rx = sh / height, sw / width
    return np.tile(np.array([rx, 0.0, 0.5 * rx - 0.5, 0.0, ry, 0.5 * ry - 0.5]), (n, 1))


class RandomCrop(ImageAugmentation):
    """Keras's RandomCrop: in training, one random (height, width) window of
    the batch's images (images no larger than the window: Keras's centred
    crop resized bilinearly to (height, width)); at inference the images pass
    UNCHANGED, as in Keras 3 (whose compute_output_shape nevertheless says
    (height, width)).  The crop is the C pad kernel with negative pads, its
    input gradient the zero padding back; the resize (affine kernel) has none."""

    def __init__(self, height: int, width: int, seed: Any = None,
                 data_format: Optional[str] = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height = chk.integer(height, "height", 1)
        self.width = chk.integer(width, "width", 1)
        self.pads: Optional[Tuple[int, int, int, int]] = None
        self.resized = False

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        s = list(input_shape)
        hi = 1 if self.data_format == "channels_last" else 2
        s[hi], s[hi + 1] = self.height, self.width
        return tuple(s)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.transformed = bool(training)
        if not self.transformed:
            return x
        nhwc = self._nhwc(x)
        n, ih, iw, c = nhwc.shape
        top, bottom, left, right = keras_crop_box(ih, iw, self.height, self.width, self._rng())
        self.pads = (-top, bottom - ih, -left, right - iw)
        y = F.pad_unchecked(nhwc, self.pads) if n else nhwc[:, top:bottom, left:right]
        sh, sw = bottom - top, right - left
        self.resized = (sh, sw) != (self.height, self.width)
        if self.resized:
            # edge-extend the crop to the output size so the bilinear taps past it
            # read its last row / column, then resample it in C
            y = np.pad(y, ((0, 0), (0, self.height - sh), (0, self.width - sw), (0, 0)),
                       mode="edge")
            t = resize_transforms(n, sh, sw, self.height, self.width)
            y = F.affine_transform_unchecked(np.ascontiguousarray(y), t, 1, 1, 0.0)
        return self._back(y)

    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:  # type: ignore[override]
        if not self.transformed or self.resized or self.pads is None:
            return super().backward(dout)
        g = self._nhwc(np.asarray(dout, dtype=self.dtype))
        return self._back(F.pad_unchecked(g, tuple(-p for p in self.pads)))  # type: ignore

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}
