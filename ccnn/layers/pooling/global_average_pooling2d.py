"""GlobalAveragePooling2D."""
from __future__ import annotations

import numpy as np

from ... import functional as F
from .base_global_pooling import GlobalPooling2D


class GlobalAveragePooling2D(GlobalPooling2D):
    """The mean of each channel over the image's height and width (C kernel:
    F.adaptive_avg_pool2d's)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        return self._output(F.global_avg_pool_unchecked(self.x))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = F.global_avg_pool_backward_unchecked(self._plane_grads(dout), self.x.shape)
        return self._from_nchw(dx)
