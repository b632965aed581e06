"""Multiply."""
from __future__ import annotations

from functools import reduce
from typing import Any, List

import numpy as np

from .base_merge import Merge


class Multiply(Merge):
    """The elementwise product of a list of tensors."""

    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        return reduce(np.multiply, xs)

    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        xs = self.xs
        return [reduce(np.multiply, xs[:i] + xs[i + 1:], dout) for i in range(len(xs))]


def multiply(inputs: Any, **kwargs: Any) -> Any:
    """Multiply()(inputs), as keras.layers.multiply."""
    return Multiply(**kwargs)(inputs)
