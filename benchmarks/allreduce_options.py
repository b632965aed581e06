"""The per-step gradient sum of DataParallel on this machine (issue 16):
Allreduce of one flat buffer between the ranks of one node, across the ways
Open MPI itself offers and an MPI-3 shared-memory window.

    python benchmarks/allreduce_options.py [n] [ranks] [calls]

runs every option as its own `mpiexec -n ranks` job (default n = 197,210
float32, the book model's gradients + loss; 2 ranks; 400 calls after 50 warm
ups) and prints the median and the 10th / 90th percentile of the per-call wall
time over the calls (rank 0's; the ranks leave each call together).  Between
calls every rank rewrites its buffer (as a backward would), so no option
profits from a cache left warm by the previous call.

Options: Open MPI's default (coll tuned's decision); coll tuned with each
fixed allreduce algorithm (coll_tuned_use_dynamic_rules 1,
coll_tuned_allreduce_algorithm K); single copy (smsc) off; coll han; coll
sm (priority raised); Reduce_scatter_block + Allgather; and the shared
window (ccnn.distribution.shm_reduce: every rank's buffer is its own segment
of one MPI.Win.Allocate_shared window, a Barrier, each rank sums its 1/K slice
of all segments in rank order into every segment, a Barrier).
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OPTIONS = [("default", [], "allreduce")]
OPTIONS += [(f"tuned alg {k}", ["--mca", "coll_tuned_use_dynamic_rules", "1",
                                "--mca", "coll_tuned_allreduce_algorithm", str(k)], "allreduce")
            for k in range(1, 7)]
OPTIONS += [("smsc off (no single copy)", ["--mca", "smsc", "^cma"], "allreduce"),
            ("coll han", ["--mca", "coll_han_priority", "100"], "allreduce"),
            ("coll sm", ["--mca", "coll_sm_priority", "100"], "allreduce"),
            ("reduce_scatter_block + allgather", [], "rsag"),
            ("shared window (shm_reduce)", [], "shm")]


def worker(n, calls, how):
    from mpi4py import MPI
    sys.path.insert(0, ROOT)
    comm = MPI.COMM_WORLD
    rank, k = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(rank)
    src = rng.standard_normal(n).astype(np.float32)
    if how == "shm":
        from ccnn.distribution.shm_reduce import ShmReducer
        red = ShmReducer(comm, n, np.float32)
        buf = red.buffer

        def call():
            red.reduce()
    else:
        buf = np.empty(n, dtype=np.float32)
        if how == "rsag":
            m = -(-n // k)
            buf = np.zeros(m * k, dtype=np.float32)
            part = np.empty(m, dtype=np.float32)

            def call():
                comm.Reduce_scatter_block(buf, part, op=MPI.SUM)
                comm.Allgather(part, buf)
        else:
            def call():
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    times = []
    for i in range(50 + calls):
        np.copyto(buf[:n], src)
        comm.Barrier()
        t0 = MPI.Wtime()
        call()
        if i >= 50:
            times.append(MPI.Wtime() - t0)
    # correctness: the sum of every rank's src, in rank order, on every rank
    srcs = comm.allgather(src)
    want = srcs[0].copy()
    for s in srcs[1:]:
        want += s
    np.copyto(buf[:n], src)
    call()
    ok = bool(np.allclose(buf[:n], want, rtol=1e-5, atol=1e-5))
    same = comm.allgather(buf[:n].tobytes())
    identical = all(s == same[0] for s in same)
    exact = bool(np.array_equal(buf[:n], want))
    if rank == 0:
        t = np.array(times) * 1e3
        print("RESULT " + json.dumps({"median_ms": float(np.median(t)),
                                      "p10_ms": float(np.percentile(t, 10)),
                                      "p90_ms": float(np.percentile(t, 90)),
                                      "ok": ok, "identical": identical, "rank_order": exact}))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 197_210
    ranks = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    over = ["--oversubscribe"] if (os.cpu_count() or 1) < ranks else []
    print(f"Allreduce of {n} float32 ({n * 4 / 1e3:.0f} KB), {ranks} ranks, {calls} calls; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'option':36s} {'median ms':>9s} {'p10':>7s} {'p90':>7s}  correct  "
          f"identical  = rank-order sum")
    for name, mca, how in OPTIONS:
        cmd = [mpiexec, "-n", str(ranks), *over, *mca, sys.executable,
               os.path.abspath(__file__), "--worker", str(n), str(calls), how]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL)
        line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")]
        if out.returncode or not line:
            print(f"{name:36s} failed: {(out.stderr or out.stdout).strip()[-300:]}")
            continue
        r = json.loads(line[0][7:])
        print(f"{name:36s} {r['median_ms']:9.3f} {r['p10_ms']:7.3f} {r['p90_ms']:7.3f}  "
              f"{str(r['ok']):7s}  {str(r['identical']):9s}  {r['rank_order']}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        main()
