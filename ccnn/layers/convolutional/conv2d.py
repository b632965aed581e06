"""Conv2D."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import activations
from ... import functional as F
from ..initializers import initialize, initializer_arg
from ..layer import (ImageLayer, KernelBias, Shape, activation_arg, data_format_arg, int_pair,
                    kernel_bias_grads, padding_arg)


def kernel_to_keras(k: np.ndarray) -> np.ndarray:
    """A Conv2D kernel (out, in, kh, kw) -- ccnn.functional's, PyTorch's -- as
    Keras's (kh, kw, in, out): a view."""
    return k.transpose(2, 3, 1, 0)


def kernel_from_keras(w: np.ndarray) -> np.ndarray:
    """Keras's (kh, kw, in, out) as (out, in, kh, kw): a view, the inverse of kernel_to_keras."""
    return w.transpose(3, 2, 0, 1)


class ConvOptions:
    """The arguments Conv2D and Conv2DTranspose share, checked as Keras checks
    them (strides > 1 with dilation_rate > 1 is refused)."""

    filters: int
    kernel_size: Tuple[int, int]
    strides: Tuple[int, int]
    padding: str
    dilation_rate: Tuple[int, int]
    activation: Optional[str]
    use_bias: bool
    kernel_initializer: str
    bias_initializer: str
    data_format: str

    def _set_conv_options(self, kernel_size: Any, strides: Any, padding: Any,
                          dilation_rate: Any, activation: Any, use_bias: Any,
                          kernel_initializer: Any, bias_initializer: Any,
                          data_format: Any) -> None:
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.strides = int_pair(strides, "strides")
        self.padding = padding_arg(padding)
        self.dilation_rate = int_pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("strides > 1 together with dilation_rate > 1 is not supported "
                             "(as in Keras)")
        self.activation = activation_arg(activation)
        self.use_bias = chk.boolean(use_bias, "use_bias")
        self.kernel_initializer = initializer_arg(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializer_arg(bias_initializer, "bias_initializer")
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)

    def _init_kernel_bias(self, shape: Tuple[int, ...], fan_in: int, fan_out: int,
                          dtype: str) -> Dict[str, np.ndarray]:
        """The kernel (`shape`, Keras's fans) and, with use_bias, the bias (filters,)."""
        params = {"kernel": initialize(self.kernel_initializer, shape, fan_in, fan_out, dtype)}
        if self.use_bias:
            params["bias"] = initialize(self.bias_initializer, (self.filters,), self.filters,
                                        self.filters, dtype)
        return params


class Conv2D(ConvOptions, KernelBias, ImageLayer):
    """2-D convolution (cross-correlation), Keras's Conv2D.

    params["kernel"]: (filters, in_channels, kh, kw), the layout of
    ccnn.functional's kernels (PyTorch's); get_weights, set_weights,
    layer.kernel, save_weights speak Keras's (kh, kw, in_channels, filters),
    for either data_format.  bias: (filters,).  Initialised with Keras's fans: fan_in = in_channels*kh*kw,
    fan_out = filters*kh*kw.  activation='relu' runs in the conv kernel's
    epilogue (F.conv2d(..., activation='relu')).

    groups=g (Keras's): the input channels and the filters split into g groups
    convolved separately (F.conv2d(..., groups=g)); the kernel is then
    (filters, in_channels / g, kh, kw), Keras's (kh, kw, in_channels / g, filters).
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", dilation_rate: Any = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", input_shape: Any = None,
                 data_format: Any = "channels_last", groups: int = 1,
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, **kwargs):
        super().__init__(input_shape=input_shape, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, **kwargs)
        self.filters = chk.integer(filters, "filters", 1)
        self.groups = chk.integer(groups, "groups", 1)
        if self.filters % self.groups:
            raise ValueError(f"groups={self.groups} must divide filters={self.filters}")
        self._set_conv_options(kernel_size, strides, padding, dilation_rate, activation,
                               use_bias, kernel_initializer, bias_initializer, data_format)

    _REGULARIZED = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__}: groups={self.groups} must divide the "
                             f"input's {channels} channels")
        kh, kw = self.kernel_size
        fan_in, fan_out = channels // self.groups * kh * kw, self.filters * kh * kw
        self.params = self._init_kernel_bias((self.filters, channels // self.groups, kh, kw),
                                             fan_in, fan_out, self.dtype)
        super().build(input_shape)
        self._build_pads(input_shape)

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        return kernel_to_keras(p) if key == "kernel" else p

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        return kernel_from_keras(w) if key == "kernel" else w

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, _, h, w = self._split(input_shape)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return self._join(n, self.filters, self._out_len(h, kh, sh, dh, "height"),
                          self._out_len(w, kw, sw, dw, "width"))

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        return chk.padding(self.padding, "padding", (h, w), self.kernel_size, self.strides,
                           self.dilation_rate)

    z: Optional[np.ndarray]   # the pre-activation, kept for the backward (None when fused relu)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        relu = self._fused_relu()             # fused: ReLU in the kernel's epilogue
        pads = self._pads(*self.x.shape[2:])
        act = activations.pointwise_kind(self.activation)
        if act is not None and self.groups == 1:   # fused: the activation block by block
            y, z = F.conv2d_act_unchecked(              # while the output is in cache
                self.x, self.params["kernel"], self.params.get("bias"), self.strides,
                self.dilation_rate, pads, *act)
            self.y, self.z = y, z
            return self._from_nchw(self.y)
        if self.groups > 1:
            z = F.grouped_conv2d_unchecked(self.x, self.params["kernel"], self.params.get("bias"),
                                           self.strides, self.dilation_rate, pads, self.groups)
        else:
            z = F.conv2d_unchecked(self.x, self.params["kernel"], self.params.get("bias"),
                                   self.strides, self.dilation_rate, pads,
                                   relu=relu)                          # (N, K, P, Q)
        self.z = None if relu else z
        self.y = z if relu else activations.forward(self.activation, z, 1)
        return self._from_nchw(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dy = self._to_nchw(dout)
        relu = self._fused_relu()             # fused: dy masked by y > 0 inside the kernel
        if relu:
            dz = dy
        else:
            assert self.z is not None
            dz = np.ascontiguousarray(activations.derivative(self.activation, dy, self.z, self.y, 1))
        pads = self._pads(*self.x.shape[2:])
        if self.groups > 1:
            dx, dw, db = F.grouped_conv2d_backward_unchecked(
                dz, self.x, self.params["kernel"], self.strides, self.dilation_rate, pads,
                self.groups, self.need_input_grad, self.use_bias)
        else:
            dx, dw, db = F.conv2d_backward_unchecked(
                dz, self.x, self.params["kernel"], self.strides, self.dilation_rate, pads,
                self.need_input_grad, self.use_bias, output=self.y if relu else None)
        self.grads = kernel_bias_grads(dw, db, self.use_bias)
        return self._from_nchw(dx) if dx is not None else None  # type: ignore[return-value]

    def _fused_relu(self) -> bool:
        return self.activation == "relu" and self.groups == 1

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, "data_format": self.data_format}
