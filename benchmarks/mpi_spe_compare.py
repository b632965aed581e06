"""Two steps_per_execution values of the book model's fit compared in ONE
process, interleaved (issue 16: does spe 32 cost a rank more than spe 8?):

    python benchmarks/mpi_spe_compare.py [batch] [samples] [spe_a] [spe_b] [repeats]
    mpiexec -n 2 python benchmarks/mpi_spe_compare.py ...      # DataParallel

Both models (benchmarks/bench.py's book_model, 1 thread) are built and warmed
up first; then each repeat fits an epoch with one, then the other (under
mpiexec: after a Barrier, inside one DataParallel).  Prints per rank and
spe, for every repeat: wall ms per step, the thread's CPU ms per step, and
of that CPU the part outside the plan's C call (F.plan_train_steps_unchecked:
fit's loop, the data's rows, train_steps's per-execution set-up) in ms per
execution.  Separate bench.py runs drift on a shared machine; interleaved
runs of one process see the same load.  Under mpiexec a rank's CPU time
includes its waits in MPI (Open MPI polls, yielding or not), so there the
wall time and mpi_step_timeline.py's per-phase stamps say more.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.argv.append("--mpi-worker")     # bench.py: do not import torch

import ccnn  # noqa: E402
import ccnn.functional as F  # noqa: E402
from bench import book_model, load_fashion  # noqa: E402

IN_C = [0.0, 0]     # thread CPU seconds inside the plan's multi-step call, calls
_steps_call = F.plan_train_steps_unchecked


def _timed_steps(*args, **kw):
    c = time.thread_time()
    try:
        return _steps_call(*args, **kw)
    finally:
        IN_C[0] += time.thread_time() - c
        IN_C[1] += 1


def main():
    args = [a for a in sys.argv[1:] if a != "--mpi-worker"]
    batch, samples, spe_a, spe_b, repeats = (
        [int(a) for a in args] + [128, 25600, 8, 32, 4][len(args):])
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
    ccnn.set_num_threads(1)
    x, y = load_fashion(samples)
    models = {s: book_model(s) for s in (spe_a, spe_b)}
    F.plan_train_steps_unchecked = _timed_steps
    dp = None
    if ranks > 1:
        from ccnn.distribution import DataParallel
        dp = DataParallel().__enter__()
    steps = len(x) // batch
    got = {s: [] for s in models}
    for s, m in models.items():     # warm up: plans, arenas, the shared window
        m.fit(x[:batch * s], y[:batch * s], batch_size=batch, epochs=1, verbose=0)
    for _ in range(repeats):
        for s, m in models.items():
            if dp is not None:
                dp.comm.Barrier()
            IN_C[:] = [0.0, 0]
            w, c = time.perf_counter(), time.thread_time()
            m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            w, c = time.perf_counter() - w, time.thread_time() - c
            got[s].append((w / steps, c / steps, (c - IN_C[0]) / max(1, IN_C[1])))
    every = [got] if dp is None else dp.comm.gather(got, root=0)
    if dp is not None:
        dp.__exit__(None, None, None)
    if every is None:
        return
    print(f"batch {batch}, {steps} steps per epoch, {ranks} rank(s), load "
          f"{os.getloadavg()[0]:.2f} at the end")
    for s in models:
        for r, g in enumerate(every):
            for name, i in (("wall ms/step", 0), ("cpu ms/step", 1),
                            ("cpu outside C ms/execution", 2)):
                print(f"spe {s:3d} rank {r} {name:27s} " +
                      " ".join(f"{v[i] * 1e3:6.3f}" for v in g[s]))


if __name__ == "__main__":
    main()
