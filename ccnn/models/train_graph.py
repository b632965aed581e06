"""The training plan of a functional model: its training step as one C call.

The counterpart of ccnn.models.train_plan (a Sequential model's) for a
functional ccnn.models.Model of one input and one output whose loss head is
fused (a last Dense(activation='softmax') with a sparse or one-hot
categorical cross-entropy).  The model's execution plan
(Model._execution_plan: one entry per node, in topological order, the fused
loss head last) is lowered entry by entry into plan_train.h's ops: Conv2D,
Dense, BatchNormalization (with a ReLU reading only its output: the fused
BN + ReLU op), ReLU, LeakyReLU, ELU, Activation (ReLU or a pointwise
kind, as train_plan lowers them), pooling, Flatten, and Add or Subtract of
two inputs of the same shape (CCNN_TP_ADD; Subtract's second input receives
-dout, as Subtract.backward gives it).  Leading layers without weights
(RandomTranslation) run in Python first, as train_plan runs them.

Every value has its own buffer and, where a gradient reaches it, its own
gradient buffer.  The backward runs the ops in reverse; a value read by
several ops receives their gradients in Model._backward's order (entries
reversed, a merge's inputs in order): the first is written into its buffer,
each later one into a scratch buffer then added (CCNN_TP_ACCUM, dvals[s] + g),
so the step is bit-identical to the per-layer one (tests/test_train_graph.py).

Anything else (shared layers, other merges or Add of three inputs, several
inputs or outputs, another loss head, loss weights, regularizers, sample
weights) runs the per-layer path.  The optimizer's update is fused as train_plan fuses it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import train_plan as tp
from .plan_chain import Unsupported, Value, eager
from .train_plan import (F_AUX, F_DDST, F_DSRC, F_DST, F_N, F_OP, F_SRC, FIELDS, REALS,
                         TrainPlan, _Builder, _Op)
from ..layers import (ELU, Activation, Add, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                      Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU, MaxPooling2D,
                      ReLU)
from ..layers.fused import SoftmaxCrossEntropy
from ..layers.merging import Subtract
from .._plan import TP_ACCUM as ACCUM, TP_ADD as ADD    # plan_train.h's graph ops

_LAYERS = (Conv2D, Dense, BatchNormalization, ReLU, Activation, LeakyReLU, ELU, MaxPooling2D,
           AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten)


class _Accum:
    """A CCNN_TP_ACCUM row: the gradient `ddst` copied (add False) or added
    into the gradient of value `dst`."""

    def __init__(self, value: Value, grad_of: Optional[Value], add: bool, neg: bool = False):
        self.value, self.grad_of, self.add, self.neg = value, grad_of, add, neg


class _GraphBuilder(_Builder):
    def __init__(self, model: Any, k: int, in_shape: Tuple[int, ...], dtype: np.dtype):
        entries, _, _, _, losses = model._execution_plan()
        super().__init__([], 0, in_shape, dtype, losses[0], model._loss_weights[0])
        self.model, self.entries, self.k = model, entries, k
        self.plan.lead = [e.step for e in entries[:k]]
        self.alone = True        # the current value has no other reader
        self.second: Dict[int, Value] = {}      # id(ADD op) -> its second input

    def emit(self, op: _Op, name: str) -> _Op:
        self.ops.append(op)
        self.names.append(name)
        self.cur = op.dst
        return op

    def relu(self) -> None:
        if self.alone:          # BN + ReLU fused only where the ReLU is the BN's one reader
            super().relu()
            return
        v = self.cur
        self.emit(_Op(tp.RELU, v, Value(v.kind, v.shape, v.fmt), {F_N: v.size}), "relu")

    def add(self, ins: List[Value], subtract: bool = False) -> Value:
        if len(ins) != 2:
            raise Unsupported("Add of other than two inputs")
        a, b = ins
        if a.kind == "raw" or (a.kind, a.shape, a.fmt) != (b.kind, b.shape, b.fmt):
            raise Unsupported("Add of inputs of different shapes or layouts")
        op = _Op(ADD, a, Value(a.kind, a.shape, a.fmt), {F_N: a.size, tp.F_FLAG: int(subtract)})
        self.second[id(op)] = b
        self.emit(op, "subtract" if subtract else "add")
        return op.dst

    def build(self) -> TrainPlan:
        model, entries, k = self.model, self.entries, self.k
        _, heads, out_slots, _, _ = model._execution_plan()
        last = entries[-1]
        if not isinstance(last.step, SoftmaxCrossEntropy) or heads[0] is not last.step \
                or last.out != out_slots[0]:
            raise Unsupported("the head is not a fused softmax + cross-entropy")
        readers: Dict[int, int] = {}
        for e in entries:
            for s in e.ins:
                readers[s] = readers.get(s, 0) + 1
        first = entries[k - 1].out if k else 0
        vals: Dict[int, Value] = {first: self.input}
        for e in entries[k:]:
            layer = e.layer
            if e.shared:
                raise Unsupported(f"{layer.name}: a shared layer")
            if np.dtype(layer.dtype) != self.dtype:
                raise Unsupported("layers of different dtypes")
            ins = [vals[s] for s in e.ins]
            if e is last:
                self.cur, self.alone = ins[0], readers.get(e.ins[0], 0) == 1
                self.head(e.step)
            elif type(layer) is Add or type(layer) is Subtract:
                self.add(ins, type(layer) is Subtract)
            elif e.multi or len(ins) != 1 or type(layer) not in _LAYERS:
                raise Unsupported(type(layer).__name__)
            else:
                self.cur, self.alone = ins[0], readers.get(e.ins[0], 0) == 1
                self.layer(layer)
                if self.cur.root is ins[0].root and not self.alone:
                    # an alias of a value read elsewhere: its gradients would sum
                    # in another order than Model._backward's
                    raise Unsupported(f"{layer.name}: a view of a value read twice")
            vals[e.out] = self.cur
        if not any(op.weighted for op in self.ops):
            raise Unsupported("no weights")
        return self.assemble()

    def assemble(self) -> TrainPlan:
        """Buffers: the input slot 0, the output slot 1, the targets slot 2;
        one buffer per value, one gradient buffer per value a gradient
        reaches, a scratch for gradients added, the ops' own arrays."""
        plan, ops, dtype = self.plan, self.ops, self.dtype
        final = self.cur.root

        def srcs(op: _Op) -> List[Value]:
            s = [op.src.root]
            if id(op) in self.second:
                s.append(self.second[id(op)].root)
            return s
        needs: Dict[int, bool] = {id(self.input): False}
        for op in ops:
            needs[id(op.dst.root)] = op.weighted or any(needs.get(id(r), False)
                                                         for r in srcs(op))
        # the backward's order: ops reversed, each followed by its accumulations
        seen: set = set()
        order: List[Any] = []
        dsrc_of: Dict[int, Any] = {}     # id(op) -> its dsrc: a value (its grad) or "scratch"
        scratch = 0
        for op in reversed(ops):
            order.append(op)
            if op.op == ADD:
                if needs[id(op.dst.root)]:
                    for j, r in enumerate(srcs(op)):
                        if needs.get(id(r), False):
                            order.append(_Accum(r, op.dst.root, id(r) in seen,
                                                j == 1 and op.fields[tp.F_FLAG] == 1))
                            seen.add(id(r))
                continue
            r = op.src.root
            if not needs.get(id(r), False):
                continue
            if id(r) in seen:
                dsrc_of[id(op)] = "scratch"
                scratch = max(scratch, r.size)
                order.append(_Accum(r, None, True))
            else:
                dsrc_of[id(op)] = r
                seen.add(id(r))
        rows = list(reversed(order))
        table: List[Optional[np.ndarray]] = [None, None, None]
        where: Dict[int, int] = {id(self.input): 0, id(final): 1}
        for op in ops:
            r = op.dst.root
            if id(r) not in where:
                where[id(r)] = len(table)
                table.append(np.empty(r.size, dtype=dtype))
        gslot: Dict[int, int] = {}
        for op in ops:
            r = op.dst.root
            if needs[id(r)] and r is not final and id(r) not in gslot:
                gslot[id(r)] = len(table)
                table.append(np.empty(r.size, dtype=dtype))
        sslot = -1
        if scratch:
            sslot = len(table)
            table.append(np.empty(scratch, dtype=dtype))
        code = np.full((len(rows), FIELDS), -1, dtype=np.int64)
        code[:, tp.F_N:] = 0
        reals = np.zeros((len(rows), REALS), dtype=np.float64)
        for i, row in enumerate(rows):
            if isinstance(row, _Accum):
                code[i, F_OP], code[i, tp.F_FLAG] = ACCUM, int(row.add) + 2 * int(row.neg)
                code[i, F_N] = row.value.size
                code[i, F_DSRC] = gslot[id(row.value)]
                code[i, F_DDST] = sslot if row.grad_of is None else gslot[id(row.grad_of)]
                continue
            op = row
            for key, v in op.fields.items():
                code[i, key] = v
            code[i, F_SRC] = where[id(op.src.root)]
            code[i, F_DST] = where[id(op.dst.root)]
            if id(op) in self.second:
                code[i, F_AUX] = where[id(self.second[id(op)].root)]
            d = dsrc_of.get(id(op))
            if d is not None:
                code[i, F_DSRC] = sslot if isinstance(d, str) else gslot[id(d)]
            if needs[id(op.dst.root)] and op.dst.root is not final:
                code[i, F_DDST] = gslot[id(op.dst.root)]
            for field, arr in op.slots.items():
                code[i, field] = len(table)
                table.append(arr)
            reals[i] = op.reals
        # the head (the last op) writes its logits' gradient in its forward: nothing
        # must have used that buffer before (one buffer per value: nothing has)
        ptrs = np.zeros(len(table), dtype=np.int64)
        for i, buf in enumerate(table):
            if buf is not None:
                ptrs[i] = buf.ctypes.data
        plan.code, plan.reals, plan.ptrs = code, reals, ptrs
        plan.keep = [a for a in table if a is not None]
        plan.out = np.empty(self.cur.shape, dtype=dtype)
        n, classes = self.cur.shape
        itemsize = dtype.itemsize
        plan.nbytes = (int(np.prod(self.input.shape, dtype=np.int64)) * itemsize,
                       n * classes * itemsize, n * 8 if plan.sparse else n * classes * itemsize)
        plan.ops = self.names
        return plan


