"""Maximum."""
from __future__ import annotations

from typing import Any, Callable, List

import numpy as np

from .base_merge import Merge


class _Extremum(Merge):
    """maximum(...maximum(x0, x1)..., xn), input by input as Keras computes it:
    the gradient goes to the larger input, halved between two equal ones (as
    torch.maximum's)."""
    _op: Callable[..., np.ndarray] = staticmethod(np.maximum)

    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        partial = [xs[0]]                      # partial[k] = op(x0, ..., xk)
        for a in xs[1:]:
            partial.append(self._op(partial[-1], a))
        self.partial = partial
        return partial[-1]

    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        xs, partial = self.xs, self.partial
        grads: List[np.ndarray] = [dout] * len(xs)
        d = dout
        for k in range(len(xs) - 1, 0, -1):    # out_k = op(out_{k-1}, x_k)
            prev, a, out = partial[k - 1], xs[k], partial[k]
            tie = (prev == a)
            w_prev = np.where(tie, 0.5, (prev == out)).astype(d.dtype)
            w_a = np.where(tie, 0.5, (a == out)).astype(d.dtype)
            grads[k] = d * w_a
            d = d * w_prev
        grads[0] = d
        return grads

    _CACHE_ATTRS = Merge._CACHE_ATTRS + ("partial",)


class Maximum(_Extremum):
    """The elementwise maximum of a list of tensors."""
    _op = staticmethod(np.maximum)


def maximum(inputs: Any, **kwargs: Any) -> Any:
    """Maximum()(inputs), as keras.layers.maximum."""
    return Maximum(**kwargs)(inputs)
