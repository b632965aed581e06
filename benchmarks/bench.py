"""ccnn benchmarks: ccnn vs a vectorised NumPy baseline vs PyTorch CPU.

    python benchmarks/bench.py                 # everything, prints a table
    python benchmarks/bench.py --only conv,pool --repeats 9 --json out.json
    python benchmarks/bench.py --quick         # fewer repeats, partial epochs
    python benchmarks/bench.py --only mpi --json mpi.json   # data-parallel fit over 2 MPI ranks
    python benchmarks/bench.py --only step      # the book model's training step, its Python overhead
    python benchmarks/bench.py --only modern_epoch --tf-python tfvenv/bin/python  # vs PyTorch, TF
    python benchmarks/bench.py --only modern_step  # the modern model's step: kernel breakdown, epoch

PyTorch is optional (``pip install torch==2.13.0``) and never a dependency of
ccnn.  Candidates of one case are timed interleaved in one process (ccnn,
torch, numpy, ccnn, torch, numpy, ...) and each reports the median of its
repeats; PyTorch runs with the same thread count as ccnn and Adam(fused=True).
Timings on a shared 2-core machine are noisy: compare the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ccnn  # noqa: E402
import ccnn.functional as F  # noqa: E402
from ccnn.models import train_plan  # noqa: E402
import numpy_ref  # noqa: E402

try:
    if "--mpi-worker" in sys.argv:     # bench_mpi's jobs: ccnn only, start fast
        raise ImportError
    import torch
    import torch.nn.functional as TF
except ImportError:  # the comparison columns are left empty
    torch = None

CONV_SHAPES = [  # name, N, Cin, H, W, Cout, k, stride, pad  (as ../shared/anchors/ops_torch.py)
    ("book", 128, 1, 28, 28, 10, 3, 1, 1),
    ("mid", 32, 32, 28, 28, 64, 3, 1, 1),
    ("resnet", 8, 64, 56, 56, 64, 3, 1, 1),
    ("stride2", 32, 32, 28, 28, 64, 3, 2, 1),
    ("cifar5x5", 64, 3, 32, 32, 32, 5, 1, 2),
]
POOL_SHAPES = [("book", (128, 10, 28, 28)), ("big", (32, 64, 56, 56))]


SETTLE = 0.025  # seconds of untimed calls before each timed one (see interleaved)


def interleaved(fns, repeats, warmup=1, settle=SETTLE):
    """Median seconds of each callable, run round-robin.

    ccnn and PyTorch each run their own OpenMP thread pool.  An idle pool
    keeps spinning for about 10 ms after a call before its threads sleep
    (measured here for both: ~10 ms of CPU burned in a sleep after one conv),
    and waking sleeping threads costs milliseconds on this VM.  Timed back to
    back, each candidate shares the cores with the other's spinning workers
    (short calls -- the book's conv, pooling -- ran 2-5x slower for both);
    timed after a pause, each pays the wake-up.  So with several candidates
    every timed call is preceded by untimed calls of the same candidate for
    at least SETTLE seconds: its own pool is awake, the other's has parked.
    (settle=0 for calls that take seconds, where the 10 ms do not matter.)"""
    settle = settle if len(fns) > 1 else 0.0
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t_end = time.perf_counter() + settle
            while settle and time.perf_counter() < t_end:
                fn()
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def timed(fns, repeats):
    """ccnn and torch interleaved (interleaved()), then the NumPy baseline on
    its own: NumPy's OpenBLAS runs a third spinning thread pool, which would
    otherwise slow down whichever candidate comes after it."""
    fns = dict(fns)
    baseline = fns.pop("numpy", None)
    t = interleaved(fns, repeats)
    if baseline is not None:
        t.update(interleaved({"numpy": baseline}, max(1, repeats // 2)))
    return t


def row(table, case, t, work=None, unit="GFLOP/s"):
    r = {"case": case, "ms": {k: v * 1e3 for k, v in t.items()}}
    if work:
        r["rate"] = {k: work / v / 1e9 for k, v in t.items()}
        r["unit"] = unit
    if "torch" in t:
        r["ratio"] = t["ccnn"] / t["torch"]
    table.append(r)
    cols = "  ".join(f"{k} {v * 1e3:8.2f} ms" + (f" ({work / v / 1e9:6.1f} {unit})" if work else "")
                     for k, v in t.items())
    ratio = f"  ccnn/torch {r['ratio']:.2f}" if "ratio" in r else ""
    print(f"{case:28s} {cols}{ratio}", flush=True)


def bench_sgemm(table, repeats):
    a = np.random.rand(2048, 2048).astype(np.float32)
    b = np.random.rand(2048, 2048).astype(np.float32)
    t = interleaved({"numpy": lambda: a @ b}, repeats)
    row(table, "numpy sgemm 2048^3", t, 2 * 2048 ** 3)
    return 2 * 2048 ** 3 / t["numpy"] / 1e9


def torch_conv_step(x, w, b, g, **kwargs):
    """PyTorch's conv2d(x, w, b, **kwargs) forward and backward of g, as one callable."""
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    tg = torch.from_numpy(g)

    def run_torch():
        tx.grad = tw.grad = tb.grad = None
        TF.conv2d(tx, tw, tb, **kwargs).backward(tg)
    return run_torch


def conv_cases(with_numpy=True):
    """(name, {candidate: fwd+bwd callable}, flops) for each of CONV_SHAPES;
    the NumPy baseline only where it finishes in reasonable time."""
    rng = np.random.default_rng(0)
    for name, N, C, H, W, K, k, s, p in CONV_SHAPES:
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((K, C, k, k), dtype=np.float32)
        b = rng.standard_normal(K, dtype=np.float32)
        y = F.conv2d(x, w, b, stride=s, padding=p)
        g = rng.standard_normal(y.shape, dtype=np.float32)
        flops = 3 * 2 * N * K * y.shape[2] * y.shape[3] * C * k * k

        def run_ccnn(x=x, w=w, b=b, g=g, s=s, p=p):
            F.conv2d(x, w, b, stride=s, padding=p)
            F.conv2d_backward(g, x, w, stride=s, padding=p)

        fns = {"ccnn": run_ccnn}
        if torch is not None:
            fns["torch"] = torch_conv_step(x, w, b, g, stride=s, padding=p)
        if with_numpy and name in ("book", "cifar5x5", "stride2"):
            fns["numpy"] = (lambda x=x, w=w, b=b, g=g, s=s, p=p:
                            (numpy_ref.conv2d(x, w, b, s, p),
                             numpy_ref.conv2d_backward(g, x, w, s, p)))
        yield name, fns, flops


def bench_conv(table, repeats):
    for name, fns, flops in conv_cases():
        row(table, f"conv {name} fwd+bwd", timed(fns, repeats), flops)


def bench_pool(table, repeats):
    rng = np.random.default_rng(1)
    for name, shape in POOL_SHAPES:
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2), dtype=np.float32)
        nbytes = x.nbytes * 2 + g.nbytes * 2  # read x, write y, read g, write gx (at least)
        for kind in ("max", "avg"):
            if kind == "max":
                def run_ccnn():
                    _, idx = F.max_pool2d(x, 2, return_indices=True)
                    F.max_pool2d_backward(g, x, 2, indices=idx)
                ref = numpy_ref.max_pool2d_fwd_bwd
            else:
                def run_ccnn():
                    F.avg_pool2d(x, 2)
                    F.avg_pool2d_backward(g, x, 2)
                ref = numpy_ref.avg_pool2d_fwd_bwd
            fns = {"ccnn": run_ccnn}
            if torch is not None:
                tx = torch.from_numpy(x).requires_grad_()
                tg = torch.from_numpy(g)
                tf = TF.max_pool2d if kind == "max" else TF.avg_pool2d

                def run_torch(tf=tf, tx=tx, tg=tg):
                    tx.grad = None
                    tf(tx, 2, 2).backward(tg)

                fns["torch"] = run_torch
            fns["numpy"] = lambda ref=ref: ref(x, g)
            row(table, f"{kind}-pool {name} fwd+bwd", timed(fns, repeats), nbytes, "GB/s")
    bench_pool_paths(table, repeats)


