"""What the activation layers share: _c_order (the NCHW memory behind a
channels-last view, so elementwise work needs no copy) and Pointwise (an
elementwise C kernel with one parameter)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ... import functional as F
from ..layer import AnySize, Layer


def _c_order(a: np.ndarray) -> Tuple[np.ndarray, bool]:
    """(array, transposed): `a` itself when C-contiguous, or -- for the
    channels-last view of an NCHW array that Conv2D and pooling return --
    its contiguous NCHW base, so elementwise ops run without a copy."""
    if a.ndim == 4 and not a.flags.c_contiguous:
        b = a.transpose(0, 3, 1, 2)
        if b.flags.c_contiguous:
            return b, True
    return a, False


class Pointwise(AnySize, Layer):
    """An elementwise activation `kind` with its one parameter `alpha` (C
    kernel: pointwise.c)."""

    kind = ""

    def __init__(self, alpha: float, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = np.ascontiguousarray(self._check_input(x))
        return F.pointwise_unchecked(self.x, self.kind, self._alpha)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return F.pointwise_backward_unchecked(np.ascontiguousarray(dout, dtype=self.dtype),
                                              self.x, self.kind, self._alpha)
