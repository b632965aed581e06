"""DataParallel: synchronous data-parallel fit / evaluate over MPI (mpi4py).

What one fit does on each of the K ranks (all run the same script):

* at the start (after the callbacks' on_train_begin, so after a
  BackupAndRestore on rank 0 restored its backup) rank 0's weights, moving
  statistics, optimizer state, resume epoch and the state of its random
  generator are broadcast: every rank starts from rank 0's replica;
* the data order (fit's shuffling) is drawn on every rank from the same
  generator, a copy of rank 0's ccnn.utils.get_rng(); each global batch of B
  samples is split into K contiguous shards of B // K or B // K + 1 samples,
  rank r taking the r-th (a final global batch of fewer than K samples is
  dropped); with compile(steps_per_execution=N > 1) on arrays, each
  execution's N shards are one Execution of this rank's rows, gathered by
  the training plan's C call as in a one-process fit (_rank_executions);
* everything else random (Dropout masks, random augmentation) draws from a
  per-rank generator derived from that state and the rank: the masks differ
  per rank and are reproducible from the seed;
* after each backward the gradients, scaled by each rank's share of the
  batch, the BatchNormalization moving statistics (same scaling: their mean)
  and the loss are packed into one contiguous buffer per dtype and summed
  once per step; every rank applies the same update, so the replicas stay
  bit-identical.  The sum: each buffer is this rank's segment of an MPI-3
  shared-memory window of the node's ranks (ccnn.distribution.shm_reduce:
  a Barrier, each rank adds its 1/K slice of the K segments in rank order
  into every segment, a Barrier), with across nodes an Allreduce among one
  leader per node; on one node about 4x cheaper than Open MPI's Allreduce of
  the same ~0.8 MB (benchmarks/allreduce_options.py).  CCNN_DP_SHM=0 (or
  data_parallel._shm_switch.set(False)) sums by one MPI Allreduce per buffer
  instead (with 2 ranks both give the same bits: a + b).  Batch statistics
  themselves are per rank (Keras's non-synchronized BatchNormalization under
  a MirroredStrategy);
* where the model's step runs through the training plan
  (ccnn.models.train_plan) with an optimizer it can fuse, the plan's backward
  writes the gradients straight into their slots of that buffer (made the
  plan's gradient arrays once per fit), the sum runs in place and the
  optimizer's update is one C call over the summed gradients (when every
  rank's share is the same, the share is the update's gradient scale instead
  of a pass over the buffer).  The layers' grads are then those slots: after
  a step, the sum over the ranks.  With compile(steps_per_execution=N) the N
  steps of an execution run in one C call (train_plan.train_steps), whose
  per-step all-reduce is a callback into this Python reducer;
* at the end of an epoch the metrics' states are summed (one Allreduce) and
  rank 0's epoch logs broadcast, so every rank's callbacks see the same logs;
  validation and evaluate shard their data too and sum the losses and the
  metrics' counts;
* only rank 0 runs the callbacks that print or write files (ProgbarLogger,
  ModelCheckpoint, BackupAndRestore, CSVLogger, TensorBoard).

Before MPI initialises (the first DataParallel), Open MPI's
mpi_yield_when_idle is set to 1 unless the user set it (_yield_default): a
rank waiting for the other gives its core away instead of spinning.

A rank that raises inside a `with DataParallel():` block (or, with
set_distribution, anywhere uncaught) prints the error with its rank and calls
MPI_Abort, which ends every rank.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import time
import traceback
from collections import deque
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

import numpy as np

from .. import utils
from ..models import data_adapters
from ..metrics.metric import Metric, log_value
from ..models.nested import leaf_layers, trainable_leaves
from ..models.plan_chain import Switch
from . import Local, _current

_WRITERS = ("ProgbarLogger", "ModelCheckpoint", "BackupAndRestore", "CSVLogger", "TensorBoard")
_CONFUSION = ("true_positives", "false_positives", "true_negatives", "false_negatives")
_FBETA = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")
_MASK64 = (1 << 64) - 1
#: the training plan's step with the all-reduce inside (plan_reducer); off
#: (CCNN_DP_PLAN=0, or _plan_switch.set(False)): reduce_gradients + apply_gradients
_plan_switch = Switch("CCNN_DP_PLAN")
#: the per-step sum through a shared-memory window among the ranks of a node
#: (ccnn.distribution.shm_reduce); off (CCNN_DP_SHM=0, or _shm_switch.set(False)):
#: one MPI Allreduce per buffer
_shm_switch = Switch("CCNN_DP_SHM")
#: with compile(steps_per_execution > 1) and arrays: each execution as an
#: Execution of this rank's rows, which the training plan gathers itself
#: (_rank_executions); off (CCNN_DP_EXEC=0, or _exec_switch.set(False)):
#: shard's gathered batches in lists, concatenated by the plan
_exec_switch = Switch("CCNN_DP_EXEC")


#: Open MPI's MCA parameter: a rank waiting in MPI gives its core away
#: (sched_yield) instead of spinning on it (_yield_default)
YIELD_PARAM = "OMPI_MCA_mpi_yield_when_idle"


def _user_mca_files(environ: Any) -> List[str]:
    """The MCA parameter files a user may have set mpi_yield_when_idle in
    (OMPI_MCA_mca_param_files, else ~/.openmpi/mca-params.conf)."""
    files = environ.get("OMPI_MCA_mca_param_files")
    if files:
        return [f for f in files.split(os.pathsep) if f]
    return [os.path.join(os.path.expanduser("~"), ".openmpi", "mca-params.conf")]


def _yield_default(environ: Any = None, modules: Any = None) -> bool:
    """Before MPI initialises: make a waiting rank yield its core (Open MPI's
    mpi_yield_when_idle = 1, set in environ, default os.environ) unless the
    user chose either way -- in the environment (`mpiexec --mca
    mpi_yield_when_idle X` puts it there too) or a user MCA parameter file --
    or MPI is already initialised (mpi4py.MPI in modules, default
    sys.modules: the setting would no longer be read).  Returns whether it set
    it.  Why: a rank that spins while it waits in the per-step synchronisation
    takes CPU from everything else on the machine (README "Scale-out" for the
    measurements: benchmarks/bench.py --only mpi, "" against "spin")."""
    env = os.environ if environ is None else environ
    if YIELD_PARAM in env or "mpi4py.MPI" in (sys.modules if modules is None else modules):
        return False
    for path in _user_mca_files(env):
        try:
            with open(path) as f:
                if any(line.split("=")[0].strip() == "mpi_yield_when_idle"
                       for line in f if not line.lstrip().startswith("#")):
                    return False
        except OSError:
            continue
    env[YIELD_PARAM] = "1"
    return True


def _import_mpi() -> Any:
    _yield_default()
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"ccnn.distribution.DataParallel needs mpi4py and an MPI library: "
                          f'pip install "ccnn[mpi]" ({e})') from None
    return MPI


def _length(batch_part: Any) -> int:
    if isinstance(batch_part, dict):
        batch_part = next(iter(batch_part.values()))
    if isinstance(batch_part, (list, tuple)):
        batch_part = batch_part[0]
    return int(np.shape(batch_part)[0])


def _count(rows: Any) -> int:
    """How many rows an index (a slice with a step of 1, or an array) holds."""
    return rows.stop - rows.start if isinstance(rows, slice) else int(rows.size)


def _take(part: Any, lo: int, hi: int) -> Any:
    """Rows lo:hi of an array, or of each array of a list / tuple / dict (multi-input)."""
    if part is None:
        return None
    if isinstance(part, dict):
        return {k: _take(v, lo, hi) for k, v in part.items()}
    if isinstance(part, (list, tuple)):
        return type(part)(_take(v, lo, hi) for v in part)
    return part[lo:hi]


def _rng_words(rng: np.random.Generator) -> Optional[np.ndarray]:
    """A PCG64 generator's whole state as 6 uint64 words (None for another bit generator)."""
    st = rng.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        return None
    s, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    return np.array([s & _MASK64, s >> 64, inc & _MASK64, inc >> 64,
                     int(st["has_uint32"]), int(st["uinteger"])], dtype=np.uint64)


