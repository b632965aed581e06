"""Property-based tests (hypothesis) of every kernel, forward and backward.

Each test draws shapes and parameters -- 1x1 images, kernels as large as the
(padded) input, strides larger than the kernel, large and asymmetric padding,
dilation, empty batches, float32 and float64, non-contiguous, reversed,
Fortran-ordered and read-only views, NaN / inf / ties where the op defines
them -- and checks the library against the plain NumPy references of
tests/reference.py.  Draws that are invalid by the references' own rules must
raise ValueError (or TypeError), never anything else, and never crash; the
``*_never_crash`` tests throw arbitrary arguments (wrong types, sizes near
2**31 and 2**63, odd dtypes and shapes) at the public API with the same rule.

Budget: CCNN_HYPOTHESIS_EXAMPLES examples per test (default 300), drawn
deterministically (derandomize, no example database), so CI runs the same
examples every time.  A bigger search: CCNN_HYPOTHESIS_EXAMPLES=5000 pytest
tests/test_properties.py.  (tests/test_conv2d.py and tests/test_correlate.py
hold smaller, older hypothesis tests of conv2d and of 1-D correlate against
numpy; this file covers all ops, both conv2d algorithms and the bad draws.)
"""

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ccnn.functional as F
from ccnn import _conv2d, losses as L
from ccnn.optimizers import SGD, Adam

import reference as ref
from _testutils import LAYOUTS, TOL, assert_close, layout_variant, unchanged

EXAMPLES = int(os.environ.get("CCNN_HYPOTHESIS_EXAMPLES", 300))
BUDGET = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
BAD = (ValueError, TypeError)

dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["c", "c"] + LAYOUTS)


# ------------------------------------------------------------------ helpers
def layout(a, name):
    if name == "c" or (a.ndim == 0 and name != "readonly"):  # numpy makes 0-d views 1-d
        return a
    return layout_variant(a, name)


@st.composite
def arrays(draw, shape, dtype, specials=0.0, ties=False, scale=None):
    """A random array: normal values times a drawn scale; with ties, a few
    distinct small integers; with probability `specials` a few NaN / +-inf /
    -0.0 entries."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if ties:
        a = np.array(rng.integers(-2, 3, size=shape), dtype=np.float64)
    else:
        s = draw(st.sampled_from([1e-3, 1.0, 1.0, 30.0])) if scale is None else scale
        a = np.array(rng.standard_normal(shape) * s, dtype=np.float64)
    if a.size and draw(st.floats(0, 1)) < specials:
        for _ in range(draw(st.integers(1, 3))):
            i = int(rng.integers(a.size))
            a.reshape(-1)[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf, -0.0]))
    return np.array(a, dtype=dtype)  # an array even for shape ()


def finite_abs(a):
    """|a| in float64 with NaN / inf replaced by 0 (for tolerance scales)."""
    return np.abs(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0,
                                 neginf=0.0))


def scale_of(fn, *args, **kw):
    """Like _testutils.abs_scale, but NaN / inf in the inputs do not poison it."""
    out = fn(*[finite_abs(a) if isinstance(a, np.ndarray) else a for a in args], **kw)
    if isinstance(out, tuple):
        return tuple(float(np.max(o)) if np.size(o) else 1.0 for o in out)
    return float(np.max(out)) if np.size(out) else 1.0


def int_or_pair(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def padding_spec(hi):
    return st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, hi),
        st.tuples(st.integers(0, hi), st.integers(0, hi)),
        st.tuples(st.tuples(st.integers(0, hi), st.integers(0, hi)),
                  st.tuples(st.integers(0, hi), st.integers(0, hi))))


# ================================================================== conv2d
@st.composite
def conv_problems(draw):
    dtype = draw(dtypes)
    shape_kind = draw(st.sampled_from(["random", "random", "kernel_is_input", "one_by_one"]))
    N = draw(st.integers(0, 3))                 # 0: an empty batch
    C, K = draw(st.integers(1, 4)), draw(st.integers(1, 8))
    if shape_kind == "one_by_one":
        H = W = 1
    else:
        H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    if shape_kind == "kernel_is_input":
        R, S = H, W
    else:
        R, S = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = draw(int_or_pair(1, 7))            # often larger than the kernel
    dilation = draw(st.one_of(st.just(1), int_or_pair(1, 3)))
    padding = draw(padding_spec(7))             # up to more than the kernel
    x = draw(arrays((N, C, H, W), dtype, specials=0.1))
    w = draw(arrays((K, C, R, S), dtype, specials=0.05))
    b = draw(arrays((K,), dtype)) if draw(st.booleans()) else None
    return dict(x=x, w=w, b=b, stride=stride, padding=padding, dilation=dilation,
                layouts=(draw(layouts), draw(layouts), draw(layouts)), seed=draw(st.integers(0, 99)))


def conv_geometry(cfg):
    """((P, Q), pad) by the reference's formulas, or None when invalid."""
    _, _, H, W = cfg["x"].shape
    _, _, R, S = cfg["w"].shape
    sh, sw = ref.pair(cfg["stride"])
    dh, dw = ref.pair(cfg["dilation"])
    pad = ref.conv_padding(cfg["padding"], H, W, R, S, cfg["stride"], cfg["dilation"])
    P = ref.conv_out_size(H, R, sh, *pad[0], dh)
    Q = ref.conv_out_size(W, S, sw, *pad[1], dw)
    return ((P, Q), pad) if P >= 1 and Q >= 1 else None


