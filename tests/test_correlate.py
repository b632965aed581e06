"""correlate / convolve: 1-D like numpy, 2-D like scipy.signal.*2d (boundary fill 0)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal

import ccnn.functional as F
import reference as ref
from _testutils import DTYPES, LAYOUTS, abs_scale, assert_close, layout_variant, unchanged

MODES = ["full", "valid", "same"]


def test_textbook_example():
    x = [1, 3, 2, 2, 0, 2, 3]
    w = [-1, 0, 1]
    c = F.correlate(x, w, "valid")
    v = F.convolve(x, w, "valid")
    assert c.dtype == np.float64 and v.dtype == np.float64
    np.testing.assert_array_equal(c, [1, -1, -2, 0, 3])
    np.testing.assert_array_equal(v, [-1, 1, 2, 0, -3])


def test_default_modes():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    v = np.array([1.0, -1.0])
    np.testing.assert_allclose(F.correlate(a, v), np.correlate(a, v, "valid"))  # default valid
    np.testing.assert_allclose(F.convolve(a, v), np.convolve(a, v, "full"))     # default full


def check(fn, fref, a, v, mode, dtype):
    got = fn(a, v, mode)
    assert_close(got, fref(a, v, mode), dtype, abs_scale(fref, a, v, mode=mode),
                 err_msg=f"{fn.__name__} {np.shape(a)} {np.shape(v)} {mode}")
    return got


# ------------------------------------------------------------------ 1-D
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(40))
def test_1d_random(seed, mode, dtype):
    rng = np.random.default_rng(seed)
    M = int(rng.integers(1, 40))
    N = int(rng.integers(1, 12)) if seed % 4 else int(rng.integers(M, M + 10))  # N > M too
    a = rng.standard_normal(M).astype(dtype)
    v = rng.standard_normal(N).astype(dtype)
    c = check(F.correlate, ref.correlate_ref, a, v, mode, dtype)
    k = check(F.convolve, ref.convolve_ref, a, v, mode, dtype)
    # and directly against numpy
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(c, np.correlate(a.astype(float), v.astype(float), mode), **tol)
    np.testing.assert_allclose(k, np.convolve(a.astype(float), v.astype(float), mode), **tol)


@pytest.mark.parametrize("M,N", [(1, 1), (1, 5), (5, 1), (2, 2), (3, 4), (4, 3), (6, 6), (2, 7),
                                 (7, 2), (4, 5), (5, 4)])
@pytest.mark.parametrize("mode", MODES)
def test_1d_small_sizes(M, N, mode):
    rng = np.random.default_rng(M * 10 + N)
    a = rng.standard_normal(M)
    v = rng.standard_normal(N)
    np.testing.assert_allclose(F.correlate(a, v, mode), np.correlate(a, v, mode),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.convolve(a, v, mode), np.convolve(a, v, mode),
                               rtol=1e-12, atol=1e-12)


_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(a=hnp.arrays(np.float64, st.integers(1, 30), elements=_finite),
       v=hnp.arrays(np.float64, st.integers(1, 30), elements=_finite),
       mode=st.sampled_from(MODES))
def test_1d_property_matches_numpy(a, v, mode):
    scale = float(np.abs(np.convolve(np.abs(a), np.abs(v))).max()) + 1.0
    np.testing.assert_allclose(F.correlate(a, v, mode), np.correlate(a, v, mode),
                               rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(F.convolve(a, v, mode), np.convolve(a, v, mode),
                               rtol=1e-10, atol=1e-12 * scale)


# ------------------------------------------------------------------ 2-D
def _dominates(ashape, vshape):
    return (all(m >= n for m, n in zip(ashape, vshape))
            or all(m <= n for m, n in zip(ashape, vshape)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(40))
def test_2d_random(seed, mode, dtype):
    rng = np.random.default_rng(500 + seed)
    ashape = tuple(int(s) for s in rng.integers(1, 13, size=2))
    if seed % 5 == 0:   # kernel larger than the image in both dimensions
        vshape = tuple(m + int(rng.integers(0, 4)) for m in ashape)
    else:
        vshape = tuple(int(s) for s in rng.integers(1, 7, size=2))
    if mode == "valid" and not _dominates(ashape, vshape):
        vshape = tuple(min(m, n) for m, n in zip(ashape, vshape))
    a = rng.standard_normal(ashape).astype(dtype)
    v = rng.standard_normal(vshape).astype(dtype)
    c = check(F.correlate, ref.correlate_ref, a, v, mode, dtype)
    k = check(F.convolve, ref.convolve_ref, a, v, mode, dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    af, vf = a.astype(float), v.astype(float)
    np.testing.assert_allclose(c, signal.correlate2d(af, vf, mode, boundary="fill"), **tol)
    np.testing.assert_allclose(k, signal.convolve2d(af, vf, mode, boundary="fill"), **tol)


@pytest.mark.parametrize("ashape,vshape", [((1, 1), (1, 1)), ((1, 6), (1, 3)), ((6, 1), (2, 1)),
                                           ((4, 4), (4, 4)), ((2, 2), (4, 4)), ((3, 5), (4, 2)),
                                           ((4, 7), (5, 6)), ((5, 6), (2, 3))])
@pytest.mark.parametrize("mode", ["full", "same"])
def test_2d_shapes_full_same(ashape, vshape, mode):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(ashape)
    v = rng.standard_normal(vshape)
    np.testing.assert_allclose(F.correlate(a, v, mode), signal.correlate2d(a, v, mode),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.convolve(a, v, mode), signal.convolve2d(a, v, mode),
                               rtol=1e-12, atol=1e-12)


def test_2d_valid_needs_one_input_to_dominate():
    """Like scipy: in 'valid' mode one input must be >= the other in every axis."""
    a = np.ones((4, 7))
    v = np.ones((5, 6))
    with pytest.raises(ValueError):
        signal.correlate2d(a, v, "valid")
    with pytest.raises(ValueError):
        F.correlate(a, v, "valid")
    with pytest.raises(ValueError):
        F.convolve(a, v, "valid")


# ------------------------------------------------------------------ misc
def test_dtype_rules():
    a32 = np.arange(6, dtype=np.float32)
    v32 = np.array([1, 2], dtype=np.float32)
    assert F.correlate(a32, v32).dtype == np.float32
    assert F.convolve(a32, v32).dtype == np.float32
    assert F.correlate(a32, v32.astype(np.float64)).dtype == np.float64
    assert F.convolve(a32.astype(np.float64), v32).dtype == np.float64
    assert F.correlate(np.arange(6), np.array([1, 2])).dtype == np.float64
    assert F.convolve(np.arange(6) > 2, np.array([True, False])).dtype == np.float64
    np.testing.assert_array_equal(F.convolve(np.arange(6) > 2, np.array([True, False])),
                                  np.convolve((np.arange(6) > 2).astype(float), [1.0, 0.0]))
    a2 = np.ones((3, 3), np.float32)
    assert F.correlate(a2, a2, "same").dtype == np.float32
    assert F.convolve(a2, a2.astype(np.int64), "full").dtype == np.float64


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("ndim", [1, 2])
def test_noncontiguous_and_readonly(ndim, layout):
    rng = np.random.default_rng(ndim)
    a = rng.standard_normal((9,) if ndim == 1 else (7, 8))
    v = rng.standard_normal((4,) if ndim == 1 else (3, 2))
    av, vv = layout_variant(a, layout), layout_variant(v, layout)
    check_unchanged = unchanged(av, vv)
    for mode in MODES:
        for fn, fref in ((F.correlate, ref.correlate_ref), (F.convolve, ref.convolve_ref)):
            assert_close(fn(av, vv, mode), fref(a, v, mode), np.float64)
    check_unchanged()


def test_inputs_not_modified_and_no_alias():
    a = np.array([1.0, -2.0, 3.0])
    v = np.array([1.0])
    check_unchanged = unchanged(a, v)
    for fn in (F.correlate, F.convolve):
        for mode in MODES:
            out = fn(a, v, mode)
            np.testing.assert_array_equal(out, a)  # correlating with [1] is the identity
            assert not np.shares_memory(out, a) and not np.shares_memory(out, v)
    a2 = np.arange(6.0).reshape(2, 3)
    out = F.correlate(a2, np.ones((1, 1)), "same")
    np.testing.assert_array_equal(out, a2)
    assert not np.shares_memory(out, a2)
    check_unchanged()


def _with_nonfinite(x, rng):
    x = x.copy()
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=min(3, flat.size), replace=False)
    for p, val in zip(picks, [np.nan, np.inf, -np.inf]):
        flat[p] = val
    return x


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["a", "v"])
@pytest.mark.parametrize("shapes", [((20,), (4,)), ((4,), (9,)), ((6,), (6,)),
                                    ((8, 8), (3, 3)), ((6, 7), (2, 5)), ((3, 3), (4, 5))],
                         ids=str)
def test_nan_inf_propagate(shapes, where, mode):
    """NaN/inf spread exactly like numpy (1-D) / scipy boundary='fill' (2-D)."""
    ashape, vshape = shapes
    rng = np.random.default_rng(sum(ashape) * 31 + sum(vshape))
    a = rng.standard_normal(ashape)
    v = rng.standard_normal(vshape)
    if where == "a":
        a = _with_nonfinite(a, rng)
    else:
        v = _with_nonfinite(v, rng)
    af, vf = np.where(np.isfinite(a), a, 0), np.where(np.isfinite(v), v, 0)
    for fn, fref, lib in ((F.correlate, ref.correlate_ref,
                           np.correlate if len(ashape) == 1 else signal.correlate2d),
                          (F.convolve, ref.convolve_ref,
                           np.convolve if len(ashape) == 1 else signal.convolve2d)):
        with np.errstate(invalid="ignore"):
            e = fref(a, v, mode)
            np.testing.assert_allclose(e, lib(a, v, mode), rtol=1e-12, atol=1e-12)  # ref ok
        assert_close(fn(a, v, mode), e, np.float64, abs_scale(fref, af, vf, mode=mode),
                     err_msg=f"{fn.__name__} mode={mode} a={a} v={v}")
