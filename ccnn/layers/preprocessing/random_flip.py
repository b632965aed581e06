"""RandomFlip."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import functional as F
from .base import ImageAugmentation

MODES = {"horizontal": 1, "vertical": 2, "horizontal_and_vertical": 3}


class RandomFlip(ImageAugmentation):
    """Keras's RandomFlip: in training, each image is flipped with probability
    1/2 -- left-right ('horizontal'), top-bottom ('vertical') or both at once
    ('horizontal_and_vertical': one draw per image, as Keras); identity at
    inference.  The flip runs in C; its input gradient is the same flip."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: Any = None,
                 data_format: Optional[str] = None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
        self.mode = mode
        self.flags: Optional[np.ndarray] = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.transformed = bool(training) and len(x) > 0
        if not self.transformed:
            return x
        flips = self._rng().uniform(size=len(x)) <= 0.5
        self.flags = (flips * MODES[self.mode]).astype(np.uint8)
        return self._back(F.image_flip_unchecked(self._nhwc(x), self.flags))

    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:  # type: ignore[override]
        if not self.transformed or self.flags is None:
            return dout
        g = self._nhwc(np.asarray(dout, dtype=self.dtype))
        return self._back(F.image_flip_unchecked(g, self.flags))

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
