"""GlobalMaxPooling1D."""
from __future__ import annotations

from .global_max_pooling2d import GlobalMaxPooling2D


class GlobalMaxPooling1D(GlobalMaxPooling2D):
    """The max of each feature over a sequence's steps: (N, steps, features) ->
    (N, features), or (N, 1, features) with keepdims."""

    rank = 1
    input_ndim = 3
