"""Dense."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import activations
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import KernelBias, Layer, Shape, activation_arg, kernel_bias_grads


class Dense(KernelBias, Layer):
    """Fully connected: y = activation(x @ kernel + bias).

    kernel: (in_features, units), Keras's layout inside and out; bias: (units,).
    Inputs with more than two axes are applied along the last axis.  activation='relu' runs in
    the GEMM's epilogue; with activation='softmax' the pre-activation is kept
    as self.logits, so the model can compute softmax + cross-entropy fused
    (backward(dlogits, from_logits=True); see ccnn.layers.fused)."""

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return (ndim - 1,)          # the features: any leading axes (Keras's InputSpec)

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 input_shape: Any = None, kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, **kwargs):
        super().__init__(input_shape=input_shape, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, **kwargs)
        self.units = chk.integer(units, "units", 1)
        self.activation = activation_arg(activation)
        self.use_bias = chk.boolean(use_bias, "use_bias")
        self.kernel_initializer = initializer_arg(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializer_arg(bias_initializer, "bias_initializer")

    _REGULARIZED = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs (batch, ..., features) with a known last "
                             f"axis, got shape {input_shape}")
        fan_in = input_shape[-1]
        self.params = {"kernel": initialize(self.kernel_initializer, (fan_in, self.units),
                                            fan_in, self.units, self.dtype)}
        if self.use_bias:
            self.params["bias"] = initialize(self.bias_initializer, (self.units,),
                                             self.units, self.units, self.dtype)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.x_shape = x.shape
        self.x = np.ascontiguousarray(x.reshape(-1, x.shape[-1]))     # (N, in)
        relu = self.activation == "relu"
        act = activations.pointwise_kind(self.activation)
        if act is not None:      # fused: the activation block by block while z is in cache
            self.y, z = F.dense_act_unchecked(self.x, self.params["kernel"],
                                              self.params.get("bias"), *act)
        else:
            z = F.dense_unchecked(self.x, self.params["kernel"], self.params.get("bias"),
                                  relu=relu)                          # (N, units)
            self.y = z if relu else activations.forward(self.activation, z, -1)
        self.logits = z                                      # pre-activation (unless relu)
        return self.y.reshape(self.x_shape[:-1] + (self.units,))

    def backward(self, dout: np.ndarray, from_logits: bool = False) -> np.ndarray:
        """from_logits: dout is already d(loss)/d(pre-activation) (fused softmax loss)."""
        dout = np.asarray(dout, dtype=self.dtype).reshape(-1, self.units)
        relu = self.activation == "relu" and not from_logits
        dz = dout if from_logits or relu else activations.derivative(
            self.activation, dout, self.logits, self.y, -1)
        dx, dw, db = F.dense_backward_unchecked(np.ascontiguousarray(dz), self.x,
                                                self.params["kernel"], self.need_input_grad,
                                                self.use_bias, self.y if relu else None)
        self.grads = kernel_bias_grads(dw, db, self.use_bias)
        return dx.reshape(self.x_shape) if dx is not None else None  # type: ignore[return-value]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}
