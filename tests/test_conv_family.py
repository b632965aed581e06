"""Grouped, depthwise and transposed convolutions (issue 13): F.conv2d(groups=)
(groups == in_channels runs the depthwise C kernel, depthwise.c; other groups
the conv2d kernels per channel slice) and F.conv_transpose2d against the NumPy
references in tests/ref_depthwise.py, central differences and PyTorch; the
layers DepthwiseConv2D, SeparableConv2D, Conv2DTranspose and Conv2D(groups=)
against Keras 3 (KERAS_BACKEND=torch)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_depthwise as ref
from _testutils import (DTYPES, assert_close, assert_writes_every_element, central_differences,
                        unchanged)

N_CONFIGS = 40


# ------------------------------------------------------------ random geometry
def grouped_case(seed, depthwise):
    """A random grouped (or depthwise) geometry and its arrays (float64)."""
    rng = np.random.default_rng(seed)
    if depthwise:
        c = int(rng.integers(1, 7))
        groups, k = c, c * int(rng.integers(1, 4))
    else:
        groups = int(rng.choice([2, 3, 4]))
        c, k = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    r, s = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pads = tuple(int(v) for v in rng.integers(0, 3, size=4))     # asymmetric
    h = int(rng.integers(1, 13)) + dilation[0] * (r - 1)
    w = int(rng.integers(1, 13)) + dilation[1] * (s - 1)
    n = int(rng.integers(1, 4))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((k, c // groups, r, s))
    b = rng.standard_normal(k) if rng.random() < 0.7 else None
    padding = ((pads[0], pads[1]), (pads[2], pads[3]))
    return dict(x=x, w=wt, b=b, stride=stride, dilation=dilation, pads=pads, padding=padding,
                groups=groups, rng=rng)


def transpose_case(seed):
    rng = np.random.default_rng(1000 + seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, og = groups * int(rng.integers(1, 4)), int(rng.integers(1, 4))
    r, s = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    opad = tuple(int(rng.integers(0, max(stride[i], dilation[i]))) for i in range(2))
    padding = []
    for i, (size, k) in enumerate(((h, r), (w, s))):
        full = (size - 1) * stride[i] + dilation[i] * (k - 1) + 1
        padding.append(int(rng.integers(0, max(1, (full + opad[i] - 1) // 2 + 1))))
    n = int(rng.integers(1, 4))
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cin, og, r, s))
    b = rng.standard_normal(og * groups) if rng.random() < 0.7 else None
    crops, out_hw = ref.torch_transpose_geometry((h, w), (r, s), stride, tuple(padding), opad,
                                                 dilation)
    return dict(x=x, w=wt, b=b, stride=stride, dilation=dilation, padding=tuple(padding),
                output_padding=opad, groups=groups, crops=crops, out_hw=out_hw, rng=rng)


def _cast(dtype, *arrays):
    return [None if a is None else a.astype(dtype) for a in arrays]


def _scale(*arrays):
    return max(1.0, *(float(np.abs(a).max()) for a in arrays if a is not None and a.size))


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("depthwise", [True, False], ids=["depthwise", "grouped"])
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_grouped_matches_reference(seed, depthwise, dtype):
    cs = grouped_case(seed, depthwise)
    x, w, b = _cast(dtype, cs["x"], cs["w"], cs["b"])
    kw = dict(stride=cs["stride"], padding=cs["padding"], dilation=cs["dilation"],
              groups=cs["groups"])
    check = unchanged(x, w)
    y = F.conv2d(x, w, b, **kw)
    want = ref.grouped_conv2d_ref(x, w, b, cs["stride"], cs["pads"], cs["dilation"],
                                  cs["groups"])
    taps = w.shape[1] * w.shape[2] * w.shape[3]
    assert_close(y, want, dtype, scale=taps * _scale(x, w, b), err_msg=str(kw))
    gy = cs["rng"].standard_normal(y.shape).astype(dtype)
    got = F.conv2d_backward(gy, x, w, **kw)
    wants = ref.grouped_conv2d_backward_ref(gy, x, w, cs["stride"], cs["pads"], cs["dilation"],
                                            cs["groups"])
    big = y.shape[0] * y.shape[2] * y.shape[3] * _scale(x, w, gy) * taps
    for name, g, e in zip(("grad_x", "grad_weight", "grad_bias"), got, wants):
        assert_close(g, e, dtype, scale=big, err_msg=f"{name} {kw}")
    check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_transpose_matches_reference(seed, dtype):
    cs = transpose_case(seed)
    x, w, b = _cast(dtype, cs["x"], cs["w"], cs["b"])
    kw = dict(stride=cs["stride"], padding=cs["padding"], output_padding=cs["output_padding"],
              groups=cs["groups"], dilation=cs["dilation"])
    check = unchanged(x, w)
    y = F.conv_transpose2d(x, w, b, **kw)
    want = ref.conv_transpose2d_ref(x, w, b, cs["stride"], cs["dilation"], cs["crops"],
                                    cs["out_hw"], cs["groups"])
    taps = x.shape[1] * w.shape[2] * w.shape[3]
    assert_close(y, want, dtype, scale=taps * _scale(x, w, b), err_msg=str(kw))
    gy = cs["rng"].standard_normal(y.shape).astype(dtype)
    got = F.conv_transpose2d_backward(gy, x, w, **kw)
    wants = ref.conv_transpose2d_backward_ref(gy, x, w, cs["stride"], cs["dilation"],
                                              cs["crops"], cs["groups"])
    big = np.prod(y.shape) * _scale(x, w, gy) * taps
    for name, g, e in zip(("grad_input", "grad_weight", "grad_bias"), got, wants):
        assert_close(g, e, dtype, scale=big, err_msg=f"{name} {kw}")
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_depthwise_on_every_thread_count(dtype):
    """Big enough to run threaded (and a 9 x 9 kernel, past the 64 taps the
    weight gradient sums on the stack): the reference's result, bit for bit
    the same on 1 and 2 threads."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 16, 40, 37)).astype(dtype)
    before = ccnn.get_num_threads()
    for shape, pad in (((32, 1, 3, 3), 1), ((16, 1, 9, 9), 4)):
        w = rng.standard_normal(shape).astype(dtype)
        want = ref.grouped_conv2d_ref(x, w, None, 1, pad, 1, 16)
        gy = rng.standard_normal(want.shape).astype(dtype)
        wants = ref.grouped_conv2d_backward_ref(gy, x, w, 1, pad, 1, 16)
        runs = []
        try:
            for threads in (1, 2):
                ccnn.set_num_threads(threads)
                runs.append((F.conv2d(x, w, None, padding="same", groups=16),)
                            + F.conv2d_backward(gy, x, w, padding="same", groups=16))
        finally:
            ccnn.set_num_threads(before)
        taps = shape[2] * shape[3]
        assert_close(runs[0][0], want, dtype, scale=taps * 5.0)
        for g, e in zip(runs[0][1:], wants):
            assert_close(g, e, dtype, scale=40 * 37 * 4 * taps * 5.0)
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_depthwise_backward_writes_every_gradient_element(seed, dtype):
    """The binding hands the kernel uninitialised dx, dw and db (np.empty):
    each must be written in full (assert_writes_every_element); the result
    equals the reference's."""
    from ccnn import _depthwise
    cs = grouped_case(500 + seed, depthwise=True)
    x, w = _cast(dtype, cs["x"], cs["w"])
    y = ref.grouped_conv2d_ref(x, w, None, cs["stride"], cs["pads"], cs["dilation"],
                               cs["groups"])
    gy = cs["rng"].standard_normal(y.shape).astype(dtype)
    args = (gy, x, w[:, 0], cs["stride"], cs["dilation"], cs["pads"], True, True, True, 2)
    first = assert_writes_every_element(lambda: _depthwise.depthwise_backward(*args), dtype)
    wants = ref.grouped_conv2d_backward_ref(gy, x, w, cs["stride"], cs["pads"], cs["dilation"],
                                            cs["groups"])
    big = y.shape[0] * y.shape[2] * y.shape[3] * _scale(x, w, gy) * w.shape[2] * w.shape[3]
    for g, e in zip(first, (wants[0], wants[1][:, 0], wants[2])):
        assert_close(g, e, dtype, scale=big)


