"""max_pool2d / avg_pool2d (forward and backward) parity with the NumPy reference."""

import numpy as np
import pytest

import ccnn.functional as F
import reference as ref
from _testutils import (DTYPES, LAYOUTS, abs_scale, assert_close, layout_variant, pool_kwargs,
                        pool_ref_args, random_pool_config, unchanged)

N_CONFIGS = 48


def make_x(cfg, dtype, seed, ties=None):
    rng = np.random.default_rng(seed)
    shape = (cfg["N"], cfg["C"], cfg["H"], cfg["W"])
    if cfg["ties"] if ties is None else ties:
        # few distinct values -> many ties inside windows
        x = rng.integers(-2, 3, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    return x


def make_gy(y_shape, dtype, seed):
    return np.random.default_rng(seed + 1).standard_normal(y_shape).astype(dtype)


def check_max_forward(x, cfg, dtype, y, idx):
    ey, eidx = ref.max_pool2d_ref(x, *pool_ref_args(cfg))
    assert isinstance(y, np.ndarray) and y.dtype == dtype, (type(y), getattr(y, "dtype", None))
    assert y.shape == ey.shape, (y.shape, ey.shape, cfg)
    # max pooling only selects values: results must be exact
    np.testing.assert_array_equal(y, ey, err_msg=str(cfg))
    if idx is not None:
        assert isinstance(idx, np.ndarray) and idx.dtype == np.int64, getattr(idx, "dtype", None)
        assert idx.shape == eidx.shape
        np.testing.assert_array_equal(idx, eidx, err_msg=f"indices {cfg}")


# ================================================================== max pool
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_max_forward_random(seed, dtype):
    cfg = random_pool_config(seed)
    x = make_x(cfg, dtype, seed)
    y, idx = F.max_pool2d(x, cfg["kernel_size"], return_indices=True, **pool_kwargs(cfg))
    check_max_forward(x, cfg, dtype, y, idx)
    y2 = F.max_pool2d(x, cfg["kernel_size"], **pool_kwargs(cfg))
    assert isinstance(y2, np.ndarray)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_max_backward_random(seed, dtype):
    cfg = random_pool_config(seed)
    x = make_x(cfg, dtype, seed)
    y, idx = F.max_pool2d(x, cfg["kernel_size"], return_indices=True, **pool_kwargs(cfg))
    gy = make_gy(y.shape, dtype, seed)
    expected = ref.max_pool2d_backward_ref(gy, x, *pool_ref_args(cfg))
    scale = abs_scale(ref.max_pool2d_backward_ref, gy, x, *pool_ref_args(cfg))
    gx = F.max_pool2d_backward(gy, x, cfg["kernel_size"], **pool_kwargs(cfg))
    assert_close(gx, expected, dtype, scale, err_msg=str(cfg))
    gx_idx = F.max_pool2d_backward(gy, x, cfg["kernel_size"], indices=idx, **pool_kwargs(cfg))
    assert gx_idx.dtype == gx.dtype
    np.testing.assert_array_equal(gx_idx, gx, err_msg="indices= changes the gradient")


MAX_EDGE_CASES = [
    # (H, W, kernel, stride, padding, ceil_mode)
    (1, 1, 1, None, 0, False),
    (1, 1, 1, 3, 0, True),
    (5, 5, 5, None, 0, False),          # one window = whole plane
    (5, 5, 5, None, 2, True),
    (7, 7, 2, 5, 0, False),             # stride > kernel, gaps between windows
    (7, 7, 2, 5, 1, True),
    (6, 6, 3, 2, 0, True),              # ceil adds a partial window
    (5, 5, 2, 2, 1, True),              # ceil window would start in right pad -> dropped
    (4, 4, 2, 2, 1, True),
    (9, 4, (3, 1), (2, 1), (1, 0), True),
    (3, 11, (1, 4), (1, 3), (0, 2), False),
    (12, 12, 3, 1, 1, False),           # heavily overlapping windows
    (8, 8, 4, 3, 2, True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", MAX_EDGE_CASES, ids=[str(i) for i in range(len(MAX_EDGE_CASES))])
def test_max_edge_cases(case, ties, dtype):
    H, W, k, s, p, ceil = case
    cfg = dict(N=2, C=3, H=H, W=W, kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
               ties=ties)
    x = make_x(cfg, dtype, 3)
    y, idx = F.max_pool2d(x, k, return_indices=True, **pool_kwargs(cfg))
    check_max_forward(x, cfg, dtype, y, idx)
    gy = make_gy(y.shape, dtype, 3)
    gx = F.max_pool2d_backward(gy, x, k, **pool_kwargs(cfg))
    assert_close(gx, ref.max_pool2d_backward_ref(gy, x, *pool_ref_args(cfg)), dtype,
                 abs_scale(ref.max_pool2d_backward_ref, gy, x, *pool_ref_args(cfg)))
    gx2 = F.max_pool2d_backward(gy, x, k, indices=idx, **pool_kwargs(cfg))
    np.testing.assert_array_equal(gx2, gx)


def test_max_ties_first_in_row_major_order():
    x = np.array([[[[1.0, 2.0, 2.0],
                    [2.0, 0.0, 2.0],
                    [0.0, 2.0, 1.0]]]])
    y, idx = F.max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(y, [[[[2.0, 2.0], [2.0, 2.0]]]])
    np.testing.assert_array_equal(idx, [[[[1, 1], [3, 5]]]])
    # overlapping windows with the same argmax accumulate
    gx = F.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    np.testing.assert_array_equal(gx, [[[[0, 2, 0], [1, 0, 1], [0, 0, 0]]]])


def test_max_indices_refer_to_unpadded_plane():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    y, idx = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    # windows over rows [-1,2), [1,4) and cols [-1,2), [1,4): maxima at bottom-right
    np.testing.assert_array_equal(y, [[[[5, 7], [9, 11]]]])
    np.testing.assert_array_equal(idx, [[[[5, 7], [9, 11]]]])
    flat = x.reshape(1, 1, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.reshape(1, 1, -1), -1),
                                  y.reshape(1, 1, -1))


def test_max_default_stride_is_kernel():
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 7))
    np.testing.assert_array_equal(F.max_pool2d(x, 3), F.max_pool2d(x, 3, stride=3))
    np.testing.assert_array_equal(F.max_pool2d(x, (2, 3)), F.max_pool2d(x, (2, 3), stride=(2, 3)))
    np.testing.assert_array_equal(F.avg_pool2d(x, 3), F.avg_pool2d(x, 3, stride=3))
    np.testing.assert_array_equal(F.avg_pool2d(x, (3, 2)), F.avg_pool2d(x, (3, 2), stride=(3, 2)))
    gy = np.ones((2, 2, 3, 2))
    np.testing.assert_array_equal(F.max_pool2d_backward(gy, x, 3),
                                  F.max_pool2d_backward(gy, x, 3, stride=3))
    np.testing.assert_array_equal(F.avg_pool2d_backward(gy, x, 3),
                                  F.avg_pool2d_backward(gy, x, 3, stride=3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_nan_and_inf(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 7)).astype(dtype)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 2] = np.nan          # two NaNs in some windows: first one wins
    x[0, 1, 3, 3] = np.inf
    x[1, 0, 5, 6] = -np.inf
    x[1, 1, 0, 0] = np.nan
    x[1, 1, 0, 1] = np.inf          # NaN beats +inf
    kw = dict(stride=2, padding=1, ceil_mode=True)
    y, idx = F.max_pool2d(x, 3, return_indices=True, **kw)
    cfg = dict(kernel_size=3, **kw)
    check_max_forward(x, cfg, dtype, y, idx)
    assert np.isnan(y).sum() >= 3 and np.isposinf(y).any()
    gy = make_gy(y.shape, dtype, 4)
    gx = F.max_pool2d_backward(gy, x, 3, **kw)
    assert_close(gx, ref.max_pool2d_backward_ref(gy, x, *pool_ref_args(cfg)), dtype,
                 abs_scale(ref.max_pool2d_backward_ref, gy, np.where(np.isnan(x), 0, x),
                           *pool_ref_args(cfg)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_nan_in_every_position(dtype):
    """For every single-NaN placement, the windows containing it output NaN."""
    base = np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
    for pos in range(16):
        x = base.copy()
        x.reshape(-1)[pos] = np.nan
        y, idx = F.max_pool2d(x, 2, stride=1, return_indices=True)
        ey, eidx = ref.max_pool2d_ref(x, 2, 1, 0, False)
        np.testing.assert_array_equal(y, ey)
        np.testing.assert_array_equal(idx, eidx)


def test_max_all_neg_inf_window():
    """A window whose in-bounds values are all -inf outputs -inf and points
    at its first in-bounds element (row-major), never into the padding."""
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 3, 3] = 1.0
    y, idx = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    ey, eidx = ref.max_pool2d_ref(x, 3, 2, 1, False)
    np.testing.assert_array_equal(y, ey)
    assert (idx >= 0).all() and (idx < 16).all()
    np.testing.assert_array_equal(idx, eidx)


# ================================================================== avg pool
def check_avg_forward(x, cfg, dtype, y):
    args = (*pool_ref_args(cfg), cfg["count_include_pad"])
    expected = ref.avg_pool2d_ref(x, *args)
    assert_close(y, expected, dtype, abs_scale(ref.avg_pool2d_ref, x, *args), err_msg=str(cfg))


def avg_kwargs(cfg):
    return dict(pool_kwargs(cfg), count_include_pad=cfg["count_include_pad"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_avg_forward_random(seed, dtype):
    cfg = random_pool_config(seed)
    x = make_x(cfg, dtype, seed, ties=False)
    y = F.avg_pool2d(x, cfg["kernel_size"], **avg_kwargs(cfg))
    check_avg_forward(x, cfg, dtype, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_avg_backward_random(seed, dtype):
    cfg = random_pool_config(seed)
    x = make_x(cfg, dtype, seed, ties=False)
    args = (*pool_ref_args(cfg), cfg["count_include_pad"])
    P, Q = ref.avg_pool2d_ref(x, *args).shape[2:]
    gy = make_gy((cfg["N"], cfg["C"], P, Q), dtype, seed)
    gx = F.avg_pool2d_backward(gy, x, cfg["kernel_size"], **avg_kwargs(cfg))
    expected = ref.avg_pool2d_backward_ref(gy, x, *args)
    assert_close(gx, expected, dtype, abs_scale(ref.avg_pool2d_backward_ref, gy, x, *args),
                 err_msg=str(cfg))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_EDGE_CASES, ids=[str(i) for i in range(len(MAX_EDGE_CASES))])
def test_avg_edge_cases(case, dtype, count_include_pad):
    H, W, k, s, p, ceil = case
    cfg = dict(N=2, C=3, H=H, W=W, kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
               ties=False, count_include_pad=count_include_pad)
    x = make_x(cfg, dtype, 5)
    y = F.avg_pool2d(x, k, **avg_kwargs(cfg))
    check_avg_forward(x, cfg, dtype, y)
    args = (*pool_ref_args(cfg), count_include_pad)
    gy = make_gy(y.shape, dtype, 5)
    assert_close(F.avg_pool2d_backward(gy, x, k, **avg_kwargs(cfg)),
                 ref.avg_pool2d_backward_ref(gy, x, *args), dtype,
                 abs_scale(ref.avg_pool2d_backward_ref, gy, x, *args))


def test_avg_divisor_hand_computed():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y = F.avg_pool2d(x, 2, stride=2, padding=1)
    np.testing.assert_allclose(y[0, 0], [[0 / 4, (1 + 2) / 4], [(3 + 6) / 4, (4 + 5 + 7 + 8) / 4]],
                               rtol=1e-15)
    y = F.avg_pool2d(x, 2, stride=2, padding=1, count_include_pad=False)
    np.testing.assert_allclose(y[0, 0], [[0 / 1, (1 + 2) / 2], [(3 + 6) / 2, (4 + 5 + 7 + 8) / 4]],
                               rtol=1e-15)
    # ceil mode, no padding: the partial last window divides by its clipped size
    x = np.ones((1, 1, 4, 4))
    y = F.avg_pool2d(x, 3, stride=2, ceil_mode=True)
    np.testing.assert_allclose(y, np.ones((1, 1, 2, 2)), rtol=1e-15)
    # ceil mode with padding: the partial window's pool_size extends into the pad
    x = np.ones((1, 1, 5, 5))
    y = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    np.testing.assert_allclose(y, ref.avg_pool2d_ref(x, 3, 2, 1, True, True), rtol=1e-15)
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)


AVG_GRADCHECK = [
    dict(kernel_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(1, 3), padding=(1, 1), ceil_mode=False,
         count_include_pad=False),
]


@pytest.mark.parametrize("kw", AVG_GRADCHECK, ids=[str(i) for i in range(len(AVG_GRADCHECK))])
def test_avg_gradcheck_float64(kw):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 2, 7, 6))
    k = kw["kernel_size"]
    rest = {key: v for key, v in kw.items() if key != "kernel_size"}
    gy = rng.standard_normal(F.avg_pool2d(x, k, **rest).shape)

    def L():
        return float(np.sum(gy * F.avg_pool2d(x, k, **rest)))

    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + eps
        lp = L()
        x[i] = old - eps
        lm = L()
        x[i] = old
        num[i] = (lp - lm) / (2 * eps)
    gx = F.avg_pool2d_backward(gy, x, k, **rest)
    np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_nan_inf_propagate(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 6, 6)).astype(dtype)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 2, 2] = np.inf
    x[0, 1, 2, 3] = -np.inf
    x[0, 1, 5, 5] = np.inf
    kw = dict(stride=1, padding=1, ceil_mode=False, count_include_pad=False)
    y = F.avg_pool2d(x, 3, **kw)
    e = ref.avg_pool2d_ref(x, 3, 1, 1, False, False)
    assert np.isnan(e).any() and np.isinf(e).any()
    assert_close(y, e, dtype, 3.0 * np.abs(np.where(np.isfinite(x), x, 0)).max())


