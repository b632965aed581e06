"""Softmax."""
from __future__ import annotations

import numpy as np

from ... import activations
from ..layer import AnySize, Layer


class Softmax(AnySize, Layer):
    """Softmax over `axis` (Keras's default: the last).  As the model's last
    layer over the last axis it is fused with the cross-entropy loss
    (backward(dlogits, from_logits=True))."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int, got {type(axis).__name__} {axis!r}")
        self.axis = int(axis)

    def _axis(self, ndim: int) -> int:
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"axis {self.axis} is out of range for inputs of rank {ndim}")
        return self.axis % ndim

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.logits = self._check_input(x)
        self.y = activations.softmax(self.logits, self._axis(self.logits.ndim))
        return self.y

    def backward(self, dout: np.ndarray, from_logits: bool = False) -> np.ndarray:
        if from_logits:
            return np.asarray(dout, dtype=self.dtype)
        return activations.derivative("softmax", np.asarray(dout, dtype=self.dtype),
                                      self.logits, self.y, self._axis(self.y.ndim))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
