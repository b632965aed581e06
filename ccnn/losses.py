"""ccnn.losses -- Keras 3's losses: classes, functions and string names.

Low-level ops (arrays of shape (N, classes); each computed by csrc/kernels/loss.c):

    probs = softmax(logits)                       dx = softmax_backward(dprobs, probs)
    loss_rows, probs = sparse_softmax_cross_entropy(logits, labels)
    dlogits = sparse_softmax_cross_entropy_backward(probs, labels)   # (probs - onehot) / N
    loss_rows, probs = softmax_cross_entropy(logits, targets)        # one-hot or soft targets
    dlogits = softmax_cross_entropy_backward(probs, targets)

The fused softmax + cross-entropy is computed from the logits with the
log-sum-exp trick, and the fused sigmoid + binary cross-entropy
(F.binary_cross_entropy_with_logits) as max(z, 0) - z t + log1p(exp(-|z|)):
both stay finite for logits of any size, no clipping.

Keras-style losses (what ``model.compile(loss=...)`` takes), with Keras 3's
names, arguments, defaults and formulas; each is a class, a function giving
one loss per sample, and string names (``get``):

    CategoricalCrossentropy        categorical_crossentropy         one-hot / soft targets
    SparseCategoricalCrossentropy  sparse_categorical_crossentropy  integer labels
    BinaryCrossentropy             binary_crossentropy, 'bce'       targets in [0, 1]
    MeanSquaredError               mean_squared_error, 'mse'
    MeanAbsoluteError              mean_absolute_error, 'mae'
    Huber                          huber
    KLDivergence                   kl_divergence, 'kld'
    Hinge                          hinge                            labels -1 / 1 (or 0 / 1)
    CategoricalHinge               categorical_hinge                one-hot targets
    Poisson                        poisson
    LogCosh                        log_cosh
    SquaredHinge                   squared_hinge                    labels -1 / 1 (or 0 / 1)
    CosineSimilarity               cosine_similarity                axis
    MeanSquaredLogarithmicError    mean_squared_logarithmic_error, 'msle'
    MeanAbsolutePercentageError    mean_absolute_percentage_error, 'mape'
    BinaryFocalCrossentropy        binary_focal_crossentropy        targets in [0, 1]
    CategoricalFocalCrossentropy   categorical_focal_crossentropy   one-hot / soft targets

``loss(y_true, y_pred, sample_weight=None)`` is Keras's: the per-sample
losses times the sample weights, reduced by ``reduction``
("sum_over_batch_size" -- the default, "sum", "mean",
"mean_with_sample_weight", or "none" / None for no reduction).  On
probabilities the cross-entropies follow Keras's non-fused path: they are
clipped to [1e-7, 1 - 1e-7] (the categorical ones renormalised to sum to 1
first).  A model runs the losses through ``forward`` (per-sample losses)
and ``gradient`` (d(batch mean)/d(y_pred)); with a softmax or sigmoid
output layer the cross-entropies take the layer's logits instead
(ccnn.models.fusion).  The losses without a C kernel are NumPy: they are
not the hot loop.
"""
from __future__ import annotations

import abc
import numbers
from typing import Any, Callable, Dict, Optional, Tuple, Type, Union

import numpy as np

from . import _checks as chk
from . import _loss
from . import _serialization
from . import functional as F
from ._config import get_num_threads
from .metrics.metric import auto_name, squeeze_or_expand_to_same_rank

__all__ = [
    "EPSILON", "softmax", "softmax_backward",
    "sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy_backward",
    "softmax_cross_entropy", "softmax_cross_entropy_backward",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "kl_divergence", "hinge",
    "categorical_hinge",
    "Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "Huber", "KLDivergence", "Hinge",
    "CategoricalHinge", "get", "serialize", "deserialize", "reduce_weighted_values",
    "standardize_reduction", "REDUCTIONS",
    "poisson", "log_cosh", "squared_hinge", "cosine_similarity",
    "mean_squared_logarithmic_error", "mean_absolute_percentage_error",
    "Poisson", "LogCosh", "SquaredHinge", "CosineSimilarity", "MeanSquaredLogarithmicError",
    "MeanAbsolutePercentageError",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
]

EPSILON = 1e-7  # Keras's backend.epsilon(): clip for probabilities (non-fused path only)


# ------------------------------------------------------------ array checks

def _logits(logits: Any, name: str = "logits") -> np.ndarray:
    logits = chk.real_array(logits, name)
    if logits.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, classes), got shape {logits.shape}")
    if logits.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class column, got shape {logits.shape}")
    return logits


def check_labels(labels: Any, n: int, classes: int, name: str = "labels") -> np.ndarray:
    """Integer class labels of shape (n,) or (n, 1) as an int64 (n,) array in [0, classes)."""
    y = np.asarray(labels)
    if y.dtype.kind == "f":
        if y.size and (not np.all(np.isfinite(y)) or np.any(y != np.round(y))):
            raise ValueError(f"{name} must be whole-number class indices, got non-integer "
                             f"values (for one-hot or soft targets use "
                             f"loss='categorical_crossentropy')")
    elif y.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class indices, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.shape[1] == classes and classes > 1:
        raise ValueError(f"{name} look one-hot encoded (shape {y.shape}); "
                         f"sparse_categorical_crossentropy expects integer labels of shape "
                         f"({n},): use loss='categorical_crossentropy' or pass "
                         f"labels.argmax(axis=1)")
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, 1), got {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but there are {n} samples")
    y = y.astype(np.int64, copy=False)
    if n:       # one pass in C (else the ufuncs' reduce: y.min() / y.max())
        span = _loss.label_range(y)
        lo, hi = span if span is not None else (int(np.minimum.reduce(y)),
                                                int(np.maximum.reduce(y)))
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} out of range: found label {bad}, but the model has "
                             f"{classes} classes, so labels must lie in [0, {classes - 1}]")
    return np.ascontiguousarray(y)


def check_targets(targets: Any, n: int, classes: int, name: str = "targets") -> np.ndarray:
    """One-hot (or soft) targets of shape (n, classes), as a real array."""
    t = np.asarray(targets)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array (N, {classes}), got dtype {t.dtype}")
    if t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1 and classes > 1):
        raise ValueError(f"categorical_crossentropy expects one-hot {name} of shape "
                         f"({n}, {classes}), got integer-like labels of shape {t.shape}: use "
                         f"loss='sparse_categorical_crossentropy' or "
                         f"ccnn.utils.to_categorical(y, {classes})")
    return check_real_targets(t, n, classes, name)


