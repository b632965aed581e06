"""Merge: the base of the layers that combine a list of tensors (Keras 3's
keras/src/layers/merging/base_merge.py)."""
from __future__ import annotations

import abc
from typing import Any, List, Optional, Sequence

import numpy as np

from ..layer import Layer, Shape


def _is_shape_list(input_shape: Any) -> bool:
    return isinstance(input_shape, (list, tuple)) and bool(input_shape) and all(
        isinstance(s, (list, tuple)) for s in input_shape)


def _elemwise_shape(shape1: Sequence[Optional[int]], shape2: Sequence[Optional[int]]) -> Shape:
    """Keras's broadcast of two shapes without their batch axes (right-aligned)."""
    if len(shape1) < len(shape2):
        return _elemwise_shape(shape2, shape1)
    if not shape2:
        return tuple(shape1)
    out: List[Optional[int]] = list(shape1[:-len(shape2)])
    for i, j in zip(shape1[-len(shape2):], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1:
            out.append(i)
        else:
            if i != j:
                raise ValueError(f"Inputs have incompatible shapes. Received shapes "
                                 f"{tuple(shape1)} and {tuple(shape2)}")
            out.append(i)
    return tuple(out)


def unbroadcast(d: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """d summed over the axes it was broadcast along to reach `shape`."""
    if d.shape == tuple(shape):
        return d
    lead = d.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and d.shape[i + lead] != 1)
    return d.sum(axis=axes, keepdims=True).reshape(shape)


class Merge(Layer):
    """A layer called on a list of tensors of broadcastable shapes (the batch
    axis aside); an input of lower rank gets unit axes after its batch axis,
    as Keras's.  Subclasses give _merge (forward) and _grads (backward)."""

    #: the number of inputs the layer takes (None: any number)
    n_inputs: Optional[int] = None

    def build(self, input_shape: Any) -> None:
        if not _is_shape_list(input_shape):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: "
                             f"input_shape={input_shape} (not a list of shapes)")
        shapes = [tuple(s) for s in input_shape]
        if self.n_inputs is not None and len(shapes) != self.n_inputs:
            raise ValueError(f"A `{type(self).__name__}` layer should be called on exactly "
                             f"{self.n_inputs} inputs. Received: input_shape={shapes}")
        self.compute_output_shape(shapes)
        self.output_shape = self.compute_output_shape(shapes)
        self.input_shape = shapes          # type: ignore[assignment]
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = [tuple(s) for s in input_shape]
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"Cannot merge tensors with different batch sizes. Received "
                             f"tensors with shapes {shapes}")
        out = shapes[0][1:]
        for s in shapes[1:]:
            out = _elemwise_shape(out, s[1:])
        batch = next(iter(batch_sizes)) if batch_sizes else None
        return (batch,) + tuple(out)

    def __call__(self, x: Any, training: bool = False) -> Any:
        from ..core.input_layer import is_symbolic, symbolic_call
        if is_symbolic(x):
            return symbolic_call(self, x)
        if not isinstance(x, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Received: "
                             f"{type(x).__name__}")
        xs = [np.asarray(a) for a in x]
        if not self.built:
            self.build([(None,) + a.shape[1:] for a in xs])
        return self.forward(xs, training)

    def _inputs(self, xs: Any) -> List[np.ndarray]:
        """The inputs as this layer's dtype, checked, with unit axes after the
        batch axis for the ones of lower rank."""
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes a list of "
                             f"arrays, got {type(xs).__name__}")
        arrays = [np.asarray(a, dtype=self.dtype) for a in xs]
        want: Any = self.input_shape
        if want is not None and len(arrays) != len(want):
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects "
                             f"{len(want)} inputs, got {len(arrays)}")
        for a, w in zip(arrays, want or [None] * len(arrays)):
            if w is not None and (a.ndim != len(w) or any(
                    d is not None and d != n for d, n in zip(w[1:], a.shape[1:]))):
                raise ValueError(f"Input of layer {self.name!r} ({type(self).__name__}) is "
                                 f"incompatible: expected shapes {want}, got "
                                 f"{[b.shape for b in arrays]}")
        ndim = max(a.ndim for a in arrays)
        return [a.reshape(a.shape[:1] + (1,) * (ndim - a.ndim) + a.shape[1:]) for a in arrays]

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        self.xs_shapes = [np.shape(a) for a in x]
        xs = self._inputs(x)
        self.xs = xs
        try:
            y = self._merge(xs)
        except ValueError as e:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}): inputs of shapes "
                             f"{[a.shape for a in xs]} do not broadcast ({e})") from None
        self.y = y
        return y

    def backward(self, dout: np.ndarray) -> List[np.ndarray]:  # type: ignore[override]
        """The gradient of each input (a list, in the inputs' order)."""
        dout = np.asarray(dout, dtype=self.dtype)
        grads = self._grads(dout)
        self.grads = {}
        return [unbroadcast(g, a.shape).reshape(s)
                for g, a, s in zip(grads, self.xs, self.xs_shapes)]

    @abc.abstractmethod
    def _merge(self, xs: List[np.ndarray]) -> np.ndarray:
        """The output from the inputs (broadcast to one shape)."""

    @abc.abstractmethod
    def _grads(self, dout: np.ndarray) -> List[np.ndarray]:
        """d(loss)/d(each input), broadcast to the output's shape."""

    _CACHE_ATTRS = Layer._CACHE_ATTRS + ("xs", "xs_shapes")
