"""conv2d / conv2d_backward parity with the NumPy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccnn.functional as F
import reference as ref
from _testutils import (DTYPES, LAYOUTS, abs_scale, assert_close, assert_writes_every_element,
                        layout_variant, random_conv_config, random_conv_config_large, unchanged)

N_CONFIGS = 48


def make_inputs(cfg, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
    w = rng.standard_normal((cfg["K"], cfg["C"], cfg["R"], cfg["S"])).astype(dtype)
    b = rng.standard_normal(cfg["K"]).astype(dtype) if cfg["bias"] else None
    gy = rng.standard_normal((cfg["N"], cfg["K"], cfg["P"], cfg["Q"])).astype(dtype)
    return x, w, b, gy


def ref_args(cfg):
    return ref.pair(cfg["stride"]), cfg["pad"], ref.pair(cfg["dilation"])


def lib_kwargs(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])


def check_forward(x, w, b, cfg, dtype, y):
    st, pad, dil = ref_args(cfg)
    expected = ref.conv2d_ref(x, w, b, st, pad, dil)
    scale = abs_scale(ref.conv2d_ref, x, w, b, stride=st, pad=pad, dilation=dil)
    assert_close(y, expected, dtype, scale, err_msg=str(cfg))


def check_backward(gy, x, w, cfg, dtype, got):
    st, pad, dil = ref_args(cfg)
    assert isinstance(got, tuple) and len(got) == 3
    expected = ref.conv2d_backward_ref(gy, x, w, st, pad, dil)
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=st, pad=pad, dilation=dil)
    for name, g, e, s in zip(("grad_x", "grad_weight", "grad_bias"), got, expected, scales):
        assert_close(g, e, dtype, s, err_msg=f"{name} {cfg}")


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_forward_random(seed, dtype):
    cfg = random_conv_config(seed)
    x, w, b, _ = make_inputs(cfg, dtype, seed)
    y = F.conv2d(x, w, b, **lib_kwargs(cfg))
    check_forward(x, w, b, cfg, dtype, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_backward_random(seed, dtype):
    cfg = random_conv_config(seed)
    x, w, _, gy = make_inputs(cfg, dtype, seed)
    got = F.conv2d_backward(gy, x, w, **lib_kwargs(cfg))
    check_backward(gy, x, w, cfg, dtype, got)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(24))
def test_many_channels_random(seed, dtype):
    """K >= 6 and C*R*S >= 32: the shapes where a GEMM-based algorithm kicks in."""
    cfg = random_conv_config_large(seed)
    x, w, b, gy = make_inputs(cfg, dtype, seed)
    check_forward(x, w, b, cfg, dtype, F.conv2d(x, w, b, **lib_kwargs(cfg)))
    check_backward(gy, x, w, cfg, dtype, F.conv2d_backward(gy, x, w, **lib_kwargs(cfg)))


# Shapes around typical GEMM blocking sizes (register tiles of 6 x 8/16 and
# cache blocks of a few hundred): reduction C*R*S from 32 to 300, K not a
# multiple of 6, and P*Q not a multiple of 16 and larger than 1024 / 2048.
# (N, C, K, H, W, R, S, stride, padding, dilation)
BLOCKING_CASES = [
    (1, 32, 6, 5, 5, 1, 1, 1, 0, 1),       # CRS = 32 exactly, K = 6
    (2, 8, 7, 9, 11, 3, 3, 1, 1, 1),       # K = 7: one full + one partial row tile
    (1, 12, 13, 8, 8, 3, 3, 1, "same", 1),  # CRS = 108 > 96
    (1, 29, 12, 6, 7, 3, 3, 1, 0, 1),      # CRS = 261 > 256
    (1, 9, 97, 4, 5, 6, 6, 1, 1, 1),       # CRS = 324, K = 97 > 96
    (1, 4, 6, 35, 33, 3, 3, 1, 1, 1),      # P*Q = 1155 > 1024
    (1, 4, 6, 47, 47, 2, 2, 1, 1, 1),      # P*Q = 2304 > 2048
    (3, 5, 11, 13, 17, 4, 3, (2, 1), ((2, 0), (1, 3)), (1, 2)),
    # the AVX-512 kernels' tiles of 12 rows, 13..18 rows as one, 12 + 7
    (1, 8, 18, 6, 6, 3, 3, 1, 1, 1),
    (2, 6, 19, 7, 5, 3, 3, 1, "same", 1),
    (1, 16, 32, 9, 9, 3, 3, 2, 1, 1),
    (1, 5, 43, 6, 7, 3, 3, 1, 1, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BLOCKING_CASES, ids=[str(i) for i in range(len(BLOCKING_CASES))])
def test_blocking_sizes(case, dtype):
    N, C, K, H, W, R, S, stride, padding, dilation = case
    pad = ref.conv_padding(padding, H, W, R, S, stride, dilation)
    st, dil = ref.pair(stride), ref.pair(dilation)
    cfg = dict(N=N, C=C, K=K, H=H, W=W, R=R, S=S, stride=stride, padding=padding,
               dilation=dilation, pad=pad, bias=True,
               P=ref.conv_out_size(H, R, st[0], *pad[0], dil[0]),
               Q=ref.conv_out_size(W, S, st[1], *pad[1], dil[1]))
    x, w, b, gy = make_inputs(cfg, dtype, 13)
    check_forward(x, w, b, cfg, dtype, F.conv2d(x, w, b, **lib_kwargs(cfg)))
    check_backward(gy, x, w, cfg, dtype, F.conv2d_backward(gy, x, w, **lib_kwargs(cfg)))


@pytest.mark.parametrize("path", ["generic", "avx2", "avx512"])
def test_gemm_kernel_paths_in_subprocess(path):
    """Rerun the many-channel tests on each GEMM micro-kernel path:
    CCNN_GEMM_GENERIC=1, the portable C kernel (what CPUs without AVX2/FMA
    run), CCNN_GEMM_ISA=avx2 and the AVX-512 one (skipped on CPUs without)."""
    import test_gemm
    test_gemm.run_path(path, """
        import numpy as np
        import test_conv2d as T
        for dtype in (np.float32, np.float64):
            for i in range(len(T.BLOCKING_CASES)):
                T.test_blocking_sizes(T.BLOCKING_CASES[i], dtype)
            for seed in range(8):
                T.test_many_channels_random(seed, dtype)
    """)


@st.composite
def _conv_case(draw):
    """A small random conv2d problem: (x, w, b, stride, padding spec, dilation)."""
    N, C, K = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 7))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, 3),
        st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                  st.tuples(st.integers(0, 3), st.integers(0, 3)))))
    # an input large enough for the (dilated) kernel after padding
    H = draw(st.integers(max(1, (R - 1) * dilation[0] + 1 - 6), 10))
    W = draw(st.integers(max(1, (S - 1) * dilation[1] + 1 - 6), 10))
    pad = ref.conv_padding(padding, H, W, R, S, stride, dilation)
    if (ref.conv_out_size(H, R, stride[0], *pad[0], dilation[0]) < 1
            or ref.conv_out_size(W, S, stride[1], *pad[1], dilation[1]) < 1):
        padding = "same"  # always valid
        pad = ref.conv_padding(padding, H, W, R, S, stride, dilation)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((K, C, R, S))
    b = rng.standard_normal(K) if draw(st.booleans()) else None
    return x, w, b, stride, padding, pad, dilation


@settings(max_examples=80, deadline=None, derandomize=True)
@given(case=_conv_case())
def test_property_forward_backward(case):
    x, w, b, stride, padding, pad, dilation = case
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    y = F.conv2d(x, w, b, **kw)
    assert_close(y, ref.conv2d_ref(x, w, b, stride, pad, dilation), np.float64,
                 abs_scale(ref.conv2d_ref, x, w, b, stride=stride, pad=pad, dilation=dilation))
    gy = np.random.default_rng(0).standard_normal(y.shape)
    got = F.conv2d_backward(gy, x, w, **kw)
    exp = ref.conv2d_backward_ref(gy, x, w, stride, pad, dilation)
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=stride, pad=pad,
                       dilation=dilation)
    for g, e, s in zip(got, exp, scales):
        assert_close(g, e, np.float64, s)


@pytest.mark.parametrize("algo", ["direct", "gemm", "winograd"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_each_algorithm_on_all_shapes(dtype, algo):
    """The private binding's algorithm switch: each algorithm on small *and*
    large shapes (the public API picks one by shape); Winograd on the shapes
    it supports (3x3, stride 1, dilation 1; its input gradient also padding
    <= 2, c >= 16), a ValueError on the others.  A broken switch fails here."""
    from ccnn import _conv2d
    _conv2d.conv2d_forward(np.zeros((1, 2, 5, 5), dtype), np.zeros((2, 2, 3, 3), dtype),
                           None, (1, 1), (1, 1), (1, 1, 1, 1), 1, algo=algo)
    for seed in range(12):
        for make_cfg in (random_conv_config, random_conv_config_large):
            cfg = make_cfg(seed)
            x, w, b, gy = make_inputs(cfg, dtype, seed)
            st, dil = ref.pair(cfg["stride"]), ref.pair(cfg["dilation"])
            (pt, pb), (pl, pr) = cfg["pad"]
            pads = (pt, pb, pl, pr)
            if algo == "winograd" and not _conv2d.winograd_eligible(
                    x.shape, w.shape, st, dil, pads, forced=True):
                with pytest.raises(ValueError, match="winograd"):
                    _conv2d.conv2d_forward(x, w, b, st, dil, pads, 2, algo=algo)
                continue
            y = _conv2d.conv2d_forward(x, w, b, st, dil, pads, 2, algo=algo)
            check_forward(x, w, b, cfg, dtype, y)
            if algo == "winograd" and not _conv2d.winograd_eligible(
                    x.shape, w.shape, st, dil, pads, "data", forced=True):
                with pytest.raises(ValueError, match="winograd"):
                    _conv2d.conv2d_backward(gy, x, w, st, dil, pads, True, True, True, 2,
                                            algo=algo)
                _, gw, gb = _conv2d.conv2d_backward(gy, x, w, st, dil, pads, False, True, True,
                                                    2, algo=algo)   # the GEMM ones
                _, ew, eb = ref.conv2d_backward_ref(gy, x, w, st, cfg["pad"], dil)
                _, sw, sb = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=st,
                                      pad=cfg["pad"], dilation=dil)
                assert_close(gw, ew, dtype, sw, err_msg=str(cfg))
                assert_close(gb, eb, dtype, sb, err_msg=str(cfg))
                continue
            got = _conv2d.conv2d_backward(gy, x, w, st, dil, pads, True, True, True, 2,
                                          algo=algo)
            check_backward(gy, x, w, cfg, dtype, tuple(got))


# Hand-picked edge cases: (N, C, K, H, W, R, S, stride, padding, dilation)
EDGE_CASES = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 1),                 # everything 1x1
    (2, 3, 2, 5, 5, 5, 5, 1, 0, 1),                 # kernel == input -> 1x1 output
    (1, 2, 3, 5, 7, 2, 2, 5, 0, 1),                 # stride > kernel
    (1, 2, 3, 7, 7, 3, 3, 9, 1, 1),                 # stride > input
    (2, 2, 2, 7, 9, 3, 3, (2, 3), 1, 1),            # stride pair
    (1, 3, 2, 9, 9, 3, 3, 1, 0, 4),                 # dilation spans whole input
    (1, 1, 1, 4, 4, 3, 3, 1, ((0, 2), (2, 0)), 1),  # bottom/left only
    (1, 2, 2, 6, 5, 2, 3, 2, ((3, 0), (0, 1)), (2, 1)),
    (2, 2, 2, 6, 6, 4, 4, 2, "same", 1),            # even kernel, same, stride 2
    (2, 2, 2, 7, 6, 4, 3, 3, "same", 2),            # same + dilation + stride 3
    (1, 2, 2, 5, 5, 2, 2, 1, "same", 1),            # same with asymmetric split
    (1, 1, 2, 3, 3, 1, 1, 1, 4, 1),                 # padding larger than kernel
    (1, 2, 2, 8, 3, 3, 1, (2, 1), (1, 0), (1, 1)),
    (3, 4, 4, 12, 12, 5, 5, 3, "valid", 2),
    (1, 1, 1, 1, 10, 1, 3, 1, 0, 1),                # H = 1
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EDGE_CASES, ids=[str(i) for i in range(len(EDGE_CASES))])
def test_edge_cases(case, dtype):
    N, C, K, H, W, R, S, stride, padding, dilation = case
    pad = ref.conv_padding(padding, H, W, R, S, stride, dilation)
    st, dil = ref.pair(stride), ref.pair(dilation)
    P = ref.conv_out_size(H, R, st[0], *pad[0], dil[0])
    Q = ref.conv_out_size(W, S, st[1], *pad[1], dil[1])
    cfg = dict(N=N, C=C, K=K, H=H, W=W, R=R, S=S, stride=stride, padding=padding,
               dilation=dilation, pad=pad, bias=True, P=P, Q=Q)
    x, w, b, gy = make_inputs(cfg, dtype, 7)
    y = F.conv2d(x, w, b, **lib_kwargs(cfg))
    assert y.shape == (N, K, P, Q)
    check_forward(x, w, b, cfg, dtype, y)
    check_backward(gy, x, w, cfg, dtype, F.conv2d_backward(gy, x, w, **lib_kwargs(cfg)))


def test_hand_computed_example():
    # x = 1..16 in a 4x4 plane, a 2x2 kernel of ones, stride 2: block sums.
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    y = F.conv2d(x, w, np.array([0.5]), stride=2)
    np.testing.assert_array_equal(y, [[[[1 + 2 + 5 + 6 + 0.5, 3 + 4 + 7 + 8 + 0.5],
                                        [9 + 10 + 13 + 14 + 0.5, 11 + 12 + 15 + 16 + 0.5]]]])
    # cross-correlation, not convolution: the kernel is NOT flipped
    w = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    y = F.conv2d(x, w)
    np.testing.assert_array_equal(y[0, 0], x[0, 0, :3, :3])


@pytest.mark.parametrize("H,W,R,S,stride,dilation", [
    (5, 5, 3, 3, 1, 1), (6, 7, 4, 2, 2, 1), (7, 5, 3, 3, 3, 2), (4, 9, 5, 1, (2, 4), 1),
    (1, 1, 3, 3, 1, 1), (10, 10, 2, 2, 3, (2, 3)), (3, 3, 1, 1, 2, 1),
])
def test_same_padding_output_shape(H, W, R, S, stride, dilation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, H, W))
    w = rng.standard_normal((3, 2, R, S))
    y = F.conv2d(x, w, stride=stride, padding="same", dilation=dilation)
    sh, sw = ref.pair(stride)
    assert y.shape == (2, 3, -(-H // sh), -(-W // sw))
    pad = ref.conv_padding("same", H, W, R, S, stride, dilation)
    assert_close(y, ref.conv2d_ref(x, w, None, (sh, sw), pad, ref.pair(dilation)), np.float64)


def test_padding_spellings_agree():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((2, 3, 3, 3))
    y_int = F.conv2d(x, w, padding=1)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=(1, 1)), y_int)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=((1, 1), (1, 1))), y_int)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="same"), y_int)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="valid"), F.conv2d(x, w, padding=0))
    np.testing.assert_array_equal(F.conv2d(x, w, padding=[1, 1]), y_int)
    np.testing.assert_array_equal(F.conv2d(x, w, stride=(1, 1), dilation=(1, 1)),
                                  F.conv2d(x, w))


# ------------------------------------------------------------------ gradcheck
GRADCHECK_CASES = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(1, 2), padding=((0, 2), (1, 0)), dilation=(2, 1)),
    dict(stride=2, padding="same", dilation=1),
    dict(stride=3, padding=(2, 1), dilation=2),
]


def _numgrad(L, a, eps=1e-6):
    """Central differences of the scalar function L w.r.t. every entry of a (in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(*a.shape):
        old = a[i]
        a[i] = old + eps
        lp = L()
        a[i] = old - eps
        lm = L()
        a[i] = old
        g[i] = (lp - lm) / (2 * eps)
    return g


@pytest.mark.parametrize("kw", GRADCHECK_CASES, ids=[str(i) for i in range(len(GRADCHECK_CASES))])
def test_gradcheck_float64(kw):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((2, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    gy = rng.standard_normal(F.conv2d(x, w, b, **kw).shape)

    def L():
        return float(np.sum(gy * F.conv2d(x, w, b, **kw)))

    gx, gw, gb = F.conv2d_backward(gy, x, w, **kw)
    np.testing.assert_allclose(gx, _numgrad(L, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, _numgrad(L, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, _numgrad(L, b), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ dtypes
def test_dtype_rules():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    f32, f64 = np.float32, np.float64
    assert F.conv2d(x.astype(f32), w.astype(f32)).dtype == f32
    assert F.conv2d(x.astype(f32), w.astype(f32), b.astype(f32)).dtype == f32
    assert F.conv2d(x.astype(f32), w.astype(f32), b).dtype == f64
    assert F.conv2d(x.astype(f32), w).dtype == f64
    assert F.conv2d(x, w.astype(f32)).dtype == f64
    assert F.conv2d(x, w).dtype == f64
    gy = rng.standard_normal((1, 3, 3, 3))
    for g in F.conv2d_backward(gy.astype(f32), x.astype(f32), w.astype(f32)):
        assert g.dtype == f32
    for g in F.conv2d_backward(gy, x.astype(f32), w.astype(f32)):
        assert g.dtype == f64
    for g in F.conv2d_backward(gy.astype(f32), x.astype(f32), w):
        assert g.dtype == f64


def test_integer_and_bool_inputs_become_float64():
    xi = np.arange(2 * 2 * 4 * 4).reshape(2, 2, 4, 4) % 5 - 2
    wi = (np.arange(3 * 2 * 2 * 2).reshape(3, 2, 2, 2) % 3) - 1
    bi = np.array([1, -1, 0])
    y = F.conv2d(xi, wi, bi, padding=1)
    expected = ref.conv2d_ref(xi, wi, bi, (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, expected)
    yb = F.conv2d(xi > 0, wi.astype(np.int32))
    assert yb.dtype == np.float64
    np.testing.assert_array_equal(yb, ref.conv2d_ref((xi > 0), wi, None, (1, 1),
                                                     ((0, 0), (0, 0)), (1, 1)))
    gy = np.ones((2, 3, 3, 3), dtype=np.int64)
    for g, e in zip(F.conv2d_backward(gy, xi, wi),
                    ref.conv2d_backward_ref(gy, xi, wi, (1, 1), ((0, 0), (0, 0)), (1, 1))):
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, e)


def test_nested_lists_accepted():
    x = [[[[1.0, 2.0], [3.0, 4.0]]]]
    w = [[[[1.0]]]]
    y = F.conv2d(x, w, [0.5])
    np.testing.assert_array_equal(y, np.array(x) + 0.5)


# ------------------------------------------------------------------ empty batch
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(dtype):
    x = np.zeros((0, 3, 6, 6), dtype=dtype)
    w = np.ones((4, 3, 3, 3), dtype=dtype)
    b = np.ones(4, dtype=dtype)
    y = F.conv2d(x, w, b, stride=2, padding=1)
    assert y.shape == (0, 4, 3, 3) and y.dtype == dtype
    gy = np.zeros((0, 4, 3, 3), dtype=dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, stride=2, padding=1)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert gw.shape == w.shape and gw.dtype == dtype
    assert gb.shape == (4,) and gb.dtype == dtype
    np.testing.assert_array_equal(gw, 0)
    np.testing.assert_array_equal(gb, 0)


# ------------------------------------------------------------------ memory
def test_inputs_not_modified_and_no_alias():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    gy = rng.standard_normal((2, 4, 4, 3))
    check = unchanged(x, w, b, gy)
    y = F.conv2d(x, w, b, stride=2, padding=1)
    grads = F.conv2d_backward(gy, x, w, stride=2, padding=1)
    check()
    for out in (y, *grads):
        for inp in (x, w, b, gy):
            assert not np.shares_memory(out, inp)
    # 1x1 kernel of one, K == C == 1: output has the same shape and values as x
    x1 = rng.standard_normal((2, 1, 4, 4))
    x1_copy = x1.copy()
    y1 = F.conv2d(x1, np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(y1, x1)
    assert not np.shares_memory(y1, x1)
    y1[...] = 0  # writing the output must not touch the input
    np.testing.assert_array_equal(x1, x1_copy)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_noncontiguous_and_readonly_inputs(dtype, layout):
    stride, pad, dilation = (2, 1), ((1, 0), (2, 1)), (1, 2)
    cfg = dict(N=2, C=3, K=2, H=7, W=8, R=3, S=2, stride=stride, padding=pad,
               dilation=dilation, pad=pad, bias=True,
               P=ref.conv_out_size(7, 3, 2, 1, 0, 1), Q=ref.conv_out_size(8, 2, 1, 2, 1, 2))
    x, w, b, gy = make_inputs(cfg, dtype, 11)
    kw = lib_kwargs(cfg)
    xv, wv, bv, gv = (layout_variant(a, layout) for a in (x, w, b, gy))
    check = unchanged(xv, wv, bv, gv)
    check_forward(x, w, b, cfg, dtype, F.conv2d(xv, wv, bv, **kw))
    check_backward(gy, x, w, cfg, dtype, F.conv2d_backward(gv, xv, wv, **kw))
    check()


def test_channels_last_view():
    """A (N, H, W, C) array transposed to NCHW is a legitimate input."""
    rng = np.random.default_rng(8)
    nhwc = rng.standard_normal((2, 6, 5, 3))
    x = nhwc.transpose(0, 3, 1, 2)
    w = rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(x, w, padding=1)
    assert_close(y, ref.conv2d_ref(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1)), np.float64)


# ------------------------------------------------------------------ NaN / inf
@pytest.mark.parametrize("K,C", [(3, 2), (8, 4)], ids=["few-channels", "many-channels"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_propagate(dtype, K, C):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, C, 8, 8)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 6, 6] = np.inf
    x[1, 0, 0, 0] = -np.inf
    x[1, 1, 4, 4] = np.inf
    x[1, 1, 4, 5] = -np.inf  # some windows see both +inf and -inf -> NaN
    kw = dict(stride=1, padding=1)
    pad = ((1, 1), (1, 1))
    xf = np.where(np.isfinite(x), x, 0)  # for the tolerance scale only
    y = F.conv2d(x, w, **kw)
    expected = ref.conv2d_ref(x, w, None, (1, 1), pad, (1, 1))
    assert np.isnan(expected).any() and np.isinf(expected).any()
    scale = abs_scale(ref.conv2d_ref, xf, w, None, stride=(1, 1), pad=pad, dilation=(1, 1))
    assert_close(y, expected, dtype, scale)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, **kw)
    egx, egw, egb = ref.conv2d_backward_ref(gy, x, w, (1, 1), pad, (1, 1))
    assert np.isnan(egw).any()
    scales = abs_scale(ref.conv2d_backward_ref, gy, xf, w, stride=(1, 1), pad=pad,
                       dilation=(1, 1))
    assert_close(gx, egx, dtype, scales[0])
    assert_close(gw, egw, dtype, scales[1])
    assert_close(gb, egb, dtype, scales[2])
    # NaN in the weight poisons every output of that filter (no padding, so
    # every tap of every window sees real data)
    w2 = w.copy()
    w2[1, 0, 0, 0] = np.nan
    y2 = F.conv2d(np.nan_to_num(x, posinf=1.0, neginf=-1.0), w2)
    assert np.isnan(y2[:, 1]).all()
    assert np.isfinite(np.delete(y2, 1, axis=1)).all()


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("K,C", [(3, 2), (8, 4)], ids=["few-channels", "many-channels"])
def test_nonfinite_weight_with_padding(K, C, value):
    """Zero padding is multiplied like any other input (IEEE: 0 * NaN = NaN,
    0 * inf = NaN), so a non-finite weight poisons *every* output of its
    filter, including the border windows -- whichever algorithm is used."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, C, 5, 5))
    w = rng.standard_normal((K, C, 3, 3))
    w[0, 0, 0, 0] = value
    y = F.conv2d(x, w, padding=1)
    expected = ref.conv2d_ref(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert np.isnan(expected[0, 0, 0, 0])  # this window puts w[0,0,0,0] on padding
    assert_close(y, expected, np.float64,
                 abs_scale(ref.conv2d_ref, x, np.where(np.isfinite(w), w, 0), None,
                           stride=(1, 1), pad=((1, 1), (1, 1)), dilation=(1, 1)))


# ------------------------------------------------------------------ torch
def test_against_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    for seed in range(10):
        cfg = random_conv_config(seed)
        x, w, b, gy = make_inputs(cfg, np.float64, seed)
        (pt, pb), (pl, pr) = cfg["pad"]
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True) if b is not None else None
        ty = tF.conv2d(tF.pad(tx, (pl, pr, pt, pb)), tw, tb, stride=ref.pair(cfg["stride"]),
                       dilation=ref.pair(cfg["dilation"]))
        ty.backward(torch.tensor(gy))
        y = F.conv2d(x, w, b, **lib_kwargs(cfg))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        gx, gw, gb = F.conv2d_backward(gy, x, w, **lib_kwargs(cfg))
        np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)
        if tb is not None:
            np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c, k", [(1, 1, 32), (32, 1, 32), (5, 3, 48), (4, 1, 16)])
def test_few_channels_many_filters_forward(dtype, n, c, k):
    """A forward of few input channels (c*r*s < 32): the AVX-512 kernels take
    the implicit GEMM from 32 filters on (the modern model's first layer),
    the others the direct loops; either way NumPy's result, and the direct
    kernel's within rounding."""
    from ccnn import _conv2d
    one, pads = (1, 1), (1, 1, 1, 1)
    wide = _conv2d.gemm_kernel_name().startswith("avx512")
    algo = _conv2d.algo_for((n, c, 28, 28), (k, c, 3, 3), one, one, pads)
    assert algo == ("gemm" if wide and k >= 32 else "direct")
    rng = np.random.default_rng(n + c + k)
    x = rng.standard_normal((n, c, 28, 28)).astype(dtype)
    w = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    got = F.conv2d(x, w, b, padding=1, activation="relu")
    want = np.maximum(ref.conv2d_ref(x, w, b, pad=((1, 1), (1, 1))), 0)
    scale = abs_scale(ref.conv2d_ref, x, w, b, pad=((1, 1), (1, 1)))
    assert_close(got, want, dtype, scale)
    direct = _conv2d.conv2d_forward(x, w, b, one, one, pads, 2, algo="direct")
    assert_close(got, np.maximum(direct, 0), dtype, scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ["auto", "direct", "gemm"])
@pytest.mark.parametrize("seed", range(6))
def test_backward_writes_every_gradient_element(seed, algo, dtype):
    """The binding hands the kernels uninitialised dx, dw and db (np.empty):
    each must be written in full (assert_writes_every_element)."""
    from ccnn import _conv2d
    cfg = random_conv_config(seed)
    x, w, _, gy = make_inputs(cfg, dtype, seed)
    st, _, dil = ref_args(cfg)
    pads = tuple(int(p) for side in cfg["pad"] for p in side)       # (top, bottom, left, right)
    pair = lambda v: (v, v) if np.isscalar(v) else tuple(v)          # noqa: E731
    args = (gy, x, w, pair(st), pair(dil), pads, True, True, True, 2, algo)
    assert_writes_every_element(lambda: _conv2d.conv2d_backward(*args), dtype)