def check_conv_results(y, grads, x, w, b, gy, cfg, pad, dtype, what):
    st_, dil = ref.pair(cfg["stride"]), ref.pair(cfg["dilation"])
    kw = dict(stride=st_, pad=pad, dilation=dil)
    assert_close(y, ref.conv2d_ref(x, w, b, **kw), dtype,
                 scale_of(ref.conv2d_ref, x, w, b, **kw), err_msg=f"{what} forward")
    expected = ref.conv2d_backward_ref(gy, x, w, **kw)
    scales = scale_of(ref.conv2d_backward_ref, gy, x, w, **kw)
    for name, g, e, s in zip(("grad_x", "grad_weight", "grad_bias"), grads, expected, scales):
        assert_close(g, e, dtype, s, err_msg=f"{what} {name}")


@BUDGET
@given(cfg=conv_problems())
def test_conv2d_forward_backward(cfg):
    x, w, b = cfg["x"], cfg["w"], cfg["b"]
    dtype = x.dtype
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    geometry = conv_geometry(cfg)
    xl, wl = layout(x, cfg["layouts"][0]), layout(w, cfg["layouts"][1])
    if geometry is None:  # the kernel does not fit in the padded input
        with pytest.raises(ValueError):
            F.conv2d(xl, wl, b, **kw)
        return
    (P, Q), pad = geometry
    rng = np.random.default_rng(cfg["seed"])
    gy = rng.standard_normal((x.shape[0], w.shape[0], P, Q)).astype(dtype)
    gyl = layout(gy, cfg["layouts"][2])
    intact = unchanged(xl, wl, gyl)

    y = F.conv2d(xl, wl, b, **kw)
    grads = F.conv2d_backward(gyl, xl, wl, **kw)
    intact()
    check_conv_results(y, grads, x, w, b, gy, cfg, pad, dtype, "auto")
    for g in grads:
        assert g.flags.c_contiguous and g.flags.writeable

    # both algorithms, whichever the dispatcher would pick for this shape
    st_, dil = ref.pair(cfg["stride"]), ref.pair(cfg["dilation"])
    pads = (pad[0][0], pad[0][1], pad[1][0], pad[1][1])
    for algo in ("direct", "gemm"):
        ya = _conv2d.conv2d_forward(x, w, b, st_, dil, pads, 2, algo=algo)
        ga = _conv2d.conv2d_backward(gy, x, w, st_, dil, pads, True, True, True, 2, algo=algo)
        check_conv_results(ya, ga, x, w, b, gy, cfg, pad, dtype, algo)


