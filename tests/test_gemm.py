"""The packed GEMM (csrc/kernels/gemm.c) against NumPy, on each micro-kernel path.

ccnn._conv2d.gemm reaches the GEMM the convolutions and Dense run on.  The
paths -- AVX-512, AVX2+FMA and the portable C kernel -- are chosen once per
process (CCNN_GEMM_ISA=avx2 / generic, CCNN_GEMM_GENERIC=1), so each runs in
a subprocess with its variable set; the default path also runs in-process.
Shapes cover every edge tile: m, n, k around the register tiles (6, 12, 18
rows; 16 float / 8 double columns) and the cache blocks (MC = 96 rows, KC =
256, NC = 2048 float / 1024 double columns), and k = 1, m = 1, n = 1.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ccnn import _conv2d

HERE = os.path.dirname(os.path.abspath(__file__))

EDGE_M = [1, 2, 5, 6, 7, 11, 12, 13, 17, 18, 19, 23, 24, 25, 31, 36, 97, 101, 200]
EDGE_N = [1, 3, 8, 9, 15, 16, 17, 31, 33, 100]
EDGE_K = [1, 2, 7, 8, 9, 64, 255, 256, 257, 513]
# beyond one NC block of columns (float, double), beyond MC rows with k > KC
BIG = [(3, 2100, 5), (2, 1100, 3), (130, 20, 600)]


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cases():
    """(m, n, k, a_transposed, b_transposed, mode, ldc_pad): every (m, n) pair
    of the edge sizes, k, layouts and modes cycling through their values."""
    out = []
    i = 0
    for m in EDGE_M:
        for n in EDGE_N:
            out.append((m, n, EDGE_K[i % len(EDGE_K)], i % 2 == 1, i % 4 >= 2,
                        ("add", "overwrite", "bias")[i % 3], (0, 3)[i % 5 == 0]))
            i += 1
    for j, (m, n, k) in enumerate(BIG):
        out.append((m, n, k, j == 1, j == 2, ("add", "overwrite", "bias")[j], 0))
    return out


def operand(rng, rows, cols, dtype, transposed):
    """A random (rows, cols) matrix, row-major or a transposed view of a row-major one."""
    if transposed:
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


def check_case(case, dtype, seed):
    m, n, k, at, bt, mode, pad = case
    rng = np.random.default_rng(seed)
    a = operand(rng, m, k, dtype, at)
    b = operand(rng, k, n, dtype, bt)
    bias = rng.standard_normal(m).astype(dtype) if mode == "bias" else None
    full = rng.standard_normal((m, n + pad)).astype(dtype)
    if mode != "add":
        full[:, :n] = np.nan            # an overwrite must write every element
    before = full.copy()
    c = full[:, :n]
    a0, b0 = a.copy(), b.copy()
    _conv2d.gemm(a, b, c, mode != "add", bias)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    if mode == "add":
        expected += before[:, :n]
        scale += np.abs(before[:, :n])
    if bias is not None:
        expected += bias[:, None]
        scale += np.abs(bias)[:, None]
    # the rounding error bound of a k-term sum (unit roundoff eps / 2), doubled
    tol = (k + 2) * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny
    err = np.abs(c.astype(np.float64) - expected)
    assert np.all(err <= tol), (
        f"{case} {np.dtype(dtype).name}: max error {np.max(err)}, "
        f"worst at {np.unravel_index(np.argmax(err - tol), err.shape)}")
    np.testing.assert_array_equal(full[:, n:], before[:, n:], err_msg="wrote past n")
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def run_all(dtypes=(np.float32, np.float64)):
    for dtype in dtypes:
        for seed, case in enumerate(cases()):
            check_case(case, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_numpy(dtype):
    """The path this process picked (the widest the CPU has, by default)."""
    run_all([dtype])


PATHS = {
    # path: (environment, required CPU flags, the kernel name's prefix)
    "avx512": ({"CCNN_GEMM_ISA": "avx512"}, {"avx512f", "avx2", "fma"}, "avx512f"),
    "avx2": ({"CCNN_GEMM_ISA": "avx2"}, {"avx2", "fma"}, "avx2+fma"),
    "generic": ({"CCNN_GEMM_GENERIC": "1"}, set(), "generic"),
    "generic-isa": ({"CCNN_GEMM_ISA": "generic"}, set(), "generic"),
}


def run_path(path, body):
    """Run `body` (Python source, sys.path holding tests/) in a subprocess on
    the given GEMM path; it must print OK last.  Skips when the CPU lacks it."""
    env_vars, needs, prefix = PATHS[path]
    missing = needs - cpu_flags()
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(sorted(missing))} (no /proc/cpuinfo flags "
                    f"or not x86-64): the {path} GEMM path cannot run here")
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        from ccnn import _conv2d
        name = _conv2d.gemm_kernel_name()
        assert name.startswith(%r), name
    """ % (HERE, prefix)) + textwrap.dedent(body) + '\nprint("OK")\n'
    env = {key: val for key, val in os.environ.items()
           if key not in ("CCNN_GEMM_ISA", "CCNN_GEMM_GENERIC")}
    env.update(env_vars)
    # cwd=HERE: "python -c" puts the cwd first on sys.path, and the repository
    # root holds the uncompiled source package
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600, cwd=HERE)
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), res.stdout + res.stderr


@pytest.mark.parametrize("path", sorted(PATHS))
def test_gemm_path_in_subprocess(path):
    """Each micro-kernel path against NumPy (the variable picks it; the kernel
    name says it was taken)."""
    run_path(path, """
        import test_gemm
        test_gemm.run_all()
    """)


def test_default_path_is_the_widest():
    if os.environ.get("CCNN_GEMM_ISA") or os.environ.get("CCNN_GEMM_GENERIC"):
        pytest.skip("CCNN_GEMM_ISA / CCNN_GEMM_GENERIC set for this run")
    flags = cpu_flags()
    name = _conv2d.gemm_kernel_name()
    if {"avx512f", "avx2", "fma"} <= flags:
        assert name.startswith("avx512f"), name
    elif {"avx2", "fma"} <= flags:
        assert name.startswith("avx2+fma"), name
    elif not flags:
        pytest.skip("no /proc/cpuinfo flags: cannot tell which path this CPU should take")
    else:
        assert name.startswith("generic"), name


def test_gemm_hook_refuses_bad_shapes():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="chain"):
        _conv2d.gemm(a, np.ones((5, 2), np.float32), np.zeros((3, 2), np.float32), True)
    with pytest.raises(ValueError, match="bias"):
        _conv2d.gemm(a, np.ones((4, 2), np.float32), np.zeros((3, 2), np.float32), True,
                     np.ones(2, np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        _conv2d.gemm(a, np.ones((4, 2), np.float32), np.zeros((3, 4), np.float32)[:, ::2], True)


def test_show_config_names_the_gemm_path():
    import io

    import ccnn
    out = io.StringIO()
    ccnn.show_config(file=out)
    assert f"gemm micro-kernel: {_conv2d.gemm_kernel_name()}\n" in out.getvalue()
