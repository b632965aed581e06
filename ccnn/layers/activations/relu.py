"""ReLU."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import _checks as chk
from ... import functional as F
from ..layer import AnySize, Layer
from .base_activation import _c_order


class ReLU(AnySize, Layer):
    """max(x, 0) by default; with Keras's arguments

        y = min(x > threshold ? x : 0, max_value) - negative_slope * max(threshold - x, 0)

    so ReLU(max_value=6) is relu6 and ReLU(negative_slope=0.1) a leaky ReLU
    (C kernels: activation.c's relu, rectifier.c's for the general form)."""

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None:
            max_value = chk.finite_float(max_value, "max_value")
            if max_value < 0:
                raise ValueError(f"max_value of a ReLU layer cannot be negative, got {max_value}")
        self.max_value = max_value
        self.negative_slope = chk.finite_float(negative_slope, "negative_slope")
        self.threshold = chk.finite_float(threshold, "threshold")
        for arg in ("negative_slope", "threshold"):
            if getattr(self, arg) < 0:
                raise ValueError(f"{arg} of a ReLU layer cannot be negative, got "
                                 f"{getattr(self, arg)}")
        self._plain = max_value is None and self.negative_slope == 0 and self.threshold == 0

    def _args(self):
        return self.negative_slope, self.max_value, self.threshold

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xc, self.transposed = _c_order(self._check_input(x))
        self.x = xc = np.ascontiguousarray(xc)
        y = F.relu(xc) if self._plain else F.relu_ext_unchecked(xc, *self._args())
        return y.transpose(0, 2, 3, 1) if self.transposed else y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        d = dout.transpose(0, 3, 1, 2) if self.transposed else dout
        if self._plain:
            dx = F.relu_backward(d, self.x)
        else:
            dx = F.relu_ext_backward_unchecked(np.ascontiguousarray(d, dtype=self.dtype),
                                               self.x, *self._args())
        return dx.transpose(0, 2, 3, 1) if self.transposed else dx

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}
