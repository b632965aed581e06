"""libgomp's wait policy and ccnn's training steps (2 threads).

    python benchmarks/wait_policy.py [ROUNDS]          (README "Performance")

Three settings, each in its own subprocess, interleaved round by round:
libgomp's default (a waiting thread spins, then sleeps), OMP_WAIT_POLICY=PASSIVE
(it sleeps at once) and GOMP_SPINCOUNT=10000 (a short spin).  Each child warms
up, then times train_on_batch on random data (the modern model at batch 64,
the book model at 32 and 128) and reports medians; the parent prints each
setting's median over the rounds.  Which wins depends on what else runs on the
machine: run it as it is, and again beside a load."""
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
            "spin10k": {"GOMP_SPINCOUNT": "10000"}}
CASES = (("modern b64", 64, 3, 12), ("book b32", 32, 30, 300), ("book b128", 128, 30, 120))


def child():
    sys.path.insert(0, HERE)
    sys.argv = [sys.argv[0]]
    import bench
    rng = np.random.default_rng(0)
    out = {}
    for name, n, warm, steps in CASES:
        m = bench.modern_model() if name.startswith("modern") else bench.book_model()
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, n)
        for _ in range(warm):
            m.train_on_batch(x, y)
        ts = []
        for _ in range(steps):
            t = time.perf_counter()
            m.train_on_batch(x, y)
            ts.append(time.perf_counter() - t)
        out[name] = float(np.median(ts)) * 1e3
    print("RESULT", json.dumps(out))


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    got = {}
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    for r in range(rounds):
        for pol, env in POLICIES.items():
            o = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"],
                               env=dict(os.environ, **env), capture_output=True, text=True)
            line = [s for s in o.stdout.splitlines() if s.startswith("RESULT ")]
            if not line:
                sys.exit(o.stderr[-2000:])
            d = json.loads(line[0][7:])
            print(r, pol, {k: round(v, 2) for k, v in d.items()}, flush=True)
            for k, v in d.items():
                got.setdefault((k, pol), []).append(v)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for (k, pol), v in sorted(got.items()):
        print(f"{k:12s} {pol:8s} median {np.median(v):8.2f} ms  runs {[round(a, 2) for a in v]}")


if __name__ == "__main__":
    child() if sys.argv[1:2] == ["--child"] else main()