# ================================================================== pooling
@st.composite
def pool_problems(draw):
    dtype = draw(dtypes)
    N, C = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    H, W = draw(st.sampled_from([1, 1, 2, 3, 4, 5, 6, 7, 8, 9])), draw(st.integers(1, 9))
    kernel = draw(int_or_pair(1, 6))
    stride = draw(st.one_of(st.none(), int_or_pair(1, 7)))
    padding = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3))))
    ties = draw(st.booleans())
    x = draw(arrays((N, C, H, W), dtype, specials=0.15, ties=ties))
    return dict(x=x, kernel=kernel, stride=stride, padding=padding,
                ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()),
                layouts=(draw(layouts), draw(layouts)), seed=draw(st.integers(0, 99)))


def pool_geometry(cfg):
    """(P, Q) by the reference's (PyTorch's) rules, or None when invalid."""
    _, _, H, W = cfg["x"].shape
    kh, kw = ref.pair(cfg["kernel"])
    sh, sw = ref.pair(cfg["kernel"] if cfg["stride"] is None else cfg["stride"])
    ph, pw = ref.pair(cfg["padding"])
    if 2 * ph > kh or 2 * pw > kw or kh > H + 2 * ph or kw > W + 2 * pw:
        return None
    P = ref.pool_out_size(H, kh, sh, ph, cfg["ceil_mode"])
    Q = ref.pool_out_size(W, kw, sw, pw, cfg["ceil_mode"])
    return (P, Q) if P >= 1 and Q >= 1 else None


def pool_args(cfg):
    return (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil_mode"])


@BUDGET
@given(cfg=pool_problems())
def test_max_pool2d_forward_backward(cfg):
    x = cfg["x"]
    dtype = x.dtype
    xl = layout(x, cfg["layouts"][0])
    geometry = pool_geometry(cfg)
    if geometry is None:
        with pytest.raises(ValueError):
            F.max_pool2d(xl, *pool_args(cfg))
        return
    intact = unchanged(xl)
    y, idx = F.max_pool2d(xl, *pool_args(cfg), return_indices=True)
    ey, eidx = ref.max_pool2d_ref(x, *pool_args(cfg))
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ey.astype(dtype))      # a max is exact
    np.testing.assert_array_equal(idx, eidx)
    gy = np.random.default_rng(cfg["seed"]).standard_normal(y.shape).astype(dtype)
    gyl = layout(gy, cfg["layouts"][1])
    expected = ref.max_pool2d_backward_ref(gy, x, *pool_args(cfg))
    scale = scale_of(ref.max_pool2d_backward_ref, gy, x, *pool_args(cfg))
    for indices in (None, idx, layout(idx, cfg["layouts"][1])):
        gx = F.max_pool2d_backward(gyl, xl, *pool_args(cfg), indices=indices)
        assert_close(gx, expected, dtype, scale)
    intact()


@BUDGET
@given(cfg=pool_problems())
def test_avg_pool2d_forward_backward(cfg):
    x = cfg["x"]
    dtype = x.dtype
    xl = layout(x, cfg["layouts"][0])
    cip = cfg["count_include_pad"]
    geometry = pool_geometry(cfg)
    if geometry is None:
        with pytest.raises(ValueError):
            F.avg_pool2d(xl, *pool_args(cfg), count_include_pad=cip)
        return
    intact = unchanged(xl)
    y = F.avg_pool2d(xl, *pool_args(cfg), count_include_pad=cip)
    assert_close(y, ref.avg_pool2d_ref(x, *pool_args(cfg), cip), dtype,
                 scale_of(ref.avg_pool2d_ref, x, *pool_args(cfg), cip))
    gy = np.random.default_rng(cfg["seed"]).standard_normal(y.shape).astype(dtype)
    gx = F.avg_pool2d_backward(layout(gy, cfg["layouts"][1]), xl, *pool_args(cfg),
                               count_include_pad=cip)
    assert_close(gx, ref.avg_pool2d_backward_ref(gy, x, *pool_args(cfg), cip), dtype,
                 scale_of(ref.avg_pool2d_backward_ref, gy, x, *pool_args(cfg), cip))
    intact()


# ============================================================ relu / dropout
shapes_any = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)


