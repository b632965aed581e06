"""FBetaScore and F1Score: Keras 3's per-class F-scores of thresholded
predictions, accumulated over batches (tp, fp, fn and the support)."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np

from .metric import Metric, as_array

EPSILON = 1e-7  # Keras's backend.epsilon()
_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """(1 + beta^2) precision recall / (beta^2 precision + recall) per class
    of 2-D (batch, classes) targets and predictions (keras.metrics.FBetaScore).

    A prediction is positive where y_pred > threshold, or -- threshold None --
    where it is its row's maximum (and not 0).  average None gives one score
    per class; 'micro' counts over every class; 'macro' the classes' mean;
    'weighted' their mean weighted by each class's support."""

    def __init__(self, average: Optional[str] = None, beta: float = 1.0,
                 threshold: Optional[float] = None, name: str = "fbeta_score",
                 dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if average not in _AVERAGES or (average is not None and not isinstance(average, str)):
            raise ValueError(f"Invalid `average` argument value. Expected one of: "
                             f"{{None, 'micro', 'macro', 'weighted'}}. Received: "
                             f"average={average!r}")
        if not isinstance(beta, float):
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta!r} of type {type(beta).__name__}")
        if not beta > 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. "
                             f"Received: beta={beta!r}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"Invalid `threshold` argument value. It should be a Python "
                                 f"float. Received: threshold={threshold!r} of type "
                                 f"{type(threshold).__name__}")
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"Invalid `threshold` argument value. It should verify "
                                 f"0 < threshold <= 1. Received: threshold={threshold!r}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self) -> None:
        self._classes: Optional[int] = None
        self.true_positives: Union[float, np.ndarray] = 0.0
        self.false_positives: Union[float, np.ndarray] = 0.0
        self.false_negatives: Union[float, np.ndarray] = 0.0
        self.intermediate_weights: Union[float, np.ndarray] = 0.0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t, p = as_array(y_true, "y_true"), as_array(y_pred, "y_pred")
        if p.ndim != 2 or t.ndim != 2:
            raise ValueError(f"FBetaScore expects 2D inputs with shape (batch_size, "
                             f"output_dim). Received input shapes: y_pred.shape={p.shape} and "
                             f"y_true.shape={t.shape}.")
        if t.shape != p.shape:
            raise ValueError(f"y_true of shape {t.shape} and y_pred of shape {p.shape} do "
                             f"not match")
        if self._classes is not None and p.shape[1] != self._classes:
            raise ValueError(f"y_pred has {p.shape[1]} classes but earlier batches had "
                             f"{self._classes}")
        w = None
        if sample_weight is not None:
            w = as_array(sample_weight, "sample_weight").reshape(-1)
            if w.shape != (p.shape[0],):
                raise ValueError(f"sample_weight must hold one weight per sample "
                                 f"({p.shape[0]}), got shape {np.shape(sample_weight)}")
            w = w[:, None]
        if self.threshold is None:
            pos = (p >= p.max(axis=-1, keepdims=True)) & (np.abs(p) > 1e-9) \
                if p.shape[1] else np.zeros(p.shape, bool)
        else:
            pos = p > self.threshold
        q = pos.astype(np.float64)

        def wsum(v: np.ndarray) -> Union[float, np.ndarray]:
            if w is not None:
                v = v * w
            return v.sum(axis=self.axis)
        self.true_positives = self.true_positives + wsum(q * t)
        self.false_positives = self.false_positives + wsum(q * (1 - t))
        self.false_negatives = self.false_negatives + wsum((1 - q) * t)
        self.intermediate_weights = self.intermediate_weights + wsum(t)
        self._classes = p.shape[1]

    def result(self) -> Union[float, np.ndarray]:
        tp = np.asarray(self.true_positives, dtype=np.float64)
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            iw = np.asarray(self.intermediate_weights, dtype=np.float64)
            return float(np.sum(f * iw / (np.sum(iw) + EPSILON)))
        if self.average is not None:
            return float(np.mean(f))
        return f

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall
    (keras.metrics.F1Score)."""

    def __init__(self, average: Optional[str] = None, threshold: Optional[float] = None,
                 name: str = "f1_score", dtype: Optional[str] = None) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config
