"""Nested models: a Sequential or functional Model used as a layer of another
model, as in Keras 3 (where Model is a Layer).

    augment = Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    inputs = ccnn.Input((28, 28, 1))
    x = augment(inputs)                        # one node of the outer graph
    x = layers.Conv2D(8, 3, activation="relu")(x)
    ...
    model = ccnn.Model(inputs, outputs)        # model.layers holds `augment`
    Sequential([base_model, layers.Dense(10)]) # a model as the first layer

Design: ModelLayer (the base of Trainer, so of Sequential and Model) gives a
model the Layer protocol the outer model's loops use -- forward / backward
(the models define them: their own layers, one by one, no fusion or loss
head), params / grads / states (the inner layers' live arrays flattened under
"<layer name>/<key>" keys, so an optimizer, model.weights, compute_gradients
and the weight files see them in place, in Keras's order), to_keras /
from_keras dispatching to the inner layer, and `trainable`, whose setter
freezes or unfreezes every inner layer (Keras 3's Layer.trainable setter).
The optimizer's pairs come from trainable_pairs, which walks into a nested
model so that a frozen inner layer of a trainable nested model stays frozen.

The compiled plans see a nested model as a layer they do not know: a nested
model without weights (augmentation) is one of the leading layers the
training plan runs per layer, anything else falls back to the per-layer path.
A nested model called at several nodes of a graph is a shared layer (what
each node's forward kept is saved per node for its backward, for the model
and every layer inside it).  Not supported yet: a nested model with several
inputs or outputs.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..layers import Layer

__all__ = ["ModelLayer", "leaf_layers", "models_in", "keras_class_name", "trainable_leaves",
           "trainable_pairs", "trainable_params", "trainable_count", "uses_regularization"]


def leaf_layers(layers: Any) -> Iterator[Layer]:
    """The layers of `layers` with every nested model replaced by its own layers."""
    for layer in layers:
        if isinstance(layer, ModelLayer):
            yield from leaf_layers(layer.layers)
        else:
            yield layer


def models_in(model: "ModelLayer") -> Iterator["ModelLayer"]:
    """model and every model nested in it."""
    yield model
    for layer in model.layers:
        if isinstance(layer, ModelLayer):
            yield from models_in(layer)


def keras_class_name(layer: Any) -> str:
    """The class name Keras gives `layer` in configs and summaries: a
    ccnn.Model made from Input tensors is Keras's Functional."""
    from .functional import Model
    return "Functional" if type(layer) is Model else type(layer).__name__


def trainable_leaves(layers: Any) -> Iterator[Layer]:
    """The trainable layers of `layers`, a nested model walked into (a frozen
    model freezes all of its layers; a frozen inner layer stays frozen in a
    trainable model)."""
    for layer in layers:
        if not layer.trainable:
            continue
        if isinstance(layer, ModelLayer):
            yield from trainable_leaves(layer.layers)
        else:
            yield layer


