"""RandomTranslation."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import functional as F
from .base import AffineAugmentation


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


class RandomTranslation(AffineAugmentation):
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

    FILL_MODES = F.FILL_MODES

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: Optional[int] = None,
                 fill_value: float = 0.0, data_format: Optional[str] = None, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_range = factor_range(height_factor, "height_factor")
        self.width_range = factor_range(width_factor, "width_factor")

    def transforms(self, n: int, h: int, w: int) -> np.ndarray:
        rng = self._rng()
        dy = rng.uniform(*self.height_range, size=n) * h
        dx = rng.uniform(*self.width_range, size=n) * w
        t = np.zeros((n, 6))
        t[:, 0] = t[:, 4] = 1.0
        t[:, 2], t[:, 5] = -dx, -dy
        return t

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}
