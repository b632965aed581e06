"""The 2x2 / stride-2 pooling kernels on each of their paths (csrc/kernels/pool.c):
the wide vectors (Q >= 8 floats / 4 doubles), the half vectors (Q >= 4 / 2),
the scalar loops, and the general per-window loops, selected process-wide
through ccnn._pool.pool_path.  Every path must give the same bits as the
general loops, and the max pool must match the NumPy reference, over many
seeded shapes (odd H and W, Q around each vector width), both dtypes, ties,
signed zeros, NaN and infinities.
"""

import numpy as np
import pytest

import ccnn.functional as F
import reference as ref
from ccnn import _pool
from _testutils import DTYPES

FASTEST, SCALAR, GENERAL = 0, 1, 2


@pytest.fixture
def restore_path():
    old = _pool.pool_path()
    yield
    _pool.pool_path(old)


def make(rng, n, c, H, W, dtype, kind):
    shape = (n, c, H, W)
    if kind == "ties":
        x = rng.integers(-1, 2, size=shape).astype(dtype)
        x[rng.random(shape) < 0.3] = -0.0        # 0.0 and -0.0 tie
    elif kind == "nan":
        x = rng.standard_normal(shape).astype(dtype)
        m = rng.random(shape)
        x[m < 0.1] = np.nan
        x[(m >= 0.1) & (m < 0.15)] = np.inf
        x[(m >= 0.15) & (m < 0.25)] = -np.inf
    else:
        x = rng.standard_normal(shape).astype(dtype)
    # no -0.0 in the gradient: the general backward adds it to a zeroed plane
    # (giving +0.0) where the 2x2 paths copy it; neither has ever promised a sign
    gy = rng.standard_normal((n, c, H // 2, W // 2)).astype(dtype)
    return x, gy


def run_all(x, gy):
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    return [y, idx, F.max_pool2d(x, 2), F.max_pool2d_backward(gy, x, 2, indices=idx),
            F.max_pool2d_backward(gy, x, 2), F.avg_pool2d(x, 2), F.avg_pool2d_backward(gy, x, 2)]


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({4: np.uint32, 8: np.uint64}[a.dtype.itemsize]) if a.dtype.kind == "f" else a


def cases():
    rng = np.random.default_rng(1418)
    out = []
    for i in range(40):
        H = int(rng.integers(2, 21))
        W = int(rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 28, 29, 33]))
        out.append((i, int(rng.integers(1, 3)), int(rng.integers(1, 4)), H, W))
    return out


def test_pool_path_switch(restore_path):
    _pool.pool_path(GENERAL)
    assert _pool.pool_path() == GENERAL
    assert _pool.pool_path(SCALAR) == GENERAL
    assert _pool.pool_path(7) == SCALAR          # out of range: only reads
    assert _pool.pool_path() == SCALAR


@pytest.mark.parametrize("kind", ["normal", "ties", "nan"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases(), ids=lambda c: "s%d-%dx%dx%dx%d" % c)
def test_fast_paths_bit_identical_to_general(restore_path, case, dtype, kind):
    seed, n, c, H, W = case
    x, gy = make(np.random.default_rng(seed), n, c, H, W, dtype, kind)
    x0 = x.copy()
    got = {}
    for path in (GENERAL, SCALAR, FASTEST):
        _pool.pool_path(path)
        got[path] = run_all(x, gy)
    np.testing.assert_array_equal(bits(x), bits(x0))
    names = ["y", "idx", "y_noidx", "gx_idx", "gx_recompute", "avg_y", "avg_gx"]
    for path in (SCALAR, FASTEST):
        for name, a, b, s in zip(names, got[path], got[GENERAL], got[SCALAR]):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_array_equal(bits(a), bits(b), err_msg=f"path {path}: {name}")
    y, idx = got[FASTEST][:2]
    ey, eidx = ref.max_pool2d_ref(x, 2)
    np.testing.assert_array_equal(y, ey.astype(dtype))
    np.testing.assert_array_equal(idx, eidx)
    np.testing.assert_array_equal(got[FASTEST][3], ref.max_pool2d_backward_ref(gy, x, 2).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_paths_bad_indices_fall_back(restore_path, dtype):
    # an index in another window (the 2x2 paths give up and scatter) and one out
    # of range (ValueError), on every path
    rng = np.random.default_rng(7)
    x, gy = make(rng, 2, 3, 14, 14, dtype, "normal")
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    moved = idx.copy()
    moved[1, 2, 3, 4] = 0
    moved[0, 0, 6, 6] = idx[0, 0, 0, 0]
    res = []
    for path in (GENERAL, SCALAR, FASTEST):
        _pool.pool_path(path)
        res.append(F.max_pool2d_backward(gy, x, 2, indices=moved))
        bad = moved.copy()
        bad[1, 1, 5, 5] = 14 * 14
        with pytest.raises(ValueError):
            F.max_pool2d_backward(gy, x, 2, indices=bad)
    expect = np.zeros_like(x)
    for n, c, p, q in np.ndindex(*moved.shape):
        expect[n, c].reshape(-1)[moved[n, c, p, q]] += gy[n, c, p, q]
    for r in res:
        np.testing.assert_array_equal(r, expect)
