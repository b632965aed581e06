"""Concatenate."""
from __future__ import annotations

from typing import Any, List

import numpy as np

from ..layer import Shape
from .base_merge import Merge, _is_shape_list


class Concatenate(Merge):
    """A list of tensors joined along `axis` (default -1, the last); every
    other axis must match."""

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def _error(self, shapes: Any) -> ValueError:
        return ValueError(f"A `Concatenate` layer requires inputs with matching shapes "
                          f"except for the concatenation axis. Received: "
                          f"input_shape={shapes}")

    def build(self, input_shape: Any) -> None:
        if not _is_shape_list(input_shape):
            raise ValueError(f"A `Concatenate` layer should be called on a list of inputs. "
                             f"Received: input_shape={input_shape}")
        shapes = [tuple(s) for s in input_shape]
        self.output_shape = self.compute_output_shape(shapes)
        self.input_shape = shapes          # type: ignore[assignment]
        self.built = True

    def _axis(self, ndim: int) -> int:
        if not -ndim <= self.axis < ndim or self.axis in (0, -ndim):
            raise ValueError(f"Concatenate: axis={self.axis} is out of range for inputs of "
                             f"{ndim} axes (the batch axis 0 cannot be concatenated)")
        return self.axis % ndim

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes):
            raise self._error(shapes)
        axis = self._axis(ndim)
        out: List[Any] = list(shapes[0])
        for s in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, s)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is None:
                    out[i] = b
                elif b is not None and a != b:
                    raise self._error(shapes)
        return tuple(out)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        if not isinstance(x, (list, tuple)):
            raise ValueError(f"layer {self.name!r} (Concatenate) takes a list of arrays, got "
                             f"{type(x).__name__}")
        xs = [np.asarray(a, dtype=self.dtype) for a in x]
        shapes = [a.shape for a in xs]
        if self.input_shape is not None and len(xs) != len(self.input_shape):
            raise ValueError(f"layer {self.name!r} (Concatenate) expects "
                             f"{len(self.input_shape)} inputs, got {len(xs)}")
        self.compute_output_shape(shapes)          # the shape check, before NumPy's
        return self._merge(xs)

    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        axis = self._axis(xs[0].ndim)
        self.sizes = [a.shape[axis] for a in xs]
        self.concat_axis = axis
        return np.concatenate(xs, axis=axis)

    def backward(self, dout: np.ndarray) -> List[np.ndarray]:  # type: ignore[override]
        self.grads = {}
        return self._grads(np.asarray(dout, dtype=self.dtype))

    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        """Each input's part of dout."""
        return [np.ascontiguousarray(g) for g in
                np.split(dout, np.cumsum(self.sizes)[:-1], axis=self.concat_axis)]

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}

    _CACHE_ATTRS = Merge._CACHE_ATTRS + ("sizes", "concat_axis")


def concatenate(inputs: Any, axis: int = -1, **kwargs: Any) -> Any:
    """Concatenate(axis)(inputs), as keras.layers.concatenate."""
    return Concatenate(axis=axis, **kwargs)(inputs)
