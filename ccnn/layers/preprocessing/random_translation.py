"""RandomTranslation."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ... import utils
from ..layer import Layer, Shape, data_format_arg


def factor_range(factor: Any, name: str) -> Tuple[float, float]:
    """Keras's factor argument: f -> (-f, f); (lo, hi) as given; each in [-1, 1]."""
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        lo, hi = -abs(float(factor)), abs(float(factor))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in factor):
        lo, hi = float(factor[0]), float(factor[1])
    else:
        raise ValueError(f"{name} must be a number or a tuple (lower, upper), got {factor!r}")
    if not (-1.0 <= lo <= hi <= 1.0):
        raise ValueError(f"{name} must lie in [-1, 1] with lower <= upper, got {factor!r}")
    return lo, hi


class RandomTranslation(Layer):
    """Keras's RandomTranslation: in training, each image is shifted by a
    random fraction of its height (drawn from height_factor) and of its width
    (width_factor) -- a float f means [-f, f], a tuple (lo, hi) that range;
    at inference the images pass unchanged.  Uncovered pixels are filled by
    fill_mode ('reflect', 'wrap', 'nearest', 'constant' with fill_value;
    'mirror'); interpolation 'bilinear' or 'nearest'.  The resampling runs in
    C (ccnn.functional.affine_transform); the shifts come from this layer's
    generator when `seed` is given, else from ccnn.utils.get_rng().

    It is meant to be a model's first layer: it has no input gradient
    (backward refuses when one is asked for)."""

    input_ndim = 4

    transformed: bool
    data_format: str
    fill_value: float

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None,
                 fill_value: float = 0.0, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_range = factor_range(height_factor, "height_factor")
        self.width_range = factor_range(width_factor, "width_factor")
        self.interpolation_index, self.fill_index = F._resample_modes(interpolation, fill_mode)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"fill_value must be a number, got {fill_value!r}")
        self.fill_value = float(fill_value)
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)
        self.seed: Optional[int] = None if seed is None else chk.integer(seed, "seed", 0)
        self.rng: Optional[np.random.Generator] = (None if self.seed is None
                                                   else np.random.default_rng(self.seed))
        self.transformed = False

    def build(self, input_shape: Shape) -> None:
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"RandomTranslation expects 4-D images (batch, height, width, "
                             f"channels), got shape {tuple(input_shape)}")
        super().build(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.transformed = bool(training) and len(x) > 0
        if not self.transformed:
            return x
        nhwc = x if self.data_format == "channels_last" else x.transpose(0, 2, 3, 1)
        nhwc = np.ascontiguousarray(nhwc)
        n, h, w, _ = nhwc.shape
        rng = self.rng if self.rng is not None else utils.get_rng()
        dy = rng.uniform(*self.height_range, size=n) * h
        dx = rng.uniform(*self.width_range, size=n) * w
        t = np.zeros((n, 6))
        t[:, 0] = t[:, 4] = 1.0
        t[:, 2], t[:, 5] = -dx, -dy
        y = F.affine_transform_unchecked(nhwc, t, self.interpolation_index, self.fill_index,
                                         self.fill_value)
        return y if self.data_format == "channels_last" else y.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:  # type: ignore[override]
        if not self.transformed:
            return dout
        if self.need_input_grad:
            raise ValueError(f"{self.name!r} (RandomTranslation) has no input gradient; make "
                             f"it the model's first layer")
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value, "data_format": self.data_format}
