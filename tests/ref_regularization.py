"""Plain NumPy references for the regularization layers (never calls ccnn):
Keras 3's formulas for given random draws."""
from __future__ import annotations

import math

import numpy as np


def spatial_dropout(x, keep, rate, channels_last=True):
    """x (n, h, w, c) (or (n, c, h, w)) with channel (i, k) times keep[i, k] / (1 - rate)."""
    m = np.asarray(keep, dtype=np.float64) / (1.0 - rate)
    m = m[:, None, None, :] if channels_last else m[:, :, None, None]
    return np.asarray(x, dtype=np.float64) * m


def gaussian_noise(x, normal01, stddev):
    """Keras's GaussianNoise for standard-normal draws normal01 shaped like x."""
    return np.asarray(x, dtype=np.float64) + stddev * np.asarray(normal01, dtype=np.float64)


def gaussian_dropout(x, normal01, rate):
    """Keras's GaussianDropout: x * N(1, sqrt(rate / (1 - rate)))."""
    return np.asarray(x, dtype=np.float64) * (1.0 + math.sqrt(rate / (1.0 - rate))
                                              * np.asarray(normal01, dtype=np.float64))


def normalize(x, mean, var, invert=False):
    """Keras's Normalization formula."""
    std = np.maximum(np.sqrt(np.asarray(var, np.float64)), 1e-7)
    x = np.asarray(x, np.float64)
    return mean + x * std if invert else (x - mean) / std
