"""Plain NumPy reference for affine resampling (not the kernel under test):
keras.ops.image.affine_transform's rules written out pixel by pixel."""
from __future__ import annotations

import math

import numpy as np


def _fix(i, size, mode):
    if mode == "wrap":
        return i % size
    if mode in ("mirror", "reflect"):
        # unfold the index onto the periodic extension, then fold it back
        period = 2 * size if mode == "reflect" else max(2 * size - 2, 1)
        j = i % period
        if mode == "reflect":
            return j if j < size else period - 1 - j
        return j if j < size else period - j
    return min(max(i, 0), size - 1)      # nearest (and constant, checked separately)


def affine_transform(x, transforms, interpolation, fill_mode, fill_value):
    """x (n, h, w, c) channels-last; transforms (n, 6)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h, w, c))
    for i in range(n):
        a0, a1, a2, b0, b1, b2 = (float(v) for v in transforms[i][:6])
        for y in range(h):
            for xx in range(w):
                xin = a0 * xx + a1 * y + a2
                yin = b0 * xx + b1 * y + b2
                if interpolation == "nearest":
                    taps = [(round(yin), round(xin), 1.0)]          # half to even, as torch
                else:
                    fy, fx = math.floor(yin), math.floor(xin)
                    dy, dx = yin - fy, xin - fx
                    taps = [(fy, fx, (1 - dy) * (1 - dx)), (fy, fx + 1, (1 - dy) * dx),
                            (fy + 1, fx, dy * (1 - dx)), (fy + 1, fx + 1, dy * dx)]
                acc = np.zeros(c)
                for ty, tx, wgt in taps:
                    if fill_mode == "constant" and not (0 <= ty < h and 0 <= tx < w):
                        acc += wgt * fill_value
                    else:
                        acc += wgt * x[i, _fix(ty, h, fill_mode), _fix(tx, w, fill_mode)]
                out[i, y, xx] = acc
    return out
