"""Fused kernels against compositions of the NumPy references:
conv2d(..., activation='relu') and its backward, the input-gradient switch,
and the vectorised direct weight-gradient kernel (few input channels,
stride-1 columns) over every column count around the vector width."""

import numpy as np
import pytest

import ccnn.functional as F
import reference as ref
from _testutils import DTYPES, abs_scale, assert_close, random_conv_config

from test_conv2d import lib_kwargs, make_inputs, ref_args


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_conv2d_relu_forward_backward(seed, dtype):
    cfg = random_conv_config(seed)
    x, w, b, gy = make_inputs(cfg, dtype, seed)
    st, pad, dil = ref_args(cfg)
    z = ref.conv2d_ref(x, w, b, st, pad, dil)
    y = F.conv2d(x, w, b, activation="relu", **lib_kwargs(cfg))
    scale = abs_scale(ref.conv2d_ref, x, w, b, stride=st, pad=pad, dilation=dil)
    assert_close(y, ref.relu_ref(z), dtype, scale, err_msg=str(cfg))
    # the gradient flows where the *library's* output is positive (an output
    # within rounding of 0 may sit on either side of it in the reference)
    gz = ref.relu_backward_ref(gy, y)
    got = F.conv2d_backward(gy, x, w, activation="relu", output=y, **lib_kwargs(cfg))
    expected = ref.conv2d_backward_ref(gz, x, w, st, pad, dil)
    scales = abs_scale(ref.conv2d_backward_ref, gz, x, w, stride=st, pad=pad, dilation=dil)
    for name, g, e, s in zip(("grad_x", "grad_weight", "grad_bias"), got, expected, scales):
        assert_close(g, e, dtype, s, err_msg=f"{name} {cfg}")
    # without the input gradient the direct kernel masks dout on the fly
    gx, gw, gb = F.conv2d_backward(gy, x, w, activation="relu", output=y,
                                   need_input_grad=False, **lib_kwargs(cfg))
    assert gx is None
    assert_close(gw, expected[1], dtype, scales[1], err_msg=f"grad_weight (no dx) {cfg}")
    assert_close(gb, expected[2], dtype, scales[2], err_msg=f"grad_bias (no dx) {cfg}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_keeps_nan_and_masks_gradient(dtype):
    x = np.zeros((1, 1, 4, 4), dtype)
    x[0, 0, 1, 1] = np.nan
    w = np.ones((2, 1, 1, 1), dtype)
    w[1] = -1
    y = F.conv2d(x, w, activation="relu")
    assert np.isnan(y[0, 0, 1, 1]) and np.isnan(y[0, 1, 1, 1])
    assert (y[~np.isnan(y)] == 0).all()
    gy = np.ones_like(y)
    _, gw, gb = F.conv2d_backward(gy, np.ones_like(x), w, activation="relu", output=y)
    assert (gb == 0).all() and (gw == 0).all()   # y > 0 nowhere (NaN > 0 is False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_need_input_grad_false_skips_grad_x(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 9)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    gy = rng.standard_normal((2, 4, 9, 9)).astype(dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, padding=1, need_input_grad=False)
    assert gx is None
    egx, egw, egb = F.conv2d_backward(gy, x, w, padding=1)
    np.testing.assert_array_equal(gw, egw)
    np.testing.assert_array_equal(gb, egb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("Q", list(range(1, 35)))
def test_direct_weight_gradient_every_width(Q, dtype):
    """The direct weight-gradient kernel runs 8 (float) or 4 (double) columns
    at a time and masks the last block; every width around those multiples,
    with stride 2 along rows, dilation, asymmetric padding and 17 images
    (more than the 16 partial-sum groups)."""
    rng = np.random.default_rng(Q)
    R, S, dil, sh = 3, 2 + Q % 3, 1 + Q % 2, 1 + Q % 2
    W = Q + (S - 1) * dil - 1               # padding left 1, right 0 -> Q columns
    x = rng.standard_normal((17, 2, 11, W)).astype(dtype)
    w = rng.standard_normal((5, 2, R, S)).astype(dtype)
    pad = ((1, 1), (1, 0))
    y = F.conv2d(x, w, stride=(sh, 1), padding=pad, dilation=dil)
    assert y.shape[3] == Q
    gy = rng.standard_normal(y.shape).astype(dtype)
    # a non-finite input in a column no window reads at this width must not leak
    got = F.conv2d_backward(gy, x, w, stride=(sh, 1), padding=pad, dilation=dil)
    expected = ref.conv2d_backward_ref(gy, x, w, (sh, 1), pad, (dil, dil))
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=(sh, 1), pad=pad,
                       dilation=(dil, dil))
    for g, e, s in zip(got, expected, scales):
        assert_close(g, e, dtype, s)


@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_weight_gradient_inf_beyond_last_column(dtype):
    """x has inf in the last input column, which no window of a valid 1x1
    conv with stride 1 reads when W > Q... here W == Q; so put it where the
    vector block overhangs: with 1x2 kernels the last column is read only by
    the tap s = 1; the masked lanes must not turn 0 * inf into NaN for s = 0."""
    x = np.ones((1, 1, 3, 10), dtype)
    x[:, :, :, 9] = np.inf
    w = np.ones((1, 1, 1, 2), dtype)
    gy = np.ones((1, 1, 3, 9), dtype)
    _, gw, _ = F.conv2d_backward(gy, x, w)
    assert gw[0, 0, 0, 0] == 27            # tap 0 reads columns 0..8 only
    assert gw[0, 0, 0, 1] == np.inf        # tap 1 reads column 9


def test_activation_argument_errors():
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="activation"):
        F.conv2d(x, w, activation="sigmoid")
    y = F.conv2d(x, w, activation="relu")
    gy = np.ones_like(y)
    with pytest.raises(ValueError, match="output"):
        F.conv2d_backward(gy, x, w, activation="relu")
    with pytest.raises(ValueError, match="output"):
        F.conv2d_backward(gy, x, w, activation="relu", output=np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="output"):
        F.conv2d_backward(gy, x, w, output=y)
    with pytest.raises(TypeError, match="need_input_grad"):
        F.conv2d_backward(gy, x, w, need_input_grad="no")