def test_depthwise_backward_of_an_empty_batch_is_zeros():
    """No kernel runs on an empty batch: dw and db are zeros, not whatever
    the allocator handed back."""
    from ccnn import _depthwise
    x, w = np.ones((0, 3, 5, 5)), np.ones((6, 3, 3))
    gy = np.ones((0, 6, 3, 3))
    for _ in range(3):
        junk = [np.full(shape, np.nan) for shape in ((6, 3, 3), (6,))]
        del junk
        dx, dw, db = _depthwise.depthwise_backward(gy, x, w, (1, 1), (1, 1), (0, 0, 0, 0),
                                                   True, True, True, 2)
        assert dx.shape == (0, 3, 5, 5)
        np.testing.assert_array_equal(dw, np.zeros((6, 3, 3)))
        np.testing.assert_array_equal(db, np.zeros(6))


# -------------------------------------------------------- central differences
def _grad_check(f, backward, arrays, gy_shape, seed=0):
    """backward(gy, *arrays) against central differences of sum(f(*arrays) * gy)."""
    gy = np.random.default_rng(seed).standard_normal(gy_shape)
    got = backward(gy, *arrays)
    for i, a in enumerate(arrays):
        if a is None:
            continue

        def loss(v, i=i):
            args = list(arrays)
            args[i] = v
            return float((f(*args) * gy).sum())
        np.testing.assert_allclose(got[i], central_differences(loss, a), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_grouped_gradients_match_central_differences(seed):
    for depthwise in (True, False):
        cs = grouped_case(100 + seed, depthwise)
        kw = dict(stride=cs["stride"], padding=cs["padding"], dilation=cs["dilation"],
                  groups=cs["groups"])
        b = cs["b"] if cs["b"] is not None else np.zeros(cs["w"].shape[0])
        y = F.conv2d(cs["x"], cs["w"], b, **kw)
        _grad_check(lambda x, w, b: F.conv2d(x, w, b, **kw),
                    lambda g, x, w, b: F.conv2d_backward(g, x, w, **kw),
                    [cs["x"], cs["w"], b], y.shape, seed)


@pytest.mark.parametrize("seed", range(4))
def test_transpose_gradients_match_central_differences(seed):
    cs = transpose_case(200 + seed)
    kw = dict(stride=cs["stride"], padding=cs["padding"], output_padding=cs["output_padding"],
              groups=cs["groups"], dilation=cs["dilation"])
    b = np.zeros(cs["w"].shape[1] * cs["groups"])
    y = F.conv_transpose2d(cs["x"], cs["w"], b, **kw)
    _grad_check(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                lambda g, x, w, b: F.conv_transpose2d_backward(g, x, w, **kw),
                [cs["x"], cs["w"], b], y.shape, seed)


# ------------------------------------------------------------------ PyTorch
def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: no PyTorch cross-check")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_matches_pytorch(seed, dtype):
    torch = _torch()
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for depthwise in (True, False):
        cs = grouped_case(300 + seed, depthwise)
        x, w = _cast(dtype, cs["x"], cs["w"])
        b = cs["rng"].standard_normal(w.shape[0]).astype(dtype)
        ph, pw = seed % 3, (seed + 1) % 3
        tx, tw, tb = (torch.tensor(a, dtype=tdt, requires_grad=True) for a in (x, w, b))
        ty = torch.nn.functional.conv2d(tx, tw, tb, cs["stride"], (ph, pw), cs["dilation"],
                                        cs["groups"])
        kw = dict(stride=cs["stride"], padding=(ph, pw), dilation=cs["dilation"],
                  groups=cs["groups"])
        np.testing.assert_allclose(F.conv2d(x, w, b, **kw), ty.detach().numpy(), **tol)
        gy = cs["rng"].standard_normal(tuple(ty.shape)).astype(dtype)
        ty.backward(torch.tensor(gy))
        for g, t in zip(F.conv2d_backward(gy, x, w, **kw), (tx, tw, tb)):
            np.testing.assert_allclose(g, t.grad.numpy(), **tol)
    cs = transpose_case(400 + seed)
    x, w = _cast(dtype, cs["x"], cs["w"])
    b = cs["rng"].standard_normal(w.shape[1] * cs["groups"]).astype(dtype)
    kw = dict(stride=cs["stride"], padding=cs["padding"], output_padding=cs["output_padding"],
              groups=cs["groups"], dilation=cs["dilation"])
    tx, tw, tb = (torch.tensor(a, dtype=tdt, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, **kw)
    np.testing.assert_allclose(F.conv_transpose2d(x, w, b, **kw), ty.detach().numpy(), **tol)
    gy = cs["rng"].standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))
    for g, t in zip(F.conv_transpose2d_backward(gy, x, w, **kw), (tx, tw, tb)):
        np.testing.assert_allclose(g, t.grad.numpy(), **tol)


