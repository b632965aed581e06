"""predict of the residual model (ccnn.cli.build_resnet_small, `ccnn train
--model resnet`) on 1, 32 and 1,000 images: through its compiled inference
plan (ccnn.models.inference_graph) and per layer (the plan off).

    python benchmarks/predict_resnet.py [--repeats 9] [--json out.json]

Median of interleaved runs (bench.py's interleaved); predict(x, batch_size)
with batch_size = n up to 32, else the default 32.  Random weights and
BatchNormalization statistics: timing only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ccnn  # noqa: E402
from ccnn.cli import build_resnet_small  # noqa: E402
from bench import SETTLE, interleaved, predict_pair  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--json", default=None, help="write the rows here")
    args = ap.parse_args()
    ccnn.utils.set_random_seed(0)
    m = build_resnet_small()
    rng = np.random.default_rng(0)
    for layer in m.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    print(f"threads {ccnn.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    table = []
    for n in (1, 32, 1000):
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        bs = n if n <= 32 else 32

        plan, per_layer = predict_pair(m, x, bs)
        fns = {"plan": plan, "per-layer": per_layer}
        for fn in fns.values():
            for _ in range(2):
                fn()
        t = interleaved(fns, args.repeats if n < 1000 else max(3, args.repeats // 3),
                        settle=SETTLE if n < 1000 else 0.0)
        r = {"case": f"predict resnet, {n} images",
             "ms": {k: v * 1e3 for k, v in t.items()}, "speedup": t["per-layer"] / t["plan"]}
        table.append(r)
        print(f"{r['case']:28s} plan {t['plan'] * 1e3:9.3f} ms  per-layer "
              f"{t['per-layer'] * 1e3:9.3f} ms  x{r['speedup']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