def bench_pool_paths(table, repeats):
    """MaxPooling2D(2) on the modern model's two layers (float32, 1 thread),
    forward (with int64 indices) and backward (from them), on each kernel
    path of ccnn._pool.pool_path -- 0 the fastest, 1 the scalar 2x2 loops,
    2 the general per-window loops (all bit-identical) -- against np.copyto
    moving as many bytes.  GB/s: bytes read + written per second."""
    from ccnn import _pool
    rng = np.random.default_rng(2)
    old_threads, old_path = ccnn.get_num_threads(), _pool.pool_path()
    ccnn.set_num_threads(1)
    try:
        for shape in [(64, 32, 28, 28), (64, 64, 14, 14)]:
            x = rng.standard_normal(shape, dtype=np.float32)
            y, idx = F.max_pool2d(x, 2, return_indices=True)
            g = rng.standard_normal(y.shape, dtype=np.float32)
            name = "x".join(map(str, shape))
            for pas, nbytes, call in [
                    ("fwd", x.nbytes + y.nbytes + idx.nbytes,
                     lambda: F.max_pool2d(x, 2, return_indices=True)),
                    ("bwd", g.nbytes + idx.nbytes + x.nbytes,
                     lambda: F.max_pool2d_backward(g, x, 2, indices=idx))]:
                src = np.ones(nbytes // 8, dtype=np.float32)
                dst = np.empty_like(src)
                fns = {f"path{p}": (lambda p=p, call=call: (_pool.pool_path(p), call()))
                       for p in (0, 1, 2)}
                fns["copyto"] = lambda src=src, dst=dst: np.copyto(dst, src)
                row(table, f"max-pool {name} {pas}", interleaved(fns, repeats), nbytes, "GB/s")
    finally:
        ccnn.set_num_threads(old_threads)
        _pool.pool_path(old_path)


def book_model(steps_per_execution=1):
    from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    m = ccnn.Sequential()
    m.add(Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)))
    m.add(MaxPooling2D((2, 2)))
    m.add(Flatten())
    m.add(Dropout(0.5))
    m.add(Dense(100, activation="relu"))
    m.add(Dense(10, activation="softmax"))
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=steps_per_execution)
    return m


