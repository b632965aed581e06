"""SpatialDropout2D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ... import utils
from ..layer import AnySpatialSize, Layer, data_format_arg, seed_arg


class SpatialDropout2D(AnySpatialSize, Layer):
    """Keras's SpatialDropout2D: in training, each whole feature map (channel
    k of image i) is zeroed with probability `rate` and the kept ones scaled by
    1 / (1 - rate); at inference, identity.  The (N, C) mask is drawn in C
    (dropout's counter-based stream, seeded from this layer's generator when
    `seed` is given, else ccnn.utils.get_rng()); the backward applies it to
    the gradient."""

    input_ndim = 4

    def __init__(self, rate: float, data_format: Optional[str] = None, seed: Any = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rate: float = chk.dropout_rate(rate)
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)
        self.seed, self.rng = seed_arg(seed)
        self.mask: Optional[np.ndarray] = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if x.ndim != 4:
            raise ValueError(f"SpatialDropout2D expects 4-D inputs, got shape {x.shape}")
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        last = self.data_format == "channels_last"
        n, c = x.shape[0], x.shape[3 if last else 1]
        rng = self.rng if self.rng is not None else utils.get_rng()
        self.mask = F.channel_mask_unchecked(n, c, self.rate, rng)
        return F.channel_scale_unchecked(np.ascontiguousarray(x), self.mask, self.rate, last)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return dout
        return F.channel_scale_unchecked(np.ascontiguousarray(dout, dtype=self.dtype), self.mask,
                                         self.rate, self.data_format == "channels_last")

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "data_format": self.data_format,
                "seed": self.seed}
