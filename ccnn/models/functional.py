"""Keras's functional Model: a graph of layer calls from ccnn.Input tensors.

    inp = ccnn.Input((32,))
    h = layers.Dense(32, activation="relu")(inp)
    out = layers.add([inp, layers.Dense(32)(h)])        # a residual block
    model = ccnn.Model(inp, out)

Calling a layer on symbolic tensors records a Node (ccnn.layers.core.input_layer);
Model walks the nodes back from its outputs to its inputs (Keras 3's
map_graph: same layer order, same errors) and runs them in topological
order.  Backward runs the nodes in reverse, summing the gradients of a
tensor that feeds several nodes.  A layer called at several nodes (a shared
layer) keeps, per node, what its forward stored on it, and its grads are the
sum over its nodes.  Training is Trainer's (compile / fit / evaluate /
predict), with one loss, metrics and loss weight per output, as Keras's.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from ..metrics.metric import log_value
from .. import optimizers as optimizers_mod
from ..layers import Layer
from ..layers.core.input_layer import Input, InputLayer, KerasTensor, Node, inbound_nodes
from ..layers.fused import SigmoidBinaryCrossentropy, SoftmaxCrossEntropy
from ..layers.layer import unique_name
from . import inference, inference_graph
from .data_adapters import Arrays
from .fusion import LossHead
from .sequential import Sequential
from .nested import ModelLayer, keras_class_name, trainable_count
from .trainer import (Trainer, _execution_options, _real_array, _steps_per_execution, _verbose,
                      check_loss_weights_kind, finite_loss_weight, fit_input, is_symbolic_arg,
                      metric_log_names, resolving_loss)

__all__ = ["Model"]

_S: Any = Sequential
_SKIP = ("params", "states", "grads", "need_input_grad")


def _flatten(struct: Any, what: str) -> Tuple[List[KerasTensor], Optional[List[str]]]:
    """(tensors, dict keys or None) of a tensor, a list/tuple or a dict of them
    (a dict in sorted key order, as Keras's tree.flatten)."""
    if isinstance(struct, dict):
        keys = sorted(struct)
        items = [struct[k] for k in keys]
    elif isinstance(struct, (list, tuple)):
        keys, items = None, list(struct)
    else:
        keys, items = None, [struct]
    if not items:
        raise ValueError(f"a Model needs at least one of its {what}")
    for t in items:
        if not isinstance(t, KerasTensor) or t._history is None:
            raise ValueError(f"All {what} of a Model must be symbolic tensors (ccnn.Input or "
                             f"the output of a layer called on one); got "
                             f"{type(t).__name__}")
    return items, keys


def _state_owners(layer: Any) -> List[Any]:
    """The objects whose __dict__ a forward of `layer` writes what its backward
    needs: the layer, and for a nested model every model and layer inside."""
    if not isinstance(layer, ModelLayer):
        return [layer]
    return [layer] + [o for inner in layer.layers for o in _state_owners(inner)]


class _Entry:
    """One node of the execution plan: the step that runs it (the layer, or
    a fused loss head), the slots of its input and output values."""
    step: Any
    __slots__ = ("node", "layer", "step", "ins", "out", "multi", "shared", "cache",
                 "need_input", "run_backward", "need_input_x", "run_backward_x")

    def __init__(self, node: Node, ins: List[int], out: int, shared: bool):
        self.node, self.layer, self.step = node, node.layer, node.layer
        self.ins, self.out, self.multi, self.shared = ins, out, node.multi, shared
        self.cache: Dict[str, Any] = {}
        self.need_input = True
        self.run_backward = True
        #: as need_input / run_backward when the model's inputs need a gradient
        #: too (the model a layer of another, ccnn.models.nested)
        self.need_input_x = True
        self.run_backward_x = True


class Model(Trainer):
    """A functional model: Model(inputs, outputs, name) with inputs and outputs
    a KerasTensor, a list or a dict of them, as keras.Model."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        subclassed = inputs is None and outputs is None and type(self).call is not Model.call
        if not subclassed and (inputs is None or outputs is None):
            raise ValueError("Model needs inputs and outputs: Model(inputs, outputs), or a "
                             "subclass of Model that defines call()")
        self.name = name or unique_name("Functional" if not subclassed else type(self).__name__)
        self.built = False
        self.layers = []
        if not subclassed:
            self._init_graph(inputs, outputs)
        self._init_training_state()

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs, self._input_keys = _flatten(inputs, "inputs")
        self.outputs, self._output_keys = _flatten(outputs, "outputs")
        for t in self.inputs:
            if not t.is_input:
                raise ValueError(f"Model inputs must come from ccnn.Input; {t.name} is the "
                                 f"output of layer {t._history[0].name!r}")   # type: ignore
        self._build_graph()
        self.built = True
        self.input_shape = self.inputs[0].shape if len(self.inputs) == 1 else \
            [t.shape for t in self.inputs]          # type: ignore[assignment]

    # ------------------------------------------------------------ subclassed models
    def call(self, inputs: Any, training: bool = False) -> Any:
        """A subclass's forward pass on symbolic tensors (Keras's Model.call):
        ccnn traces it once, on the first data or build(), into a graph."""
        raise NotImplementedError

    def build(self, input_shape: Any) -> None:
        """Trace a subclass's call() on Inputs of `input_shape` (batch axis
        included; a list of shapes for several inputs)."""
        if self.built:
            return
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, list) and \
            input_shape and isinstance(input_shape[0], (tuple, list)) else [tuple(input_shape)]
        tracked = self._tracked_layers()
        dtype = tracked[0].dtype if tracked else "float32"
        inputs = [Input(batch_shape=s, dtype=dtype) for s in shapes]
        arg = inputs[0] if len(inputs) == 1 else inputs
        try:
            params = inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            params = {}                                  # type: ignore[assignment]
        outputs = self.call(arg, training=False) if "training" in params else self.call(arg)
        if not isinstance(outputs, (KerasTensor, list, tuple, dict)):
            raise TypeError(f"{type(self).__name__}.call must use ccnn layers only (it is "
                            f"traced on symbolic tensors); it returned "
                            f"{type(outputs).__name__}")
        self._init_graph(arg, outputs)
        in_graph = [layer for layer in self.layers if not isinstance(layer, InputLayer)]
        ids = {id(layer) for layer in in_graph}
        self.layers = [layer for layer in tracked if id(layer) in ids] + \
            [layer for layer in in_graph if all(layer is not t for t in tracked)]
        self._replan()
        pending = self.__dict__.pop("_pending_compile", None)
        if pending is not None:
            self.compile(*pending[:4], weighted_metrics=pending[4],
                         steps_per_execution=pending[5], run_eagerly=pending[6])

    def _tracked_layers(self) -> List[Layer]:
        """The layers set as attributes (or in lists), in assignment order (Keras's)."""
        out: List[Layer] = []
        for v in self.__dict__.values():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                if isinstance(item, Layer) and all(item is not o for o in out):
                    out.append(item)
        return out

    def _build_from_data(self, x: Any) -> None:
        if isinstance(x, dict):
            raise ValueError("a subclassed model takes an array or a list of arrays, not "
                             "a dict")
        arrays = list(x) if isinstance(x, (list, tuple)) and x and \
            all(isinstance(a, np.ndarray) for a in x) else [x]
        shapes = [(None,) + np.shape(a)[1:] for a in arrays]
        self.build(shapes if len(arrays) > 1 else shapes[0])

    # ------------------------------------------------------------ the graph
    @property
    def input_names(self) -> List[str]:
        return list(self._input_keys) if self._input_keys is not None else \
            [t._history[0].name for t in self.inputs]     # type: ignore[index]

    @property
    def output_names(self) -> List[str]:
        return list(self._output_keys) if self._output_keys is not None else \
            [t._history[0].name for t in self.outputs]    # type: ignore[index]

    @property
    def output_shape(self) -> Any:      # type: ignore[override]
        return self.outputs[0].shape if len(self.outputs) == 1 else \
            [t.shape for t in self.outputs]

    def _build_graph(self) -> None:
        """Keras's map_graph: the nodes from the inputs to the outputs, the
        layers ordered by depth, and the checks (cycles, disconnected graphs,
        unique names)."""
        input_ids = {id(t) for t in self.inputs}
        finished: set = set()
        in_progress: set = set()
        order: List[Node] = []
        layer_index: Dict[int, int] = {}

        def visit(tensor: KerasTensor) -> None:
            layer, node, _ = tensor._history     # type: ignore[misc]
            if id(node) in finished:
                return
            if id(node) in in_progress:
                raise ValueError(f"Tensor {tensor.name} from layer {layer.name!r} is part of a "
                                 f"cycle.")
            layer_index.setdefault(id(layer), len(layer_index))
            in_progress.add(id(node))
            for t in node.inputs:
                visit(t)
            finished.add(id(node))
            in_progress.discard(id(node))
            order.append(node)

        for t in self.outputs:
            visit(t)
        node_depth: Dict[int, int] = {}
        layer_depth: Dict[int, int] = {}
        in_graph = {id(n) for n in order}
        for node in reversed(order):
            depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for parent in node.parents:
                if id(parent) in in_graph:
                    node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        # checks: every Input the outputs need is a model input, every model input is used
        seen_inputs = {id(n.outputs[0]) for n in order if n.is_input}
        for node in order:
            if node.is_input and id(node.outputs[0]) not in input_ids:
                users = [n.layer.name for n in order if any(t is node.outputs[0]
                                                           for t in n.inputs)]
                raise ValueError(f"Graph disconnected: cannot obtain value for tensor "
                                 f"{node.outputs[0].name} (Input {node.layer.name!r}) at layer "
                                 f"{users[0] if users else node.layer.name!r}: it is not one "
                                 f"of the model's inputs {[t.name for t in self.inputs]}")
        for t in self.inputs:
            if id(t) not in seen_inputs:
                raise ValueError(f"Input {t.name!r} of the model is not connected to its "
                                 f"outputs (no output depends on it)")
        layers: Dict[int, Layer] = {id(n.layer): n.layer for n in order}
        by_depth = sorted(layers, key=lambda i: (-layer_depth[i], layer_index[i]))
        self.layers = [layers[i] for i in by_depth]
        names = [layer.name for layer in self.layers]
        for n in names:
            if names.count(n) != 1:
                raise ValueError(f'The name "{n}" is used {names.count(n)} times in the '
                                 f'model. All layer names should be unique.')
        self._nodes = order                # topological: every node after its inputs
        self._node_ids = {id(n) for n in order}

    def _node_index(self, node: Node) -> int:
        """The node's index among its layer's nodes that are in this model (Keras's
        reindexing for get_config)."""
        own = [n for n in inbound_nodes(node.layer) if id(n) in self._node_ids]
        return next(i for i, n in enumerate(own) if n is node)

    # ------------------------------------------------------------ the plan
    def _replan(self) -> None:
        """The execution plan: one entry per node, value slots, fused heads."""
        slots: Dict[int, int] = {}

        def slot(t: KerasTensor) -> int:
            return slots.setdefault(id(t), len(slots))
        for t in self.inputs:
            slot(t)
        count: Dict[int, int] = {}
        for node in self._nodes:
            count[id(node.layer)] = count.get(id(node.layer), 0) + 1
        entries = [_Entry(node, [slot(t) for t in node.inputs], slot(node.outputs[0]),
                          count[id(node.layer)] > 1)
                   for node in self._nodes if not node.is_input]
        consumers: Dict[int, int] = {}
        for e in entries:
            for s in e.ins:
                consumers[s] = consumers.get(s, 0) + 1
        out_slots = [slots[id(t)] for t in self.outputs]
        # which values carry a gradient (something with weights upstream)
        needs = [False] * len(slots)
        for e in entries:
            upstream = any(needs[s] for s in e.ins)
            e.need_input = upstream
            e.run_backward = upstream or bool(e.layer.params)
            needs[e.out] = e.run_backward
        needs = [True] * len(self.inputs) + [False] * (len(slots) - len(self.inputs))
        for e in entries:
            upstream = any(needs[s] for s in e.ins)
            e.need_input_x = upstream
            e.run_backward_x = upstream or bool(e.layer.params)
            needs[e.out] = e.run_backward_x
        heads: List[Any] = [None] * len(self.outputs)
        losses = getattr(self, "_losses", None) or [None] * len(self.outputs)
        for k, (t, loss) in enumerate(zip(self.outputs, losses)):
            if loss is None:
                continue
            heads[k] = LossHead(loss)
            found = next((e for e in entries if e.out == out_slots[k]), None)
            if found is None:
                continue
            e = found
            if e.shared or consumers.get(e.out, 0) or out_slots.count(e.out) > 1:
                continue
            for cls in (SoftmaxCrossEntropy, SigmoidBinaryCrossentropy):
                if cls.fits(e.layer, loss):
                    heads[k] = e.step = cls(e.layer, loss)
                    break
        self._gplan: Any = (entries, heads, out_slots, len(slots), tuple(losses))

    def _execution_plan(self) -> Any:
        plan = self.__dict__.get("_gplan")
        if plan is None or plan[4] != tuple(getattr(self, "_losses", None)
                                            or [None] * len(self.outputs)):
            self._replan()
            plan = self.__dict__.get("_gplan")
        return plan

    # ------------------------------------------------------------ running
    def _forward(self, x: Any, training: bool, fused: bool = True) -> Any:
        """The outputs for x; fused=False runs every layer itself (no fused
        loss head: the model as a layer of another)."""
        entries, _, out_slots, n, _ = self._execution_plan()
        xs = list(x) if isinstance(x, Arrays) else [x]
        vals: List[Any] = [None] * n
        vals[:len(xs)] = xs
        self._activity: List[Tuple[Any, np.ndarray]] = []
        for e in entries:
            arg = [vals[s] for s in e.ins] if e.multi else vals[e.ins[0]]
            if e.shared:
                owners = _state_owners(e.layer)
                befores = [dict(o.__dict__) for o in owners]
            out = (e.step if fused else e.layer).forward(arg, training)
            if e.shared:
                e.cache = {id(o): (o, {k: v for k, v in o.__dict__.items()
                                       if k not in _SKIP and before.get(k, before) is not v})
                           for o, before in zip(owners, befores)}
            vals[e.out] = out
            if e.layer.activity_regularizer is not None:
                self._activity.append((e, out))
        outs = [vals[s] for s in out_slots]
        return outs[0] if len(outs) == 1 else Arrays(outs)

    def _backward(self, douts: List[Optional[np.ndarray]], fused: bool = True,
                  input_grads: bool = False) -> List[Optional[np.ndarray]]:
        """Backward through the plan from d(loss)/d(each output) (None: no
        gradient); fills every layer's grads (summed over a shared layer's nodes).
        fused=False runs every layer's own backward; input_grads=True returns
        d(loss)/d(each model input) (else [None, ...])."""
        entries, _, out_slots, n, _ = self._execution_plan()
        dvals: List[Optional[np.ndarray]] = [None] * n
        for s, d in zip(out_slots, douts):
            if d is not None:
                dvals[s] = d if dvals[s] is None else dvals[s] + d
        sums: Dict[int, Dict[str, np.ndarray]] = {}
        for e in reversed(entries):
            d = dvals[e.out]
            need_input = e.need_input_x if input_grads else e.need_input
            if d is None or not (e.run_backward_x if input_grads else e.run_backward):
                continue
            layer = e.layer
            if e.shared:
                for owner, kept in e.cache.values():
                    owner.__dict__.update(kept)
            layer.need_input_grad = need_input
            try:
                dx = (e.step if fused else layer).backward(self._activity_grad(e, d))
            finally:
                layer.need_input_grad = True
            if layer.params:
                acc = sums.get(id(layer))
                if acc is None:
                    sums[id(layer)] = {k: (g.copy() if e.shared else g)
                                       for k, g in layer.grads.items()}
                else:
                    for k, g in layer.grads.items():
                        acc[k] = acc[k] + g
            if not need_input or dx is None:
                continue
            for s, g in zip(e.ins, dx if e.multi else [dx]):
                if g is not None:
                    dvals[s] = g if dvals[s] is None else dvals[s] + g
        for layer in self.layers:
            if layer.params:
                got = sums.get(id(layer))
                layer.grads = got if got is not None else \
                    {k: np.zeros_like(p) for k, p in layer.params.items()}
            layer.add_regularization_grads()
        return [dvals[i] if input_grads else None for i in range(len(self.inputs))]

    # ------------------------------------------------------------ as a layer
    # (ccnn.models.nested): one input, one output, every layer itself
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The model's output for x as a layer of another model."""
        return self._forward(x, training, fused=False)

    def backward(self, dout: np.ndarray) -> Any:
        """d(loss)/d(input) (None when need_input_grad is off); fills every
        inner layer's grads."""
        need = bool(self.need_input_grad)
        return self._backward([dout], fused=False, input_grads=need)[0]

    def _output_losses(self, out: Any, y: Any, sw: Optional[np.ndarray],
                       gradients: bool) -> Tuple[float, List[Optional[np.ndarray]]]:
        """(weighted total loss, d(loss)/d(each output)); keeps each output's
        loss in self._last_losses for the logs."""
        _, heads, _, _, _ = self._execution_plan()
        outs = list(out) if isinstance(out, Arrays) else [out]
        ys = list(y) if isinstance(y, Arrays) else [y]
        total = 0.0
        douts: List[Optional[np.ndarray]] = []
        per: List[Optional[float]] = []
        for k, (o, t, head) in enumerate(zip(outs, ys, heads)):
            if head is None:
                douts.append(None)
                per.append(None)
                continue
            # evaluate's (gradients False): the loss alone, and with sample
            # weights not even that (_reduced takes the per-sample losses)
            loss, d = (head.loss(o, t) if gradients else
                       (head.loss_value(o, t) if sw is None else 0.0, None))
            loss, d = self._reduced(o, t, loss, d, sw, head=head, lossfn=self._losses[k])
            w = self._loss_weights[k]
            total += w * loss
            per.append(loss)
            douts.append(None if d is None else (d * d.dtype.type(w) if w != 1.0 else d))
        self._last_losses = per
        return total, douts

    def _regularization_loss(self) -> float:
        total = sum(layer.regularization_loss() for layer in self.layers)
        for e, out in self.__dict__.get("_activity", ()):
            total += e.layer.activity_regularizer(out) / max(1, out.shape[0])
        return float(total)

    def _activity_grad(self, step: Any, d: np.ndarray) -> np.ndarray:
        """d plus the gradient of the activity penalty of entry `step`'s output."""
        for e, out in self.__dict__.get("_activity", ()):
            if e is step:
                reg = e.layer.activity_regularizer
                return d + reg.gradient(out) / max(1, out.shape[0])
        return d

    def _loss_and_backward(self, out: Any, y: Any,
                           sw: Optional[np.ndarray] = None) -> float:
        loss, douts = self._output_losses(out, y, sw, True)
        if self.loss is None:   # _regularization_only: from zero at the outputs, so
            # that the activity penalties' gradients reach the layers before them
            douts = [np.zeros_like(o) for o in (list(out) if isinstance(out, Arrays) else [out])]
        self._backward(douts)
        return loss + self._regularization_loss()

    def _batch_loss(self, out: Any, y: Any, sw: Optional[np.ndarray]) -> float:
        return self._output_losses(out, y, sw, False)[0] + self._regularization_loss()

    # ------------------------------------------------------------ compile
    def _per_output(self, value: Any, what: str, default: Any) -> List[Any]:
        """`value` (compile's loss / metrics / loss_weights) as one entry per
        output: a dict keyed by output names, a list with one entry per
        output, or (one output, or a loss) one value for all."""
        names = self.output_names
        n = len(names)
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"Expected keys {names} in {what} dict, but found "
                                 f"{what}.keys()={list(value)}")
            return [value.get(k, default) for k in names]
        metrics = what in ("metrics", "weighted_metrics")
        if metrics and isinstance(value, (list, tuple)) and (n == 1 or not value):
            return [list(value)] * n
        if metrics and isinstance(value, (list, tuple)) and not all(
                v is None or isinstance(v, (list, tuple)) for v in value):
            raise ValueError(f"Invalid `{what}`: for a model with several outputs {names} "
                             f"give a dict keyed by output name or a list with one list per "
                             f"output. Received: {what}={value!r}")
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"{what} must have one entry per output ({n}: {names}), "
                                 f"got {len(value)}")
            return list(value)
        if metrics and n > 1 and value:
            raise ValueError(f"Invalid `{what}`: for a model with several outputs {names} "
                             f"give a dict keyed by output name or a list with one list per "
                             f"output. Received: {what}={value!r}")
        return [value] * n

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Any = None, loss_weights: Any = None, *,
                weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """As Sequential.compile, with loss, metrics, weighted_metrics and
        loss_weights given per output (Keras's rules): one value (a loss for
        every output), a list with one entry per output, or a dict keyed by
        output names (an output left out has no loss).  The loss is the
        weighted sum of the outputs'."""
        spe = _steps_per_execution(steps_per_execution)
        eager, jit = _execution_options(run_eagerly, jit_compile, auto_scale_loss)
        check_loss_weights_kind(loss_weights)
        optimizer = optimizers_mod.get(optimizer)
        if not self.built:        # a subclassed model: compiled when traced
            self.optimizer = optimizer
            self.steps_per_execution = spe
            self.run_eagerly, self.jit_compile = eager, jit
            self._pending_compile = (optimizer, loss, metrics, loss_weights,
                                     weighted_metrics, spe, eager)
            self.compiled = True
            return
        losses = [None if v is None else losses_mod.get(v)
                  for v in self._per_output(loss, "loss", None)]
        if loss is not None and all(v is None for v in losses):
            raise ValueError("compile: no output has a loss")
        for lossfn in losses:
            if lossfn is not None and lossfn.reduction in (None, "none"):
                raise ValueError(f"loss reduction={lossfn.reduction!r} gives one loss per "
                                 f"sample; a model trains on one number")
        weights = self._per_output(1.0 if loss_weights is None else loss_weights,
                                   "loss_weights", 1.0)
        weights = [finite_loss_weight(w) for w in weights]
        ids, wids = (self._metric_ids_per_output(m, what) for m, what in
                     ((metrics, "metrics"), (weighted_metrics, "weighted_metrics")))
        self.optimizer = optimizer
        self._losses = losses
        self.loss = next((v for v in losses if v is not None), None)   # None: fit raises
        self._loss_weights = weights
        self._metric_ids_out = ids
        self._weighted_metric_ids_out = wids
        self._metric_objs = None
        self.metrics = [entry[0] for entry in self._named_metrics()]    # checks every id
        self._metric_objs = None
        self.steps_per_execution = spe
        self.run_eagerly, self.jit_compile = eager, jit
        self.compiled = True
        self._replan()

    def _metric_ids_per_output(self, value: Any, what: str) -> List[List[Any]]:
        """compile's metrics / weighted_metrics as one list of ids per output."""
        if value is not None and not isinstance(value, (list, tuple, dict)):
            raise TypeError(f"{what} must be a list such as ['accuracy'] (or a dict keyed by "
                            f"output name), got {value!r}")
        return [[] if m is None else ([m] if isinstance(m, str) or not isinstance(
            m, (list, tuple)) else list(m)) for m in self._per_output(value or [], what, [])]

    def _named_metrics(self) -> List[Tuple[str, Any, int, str]]:
        """(log name, metric, output index, kind) of the per-output losses
        (several outputs; kind "loss"), then of every output's metrics (kind
        "metric"), then its weighted metrics (kind "weighted"), named as
        Keras's CompileMetrics names them (trainer.metric_log_names)."""
        names = self.output_names
        multi = len(self.outputs) > 1
        out: List[Tuple[str, Any, int, str]] = []
        if multi:
            out += [(f"{names[k]}_loss", metrics_mod.Mean(name=f"{names[k]}_loss"), k, "loss")
                    for k, v in enumerate(self._losses) if v is not None]
        made = []
        for kind, per in (("metric", self._metric_ids_out),
                          ("weighted", getattr(self, "_weighted_metric_ids_out", []))):
            for k, ids in enumerate(per):
                shape = self.outputs[k].shape
                for m in ids:
                    obj = metrics_mod.get_metric(
                        m, shape if shape[-1] is not None else (None, 2),
                        loss=self._losses[k] if self.loss is not None else resolving_loss(None))
                    made.append((obj, m, k, kind))
        log_names = metric_log_names([(names[k] if multi else None, obj.name, kind == "weighted")
                                      for obj, _, k, kind in made])
        for (obj, ident, k, kind), name in zip(made, log_names):
            if obj is not ident and not multi:    # an object made here: named as it is logged
                obj.name = name
            out.append((name, obj, k, kind))
        return out

    def _compiled_metrics(self, out_shape: Any = None) -> List[Any]:
        objs = getattr(self, "_metric_objs", None)
        if objs is None:
            objs = self._named_metrics()
            self._metric_objs = objs
        return objs

    def _reset_metrics(self) -> List[Any]:
        objs = self._compiled_metrics()
        for _, m, _, _ in objs:
            m.reset_state()
        return objs

    def _update_metrics(self, objs: List[Any], out: Any, y: Any,
                        sw: Optional[np.ndarray] = None) -> None:
        outs = list(out) if isinstance(out, Arrays) else [out]
        ys = list(y) if isinstance(y, Arrays) else [y]
        losses = getattr(self, "_last_losses", None)
        n = outs[0].shape[0]
        for _, m, k, kind in objs:
            if kind == "loss":
                if losses is not None and losses[k] is not None:
                    m.update_state(np.full(n, losses[k]))
            elif kind == "weighted" and sw is not None:
                m.update_state(ys[k], outs[k], sample_weight=sw)
            else:
                m.update_state(ys[k], outs[k])

    def _metric_logs(self, logs: Dict[str, Any], objs: List[Any],
                     prefix: str = "") -> Dict[str, Any]:
        for name, m, _, _ in objs:
            logs[prefix + name] = log_value(m.result())
        return logs

    # ------------------------------------------------------------ data
    def _structured(self, data: Any, keys: List[str], what: str, name: str,
                    optional: Sequence[bool] = ()) -> List[Any]:
        """`data` (an array, a list or a dict keyed by `keys`) as one entry per key."""
        n = len(keys)
        if isinstance(data, dict):
            unknown = [k for k in data if k not in keys]
            if unknown:
                raise ValueError(f"{name}: unknown {what} name {unknown[0]!r}; the model's "
                                 f"{what}s are {keys}")
            missing = [k for i, k in enumerate(keys) if k not in data
                       and not (optional and optional[i])]
            if missing:
                raise ValueError(f"{name}: no data for {what} {missing[0]!r}; the model's "
                                 f"{what}s are {keys}")
            return [data.get(k) for k in keys]
        if isinstance(data, (list, tuple)) and (n > 1 or (
                len(data) == 1 and isinstance(data[0], np.ndarray))):
            if len(data) != n:
                raise ValueError(f"{name}: the model expects {n} {what}(s) {keys}, but "
                                 f"received {len(data)} arrays")
            return list(data)
        if n > 1:
            raise ValueError(f"{name}: the model expects {n} {what}s {keys} (a list or a "
                             f"dict of arrays), but received one array")
        return [data]

    def _prepare_x(self, x: Any, name: str = "x") -> Any:
        if x is None:
            raise ValueError(f"{name} is required")
        if not self.built:
            self._build_from_data(x)
        arrays = self._structured(x, self.input_names, "input", name)
        keys = self.input_names
        out = [fit_input(_real_array(a, f"{name}[{k!r}]" if len(keys) > 1 else name),
                         t.shape, np.dtype(t.dtype), f"{name}[{k!r}]" if len(keys) > 1
                         else name)
               for a, t, k in zip(arrays, self.inputs, keys)]
        sizes = {a.shape[0] for a in out}
        if len(sizes) > 1:
            raise ValueError(f"{name}: the inputs have different numbers of samples "
                             f"{[a.shape[0] for a in out]}")
        return out[0] if len(out) == 1 else Arrays(out)

    def _prepare_y(self, y: Any, n: int, name: str = "y") -> Any:
        self._require_compiled()
        keys = self.output_names
        if self._regularization_only():     # no loss reads the targets (metrics may)
            ts = [None] * len(keys) if y is None else \
                self._structured(y, keys, "output", name, [True] * len(keys))
            ys = [np.zeros((n, 0)) if t is None else np.asarray(t, dtype=self.outputs[k].dtype)
                  for k, t in enumerate(ts)]
            return ys[0] if len(ys) == 1 else Arrays(ys)
        if y is None:
            raise ValueError(f"{name} is required: the compiled loss compares the model's "
                             f"outputs with these targets")
        ys = self._structured(y, keys, "output", name, [v is None for v in self._losses])
        out = []
        for k, (t, lossfn, key) in enumerate(zip(ys, self._losses, keys)):
            if lossfn is None:
                out.append(np.zeros((n, 0)))
                continue
            what = f"{name}[{key!r}]" if len(keys) > 1 else name
            if t is None:
                raise ValueError(f"{what} is required")
            classes = self.outputs[k].shape[-1]
            t = lossfn.check(t, n, int(classes) if classes is not None else 1)
            if not lossfn.sparse:
                t = np.asarray(t, dtype=self.outputs[k].dtype)
            out.append(t)
        return out[0] if len(out) == 1 else Arrays(out)

    def _prepare_sw(self, sample_weight: Any, class_weight: Any, y: Any,
                    name: str) -> Optional[np.ndarray]:
        if isinstance(y, Arrays) and class_weight is not None:
            raise ValueError("class_weight is only supported for models with a single output")
        if isinstance(sample_weight, (dict, list, tuple)) and len(self.outputs) > 1:
            raise ValueError(f"{name}: ccnn takes one sample weight array for all outputs "
                             f"(per-output sample weights are not supported)")
        return super()._prepare_sw(sample_weight, class_weight, y, name)

    def _concat_outputs(self, outs: List[Any]) -> Any:
        if isinstance(outs[0], Arrays):
            return self._pack([np.concatenate([o[k] for o in outs], axis=0)
                               for k in range(len(self.outputs))])
        return np.concatenate(outs, axis=0)

    def _pack(self, outs: List[np.ndarray]) -> Any:
        """The outputs in the structure of the model's outputs."""
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        if isinstance(self._outputs_struct, (list, tuple)):
            return list(outs)
        return outs[0]

    def predict_on_batch(self, x: Any) -> Any:
        out = inference_graph.predict_fast_graph(self, x)
        if out is not None:
            return self._pack([out])
        x = self._prepare_x(x)
        out = inference.predict(self, x)           # the inference plan, or None
        if out is not None:
            return self._pack([out])
        out = self._forward(x, training=False)
        return self._pack([np.array(o) for o in (out if isinstance(out, Arrays) else [out])])

    def __call__(self, x: Any, training: bool = False) -> Any:
        if is_symbolic_arg(x):
            return self._symbolic(x)
        if training is False:
            out = inference_graph.predict_fast_graph(self, x)
            if out is not None:
                return self._pack([out])
        x = self._prepare_x(x)
        if training is False:
            out = inference.predict(self, x)
            if out is not None:
                return self._pack([out])
        out = self._forward(x, training)
        return self._pack(list(out) if isinstance(out, Arrays) else [out])

    def predict(self, x: Any, batch_size: Optional[int] = 32, verbose: Any = 0,
                steps: Optional[int] = None, callbacks: Any = None) -> Any:
        """The model's outputs, batch by batch (inference mode)."""
        _verbose(verbose)          # checked on the fast path too
        if callbacks is None and steps is None:
            out = inference_graph.predict_fast_graph(self, x,
                                                     32 if batch_size is None else batch_size)
            if out is not None:
                return out
        return super().predict(x, batch_size, verbose, steps, callbacks)

    # ------------------------------------------------------------ structure
    # Sequential's: they only need self.layers
    weights = _S.weights
    trainable_weights = _S.trainable_weights
    count_params = _S.count_params
    get_weights = _S.get_weights
    set_weights = _S.set_weights
    get_layer = _S.get_layer
    _require_built = _S._require_built
    _named_weights = _S._named_weights
    _params_in_order = _S._params_in_order
    save_weights = _S.save_weights
    _weights_file_arrays = _S._weights_file_arrays
    load_weights = _S.load_weights
    export = _S.export

    def summary(self, print_fn: Any = None) -> None:
        """Keras's table: layer (type), output shape, parameters, connected to."""
        print_fn = print_fn or print
        rows = []
        for layer in self.layers:
            nodes = [n for n in inbound_nodes(layer) if id(n) in self._node_ids]
            conn = [f"{t._history[0].name}[{self._node_index(t._history[1])}][0]"  # type: ignore
                    for n in nodes for t in n.inputs]
            shape = nodes[0].outputs[0].shape if nodes else layer.output_shape
            rows.append((f"{layer.name} ({keras_class_name(layer)})", str(shape),
                         f"{layer.count_params():,}", conn or ["-"]))
        w1 = max([29] + [len(r[0]) + 2 for r in rows])
        w2 = max([26] + [len(r[1]) + 2 for r in rows])
        w3 = 12
        w4 = max([20] + [len(c) + 2 for r in rows for c in r[3]])
        width = w1 + w2 + w3 + w4
        total = self.count_params()
        trainable = trainable_count(self.layers)
        lines = [f'Model: "{self.name}"', "_" * width,
                 f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}{'Param #':<{w3}}Connected to",
                 "=" * width]
        for i, (a, b, c, conn) in enumerate(rows):
            lines.append(f"{a:<{w1}}{b:<{w2}}{c:<{w3}}{conn[0]}" + ("," if len(conn) > 1
                                                                    else ""))
            for j, more in enumerate(conn[1:], 1):
                lines.append(" " * (w1 + w2 + w3) + more + ("," if j < len(conn) - 1 else ""))
            lines.append("_" * width if i < len(rows) - 1 else "=" * width)
        lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {total - trainable:,}", "_" * width]
        for line in lines:
            print_fn(line)

    # ------------------------------------------------------------ config
    def _tensor_config(self, t: KerasTensor) -> List[Any]:
        layer, node, index = t._history       # type: ignore[misc]
        return [layer.name, self._node_index(node), index]

    def _struct_config(self, struct: Any) -> Any:
        if isinstance(struct, dict):
            return {k: self._tensor_config(struct[k]) for k in sorted(struct)}
        if isinstance(struct, (list, tuple)):
            return [self._tensor_config(t) for t in struct]
        return self._tensor_config(struct)

    def get_config(self) -> dict:
        """Keras 3's functional config: layers with their inbound_nodes
        (args: the input tensors' shapes, dtypes and keras_history), input_layers,
        output_layers."""
        layers = []
        for layer in self.layers:
            nodes: List[dict] = []
            for node in inbound_nodes(layer):
                if id(node) not in self._node_ids or node.is_input:
                    continue
                args = [{"class_name": "__keras_tensor__",
                         "config": {"shape": list(t.shape), "dtype": t.dtype,
                                    "keras_history": self._tensor_config(t)}}
                        for t in node.inputs]
                nodes.append({"args": [args] if node.multi else args, "kwargs": {}})
            entry: Dict[str, Any] = {"module": "keras.layers",
                                     "class_name": keras_class_name(layer),
                                     "config": layer.get_config(), "registered_name": None}
            if not isinstance(layer, InputLayer):
                shape = layer.input_shape
                entry["build_config"] = {"input_shape": [list(s) for s in shape]
                                         if isinstance(shape, list) else
                                         list(shape or ())}
            entry["name"] = layer.name
            entry["inbound_nodes"] = nodes
            layers.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": self._struct_config(self._inputs_struct),
                "output_layers": self._struct_config(self._outputs_struct)}

    @classmethod
    def from_config(cls, config: dict) -> "Model":
        """A new, untrained model with the architecture of get_config() (Keras 3's
        functional config)."""
        from ..layers import get as layer_class
        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError("from_config needs a functional model config (a dict with "
                             "'layers', 'input_layers', 'output_layers')")
        created: Dict[str, Layer] = {}
        made: Dict[Tuple[str, int], KerasTensor] = {}
        pending: List[Tuple[Layer, List[Any]]] = []
        for d in config["layers"]:
            name = str(d.get("name") or d["config"].get("name"))
            if d["class_name"] == "InputLayer":
                layer: Layer = InputLayer.from_config(d["config"])
                made[(name, 0)] = layer.output_tensor      # type: ignore[attr-defined]
            else:
                conf = dict(d["config"])
                conf.pop("batch_input_shape", None)
                layer = layer_class(d["class_name"]).from_config(conf)
                pending.append((layer, list(d.get("inbound_nodes", []))))
            created[name] = layer

        def tensor(c: Any) -> Optional[KerasTensor]:
            if isinstance(c, dict):
                c = c["config"]["keras_history"]
            return made.get((c[0], int(c[1])))

        progress = True
        while pending and progress:
            progress = False
            for item in list(pending):
                layer, nodes = item
                while nodes:
                    args = nodes[0]["args"]
                    multi = len(args) == 1 and isinstance(args[0], list)
                    refs = args[0] if multi else args[:1]
                    ts = [tensor(c) for c in refs]
                    if any(t is None for t in ts):
                        break
                    out = layer(ts if multi else ts[0])
                    lname = str(layer.name)
                    made[(lname, len([k for k in made if k[0] == lname]))] = out
                    nodes.pop(0)
                    progress = True
                if not nodes:
                    pending.remove(item)
        if pending:
            raise ValueError(f"from_config: cannot connect layers "
                             f"{[layer.name for layer, _ in pending]} (their inputs are "
                             f"never made)")

        def struct(c: Any) -> Any:
            if isinstance(c, dict):
                return {k: struct(v) for k, v in c.items()}
            if isinstance(c, list) and c and isinstance(c[0], list):
                return [struct(v) for v in c]
            t = tensor(c)
            if t is None:
                raise ValueError(f"from_config: unknown tensor {c!r}")
            return t
        model = cls(struct(config["input_layers"]), struct(config["output_layers"]),
                    name=config.get("name"))
        if config.get("trainable") is False:
            model.trainable = False
        return model

    def __getstate__(self) -> dict:
        """The model without its execution plan, its layers first: pickled from
        the inputs on, each layer's links point back to ones already pickled
        (the recursion stays shallow however deep the graph)."""
        state = {"layers": self.layers, "_nodes": self._nodes}
        state.update((k, v) for k, v in self.__dict__.items()
                     if k not in ("_gplan", "_activity", "layers", "_nodes"))
        return state

    def __repr__(self) -> str:
        return f"<Model name={self.name!r} layers={len(self.layers)}>"
