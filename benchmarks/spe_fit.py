"""CPU time of one fit epoch of `ccnn train`'s model at steps_per_execution
1 and N, in one process, interleaved, each warmed up first (one-hot labels
with accuracy, as the CLI compiles):

    python benchmarks/spe_fit.py [--model book] [--batch 32] [--spe 32] [--threads 1]

CPU time (time.process_time) rather than wall time, so that a shared machine
moves the ratio less; with more than one thread it includes OpenMP's spinning.
"""
import argparse
import time

import numpy as np

import ccnn
from ccnn import cli, utils


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(cli.MODELS), default="book")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--spe", type=int, default=cli.STEPS_PER_EXECUTION)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=200, help="steps per timed epoch")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    ccnn.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    n = a.steps * a.batch
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = utils.to_categorical(rng.integers(0, 10, n), 10)
    models = {}
    for spe in (1, a.spe):
        utils.set_random_seed(1)
        m = cli.MODELS[a.model].build()
        m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
        m.fit(x[:10 * a.batch], y[:10 * a.batch], batch_size=a.batch, epochs=1, verbose=0)
        models[spe] = m
    cpu: dict = {1: [], a.spe: []}
    for _ in range(a.repeats):
        for spe, m in models.items():
            t = time.process_time()
            m.fit(x, y, batch_size=a.batch, epochs=1, verbose=0)
            cpu[spe].append(time.process_time() - t)
    for spe, v in cpu.items():
        print(f"steps_per_execution {spe:3d}: {np.median(v):.3f} s CPU per {a.steps}-step epoch "
              f"(median of {a.repeats}; {', '.join(f'{s:.3f}' for s in v)})")
    print(f"ratio {a.spe} / 1: {np.median(cpu[a.spe]) / np.median(cpu[1]):.3f}")


if __name__ == "__main__":
    main()
