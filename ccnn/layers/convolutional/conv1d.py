"""Conv1D."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ... import _checks as chk
from .conv2d import Conv2D


def _one(v: Any, name: str) -> int:
    """An int or a 1-tuple of one (Keras's config writes (3,))."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    return chk.integer(v, name, 1)


class Conv1D(Conv2D):
    """1-D convolution (cross-correlation) over sequences (N, steps, features),
    Keras's Conv1D: the Conv2D kernels on images of height 1.

    get_weights / set_weights speak Keras's kernel layout (kernel_size,
    in_channels, filters).  padding='causal' pads dilation * (kernel_size - 1)
    zeros at the start only, so output t sees inputs up to t."""

    rank = 1
    input_ndim = 3

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: Optional[str] = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 **kwargs):
        causal = isinstance(padding, str) and padding.lower() == "causal"
        super().__init__(filters, (1, _one(kernel_size, "kernel_size")),
                         strides=(1, _one(strides, "strides")),
                         padding="valid" if causal else padding,
                         dilation_rate=(1, _one(dilation_rate, "dilation_rate")),
                         activation=activation, use_bias=use_bias,
                         data_format="channels_last" if data_format is None else data_format,
                         **kwargs)
        if causal:
            self.padding = "causal"

    def _causal_left(self) -> int:
        return self.dilation_rate[1] * (self.kernel_size[1] - 1)

    def _out_len(self, size: Optional[int], k: int, stride: int, dilation: int,
                 axis: str) -> Optional[int]:
        if self.padding != "causal" or size is None:
            return super()._out_len(size, k, stride, dilation, axis)
        lo = dilation * (k - 1) if axis == "width" else 0
        return chk.out_size(size, lo, 0, k, stride, dilation, False,
                            f"{type(self).__name__} steps")

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        if self.padding == "causal":
            return (0, 0, self._causal_left(), 0)
        return super()._compute_pads(h, w)

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        # (filters, in, 1, k) -> (k, in, filters)
        return p[:, :, 0, :].transpose(2, 1, 0) if key == "kernel" else p

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        return w.transpose(2, 1, 0)[:, :, None, :] if key == "kernel" else w

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("kernel_size", "strides", "dilation_rate"):
            config[key] = (config[key][1],)
        return config