@BUDGET
@given(shape=shapes_any, dtype=dtypes, data=st.data())
def test_relu_forward_backward(shape, dtype, data):
    x = data.draw(arrays(shape, dtype, specials=0.3))
    gy = data.draw(arrays(shape, dtype, specials=0.1))
    xl, gyl = layout(x, data.draw(layouts)), layout(gy, data.draw(layouts))
    intact = unchanged(xl, gyl)
    y = F.relu(xl)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_array_equal(y, ref.relu_ref(x).astype(dtype))
    gx = F.relu_backward(gyl, xl)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_array_equal(gx, ref.relu_backward_ref(gy, x).astype(dtype))
    intact()


@BUDGET
@given(shape=shapes_any, dtype=dtypes, data=st.data())
def test_dropout_forward_backward(shape, dtype, data):
    rate = data.draw(st.one_of(st.sampled_from([0.0, 0.5, 0.999]), st.floats(0, 0.99)))
    x = data.draw(arrays(shape, dtype, specials=0.2))
    xl = layout(x, data.draw(layouts))
    seed = data.draw(st.integers(0, 2 ** 32))
    intact = unchanged(xl)
    y, mask = F.dropout(xl, rate, training=True, seed=seed)
    assert mask.dtype == np.bool_ and mask.shape == shape and y.shape == shape
    assert_close(y, ref.dropout_ref(x, mask, rate), dtype, float(finite_abs(x).max(initial=0))
                 / (1 - rate) + 1e-30)
    y2, mask2 = F.dropout(xl, rate, training=True, seed=seed)   # the seed decides the mask
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(y, y2)
    gy = data.draw(arrays(shape, dtype))
    gx = F.dropout_backward(layout(gy, data.draw(layouts)), mask, rate)
    assert_close(gx, ref.dropout_ref(gy, mask, rate), dtype,
                 float(finite_abs(gy).max(initial=0)) / (1 - rate) + 1e-30)
    yi, none = F.dropout(xl, rate, training=False)
    assert none is None and yi.dtype == dtype
    np.testing.assert_array_equal(yi, x)
    intact()


# ======================================================= correlate / convolve
@BUDGET
@given(ndim=st.sampled_from([1, 2]), dtype=dtypes, mode=st.sampled_from(["full", "valid", "same"]),
       data=st.data())
def test_correlate_convolve(ndim, dtype, mode, data):
    ashape = tuple(data.draw(st.integers(1, 10)) for _ in range(ndim))
    vshape = tuple(data.draw(st.integers(1, 10)) for _ in range(ndim))
    a = data.draw(arrays(ashape, dtype, specials=0.05))
    v = data.draw(arrays(vshape, dtype, specials=0.05))
    al, vl = layout(a, data.draw(layouts)), layout(v, data.draw(layouts))
    intact = unchanged(al, vl)
    dominates = (all(m >= n for m, n in zip(ashape, vshape))
                 or all(m <= n for m, n in zip(ashape, vshape)))
    for fn, fref in ((F.correlate, ref.correlate_ref), (F.convolve, ref.convolve_ref)):
        if mode == "valid" and ndim == 2 and not dominates:
            with pytest.raises(ValueError):
                fn(al, vl, mode)
            continue
        got = fn(al, vl, mode)
        assert_close(got, fref(a, v, mode), dtype, scale_of(fref, a, v, mode=mode),
                     err_msg=f"{fn.__name__} {ashape} {vshape} {mode}")
    intact()


# ======================================================= softmax + xent loss
@BUDGET
@given(n=st.integers(0, 7), classes=st.integers(1, 9), dtype=dtypes,
       logit_scale=st.sampled_from([1e-3, 1.0, 10.0, 300.0]), data=st.data())
