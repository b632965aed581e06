"""Reshaping: the pad / crop and nearest-upsampling C kernels (through F.pad
and F.interpolate) against the NumPy references in tests/ref_reshaping.py,
central differences and PyTorch; the layers ZeroPadding2D/1D, Cropping2D/1D,
UpSampling2D/1D, Reshape and Permute against Keras's semantics; and the 1-D
layers Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D and
GlobalMaxPooling1D, which run the 2-D kernels on sequences as images of height 1."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_reshaping as ref
from _testutils import (DTYPES, assert_close, central_differences, check_layer_gradients,
                        keras_or_skip, unchanged)


def _pad_case(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(2, 5))))
    x = rng.normal(size=shape).astype(dtype)
    n = 4 if x.ndim >= 3 and seed % 3 else 2
    while True:
        pad = tuple(int(v) for v in rng.integers(-3, 4, size=n))
        h = x.shape[-2] + pad[2] + pad[3] if n == 4 else 1
        if h >= 1 and x.shape[-1] + pad[0] + pad[1] >= 1:
            return x, pad, float(rng.choice([0.0, 1.5]))


def _pad_ref(x, pad, value):
    left, right = pad[0], pad[1]
    top, bottom = (pad[2], pad[3]) if len(pad) == 4 else (0, 0)
    if len(pad) == 2:
        return ref.pad_ref(x[..., None, :], 0, 0, left, right, value)[..., 0, :]
    return ref.pad_ref(x, top, bottom, left, right, value)


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(40))
def test_pad_matches_reference(seed, dtype):
    x, pad, value = _pad_case(seed, dtype)
    check = unchanged(x)
    y = F.pad(x, pad, value=value)
    want = _pad_ref(x, pad, value)
    assert y.shape == want.shape and y.dtype == dtype
    np.testing.assert_array_equal(y, want.astype(dtype))       # copies are exact
    g = np.random.default_rng(seed + 1).normal(size=y.shape).astype(dtype)
    dx = F.pad_backward(g, pad, value=value)
    neg = tuple(-p for p in pad)
    np.testing.assert_array_equal(dx, _pad_ref(g, neg, 0.0).astype(dtype))
    assert dx.shape == x.shape
    check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_interpolate_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    ndim = 3 if seed % 4 == 0 else 4
    shape = tuple(int(v) for v in rng.integers(1, 6, size=ndim))
    x = rng.normal(size=shape).astype(dtype)
    factors = tuple(int(v) for v in rng.integers(1, 4, size=ndim - 2))
    check = unchanged(x)
    y = F.interpolate(x, scale_factor=factors if seed % 2 else factors[0] if ndim == 3
                      else factors)
    sh, sw = (factors[0], 1) if ndim == 3 else factors
    x4 = x[..., None] if ndim == 3 else x
    want = ref.upsample_nearest_ref(x4, sh, sw)
    want = want[..., 0] if ndim == 3 else want
    np.testing.assert_array_equal(y, want.astype(dtype))
    g = rng.normal(size=y.shape).astype(dtype)
    dx = F.interpolate_backward(g, x, scale_factor=factors)
    g4 = g[..., None] if ndim == 3 else g
    dwant = ref.upsample_nearest_backward_ref(g4, sh, sw)
    assert_close(dx, (dwant[..., 0] if ndim == 3 else dwant).astype(dtype), dtype,
                 scale=np.abs(g).max() * sh * sw)
    size = tuple(n * f for n, f in zip(x.shape[2:], factors))
    np.testing.assert_array_equal(F.interpolate(x, size=size), y)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_arrays_and_thread_counts(dtype):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 16, 40, 40)).astype(dtype)
    g = rng.normal(size=(4, 16, 80, 120)).astype(dtype)
    runs = []
    before = ccnn.get_num_threads()
    try:
        for threads in (1, 2):
            ccnn.set_num_threads(threads)
            runs.append((F.pad(x, (3, -2, 1, 4)), F.interpolate(x, scale_factor=(2, 3)),
                         F.interpolate_backward(g, x, scale_factor=(2, 3))))
    finally:
        ccnn.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)        # same order of sums on any thread count
    np.testing.assert_array_equal(runs[0][0], _pad_ref(x, (3, -2, 1, 4), 0.0).astype(dtype))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=4, max_dims=4, max_side=6),
                  elements=st.floats(-1e3, 1e3)),
       st.tuples(*[st.integers(0, 3)] * 4), st.integers(1, 3), st.integers(1, 3))
def test_crop_undoes_pad_and_upsample_keeps_sums(x, pad, sh, sw):
    neg = tuple(-p for p in pad)
    np.testing.assert_array_equal(F.pad(F.pad(x, pad), neg), x)
    y = F.interpolate(x, scale_factor=(sh, sw))
    np.testing.assert_allclose(y.sum(axis=(2, 3)), x.sum(axis=(2, 3)) * sh * sw,
                               rtol=1e-9, atol=1e-6)
    # the backward of upsampling a constant gradient counts each pixel's copies
    np.testing.assert_array_equal(F.interpolate_backward(np.ones_like(y), x,
                                                         scale_factor=(sh, sw)),
                                  np.full(x.shape, float(sh * sw)))


def test_gradients_match_central_differences():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 4, 5))
    for fwd, bwd in [(lambda a: F.pad(a, (1, -2, 2, 0), value=0.5),
                      lambda g: F.pad_backward(g, (1, -2, 2, 0), value=0.5)),
                     (lambda a: F.interpolate(a, scale_factor=(2, 3)),
                      lambda g: F.interpolate_backward(g, x, scale_factor=(2, 3)))]:
        w = rng.normal(size=fwd(x).shape)
        num = central_differences(lambda a: float((fwd(a) * w).sum()), x)
        np.testing.assert_allclose(bwd(w), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytorch(dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    tf = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 7, 6)).astype(dtype)
    for pad in [(1, 2), (1, 2, 3, 0), (-1, 2, 0, -2), (2, -3, -1, 1)]:
        xt = torch.tensor(x, requires_grad=True)
        yt = tf.pad(xt, pad, value=0.25)
        g = rng.normal(size=tuple(yt.shape)).astype(dtype)
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(F.pad(x, pad, value=0.25), yt.detach().numpy())
        np.testing.assert_array_equal(F.pad_backward(g, pad), xt.grad.numpy())
    for xx, sf in [(x, (2, 3)), (x, 2), (x[:, :, 0], 3)]:
        xt = torch.tensor(xx, requires_grad=True)
        yt = tf.interpolate(xt, scale_factor=sf, mode="nearest")
        g = rng.normal(size=tuple(yt.shape)).astype(dtype)
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(F.interpolate(xx, scale_factor=sf), yt.detach().numpy())
        assert_close(F.interpolate_backward(g, xx, scale_factor=sf), xt.grad.numpy(), dtype)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.pad(np.zeros((2, 3)), (1,)), ValueError, "pad"),
    (lambda: F.pad(np.zeros((2, 3)), (1, 1, 1, 1, 1, 1)), ValueError, "pad"),
    (lambda: F.pad(np.zeros(3), (1, 1, 1, 1)), ValueError, "pad"),
    (lambda: F.pad(np.zeros((2, 3)), (1.5, 1)), TypeError, "pad"),
    (lambda: F.pad(np.zeros((2, 3)), (-2, -1)), ValueError, "pad"),
    (lambda: F.pad(np.zeros((2, 3)), (1, 1), mode="reflect"), ValueError, "mode"),
    (lambda: F.pad(np.zeros((2, 3)), (1, 1), value=np.nan), ValueError, "value"),
    (lambda: F.pad("abc", (1, 1)), TypeError, "input"),
    (lambda: F.interpolate(np.zeros((2, 3, 4, 4)), scale_factor="2"), TypeError,
     "scale_factor"),
    (lambda: F.interpolate(np.zeros((2, 3, 4, 4)), size=(6, 0)), ValueError, "size"),
    (lambda: F.interpolate(np.zeros((2, 3, 4, 4))), ValueError, "size"),
    (lambda: F.interpolate(np.zeros((2, 3, 4, 4)), 8, 2), ValueError, "size"),
    (lambda: F.interpolate(np.zeros((2, 3, 4, 4)), scale_factor=2, mode="bicubic"),
     ValueError, "mode"),
    (lambda: F.interpolate(np.zeros((2, 4, 4)), scale_factor=(2, 2)), ValueError,
     "scale_factor"),
    (lambda: F.interpolate(np.zeros((2, 4)), scale_factor=2), ValueError, "input"),
    (lambda: F.interpolate_backward(np.zeros((2, 3, 8, 7)), np.zeros((2, 3, 4, 4)),
                                    scale_factor=2), ValueError, "grad_out"),
])
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# ------------------------------------------------------------------ layers

# (name, kwargs, input shape): each against Keras's layer of the same name
LAYER_CASES = [
    ("ZeroPadding2D", {}, (2, 5, 6, 3)),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3))), (2, 5, 6, 3)),
    ("ZeroPadding2D", dict(padding=(2, 1), data_format="channels_first"), (2, 3, 5, 6)),
    ("ZeroPadding1D", dict(padding=(1, 2)), (2, 5, 4)),
    ("ZeroPadding1D", dict(padding=2, data_format="channels_first"), (2, 4, 5)),
    ("Cropping2D", dict(cropping=((1, 2), (0, 3))), (2, 5, 6, 3)),
    ("Cropping2D", dict(cropping=1, data_format="channels_first"), (2, 3, 5, 6)),
    ("Cropping1D", dict(cropping=(2, 1)), (2, 6, 4)),
    ("UpSampling2D", {}, (2, 5, 6, 3)),
    ("UpSampling2D", dict(size=(2, 3), data_format="channels_first"), (2, 3, 4, 5)),
    ("UpSampling1D", dict(size=3), (2, 5, 4)),
    ("Reshape", dict(target_shape=(-1, 2)), (2, 5, 6, 2)),
    ("Reshape", dict(target_shape=(6, 5, 2)), (2, 5, 6, 2)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 5, 6, 2)),
    ("Permute", dict(dims=(2, 1)), (2, 5, 6)),
    ("MaxPooling1D", {}, (2, 9, 4)),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same",
                          data_format="channels_first"), (2, 4, 9)),
    ("AveragePooling1D", dict(pool_size=2, padding="same"), (2, 9, 4)),
    ("AveragePooling1D", dict(pool_size=3, strides=1, data_format="channels_first"),
     (2, 4, 9)),
    ("GlobalAveragePooling1D", {}, (2, 9, 4)),
    ("GlobalAveragePooling1D", dict(keepdims=True, data_format="channels_first"), (2, 4, 9)),
    ("GlobalMaxPooling1D", {}, (2, 9, 4)),
    ("GlobalMaxPooling1D", dict(keepdims=True), (2, 9, 4)),
]


def _ids(cases):
    return [f"{name}-{i}" for i, (name, _, _) in enumerate(cases)]


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_matches_keras(name, kwargs, shape):
    keras = keras_or_skip()
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    ours, theirs = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    y = ours(x)
    want = keras.ops.convert_to_numpy(theirs(x))
    assert y.shape == want.shape
    assert ours.compute_output_shape((None,) + shape[1:]) == \
        tuple(theirs.compute_output_shape((None,) + shape[1:]))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    config = {k: v for k, v in theirs.get_config().items() if k not in ("name", "dtype")}
    ours_config = ours.get_config()
    for key, value in config.items():
        got = ours_config[key]
        assert (tuple(got) if isinstance(got, list) else got) == \
            (tuple(value) if isinstance(value, list) else value), key


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_backward_matches_central_differences(name, kwargs, shape):
    rng = np.random.default_rng(4)
    x = rng.normal(size=shape)
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    check_layer_gradients(layer, x, rng.normal(size=layer(x).shape))


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_layer_takes_the_nchw_view_that_conv_layers_hand_on(name, kwargs, shape):
    """Conv2D / pooling return a channels-last view of NCHW memory: the same
    values must come out as for a contiguous input (the kernels read it as
    (N * C, H, W, 1) instead of copying)."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape).astype("float32")
    axes = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
    view = np.ascontiguousarray(x.transpose(axes)).transpose(np.argsort(axes))
    assert not view.flags.c_contiguous
    a, b = getattr(layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    ya, yb = a(x, training=True), b(view, training=True)
    np.testing.assert_array_equal(ya, yb)
    g = rng.normal(size=ya.shape).astype("float32")
    gaxes = (0, g.ndim - 1) + tuple(range(1, g.ndim - 1))
    gv = np.ascontiguousarray(g.transpose(gaxes)).transpose(np.argsort(gaxes))
    np.testing.assert_allclose(a.backward(g), b.backward(gv), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=_ids(LAYER_CASES))
def test_config_round_trip_and_registry(name, kwargs, shape):
    cls = getattr(layers, name)
    layer = cls(name="r", **kwargs)
    again = cls.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert layers.get(name) is cls and layer.count_params() == 0
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    np.testing.assert_array_equal(layer(x), again(x))


@pytest.mark.parametrize("call, words", [
    (lambda: layers.ZeroPadding2D(-1), "padding"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), "padding"),
    (lambda: layers.ZeroPadding2D(((1, 2), (1,))), "padding"),
    (lambda: layers.ZeroPadding2D(1.5), "padding"),
    (lambda: layers.ZeroPadding2D(1, data_format="nhwc"), "data_format"),
    (lambda: layers.ZeroPadding1D((1, 2, 3)), "padding"),
    (lambda: layers.Cropping2D(((0, -1), (0, 0))), "cropping"),
    (lambda: layers.Cropping1D("1"), "cropping"),
    (lambda: layers.UpSampling2D(0), "size"),
    (lambda: layers.UpSampling2D(2, interpolation="bicubic"), "interpolation"),
    (lambda: layers.UpSampling1D((2, 2)), "size"),
    (lambda: layers.Reshape(5), "target_shape"),
    (lambda: layers.Reshape((-1, -1)), "target_shape"),
    (lambda: layers.Reshape((0, 2)), "target_shape"),
    (lambda: layers.Permute((1, 1)), "dims"),
    (lambda: layers.Permute((0, 1)), "dims"),
    (lambda: layers.Permute("21"), "dims"),
    (lambda: layers.MaxPooling1D(0), "pool_size"),
    (lambda: layers.MaxPooling1D((2, 2)), "pool_size"),
    (lambda: layers.AveragePooling1D(2, strides=0), "strides"),
    (lambda: layers.MaxPooling1D(2, padding="full"), "padding"),
    (lambda: layers.GlobalMaxPooling1D(keepdims="no"), "keepdims"),
    (lambda: layers.Conv1D(4, (3, 3)), "kernel_size"),
    (lambda: layers.Conv1D(4, 3, padding="full"), "padding"),
    (lambda: layers.Conv1D(0, 3), "filters"),
])
def test_bad_layer_arguments_at_construction(call, words):
    with pytest.raises((TypeError, ValueError), match=words):
        call()