def _same_dtype(a: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


# ------------------------------------------------------------ softmax

def softmax(logits: Any) -> np.ndarray:
    """Softmax over the last axis (any shape with at least one axis)."""
    x = chk.real_array(logits, "logits")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"logits must have a non-empty last axis, got shape {x.shape}")
    dtype = chk.result_dtype(x)
    flat = chk.contiguous(x, dtype).reshape(-1, x.shape[-1])
    return _loss.softmax_forward(flat, get_num_threads()).reshape(x.shape)


def softmax_backward(grad_out: Any, probs: Any) -> np.ndarray:
    """grad_x = probs * (grad_out - sum(grad_out * probs, last axis))."""
    p = chk.real_array(probs, "probs")
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, p.shape, "grad_out")
    if p.ndim < 1 or p.shape[-1] < 1:
        raise ValueError(f"probs must have a non-empty last axis, got shape {p.shape}")
    dtype = chk.result_dtype(g, p)
    c = p.shape[-1]
    return _loss.softmax_backward(chk.contiguous(g, dtype).reshape(-1, c),
                                  chk.contiguous(p, dtype).reshape(-1, c),
                                  get_num_threads()).reshape(p.shape)


# ------------------------------------------------- fused softmax + xent

def sparse_softmax_cross_entropy(logits: Any, labels: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(loss_per_row, probs): loss_i = -log softmax(logits_i)[labels_i], computed
    as logsumexp(logits_i) - logits_i[labels_i].  logits (N, classes), labels (N,)."""
    z = _logits(logits)
    y = check_labels(labels, z.shape[0], z.shape[1])
    dtype = chk.result_dtype(z)
    return _loss.softmax_xent_forward(chk.contiguous(z, dtype), y, get_num_threads())


def sparse_softmax_cross_entropy_backward(probs: Any, labels: Any) -> np.ndarray:
    """d(mean loss)/d(logits) = (probs - onehot(labels)) / N."""
    p = _logits(probs, "probs")
    y = check_labels(labels, p.shape[0], p.shape[1])
    dtype = chk.result_dtype(p)
    return _loss.softmax_xent_backward(chk.contiguous(p, dtype), y, get_num_threads())


def softmax_cross_entropy(logits: Any, targets: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(loss_per_row, probs): loss_i = -sum_j targets_ij log softmax(logits_i)_j
    (tf.nn.softmax_cross_entropy_with_logits).  logits, targets: (N, classes)."""
    z = _logits(logits)
    t = check_targets(targets, z.shape[0], z.shape[1])
    dtype = chk.result_dtype(z)
    return _loss.softmax_xent_dense_forward(chk.contiguous(z, dtype), _same_dtype(t, dtype),
                                            get_num_threads())


def softmax_cross_entropy_backward(probs: Any, targets: Any) -> np.ndarray:
    """d(mean loss)/d(logits) = (probs * rowsum(targets) - targets) / N."""
    p = _logits(probs, "probs")
    t = check_targets(targets, p.shape[0], p.shape[1])
    dtype = chk.result_dtype(p)
    return _loss.softmax_xent_dense_backward(chk.contiguous(p, dtype), _same_dtype(t, dtype),
                                             get_num_threads())


def check_real_targets(y: Any, n: int, outputs: int, name: str = "y") -> np.ndarray:
    """Targets of shape (n, outputs) -- or (n,) for a one-output model, as
    Keras expands them -- as a real array."""
    t = np.asarray(y)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array, got dtype {t.dtype}")
    if t.ndim == 1 and outputs == 1:
        t = t[:, np.newaxis]
    if t.ndim != 2 or t.shape[1] != outputs:
        raise ValueError(f"{name} must have shape ({n}, {outputs}) to match the model's "
                         f"{outputs} outputs, got {t.shape}")
    if t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} rows but there are {n} samples")
    return t


# ------------------------------------------------- arguments and reductions

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def standardize_reduction(reduction: Any) -> Optional[str]:
    """`reduction` when it is one of Keras 3's (REDUCTIONS), else ValueError."""
    if reduction is not None and not (isinstance(reduction, str) and reduction in REDUCTIONS):
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    return reduction


def _fraction(v: Any, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(v).__name__} {v!r}")
    if not 0.0 <= float(v) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    return float(v)


def _axis(v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(v).__name__} {v!r}")
    return int(v)


def _dtype(v: Any) -> Optional[str]:
    if v is not None and v not in ("float32", "float64"):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {v!r}")
    return v


def _name(v: Any, default: str) -> str:
    if v is None:
        return default
    if not isinstance(v, str):
        raise TypeError(f"name must be a str, got {type(v).__name__}")
    return v


def reduce_weighted_values(values: Any, sample_weight: Any = None,
                           reduction: Optional[str] = "sum_over_batch_size"
                           ) -> Union[float, np.ndarray]:
    """Keras's reduction of per-sample losses: values * sample_weight (their
    ranks matched as Keras matches them), then 'sum', the sum over the number
    of values ('sum_over_batch_size', 'mean'), the sum over the sum of the
    weights ('mean_with_sample_weight'), or the array itself ('none', None)."""
    reduction = standardize_reduction(reduction)
    values = np.asarray(values)
    sw = None
    if sample_weight is not None:
        sw = chk.real_array(sample_weight, "sample_weight").astype(values.dtype, copy=False)
        values, sw = squeeze_or_expand_to_same_rank(values, sw)
        try:
            values = values * sw
        except ValueError:
            raise ValueError(f"sample_weight of shape {sw.shape} does not broadcast to the "
                             f"losses' shape {values.shape}") from None
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = float(values.sum(dtype=np.float64))
    if reduction != "sum":
        divisor = (float(sw.sum(dtype=np.float64))
                   if reduction == "mean_with_sample_weight" and sw is not None else values.size)
        total = total / divisor if divisor else 0.0      # Keras's divide_no_nan
    return total


def _pred_true(y_true: Any, y_pred: Any, dtype: Optional[str] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) as arrays of y_pred's float dtype (or `dtype`), ranks
    matched as Keras's LossFunctionWrapper matches them, of one shape."""
    p = chk.real_array(y_pred, "y_pred")
    if dtype is not None:
        p = p.astype(dtype, copy=False)
    t = chk.real_array(y_true, "y_true").astype(p.dtype, copy=False)
    t, p = squeeze_or_expand_to_same_rank(t, p)
    if p.ndim < 1:
        raise ValueError(f"y_pred must have at least one axis, got shape {p.shape}")
    if t.shape != p.shape:
        raise ValueError(f"y_true of shape {t.shape} and y_pred of shape {p.shape} do not match")
    return t, p


# ----------------------------------- Keras's per-sample losses in NumPy
# Each loss is a pair: _NAME(t, p) the per-sample losses (over the last
# axis) and _NAME_grad(t, p) the gradient of each sample's loss with respect
# to its row of p.  Clipping passes the gradient inside the clip range,
# boundaries included, as TensorFlow and PyTorch do.

