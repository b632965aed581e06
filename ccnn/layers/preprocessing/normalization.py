"""Normalization."""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Tuple

import numpy as np

from ..initializers import reserve
from ..layer import Layer, Shape
from .rescaling import affine_by

EPSILON = 1e-7   # keras.backend.epsilon()


class Normalization(Layer):
    """Keras's Normalization: y = (x - mean) / max(sqrt(variance), 1e-7) with
    one mean / variance per index of the kept `axis` (default -1: per feature /
    channel); invert=True maps back, y = mean + x * max(sqrt(variance), 1e-7).
    mean and variance are given, or learned by adapt(data) (Keras's weights
    mean, variance and count, non-trainable).  Applied in training and at
    inference, in C; the input gradient is dout / max(sqrt(variance), 1e-7)
    (times it, inverted)."""

    def __init__(self, axis: Any = -1, mean: Any = None, variance: Any = None,
                 invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axis = (axis,)
        elif not (isinstance(axis, (tuple, list)) and all(
                isinstance(a, int) and not isinstance(a, bool) for a in axis)):
            raise ValueError(f"axis must be an int, a tuple of ints or None, got {axis!r}")
        self.axis = tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"When setting values directly, both mean and variance must be "
                             f"set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"mean and variance must have the same shape, got "
                                 f"{np.shape(mean)} and {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"The rank of mean must be <= the number of axes "
                                 f"({len(self.axis)}), got mean shape {np.shape(mean)}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.mean: Optional[np.ndarray] = None       # broadcast shape (1, ...)
        self.variance: Optional[np.ndarray] = None

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"All axis values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self.keep_axis = tuple(sorted(a % ndim for a in self.axis))
        if any(shape[d] is None for d in self.keep_axis):
            raise ValueError(f"axis {self.axis} must name axes of known size; inputs have "
                             f"shape {shape}")
        self.reduce_axis = tuple(d for d in range(ndim) if d not in self.keep_axis)
        self.broadcast_shape = tuple(int(shape[d]) if d in self.keep_axis else 1  # type: ignore
                                     for d in range(ndim))
        kept = tuple(shape[d] for d in self.keep_axis)
        if self.input_mean is None:
            reserve(kept, self.dtype)
            reserve(kept, self.dtype)
            self.states["mean"] = np.zeros(kept, dtype=self.dtype)
            self.states["variance"] = np.ones(kept, dtype=self.dtype)
            self.states["count"] = np.zeros((), dtype=np.int32)
        else:
            expanded = [1] * ndim
            mshape = np.shape(self.input_mean)
            for i in range(1, len(mshape) + 1):
                expanded[self.keep_axis[-i]] = mshape[-i]
            self.mean = np.broadcast_to(np.reshape(np.asarray(self.input_mean, self.dtype),
                                                   expanded), self.broadcast_shape)
            self.variance = np.broadcast_to(np.reshape(np.asarray(self.input_variance,
                                                                  self.dtype), expanded),
                                            self.broadcast_shape)
        super().build(shape)

    def _stats(self) -> Tuple[np.ndarray, np.ndarray]:
        if self.input_mean is not None:
            assert self.mean is not None and self.variance is not None
            return self.mean, self.variance
        return (self.states["mean"].reshape(self.broadcast_shape),
                self.states["variance"].reshape(self.broadcast_shape))

    def adapt(self, data: Any) -> None:
        """Learn mean and variance over every axis but `axis` from an array of
        samples, or an iterable of such batches (combined as Keras does)."""
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            batches: Iterable[np.ndarray] = [np.asarray(data)]
            single = True
        else:
            batches, single = [np.asarray(b) for b in data], False
            if not batches:
                raise ValueError("adapt() received an empty iterable (no batches)")
        first = next(iter(batches))
        if not self.built:
            self.build((None,) + first.shape[1:])
        elif any(first.shape[d] != self.input_shape[d] for d in self.keep_axis):  # type: ignore
            raise ValueError(f"The layer was built with input_shape={self.input_shape}, but "
                             f"adapt() got data of shape {first.shape}")
        if self.input_mean is not None:
            raise ValueError("adapt() needs a Normalization built without mean / variance")
        if single:
            total_mean, total_var = (np.mean(first, axis=self.reduce_axis),
                                     np.var(first, axis=self.reduce_axis))
        else:
            kept = self.states["mean"].shape
            total_mean, total_var, total = np.zeros(kept), np.zeros(kept), 0
            for b in batches:
                b = b.astype(self.dtype)
                bm, bv = np.mean(b, axis=self.reduce_axis), np.var(b, axis=self.reduce_axis)
                count = math.prod(b.shape[d] for d in self.reduce_axis)
                total += count
                w = float(count) / total
                new_mean = total_mean * (1.0 - w) + bm * w
                total_var = ((total_var + (total_mean - new_mean) ** 2) * (1.0 - w)
                             + (bv + (bm - new_mean) ** 2) * w)
                total_mean = new_mean
        self.states["mean"][...] = total_mean
        self.states["variance"][...] = total_var

    def _scale_shift(self) -> Tuple[np.ndarray, np.ndarray]:
        mean, var = self._stats()
        std = np.maximum(np.sqrt(var.astype(np.float64)), EPSILON)
        if self.invert:
            return std.astype(self.dtype), mean.astype(self.dtype)
        return (1.0 / std).astype(self.dtype), (-mean / std).astype(self.dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        scale, shift = self._scale_shift()
        if scale.shape[0] != 1:          # a kept batch axis: per-sample statistics
            return (x * scale + shift).astype(self.dtype)
        return affine_by(x, scale[0], shift[0])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        scale = self._scale_shift()[0]
        g = np.asarray(dout, dtype=self.dtype)
        return (g * scale).astype(self.dtype) if scale.shape[0] != 1 else affine_by(g, scale[0],
                                                                                    None)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}
