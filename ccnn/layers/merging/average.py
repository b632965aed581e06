"""Average."""
from __future__ import annotations

from functools import reduce
from typing import Any, List

import numpy as np

from .base_merge import Merge


class Average(Merge):
    """The elementwise mean of a list of tensors."""

    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        return reduce(np.add, xs) / np.asarray(len(xs), dtype=self.dtype)

    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        return [dout / np.asarray(len(self.xs), dtype=dout.dtype)] * len(self.xs)


def average(inputs: Any, **kwargs: Any) -> Any:
    """Average()(inputs), as keras.layers.average."""
    return Average(**kwargs)(inputs)
