"""Per-step timeline of a DataParallel fit of the book model over 2 ranks
(issue 16): where the ~1 ms per step between a 2-rank step and the same
half-batch step without MPI goes.

    mpiexec -n 2 python benchmarks/mpi_step_timeline.py [batch] [samples] [spe]

Each rank fits the book model (benchmarks/bench.py's book_model, 1 thread,
global batch `batch`, compile(steps_per_execution=spe)) on `samples`
Fashion-MNIST images, with ShmReducer.reduce's pieces stamped by
time.perf_counter (CLOCK_MONOTONIC: one clock for both processes of a node)
at every step: t0 the reduce entered (the rank's backward done), t1 after the
first synchronisation (Win.Sync, Barrier, Win.Sync), t2 after the slice's sum,
t3 after the second synchronisation; and t_cb the reduce callback entered
(DataParallel.reduce_plan).  Rank 0 gathers both ranks' stamps and prints,
per step, medians and 90th percentiles of:

* skew: |t0(rank 0) - t0(rank 1)|, how long the earlier rank waits for the
  later one (the jitter of the two ranks' compute);
* sync1 after both arrived: t1 - max(t0) (the cost of the first
  synchronisation itself when both are there);
* sum: t2 - t1 per rank (the slice's add + copies, cross-core reads included);
* sync2 after both summed: t3 - max(t2);
* callback Python: from t_cb to t0 and from t3 to the reduce_plan's return;
* compute: from the previous step's t3 to this step's t0 per rank
  (forward + backward + update + the callback's surroundings), in wall time
  and in the thread's CPU time (their difference: the rank was not running);
* Python's garbage collections during the fit (gc.callbacks), per rank.
"""
import gc
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.argv.append("--mpi-worker")     # bench.py: do not import torch

import numpy as np  # noqa: E402

from ccnn.distribution import DataParallel  # noqa: E402
from ccnn.distribution import data_parallel as dpm  # noqa: E402
from ccnn.distribution.shm_reduce import ShmReducer  # noqa: E402
from mpi_step_profile import setup  # noqa: E402

STAMPS = []         # per reduce: [t_cb, t0, t1, t2, t3, t_ret, cpu at t0, cpu at t3]
_now = time.perf_counter
_cpu = time.thread_time
GC = []             # (start, seconds) of each garbage collection during the timed fit


def _gc_watch(phase, info, _start=[0.0]):
    if phase == "start":
        _start[0] = _now()
    else:
        GC.append((_start[0], _now() - _start[0]))


def stamped_reduce(self):
    """ShmReducer.reduce with its pieces stamped (the same calls, in order)."""
    row = STAMPS[-1] if STAMPS and len(STAMPS[-1]) == 1 else None
    c0, t0 = _cpu(), _now()
    if self.k > 1:
        self._sync()
        t1 = _now()
        self._sum()
        t2 = _now()
        self._sync()
        t3 = _now()
    else:
        t1 = t2 = t3 = t0
    if row is not None:
        row.extend([t0, t1, t2, t3, c0, _cpu()])


def stamped_reduce_plan(orig):
    def wrapper(self, loss):
        STAMPS.append([_now()])
        try:
            return orig(self, loss)
        finally:
            if len(STAMPS[-1]) == 7:
                STAMPS[-1].insert(5, _now())
    return wrapper


def pct(a, q):
    return float(np.percentile(a, q)) * 1e3


def main():
    batch, spe, x, y, m = setup(8)
    dp = DataParallel()
    with dp:
        m.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)
        ShmReducer.reduce = stamped_reduce
        dpm.DataParallel.reduce_plan = stamped_reduce_plan(dpm.DataParallel.reduce_plan)
        STAMPS.clear()
        gc.callbacks.append(_gc_watch)
        w0, c0 = _now(), time.process_time()
        m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        wall, cpu = _now() - w0, time.process_time() - c0
        gc.callbacks.remove(_gc_watch)
        rows = np.array([r for r in STAMPS if len(r) == 8])
        allrows = dp.comm.gather(rows, root=0)
        gcs = dp.comm.gather(GC, root=0)
        cpus = dp.comm.gather(cpu, root=0)
        walls = dp.comm.gather(wall, root=0)
    if dp.rank:
        return
    n = min(len(r) for r in allrows)
    a, b = allrows[0][:n], allrows[1][:n]
    cb, t0, t1, t2, t3, ret, c0, c3 = (np.stack([a[:, i], b[:, i]]) for i in range(8))
    steps = n
    print(f"batch {batch} spe {spe}: {steps} steps, load {os.getloadavg()[0]:.1f}; "
          f"wall {wall / steps * 1e3:.2f} ms/step, cpu/step " +
          "/".join(f"{c / steps * 1e3:.2f}" for c in cpus) + " ms; wall per rank " +
          "/".join(f"{w / steps * 1e3:.2f}" for w in walls))
    comp = t0[:, 1:] - t3[:, :-1]
    parts = {
        "compute (prev t3 -> t0), rank 0": comp[0],
        "compute (prev t3 -> t0), rank 1": comp[1],
        "  of it on CPU (thread time), rank 0": c0[0, 1:] - c3[0, :-1],
        "  of it on CPU (thread time), rank 1": c0[1, 1:] - c3[1, :-1],
        "skew |t0_0 - t0_1|": np.abs(t0[0] - t0[1]),
        "sync1 after both arrived": t1.max(0) - t0.max(0),
        "sum (t2 - t1), rank 0": t2[0] - t1[0],
        "sum (t2 - t1), rank 1": t2[1] - t1[1],
        "sync2 after both summed": t3.max(0) - t2.max(0),
        "callback python before reduce": (t0 - cb).ravel(),
        "callback python after reduce": (ret - t3).ravel(),
        "reduce total (t3 - t0), both": (t3 - t0).ravel(),
    }
    print(f"{'piece (ms per step)':38s} {'median':>7s} {'mean':>7s} {'p90':>7s}")
    for k, v in parts.items():
        print(f"{k:38s} {pct(v, 50):7.3f} {float(np.mean(v)) * 1e3:7.3f} {pct(v, 90):7.3f}")
    signed = (t0[0] - t0[1]) * 1e3
    first = np.arange(steps) % spe == 0
    print(f"signed skew t0_0 - t0_1 (ms; > 0: rank 1 waits): median {np.median(signed):.3f}; "
          f"at an execution's first step {np.median(signed[first]):.3f}, at the others "
          f"{np.median(signed[~first]) if spe > 1 else float('nan'):.3f}")
    gap = (t0[:, 1:] - t3[:, :-1]).max(0) * 1e3
    print(f"slower rank's compute (ms): execution's first step {np.median(gap[first[1:]]):.3f}, "
          f"others {np.median(gap[~first[1:]]) if spe > 1 else float('nan'):.3f}")
    cpu_gap = (c0[:, 1:] - c3[:, :-1]) * 1e3
    for r in range(2):
        print(f"rank {r} compute on CPU (ms): execution's first step "
              f"{np.median(cpu_gap[r][first[1:]]):.3f}, others "
              f"{np.median(cpu_gap[r][~first[1:]]) if spe > 1 else float('nan'):.3f}")
    for r, g in enumerate(gcs):
        print(f"garbage collections rank {r}: {len(g)}, "
              f"{sum(d for _, d in g) / steps * 1e3:.3f} ms per step, longest "
              f"{max((d for _, d in g), default=0) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
