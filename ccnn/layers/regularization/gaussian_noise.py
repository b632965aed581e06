"""GaussianNoise."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ... import utils
from ..layer import AnySize, Layer, seed_arg


def unit_interval(v: Any, name: str, upper_open: bool = False) -> float:
    """A float in [0, 1] ([0, 1) when upper_open), Keras's check of stddev / rate."""
    v = chk.finite_float(v, name)
    if not (0.0 <= v < 1.0 if upper_open else 0.0 <= v <= 1.0):
        raise ValueError(f"{name} must be a float in [0, 1{')' if upper_open else ']'}, "
                         f"got {v}")
    return v


def noise_like(layer: Any, x: np.ndarray, mean: float, stddev: float) -> np.ndarray:
    """Normal(mean, stddev) draws shaped like x, from the layer's generator (or
    ccnn.utils.get_rng()), as x's dtype."""
    rng = layer.rng if layer.rng is not None else utils.get_rng()
    return rng.normal(mean, stddev, size=x.shape).astype(x.dtype)


class GaussianNoise(AnySize, Layer):
    """Keras's GaussianNoise: in training, y = x + N(0, stddev^2) noise drawn
    per element (NumPy's generator: this layer's when `seed` is given, else
    ccnn.utils.get_rng()); at inference, identity.  dy/dx = 1."""

    def __init__(self, stddev: float, seed: Any = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = unit_interval(stddev, "stddev")
        self.seed, self.rng = seed_arg(seed)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if not training or self.stddev == 0.0:
            return x
        noise = noise_like(self, x, 0.0, self.stddev)
        x3 = np.ascontiguousarray(x).reshape(1, -1, 1)
        return F.broadcast_affine_unchecked(x3, None, noise, (0, 1, 0)).reshape(x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
