"""ccnn.losses -- softmax and cross-entropy with Keras's definitions, in C.

Low-level ops (arrays of shape (N, classes); each computed by csrc/kernels/loss.c):

    probs = softmax(logits)                       dx = softmax_backward(dprobs, probs)
    loss_rows, probs = sparse_softmax_cross_entropy(logits, labels)
    dlogits = sparse_softmax_cross_entropy_backward(probs, labels)   # (probs - onehot) / N
    loss_rows, probs = softmax_cross_entropy(logits, targets)        # one-hot or soft targets
    dlogits = softmax_cross_entropy_backward(probs, targets)

The fused softmax + cross-entropy is computed from the logits with the
log-sum-exp trick, so it stays finite for logits of any size, no clipping.

Keras-style losses (what ``model.compile(loss=...)`` takes):
``CategoricalCrossentropy`` (one-hot targets, 'categorical_crossentropy') and
``SparseCategoricalCrossentropy`` (integer labels,
'sparse_categorical_crossentropy').  Called on probabilities, as
``loss(y_true, y_pred)``, they follow Keras's non-fused path: the
probabilities are renormalised to sum to 1, clipped to [1e-7, 1 - 1e-7],
and the batch mean of -sum(y_true * log(y_pred)) is returned.
"""
from __future__ import annotations

import abc
from typing import Any, Tuple

import numpy as np

from . import _checks as chk
from . import _loss
from ._config import get_num_threads

__all__ = [
    "EPSILON", "softmax", "softmax_backward",
    "sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy_backward",
    "softmax_cross_entropy", "softmax_cross_entropy_backward",
    "categorical_crossentropy", "sparse_categorical_crossentropy",
    "Loss", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get",
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
    if n:
        lo, hi = int(y.min()), int(y.max())
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
    if t.ndim != 2 or t.shape[1] != classes:
        raise ValueError(f"{name} must have shape ({n}, {classes}) to match the model's "
                         f"{classes} outputs, got {t.shape}")
    if t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} rows but there are {n} samples")
    return t


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


# ------------------------------------------- Keras's non-fused definitions

def _probs_xent(targets: np.ndarray, probs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Keras's cross-entropy on probabilities: (loss_per_row, d(mean loss)/d(probs)).

    q = p / sum(p); c = clip(q, eps, 1 - eps); loss = -sum(t * log(c)).
    The clip's gradient is zero where it is active, like TensorFlow's."""
    p = probs
    s = p.sum(axis=-1, keepdims=True)
    q = p / s
    c = np.clip(q, EPSILON, 1.0 - EPSILON)
    loss = -(targets * np.log(c)).sum(axis=-1)
    n = p.shape[0]
    g = np.where((q > EPSILON) & (q < 1.0 - EPSILON), -targets / c, 0.0) / n  # d/dq
    dp = (g - (g * q).sum(axis=-1, keepdims=True)) / s                         # through q = p/s
    return loss.astype(p.dtype, copy=False), dp.astype(p.dtype, copy=False)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    """Per-sample loss, Keras's keras.losses.categorical_crossentropy."""
    z = _logits(y_pred, "y_pred")
    if from_logits:
        return softmax_cross_entropy(z, y_true)[0]
    t = check_targets(y_true, z.shape[0], z.shape[1], "y_true").astype(z.dtype, copy=False)
    return _probs_xent(t, z)[0]


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any,
                                    from_logits: bool = False) -> np.ndarray:
    """Per-sample loss, Keras's keras.losses.sparse_categorical_crossentropy."""
    z = _logits(y_pred, "y_pred")
    if from_logits:
        return sparse_softmax_cross_entropy(z, y_true)[0]
    y = check_labels(y_true, z.shape[0], z.shape[1], "y_true")
    t = np.zeros_like(z)
    t[np.arange(z.shape[0]), y] = 1
    return _probs_xent(t, z)[0]


# ----------------------------------------------------- loss objects