def _rng_from_words(words: np.ndarray) -> np.random.Generator:
    w = [int(v) for v in words]
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64",
                "state": {"state": w[0] | (w[1] << 64), "inc": w[2] | (w[3] << 64)},
                "has_uint32": w[4], "uinteger": w[5]}
    return np.random.Generator(bg)


@contextlib.contextmanager
def _drawing_from(rng: Optional[np.random.Generator]) -> Iterator[None]:
    """ccnn.utils.get_rng() is rng (None: left as it is) inside the block,
    the generator it was before after it, however the block ends."""
    saved = utils._rng
    if rng is not None:
        utils._rng = rng
    try:
        yield
    finally:
        utils._rng = saved


def _named(objs: List[Any]) -> List[Tuple[str, Any]]:
    """(name, metric) of each of a model's compiled metrics: Sequential's are
    Metric objects, a functional Model's (name, metric, output, is_loss) tuples."""
    return [(o[0], o[1]) if isinstance(o, tuple) else (o.name, o) for o in objs]


def _metric_fields(m: Any) -> Tuple[str, ...]:
    """The attributes of a metric that sum across ranks (Mean's total and
    count, the confusion metrics' counts, FBetaScore's); () for a metric
    ccnn does not know."""
    if all(hasattr(m, a) for a in _CONFUSION):
        return _CONFUSION
    if all(hasattr(m, a) for a in _FBETA):
        return _FBETA
    if hasattr(m, "total") and hasattr(m, "count"):
        return ("total", "count")
    return ()