def test_softmax_cross_entropy_forward_backward(n, classes, dtype, logit_scale, data):
    z = data.draw(arrays((n, classes), dtype, scale=logit_scale))
    labels = np.asarray(data.draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)),
                        dtype=np.int64)
    zl = layout(z, data.draw(layouts))
    intact = unchanged(zl)
    rtol, atol = TOL[np.dtype(dtype)]
    close = dict(rtol=rtol * 10, atol=atol * 10)

    loss, probs = L.sparse_softmax_cross_entropy(zl, labels)
    eloss, eprobs = ref.softmax_xent_ref(z, labels)
    assert loss.dtype == dtype and probs.dtype == dtype and loss.shape == (n,)
    # loss = lse - z_y: its error is relative to the size of the logits
    zmax = float(np.abs(z.astype(np.float64)).max(initial=0)) + 1
    np.testing.assert_allclose(loss, eloss, rtol=close["rtol"], atol=close["atol"] * zmax)
    np.testing.assert_allclose(probs, eprobs, **close)
    np.testing.assert_allclose(L.sparse_softmax_cross_entropy_backward(probs, labels),
                               ref.softmax_xent_backward_ref(probs, labels), **close)

    # dense targets: one-hot, soft, or all zero rows
    kind = data.draw(st.sampled_from(["onehot", "soft", "zeros"]))
    t = np.zeros((n, classes))
    if kind == "onehot":
        t[np.arange(n), labels] = 1
    elif kind == "soft":
        t = np.random.default_rng(data.draw(st.integers(0, 99))).random((n, classes))
    t = t.astype(dtype)
    loss_d, probs_d = L.softmax_cross_entropy(zl, layout(t, data.draw(layouts)))
    eloss_d, _ = ref.softmax_xent_ref(z, t)
    tsum = float(np.abs(t.astype(np.float64)).sum(axis=1).max(initial=0)) + 1
    np.testing.assert_allclose(loss_d, eloss_d, rtol=close["rtol"],
                               atol=close["atol"] * zmax * tsum)
    np.testing.assert_allclose(probs_d, eprobs, **close)
    np.testing.assert_allclose(L.softmax_cross_entropy_backward(probs_d, t),
                               ref.softmax_xent_backward_ref(probs_d, t), rtol=close["rtol"],
                               atol=close["atol"] * tsum)

    # plain softmax and its backward
    p = L.softmax(zl)
    np.testing.assert_allclose(p, eprobs, **close)
    g = data.draw(arrays((n, classes), dtype))
    p64, g64 = p.astype(np.float64), g.astype(np.float64)
    np.testing.assert_allclose(L.softmax_backward(g, p),
                               p64 * (g64 - (g64 * p64).sum(axis=-1, keepdims=True)),
                               rtol=close["rtol"],
                               atol=close["atol"] * (float(np.abs(g64).max(initial=0)) + 1))
    intact()

    if n:  # a label out of range is refused, never read out of bounds
        bad = labels.copy()
        bad[data.draw(st.integers(0, n - 1))] = data.draw(
            st.sampled_from([-1, classes, classes + 7, -2 ** 62, 2 ** 62]))
        with pytest.raises(ValueError):
            L.sparse_softmax_cross_entropy(zl, bad)
        with pytest.raises(ValueError):
            L.sparse_softmax_cross_entropy_backward(probs, bad)


# ======================================================= optimizer updates
param_shapes = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


def _opt_check(got, want, dtype, lr):
    rtol, atol = TOL[np.dtype(dtype)]
    scale = float(np.abs(want).max(initial=0)) + lr
    np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=atol * 10 * scale)


@BUDGET
@given(shapes=st.lists(param_shapes, min_size=1, max_size=3), dtype=dtypes,
       lr=st.sampled_from([0.0, 1e-3, 0.1, 1.0]), b1=st.sampled_from([0.0, 0.5, 0.9]),
       b2=st.sampled_from([0.0, 0.9, 0.999]), eps=st.sampled_from([0.0, 1e-7, 1e-3]),
       steps=st.integers(1, 3), data=st.data())
