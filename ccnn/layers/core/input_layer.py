"""Input, InputLayer and the symbolic tensors of functional models (Keras 3's
KerasTensor, Node and InputLayer).

    inp = ccnn.Input((28, 28, 1))          # a KerasTensor: shape (None, 28, 28, 1)
    h = layers.Conv2D(8, 3)(inp)           # calling a layer on it records a Node
    model = ccnn.Model(inp, h)             # and returns the layer's output tensor

A KerasTensor holds no data: its shape (batch axis first, None when
unknown), dtype, name, and its history -- the layer, the node (one call of
that layer) and the index among that call's outputs that made it.  Each
call of a layer on symbolic tensors appends a Node to layer._inbound_nodes;
ccnn.Model walks these back from its outputs to its inputs.
"""
from __future__ import annotations

import itertools
import numbers
from typing import Any, List, Optional, Tuple

import numpy as np

from ..layer import Layer, Shape, unique_name

_tensor_ids = itertools.count(1)


class KerasTensor:
    """A symbolic tensor (keras.KerasTensor): `shape`, `dtype`, `name` and the
    history (layer, node, index) of the call that made it.  ccnn.Input
    returns one; so does a layer called on one.  Put an Input first in a
    Sequential (Sequential([Input((28, 28, 1)), ...])) to fix its input shape."""

    def __init__(self, shape: Tuple[Optional[int], ...], dtype: str = "float32",
                 name: Optional[str] = None, history: Optional[Tuple[Any, Any, int]] = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name if name is not None else f"keras_tensor_{next(_tensor_ids)}"
        #: (layer, node, tensor index) of the call that produced the tensor
        self._history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_input(self) -> bool:
        """Whether the tensor is an Input's (made by an InputLayer)."""
        return self._history is not None and isinstance(self._history[0], InputLayer)

    def get_config(self) -> dict:
        """The config of the tensor's InputLayer (for Sequential's get_config)."""
        return {"batch_shape": list(self.shape), "dtype": self.dtype, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "KerasTensor":
        shape = config["batch_shape"]
        return Input(tuple(shape[1:]), batch_size=shape[0], dtype=config.get("dtype"),
                     name=config.get("name"))

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


#: the name this class had when it was only Sequential's first element
InputTensor = KerasTensor


class Node:
    """One call of `layer` on symbolic tensors: its inputs (a list; `multi`
    when the layer took a list, as the merge layers do) and outputs."""

    def __init__(self, layer: Layer, inputs: List[KerasTensor], multi: bool):
        self.layer = layer
        self.inputs = inputs
        self.multi = multi
        self.outputs: List[KerasTensor] = []

    @property
    def is_input(self) -> bool:
        return isinstance(self.layer, InputLayer)

    @property
    def parents(self) -> List["Node"]:
        return [t._history[1] for t in self.inputs if t._history is not None]

    def __repr__(self) -> str:
        return f"<Node layer={self.layer.name!r} inputs={[t.name for t in self.inputs]}>"


def inbound_nodes(layer: Any) -> List[Node]:
    """layer._inbound_nodes (an empty list for a layer never called symbolically)."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = layer.__dict__["_inbound_nodes"] = []
    return nodes


def record_node(layer: Layer, inputs: List[KerasTensor], multi: bool,
                output_shape: Shape) -> KerasTensor:
    """Append a Node (layer called on `inputs`) and return its output tensor."""
    node = Node(layer, list(inputs), multi)
    out = KerasTensor(tuple(output_shape), layer.dtype, history=(layer, node, 0))
    node.outputs.append(out)
    inbound_nodes(layer).append(node)
    return out


def is_symbolic(x: Any) -> bool:
    """x is a KerasTensor or a non-empty list / tuple of them."""
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and \
        any(isinstance(t, KerasTensor) for t in x)


def _compatible(a: Any, b: Any) -> bool:
    """Whether shape a fits shape b (None matches anything; batch axes ignored)."""
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(
            _compatible(x, y) for x, y in zip(a, b))
    a, b = tuple(a), tuple(b)
    return len(a) == len(b) and all(x is None or y is None or x == y
                                    for x, y in zip(a[1:], b[1:]))


def symbolic_call(layer: Layer, x: Any) -> KerasTensor:
    """layer(x) for a KerasTensor or a list of them: build the layer for their
    shapes if needed, record the node, return the output tensor."""
    multi = not isinstance(x, KerasTensor)
    inputs = list(x) if multi else [x]
    bad = [type(t).__name__ for t in inputs if not isinstance(t, KerasTensor)]
    if bad:
        raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) was called on a list "
                        f"mixing symbolic tensors and {bad[0]}; call it on KerasTensors only "
                        f"(ccnn.Input and layer outputs)")
    shape: Any = [tuple(t.shape) for t in inputs] if multi else tuple(inputs[0].shape)
    if layer.name is None:
        layer.name = unique_name(type(layer).__name__)
    if not layer.built:
        try:
            layer.build(shape)
        except ValueError as e:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): {e}") from None
    elif layer.input_shape is not None and not _compatible(
            shape, list(layer.input_shape) if multi and isinstance(layer.input_shape, list)
            else layer.input_shape):
        raise ValueError(f"Input of layer {layer.name!r} ({type(layer).__name__}) is "
                         f"incompatible: the layer was built for inputs {layer.input_shape}, "
                         f"got {shape}")
    return record_node(layer, inputs, multi, layer.compute_output_shape(shape))


class InputLayer(Layer):
    """The layer of an Input (keras.layers.InputLayer): no weights, its output
    is the model's input.  In a functional model's layers, first, as in Keras 3."""

    def __init__(self, batch_shape: Any = None, dtype: Any = "float32",
                 name: Optional[str] = None, sparse: bool = False, **kwargs: Any):
        kwargs.pop("ragged", None)
        kwargs.pop("optional", None)
        kwargs.pop("trainable", None)
        if kwargs:
            raise TypeError(f"InputLayer() got an unexpected keyword argument "
                            f"{sorted(kwargs)[0]!r}")
        if sparse:
            raise ValueError("ccnn has no sparse inputs (sparse=True)")
        super().__init__(name=name or unique_name("InputLayer"), dtype=dtype)
        self.built = True
        self.input_shape = self.output_shape = tuple(batch_shape)
        self.batch_shape = tuple(batch_shape)
        self.output_tensor = record_node(self, [], False, self.batch_shape)
        self.output_tensor.name = str(self.name)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "InputLayer":
        return cls(**config)


def Input(shape: Any = None, batch_size: Optional[int] = None, dtype: Any = None,
          name: Optional[str] = None, batch_shape: Any = None) -> KerasTensor:
    """keras.Input: `shape` without the batch axis (e.g. (28, 28, 1)), or
    `batch_shape` with it.  Returns a KerasTensor."""
    if (shape is None) == (batch_shape is None):
        raise ValueError("Input needs exactly one of shape and batch_shape")
    if batch_shape is not None:
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise ValueError(f"batch_shape must be a non-empty tuple, got {batch_shape!r}")
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 1)
            for d in shape):
        raise ValueError(f"shape must be a tuple of positive ints or None (without the batch "
                         f"axis), got {shape!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    dtype = "float32" if dtype is None else np.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    dims = tuple(None if d is None else int(d) for d in shape)
    layer = InputLayer((None if batch_size is None else int(batch_size),) + dims, dtype, name)
    return layer.output_tensor