# --------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 5), m=st.integers(1, 3), k=st.integers(1, 4), stride=st.integers(1, 3),
       dil=st.integers(1, 2), pad=st.integers(0, 2), size=st.integers(4, 10),
       seed=st.integers(0, 2**31))
def test_depthwise_is_one_conv2d_per_channel(c, m, k, stride, dil, pad, size, seed):
    """The depthwise kernel equals groups=1 conv2d run on each channel alone."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c, size + dil * (k - 1), size + dil * (k - 1)))
    w = rng.standard_normal((c * m, 1, k, k))
    kw = dict(stride=stride, padding=pad, dilation=dil)
    y = F.conv2d(x, w, None, groups=c, **kw)
    per = np.concatenate([F.conv2d(x[:, i:i + 1], w[i * m:(i + 1) * m], None, **kw)
                          for i in range(c)], axis=1)
    np.testing.assert_allclose(y, per, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), k=st.integers(1, 4),
       stride=st.integers(1, 3), pad=st.integers(0, 1), size=st.integers(4, 9),
       seed=st.integers(0, 2**31))
def test_transpose_is_the_adjoint_of_conv2d(cin, cout, k, stride, pad, size, seed):
    """<conv2d(a, w), y> == <a, conv_transpose2d(y, w)> for the conv2d whose
    output y has (stride-aligned input) size: the transposed convolution is
    conv2d's adjoint."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((cout, cin, k, k))
    h = (size - 1) * stride + k - 2 * pad
    if h < 1:
        return
    a = rng.standard_normal((2, cin, h, h))
    y = F.conv2d(a, w, None, stride=stride, padding=pad)
    assert y.shape[2] == size
    yy = rng.standard_normal(y.shape)
    back = F.conv_transpose2d(yy, w, None, stride=stride, padding=pad)
    assert back.shape == a.shape
    np.testing.assert_allclose(float((y * yy).sum()), float((a * back).sum()), rtol=1e-10,
                               atol=1e-10)


