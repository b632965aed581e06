"""Where a DataParallel rank's extra time per step goes (issue 16): the CPU
time per step of a rank of a 2-rank fit of the book model against the same
half-batch fit run apart (no MPI), split by shared object, from perf's
cpu-clock samples.

    python benchmarks/dp_overhead.py [batch] [samples] [spe] [rounds]
    (defaults 128 12000 32 3; needs /usr/bin/perf and mpiexec; as root it sets
    OMPI_ALLOW_RUN_AS_ROOT itself)

Each round runs, interleaved, benchmarks/bench.py's mpi worker (the book
model, 1 thread, compile(steps_per_execution=spe), a warm-up then 2 epochs)
four times under `perf record -e cpu-clock`: 2 ranks (mpiexec -n 2,
DataParallel's defaults) on `samples` and on 2 x `samples` images, and one
plain fit at batch/2 ("apart", pinned to core 0) on samples/2 and on
samples images.  The difference between a configuration's two runs, divided
by the difference of their step counts, is its CPU time per step with the
start-up (imports, data loading, plan compilation, MPI_Init) taken out.
Printed: per shared object, the median over rounds of the ms of CPU per step
of rank 0, rank 1 and the apart fit, and rank - apart.  perf samples only
while a process runs, so the numbers are CPU time, not wall time (the load
of other jobs shows in the wall clock, much less here); cpu-clock is the
only event on a VM without hardware counters.

Groups: kernels (ccnn's C kernels), python (the interpreter: fit's loop, the
reduce callback), numpy (the shared window's slice sum, the callback's
arithmetic), kernel (the OS: sched_yield of a waiting rank, page faults,
futex), mpi (libmpi, libopen-pal, the shared-memory transports), other.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PERF = "/usr/bin/perf"
GROUPS = [("numpy", r"_multiarray|_umath"), ("kernels", r"^kernels\.|^_\w+\.cpython"),
          ("python", r"libpython"), ("kernel", r"kallsyms|vdso"),
          ("mpi", r"^MPI\.cpython|libmpi|open-pal|open-rte|pmix|ucx|ucs|ucp|uct|mca_|prrte|hwloc|libevent")]


def group(dso):
    for name, pat in GROUPS:
        if re.search(pat, dso):
            return name
    return "other"


def dso_ms(path, hz):
    """{group: ms of CPU} of one perf.data (cpu-clock samples at hz)."""
    out = subprocess.run([PERF, "report", "-i", path, "-n", "--sort", "dso", "--stdio"],
                         capture_output=True, text=True, check=True).stdout
    got = {}
    for line in out.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+(\S+)", line)
        if m:
            g = group(m.group(2))
            got[g] = got.get(g, 0.0) + int(m.group(1)) * 1e3 / hz
    return got


def run(tmp, tag, ranks, batch, samples, spe, hz, env):
    """perf-recorded worker run(s); returns ({group: ms} per process, steps)."""
    worker = [sys.executable, os.path.join(HERE, "bench.py"), "--mpi-worker", str(batch), "1",
              str(samples), "2", str(spe)]
    rec = [PERF, "record", "-q", "-F", str(hz), "-e", "cpu-clock"]
    if ranks > 1:
        wrap = os.path.join(tmp, "wrap.sh")
        with open(wrap, "w") as f:
            f.write(f'#!/bin/sh\nexec {" ".join(rec)} -o {tmp}/{tag}.$OMPI_COMM_WORLD_RANK "$@"\n')
        os.chmod(wrap, 0o755)
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "--oversubscribe", "-n",
               str(ranks), wrap, *worker]
        files = [f"{tmp}/{tag}.{r}" for r in range(ranks)]
        pin = None
    else:
        cmd = [*rec, "-o", f"{tmp}/{tag}.0", *worker]
        files = [f"{tmp}/{tag}.0"]
        pin = (lambda: os.sched_setaffinity(0, {0})) if hasattr(os, "sched_setaffinity") else None
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800,
                         stdin=subprocess.DEVNULL, preexec_fn=pin)
    line = [s for s in out.stdout.splitlines() if s.startswith("MPI-RESULT ")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"{cmd} failed:\n{out.stdout}\n{out.stderr}")
    res = json.loads(line[0].split(" ", 1)[1])
    warm = 4                                  # mpi_worker's warm-up fit: 4 batches
    return [dso_ms(f, hz) for f in files], warm + 2 * res["steps"]


def main():
    args = [int(a) for a in sys.argv[1:]]
    batch, samples, spe, rounds = (args + [128, 12000, 32, 3][len(args):])[:4]
    hz = 4999
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"dp_overhead: batch {batch}, {samples} samples, spe {spe}, {rounds} rounds; "
          f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    per = {"rank 0": [], "rank 1": [], "apart": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            small, s_steps = run(tmp, "dp1", 2, batch, samples, spe, hz, env)
            big, b_steps = run(tmp, "dp2", 2, batch, 2 * samples, spe, hz, env)
            a_small, a_s = run(tmp, "ap1", 1, batch // 2, samples // 2, spe, hz, env)
            a_big, a_b = run(tmp, "ap2", 1, batch // 2, samples, spe, hz, env)
            for name, (s, b, n) in {"rank 0": (small[0], big[0], b_steps - s_steps),
                                    "rank 1": (small[1], big[1], b_steps - s_steps),
                                    "apart": (a_small[0], a_big[0], a_b - a_s)}.items():
                keys = set(s) | set(b)
                per[name].append({k: (b.get(k, 0.0) - s.get(k, 0.0)) / n for k in keys})
    names = [g for g, _ in GROUPS] + ["other"]
    print(f"{'ms of CPU per step':18s} {'rank 0':>8s} {'rank 1':>8s} {'apart':>8s} {'rank-apart':>10s}")
    rows = {}
    for g in names + ["total"]:
        med = {}
        for name, runs in per.items():
            vals = [sum(r.values()) if g == "total" else r.get(g, 0.0) for r in runs]
            med[name] = float(np.median(vals))
        rows[g] = med
        extra = (med["rank 0"] + med["rank 1"]) / 2 - med["apart"]
        print(f"{g:18s} {med['rank 0']:8.3f} {med['rank 1']:8.3f} {med['apart']:8.3f} {extra:10.3f}")
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    return rows


if __name__ == "__main__":
    main()
