"""RandomZoom."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from .base import AffineAugmentation


def zoom_factor(factor: Any, name: str) -> Tuple[float, float]:
    """Keras's RandomZoom factor: f -> (-|f|, |f|), a pair sorted; each in (-1, 1]."""
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not -1.0 < float(v) <= 1.0:
            raise ValueError(f"{name} must be a number (or a pair of numbers) in (-1, 1], "
                             f"got {factor!r}")
        return float(v)
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{name} must be a number or a pair (lower, upper), got {factor!r}")
        lo, hi = sorted(check(v) for v in factor)
        return lo, hi
    f = abs(check(factor))
    return -f, f


def zoom_transforms(height_zoom: np.ndarray, width_zoom: np.ndarray, h: int, w: int
                    ) -> np.ndarray:
    """Keras's RandomZoom._get_zoom_matrix: (n, 6), input x = zw x + (w - 1)/2 (1 - zw)."""
    zh, zw = np.asarray(height_zoom, np.float64), np.asarray(width_zoom, np.float64)
    zero = np.zeros_like(zh)
    return np.stack([zw, zero, (w - 1) / 2.0 * (1.0 - zw), zero, zh,
                     (h - 1) / 2.0 * (1.0 - zh)], axis=1)


class RandomZoom(AffineAugmentation):
    """Keras's RandomZoom: in training, each image is zoomed about its centre by
    1 + u, u drawn from height_factor vertically and from width_factor
    horizontally (None: the same zoom both ways); a positive u zooms out.
    Resampled in C by ccnn.functional's affine kernel; identity at inference.
    No input gradient (the model's first layer, as RandomTranslation)."""

    def __init__(self, height_factor: Any, width_factor: Any = None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear", seed: Any = None,
                 fill_value: float = 0.0, data_format: Optional[str] = None, **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = zoom_factor(height_factor, "height_factor")
        self.width_range = (None if width_factor is None
                            else zoom_factor(width_factor, "width_factor"))

    def transforms(self, n: int, h: int, w: int) -> np.ndarray:
        rng = self._rng()
        zh = rng.uniform(1.0 + self.height_range[0], 1.0 + self.height_range[1], size=n)
        zw = zh if self.width_range is None else rng.uniform(1.0 + self.width_range[0],
                                                             1.0 + self.width_range[1], size=n)
        return zoom_transforms(zh, zw, h, w)

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}