def _mse(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean(np.square(t - p), axis=-1)


def _mse_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 2.0 * (p - t) / p.shape[-1]


def _mae(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(t - p), axis=-1)


def _mae_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.sign(p - t) / p.shape[-1]


def _huber(t: np.ndarray, p: np.ndarray, delta: float) -> np.ndarray:
    e = p - t
    a = np.abs(e)
    d = p.dtype.type(delta)
    return np.mean(np.where(a <= d, 0.5 * np.square(e), d * a - 0.5 * d * d), axis=-1)


def _huber_grad(t: np.ndarray, p: np.ndarray, delta: float) -> np.ndarray:
    e = p - t
    d = p.dtype.type(delta)
    return np.where(np.abs(e) <= d, e, d * np.sign(e)) / p.shape[-1]


def _kld(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    tc, pc = np.clip(t, EPSILON, 1.0), np.clip(p, EPSILON, 1.0)
    return np.sum(tc * np.log(tc / pc), axis=-1)


def _kld_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    tc, pc = np.clip(t, EPSILON, 1.0), np.clip(p, EPSILON, 1.0)
    return np.where((p >= EPSILON) & (p <= 1.0), -tc / pc, 0.0).astype(p.dtype, copy=False)


def _hinge_labels(t: np.ndarray) -> np.ndarray:
    """Keras's convert_binary_labels_to_hinge: 0 / 1 labels become -1 / 1
    (only when every label is 0 or 1)."""
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def _hinge(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean(np.maximum(1.0 - _hinge_labels(t) * p, 0.0), axis=-1)


def _hinge_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    s = _hinge_labels(t)
    return np.where(1.0 - s * p > 0, -s, 0.0).astype(p.dtype, copy=False) / p.shape[-1]


def _categorical_hinge_parts(t: np.ndarray, p: np.ndarray
                             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, the argmax of (1 - t) * p, whether the hinge is active)."""
    pos = np.sum(t * p, axis=-1)
    negv = (1.0 - t) * p
    j = np.argmax(negv, axis=-1)
    neg = np.take_along_axis(negv, j[..., np.newaxis], axis=-1)[..., 0]
    margin = neg - pos + 1.0
    return np.maximum(margin, 0.0), j, margin > 0


def _categorical_hinge(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return _categorical_hinge_parts(t, p)[0]


def _categorical_hinge_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    _, j, active = _categorical_hinge_parts(t, p)
    g = -t.copy()
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, j[..., np.newaxis], 1.0, axis=-1)
    g += onehot * (1.0 - t)
    return g * active[..., np.newaxis]

def _poisson(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean(p - t * np.log(p + p.dtype.type(EPSILON)), axis=-1)


def _poisson_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (1.0 - t / (p + p.dtype.type(EPSILON))) / p.shape[-1]


def _log_cosh(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    x = p - t
    return np.mean(x + np.logaddexp(p.dtype.type(0), -2.0 * x) - p.dtype.type(np.log(2.0)),
                   axis=-1)


def _log_cosh_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.tanh(p - t) / p.shape[-1]


def _squared_hinge(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.mean(np.square(np.maximum(1.0 - _hinge_labels(t) * p, 0.0)), axis=-1)


def _squared_hinge_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    s = _hinge_labels(t)
    return -2.0 * s * np.maximum(1.0 - s * p, 0.0) / p.shape[-1]


def _msle_logs(t: np.ndarray, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    eps = p.dtype.type(EPSILON)
    return np.log(np.maximum(p, eps) + 1.0), np.log(np.maximum(t, eps) + 1.0)


def _msle(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b = _msle_logs(t, p)
    return np.mean(np.square(a - b), axis=-1)


def _msle_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b = _msle_logs(t, p)
    inside = p >= EPSILON
    return np.where(inside, 2.0 * (a - b) / (np.maximum(p, EPSILON) + 1.0),
                    0.0).astype(p.dtype, copy=False) / p.shape[-1]


def _mape(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 100.0 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), p.dtype.type(EPSILON))),
                           axis=-1)


def _mape_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 100.0 * np.sign(p - t) / np.maximum(np.abs(t), p.dtype.type(EPSILON)) / p.shape[-1]


def _l2_normalize(x: np.ndarray, axis: int) -> Tuple[np.ndarray, np.ndarray]:
    """(x / max(norm(x), eps), max(norm(x), eps)) over `axis`, Keras's ops.normalize."""
    norm = np.maximum(np.sqrt(np.sum(np.square(x), axis=axis, keepdims=True)),
                      x.dtype.type(EPSILON))
    return x / norm, norm


def _cosine_similarity(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -np.sum(_l2_normalize(t, axis)[0] * _l2_normalize(p, axis)[0], axis=axis)


def _cosine_similarity_grad(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    tn = _l2_normalize(t, axis)[0]
    pn, norm = _l2_normalize(p, axis)
    # where the norm is clipped to eps, p / eps is linear in p
    radial = np.where(norm > EPSILON, np.sum(tn * pn, axis=axis, keepdims=True) * pn, 0.0)
    return (-(tn - radial) / norm).astype(p.dtype, copy=False)


def _bce_probs(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Keras's binary cross-entropy of probabilities, elementwise (clipped)."""
    c = np.clip(p, EPSILON, 1.0 - EPSILON)
    return -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))


def _bce_probs_grad(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    c = np.clip(p, EPSILON, 1.0 - EPSILON)
    inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
    return np.where(inside, (1.0 - t) / (1.0 - c) - t / c, 0.0).astype(p.dtype, copy=False)


def _smooth_binary(t: np.ndarray, label_smoothing: float) -> np.ndarray:
    return t * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else t


def _smooth_categorical(t: np.ndarray, label_smoothing: float) -> np.ndarray:
    if not label_smoothing:
        return t
    return t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]


def _bce_elements(t: np.ndarray, p: np.ndarray, from_logits: bool) -> np.ndarray:
    """Elementwise binary cross-entropy: from the logits in C, or Keras's clipped one."""
    if from_logits:
        dtype = chk.result_dtype(p)
        return F.binary_cross_entropy_with_logits_unchecked(chk.contiguous(p, dtype),
                                                            chk.contiguous(t, dtype))
    return _bce_probs(t, p)

def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(z.dtype.type(0), -z)).astype(z.dtype, copy=False)


def _focal_factor(u: np.ndarray, gamma: float) -> Tuple[np.ndarray, np.ndarray]:
    """(u ** gamma, its derivative), u >= 0; the derivative at u = 0 is the
    one-sided one (0 for gamma > 1, 1 for gamma = 1, 0 where gamma = 0)."""
    f = np.power(u, gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(u > 0, gamma * np.power(u, gamma - 1.0), 1.0 if gamma == 1.0 else 0.0)
    return f, d.astype(u.dtype, copy=False)


def _binary_focal_parts(t: np.ndarray, p: np.ndarray, gamma: float, alpha: float,
                        balance: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(Keras's elementwise binary focal cross-entropy of probabilities p,
    its derivative with respect to p)."""
    u = np.clip(t + p - 2.0 * t * p, 0.0, None)      # 1 - p_t
    f, df = _focal_factor(u, gamma)
    b = _bce_probs(t, p)
    value = f * b
    grad = df * (1.0 - 2.0 * t) * b + f * _bce_probs_grad(t, p)
    if balance:
        w = t * alpha + (1.0 - t) * (1.0 - alpha)
        value, grad = w * value, w * grad
    return value, grad


def _categorical_focal_rows(t: np.ndarray, p: np.ndarray, alpha: Any, gamma: float
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """(loss per row, d(loss of the row)/d(p)) of Keras's categorical focal
    cross-entropy of probabilities p over the last axis: q = p / sum(p),
    c = clip(q, eps, 1 - eps), loss = -sum(alpha (1 - c)^gamma t log c)."""
    s = p.sum(axis=-1, keepdims=True)
    q = p / s
    c = np.clip(q, EPSILON, 1.0 - EPSILON)
    a = np.asarray(alpha, dtype=p.dtype)
    mf = np.power(1.0 - c, gamma)
    loss = -np.sum(a * mf * t * np.log(c), axis=-1)
    dc = a * t * (gamma * np.power(1.0 - c, gamma - 1.0) * np.log(c) - mf / c)
    g = np.where((q > EPSILON) & (q < 1.0 - EPSILON), dc, 0.0)
    dp = (g - (g * q).sum(axis=-1, keepdims=True)) / s
    return loss.astype(p.dtype, copy=False), dp.astype(p.dtype, copy=False)


# ------------------------------------------- Keras's functions (per sample)

def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(square(y_true - y_pred), axis=-1)."""
    return _mse(*_pred_true(y_true, y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(abs(y_true - y_pred), axis=-1)."""
    return _mae(*_pred_true(y_true, y_pred))


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """mean over the last axis of 0.5 e^2 where |e| <= delta, else
    delta |e| - 0.5 delta^2 (e = y_pred - y_true)."""
    return _huber(*_pred_true(y_true, y_pred), _delta(delta))


def kl_divergence(y_true: Any, y_pred: Any) -> np.ndarray:
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [1e-7, 1]."""
    return _kld(*_pred_true(y_true, y_pred))


def hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(maximum(1 - y_true * y_pred, 0), axis=-1); 0 / 1 labels become -1 / 1."""
    return _hinge(*_pred_true(y_true, y_pred))


def categorical_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""
    return _categorical_hinge(*_pred_true(y_true, y_pred))

def poisson(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)."""
    return _poisson(*_pred_true(y_true, y_pred))


def log_cosh(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed as
    x + softplus(-2 x) - log(2) (finite for any error)."""
    return _log_cosh(*_pred_true(y_true, y_pred))


def squared_hinge(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1); 0 / 1 labels become -1 / 1."""
    return _squared_hinge(*_pred_true(y_true, y_pred))


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)), axis=-1)."""
    return _msle(*_pred_true(y_true, y_pred))


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)."""
    return _mape(*_pred_true(y_true, y_pred))


def _check_axis(axis: Any, ndim: int) -> int:
    axis = _axis(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for y_pred of rank {ndim}")
    return axis


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> np.ndarray:
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis), each
    normalised as x / max(norm(x), 1e-7) (so 0 for a zero vector)."""
    t, p = _pred_true(y_true, y_pred)
    return _cosine_similarity(t, p, _check_axis(axis, p.ndim))


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """mean over `axis` of -(t log p + (1 - t) log(1 - p)), t smoothed towards
    0.5 by label_smoothing; p clipped to [1e-7, 1 - 1e-7], or -- from_logits --
    computed from the logits in C (stable for any logit)."""
    from_logits = chk.boolean(from_logits, "from_logits")
    label_smoothing = _fraction(label_smoothing, "label_smoothing")
    axis = _axis(axis)
    t, p = _pred_true(y_true, y_pred)
    if not -p.ndim <= axis < p.ndim:
        raise ValueError(f"axis {axis} is out of range for y_pred of rank {p.ndim}")
    return np.mean(_bce_elements(_smooth_binary(t, label_smoothing), p, from_logits), axis=axis)


def _rows_last(a: np.ndarray, axis: int) -> np.ndarray:
    """`a` with `axis` moved last, as (rows, size of axis)."""
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis {axis} is out of range for y_pred of rank {a.ndim}")
    a = np.moveaxis(a, axis, -1)
    return a.reshape(-1, a.shape[-1])


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """Per-sample loss, Keras's keras.losses.categorical_crossentropy:
    -sum(t * log softmax(z)) from logits, or on probabilities renormalised and
    clipped; t smoothed by label_smoothing (t (1 - s) + s / classes)."""
    from_logits = chk.boolean(from_logits, "from_logits")
    label_smoothing = _fraction(label_smoothing, "label_smoothing")
    axis = _axis(axis)
    z = chk.real_array(y_pred, "y_pred")
    if z.ndim == 2 and axis in (-1, 1):
        shape: Tuple[int, ...] = (z.shape[0],)
        z2 = _logits(z, "y_pred")
        t2 = check_targets(y_true, z.shape[0], z.shape[1], "y_true")
    else:
        t = chk.real_array(y_true, "y_true")
        if t.shape != z.shape:
            raise ValueError(f"y_true of shape {t.shape} and y_pred of shape {z.shape} do "
                             f"not match")
        z2, t2 = _rows_last(z, axis), _rows_last(t, axis)
        shape = np.moveaxis(z, axis, -1).shape[:-1]
    t2 = _smooth_categorical(t2.astype(z2.dtype, copy=False), label_smoothing)
    rows = softmax_cross_entropy(z2, t2)[0] if from_logits else _probs_xent_rows(t2, z2)
    return rows.reshape(shape)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any,
                                    from_logits: bool = False) -> np.ndarray:
    """Per-sample loss, Keras's keras.losses.sparse_categorical_crossentropy."""
    from_logits = chk.boolean(from_logits, "from_logits")
    z = _logits(y_pred, "y_pred")
    if from_logits:
        return sparse_softmax_cross_entropy(z, y_true)[0]
    y = check_labels(y_true, z.shape[0], z.shape[1], "y_true")
    return _probs_xent_rows(_one_hot(y, z), z)

def _gamma(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"gamma must be a float, got {type(v).__name__} {v!r}")
    if not (np.isfinite(float(v)) and float(v) >= 0):
        raise ValueError(f"gamma must be a finite float >= 0, got {v!r}")
    return float(v)


def _alpha(v: Any) -> Any:
    """A float, or (categorical focal) a list of one float per class."""
    if isinstance(v, (list, tuple)):
        return [_real(a, f"alpha[{i}]") for i, a in enumerate(v)]
    return _real(v, "alpha")


def _real(v: Any, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) \
            or not np.isfinite(float(v)):
        raise TypeError(f"{name} must be a finite float, got {type(v).__name__} {v!r}")
    return float(v)


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False,
                              alpha: float = 0.25, gamma: float = 2.0,
                              from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> np.ndarray:
    """mean over `axis` of (1 - p_t)^gamma * bce(t, p) (times alpha for
    t = 1 and 1 - alpha for t = 0 with apply_class_balancing), p_t = t p +
    (1 - t)(1 - p); p = sigmoid(y_pred) from_logits, bce Keras's clipped one."""
    balance = chk.boolean(apply_class_balancing, "apply_class_balancing")
    alpha, gamma = _real(alpha, "alpha"), _gamma(gamma)
    from_logits = chk.boolean(from_logits, "from_logits")
    label_smoothing = _fraction(label_smoothing, "label_smoothing")
    t, p = _pred_true(y_true, y_pred)
    axis = _check_axis(axis, p.ndim)
    t = _smooth_binary(t, label_smoothing)
    if from_logits:
        p = _sigmoid(p)
    return np.mean(_binary_focal_parts(t, p, gamma, alpha, balance)[0], axis=axis)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: Any = 0.25,
                                   gamma: float = 2.0, from_logits: bool = False,
                                   label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """-sum over `axis` of alpha (1 - c)^gamma t log c, c = y_pred (softmax
    of it from_logits) renormalised to sum to 1 and clipped to [1e-7, 1 - 1e-7];
    alpha a float or one per class."""
    alpha, gamma = _alpha(alpha), _gamma(gamma)
    from_logits = chk.boolean(from_logits, "from_logits")
    label_smoothing = _fraction(label_smoothing, "label_smoothing")
    t, p = _pred_true(y_true, y_pred)
    axis = _check_axis(axis, p.ndim)
    return _categorical_focal(t, p, alpha, gamma, from_logits, label_smoothing, axis)[0]


def _categorical_focal(t: np.ndarray, p: np.ndarray, alpha: Any, gamma: float,
                       from_logits: bool, label_smoothing: float, axis: int
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """(per-sample losses, d(each sample's loss)/d(y_pred)), `axis` the class axis."""
    # Keras smooths with the size of the last axis, whatever `axis` is
    t = _smooth_categorical(t, label_smoothing)
    t, z = np.moveaxis(t, axis, -1), np.moveaxis(p, axis, -1)
    if isinstance(alpha, list) and len(alpha) != z.shape[-1]:
        raise ValueError(f"alpha has {len(alpha)} values but y_pred has {z.shape[-1]} classes")
    probs = softmax(z) if from_logits else z
    rows, dp = _categorical_focal_rows(t, probs, alpha, gamma)
    if from_logits:
        dp = probs * (dp - np.sum(dp * probs, axis=-1, keepdims=True))
    return rows, np.moveaxis(dp, -1, axis)


def _one_hot(labels: np.ndarray, like: np.ndarray) -> np.ndarray:
    t = np.zeros_like(like)
    t[np.arange(like.shape[0]), labels] = 1
    return t


def _probs_xent_parts(targets: np.ndarray, p: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """_probs_xent's forward: (loss_per_row, s = sum(p), q = p / s, c = clip(q))."""
    s = p.sum(axis=-1, keepdims=True)
    q = p / s
    c = np.clip(q, EPSILON, 1.0 - EPSILON)
    return -(targets * np.log(c)).sum(axis=-1), s, q, c


def _probs_xent_rows(targets: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """_probs_xent's loss_per_row alone (no gradient)."""
    return _probs_xent_parts(targets, probs)[0].astype(probs.dtype, copy=False)


def _probs_xent(targets: np.ndarray, probs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Keras's cross-entropy on probabilities: (loss_per_row, d(mean loss)/d(probs)).

    q = p / sum(p); c = clip(q, eps, 1 - eps); loss = -sum(t * log(c)).
    The clip's gradient is zero where it is active."""
    p = probs
    loss, s, q, c = _probs_xent_parts(targets, p)
    n = p.shape[0]
    g = np.where((q > EPSILON) & (q < 1.0 - EPSILON), -targets / c, 0.0) / n  # d/dq
    dp = (g - (g * q).sum(axis=-1, keepdims=True)) / s                         # through q = p/s
    return loss.astype(p.dtype, copy=False), dp.astype(p.dtype, copy=False)


def _delta(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"delta must be a float, got {type(v).__name__} {v!r}")
    d = float(v)
    if not (np.isfinite(d) and d >= 0):
        raise ValueError(f"delta must be a finite float >= 0, got {v!r}")
    return d


# ----------------------------------------------------- loss objects

class Loss(abc.ABC):
    """Base of the Keras-style losses.

    Keras's protocol: ``loss(y_true, y_pred, sample_weight=None)`` reduces
    ``call(y_true, y_pred)`` (the per-sample losses) by ``reduction``;
    ``get_config`` / ``from_config``.

    The model's protocol, on targets checked by ``check(y, n, outputs)``:
    ``forward(y_pred, y)`` the per-sample losses and ``gradient(y_pred, y)``
    the gradient of their mean with respect to y_pred (the model scales it
    for the reduction and the sample weights); ``value_and_gradient`` both.
    ``logits_of`` is the loss's fused form: None, or the output activation
    ('softmax', 'sigmoid') from whose logits the loss also computes
    itself (its fused / logit_rows, which ccnn.layers.fused calls).
    """
    name = "loss"
    reduction: Optional[str] = "sum_over_batch_size"
    dtype: Optional[str] = None
    from_logits = False
    sparse = False                     # integer class labels as targets
    logits_of: Optional[str] = None    # its fused form: an output activation, or None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.logits_of is not None and not issubclass(cls, _LogitsLoss):
            raise TypeError(f"{cls.__name__} sets logits_of={cls.logits_of!r} but has no fused "
                            f"form: derive it from a loss that has one")

    def __init__(self, name: Optional[str] = None,
                 reduction: Optional[str] = "sum_over_batch_size",
                 dtype: Optional[str] = None):
        self.name = _name(name, auto_name(type(self).__name__))
        self.reduction = standardize_reduction(reduction)
        self.dtype = _dtype(dtype)

    # ---- Keras's protocol
    @abc.abstractmethod
    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """The per-sample losses (Keras's Loss.call)."""

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None
                 ) -> Union[float, np.ndarray]:
        return reduce_weighted_values(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def _pred(self, y_pred: Any) -> np.ndarray:
        """y_pred as a real array, of the loss's dtype when it has one."""
        p = chk.real_array(y_pred, "y_pred")
        return p if self.dtype is None else p.astype(self.dtype)

    def _smoothing_and_axis(self, label_smoothing: Any, axis: Any) -> None:
        """Check and keep the cross-entropies' label_smoothing and axis."""
        self.label_smoothing = _fraction(label_smoothing, "label_smoothing")
        self.axis = _axis(axis)

    # ---- the model's protocol
    def check(self, y: Any, n: int, classes: int) -> np.ndarray:
        """y validated for n samples and `classes` outputs."""
        return check_real_targets(y, n, classes)

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        """The class of each (checked) target: the argmax, or for one output
        the rounded value (as Keras reads class_weight)."""
        y = np.asarray(y)
        if y.shape[-1] == 1:
            return np.round(y[..., 0]).astype(np.int64)
        return y.argmax(axis=-1)

    def forward(self, y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The per-sample losses of checked targets y."""
        return self.call(y, y_pred)

    @abc.abstractmethod
    def gradient(self, y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d(mean of forward(y_pred, y))/d(y_pred), y_pred's shape and dtype."""

    def value(self, y_pred: np.ndarray, y: np.ndarray) -> float:
        """The mean of the per-sample losses: value_and_gradient's value,
        bit for bit, without the gradient (evaluate's)."""
        return float(self.forward(y_pred, y).mean(dtype=np.float64))

    def value_and_gradient(self, y_pred: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean of the per-sample losses, its gradient)."""
        return self.value(y_pred, y), self.gradient(y_pred, y)


class _LogitsLoss(Loss):
    """A loss with a fused form: `logits_of` names the output activation
    whose logits fused() and logit_rows() take."""
    logits_of: str

    @abc.abstractmethod
    def fused(self, logits: np.ndarray, y: np.ndarray
              ) -> Tuple[float, Optional[np.ndarray], np.ndarray]:
        """(mean loss, probs or None, d(mean loss)/d(logits)) from the logits."""

    def fused_value(self, logits: np.ndarray, y: np.ndarray) -> float:
        """fused()'s mean loss alone, bit for bit (the subclasses skip the
        gradient)."""
        return self.fused(logits, y)[0]

    @abc.abstractmethod
    def logit_rows(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The per-sample losses from the logits."""


class _NumPyLoss(Loss):
    """A loss computed in NumPy from a pair _value(t, p) (per-sample losses)
    and _grad(t, p) (each sample's gradient), both over the last axis."""

    @abc.abstractmethod
    def _value(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The per-sample losses."""

    @abc.abstractmethod
    def _grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Each sample's gradient of its loss, p's shape."""

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return self._value(*_pred_true(y_true, y_pred, self.dtype))

    def gradient(self, y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        t, p = _pred_true(y, y_pred, self.dtype)
        rows = p.size // p.shape[-1] if p.shape[-1] else 1
        return (self._grad(t, p) / max(rows, 1)).astype(p.dtype, copy=False)


class MeanSquaredError(_NumPyLoss):
    """mean(square(y_true - y_pred), axis=-1) ('mse', 'mean_squared_error')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_squared_error", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_mse), staticmethod(_mse_grad)


class MeanAbsoluteError(_NumPyLoss):
    """mean(abs(y_true - y_pred), axis=-1) ('mae', 'mean_absolute_error')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_absolute_error", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_mae), staticmethod(_mae_grad)


class Huber(_NumPyLoss):
    """The Huber loss ('huber'): quadratic for errors up to delta, linear beyond."""
    delta = 1.0

    def __init__(self, delta: float = 1.0, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "huber_loss", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.delta = _delta(delta)

    def _value(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        return _huber(t, p, self.delta)

    def _grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        return _huber_grad(t, p, self.delta)

    def get_config(self) -> Dict[str, Any]:
        # Keras 3 leaves delta out of the config (so from_config forgets it); ccnn keeps it
        return {**super().get_config(), "delta": self.delta}


class KLDivergence(_NumPyLoss):
    """sum(y_true * log(y_true / y_pred), axis=-1), both clipped to [1e-7, 1]
    ('kl_divergence', 'kld')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "kl_divergence", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_kld), staticmethod(_kld_grad)


class Hinge(_NumPyLoss):
    """mean(maximum(1 - y_true * y_pred, 0), axis=-1); labels -1 / 1 (0 / 1
    labels are converted) ('hinge')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "hinge", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_hinge), staticmethod(_hinge_grad)


class CategoricalHinge(_NumPyLoss):
    """maximum(neg - pos + 1, 0), neg = max((1 - y_true) * y_pred),
    pos = sum(y_true * y_pred) ('categorical_hinge')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_hinge", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_categorical_hinge), staticmethod(_categorical_hinge_grad)

class Poisson(_NumPyLoss):
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1) ('poisson')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "poisson", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_poisson), staticmethod(_poisson_grad)


class LogCosh(_NumPyLoss):
    """mean(log(cosh(y_pred - y_true)), axis=-1) ('log_cosh')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "log_cosh", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_log_cosh), staticmethod(_log_cosh_grad)


class SquaredHinge(_NumPyLoss):
    """mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1); labels -1 / 1
    (0 / 1 labels are converted) ('squared_hinge')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "squared_hinge", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_squared_hinge), staticmethod(_squared_hinge_grad)


class MeanSquaredLogarithmicError(_NumPyLoss):
    """mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1), both
    floored at 1e-7 ('mean_squared_logarithmic_error', 'msle')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_msle), staticmethod(_msle_grad)


class MeanAbsolutePercentageError(_NumPyLoss):
    """100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)
    ('mean_absolute_percentage_error', 'mape')."""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)

    _value, _grad = staticmethod(_mape), staticmethod(_mape_grad)


class CosineSimilarity(_NumPyLoss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): -1 for
    parallel vectors, 0 for orthogonal ones or a zero vector ('cosine_similarity')."""
    axis = -1

    def __init__(self, axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "cosine_similarity", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.axis = _axis(axis)

    def _value(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        return _cosine_similarity(t, p, _check_axis(self.axis, p.ndim))

    def _grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        # scaled so that the base class's division by the rows over the last
        # axis gives the mean over the rows over `axis`
        axis = _check_axis(self.axis, p.ndim)
        return _cosine_similarity_grad(t, p, axis) * (p.shape[axis] / max(p.shape[-1], 1))

    def get_config(self) -> Dict[str, Any]:
        # Keras 3's keys (name, reduction); an axis other than -1, which Keras's
        # config would lose, is kept (Keras's from_config accepts it)
        return {**super().get_config(), **({} if self.axis == -1 else {"axis": self.axis})}


class BinaryCrossentropy(_LogitsLoss):
    """Binary cross-entropy ('binary_crossentropy', 'bce'): the mean over
    `axis` of -(t log p + (1 - t) log(1 - p)).  After a sigmoid output layer
    a model computes it from that layer's logits in C
    (ccnn.layers.fused.SigmoidBinaryCrossentropy); the gradient
    (sigmoid(z) - t) / (N * outputs) goes straight to the logits."""
    logits_of = "sigmoid"
    label_smoothing = 0.0
    axis = -1

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "binary_crossentropy", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.from_logits = chk.boolean(from_logits, "from_logits")
        self._smoothing_and_axis(label_smoothing, axis)

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return binary_crossentropy(y_true, self._pred(y_pred), self.from_logits,
                                   self.label_smoothing, self.axis)

    def _targets(self, y_pred: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        t, p = _pred_true(y, y_pred, self.dtype)
        return _smooth_binary(t, self.label_smoothing), p

    def gradient(self, y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        t, p = self._targets(y_pred, y)
        if self.from_logits:
            return self._logit_gradient(p, t)
        return (_bce_probs_grad(t, p) / max(p.size, 1)).astype(p.dtype, copy=False)

    @staticmethod
    def _logit_gradient(z: np.ndarray, t: np.ndarray) -> np.ndarray:
        dtype = chk.result_dtype(z)
        return F.binary_cross_entropy_with_logits_backward_unchecked(
            None, chk.contiguous(z, dtype), chk.contiguous(t, dtype), 1.0 / max(z.size, 1))

    def fused(self, logits: np.ndarray, y: np.ndarray
              ) -> Tuple[float, Optional[np.ndarray], np.ndarray]:
        t, z = self._targets(logits, y)
        rows = np.mean(_bce_elements(t, z, True), axis=self.axis)
        return float(rows.mean(dtype=np.float64)), None, self._logit_gradient(z, t)

    def fused_value(self, logits: np.ndarray, y: np.ndarray) -> float:
        return float(self.logit_rows(logits, y).mean(dtype=np.float64))

    def logit_rows(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        t, z = self._targets(logits, y)
        return np.mean(_bce_elements(t, z, True), axis=self.axis)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class _Crossentropy(_LogitsLoss):
    """The two categorical cross-entropies: targets checked by _check_y, the
    fused softmax + cross-entropy kernels called by _fused."""
    _y_name = "targets"       # what fused() calls y in its error messages
    logits_of = "softmax"

    def __init__(self, from_logits: bool = False, reduction: Optional[str] = "sum_over_batch_size",
                 name: Optional[str] = None, dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.from_logits = chk.boolean(from_logits, "from_logits")

    def check(self, y: Any, n: int, classes: int) -> np.ndarray:
        return self._check_y(y, n, classes, "y")

    def _checked(self, logits: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """fused()'s logits (C-contiguous floats) and checked targets."""
        z = _logits(logits)
        t = self._check_y(y, z.shape[0], z.shape[1], self._y_name)
        return chk.contiguous(z, chk.result_dtype(z)), t

    def fused(self, logits: np.ndarray, y: np.ndarray
              ) -> Tuple[float, Optional[np.ndarray], np.ndarray]:
        return self._fused(*self._checked(logits, y))

    def _fused(self, logits: np.ndarray, y: np.ndarray
               ) -> Tuple[float, Optional[np.ndarray], np.ndarray]:
        """fused() for C-contiguous float logits and checked y."""
        rows, probs, t = self._xent_forward(logits, y)
        return float(rows.mean(dtype=np.float64)), probs, self._xent_backward(probs, t)

    def fused_value(self, logits: np.ndarray, y: np.ndarray) -> float:
        return float(self._xent_forward(*self._checked(logits, y))[0].mean(dtype=np.float64))

    def gradient(self, y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (self.fused(y_pred, y)[2] if self.from_logits else
                self.from_probs(y_pred, y)[1])

    def value(self, y_pred: np.ndarray, y: np.ndarray) -> float:
        if self.from_logits:
            return self.fused_value(y_pred, y)
        rows = _probs_xent_rows(self._probs_targets(y, y_pred), y_pred)
        return float(rows.mean(dtype=np.float64))

    def value_and_gradient(self, y_pred: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        if self.from_logits:
            loss, _, d = self.fused(y_pred, y)
            return loss, d
        return self.from_probs(y_pred, y)

    def from_probs(self, probs: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean loss, d(mean loss)/d(probs)), Keras's clipped definition."""
        rows, dp = _probs_xent(self._probs_targets(y, probs), probs)
        return float(rows.mean(dtype=np.float64)), dp

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}

    @abc.abstractmethod
    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        """y checked for n samples of `classes` classes; errors call it `name`."""

    @abc.abstractmethod
    def _xent_forward(self, logits: np.ndarray, y: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(per-sample losses, probs, the targets _xent_backward takes) for
        C-contiguous float logits and checked y (the softmax kernel's forward)."""

    @abc.abstractmethod
    def _xent_backward(self, probs: np.ndarray, t: np.ndarray) -> np.ndarray:
        """d(mean loss)/d(logits) from _xent_forward's probs and targets."""

    @abc.abstractmethod
    def _probs_targets(self, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """The dense targets of checked y for the loss on probabilities."""


class CategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for one-hot (or soft) targets of shape (N, classes)
    ('categorical_crossentropy'); label_smoothing s turns t into
    t (1 - s) + s / classes."""
    sparse = False
    label_smoothing = 0.0
    axis = -1

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_crossentropy", dtype: Optional[str] = None):
        super().__init__(from_logits, reduction, name, dtype)
        self._smoothing_and_axis(label_smoothing, axis)

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return categorical_crossentropy(y_true, self._pred(y_pred), self.from_logits,
                                        self.label_smoothing, self.axis)

    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        return check_targets(y, n, classes, name)

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        return y.argmax(axis=-1)

    def _smoothed(self, y: np.ndarray, dtype: Any) -> np.ndarray:
        return _smooth_categorical(_same_dtype(y, dtype), self.label_smoothing)

    def _xent_forward(self, logits: np.ndarray, y: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self._smoothed(y, logits.dtype)
        rows, probs = _loss.softmax_xent_dense_forward(logits, t, get_num_threads())
        return rows, probs, t

    def _xent_backward(self, probs: np.ndarray, t: np.ndarray) -> np.ndarray:
        return _loss.softmax_xent_dense_backward(probs, t, get_num_threads())

    def _probs_targets(self, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return self._smoothed(y, probs.dtype)

    def logit_rows(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        return softmax_cross_entropy(logits, self._smoothed(y, chk.result_dtype(logits)))[0]

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class SparseCategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for integer class labels of shape (N,) or (N, 1)
    ('sparse_categorical_crossentropy')."""
    sparse = True
    _y_name = "labels"

    def __init__(self, from_logits: bool = False, ignore_class: Optional[int] = None,
                 reduction: Optional[str] = "sum_over_batch_size", axis: int = -1,
                 name: str = "sparse_categorical_crossentropy", dtype: Optional[str] = None):
        super().__init__(from_logits, reduction, name, dtype)
        if ignore_class is not None:
            raise ValueError(f"ignore_class={ignore_class!r} is not supported by ccnn "
                             f"(only None)")
        if _axis(axis) not in (-1, 1):
            raise ValueError(f"axis must be -1 (the class axis of (N, classes) outputs), "
                             f"got {axis!r}")

    ignore_class = None

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "ignore_class": self.ignore_class}

    def call(self, y_true: Any, y_pred: Any) -> np.ndarray:
        return sparse_categorical_crossentropy(y_true, self._pred(y_pred), self.from_logits)

    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        return check_labels(y, n, classes, name)

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        return y

    def _xent_forward(self, logits: np.ndarray, y: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, probs = _loss.softmax_xent_forward(logits, y, get_num_threads())
        return rows, probs, y

    def _xent_backward(self, probs: np.ndarray, t: np.ndarray) -> np.ndarray:
        return _loss.softmax_xent_backward(probs, t, get_num_threads())

    def _probs_targets(self, y: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return _one_hot(y, probs)

    def logit_rows(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        return sparse_softmax_cross_entropy(logits, y)[0]

class BinaryFocalCrossentropy(_NumPyLoss):
    """Binary focal cross-entropy ('binary_focal_crossentropy'): the binary
    cross-entropy times (1 - p_t)^gamma, and -- apply_class_balancing --
    alpha for the positives, 1 - alpha for the negatives; mean over `axis`."""
    label_smoothing = 0.0
    axis = -1

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25,
                 gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "binary_focal_crossentropy", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.apply_class_balancing = chk.boolean(apply_class_balancing, "apply_class_balancing")
        self.alpha, self.gamma = _real(alpha, "alpha"), _gamma(gamma)
        self.from_logits = chk.boolean(from_logits, "from_logits")
        self._smoothing_and_axis(label_smoothing, axis)

    def _value(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        return binary_focal_crossentropy(t, p, self.apply_class_balancing, self.alpha,
                                         self.gamma, self.from_logits, self.label_smoothing,
                                         self.axis)

    def _grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        # each element's derivative over p.shape[-1]: the base class's division
        # by the number of rows makes it d(mean of the losses)/d(p) for any axis
        _check_axis(self.axis, p.ndim)
        t = _smooth_binary(t, self.label_smoothing)
        s = _sigmoid(p) if self.from_logits else p
        d = _binary_focal_parts(t, s, self.gamma, self.alpha, self.apply_class_balancing)[1]
        if self.from_logits:
            d = d * s * (1.0 - s)
        return d / p.shape[-1]

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalFocalCrossentropy(_NumPyLoss):
    """Categorical focal cross-entropy ('categorical_focal_crossentropy'):
    the categorical cross-entropy of each class times alpha (1 - p)^gamma;
    alpha a float or one per class."""
    label_smoothing = 0.0
    axis = -1

    def __init__(self, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_focal_crossentropy", dtype: Optional[str] = None):
        super().__init__(name, reduction, dtype)
        self.alpha, self.gamma = _alpha(alpha), _gamma(gamma)
        self.from_logits = chk.boolean(from_logits, "from_logits")
        self._smoothing_and_axis(label_smoothing, axis)

    def _parts(self, t: np.ndarray, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return _categorical_focal(t, p, self.alpha, self.gamma, self.from_logits,
                                  self.label_smoothing, _check_axis(self.axis, p.ndim))

    def _value(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self._parts(t, p)[0]

    def _grad(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        # scaled so that the base class's division by the rows over the last
        # axis gives the mean over the rows over `axis`
        axis = _check_axis(self.axis, p.ndim)
        return self._parts(t, p)[1] * (p.shape[axis] / max(p.shape[-1], 1))

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                "alpha": self.alpha, "gamma": self.gamma}


# ----------------------------------------------------- names

_CLASSES: Tuple[Type[Loss], ...] = (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence, Hinge, CategoricalHinge,
    Poisson, LogCosh, SquaredHinge, CosineSimilarity, MeanSquaredLogarithmicError,
    MeanAbsolutePercentageError, BinaryFocalCrossentropy, CategoricalFocalCrossentropy)

#: Keras 3's function of each class (a function given to get / compile means its class)
_FUNCTIONS: Dict[Callable[..., Any], Type[Loss]] = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, huber: Huber, kl_divergence: KLDivergence,
    hinge: Hinge, categorical_hinge: CategoricalHinge, poisson: Poisson, log_cosh: LogCosh,
    squared_hinge: SquaredHinge, cosine_similarity: CosineSimilarity,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy}

# Keras's losses.ALL_OBJECTS_DICT for these: class names, function names, aliases
ALL_OBJECTS_DICT: Dict[str, Type[Loss]] = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({fn.__name__: cls for fn, cls in _FUNCTIONS.items()})
ALL_OBJECTS_DICT.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
                         "kld": KLDivergence, "KLD": KLDivergence,
                         "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                         "mse": MeanSquaredError, "MSE": MeanSquaredError,
                         "mape": MeanAbsolutePercentageError,
                         "MAPE": MeanAbsolutePercentageError,
                         "msle": MeanSquaredLogarithmicError,
                         "MSLE": MeanSquaredLogarithmicError})


def serialize(loss: Loss) -> Dict[str, Any]:
    """{"class_name": ..., "config": loss.get_config()}."""
    return _serialization.serialize(loss, Loss, "loss")


def deserialize(config: Dict[str, Any]) -> Loss:
    """The loss of a serialize() dict (Keras's extra keys are ignored)."""
    loss: Loss = _serialization.deserialize(config, ALL_OBJECTS_DICT, "loss class")
    return loss


def get(identifier: Any) -> Loss:
    """A Loss from a Keras name or alias ('binary_crossentropy', 'mse',
    'MeanSquaredError', ...), a serialize() dict, a Loss class or instance, or
    one of this module's loss functions."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    cls: Optional[Type[Loss]] = None
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier)
    elif isinstance(identifier, type) and issubclass(identifier, Loss):
        cls = identifier
    elif callable(identifier):
        cls = _FUNCTIONS.get(identifier)
    if cls is None:
        raise ValueError(f"Unknown loss {identifier!r}; ccnn supports "
                         f"{sorted(ALL_OBJECTS_DICT)} or a ccnn.losses.Loss instance")
    return cls()