def compile_graph_plan(model: Any, x_shape: Tuple[int, ...], dtype: Any) -> TrainPlan:
    """The training plan of a built functional model for batches of x_shape;
    Unsupported when it has none."""
    entries, _, out_slots, _, _ = model._execution_plan()
    dtype = np.dtype(dtype)
    k = 0
    prev = 0
    while k < len(entries) and not entries[k].layer.params and not entries[k].multi \
            and entries[k].ins == [prev] and type(entries[k].layer) not in _LAYERS \
            and sum(s == prev for e in entries for s in e.ins) == 1:
        prev = entries[k].out
        k += 1
    in_shape = _Builder.plan_input([e.layer for e in entries[:k]], x_shape, dtype)
    return _GraphBuilder(model, k, in_shape, dtype).build()


class GraphTrainPlanCache(tp.TrainPlanCache):
    """A functional model's training plans, per batch shape, dtype and
    trainable flags, for its current execution plan."""

    def get_graph(self, model: Any, x: np.ndarray) -> Optional[TrainPlan]:
        return self.lookup(model._execution_plan(), model.layers, x,
                           lambda: compile_graph_plan(model, x.shape, x.dtype),
                           model._loss_weights[0])


def supported(model: Any) -> bool:
    """Whether `model` is a built functional Model of one input and one output
    whose training step is the stock one (no customised step, no regularizers;
    its output's loss weight is the plan's)."""
    from .functional import Model
    if not isinstance(model, Model) or not model.built or len(model.inputs) != 1 \
            or len(model.outputs) != 1:
        return False
    cls = type(model)
    if cls._forward is not Model._forward or cls._backward is not Model._backward \
            or cls._loss_and_backward is not Model._loss_and_backward \
            or cls._output_losses is not Model._output_losses:
        return False
    return not tp._uses_regularizers(model.layers)


