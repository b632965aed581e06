"""ccnn.distribution -- data-parallel training over MPI (Keras 3's
keras.distribution names: DataParallel, set_distribution, distribution).

    from ccnn.distribution import DataParallel
    with DataParallel():                      # under `mpiexec -n K python train.py`
        model.fit(x, y, batch_size=128, epochs=5, validation_split=0.2)

Every rank runs the same script and holds a replica of the model; fit splits
each global batch of `batch_size` samples into K shards of about
batch_size / K, sums the gradients once per step (through an MPI-3
shared-memory window among a node's ranks, MPI Allreduce across nodes:
ccnn.distribution.shm_reduce) and applies the same update on every rank.  Nothing here imports mpi4py until a
DataParallel is made (``pip install "ccnn[mpi]"``).  See README "Scale-out".
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .data_parallel import DataParallel as DataParallel

__all__ = ["DataParallel", "set_distribution", "distribution", "launched_under_mpi",
           "threads_per_rank"]


def __getattr__(name: str) -> Any:
    if name == "DataParallel":          # the module that imports mpi4py, when asked for
        from .data_parallel import DataParallel
        return DataParallel
    raise AttributeError(f"module 'ccnn.distribution' has no attribute {name!r}")


def launched_under_mpi() -> int:
    """The number of ranks when this process was started by mpiexec / mpirun
    (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH's PMI_SIZE), else 0.  Reads the
    environment only: nothing is imported."""
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def threads_per_rank() -> int:
    """Kernel threads for one of the ranks on this machine: the cores this
    process may run on, shared by the node's ranks when mpiexec did not bind
    each rank to its own cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    local = os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", os.environ.get("MPI_LOCALNRANKS", ""))
    if local.isdigit() and cores >= (os.cpu_count() or 1):
        return max(1, cores // max(1, int(local)))
    return max(1, cores)


class Local:
    """What fit / evaluate consult when no distribution is in force: every
    hook leaves the single-process loop as it is."""

    rank = 0
    size = 1
    is_chief = True

    def filter_callbacks(self, callbacks: List[Any]) -> List[Any]:
        return callbacks

    def begin_fit(self, model: Any) -> None:
        pass

    def end_fit(self, model: Any) -> None:
        pass

    def shard(self, adapter: Any, shuffle: bool, training: bool = True) -> Iterator[Any]:
        return adapter.epoch(shuffle)

    def executions(self, adapter: Any, shuffle: bool, steps: int) -> Iterator[Any]:
        """fit's units with compile(steps_per_execution=steps > 1): an
        ArrayAdapter's Executions (rows the training plan gathers itself),
        else shard's batches in lists of `steps`."""
        from ..models import data_adapters
        if isinstance(adapter, data_adapters.ArrayAdapter):
            return adapter.executions(shuffle, steps)
        return data_adapters.executions(self.shard(adapter, shuffle), steps)

    def reduce_gradients(self, pairs: List[Tuple[Any, Any]], loss: float
                         ) -> Tuple[List[Tuple[Any, Any]], float]:
        return pairs, loss

    def epoch_logs(self, logs: Dict[str, Any], objs: List[Any]) -> Dict[str, Any]:
        return logs

    def reduce_eval(self, objs: List[Any], loss_sum: float, seen: int) -> Tuple[float, int]:
        return loss_sum, seen

    def plan_reducer(self) -> Any:
        return None

    def select_step(self, j: int, count: int) -> None:
        pass


_LOCAL = Local()
_current: List[Any] = []     # the DataParallel scopes entered (innermost last)
_global: Optional[Any] = None


def set_distribution(value: Optional[Any]) -> None:
    """Make `value` (a DataParallel, or None) the distribution of every later
    fit / evaluate outside a `with` scope (Keras's set_distribution)."""
    global _global
    if value is not None and not isinstance(value, Local):
        raise TypeError(f"set_distribution takes a ccnn.distribution.DataParallel or None, "
                        f"got {type(value).__name__}")
    _global = value


def distribution() -> Optional[Any]:
    """The distribution in force: the innermost `with DataParallel()` scope,
    else set_distribution's, else None (Keras's distribution())."""
    if _current:
        return _current[-1]
    return _global


def current() -> Local:
    """The distribution fit / evaluate use (internal): a do-nothing Local when none."""
    d = distribution()
    return _LOCAL if d is None else d
