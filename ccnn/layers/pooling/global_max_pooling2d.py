"""GlobalMaxPooling2D."""
from __future__ import annotations

import numpy as np

from ... import functional as F
from .base_global_pooling import GlobalPooling2D


class GlobalMaxPooling2D(GlobalPooling2D):
    """The max of each channel over the image's height and width; the gradient
    goes to the (first) maximum (C kernel: F.adaptive_max_pool2d's)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        y, self.argmax = F.global_max_pool_unchecked(self.x)
        return self._output(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = F.global_max_pool_backward_unchecked(self._plane_grads(dout), self.argmax,
                                                  self.x.shape)
        return self._from_nchw(dx)
