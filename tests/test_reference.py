"""Sanity checks of the NumPy references themselves (no ccnn involved).

If these fail, the bug is in tests/reference.py, not in the library.
"""

import itertools

import numpy as np
import pytest
from scipy import signal

import reference as ref
from _testutils import random_conv_config, random_pool_config


# ---------------------------------------------------------------- correlate
@pytest.mark.parametrize("M,N", list(itertools.product([1, 2, 3, 4, 5, 8], [1, 2, 3, 4, 6, 9])))
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_1d_refs_match_numpy(M, N, mode):
    rng = np.random.default_rng(M * 100 + N)
    a = rng.standard_normal(M)
    v = rng.standard_normal(N)
    np.testing.assert_allclose(ref.correlate_ref(a, v, mode), np.correlate(a, v, mode),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.convolve_ref(a, v, mode), np.convolve(a, v, mode),
                               rtol=1e-12, atol=1e-12)


SHAPES_2D = [((5, 6), (2, 3)), ((5, 6), (3, 3)), ((4, 4), (4, 5)), ((3, 3), (5, 5)),
             ((2, 3), (4, 6)), ((4, 7), (5, 6)), ((3, 5), (4, 2)), ((6, 6), (5, 5)),
             ((7, 6), (4, 4)), ((1, 1), (1, 1)), ((1, 5), (1, 2)), ((6, 1), (3, 1)),
             ((2, 2), (4, 4))]


