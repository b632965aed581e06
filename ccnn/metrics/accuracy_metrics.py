"""Accuracy metrics: Keras 3's functions (one value per sample) and the
metric objects that average them."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .metric import as_array, check_int, check_real, squeeze_or_expand_to_same_rank
from .reduction_metrics import MeanMetricWrapper


def _pair(y_true: Any, y_pred: Any) -> "tuple[np.ndarray, np.ndarray]":
    return as_array(y_true, "y_true"), as_array(y_pred, "y_pred")


def _classes(y_pred: np.ndarray) -> np.ndarray:
    if y_pred.ndim < 1 or y_pred.shape[-1] == 0:
        raise ValueError(f"y_pred must have a class axis, got shape {y_pred.shape}")
    return y_pred


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where y_pred equals y_true exactly."""
    t, p = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    return (t == p).astype(np.float64)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """1.0 where (y_pred > threshold) equals y_true."""
    t, p = squeeze_or_expand_to_same_rank(*_pair(y_true, y_pred))
    return (t == (p > threshold)).astype(np.float64)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot targets)."""
    t, p = _pair(y_true, y_pred)
    return (t.argmax(axis=-1) == _classes(p).argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the integer label y_true ((N,) or (N, 1))."""
    t, p = _pair(y_true, y_pred)
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    matches = (t == _classes(p).argmax(axis=-1)).astype(np.float64)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def _in_top_k(targets: np.ndarray, predictions: np.ndarray, k: int) -> np.ndarray:
    """Keras's ops.in_top_k: the target's score is >= the k-th largest score
    (so ties at the boundary count as in the top k)."""
    k = min(k, predictions.shape[-1])
    kth = np.sort(predictions, axis=-1)[:, -k]
    idx = targets.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= predictions.shape[-1]):
        raise ValueError(f"y_true holds class {int(idx.min()) if idx.min() < 0 else int(idx.max())}"
                         f" but y_pred has {predictions.shape[-1]} classes")
    return np.take_along_axis(predictions, idx[:, None], axis=-1)[:, 0] >= kth


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1.0 where the one-hot target's class is among the k highest scores."""
    t, p = _pair(y_true, y_pred)
    t = t.argmax(axis=-1)
    p = _classes(p).reshape(-1, p.shape[-1])
    return _in_top_k(t.reshape(-1), p, k).astype(np.float64).reshape(t.shape)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5,
                                      from_sorted_ids: bool = False) -> np.ndarray:
    """1.0 where the integer label is among the k highest scores (or, with
    from_sorted_ids, among the first k of y_pred's ids sorted by score)."""
    t, p = _pair(y_true, y_pred)
    shape = t.shape
    p = _classes(p).reshape(-1, p.shape[-1])
    t = t.reshape(-1)
    if from_sorted_ids:
        matches = np.any(t[:, None] == p[:, :k], axis=1)
    else:
        matches = _in_top_k(t, p, k)
    return matches.astype(np.float64).reshape(shape)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly (keras.metrics.Accuracy)."""

    def __init__(self, name: str = "accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) matches the binary labels."""

    def __init__(self, name: str = "binary_accuracy", dtype: Optional[str] = None,
                 threshold: float = 0.5) -> None:
        self.threshold = check_real(threshold, "threshold")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches one-hot labels."""

    def __init__(self, name: str = "categorical_accuracy", dtype: Optional[str] = None) -> None:
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches integer labels."""

    def __init__(self, name: str = "sparse_categorical_accuracy",
                 dtype: Optional[str] = None) -> None:
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the k highest predictions."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy",
                 dtype: Optional[str] = None) -> None:
        self.k = check_int(k, "k", 1)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the k highest predictions."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy",
                 dtype: Optional[str] = None, from_sorted_ids: bool = False) -> None:
        self.k = check_int(k, "k", 1)
        if not isinstance(from_sorted_ids, (bool, np.bool_)):
            raise TypeError(f"from_sorted_ids must be a bool, got {type(from_sorted_ids).__name__}")
        self.from_sorted_ids = bool(from_sorted_ids)
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=self.k,
                         from_sorted_ids=self.from_sorted_ids)

    def get_config(self) -> Dict[str, Any]:
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config
