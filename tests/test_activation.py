"""relu / relu_backward / dropout / dropout_backward."""

import numpy as np
import pytest

import ccnn.functional as F
import reference as ref
from _testutils import DTYPES, LAYOUTS, layout_variant, unchanged

SHAPES = [(), (1,), (7,), (0,), (3, 0), (2, 3), (4, 1, 5), (2, 3, 4, 5), (1, 2, 1, 3, 2),
          (3, 17), (1000,), (2, 3, 31, 33)]


def _rand(shape, dtype, seed):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# ================================================================== relu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_random(shape, dtype):
    x = _rand(shape, dtype, len(shape))
    if x.size:
        x.reshape(-1)[0] = 0.0  # exactly zero
    check = unchanged(x)
    y = F.relu(x)
    check()
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, ref.relu_ref(x))
    assert not np.shares_memory(y, x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu_backward_random(shape, dtype):
    x = _rand(shape, dtype, len(shape))
    g = _rand(shape, dtype, len(shape) + 100)
    if x.size:
        x.reshape(-1)[0] = 0.0  # derivative at 0 is taken as 0
    check = unchanged(x, g)
    gx = F.relu_backward(g, x)
    check()
    assert isinstance(gx, np.ndarray) and gx.dtype == dtype and gx.shape == x.shape
    np.testing.assert_array_equal(gx, ref.relu_backward_ref(g, x))
    assert not np.shares_memory(gx, x) and not np.shares_memory(gx, g)


def test_relu_values():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.5, -np.inf, np.inf])
    np.testing.assert_array_equal(F.relu(x), [0, 0, 0, 1e-300, 3.5, 0, np.inf])
    np.testing.assert_array_equal(F.relu_backward(np.full(7, 2.0), x), [0, 0, 0, 2, 2, 0, 2])


def test_relu_nan_propagates():
    x = np.array([np.nan, -1.0, 1.0], dtype=np.float32)
    y = F.relu(x)
    np.testing.assert_array_equal(y, ref.relu_ref(x))  # [nan, 0, 1]
    # relu_backward: x = NaN is not > 0, so its gradient is 0
    np.testing.assert_array_equal(F.relu_backward(np.ones(3, np.float32), x), [0, 0, 1])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_relu_noncontiguous(layout):
    x = _rand((3, 4, 5), np.float64, 1)
    g = _rand((3, 4, 5), np.float64, 2)
    xv, gv = layout_variant(x, layout), layout_variant(g, layout)
    y = F.relu(xv)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, ref.relu_ref(x))
    np.testing.assert_array_equal(F.relu_backward(gv, xv), ref.relu_backward_ref(g, x))


def test_relu_dtype_rules():
    xi = np.array([[-3, 0, 4]], dtype=np.int64)
    y = F.relu(xi)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[0, 0, 4]])
    yb = F.relu(np.array([True, False]))
    assert yb.dtype == np.float64
    np.testing.assert_array_equal(yb, [1, 0])
    yl = F.relu([-1, 2])
    assert yl.dtype == np.float64
    np.testing.assert_array_equal(yl, [0, 2])
    f32 = np.ones(3, np.float32)
    f64 = np.ones(3, np.float64)
    assert F.relu_backward(f32, f32).dtype == np.float32
    assert F.relu_backward(f32, f64).dtype == np.float64
    assert F.relu_backward(f64, f32).dtype == np.float64
    assert F.relu_backward(np.ones(3, np.int32), np.ones(3, np.int32)).dtype == np.float64


# ================================================================== dropout
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 5), (3, 1, 9)], ids=str)
def test_dropout_forward(shape, rate, dtype):
    x = _rand(shape, dtype, 3)
    check = unchanged(x)
    y, mask = F.dropout(x, rate, seed=123)
    check()
    assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == x.shape
    assert y.dtype == dtype and y.shape == x.shape
    expected = ref.dropout_ref(x, mask, rate)
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y, expected, rtol=rtol, atol=0)
    np.testing.assert_array_equal(y[~mask], 0)
    if rate == 0.0:
        assert mask.all()
        np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0)], ids=str)
def test_dropout_degenerate_shapes(shape):
    x = np.ones(shape)
    y, mask = F.dropout(x, 0.5, seed=1)
    assert isinstance(y, np.ndarray) and y.shape == shape and y.dtype == np.float64
    assert isinstance(mask, np.ndarray), f"mask is {type(mask).__name__}, not an ndarray"
    assert mask.shape == shape and mask.dtype == np.bool_
    np.testing.assert_array_equal(y, ref.dropout_ref(x, mask, 0.5))
    g = F.dropout_backward(x, mask, 0.5)
    assert isinstance(g, np.ndarray) and g.shape == shape


def test_dropout_seed_reproducible():
    x = _rand((4, 5, 6), np.float64, 0)
    y1, m1 = F.dropout(x, 0.4, seed=7)
    y2, m2 = F.dropout(x, 0.4, seed=7)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(y1, y2)
    _, m3 = F.dropout(x, 0.4, seed=8)
    assert not np.array_equal(m1, m3)


