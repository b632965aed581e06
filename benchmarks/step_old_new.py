"""The modern model's training step in two ccnn builds, back to back (1 thread).

    python benchmarks/step_old_new.py OLD_ROOT NEW_ROOT [ROUNDS] [--callgrind]

OLD_ROOT and NEW_ROOT are source trees built in place (python setup.py
build_ext --inplace).  Each round runs one child per build, alternating: the
child builds the modern model (ccnn.cli.build_modern_model, Adam, sparse
labels), warms up, then times train_on_batch over STEPS Fashion-MNIST batches
of 64 ($CCNN_DATA; random images without it) in process CPU time with
OMP_NUM_THREADS=1, and the parent prints each build's median ms per step.
With --callgrind each build instead runs 3 steps under valgrind's callgrind,
counting only the plan's forward and backward (ccnn_plan_train_f32, the
optimizer excluded), and prints the instructions (Ir) per step."""
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

STEPS = 20


def child(steps, warm):
    import ccnn
    from ccnn.cli import build_modern_model
    try:
        from ccnn.datasets import fashion_mnist
        (x, y), _ = fashion_mnist.load_data(fallback_to_sample=False)
        x = x[:64 * steps].reshape(-1, 28, 28, 1).astype("float32") / 255.0
        y = y[:64 * steps]
    except Exception:     # no data: random images
        rng = np.random.default_rng(0)
        x, y = rng.random((64 * steps, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64 * steps)
    ccnn.utils.set_random_seed(0)
    m = build_modern_model()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for _ in range(warm):
        m.train_on_batch(x[:64], y[:64])
    t = time.process_time()
    for i in range(steps):
        m.train_on_batch(x[i * 64:(i + 1) * 64], y[i * 64:(i + 1) * 64])
    print("RESULT", (time.process_time() - t) / steps * 1e3)


def run(root, callgrind):
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child"]
    if callgrind:
        out = tempfile.mktemp(prefix="callgrind.")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--toggle-collect=ccnn_plan_train_f32"] + cmd + ["3", "1"]
        o = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
        ir = re.search(r"Collected : (\d+)", o.stderr)
        if os.path.exists(out):
            os.remove(out)
        if not ir:
            sys.exit(o.stderr[-2000:])
        return int(ir.group(1)) / 3
    o = subprocess.run(cmd + [str(STEPS), "3"], env=env, capture_output=True, text=True, cwd=root)
    line = [s for s in o.stdout.splitlines() if s.startswith("RESULT ")]
    if not line:
        sys.exit(o.stderr[-2000:])
    return float(line[0].split()[1])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    callgrind = "--callgrind" in sys.argv
    old, new = (os.path.abspath(a) for a in args[:2])
    rounds = int(args[2]) if len(args) > 2 else (1 if callgrind else 5)
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    got = {"old": [], "new": []}
    for r in range(rounds):
        for k, root in (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old)):
            got[k].append(run(root, callgrind))
            print(r, k, round(got[k][-1], 2), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    unit = "Ir per step (plan forward + backward)" if callgrind else "ms CPU per step, 1 thread"
    for k, v in got.items():
        print(f"{k}: median {np.median(v):,.2f} {unit}; runs {[round(a, 2) for a in v]}")
    print(f"new / old: {np.median(got['new']) / np.median(got['old']):.4f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