def _metric_state(m: Any, fields: List[Tuple[Any, str]], arrays: List[np.ndarray]) -> None:
    """Append a metric's summable state: (metric, attribute) of its known
    fields (_metric_fields) to fields, its add_variable arrays (summed in
    place) to arrays; then the same of the metrics it holds as attributes."""
    own = getattr(m, "__dict__", {}).get("_variables", [])
    seen = {id(a) for a in arrays}
    arrays.extend(a for a in own if id(a) not in seen)
    seen.update(id(a) for a in own)
    fields.extend((m, f) for f in _metric_fields(m) if id(getattr(m, f)) not in seen)
    for sub in (m._metrics() if isinstance(m, Metric) else ()):
        _metric_state(sub, fields, arrays)


class _Layout:
    """Where each gradient, moving statistic and the loss live in the flat
    buffer of their dtype (built at the first step of a fit, reused): the
    views of the buffers are made once, so a step only multiplies into them."""

    def __init__(self, pairs: List[Tuple[Any, np.ndarray]], states: List[np.ndarray],
                 alloc: Optional[Callable[[np.dtype, int], np.ndarray]] = None) -> None:
        self.key = [id(p) for _, p in pairs] + [id(s) for s in states]
        sizes: Dict[np.dtype, int] = {}
        spans: List[Tuple[int, np.dtype, int, int]] = []      # (pair, dtype, lo, hi)
        for i, (g, p) in enumerate(pairs):
            if g is None:
                continue
            lo = sizes.get(p.dtype, 0)
            sizes[p.dtype] = lo + p.size
            spans.append((i, p.dtype, lo, lo + p.size))
        state_spans: List[Tuple[np.ndarray, np.dtype, int, int]] = []
        for s in states:
            lo = sizes.get(s.dtype, 0)
            sizes[s.dtype] = lo + s.size
            state_spans.append((s, s.dtype, lo, lo + s.size))
        # the loss: in the float64 buffer if there is one, else as two float32
        # numbers (value and rounding error) so its sum keeps ~float64 precision
        self.loss_dtype = np.dtype(np.float64) if np.dtype(np.float64) in sizes or not sizes \
            else next(iter(sizes))
        lo = sizes.get(self.loss_dtype, 0)
        self.loss_at = lo
        sizes[self.loss_dtype] = lo + (1 if self.loss_dtype == np.float64 else 2)
        #: one zeroed buffer per dtype (alloc(dtype, n): the reducer's own memory)
        self.buffers = {dt: np.zeros(n, dtype=dt) if alloc is None else alloc(dt, n)
                        for dt, n in sizes.items()}
        #: the loss's numbers in its buffer (one float64, or a float32 pair)
        self.loss_slot = self.buffers[self.loss_dtype][
            lo:lo + (1 if self.loss_dtype == np.float64 else 2)]
        #: the gradients' part of each buffer (they come first)
        self.grad_parts = {dt: buf[:max((hi for _, d, _, hi in spans if d == dt), default=0)]
                           for dt, buf in self.buffers.items()}
        #: (pair index, its slot in the buffer shaped as the parameter)
        self.grads = [(i, self.buffers[dt][lo:hi].reshape(pairs[i][1].shape))
                      for i, dt, lo, hi in spans]
        #: (moving statistic, its slot shaped as it)
        self.states = [(s, self.buffers[dt][lo:hi].reshape(s.shape))
                       for s, dt, lo, hi in state_spans]


