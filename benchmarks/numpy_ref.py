"""Vectorised NumPy implementations used as the benchmarks' baseline
(the tests' references in tests/reference.py are loops, written for clarity,
and far too slow to time on these shapes)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv2d(x, w, b, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # n c p q r s
    return np.einsum("ncpqrs,kcrs->nkpq", win, w, optimize=True) + b[None, :, None, None]


def conv2d_backward(g, x, w, stride, pad):
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    gw = np.einsum("ncpqrs,nkpq->kcrs", win, g, optimize=True)
    gb = g.sum(axis=(0, 2, 3))
    gxp = np.zeros_like(xp)
    p, q = g.shape[2], g.shape[3]
    for r in range(k):
        for s in range(k):
            gxp[:, :, r:r + stride * p:stride, s:s + stride * q:stride] += np.einsum(
                "nkpq,kc->ncpq", g, w[:, :, r, s], optimize=True)
    return gxp[:, :, pad:pad + h, pad:pad + wd], gw, gb


def max_pool2d_fwd_bwd(x, g):
    n, c, h, w = x.shape
    xr = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    y = xr.max(axis=(3, 5))
    mask = xr == y[:, :, :, None, :, None]
    gx = np.zeros_like(x)
    gx[:, :, :h // 2 * 2, :w // 2 * 2] = (mask * g[:, :, :, None, :, None]).reshape(n, c, h // 2 * 2, w // 2 * 2)
    return y, gx


def avg_pool2d_fwd_bwd(x, g):
    n, c, h, w = x.shape
    xr = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    y = xr.mean(axis=(3, 5))
    gx = np.zeros_like(x)
    gx[:, :, :h // 2 * 2, :w // 2 * 2] = np.broadcast_to(
        g[:, :, :, None, :, None] / 4, (n, c, h // 2, 2, w // 2, 2)).reshape(n, c, h // 2 * 2, w // 2 * 2)
    return y, gx


def adam_step(params, grads, ms, vs, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    a = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    for p, g, m, v in zip(params, grads, ms, vs):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= a * m / (np.sqrt(v) + eps)