# ================================================================== both
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_noncontiguous_and_readonly_inputs(dtype, layout):
    cfg = dict(N=2, C=3, H=9, W=8, kernel_size=(3, 2), stride=(2, 1), padding=(1, 1),
               ceil_mode=True, ties=True, count_include_pad=False)
    x = make_x(cfg, dtype, 21)
    k = cfg["kernel_size"]
    y, idx = F.max_pool2d(x, k, return_indices=True, **pool_kwargs(cfg))
    gy = make_gy(y.shape, dtype, 21)
    gxm = F.max_pool2d_backward(gy, x, k, **pool_kwargs(cfg))
    ya = F.avg_pool2d(x, k, **avg_kwargs(cfg))
    gxa = F.avg_pool2d_backward(gy, x, k, **avg_kwargs(cfg))

    xv, gv, iv = (layout_variant(a, layout) for a in (x, gy, idx))
    check = unchanged(xv, gv, iv)
    yv, idxv = F.max_pool2d(xv, k, return_indices=True, **pool_kwargs(cfg))
    np.testing.assert_array_equal(yv, y)
    np.testing.assert_array_equal(idxv, idx)
    check_max_forward(x, cfg, dtype, yv, idxv)
    np.testing.assert_array_equal(F.max_pool2d_backward(gv, xv, k, **pool_kwargs(cfg)), gxm)
    np.testing.assert_array_equal(
        F.max_pool2d_backward(gv, xv, k, indices=iv, **pool_kwargs(cfg)), gxm)
    assert_close(F.avg_pool2d(xv, k, **avg_kwargs(cfg)), ya.astype(np.float64), dtype)
    assert_close(F.avg_pool2d_backward(gv, xv, k, **avg_kwargs(cfg)), gxa.astype(np.float64),
                 dtype)
    check()