def test_dropout_mask_independent_of_thread_count():
    """The C sampler hashes (seed, index): the same mask for 1 and 2 threads,
    above the size where the kernel goes parallel."""
    import ccnn
    x = np.ones(300_001, np.float32)
    before = ccnn.get_num_threads()
    try:
        ccnn.set_num_threads(1)
        y1, m1 = F.dropout(x, 0.3, seed=11)
        ccnn.set_num_threads(2)
        y2, m2 = F.dropout(x, 0.3, seed=11)
    finally:
        ccnn.set_num_threads(before)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, ref.dropout_ref(x, m1, 0.3).astype(np.float32))


@pytest.mark.parametrize("rate", [0.0, 1e-9, 0.25, 0.999])
def test_dropout_extreme_rates(rate):
    n = 100_000
    _, m = F.dropout(np.ones(n), rate, seed=5)
    keep = 1 - rate
    sigma = np.sqrt(max(keep * (1 - keep), 1e-12) / n)
    assert abs(m.mean() - keep) < 6 * sigma + 1e-9


# ------------------------------------------------------- optimizer in one call
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_many_equals_one_array_at_a_time(dtype):
    from ccnn import _optim
    rng = np.random.default_rng(8)
    sizes = [0, 1, 7, 16384, 16385, 100_000, 3]          # chunk edges, empty, > parallel size
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
    ms = [rng.standard_normal(n).astype(dtype) for n in sizes]
    vs = [rng.random(n).astype(dtype) for n in sizes]
    twins = [[a.copy() for a in group] for group in (params, ms, vs)]
    _optim.adam_update_many(params, ms, vs, grads, 0.01, 0.9, 0.999, 1e-7, 2)
    for p, m, v, g in zip(*twins, grads):
        _optim.adam_update(p, m, v, g, 0.01, 0.9, 0.999, 1e-7, 1)
    for got, want in zip(params + ms + vs, twins[0] + twins[1] + twins[2]):
        np.testing.assert_array_equal(got, want)


