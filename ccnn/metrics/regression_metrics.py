"""Regression metrics: the running (weighted) mean of Keras's per-sample
regression errors (and the root of the mean squared error)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .metric import as_array, squeeze_or_expand_to_same_rank
from .reduction_metrics import Mean, MeanMetricWrapper


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


def _loss_fn(name: str, y_true: Any, y_pred: Any, **kwargs: Any) -> np.ndarray:
    """ccnn.losses' per-sample function `name` (imported late: ccnn.losses
    imports this package)."""
    from .. import losses
    fn = getattr(losses, name)
    out: np.ndarray = fn(y_true, y_pred, **kwargs)
    return out


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))) over the last axis."""
    return _loss_fn("mean_squared_logarithmic_error", y_true, y_pred)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""
    return _loss_fn("mean_absolute_percentage_error", y_true, y_pred)


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(log(cosh(y_pred - y_true))) over the last axis."""
    return _loss_fn("log_cosh", y_true, y_pred)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): 1 for parallel
    vectors (the loss's value negated)."""
    return -_loss_fn("cosine_similarity", y_true, y_pred, axis=axis)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors (keras.metrics.RootMeanSquaredError)."""

    _direction = "down"

    def __init__(self, name: str = "root_mean_squared_error",
                 dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any,  # type: ignore[override]
                     sample_weight: Any = None) -> None:
        super().update_state(np.square(_diff(y_true, y_pred)), sample_weight=sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean squared logarithmic error (keras.metrics.MeanSquaredLogarithmicError, 'msle')."""

    _direction = "down"

    def __init__(self, name: str = "mean_squared_logarithmic_error",
                 dtype: Optional[str] = None) -> None:
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean absolute percentage error (keras.metrics.MeanAbsolutePercentageError, 'mape')."""

    _direction = "down"

    def __init__(self, name: str = "mean_absolute_percentage_error",
                 dtype: Optional[str] = None) -> None:
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of log(cosh(error)) (keras.metrics.LogCoshError; named 'logcosh' as Keras)."""

    _direction = "down"

    def __init__(self, name: str = "logcosh", dtype: Optional[str] = None) -> None:
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity of y_true and y_pred over `axis`
    (keras.metrics.CosineSimilarity)."""

    def __init__(self, name: str = "cosine_similarity", dtype: Optional[str] = None,
                 axis: int = -1) -> None:
        from ..losses import _axis
        self.axis = _axis(axis)
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=self.axis)

    def get_config(self) -> Dict[str, Any]:
        # Keras 3's keys (name, dtype); an axis other than -1, which Keras's
        # config would lose, is kept (Keras's from_config accepts it)
        return {"name": self.name, "dtype": self.dtype,
                **({} if self.axis == -1 else {"axis": self.axis})}
