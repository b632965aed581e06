"""Where a DataParallel step of the book model goes, per rank (issue 16).

    mpiexec -n 2 python benchmarks/mpi_step_profile.py [batch] [samples] [spe]

Each rank fits the book model (benchmarks/bench.py's book_model, 1 thread) on
`samples` Fashion-MNIST images at global batch `batch`, with timers switched
on around the pieces of the step: the plan's C call (forward + backward),
the optimizer's C call, the gradient all-reduce split into waiting (an
MPI Barrier just before it: the slower rank's lag) and the transfer (the
Allreduce after that barrier, or with the shared window -- CCNN_DP_SHM on,
the default -- ShmReducer.reduce after it).  What remains of the step is Python (fit's
loop, callbacks, the batch gather, the plan's bookkeeping).  Prints, per rank,
ms per step of each piece, in wall-clock and in CPU time.
(The barrier adds one small message per step; the timers are off in a
normal fit.)  With spe > 1 the fwd+bwd column is the multi-step call's time
less the all-reduces inside it (counted in their own columns): the update
and the reduce callback's Python are in it, the optimizer column is 0.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.argv.append("--mpi-worker")     # bench.py: do not import torch

import numpy as np  # noqa: E402

import ccnn  # noqa: E402
import ccnn.functional as F  # noqa: E402
from bench import book_model, load_fashion  # noqa: E402
from ccnn.distribution import DataParallel  # noqa: E402
from ccnn.distribution.shm_reduce import ShmReducer  # noqa: E402

T = {"kernels": 0.0, "optimizer": 0.0, "wait": 0.0, "transfer": 0.0}
C = dict(T)         # the same pieces in this process's CPU time


def timed(name, fn):
    def wrapper(*a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            T[name] += time.perf_counter() - t0
            C[name] += time.process_time() - c0
    return wrapper


class TimedComm:
    """The communicator with the Allreduce split into waiting and transfer."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        return getattr(self._comm, name)

    def Allreduce(self, *a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        self._comm.Barrier()
        t1, c1 = time.perf_counter(), time.process_time()
        self._comm.Allreduce(*a, **k)
        t2, c2 = time.perf_counter(), time.process_time()
        T["wait"] += t1 - t0
        T["transfer"] += t2 - t1
        C["wait"] += c1 - c0
        C["transfer"] += c2 - c1


def split_wait(reduce):
    """ShmReducer.reduce (the shared window's sum, CCNN_DP_SHM on) split as
    TimedComm splits the Allreduce: a Barrier, then the sum."""
    def wrapper(self):
        t0, c0 = time.perf_counter(), time.process_time()
        self.comm.Barrier()
        t1, c1 = time.perf_counter(), time.process_time()
        reduce(self)
        t2, c2 = time.perf_counter(), time.process_time()
        T["wait"] += t1 - t0
        T["transfer"] += t2 - t1
        C["wait"] += c1 - c0
        C["transfer"] += c2 - c1
    return wrapper


def setup(default_spe):
    """From the command line [batch] [samples] [spe]: (batch, spe, x, y, the
    book model compiled with steps_per_execution spe), ccnn at 1 thread."""
    args = [a for a in sys.argv[1:] if a != "--mpi-worker"]
    batch = int(args[0]) if args else 128
    samples = int(args[1]) if len(args) > 1 else 12800
    spe = int(args[2]) if len(args) > 2 else default_spe
    ccnn.set_num_threads(1)
    x, y = load_fashion(samples)
    return batch, spe, x, y, book_model(spe)


def main():
    batch, spe, x, y, m = setup(1)
    dp = DataParallel()
    with dp:
        m.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)
        dp.comm = TimedComm(dp.comm)
        ShmReducer.reduce = split_wait(ShmReducer.reduce)
        F.plan_train_unchecked = timed("kernels", F.plan_train_unchecked)
        F.plan_train_steps_unchecked = timed("kernels", F.plan_train_steps_unchecked)
        F.plan_optimize_unchecked = timed("optimizer", F.plan_optimize_unchecked)
        for k in T:
            T[k] = C[k] = 0.0
        w0, c0 = time.perf_counter(), time.process_time()
        m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        dp.comm = dp.comm._comm
    steps = len(x) // batch
    lines = [f"rank {dp.rank}: batch {batch} spe {spe} (load {os.getloadavg()[0]:.1f})"]
    for what, d, total in (("wall", T, wall), ("cpu ", C, cpu)):
        ms = {k: v / steps * 1e3 for k, v in d.items()}
        if spe > 1:     # the all-reduces inside the multi-step call
            ms["kernels"] -= ms["wait"] + ms["transfer"] + ms["optimizer"]
        py = total / steps * 1e3 - sum(ms.values())
        lines.append(f"  {what} step {total / steps * 1e3:6.2f} ms = fwd+bwd {ms['kernels']:5.2f}"
                     f" + optimizer {ms['optimizer']:5.2f} + wait {ms['wait']:5.2f} + transfer "
                     f"{ms['transfer']:5.2f} + python {py:5.2f}")
    for r in range(dp.size):
        if r == dp.rank:
            print("\n".join(lines), flush=True)
        dp.comm.Barrier()


if __name__ == "__main__":
    main()
