"""DepthwiseConv2D."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import activations
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import (ImageLayer, KernelBias, Shape, activation_arg, data_format_arg, int_pair,
                    kernel_bias_grads, padding_arg)


def depthwise_to_keras(k: np.ndarray, multiplier: int) -> np.ndarray:
    """A depthwise kernel (in * m, 1, kh, kw) -- F.conv2d(..., groups=in)'s,
    PyTorch's -- as Keras's (kh, kw, in, m): output channel ci * m + j is
    Keras's [:, :, ci, j].  A view."""
    return k.reshape(k.shape[0] // multiplier, multiplier, k.shape[2], k.shape[3]) \
        .transpose(2, 3, 0, 1)


def depthwise_from_keras(w: np.ndarray) -> np.ndarray:
    """Keras's (kh, kw, in, m) as (in * m, 1, kh, kw), the inverse of depthwise_to_keras."""
    kh, kw, c, m = w.shape
    return w.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)


class DepthwiseConv2D(KernelBias, ImageLayer):
    """Depthwise 2-D convolution, Keras's DepthwiseConv2D: each input channel
    convolved with its own depth_multiplier filters, no mixing across channels
    (F.conv2d(..., groups=in_channels), the depthwise C kernel).

    params["kernel"]: (in_channels * depth_multiplier, 1, kh, kw), PyTorch's
    layout; get_weights / set_weights speak Keras's (kh, kw, in_channels,
    depth_multiplier).  Output channel ci * depth_multiplier + j comes from
    input channel ci.  bias: (in_channels * depth_multiplier,).
    """

    _REGULARIZED = {"depthwise_regularizer": "kernel", "bias_regularizer": "bias"}

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: Optional[str] = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 input_shape: Any = None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.strides = int_pair(strides, "strides")
        self.padding = padding_arg(padding)
        self.depth_multiplier = chk.integer(depth_multiplier, "depth_multiplier", 1)
        self.data_format = data_format_arg("channels_last" if data_format is None else data_format)
        self.dilation_rate = int_pair(dilation_rate, "dilation_rate")
        self.activation = activation_arg(activation)
        self.use_bias = chk.boolean(use_bias, "use_bias")
        self.depthwise_initializer = initializer_arg(depthwise_initializer,
                                                     "depthwise_initializer")
        self.bias_initializer = initializer_arg(bias_initializer, "bias_initializer")

    def _depthwise_kernel(self, channels: int) -> np.ndarray:
        """A new (channels * m, 1, kh, kw) kernel, with Keras's fans for (kh, kw, channels, m)."""
        (kh, kw), m = self.kernel_size, self.depth_multiplier
        return initialize(self.depthwise_initializer, (channels * m, 1, kh, kw),
                          channels * kh * kw, m * kh * kw, self.dtype)

    def build(self, input_shape: Shape) -> None:
        units = self._channels(input_shape) * self.depth_multiplier
        self.params = {"kernel": self._depthwise_kernel(units // self.depth_multiplier)}
        if self.use_bias:
            self.params["bias"] = initialize(self.bias_initializer, (units,), units, units,
                                             self.dtype)
        super().build(input_shape)
        self._build_pads(input_shape)

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        return depthwise_to_keras(p, self.depth_multiplier) if key == "kernel" else p

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        return depthwise_from_keras(w) if key == "kernel" else w

    def _spatial_out(self, h: Optional[int], w: Optional[int]
                     ) -> Tuple[Optional[int], Optional[int]]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return self._out_len(h, kh, sh, dh, "height"), self._out_len(w, kw, sw, dw, "width")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, h, w = self._split(input_shape)
        return self._join(n, None if c is None else c * self.depth_multiplier,
                          *self._spatial_out(h, w))

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        return chk.padding(self.padding, "padding", (h, w), self.kernel_size, self.strides,
                           self.dilation_rate)

    # The depthwise step, shared with SeparableConv2D: x (N, C, H, W) -> (N, C*m, P, Q)
    def _depthwise(self, x: np.ndarray, kernel: np.ndarray, bias: Optional[np.ndarray]
                   ) -> np.ndarray:
        return F.depthwise_conv2d_unchecked(x, kernel, bias, self.strides, self.dilation_rate,
                                            self._pads(*x.shape[2:]))

    def _depthwise_backward(self, dz: np.ndarray, x: np.ndarray, kernel: np.ndarray,
                            need_input_grad: bool, need_bias_grad: bool
                            ) -> Tuple[Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]:
        return F.depthwise_conv2d_backward_unchecked(
            np.ascontiguousarray(dz), x, kernel, self.strides, self.dilation_rate,
            self._pads(*x.shape[2:]), need_input_grad, need_bias_grad)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        self.z = self._depthwise(self.x, self.params["kernel"], self.params.get("bias"))
        self.y = activations.forward(self.activation, self.z, 1)       # (N, C*m, P, Q)
        return self._from_nchw(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dz = activations.derivative(self.activation, self._to_nchw(dout), self.z, self.y, 1)
        dx, dw, db = self._depthwise_backward(dz, self.x, self.params["kernel"],
                                              self.need_input_grad, self.use_bias)
        self.grads = kernel_bias_grads(dw, db, self.use_bias)
        return self._from_nchw(dx) if dx is not None else None  # type: ignore[return-value]

    def _window_config(self) -> Dict[str, Any]:
        return {"kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "depth_multiplier": self.depth_multiplier,
                "activation": self.activation, "use_bias": self.use_bias,
                "depthwise_initializer": self.depthwise_initializer,
                "bias_initializer": self.bias_initializer}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._window_config()}