# ---------------------------------------------------------- bad arguments (F)
@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((4, 2, 3, 3)), groups=3), ValueError,
     "channel mismatch"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2), ValueError,
     "groups"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((4, 1, 3, 3)), groups=0), ValueError,
     "groups"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((4, 1, 3, 3)), groups=4,
                      activation="relu"), ValueError, "groups"),
    (lambda: F.conv2d(np.ones((1, 4, 5, 5)), np.ones((4, 1, 3, 3)), groups="4"), TypeError,
     "groups"),
    (lambda: F.conv2d_backward(np.ones((1, 4, 3, 3)), np.ones((1, 4, 5, 5)),
                               np.ones((4, 1, 3, 3)), groups=4.0), TypeError, "groups"),
    (lambda: F.conv_transpose2d(np.ones((1, 3, 4, 4)), np.ones((2, 2, 3, 3))), ValueError,
     "channel mismatch"),
    (lambda: F.conv_transpose2d(np.ones((1, 4, 4, 4)), np.ones((4, 2, 3, 3)), groups=3),
     ValueError, "groups"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 3)), stride=2,
                                output_padding=2), ValueError, "output_padding"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 2, 2)), np.ones((2, 2, 2, 2)), padding=5),
     ValueError, "padding"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 4)), np.ones((2, 2, 3, 3))), ValueError,
     "input"),
    (lambda: F.conv_transpose2d_backward(np.ones((1, 2, 5, 5)), np.ones((1, 2, 4, 4)),
                                         np.ones((2, 2, 3, 3))), ValueError, "grad_out"),
    (lambda: F.conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 3)), stride=0),
     ValueError, "stride"),
])
def test_bad_functional_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# ------------------------------------------------------------------ layers
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


