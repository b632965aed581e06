"""Plain NumPy references for the rectifier and log-softmax kernels
(csrc/kernels/rectifier.c, log_softmax.c), written from Keras's and PyTorch's
definitions in float64."""
from __future__ import annotations

import numpy as np


def relu_ext_ref(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ReLU.static_call, step by step."""
    x = np.asarray(x, dtype=np.float64)
    negative_part = np.maximum(threshold - x, 0.0) if negative_slope else 0.0
    pos = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        pos = np.clip(pos, 0.0, max_value)
    return pos - negative_slope * negative_part


def relu_ext_grad_ref(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """d relu_ext / dx away from the kinks: 1 on (threshold, max_value),
    negative_slope below the threshold, 0 above max_value."""
    x = np.asarray(x, dtype=np.float64)
    m = np.inf if max_value is None else max_value
    return ((x > threshold) & (x <= m)).astype(float) + negative_slope * (x < threshold)


def prelu_ref(x, alpha):
    """x where x > 0, alpha * x elsewhere (alpha broadcast against x[0])."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, np.asarray(alpha, dtype=np.float64) * x)


def prelu_backward_ref(g, x, alpha, shared=()):
    """(dx, dalpha) with dalpha summed over the batch and the `shared` sample axes."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), x.shape[1:])
    dx = np.where(x > 0, g, a * g)
    da = (g * np.minimum(x, 0)).sum(axis=0)
    if shared:
        da = da.sum(axis=tuple(shared), keepdims=True)
    return dx, da


def log_softmax_ref(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def log_softmax_backward_ref(g, x, axis=-1):
    y = log_softmax_ref(x, axis)
    g = np.asarray(g, dtype=np.float64)
    return g - np.exp(y) * g.sum(axis=axis, keepdims=True)
