"""Hinge metrics: the running (weighted) mean of Keras's hinge losses."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .reduction_metrics import MeanMetricWrapper
from .regression_metrics import _loss_fn


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(maximum(1 - y_true * y_pred, 0)) over the last axis (0 / 1 labels become -1 / 1)."""
    return _loss_fn("hinge", y_true, y_pred)


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(square(maximum(1 - y_true * y_pred, 0))) over the last axis."""
    return _loss_fn("squared_hinge", y_true, y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)."""
    return _loss_fn("categorical_hinge", y_true, y_pred)


class Hinge(MeanMetricWrapper):
    """The mean hinge loss (keras.metrics.Hinge)."""

    _direction = "down"

    def __init__(self, name: str = "hinge", dtype: Optional[str] = None) -> None:
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss (keras.metrics.SquaredHinge)."""

    _direction = "down"

    def __init__(self, name: str = "squared_hinge", dtype: Optional[str] = None) -> None:
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean categorical hinge loss (keras.metrics.CategoricalHinge)."""

    _direction = "down"

    def __init__(self, name: str = "categorical_hinge", dtype: Optional[str] = None) -> None:
        super().__init__(categorical_hinge, name=name, dtype=dtype)
