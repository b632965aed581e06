"""Where predict's time goes: each op of ccnn's compiled inference plan timed
on its own, beside onnxruntime's per-node profile of the ONNX file ccnn's
exporter writes, for the book or the modern model (random weights, BN moving
statistics drawn away from the identity).

    python benchmarks/predict_layers.py                      # modern, 1 and 2 threads, 1 and 32 images
    python benchmarks/predict_layers.py --model book --threads 1 --sizes 1,32,1000

Each plan op runs alone (its row of the plan's code, the plan's own buffers,
which a whole run filled first) and is timed best-of-N, interleaved with
the same op without its weight cache (plan.h: the BatchNormalization fold
and the conv's weight packing redone at every call, as before the caches).  At 1 thread the
clock is this thread's CPU time (time.thread_time), for ccnn and onnxruntime
alike (which, with intra_op_num_threads=1, computes on the calling thread):
on a loaded machine that counts what the op costs, not the time it waited for
a core.  At more threads it is wall-clock time, and meaningful only on a quiet
machine.  onnxruntime's per-node times come from SessionOptions.enable_profiling
(wall clock, the best over the runs); the 'total' lines are best-of-N of the
whole run on the same clock as ccnn's.
"""
import argparse
import collections
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ccnn  # noqa: E402
from ccnn import functional as F  # noqa: E402


def best_of(fn, reps, inner, clock):
    best = float("inf")
    for _ in range(reps):
        t = clock()
        for _ in range(inner):
            fn()
        best = min(best, (clock() - t) / inner)
    return best


def best_of_pair(fa, fb, reps, inner, clock):
    """best_of of fa and of fb, their repetitions interleaved (a and b see
    the same load)."""
    ta = tb = float("inf")
    for _ in range(reps):
        ta = min(ta, best_of(fa, 1, inner, clock))
        tb = min(tb, best_of(fb, 1, inner, clock))
    return ta, tb


def without_caches(code):
    """The plan's code with its weight caches off (plan.h): every call folds
    the BatchNormalization and packs each conv's weight again, as before the
    caches."""
    from ccnn.models.inference import F_CACHE
    code = code.copy()
    code[:, F_CACHE] = -1
    return code


def make_model(which):
    from ccnn.cli import build_model, build_modern_model
    m = build_modern_model() if which == "modern" else build_model()
    m.build((None, 28, 28, 1))
    rng = np.random.default_rng(1)
    for layer in m.layers:
        if type(layer).__name__ == "BatchNormalization":
            v = layer.states["moving_variance"]
            v[...] = rng.random(v.shape, dtype=np.float32) + 0.5
            mu = layer.states["moving_mean"]
            mu[...] = rng.standard_normal(mu.shape).astype(np.float32) * 0.1
    return m


def ort_profile(path, nt, x, runs):
    """onnxruntime's per-node kernel times (best over runs, ms) in graph order."""
    import onnxruntime as ort
    tmp = tempfile.mkdtemp()
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = nt, 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "ort")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for _ in range(runs):
        sess.run(None, {name: x})
    prof = sess.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    os.remove(prof)
    per = collections.OrderedDict()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            key = (e["args"].get("op_name", "?"), e["name"][:-len("_kernel_time")])
            per.setdefault(key, []).append(e["dur"])
    return [(op, node, min(v) / 1e3) for (op, node), v in per.items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["modern", "book"], default="modern")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--sizes", default="1,32")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    m = make_model(args.model)
    path = None
    if ort is not None:
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        m.export(path, format="onnx")
    rng = np.random.default_rng(0)
    for nt in [int(t) for t in args.threads.split(",")]:
        ccnn.set_num_threads(nt)
        clock = time.thread_time if nt == 1 else time.perf_counter
        cname = "cpu time" if nt == 1 else "wall clock"
        sess = None
        if ort is not None:
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = nt, 1
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        for n in [int(s) for s in args.sizes.split(",")]:
            x = rng.random((n, 28, 28, 1), dtype=np.float32)
            m.predict(x, batch_size=n, verbose=0)      # compiles the plan
            plan = m._inference_plans.plans[(x.shape, x.dtype.str)]
            out = np.empty(plan.out_shape, dtype=plan.dtype)
            inner = max(1, 64 // n)
            plan.run(x, out)
            nocache = without_caches(plan.code)
            total, total_nc = best_of_pair(
                lambda: F.plan_forward_unchecked(plan.code, plan.reals, plan.ptrs, x, out),
                lambda: F.plan_forward_unchecked(nocache, plan.reals, plan.ptrs, x, out),
                args.reps, inner, clock)
            ops = []
            for i, name in enumerate(plan.ops):
                code, reals, code_nc = plan.code[i:i + 1], plan.reals[i:i + 1], nocache[i:i + 1]
                ops.append((name,) + best_of_pair(
                    lambda: F.plan_forward_unchecked(code, reals, plan.ptrs, x, out),
                    lambda: F.plan_forward_unchecked(code_nc, reals, plan.ptrs, x, out),
                    args.reps, inner, clock))
            head = f"{args.model} model, {n} images, {nt} thread(s), {cname}"
            line = (f"ccnn plan total {total * 1e3:8.3f} ms (ops alone: {sum(t for _, t, _ in ops) * 1e3:.3f};"
                    f" without the weight caches {total_nc * 1e3:.3f})")
            if sess is not None:
                iname = sess.get_inputs()[0].name
                tort = best_of(lambda: sess.run(None, {iname: x}), args.reps, inner, clock)
                line += f"   onnxruntime total {tort * 1e3:8.3f} ms   ratio {total / tort:.2f}"
            print(f"== {head}\n{line}")
            print("  ccnn op                                   ms   no caches")
            for name, t, t_nc in ops:
                print(f"    {name:36s} {t * 1e3:8.3f}   {t_nc * 1e3:8.3f}")
            if sess is not None:
                print("  onnxruntime node (profile, best)          ms")
                for op, node, t in ort_profile(path, nt, x, max(10, 4 * inner)):
                    print(f"    {op:14s} {node[:34]:34s} {t:8.3f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
