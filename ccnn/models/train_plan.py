"""The training plan: a Sequential model's training step as one C call.

At the first training batch (fit, train_on_batch) of a given shape and
dtype, the model's execution plan (ccnn.models.fusion: the user's layers
with the fused first Conv2D + ReLU + MaxPooling2D and the fused softmax +
cross-entropy head) is compiled into a list of C ops (csrc/kernels/
plan_train.h) with their geometry, the pointers of their weights and
gradients, and preallocated buffers for every intermediate value.  Each
training step then runs the forward (training mode), the loss and its
gradient, and the backward as one C entry point (F.plan_train_unchecked)
with the GIL released once -- and, where it can be bit-identical, the
optimizer's update too (see "The optimizer" below).

    Conv2D (groups=1, with or without bias; activation None, relu or any
        pointwise one -- sigmoid, tanh, gelu, silu, elu, selu, softplus,
        leaky_relu, ...: ccnn.activations.pointwise_kind -- in the layer's
        act_epilogue kernel)
    the fused first Conv2D(relu) + MaxPooling2D(2)
    MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D and
        GlobalMaxPooling2D (keepdims either way)
    BatchNormalization (training mode: the batch's statistics, the moving
        statistics updated as the layer updates them; frozen: inference mode,
        as in Keras 3); in training mode with a ReLU right after it, the two
        as one op (batchnorm.h's batchnorm_relu kernels)
    ReLU(), Activation (relu, linear or a pointwise one), LeakyReLU, ELU
    Flatten; Dropout (the mask drawn in the tensor's logical order: on a
        channels-last image of several channels and pixels between two
        transposes); SpatialDropout2D
    Dense (activation None, relu or a pointwise one)
    the head: a last Dense(activation='softmax') or Softmax() with a sparse
        or one-hot categorical cross-entropy; any of the above last with a
        categorical or binary cross-entropy from_logits=True; a last
        Dense(activation='sigmoid') with a binary cross-entropy (loss
        reduction not 'sum')

Leading layers without weights (augmentation such as RandomTranslation) run
their own forward in Python before the call, as the per-layer path runs
them (they need no backward).  Every op calls the kernel its layer calls,
with the same arguments and thread count, and Dropout's seed is drawn from
the same generator in the same order, so a step is bit-identical to the
per-layer step (tests/test_train_plan.py).  The gradients are written into
arrays the plan owns, which become the layers' grads after each step
(reduce_gradients, the optimizer and callbacks read them there).

The optimizer.  When fit / train_on_batch run without a distribution and
the model's optimizer is Adam (AdamW), SGD, RMSprop, Adagrad, Adadelta or
Adamax without norm clipping (clipvalue and weight decay are fine) and with
its class's kernel declared (Optimizer._plan_kernel: a subclass overriding its
update path in Python has none), the same
call ends with the optimizer's optim.c step kernel over the (grad, param)
pairs Trainer._train_step would hand apply_gradients, with the arguments its
_step would pass (_kernel_args, the learning rate checked and the schedule
read as apply_gradients does); the iteration count moves with it, and the
call, the BatchNormalization updates and the count are one block Ctrl-C
cannot cut (deferred_keyboard_interrupt).  With fit's terminate_on_nan the
call updates only when every gradient and per-row loss is finite (else the
trainer decides as before, from the loss and the gradients).  Anything else
(Nadam, clipnorm, global_clipnorm, sample weights, ...) keeps
optimizer.apply_gradients after the call.  In a DataParallel fit the same
update runs after the all-reduce, as its own C call (run_plan's reducer).

Several steps per call.  With compile(steps_per_execution=N), fit hands
an execution's batches of one shape to train_steps: the N steps and their
fused updates run in one C call (plan_train_steps) -- over fit's arrays:
each step's batch rows (the epoch permutation's, or consecutive ones) are
gathered in C just before the step, every index checked first; no
N * batch block is made -- each step's Dropout
seeds drawn beforehand in the per-step order, its optimizer scalars and
decays (a schedule's learning rate at its own iteration) precomputed, its
loss rows and BatchNormalization statistics copied out and its argmax hits
counted in C -- and the moving statistics, the iteration count, the masks
and the grads are settled once after it, as N train_step calls leave them.
A step whose check refuses its update ends the call (the draws of the steps
not run are given back).  Leading affine augmentations (RandomTranslation,
RandomRotation, RandomZoom) run too: each step's batch is gathered and
resampled in Python just before its Dropout seeds are drawn -- the order of
the draws one step at a time -- into one block of the execution's augmented
batches, which the C call takes.  In a DataParallel fit the same call runs
each step's all-reduce from inside it, between the step's backward and its
update: the C driver calls the binding's callback, which takes the GIL and
runs the reducer (moving statistics, reduce_plan's Allreduce on the buffer
the gradients were written into), as run_plan's reducer path does per step.

Anything else -- another layer or option (ReLU with arguments, a softmax
not last), sample or class weights, regularizers, another loss --
runs the per-layer path.  A weight array replaced by another, or a changed layer
list or loss, recompiles.  CCNN_TRAIN_PLAN=0 in the environment, or
ccnn.models.train_plan.set_enabled(False), turns the plan off.
"""
from __future__ import annotations

import math
import sys
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import activations
from .. import functional as F
from .. import losses as losses_mod
from .. import utils
from .._interrupt import deferred_keyboard_interrupt
from ..optimizers.base_optimizer import _UPDATE_PATH
from .data_adapters import Execution, Steps
from .plan_chain import ChainBuilder, Switch, Unsupported, Value as _Value, eager
from ..layers import (ELU, Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                      Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, Layer,
                      LeakyReLU, MaxPooling2D, ReLU, Softmax, SpatialDropout2D)
from ..layers.preprocessing.base import AffineAugmentation
from ..layers.fused import Conv2DReLUMaxPool2D, SigmoidBinaryCrossentropy, SoftmaxCrossEntropy

# plan_train.h's op codes, record fields and the optimizer record's fields (CCNN_TO_*),
# as the C compiler numbers them (ccnn._plan exports the header's enums;
# tests/test_plan_constants.py checks them against it)
from .._plan import (TP_CONV as CONV, TP_CONV_POOL as CONV_POOL, TP_DENSE as DENSE,
                     TP_MAXPOOL as MAXPOOL, TP_BN as BN, TP_RELU as RELU, TP_DROPOUT as DROPOUT,
                     TP_TRANSPOSE as TRANSPOSE, TP_SOFTMAX_XENT as SOFTMAX_XENT,
                     TP_POINTWISE as POINTWISE, TP_AVGPOOL as AVGPOOL, TP_GAVGPOOL as GAVGPOOL,
                     TP_GMAXPOOL as GMAXPOOL, TP_SIGMOID_BCE as SIGMOID_BCE,
                     TP_SPATIAL_DROPOUT as SPATIAL_DROPOUT, TP_BN_RELU as BN_RELU, TF_OP as F_OP,
                     TF_FLAG as F_FLAG, TF_SRC as F_SRC, TF_DST as F_DST, TF_DSRC as F_DSRC,
                     TF_DDST as F_DDST, TF_WEIGHT as F_WEIGHT, TF_BIAS as F_BIAS,
                     TF_DWEIGHT as F_DWEIGHT, TF_DBIAS as F_DBIAS, TF_AUX as F_AUX,
                     TF_AUX2 as F_AUX2, TF_AUX3 as F_AUX3, TF_SEED as F_SEED, TF_N as F_N,
                     TF_C as F_C, TF_H as F_H, TF_W as F_W, TF_K as F_K, TF_R as F_R, TF_S as F_S,
                     TF_SH as F_SH, TF_SW as F_SW, TF_DH as F_DH, TF_DW as F_DW, TF_PT as F_PT,
                     TF_PB as F_PB, TF_PL as F_PL, TF_PR as F_PR, TF_KIND as F_KIND,
                     TRAIN_FIELDS as FIELDS, TR_EPS as R_EPS, TR_RATE as R_RATE,
                     TR_ALPHA as R_ALPHA, TR_SCALE as R_SCALE, TRAIN_REALS as REALS, TO_KIND, TO_COUNT, TO_CHECK,
                     TO_ROWS, TO_NROWS, TO_HAS0, TO_HAS1, TO_HAS2, TO_DECAY, TO_GSCALE, TO_HEAD,
                     TO_REALS)
XENT_SPARSE, XENT_FROM_LOGITS = 1, 2        # SOFTMAX_XENT's flag bits

_switch = Switch("CCNN_TRAIN_PLAN")
_calls = 0


