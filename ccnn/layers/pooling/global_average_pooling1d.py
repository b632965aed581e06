"""GlobalAveragePooling1D."""
from __future__ import annotations

from .global_average_pooling2d import GlobalAveragePooling2D


class GlobalAveragePooling1D(GlobalAveragePooling2D):
    """The mean of each feature over a sequence's steps: (N, steps, features) ->
    (N, features), or (N, 1, features) with keepdims."""

    rank = 1
    input_ndim = 3
