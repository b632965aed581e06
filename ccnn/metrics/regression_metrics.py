"""Regression metrics: the running (weighted) mean of Keras's per-sample
mean squared / absolute error."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .metric import as_array, squeeze_or_expand_to_same_rank
from .reduction_metrics import MeanMetricWrapper


def _diff(y_true: Any, y_pred: Any) -> np.ndarray:
    t, p = squeeze_or_expand_to_same_rank(as_array(y_true, "y_true"), as_array(y_pred, "y_pred"))
    try:
        return t - p
    except ValueError:
        raise ValueError(f"y_true of shape {t.shape} and y_pred of shape {p.shape} do not "
                         f"match") from None


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean((y_true - y_pred) ** 2) over the last axis."""
    return np.mean(np.square(_diff(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(|y_true - y_pred|) over the last axis."""
    return np.mean(np.abs(_diff(y_true, y_pred)), axis=-1)


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error (keras.metrics.MeanSquaredError, 'mse')."""

    _direction = "down"

    def __init__(self, name: str = "mean_squared_error", dtype: Optional[str] = None) -> None:
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error (keras.metrics.MeanAbsoluteError, 'mae')."""

    _direction = "down"

    def __init__(self, name: str = "mean_absolute_error", dtype: Optional[str] = None) -> None:
        super().__init__(mean_absolute_error, name=name, dtype=dtype)
