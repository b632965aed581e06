"""GlobalPooling2D: the base of GlobalAveragePooling2D and GlobalMaxPooling2D."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ... import _checks as chk
from ..layer import ImageLayer, Shape, data_format_arg


class GlobalPooling2D(ImageLayer):
    """One value per channel of each image: (N, C), or (N, 1, 1, C) with
    keepdims (channels_first: (N, C, 1, 1)), as Keras."""

    x: np.ndarray          # the last forward's input, NCHW

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return ()           # no weights: any size of its rank (Keras's InputSpec: ndim only)

    def __init__(self, data_format: Optional[str] = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_arg("channels_last" if data_format is None
                                           else data_format)
        self.keepdims = chk.boolean(keepdims, "keepdims")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, c, _, _ = self._split(input_shape)
        return self._join(n, c, 1, 1) if self.keepdims else (n, c)

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        return (0, 0, 0, 0)

    def _output(self, per_plane: np.ndarray) -> np.ndarray:
        """The (N * C,) plane values shaped as the layer's output."""
        n, c = self.x.shape[:2]
        y = per_plane.reshape(n, c)
        return self._from_nchw(y.reshape(n, c, 1, 1)) if self.keepdims else y

    def _plane_grads(self, dout: np.ndarray) -> np.ndarray:
        """dout as (N, C) plane gradients, C-contiguous, the layer's dtype."""
        n, c = self.x.shape[:2]
        d = np.asarray(dout, dtype=self.dtype)
        if self.keepdims:
            d = self._to_nchw(d)
        return np.ascontiguousarray(d.reshape(n, c))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}
