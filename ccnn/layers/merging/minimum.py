"""Minimum."""
from __future__ import annotations

from typing import Any

import numpy as np

from .maximum import _Extremum


class Minimum(_Extremum):
    """The elementwise minimum of a list of tensors."""
    _op = staticmethod(np.minimum)


def minimum(inputs: Any, **kwargs: Any) -> Any:
    """Minimum()(inputs), as keras.layers.minimum."""
    return Minimum(**kwargs)(inputs)
