"""Keras's Sequential model over ccnn.layers.

    model = Sequential()
    model.add(Conv2D(10, (3, 3), activation='relu', padding='same', input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dropout(0.5))
    model.add(Dense(100, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(x_train, y_train_encoded, epochs=20, validation_data=(x_val, y_val_encoded))

The structure lives here (add, build, weights, summary, config, weights on
disk); the training loop in ccnn.models.trainer, the fusions it runs in
ccnn.models.fusion.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..layers import Layer
from ..layers.core.input_layer import Input, InputTensor, inbound_nodes, record_node
from ..layers.layer import to_snake_case, unique_name
from .. import _checks as chk
from .._warnings import warn
from .saving import (FORMAT_KEY, FORMAT_VERSION, OPTIMIZER_PREFIX, load_weights_file,
                     save_npz_atomic, split_optimizer_state)
from . import inference
from .nested import (ModelLayer, accepted_shape, keras_class_name, models_in, trainable_count,
                     trainable_params)
from .trainer import Trainer, _shape_matches, _verbose, is_symbolic_arg

__all__ = ["Sequential"]


def _is_keras_weights(filepath: Any) -> bool:
    """True for a Keras 3 weights path (name ending in .weights.h5)."""
    path = os.fspath(filepath)
    return isinstance(path, str) and path.endswith(".weights.h5")


class Sequential(Trainer):
    """A linear stack of layers with Keras's compile / fit / evaluate / predict."""

    def __init__(self, layers: Optional[Sequence[Any]] = None, name: Optional[str] = None):
        self.name = name or unique_name("Sequential")
        self.layers: List[Layer] = []
        self._input: Optional[InputTensor] = None    # ccnn.Input given first, if any
        self.built = False
        self.input_shape: Optional[Tuple[Optional[int], ...]] = None
        self._init_training_state()
        for layer in layers or ():
            self.add(layer)

    # ------------------------------------------------------------ structure
    def add(self, layer: Any) -> None:
        if isinstance(layer, InputTensor):
            if not layer.is_input:
                raise TypeError(f"Sequential.add expects a layer or a ccnn.Input, got the "
                                f"output tensor {layer.name} of a layer")
            if self.layers or self._input is not None:
                raise ValueError("an Input may only come first in a Sequential model")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a ccnn.layers.Layer or a model, got "
                            f"{type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if layer is self or (isinstance(layer, ModelLayer) and
                             any(inner is self for inner in models_in(layer))):
            raise ValueError(f"model {self.name!r} cannot be a layer of itself")
        names = {other.name for other in self.layers}
        if layer.name is None:
            base = to_snake_case(type(layer).__name__)
            name, i = base, 0
            while name in names:
                i += 1
                name = f"{base}_{i}"
            layer.name = name
        elif layer.name in names:
            raise ValueError(f"All layers added to a Sequential model should have unique "
                             f"names; {layer.name!r} is already used")
        if self.layers and layer.batch_input_shape is not None:
            raise ValueError(f"input_shape may only be given to the first layer, not to "
                             f"{layer.name!r}")
        self.layers.append(layer)
        self._metric_objs = None
        try:
            if len(self.layers) == 1 and isinstance(layer, ModelLayer) and layer.built \
                    and self._input is None:        # a built model first: its input shape
                self.build(layer.input_shape)       # type: ignore[arg-type]
            elif len(self.layers) == 1 and layer.batch_input_shape is not None:
                if self._input is not None:
                    raise ValueError(f"the model starts with an Input; do not also give "
                                     f"input_shape to {layer.name!r}")
                self.build(layer.batch_input_shape)
            elif len(self.layers) == 1 and self._input is not None:
                self.build(self._input.shape)
            elif self.built:
                prev = self.layers[-2].output_shape
                assert prev is not None
                self._build_layer(layer, prev)
                self._replan()
        except Exception:
            self.layers.pop()
            raise

    def pop(self) -> Layer:
        """Remove and return the last layer, as Keras's Sequential.pop."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self.layers.pop()
        if not self.layers:
            self.built = False
            self.input_shape = None
        self._metric_objs = None          # 'accuracy' is resolved for the new output
        self._replan()
        return layer

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The layer called `name`, or at position `index`, as Keras's get_layer."""
        if index is not None and name is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"index must be an int, got {type(index).__name__}")
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"only has {len(self.layers)} layers.")
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def _build_layer(self, layer: Layer, shape: Sequence[Optional[int]]) -> None:
        shape = tuple(shape)
        if layer.built and layer.input_shape is not None:
            if not _shape_matches(shape[1:], tuple(layer.input_shape[1:])):
                raise ValueError(f"layer {layer.name!r} was built for inputs "
                                 f"{layer.input_shape}, but receives {shape}")
            return
        try:
            layer.build(shape)
        except ValueError as e:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): {e}") from None

    def build(self, input_shape: Sequence[Optional[int]]) -> None:
        """Create every layer's weights for inputs of `input_shape` (batch axis
        included, as in Keras: e.g. (None, 28, 28, 1))."""
        if not self.layers:
            raise ValueError("the model has no layers; add some first")
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            self._build_layer(layer, shape)
            assert layer.output_shape is not None
            shape = layer.output_shape
        self.built = True
        self._replan()

    def _run_shape(self, x: np.ndarray, want: Tuple[Optional[int], ...], name: str
                   ) -> Tuple[Optional[int], ...]:
        """As Keras's Sequential (whose call runs its layers, each checking
        its InputSpec): an input of another shape than the built one is
        taken when every layer takes it (nested Sequentials walked into), so a
        model of convolutions and global pooling built at 28x28 runs at 32x32;
        a ValueError naming the layer that refuses it otherwise."""
        shape = (None,) + tuple(x.shape[1:])
        if x.ndim != len(want) or _shape_matches(shape[1:], want[1:]):
            return want
        try:
            accepted_shape(self, shape)
        except ValueError as e:
            raise ValueError(f"Input {name} is incompatible with the model: expected shape "
                             f"{want}, got {x.shape}; {e}") from None
        return shape

    def _replan(self) -> None:
        if self.built:
            self._connect()
        super()._replan()

    def _connect(self) -> None:
        """Record the model's graph once built, as Keras's Sequential: an Input
        (the one given first, or one of the input shape) and one node per
        layer, for model.inputs / outputs and layer.input / output."""
        assert self.input_shape is not None
        key = (tuple(id(layer) for layer in self.layers), tuple(self.input_shape))
        if self.__dict__.get("_graph_key") == key:
            return
        for layer, node in self.__dict__.get("_graph_nodes", ()):
            nodes = inbound_nodes(layer)
            if any(n is node for n in nodes):
                nodes.remove(node)
        t = self._input
        if t is None:
            old = self.__dict__.get("_graph_input")
            t = old if old is not None and old.shape == tuple(self.input_shape) else \
                Input(batch_shape=self.input_shape, dtype=self.layers[0].dtype)
        self._graph_input = t
        graph = []
        for layer in self.layers:
            assert layer.output_shape is not None
            t = record_node(layer, [t], False, layer.output_shape)
            graph.append((layer, t._history[1]))        # type: ignore[index]
        self._graph_nodes = graph
        self._graph_output = t
        self._graph_key = key

    @property
    def inputs(self) -> List[InputTensor]:
        """[the model's input tensor] once built (Keras's model.inputs)."""
        self._require_built()
        self._connect()
        return [self._graph_input]

    @property
    def outputs(self) -> List[InputTensor]:
        """[the model's output tensor] once built (Keras's model.outputs)."""
        self._require_built()
        self._connect()
        return [self._graph_output]

    @property
    def output_shape(self):     # type: ignore[override]
        return self.layers[-1].output_shape if self.built else None

    @property
    def weights(self) -> List[np.ndarray]:
        """Every parameter array: the live arrays in the kernels' layout (Conv2D's
        kernel (out, in, kh, kw)), in the order of compute_gradients' grads.
        get_weights / set_weights speak Keras's layout."""
        return [p for layer in self.layers for p in layer.params.values()]

    @property
    def trainable_weights(self) -> List[np.ndarray]:
        return [p for _, p in trainable_params(self.layers)]

    def count_params(self) -> int:
        self._require_built()
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> List[np.ndarray]:
        """Copies of every layer's weights in Keras's layout, layer by layer
        (kernel, bias): what keras_model.set_weights takes."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Copy `weights` (in Keras's layout, like get_weights() or a Keras
        model's get_weights()) into the model's arrays; every shape is checked
        before anything changes."""
        self._require_built()
        weights = list(weights)
        counts = [len(layer.weight_arrays()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"the model has {sum(counts)} weight arrays, got {len(weights)}")
        starts = np.cumsum([0] + counts)
        checked = [layer.check_weights(weights[i:i + n])
                   for layer, i, n in zip(self.layers, starts, counts)]
        for layer, arrays in zip(self.layers, checked):
            layer.assign_weights(arrays)

    # ------------------------------------------------------------ as a layer
    # (ccnn.models.nested): the layers one by one, no fusion, no loss head
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The model's output for x as a layer of another model."""
        self._activity = []
        for layer in self.layers:
            x = layer.forward(x, training)
            if layer.activity_regularizer is not None:
                self._activity.append((layer, x))
        return x

    def backward(self, dout: np.ndarray) -> Any:
        """d(loss)/d(input) (None when need_input_grad is off); fills every
        inner layer's grads."""
        need = self.need_input_grad
        layers = self.layers
        k = 0 if need else next((i for i, layer in enumerate(layers) if layer.params), -1)
        if k < 0:
            return None
        d = dout
        for layer in reversed(layers[k + 1:]):
            d = layer.backward(self._activity_grad(layer, d))
        first = layers[k]
        first.need_input_grad = need
        try:
            d = first.backward(self._activity_grad(first, d))
        finally:
            first.need_input_grad = True
        return d if need else None

    def _require_built(self) -> None:
        if not self.built:
            raise ValueError("This model has not yet been built. Build the model first by "
                             "giving the first layer an input_shape, calling build(), or "
                             "calling the model on a batch of data.")

    def summary(self, print_fn=None) -> None:
        """Print Keras's table: layer name (type), output shape, parameter count."""
        self._require_built()
        print_fn = print_fn or print
        rows = [(f"{layer.name} ({keras_class_name(layer)})", str(layer.output_shape),
                 f"{layer.count_params():,}") for layer in self.layers]
        w1 = max([29] + [len(r[0]) + 2 for r in rows])
        w2 = max([26] + [len(r[1]) + 2 for r in rows])
        width = w1 + w2 + 12
        total = self.count_params()
        trainable = trainable_count(self.layers)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}Param #", "=" * width]
        for i, (a, b, c) in enumerate(rows):
            lines.append(f"{a:<{w1}}{b:<{w2}}{c}")
            lines.append("_" * width if i < len(rows) - 1 else "=" * width)
        lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", "_" * width]
        for line in lines:
            print_fn(line)


    # ------------------------------------------------------------ weights on disk
    def _named_weights(self, keras: bool = True) -> Dict[str, np.ndarray]:
        """{'layer0/kernel': array, ...}: views in Keras's layout, or the live
        internal arrays (keras=False)."""
        return {f"layer{i}/{k}": layer.to_keras(k, p) if keras else p
                for i, layer in enumerate(self.layers) for k, p in layer.weight_arrays().items()}

    def _params_in_order(self) -> List[np.ndarray]:
        """Every layer's live trainable arrays, in model.weights' order (the
        optimizer's state is saved against it)."""
        return [p for layer in self.layers for p in layer.params.values()]

    def save_weights(self, filepath: Any, include_optimizer: bool = False) -> None:
        """Write every weight array, in Keras's layout, to the .npz file
        `filepath` (keys 'layer0/kernel', 'layer0/bias', ..., and the format
        version, see ccnn.models.saving), atomically: a temporary file in the
        same directory is fsynced and renamed over `filepath`.  With
        include_optimizer=True the compiled optimizer's state goes in too
        (iterations, its slots), so that load_weights into a model compiled with
        the same optimizer goes on training exactly as this one would.
        A path ending in .weights.h5 writes Keras 3's weights file instead
        (keras_model.load_weights reads it; needs h5py, pip install
        "ccnn[keras-files]"); as Keras, it holds a compiled model's optimizer
        state whatever include_optimizer says."""
        if _is_keras_weights(filepath):
            if chk.boolean(include_optimizer, "include_optimizer") and \
                    getattr(self, "optimizer", None) is None:
                raise ValueError("include_optimizer=True needs a compiled model (it has no "
                                 "optimizer yet)")
            from ..saving.keras_format import save_weights_h5
            save_weights_h5(self, filepath)
            return
        save_npz_atomic(filepath, self._weights_file_arrays(include_optimizer))

    def _weights_file_arrays(self, include_optimizer: bool) -> Dict[str, np.ndarray]:
        """What save_weights writes: the named weights, the format version, and
        with include_optimizer the optimizer's state under OPTIMIZER_PREFIX."""
        self._require_built()
        arrays = dict(self._named_weights(), **{FORMAT_KEY: np.array(FORMAT_VERSION)})
        if chk.boolean(include_optimizer, "include_optimizer"):
            optimizer = getattr(self, "optimizer", None)
            if optimizer is None:
                raise ValueError("include_optimizer=True needs a compiled model (it has no "
                                 "optimizer yet)")
            state = optimizer.get_state(self._params_in_order())
            arrays.update({OPTIMIZER_PREFIX + k: v for k, v in state.items()})
        return arrays

    def load_weights(self, filepath: Any) -> None:
        """Read weights written by save_weights (any ccnn version), checking
        names, shapes and dtypes against this model before changing anything;
        nothing is unpickled.  A path ending in .weights.h5 reads Keras 3's
        weights file (keras_model.save_weights("m.weights.h5"); needs h5py),
        and into a compiled model the optimizer state it holds."""
        if not self.built:
            first = self.layers[0] if self.layers else None
            if first is not None and first.batch_input_shape is not None:
                self.build(first.batch_input_shape)
            elif self._input is not None and self.layers:
                self.build(self._input.shape)
            else:
                self._require_built()
                return
        if _is_keras_weights(filepath):
            from ..saving.keras_format import load_weights_h5
            load_weights_h5(self, filepath)
            return
        loaded, keras = load_weights_file(os.fspath(filepath), self._named_weights)
        state = split_optimizer_state(loaded)
        optimizer = getattr(self, "optimizer", None)
        if state and optimizer is None:
            warn(f"{os.fspath(filepath)} holds an optimizer state; compile the model before "
                 f"load_weights to restore it (the weights are loaded)")
        elif state and optimizer is not None:   # checked in full before anything changes
            optimizer.set_state(state, self._params_in_order())
        for i, layer in enumerate(self.layers):
            for k, p in layer.weight_arrays().items():
                a = loaded[f"layer{i}/{k}"]
                np.copyto(p, layer.from_keras(k, a) if keras else a)

    def export(self, filepath: Any, format: str = "onnx", verbose: bool = True) -> None:
        """Write the model for inference elsewhere, as Keras 3's export: format
        "onnx" (the only one) writes an ONNX file (opset 17, channels-last input
        as the model takes it, dynamic batch) that onnxruntime runs, atomically.
        Needs the optional onnx package (pip install "ccnn[onnx]"); the model is
        not changed.  Training-only layers (Dropout, RandomTranslation) become
        Identity; a layer with no ONNX form is a ValueError naming it."""
        if format != "onnx":
            raise ValueError(f"format must be 'onnx' (the one export format ccnn has), got "
                             f"{format!r}")
        from ..export.onnx import export_onnx
        export_onnx(self, filepath)
        if verbose:
            print(f"Saved artifact at '{os.fspath(filepath)}'.")

    def get_config(self) -> dict:
        first = [] if self._input is None else [{"class_name": "InputLayer",
                                                  "config": self._input.get_config()}]
        config: Dict[str, Any] = {"name": self.name}
        if not self.trainable:
            config["trainable"] = False
        config["layers"] = first + [{"class_name": keras_class_name(layer),
                                     "config": layer.get_config()} for layer in self.layers]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """A new, untrained model with the architecture of get_config()."""
        from ..layers import get as layer_class
        model = cls([InputTensor.from_config(d["config"]) if d["class_name"] == "InputLayer"
                     else layer_class(d["class_name"]).from_config(d["config"])
                     for d in config["layers"]], name=config.get("name"))
        if config.get("trainable") is False:
            model.trainable = False
        return model

    def __getstate__(self) -> dict:
        """The model without its execution plan (rebuilt on first use)."""
        state = dict(self.__dict__)
        state.pop("_plan", None)
        return state

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self.layers)} built={self.built}>"


    # ------------------------------------------------------------ inference fast path
    # predict / predict_on_batch / model(x) of a batch whose inference plan
    # is compiled and current run the plan directly (ccnn.models.inference.
    # predict_fast); anything else -- the first batch of a shape, callbacks,
    # other dtypes, bad arguments -- takes Trainer's path, which checks it.
    def predict(self, x: Any, batch_size: Optional[int] = 32, verbose: Any = 0,
                steps: Optional[int] = None, callbacks: Any = None) -> np.ndarray:
        """The model's outputs (softmax probabilities for the book's model), batch by batch."""
        _verbose(verbose)          # checked on the fast path too
        if callbacks is None and steps is None:
            out = inference.predict_fast(self, x, 32 if batch_size is None else batch_size)
            if out is not None:
                return out
        return super().predict(x, batch_size, verbose, steps, callbacks)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The outputs for one batch in inference mode."""
        out = inference.predict_fast(self, x)
        return out if out is not None else super().predict_on_batch(x)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        if is_symbolic_arg(x):
            return self._symbolic(x)
        if training is False:
            out = inference.predict_fast(self, x)
            if out is not None:
                return out
        return super().__call__(x, training)
