"""ccnn.metrics -- Keras 3's metrics: objects with update_state / result /
reset_state, the per-sample functions they average, and the string names.

    m = ccnn.metrics.AUC()
    m.update_state(y_true, y_prob)          # batch after batch
    m.result()                              # 0.93...
    ccnn.metrics.get("mae")                 # MeanAbsoluteError()
    ccnn.metrics.get_metric("accuracy", y_pred_shape=(None, 10),
                            loss="sparse_categorical_crossentropy")
                                            # SparseCategoricalAccuracy(name="accuracy")

Metrics are NumPy (they are not hot loops) and accumulate in float64.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Type

from .. import _serialization
from .accuracy_metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                               SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                               TopKCategoricalAccuracy, accuracy, binary_accuracy,
                               categorical_accuracy, sparse_categorical_accuracy,
                               sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .confusion_metrics import AUC, Precision, Recall
from .f_score_metrics import F1Score, FBetaScore
from .metric import Metric, auto_name
from .reduction_metrics import Mean, MeanMetricWrapper
from .regression_metrics import (MeanAbsoluteError, MeanSquaredError, mean_absolute_error,
                                 mean_squared_error)
from .regression_metrics import (CosineSimilarity, LogCoshError, MeanAbsolutePercentageError,
                                 MeanSquaredLogarithmicError, RootMeanSquaredError,
                                 cosine_similarity, log_cosh, mean_absolute_percentage_error,
                                 mean_squared_logarithmic_error)
from .hinge_metrics import CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, \
    squared_hinge
from .probabilistic_metrics import (BinaryCrossentropy, CategoricalCrossentropy, KLDivergence,
                                    Poisson, SparseCategoricalCrossentropy, binary_crossentropy,
                                    categorical_crossentropy, kl_divergence, poisson,
                                    sparse_categorical_crossentropy)

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "AUC",
           "Precision", "Recall", "accuracy", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "top_k_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "mean_squared_error", "mean_absolute_error",
           "get", "get_metric", "serialize", "deserialize",
           "RootMeanSquaredError", "MeanSquaredLogarithmicError", "MeanAbsolutePercentageError",
           "LogCoshError", "CosineSimilarity", "Hinge", "SquaredHinge", "CategoricalHinge",
           "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "mean_squared_logarithmic_error",
           "mean_absolute_percentage_error", "log_cosh", "cosine_similarity", "hinge",
           "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "F1Score", "FBetaScore"]

_CLASSES: Sequence[Type[Metric]] = (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, AUC, Precision, Recall,
    RootMeanSquaredError, MeanSquaredLogarithmicError, MeanAbsolutePercentageError, LogCoshError,
    CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
    F1Score, FBetaScore)

# Keras's metrics.ALL_OBJECTS_DICT for these classes: the class name, its
# snake-case name, and the short aliases
ALL_OBJECTS_DICT: Dict[str, Type[Metric]] = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({auto_name(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT.update({"mse": MeanSquaredError, "MSE": MeanSquaredError,
                         "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                         "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
                         "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                         "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})


def serialize(metric: Metric) -> Dict[str, Any]:
    """{"class_name": ..., "config": metric.get_config()}."""
    return _serialization.serialize(metric, Metric, "metric")


def deserialize(config: Dict[str, Any]) -> Metric:
    """The metric of a serialize() dict (Keras's extra keys are ignored)."""
    metric: Metric = _serialization.deserialize(config, ALL_OBJECTS_DICT, "metric class")
    return metric


def get(identifier: Any) -> Any:
    """A metric from a name ('mae', 'binary_accuracy', 'AUC', ...), a
    serialize() dict, a Metric class or instance, or a function (returned
    as is), as keras.metrics.get.  None gives None.  ('accuracy' here is
    Keras's exact-match Accuracy; compile's 'accuracy' is get_metric's.)"""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj: Any = identifier
    if isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
    if isinstance(obj, type) and issubclass(obj, Metric):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}; ccnn knows "
                     f"{sorted(ALL_OBJECTS_DICT)} and 'accuracy' / 'acc' in compile")


def _loss_is_sparse(loss: Any) -> bool:
    if isinstance(loss, str):
        return loss.lower().replace("_", "").startswith("sparse")
    if getattr(loss, "sparse", False) is True:
        return True
    name = getattr(loss, "__name__", None) or type(loss).__name__
    return name.lower().replace("_", "").startswith("sparse")


def get_metric(identifier: Any, y_pred_shape: Sequence[Optional[int]],
               y_true_shape: Optional[Sequence[Optional[int]]] = None,
               loss: Any = None) -> Metric:
    """The metric object compile makes of one entry of `metrics`, named as
    Keras names it (the string itself, e.g. 'acc', 'mae').

    'accuracy' / 'acc' is resolved as Keras 3's compile does: BinaryAccuracy
    when the model's output has one unit (y_pred_shape[-1] == 1);
    otherwise SparseCategoricalAccuracy when the targets are integer labels
    (y_true_shape of lower rank than the output, or ending in 1), else
    CategoricalAccuracy.  Keras reads that from the first batch's targets;
    when y_true_shape is not given the loss decides (a sparse_* loss means
    integer labels), which is what a model knows at compile time."""
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        pred = tuple(y_pred_shape)
        if not pred:
            raise ValueError(f"y_pred_shape must have a last (class) axis, got {y_pred_shape!r}")
        if pred[-1] == 1:
            return BinaryAccuracy(name=identifier)
        if y_true_shape is not None:
            true = tuple(y_true_shape)
            sparse = len(true) < len(pred) or (len(true) > 0 and true[-1] == 1)
        elif loss is not None:
            sparse = _loss_is_sparse(loss)
        else:
            raise ValueError(f"metric {identifier!r} needs y_true_shape or the loss to choose "
                             f"between categorical and sparse categorical accuracy")
        cls: Type[Metric] = SparseCategoricalAccuracy if sparse else CategoricalAccuracy
        return cls(name=identifier)
    obj = get(identifier)
    if obj is None:
        raise ValueError("Expected metric, received `None`")
    if not isinstance(obj, Metric):
        fn: Callable[..., Any] = obj
        obj = MeanMetricWrapper(fn, name=getattr(fn, "__name__", None))
    if isinstance(identifier, str):
        obj.name = identifier
    return obj