# (name, args, kwargs, input shape without the batch axis)
LAYER_CASES = [
    ("DepthwiseConv2D", (3,), {}, (7, 8, 3)),
    ("DepthwiseConv2D", (3,), dict(depth_multiplier=2, padding="same", strides=2), (7, 8, 3)),
    ("DepthwiseConv2D", ((2, 3),), dict(dilation_rate=2, activation="tanh",
                                        data_format="channels_first"), (3, 9, 8)),
    ("DepthwiseConv2D", (1,), dict(use_bias=False, activation="relu"), (5, 5, 4)),
    ("SeparableConv2D", (5, 3), {}, (7, 8, 3)),
    ("SeparableConv2D", (5, 3), dict(depth_multiplier=2, padding="same", strides=(1, 2),
                                     activation="relu"), (7, 8, 3)),
    ("SeparableConv2D", (4, (3, 2)), dict(data_format="channels_first", use_bias=False,
                                          dilation_rate=(2, 1)), (3, 9, 8)),
    ("Conv2DTranspose", (4, 3), {}, (5, 6, 3)),
    ("Conv2DTranspose", (4, 3), dict(strides=2, padding="same", activation="relu"), (5, 6, 3)),
    ("Conv2DTranspose", (4, 3), dict(strides=3, padding="same", output_padding=1), (5, 6, 3)),
    ("Conv2DTranspose", (4, (2, 3)), dict(strides=(2, 3), output_padding=(1, 2)), (5, 6, 3)),
    ("Conv2DTranspose", (2, 3), dict(dilation_rate=2, padding="same", use_bias=False),
     (5, 6, 3)),
    ("Conv2DTranspose", (4, 4), dict(strides=2, padding="same", output_padding=0,
                                     data_format="channels_first"), (3, 5, 6)),
    ("Conv2D", (8, 3), dict(groups=4, padding="same"), (6, 7, 8)),
    ("Conv2D", (6, (3, 2)), dict(groups=2, strides=2, activation="relu",
                                 data_format="channels_first"), (4, 9, 8)),
    ("Conv2D", (4, 3), dict(groups=4, use_bias=False), (6, 7, 4)),
]
# Keras arguments ccnn does not take (regularizers, constraints)
UNSUPPORTED = {"activity_regularizer", "bias_constraint", "bias_regularizer",
               "depthwise_constraint", "depthwise_regularizer", "pointwise_constraint",
               "pointwise_regularizer", "kernel_constraint", "kernel_regularizer"}


def _ids(cases):
    return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


def _plain(v):
    if v is None or v == "linear":                    # Keras serializes no activation as 'linear'
        return None
    if isinstance(v, dict) and "class_name" in v:     # a serialized initializer
        return {"GlorotUniform": "glorot_uniform", "Zeros": "zeros"}.get(v["class_name"], v)
    return tuple(v) if isinstance(v, list) else v