def trainable_pairs(layers: Any) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(gradient, param) of every trainable weight (trainable_leaves')."""
    return [(layer.grads[k], p) for layer in trainable_leaves(layers)
            for k, p in layer.params.items()]


def trainable_count(layers: Any) -> int:
    """The number of trainable parameters (summary's count)."""
    return sum(p.size for _, p in trainable_params(layers))


def trainable_params(layers: Any) -> List[Tuple[str, np.ndarray]]:
    """(key, param) of every trainable weight (trainable_leaves')."""
    return [item for layer in trainable_leaves(layers) for item in layer.params.items()]


def uses_regularization(layer: Any) -> bool:
    """Whether a nested model holds a layer with a weight or activity regularizer
    (or its own regularization methods)."""
    for leaf in leaf_layers([layer]):
        if leaf.__dict__.get("regularizers") or leaf.activity_regularizer is not None \
                or type(leaf).regularization_loss is not Layer.regularization_loss \
                or type(leaf).add_regularization_grads is not Layer.add_regularization_grads:
            return True
    return False


def accepted_shape(layer: Any, shape: Tuple[Optional[int], ...]) -> Tuple[Optional[int], ...]:
    """The output shape of the built `layer` for inputs of `shape` (batch axis
    first), a ValueError naming the layer that refuses it.  As Keras at run
    time: a Sequential (nested or not) takes any shape each of its layers
    takes (Layer.accepts: its InputSpec), a functional model only its
    inputs' shape."""
    from .sequential import Sequential
    if isinstance(layer, Sequential):
        for inner in layer.layers:
            shape = accepted_shape(inner, shape)
        return shape
    if not layer.accepts(shape):
        raise ValueError(f"Input of layer {layer.name!r} ({type(layer).__name__}) is "
                         f"incompatible: the layer was built for inputs {layer.input_shape}, "
                         f"got {shape}")
    return tuple(layer.compute_output_shape(shape))


def _split(key: str) -> Tuple[str, str]:
    name, _, rest = key.partition("/")
    return name, rest


class ModelLayer(Layer):
    """The Layer protocol of a model (see the module docstring).  The model
    supplies `layers`, `built`, `input_shape`, `output_shape`, build(),
    forward() and backward()."""

    layers: List[Layer]
    batch_input_shape = None
    activity_regularizer = None
    is_model = True

    # ---- trainable: Keras 3's setter sets every inner layer's
    @property
    def trainable(self) -> bool:
        return bool(self.__dict__.get("_trainable", True))

    @trainable.setter
    def trainable(self, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"trainable must be a bool, got {value!r}")
        self.__dict__["_trainable"] = bool(value)
        for layer in self.layers:
            layer.trainable = bool(value)
        replan = getattr(self, "_replan", None)
        if replan is not None and self.built:
            replan()

    @property
    def dtype(self) -> str:
        return str(self.layers[0].dtype) if self.layers else "float32"

    @property
    def regularizers(self) -> Dict[str, Any]:  # type: ignore[override]
        return {}

    # ---- the inner layers' arrays, flattened
    def _inner(self, key: str) -> Tuple[Layer, str]:
        name, rest = _split(key)
        for layer in self.layers:
            if layer.name == name:
                return layer, rest
        raise KeyError(key)

    @property
    def params(self) -> Dict[str, np.ndarray]:          # type: ignore[override]
        return {f"{layer.name}/{k}": p for layer in self.layers
                for k, p in layer.params.items()}

    @property
    def states(self) -> Dict[str, np.ndarray]:          # type: ignore[override]
        return {f"{layer.name}/{k}": p for layer in self.layers
                for k, p in layer.states.items()}

    @property
    def grads(self) -> Dict[str, np.ndarray]:
        return {f"{layer.name}/{k}": g for layer in self.layers
                for k, g in layer.grads.items()}

    @grads.setter
    def grads(self, value: Dict[str, np.ndarray]) -> None:
        per: Dict[str, Dict[str, np.ndarray]] = {}
        for key, g in value.items():
            name, rest = _split(key)
            per.setdefault(name, {})[rest] = g
        for layer in self.layers:
            if layer.params:
                layer.grads = per.get(str(layer.name), {})

    def weight_arrays(self) -> Dict[str, np.ndarray]:
        return {f"{layer.name}/{k}": p for layer in self.layers
                for k, p in layer.weight_arrays().items()}

    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        layer, rest = self._inner(key)
        return layer.to_keras(rest, p)

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        layer, rest = self._inner(key)
        return layer.from_keras(rest, w)

    def keras_shape(self, key: str) -> Tuple[int, ...]:
        layer, rest = self._inner(key)
        return layer.keras_shape(rest)

    @property
    def non_trainable_weights(self) -> List[np.ndarray]:
        keep = {id(p) for _, p in trainable_params(self.layers)}
        return [np.array(self.to_keras(k, p)) for k, p in self.weight_arrays().items()
                if id(p) not in keep]

    # ---- regularization: the inner layers'
    def regularization_loss(self) -> float:
        reg = getattr(self, "_regularization_loss", None)
        return float(reg()) if reg is not None else 0.0

    def add_regularization_grads(self) -> None:
        for layer in self.layers:
            layer.add_regularization_grads()

    # ---- as a layer of a graph
    @property
    def input(self) -> Any:
        """The model's input tensor (a list for several), as Keras's model.input."""
        inputs = list(getattr(self, "inputs"))
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self) -> Any:
        """The model's output tensor (a list for several), as Keras's model.output."""
        outputs = list(getattr(self, "outputs"))
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        if isinstance(input_shape, list):
            raise ValueError(f"model {self.name!r} used as a layer takes one input "
                             f"(nested models with several inputs are not supported yet)")
        if not self.built:
            self.build(tuple(input_shape))
        if len(getattr(self, "outputs", [None])) != 1:
            raise ValueError(f"model {self.name!r} used as a layer must have one output "
                             f"(nested models with several outputs are not supported yet)")
        out = self.output_shape
        if isinstance(out, list) or out is None:
            raise ValueError(f"model {self.name!r} used as a layer must have one output")
        return (tuple(input_shape)[0],) + tuple(out[1:])

    def _symbolic(self, x: Any) -> Any:
        """model(x) on symbolic tensors: the model as one node of the graph."""
        from ..layers.core.input_layer import symbolic_call
        return symbolic_call(self, x)