def test_adam_update(shapes, dtype, lr, b1, b2, eps, steps, data):
    params = [data.draw(arrays(s, dtype)) for s in shapes]
    want = [(p.astype(np.float64), np.zeros(p.shape), np.zeros(p.shape)) for p in params]
    opt = Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    for t in range(1, steps + 1):
        grads = [data.draw(arrays(s, dtype, scale=data.draw(st.sampled_from([1e-2, 1.0, 10.0]))))
                 for s in shapes]
        if eps == 0:  # m / sqrt(v) with v == 0 is 0/0: keep the gradients non-zero
            grads = [np.where(g == 0, 1, g).astype(dtype) for g in grads]
        gl = [layout(g, data.draw(layouts)) for g in grads]
        intact = unchanged(*gl)
        assert opt.apply_gradients(zip(gl, params)) == t
        intact()
        want = [ref.adam_step_ref(p, m, v, g, t, lr, b1, b2, eps)
                for (p, m, v), g in zip(want, grads)]
        for got, (p, _, _) in zip(params, want):
            assert got.dtype == dtype
            _opt_check(got, p, dtype, lr)


@BUDGET
@given(shapes=st.lists(param_shapes, min_size=1, max_size=3), dtype=dtypes,
       lr=st.sampled_from([0.0, 1e-3, 0.1, 1.0]), momentum=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       nesterov=st.booleans(), steps=st.integers(1, 3), data=st.data())
def test_sgd_update(shapes, dtype, lr, momentum, nesterov, steps, data):
    params = [data.draw(arrays(s, dtype)) for s in shapes]
    want = [(p.astype(np.float64), np.zeros(p.shape)) for p in params]
    opt = SGD(learning_rate=lr, momentum=momentum, nesterov=nesterov)
    for t in range(1, steps + 1):
        grads = [data.draw(arrays(s, dtype)) for s in shapes]
        gl = [layout(g, data.draw(layouts)) for g in grads]
        assert opt.apply_gradients(zip(gl, params)) == t
        want = [ref.sgd_step_ref(p, v, g, lr, momentum, nesterov)
                for (p, v), g in zip(want, grads)]
        for got, (p, _) in zip(params, want):
            _opt_check(got, p, dtype, lr)


# ============================================== arbitrary arguments: no crash
# Each test starts from valid arguments and replaces a random subset of them
# (none to three) with wild values: valid ones, zero and negatives, sizes near
# the 2**31 limit and beyond int64, wrong types, and arrays of odd shapes and
# dtypes -- or no arrays at all.  Whatever the mix, the call returns or raises
# ValueError / TypeError.  (hypothesis's statistics, --hypothesis-show-statistics,
# count the accepted and the refused calls.)
wild_ints = st.one_of(
    st.integers(-3, 9), st.sampled_from([2 ** 31 - 1, 2 ** 31, 2 ** 62, 2 ** 63, 2 ** 70, -2 ** 63]),
    st.sampled_from([None, True, 1.5, 2.0, "2", np.int64(2), np.float32(1)]))
wild_pairs = st.one_of(wild_ints, st.tuples(wild_ints, wild_ints), st.just((1, 2, 3)),
                       st.just(()), st.just([[1, 2], [0, 0]]))
wild_padding = st.one_of(wild_pairs, st.sampled_from(["same", "valid", "SAME", "full", ""]),
                         st.tuples(st.tuples(wild_ints, wild_ints), st.tuples(wild_ints, wild_ints)))


@st.composite
def wild_arrays(draw, ndim_hint=4):
    """Arrays of odd shapes and dtypes, or not arrays at all."""
    kind = draw(st.sampled_from(["float", "float", "float", "int", "bool", "complex", "object",
                                 "str", "f16", "list", "scalar", "none", "bigendian"]))
    ndim = draw(st.one_of(st.just(ndim_hint), st.integers(0, 5)))
    shape = tuple(draw(st.integers(0, 4)) for _ in range(ndim))
    base = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape)
    if kind == "float":
        return base.astype(draw(dtypes))
    if kind == "int":
        return (base * 3).astype(np.int32)
    if kind == "bool":
        return base > 0
    if kind == "complex":
        return base.astype(np.complex64)
    if kind == "object":
        return base.astype(object)
    if kind == "str":
        return base.astype(str)
    if kind == "f16":
        return base.astype(np.float16)
    if kind == "list":
        return base.tolist()
    if kind == "scalar":
        return 1.0
    if kind == "bigendian":
        return base.astype(">f8")
    return None