def test_inputs_not_modified_and_no_alias():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6))
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    gy = rng.standard_normal(y.shape)
    check = unchanged(x, gy, idx)
    outs = [F.max_pool2d(x, 2), F.max_pool2d_backward(gy, x, 2),
            F.max_pool2d_backward(gy, x, 2, indices=idx), F.avg_pool2d(x, 2),
            F.avg_pool2d_backward(gy, x, 2)]
    check()
    for o in outs:
        for i in (x, gy, idx):
            assert not np.shares_memory(o, i)
    # kernel 1, stride 1: outputs equal the inputs but must be fresh arrays
    for fn in (F.max_pool2d, F.avg_pool2d):
        y1 = fn(x, 1, stride=1)
        np.testing.assert_array_equal(y1, x)
        assert not np.shares_memory(y1, x)
    for fn in (F.max_pool2d_backward, F.avg_pool2d_backward):
        g1 = fn(x, x, 1, stride=1)
        np.testing.assert_array_equal(g1, x)
        assert not np.shares_memory(g1, x)


@pytest.mark.parametrize("shape", [(0, 3, 6, 6), (2, 0, 6, 6)], ids=str)
def test_empty_batch_or_channels(shape):
    x = np.zeros(shape, dtype=np.float32)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert y.shape == shape[:2] + (3, 3) and y.dtype == np.float32 and idx.dtype == np.int64
    assert F.avg_pool2d(x, 2).shape == y.shape
    gy = np.zeros(y.shape, dtype=np.float32)
    for gx in (F.max_pool2d_backward(gy, x, 2), F.max_pool2d_backward(gy, x, 2, indices=idx),
               F.avg_pool2d_backward(gy, x, 2)):
        assert gx.shape == shape and gx.dtype == np.float32


