"""Activation layers (Activation, ReLU, Softmax) and the activation= argument
of Conv2D and Dense."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import functional as F
from .. import losses
from .layer import Layer, activation_arg


def activation_forward(name: Optional[str], z: np.ndarray, channel_axis: int) -> np.ndarray:
    """activation `name` (None, 'relu', 'softmax') of z, softmax over channel_axis."""
    if name == "relu":
        return F.relu(z)
    if name == "softmax":
        if channel_axis == -1 or channel_axis == z.ndim - 1:
            return losses.softmax(z)
        moved = np.moveaxis(z, channel_axis, -1)
        return np.moveaxis(losses.softmax(moved), -1, channel_axis)
    return z


def activation_backward(name: Optional[str], dout: np.ndarray, z: np.ndarray, y: np.ndarray,
                        channel_axis: int) -> np.ndarray:
    """d(loss)/dz from dout = d(loss)/dy, y = activation_forward(name, z, channel_axis)."""
    if name == "relu":
        return F.relu_backward(dout, z)
    if name == "softmax":
        if channel_axis == -1 or channel_axis == y.ndim - 1:
            return losses.softmax_backward(dout, y)
        d = losses.softmax_backward(np.moveaxis(dout, channel_axis, -1),
                                    np.moveaxis(y, channel_axis, -1))
        return np.moveaxis(d, -1, channel_axis)
    return dout


def _c_order(a: np.ndarray) -> Tuple[np.ndarray, bool]:
    """(array, transposed): `a` itself when C-contiguous, or -- for the
    channels-last view of an NCHW array that Conv2D and pooling return --
    its contiguous NCHW base, so elementwise ops run without a copy."""
    if a.ndim == 4 and not a.flags.c_contiguous:
        b = a.transpose(0, 3, 1, 2)
        if b.flags.c_contiguous:
            return b, True
    return a, False


class ReLU(Layer):
    """max(x, 0)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xc, self.transposed = _c_order(self._check_input(x))
        self.x = xc
        y = F.relu(xc)
        return y.transpose(0, 2, 3, 1) if self.transposed else y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.transposed:
            return F.relu_backward(dout.transpose(0, 3, 1, 2), self.x).transpose(0, 2, 3, 1)
        return F.relu_backward(dout, self.x)


class Softmax(Layer):
    """Softmax over the last axis.  As the model's last layer it is fused with
    the cross-entropy loss (backward(dlogits, from_logits=True))."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.logits = self._check_input(x)
        self.y = losses.softmax(self.logits)
        return self.y

    def backward(self, dout: np.ndarray, from_logits: bool = False) -> np.ndarray:
        if from_logits:
            return np.asarray(dout, dtype=self.dtype)
        return losses.softmax_backward(dout, self.y)


class Activation(Layer):
    """Keras's Activation(name): the activation= of Conv2D / Dense as a layer of
    its own ('relu', 'softmax' over the last axis, 'linear' or None)."""

    def __init__(self, activation: Optional[str], **kwargs):
        super().__init__(**kwargs)
        self.activation = activation_arg(activation)
        self._relu = ReLU(dtype=self.dtype) if self.activation == "relu" else None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if self._relu is not None:
            return self._relu.forward(self._check_input(x), training)
        self.z = self._check_input(x)
        self.y = activation_forward(self.activation, self.z, -1)
        return self.y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._relu is not None:
            return self._relu.backward(dout)
        return activation_backward(self.activation, np.asarray(dout, dtype=self.dtype),
                                   self.z, self.y, -1)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation or "linear"}