def corrupt(draw, args, wild):
    """Replace up to three of `args` (a dict) by draws from wild[name]."""
    for name in draw(st.sets(st.sampled_from(sorted(wild)), max_size=3)):
        args[name] = draw(wild[name])
    return args


def must_not_crash(fn, *args, **kw):
    """fn(...) returns, or raises ValueError / TypeError -- nothing else."""
    name = getattr(fn, "__name__", "call")
    try:
        out = fn(*args, **kw)
    except BAD:
        event(f"{name}: refused")
        return None
    event(f"{name}: accepted")
    return out


@st.composite
def wild_conv_args(draw):
    cfg = draw(conv_problems())
    geometry = conv_geometry(cfg)
    n, k = cfg["x"].shape[0], cfg["w"].shape[0]
    gy = np.ones((n, k) + (geometry[0] if geometry else (1, 1)), cfg["x"].dtype)
    args = dict(x=cfg["x"], w=cfg["w"], b=cfg["b"], gy=gy, stride=cfg["stride"],
                padding=cfg["padding"], dilation=cfg["dilation"])
    return corrupt(draw, args, dict(x=wild_arrays(), w=wild_arrays(), gy=wild_arrays(),
                                    b=st.one_of(st.none(), wild_arrays(1)), stride=wild_pairs,
                                    padding=wild_padding, dilation=wild_pairs))


@BUDGET
@given(a=wild_conv_args())
def test_conv2d_arbitrary_arguments_never_crash(a):
    kw = dict(stride=a["stride"], padding=a["padding"], dilation=a["dilation"])
    y = must_not_crash(F.conv2d, a["x"], a["w"], a["b"], **kw)
    if y is not None:
        assert y.ndim == 4 and y.dtype in (np.float32, np.float64)
    g = must_not_crash(F.conv2d_backward, a["gy"], a["x"], a["w"], **kw)
    if g is not None:
        assert np.shape(g[0]) == np.shape(a["x"]) and np.shape(g[1]) == np.shape(a["w"])


@st.composite
def wild_pool_args(draw):
    cfg = draw(pool_problems())
    geometry = pool_geometry(cfg)
    n, c = cfg["x"].shape[:2]
    gy = np.ones((n, c) + (geometry if geometry else (1, 1)), cfg["x"].dtype)
    args = dict(x=cfg["x"], gy=gy, kernel=cfg["kernel"], stride=cfg["stride"],
                padding=cfg["padding"], ceil_mode=cfg["ceil_mode"],
                cip=cfg["count_include_pad"], indices=None)
    if geometry and draw(st.booleans()):
        args["indices"] = F.max_pool2d(cfg["x"], *pool_args(cfg), return_indices=True)[1]
    return corrupt(draw, args, dict(
        x=wild_arrays(), gy=wild_arrays(), kernel=wild_pairs,
        stride=st.one_of(st.none(), wild_pairs), padding=wild_padding,
        ceil_mode=st.sampled_from([True, False, 0, 1, None, "yes"]),
        cip=st.sampled_from([True, False, None, 2.5]),
        indices=st.one_of(wild_arrays(), st.just(np.full((1, 1, 1, 1), 10 ** 6)),
                          st.just(np.full((1, 1, 1, 1), -1)))))


@BUDGET
@given(a=wild_pool_args())
def test_pool_arbitrary_arguments_never_crash(a):
    geo = (a["kernel"], a["stride"], a["padding"], a["ceil_mode"])
    for fn, extra in ((F.max_pool2d, {}), (F.avg_pool2d, dict(count_include_pad=a["cip"]))):
        y = must_not_crash(fn, a["x"], *geo, **extra)
        if y is not None:
            assert y.ndim == 4 and y.shape[:2] == np.shape(a["x"])[:2]
    for fn, extra in ((F.max_pool2d_backward, dict(indices=a["indices"])),
                      (F.avg_pool2d_backward, dict(count_include_pad=a["cip"]))):
        g = must_not_crash(fn, a["gy"], a["x"], *geo, **extra)
        if g is not None:
            assert g.shape == np.shape(a["x"])


