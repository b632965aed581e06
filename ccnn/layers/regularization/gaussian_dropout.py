"""GaussianDropout."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ... import functional as F
from ..layer import AnySize, Layer, seed_arg
from .gaussian_noise import noise_like, unit_interval


class GaussianDropout(AnySize, Layer):
    """Keras's GaussianDropout: in training, y = x * e with e ~ N(1, rate / (1 -
    rate)) per element (NumPy's generator: this layer's when `seed` is given,
    else ccnn.utils.get_rng()); at inference, identity.  dy/dx = e.  (rate = 1,
    which Keras accepts but cannot run, is refused here.)"""

    _CACHE_ATTRS = Layer._CACHE_ATTRS + ("noise",)

    def __init__(self, rate: float, seed: Any = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = unit_interval(rate, "rate", upper_open=True)
        self.seed, self.rng = seed_arg(seed)
        self.noise: Optional[np.ndarray] = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if not training or self.rate == 0.0:
            self.noise = None
            return x
        self.noise = noise_like(self, x, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))
        return self._times_noise(x)

    def _times_noise(self, a: np.ndarray) -> np.ndarray:
        assert self.noise is not None
        a3 = np.ascontiguousarray(a, dtype=self.dtype).reshape(1, -1, 1)
        return F.broadcast_affine_unchecked(a3, self.noise, None, (0, 1, 0)).reshape(a.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.noise is None else self._times_noise(dout)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
