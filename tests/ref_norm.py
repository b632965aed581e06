"""Plain NumPy references for batch normalization (not the kernels under test).

x is (outer, C, inner); every per-channel quantity is computed over axes 0
and 2 with float64 arithmetic, written out step by step."""
from __future__ import annotations

import numpy as np


def stats(x):
    """(mean, biased var) per channel."""
    x = x.astype(np.float64)
    m = x.shape[0] * x.shape[2]
    mean = x.sum(axis=(0, 2)) / m
    var = ((x - mean[None, :, None]) ** 2).sum(axis=(0, 2)) / m
    return mean, var


def forward(x, mean, var, eps, gamma=None, beta=None):
    x = x.astype(np.float64)
    c = x.shape[1]
    gamma = np.ones(c) if gamma is None else gamma.astype(np.float64)
    beta = np.zeros(c) if beta is None else beta.astype(np.float64)
    xhat = (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + eps)
    return xhat * gamma[None, :, None] + beta[None, :, None]


def backward(dout, x, mean, var, eps, gamma, training):
    """(dx, dgamma, dbeta); training: mean / var are x's own batch statistics."""
    dout = dout.astype(np.float64)
    x = x.astype(np.float64)
    c = x.shape[1]
    gamma = np.ones(c) if gamma is None else gamma.astype(np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[None, :, None]) * invstd[None, :, None]
    dbeta = dout.sum(axis=(0, 2))
    dgamma = (dout * xhat).sum(axis=(0, 2))
    dxhat = dout * gamma[None, :, None]
    if not training:
        return dxhat * invstd[None, :, None], dgamma, dbeta
    m = x.shape[0] * x.shape[2]
    # the textbook chain rule through mean and var
    dvar = (dxhat * (x - mean[None, :, None])).sum(axis=(0, 2)) * -0.5 * invstd ** 3
    dmean = -(dxhat * invstd[None, :, None]).sum(axis=(0, 2)) \
        - 2.0 * dvar * (x - mean[None, :, None]).sum(axis=(0, 2)) / m
    dx = dxhat * invstd[None, :, None] + dvar[None, :, None] * 2.0 * (x - mean[None, :, None]) / m \
        + dmean[None, :, None] / m
    return dx, dgamma, dbeta


def layer_norm_ref(x, axes, gamma=None, beta=None, eps=1e-3):
    """Keras's layer normalization over `axes` (positive, sorted) of x, in float64:
    gamma / beta laid over those axes in the input's order (Keras's reshape)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    if gamma is not None:
        y = y * np.asarray(gamma, dtype=np.float64).reshape(shape)
    if beta is not None:
        y = y + np.asarray(beta, dtype=np.float64).reshape(shape)
    return y


def layer_norm_backward_ref(g, x, axes, gamma=None, eps=1e-3):
    """(dx, dgamma, dbeta) of layer_norm_ref, from the textbook formulas."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    n = int(np.prod([x.shape[a] for a in axes]))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * rstd
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    gam = np.ones(shape) if gamma is None else np.asarray(gamma, np.float64).reshape(shape)
    dxhat = g * gam
    dx = rstd * (dxhat - dxhat.sum(axis=axes, keepdims=True) / n
                 - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True) / n)
    others = tuple(a for a in range(x.ndim) if a not in axes)
    dgamma = (g * xhat).sum(axis=others)
    dbeta = g.sum(axis=others)
    return dx, dgamma, dbeta
