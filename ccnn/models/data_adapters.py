"""What fit / evaluate iterate over (Keras 3's data adapters): NumPy arrays
in minibatches, a ccnn.utils.PyDataset (batch i is dataset[i]), or a Python
generator / iterator of (x, y) or (x, y, sample_weight) batches.  Every
adapter yields (x, y, sample_weight or None)."""
from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import utils
from .._warnings import warn as _warn

Batch = Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]


class Arrays(tuple):
    """The arrays of a model with several inputs (or outputs), sliced together:
    a[i] is the i-th array, a[slice or index array] slices every one along the
    batch axis, a.shape is the first one's (for its batch size)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return tuple.__getitem__(self, key)
        return Arrays(a[key] for a in self)

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple.__getitem__(self, 0).shape

    def copy(self) -> "Arrays":
        return Arrays(np.array(a) for a in self)


def is_dataset(x: Any) -> bool:
    return isinstance(x, utils.PyDataset)


def is_generator(x: Any) -> bool:
    return hasattr(x, "__next__") and not isinstance(x, np.ndarray)


def unpack(batch: Any, name: str) -> Tuple[Any, Any, Any]:
    """(x, y, sample_weight or None) of one batch a dataset or generator gave."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(f"{name} must give batches (x, y) or (x, y, sample_weight); got "
                         f"{type(batch).__name__}"
                         + (f" of length {len(batch)}" if isinstance(batch, (tuple, list))
                            else ""))
    return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


class ArrayAdapter:
    """Minibatches of prepared arrays; shuffle draws one permutation per epoch."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                 sample_weight: Optional[np.ndarray] = None) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.sample_weight = sample_weight
        self.samples: Optional[int] = x.shape[0]
        self.steps: Optional[int] = -(-x.shape[0] // batch_size)
        self.exhausted = False

    def epoch(self, shuffle: bool) -> Iterator[Batch]:
        n, bs = self.x.shape[0], self.batch_size
        order = utils.get_rng().permutation(n) if shuffle else None
        sw = self.sample_weight
        for lo in range(0, n, bs):
            if order is None:
                yield (self.x[lo:lo + bs], self.y[lo:lo + bs],
                       None if sw is None else sw[lo:lo + bs])
            else:
                idx = order[lo:lo + bs]
                yield self.x[idx], self.y[idx], None if sw is None else sw[idx]

    def executions(self, shuffle: bool, steps: int) -> Iterator["Execution"]:
        """epoch(shuffle)'s batches (the same permutation) in groups of `steps`
        (compile's steps_per_execution; the last may be shorter), each an
        Execution: which rows of the arrays, none of them gathered."""
        n, bs = self.x.shape[0], self.batch_size
        order = utils.get_rng().permutation(n) if shuffle else None
        for lo in range(0, n, bs * steps):
            yield Execution(self, None if order is None else order[lo:lo + bs * steps], lo,
                            min(bs * steps, n - lo))

    def shard_rows(self, shuffle: bool, rank: int, size: int) -> Iterator[Tuple[Any, Any, int]]:
        """Which rows of the arrays each batch of epoch(shuffle) gives rank
        `rank` of `size` (the same permutation, drawn here from
        utils.get_rng(), once per epoch): (the index of this rank's rows lo:hi
        of the batch (split_rows), the index of the whole batch, the batch's
        size) -- slices without shuffling, slices of the permutation with."""
        n, bs = self.x.shape[0], self.batch_size
        order = utils.get_rng().permutation(n) if shuffle else None
        for start in range(0, n, bs):
            m = min(bs, n - start)
            lo, hi = split_rows(m, rank, size)
            if order is None:
                yield slice(start + lo, start + hi), slice(start, start + m), m
            else:
                yield order[start + lo:start + hi], order[start:start + m], m

    def shards(self, shuffle: bool, rank: int, size: int
               ) -> Iterator[Tuple[Batch, int, Optional[np.ndarray]]]:
        """Rank `rank` of `size`'s rows of each batch of epoch(shuffle)
        (shard_rows): ((x, y, sample_weight) of rows lo:hi of the batch, the
        batch's size, the batch's sample weights or None).  Only this rank's
        rows are gathered."""
        sw = self.sample_weight
        for rows, whole, m in self.shard_rows(shuffle, rank, size):
            yield ((self.x[rows], self.y[rows], None if sw is None else sw[rows]), m,
                   None if sw is None else sw[whole])

    def first_batches(self, steps: int) -> "ArrayAdapter":
        """The adapter of this one's first `steps` batches (all when it has
        fewer), unshuffled: Keras's evaluate(x, y, steps=...) of arrays."""
        n = min(self.x.shape[0], steps * self.batch_size)
        sw = self.sample_weight
        return ArrayAdapter(self.x[:n], self.y[:n], self.batch_size,
                            None if sw is None else sw[:n])

    def on_epoch_end(self) -> None:
        pass


