"""Confusion-matrix metrics: Precision, Recall and AUC (binary), Keras 3's
thresholding and area formulas."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .metric import (Metric, as_array, check_int, check_real, divide_no_nan,
                     squeeze_or_expand_to_same_rank)

EPSILON = 1e-7  # Keras's backend.epsilon(): AUC's outer thresholds are -eps and 1 + eps
NEG_INF = -1e10  # Keras's metrics_utils.NEG_INF: the score of a prediction outside the top k


def _evenly_distributed(thresholds: np.ndarray) -> bool:
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n) / (n - 1), atol=EPSILON))


def _parse_thresholds(thresholds: Any, default: float) -> List[float]:
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
        else [thresholds]
    for i, t in enumerate(values):
        check_real(t, f"thresholds[{i}]")
    bad = [t for t in values if not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: thresholds="
                         f"{thresholds!r}")
    return [float(t) for t in values]


def confusion_counts(y_true: Any, y_pred: Any, thresholds: np.ndarray, evenly: bool,
                     sample_weight: Any = None, top_k: Optional[int] = None,
                     class_id: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Weighted true/false positives/negatives at each threshold (a
    prediction is positive when its score > the threshold), Keras's
    metrics_utils.update_confusion_matrix_variables for one label.  With
    `evenly` (thresholds evenly spaced over [0, 1]) Keras's bucketed form is
    used, which clips the scores to [0, 1] first."""
    t, p = as_array(y_true, "y_true"), as_array(y_pred, "y_pred")
    p, t = squeeze_or_expand_to_same_rank(p, t)
    if p.shape != t.shape:
        raise ValueError(f"y_true of shape {t.shape} and y_pred of shape {p.shape} do not match")
    w = None
    if sample_weight is not None:
        w = as_array(sample_weight, "sample_weight")[..., None]
        _, w = squeeze_or_expand_to_same_rank(t, w, expand_rank_1=False)
    if top_k is not None:
        if p.ndim < 1:
            raise ValueError("top_k needs y_pred with a class axis")
        order = np.argsort(-p, axis=-1, kind="stable")[..., :top_k]
        keep = np.zeros(p.shape, dtype=bool)
        np.put_along_axis(keep, order, True, axis=-1)
        p = np.where(keep, p, NEG_INF)
    if class_id is not None:
        if p.ndim < 2 or class_id >= p.shape[-1]:
            raise ValueError(f"class_id={class_id} needs y_pred of shape (num_samples, "
                             f"num_classes > {class_id}), found shape {p.shape}")
        t, p = t[..., class_id, None], p[..., class_id, None]
    if w is not None:
        try:
            w = np.broadcast_to(w, p.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not "
                             f"broadcast to y_pred's shape {p.shape}") from None
    weights = np.ones(p.size) if w is None else w.reshape(-1)
    positive = t.reshape(-1) != 0
    scores = p.reshape(-1)
    n = len(thresholds)
    if evenly:
        # Keras's bucketed form for evenly spaced thresholds: scores clipped to
        # [0, 1], bucket ceil(score * (n - 1)) - 1, counts summed from the top bucket down
        with_epsilon = bool(thresholds[0] < 0 or thresholds[-1] > 1)
        bucket = np.ceil(np.clip(scores, 0.0, 1.0) * (n - 1)) - 1
        if with_epsilon:
            bucket = np.maximum(bucket, 0)
        keep = bucket >= 0
        b = bucket[keep].astype(np.int64)

        def above(mask: np.ndarray) -> np.ndarray:
            per_bucket = np.bincount(b, weights=(weights * mask)[keep], minlength=n)[:n]
            return np.cumsum(per_bucket[::-1])[::-1]
        tp, fp = above(positive), above(~positive)
    else:
        predicted = scores[None, :] > thresholds[:, None]
        tp = (predicted & positive).astype(np.float64) @ weights
        fp = (predicted & ~positive).astype(np.float64) @ weights
    total_pos = float(weights @ positive)
    total_neg = float(weights @ ~positive)
    return {"tp": tp, "fp": fp, "tn": total_neg - fp, "fn": total_pos - tp}


