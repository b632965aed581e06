"""MaxPooling2D."""
from __future__ import annotations

import numpy as np

from ... import functional as F
from .base_pooling import Pooling2D


class MaxPooling2D(Pooling2D):
    """Max over each pool_size window."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        y, self.argmax = F.max_pool2d_unchecked(self.x, self.pool_size, self.strides,
                                                self._pads(*self.x.shape[2:]))
        return self._from_nchw(y)                                      # (N, C, P, Q)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self.argmax is not None
        dx = F.max_pool2d_backward_unchecked(self._to_nchw(dout), self.argmax, self.x.shape,
                                             self.pool_size, self.strides,
                                             self._pads(*self.x.shape[2:]))
        return self._from_nchw(dx)
