"""Dropout."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ... import utils
from ..layer import AnySize, Layer, seed_arg


class Dropout(AnySize, Layer):
    """Inverted dropout: in training, each value is zeroed with probability
    `rate` and the rest scaled by 1 / (1 - rate); at inference, identity.

    The mask comes from this layer's own generator when `seed` is given,
    else from ccnn.utils.get_rng() (seeded by ccnn.utils.set_random_seed)."""

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.rate: float = chk.dropout_rate(rate)
        self.seed, self.rng = seed_arg(seed)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        rng = self.rng if self.rng is not None else utils.get_rng()
        y, self.mask = F.dropout_unchecked(np.ascontiguousarray(x), self.rate, rng)
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return dout
        return F.dropout_backward_unchecked(np.ascontiguousarray(dout, dtype=self.dtype),
                                            self.mask, self.rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
