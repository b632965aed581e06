"""The GEMM path's weight gradient (csrc/kernels/conv2d_wgrad.c: register
tiles over the zero-framed image, dy transposed per image) against a NumPy
transcription of the definition, on seeded shapes that reach its tile
remainders (c*r*s not a multiple of the tile's rows, k not a multiple of
a vector), both work splits (fixed groups of images; rows of dW when the
groups' partial sums would pass 8 MB), strides, dilations and asymmetric
padding; float32 and float64; every micro-kernel path (AVX-512, AVX2+FMA,
portable C) in a subprocess; float64 against central differences of the
forward; the thread count never changes a bit."""
import numpy as np
import pytest

from ccnn import _conv2d

import test_gemm


def ref_dweight(x, dy, r, s, stride, dil, pads):
    """dW[k, c, i, j] = sum_{n,p,q} dy[n, k, p, q] * x[n, c, p*sh - pt + i*dh, q*sw - pl + j*dw]
    (0 outside x), in float64."""
    n, c, h, w = x.shape
    _, k, P, Q = dy.shape
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = stride, dil, pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    out = np.zeros((k, c, r, s))
    for i in range(r):
        for j in range(s):
            win = xp[:, :, i * dh: i * dh + (P - 1) * sh + 1: sh, j * dw: j * dw + (Q - 1) * sw + 1: sw]
            out[:, :, i, j] = np.einsum("nkpq,ncpq->kc", dy.astype(np.float64), win)
    return out


def out_size(h, lo, hi, r, st, dl):
    return (h + lo + hi - dl * (r - 1) - 1) // st + 1


# (n, c, h, w, k, r, s, stride, dilation, pads)
CASES = [
    (64, 1, 28, 28, 32, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)),     # the modern model's first layer
    (8, 32, 28, 28, 32, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)),
    (3, 32, 14, 14, 64, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)),     # fewer images than groups
    (1, 5, 9, 11, 20, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)),       # k past a vector, one image
    (5, 3, 13, 10, 7, 5, 5, (2, 1), (1, 1), (2, 1, 0, 2)),       # 5x5, stride, uneven padding
    (4, 6, 12, 12, 33, 3, 2, (1, 2), (2, 1), (0, 0, 1, 1)),      # dilation, stride 2 along w
    (9, 17, 6, 7, 16, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0)),       # 1x1
    (2, 4, 30, 30, 48, 3, 3, (3, 3), (1, 1), (1, 1, 1, 1)),
]


def check_case(case, dtype, seed, nthreads=2, algo="gemm"):
    n, c, h, w, k, r, s, stride, dil, pads = case
    rng = np.random.default_rng(seed)
    P = out_size(h, pads[0], pads[1], r, stride[0], dil[0])
    Q = out_size(w, pads[2], pads[3], s, stride[1], dil[1])
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, r, s)).astype(dtype)
    dy = rng.standard_normal((n, k, P, Q)).astype(dtype)
    x0, dy0 = x.copy(), dy.copy()
    _, dw, _ = _conv2d.conv2d_backward(dy, x, wt, stride, dil, pads, False, True, False,
                                       nthreads, algo)
    assert np.array_equal(x, x0) and np.array_equal(dy, dy0)
    ref = ref_dweight(x, dy, r, s, stride, dil, pads)
    # each element sums n*p*q products of unit normals
    tol = (3e-5 if dtype == np.float32 else 1e-12) * np.sqrt(n * P * Q) * 4
    np.testing.assert_allclose(dw, ref, rtol=0, atol=tol)
    return dw


def run_all():
    for dtype in (np.float32, np.float64):
        for seed, case in enumerate(CASES):
            check_case(case, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_weight_gradient_matches_numpy(case, dtype):
    check_case(case, dtype, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_choice_matches_numpy(dtype):
    for seed, case in enumerate(CASES[:4]):
        check_case(case, dtype, seed, algo="auto")


def test_rows_split_matches_numpy():
    """8 groups of (c*r*s, k) float64 partials past 8 MB: the split over rows
    of dW, each thread walking all images."""
    check_case((9, 130, 3, 3, 128, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)), np.float64, 5)
    check_case((9, 250, 3, 3, 130, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1)), np.float32, 6)


@pytest.mark.parametrize("case", [CASES[1], CASES[4],
                                  (9, 130, 3, 3, 128, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1))])
def test_thread_count_changes_no_bit(case):
    for dtype in (np.float32, np.float64):
        a = check_case(case, dtype, 3, nthreads=1)
        b = check_case(case, dtype, 3, nthreads=2)
        c = check_case(case, dtype, 3, nthreads=3)
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_central_differences_float64():
    """dW of L(w) = sum(conv2d(x, w) * dy) by central differences of the
    (direct) forward, float64."""
    rng = np.random.default_rng(11)
    stride, dil, pads = (1, 2), (1, 1), (1, 0, 2, 1)
    x = rng.standard_normal((3, 4, 7, 8))
    w = rng.standard_normal((18, 4, 3, 2))
    y = _conv2d.conv2d_forward(x, w, None, stride, dil, pads, 1, "direct")
    dy = rng.standard_normal(y.shape)
    _, dw, _ = _conv2d.conv2d_backward(dy, x, w, stride, dil, pads, False, True, False, 2, "gemm")
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (17, 3, 2, 1), (5, 2, 1, 0), (9, 1, 0, 1), (12, 3, 1, 1)]:
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        lp = np.sum(_conv2d.conv2d_forward(x, wp, None, stride, dil, pads, 1, "direct") * dy)
        lm = np.sum(_conv2d.conv2d_forward(x, wm, None, stride, dil, pads, 1, "direct") * dy)
        assert abs((lp - lm) / (2 * eps) - dw[idx]) < 1e-6 * max(1.0, abs(dw[idx]))


@pytest.mark.parametrize("path", sorted(test_gemm.PATHS))
def test_every_kernel_path_in_subprocess(path):
    test_gemm.run_path(path, """
        import test_conv2d_wgrad
        test_conv2d_wgrad.run_all()
        test_conv2d_wgrad.test_rows_split_matches_numpy()
    """)