class Loss(abc.ABC):
    """Base of the Keras-style loss objects the model uses.

    ``check(y, n, classes)`` validates targets; ``fused(logits, y)`` returns
    (mean loss, probs, dlogits) from the logits; ``from_probs(probs, y)``
    returns (mean loss, dprobs) for models whose last layer is not a softmax.
    """
    name = "loss"
    sparse = False

    def __init__(self, from_logits: bool = False):
        self.from_logits = chk.boolean(from_logits, "from_logits")

    @abc.abstractmethod
    def check(self, y: Any, n: int, classes: int) -> np.ndarray:
        """y validated for n samples and `classes` outputs."""

    @abc.abstractmethod
    def true_classes(self, y: np.ndarray) -> np.ndarray:
        """The class index of each (checked) target."""

    @abc.abstractmethod
    def fused(self, logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
        """(mean loss, probs, d(mean loss)/d(logits))."""

    @abc.abstractmethod
    def from_probs(self, probs: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        """(mean loss, d(mean loss)/d(probs)), Keras's clipped definition."""

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        z = _logits(y_pred, "y_pred")
        y = self.check(y_true, z.shape[0], z.shape[1])
        rows = self.fused(z, y)[0] if self.from_logits else self.from_probs(z, y)[0]
        return float(rows)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class _Crossentropy(Loss):
    """The two cross-entropies: targets checked by _check_y, the fused
    softmax + cross-entropy kernels called by _fused."""
    _y_name = "targets"       # what fused() calls y in its error messages

    def check(self, y: Any, n: int, classes: int) -> np.ndarray:
        return self._check_y(y, n, classes, "y")

    def fused(self, logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
        z = _logits(logits)
        t = self._check_y(y, z.shape[0], z.shape[1], self._y_name)
        return self._fused(chk.contiguous(z, chk.result_dtype(z)), t)

    @abc.abstractmethod
    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        """y checked for n samples of `classes` classes; errors call it `name`."""

    @abc.abstractmethod
    def _fused(self, logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
        """fused() for C-contiguous float logits and checked y."""


class CategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for one-hot (or soft) targets of shape (N, classes)."""
    name = "categorical_crossentropy"
    sparse = False

    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        return check_targets(y, n, classes, name)

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        return y.argmax(axis=-1)

    def _fused(self, logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
        nt = get_num_threads()
        y = _same_dtype(y, logits.dtype)
        rows, probs = _loss.softmax_xent_dense_forward(logits, y, nt)
        return (float(rows.mean(dtype=np.float64)), probs,
                _loss.softmax_xent_dense_backward(probs, y, nt))

    def from_probs(self, probs: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        rows, dp = _probs_xent(np.asarray(y, dtype=probs.dtype), probs)
        return float(rows.mean(dtype=np.float64)), dp


class SparseCategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for integer class labels of shape (N,) or (N, 1)."""
    name = "sparse_categorical_crossentropy"
    sparse = True
    _y_name = "labels"

    def _check_y(self, y: Any, n: int, classes: int, name: str) -> np.ndarray:
        return check_labels(y, n, classes, name)

    def true_classes(self, y: np.ndarray) -> np.ndarray:
        return y

    def _fused(self, logits: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
        nt = get_num_threads()
        rows, probs = _loss.softmax_xent_forward(logits, y, nt)
        return float(rows.mean(dtype=np.float64)), probs, _loss.softmax_xent_backward(probs, y, nt)

    def from_probs(self, probs: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
        t = np.zeros_like(probs)
        t[np.arange(probs.shape[0]), y] = 1
        rows, dp = _probs_xent(t, probs)
        return float(rows.mean(dtype=np.float64)), dp


_LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Any) -> Loss:
    """A Loss from its Keras name or a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _LOSSES:
        return _LOSSES[identifier]()
    raise ValueError(f"Unknown loss {identifier!r}; ccnn supports "
                     f"{sorted(_LOSSES)} or a ccnn.losses.Loss instance")
