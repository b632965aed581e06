"""The inference plan of a functional Model: its graph as one C call.

inference.py compiles a Sequential model's chain of layers; this compiles a
functional ccnn.models.Model with one input and one output, node by node in
the graph's topological order (Model._nodes), into the same op records
(csrc/kernels/plan.h).  Every node's output is a plan value; a node of one
of the layers the Sequential plan supports is compiled by the same builder
methods, and the merge layers are ops of their own:

    Add, Subtract, Multiply, Average, Maximum, Minimum (inputs of one shape,
        no broadcasting): CCNN_PLAN_MERGE, pairwise from the first input on
        as the layer's reduce (csrc/kernels/merge.c: the same IEEE operation
        per element as the layer's NumPy ufunc, so bit-identical); a ReLU
        (ReLU(), Activation('relu')) after it is fused into the same loop
    Concatenate on the channel axis (or axis 1 of a 2-D tensor):
        CCNN_PLAN_CONCAT, one row copy per input into the output

A fusion (a BatchNormalization folded into its conv, an activation or a
pool fused into its producer) happens only where the producer's value has
that one consumer and is not the model's output.  Values get buffers by
liveness: a buffer is reused once the last op reading its value has run,
so a value read by two consumers stays alive until both have run;
activations, softmax, BatchNormalization and merges run in place on an
operand that dies there.  The model's input is never written.

The plan is cached per batch shape and dtype (inference.PlanCache) for the
model's node list; a weight array replaced by another recompiles, weights
changed in place are always seen (as inference.py's).  A model with several
inputs or outputs, a layer the plan does not know, broadcasting merges, or
a Concatenate along another axis runs the per-layer path.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import inference as inf
from .inference import (ACT, ACT_NONE, ACT_RELU, AVGPOOL, BN, F_ACT, F_C, F_H, F_N, F_W, GAP,
                        GMP, IDENTITY, MAXPOOL, SOFTMAX, Plan, PlanCache, _Builder, _Op)
from .plan_chain import Unsupported, Value, eager
from ..layers import (ELU, Activation, Add, AveragePooling2D, BatchNormalization, Concatenate,
                      Conv2D, Dense, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, Layer,
                      LeakyReLU, MaxPooling2D, ReLU, Softmax)
from ..layers.merging import Average, Maximum, Minimum, Multiply, Subtract

from .._plan import PLAN_CONCAT as CONCAT, PLAN_MERGE as MERGE    # plan.h's graph ops

# merge.h's kinds
_KINDS = {Add: 0, Subtract: 1, Multiply: 2, Average: 3, Maximum: 4, Minimum: 5}
_NAMES = {Add: "add", Subtract: "subtract", Multiply: "multiply", Average: "average",
          Maximum: "maximum", Minimum: "minimum"}

#: the layers the Sequential builder compiles, by their builder method
_LAYER_OPS: Dict[type, Callable[[Any, Any], None]] = {
    Conv2D: lambda b, layer: b.conv(layer),
    Dense: lambda b, layer: b.dense(layer),
    BatchNormalization: lambda b, layer: b.batchnorm(layer),
    MaxPooling2D: lambda b, layer: b.pool(layer, MAXPOOL),
    AveragePooling2D: lambda b, layer: b.pool(layer, AVGPOOL),
    GlobalAveragePooling2D: lambda b, layer: b.global_pool(layer, GAP),
    GlobalMaxPooling2D: lambda b, layer: b.global_pool(layer, GMP),
    Flatten: lambda b, layer: b.flatten(layer),
    Activation: lambda b, layer: b.activation_layer(layer),
    ReLU: lambda b, layer: b.activation_layer(layer),
    Softmax: lambda b, layer: b.activation_layer(layer),
    LeakyReLU: lambda b, layer: b.activation_layer(layer),
    ELU: lambda b, layer: b.activation_layer(layer),
}

#: ops that may write over their first operand (when it dies there)
_IN_PLACE = (ACT, SOFTMAX, BN, MERGE)


def graph_key(model: Any) -> List[Any]:
    """What a functional model's plans were compiled for: its layers and nodes."""
    return list(model.layers) + list(model._nodes)


def supported_model(model: Any) -> bool:
    """Whether `model` is a built functional Model of one input and one output."""
    from .functional import Model
    return (isinstance(model, Model) and bool(model.built) and hasattr(model, "_nodes")
            and len(model.inputs) == 1 and len(model.outputs) == 1)


