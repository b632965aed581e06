"""Subtract."""
from __future__ import annotations

from typing import Any, List

import numpy as np

from .base_merge import Merge


class Subtract(Merge):
    """inputs[0] - inputs[1]: called on exactly two tensors."""
    n_inputs = 2

    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        return np.subtract(xs[0], xs[1])

    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        return [dout, -dout]


def subtract(inputs: Any, **kwargs: Any) -> Any:
    """Subtract()(inputs), as keras.layers.subtract."""
    return Subtract(**kwargs)(inputs)