class DataParallel(Local):
    """Synchronous data parallelism over MPI: every rank holds a replica of
    the model, each global batch is split across the ranks, the gradients are
    averaged by one sum over the ranks per step (a shared-memory window within
    a node, MPI Allreduce across nodes) (Keras's keras.distribution.DataParallel,
    with MPI ranks for devices).

        with DataParallel():          # or: set_distribution(DataParallel())
            model.fit(x, y, batch_size=256, epochs=10)

    Launch with ``mpiexec -n K python script.py``: batch_size is the global
    batch (each rank computes about batch_size / K samples); without mpiexec
    K is 1 and fit runs as it would without the scope.  comm: the mpi4py
    communicator of the replicas (default MPI.COMM_WORLD).  fit and evaluate
    are distributed (test_on_batch sums each rank's batch, as evaluate does);
    predict and train_on_batch run locally on each rank.  See ccnn.distribution.data_parallel's docstring for what
    exactly happens in a step."""

    def __init__(self, comm: Any = None) -> None:
        mpi = _import_mpi()
        self._mpi = mpi
        self.comm = mpi.COMM_WORLD if comm is None else comm
        if not isinstance(self.comm, mpi.Comm):
            raise TypeError(f"comm must be an mpi4py communicator (e.g. MPI.COMM_WORLD), got "
                            f"{type(comm).__name__}")
        self.rank = int(self.comm.Get_rank())
        self.size = int(self.comm.Get_size())
        self.is_chief = self.rank == 0
        #: seconds spent in the per-step gradient Allreduce (waiting for the
        #: slowest rank included) and the number of such steps, since the last fit began
        self.allreduce_seconds = 0.0
        self.allreduce_steps = 0
        self._fitting = False
        self._layout: Optional[_Layout] = None
        self._data_rng: Optional[np.random.Generator] = None
        self._saved_rng: Optional[np.random.Generator] = None
        self._reduction = "sum_over_batch_size"
        self._weight = 1.0
        self._n_global = 0
        #: (weight, global batch size) of the training batches shard last
        #: yielded (compile's steps_per_execution of them: select_step)
        self._shares: "deque[Tuple[float, int]]" = deque(maxlen=1)
        self._model: Any = None
        #: the shared-window reducers by (dtype, size), and by id of their buffer
        self._reducers: Dict[Tuple[np.dtype, int], Any] = {}
        self._by_buffer: Dict[int, Any] = {}
        self._loss_total = 0.0
        self._n_total = 0
        if self.size > 1:
            _install_excepthook(self)

    def __repr__(self) -> str:
        return f"<DataParallel rank {self.rank} of {self.size}>"

    # ---- scope
    def scope(self) -> "DataParallel":
        """The `with` scope (Keras's distribution.scope()); `with dp:` is the same."""
        return self

    def __enter__(self) -> "DataParallel":
        _current.append(self)
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if _current and _current[-1] is self:
            _current.pop()
        self._fitting = False
        if exc_type is not None and self.size > 1:
            if issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None):
                return
            self.abort(exc_type, exc, tb)

    def abort(self, exc_type: Type[BaseException], exc: Optional[BaseException],
              tb: Optional[TracebackType]) -> None:
        """Print the error with this rank's number, then MPI_Abort: every rank ends."""
        _abort(self.comm, self.rank, self.size, exc_type, exc, tb)

    # ---- the hooks of the training loop (ccnn.models.trainer)
    def filter_callbacks(self, callbacks: List[Any]) -> List[Any]:
        """Rank 0 keeps every callback; the others drop those that print or write files."""
        if self.is_chief:
            return callbacks
        return [cb for cb in callbacks if type(cb).__name__ not in _WRITERS]

    def begin_fit(self, model: Any) -> None:
        """Broadcast rank 0's replica (weights, moving statistics, optimizer
        state, resume epoch) and random state; set up the per-rank generator."""
        loss = model.loss
        self._reduction = getattr(loss, "reduction", "sum_over_batch_size")
        if self._reduction == "sum" and self.size > 1 and any(
                layer.regularizers or layer.activity_regularizer is not None
                for layer in leaf_layers(model.layers)):
            raise ValueError("DataParallel: a loss with reduction='sum' and a model with "
                             "regularizers would count the penalty once per rank; use "
                             "reduction='sum_over_batch_size'")
        self._check_same_model(model)
        self._bcast_weights(model)
        self._bcast_optimizer(model)
        resume = np.array([model.__dict__.get("_resume_epoch", -1)], dtype=np.int64)
        self.comm.Bcast(resume, root=0)
        if resume[0] >= 0:
            model._resume_epoch = int(resume[0])
        self._bcast_rng(model)
        self.allreduce_seconds, self.allreduce_steps = 0.0, 0
        self._layout = None
        self._shares = deque(maxlen=max(1, int(getattr(model, "steps_per_execution", 1))))
        self._fitting = True

    def end_fit(self, model: Any) -> None:
        """Leave ccnn.utils.get_rng() as the shared data generator (the same on every rank)."""
        self._fitting = False
        if self._data_rng is not None:
            utils._rng = self._data_rng
        self._data_rng = None

    def shard(self, adapter: Any, shuffle: bool, training: bool = True) -> Iterator[Any]:
        """This rank's shard of each global batch of adapter.epoch(shuffle);
        from arrays only this rank's rows are gathered (ArrayAdapter.shards)."""
        if training:
            self._loss_total, self._n_total = 0.0, 0
        k, r = self.size, self.rank
        if isinstance(adapter, data_adapters.ArrayAdapter):
            parts: Iterator[Any] = adapter.shards(shuffle, r, k)
        else:
            parts = self._split(adapter.epoch(shuffle))
        rng = self._data_rng if self._fitting else None
        while True:
            with _drawing_from(rng):
                item = next(parts, None)
            if item is None:            # (parts yields tuples)
                return
            batch, n, swb = item
            mine = _length(batch[1])
            if training:
                if not self._book_share(n, mine, swb, batch[2]):
                    continue
            elif mine == 0:
                continue
            yield batch

    def _book_share(self, n: int, mine: int, swb: Optional[np.ndarray], my_sw: Any) -> bool:
        """Book a training batch of n samples of which this rank has `mine`
        (swb: the batch's sample weights or None, my_sw: this rank's of them)
        as the next step's (select_step's): its global size and this rank's
        share, the weight of its gradients in the sum (1 for a loss with
        reduction "sum", its part of the sample weights for
        "mean_with_sample_weight", else mine / n).  False for a batch of fewer
        than K samples, which is dropped (it cannot give every rank a sample)."""
        if n < self.size:
            return False
        self._n_global = n
        if self._reduction == "sum":
            self._weight = 1.0
        elif self._reduction == "mean_with_sample_weight" and swb is not None:
            total = float(np.sum(swb))
            self._weight = float(np.sum(my_sw)) / total if total else 0.0
        else:
            self._weight = mine / n
        self._shares.append((self._weight, n))
        return True

    def executions(self, adapter: Any, shuffle: bool, steps: int) -> Iterator[Any]:
        """fit's units with compile(steps_per_execution=steps > 1): while a
        fit runs on arrays without sample weights, _rank_executions; else
        shard's batches in lists of `steps`."""
        if self._fitting and _exec_switch.on and type(adapter) is data_adapters.ArrayAdapter \
                and adapter.sample_weight is None:
            return self._rank_executions(adapter, shuffle, steps)
        return data_adapters.executions(self.shard(adapter, shuffle), steps)

    def _rank_executions(self, adapter: Any, shuffle: bool, steps: int
                         ) -> Iterator[data_adapters.Execution]:
        """The rows shard would give this rank (adapter.shard_rows: the same
        permutation, drawn from the shared data generator, and split), `steps`
        batches at a time as one Execution of this rank's rows: the training
        plan gathers them from the whole arrays itself, as in a one-process
        fit (no gathered batches, no concatenation).  Each batch is booked as
        shard books it (_book_share: a final batch of fewer than K samples
        dropped; its share for select_step)."""
        self._loss_total, self._n_total = 0.0, 0
        lo, hi = data_adapters.split_rows(int(adapter.batch_size), self.rank, self.size)
        batches = adapter.shard_rows(shuffle, self.rank, self.size)
        while True:
            with _drawing_from(self._data_rng):     # (the permutation: at the first batch)
                chunk = list(itertools.islice(batches, steps))
            parts = [np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
                     for rows, _, m in chunk if self._book_share(m, _count(rows), None, None)]
            if not parts:
                return
            rows = np.ascontiguousarray(np.concatenate(parts), dtype=np.int64)
            e = data_adapters.Execution(adapter, rows, 0, int(rows.size))
            e.batch_size = hi - lo
            yield e

    def select_step(self, j: int, count: int) -> None:
        """Make step j of the execution of `count` batches shard yielded last
        (compile's steps_per_execution groups them ahead of their steps) the
        one the next all-reduce weights: its share and global batch size."""
        if self._fitting and count <= len(self._shares):
            self._weight, self._n_global = self._shares[len(self._shares) - count + j]

    def _split(self, batches: Iterator[Any]) -> Iterator[Any]:
        """(this rank's rows, batch size, sample weights) of each whole batch."""
        for xb, yb, swb in batches:
            n = _length(yb)
            lo, hi = data_adapters.split_rows(n, self.rank, self.size)
            yield (_take(xb, lo, hi), _take(yb, lo, hi), _take(swb, lo, hi)), n, swb

    def reduce_gradients(self, pairs: List[Tuple[Any, Any]], loss: float
                         ) -> Tuple[List[Tuple[Any, Any]], float]:
        """The global (grad, param) pairs and loss: one Allreduce per dtype
        (one for a float32 model) of the share-weighted gradients, moving
        statistics and loss."""
        if not self._fitting:
            return pairs, loss
        lay = self._layout_of(pairs)
        w = self._weight
        for i, slot in lay.grads:           # the weight in the buffer's dtype: no float64 pass
            np.multiply(pairs[i][0], slot.dtype.type(w), out=slot, casting="unsafe")
        total = self._allreduce(lay, loss)
        out = list(pairs)
        for i, slot in lay.grads:
            out[i] = (slot, pairs[i][1])
        return out, total

    # ---- the training plan's step (ccnn.models.train_plan.run_plan)
    def plan_reducer(self) -> Optional["DataParallel"]:
        """Itself while a fit runs: the training plan then writes the gradients
        into this fit's all-reduce buffer (plan_buffer), calls reduce_plan and
        runs the optimizer's update itself (None: reduce_gradients)."""
        return self if self._fitting and _plan_switch.on else None

    def plan_buffer(self, pairs: List[Tuple[Any, np.ndarray]], dtype: np.dtype
                    ) -> Optional[Tuple[List[np.ndarray], np.ndarray]]:
        """The slots of the pairs' gradients in the all-reduce buffer (shaped
        as their params) and the loss's slot (1 number, or 2 in float32), or
        None when the buffer is not a single one of dtype."""
        lay = self._layout_of(pairs)
        if len(lay.buffers) != 1 or lay.loss_dtype != dtype or len(lay.grads) != len(pairs):
            return None
        return [slot for _, slot in lay.grads], lay.loss_slot

    def _folded(self) -> bool:
        """Whether every rank's share of this step's batch is the same weight,
        which the update then applies to the sum (optimizer kernels' gscale)."""
        return self._reduction == "sum" or self._n_global % self.size == 0

    def update_scale(self) -> float:
        """The scale the fused update applies to the all-reduced gradients
        (the ranks' common weight, or 1.0 when reduce_plan weighted them)."""
        return self._weight if self._folded() else 1.0

    def reduce_plan(self, loss: float) -> float:
        """After the plan wrote this rank's gradients into plan_buffer's slots:
        weight them unless update_scale does, add the moving statistics and
        the loss, Allreduce in place; returns the global loss."""
        lay = self._layout
        assert lay is not None
        if not self._folded():
            for part in lay.grad_parts.values():
                np.multiply(part, part.dtype.type(self._weight), out=part)
        return self._allreduce(lay, loss)

    def _layout_of(self, pairs: List[Tuple[Any, np.ndarray]]) -> _Layout:
        """This fit's buffer layout for pairs and the moving statistics."""
        states = self._states
        lay = self._layout
        if lay is None or lay.key != [id(p) for _, p in pairs] + [id(s) for s in states]:
            shm = self.size > 1 and _shm_switch.on
            lay = self._layout = _Layout(pairs, states, self._shm_buffer if shm else None)
        return lay

    def _shm_buffer(self, dtype: np.dtype, n: int) -> np.ndarray:
        """A zeroed buffer of n values of dtype that is this rank's segment of
        a shared window (ShmReducer; collective: every rank builds the same
        layout at the same step).  The reducers of a size are kept and reused
        by later fits: the layers' grads may still be views of their memory."""
        from .shm_reduce import ShmReducer
        red = self._reducers.get((dtype, n))
        if red is None:
            red = self._reducers[dtype, n] = ShmReducer(self.comm, n, dtype)
        red.buffer.fill(0)
        self._by_buffer[id(red.buffer)] = red
        return red.buffer

    def _allreduce(self, lay: _Layout, loss: float) -> float:
        """The share-weighted moving statistics and loss into the buffers, one
        Allreduce per buffer, the statistics back; returns the global loss."""
        w = self._weight
        for s, slot in lay.states:
            np.multiply(s, slot.dtype.type(w), out=slot, casting="unsafe")
        lbuf, at = lay.buffers[lay.loss_dtype], lay.loss_at
        if lay.loss_dtype == np.float64:
            lbuf[at] = loss * w
        else:
            lbuf[at] = loss * w
            lbuf[at + 1] = loss * w - float(lbuf[at])
        t0 = time.perf_counter()
        for buf in lay.buffers.values():
            red = self._by_buffer.get(id(buf))
            if red is not None and red.buffer is buf:
                red.reduce()
            else:
                self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        self.allreduce_seconds += time.perf_counter() - t0
        self.allreduce_steps += 1
        for s, slot in lay.states:
            np.copyto(s, slot)
        total = float(lbuf[at]) + (0.0 if lay.loss_dtype == np.float64 else float(lbuf[at + 1]))
        self._loss_total += total * self._n_global
        self._n_total += self._n_global
        return total

    def epoch_logs(self, logs: Dict[str, Any], objs: List[Any]) -> Dict[str, Any]:
        """The epoch's logs over every rank's samples, identical on every rank."""
        self._sum_metrics(objs, [])
        out: Dict[str, Any] = {}
        if self._n_total:
            out["loss"] = self._loss_total / self._n_total
        elif "loss" in logs:
            out["loss"] = logs["loss"]
        for name, m in _named(objs):
            out[name] = log_value(m.result())
        if not logs and not self._n_total:
            return logs
        flat = [np.ravel(np.asarray(v, dtype=np.float64)) for v in out.values()]
        values = np.concatenate(flat) if flat else np.zeros(0)
        self.comm.Bcast(values, root=0)        # rank 0's numbers, bit for bit
        ends = np.cumsum([a.size for a in flat]).tolist()
        return {k: log_value(values[e - a.size:e].reshape(np.shape(v)))
                for (k, v), a, e in zip(out.items(), flat, ends)}

    def reduce_eval(self, objs: List[Any], loss_sum: float, seen: int) -> Tuple[float, int]:
        """Sum the evaluation's loss, sample count and metric states over the ranks."""
        total = self._sum_metrics(objs, [loss_sum, float(seen)])
        return total[0], int(round(total[1]))

    # ---- helpers
    @property
    def _states(self) -> List[np.ndarray]:
        model = self._model
        return [s for layer in trainable_leaves(model.layers)
                for s in getattr(layer, "states", {}).values()
                if isinstance(s, np.ndarray) and s.dtype.kind == "f"]

    def _sum_metrics(self, objs: List[Any], extra: List[float]) -> List[float]:
        """Allreduce (sum) `extra` and every metric's summable state, in place."""
        fields: List[Tuple[Any, str]] = []
        arrays: List[np.ndarray] = []
        for _, m in _named(objs):
            _metric_state(m, fields, arrays)
        vec: List[float] = list(extra)
        for m, f in fields:
            vec.extend(np.ravel(np.asarray(getattr(m, f), dtype=np.float64)).tolist())
        for a in arrays:
            vec.extend(np.ravel(a).astype(np.float64).tolist())
        buf = np.array(vec, dtype=np.float64)
        if buf.size:
            self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        at = len(extra)
        for m, f in fields:
            old = getattr(m, f)
            if isinstance(old, np.ndarray):
                setattr(m, f, buf[at:at + old.size].reshape(old.shape).copy())
                at += old.size
            else:
                setattr(m, f, float(buf[at]))
                at += 1
        for a in arrays:
            a[...] = buf[at:at + a.size].reshape(a.shape)
            at += a.size
        return buf[:len(extra)].tolist()

    def _bcast_bytes(self, data: bytes) -> bytes:
        n = np.array([len(data)], dtype=np.int64)
        self.comm.Bcast(n, root=0)
        buf = np.frombuffer(data, dtype=np.uint8).copy() if self.is_chief \
            else np.empty(int(n[0]), dtype=np.uint8)
        self.comm.Bcast(buf, root=0)
        return buf.tobytes()

    def _check_same_model(self, model: Any) -> None:
        self._model = model
        mine = json.dumps([[k, str(a.dtype), list(a.shape)] for layer in model.layers
                           for k, a in layer.weight_arrays().items()])
        chief = self._bcast_bytes(mine.encode()).decode()
        if chief != mine:
            raise ValueError(f"DataParallel: rank {self.rank}'s model differs from rank 0's "
                             f"(weights {mine[:200]} vs {chief[:200]}); every rank must build "
                             f"the same model")

    def _bcast_weights(self, model: Any) -> None:
        arrays = [a for layer in model.layers for a in layer.weight_arrays().values()]
        for dt in sorted({a.dtype for a in arrays}, key=str):
            group = [a for a in arrays if a.dtype == dt]
            buf = np.concatenate([a.reshape(-1) for a in group])
            self.comm.Bcast(buf, root=0)
            lo = 0
            for a in group:
                np.copyto(a, buf[lo:lo + a.size].reshape(a.shape))
                lo += a.size

    def _bcast_optimizer(self, model: Any) -> None:
        opt = getattr(model, "optimizer", None)
        if opt is None:
            return
        params = model._params_in_order()
        state = opt.get_state(params) if self.is_chief else {}
        spec = json.loads(self._bcast_bytes(json.dumps(
            [[k, v.dtype.str, list(v.shape)] for k, v in state.items()]).encode()).decode())
        got: Dict[str, np.ndarray] = {}
        for key, dtype, shape in spec:
            dt = np.dtype(dtype)
            if dt.kind not in "iuf":
                raise ValueError(f"DataParallel: rank 0's optimizer state {key!r} has dtype {dt}")
            a = np.ascontiguousarray(state[key]) if self.is_chief \
                else np.empty(shape, dtype=dt)
            self.comm.Bcast(a, root=0)
            got[key] = a
        if not self.is_chief:
            opt.set_state(got, params)

    def _bcast_rng(self, model: Any) -> None:
        """The shared data generator (a copy of rank 0's ccnn.utils.get_rng())
        and this rank's own generator for dropout and augmentation."""
        words = _rng_words(utils.get_rng()) if self.is_chief else None
        if self.is_chief and words is None:    # not PCG64: seed a PCG64 from it
            words = _rng_words(np.random.default_rng(int(utils.get_rng().integers(2**63))))
        buf = words if words is not None else np.empty(6, dtype=np.uint64)
        self.comm.Bcast(buf, root=0)
        self._data_rng = _rng_from_words(buf)
        entropy = [int(v) for v in buf]
        utils._rng = np.random.default_rng(np.random.SeedSequence(entropy,
                                                                  spawn_key=(self.rank,)))
        if self.rank:       # layers with their own seed: a different stream per rank
            layer: Any
            for layer in leaf_layers(model.layers):
                rng = getattr(layer, "rng", None)
                own = _rng_words(rng) if isinstance(rng, np.random.Generator) else None
                if own is not None:
                    layer.rng = np.random.default_rng(np.random.SeedSequence(
                        [int(v) for v in own], spawn_key=(self.rank,)))