@pytest.mark.parametrize("ashape,vshape", SHAPES_2D)
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_2d_refs_match_scipy(ashape, vshape, mode):
    rng = np.random.default_rng(sum(ashape) * 7 + sum(vshape))
    a = rng.standard_normal(ashape)
    v = rng.standard_normal(vshape)
    dominated = (all(m >= n for m, n in zip(ashape, vshape))
                 or all(m <= n for m, n in zip(ashape, vshape)))
    if mode == "valid" and not dominated:
        with pytest.raises(ValueError):
            signal.correlate2d(a, v, mode)
        return
    for fref, fsp in [(ref.correlate_ref, signal.correlate2d),
                      (ref.convolve_ref, signal.convolve2d)]:
        np.testing.assert_allclose(fref(a, v, mode), fsp(a, v, mode, boundary="fill"),
                                   rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- conv2d
def conv2d_loops(x, w, b, stride, pad, dilation):
    """The definition, as literal nested loops (tiny shapes only)."""
    sh, sw = stride
    dh, dw = dilation
    (pt, pb), (pl, pr) = pad
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P = (H + pt + pb - dh * (R - 1) - 1) // sh + 1
    Q = (W + pl + pr - dw * (S - 1) - 1) // sw + 1
    y = np.zeros((N, K, P, Q))
    for n, k, p, q in itertools.product(range(N), range(K), range(P), range(Q)):
        acc = 0.0 if b is None else b[k]
        for c, r, s in itertools.product(range(C), range(R), range(S)):
            h = p * sh + r * dh - pt
            ww = q * sw + s * dw - pl
            if 0 <= h < H and 0 <= ww < W:
                acc += w[k, c, r, s] * x[n, c, h, ww]
        y[n, k, p, q] = acc
    return y


@pytest.mark.parametrize("seed", range(8))
def test_conv2d_ref_matches_loops(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 5, 6))
    R, S = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    w = rng.standard_normal((3, 2, R, S))
    b = rng.standard_normal(3)
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pad = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
           (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
    np.testing.assert_allclose(ref.conv2d_ref(x, w, b, stride, pad, dilation),
                               conv2d_loops(x, w, b, stride, pad, dilation), rtol=1e-12,
                               atol=1e-12)


def test_conv2d_ref_matches_scipy_for_unit_stride():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    y = ref.conv2d_ref(x, w, None, (1, 1), ((1, 1), (0, 0)), (1, 1))
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    expect = np.array([[sum(signal.correlate2d(xpad[n, c], w[k, c], "valid") for c in range(3))
                        for k in range(4)] for n in range(2)])
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_backward_ref_is_adjoint_of_forward(seed):
    """conv is linear in x and in w, so <gy, conv(x, w)> = <gx, x> = <gw, w>."""
    cfg = random_conv_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    w = rng.standard_normal((cfg["K"], cfg["C"], cfg["R"], cfg["S"]))
    st, pad, dil = ref.pair(cfg["stride"]), cfg["pad"], ref.pair(cfg["dilation"])
    y = ref.conv2d_ref(x, w, None, st, pad, dil)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = ref.conv2d_backward_ref(gy, x, w, st, pad, dil)
    L = np.sum(gy * y)
    np.testing.assert_allclose(np.sum(gx * x), L, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.sum(gw * w), L, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)))
    # and the literal loops agree with the slice-based forward
    np.testing.assert_allclose(conv2d_loops(x, w, None, st, pad, dil), y, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("H,R,s,d,expected", [
    (5, 3, 1, 1, (1, 1)), (5, 4, 1, 1, (1, 2)), (5, 3, 2, 1, (1, 1)),
    (6, 3, 2, 1, (0, 1)), (7, 1, 3, 1, (0, 0)), (4, 3, 2, 2, (1, 2)),
    (2, 5, 1, 1, (2, 2)), (10, 2, 4, 1, (0, 0)), (3, 3, 5, 1, (0, 0)),
])
def test_same_padding_table(H, R, s, d, expected):
    assert ref.same_padding(H, R, s, d) == expected
    t, b = expected
    assert ref.conv_out_size(H, R, s, t, b, d) == -(-H // s)


# ---------------------------------------------------------------- pooling
def test_pool_out_size_examples():
    # PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 6 -> 3 ; floor -> 2
    assert ref.pool_out_size(6, 3, 2, 0, False) == 2
    assert ref.pool_out_size(6, 3, 2, 0, True) == 3
    # the last window would start in the right padding -> dropped
    assert ref.pool_out_size(5, 2, 2, 1, True) == 3
    assert ref.pool_out_size(4, 2, 2, 1, True) == 3
    assert ref.pool_out_size(1, 1, 3, 0, True) == 1


@pytest.mark.parametrize("seed", range(10))
def test_max_pool_ref_values_match_sliding_window(seed):
    cfg = random_pool_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    k, st, p, ceil = cfg["kernel_size"], cfg["stride"], cfg["padding"], cfg["ceil_mode"]
    y, idx = ref.max_pool2d_ref(x, k, st, p, ceil)
    kh, kw = ref.pair(k)
    sh, sw = ref.pair(k if st is None else st)
    ph, pw = ref.pair(p)
    P, Q = y.shape[2:]
    # pad with -inf generously on the bottom/right so ceil-mode windows fit
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + kh + sh), (pw, pw + kw + sw)),
                constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    expect = win[:, :, ::sh, ::sw][:, :, :P, :Q].max(axis=(-1, -2))
    np.testing.assert_array_equal(y, expect)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, idx.reshape(*idx.shape[:2], -1), -1).reshape(y.shape), y)


def test_max_pool_ref_ties_and_nan():
    x = np.array([[[[1.0, 2.0, 2.0],
                    [2.0, np.nan, np.nan],
                    [0.0, 2.0, 1.0]]]])
    y, idx = ref.max_pool2d_ref(x, 2, 1, 0, False)
    np.testing.assert_array_equal(y, [[[[np.nan, np.nan], [np.nan, np.nan]]]])
    np.testing.assert_array_equal(idx, [[[[4, 4], [4, 4]]]])
    x2 = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [0.0, 2.0, 1.0]]]])
    y, idx = ref.max_pool2d_ref(x2, 2, 1, 0, False)
    np.testing.assert_array_equal(y, [[[[2.0, 2.0], [2.0, 2.0]]]])
    np.testing.assert_array_equal(idx, [[[[1, 1], [3, 5]]]])


