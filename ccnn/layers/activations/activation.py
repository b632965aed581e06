"""Activation."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ... import activations
from ..layer import AnySize, Layer, activation_arg
from .relu import ReLU


class Activation(AnySize, Layer):
    """Keras's Activation(name): the activation= of Conv2D / Dense as a layer of
    its own (any name ccnn.activations knows; softmax over the last axis)."""

    def __init__(self, activation: Optional[str], **kwargs):
        super().__init__(**kwargs)
        self.activation = activation_arg(activation)
        self._relu = ReLU(dtype=self.dtype) if self.activation == "relu" else None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if self._relu is not None:
            return self._relu.forward(self._check_input(x), training)
        self.z = self._check_input(x)
        self.y = activations.forward(self.activation, self.z, -1)
        return self.y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._relu is not None:
            return self._relu.backward(dout)
        return activations.derivative(self.activation, np.asarray(dout, dtype=self.dtype),
                                      self.z, self.y, -1)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation or "linear"}
