"""Probabilistic metrics: the running (weighted) mean of Keras's
KL divergence, Poisson loss and cross-entropies (the losses as metrics)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .reduction_metrics import MeanMetricWrapper
from .regression_metrics import _loss_fn


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""
    return _loss_fn("kl_divergence", y_true, y_pred)


def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""
    return _loss_fn("poisson", y_true, y_pred)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """ccnn.losses.binary_crossentropy: the mean binary cross-entropy over `axis`."""
    return _loss_fn("binary_crossentropy", y_true, y_pred, from_logits=from_logits,
                    label_smoothing=label_smoothing, axis=axis)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """ccnn.losses.categorical_crossentropy: one loss per sample, one-hot targets."""
    return _loss_fn("categorical_crossentropy", y_true, y_pred, from_logits=from_logits,
                    label_smoothing=label_smoothing, axis=axis)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: Optional[int] = None,
                                    axis: int = -1) -> np.ndarray:
    """ccnn.losses.sparse_categorical_crossentropy: one loss per sample, integer labels."""
    _sparse_args(ignore_class, axis)
    return _loss_fn("sparse_categorical_crossentropy", y_true, y_pred, from_logits=from_logits)


def _sparse_args(ignore_class: Any, axis: Any) -> None:
    from ..losses import _axis
    if ignore_class is not None:
        raise ValueError(f"ignore_class={ignore_class!r} is not supported by ccnn (only None)")
    if _axis(axis) not in (-1, 1):
        raise ValueError(f"axis must be -1 (the class axis of (N, classes) outputs), "
                         f"got {axis!r}")


def _from_logits_and_smoothing(from_logits: Any, label_smoothing: Any) -> "tuple[bool, float]":
    from .. import _checks as chk
    from ..losses import _fraction
    return chk.boolean(from_logits, "from_logits"), _fraction(label_smoothing, "label_smoothing")


class KLDivergence(MeanMetricWrapper):
    """The mean Kullback-Leibler divergence (keras.metrics.KLDivergence)."""

    _direction = "down"

    def __init__(self, name: str = "kl_divergence", dtype: Optional[str] = None) -> None:
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean Poisson loss (keras.metrics.Poisson)."""

    _direction = "down"

    def __init__(self, name: str = "poisson", dtype: Optional[str] = None) -> None:
        super().__init__(poisson, name=name, dtype=dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary cross-entropy (keras.metrics.BinaryCrossentropy)."""

    _direction = "down"

    def __init__(self, name: str = "binary_crossentropy", dtype: Optional[str] = None,
                 from_logits: bool = False, label_smoothing: float = 0) -> None:
        self.from_logits, self.label_smoothing = _from_logits_and_smoothing(
            from_logits, label_smoothing)
        super().__init__(binary_crossentropy, name=name, dtype=dtype,
                         from_logits=self.from_logits, label_smoothing=self.label_smoothing)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical cross-entropy of one-hot targets
    (keras.metrics.CategoricalCrossentropy)."""

    _direction = "down"

    def __init__(self, name: str = "categorical_crossentropy", dtype: Optional[str] = None,
                 from_logits: bool = False, label_smoothing: float = 0,
                 axis: int = -1) -> None:
        from ..losses import _axis
        self.from_logits, self.label_smoothing = _from_logits_and_smoothing(
            from_logits, label_smoothing)
        self.axis = _axis(axis)
        super().__init__(categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=self.from_logits, label_smoothing=self.label_smoothing,
                         axis=self.axis)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean cross-entropy of integer labels
    (keras.metrics.SparseCategoricalCrossentropy; ignore_class must be None)."""

    _direction = "down"

    def __init__(self, name: str = "sparse_categorical_crossentropy",
                 dtype: Optional[str] = None, from_logits: bool = False,
                 ignore_class: Optional[int] = None, axis: int = -1) -> None:
        from .. import _checks as chk
        _sparse_args(ignore_class, axis)
        self.from_logits = chk.boolean(from_logits, "from_logits")
        self.ignore_class = None
        self.axis = int(axis)
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype,
                         from_logits=self.from_logits)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}