def test_adam_update_many_rejects_mismatched_arrays():
    from ccnn import _optim
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError):
        _optim.adam_update_many([a], [a.copy()], [np.zeros(3, np.float32)], [a], 0.1, 0.9,
                                0.999, 1e-7, 1)
    with pytest.raises(ValueError):
        _optim.adam_update_many([a], [a.copy()], [a.copy()], [np.zeros(4)], 0.1, 0.9, 0.999,
                                1e-7, 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite(bad):
    from ccnn.optimizers import all_finite
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(n) .astype(dt) for n, dt in
              [(5, np.float32), (70_000, np.float32), (100_003, np.float64), (0, np.float64)]]
    assert all_finite(arrays)
    for i in range(3):
        for pos in (0, arrays[i].size // 2, arrays[i].size - 1):
            broken = [a.copy() for a in arrays]
            broken[i][pos] = bad
            assert not all_finite(broken)
    big = [np.full(10, np.finfo(np.float32).max, np.float32)]   # huge but finite
    assert all_finite(big)


# ------------------------------------------------------------------- dense
DENSE_SHAPES = [(1, 1, 1), (3, 5, 2), (32, 1960, 100), (7, 13, 17), (50, 6, 40), (2, 300, 1),
                (128, 100, 10), (0, 4, 3), (97, 33, 65),
                (20, 700, 30), (5, 1024, 7), (3, 2500, 130)]   # forward sum split in 2 / 4 parts


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=[str(s) for s in DENSE_SHAPES])
@pytest.mark.parametrize("act", [None, "relu"])
def test_dense_forward_backward(shape, act, dtype):
    n, fan_in, units = shape
    rng = np.random.default_rng(n * 7 + fan_in + units)
    x = rng.standard_normal((n, fan_in)).astype(dtype)
    k = rng.standard_normal((fan_in, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    gy = rng.standard_normal((n, units)).astype(dtype)
    z = ref.dense_ref(x, k, b)
    y = F.dense(x, k, b, activation=act)
    scale = abs_scale(ref.dense_ref, x, k, b)
    assert_close(y, ref.relu_ref(z) if act else z, dtype, scale)
    gz = ref.relu_backward_ref(gy, y) if act else gy
    got = F.dense_backward(gy, x, k, activation=act, output=y if act else None)
    expected = ref.dense_backward_ref(gz, x, k)
    scales = abs_scale(ref.dense_backward_ref, gz, x, k)
    for g, e, s in zip(got, expected, scales):
        assert_close(g, e, dtype, s)
    gx, gk, gb = F.dense_backward(gy, x, k, need_input_grad=False, activation=act,
                                  output=y if act else None)
    assert gx is None
    np.testing.assert_array_equal(gk, got[1])


@pytest.mark.parametrize("n, fan_in, units", [(64, 500, 70), (32, 1200, 50)],
                         ids=["output-split", "sum-split"])
def test_dense_results_do_not_depend_on_thread_count(n, fan_in, units):
    import ccnn
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, fan_in)).astype(np.float32)
    k = rng.standard_normal((fan_in, units)).astype(np.float32)
    gy = rng.standard_normal((n, units)).astype(np.float32)
    before = ccnn.get_num_threads()
    out = []
    try:
        for nt in (1, 2, 3):
            ccnn.set_num_threads(nt)
            y = F.dense(x, k, activation="relu")
            out.append((y,) + tuple(F.dense_backward(gy, x, k, activation="relu", output=y)))
    finally:
        ccnn.set_num_threads(before)
    for other in out[1:]:
        for a, b in zip(out[0], other):
            np.testing.assert_array_equal(a, b)


def test_dense_gradcheck_float64():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6))
    k = rng.standard_normal((6, 3))
    b = rng.standard_normal(3)
    gy = rng.standard_normal((4, 3))
    loss = lambda: float((F.dense(x, k, b, activation="relu") * gy).sum())  # noqa: E731
    y = F.dense(x, k, b, activation="relu")
    gx, gk, gb = F.dense_backward(gy, x, k, activation="relu", output=y)
    for arr, grad in ((x, gx), (k, gk), (b, gb)):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + 1e-6
            hi = loss()
            arr[i] = old - 1e-6
            lo = loss()
            arr[i] = old
            num[i] = (hi - lo) / 2e-6
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_dense_argument_errors():
    x = np.ones((2, 3), np.float32)
    k = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="feature mismatch"):
        F.dense(x, np.ones((4, 4)))
    with pytest.raises(ValueError, match="x must be a 2-D"):
        F.dense(np.ones(3), k)
    with pytest.raises(ValueError, match="bias"):
        F.dense(x, k, np.ones(3))
    with pytest.raises(TypeError, match="x"):
        F.dense(np.array(["a"]), k)
    with pytest.raises(ValueError, match="grad_out"):
        F.dense_backward(np.ones((2, 5)), x, k)
    with pytest.raises(ValueError, match="output"):
        F.dense_backward(np.ones((2, 4)), x, k, activation="relu")
    with pytest.raises(ValueError, match="activation"):
        F.dense(x, k, activation="tanh")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [None, np.nan, np.inf])