def test_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="Cropping2D.*leaves nothing"):
        layers.Cropping2D(3).build((None, 6, 8, 1))
    with pytest.raises(ValueError, match="Reshape.*cannot be reshaped"):
        layers.Reshape((7, -1)).build((None, 4, 5))
    with pytest.raises(ValueError, match="Reshape.*cannot be reshaped"):
        layers.Reshape((3, 3)).build((None, 4, 5))
    with pytest.raises(ValueError, match="UpSampling2D expects 4-D"):
        layers.UpSampling2D().build((None, 4, 5))
    with pytest.raises(ValueError, match="MaxPooling1D expects 3-D"):
        layers.MaxPooling1D().build((None, 4, 5, 1))
    with pytest.raises(ValueError, match="Permute"):
        layers.Permute((2, 1)).build((None, 4, 5, 1))


# ---------------------------------------------------------------- Conv1D

CONV1D_CASES = [dict(padding=p, strides=s, dilation_rate=d, activation=a, use_bias=b)
                for p in ("valid", "same", "causal") for s, d in ((1, 1), (2, 1), (1, 2))
                for a, b in (("relu", True), (None, False), ("tanh", True))]


@pytest.mark.parametrize("kwargs", CONV1D_CASES)
def test_conv1d_matches_keras(kwargs):
    keras = keras_or_skip()
    x = np.random.default_rng(2).normal(size=(3, 11, 4)).astype("float32")
    theirs = keras.layers.Conv1D(5, 3, **kwargs)
    theirs.build((None, 11, 4))
    ours = layers.Conv1D(5, 3, **kwargs)
    ours.build((None, 11, 4))
    ours.set_weights(theirs.get_weights())
    assert [w.shape for w in ours.get_weights()] == \
        [tuple(w.shape) for w in theirs.get_weights()]
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)),
                               rtol=1e-5, atol=1e-5)
    assert ours.compute_output_shape((None, 11, 4)) == \
        tuple(theirs.compute_output_shape((None, 11, 4)))
    for key in ("kernel_size", "strides", "dilation_rate", "padding", "filters"):
        assert ours.get_config()[key] == theirs.get_config()[key], key


