"""The shared part of the image augmentation layers: the seed, the data
format, the channels-last view the C kernels take, Keras's factor argument."""
from __future__ import annotations

import abc
import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import functional as F
from ... import utils
from ..layer import AnySize, Layer, data_format_arg, seed_arg


def keras_factor(factor: Any, name: str, bounds: Tuple[float, float] = (-1.0, 1.0)
                 ) -> Tuple[float, float]:
    """Keras's BaseImagePreprocessingLayer._set_factor: a number f in bounds ->
    (max(-|f|, bounds[0]), |f|); a pair (a, b) -> sorted, with a <= bounds[1]
    and b >= bounds[0]."""
    def real(v: Any) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool)
    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(map(real, factor)):
        if factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(f"{name} must lie in {list(bounds)}, got {factor!r}")
        lo, hi = sorted(float(v) for v in factor)
        return lo, hi
    if real(factor):
        if not bounds[0] <= factor <= bounds[1]:
            raise ValueError(f"{name} must lie in {list(bounds)}, got {factor!r}")
        f = abs(float(factor))
        return max(-f, bounds[0]), f
    raise ValueError(f"{name} must be a number or a pair (lower, upper), got {factor!r}")


class ImageAugmentation(AnySize, Layer):
    """A Keras image preprocessing layer: 4-D images in `data_format`, random
    draws from the layer's own generator when `seed` is given, else from
    ccnn.utils.get_rng().  `transformed` says whether the last forward changed
    the images (training)."""

    input_ndim = 4

    def __init__(self, seed: Any = None, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.rng = seed_arg(seed)
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)
        self.transformed = False

    def build(self, input_shape: Any) -> None:
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"{type(self).__name__} expects 4-D images (batch, height, width, "
                             f"channels), got shape {tuple(input_shape)}")
        super().build(input_shape)

    def _rng(self) -> np.random.Generator:
        return self.rng if self.rng is not None else utils.get_rng()

    def _nhwc(self, x: np.ndarray) -> np.ndarray:
        """x as C-contiguous channels-last images (N, H, W, C)."""
        return np.ascontiguousarray(x if self.data_format == "channels_last"
                                    else x.transpose(0, 2, 3, 1))

    def _back(self, y: np.ndarray) -> np.ndarray:
        """channels-last y in the layer's data format."""
        return y if self.data_format == "channels_last" else y.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:  # type: ignore[override]
        """No input gradient through a random resampling (as RandomTranslation):
        the layer belongs at the model's input."""
        if not self.transformed:
            return dout
        if self.need_input_grad:
            raise ValueError(f"{self.name!r} ({type(self).__name__}) has no input gradient; "
                             f"make it the model's first layer")
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class AffineAugmentation(ImageAugmentation):
    """An augmentation resampling each image through an affine map (C's
    affine kernel, ccnn.functional.affine_transform_unchecked) with Keras's
    fill_mode ('reflect', 'wrap', 'constant' with fill_value, 'nearest') and
    interpolation ('bilinear', 'nearest')."""

    FILL_MODES: Tuple[str, ...] = ("reflect", "wrap", "constant", "nearest")
    fill_value: float

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 fill_value: float = 0.0, seed: Any = None, data_format: Optional[str] = None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in self.FILL_MODES:
            raise ValueError(f"fill_mode must be one of {self.FILL_MODES}, got {fill_mode!r}")
        self.interpolation_index, self.fill_index = F._resample_modes(interpolation, fill_mode)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"fill_value must be a number, got {fill_value!r}")
        self.fill_value = float(fill_value)

    @abc.abstractmethod
    def transforms(self, n: int, h: int, w: int) -> np.ndarray:
        """This batch's (n, 6) affine maps (keras.ops.image.affine_transform's)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.transformed = bool(training) and len(x) > 0
        if not self.transformed:
            return x
        nhwc = self._nhwc(x)
        n, h, w, _ = nhwc.shape
        t = np.ascontiguousarray(self.transforms(n, h, w), dtype=np.float64)
        return self._back(F.affine_transform_unchecked(nhwc, t, self.interpolation_index,
                                                       self.fill_index, self.fill_value))

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}