def test_dtype_rules():
    x64 = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    x32 = x64.astype(np.float32)
    xi = (x64 * 10).astype(np.int32)
    for x, dt in [(x64, np.float64), (x32, np.float32), (xi, np.float64),
                  (xi > 0, np.float64)]:
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        assert y.dtype == dt and idx.dtype == np.int64
        np.testing.assert_array_equal(y, ref.max_pool2d_ref(x, 2)[0])
        ya = F.avg_pool2d(x, 2)
        assert ya.dtype == dt
        assert_close(ya, ref.avg_pool2d_ref(x, 2), dt)
    gy32 = np.ones((1, 2, 2, 2), np.float32)
    assert F.max_pool2d_backward(gy32, x32, 2).dtype == np.float32
    assert F.avg_pool2d_backward(gy32, x32, 2).dtype == np.float32
    assert F.max_pool2d_backward(gy32, x64, 2).dtype == np.float64
    assert F.avg_pool2d_backward(gy32.astype(np.float64), x32, 2).dtype == np.float64


# ================================================================== torch
def test_against_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    for seed in range(12):
        cfg = random_pool_config(seed)
        x = make_x(cfg, np.float64, seed)
        k, s, p, ceil = pool_ref_args(cfg)
        tx = torch.tensor(x, requires_grad=True)
        ty, tidx = tF.max_pool2d(tx, k, stride=s, padding=p, ceil_mode=ceil,
                                 return_indices=True)
        y, idx = F.max_pool2d(x, k, return_indices=True, **pool_kwargs(cfg))
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(idx, tidx.numpy())
        gy = make_gy(y.shape, np.float64, seed)
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(F.max_pool2d_backward(gy, x, k, **pool_kwargs(cfg)),
                                   tx.grad.numpy(), rtol=1e-12, atol=1e-12)
        for cip in (True, False):
            tx = torch.tensor(x, requires_grad=True)
            ta = tF.avg_pool2d(tx, k, stride=s, padding=p, ceil_mode=ceil,
                               count_include_pad=cip)
            ya = F.avg_pool2d(x, k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
            np.testing.assert_allclose(ya, ta.detach().numpy(), rtol=1e-12, atol=1e-12)
            gy = make_gy(ya.shape, np.float64, seed)
            ta.backward(torch.tensor(gy))
            np.testing.assert_allclose(
                F.avg_pool2d_backward(gy, x, k, stride=s, padding=p, ceil_mode=ceil,
                                      count_include_pad=cip),
                tx.grad.numpy(), rtol=1e-12, atol=1e-12)
