"""Plain NumPy references for Keras 3's losses (keras/src/losses/losses.py),
written from the formulas, in float64, without ccnn.  Each takes (y_true,
y_pred) of one shape and returns the per-sample losses (the last axis
reduced), as the keras.losses functions do; `reduce` is Keras's
reduce_weighted_values."""
import numpy as np

EPS = 1e-7  # keras.backend.epsilon()


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def log_sigmoid(z):
    """log(sigmoid(z)) = -log(1 + exp(-z)), stable."""
    return -np.logaddexp(0.0, -z)


def binary_crossentropy(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = _f64(t, p)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # -(t log s + (1 - t) log(1 - s)) with log(1 - s) = log_sigmoid(-z)
        elem = -(t * log_sigmoid(p) + (1.0 - t) * log_sigmoid(-p))
    else:
        c = np.clip(p, EPS, 1.0 - EPS)
        elem = -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))
    return elem.mean(axis=axis)


def bce_with_logits_elements(z, t):
    """PyTorch's binary_cross_entropy_with_logits(reduction='none')."""
    z, t = _f64(z, t)
    return -(t * log_sigmoid(z) + (1.0 - t) * log_sigmoid(-z))


def sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return np.exp(log_sigmoid(z))


def categorical_crossentropy(t, p, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = _f64(t, p)
    t = np.moveaxis(t, axis, -1)
    p = np.moveaxis(p, axis, -1)
    t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        m = p.max(axis=-1, keepdims=True)
        logp = p - m - np.log(np.exp(p - m).sum(axis=-1, keepdims=True))
    else:
        q = p / p.sum(axis=-1, keepdims=True)
        logp = np.log(np.clip(q, EPS, 1.0 - EPS))
    return -(t * logp).sum(axis=-1)


def sparse_categorical_crossentropy(labels, p, from_logits=False):
    p = np.asarray(p, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    return categorical_crossentropy(np.eye(p.shape[-1])[labels], p, from_logits)


def mean_squared_error(t, p):
    t, p = _f64(t, p)
    return ((t - p) ** 2).mean(axis=-1)


def mean_absolute_error(t, p):
    t, p = _f64(t, p)
    return np.abs(t - p).mean(axis=-1)


def huber(t, p, delta=1.0):
    """0.5 min(|e|, d)^2 + d (|e| - min(|e|, d)): the same piecewise function."""
    t, p = _f64(t, p)
    a = np.abs(p - t)
    q = np.minimum(a, delta)
    return (0.5 * q * q + delta * (a - q)).mean(axis=-1)


def kl_divergence(t, p):
    t, p = _f64(t, p)
    t = np.clip(t, EPS, 1.0)
    p = np.clip(p, EPS, 1.0)
    return (t * (np.log(t) - np.log(p))).sum(axis=-1)


def hinge(t, p):
    t, p = _f64(t, p)
    if np.isin(t, (0.0, 1.0)).all():
        t = np.where(t == 1.0, 1.0, -1.0)
    return np.maximum(0.0, 1.0 - t * p).mean(axis=-1)


def categorical_hinge(t, p):
    t, p = _f64(t, p)
    pos = (t * p).sum(axis=-1)
    neg = ((1.0 - t) * p).max(axis=-1)
    return np.maximum(0.0, neg - pos + 1.0)


def reduce(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras's reduce_weighted_values for per-sample values (n,) and weights (n,)."""
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64).reshape(values.shape)
        values = values * sample_weight
    if reduction in (None, "none"):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        d = sample_weight.sum()
    else:
        d = values.size
    return total / d if d else 0.0


# name -> (reference, kwargs) for each loss the tests cover
REFERENCES = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "kl_divergence": kl_divergence,
    "hinge": hinge,
    "categorical_hinge": categorical_hinge,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
}


def central_difference(f, x, h=1e-6):
    """d f / d x of a scalar function of a float64 array, by central differences."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


# ---- the losses added second (keras/src/losses/losses.py)
def poisson(t, p):
    t, p = _f64(t, p)
    return (p - t * np.log(p + EPS)).mean(axis=-1)


def log_cosh(t, p):
    t, p = _f64(t, p)
    return np.log(np.cosh(p - t)).mean(axis=-1)


def squared_hinge(t, p):
    t, p = _f64(t, p)
    if np.isin(t, (0.0, 1.0)).all():
        t = np.where(t == 1.0, 1.0, -1.0)
    return (np.maximum(0.0, 1.0 - t * p) ** 2).mean(axis=-1)


def mean_squared_logarithmic_error(t, p):
    t, p = _f64(t, p)
    return ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2).mean(axis=-1)


def mean_absolute_percentage_error(t, p):
    t, p = _f64(t, p)
    return 100.0 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(axis=-1)


def cosine_similarity(t, p, axis=-1):
    t, p = _f64(t, p)
    tn = t / np.maximum(np.linalg.norm(t, axis=axis, keepdims=True), EPS)
    pn = p / np.maximum(np.linalg.norm(p, axis=axis, keepdims=True), EPS)
    return -(tn * pn).sum(axis=axis)


def binary_focal_crossentropy(t, p, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = _f64(t, p)
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = sigmoid(p)
    c = np.clip(p, EPS, 1.0 - EPS)
    bce = -(t * np.log(c) + (1.0 - t) * np.log(1.0 - c))
    p_t = t * p + (1 - t) * (1 - p)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (t * alpha + (1 - t) * (1 - alpha)) * focal
    return focal.mean(axis=axis)


def categorical_focal_crossentropy(t, p, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    t, p = _f64(t, p)
    t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        e = np.exp(p - p.max(axis=axis, keepdims=True))
        p = e / e.sum(axis=axis, keepdims=True)
    out = np.clip(p / p.sum(axis=axis, keepdims=True), EPS, 1.0 - EPS)
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim and axis not in (-1, t.ndim - 1):
        a = a.reshape((-1,) + (1,) * (t.ndim - 1 - (axis % t.ndim)))
    return (a * (1.0 - out) ** gamma * -t * np.log(out)).sum(axis=axis)
