"""Conv2DTranspose."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ... import _checks as chk
from ... import activations
from ... import functional as F
from ..layer import ImageLayer, KernelBias, Shape, kernel_bias_grads
from .conv2d import ConvOptions


def transpose_geometry(size: int, k: int, stride: int, dilation: int, padding: str,
                       output_padding: Optional[int]) -> Tuple[int, int]:
    """(crop, out): Keras's transposed-convolution output length along one
    axis (keras.src.backend.common.backend_utils, TensorFlow's rule) and how
    many leading positions of the full output (size - 1) * stride + span are
    cropped, span = dilation * (k - 1) + 1.  'valid': out = (size - 1) * stride
    + span + output_padding (default max(span, stride) - span), no crop;
    'same': out = size * stride (output_padding None) or (size - 1) * stride +
    span % 2 + output_padding, the padding split with the extra one first."""
    span = dilation * (k - 1) + 1
    if padding == "valid":
        op = max(span, stride) - span if output_padding is None else output_padding
        return 0, (size - 1) * stride + span + op
    pad_len = stride + span - 2 if output_padding is None else \
        span + span % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, span - 1)
    return span - 1 - left, (size - 1) * stride + pad_len - span + 2


class Conv2DTranspose(ConvOptions, KernelBias, ImageLayer):
    """Transposed 2-D convolution ("deconvolution"), Keras's Conv2DTranspose:
    the gradient of a convolution with respect to its input, run forward
    (F.conv_transpose2d: conv2d's input-gradient kernel; its backward is
    conv2d's forward and weight-gradient kernels).

    params["kernel"]: (in_channels, filters, kh, kw), PyTorch's layout;
    get_weights / set_weights speak Keras's (kh, kw, filters, in_channels).
    Output size (Keras's): 'valid' (H - 1) * stride + dilation * (kh - 1) + 1
    (+ output_padding), 'same' H * stride (output_padding None).
    """

    _REGULARIZED = {"kernel_regularizer": "kernel", "bias_regularizer": "bias"}

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", output_padding: Any = None,
                 data_format: Optional[str] = None, dilation_rate: Any = (1, 1),
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 input_shape: Any = None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.filters = chk.integer(filters, "filters", 1)
        self._set_conv_options(kernel_size, strides, padding, dilation_rate, activation,
                               use_bias, kernel_initializer, bias_initializer, data_format)
        self.output_padding: Optional[Tuple[int, int]] = None
        if output_padding is not None:
            self.output_padding = chk.pair(output_padding, "output_padding", 0)
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(f"output_padding must be strictly less than strides; at "
                                     f"dimension {i} output_padding is {op}, strides {s}")

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        channels = self._channels(input_shape)
        kh, kw = self.kernel_size
        # Keras's fans of its (kh, kw, filters, in) kernel
        self.params = self._init_kernel_bias((channels, self.filters, kh, kw),
                                             self.filters * kh * kw, channels * kh * kw,
                                             self.dtype)
        super().build(input_shape)
        self._build_pads(input_shape)

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        return p.transpose(2, 3, 1, 0) if key == "kernel" else p

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        return w.transpose(3, 2, 0, 1) if key == "kernel" else w

    def _axis(self, size: int, i: int) -> Tuple[int, int]:
        op = None if self.output_padding is None else self.output_padding[i]
        return transpose_geometry(size, self.kernel_size[i], self.strides[i],
                                  self.dilation_rate[i], self.padding, op)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, _, h, w = self._split(input_shape)
        return self._join(n, self.filters, None if h is None else self._axis(h, 0)[1],
                          None if w is None else self._axis(w, 1)[1])

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        """(crop_top, out_h, crop_left, out_w): the transposed geometry for h x w."""
        (ct, oh), (cl, ow) = self._axis(h, 0), self._axis(w, 1)
        return ct, oh, cl, ow

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        ct, oh, cl, ow = self._pads(*self.x.shape[2:])
        self.z = F.conv_transpose2d_unchecked(self.x, self.params["kernel"],
                                              self.params.get("bias"), self.strides,
                                              self.dilation_rate, (ct, cl), (oh, ow))
        self.y = activations.forward(self.activation, self.z, 1)       # (N, filters, OH, OW)
        return self._from_nchw(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dz = activations.derivative(self.activation, self._to_nchw(dout), self.z, self.y, 1)
        ct, _, cl, _ = self._pads(*self.x.shape[2:])
        dx, dw, db = F.conv_transpose2d_backward_unchecked(
            np.ascontiguousarray(dz), self.x, self.params["kernel"], self.strides,
            self.dilation_rate, (ct, cl), 1, self.need_input_grad, self.use_bias)
        self.grads = kernel_bias_grads(dw, db, self.use_bias)
        return self._from_nchw(dx) if dx is not None else None  # type: ignore[return-value]

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "output_padding": self.output_padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}