def leading_nodes(model: Any) -> List[Any]:
    """The nodes that lead the graph as Sequential's plan's leading layers do
    (inference.compile_plan): a chain from the input of Resizing layers
    (inference.LEADING) and identity layers, up to the last Resizing, each
    reading a value no other node reads.  The plan starts after them, from
    the last one's output (Plan.lead runs them)."""
    nodes = [n for n in model._nodes if not n.is_input]
    readers: Dict[int, int] = {id(model.outputs[0]): 1}
    for node in nodes:
        for t in node.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
    t, chain = model.inputs[0], []
    for node in nodes:
        if type(node.layer) not in inf.LEADING + IDENTITY or node.multi \
                or len(node.inputs) != 1 or node.inputs[0] is not t \
                or len(node.outputs) != 1 or readers.get(id(t), 0) != 1:
            break
        chain.append(node)
        t = node.outputs[0]
    k = max((i + 1 for i, n in enumerate(chain) if type(n.layer) in inf.LEADING), default=0)
    return chain[:k]


class _GraphBuilder(_Builder):
    def __init__(self, model: Any, x_shape: Tuple[int, ...], dtype: np.dtype,
                 lead: Tuple[Any, ...] = ()):
        super().__init__(list(model.layers), x_shape, dtype)
        self.model = model
        self.lead = lead             # the leading nodes (leading_nodes): not compiled
        self.fusable = True          # the current value has one consumer, not the output
        self.src2: Dict[int, Value] = {}       # id(merge op) -> its second operand

    # a fusion rewrites its producer's output: only where nothing else reads it.
    # (Model._nodes is a depth-first post-order: a node of one input whose
    # value has no other reader comes right after the node that made it.)
    def last_producer(self) -> Optional[_Op]:
        return super().last_producer() if self.fusable else None

    def elementwise(self, act: int, alpha: float, name: str) -> None:
        last = self.ops[-1] if self.ops else None
        if (self.fusable and act == ACT_RELU and last is not None and last.op == MERGE
                and last.dst is self.cur and last.fields[F_ACT] == ACT_NONE):
            last.fields[F_ACT] = ACT_RELU
            self.names[-1] += "+" + name
            return
        super().elementwise(act, alpha, name)

    # -------------------------------------------------------- merges
    def _operands(self, vals: List[Value]) -> List[Value]:
        """A merge's inputs, the raw input seen as the others are: flat, or
        an image of their format."""
        fmt = next((v.fmt for v in vals if v.kind == "image"), None)
        out = []
        for v in vals:
            if v.kind == "raw" and len(v.shape) == 2:
                v = Value("flat", v.shape, base=v)
            elif v.kind == "raw" and fmt is not None:
                self.cur = v
                v = self.to_image(fmt)
            out.append(v)
        return out

    def merge(self, layer: Any, vals: List[Value]) -> Value:
        vals = self._operands(vals)
        first = vals[0]
        for v in vals[1:]:
            if (v.kind, v.shape, v.fmt) != (first.kind, first.shape, first.fmt):
                raise Unsupported(f"{layer.name}: inputs of different shapes or layouts")
        if len(vals) < 2:
            raise Unsupported(f"{layer.name}: one input")
        kind = _KINDS[type(layer)]
        out = Value(first.kind, first.shape, first.fmt)
        acc = vals[0]
        for i, v in enumerate(vals[1:], 2):
            last = i == len(vals)
            k = kind if kind != 3 or last else 0          # Average: sums, then / len on the last
            op = _Op(MERGE, acc, out, {F_N: first.size, F_C: k})
            op.alpha = float(len(vals)) if k == 3 else 0.0
            self.src2[id(op)] = v
            self.emit(op, _NAMES[type(layer)])
            acc = out
        return out

    def concatenate(self, layer: Concatenate, vals: List[Value]) -> Value:
        vals = self._operands(vals)
        first = vals[0]
        if first.kind == "image":
            axis = 3 if first.fmt == "channels_last" else 1
            ndim = 4
        elif first.kind == "flat" and len(first.shape) == 2:
            axis, ndim = 1, 2
        else:
            raise Unsupported(f"{layer.name}: Concatenate of the raw input")
        if layer.axis % ndim != axis:
            raise Unsupported(f"{layer.name}: Concatenate along a non-channel axis")
        rest = first.shape[2:]
        for v in vals:
            if v.kind != first.kind or v.fmt != first.fmt or v.shape[0] != first.shape[0] \
                    or v.shape[2:] != rest:
                raise Unsupported(f"{layer.name}: inputs of different layouts")
        n = first.shape[0]
        total = sum(v.shape[1] for v in vals)
        out = Value(first.kind, (n, total) + tuple(rest), first.fmt)
        inner = int(np.prod(rest, dtype=np.int64))
        offset = 0
        for v in vals:
            length = v.shape[1] * inner
            self.emit(_Op(CONCAT, v, out, {F_N: n, F_C: length, F_H: total * inner,
                                           F_W: offset}), "concatenate")
            offset += length
        return out

    # -------------------------------------------------------- the graph
    def build(self) -> Plan:
        model = self.model
        inp, final = model.inputs[0], model.outputs[0]
        if self.lead:           # the plan's input: the last leading node's output
            inp = self.lead[-1].outputs[0]
        skip = {id(n) for n in self.lead}
        nodes = [n for n in model._nodes if not n.is_input and id(n) not in skip]
        readers: Dict[int, int] = {id(final): 1}
        for node in nodes:
            for t in node.inputs:
                readers[id(t)] = readers.get(id(t), 0) + 1
        vals: Dict[int, Value] = {id(inp): self.input}
        # reads still to come of each value (an identity layer or a fusion gives
        # a node's output the value of its input: their readers add up)
        pending: Dict[int, int] = {id(self.input): readers.get(id(inp), 0)}
        for node in nodes:
            layer, t = node.layer, type(node.layer)
            if np.dtype(layer.dtype) != self.dtype:
                raise Unsupported("layers of different dtypes")
            if len(node.outputs) != 1:
                raise Unsupported(f"{layer.name}: several outputs")
            ins = [vals[id(x)] for x in node.inputs]
            alone = len(ins) == 1 and pending[id(ins[0])] == 1     # no other reader
            for v in ins:
                pending[id(v)] -= 1
            if t in _KINDS:
                out = self.merge(layer, ins)
            elif t is Concatenate:
                out = self.concatenate(layer, ins)
            elif node.multi or len(ins) != 1:
                raise Unsupported(f"{layer.name}: a layer of several inputs")
            elif t in IDENTITY:
                out = ins[0]
            elif t in _LAYER_OPS:
                self.cur = ins[0]
                self.fusable = alone
                _LAYER_OPS[t](self, layer)
                out = self.cur
            else:
                raise Unsupported(t.__name__)
            vals[id(node.outputs[0])] = out
            pending[id(out)] = pending.get(id(out), 0) + readers.get(id(node.outputs[0]), 0)
        v = self.cur = vals[id(final)]
        if v.kind == "image" and v.fmt == "channels_last":
            n, c, h, w = v.shape
            if c > 1 and h * w > 1:
                self.transpose(v, Value("flat", (n, h, w, c)), n, c, h * w, "nchw->nhwc")
                self.cur = self.ops[-1].dst
            else:
                self.cur = Value("flat", (n, h, w, c), base=v)
            v = self.cur
        if not self.ops or v.root is self.input:
            raise Unsupported("no op to run")
        want = final.shape
        if len(want) != len(v.shape) or any(d is not None and d != e
                                            for d, e in zip(want[1:], v.shape[1:])):
            raise Unsupported(f"output shape {v.shape}, the model's {want}")
        return self.assemble()

    def assemble(self) -> Plan:
        """Buffers by liveness (the input: slot 0, the output: slot 1,
        scratch: slot 2, then the buffers), and the pointer table."""
        final = self.cur.root
        reads: List[List[Value]] = []
        for op in self.ops:
            rs = [op.src.root]
            if id(op) in self.src2:
                rs.append(self.src2[id(op)].root)
            reads.append(rs)
        last_read: Dict[int, int] = {}
        for i, rs in enumerate(reads):
            for r in rs:
                last_read[id(r)] = i
        where: Dict[int, int] = {id(self.input): 0, id(final): 1}
        buf_of: Dict[int, int] = {}          # id(value) -> buffer number
        sizes: List[int] = []
        free: List[int] = []
        for i, op in enumerate(self.ops):
            dst = op.dst.root
            if id(dst) not in where:
                b = None
                if op.op in _IN_PLACE:            # over an operand that dies here
                    for r in reads[i]:
                        if id(r) in buf_of and last_read[id(r)] == i and r.size == dst.size:
                            b = buf_of[id(r)]
                            break
                if b is None:
                    fits = [f for f in free if sizes[f] >= dst.size]
                    if fits:
                        b = min(fits, key=lambda f: sizes[f])
                    elif free:
                        b = max(free, key=lambda f: sizes[f])
                    else:
                        b = len(sizes)
                        sizes.append(0)
                    if b in free:
                        free.remove(b)
                sizes[b] = max(sizes[b], dst.size)
                buf_of[id(dst)] = b
                where[id(dst)] = 3 + b
            for r in reads[i]:            # values read for the last time: their buffer is free
                if last_read[id(r)] == i and id(r) in buf_of and r is not dst:
                    if buf_of[id(r)] != buf_of.get(id(dst)):
                        free.append(buf_of[id(r)])
            if id(dst) in buf_of and id(dst) not in last_read and dst is not final:
                free.append(buf_of[id(dst)])      # written, never read
        table: List[Optional[np.ndarray]] = [None, None, None]
        scratch = max(op.scratch_bytes for op in self.ops)
        if scratch:
            table[2] = np.empty((scratch + 7) // 8, dtype=np.float64)
        table += [np.empty(s, dtype=self.dtype) for s in sizes]
        return self._emit(table, where, scratch_slot=2, second=self.src2)


def compile_graph_plan(model: Any, x_shape: Tuple[int, ...], dtype: Any) -> Plan:
    """The plan of the functional `model` (one input, one output) for inputs
    of x_shape; Unsupported when a node has no op.  Leading Resizing nodes
    (leading_nodes) become the plan's `lead`, as in inference.compile_plan."""
    dtype = np.dtype(dtype)
    lead = tuple(leading_nodes(model))
    shape = tuple(int(d) for d in x_shape)
    for node in lead:
        if np.dtype(node.layer.dtype) != dtype:
            raise Unsupported("leading layers of another dtype")
        shape = tuple(int(d or 0) for d in node.layer.compute_output_shape(shape))
    plan = _GraphBuilder(model, shape, dtype, lead).build()
    plan.lead = tuple(n.layer for n in lead if type(n.layer) in inf.LEADING)
    return plan


class GraphPlanCache(PlanCache):
    """A functional model's plans, per input shape and dtype, for its
    layers and nodes (graph_key)."""

    def __init__(self, model: Any = None) -> None:
        super().__init__()
        self.model = model

    def _compile(self, layers: List[Layer], x: np.ndarray) -> Plan:
        return compile_graph_plan(self.model, x.shape, x.dtype)


def _cache(model: Any) -> GraphPlanCache:
    cache = model.__dict__.get("_inference_plans")
    if not isinstance(cache, GraphPlanCache) or getattr(cache, "model", None) is not model:
        cache = model.__dict__["_inference_plans"] = GraphPlanCache(model)
    return cache


def predict_graph(model: Any, x: Any) -> Optional[np.ndarray]:
    """The functional model's inference-mode output for the prepared batch x
    through its plan, or None (the per-layer path)."""
    if not inf.is_enabled() or not supported_model(model) or not isinstance(x, np.ndarray) \
            or x.ndim < 2 or x.shape[0] == 0:
        return None
    plan = _cache(model).get(graph_key(model), x)
    return None if plan is None else plan.run(x)


class _Keyed:
    """What inference.predict_fast reads of a model: its plan cache and the
    list the plans were compiled for (a functional model's graph_key)."""

    def __init__(self, cache: GraphPlanCache, key: List[Any]):
        self._inference_plans, self.layers = cache, key


def predict_fast_graph(model: Any, x: Any, batch_size: Any = None) -> Optional[np.ndarray]:
    """inference.predict_fast for a functional model of one input and one
    output: x straight to an already compiled, current plan, or None."""
    if not inf.is_enabled() or eager(model) or not supported_model(model):
        return None
    cache = model.__dict__.get("_inference_plans")
    if not isinstance(cache, GraphPlanCache) or getattr(cache, "model", None) is not model:
        return None
    return inf.predict_fast(_Keyed(cache, graph_key(model)), x, batch_size)
