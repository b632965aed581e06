"""Where a DataParallel rank's extra time per step goes (issue 16): the CPU
time per step of a rank of a 2-rank fit of the book model against the same
half-batch fit run apart (no MPI), split by shared object, from perf's
cpu-clock samples.

    python benchmarks/dp_overhead.py [batch] [samples] [spe] [rounds]
    (defaults 128 12000 32 3; needs /usr/bin/perf and mpiexec; as root it sets
    OMPI_ALLOW_RUN_AS_ROOT itself)

Each round runs, one after the other, three configurations of the book
model's fit (benchmarks/bench.py's book_model, 1 thread,
compile(steps_per_execution=spe)) under `perf record -e cpu-clock`: 2 ranks
(mpiexec -n 2, DataParallel's defaults: the gradients in the shared window,
ShmReducer) at global batch `batch` on `samples` images; the same with
CCNN_DP_SHM=0 (private buffers, MPI Allreduce); and two plain fits at
batch/2 on samples/2 images side by side ("apart", process i pinned to core
i: bench.py's ceiling).  Each process warms up (plans compiled, MPI
started), then perf records (perf's --control fifo) only its 2 epochs of fit.
Printed: per group of shared objects, the median over rounds of the ms of
CPU per step (the two processes of a configuration averaged), and rank -
apart.  perf samples only while a process runs, so these are CPU times: the
load of other jobs on the machine changes them much less than the wall
clock; a rank that waits (Barrier, yielding its core) spends CPU in the OS
(sched_yield) and in MPI.  cpu-clock is the only event on a VM without
hardware counters.

Measured (2026-12-08, main 5350f1c, load 4.4-4.6 from other jobs, 3 rounds,
`python benchmarks/dp_overhead.py 128 8000 32 3`), ms of CPU per step:
rank 3.93, rank with CCNN_DP_SHM=0 3.62, apart 3.24; rank - apart 0.69 =
C kernels 0.04 (within the noise, about +-0.15: the forward, backward and
update do not get slower in the shared window), Python 0.23 (the per-step
reduce callback from plan_train_steps and its bookkeeping), libc/mpi4py/other
0.11, the slice sum in numpy 0.09, OS 0.07 (sched_yield while waiting), MPI
0.06.  The rest of the wall-clock gap is waiting for the other rank
(benchmarks/mpi_step_timeline.py: skew and synchronisation).

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


def worker(batch, samples, spe):
    """One process's fit (a rank under mpiexec, or a plain fit): warm up, then
    perf records (its control fifo, DP_PERF_CTL) only 2 epochs of fit."""
    sys.path.insert(0, HERE)
    sys.argv.append("--mpi-worker")          # bench.py: do not import torch
    import ccnn
    from bench import book_model, load_fashion
    ccnn.set_num_threads(1)
    x, y = load_fashion(samples)
    m = book_model(spe)
    dp = None
    if int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        from ccnn.distribution import DataParallel
        dp = DataParallel()
        dp.__enter__()
    m.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)   # warm up
    with open(os.environ["DP_PERF_CTL"], "w") as ctl:
        ctl.write("enable\n")
        ctl.flush()
        m.fit(x, y, batch_size=batch, epochs=2, verbose=0)
        ctl.write("disable\n")
        ctl.flush()
    print("STEPS", 2 * -(-len(x) // batch), flush=True)
    if dp is not None:
        dp.__exit__(None, None, None)


def run(tmp, tag, ranks, batch, samples, spe, hz, env, apart=False):
    """perf-recorded fits: `ranks` ranks under mpiexec, or with apart `ranks`
    plain fits side by side (process i pinned to core i); returns
    ({group: ms} per process, steps)."""
    wrap = os.path.join(tmp, "wrap.sh")
    with open(wrap, "w") as f:
        f.write(f"""#!/bin/sh
r=${{OMPI_COMM_WORLD_RANK:-$DP_APART}}
rm -f {tmp}/ctl.$r; mkfifo {tmp}/ctl.$r
DP_PERF_CTL={tmp}/ctl.$r exec {PERF} record -q -D -1 --control fifo:{tmp}/ctl.$r \
    -F {hz} -e cpu-clock -o {tmp}/{tag}.$r "$@"
""")
    os.chmod(wrap, 0o755)
    cmd = [wrap, sys.executable, os.path.abspath(__file__), "--worker", str(batch),
           str(samples), str(spe)]
    files = [f"{tmp}/{tag}.{r}" for r in range(ranks)]
    if apart:
        cpus = os.cpu_count() or 1
        procs = [subprocess.Popen(cmd, env=dict(env, DP_APART=str(i)), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL,
                                  preexec_fn=lambda i=i: os.sched_setaffinity(0, {i % cpus}))
                 for i in range(ranks)]
        outs = [(p.communicate(timeout=1800), p.returncode) for p in procs]
    else:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        p = subprocess.run([mpiexec if os.path.exists(mpiexec) else "mpiexec", "--oversubscribe",
                            "-n", str(ranks), *cmd], env=env, capture_output=True, text=True,
                           timeout=1800, stdin=subprocess.DEVNULL)
        outs = [((p.stdout, p.stderr), p.returncode)]
    (out, err), rc = outs[0]
    line = [s for s in out.splitlines() if s.startswith("STEPS ")]
    if any(r != 0 for _, r in outs) or not line:
        raise RuntimeError(f"{tag} failed:\n{out}\n{err}")
    return [dso_ms(f, hz) for f in files], int(line[0].split()[1])


def main():
    args = [int(a) for a in sys.argv[1:]]
    batch, samples, spe, rounds = (args + [128, 12000, 32, 3][len(args):])[:4]
    hz = 4999
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"dp_overhead: batch {batch}, {samples} samples, spe {spe}, {rounds} rounds; "
          f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    configs = {"rank": ({}, batch), "rank, CCNN_DP_SHM=0": ({"CCNN_DP_SHM": "0"}, batch),
               "apart": (None, batch // 2)}
    per = {f"{c} {r}": [] for c in configs for r in (0, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for c, (extra, b) in configs.items():
                e = dict(env, **(extra or {}))
                n = samples if extra is not None else samples // 2
                got, steps = run(tmp, "s", 2, b, n, spe, hz, e, apart=extra is None)
                for r in (0, 1):
                    per[f"{c} {r}"].append({k: v / steps for k, v in got[r].items()})
    names = [g for g, _ in GROUPS] + ["other"]
    print(f"{'ms of CPU per step':18s}" + "".join(f"{k:>12s}" for k in
                                                   ["rank", "rank noshm", "apart", "rank-apart"]))
    rows = {}
    for g in names + ["total"]:
        med = {}
        for name, runs in per.items():
            vals = [sum(r.values()) if g == "total" else r.get(g, 0.0) for r in runs]
            med[name] = float(np.median(vals))
        # the two processes of a configuration averaged
        two = {c: (med[f"{c} 0"] + med[f"{c} 1"]) / 2 for c in configs}
        rows[g] = two
        print(f"{g:18s}" + "".join(f"{v:12.3f}" for v in
                                   [*two.values(), two["rank"] - two["apart"]]))
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*(int(a) for a in sys.argv[2:5]))
    else:
        main()
