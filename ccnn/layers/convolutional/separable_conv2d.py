"""SeparableConv2D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import _checks as chk
from ... import activations
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import Shape
from .conv2d import kernel_from_keras, kernel_to_keras
from .depthwise_conv2d import DepthwiseConv2D


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise separable 2-D convolution, Keras's SeparableConv2D: a
    depthwise convolution (DepthwiseConv2D's kernel, strides, padding,
    dilation) then a 1 x 1 convolution to `filters` channels, then the bias.

    Weights, in Keras's order and layouts: depthwise_kernel (kh, kw, in,
    depth_multiplier), pointwise_kernel (1, 1, in * depth_multiplier,
    filters), bias (filters,); params hold them as (in * m, 1, kh, kw) and
    (filters, in * m, 1, 1), PyTorch's layouts.
    """

    _REGULARIZED = {"depthwise_regularizer": "depthwise_kernel",
                    "pointwise_regularizer": "pointwise_kernel", "bias_regularizer": "bias"}

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: Optional[str] = None,
                 dilation_rate: Any = (1, 1), depth_multiplier: int = 1, activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: str = "glorot_uniform",
                 pointwise_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 **kwargs):
        self.filters = chk.integer(filters, "filters", 1)
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.pointwise_initializer = initializer_arg(pointwise_initializer,
                                                     "pointwise_initializer")

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        mid = channels * self.depth_multiplier
        self.params = {"depthwise_kernel": self._depthwise_kernel(channels),
                       "pointwise_kernel": initialize(self.pointwise_initializer,
                                                      (self.filters, mid, 1, 1), mid,
                                                      self.filters, self.dtype)}
        if self.use_bias:
            self.params["bias"] = initialize(self.bias_initializer, (self.filters,),
                                             self.filters, self.filters, self.dtype)
        super(DepthwiseConv2D, self).build(input_shape)
        self._build_pads(input_shape)

    @property
    def depthwise_kernel(self) -> np.ndarray:
        return np.array(self.to_keras("depthwise_kernel", self.params["depthwise_kernel"]))

    @property
    def pointwise_kernel(self) -> np.ndarray:
        return np.array(self.to_keras("pointwise_kernel", self.params["pointwise_kernel"]))

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        if key == "pointwise_kernel":
            return kernel_to_keras(p)
        return super().to_keras("kernel" if key == "depthwise_kernel" else key, p)

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        if key == "pointwise_kernel":
            return kernel_from_keras(w)
        return super().from_keras("kernel" if key == "depthwise_kernel" else key, w)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, _, h, w = self._split(input_shape)
        return self._join(n, self.filters, *self._spatial_out(h, w))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        self.mid = self._depthwise(self.x, self.params["depthwise_kernel"], None)  # (N, C*m, P, Q)
        self.z = F.conv2d_unchecked(self.mid, self.params["pointwise_kernel"],
                                    self.params.get("bias"), (1, 1), (1, 1), (0, 0, 0, 0))
        self.y = activations.forward(self.activation, self.z, 1)       # (N, filters, P, Q)
        return self._from_nchw(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dz = activations.derivative(self.activation, self._to_nchw(dout), self.z, self.y, 1)
        dmid, dpw, db = F.conv2d_backward_unchecked(
            np.ascontiguousarray(dz), self.mid, self.params["pointwise_kernel"], (1, 1), (1, 1),
            (0, 0, 0, 0), True, self.use_bias)
        assert dmid is not None
        dx, ddw, _ = self._depthwise_backward(dmid, self.x, self.params["depthwise_kernel"],
                                              self.need_input_grad, False)
        self.grads = {"depthwise_kernel": ddw, "pointwise_kernel": dpw}
        if self.use_bias:
            assert db is not None
            self.grads["bias"] = db
        return self._from_nchw(dx) if dx is not None else None  # type: ignore[return-value]

    _CACHE_ATTRS = DepthwiseConv2D._CACHE_ATTRS + ("mid",)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "pointwise_initializer": self.pointwise_initializer}
