"""The GEMM micro-kernel paths side by side: AVX-512, AVX2+FMA (and the portable
C kernel with --generic), on one thread.

    python benchmarks/gemm_paths.py [--rounds 5] [--generic]

The path is chosen once per process (CCNN_GEMM_ISA / CCNN_GEMM_GENERIC), so
each round starts one process per path, in turn; a process times each case
a few times by the CPU time of its thread (less disturbed by other jobs on a
shared machine than wall time) and the table keeps the best over all rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PATHS = {"avx512": {"CCNN_GEMM_ISA": "avx512"}, "avx2": {"CCNN_GEMM_ISA": "avx2"},
         "generic": {"CCNN_GEMM_GENERIC": "1"}}

WORKER = r"""
import json, time
import numpy as np
import ccnn, ccnn.functional as F
from ccnn import _conv2d
ccnn.set_num_threads(1)
rng = np.random.default_rng(0)
out = {"kernel": _conv2d.gemm_kernel_name()}

def best(fn, flops, reps=3):
    fn()
    t = min(_timed(fn) for _ in range(reps))
    return t, flops / t / 1e9

def _timed(fn):
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0

for name, m, n, k, dt in [("sgemm 64x3136x576", 64, 3136, 576, np.float32),
                          ("sgemm 512^3", 512, 512, 512, np.float32),
                          ("sgemm 10x784x9", 10, 784, 9, np.float32),
                          ("dgemm 256^3", 256, 256, 256, np.float64)]:
    a = rng.standard_normal((m, k)).astype(dt)
    b = rng.standard_normal((k, n)).astype(dt)
    c = np.empty((m, n), dt)
    out[name] = best(lambda: _conv2d.gemm(a, b, c, True), 2 * m * n * k)

for name, N, C, H, W, K, ks, s, p in [("conv mid 32,32->64,28x28,3x3", 32, 32, 28, 28, 64, 3, 1, 1),
                                      ("conv resnet 8,64->64,56x56,3x3", 8, 64, 56, 56, 64, 3, 1, 1),
                                      ("conv stride2 32,32->64,28x28", 32, 32, 28, 28, 64, 3, 2, 1),
                                      ("conv cifar5x5 64,3->32,32x32", 64, 3, 32, 32, 32, 5, 1, 2)]:
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((K, C, ks, ks), dtype=np.float32)
    bias = rng.standard_normal(K, dtype=np.float32)
    y = F.conv2d(x, w, bias, stride=s, padding=p)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    fl = 2 * N * K * y.shape[2] * y.shape[3] * C * ks * ks
    out[name + " fwd"] = best(lambda: F.conv2d(x, w, bias, stride=s, padding=p), fl)
    out[name + " bwd"] = best(lambda: F.conv2d_backward(g, x, w, stride=s, padding=p), 2 * fl)
print(json.dumps(out))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--generic", action="store_true", help="time the portable kernel too")
    args = ap.parse_args(argv)
    paths = ["avx512", "avx2"] + (["generic"] if args.generic else [])
    results = {p: {} for p in paths}
    kernels = {}
    env0 = {k: v for k, v in os.environ.items() if k not in ("CCNN_GEMM_ISA", "CCNN_GEMM_GENERIC")}
    for _ in range(args.rounds):
        for p in paths:
            res = subprocess.run([sys.executable, "-c", WORKER], env=dict(env0, **PATHS[p]),
                                 capture_output=True, text=True, check=True, cwd=HERE)
            got = json.loads(res.stdout.strip().splitlines()[-1])
            kernels[p] = got.pop("kernel")
            for case, (t, gf) in got.items():
                old = results[p].get(case)
                if old is None or t < old[0]:
                    results[p][case] = (t, gf)
    for p in paths:
        print(f"{p}: {kernels[p]}")
    print(f"{'case (1 thread, best CPU time)':40s}" + "".join(f"{p + ' ms':>12s}{'GF/s':>8s}" for p in paths)
          + f"{'avx2/avx512':>12s}")
    for case in results[paths[0]]:
        line = f"{case:40s}"
        for p in paths:
            t, gf = results[p][case]
            line += f"{t * 1e3:12.2f}{gf:8.1f}"
        line += f"{results['avx2'][case][0] / results['avx512'][case][0]:12.2f}"
        print(line)


if __name__ == "__main__":
    main()
