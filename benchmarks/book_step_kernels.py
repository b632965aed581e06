"""The book model's training step kernel by kernel, an old build of the C
kernels against this tree's, in one process, interleaved.

    python benchmarks/book_step_kernels.py --base 27375dc
    python benchmarks/book_step_kernels.py --base 27375dc --batches 32 --threads 1 --clock cpu

Builds csrc/kernels of `--base` (a git revision) and of the working tree into
two shared libraries (the flags setup.py gives ccnn.kernels), then runs
benchmarks/book_step_kernels.c: each kernel of the step as the training plan
calls it (conv + ReLU + max-pool, dropout, the two Dense layers, softmax
cross-entropy, their backwards, Adam over the 197,210 parameters) on the same
random float32 data, the two libraries alternating call by call; medians in
us.  `--clock cpu` times this thread's CPU time (on a loaded machine, what a
kernel costs rather than how long it waited for a core; meaningful at one
thread only); `wall` (the default) the monotonic clock.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CFLAGS = ["-O3", "-fPIC", "-std=c11", "-fno-math-errno", "-ffp-contract=fast", "-fopenmp-simd",
          "-fopenmp", "-DNDEBUG", "-fwrapv", "-DCCNN_HAVE_TARGET_CLONES=1", "-Wno-psabi"]


def build_kernels(src_dir, out, cc):
    """out <- a shared library of every src_dir/*.c."""
    objs = []
    for c in sorted(glob.glob(os.path.join(src_dir, "*.c"))):
        obj = os.path.splitext(out)[0] + "_" + os.path.basename(c)[:-2] + ".o"
        subprocess.run([cc] + CFLAGS + ["-I", src_dir, "-c", c, "-o", obj], check=True)
        objs.append(obj)
    subprocess.run([cc, "-shared", "-fopenmp"] + objs + ["-lm", "-o", out], check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="git revision of the old kernels")
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=200, help="interleaved repeats (at most 4096)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old_src = os.path.join(tmp, "old")
        os.makedirs(old_src)
        archive = subprocess.run(["git", "-C", ROOT, "archive", args.base, "csrc/kernels"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old_src], input=archive, check=True)
        old_so, new_so = os.path.join(tmp, "old.so"), os.path.join(tmp, "new.so")
        build_kernels(os.path.join(old_src, "csrc", "kernels"), old_so, args.cc)
        build_kernels(os.path.join(ROOT, "csrc", "kernels"), new_so, args.cc)
        exe = os.path.join(tmp, "book_step_kernels")
        subprocess.run([args.cc, "-O2", os.path.join(HERE, "book_step_kernels.c"), "-o", exe,
                        "-ldl"], check=True)
        print(f"old: csrc/kernels at {args.base}; new: the working tree")
        for bs in args.batches.split(","):
            for nt in args.threads.split(","):
                sys.stdout.flush()
                subprocess.run([exe, old_so, new_so, bs, nt, str(args.repeats), args.clock],
                               check=True)


if __name__ == "__main__":
    main()
