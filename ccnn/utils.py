"""Small helpers with Keras's names: seeding, one-hot labels, PyDataset,
normalize, split_dataset.

    ccnn.utils.set_random_seed(42)      # weights, dropout masks, shuffling
    y_onehot = ccnn.utils.to_categorical(y_train)
"""
from __future__ import annotations

import numbers
import random
from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["set_random_seed", "get_rng", "to_categorical", "PyDataset", "Sequence",
           "normalize", "split_dataset"]

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


class PyDataset:
    """Keras 3's PyDataset: a dataset of batches for fit / evaluate.
    Subclass it and define __len__ (the number of batches) and
    __getitem__(i) (batch i as (x, y)); on_epoch_end runs after every epoch
    of fit (e.g. to reshuffle).  fit shuffles the order of the batches
    unless shuffle=False.  (workers / use_multiprocessing / max_queue_size
    are accepted as Keras's; ccnn reads the batches in the calling thread.)"""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    @property
    def num_batches(self) -> int:
        return len(self)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


Sequence = PyDataset  # Keras 3's alias


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """x divided by its `order`-norm along `axis` (a zero norm divides by 1),
    as keras.utils.normalize; a new array."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"normalize: x must be an array of real numbers, got dtype {a.dtype}")
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) \
            or not -a.ndim <= axis < max(a.ndim, 1):
        raise ValueError(f"normalize: axis {axis!r} is out of range for x of shape {a.shape}")
    a = a.astype(np.float64 if a.dtype.kind != "f" else a.dtype)
    norm = np.linalg.norm(a, ord=int(order), axis=int(axis), keepdims=True)
    norm[norm == 0] = 1
    return a / norm


def _split_size(size: Any, name: str, n: int) -> Optional[int]:
    if size is None:
        return None
    if isinstance(size, float):
        if not 0 < size < 1:
            raise ValueError(f"{name} as a float must be in (0, 1), got {size}")
        return round(size * n)
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        if not 0 < int(size) < n:
            raise ValueError(f"{name} as an int must be in (0, {n}) for a dataset of "
                             f"{n} samples, got {size}")
        return int(size)
    raise TypeError(f"{name} must be None, a float or an int, got {type(size).__name__}")


def split_dataset(dataset: Any, left_size: Any = None, right_size: Any = None,
                  shuffle: bool = False, seed: Optional[int] = None) -> Tuple[Any, Any]:
    """Split an array, or a tuple of arrays of equal length, into (left, right)
    as keras.utils.split_dataset does: left is the first left_size samples,
    right the last right_size (a float is a fraction, rounded; the one not
    given is the rest).  shuffle=True permutes the samples first (with
    NumPy's generator seeded by `seed`, so the order is not Keras's)."""
    arrays = dataset if isinstance(dataset, tuple) else (dataset,)
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise TypeError("split_dataset: dataset must be an array or a tuple of arrays")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"split_dataset: the arrays in dataset have different lengths "
                         f"{[a.shape[0] for a in arrays]}")
    if left_size is None and right_size is None:
        raise TypeError("At least one of the `left_size` or `right_size` must be specified")
    left = _split_size(left_size, "left_size", n)
    right = _split_size(right_size, "right_size", n)
    if left is None:
        assert right is not None
        left = n - right
    if right is None:
        right = n - left
    if left + right > n:
        raise ValueError(f"left_size + right_size = {left + right} is more than the "
                         f"{n} samples of dataset")
    if left == 0 or right == 0:
        raise ValueError(f"left_size={left_size}, right_size={right_size} leave an empty "
                         f"side for a dataset of {n} samples")
    if shuffle:
        order = np.random.default_rng(seed).permutation(n)
        arrays = tuple(a[order] for a in arrays)
    lefts = tuple(a[:left].copy() for a in arrays)
    rights = tuple(a[n - right:].copy() for a in arrays)
    if isinstance(dataset, tuple):
        return lefts, rights
    return lefts[0], rights[0]
