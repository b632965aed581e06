"""RandomRotation."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .base import AffineAugmentation, keras_factor

def rotation_transforms(angles_deg: np.ndarray, h: int, w: int) -> np.ndarray:
    """Keras's _compute_affine_matrix for a rotation by each angle (degrees)
    about the image centre ((w - 1) / 2, (h - 1) / 2): (n, 6)."""
    a = np.asarray(angles_deg, dtype=np.float64) * (math.pi / 180.0)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    cos, sin = np.cos(a), np.sin(a)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1], axis=1)


class RandomRotation(AffineAugmentation):
    """Keras's RandomRotation: in training, each image is rotated about its
    centre by an angle drawn from factor * 360 degrees (f: [-f, f]; (lo, hi)),
    resampled in C by ccnn.functional's affine kernel (fill_mode 'reflect',
    'wrap', 'constant' with fill_value, 'nearest'); identity at inference.
    No input gradient (the model's first layer, as RandomTranslation)."""

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: Any = None, fill_value: float = 0.0, data_format: Optional[str] = None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, fill_value, seed, data_format, **kwargs)
        self.factor = keras_factor(factor, "factor")

    def transforms(self, n: int, h: int, w: int) -> np.ndarray:
        angles = self._rng().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, size=n)
        return rotation_transforms(angles, h, w)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}
