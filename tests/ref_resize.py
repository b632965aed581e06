"""Plain NumPy references of 2-D resizing (csrc/kernels/resize.c): each axis
as a dense (out, in) interpolation matrix R built from PyTorch's tap formulas,
so that a plane resizes as Ry @ X @ Rx.T and its gradient is Ry.T @ G @ Rx."""
import math

import numpy as np

#: the kernel's modes (resize.h)
NEAREST, NEAREST_EXACT, BILINEAR, BILINEAR_ALIGN = 0, 1, 2, 3


def axis_matrix(n_in, n_out, mode, scale=0.0, dtype=np.float64):
    """(n_out, n_in) weights; scale: source pixels per output pixel (0: n_in / n_out).
    The coordinates in dtype, as PyTorch computes them."""
    r = np.zeros((n_out, n_in), dtype=np.float64)
    t = np.dtype(dtype).type
    if mode in (NEAREST, NEAREST_EXACT):
        sc = t(scale) if scale > 0 else t(n_in) / t(n_out)
        for d in range(n_out):
            if mode == NEAREST and n_out == n_in:
                s = d
            elif mode == NEAREST and n_out == 2 * n_in:
                s = d // 2
            elif mode == NEAREST:
                s = int(math.floor(t(t(d) * sc)))
            else:
                s = int(math.floor(t((d + 0.5) * float(sc))))
            r[d, min(s, n_in - 1)] = 1.0
        return r
    if mode == BILINEAR_ALIGN:
        sc = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
    else:
        sc = t(scale) if scale > 0 else t(n_in) / t(n_out)
    for d in range(n_out):
        s = sc * t(d) if mode == BILINEAR_ALIGN else sc * (t(d) + t(0.5)) - t(0.5)
        s = max(float(s), 0.0)
        i0 = min(int(math.floor(s)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = min(max(s - i0, 0.0), 1.0)
        r[d, i0] += 1.0 - lam
        r[d, i1] += lam
    return r


def resize(x, ho, wo, mode, scales=(0.0, 0.0)):
    """x (..., h, w) resized to (..., ho, wo), in float64."""
    ry = axis_matrix(x.shape[-2], ho, mode, scales[0], x.dtype)
    rx = axis_matrix(x.shape[-1], wo, mode, scales[1], x.dtype)
    return np.einsum("yi,...ij,xj->...yx", ry, x.astype(np.float64), rx)


def resize_backward(g, h, w, mode, scales=(0.0, 0.0)):
    """The gradient of resize for x (..., h, w) from g (..., ho, wo): the transpose."""
    ry = axis_matrix(h, g.shape[-2], mode, scales[0], g.dtype)
    rx = axis_matrix(w, g.shape[-1], mode, scales[1], g.dtype)
    return np.einsum("yi,...yx,xj->...ij", ry, g.astype(np.float64), rx)


def keras_box(h, w, th, tw, crop, pad):
    """(top, bottom, left, right) pads (negative: crops) of Keras's torch
    backend's resize before it resizes to (th, tw)."""
    if crop:
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
        return -top, -(h - top - ch), -left, -(w - left - cw)
    if pad:
        ph = max(h, int(float(w * th) / tw))
        pw = max(w, int(float(h * tw) / th))
        top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
        return top, top, left, left
    return 0, 0, 0, 0