def train_step(model: Any, x: np.ndarray, y: np.ndarray, optimizer: Any = None,
               check: bool = False, reducer: Any = None
               ) -> Optional[Tuple[float, np.ndarray, Optional[bool]]]:
    """As train_plan.train_step, for a functional model (None: the per-layer path)."""
    if not tp.is_enabled() or type(x) is not np.ndarray or x.shape[0] == 0 \
            or eager(model) or not supported(model):
        return None
    entries, _, out_slots, nslots, losses = model._execution_plan()
    dtype = np.dtype(entries[0].layer.dtype) if entries else x.dtype
    if x.dtype != dtype:        # the first layer's cast (exact: a widening one only)
        if not np.can_cast(x.dtype, dtype, "safe") or x.dtype.kind != "f":
            return None
        x = x.astype(dtype)
    cache = model.__dict__.get("_train_plans")
    if not isinstance(cache, GraphTrainPlanCache):
        cache = model.__dict__["_train_plans"] = GraphTrainPlanCache()
    plan = cache.get_graph(model, x)
    if plan is None:
        return None
    k = len(plan.lead)

    def rest(x: np.ndarray) -> Tuple[float, np.ndarray, Optional[bool]]:
        """The entries after the leading ones per layer, as Model._forward runs them."""
        vals: List[Any] = [None] * nslots
        vals[entries[k - 1].out if k else 0] = x
        model._activity = []
        for e in entries[k:]:
            arg = [vals[s] for s in e.ins] if e.multi else vals[e.ins[0]]
            vals[e.out] = e.step.forward(arg, True)
        out = vals[out_slots[0]]
        return model._loss_and_backward(out, y), out, None
    return tp.run_plan(model, plan, losses[0], model.layers, rest, x, y, optimizer, check,
                       reducer=reducer)