def split_rows(n: int, rank: int, size: int) -> Tuple[int, int]:
    """(lo, hi): the rows of a batch of n that rank `rank` of `size` takes --
    `size` contiguous parts in rank order whose sizes differ by at most one."""
    base, extra = divmod(n, size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


class StepsAdapter:
    """Arrays with fit's steps_per_epoch, as Keras 3's EpochIterator: each
    epoch takes the next `steps` batches of one pass over the arrays (in
    one shuffled order per pass), going on where the last epoch stopped.  A
    pass that ends within an epoch ends that epoch early with Keras's
    warning, and the next epoch starts a new pass."""

    def __init__(self, arrays: ArrayAdapter, steps: int) -> None:
        self.arrays, self.steps = arrays, steps
        self.batch_size = arrays.batch_size
        self.samples = None
        self.exhausted = False
        self._pass: Optional[Iterator[Batch]] = None
        self._seen = 0

    def epoch(self, shuffle: bool) -> Iterator[Batch]:
        per_pass = self.arrays.steps
        assert per_pass is not None
        if self._pass is None:
            self._pass, self._seen = self.arrays.epoch(shuffle), 0
        for step in range(self.steps):
            if self._seen >= per_pass:
                _warn(f"Your input ran out of data: this epoch ends after {step} of "
                      f"steps_per_epoch={self.steps} steps (a pass over the arrays is "
                      f"{per_pass} batches; the next epoch starts a new pass, as in Keras). "
                      f"Make sure that your data can generate at least `steps_per_epoch * "
                      f"epochs` batches.", UserWarning)
                break
            self._seen += 1
            yield next(self._pass)
        if self._seen >= per_pass:
            self._pass = None

    def on_epoch_end(self) -> None:
        pass


class DatasetAdapter:
    """A PyDataset: steps batches (len(dataset) unless given) dataset[i],
    in a shuffled order when shuffle (as Keras's), on_epoch_end() after each epoch."""

    def __init__(self, dataset: Any, steps: Optional[int], prepare: Callable[[Any, Any, Any], Batch],
                 name: str) -> None:
        n = len(dataset)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"{name}: a PyDataset must have len() >= 1, got {n!r}")
        self.dataset, self.prepare, self.name = dataset, prepare, name
        self.samples = None
        self.steps = n if steps is None else min(steps, n)
        self.exhausted = False

    def epoch(self, shuffle: bool) -> Iterator[Batch]:
        n = len(self.dataset)
        order = utils.get_rng().permutation(n) if shuffle else np.arange(n)
        assert self.steps is not None
        for i in order[:self.steps]:
            yield self.prepare(*unpack(self.dataset[int(i)], self.name))

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class GeneratorAdapter:
    """A generator / iterator of (x, y): `steps` batches per epoch (the same
    generator goes on from epoch to epoch), or until it is exhausted when
    steps is None.  Running out early warns and sets `exhausted`, as Keras."""

    def __init__(self, generator: Any, steps: Optional[int],
                 prepare: Callable[[Any, Any, Any], Batch], name: str) -> None:
        self.generator, self.prepare, self.name = generator, prepare, name
        self.samples = None
        self.steps = steps
        self.exhausted = False

    def epoch(self, shuffle: bool) -> Iterator[Batch]:
        step = 0
        while self.steps is None or step < self.steps:
            try:
                batch = next(self.generator)
            except StopIteration:
                if step == 0 or self.steps is not None:
                    self.exhausted = True
                    _warn(f"Your input ran out of data ({self.name} gave {step} batches this "
                          f"epoch); interrupting training. Make sure that your dataset or "
                          f"generator can generate at least `steps_per_epoch * epochs` "
                          f"batches.", UserWarning)
                return
            yield self.prepare(*unpack(batch, self.name))
            step += 1

    def on_epoch_end(self) -> None:
        pass


class Execution:
    """One execution's batches of an ArrayAdapter's arrays, gathered only
    when asked for: its `count` rows are rows[0:count] (the epoch's
    permutation's slice, int64) or, with rows None, first .. first + count;
    e[i] is its batch i (x, y, sample_weight or None), len(e) their number.
    The training plan takes the rows themselves (train_plan.train_steps)."""

    __slots__ = ("x", "y", "sample_weight", "batch_size", "rows", "first", "count")

    def __init__(self, adapter: ArrayAdapter, rows: Optional[np.ndarray], first: int,
                 count: int) -> None:
        self.x, self.y, self.sample_weight = adapter.x, adapter.y, adapter.sample_weight
        self.batch_size, self.rows, self.first, self.count = (adapter.batch_size, rows, first,
                                                              count)

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def index(self, lo: int, hi: int) -> Any:
        """The arrays' index of this execution's rows lo:hi."""
        if self.rows is None:
            return slice(self.first + lo, self.first + min(hi, self.count))
        return self.rows[lo:hi]

    def __getitem__(self, i: int) -> Batch:
        if not 0 <= i < len(self):
            raise IndexError(i)
        rows = self.index(i * self.batch_size, (i + 1) * self.batch_size)
        sw = self.sample_weight
        return self.x[rows], self.y[rows], None if sw is None else sw[rows]

    def full(self) -> int:
        """How many of its batches have batch_size rows (all but a last short one)."""
        return self.count // self.batch_size

    def steps(self, lo: int, hi: int) -> "Execution":
        """Its batches lo:hi as an execution of their own."""
        bs = self.batch_size
        e = Execution.__new__(Execution)
        e.x, e.y, e.sample_weight, e.batch_size = self.x, self.y, self.sample_weight, bs
        e.rows = None if self.rows is None else self.rows[lo * bs:hi * bs]
        e.first = self.first + lo * bs if self.rows is None else 0
        e.count = min(hi * bs, self.count) - lo * bs
        return e


Steps = Union[Sequence[Batch], Execution]


def executions(batches: Iterator[Batch], steps: int) -> Iterator[List[Batch]]:
    """batches in groups of `steps` (the last may be shorter), as
    ArrayAdapter.executions gives them (as lists)."""
    group: List[Batch] = []
    for b in batches:
        group.append(b)
        if len(group) == steps:
            yield group
            group = []
    if group:
        yield group
