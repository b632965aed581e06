"""Activation layers (Activation, ReLU, LeakyReLU, ELU, Softmax) and the
activation= argument of Conv2D and Dense (the functions: ccnn.activations)."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import _checks as chk
from .. import activations
from .. import functional as F
from .layer import Layer, activation_arg


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


class _Pointwise(Layer):
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


class LeakyReLU(_Pointwise):
    """x where x > 0, negative_slope * x elsewhere (Keras's default slope 0.3)."""

    kind = "leaky_relu"

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        slope = chk.finite_float(negative_slope, "negative_slope")
        if slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope!r}")
        super().__init__(slope, **kwargs)
        self.negative_slope = slope

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Pointwise):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(chk.finite_float(alpha, "alpha"), **kwargs)
        self.alpha = self._alpha

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Activation(Layer):
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
