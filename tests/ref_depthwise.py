"""Plain NumPy references for the grouped, depthwise and transposed 2-D
convolutions (tests/test_conv_family.py checks ccnn against them).

Nothing here calls ccnn.  Loops run over groups and kernel taps; each tap is
one einsum over a strided slice of the (zero-padded) image, so the sums are
the textbook definitions:

  grouped   y[n, k, p, q] = b[k] + sum_{c in group(k), r, s} w[k, c', r, s] *
                            x_pad[n, c, p*sh + r*dh, q*sw + s*dw]
            (c' = c's index inside its group; depthwise is groups == C)
  transposed  the scatter: every x[n, c, i, j] adds x * w[c, o, r, s] at
            full[n, o', i*sh + r*dh, j*sw + s*dw], then the output is the window
            of `full` at (crop_top, crop_left) of size out_hw (zero past `full`).
"""
from __future__ import annotations

import numpy as np


def _pads4(pad):
    """(top, bottom, left, right) from an int, (ph, pw) or 4-tuple."""
    if isinstance(pad, int):
        return pad, pad, pad, pad
    if len(pad) == 2:
        return pad[0], pad[0], pad[1], pad[1]
    return tuple(pad)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _tap(a, r, s, dil, stride, p, q):
    """a[:, :, r*dh :: sh][:p], [s*dw :: sw][:q] (a strided window of a padded image)."""
    (dh, dw), (sh, sw) = dil, stride
    return a[:, :, r * dh: r * dh + (p - 1) * sh + 1: sh, s * dw: s * dw + (q - 1) * sw + 1: sw]


def _group_taps(groups, a_size, b_size, r_, s_):
    """(slice of group g's a channels, slice of its b channels, r, s) for every
    group and kernel tap."""
    for g in range(groups):
        for r in range(r_):
            for s in range(s_):
                yield slice(g * a_size, (g + 1) * a_size), slice(g * b_size, (g + 1) * b_size), r, s


def grouped_conv2d_ref(x, w, b, stride, pad, dilation, groups):
    """x (N, C, H, W), w (K, C/groups, R, S), b (K,) or None; float64 result."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    stride, dilation = _pair(stride), _pair(dilation)
    t, bo, le, ri = _pads4(pad)
    n, c, h, wd = x.shape
    k, cg, r_, s_ = w.shape
    xp = np.zeros((n, c, h + t + bo, wd + le + ri))
    xp[:, :, t:t + h, le:le + wd] = x
    p = (h + t + bo - dilation[0] * (r_ - 1) - 1) // stride[0] + 1
    q = (wd + le + ri - dilation[1] * (s_ - 1) - 1) // stride[1] + 1
    kg = k // groups
    y = np.zeros((n, k, p, q))
    for xs, ks, r, s in _group_taps(groups, cg, kg, r_, s_):
        patch = _tap(xp[:, xs], r, s, dilation, stride, p, q)
        y[:, ks] += np.einsum("ncpq,kc->nkpq", patch, w[ks, :, r, s])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def grouped_conv2d_backward_ref(gy, x, w, stride, pad, dilation, groups):
    """(grad_x, grad_w, grad_b) of grouped_conv2d_ref given gy = dL/dy."""
    gy, x, w = (np.asarray(a, np.float64) for a in (gy, x, w))
    stride, dilation = _pair(stride), _pair(dilation)
    t, bo, le, ri = _pads4(pad)
    n, c, h, wd = x.shape
    k, cg, r_, s_ = w.shape
    _, _, p, q = gy.shape
    xp = np.zeros((n, c, h + t + bo, wd + le + ri))
    xp[:, :, t:t + h, le:le + wd] = x
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    kg = k // groups
    for xs, ks, r, s in _group_taps(groups, cg, kg, r_, s_):
        patch = _tap(xp[:, xs], r, s, dilation, stride, p, q)
        gw[ks, :, r, s] = np.einsum("nkpq,ncpq->kc", gy[:, ks], patch)
        _tap(gxp[:, xs], r, s, dilation, stride, p, q)[...] += \
            np.einsum("nkpq,kc->ncpq", gy[:, ks], w[ks, :, r, s])
    return gxp[:, :, t:t + h, le:le + wd], gw, gy.sum(axis=(0, 2, 3))


def _full(x_hw, k_hw, stride, dilation):
    return tuple((x_hw[i] - 1) * stride[i] + dilation[i] * (k_hw[i] - 1) + 1 for i in range(2))


def conv_transpose2d_ref(x, w, b, stride, dilation, crops, out_hw, groups=1):
    """x (N, Cin, H, W), w (Cin, Cout/groups, R, S), b (Cout,) or None; the
    window at crops (top, left) of size out_hw of the full scatter."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    stride, dilation = _pair(stride), _pair(dilation)
    n, cin, h, wd = x.shape
    _, og, r_, s_ = w.shape
    full = _full((h, wd), (r_, s_), stride, dilation)
    size = [max(full[i], crops[i] + out_hw[i]) for i in range(2)]
    buf = np.zeros((n, og * groups, size[0], size[1]))
    ig = cin // groups
    for xs, os_, r, s in _group_taps(groups, ig, og, r_, s_):
        _tap(buf[:, os_], r, s, dilation, stride, h, wd)[...] += \
            np.einsum("nchw,co->nohw", x[:, xs], w[xs, :, r, s])
    y = buf[:, :, crops[0]:crops[0] + out_hw[0], crops[1]:crops[1] + out_hw[1]].copy()
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv_transpose2d_backward_ref(gy, x, w, stride, dilation, crops, groups=1):
    """(grad_x, grad_w, grad_b) of conv_transpose2d_ref given gy = dL/dy."""
    gy, x, w = (np.asarray(a, np.float64) for a in (gy, x, w))
    stride, dilation = _pair(stride), _pair(dilation)
    n, cin, h, wd = x.shape
    _, og, r_, s_ = w.shape
    out_hw = gy.shape[2:]
    full = _full((h, wd), (r_, s_), stride, dilation)
    size = [max(full[i], crops[i] + out_hw[i]) for i in range(2)]
    gbuf = np.zeros((n, og * groups, size[0], size[1]))
    gbuf[:, :, crops[0]:crops[0] + out_hw[0], crops[1]:crops[1] + out_hw[1]] = gy
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    ig = cin // groups
    for xs, os_, r, s in _group_taps(groups, ig, og, r_, s_):
        patch = _tap(gbuf[:, os_], r, s, dilation, stride, h, wd)
        gx[:, xs] += np.einsum("nohw,co->nchw", patch, w[xs, :, r, s])
        gw[xs, :, r, s] = np.einsum("nchw,nohw->co", x[:, xs], patch)
    return gx, gw, gy.sum(axis=(0, 2, 3))


def torch_transpose_geometry(x_hw, k_hw, stride, padding, output_padding, dilation):
    """PyTorch's conv_transpose2d as (crops, out_hw): crop `padding` from the
    front, out = (H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    stride, padding, output_padding, dilation = (_pair(v) for v in
                                                 (stride, padding, output_padding, dilation))
    out = tuple((x_hw[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k_hw[i] - 1)
                + output_padding[i] + 1 for i in range(2))
    return padding, out
