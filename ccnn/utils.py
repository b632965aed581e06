"""Small helpers with Keras's names: seeding and one-hot labels.

    ccnn.utils.set_random_seed(42)      # weights, dropout masks, shuffling
    y_onehot = ccnn.utils.to_categorical(y_train)
"""
from __future__ import annotations

import numbers
import random
from typing import Any, Optional

import numpy as np

__all__ = ["set_random_seed", "get_rng", "to_categorical"]

_rng: np.random.Generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed every random draw ccnn makes (weight initialisers, Dropout layers
    without their own seed, fit's shuffling), plus Python's `random` and
    NumPy's legacy global generator, as keras.utils.set_random_seed does."""
    global _rng
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    seed = int(seed)
    _rng = np.random.default_rng(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def get_rng() -> np.random.Generator:
    """The generator ccnn draws from (reset by set_random_seed)."""
    return _rng


def to_categorical(y: Any, num_classes: Optional[int] = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode integer class labels: shape (N,) or (N, 1) -> (N, num_classes).

    num_classes defaults to max(y) + 1, as in Keras."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("to_categorical: labels must be whole numbers")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"to_categorical: labels must have shape (N,) or (N, 1), got {y.shape}")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, found {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros((y.shape[0], int(num_classes)), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out