def set_enabled(enabled: bool) -> None:
    """Turn the training plan on (the default) or off (every training step
    runs the per-layer path)."""
    _switch.set(enabled)


def is_enabled() -> bool:
    """Whether training steps run through the training plan where they can."""
    return _switch.on


def calls() -> int:
    """How many training steps the plans of this process have run."""
    return _calls


class _Op:
    def __init__(self, op: int, src: _Value, dst: _Value, fields: Dict[int, int]):
        self.op, self.src, self.dst = op, src, dst
        self.fields = {F_OP: op, F_FLAG: 0}
        self.fields.update({k: int(v) for k, v in fields.items()})
        self.reals = [0.0] * REALS
        self.slots: Dict[int, np.ndarray] = {}   # field -> array (its pointer goes in the table)
        self.weighted = False


class TrainPlan:
    """One model's compiled training step for one batch shape and dtype."""

    def __init__(self) -> None:
        self.code = np.zeros((0, FIELDS), dtype=np.int64)
        self.reals = np.zeros((0, REALS), dtype=np.float64)
        self.ptrs = np.zeros(3, dtype=np.int64)
        self.keep: List[np.ndarray] = []
        self.watched: List[Tuple[Dict[str, np.ndarray], str, np.ndarray]] = []
        self.lead: List[Any] = []            # the leading steps, run in Python
        self.in_shape: Tuple[int, ...] = ()  # the plan's input (after the leading steps)
        self.out = np.zeros(0)
        self.rows = np.zeros(0)
        self.dtype = np.dtype(np.float32)
        self.sparse = True
        self.bce = False                     # a sigmoid + binary cross-entropy head
        #: compile's loss_weights: the loss head's gradient (its op's R_SCALE)
        #: and the step's loss (_rows_loss) are scaled by it
        self.loss_weight = 1.0
        self.nbytes = (0, 0, 0)
        #: (op row, Dropout or SpatialDropout2D, rate, its first mask buffer (bool))
        self.dropouts: List[Tuple[int, Any, float, np.ndarray]] = []
        self.rings: Optional[List[_MaskRing]] = None    # the masks' buffers (run_plan)
        self.no_masks: List[Any] = []          # rate 0.0: the identity (mask None)
        self.bns: List[Tuple[BatchNormalization, np.ndarray, np.ndarray]] = []
        self.grads: List[Tuple[Layer, Dict[str, np.ndarray]]] = []
        self.ops: List[str] = []                 # a description, one name per op
        self.lock = threading.Lock()
        #: the (grad, param) pairs _train_step gives apply_gradients (None: not yet
        #: made; empty: the update cannot be fused), and their optimizer record
        self.pairs: Optional[List[Tuple[np.ndarray, np.ndarray]]] = None
        self.params: List[np.ndarray] = []       # the pairs' params
        self.opt_rec: Optional[_OptRecord] = None
        #: the record of the update after a DataParallel all-reduce (run_plan)
        self.dist_rec: Optional[_OptRecord] = None

    def current(self) -> bool:
        """Whether every weight array it points at is still the layer's, and
        the options it checks per step are as compiled."""
        for d, k, a in self.watched:
            if d.get(k) is not a:
                return False
        for _, layer, rate, _ in self.dropouts:
            if layer.rate != rate:
                return False
        return True


class _MaskRing:
    """A Dropout's mask buffers: the call writes the mask into `cur` (table
    slot `slot`), which then becomes the layer's mask (as its forward leaves
    one) without a copy; the next call writes into `spare` -- the mask of
    the step before -- once nothing but this ring holds it (its reference
    count back to `spare_base`), else into a new buffer."""
    __slots__ = ("slot", "layer", "cur", "cur_addr", "cur_base", "spare", "spare_addr",
                 "spare_base")

    def __init__(self, plan: TrainPlan, row: int, layer: Any, mask: np.ndarray):
        self.slot, self.layer = int(plan.code[row, F_AUX]), layer
        self.cur, self.cur_addr = mask, int(plan.ptrs[self.slot])
        self.cur_base = -1      # the first buffer: the plan's lists hold it, never reused
        self.spare: Optional[np.ndarray] = None
        self.spare_addr = self.spare_base = 0

    def turn(self, ptrs: np.ndarray) -> None:
        """The layer takes the mask just written; the other buffer is next."""
        self.layer.mask = self.cur
        if self.spare is None or sys.getrefcount(self.spare) != self.spare_base:
            self.spare = np.empty_like(self.cur)    # (the old one stays with its holder)
            self.spare_addr = self.spare.ctypes.data
            self.spare_base = sys.getrefcount(self.spare)
        self.cur, self.spare = self.spare, self.cur
        self.cur_addr, self.spare_addr = self.spare_addr, self.cur_addr
        self.cur_base, self.spare_base = self.spare_base, self.cur_base
        ptrs[self.slot] = self.cur_addr


class _OptRecord:
    """plan_train.h's optimizer record: opt's step kernel over the plan's
    pairs, pointing at the flat views and state lists its _step would get
    (Optimizer._flat_state); valid while that cache is the optimizer's."""

    def __init__(self, opt: Any, pairs: List[Tuple[np.ndarray, np.ndarray]],
                 rows: np.ndarray):
        params = [p for _, p in pairs]
        flat, state = opt._flat_state(params)
        self.opt, self.cache = opt, opt.__dict__.get("_flat_cache")
        count = len(params)
        self.code = np.zeros(TO_HEAD + 6 * count, dtype=np.int64)
        self.reals = np.zeros(TO_REALS)
        self.decay = np.zeros(count)
        self.decay_addr = self.decay.ctypes.data
        self.gscale = np.ones(count)             # TO_GSCALE's (set per step, or 0)
        self.rows = rows
        names = (tuple(opt._plan_slots()) + (None, None, None))[:3]
        lists = [flat] + [state[s] if s else None for s in names] + \
            [[g.reshape(-1) for g, _ in pairs]]
        c = self.code
        c[TO_KIND], c[TO_COUNT] = opt._plan_kernel, count
        c[TO_ROWS], c[TO_NROWS] = rows.ctypes.data, rows.size
        for j, arrays in enumerate(lists):
            if arrays is not None:
                if 1 <= j <= 3:
                    c[TO_HAS0 + j - 1] = 1
                c[TO_HEAD + j * count:TO_HEAD + (j + 1) * count] = [a.ctypes.data
                                                                    for a in arrays]
        c[TO_HEAD + 5 * count:] = [p.size for p in params]
        self.keep = (lists, rows, params)

    def set_gscale(self, scale: float) -> None:
        """Every grad's scale in the update (a DataParallel step's share; 1.0: none)."""
        if scale != 1.0:
            self.gscale.fill(scale)
            self.code[TO_GSCALE] = self.gscale.ctypes.data
        else:
            self.code[TO_GSCALE] = 0


