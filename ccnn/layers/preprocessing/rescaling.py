"""Rescaling."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from ... import functional as F
from ..layer import AnySize, Layer


def affine_by(x: np.ndarray, scale: Optional[np.ndarray], shift: Optional[np.ndarray]
              ) -> np.ndarray:
    """x * scale + shift in C, scale / shift (None: 1 / 0) broadcast against
    one sample x[i] (shape x.shape[1:]) or scalars."""
    def flat(a: Optional[np.ndarray]) -> Tuple[Optional[np.ndarray], bool]:
        if a is None or a.size == 1:
            return (None if a is None else a.reshape(1)), True
        return np.ascontiguousarray(np.broadcast_to(a, x.shape[1:]), dtype=x.dtype), False
    s, s_scalar = flat(scale)
    b, b_scalar = flat(shift)
    x3 = np.ascontiguousarray(x)
    if s_scalar and b_scalar:
        return F.broadcast_affine_unchecked(x3.reshape(1, -1, 1), s, b, (0, 0, 0)).reshape(x.shape)
    if s is not None and s_scalar:
        s = np.full(x.shape[1:], s[0], dtype=x.dtype)
    if b is not None and b_scalar:
        b = np.full(x.shape[1:], b[0], dtype=x.dtype)
    return F.broadcast_affine_unchecked(x3.reshape(len(x), -1, 1), s, b,
                                        (0, 1, 0)).reshape(x.shape)


def scalar_or_array(v: Any, name: str) -> Any:
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {v!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return a


class Rescaling(AnySize, Layer):
    """Keras's Rescaling: y = x * scale + offset, in training and at inference
    (scale / offset numbers, or arrays broadcast against each sample, e.g. one
    value per channel).  In C; the input gradient is dout * scale."""

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scalar_or_array(scale, "scale")
        self.offset = scalar_or_array(offset, "offset")

    def _arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        return (np.asarray(self.scale, dtype=self.dtype),
                np.asarray(self.offset, dtype=self.dtype))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        scale, offset = self._arrays()
        try:
            return affine_by(x, scale, offset)
        except ValueError as e:
            raise ValueError(f"Rescaling {self.name!r}: scale / offset do not broadcast against "
                             f"inputs of shape {x.shape}") from e

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return affine_by(np.asarray(dout, dtype=self.dtype), self._arrays()[0], None)

    def get_config(self) -> dict:
        def plain(v: Any) -> Any:
            return v.tolist() if isinstance(v, np.ndarray) else v
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}