def test_dropout_generator_seed():
    x = _rand((50, 40), np.float64, 0)
    _, m1 = F.dropout(x, 0.3, seed=np.random.default_rng(5))
    _, m2 = F.dropout(x, 0.3, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(m1, m2)
    g = np.random.default_rng(5)
    _, a = F.dropout(x, 0.3, seed=g)
    _, b = F.dropout(x, 0.3, seed=g)  # generator state advanced -> new mask
    assert not np.array_equal(a, b)


def test_dropout_seed_none():
    x = _rand((100, 100), np.float64, 0)
    y, m = F.dropout(x, 0.5)
    np.testing.assert_allclose(y, ref.dropout_ref(x, m, 0.5), rtol=1e-15)
    _, m2 = F.dropout(x, 0.5, seed=None)
    assert not np.array_equal(m, m2)  # 2**-10000 chance of a false failure


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_keep_fraction(rate):
    n = 200_000
    _, m = F.dropout(np.ones(n), rate, seed=99)
    keep = 1 - rate
    sigma = np.sqrt(keep * (1 - keep) / n)
    assert abs(m.mean() - keep) < 6 * sigma
    # no obvious structure: both halves and interleaved positions look alike
    for part in (m[: n // 2], m[n // 2:], m[::2], m[1::2], m[::7]):
        assert abs(part.mean() - keep) < 6 * np.sqrt(keep * (1 - keep) / part.size)


def test_dropout_not_training():
    x = _rand((3, 4), np.float32, 0)
    out = F.dropout(x, 0.5, training=False)
    assert isinstance(out, tuple) and len(out) == 2
    y, mask = out
    assert mask is None
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_backward(dtype):
    x = _rand((5, 6), dtype, 1)
    g = _rand((5, 6), dtype, 2)
    rate = 0.25
    _, mask = F.dropout(x, rate, seed=3)
    check = unchanged(g, mask)
    gx = F.dropout_backward(g, mask, rate)
    check()
    assert gx.dtype == dtype and gx.shape == g.shape
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(gx, ref.dropout_ref(g, mask, rate), rtol=rtol, atol=0)
    g_none = F.dropout_backward(g, None, rate)
    np.testing.assert_array_equal(g_none, g)
    assert g_none.dtype == dtype
    assert not np.shares_memory(g_none, g) and not np.shares_memory(gx, g)


def test_dropout_backward_noncontiguous():
    x = _rand((6, 8), np.float64, 1)
    g = _rand((6, 8), np.float64, 2)
    _, mask = F.dropout(x, 0.5, seed=1)
    expected = ref.dropout_ref(g, mask, 0.5)
    for layout in LAYOUTS:
        gx = F.dropout_backward(layout_variant(g, layout), layout_variant(mask, layout), 0.5)
        np.testing.assert_allclose(gx, expected, rtol=1e-15, err_msg=layout)
        y, m = F.dropout(layout_variant(x, layout), 0.5, seed=1)
        np.testing.assert_array_equal(m, mask, err_msg=layout)


def test_dropout_nan_inf():
    x = np.array([np.nan, np.inf, -np.inf, 1.0] * 25)
    y, m = F.dropout(x, 0.5, seed=0)
    assert 0 < m.sum() < m.size
    # kept entries: x / (1 - rate), so NaN and +-inf survive
    np.testing.assert_array_equal(y[m], x[m] / 0.5)
    # dropped entries: x * 0 / (1 - rate) -- NaN for non-finite x under IEEE
    # arithmetic, 0 if the kernel selects instead of multiplying; both accepted
    dropped = y[~m]
    assert np.all((dropped == 0) | np.isnan(dropped))
    np.testing.assert_array_equal(dropped[np.isfinite(x[~m])], 0)


def test_non_native_byte_order_keeps_float32():
    """A big-endian float32 array is still float32 data: the dtype rule gives float32."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 4, 4)).astype(">f4")
    w = rng.standard_normal((3, 2, 2, 2)).astype(">f4")
    y = F.relu(x)
    np.testing.assert_array_equal(y, ref.relu_ref(x))
    results = {
        "relu": y,
        "conv2d": F.conv2d(x, w),
        "max_pool2d": F.max_pool2d(x, 2),
        "avg_pool2d": F.avg_pool2d(x, 2),
        "correlate": F.correlate(x[0, 0], w[0, 0]),
    }
    bad = {k: str(v.dtype) for k, v in results.items() if v.dtype != np.float32}
    assert not bad, f"non-native float32 inputs gave {bad}"
    # big-endian float64 is float64
    assert F.relu(x.astype(">f8")).dtype == np.float64


def test_float16_and_longdouble_become_float64():
    x = np.array([-1.5, 0.0, 2.5])
    for dt in (np.float16, np.longdouble):
        y = F.relu(x.astype(dt))
        assert y.dtype == np.float64
        np.testing.assert_array_equal(y, [0.0, 0.0, 2.5])
