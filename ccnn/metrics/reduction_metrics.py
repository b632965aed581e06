"""Mean and MeanMetricWrapper: a (weighted) running mean of per-sample values."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .metric import Metric, as_array, squeeze_or_expand_to_same_rank


def reduce_to_samplewise_values(values: np.ndarray, sample_weight: Optional[np.ndarray]
                                ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Keras's reduction to one value per sample: with a sample_weight the
    values are averaged down to the weight's rank, weighted, and the weight
    averaged down to one per sample; then the values are averaged to one per
    sample."""
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        w_ndim, v_ndim = sample_weight.ndim, values.ndim
        if v_ndim > w_ndim:
            values = values.mean(axis=tuple(range(w_ndim, v_ndim)))
        try:
            sample_weight = np.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {sample_weight.shape} does not broadcast "
                             f"to the per-sample values of shape {values.shape}") from None
        values = values * sample_weight
        if w_ndim > 1:
            sample_weight = sample_weight.mean(axis=tuple(range(1, w_ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Mean(Metric):
    """The weighted mean of every value passed to update_state:
    sum(values * sample_weight) / sum(sample_weight) (0 before any update)."""

    def __init__(self, name: Optional[str] = "mean", dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        v = as_array(values, "values")
        w = None if sample_weight is None else as_array(sample_weight, "sample_weight")
        v, w = reduce_to_samplewise_values(v, w)
        total = float(np.sum(v))
        if w is not None:
            count = float(np.sum(w))
        else:
            count = float(v.shape[0]) if v.ndim >= 1 else 1.0
        self.total += total
        self.count += count

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def result(self) -> float:
        return self.total / self.count if self.count != 0 else 0.0


class MeanMetricWrapper(Mean):
    """The mean of fn(y_true, y_pred, **kwargs), a per-sample metric
    function, weighted by sample_weight."""

    def __init__(self, fn: Callable[..., np.ndarray], name: Optional[str] = None,
                 dtype: Optional[str] = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be a function (y_true, y_pred) -> values, got "
                            f"{type(fn).__name__}")
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"),
                         dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any,  # type: ignore[override]
                     sample_weight: Any = None) -> None:
        values = self._fn(as_array(y_true, "y_true"), as_array(y_pred, "y_pred"),
                          **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}