@pytest.mark.parametrize("seed", range(10))
def test_pool_backward_refs_are_adjoint(seed):
    cfg = random_pool_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    args = (cfg["kernel_size"], cfg["stride"], cfg["padding"], cfg["ceil_mode"])
    y = ref.avg_pool2d_ref(x, *args, cfg["count_include_pad"])
    gy = rng.standard_normal(y.shape)
    gx = ref.avg_pool2d_backward_ref(gy, x, *args, cfg["count_include_pad"])
    np.testing.assert_allclose(np.sum(gx * x), np.sum(gy * y), rtol=1e-10, atol=1e-10)
    ym, _ = ref.max_pool2d_ref(x, *args)
    gxm = ref.max_pool2d_backward_ref(gy, x, *args)
    np.testing.assert_allclose(np.sum(gxm * x), np.sum(gy * ym), rtol=1e-10, atol=1e-10)


def test_avg_pool_ref_divisor_example():
    # H=W=3, k=2, s=2, p=1 -> windows [-1,1),[1,3) : sizes 2 each (incl. pad)
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = ref.avg_pool2d_ref(x, 2, 2, 1, False, True)
    np.testing.assert_allclose(y[0, 0], [[0 / 4, (1 + 2) / 4], [(3 + 6) / 4, (4 + 5 + 7 + 8) / 4]])
    y = ref.avg_pool2d_ref(x, 2, 2, 1, False, False)
    np.testing.assert_allclose(y[0, 0], [[0 / 1, (1 + 2) / 2], [(3 + 6) / 2, (4 + 5 + 7 + 8) / 4]])
    # ceil mode: H=4, k=3, s=2, p=0 -> 2 windows, the second is [2,5) clipped
    # to H+p=4, so pool_size uses the clipped-to-(H+p) extent: 2 rows.
    x = np.ones((1, 1, 4, 4))
    y = ref.avg_pool2d_ref(x, 3, 2, 0, True, True)
    np.testing.assert_allclose(y[0, 0], np.ones((2, 2)))


# ---------------------------------------------------------------- non-finite
def _with_nonfinite(x, rng):
    x = x.copy()
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=min(3, flat.size), replace=False)
    for p, val in zip(picks, [np.nan, np.inf, -np.inf]):
        flat[p] = val
    return x


@pytest.mark.parametrize("M,N", [(6, 3), (3, 6), (5, 5), (7, 2), (1, 4)])
@pytest.mark.parametrize("where", ["a", "v"])
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_1d_refs_match_numpy_nonfinite(M, N, where, mode):
    """numpy only multiplies overlapping elements: NaN in v stays local."""
    rng = np.random.default_rng(M + 10 * N)
    a = rng.standard_normal(M)
    v = rng.standard_normal(N)
    if where == "a":
        a = _with_nonfinite(a, rng)
    else:
        v = _with_nonfinite(v, rng)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(ref.correlate_ref(a, v, mode), np.correlate(a, v, mode),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref.convolve_ref(a, v, mode), np.convolve(a, v, mode),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ashape,vshape", [((5, 6), (2, 3)), ((3, 3), (4, 5)), ((4, 4), (4, 4))])
@pytest.mark.parametrize("where", ["a", "v"])
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_2d_refs_match_scipy_nonfinite(ashape, vshape, where, mode):
    """scipy's boundary='fill' multiplies the zero fill: NaN in v reaches everything."""
    rng = np.random.default_rng(sum(ashape) + 3 * sum(vshape))
    a = rng.standard_normal(ashape)
    v = rng.standard_normal(vshape)
    if where == "a":
        a = _with_nonfinite(a, rng)
    else:
        v = _with_nonfinite(v, rng)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(ref.correlate_ref(a, v, mode),
                                   signal.correlate2d(a, v, mode, boundary="fill"),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref.convolve_ref(a, v, mode),
                                   signal.convolve2d(a, v, mode, boundary="fill"),
                                   rtol=1e-12, atol=1e-12)