def _plan_pairs(plan: TrainPlan, layers: List[Layer]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """The pairs Trainer._train_step hands apply_gradients, with the plan's
    gradient arrays; empty when the plan lacks one or a param repeats."""
    grads = {id(layer): g for layer, g in plan.grads}
    pairs = []
    for layer in layers:
        if layer.trainable:
            for k, p in layer.params.items():
                g = grads.get(id(layer), {}).get(k)
                if g is None or g.shape != p.shape or g.dtype != p.dtype:
                    return []
                pairs.append((g, p))
    return pairs if len({id(p) for _, p in pairs}) == len(pairs) else []


def _fusable(opt: Any) -> bool:
    """Whether the plan's call may run opt's update: it has a kernel the plan
    knows (Optimizer._plan_kernel), no method of its update path is replaced
    on the instance, and no norm clipping (a pass of its own)."""
    return opt is not None and opt._plan_kernel is not None \
        and not opt.clipnorm and not opt.global_clipnorm \
        and _UPDATE_PATH.isdisjoint(opt.__dict__)


def _bind_grads(plan: TrainPlan, layers: List[Layer], reducer: Any) -> Optional[np.ndarray]:
    """Make the plan's gradient arrays reducer's slots in its all-reduce buffer
    (the table's pointers, the layers' grads, plan.pairs; done once per fit);
    returns the buffer's loss slot, or None (then the reducer is not used)."""
    pairs = plan.pairs
    assert pairs is not None
    got = reducer.plan_buffer(pairs, plan.dtype)
    if got is None:
        return None
    slots, loss_slot = got
    if all(g is s for (g, _), s in zip(pairs, slots)):
        return loss_slot
    rows = []
    for (g, _), s in zip(pairs, slots):
        hits = np.flatnonzero(plan.ptrs == g.ctypes.data)
        if hits.size != 1 or not g.flags.c_contiguous or s.shape != g.shape \
                or s.dtype != g.dtype:
            return None             # not an array only the call writes: leave it
        rows.append(int(hits[0]))
    new = {id(g): s for (g, _), s in zip(pairs, slots)}
    for row, s in zip(rows, slots):
        plan.ptrs[row] = s.ctypes.data
    for _, grads in plan.grads:
        for k, g in grads.items():
            grads[k] = new.get(id(g), g)
    plan.keep = [new.get(id(a), a) for a in plan.keep]     # (the slots keep the buffer)
    plan.pairs = _plan_pairs(plan, layers)
    plan.params = [p for _, p in plan.pairs]
    plan.opt_rec = plan.dist_rec = None
    return loss_slot


def _fused_update(plan: TrainPlan, layers: List[Layer], opt: Any, check: bool,
                  reducer: Any = None) -> Optional[Tuple[_OptRecord, float]]:
    """The optimizer record filled for this step (its scalars, decays and the
    check) and the learning rate, or None: apply_gradients after the call.
    With a reducer (DataParallel's), the record of the update after its
    all-reduce: over its buffer's gradients, checking its loss slot."""
    if not _fusable(opt):
        return None
    lr = opt.learning_rate
    if not (math.isfinite(lr) and lr >= 0):
        return None                     # apply_gradients raises its ValueError
    rec = _opt_record(plan, layers, opt, reducer)
    if rec is None:
        return None
    args = (opt.clipvalue or 0.0,) + opt._kernel_args(opt.iterations + 1, lr)
    rec.reals[:len(args)] = args
    decay = opt._decays(plan.params, lr)
    code = rec.code
    if decay is not None:
        rec.decay[:] = decay
        code[TO_DECAY] = rec.decay_addr
    elif code[TO_DECAY]:
        code[TO_DECAY] = 0
    if code[TO_CHECK] != check:
        code[TO_CHECK] = check
    if reducer is not None:
        rec.set_gscale(reducer.update_scale())
    return rec, lr


def _opt_record(plan: TrainPlan, layers: List[Layer], opt: Any,
                reducer: Any = None) -> Optional[_OptRecord]:
    """The plan's optimizer record for opt (made now if need be; with a
    reducer, over its buffer's gradients), or None when its update cannot be
    fused (_fusable checked by the caller)."""
    if plan.pairs is None:
        plan.pairs = _plan_pairs(plan, layers)
        plan.params = [p for _, p in plan.pairs]
    pairs, params = plan.pairs, plan.params
    if not pairs:
        return None
    for p in params:
        if not p.flags.writeable:
            return None
    rows = plan.rows
    if reducer is not None:
        got = _bind_grads(plan, layers, reducer)
        if got is None:
            return None
        rows, pairs, params = got, plan.pairs, plan.params
    rec = plan.opt_rec if reducer is None else plan.dist_rec
    if rec is None or rec.opt is not opt or rec.cache is not opt.__dict__.get("_flat_cache") \
            or rec.cache[1] != opt._slot_names or rec.rows is not rows:
        if not opt._has_state(params):
            return None     # apply_gradients makes the state (only if it updates)
        rec = _OptRecord(opt, pairs, rows)
        if reducer is None:
            plan.opt_rec = rec
        else:
            plan.dist_rec = rec
    return rec


def _targets(plan: TrainPlan, lossfn: losses_mod.Loss, y: np.ndarray, n: int,
             classes: int) -> Optional[np.ndarray]:
    """The loss's targets as the fused head hands them to its kernels, or None."""
    if plan.sparse:
        if type(y) is not np.ndarray or y.dtype != np.int64 or y.shape != (n,) \
                or not y.flags.c_contiguous:
            return None
        return y
    lf: Any = lossfn
    if plan.bce:         # BinaryCrossentropy._targets: y as the logits' dtype and shape
        if type(y) is not np.ndarray:
            return None
        t, _ = lf._targets(plan.out, y)
        return np.ascontiguousarray(t)
    t = lf._check_y(y, n, classes, lf._y_name)
    return np.ascontiguousarray(lf._smoothed(t, plan.dtype))


def _act(layer: Any) -> Tuple[int, int, float, str]:
    """(flag, pointwise kind, alpha, name) of a Conv2D's / Dense's activation:
    flag 0 for none, 1 for the fused ReLU, 2 for a pointwise.h activation
    (the layers' act_epilogue call); Unsupported otherwise (softmax, log_softmax)."""
    if layer.activation is None:
        return 0, 0, 0.0, ""
    if layer.activation == "relu":
        return 1, 0, 0.0, "+relu"
    act = activations.pointwise_kind(layer.activation)
    if act is None:
        raise Unsupported(f"{layer.name}: activation {layer.activation!r}")
    return 2, F.POINTWISE[act[0]], float(act[1]), "+" + layer.activation


def _set_act(op: _Op, act: Tuple[int, int, float, str], shape: Tuple[int, ...],
             dtype: np.dtype) -> None:
    """The op's activation fields; for a pointwise one its pre-activation (aux)
    and that one's gradient (aux2), buffers of the output's shape."""
    op.fields[F_FLAG] = act[0]
    if act[0] >= 2:
        op.fields[F_KIND] = act[1]
        op.reals[R_ALPHA] = act[2]
        op.slots[F_AUX] = np.empty(shape, dtype=dtype)
        op.slots[F_AUX2] = np.empty(shape, dtype=dtype)


class _Builder(ChainBuilder):
    def __init__(self, steps: List[Any], k: int, in_shape: Tuple[int, ...], dtype: np.dtype,
                 lossfn: losses_mod.Loss, loss_weight: float = 1.0):
        self.steps, self.k, self.dtype, self.lossfn = steps, k, dtype, lossfn
        self.ops: List[_Op] = []
        self.names: List[str] = []
        self.plan = TrainPlan()
        self.plan.dtype = dtype
        self.plan.loss_weight = loss_weight
        self.plan.lead = list(steps[:k])
        self.plan.in_shape = in_shape
        self.input = self.cur = _Value("raw", in_shape)
        self.back: Optional[_Op] = None     # the transpose back after a channels-last Dropout

    # -------------------------------------------------------- helpers
    @staticmethod
    def plan_input(leading: List[Any], x_shape: Tuple[int, ...], dtype: Any
                   ) -> Tuple[int, ...]:
        """The plan's input shape: batches of x_shape after the leading layers
        (run in Python); Unsupported when one of them has another dtype or
        their output shape is not known."""
        in_shape = tuple(int(d) for d in x_shape)
        if any(np.dtype(layer.dtype) != np.dtype(dtype) for layer in leading):
            raise Unsupported("leading layers of another dtype")
        if leading:
            shape = leading[-1].output_shape
            if shape is None or any(d is None for d in shape[1:]):
                raise Unsupported("the leading layers' output shape")
            in_shape = (in_shape[0],) + tuple(int(d) for d in shape[1:])
        return in_shape

    def weight(self, layer: Layer, key: str) -> np.ndarray:
        a = layer.params[key]
        if a.dtype != self.dtype or not a.flags.c_contiguous:
            raise Unsupported(f"{layer.name}: weight {key} is not a C-contiguous {self.dtype}")
        self.plan.watched.append((layer.params, key, a))
        return a

    def grads_of(self, layer: Layer, op: _Op, pairs: Tuple[Tuple[int, int, str], ...]) -> None:
        """The op's weights and their gradient buffers: (weight field, grad field, key)."""
        grads: Dict[str, np.ndarray] = {}
        for wf, gf, key in pairs:
            if key in layer.params:
                w = self.weight(layer, key)
                op.slots[wf] = w
                op.slots[gf] = grads[key] = np.zeros_like(w)
        if set(grads) != set(layer.params):
            raise Unsupported(f"{layer.name}: weights {sorted(layer.params)}")
        op.weighted = True
        self.plan.grads.append((layer, grads))

    def emit(self, op: _Op, name: str) -> _Op:
        if op.src.root is not (self.ops[-1].dst.root if self.ops else self.input):
            raise Unsupported("not a chain")        # cannot happen: one value at a time
        self.ops.append(op)
        self.names.append(name)
        self.cur = op.dst
        return op

    def transpose(self, src: _Value, dst: _Value, n: int, a: int, b: int, name: str) -> _Op:
        return self.emit(_Op(TRANSPOSE, src, dst, {F_N: n, F_C: a, F_H: b}), name)

    def flat(self) -> _Value:
        v = self.cur
        if v.kind == "raw" and len(v.shape) == 2:
            v = self.cur = _Value("flat", v.shape, base=v)
        if v.kind != "flat":
            raise Unsupported("a layer of flat tensors on a tensor of more than two axes")
        return v

    def conv_geometry(self, conv: Conv2D) -> Tuple[_Value, Dict[int, int], Tuple[int, int]]:
        if type(conv) is not Conv2D or conv.groups != 1 or conv.rank != 2:
            raise Unsupported(type(conv).__name__)
        v = self.to_image(conv.data_format)
        n, c, h, w = v.shape
        k, kc, r, s = conv.params["kernel"].shape
        if kc != c:
            raise Unsupported("channels")
        pt, pb, pl, pr = conv._pads(h, w)
        _, _, p, q = conv._split(conv.compute_output_shape(conv._join(n, c, h, w)))
        return v, {F_N: n, F_C: c, F_H: h, F_W: w, F_K: k, F_R: r, F_S: s,
                   F_SH: conv.strides[0], F_SW: conv.strides[1], F_DH: conv.dilation_rate[0],
                   F_DW: conv.dilation_rate[1], F_PT: pt, F_PB: pb, F_PL: pl,
                   F_PR: pr}, (int(p), int(q))  # type: ignore[arg-type]

    # -------------------------------------------------------- steps
    def conv(self, conv: Conv2D) -> None:
        act = _act(conv)
        v, fields, (p, q) = self.conv_geometry(conv)
        out = _Value("image", (v.shape[0], fields[F_K], p, q), conv.data_format)
        op = _Op(CONV, v, out, fields)
        _set_act(op, act, out.shape, self.dtype)
        self.grads_of(conv, op, ((F_WEIGHT, F_DWEIGHT, "kernel"), (F_BIAS, F_DBIAS, "bias")))
        self.emit(op, "conv" + act[3])

    def conv_pool(self, step: Conv2DReLUMaxPool2D) -> None:
        if any(op.weighted for op in self.ops):      # it gives no input gradient
            raise Unsupported("the fused conv + pool after a layer with weights")
        v, fields, (p, q) = self.conv_geometry(step.conv)
        f = fields
        if not F.conv2d_relu_maxpool2d_supported(
                v.shape, (f[F_K], f[F_C], f[F_R], f[F_S]), (f[F_SH], f[F_SW]),
                (f[F_DH], f[F_DW]), (f[F_PT], f[F_PB], f[F_PL], f[F_PR])):
            raise Unsupported("conv + relu + pool geometry")
        out = _Value("image", (v.shape[0], fields[F_K], p // 2, q // 2), step.conv.data_format)
        op = _Op(CONV_POOL, v, out, fields)
        op.slots[F_AUX] = np.empty(out.shape, dtype=np.uint8)
        self.grads_of(step.conv, op, ((F_WEIGHT, F_DWEIGHT, "kernel"),
                                      (F_BIAS, F_DBIAS, "bias")))
        self.emit(op, "conv+relu+maxpool2")

    def dense(self, layer: Dense, act: Tuple[int, int, float, str]) -> None:
        if type(layer) is not Dense:
            raise Unsupported(type(layer).__name__)
        v = self.flat()
        kernel = layer.params["kernel"]
        n, fan_in = v.shape
        if kernel.shape[0] != fan_in:
            raise Unsupported("Dense's fan-in")
        units = kernel.shape[1]
        op = _Op(DENSE, v, _Value("flat", (n, units)), {F_N: n, F_C: fan_in, F_K: units})
        _set_act(op, act, (n, units), self.dtype)
        self.grads_of(layer, op, ((F_WEIGHT, F_DWEIGHT, "kernel"), (F_BIAS, F_DBIAS, "bias")))
        self.emit(op, "dense" + act[3])

    def pool(self, layer: Any) -> None:
        """MaxPooling2D (int64 argmax in aux) or AveragePooling2D (padding not
        counted, as the layer calls avg_pool2d)."""
        if type(layer) not in (MaxPooling2D, AveragePooling2D) or layer.rank != 2:
            raise Unsupported(type(layer).__name__)
        avg = type(layer) is AveragePooling2D
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        pt, pb, pl, pr = layer._pads(h, w)
        _, _, p, q = layer._split(layer.compute_output_shape(layer._join(n, c, h, w)))
        out = _Value("image", (n, c, int(p), int(q)), layer.data_format)
        op = _Op(AVGPOOL if avg else MAXPOOL, v, out,
                 {F_N: n, F_C: c, F_H: h, F_W: w, F_R: layer.pool_size[0],
                  F_S: layer.pool_size[1], F_SH: layer.strides[0], F_SW: layer.strides[1],
                  F_PT: pt, F_PB: pb, F_PL: pl, F_PR: pr})
        if not avg:
            op.slots[F_AUX] = np.empty(out.shape, dtype=np.int64)
        self.emit(op, "avgpool" if avg else "maxpool")

    def global_pool(self, layer: Any) -> None:
        """GlobalAveragePooling2D / GlobalMaxPooling2D: (n, c) plane values, or
        with keepdims an (n, c, 1, 1) image (the same memory either way)."""
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        out = (_Value("image", (n, c, 1, 1), v.fmt) if layer.keepdims
               else _Value("flat", (n, c)))
        avg = type(layer) is GlobalAveragePooling2D
        op = _Op(GAVGPOOL if avg else GMAXPOOL, v, out, {F_N: n * c, F_H: h * w})
        if not avg:
            op.slots[F_AUX] = np.empty(n * c, dtype=np.int64)
        self.emit(op, "global_avgpool" if avg else "global_maxpool")

    def pointwise(self, kind: str, alpha: float) -> None:
        v = self.cur
        op = _Op(POINTWISE, v, _Value(v.kind, v.shape, v.fmt), {F_N: v.size,
                                                                 F_KIND: F.POINTWISE[kind]})
        op.reals[R_ALPHA] = alpha
        self.emit(op, kind)

    def batchnorm(self, layer: BatchNormalization) -> None:
        if type(layer) is not BatchNormalization:
            raise Unsupported(type(layer).__name__)
        v, outer, c, inner = self.norm_rows(layer)
        if v.kind == "image" and v.fmt == "channels_last" and (c == 1 or inner == 1):
            raise Unsupported("BatchNormalization of a one-channel / one-pixel image")
        op = _Op(BN, v, _Value(v.kind, v.shape, v.fmt), {F_N: outer, F_C: c, F_H: inner})
        op.reals[R_EPS] = layer.epsilon
        self.grads_of(layer, op, ((F_WEIGHT, F_DWEIGHT, "gamma"), (F_BIAS, F_DBIAS, "beta")))
        for key in ("moving_mean", "moving_variance"):
            a = layer.states[key]
            if a.dtype != self.dtype or a.shape != (c,) or not a.flags.c_contiguous:
                raise Unsupported(f"{layer.name}: {key}")
        invstd = np.empty(c, dtype=self.dtype)
        if layer.trainable:      # the batch's statistics; the moving ones updated after
            mean, var = np.empty(c, dtype=self.dtype), np.empty(c, dtype=self.dtype)
            self.plan.bns.append((layer, mean, var))
        else:                    # frozen (Keras 3): inference mode, the moving statistics
            op.fields[F_FLAG] = 1
            mean, var = layer.states["moving_mean"], layer.states["moving_variance"]
            self.plan.watched += [(layer.states, "moving_mean", mean),
                                  (layer.states, "moving_variance", var)]
        op.slots.update({F_AUX: mean, F_AUX2: var, F_AUX3: invstd})
        self.emit(op, "batchnorm" if layer.trainable else "batchnorm(frozen)")

    def relu(self) -> None:
        last = self.ops[-1] if self.ops else None
        if last is not None and last.op == BN and last.fields[F_FLAG] == 0 \
                and self.cur is last.dst:
            # a BatchNormalization in training mode right before: one fused op
            # (its output is the ReLU's), bit for bit the two
            last.op = last.fields[F_OP] = BN_RELU
            self.names[-1] = "batchnorm+relu"
            return
        v = self.cur
        self.emit(_Op(RELU, v, _Value(v.kind, v.shape, v.fmt), {F_N: v.size}), "relu")

    def flatten(self, layer: Flatten) -> None:
        if type(layer) is not Flatten:
            raise Unsupported(type(layer).__name__)
        todo = self.flatten_view(layer.data_format)
        if todo is None:
            return
        v, n, c, hw = todo
        if self.ops and self.ops[-1] is self.back and self.back.dst is v:
            self.ops.pop()          # the Dropout's NHWC values are the flattened ones
            self.names.pop()
            self.cur = self.back.src
            return
        self.transpose(v, _Value("flat", (n, c * hw)), n, c, hw, "nchw->nhwc")

    def dropout(self, layer: Dropout) -> None:
        if type(layer) is not Dropout:
            raise Unsupported(type(layer).__name__)
        if layer.rate == 0.0:            # the identity, no draw
            self.plan.no_masks.append(layer)
            return
        v = self.cur                     # the mask is drawn in the tensor's logical order
        back = None
        if v.kind == "image":
            n, c, h, w = v.shape
            logical = v.shape if v.fmt == "channels_first" else (n, h, w, c)
            if v.fmt == "channels_last" and c > 1 and h * w > 1:
                # NCHW memory, NHWC order: the dropout between two transposes
                nhwc = _Value("flat", (n, h * w * c))
                self.emit(_Op(TRANSPOSE, v, nhwc, {F_N: n, F_C: c, F_H: h * w}), "nchw->nhwc")
                v, back = nhwc, (n, c, h, w)
        else:
            v = self.flat()
            logical = v.shape
        op = _Op(DROPOUT, v, _Value(v.kind, v.shape, v.fmt), {F_N: v.size})
        op.reals[R_RATE] = layer.rate
        op.slots[F_AUX] = np.empty(logical, dtype=np.bool_)    # 0 / 1 bytes: the layer's mask
        self.plan.dropouts.append((len(self.ops), layer, layer.rate, op.slots[F_AUX]))
        self.emit(op, "dropout")
        if back is not None:
            n, c, h, w = back
            self.back = self.emit(_Op(TRANSPOSE, op.dst, _Value("image", back, "channels_last"),
                                      {F_N: n, F_C: h * w, F_H: c}), "nhwc->nchw")

    def bce_head(self, step: Optional[SigmoidBinaryCrossentropy]) -> None:
        """Dense(sigmoid) + BinaryCrossentropy from the Dense's logits (its
        pre-activation): the Dense's forward with its sigmoid, its backward
        from d(loss)/d(logits); with step None a BinaryCrossentropy
        from_logits=True of the current value (the model's output)."""
        lossfn: Any = step.lossfn if step is not None else self.lossfn
        if type(lossfn) is not losses_mod.BinaryCrossentropy or lossfn.reduction == "sum" \
                or lossfn.axis != -1 \
                or (lossfn.dtype is not None and np.dtype(lossfn.dtype) != self.dtype):
            raise Unsupported(f"loss {lossfn!r}")
        logits = None
        if step is not None:
            if type(step.layer) is not Dense:
                raise Unsupported(f"head {type(step.layer).__name__}")
            act = _act(step.layer)
            self.dense(step.layer, (3,) + act[1:])
            logits = self.ops[-1].slots[F_AUX]
        y = self.flat()
        op = _Op(SIGMOID_BCE, y, _Value("flat", y.shape, base=y), {F_N: y.size})
        op.reals[R_ALPHA] = 1.0 / max(y.size, 1)
        op.reals[R_SCALE] = self.plan.loss_weight
        self.plan.rows = np.empty(y.shape, dtype=self.dtype)    # the elementwise losses
        op.slots[F_AUX2] = self.plan.rows
        if logits is not None:
            op.slots[F_AUX] = logits
        self.plan.sparse, self.plan.bce = False, True
        self.emit(op, "sigmoid+binary_cross_entropy" if step is not None
                  else "binary_cross_entropy(from_logits)")

    def spatial_dropout(self, layer: SpatialDropout2D) -> None:
        if layer.rate == 0.0:            # the identity, no draw
            self.plan.no_masks.append(layer)
            return
        v = self.to_image(layer.data_format)
        n, c, h, w = v.shape
        op = _Op(SPATIAL_DROPOUT, v, _Value("image", v.shape, v.fmt), {F_N: n, F_C: c,
                                                                        F_H: h * w})
        op.reals[R_RATE] = layer.rate
        op.slots.update({F_AUX: np.empty((n, c), dtype=np.bool_),
                         F_AUX2: np.empty(n * c, dtype=self.dtype),
                         F_AUX3: np.empty(n * c, dtype=np.float64)})
        self.plan.dropouts.append((len(self.ops), layer, layer.rate, op.slots[F_AUX]))
        self.emit(op, "spatial_dropout")

    def head(self, step: Optional[SoftmaxCrossEntropy]) -> None:
        """The loss: the fused softmax + cross-entropy of a last Dense(softmax)
        or Softmax layer (step), or with step None a cross-entropy
        from_logits=True of the current value (the model's output)."""
        lossfn = step.lossfn if step is not None else self.lossfn
        if type(lossfn) not in (losses_mod.SparseCategoricalCrossentropy,
                                losses_mod.CategoricalCrossentropy) \
                or lossfn.reduction == "sum" or getattr(lossfn, "axis", -1) != -1:
            raise Unsupported(f"loss {lossfn!r}")
        flag = 0
        if step is None:
            flag = XENT_FROM_LOGITS
        elif type(step.layer) is Dense:
            self.dense(step.layer, (0, 0, 0.0, ""))
        elif type(step.layer) is not Softmax:
            raise Unsupported(f"head {type(step.layer).__name__}")
        z = self.flat()
        n, classes = z.shape
        self.plan.sparse = type(lossfn) is losses_mod.SparseCategoricalCrossentropy
        flag |= XENT_SPARSE if self.plan.sparse else 0
        # from_logits: the output is the logits, the op's dst their memory
        op = _Op(SOFTMAX_XENT, z, _Value("flat", (n, classes), base=z if flag & 2 else None),
                 {F_FLAG: flag, F_N: n, F_C: classes})
        op.reals[R_SCALE] = self.plan.loss_weight
        self.plan.rows = np.empty(n, dtype=self.dtype)
        op.slots.update({F_AUX: self.plan.rows, F_AUX2: np.empty((n, classes), self.dtype)})
        self.emit(op, "cross_entropy(from_logits)" if flag & 2 else "softmax+cross_entropy")

    def layer(self, step: Any) -> None:
        """The ops of one layer (not a fused pair, not a loss head)."""
        t = type(step)
        if t is Conv2D:
            self.conv(step)
        elif t is Dense:
            self.dense(step, _act(step))
        elif t is MaxPooling2D or t is AveragePooling2D:
            self.pool(step)
        elif t is GlobalAveragePooling2D or t is GlobalMaxPooling2D:
            self.global_pool(step)
        elif t is BatchNormalization:
            self.batchnorm(step)
        elif t is ReLU:
            if not step._plain:
                raise Unsupported("ReLU with arguments")
            self.relu()
        elif t is Activation:
            kind = activations.pointwise_kind(step.activation)
            if step.activation == "relu":
                self.relu()
            elif kind is not None:          # activations.forward's default alpha
                self.pointwise(*kind)
            elif step.activation is not None:
                raise Unsupported(f"Activation({step.activation!r})")
        elif t is LeakyReLU or t is ELU:
            self.pointwise(step.kind, step._alpha)
        elif t is Flatten:
            self.flatten(step)
        elif t is Dropout:
            self.dropout(step)
        elif t is SpatialDropout2D:
            self.spatial_dropout(step)
        else:
            raise Unsupported(t.__name__)

    # -------------------------------------------------------- the whole
    def build(self) -> TrainPlan:
        body = self.steps[self.k:]
        from_logits = bool(getattr(self.lossfn, "from_logits", False))
        if not body or not (isinstance(body[-1], (SoftmaxCrossEntropy, SigmoidBinaryCrossentropy))
                            or from_logits):
            raise Unsupported("the head is not a softmax + cross-entropy")
        for step in body:
            for layer in getattr(step, "layers", (step,)):
                if np.dtype(layer.dtype) != self.dtype:
                    raise Unsupported("layers of different dtypes")
            t = type(step)
            if t is Conv2DReLUMaxPool2D:
                self.conv_pool(step)
            elif t is SoftmaxCrossEntropy or t is SigmoidBinaryCrossentropy:
                if step is not body[-1]:
                    raise Unsupported("a head before the last step")
                if t is SoftmaxCrossEntropy:
                    self.head(step)
                else:
                    self.bce_head(step)
            else:
                self.layer(step)
        if from_logits:
            if type(self.lossfn) is losses_mod.BinaryCrossentropy:
                self.bce_head(None)
            else:
                self.head(None)
        if not self.ops or not self.ops[0].weighted and not (
                self.ops[0].op == TRANSPOSE and len(self.ops) > 1 and self.ops[1].weighted):
            raise Unsupported("the first op has no weights")
        return self.assemble()

    def assemble(self) -> TrainPlan:
        """Buffers: the input slot 0, the output slot 1, the targets slot 2,
        then one buffer per value, two ping-pong buffers for the values'
        gradients, and the ops' own arrays."""
        plan, ops = self.plan, self.ops
        final = self.cur.root
        table: List[Optional[np.ndarray]] = [None, None, None, None, None]  # x, out, t, G0, G1
        where: Dict[int, int] = {id(self.input): 0, id(final): 1}
        for op in ops:
            r = op.dst.root
            if id(r) not in where:
                where[id(r)] = len(table)
                table.append(np.empty(r.size, dtype=self.dtype))
        need = [0, 0]
        seen_weights = False
        code = np.full((len(ops), FIELDS), -1, dtype=np.int64)
        code[:, F_N:] = 0
        reals = np.zeros((len(ops), REALS), dtype=np.float64)
        last = len(ops) - 1
        for i, op in enumerate(ops):
            for k, v in op.fields.items():
                code[i, k] = v
            code[i, F_SRC] = where[id(op.src.root)]
            code[i, F_DST] = where[id(op.dst.root)]
            if seen_weights:        # an op with weights before it: the input gradient
                code[i, F_DSRC] = 3 + (i - 1) % 2
                need[(i - 1) % 2] = max(need[(i - 1) % 2], op.src.size)
            if i < last:
                code[i, F_DDST] = 3 + i % 2
                need[i % 2] = max(need[i % 2], op.dst.size)
            seen_weights = seen_weights or op.weighted
            for field, arr in op.slots.items():
                code[i, field] = len(table)
                table.append(arr)
            reals[i] = op.reals
        for j in (0, 1):
            if need[j]:
                table[3 + j] = np.empty(need[j], dtype=self.dtype)
        ptrs = np.zeros(len(table), dtype=np.int64)
        for i, buf in enumerate(table):
            if buf is not None:
                ptrs[i] = buf.ctypes.data
        plan.code, plan.reals, plan.ptrs = code, reals, ptrs
        plan.keep = [a for a in table if a is not None]
        plan.out = np.empty(self.cur.shape, dtype=self.dtype)
        n, classes = self.cur.shape
        itemsize = self.dtype.itemsize
        plan.nbytes = (int(np.prod(self.input.shape, dtype=np.int64)) * itemsize,
                       n * classes * itemsize, n * 8 if plan.sparse else n * classes * itemsize)
        plan.ops = self.names
        return plan


class TrainPlanCache:
    """A model's training plans, per batch shape and dtype, for its current
    execution plan (pickled empty: plans point at the process's memory)."""
    MAX = 4

    def __init__(self) -> None:
        self.exec_plan: Any = None
        self.plans: Dict[Tuple[Any, ...], Optional[TrainPlan]] = {}
        self.loss_weight = 1.0          # the model's when its plans were compiled

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()         # type: ignore[misc]

    def get(self, exec_plan: Any, x: np.ndarray, loss_weight: float = 1.0
            ) -> Optional[TrainPlan]:
        """The plan for x (compiled now if need be), or None: the per-layer path."""
        return self.lookup(exec_plan, exec_plan.layers, x, lambda: compile_plan(
            exec_plan.steps, exec_plan.loss, x.shape, x.dtype, loss_weight), loss_weight)

    def lookup(self, exec_plan: Any, layers: List[Layer], x: np.ndarray,
               compile: Any, loss_weight: float = 1.0) -> Optional[TrainPlan]:
        """The cached plan for x under exec_plan and the loss weight, else
        compile() (Unsupported: None, remembered); layers: whose trainable
        flags are part of the key."""
        if exec_plan is not self.exec_plan or loss_weight != self.loss_weight:
            self.exec_plan, self.plans, self.loss_weight = exec_plan, {}, loss_weight
        # which layers are frozen is part of the key: a frozen BatchNormalization
        # runs in inference mode (another plan)
        key = (x.shape, x.dtype.str, tuple([layer.trainable for layer in layers]))
        plan = self.plans.get(key, False)
        if plan is None:
            return None
        if plan is not False and plan.current():       # type: ignore[union-attr]
            return plan                                  # type: ignore[return-value]
        if len(self.plans) >= self.MAX:
            self.plans.pop(next(iter(self.plans)))
        try:
            plan = compile()
        except Unsupported:
            plan = None
        self.plans[key] = plan
        return plan


def compile_plan(steps: List[Any], lossfn: losses_mod.Loss, x_shape: Tuple[int, ...],
                 dtype: Any, loss_weight: float = 1.0) -> TrainPlan:
    """The training plan of a built model's execution steps (fusion.make_plan)
    and loss (weighted by loss_weight), for batches of x_shape; Unsupported
    when it has none."""
    k = next((i for i, s in enumerate(steps) if getattr(s, "params", True)), 0)
    in_shape = _Builder.plan_input(steps[:k], x_shape, dtype)
    return _Builder(list(steps), k, in_shape, np.dtype(dtype), lossfn, loss_weight).build()


def _uses_regularizers(layers: List[Layer]) -> bool:
    for layer in layers:
        if layer.is_model:
            from .nested import uses_regularization
            if uses_regularization(layer):
                return True
        elif layer.__dict__.get("regularizers") or layer.activity_regularizer is not None \
                or type(layer).regularization_loss is not Layer.regularization_loss \
                or type(layer).add_regularization_grads is not Layer.add_regularization_grads:
            return True
    return False


_model_classes: Optional[Tuple[Any, Any]] = None       # (Sequential, Trainer), at first use
#: the bit generators whose random_raw() is one 64-bit output (MT19937's is 32 bits)
_RAW64 = (np.random.PCG64, np.random.PCG64DXSM, np.random.SFC64, np.random.Philox)


def _classes() -> Tuple[Any, Any]:
    """(Sequential, Trainer), imported at first use."""
    global _model_classes
    if _model_classes is None:
        from .sequential import Sequential
        from .trainer import Trainer
        _model_classes = (Sequential, Trainer)
    return _model_classes


def _model_plan(model: Any, x: Any, trainer: Any) -> Optional[Tuple[Any, TrainPlan]]:
    """(execution plan, training plan) of a Sequential model for the batch x,
    or None: the plan is off, the model has none or its step is its own."""
    if not _switch.on or type(x) is not np.ndarray or x.shape[0] == 0 or eager(model):
        return None
    cls = type(model)       # a step customised (or patched) in Python keeps its Python
    if cls._forward is not trainer._forward \
            or cls._loss_and_backward is not trainer._loss_and_backward:
        return None
    if _uses_regularizers(model.layers):
        return None
    exec_plan = model._execution_plan()
    cache = model.__dict__.get("_train_plans")
    if cache is None:
        cache = model.__dict__["_train_plans"] = TrainPlanCache()
    plan = cache.get(exec_plan, x, model._loss_weight)
    if plan is None:
        return None
    assert exec_plan.loss is not None
    return exec_plan, plan


def train_step(model: Any, x: np.ndarray, y: np.ndarray, optimizer: Any = None,
               check: bool = False, reducer: Any = None
               ) -> Optional[Tuple[float, np.ndarray, Optional[bool]]]:
    """(loss, output, applied) of one training step of model on the prepared
    batch (x, y) through its training plan, every layer's grads filled, or
    None when the plan is off or the model has none (nothing has run then).
    With an optimizer its update runs in the same call where it can
    (_fused_update): applied True, or False when check (terminate_on_nan) found
    a non-finite loss row or gradient and nothing was updated; None when the
    update is left to the caller.  reducer: a DataParallel fit's
    (plan_reducer), whose all-reduce then runs between the backward and the
    update (see run_plan); the loss returned is then the global one and a
    False applied final (the check was on the global sums)."""
    sequential, trainer = _classes()
    if not isinstance(model, sequential):
        from . import train_graph          # a functional model: its graph's plan
        return train_graph.train_step(model, x, y, optimizer, check, reducer)
    found = _model_plan(model, x, trainer)
    if found is None:
        return None
    exec_plan, plan = found
    layers = model.layers
    cls = type(model)

    def rest(x: np.ndarray) -> Tuple[float, np.ndarray, Optional[bool]]:
        """The steps after the leading ones per layer (as _forward)."""
        model._activity = []
        for step in exec_plan.steps[len(plan.lead):]:
            x = step.forward(x, True)
        return model._loss_and_backward(x, y), x, None
    # no regularizer and no activity: the stock _regularization_loss is 0.0
    return run_plan(model, plan, exec_plan.loss, layers, rest, x, y, optimizer, check,
                    cls._regularization_loss is not trainer._regularization_loss, reducer)


def run_plan(model: Any, plan: TrainPlan, lossfn: losses_mod.Loss, layers: List[Layer],
             rest: Any, x: np.ndarray, y: np.ndarray, optimizer: Any, check: bool,
             regularized: bool = True, reducer: Any = None
             ) -> Optional[Tuple[float, np.ndarray, Optional[bool]]]:
    """train_step's run of a compiled plan (also train_graph's): the leading
    steps, the call, the layers' grads and state; rest(x) runs the step per
    layer from the leading steps' output when it is not what the plan expects.
    regularized False: the model's _regularization_loss() is known to be 0.0.
    With a reducer and a fusable update (_fused_update): the call writes the
    gradients into the reducer's buffer, reducer.reduce_plan all-reduces
    them with the moving statistics and the loss, and the optimizer's update
    follows as one C call (plan_optimize) -- no Python per parameter between
    the backward and the update."""
    global _calls
    out = plan.out
    t = _targets(plan, lossfn, y, out.shape[0], out.shape[-1])
    if t is None:
        return None
    if plan.lead:
        for step in plan.lead:               # augmentation: as the per-layer path runs it
            x = step.forward(x, True)
        if x.shape != plan.in_shape or x.dtype != plan.dtype:
            # not what their output_shape said: the rest of the step per layer
            return rest(x)
    elif x.shape != plan.in_shape or x.dtype != plan.dtype:
        return rest(x)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    with plan.lock:             # the buffers are the plan's: one step at a time
        rings = plan.rings
        if rings is None:
            rings = plan.rings = [_MaskRing(plan, row, layer, mask)
                                  for row, layer, _, mask in plan.dropouts]
        if rings:               # each Dropout's one draw, in the layers' order
            seeds = plan.code.view(np.uint64)
            for row, layer, _, _ in plan.dropouts:
                rng = layer.rng if layer.rng is not None else utils.get_rng()
                if type(rng) is np.random.Generator and type(rng.bit_generator) in _RAW64:
                    # integers(0, 2**64, uint64) is the bit generator's next 64-bit
                    # output, which random_raw gives without the bounds' handling
                    seeds[row, F_SEED] = rng.bit_generator.random_raw()
                else:
                    seeds[row, F_SEED] = rng.integers(0, 2 ** 64, dtype=np.uint64)
        fused = _fused_update(plan, layers, optimizer, check, reducer)
        applied: Optional[bool] = None
        total: Optional[float] = None
        if fused is not None and reducer is not None:
            rec, lr = fused
            F.plan_train_unchecked(plan.code, plan.reals, plan.ptrs, x, out, t, plan.nbytes)
            if plan.bns:
                _update_moving(plan)
            total = reducer.reduce_plan(_rows_loss(plan, plan.rows) + (
                model._regularization_loss() if regularized else 0.0))
            with deferred_keyboard_interrupt():
                applied = F.plan_optimize_unchecked(rec.code, rec.reals,
                                                    plan.dtype == np.float64)
                if applied:
                    optimizer._step_lr = lr
                    optimizer.iterations += 1
        elif fused is None:
            F.plan_train_unchecked(plan.code, plan.reals, plan.ptrs, x, out, t,
                                   plan.nbytes)
            if plan.bns:
                _update_moving(plan)
        else:           # the whole step, or none of it, as apply_gradients's update
            rec, lr = fused
            with deferred_keyboard_interrupt():
                applied = F.plan_train_unchecked(plan.code, plan.reals, plan.ptrs, x, out,
                                                 t, plan.nbytes, rec.code, rec.reals)
                if plan.bns:
                    _update_moving(plan)
                if applied:
                    optimizer._step_lr = lr
                    optimizer.iterations += 1
        for layer, grads in plan.grads:
            layer.grads = dict(grads)
        for ring in rings:      # the layer's state, as its forward leaves it
            ring.turn(plan.ptrs)
        for layer in plan.no_masks:
            layer.mask = None
        loss = _rows_loss(plan, plan.rows) if total is None else 0.0
        out = out.copy()
    _calls += 1
    model._activity = []
    if total is not None:
        return total, out, applied
    return loss + (model._regularization_loss() if regularized else 0.0), out, applied


def _rows_loss(plan: TrainPlan, rows: np.ndarray) -> float:
    """The step's loss from its per-row losses, as the loss computes it,
    times the loss weight (as Trainer._reduced scales it)."""
    if plan.bce:     # BinaryCrossentropy.fused: the rows' means, then their mean
        loss = float(np.mean(rows, axis=-1).mean(dtype=np.float64))
    else:            # rows.mean(dtype=np.float64), numpy's sum then division
        loss = float(np.add.reduce(rows, dtype=np.float64)) / rows.shape[0]
    return loss * plan.loss_weight if plan.loss_weight != 1.0 else loss


def _update_moving(plan: TrainPlan, stats: Optional[List[Tuple[np.ndarray, np.ndarray]]] = None
                   ) -> None:
    """BatchNormalization.forward's update of the moving statistics (from the
    batch's mean and variance: the plan's buffers, or stats per layer)."""
    for i, (layer, mean, var) in enumerate(plan.bns):
        if stats is not None:
            mean, var = stats[i]
        m = layer.momentum
        for key, batch in (("moving_mean", mean), ("moving_variance", var)):
            moving = layer.states[key]
            moving *= m
            moving += batch * (1 - m)


def _lr_at(opt: Any, t: int) -> float:
    """The learning rate opt's update number t + 1 uses (Optimizer.learning_rate
    at iterations t)."""
    from ..optimizers.schedules import LearningRateSchedule
    lr = opt._learning_rate
    return float(lr(t)) if isinstance(lr, LearningRateSchedule) else lr


def opt_ready(model: Any, optimizer: Any) -> bool:
    """Whether the training plan could fuse optimizer's update into its call
    as far as the optimizer's state goes: it has every state array of the
    model's trainable params already (else apply_gradients makes them, at
    its first update: that step runs on its own)."""
    if optimizer is None or not _fusable(optimizer):
        return True
    return bool(optimizer._has_state([p for layer in model.layers if layer.trainable
                                      for p in layer.params.values()]))


def _whole_rows(plan: TrainPlan, e: Execution) -> Optional[np.ndarray]:
    """The execution's whole x when the plan's call can take its rows from it
    (C-contiguous, the plan's dtype and row shape), else None."""
    x = e.x
    if type(x) is not np.ndarray or not x.flags.c_contiguous or x.dtype != plan.dtype \
            or x.shape[1:] != plan.in_shape[1:]:
        return None
    return x


def train_steps(model: Any, batches: Steps, optimizer: Any, check: bool, hits: bool,
                dist: Optional[Tuple[Any, int, int]] = None
                ) -> Optional[Tuple[List[float], Optional[np.ndarray], bool]]:
    """Several training steps of a Sequential model in one C call (compile's
    steps_per_execution): the batches (x, y, None) of one shape -- an
    ArrayAdapter's Execution, whose rows the C call gathers itself from the
    whole arrays step by step, or a list of batches (concatenated here) --
    each step's update fused (_fused_update's conditions).  Returns (each
    step's loss, each step's argmax hits (with `hits`: against the labels, or
    the loss's true_classes of one-hot targets, as Trainer._correct counts) or
    None, whether the last step run updated) -- the steps run stop at one
    whose check refused its update -- leaving the model as that many
    train_step calls leave it; or None (nothing has run) where train_step
    would not fuse the update.

    dist: (reducer, first, count) in a DataParallel fit -- its plan_reducer,
    and where the batches are in the execution of `count` it sharded (they
    are its steps first, first + 1, ...: reducer.select_step).  Each step's
    all-reduce then runs from inside the call, between its backward and its
    update (plan_train_steps's reduce: the moving statistics updated,
    reducer.reduce_plan on the gradients the plan wrote into its buffer, the
    update's gradient scale set), as run_plan's reducer path runs it step by
    step; the losses are the global ones and a False applied is final (the
    check was on the global sums)."""
    global _calls
    sequential, trainer = _classes()
    if not isinstance(model, sequential) or optimizer is None \
            or type(model)._regularization_loss is not trainer._regularization_loss \
            or not _fusable(optimizer):
        return None
    e = batches if isinstance(batches, Execution) else None
    lst: Sequence[Any] = batches if not isinstance(batches, Execution) else ()
    if e is not None:
        if e.sample_weight is not None or e.count % e.batch_size or type(e.x) is not np.ndarray:
            return None
        x0: np.ndarray = e.x[:e.batch_size]     # (a view: its shape and dtype)
    else:
        x0 = lst[0][0]
        for xb, _, swb in lst:
            if swb is not None or type(xb) is not np.ndarray or xb.shape != x0.shape \
                    or xb.dtype != x0.dtype:
                return None
    found = _model_plan(model, x0, trainer)
    if found is None:
        return None
    exec_plan, plan = found
    lead = plan.lead
    if x0.shape != plan.in_shape or x0.dtype != plan.dtype or (hits and plan.bce) \
            or not all(isinstance(step, AffineAugmentation) for step in lead):
        return None
    layers = model.layers
    out, nsteps = plan.out, len(batches)
    n, classes = out.shape[0], out.shape[-1]
    index: Optional[np.ndarray] = None
    first, whole_t = 0, False
    x = None if e is None or lead else _whole_rows(plan, e)
    if e is not None and x is not None:
        index, first = e.rows, e.first
        if index is not None:
            index = np.ascontiguousarray(index, dtype=np.int64)
        y = e.y
        whole_t = plan.sparse and type(y) is np.ndarray and y.dtype == np.int64 \
            and y.shape == (y.shape[0],) and y.flags.c_contiguous
        t = y if whole_t else None
    labels: Optional[np.ndarray] = None
    if not whole_t:
        ts, labs = [], []
        for i in range(nsteps):
            yb = e.y[e.index(i * n, (i + 1) * n)] if e is not None else lst[i][1]
            tb = _targets(plan, exec_plan.loss, yb, n, classes)
            if tb is None:
                return None
            ts.append(tb)
            if hits and not plan.sparse:    # one-hot targets: their classes
                lab = np.asarray(model._lossfn.true_classes(yb))
                if lab.shape != (n,) or lab.dtype.kind not in "iu":
                    return None
                labs.append(lab.astype(np.int64))
        t = np.concatenate(ts)
        if labs:
            labels = np.concatenate(labs)
    if lead:            # each step's batch, augmented just before its Dropout draws
        x = np.empty((nsteps * n,) + plan.in_shape[1:], dtype=plan.dtype)
        index, first = None, 0
    elif x is None:     # the batches laid end to end (a list's; an execution's x unfit)
        x = np.ascontiguousarray(e.x[e.index(0, e.count)] if e is not None
                                 else np.concatenate([b[0] for b in lst]), dtype=plan.dtype)
        index, first = None, 0
    assert t is not None
    it = optimizer.iterations
    lrs = [_lr_at(optimizer, it + i) for i in range(nsteps)]
    if not all(math.isfinite(lr) and lr >= 0 for lr in lrs):
        return None                     # apply_gradients raises at that step
    reducer = None if dist is None else dist[0]
    with plan.lock:
        rec = _opt_record(plan, layers, optimizer, reducer)
        if rec is None:
            return None
        optreals = np.zeros((nsteps, TO_REALS))
        clip = optimizer.clipvalue or 0.0
        decays = None if optimizer.weight_decay is None else np.empty((nsteps, len(plan.params)))
        for i, lr in enumerate(lrs):
            args = (clip,) + optimizer._kernel_args(it + i + 1, lr)
            optreals[i, :len(args)] = args
            if decays is not None:
                decays[i] = optimizer._decays(plan.params, lr)
        rec.code[TO_DECAY] = 0 if decays is None else rec.decay_addr
        rec.code[TO_CHECK] = check
        rings = plan.rings
        if rings is None:
            rings = plan.rings = [_MaskRing(plan, row, layer, mask)
                                  for row, layer, _, mask in plan.dropouts]
        seed_rows = np.array([row for row, _, _, _ in plan.dropouts], dtype=np.int64)
        seeds = np.empty((nsteps, len(seed_rows)), dtype=np.uint64)
        rngs = [layer.rng if layer.rng is not None else utils.get_rng()
                for _, layer, _, _ in plan.dropouts]
        lead_rngs = [step._rng() for step in lead]
        if not all(type(g) is np.random.Generator for g in rngs + lead_rngs):
            return None
        saved = [(g, g.bit_generator.state)
                 for g in {id(g): g for g in rngs + lead_rngs}.values()]

        def batch(i: int) -> np.ndarray:
            return e.x[e.index(i * n, (i + 1) * n)] if e is not None else lst[i][0]

        def augment(i: int) -> np.ndarray:
            # the leading steps' forward, as run_plan runs them (their draws)
            xb = batch(i)
            for step in lead:
                xb = step.forward(xb, True)
            return xb

        for i in range(nsteps):         # each step's draws, in the layers' order
            if lead:
                x[i * n:(i + 1) * n] = augment(i)
            for j, rng in enumerate(rngs):
                if type(rng) is np.random.Generator and type(rng.bit_generator) in _RAW64:
                    seeds[i, j] = rng.bit_generator.random_raw()
                else:
                    seeds[i, j] = rng.integers(0, 2 ** 64, dtype=np.uint64)
        rows = np.empty((nsteps,) + plan.rows.shape, dtype=plan.rows.dtype)
        snap_src = [plan.rows] + [a for _, mean, var in plan.bns for a in (mean, var)]
        snap_dst = [rows] + [np.empty((nsteps,) + a.shape, dtype=a.dtype)
                             for a in snap_src[1:]]
        snaps = np.array([[a.ctypes.data, b.ctypes.data, a.nbytes]
                          for a, b in zip(snap_src, snap_dst)], dtype=np.int64)
        counts = np.zeros(nsteps, dtype=np.int64) if hits else None
        totals: List[float] = []
        reduce = None if dist is None else _step_reducer(plan, rec, dist, totals)
        args = (plan.code, plan.reals, plan.ptrs, x, out, t, plan.nbytes, rec.code, optreals,
                seeds, seed_rows, decays, snaps, counts, classes, index, first, n, whole_t)
        with deferred_keyboard_interrupt():
            kw: Dict[str, Any] = {}         # (only what is set: tests spy on the call)
            if reduce is not None:
                kw["reduce"] = reduce
            if labels is not None:
                kw["labels"] = labels
            done, applied = F.plan_train_steps_unchecked(*args, **kw)
            for i in range(0 if reduce else done):     # (reduce: in each step's)
                if plan.bns:
                    _update_moving(plan, [(snap_dst[1 + 2 * k][i], snap_dst[2 + 2 * k][i])
                                          for k in range(len(plan.bns))])
            nup = done if applied else done - 1
            if nup:
                optimizer._step_lr = lrs[nup - 1]
                optimizer.iterations += nup
        if done < nsteps:           # the draws of the steps not run given back
            for g, state in saved:
                g.bit_generator.state = state
            for i in range(done):
                if lead:
                    augment(i)
                for rng in rngs:
                    if type(rng) is np.random.Generator and type(rng.bit_generator) in _RAW64:
                        rng.bit_generator.random_raw()
                    else:
                        rng.integers(0, 2 ** 64, dtype=np.uint64)
        for layer, grads in plan.grads:
            layer.grads = dict(grads)
        for ring in rings:
            ring.turn(plan.ptrs)
        for layer in plan.no_masks:
            layer.mask = None
        losses = totals[:done] if reduce else [_rows_loss(plan, rows[i]) for i in range(done)]
    _calls += done
    model._activity = []
    return losses, None if counts is None else counts[:done], applied


def _step_reducer(plan: TrainPlan, rec: _OptRecord, dist: Tuple[Any, int, int],
                  totals: List[float]) -> Any:
    """train_steps's reduce(i) for a DataParallel fit (dist: reducer, first,
    count): what run_plan's reducer path runs between a step's backward and
    its update -- the moving statistics from the batch's, the update's
    gradient scale (_fused_update's), reducer.reduce_plan -- for step
    first + i of the execution; appends each step's global loss to totals."""
    reducer, first, count = dist

    def reduce(i: int) -> None:
        reducer.select_step(first + i, count)
        if plan.bns:
            _update_moving(plan)
        rec.set_gscale(reducer.update_scale())
        totals.append(reducer.reduce_plan(_rows_loss(plan, plan.rows)))
    return reduce