@pytest.mark.parametrize("name, args, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_matches_keras(name, args, kwargs, shape):
    keras = _keras()
    rng = np.random.default_rng(3)
    theirs = getattr(keras.layers, name)(*args, dtype="float64", **kwargs)
    theirs.build((None,) + shape)
    ours = getattr(layers, name)(*args, dtype="float64", **kwargs)
    ours.build((None,) + shape)
    weights = [rng.standard_normal(tuple(w.shape)) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in weights]
    assert ours.count_params() == theirs.count_params()
    x = rng.standard_normal((2,) + shape)
    want = keras.ops.convert_to_numpy(theirs(x))
    for training in (False, True):         # no training-only behaviour
        np.testing.assert_allclose(ours(x, training=training), want, rtol=1e-10, atol=1e-10)
    assert ours.compute_output_shape((None,) + shape) == \
        tuple(theirs.compute_output_shape((None,) + shape))
    cfg, want_cfg = ours.get_config(), theirs.get_config()
    assert set(want_cfg) - set(cfg) <= UNSUPPORTED
    assert set(cfg) - set(want_cfg) <= {"batch_input_shape"}
    for key, value in want_cfg.items():
        if key in cfg and key not in ("name", "dtype"):
            assert _plain(cfg[key]) == _plain(value), key


@pytest.mark.parametrize("name, args, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_defaults_match_keras(name, args, kwargs, shape):
    """Every default ccnn shares with Keras equals Keras's (a fresh layer's config)."""
    keras = _keras()
    theirs = getattr(keras.layers, name)(*args).get_config()
    ours = getattr(layers, name)(*args).get_config()
    for key in set(ours) & set(theirs) - {"name", "dtype"}:
        assert _plain(ours[key]) == _plain(theirs[key]), key


@pytest.mark.parametrize("name, args, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_gradients_match_central_differences(name, args, kwargs, shape):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2,) + shape)
    kwargs = {**kwargs, "activation": "tanh" if kwargs.get("activation") else None}
    layer = getattr(layers, name)(*args, dtype="float64", **kwargs)
    y = layer(x, training=True)
    g = rng.normal(size=y.shape)

    def loss():
        return float((layer(x, training=True) * g).sum())
    layer(x, training=True)
    dx = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    num = central_differences(lambda a: float((layer(a, training=True) * g).sum()), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)
    assert set(grads) == set(layer.params)
    for key, p in layer.params.items():
        p0 = p.copy()
        nump = central_differences(lambda v: (np.copyto(p, v), loss())[1], p0)
        np.copyto(p, p0)
        np.testing.assert_allclose(grads[key], nump, rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("name, args, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_config_round_trip_and_registry(name, args, kwargs, shape):
    cls = getattr(layers, name)
    layer = cls(*args, name="r", input_shape=shape, **kwargs)
    again = layers.get(name).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert name in layers.__all__ and layers.get(name) is cls
    x = np.random.default_rng(0).normal(size=(2,) + shape).astype("float32")
    y = layer(x)
    again.build((None,) + shape)
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(again(x), y)
    assert layer.output_shape == (None,) + y.shape[1:]


NEW_LAYERS = [
    lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu"),
    lambda: layers.SeparableConv2D(6, 3, padding="same", activation="relu"),
    lambda: layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
    lambda: layers.Conv2D(6, 3, groups=2, padding="same", activation="relu"),
]


@pytest.mark.parametrize("make", NEW_LAYERS, ids=["depthwise", "separable", "transpose",
                                                   "grouped"])
def test_small_model_trains_and_frozen_layer_stays(make):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 2)).astype("float32")
    y = (x[:, :4, :, 0].mean(axis=(1, 2)) > x[:, 4:, :, 1].mean(axis=(1, 2))).astype(int)

    def model():
        ccnn.utils.set_random_seed(1)
        m = ccnn.Sequential([ccnn.Input((8, 8, 2)), layers.Conv2D(4, 1), make(),
                             layers.GlobalAveragePooling2D(),
                             layers.Dense(2, activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        return m
    m = model()
    first = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert m.evaluate(x, y, verbose=0) < first
    frozen = model()
    frozen.layers[1].trainable = False
    before = frozen.layers[1].get_weights()
    frozen.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(frozen.layers[1].get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert frozen.layers[1].trainable_weights == []


@pytest.mark.parametrize("call, words", [
    (lambda: layers.DepthwiseConv2D(0), "kernel_size"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: layers.DepthwiseConv2D(3, strides=(1, 0)), "strides"),
    (lambda: layers.DepthwiseConv2D(3, padding="full"), "padding"),
    (lambda: layers.DepthwiseConv2D(3, data_format="nchw"), "data_format"),
    (lambda: layers.DepthwiseConv2D(3, activation="nope"), "activation"),
    (lambda: layers.DepthwiseConv2D(3, depthwise_initializer="orthogonal"),
     "depthwise_initializer"),
    (lambda: layers.DepthwiseConv2D(3, use_bias="yes"), "use_bias"),
    (lambda: layers.SeparableConv2D(0, 3), "filters"),
    (lambda: layers.SeparableConv2D(4, 3, pointwise_initializer="bad"), "pointwise_initializer"),
    (lambda: layers.SeparableConv2D(4, 3, depth_multiplier=1.5), "depth_multiplier"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: layers.Conv2DTranspose(4, 3, output_padding=-1), "output_padding"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: layers.Conv2DTranspose("4", 3), "filters"),
    (lambda: layers.Conv2DTranspose(4, 3, padding="causal"), "padding"),
    (lambda: layers.Conv2D(6, 3, groups=4), "groups"),
    (lambda: layers.Conv2D(6, 3, groups=0), "groups"),
])
def test_bad_layer_arguments_at_construction(call, words):
    with pytest.raises((TypeError, ValueError), match=words):
        call()


def test_build_errors_name_the_layer():
    with pytest.raises(ValueError, match="groups=4 must divide the input's 6 channels"):
        layers.Conv2D(8, 3, groups=4).build((None, 9, 9, 6))
    with pytest.raises(ValueError, match="DepthwiseConv2D.*window"):
        layers.DepthwiseConv2D(5).build((None, 3, 3, 2))
    with pytest.raises(ValueError, match="channel dimension"):
        layers.Conv2DTranspose(2, 3).build((None, 4, 4, None))


# ------------------------------------------------------------------ the GIL
def test_depthwise_binding_releases_the_gil():
    """The depthwise kernels run with the GIL released (see tests/_gilcheck.py):
    another Python thread's counter moves during the binding's calls."""
    from ccnn import _depthwise
    from _gilcheck import releases_gil
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 32, 64, 64))
    w = rng.standard_normal((64, 3, 3))
    y = _depthwise.depthwise_forward(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1), 1)
    calls = [lambda: _depthwise.depthwise_forward(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1), 1),
             lambda: _depthwise.depthwise_backward(y, x, w, (1, 1), (1, 1), (1, 1, 1, 1),
                                                   True, True, True, 1)]
    for call in calls:
        assert releases_gil(call)
