"""The inference plan: a Sequential model's predict as one C call.

At the first predict / predict_on_batch / model(x) for a batch shape, the
model's layers are compiled into a list of C ops (csrc/kernels/plan.h) with
their geometry, the pointers of their weights and preallocated intermediate
buffers, which one C entry point (F.plan_forward_unchecked) runs with the
GIL released once:

    Conv2D (+ its activation, + a following BatchNormalization folded into
        its weight and bias, + a following ReLU / pointwise Activation,
        + a following MaxPooling2D(2) where the fused conv -> relu -> pool
        kernel applies)
    Dense (the same; softmax as a softmax op after it)
    MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
    BatchNormalization (on its own), Activation / ReLU / LeakyReLU / ELU /
        Softmax, Flatten
    (a transpose only where the channels-last order needs one)
    Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout and the
        augmentation layers: identity at inference, no op

Every op calls the kernel its layer calls, on the same batch, so the plan's
output is bit-identical to the per-layer forward -- except that a folded
BatchNormalization rounds differently (ccnn/models/inference.py's tests:
tests/test_inference_plan.py).  Each conv (and each dense with a folded BN)
keeps a copy of the weights it last ran with, the BN fold and, for a conv
on the implicit GEMM, the weight packed into the GEMM's panels (plan.h's
weight cache); every call compares the live weights with that copy
(memcmp) and folds and packs again only when they differ, so weights
changed in place (set_weights, training, a write into layer.kernel) are
always seen; a weight array replaced by another, or a changed layer list,
recompiles.  A model with any other layer (or a layer option the plan
does not know) runs the per-layer path.  CCNN_INFERENCE_PLAN=0 in the
environment, or ccnn.models.inference.set_enabled(False), turns the plan off.

Once a batch shape is compiled, Sequential.predict / predict_on_batch /
__call__ of an array of exactly that shape and dtype (the form _prepare_x
would hand on unchanged) go straight to the plan (predict_fast): no callback
list, no preparation, every batch written into one preallocated output.
The plan's PlanRunner (ccnn._plan, through F.plan_run_unchecked) checks the
input and output buffers itself.

evaluate (and fit's validation, test_on_batch) runs each batch through a
plan too (evaluate_forward): with the fused softmax + cross-entropy head, a
plan that leaves the last layer's softmax off, so the loss is computed from
the logits as the per-layer path computes it.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import activations
from .. import functional as F
from .plan_chain import ChainBuilder, Switch, Unsupported, Value as _Value, eager
from ..layers import (ELU, Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                      Flatten, GaussianDropout, GaussianNoise, GlobalAveragePooling2D,
                      GlobalMaxPooling2D, Layer, LeakyReLU, MaxPooling2D, RandomContrast, RandomCrop,
                      RandomFlip, RandomRotation, RandomTranslation, RandomZoom, ReLU, Resizing,
                      Softmax, SpatialDropout2D)

# plan.h's op codes and record fields, as the C compiler numbers them (ccnn._plan
# exports the header's enums; tests/test_plan_constants.py checks them against it)
from .._plan import (PLAN_CONV as CONV, PLAN_DENSE as DENSE, PLAN_MAXPOOL as MAXPOOL,
                     PLAN_AVGPOOL as AVGPOOL, PLAN_GAP as GAP, PLAN_GMP as GMP, PLAN_BN as BN,
                     PLAN_ACT as ACT, PLAN_SOFTMAX as SOFTMAX, PLAN_TRANSPOSE as TRANSPOSE,
                     PLAN_ACT_NONE as ACT_NONE, PLAN_ACT_RELU as ACT_RELU, PF_OP as F_OP,
                     PF_ACT as F_ACT, PF_POOL as F_POOL, PF_SRC as F_SRC, PF_DST as F_DST,
                     PF_SCRATCH as F_SCRATCH, PF_WEIGHT as F_WEIGHT, PF_BIAS as F_BIAS,
                     PF_MEAN as F_MEAN, PF_VAR as F_VAR, PF_GAMMA as F_GAMMA, PF_BETA as F_BETA,
                     PF_FOLDW as F_FOLDW, PF_FOLDB as F_FOLDB, PF_N as F_N, PF_C as F_C,
                     PF_H as F_H, PF_W as F_W, PF_K as F_K, PF_R as F_R, PF_S as F_S,
                     PF_SH as F_SH, PF_SW as F_SW, PF_DH as F_DH, PF_DW as F_DW, PF_PT as F_PT,
                     PF_PB as F_PB, PF_PL as F_PL, PF_PR as F_PR, PF_CEIL as F_CEIL,
                     PF_INCLUDE_PAD as F_INCLUDE_PAD, PF_CACHE as F_CACHE, PLAN_FIELDS as FIELDS,
                     PLAN_REALS as REALS)
#: rows of the GEMM's packed A panels (csrc/kernels/gemm.c's MR)
_GEMM_MR = 6

#: layers that are the identity at inference
IDENTITY = (Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout, RandomTranslation,
            RandomFlip, RandomRotation, RandomZoom, RandomContrast, RandomCrop)

#: layers the plan has no op for but runs first, per layer, when they lead
LEADING = (Resizing,)

_switch = Switch("CCNN_INFERENCE_PLAN")


def set_enabled(enabled: bool) -> None:
    """Turn the inference plan on (the default) or off (every predict runs
    the per-layer path)."""
    _switch.set(enabled)


def is_enabled() -> bool:
    """Whether predict runs through the inference plan where it can."""
    return _switch.on


class _Op:
    def __init__(self, op: int, src: _Value, dst: _Value,
                 fields: Optional[Dict[int, Any]] = None):
        self.op, self.src, self.dst = op, src, dst
        self.fields: Dict[int, int] = {F_OP: op, F_ACT: ACT_NONE, F_POOL: 0}
        self.alpha, self.eps = 0.0, 0.0
        self.scratch_bytes = 0
        self.slots: Dict[int, Any] = {}     # field -> array (its pointer goes in the table)
        self.folded = False
        self.conv_in: Optional[Tuple[int, int, int, int]] = None
        for k, v in (fields or {}).items():
            self.fields[k] = int(v)


class Plan:
    """One model's compiled plan for one input shape and dtype.  `lead`: the
    leading layers it cannot call (Resizing), run per layer at inference
    before its ops, as the training plan runs its leading steps."""

    lead: Tuple[Layer, ...] = ()

    def __init__(self, code: np.ndarray, reals: np.ndarray, ptrs: np.ndarray,
                 keep: List[np.ndarray], watched: List[Tuple[Dict[str, np.ndarray], str,
                                                             np.ndarray]],
                 out_shape: Tuple[int, ...], dtype: np.dtype, ops: List[str],
                 in_shape: Tuple[int, ...] = ()):
        self.code, self.reals, self.ptrs, self.keep = code, reals, ptrs, keep
        self.watched = watched
        self.out_shape, self.dtype = out_shape, dtype
        self.in_shape = in_shape
        self.ops = ops                    # a description, one name per op
        self.lock = threading.Lock()
        self.runner = F.plan_runner_unchecked(
            code, reals, ptrs, int(np.prod(in_shape, dtype=np.int64)),
            int(np.prod(out_shape, dtype=np.int64)), dtype) if in_shape else None

    def current(self) -> bool:
        """Whether every weight array it points at is still the layer's."""
        for d, k, a in self.watched:
            if d.get(k) is not a:
                return False
        return True

    def run(self, x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The outputs for x (a new array, or written into out: C-contiguous,
        of the plan's output shape and dtype)."""
        for layer in self.lead:
            x = layer.forward(x, False)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if out is None:
            out = np.empty(self.out_shape, dtype=self.dtype)
        with self.lock:      # the buffers are the plan's: one call at a time
            if self.runner is not None:
                F.plan_run_unchecked(self.runner, x, out)
            else:
                F.plan_forward_unchecked(self.code, self.reals, self.ptrs, x, out)
        return out


def _act_code(name: Optional[str]) -> Tuple[int, float]:
    """(act field, alpha) of an activation the conv / dense ops run in their
    epilogue: None, relu or a pointwise.h kind."""
    if name is None or name == "linear":
        return ACT_NONE, 0.0
    if name == "relu":
        return ACT_RELU, 0.0
    kind = activations.pointwise_kind(name)
    if kind is None:
        raise Unsupported(f"activation {name!r}")
    return F.POINTWISE[kind[0]], float(kind[1])


class _Builder(ChainBuilder):
    def __init__(self, layers: List[Layer], x_shape: Tuple[int, ...], dtype: np.dtype,
                 logits: bool = False):
        self.layers, self.dtype = layers, dtype
        self.logits = logits        # leave the last layer's softmax off: its logits out
        self.at_last = False
        self.itemsize = dtype.itemsize
        self.ops: List[_Op] = []
        self.names: List[str] = []
        self.watched: List[Tuple[Dict[str, np.ndarray], str, np.ndarray]] = []
        self.input = _Value("raw", tuple(int(d) for d in x_shape))
        self.cur = self.input

    # -------------------------------------------------------- helpers
    def weight(self, layer: Layer, key: str) -> np.ndarray:
        d = layer.states if key in layer.states else layer.params
        a = d[key]
        if a.dtype != self.dtype or not a.flags.c_contiguous:
            raise Unsupported(f"{layer.name}: weight {key} is not a C-contiguous {self.dtype}")
        self.watched.append((d, key, a))
        return a

    def emit(self, op: _Op, name: str) -> _Op:
        self.ops.append(op)
        self.names.append(name)
        self.cur = op.dst
        return op

    def last_producer(self) -> Optional[_Op]:
        """The conv / dense op that produced the current value, with nothing after it."""
        if self.ops and self.ops[-1].dst is self.cur and self.ops[-1].op in (CONV, DENSE):
            return self.ops[-1]
        return None

    def transpose(self, src: _Value, dst: _Value, n: int, a: int, b: int, name: str) -> _Op:
        return self.emit(_Op(TRANSPOSE, src, dst, {F_N: n, F_C: a, F_H: b}), name)

    def elementwise(self, act: int, alpha: float, name: str) -> None:
        v = self.cur
        prod = self.last_producer()
        if prod is not None and prod.fields[F_ACT] == ACT_NONE and not prod.fields[F_POOL]:
            prod.fields[F_ACT], prod.alpha = act, alpha
            if act >= 0:
                prod.scratch_bytes = max(prod.scratch_bytes, v.size * self.itemsize)
            self.names[-1] += "+" + name
            return
        out = _Value(v.kind, v.shape, v.fmt)
        self.emit(_Op(ACT, v, out, {F_ACT: act, F_N: v.size}), name).alpha = alpha

    # -------------------------------------------------------- layers
    def conv(self, layer: Conv2D) -> None:
        if type(layer) is not Conv2D or layer.groups != 1 or layer.rank != 2:
            raise Unsupported(type(layer).__name__)
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        kernel = self.weight(layer, "kernel")
        k, kc, r, s = kernel.shape
        if kc != c:
            raise Unsupported("channels")
        pt, pb, pl, pr = layer._pads(h, w)
        _, _, p, q = layer._split(layer.compute_output_shape(layer._join(n, c, h, w)))
        act, alpha = _act_code(layer.activation)
        out = _Value("image", (n, k, int(p), int(q)), layer.data_format)  # type: ignore[arg-type]
        op = _Op(CONV, v, out, {
            F_ACT: act, F_N: n, F_C: c, F_H: h, F_W: w, F_K: k, F_R: r, F_S: s,
            F_SH: layer.strides[0], F_SW: layer.strides[1], F_DH: layer.dilation_rate[0],
            F_DW: layer.dilation_rate[1], F_PT: pt, F_PB: pb, F_PL: pl, F_PR: pr})
        self._weights_and_scratch(op, layer, kernel, alpha, act, out)
        op.conv_in = (n, c, h, w)
        self.emit(op, f"conv{r}x{s}" + ("" if act == ACT_NONE else f"+{layer.activation}"))

    def _weights_and_scratch(self, op: "_Op", layer: Any, kernel: np.ndarray, alpha: float,
                             act: int, out: "_Value") -> None:
        """A conv / dense op's kernel, bias and activation parameter, and the
        scratch its fused activation needs (act >= 0)."""
        op.alpha = alpha
        op.slots[F_WEIGHT] = kernel
        if layer.use_bias:
            op.slots[F_BIAS] = self.weight(layer, "bias")
        if act >= 0:
            op.scratch_bytes = out.size * self.itemsize

    def dense(self, layer: Dense) -> None:
        if type(layer) is not Dense:
            raise Unsupported(type(layer).__name__)
        v = self.cur
        if v.kind == "raw" and len(v.shape) == 2:
            v = self.cur = _Value("flat", v.shape, base=v)
        kernel = self.weight(layer, "kernel")
        if v.kind != "flat" or v.shape[1] != kernel.shape[0]:
            raise Unsupported("Dense on a tensor of more than two axes")
        n, fan_in = v.shape
        units = kernel.shape[1]
        softmax = layer.activation == "softmax"
        act, alpha = _act_code(None if softmax else layer.activation)
        out = _Value("flat", (n, units))
        op = _Op(DENSE, v, out, {F_ACT: act, F_N: n, F_C: fan_in, F_K: units})
        self._weights_and_scratch(op, layer, kernel, alpha, act, out)
        self.emit(op, "dense" + ("" if act == ACT_NONE else f"+{layer.activation}"))
        if softmax:
            self.softmax()

    def softmax(self) -> None:
        if self.logits and self.at_last:
            return
        v = self.cur
        if v.kind != "flat":
            raise Unsupported("softmax over a tensor of more than two axes")
        self.emit(_Op(SOFTMAX, v, _Value("flat", v.shape), {F_N: v.shape[0], F_C: v.shape[1]}),
                  "softmax")

    def batchnorm(self, layer: BatchNormalization) -> None:
        v, outer, c, inner = self.norm_rows(layer)
        stats = {F_MEAN: self.weight(layer, "moving_mean"),
                 F_VAR: self.weight(layer, "moving_variance")}
        if layer.scale:
            stats[F_GAMMA] = self.weight(layer, "gamma")
        if layer.center:
            stats[F_BETA] = self.weight(layer, "beta")
        prod = self.last_producer()
        if (prod is not None and not prod.folded and prod.fields[F_ACT] == ACT_NONE
                and not prod.fields[F_POOL]):
            prod.slots.update(stats)
            prod.slots[F_FOLDW] = np.empty_like(prod.slots[F_WEIGHT])
            prod.slots[F_FOLDB] = np.empty(c, dtype=self.dtype)
            prod.eps, prod.folded = layer.epsilon, True
            self.names[-1] += "+bn"
            return
        op = _Op(BN, v, _Value(v.kind, v.shape, v.fmt), {F_N: outer, F_C: c, F_H: inner})
        op.slots.update(stats)
        op.slots[F_FOLDB] = np.empty(c, dtype=self.dtype)
        op.eps = layer.epsilon
        self.emit(op, "batchnorm")

    def pool(self, layer: Any, kind: int) -> None:
        if type(layer) not in (MaxPooling2D, AveragePooling2D) or layer.rank != 2:
            raise Unsupported(type(layer).__name__)
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        pt, pb, pl, pr = layer._pads(h, w)
        _, _, p, q = layer._split(layer.compute_output_shape(layer._join(n, c, h, w)))
        out = _Value("image", (n, c, int(p), int(q)), layer.data_format)
        prod = self.last_producer()
        if (kind == MAXPOOL and prod is not None and prod.op == CONV
                and prod.fields[F_ACT] == ACT_RELU and not prod.fields[F_POOL]
                and layer.pool_size == (2, 2) and layer.strides == (2, 2)
                and layer.padding == "valid" and prod.conv_in is not None):
            f = prod.fields
            if F.conv2d_relu_maxpool2d_supported(
                    prod.conv_in, (f[F_K], f[F_C], f[F_R], f[F_S]), (f[F_SH], f[F_SW]),
                    (f[F_DH], f[F_DW]), (f[F_PT], f[F_PB], f[F_PL], f[F_PR])):
                f[F_POOL] = 1
                prod.scratch_bytes = out.size       # the uint8 argmax
                prod.dst = out
                self.cur = out
                self.names[-1] += "+maxpool2"
                return
        op = _Op(kind, v, out, {F_N: n, F_C: c, F_H: h, F_W: w, F_R: layer.pool_size[0],
                                  F_S: layer.pool_size[1], F_SH: layer.strides[0],
                                  F_SW: layer.strides[1], F_PT: pt, F_PB: pb, F_PL: pl,
                                  F_PR: pr, F_CEIL: 0, F_INCLUDE_PAD: 0})
        self.emit(op, "maxpool" if kind == MAXPOOL else "avgpool")

    def global_pool(self, layer: Any, kind: int) -> None:
        if type(layer) not in (GlobalAveragePooling2D, GlobalMaxPooling2D) or layer.rank != 2:
            raise Unsupported(type(layer).__name__)
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        out = (_Value("image", (n, c, 1, 1), layer.data_format) if layer.keepdims
               else _Value("flat", (n, c)))
        op = _Op(kind, v, out, {F_N: n * c, F_C: h * w})
        if kind == GMP:
            op.scratch_bytes = n * c * 8
        self.emit(op, "global_avg_pool" if kind == GAP else "global_max_pool")

    def flatten(self, layer: Flatten) -> None:
        todo = self.flatten_view(layer.data_format)
        if todo is not None:
            v, n, c, hw = todo
            self.transpose(v, _Value("flat", (n, c * hw)), n, c, hw, "nchw->nhwc")

    def activation_layer(self, layer: Layer) -> None:
        if type(layer) is ReLU:
            if not layer._plain:
                raise Unsupported("ReLU with arguments")
            return self.elementwise(ACT_RELU, 0.0, "relu")
        if type(layer) is LeakyReLU or type(layer) is ELU:     # their own alpha
            return self.elementwise(F.POINTWISE[layer.kind], layer._alpha, layer.kind)
        if type(layer) is Softmax:
            if layer.axis not in (-1, 1) or self.cur.kind not in ("flat", "raw") \
                    or len(self.cur.shape) != 2:
                raise Unsupported("Softmax axis")
            if self.cur.kind == "raw":
                self.cur = _Value("flat", self.cur.shape, base=self.cur)
            return self.softmax()
        if type(layer) is not Activation:
            raise Unsupported(type(layer).__name__)
        name = layer.activation
        if name is None or name == "linear":
            return None
        if name == "softmax":
            if len(self.cur.shape) != 2 or self.cur.kind == "image":
                raise Unsupported("softmax over a tensor of more than two axes")
            if self.cur.kind == "raw":
                self.cur = _Value("flat", self.cur.shape, base=self.cur)
            return self.softmax()
        act, alpha = _act_code(name)
        return self.elementwise(act, alpha, name)

    # -------------------------------------------------------- the whole
    def build(self) -> Plan:
        for layer in self.layers:
            if np.dtype(layer.dtype) != self.dtype:
                raise Unsupported("layers of different dtypes")
            t = type(layer)
            if t in IDENTITY:
                continue
            self.at_last = layer is self.layers[-1]
            if t is Conv2D:
                self.conv(layer)                              # type: ignore[arg-type]
            elif t is Dense:
                self.dense(layer)                             # type: ignore[arg-type]
            elif t is BatchNormalization:
                self.batchnorm(layer)                         # type: ignore[arg-type]
            elif t is MaxPooling2D:
                self.pool(layer, MAXPOOL)
            elif t is AveragePooling2D:
                self.pool(layer, AVGPOOL)
            elif t is GlobalAveragePooling2D:
                self.global_pool(layer, GAP)
            elif t is GlobalMaxPooling2D:
                self.global_pool(layer, GMP)
            elif t is Flatten:
                self.flatten(layer)                           # type: ignore[arg-type]
            elif t in (Activation, ReLU, Softmax, LeakyReLU, ELU):
                self.activation_layer(layer)
            else:
                raise Unsupported(t.__name__)
        v = self.cur
        if v.kind == "image" and v.fmt == "channels_last":
            n, c, h, w = v.shape
            if c > 1 and h * w > 1:
                self.emit(_Op(TRANSPOSE, v, _Value("flat", (n, h, w, c)),
                              {F_N: n, F_C: c, F_H: h * w}), "nchw->nhwc")
            else:
                self.cur = _Value("flat", (n, h, w, c), base=v)
            v = self.cur
        if not self.ops or v.root is self.input or v.kind == "raw":
            raise Unsupported("no op to run")
        want = self.layers[-1].output_shape or ()
        if len(want) != len(v.shape) or any(d is not None and d != e
                                            for d, e in zip(want[1:], v.shape[1:])):
            raise Unsupported(f"output shape {v.shape}, the model's {want}")
        return self.assemble()

    def assemble(self) -> Plan:
        """Buffers for the values (the input: slot 0, the last: slot 1, the
        others alternating between two ping-pong buffers), scratch and the
        pointer table."""
        final = self.cur.root
        table: List[Optional[np.ndarray]] = [None, None, None, None, None]  # x, out, A, B, scratch
        where: Dict[int, int] = {id(self.input): 0, id(final): 1}
        need = [0, 0]
        for op in self.ops:
            src = where[id(op.src.root)]
            if op.dst.root is final:
                continue
            if op.op in (ACT, SOFTMAX, BN) and src in (2, 3):
                slot = src                                   # in place
            else:
                slot = 3 if src == 2 else 2
            where[id(op.dst.root)] = slot
            need[slot - 2] = max(need[slot - 2], op.dst.size)
        for i in (0, 1):
            if need[i]:
                table[2 + i] = np.empty(need[i], dtype=self.dtype)
        scratch = max(op.scratch_bytes for op in self.ops)
        if scratch:
            table[4] = np.empty((scratch + 7) // 8, dtype=np.float64)
        return self._emit(table, where, scratch_slot=4)

    def _emit(self, table: List[Optional[np.ndarray]], where: Dict[int, int],
              scratch_slot: int, second: Optional[Dict[int, _Value]] = None) -> Plan:
        """The plan: each op's code row (its fields, the table slots of its
        source, destination -- and of `second`'s operand for an op of two --
        and of its scratch; its weight arrays appended to `table`) and reals."""
        code = np.full((len(self.ops), FIELDS), -1, dtype=np.int64)
        reals = np.zeros((len(self.ops), REALS), dtype=np.float64)
        code[:, F_N:F_CACHE] = 0
        for i, op in enumerate(self.ops):
            for k, v in op.fields.items():
                code[i, k] = v
            code[i, F_SRC] = where[id(op.src.root)]
            code[i, F_DST] = where[id(op.dst.root)]
            if second is not None and id(op) in second:
                code[i, F_WEIGHT] = where[id(second[id(op)].root)]
            if op.scratch_bytes:
                code[i, F_SCRATCH] = scratch_slot
            for field, arr in op.slots.items():
                code[i, field] = len(table)
                table.append(arr)
            if op.op == CONV or (op.op == DENSE and op.folded):
                code[i, F_CACHE] = len(table)
                table.append(_weight_cache(op, self.itemsize))
            reals[i] = (op.alpha, op.eps)
        ptrs = np.zeros(len(table), dtype=np.int64)
        for i, arr in enumerate(table):
            if arr is not None:
                ptrs[i] = arr.ctypes.data
        keep = [a for a in table if a is not None]
        return Plan(code, reals, ptrs, keep, self.watched, self.cur.shape, self.dtype,
                    self.names, self.input.shape)


def _weight_cache(op: _Op, itemsize: int) -> np.ndarray:
    """A zeroed weight cache for a conv or dense op (plan.h: element 0 its
    size in bytes; the header, alignment slack, a copy of each source array
    and, for a conv, its packed weight, each padded to 64 bytes)."""
    w = op.slots[F_WEIGHT]
    units = w.shape[0] if op.op == CONV else w.shape[1]
    per = w.size // units
    stats = sum(1 for f in (F_BIAS, F_MEAN, F_VAR, F_GAMMA, F_BETA) if f in op.slots) \
        if op.folded else 0
    packed = -(-units // _GEMM_MR) * _GEMM_MR * per if op.op == CONV else 0

    def pad(elems: int) -> int:
        return -(-elems * itemsize // 64) * 64

    nbytes = 128 + pad(w.size) + stats * pad(units) + pad(packed)
    cache = np.zeros(nbytes // 8, dtype=np.int64)
    cache[0] = nbytes
    return cache


def compile_plan(layers: List[Layer], x_shape: Tuple[int, ...], dtype: Any,
                 logits: bool = False) -> Plan:
    """The plan of built `layers` for inputs of x_shape (batch axis first);
    Unsupported when a layer has no op.  logits: the last layer's softmax
    left off (its output is the softmax's input).  Leading Resizing layers
    (after identity ones or not) become the plan's `lead`."""
    layers, dtype = list(layers), np.dtype(dtype)
    k = max((i + 1 for i, layer in enumerate(layers) if type(layer) in LEADING), default=0)
    if any(type(layer) not in LEADING + IDENTITY for layer in layers[:k]):
        raise Unsupported("a Resizing after a layer with an op")
    lead = tuple(layer for layer in layers[:k] if type(layer) in LEADING)
    shape = tuple(int(d) for d in x_shape)
    for layer in lead:
        if np.dtype(layer.dtype) != dtype:
            raise Unsupported("leading layers of another dtype")
        shape = tuple(int(d or 0) for d in layer.compute_output_shape(shape))
    plan = _Builder(layers[k:], shape, dtype, logits).build()
    plan.lead = lead
    return plan


class PlanCache:
    """A model's plans, per input shape and dtype, for its current layer
    list (pickled empty: plans point at the process's memory)."""
    MAX = 8

    def __init__(self) -> None:
        self.layers: Tuple[Layer, ...] = ()
        self.plans: Dict[Tuple[Tuple[int, ...], str], Optional[Plan]] = {}

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()         # type: ignore[misc]

    def same_layers(self, layers: List[Layer]) -> bool:
        """Whether `layers` is still the layer list the plans were made for."""
        if len(layers) != len(self.layers):
            return False
        for a, b in zip(layers, self.layers):
            if a is not b:
                return False
        return True

    def get(self, layers: List[Layer], x: np.ndarray) -> Optional[Plan]:
        """The plan for x (compiled now if need be), or None: the per-layer path."""
        if not self.same_layers(layers):
            self.layers, self.plans = tuple(layers), {}
        key = (x.shape, x.dtype.str)
        if key in self.plans:
            plan = self.plans[key]
            if plan is None or plan.current():
                return plan
        if len(self.plans) >= self.MAX:
            self.plans.pop(next(iter(self.plans)))
        try:
            plan = self._compile(layers, x)
        except Unsupported:
            plan = None
        self.plans[key] = plan
        return plan

    def _compile(self, layers: List[Layer], x: np.ndarray) -> Plan:
        """A new plan for batches shaped and typed as x (Unsupported: none)."""
        return compile_plan(layers, x.shape, x.dtype)


class LogitsPlanCache(PlanCache):
    """A model's plans that leave its last layer's softmax off (evaluate's)."""

    def _compile(self, layers: List[Layer], x: np.ndarray) -> Plan:
        return compile_plan(layers, x.shape, x.dtype, logits=True)


def predict(model: Any, x: np.ndarray) -> Optional[np.ndarray]:
    """model's inference-mode output for the prepared batch x through its
    plan, or None when the plan is off or the model has none (a functional
    model's graph: inference_graph.py)."""
    from .sequential import Sequential
    if eager(model):
        return None
    if _switch.on and not isinstance(model, Sequential):     # a functional model's graph
        from .inference_graph import predict_graph
        return predict_graph(model, x)
    if not _switch.on or not isinstance(model, Sequential) or not isinstance(x, np.ndarray) \
            or x.shape[0] == 0:
        return None
    plan = _plan_cache(model, "_inference_plans", PlanCache).get(model.layers, x)
    return None if plan is None else plan.run(x)


def _plan_cache(model: Any, key: str, cls: type) -> PlanCache:
    cache = model.__dict__.get(key)
    if cache is None:
        cache = model.__dict__[key] = cls()
    return cache


def evaluate_forward(model: Any, x: np.ndarray) -> Optional[np.ndarray]:
    """The inference-mode output of a Sequential model for evaluate's
    prepared batch x (fit's validation, evaluate, test_on_batch) through an
    inference plan, leaving what the model's loss head reads as the
    per-layer forward leaves it; None (the per-layer path) when the plan is
    off or cannot run it, or a layer has an activity regularizer (whose
    penalty is read from the per-layer forward).  With the fused softmax +
    cross-entropy head the plan stops at the last layer's logits, which
    become its `logits`, and the softmax is the layer's own; with the
    unfused head the loss takes the plan's output.  The values are the
    plan's: bit-identical to the per-layer forward's but where a
    BatchNormalization is folded into the layer before it (rounded
    differently), as predict's."""
    from .fusion import LossHead
    from .sequential import Sequential
    from ..layers.fused import SoftmaxCrossEntropy
    if not _switch.on or not isinstance(model, Sequential) or type(x) is not np.ndarray \
            or x.shape[0] == 0 or eager(model) \
            or any(layer.activity_regularizer is not None for layer in model.layers):
        return None
    head = model._execution_plan().head
    if type(head) is LossHead:
        out = predict(model, x)
    elif type(head) is SoftmaxCrossEntropy and type(head.layer) in (Dense, Softmax) \
            and head.layer is model.layers[-1]:
        last: Any = head.layer
        plan = _plan_cache(model, "_logits_plans", LogitsPlanCache).get(model.layers, x)
        if plan is None:
            return None
        z = plan.run(x)
        if type(last) is Dense:                    # as Dense.forward
            out = activations.forward(last.activation, z, -1)
        else:                                      # as Softmax.forward
            out = activations.softmax(z, last._axis(z.ndim))
        last.logits = z
    else:
        return None
    if out is not None:
        model._activity = []
    return out


def _ready_plan(cache: PlanCache, layers: List[Layer], x: np.ndarray) -> Optional[Plan]:
    """The compiled, current plan for a batch shaped and typed as x exactly
    as the model's _prepare_x leaves it, or None."""
    plan = cache.plans.get((x.shape, x.dtype.str))
    if plan is None or not cache.same_layers(layers) or not plan.current():
        return None
    return plan


def predict_fast(model: Any, x: Any, batch_size: Any = None) -> Optional[np.ndarray]:
    """Sequential.predict of x in batches of batch_size (an int; None: one
    batch, as predict_on_batch and model(x)) with no Python beyond the plan calls, when x is a
    float array of exactly the shape (per batch) and dtype of a batch the
    model has already compiled a current plan for -- so _prepare_x would
    return x itself and every check it makes has passed.  None otherwise:
    the caller takes the ordinary path (which checks and compiles)."""
    if not _switch.on or type(x) is not np.ndarray or x.ndim < 2 or eager(model) or (
            batch_size is not None and (type(batch_size) is not int or batch_size < 1)):
        return None
    cache = model.__dict__.get("_inference_plans")
    if cache is None:
        return None
    layers = model.layers
    n = x.shape[0]
    if batch_size is None or n <= batch_size:
        plan = _ready_plan(cache, layers, x)
        return None if plan is None else plan.run(x)
    full = _ready_plan(cache, layers, x[:batch_size])
    rest = n % batch_size
    last = _ready_plan(cache, layers, x[n - rest:]) if rest else full
    if full is None or last is None:
        return None
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    out = np.empty((n,) + full.out_shape[1:], dtype=full.dtype)
    for lo in range(0, n - rest, batch_size):
        full.run(x[lo:lo + batch_size], out[lo:lo + batch_size])
    if rest:
        last.run(x[n - rest:], out[n - rest:])
    return out