class _ConfusionMetric(Metric):
    """Accumulates the confusion counts of update_state at self.thresholds."""

    top_k: Optional[int] = None
    class_id: Optional[int] = None

    def _init_counts(self, thresholds: Sequence[float], evenly: bool) -> None:
        self._thresholds = np.asarray(thresholds, dtype=np.float64)
        self._evenly = evenly
        self.reset_state()

    def reset_state(self) -> None:
        n = len(self._thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def _add(self, y_true: Any, y_pred: Any, sample_weight: Any) -> None:
        c = confusion_counts(y_true, y_pred, self._thresholds, self._evenly, sample_weight,
                             self.top_k, self.class_id)
        self.true_positives = self.true_positives + c["tp"]
        self.false_positives = self.false_positives + c["fp"]
        self.true_negatives = self.true_negatives + c["tn"]
        self.false_negatives = self.false_negatives + c["fn"]

    def update_state(self, y_true: Any, y_pred: Any,
                     sample_weight: Any = None) -> None:
        self._add(y_true, y_pred, sample_weight)


class _ThresholdRatio(_ConfusionMetric):
    """Precision and Recall: thresholds (default 0.5, or -inf with top_k),
    top_k, class_id; result() a float, or an array for several thresholds."""

    def __init__(self, thresholds: Any = None, top_k: Optional[int] = None,
                 class_id: Optional[int] = None, name: Optional[str] = None,
                 dtype: Optional[str] = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else check_int(top_k, "top_k", 1)
        self.class_id = None if class_id is None else check_int(class_id, "class_id", 0)
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = _parse_thresholds(thresholds, default)
        self._init_counts(self.thresholds, _evenly_distributed(np.array(self.thresholds)))

    def _ratio(self, other: np.ndarray) -> Union[float, np.ndarray]:
        r = divide_no_nan(self.true_positives, self.true_positives + other)
        return float(r[0]) if len(self.thresholds) == 1 else r

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ThresholdRatio):
    """tp / (tp + fp): how many of the predicted positives are positive."""

    def result(self) -> Union[float, np.ndarray]:
        return self._ratio(self.false_positives)


class Recall(_ThresholdRatio):
    """tp / (tp + fn): how many of the positives are predicted positive."""

    def result(self) -> Union[float, np.ndarray]:
        return self._ratio(self.false_negatives)


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionMetric):
    """Area under the ROC (or PR) curve of a binary classifier, Keras's
    approximation: confusion counts at num_thresholds thresholds evenly
    spaced in [0, 1] (the outer two -1e-7 and 1 + 1e-7), and a Riemann sum
    ('interpolation': trapezoids; for PR the interpolation of Davis &
    Goadrich, as Keras).  ccnn's AUC is single-label: multi_label,
    num_labels and label_weights are not supported."""

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: Optional[str] = None,
                 dtype: Optional[str] = None, thresholds: Optional[Sequence[float]] = None,
                 multi_label: bool = False, num_labels: Optional[int] = None,
                 label_weights: Any = None, from_logits: bool = False) -> None:
        super().__init__(name=name, dtype=dtype)
        if not isinstance(curve, str) or curve.lower() not in _CURVES \
                or curve not in (curve.lower(), curve.upper()):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             f'["PR", "ROC", "PRGAIN"]')
        if not isinstance(summation_method, str) or summation_method.lower() not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             f'Expected values are ["interpolation", "majoring", "minoring"]')
        if multi_label is not False or num_labels is not None or label_weights is not None:
            raise ValueError("ccnn's AUC is single-label: multi_label, num_labels and "
                             "label_weights are not supported")
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits must be a bool, got {type(from_logits).__name__}")
        self.curve = _CURVES[curve.lower()]
        self.summation_method = summation_method.lower()
        self.multi_label = False
        self.num_labels = None
        self.label_weights = None
        self._from_logits = bool(from_logits)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            evenly = _evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            self.num_thresholds = check_int(num_thresholds, "num_thresholds", 2)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
            evenly = True
        self._init_counts([0.0 - EPSILON] + inner + [1.0 + EPSILON], evenly)

    @property
    def thresholds(self) -> List[float]:
        return [float(t) for t in self._thresholds]

    def update_state(self, y_true: Any, y_pred: Any,
                     sample_weight: Any = None) -> None:
        if self._from_logits:
            z = as_array(y_pred, "y_pred")
            y_pred = np.exp(-np.logaddexp(0.0, -z))  # sigmoid, without overflow
        self._add(y_true, y_pred, sample_weight)

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        prec_slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0),
                         divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = divide_no_nan(prec_slope * (dtp + intercept * np.log(ratio)),
                                  np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(increment))

    def result(self) -> float:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp = self.true_positives, self.false_positives
        tn, fn = self.true_negatives, self.false_negatives
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scale = divide_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * divide_no_nan(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * divide_no_nan(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self) -> Dict[str, Any]:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": False, "num_labels": None, "label_weights": None,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