# ---- a rank that fails ends the job
_hook_comm: List[Any] = []


def _abort(comm: Any, rank: int, size: int, exc_type: Type[BaseException],
           exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
    interrupted = issubclass(exc_type, KeyboardInterrupt)
    code = 130 if interrupted else 1
    if not interrupted:
        traceback.print_exception(exc_type, exc, tb)
    what = "interrupted (KeyboardInterrupt)" if interrupted else f"{exc_type.__name__}: {exc}"
    sys.stderr.write(f"ccnn: rank {rank} of {size} failed: {what}; aborting all {size} "
                     f"ranks\n")
    sys.stderr.flush()
    sys.stdout.flush()
    comm.Abort(code)


def _install_excepthook(dp: DataParallel) -> None:
    """An uncaught exception on this rank aborts every rank (instead of
    leaving the others waiting in a collective forever)."""
    if _hook_comm:
        return
    _hook_comm.append(dp.comm)
    previous = sys.excepthook

    def hook(exc_type: Type[BaseException], exc: BaseException,
             tb: Optional[TracebackType]) -> None:
        if issubclass(exc_type, SystemExit):
            previous(exc_type, exc, tb)
            return
        _abort(dp.comm, dp.rank, dp.size, exc_type, exc, tb)

    sys.excepthook = hook