def test_conv1d_channels_first_and_causal_sees_only_the_past():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 9, 3))
    last = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, dtype="float64")
    first = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, dtype="float64",
                          data_format="channels_first")
    last.build((None, 9, 3))
    first.build((None, 3, 9))
    first.set_weights(last.get_weights())
    y = last(x)
    np.testing.assert_allclose(first(x.transpose(0, 2, 1)), y.transpose(0, 2, 1), rtol=1e-12)
    x2 = x.copy()
    x2[:, 6:] += 1.0                            # the future changes...
    np.testing.assert_array_equal(last(x2)[:, :6], y[:, :6])   # ...the past's outputs do not


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_gradients_match_central_differences(padding):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 7, 3))
    layer = layers.Conv1D(4, 3, padding=padding, activation="tanh", dtype="float64")
    check_layer_gradients(layer, x, rng.normal(size=layer(x).shape), "kernel")


def test_sequence_and_image_models_train_summarize_and_round_trip():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(96, 12, 2)).astype("float32")
    ys = (xs[:, :, 0].mean(axis=1) > 0).astype(int)
    seq = ccnn.Sequential([ccnn.Input((12, 2)),
                           layers.Conv1D(8, 3, padding="causal", activation="relu"),
                           layers.MaxPooling1D(), layers.ZeroPadding1D(1),
                           layers.Conv1D(8, 3), layers.UpSampling1D(),
                           layers.Cropping1D((1, 1)), layers.AveragePooling1D(),
                           layers.GlobalMaxPooling1D(keepdims=True),
                           layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax")])
    xi = rng.normal(size=(96, 6, 6, 1)).astype("float32")
    yi = (xi[:, :3].mean(axis=(1, 2, 3)) > xi[:, 3:].mean(axis=(1, 2, 3))).astype(int)
    img = ccnn.Sequential([ccnn.Input((6, 6, 1)), layers.ZeroPadding2D(1),
                           layers.Conv2D(6, 3, activation="relu"), layers.UpSampling2D(),
                           layers.Cropping2D(((2, 0), (0, 0))), layers.Permute((2, 1, 3)),
                           layers.Reshape((-1, 6)), layers.GlobalAveragePooling1D(),
                           layers.Dense(2, activation="softmax")])
    for model, x, y in ((seq, xs, ys), (img, xi, yi)):
        model.compile("adam", "sparse_categorical_crossentropy")
        first = model.evaluate(x, y, verbose=0)
        model.fit(x, y, epochs=10, batch_size=16, verbose=0)
        assert model.evaluate(x, y, verbose=0) < first
        lines = []
        model.summary(print_fn=lines.append)
        again = ccnn.Sequential.from_config(model.get_config())
        again.set_weights(model.get_weights())
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    text = "\n".join(lines)
    assert "(None, 12, 10, 6)" in text and "(None, 120, 6)" in text