def torch_book_model():
    import torch.nn as nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Dropout(0.5), nn.Linear(1960, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.Adam(m.parameters(), 1e-3, eps=1e-7, fused=True)
    return m, opt


def bench_adam(table, repeats):
    m = book_model()
    m.build((None, 28, 28, 1))
    params = m.trainable_weights
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    opt = ccnn.optimizers.Adam()
    pairs = list(zip(grads, params))
    n = sum(p.size for p in params)
    fns = {"ccnn": lambda: opt.apply_gradients(pairs)}
    if torch is not None:
        tm, topt = torch_book_model()
        for tp in tm.parameters():
            tp.grad = torch.randn_like(tp)
        fns["torch"] = topt.step
    nps = [p.copy() for p in params]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    step = [0]

    def run_numpy():
        step[0] += 1
        numpy_ref.adam_step(nps, grads, ms, vs, step[0])

    fns["numpy"] = run_numpy
    row(table, f"adam step ({n} params)", timed(fns, repeats * 5), n * 4 * 7, "GB/s")


def load_fashion(limit=None):
    from ccnn.datasets import fashion_mnist
    (x, y), _ = fashion_mnist.load_data(fallback_to_sample=True)
    x = (x.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    perm = np.random.default_rng(42).permutation(len(x))[:48000]
    x, y = x[perm], y[perm].astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    return x, y


def bench_epoch(table, repeats, quick):
    x, y = load_fashion(12800 if quick else None)
    for bs in (128, 32):
        m = book_model()
        m.fit(x[:bs * 4], y[:bs * 4], batch_size=bs, epochs=1, verbose=0)  # build + warm up
        fns = {"ccnn": lambda m=m, bs=bs: m.fit(x, y, batch_size=bs, epochs=1, verbose=0)}
        if torch is not None:
            tm, topt = torch_book_model()
            lossf = torch.nn.CrossEntropyLoss()
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            yt = torch.from_numpy(y)

            def run_torch(tm=tm, topt=topt, bs=bs):
                perm = torch.randperm(len(xt))
                for i in range(0, len(xt), bs):
                    idx = perm[i:i + bs]
                    topt.zero_grad()
                    lossf(tm(xt[idx]), yt[idx]).backward()
                    topt.step()

            fns["torch"] = run_torch
        row(table, f"book model epoch ({len(x)} imgs) b{bs}",
            interleaved(fns, max(1, repeats // 3), settle=0.0))


def bench_threads(table, repeats):
    """The conv suite at 1 and at 2 threads.  ccnn's two thread counts are
    candidates of one interleaved loop, each call setting its own count, so a
    drift in the machine's speed during the run (a 2-core VM whose second
    core is sometimes slower) touches both alike.  PyTorch, for reference,
    is timed at each count in a block of its own: its pool is rebuilt
    whenever its thread count changes, which call-by-call switching would
    charge to it."""
    before = ccnn.get_num_threads()
    res = {1: 0.0, 2: 0.0}

    def at(fn, nt):
        def run():
            ccnn.set_num_threads(nt)
            fn()
        return run

    cases = list(conv_cases(with_numpy=False))
    rows = {}
    try:
        for name, fns, _ in cases:
            t = interleaved({nt: at(fns["ccnn"], nt) for nt in (1, 2)}, repeats)
            for nt in (1, 2):
                rows[name, nt] = {"ccnn": t[nt]}
                res[nt] += t[nt]
    finally:
        ccnn.set_num_threads(before)
    if torch is not None:
        torch_before = torch.get_num_threads()
        try:
            for nt in (1, 2):
                torch.set_num_threads(nt)
                for name, fns, _ in cases:
                    rows[name, nt].update(interleaved({"torch": fns["torch"]}, repeats))
        finally:
            torch.set_num_threads(torch_before)
    for name, _, flops in cases:
        for nt in (1, 2):
            row(table, f"conv {name} fwd+bwd [{nt} thr]", rows[name, nt], flops)
    speedup = res[1] / res[2]
    print(f"conv suite: 1 thread {res[1] * 1e3:.1f} ms, 2 threads {res[2] * 1e3:.1f} ms "
          f"-> speed-up {speedup:.2f}x")
    table.append({"case": "conv suite speed-up 2 vs 1 threads", "speedup": speedup})


def bench_gil(table, repeats):
    """Two Python threads running conv2d at once against the same two calls one
    after the other, with ccnn.set_num_threads(1): the kernels release the
    GIL, so on two cores the threads overlap (speed-up close to 2x)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    before = ccnn.get_num_threads()
    ccnn.set_num_threads(1)
    rng = np.random.default_rng(3)
    _, N, C, H, W, K, k, s, p = CONV_SHAPES[1]  # "mid": 32x32x28x28 -> 64 channels
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((K, C, k, k), dtype=np.float32)
    b = rng.standard_normal(K, dtype=np.float32)
    g = rng.standard_normal(F.conv2d(x, w, b, stride=s, padding=p).shape, dtype=np.float32)

    def work():
        F.conv2d(x, w, b, stride=s, padding=p)
        F.conv2d_backward(g, x, w, stride=s, padding=p)

    barrier = threading.Barrier(2)

    def work_together():
        barrier.wait()
        work()

    # two long-lived threads (their per-thread workspaces stay warm), started together
    with ThreadPoolExecutor(max_workers=2) as pool:
        def two_threads():
            for f in [pool.submit(work_together) for _ in range(2)]:
                f.result()

        def one_after_the_other():
            work()
            work()

        t = interleaved({"2 threads": two_threads, "sequential": one_after_the_other},
                        repeats, warmup=2)
    ccnn.set_num_threads(before)
    speedup = t["sequential"] / t["2 threads"]
    print(f"gil: 2 x conv mid fwd+bwd, ccnn.set_num_threads(1): one after the other "
          f"{t['sequential'] * 1e3:.1f} ms, two Python threads {t['2 threads'] * 1e3:.1f} ms "
          f"-> speed-up {speedup:.2f}x")
    table.append({"case": "gil: 2 x conv mid fwd+bwd, 2 Python threads vs sequential, 1 kernel thread",
                  "ms": {k: v * 1e3 for k, v in t.items()}, "speedup": speedup})
    return speedup


def bench_import(table):
    ts = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", "import time; t=time.perf_counter(); import ccnn; "
                              "print(time.perf_counter()-t)"], capture_output=True, text=True, check=True)
        ts.append(float(out.stdout))
    t = float(np.median(ts))
    print(f"import ccnn: {t * 1e3:.0f} ms")
    table.append({"case": "import ccnn", "ms": {"ccnn": t * 1e3}})


# Runs argv[1:] and prints that child's peak RSS in KiB.  A small launcher:
# a child forked straight from this (large) benchmark process would count the
# parent's pages it shares until exec in its own ru_maxrss.
_RSS_LAUNCHER = ("import resource, subprocess, sys; "
                 "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
                 "stderr=subprocess.DEVNULL); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss(cmd, env=None):
    """Peak resident set size (MB) of one run of `cmd`."""
    out = subprocess.run([sys.executable, "-c", _RSS_LAUNCHER, *cmd], check=True,
                         capture_output=True, text=True, env=env)
    return int(out.stdout.split()[-1]) / 1024.0


def bench_rss(table, quick):
    epochs = "1" if quick else "2"
    rss = {"ccnn": peak_rss([sys.executable, "-m", "ccnn", "train", "--epochs", epochs, "--batch-size", "128",
                             "--out", os.path.join("/tmp", "ccnn-bench-out")])}
    anchor = os.path.join(HERE, "..", "..", "shared", "anchors", "book_torch.py")
    if torch is not None and os.path.exists(anchor):
        rss["torch"] = peak_rss([sys.executable, anchor, epochs, "128"])
    line = "  ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
    ratio = f"  ccnn/torch {rss['ccnn'] / rss['torch']:.2f}" if "torch" in rss else ""
    print(f"peak RSS of a training run ({epochs} epochs): {line}{ratio}")
    table.append({"case": "peak RSS training run", "MB": rss,
                  **({"ratio": rss["ccnn"] / rss["torch"]} if "torch" in rss else {})})


def bench_batchnorm(table, repeats):
    """BatchNormalization in training, forward + backward, float32 (32, 64, 56, 56),
    against PyTorch's batch_norm with autograd, and against the memory-bandwidth
    bound: four np.copyto of the array (8 array-sized streams: the forward
    reads x for the statistics, reads it again and writes y; the backward reads
    dout and x for the sums, reads them again and writes dx)."""
    shape = (32, 64, 56, 56)
    x = np.random.rand(*shape).astype(np.float32)
    g = np.random.rand(*shape).astype(np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    x3, g3 = x.reshape(32, 64, -1), g.reshape(32, 64, -1)

    def ccnn_step():
        mean, var = F.batch_norm_stats_unchecked(x3)
        invstd = F._invstd(var, 1e-3, np.float32)
        F.batch_norm_unchecked(x3, mean, invstd, gamma, beta)
        F.batch_norm_backward_unchecked(g3, x3, mean, invstd, gamma, True, True, True, True)

    fns = {"ccnn": ccnn_step}
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_()
        wt = torch.ones(64, requires_grad=True)
        bt = torch.zeros(64, requires_grad=True)
        gt = torch.from_numpy(g)

        def torch_step():
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.batch_norm(xt, None, None, wt, bt, training=True,
                                           eps=1e-3).backward(gt)
        fns["torch"] = torch_step
    t = interleaved(fns, repeats)
    dst = np.empty_like(x)

    def copies():
        for _ in range(4):
            np.copyto(dst, x)
    t_copy = interleaved({"copy": copies}, repeats)["copy"]
    row(table, "batchnorm train f+b 32x64x56x56", t)
    print(f"{'':28s} bandwidth bound (4 copies) {t_copy * 1e3:.2f} ms: ccnn at "
          f"{t['ccnn'] / t_copy:.2f}x of it", flush=True)
    table[-1]["bandwidth_bound_ms"] = t_copy * 1e3


def bench_activations(table, repeats):
    """Elementwise activations (forward + backward) on 10^7 float32 elements and
    global average pooling (forward + backward) of (64, 128, 14, 14), against
    PyTorch's ops with autograd; the activations also against the
    memory-bandwidth bound: 2.5 np.copyto of the array (5 array-sized streams:
    the forward reads x and writes y, the backward reads dout and x and writes
    dx)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=10_000_000).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    dst = np.empty_like(x)

    def copies():
        np.copyto(dst, x)
        np.copyto(dst, g)
        np.copyto(dst[:x.size // 2], x[:x.size // 2])
    t_copy = interleaved({"copy": copies}, repeats)["copy"]
    for name, torch_fn in [("sigmoid", "sigmoid"), ("gelu", "gelu"), ("silu", "silu")]:
        fns = {"ccnn": lambda n=name: (F.pointwise_unchecked(x, n),
                                       F.pointwise_backward_unchecked(g, x, n))}
        if torch is not None:
            xt, gt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)
            fn = getattr(torch.nn.functional, torch_fn)

            def torch_step(xt=xt, gt=gt, fn=fn):
                xt.grad = None
                fn(xt).backward(gt)
            fns["torch"] = torch_step
        t = interleaved(fns, repeats)
        row(table, f"{name} f+b 1e7", t)
        print(f"{'':28s} bandwidth bound (2.5 copies) {t_copy * 1e3:.2f} ms: ccnn at "
              f"{t['ccnn'] / t_copy:.2f}x of it", flush=True)
        table[-1]["bandwidth_bound_ms"] = t_copy * 1e3
    p = rng.normal(size=(64, 128, 14, 14)).astype(np.float32)
    gp = rng.normal(size=(64, 128, 1, 1)).astype(np.float32)
    fns = {"ccnn": lambda: (F.global_avg_pool_unchecked(p),
                            F.global_avg_pool_backward_unchecked(gp, p.shape))}
    if torch is not None:
        pt, gpt = torch.from_numpy(p).requires_grad_(), torch.from_numpy(gp)

        def torch_gap():
            pt.grad = None
            torch.nn.functional.adaptive_avg_pool2d(pt, 1).backward(gpt)
        fns["torch"] = torch_gap
    row(table, "global avg pool f+b 64x128x14x14", interleaved(fns, repeats))


def bench_losses(table, repeats):
    """Sigmoid + binary cross-entropy from the logits (F.binary_cross_entropy_with_logits,
    reduction 'mean'), forward + backward on 10^7 float32 elements, against
    PyTorch's with autograd."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=10_000_000).astype(np.float32)
    t = (rng.random(z.size) > 0.5).astype(np.float32)
    fns = {"ccnn": lambda: (F.binary_cross_entropy_with_logits(z, t),
                            F.binary_cross_entropy_with_logits_backward(1.0, z, t))}
    if torch is not None:
        zt, tt = torch.from_numpy(z).requires_grad_(), torch.from_numpy(t)

        def torch_bce():
            zt.grad = None
            torch.nn.functional.binary_cross_entropy_with_logits(zt, tt).backward()
        fns["torch"] = torch_bce
    row(table, "bce with logits f+b 1e7", interleaved(fns, repeats))


GROUPED_SHAPES = [  # name, (N, C, H, W), out channels, groups, k  (3x3, stride 1, pad 1)
    ("depthwise", (32, 64, 56, 56), 64, 64, 3),
    ("grouped g=4", (32, 64, 56, 56), 64, 4, 3),
]


def bench_grouped_conv(table, repeats, which):
    """Depthwise (groups = C: the depthwise kernel) or grouped (groups = 4: the
    conv2d kernels per group) 3x3 convolution, forward + backward (all three
    gradients), float32, against PyTorch's conv2d(groups=) with autograd."""
    rng = np.random.default_rng(0)
    for name, shape, K, groups, k in GROUPED_SHAPES:
        if not name.startswith(which):
            continue
        x = rng.standard_normal(shape, dtype=np.float32)
        w = rng.standard_normal((K, shape[1] // groups, k, k), dtype=np.float32)
        b = rng.standard_normal(K, dtype=np.float32)
        y = F.conv2d(x, w, b, padding=1, groups=groups)
        g = rng.standard_normal(y.shape, dtype=np.float32)
        flops = 3 * 2 * y.size * w.shape[1] * k * k

        def run_ccnn(x=x, w=w, b=b, g=g, groups=groups):
            F.conv2d(x, w, b, padding=1, groups=groups)
            F.conv2d_backward(g, x, w, padding=1, groups=groups)

        fns = {"ccnn": run_ccnn}
        if torch is not None:
            fns["torch"] = torch_conv_step(x, w, b, g, padding=1, groups=groups)
        row(table, f"{name} 3x3 32x64x56x56 f+b", interleaved(fns, repeats), flops)


def modern_model():
    from ccnn.cli import build_modern_model
    m = build_modern_model()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def torch_inference_model(which):
    """The book / modern model in PyTorch, eval mode (random weights: timing only)."""
    import torch.nn as nn
    torch.manual_seed(0)
    if which == "book":
        layers = [nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Dropout(0.5), nn.Linear(1960, 100), nn.ReLU(), nn.Linear(100, 10)]
    else:
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU()]
        layers = [*block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64),
                  *block(64, 64), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                  nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)]
    return nn.Sequential(*layers, nn.Softmax(dim=1)).eval()


def predict_pair(m, x, bs):
    """Two calls to time: m.predict(x, batch_size=bs) through its inference
    plan, and the same with the plan switched off (per layer)."""
    from ccnn.models import inference

    def plan():
        m.predict(x, batch_size=bs)

    def per_layer():
        inference.set_enabled(False)
        try:
            m.predict(x, batch_size=bs)
        finally:
            inference.set_enabled(True)
    return plan, per_layer


def bench_predict(table, repeats):
    """model.predict of the book and the modern model on 1, 32 and 10,000
    images: ccnn through its compiled inference plan, ccnn per layer (the plan
    off), onnxruntime on the ONNX file ccnn's exporter writes, PyTorch (eval,
    inference_mode).  Same thread count everywhere (onnxruntime's
    intra_op_num_threads, torch.set_num_threads).  ccnn runs predict(x) with
    its default batch_size 32 on 10,000 images (Keras's default); onnxruntime
    and PyTorch run 10,000 images as 10 batches of 1,000."""
    import tempfile

    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    nt = ccnn.get_num_threads()
    rng = np.random.default_rng(0)
    for which, make in (("book", book_model), ("modern", modern_model)):
        m = make()
        m.build((None, 28, 28, 1))
        sess = None
        if ort is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, f"{which}.onnx")
                m.export(path, format="onnx")
                so = ort.SessionOptions()
                so.intra_op_num_threads = nt
                so.inter_op_num_threads = 1
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        tm = torch_inference_model(which) if torch is not None else None
        for n in (1, 32, 10000):
            x = rng.random((n, 28, 28, 1), dtype=np.float32)
            chunk = min(n, 1000)
            bs = n if n <= 32 else 32

            plan, per_layer = predict_pair(m, x, bs)
            fns = {"ccnn": plan, "ccnn per-layer": per_layer}
            if sess is not None:
                name = sess.get_inputs()[0].name
                fns["onnxruntime"] = lambda x=x, chunk=chunk: [
                    sess.run(None, {name: x[i:i + chunk]}) for i in range(0, len(x), chunk)]
            if tm is not None:
                xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

                def run_torch(xt=xt, chunk=chunk):
                    with torch.inference_mode():
                        for i in range(0, len(xt), chunk):
                            tm(xt[i:i + chunk])
                fns["torch"] = run_torch
            # each candidate warmed up on its own (first calls compile plans, arenas)
            for fn in fns.values():
                for _ in range(3):
                    fn()
            t = interleaved(fns, repeats if n < 10000 else max(3, repeats // 2),
                            settle=SETTLE if n < 10000 else 0.0)
            r = {"case": f"predict {which} model, {n} images", "ms": {k: v * 1e3 for k, v in t.items()}}
            if "onnxruntime" in t:
                r["ratio_ort"] = t["ccnn"] / t["onnxruntime"]
            table.append(r)
            cols = "  ".join(f"{k} {v * 1e3:8.3f} ms" for k, v in t.items())
            ratio = f"  ccnn/ort {r['ratio_ort']:.2f}" if "ratio_ort" in r else ""
            print(f"{r['case']:34s} {cols}{ratio}", flush=True)
# ---------------------------------------------------------------- mpi
# `--only mpi`: data-parallel fit (ccnn.distribution.DataParallel) of the book
# model.  Each configuration is its own job -- `python bench.py --mpi-worker`
# alone for 1 rank (a plain fit, no MPI), under `mpiexec -n 2` for 2 ranks --
# which times whole epochs of fit on rank 0 and prints one JSON line.
MPI_CONFIGS = [(1, 1, ""), (2, 1, ""), (2, 1, "spin"), (2, 1, "allreduce"), (2, 1, "yield"),
               (1, 2, ""), (2, 1, "apart")]  # (ranks, threads per rank, how)
# "": DataParallel's default -- bound to cores (mpiexec's default), a waiting
# rank yields its core (DataParallel sets Open MPI's mpi_yield_when_idle when
# the user has not: data_parallel._yield_default)
# "spin": the same with `--mca mpi_yield_when_idle 0` (the user's choice, honoured):
# a waiting rank spins on its core, Open MPI's own default
# "apart": the ceiling -- two plain 1-thread fits (no MPI), each of half the
# samples at half the batch, started together and pinned one per core: a 2-rank
# step's compute with no communication and no waiting for the other rank, on
# the same two cores.  Its throughput is the samples of both over the slower's time.
# "yield": mpiexec --bind-to none --mca mpi_yield_when_idle 1 -- a rank waiting in
# the all-reduce gives its core away instead of spinning on it (and ranks may
# move): what a machine with other work on it wants (README "Scale-out")
# "allreduce": the per-step sum by MPI Allreduce instead of the shared window
# (CCNN_DP_SHM=0; ccnn.distribution.shm_reduce): the before of issue 16's change
MPI_HOW = {"": [], "yield": ["--bind-to", "none", "--mca", "mpi_yield_when_idle", "1"],
           "spin": ["--mca", "mpi_yield_when_idle", "0"],
           "allreduce": ["-x", "CCNN_DP_SHM=0"]}


def mpi_worker(batch, threads, samples, repeats, spe=1):
    ccnn.set_num_threads(threads)
    x, y = load_fashion(samples)
    m = book_model(spe)
    ranks = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
    if ranks > 1:
        from ccnn.distribution import DataParallel
        dp = DataParallel()
        dp.__enter__()
    else:
        dp = None
    m.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)  # warm up
    times, cpus, ar = [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        if dp is not None:
            ar.append(dp.allreduce_seconds / max(1, dp.allreduce_steps))
    steps = -(-len(x) // batch)
    # each rank's CPU time per step in its fastest epoch (the machine is shared:
    # the wall clock counts the other jobs too)
    cpu = [cpus[int(np.argmin(times))] / steps * 1e3]
    if dp is not None:
        cpu = [v for part in dp.comm.gather(cpu, root=0) or [] for v in part]
    if dp is None or dp.is_chief:
        print("MPI-RESULT " + json.dumps({
            "seconds": float(np.min(times)), "samples": len(x), "steps": steps,
            "allreduce_ms": float(np.median(ar)) * 1e3 if ar else 0.0, "cpu_ms": cpu,
            "yield": os.environ.get("OMPI_MCA_mpi_yield_when_idle")}),
            flush=True)
    if dp is not None:
        dp.__exit__(None, None, None)


def _mpi_apart(cmd, ranks, env):
    """The "apart" configuration: `ranks` plain 1-thread workers at batch/ranks
    on samples/ranks each, started together, worker i pinned to core i (where
    the OS allows it); one result as if from one job of all the samples."""
    batch, samples = int(cmd[3]), int(cmd[5])
    part = list(cmd)
    part[3], part[5] = str(batch // ranks), str(samples // ranks)
    procs = []
    for i in range(ranks):
        pin = (lambda i=i: os.sched_setaffinity(0, {i % (os.cpu_count() or 1)})) \
            if hasattr(os, "sched_setaffinity") else None
        procs.append(subprocess.Popen(part, env=env, stdout=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL, preexec_fn=pin))
    res = []
    for p in procs:
        out, _ = p.communicate(timeout=1800)
        line = [s for s in out.splitlines() if s.startswith("MPI-RESULT ")]
        if p.returncode != 0 or not line:
            raise RuntimeError(f"mpi worker {part} failed:\n{out}")
        res.append(json.loads(line[0].split(" ", 1)[1]))
    return {"seconds": max(r["seconds"] for r in res), "samples": sum(r["samples"] for r in res),
            "steps": max(r["steps"] for r in res), "allreduce_ms": 0.0,
            "cpu_ms": [v for r in res for v in r["cpu_ms"]]}


def bench_mpi(table, repeats, quick, spe=None, batches=(128, 512)):
    """Throughput (training samples/s) of the book model's fit at global batch
    128 and 512 for 1 rank x 1 thread, 2 ranks x 1 thread (mpiexec -n 2,
    DataParallel; bound to cores and yielding while waiting, DataParallel's
    default; bound and spinning, Open MPI's own default; unbound and yielding:
    MPI_HOW) and 1 rank x 2 threads, and
    the time per step spent in the gradient all-reduce (waiting for the
    slower rank included); and the ceiling of 2 ranks on these two cores:
    two plain fits side by side, no communication (MPI_CONFIGS, "apart").  The jobs of one batch size run round-robin (1x1,
    2x1, 2x1 yield, 1x2, 1x1, ...), each timing the
    best of 2 epochs, and each configuration reports its median over the
    rounds: a load that drifts during the run touches all four alike.
    Every configuration compiles the model with the same steps_per_execution
    `spe` (default ccnn.cli.STEPS_PER_EXECUTION: what `ccnn train` uses,
    under mpiexec too); each also
    reports its ranks' CPU time per step (median over the rounds, per rank)."""
    if spe is None:
        from ccnn.cli import STEPS_PER_EXECUTION as spe
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    samples = 6400 if quick else 24000
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"mpi: load average {load:.2f} on {os.cpu_count()} cores at the start")
    rounds = max(1, repeats // 2)
    for batch in batches:
        base = None
        got = {cfg: [] for cfg in MPI_CONFIGS}
        for _ in range(rounds):
            for ranks, threads, how in MPI_CONFIGS:
                cmd = [sys.executable, os.path.abspath(__file__), "--mpi-worker", str(batch),
                       str(threads), str(samples), "2", str(spe)]
                if how == "apart":
                    got[ranks, threads, how].append(_mpi_apart(cmd, ranks, env))
                    continue
                if ranks > 1:
                    over = ["--oversubscribe"] if (os.cpu_count() or 1) < ranks else []
                    cmd = [mpiexec, "-n", str(ranks), *over, *MPI_HOW[how], *cmd]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                     timeout=1800, stdin=subprocess.DEVNULL)
                line = [s for s in out.stdout.splitlines() if s.startswith("MPI-RESULT ")]
                if out.returncode != 0 or not line:
                    raise RuntimeError(f"mpi worker {cmd} failed:\n{out.stdout}\n{out.stderr}")
                got[ranks, threads, how].append(json.loads(line[0].split(" ", 1)[1]))
        for ranks, threads, how in MPI_CONFIGS:
            runs = got[ranks, threads, how]
            r = dict(runs[0], seconds=float(np.median([v["seconds"] for v in runs])),
                     allreduce_ms=float(np.median([v["allreduce_ms"] for v in runs])),
                     cpu_ms=[float(c) for c in np.median([v["cpu_ms"] for v in runs], axis=0)])
            rate = r["samples"] / r["seconds"]
            base = base or rate
            case = f"mpi book b{batch} spe{spe}: {ranks} rank x {threads} thr" + (
                f" {how}" if how else "")
            if how == "apart":
                case = f"mpi book b{batch} spe{spe}: {ranks} x {threads} thr apart, no MPI (ceiling)"
            table.append({"case": case, "samples_per_s": rate, "speedup": rate / base,
                          "allreduce_ms_per_step": r["allreduce_ms"],
                          "ms_per_step": r["seconds"] / r["steps"] * 1e3,
                          "per_sample_ms": r["seconds"] / r["samples"] * 1e3 * ranks * threads,
                          "cpu_ms_per_step": r["cpu_ms"], "steps_per_execution": spe,
                          "load": load})
            cpu = "/".join(f"{c:.2f}" for c in r["cpu_ms"])
            print(f"{case:56s} {rate:8.0f} samples/s  x{rate / base:4.2f}  "
                  f"{r['seconds'] / r['steps'] * 1e3:7.2f} ms/step  cpu {cpu} ms/step"
                  + (f"  all-reduce {r['allreduce_ms']:.2f} ms/step" if ranks > 1 and how != "apart" else ""),
                  flush=True)


# ---------------------------------------------------------------- step
# `--only step`: one training step of the book model (issue 18).  For batch 32
# and 128 at 1 and 2 threads: the step through train_on_batch and through fit
# (fit's time per batch), the sum of its C kernels' times (ccnn.profiler's
# kernel_timer, on for separate steps only), the difference -- the Python
# overhead --, PyTorch's step (zero_grad, forward, loss, backward, fused Adam)
# and the fraction of the arithmetic limit: the step's FLOPs at the measured
# sgemm rate of the same thread count, divided by the step's time.

def book_step_flops(n):
    """Multiply-adds x 2 of one book-model step at batch n: the conv's forward
    and weight gradient (no input gradient: it is the first layer), Dense(100)
    and Dense(10) forward, weight and input gradients."""
    conv = 2 * 28 * 28 * 10 * 9
    dense = 2 * 1960 * 100 + 2 * 100 * 10
    return n * (2 * conv + 3 * dense)


def sgemm_rate(nt, repeats):
    """numpy's float32 GEMM rate (FLOP/s) at nt OpenBLAS threads, 1024^3, from
    its fastest call."""
    from ccnn import _blas
    api = _blas._find_api()
    before = api[0]() if api else None
    a = np.random.rand(1024, 1024).astype(np.float32)
    b = np.random.rand(1024, 1024).astype(np.float32)
    try:
        if api:
            api[1](nt)
        for _ in range(5):      # OpenBLAS starts its threads lazily
            a @ b
        times = []
        for _ in range(max(9, repeats)):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        # the best call: the rate the machine reaches (a limit, not a typical
        # call -- a median at 2 threads moved 93-164 GFLOP/s between calls on
        # this shared virtual machine)
        t = min(times)
    finally:
        if api:
            api[1](before)
    return 2 * 1024 ** 3 / t


def timer_bias(calls=20000):
    """Seconds kernel_timer adds to its tally per call, beyond the call itself:
    a wrapped no-op's tallied time minus the no-op's own time."""
    from ccnn import profiler
    noop = len
    tally = {}
    wrapped = profiler._timed("noop", noop, tally)
    t = time.perf_counter()
    for _ in range(calls):
        noop(())
    bare = (time.perf_counter() - t) / calls
    for _ in range(calls):
        wrapped(())
    return max(0.0, tally["noop"][1] / calls - bare)


def fit_spe_overhead(bs, repeats, bias, spes=(1, 10, 50), nb=100):
    """fit's Python overhead per step of the book model at batch bs for each
    compile(steps_per_execution=N) in spes: one epoch of nb batches with the
    kernel timer on, its time minus its kernels' sum (less the timer's own
    time per call, `bias`) over nb, within that one fit (two runs' difference
    would be the load's), and the fit's time per step (timer on); the N's
    interleaved, medians of `repeats`, in seconds: ({N: overhead}, {N: step})."""
    from ccnn import profiler
    rng = np.random.default_rng(1)
    x = rng.random((bs * nb, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, bs * nb)
    models = {}
    for n in spes:
        m = book_model()
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=n)
        m.fit(x, y, batch_size=bs, epochs=1, verbose=0)          # warm up, plans compiled
        models[n] = m
    diffs: Dict[int, List[float]] = {n: [] for n in spes}
    walls: Dict[int, List[float]] = {n: [] for n in spes}
    for _ in range(repeats):
        for n, m in models.items():
            with profiler.kernel_timer() as kt:
                t0 = time.perf_counter()
                m.fit(x, y, batch_size=bs, epochs=1, verbose=0)
                wall = time.perf_counter() - t0
            diffs[n].append((wall - kt.kernel_seconds - kt.calls * bias) / nb)
            walls[n].append(wall / nb)
    return ({n: float(np.median(d)) for n, d in diffs.items()},
            {n: float(np.median(w)) for n, w in walls.items()})


def bench_step(table, repeats):
    from ccnn import profiler
    rng = np.random.default_rng(0)
    before = ccnn.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    bias = timer_bias()
    print(f"kernel_timer's own time per wrapped call: {bias * 1e9:.0f} ns "
          f"(subtracted from the kernel sums)")
    try:
        for nt in (1, 2):
            ccnn.set_num_threads(nt)
            if torch is not None:
                torch.set_num_threads(nt)
            rate = sgemm_rate(nt, repeats)
            for bs in (32, 128):
                nb = 16                              # batches per fit call
                x = rng.random((bs * nb, 28, 28, 1), dtype=np.float32)
                y = rng.integers(0, 10, bs * nb)
                xb, yb = x[:bs], y[:bs]
                m = book_model()
                mf = book_model()
                m_off = book_model()
                mf_off = book_model()

                def plan_off(fn):
                    """fn with the training plan off (ccnn.models.train_plan)."""
                    def run():
                        train_plan.set_enabled(False)
                        try:
                            return fn()
                        finally:
                            train_plan.set_enabled(True)
                    return run
                fns = {"ccnn train_on_batch": lambda m=m, xb=xb, yb=yb: m.train_on_batch(xb, yb),
                       "ccnn fit/step": lambda mf=mf, x=x, y=y, bs=bs: mf.fit(
                           x, y, batch_size=bs, epochs=1, verbose=0),
                       "ccnn train_on_batch (plan off)": plan_off(
                           lambda m=m_off, xb=xb, yb=yb: m.train_on_batch(xb, yb)),
                       "ccnn fit/step (plan off)": plan_off(
                           lambda mf=mf_off, x=x, y=y, bs=bs: mf.fit(
                               x, y, batch_size=bs, epochs=1, verbose=0))}
                if torch is not None:
                    tm, topt = torch_book_model()
                    lossf = torch.nn.CrossEntropyLoss()
                    xt = torch.from_numpy(np.ascontiguousarray(xb.transpose(0, 3, 1, 2)))
                    yt = torch.from_numpy(yb.astype(np.int64))

                    def run_torch(tm=tm, topt=topt, lossf=lossf, xt=xt, yt=yt):
                        topt.zero_grad()
                        lossf(tm(xt), yt).backward()
                        topt.step()
                    fns["torch"] = run_torch
                for fn in fns.values():              # each warmed up on its own
                    t_end = time.perf_counter() + 0.3
                    while time.perf_counter() < t_end:
                        fn()
                t = interleaved(fns, repeats * 15, warmup=0)
                t["ccnn fit/step"] /= nb
                t["ccnn fit/step (plan off)"] /= nb
                # pairs of steps, one timer off (the step's time), the next on
                # (its kernels' sum): the overhead is the median of the pairs'
                # differences, so that a change of the machine's load touches both.
                # The training plan's one C call counts as one kernel call.
                # Plan on and off interleaved, pair by pair.
                per_step, diffs = {True: [], False: []}, {True: [], False: []}
                kcalls = {}
                for _ in range(repeats * 15):
                    for on, mm in ((True, m), (False, m_off)):
                        train_plan.set_enabled(on)
                        try:
                            t0 = time.perf_counter()
                            mm.train_on_batch(xb, yb)
                            off = time.perf_counter() - t0
                            with profiler.kernel_timer() as kt:
                                mm.train_on_batch(xb, yb)
                        finally:
                            train_plan.set_enabled(True)
                        per_step[on].append(kt.kernel_seconds - kt.calls * bias)
                        diffs[on].append(off - per_step[on][-1])
                        kcalls[on] = kt.calls
                kernels = float(np.median(per_step[True]))
                kernels_off = float(np.median(per_step[False]))
                calls = kcalls[True]
                step = t["ccnn train_on_batch"]
                flops = book_step_flops(bs)
                r = {"case": f"book step b{bs} [{nt} thr]", "ms": {k: v * 1e3 for k, v in t.items()},
                     "kernels_ms": kernels * 1e3, "kernel_calls": calls,
                     "python_overhead_us": float(np.median(diffs[True])) * 1e6,
                     "python_overhead_fit_us": (t["ccnn fit/step"] - kernels) * 1e6,
                     "mflop": flops / 1e6, "sgemm_gflops": rate / 1e9,
                     "arith_fraction": flops / rate / step,
                     "plan_off_ms": t["ccnn train_on_batch (plan off)"] * 1e3,
                     "plan_off_fit_ms": t["ccnn fit/step (plan off)"] * 1e3,
                     "plan_off_kernels_ms": kernels_off * 1e3,
                     "plan_off_kernel_calls": kcalls[False],
                     "plan_off_python_overhead_us": float(np.median(diffs[False])) * 1e6}
                if "torch" in t:
                    r["ratio"] = step / t["torch"]
                # fit with compile(steps_per_execution=N): N steps per C call
                spe, spe_step = fit_spe_overhead(bs, max(3, repeats), bias)
                r["fit_spe_python_overhead_us"] = {n: v * 1e6 for n, v in spe.items()}
                r["fit_spe_ms_per_step"] = {n: v * 1e3 for n, v in spe_step.items()}
                table.append(r)
                print(f"{r['case']:24s} train_on_batch {step * 1e3:6.3f} ms  fit {t['ccnn fit/step'] * 1e3:6.3f} "
                      f"ms/step  kernels {kernels * 1e3:6.3f} ms ({calls} calls)  overhead "
                      f"{r['python_overhead_us']:5.0f} us (fit {r['python_overhead_fit_us']:5.0f} us)"
                      + (f"  torch {t['torch'] * 1e3:6.3f} ms  ccnn/torch {r['ratio']:.2f}"
                         if "torch" in t else "")
                      + f"  {flops / 1e6:.0f} MFLOP at {rate / 1e9:.0f} GFLOP/s: "
                      f"{r['arith_fraction']:.0%} of the limit", flush=True)
                print(f"{'':24s} plan off: train_on_batch {r['plan_off_ms']:6.3f} ms  fit "
                      f"{r['plan_off_fit_ms']:6.3f} ms/step  kernels {r['plan_off_kernels_ms']:6.3f} "
                      f"ms ({r['plan_off_kernel_calls']} calls)  overhead "
                      f"{r['plan_off_python_overhead_us']:5.0f} us  (plan on/off "
                      f"{step * 1e3 / r['plan_off_ms']:.2f})", flush=True)
                print(f"{'':24s} fit overhead per step by steps_per_execution: "
                      + "  ".join(f"{n}: {v:5.1f} us" for n, v in
                                  r["fit_spe_python_overhead_us"].items())
                      + "  (ms per step, timer on: "
                      + "  ".join(f"{n}: {v:.3f}" for n, v in r["fit_spe_ms_per_step"].items())
                      + ")", flush=True)
    finally:
        ccnn.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)


# ---------------------------------------------------------------- modern_epoch
# `--only modern_epoch`: the modern model's training epoch in ccnn, PyTorch and
# TensorFlow/Keras, each its own process under /usr/bin/time -v, one after the
# other: examples/fashion_modern.py --recipe keras, benchmarks/modern_torch.py
# and ../shared/anchors/modern_tf.py (run by --tf-python, a Python that has
# tensorflow-cpu; left out without it).  All three train on the first 48,000
# images and validate on the last 12,000 at every epoch end, and print
# `epoch N T s val_acc V` lines (benchmarks/side_by_side.py reads them).
def bench_modern_epoch(table, epochs, tf_python, anchor, limit=None):
    import side_by_side
    root = os.path.dirname(HERE)
    runs = {"ccnn": [sys.executable, os.path.join(root, "examples", "fashion_modern.py"),
                     "--recipe", "keras", "--epochs", str(epochs)]
            + (["--limit", str(limit)] if limit else [])}
    extra = [str(limit)] if limit else []
    if torch is not None:
        runs["torch"] = [sys.executable, os.path.join(HERE, "modern_torch.py"), str(epochs)] + extra
    if tf_python:
        runs["tf"] = [tf_python, anchor, str(epochs)] + extra
    timer = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
    result = {"case": f"modern model, {epochs}-epoch fit" + (f" of {limit} images" if limit else ""), "s_per_epoch": {}, "rss_mb": {},
              "seconds": {}}
    for name, cmd in runs.items():
        proc = subprocess.run(timer + cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"modern_epoch {name}: exit {proc.returncode}\n{proc.stderr[-2000:]}", flush=True)
            continue
        path = os.path.join(HERE, f".modern_epoch_{name}.log")
        with open(path, "w") as f:
            f.write(proc.stdout + proc.stderr)
        try:
            run = side_by_side.parse(path)
        finally:
            os.remove(path)
        sec = run["seconds"]
        # the first epoch also pays the start (plans, pools, graph tracing)
        result["seconds"][name] = sec
        result["s_per_epoch"][name] = float(np.median(sec[1:] if len(sec) > 1 else sec))
        if "rss_mb" in run:
            result["rss_mb"][name] = run["rss_mb"]
        print(f"modern epoch {name:6s} {result['s_per_epoch'][name]:7.1f} s/epoch "
              f"(epochs {', '.join(f'{s:.1f}' for s in sec)})  peak RSS "
              f"{run.get('rss_mb', float('nan')):,.0f} MB  test {run.get('test', float('nan')):.4f}",
              flush=True)
    t = result["s_per_epoch"]
    for other in ("tf", "torch"):
        if "ccnn" in t and other in t:
            result[f"ratio_{other}"] = t["ccnn"] / t[other]
            print(f"modern epoch ccnn/{other} {result[f'ratio_{other}']:.2f}"
                  + (f"  RSS ccnn/{other} {result['rss_mb']['ccnn'] / result['rss_mb'][other]:.2f}"
                     if other in result["rss_mb"] and "ccnn" in result["rss_mb"] else ""),
                  flush=True)
    table.append(result)

# ---------------------------------------------------------------- modern_step
# `--only modern_step`: one training step of the modern model (`ccnn train
# --model modern`, issues 14 and 18) at batch 64, on 1 and 2 threads: its
# median time through train_on_batch and the implied epoch (750 steps of the
# 48,000 training images), the per-kernel breakdown (kernel_timer, on for
# separate steps), and each 3x3 convolution pass at the model's shapes on its
# own -- the auto choice, and the implicit GEMM and Winograd forced -- in
# GFLOP/s against the measured sgemm rate; the pointwise kernels in GB/s
# against a copy's.  The step is also timed, interleaved in the same process,
# with CCNN_WINO_SMALL_CK_TILES=100: Winograd's dispatch before it learnt
# that the AVX-512 GEMM beats it on the 32-filter 28x28 layer (conv2d.c).

#: the modern model's convolutions at batch 64: (c, k, h = w), 3x3 "same"
MODERN_CONVS = ((1, 32, 28), (32, 32, 28), (32, 64, 14), (64, 64, 14))


def modern_step_flops(n=64):
    """FLOPs (2 x multiply-adds) of one modern-model step at batch n: each
    conv's forward, weight gradient and (not the first) input gradient, the
    two Dense layers' forward, weight and input gradients."""
    conv = 0
    for i, (c, k, h) in enumerate(MODERN_CONVS):
        f = 2 * n * h * h * k * c * 9
        conv += f * (2 if i == 0 else 3)
    dense = 2 * n * (3136 * 128 + 128 * 10)
    return conv + 3 * dense


def modern_pointwise_bytes(n=64, itemsize=4):
    """Bytes each pointwise kernel of a modern-model step must move at the
    least (sum over its calls): S = the elements of the four conv outputs;
    BN statistics read x twice (2 S: the mean, then the squares about it), BN
    forward and ReLU forward read and write (2 S), ReLU backward reads dy and y and writes dx (3 S), BN backward reads
    dout and x for the sums and again for dx and writes dx (5 S); pooling
    reads its input and writes a quarter (fwd) / reads a quarter and writes
    the input's size (bwd), not counting its argmax indices."""
    sizes = [n * k * h * h for _, k, h in MODERN_CONVS]
    s = sum(sizes)
    pool = sizes[1] + sizes[3]
    b = itemsize
    return {"_norm.batchnorm_stats": 2 * s * b, "_norm.batchnorm_forward": 2 * s * b,
            "_activation.relu_forward": 2 * s * b, "_activation.relu_backward": 3 * s * b,
            "_norm.batchnorm_backward": 5 * s * b,
            "_pool.max_pool2d_forward": int(pool * 1.25 * b),
            "_pool.max_pool2d_backward": int(pool * 1.25 * b)}


def copy_rate(nbytes=6422528):
    """numpy's copy bandwidth (bytes moved per second: read + write) of a
    float32 array of nbytes, about one 64x32x28x28 activation."""
    a = np.random.rand(nbytes // 4).astype(np.float32)
    b = np.empty_like(a)
    t = interleaved({"copy": lambda: np.copyto(b, a)}, 15, warmup=3)["copy"]
    return 2 * nbytes / t


def modern_conv_passes(nt, repeats):
    """{(c, k, h, algo, pass): seconds} of each conv pass at the model's shapes."""
    from ccnn import _conv2d
    rng = np.random.default_rng(0)
    out = {}
    a = ((1, 1), (1, 1), (1, 1, 1, 1))
    for c, k, h in MODERN_CONVS:
        x = rng.standard_normal((64, c, h, h), dtype=np.float32)
        w = (rng.standard_normal((k, c, 3, 3)) * 0.1).astype(np.float32)
        dy = rng.standard_normal((64, k, h, h), dtype=np.float32)
        algos = ("auto", "gemm", "winograd") if c >= 16 else ("auto",)
        for algo in algos:
            fns = {"forward": lambda algo=algo: _conv2d.conv2d_forward(x, w, None, *a, nt, algo),
                   "weight": lambda algo=algo: _conv2d.conv2d_backward(
                       dy, x, w, *a, False, True, False, nt, algo)}
            if c > 1:
                fns["data"] = lambda algo=algo: _conv2d.conv2d_backward(
                    dy, x, w, *a, True, False, False, nt, algo)
            for ps, t in interleaved(fns, repeats, warmup=1).items():
                out[(c, k, h, algo, ps)] = t
    return out


def bench_modern_step(table, repeats):
    from ccnn import profiler
    rng = np.random.default_rng(0)
    before = ccnn.get_num_threads()
    bias = timer_bias()
    n = 64
    flops = modern_step_flops(n)
    pw_bytes = modern_pointwise_bytes(n)
    bw = copy_rate()
    print(f"modern step: {flops / 1e9:.2f} GFLOP per step of batch {n} "
          f"({flops * 750 / 1e12:.2f} TFLOP per epoch of 750 steps); copy bandwidth "
          f"{bw / 1e9:.1f} GB/s", flush=True)
    try:
        for nt in (1, 2):
            ccnn.set_num_threads(nt)
            rate = sgemm_rate(nt, repeats)
            x = rng.random((n, 28, 28, 1), dtype=np.float32)
            y = rng.integers(0, 10, n)
            m = modern_model()
            for _ in range(3):
                m.train_on_batch(x, y)
            def step_with(var, value):
                # the kernels read these knobs once: reread_environment after each change
                def step():
                    os.environ[var] = value
                    ccnn._runtime.reread_environment()
                    try:
                        m.train_on_batch(x, y)
                    finally:
                        del os.environ[var]
                        ccnn._runtime.reread_environment()
                return step
            step_old_dispatch = step_with("CCNN_WINO_SMALL_CK_TILES", "100")
            step_no_wino_wgrad = step_with("CCNN_WINO_WGRAD", "0")
            os.environ.pop("CCNN_WINO_SMALL_CK_TILES", None)
            os.environ.pop("CCNN_WINO_WGRAD", None)
            ccnn._runtime.reread_environment()
            both = interleaved({"step": lambda: m.train_on_batch(x, y),
                                "step, Winograd on 196 tiles": step_old_dispatch,
                                "step, no Winograd weight gradient": step_no_wino_wgrad},
                               repeats * 3, warmup=1)
            t = both["step"]
            import resource
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            for _ in range(repeats):
                m.train_on_batch(x, y)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            faults = (r1.ru_minflt - r0.ru_minflt) / repeats
            sys_ms = (r1.ru_stime - r0.ru_stime) / repeats * 1e3
            # the breakdown runs the per-layer path (the same kernels; with the
            # training plan on, the whole forward and backward is one call)
            from ccnn.models import train_plan
            tallies = []
            train_plan.set_enabled(False)
            try:
                for _ in range(repeats):
                    with profiler.kernel_timer() as kt:
                        m.train_on_batch(x, y)
                    tallies.append({k: v[1] - v[0] * bias for k, v in kt.by_kernel.items()})
            finally:
                train_plan.set_enabled(True)
            names = sorted(tallies[0], key=lambda k: -np.median([tl.get(k, 0.0) for tl in tallies]))
            kern = {k: float(np.median([tl.get(k, 0.0) for tl in tallies])) for k in names}
            total = sum(kern.values())
            r = {"case": f"modern step b{n} [{nt} thr]",
                 "ms": {"ccnn train_on_batch": t * 1e3,
                        "CCNN_WINO_SMALL_CK_TILES=100": both["step, Winograd on 196 tiles"] * 1e3,
                        "CCNN_WINO_WGRAD=0": both["step, no Winograd weight gradient"] * 1e3},
                 "epoch_s": t * 750, "kernels_ms": {k: v * 1e3 for k, v in kern.items()},
                 "gflop": flops / 1e9, "sgemm_gflops": rate / 1e9, "copy_gbs": bw / 1e9,
                 "arith_fraction": flops / rate / t, "page_faults_per_step": faults,
                 "system_ms_per_step": sys_ms}
            print(f"{r['case']}: train_on_batch {t * 1e3:.1f} ms -> epoch (750 steps) {t * 750:.1f} s; "
                  f"{flops / 1e9:.2f} GFLOP at sgemm's {rate / 1e9:.0f} GFLOP/s = "
                  f"{flops / rate * 1e3:.1f} ms ({r['arith_fraction']:.0%} of the step); with "
                  f"CCNN_WINO_SMALL_CK_TILES=100 (the old dispatch) "
                  f"{both['step, Winograd on 196 tiles'] * 1e3:.1f} ms; with CCNN_WINO_WGRAD=0 "
                  f"(no Winograd weight gradient) "
                  f"{both['step, no Winograd weight gradient'] * 1e3:.1f} ms", flush=True)
            for k, v in kern.items():
                extra = ""
                if k in pw_bytes:
                    extra = f"  {pw_bytes[k] / v / 1e9:5.1f} GB/s ({pw_bytes[k] / v / bw:.0%} of copy)"
                print(f"    {k:32s} {v * 1e3:7.2f} ms {v / t:5.1%}{extra}")
            print(f"    {'(kernels total)':32s} {total * 1e3:7.2f} ms; Python and NumPy "
                  f"{(t - total) * 1e3:.2f} ms; {faults:.0f} page faults and {sys_ms:.1f} ms "
                  f"of system time per step", flush=True)
            passes = modern_conv_passes(nt, repeats)
            r["conv_passes_ms"] = {f"c{c} k{k} {h}x{h} {algo} {ps}": v * 1e3
                                   for (c, k, h, algo, ps), v in passes.items()}
            for (c, k, h, algo, ps), v in passes.items():
                # the direct convolution's FLOPs over the time: for a Winograd
                # (or an auto that picked it) pass, a direct-equivalent rate,
                # which may pass sgemm's (F(2x2,3x3) does 4/9 of the products)
                f = 2 * n * h * h * k * c * 9
                print(f"    conv c{c:<2d} k{k:<2d} {h}x{h} {ps:7s} {algo:8s} {v * 1e3:6.2f} ms "
                      f"{f / v / 1e9:6.1f} direct-equivalent GFLOP/s ({f / v / rate:.0%} of sgemm)")
            table.append(r)
    finally:
        ccnn.set_num_threads(before)


#: what a run without --only times (and writes to benchmarks/results.json)
DEFAULT_SECTIONS = ("sgemm,conv,pool,adam,epoch,threads,gil,import,rss,batchnorm,activations,"
                    "losses,depthwise,grouped,predict,mpi,step,modern_step")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--mpi-worker":
        b, t, n, r, spe = (int(v) for v in sys.argv[2:7])
        return mpi_worker(b, t, n, r, spe)
    ap.add_argument("--only", default=DEFAULT_SECTIONS, help="comma-separated sections")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, partial epochs")
    ap.add_argument("--json", default=None,
                    help="write the results here (default: benchmarks/results.json for a "
                         "full run; a run with --only writes only when given --json)")
    ap.add_argument("--epochs", type=int, default=3, help="modern_epoch: epochs of each fit")
    ap.add_argument("--tf-python", default=os.environ.get("CCNN_BENCH_TF_PYTHON"),
                    help="modern_epoch: a Python with tensorflow-cpu (default $CCNN_BENCH_TF_PYTHON)")
    ap.add_argument("--tf-anchor", default=os.path.join(os.path.dirname(HERE), "..", "shared",
                                                        "anchors", "modern_tf.py"),
                    help="modern_epoch: the TensorFlow/Keras script")
    ap.add_argument("--mpi-batches", default="128,512",
                    help="mpi: the global batch sizes (comma-separated)")
    ap.add_argument("--spe", type=int, default=None,
                    help="mpi: every configuration's steps_per_execution (default: ccnn train's "
                         "--steps-per-execution default, what `mpiexec -n K ccnn train` uses)")
    ap.add_argument("--modern-limit", type=int, default=None,
                    help="modern_epoch: train on only the first N images (a quick look)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    nt = ccnn.get_num_threads()
    if torch is not None:
        torch.set_num_threads(nt)
    print(f"ccnn {ccnn.__version__}, numpy {np.__version__}, torch {torch.__version__ if torch else 'absent'}, "
          f"threads {nt}, {platform.processor() or platform.machine()}")
    ccnn.show_config()
    table = []
    sections = args.only.split(",")
    if "sgemm" in sections:
        bench_sgemm(table, args.repeats)
    if "conv" in sections:
        bench_conv(table, args.repeats)
    if "pool" in sections:
        bench_pool(table, args.repeats)
    if "adam" in sections:
        bench_adam(table, args.repeats)
    if "epoch" in sections:
        bench_epoch(table, args.repeats, args.quick)
    if "threads" in sections:
        bench_threads(table, args.repeats)
    if "gil" in sections:
        bench_gil(table, args.repeats)
    if "import" in sections:
        bench_import(table)
    if "rss" in sections:
        bench_rss(table, args.quick)
    if "batchnorm" in sections:
        bench_batchnorm(table, args.repeats)
    if "activations" in sections:
        bench_activations(table, args.repeats)
    if "losses" in sections:
        bench_losses(table, args.repeats)
    if "depthwise" in sections:
        bench_grouped_conv(table, args.repeats, "depthwise")
    if "grouped" in sections:
        bench_grouped_conv(table, args.repeats, "grouped")
    if "predict" in sections:
        bench_predict(table, args.repeats)
    if "mpi" in sections:
        bench_mpi(table, args.repeats, args.quick, args.spe,
                  tuple(int(b) for b in args.mpi_batches.split(",")))
    if "step" in sections:
        bench_step(table, args.repeats)
    if "modern_epoch" in sections:
        bench_modern_epoch(table, args.epochs, args.tf_python, args.tf_anchor, args.modern_limit)
    if "modern_step" in sections:
        bench_modern_step(table, args.repeats)
    if args.json is None:
        if args.only != DEFAULT_SECTIONS:
            return
        args.json = os.path.join(HERE, "results.json")
    with open(args.json + ".tmp", "w") as f:
        json.dump({"machine": platform.uname()._asdict(), "threads": nt, "results": table}, f, indent=1)
    os.replace(args.json + ".tmp", args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