@BUDGET
@given(x=wild_arrays(), gy=wild_arrays(), a=wild_arrays(1), v=wild_arrays(1),
       rate=st.one_of(st.floats(allow_nan=True), st.sampled_from([None, "0.5", 1, True])),
       mask=st.one_of(st.none(), wild_arrays()),
       mode=st.sampled_from(["full", "valid", "same", "FULL", None, 1]))
def test_elementwise_and_correlate_arbitrary_arguments_never_crash(x, gy, a, v, rate, mask, mode):
    must_not_crash(F.relu, x)
    must_not_crash(F.relu_backward, gy, x)
    must_not_crash(F.relu_backward, x, x)
    must_not_crash(F.dropout, x, rate, seed=0)
    must_not_crash(F.dropout_backward, gy, mask, rate)
    if isinstance(x, np.ndarray):
        must_not_crash(F.dropout_backward, x, np.ones(x.shape, bool), rate)
    for fn in (F.correlate, F.convolve):
        must_not_crash(fn, a, v, mode)
        must_not_crash(fn, x, gy, mode)


@st.composite
def wild_loss_args(draw):
    n, classes = draw(st.integers(0, 5)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    args = dict(z=rng.standard_normal((n, classes)).astype(draw(dtypes)),
                labels=rng.integers(0, classes, n), targets=rng.random((n, classes)))
    return corrupt(draw, args, dict(
        z=wild_arrays(2), targets=wild_arrays(2),
        labels=st.one_of(wild_arrays(1), wild_arrays(2),
                         st.just(np.array([classes] * n)), st.just(np.full(n, -1)),
                         st.just(np.full(n, 0.5)), st.just(np.full(n, np.nan)))))


@BUDGET
@given(a=wild_loss_args())
def test_loss_arbitrary_arguments_never_crash(a):
    for fn, y in ((L.sparse_softmax_cross_entropy, a["labels"]),
                  (L.sparse_softmax_cross_entropy_backward, a["labels"]),
                  (L.softmax_cross_entropy, a["targets"]),
                  (L.softmax_cross_entropy_backward, a["targets"])):
        out = must_not_crash(fn, a["z"], y)
        if out is not None:
            for o in (out if isinstance(out, tuple) else (out,)):
                assert isinstance(o, np.ndarray) and o.dtype in (np.float32, np.float64)
    must_not_crash(L.softmax, a["z"])


@st.composite
def wild_optimizer_args(draw):
    shape = draw(param_shapes)
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    param = np.array(rng.standard_normal(shape), dtype=dtype)
    args = dict(param=param, grad=np.array(rng.standard_normal(shape), dtype=dtype), lr=0.01,
                readonly=False, strided=False, which=draw(st.sampled_from(["adam", "sgd", "nag"])))
    return corrupt(draw, args, dict(
        param=wild_arrays(2), grad=st.one_of(wild_arrays(2), st.none()),
        lr=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([-1, 0, "x", None])),
        readonly=st.just(True), strided=st.just(True)))


@BUDGET
@given(a=wild_optimizer_args())
def test_optimizer_arbitrary_arguments_never_crash(a):
    lr = a["lr"]
    make = {"adam": Adam, "sgd": SGD,
            "nag": lambda learning_rate: SGD(learning_rate, momentum=0.9, nesterov=True)}
    opt = must_not_crash(make[a["which"]], learning_rate=lr)
    if opt is None:
        assert not (isinstance(lr, (int, float)) and not isinstance(lr, bool)
                    and math.isfinite(lr) and lr >= 0), lr
        opt = Adam()
    param = a["param"]
    if isinstance(param, np.ndarray):
        if a["strided"] and param.ndim:
            param = param[..., ::2]
        if a["readonly"]:
            param.flags.writeable = False
    before = np.array(param, copy=True) if isinstance(param, np.ndarray) else None
    done = must_not_crash(opt.apply_gradients, [(a["grad"], param)])
    if done is None and before is not None and before.dtype.kind != "O":
        # a refused update leaves the parameter untouched
        np.testing.assert_array_equal(np.asarray(param), before)
