"""The 2x2 / stride-2 fast path of max_pool2d / avg_pool2d (csrc/kernels/pool.c)
against the NumPy reference, and its untrusted-indices handling.

The fast path processes one output row as vectors of 8 floats / 4 doubles
(a last vector overlapping the one before when Q is not a multiple), as
half vectors of 4 / 2 when Q is smaller than that, and scalar loops when Q
is smaller still; odd H and W leave a last row / column outside every
window.  These sizes cover all of those cases (tests/test_pool_paths.py
runs each path on its own).
"""

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
import reference as ref
from _testutils import DTYPES, assert_close, names

# (H, W): Q = W // 2 below, at and above the vector widths 4 and 8, odd sizes,
# Q not a multiple of the width (overlapping last vector)
SIZES = [(2, 2), (3, 3), (4, 6), (5, 7), (6, 8), (7, 9), (8, 16), (9, 17), (10, 18),
         (6, 26), (5, 27), (28, 28), (14, 34), (3, 65)]


def make(H, W, dtype, kind, seed=0):
    rng = np.random.default_rng(seed)
    shape = (2, 3, H, W)
    if kind == "ties":
        x = rng.integers(-1, 2, size=shape).astype(dtype)     # many ties per window
    elif kind == "nan":
        x = rng.standard_normal(shape).astype(dtype)
        m = rng.random(shape)
        x[m < 0.15] = np.nan
        x[(m >= 0.15) & (m < 0.2)] = np.inf
        x[(m >= 0.2) & (m < 0.25)] = -np.inf
    else:
        x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal((2, 3, H // 2, W // 2)).astype(dtype)
    return x, gy


@pytest.fixture
def restore_threads():
    old = ccnn.get_num_threads()
    yield
    ccnn.set_num_threads(old)


def run_all(x, gy):
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    return [y, idx, F.max_pool2d(x, 2), F.max_pool2d_backward(gy, x, 2, indices=idx),
            F.max_pool2d_backward(gy, x, 2), F.avg_pool2d(x, 2), F.avg_pool2d_backward(gy, x, 2)]


@pytest.mark.parametrize("kind", ["normal", "ties", "nan"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw", SIZES, ids=str)
def test_fast_path_matches_reference(hw, dtype, kind):
    x, gy = make(*hw, dtype, kind)
    y, idx, y2, gx_idx, gx, ya, gxa = run_all(x, gy)
    ey, eidx = ref.max_pool2d_ref(x, 2)
    np.testing.assert_array_equal(y, ey.astype(dtype))
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(idx, eidx)
    egx = ref.max_pool2d_backward_ref(gy, x, 2)
    # the gradient only moves values: exact
    np.testing.assert_array_equal(gx_idx, egx.astype(dtype))
    np.testing.assert_array_equal(gx, gx_idx)
    assert gx.dtype == gx_idx.dtype == dtype
    assert_close(ya, ref.avg_pool2d_ref(x, 2), dtype)
    np.testing.assert_array_equal(gxa, ref.avg_pool2d_backward_ref(gy, x, 2).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_one_vs_two_threads_bit_identical(restore_threads, dtype):
    # enough planes and elements that two threads really split the work
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(16, 24, 30, 31)).astype(dtype)
    x[rng.random(x.shape) < 0.01] = np.nan
    gy = rng.standard_normal((16, 24, 15, 15)).astype(dtype)
    ccnn.set_num_threads(1)
    one = run_all(x, gy)
    ccnn.set_num_threads(2)
    two = run_all(x, gy)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw", [(4, 6), (28, 28), (9, 17)], ids=str)
def test_indices_outside_their_window_are_scattered(hw, dtype):
    """User indices may point anywhere in the plane: the kernel leaves the
    write-once path for that plane and scatter-adds like PyTorch."""
    x, gy = make(*hw, dtype, "normal", seed=3)
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    idx = idx.copy()
    H, W = hw
    idx[0, 1, 0, 0] = H * W - 1                  # another window of the same plane
    idx[1, 2, -1, -1] = 0
    idx[1, 0] = 0                                # a whole plane onto one element
    gx = F.max_pool2d_backward(gy, x, 2, indices=idx)
    expected = np.zeros((2, 3, H * W))
    for n in range(2):
        for c in range(3):
            np.add.at(expected[n, c], idx[n, c].ravel(), gy[n, c].astype(np.float64).ravel())
    assert_close(gx, expected.reshape(x.shape), dtype)


@pytest.mark.parametrize("where", [(0, 0, 0, 0), (1, 2, 1, 3), (1, 2, -1, -1)])
@pytest.mark.parametrize("value", [-1, 28 * 28, 2 ** 62, -(2 ** 63)])
def test_out_of_range_index_anywhere_raises(where, value):
    x, gy = make(28, 28, np.float32, "normal")
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    idx = idx.copy()
    idx[where] = value
    with pytest.raises(ValueError, match=names("indices")):
        F.max_pool2d_backward(gy, x, 2, indices=idx)


def test_unsigned_and_narrow_indices():
    x, gy = make(6, 8, np.float64, "normal")
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    expected = F.max_pool2d_backward(gy, x, 2, indices=idx)
    for dt in (np.int32, np.uint32, np.uint64, np.int16):
        np.testing.assert_array_equal(F.max_pool2d_backward(gy, x, 2, indices=idx.astype(dt)),
                                      expected)
    bad = idx.astype(np.uint64)
    bad[0, 0, 0, 0] = 2 ** 64 - 1                 # wraps to -1 as int64: still rejected
    with pytest.raises(ValueError, match=names("indices")):
        F.max_pool2d_backward(gy, x, 2, indices=bad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_general_geometry_checked_and_recomputed(dtype):
    """The general loops (not 2x2 / stride 2) share the checked and recompute entry points."""
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, size=(2, 3, 9, 8)).astype(dtype)
    kw = dict(stride=2, padding=1, ceil_mode=True)
    y, idx = F.max_pool2d(x, 3, return_indices=True, **kw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = ref.max_pool2d_backward_ref(gy, x, 3, 2, 1, True)
    assert_close(F.max_pool2d_backward(gy, x, 3, indices=idx, **kw), expected, dtype)
    assert_close(F.max_pool2d_backward(gy, x, 3, **kw), expected, dtype)
    bad = idx.copy()
    bad[1, 1, 1, 1] = 72
    with pytest.raises(ValueError, match=names("indices")):
        F.max_pool2d_backward(gy, x, 3, indices=bad, **kw)
