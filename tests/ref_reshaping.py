"""Plain NumPy references for the padding / cropping and nearest-upsampling
kernels (csrc/kernels/pad.c, upsample.c), written from their definitions with
explicit loops over the output -- independent of the kernels' row copies."""
from __future__ import annotations

import numpy as np


def pad_ref(x, top, bottom, left, right, value=0.0):
    """x (..., H, W) padded (a negative pad crops): out[..., i, j] =
    x[..., i - top, j - left] inside x, value elsewhere."""
    h, w = x.shape[-2:]
    ho, wo = h + top + bottom, w + left + right
    out = np.full(x.shape[:-2] + (ho, wo), value, dtype=np.float64)
    for i in range(ho):
        si = i - top
        if not 0 <= si < h:
            continue
        for j in range(wo):
            sj = j - left
            if 0 <= sj < w:
                out[..., i, j] = x[..., si, sj]
    return out


def upsample_nearest_ref(x, sh, sw):
    """x (..., H, W) -> (..., H*sh, W*sw), out[..., i, j] = x[..., i // sh, j // sw]."""
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (h * sh, w * sw), dtype=np.float64)
    for i in range(h * sh):
        for j in range(w * sw):
            out[..., i, j] = x[..., i // sh, j // sw]
    return out


def upsample_nearest_backward_ref(g, sh, sw):
    """The sum of each sh x sw block of g (..., H*sh, W*sw)."""
    ho, wo = g.shape[-2:]
    out = np.zeros(g.shape[:-2] + (ho // sh, wo // sw), dtype=np.float64)
    for i in range(ho):
        for j in range(wo):
            out[..., i // sh, j // sw] += g[..., i, j]
    return out
