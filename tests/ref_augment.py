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


# ---- flips, contrast, Keras's rotation / zoom matrices, crop box, resize ----
# (plain NumPy, written from Keras 3's layer sources; never calls ccnn)

def flip(x, flags):
    """x (n, h, w, c); image i reversed along w when flags[i] & 1, along h when & 2."""
    out = np.array(x, copy=True)
    for i, f in enumerate(flags):
        if f & 1:
            out[i] = out[i][:, ::-1]
        if f & 2:
            out[i] = out[i][::-1]
    return out


def adjust_contrast(x, factors, lo, hi):
    """Keras's RandomContrast: (x - mean over h, w) * f + mean, clipped."""
    x = np.asarray(x, dtype=np.float64)
    m = x.mean(axis=(1, 2), keepdims=True)
    f = np.asarray(factors, dtype=np.float64).reshape(-1, 1, 1, 1)
    return np.clip((x - m) * f + m, lo, hi)


def rotation_matrix(angle_deg, h, w):
    """Keras's _compute_affine_matrix (scale 1, no shear / translation) about
    ((w - 1) / 2, (h - 1) / 2), as the 8-entry transform."""
    t = math.radians(angle_deg)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    a0, a1 = math.cos(t), -math.sin(t)
    b0, b1 = math.sin(t), math.cos(t)
    return [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1, 0.0, 0.0]


def zoom_matrix(zh, zw, h, w):
    """Keras's RandomZoom._get_zoom_matrix for zooms (zh, zw)."""
    return [zw, 0.0, (w - 1) / 2.0 * (1 - zw), 0.0, zh, (h - 1) / 2.0 * (1 - zh), 0.0, 0.0]


def center_crop_start(ih, iw, height, width):
    """Keras's RandomCrop start when it does not crop at random."""
    ch = max(min(ih, int(float(iw * height) / width)), 1)
    cw = max(min(iw, int(float(ih * width) / height)), 1)
    return int(float(ih - ch) / 2), int(float(iw - cw) / 2)


def resize_bilinear(x, height, width):
    """x (n, h, w, c) resized to (height, width): half-pixel centres, source
    coordinates clamped at 0, neighbours at the last row / column (PyTorch's
    interpolate(mode='bilinear', align_corners=False), no antialiasing)."""
    n, h, w, c = x.shape
    out = np.zeros((n, height, width, c))

    def taps(o, size_in, size_out):
        s = max((o + 0.5) * size_in / size_out - 0.5, 0.0)
        i0 = min(int(math.floor(s)), size_in - 1)
        i1 = min(i0 + 1, size_in - 1)
        return i0, i1, s - i0
    for y in range(height):
        y0, y1, ly = taps(y, h, height)
        for xx in range(width):
            x0, x1, lx = taps(xx, w, width)
            out[:, y, xx] = ((1 - ly) * ((1 - lx) * x[:, y0, x0] + lx * x[:, y0, x1])
                             + ly * ((1 - lx) * x[:, y1, x0] + lx * x[:, y1, x1]))
    return out
