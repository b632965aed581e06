"""Before / after of a change to DataParallel's step (issue 16): the book
model's data-parallel fit from two source trees, interleaved.

    python benchmarks/mpi_before_after.py OLD_TREE [rounds] [batch] [spe]

OLD_TREE: another checkout of ccnn, built in place (e.g. the base commit's).
Each round runs, one after the other, every configuration as its own job
(benchmarks/bench.py --mpi-worker of its tree, 1 thread per rank, best of 2
epochs of 24,000 Fashion-MNIST samples, compile(steps_per_execution=spe)):

  1 rank            this tree, no MPI (the baseline of the speed-ups)
  old 2 ranks       OLD_TREE under mpiexec -n 2 (its defaults)
  new 2 ranks       this tree under mpiexec -n 2 (its defaults)
  new 2 ranks spin  this tree, --mca mpi_yield_when_idle 0 (a waiting rank spins)
  apart             two plain half-batch fits of this tree side by side, no MPI
                    (bench.py's ceiling)

and prints, per configuration, the median over the rounds of ms per step,
the speed-up over 1 rank (of the medians; and in each round, over that
round's 1 rank), the ranks' CPU ms per step and the all-reduce's ms
per step, with the load average before and after.  A drifting load touches
every configuration alike (round-robin).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NEW = os.path.dirname(HERE)
sys.path[:0] = [HERE, NEW]
sys.argv.append("--mpi-worker")     # bench.py: do not import torch

import numpy as np  # noqa: E402

from bench import _mpi_apart  # noqa: E402

SAMPLES = 24000


def job(tree, batch, spe, ranks=1, mca=()):
    cmd = [sys.executable, os.path.join(tree, "benchmarks", "bench.py"), "--mpi-worker",
           str(batch), "1", str(SAMPLES), "2", str(spe)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PYTHONPATH=tree)
    env.pop("OMPI_MCA_mpi_yield_when_idle", None)
    if ranks == "apart":
        return _mpi_apart(cmd, 2, env)
    if ranks > 1:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        cmd = [mpiexec if os.path.exists(mpiexec) else "mpiexec", "-n", str(ranks), *mca, *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800,
                         stdin=subprocess.DEVNULL)
    line = [s for s in out.stdout.splitlines() if s.startswith("MPI-RESULT ")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"{cmd} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(line[0].split(" ", 1)[1])


def main():
    args = [a for a in sys.argv[1:] if a != "--mpi-worker"]
    old = os.path.abspath(args[0])
    rounds = int(args[1]) if len(args) > 1 else 3
    batch = int(args[2]) if len(args) > 2 else 128
    spe = int(args[3]) if len(args) > 3 else 8
    configs = [("1 rank", NEW, 1, ()), ("old 2 ranks", old, 2, ()), ("new 2 ranks", NEW, 2, ()),
               ("new 2 ranks spin", NEW, 2, ("--mca", "mpi_yield_when_idle", "0")),
               ("apart", NEW, "apart", ())]
    load0 = os.getloadavg()[0]
    got = {name: [] for name, *_ in configs}
    for _ in range(rounds):
        for name, tree, ranks, mca in configs:
            got[name].append(job(tree, batch, spe, ranks, mca))
    print(f"book model, global batch {batch}, spe {spe}, {rounds} rounds; old {old}, new {NEW}; "
          f"load {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    base = None
    for name, *_ in configs:
        runs = got[name]
        ms = [r["seconds"] / r["steps"] * 1e3 for r in runs]
        med = float(np.median(ms))
        base = base or med
        first = [r["seconds"] / r["steps"] * 1e3 for r in got[configs[0][0]]]
        cpu = np.median([r["cpu_ms"] for r in runs], axis=0)
        ar = float(np.median([r["allreduce_ms"] for r in runs]))
        print(f"{name:18s} {med:6.2f} ms/step  x{base / med:4.2f}  (rounds: "
              + " ".join(f"x{b / m:4.2f}" for b, m in zip(first, ms)) + ")  cpu "
              + "/".join(f"{c:.2f}" for c in cpu) + f" ms/step  all-reduce {ar:.2f} ms/step",
              flush=True)


if __name__ == "__main__":
    main()
