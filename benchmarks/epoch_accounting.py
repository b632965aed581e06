"""Where a modern-model epoch goes, in CPU time of one process (issue 14).

    OMP_NUM_THREADS=1 CCNN_DATA=... python benchmarks/epoch_accounting.py [STEPS] [ROUNDS]

The model and recipe of examples/fashion_modern.py --recipe keras (Adam 1e-3,
batch 64, sparse labels, the first 48,000 Fashion-MNIST images).  Each round
times, on the same STEPS real batches (process CPU time, so other work on
the machine inflates it less than wall time):
  fit spe=1    fit(epochs=1, verbose=0) as the example calls it
  fit spe=32   the same with compile(steps_per_execution=32), as `ccnn train`
  tob          train_on_batch on the same batches, one Python call each
  tob 1 batch  train_on_batch on one random batch STEPS times (wait_policy.py's way)
  validate     evaluate() of the 12,000 validation images (fit's per-epoch pass)
  translate    RandomTranslation(0.1, 0.1) alone on the STEPS batches
and prints the medians, per step, and the epoch they add up to (750 steps and
one validation pass)."""
import os
import sys
import time

import numpy as np

import ccnn
from ccnn import layers
from ccnn.datasets import fashion_mnist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def build(spe):
    from ccnn.cli import build_modern_model
    ccnn.utils.set_random_seed(42)
    m = build_modern_model()
    m.compile(optimizer=ccnn.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], steps_per_execution=spe)
    return m


def cpu(fn):
    """(process CPU seconds, wall seconds) of one call."""
    t, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - t, time.perf_counter() - w


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    (x_all, y_all), _ = fashion_mnist.load_data(fallback_to_sample=False)
    x_all = x_all.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x, y = x_all[:steps * 64], y_all[:steps * 64]
    x_val, y_val = x_all[48000:], y_all[48000:]
    m1, m32, mt = build(1), build(32), build(1)
    aug = layers.RandomTranslation(0.1, 0.1)
    batches = [(x[i:i + 64], y[i:i + 64]) for i in range(0, len(x), 64)]

    def tob():
        for xb, yb in batches:
            mt.train_on_batch(xb, yb)

    xr = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    yr = np.random.default_rng(1).integers(0, 10, 64)

    def tob_same():      # benchmarks/wait_policy.py's way: one random batch again and again
        for _ in batches:
            mt.train_on_batch(xr, yr)

    def translate():
        for xb, _ in batches:
            aug(xb, training=True)

    cases = {"fit spe=1": lambda: m1.fit(x, y, batch_size=64, epochs=1, verbose=0),
             "fit spe=32": lambda: m32.fit(x, y, batch_size=64, epochs=1, verbose=0),
             "tob": tob,
             "tob 1 batch": tob_same,
             "validate": lambda: m1.evaluate(x_val, y_val, batch_size=64, verbose=0),
             "translate": translate}
    for fn in cases.values():      # warm up: plans built, pages touched
        fn()
    got = {k: [] for k in cases}
    wall = {k: [] for k in cases}
    for _ in range(rounds):
        for k, fn in cases.items():
            c, w = cpu(fn)
            got[k].append(c)
            wall[k].append(w)
    print(f"threads {ccnn.get_num_threads()}, {steps} steps of 64, load "
          f"{os.getloadavg()[0]:.2f}, CPU seconds, median of {rounds}")
    med = {k: float(np.median(v)) for k, v in got.items()}
    for k, v in med.items():
        per = v / steps * 1e3 if k != "validate" else v * 1e3
        unit = "ms/step" if k != "validate" else "ms/pass"
        print(f"  {k:12s} {v:8.3f} s   {per:8.2f} {unit}   runs {[round(a, 3) for a in got[k]]}"
              f"   wall median {np.median(wall[k]):.3f} s")
    for k in ("fit spe=1", "fit spe=32", "tob", "tob 1 batch"):
        print(f"  epoch via {k:10s}: 750 x {med[k] / steps * 1e3:.2f} ms + validation "
              f"{med['validate']:.2f} s = {750 * med[k] / steps + med['validate']:.1f} s")


if __name__ == "__main__":
    main()
