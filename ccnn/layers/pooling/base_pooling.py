"""Pooling2D: the base of MaxPooling2D and AveragePooling2D."""
from __future__ import annotations

from typing import Any, Optional, Tuple

from ... import _checks as chk
from ... import functional as F
from ..layer import ImageLayer, Shape, data_format_arg, int_pair, padding_arg


class Pooling2D(ImageLayer):
    """Shared by MaxPooling2D and AveragePooling2D: Keras's arguments, the
    TensorFlow 'same' rule (output ceil(size / stride), the odd extra padding
    row / column at the bottom / right)."""

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return ()           # no weights: any size of its rank (Keras's InputSpec: ndim only)

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else int_pair(strides, "strides")
        self.padding = padding_arg(padding)
        self.data_format = data_format_arg(data_format)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        self._build_pads(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, h, w = self._split(input_shape)
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        return self._join(n, c, self._out_len(h, kh, sh, 1, "height"),
                          self._out_len(w, kw, sw, 1, "width"))

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        return F.pool2d_pads((h, w), self.pool_size, self.strides, self.padding)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}