@pytest.mark.parametrize("C", [2, 16], ids=["few-channels", "gemm-channels"])
def test_input_gradient_of_few_channels(dtype, value, C):
    """The stride-1 input gradient runs as a forward correlation with the
    flipped weight (direct kernel for few input channels, implicit GEMM from
    16 on); a non-finite weight falls back to a path without padding products
    (the flipped form would multiply it by padding: 0 * inf = NaN)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, C, 9, 11)).astype(dtype)
    w = rng.standard_normal((10, C, 3, 3)).astype(dtype)
    if value is not None:
        w[3, 1, 0, 2] = value
    for padding, dilation in ((1, 1), ("valid", 1), (((2, 0), (0, 2)), 1), (2, 2)):
        y = F.conv2d(x, w, padding=padding, dilation=dilation)
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx, _, _ = F.conv2d_backward(gy, x, w, padding=padding, dilation=dilation)
        pad = ref.conv_padding(padding, 9, 11, 3, 3, 1, dilation)
        egx = ref.conv2d_backward_ref(gy, x, w, (1, 1), pad, (dilation, dilation))[0]
        wf = np.where(np.isfinite(w), w, 0)
        scale = abs_scale(ref.conv2d_backward_ref, gy, x, wf, stride=(1, 1), pad=pad,
                          dilation=(dilation, dilation))[0]
        assert_close(gx, egx, dtype, scale, err_msg=f"{padding} {dilation}")


# ------------------------------------------------- conv -> relu -> max pool
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(16))
def test_conv2d_relu_maxpool2d(seed, dtype):
    """The fused kernels equal the composition of the references: max-pool
    2x2 of relu(conv), and the gradients of the loss sum(grad_out * out)."""
    rng = np.random.default_rng(seed)
    N, C, K = int(rng.integers(1, 19)), int(rng.integers(1, 3)), int(rng.integers(1, 12))
    H, W = int(rng.integers(2, 15)), int(rng.integers(2, 20))
    R, S = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = [0, 1, "same", ((1, 0), (0, 2))][seed % 4]
    sh = 1 + seed % 2
    pad = ref.conv_padding(padding, H, W, R, S, (sh, 1), 1)
    P = ref.conv_out_size(H, R, sh, *pad[0], 1)
    Q = ref.conv_out_size(W, S, 1, *pad[1], 1)
    if P < 2 or Q < 2:
        pytest.skip("output smaller than one pooling window")
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    out, argmax = F.conv2d_relu_maxpool2d(x, w, b, stride=(sh, 1), padding=padding)
    y = F.conv2d(x, w, b, stride=(sh, 1), padding=padding, activation="relu")
    assert_close(out, ref.max_pool2d_ref(y, 2)[0], dtype, 1.0)
    pooled_lib, idx = F.max_pool2d(y, 2, return_indices=True)
    np.testing.assert_array_equal(out, pooled_lib)
    # argmax offsets name the same element as the flat indices
    rows = 2 * np.arange(out.shape[2])[:, None] + (argmax >> 1)
    cols = 2 * np.arange(out.shape[3])[None, :] + (argmax & 1)
    np.testing.assert_array_equal(rows * Q + cols, idx)
    g = rng.standard_normal(out.shape).astype(dtype)
    gw, gb = F.conv2d_relu_maxpool2d_backward(g, x, w, out, argmax, stride=(sh, 1),
                                              padding=padding)
    gy = ref.max_pool2d_backward_ref(g, y, 2)                      # to the conv output
    gz = ref.relu_backward_ref(gy, y)
    _, egw, egb = ref.conv2d_backward_ref(gz, x, w, (sh, 1), pad, (1, 1))
    scales = abs_scale(ref.conv2d_backward_ref, gz, x, w, stride=(sh, 1), pad=pad,
                       dilation=(1, 1))
    assert_close(gw, egw, dtype, scales[1])
    assert_close(gb, egb, dtype, scales[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("W", [2, 3, 5, 8, 9, 15, 16, 17, 18, 19, 28, 31, 33, 34, 35, 47, 50])
def test_conv2d_relu_maxpool2d_every_width_nan_and_ties(W, dtype):
    """The forward pools two conv rows at a time from the registers (whole
    and partial blocks of windows, odd last rows and columns dropped): the
    pooled values and argmax offsets equal the reference and, bit for bit,
    the unfused conv(relu) + max_pool2d -- with NaN, +-inf, exact ties and
    all-negative (all-zero after ReLU) windows."""
    rng = np.random.default_rng(W)
    N, K = 3, 5 + W % 3
    for C, H, R, sh in ((1, 7, 3, 1), (2, 9, 2, 2)):
        x = rng.integers(-2, 3, (N, C, H, W)).astype(dtype)   # small integers: many ties
        x[0, 0, 1, W // 2] = np.nan
        x[1, C - 1, H - 2, W - 1] = np.inf
        x[2, 0, 0, 0] = -np.inf
        w = rng.integers(-1, 2, (K, C, R, 3)).astype(dtype)
        b = rng.integers(-1, 2, K).astype(dtype)
        for padding in (1, "same", 0):
            pad = ref.conv_padding(padding, H, W, R, 3, (sh, 1), 1)
            if (ref.conv_out_size(H, R, sh, *pad[0], 1) < 2
                    or ref.conv_out_size(W, 3, 1, *pad[1], 1) < 2):
                continue
            out, argmax = F.conv2d_relu_maxpool2d(x, w, b, stride=(sh, 1), padding=padding)
            y = F.conv2d(x, w, b, stride=(sh, 1), padding=padding, activation="relu")
            pooled, idx = F.max_pool2d(y, 2, return_indices=True)
            np.testing.assert_array_equal(out, pooled)
            num = ~np.isnan(out)
            np.testing.assert_array_equal(np.signbit(out[num]), np.signbit(pooled[num]))
            ey, eidx = ref.max_pool2d_ref(y, 2)
            np.testing.assert_array_equal(out, ey.astype(dtype))
            Q = y.shape[3]
            rows = 2 * np.arange(out.shape[2])[:, None] + (argmax >> 1)
            cols = 2 * np.arange(out.shape[3])[None, :] + (argmax & 1)
            np.testing.assert_array_equal(rows * Q + cols, eidx, err_msg=f"{C} {padding}")
            np.testing.assert_array_equal(rows * Q + cols, idx)


def test_conv2d_relu_maxpool2d_argument_errors():
    x = np.ones((1, 1, 6, 6), np.float32)
    w = np.ones((2, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="stride"):
        F.conv2d_relu_maxpool2d(x, w, stride=2)
    with pytest.raises(ValueError):
        F.conv2d_relu_maxpool2d(np.ones((1, 8, 6, 6)), np.ones((2, 8, 3, 3)))   # 72 taps
    out, am = F.conv2d_relu_maxpool2d(x, w, padding=1)
    g = np.ones_like(out)
    with pytest.raises(TypeError, match="argmax"):
        F.conv2d_relu_maxpool2d_backward(g, x, w, out, am.astype(np.int64), padding=1)
    bad = am.copy()
    bad[0, 0, 0, 0] = 7
    with pytest.raises(ValueError, match="argmax"):
        F.conv2d_relu_maxpool2d_backward(g, x, w, out, bad, padding=1)
    with pytest.raises(ValueError, match="grad_out"):
        F.conv2d_relu_maxpool2d_backward(np.ones((1, 2, 2, 2)), x, w, out, am, padding=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_runs_its_first_conv_and_pool_fused(dtype):
    """The book model's Conv2D(relu) + MaxPooling2D(2) run as one kernel in a
    Sequential; outputs and gradients equal the layer-by-layer path."""
    from ccnn import Sequential
    from ccnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from ccnn.layers.fused import Conv2DReLUMaxPool2D
    from ccnn.models.fusion import make_plan
    rng = np.random.default_rng(0)
    model = Sequential([Conv2D(6, 3, activation="relu", padding="same", input_shape=(13, 12, 1),
                               dtype=dtype),
                        MaxPooling2D(2, dtype=dtype), Flatten(dtype=dtype),
                        Dense(7, activation="softmax", dtype=dtype)])
    model.compile(loss="sparse_categorical_crossentropy")
    assert isinstance(model._execution_plan().steps[0], Conv2DReLUMaxPool2D)
    x = rng.standard_normal((9, 13, 12, 1)).astype(dtype)
    y = rng.integers(0, 7, 9)
    loss, grads = model.compute_gradients(x, y)
    out = model.predict(x)
    # the layer-by-layer path (the softmax head stays fused)
    model._plan = make_plan(model.layers, model.loss, fusions=("softmax_cross_entropy",))
    assert model._execution_plan().steps[:2] == model.layers[:2]
    loss2, grads2 = model.compute_gradients(x, y)
    out2 = model.predict(x)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, loss2, **tol)
    np.testing.assert_allclose(out, out2, **tol)
    for g, g2 in zip(grads, grads2):
        np.testing.assert_allclose(g, g2, **tol)
