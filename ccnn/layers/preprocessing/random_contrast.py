"""RandomContrast."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import functional as F
from .base import ImageAugmentation, keras_factor


def value_range_arg(v: Any) -> Tuple[float, float]:
    if (not isinstance(v, (tuple, list)) or len(v) != 2 or not all(
            isinstance(e, numbers.Real) and not isinstance(e, bool) for e in v)
            or v[0] > v[1]):
        raise ValueError(f"value_range must be a pair (low, high) with low <= high, got {v!r}")
    return float(v[0]), float(v[1])


class RandomContrast(ImageAugmentation):
    """Keras's RandomContrast: in training, each image becomes
    (x - mean) * f + mean per channel (mean over height and width), clipped to
    value_range, with f drawn from [1 - lower, 1 + upper] for Keras's factor
    (lower, upper) -- a number f gives (0, f) in Keras 3, so f only raises
    the contrast.  In C; identity at inference; no input gradient (the model's
    first layer, as RandomTranslation)."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: Any = None,
                 data_format: Optional[str] = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = keras_factor(factor, "factor", (0.0, 1.0))
        self.value_range = tuple(value_range) if isinstance(value_range, list) else value_range
        self.low, self.high = value_range_arg(value_range)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.transformed = bool(training) and len(x) > 0
        if not self.transformed:
            return x
        f = self._rng().uniform(1.0 - self.factor[0], 1.0 + self.factor[1], size=len(x))
        return self._back(F.adjust_contrast_unchecked(self._nhwc(x), f, self.low, self.high))

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}
