"""AveragePooling2D."""
from __future__ import annotations

import numpy as np

from ... import functional as F
from .base_pooling import Pooling2D


class AveragePooling2D(Pooling2D):
    """Mean over each pool_size window; with padding='same' the padding is not
    counted in the mean (Keras / TensorFlow)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))
        y = F.avg_pool2d_unchecked(self.x, self.pool_size, self.strides,
                                   self._pads(*self.x.shape[2:]), count_include_pad=False)
        return self._from_nchw(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = F.avg_pool2d_backward_unchecked(self._to_nchw(dout), self.x.shape, self.pool_size,
                                             self.strides, self._pads(*self.x.shape[2:]),
                                             count_include_pad=False)
        return self._from_nchw(dx)
