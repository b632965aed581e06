"""ccnn.layers: Keras's shapes, parameter counts, initialisers and semantics
(channels-last, TF 'same' padding, Flatten order), each layer's backward pass
against central differences, and bad arguments."""

import math
import pickle

import numpy as np
import pytest

from ccnn import layers as Lyr
from ccnn import utils
from ccnn.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D,
                         ReLU, Softmax)


# ------------------------------------------------------------ references (NHWC, Keras layout)
def tf_same_pads(size, k, s, d=1):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def conv_ref_nhwc(x, kernel_keras, bias, strides, padding, dilation=(1, 1)):
    """Keras Conv2D: x (N, H, W, C), kernel (kh, kw, C, K)."""
    n, h, w, c = x.shape
    kh, kw, _, k = kernel_keras.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        pt, pb = tf_same_pads(h, kh, sh, dh)
        pl, pr = tf_same_pads(w, kw, sw, dw)
    else:
        pt = pb = pl = pr = 0
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    p = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    q = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, p, q, k))
    for r in range(kh):
        for s in range(kw):
            patch = xp[:, r * dh: r * dh + sh * (p - 1) + 1: sh, s * dw: s * dw + sw * (q - 1) + 1: sw]
            y += patch @ kernel_keras[r, s].astype(np.float64)
    return y + (0 if bias is None else bias)


def pool_ref_nhwc(x, pool, strides, padding, kind):
    n, h, w, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        pt, _ = tf_same_pads(h, ph, sh)  # windows are clipped at the far edge
        pl, _ = tf_same_pads(w, pw, sw)
        p, q = -(-h // sh), -(-w // sw)
    else:
        pt = pl = 0
        p, q = (h - ph) // sh + 1, (w - pw) // sw + 1
    y = np.zeros((n, p, q, c))
    for i in range(p):
        for j in range(q):
            h0, w0 = i * sh - pt, j * sw - pl
            win = x[:, max(h0, 0):min(h0 + ph, h), max(w0, 0):min(w0 + pw, w)]
            y[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


def built(layer, shape, dtype=None):
    layer.build((None,) + tuple(shape))
    return layer


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------ Keras shapes and counts
@pytest.mark.parametrize("kwargs,in_shape,out_shape,params", [
    (dict(filters=10, kernel_size=(3, 3), padding="same"), (28, 28, 1), (28, 28, 10), 100),
    (dict(filters=10, kernel_size=3), (28, 28, 1), (26, 26, 10), 100),
    (dict(filters=4, kernel_size=(3, 2), strides=2, padding="same"), (7, 9, 3), (4, 5, 4), 76),
    (dict(filters=4, kernel_size=(3, 2), strides=(2, 3)), (7, 9, 3), (3, 3, 4), 76),
    (dict(filters=2, kernel_size=3, dilation_rate=2), (9, 9, 2), (5, 5, 2), 38),
    (dict(filters=2, kernel_size=3, use_bias=False), (5, 5, 2), (3, 3, 2), 36),
])
def test_conv2d_shapes_and_counts(kwargs, in_shape, out_shape, params):
    layer = built(Conv2D(**kwargs), in_shape)
    assert layer.output_shape == (None,) + out_shape
    assert layer.count_params() == params
    y = layer(rand((2,) + in_shape).astype(np.float32))
    assert y.shape == (2,) + out_shape and y.dtype == np.float32


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize("kwargs,in_shape,out_shape", [
    (dict(), (28, 28, 10), (14, 14, 10)),
    (dict(pool_size=(2, 2)), (7, 7, 3), (3, 3, 3)),
    (dict(pool_size=2, padding="same"), (7, 7, 3), (4, 4, 3)),
    (dict(pool_size=3, strides=2, padding="same"), (6, 5, 2), (3, 3, 2)),
    (dict(pool_size=(3, 2), strides=1, padding="same"), (4, 5, 1), (4, 5, 1)),
])
def test_pooling_matches_keras_reference(cls, kwargs, in_shape, out_shape):
    layer = built(cls(**kwargs), in_shape)
    assert layer.output_shape == (None,) + out_shape and layer.count_params() == 0
    x = rand((2,) + in_shape, 1)
    y = layer(x.astype(np.float32))
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    pool = pair(kwargs.get("pool_size", (2, 2)))
    strides = pool if kwargs.get("strides") is None else pair(kwargs["strides"])
    want = pool_ref_nhwc(x, pool, strides, kwargs.get("padding", "valid"),
                         "max" if cls is MaxPooling2D else "avg")
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(filters=10, kernel_size=(3, 3), padding="same"),
    dict(filters=3, kernel_size=(3, 2), strides=2, padding="same"),
    dict(filters=3, kernel_size=(2, 3), strides=(1, 2), padding="valid"),
    dict(filters=2, kernel_size=3, dilation_rate=(2, 1), padding="same"),
])
def test_conv2d_matches_keras_reference(kwargs):
    layer = built(Conv2D(**kwargs, dtype="float64"), (8, 7, 2))
    layer.params["bias"][:] = rand(layer.params["bias"].shape, 5)
    x = rand((3, 8, 7, 2), 2)
    keras_kernel = layer.params["kernel"].transpose(2, 3, 1, 0)  # (kh, kw, in, out)
    want = conv_ref_nhwc(x, keras_kernel, layer.params["bias"], layer.strides,
                         layer.padding, layer.dilation_rate)
    np.testing.assert_allclose(layer(x), want, rtol=1e-12, atol=1e-12)


def test_channels_first_equals_channels_last():
    utils.set_random_seed(3)
    last = built(Conv2D(4, 3, padding="same", activation="relu", dtype="float64"), (6, 5, 2))
    first = Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first",
                   dtype="float64")
    built(first, (2, 6, 5))
    first.set_weights(last.get_weights())
    x = rand((2, 6, 5, 2), 4)
    y_last = last(x)
    y_first = first(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-13)
    pool_l = built(MaxPooling2D(2, padding="same"), y_last.shape[1:])
    pool_f = built(MaxPooling2D(2, padding="same", data_format="channels_first"),
                   y_first.shape[1:])
    np.testing.assert_array_equal(pool_f(y_first).transpose(0, 2, 3, 1), pool_l(y_last))
    # Flatten(data_format='channels_first') flattens in Keras's (H, W, C) order
    f = Flatten(data_format="channels_first")(pool_f(y_first))
    np.testing.assert_array_equal(f, Flatten()(pool_l(y_last)))


def test_flatten_is_keras_hwc_order_and_conv_output_is_a_view():
    conv = built(Conv2D(3, 3, padding="same"), (4, 5, 2))
    y = conv(rand((2, 4, 5, 2)).astype(np.float32))
    assert y.shape == (2, 4, 5, 3)
    assert not y.flags.c_contiguous and y.base is not None  # an NHWC view of the NCHW result
    f = Flatten()(y)
    np.testing.assert_array_equal(f, np.ascontiguousarray(y).reshape(2, -1))
    np.testing.assert_array_equal(f[0, :3], y[0, 0, 0, :])  # channels vary fastest
    # the next conv takes the view without copying: its NCHW transpose is contiguous
    assert y.transpose(0, 3, 1, 2).flags.c_contiguous


def test_glorot_uniform_uses_keras_fans():
    utils.set_random_seed(0)
    conv = built(Conv2D(10, (3, 3)), (28, 28, 1))
    w = conv.params["kernel"]
    limit = math.sqrt(6 / (1 * 9 + 10 * 9))
    assert w.shape == (10, 1, 3, 3) and w.dtype == np.float32
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.2 * limit
    np.testing.assert_array_equal(conv.params["bias"], 0)
    dense = built(Dense(100), (1960,))
    limit = math.sqrt(6 / (1960 + 100))
    w = dense.params["kernel"]
    assert w.shape == (1960, 100)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit


@pytest.mark.parametrize("init", ["he_normal", "glorot_normal", "lecun_uniform", "ones",
                                  "random_normal"])
def test_other_initializers(init):
    d = built(Dense(50, kernel_initializer=init), (400,))
    w = d.params["kernel"]
    if init == "ones":
        np.testing.assert_array_equal(w, 1)
    elif init == "he_normal":
        assert abs(w.std() - math.sqrt(2 / 400)) < 0.05 * math.sqrt(2 / 400)
        assert np.abs(w).max() <= 2 * math.sqrt(2 / 400) / 0.87962566103423978 + 1e-6


def test_seed_makes_weights_reproducible():
    utils.set_random_seed(7)
    a = built(Dense(5), (4,)).params["kernel"].copy()
    utils.set_random_seed(7)
    b = built(Dense(5), (4,)).params["kernel"]
    np.testing.assert_array_equal(a, b)


def test_dense_forward_and_activations():
    d = built(Dense(3, activation="relu", dtype="float64"), (4,))
    d.params["bias"][:] = [0.5, -0.5, 0.0]
    x = rand((5, 4), 1)
    np.testing.assert_allclose(d(x), np.maximum(x @ d.params["kernel"] + d.params["bias"], 0))
    s = built(Dense(3, activation="softmax", dtype="float64"), (4,))
    z = x @ s.params["kernel"]
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(s(x), e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(s.logits, z)
    # Dense on (N, T, F) applies to the last axis, as Keras does
    d3 = built(Dense(2, dtype="float64"), (3, 4))
    x3 = rand((2, 3, 4), 2)
    assert d3(x3).shape == (2, 3, 2)
    np.testing.assert_allclose(d3(x3), x3 @ d3.params["kernel"])


def test_dropout_semantics():
    x = np.ones((200, 50), dtype=np.float32)
    d = Dropout(0.5, seed=1)
    y = d.forward(x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.02
    assert d.forward(x, training=False) is x  # identity at inference
    g = d.backward(np.ones_like(x))
    np.testing.assert_array_equal(g, 1)  # after an inference forward: identity
    d.forward(x, training=True)
    g = d.backward(np.full_like(x, 3))
    np.testing.assert_array_equal(g, np.where(d.mask, 6.0, 0.0))
    a = Dropout(0.3, seed=5).forward(x, True)
    b = Dropout(0.3, seed=5).forward(x, True)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(Dropout(0.0).forward(x, True), x)


def test_relu_and_softmax_layers():
    conv = built(Conv2D(2, 3, padding="same", dtype="float64"), (4, 4, 1))
    y = conv(rand((2, 4, 4, 1)))
    r = ReLU(dtype="float64")
    out = r(y)
    np.testing.assert_array_equal(out, np.maximum(y, 0))
    assert out.shape == y.shape
    assert r.transposed and np.shares_memory(r.x, conv.y)  # ran on the NCHW data, no copy
    g = rand(y.shape, 3)
    np.testing.assert_array_equal(r.backward(g), g * (y > 0))
    s = Softmax()
    p = s(rand((3, 4), 1).astype(np.float32))
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)


# ------------------------------------------------------------ gradient checks (float64)
def numeric_grad(f, a, h=1e-6, n_samples=25, seed=0):
    """Central differences of f() w.r.t. n_samples entries of a (in place)."""
    rng = np.random.default_rng(seed)
    flat = a.reshape(-1)
    idx = rng.choice(flat.size, min(n_samples, flat.size), replace=False)
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        out.append((fp - fm) / (2 * h))
    return idx, np.array(out)


LAYER_CASES = [
    (lambda: Conv2D(3, (3, 2), padding="same", activation="relu", dtype="float64"), (6, 5, 2)),
    (lambda: Conv2D(2, 3, strides=2, padding="same", dtype="float64"), (7, 6, 3)),
    (lambda: Conv2D(2, 2, dilation_rate=2, data_format="channels_first", dtype="float64"),
     (2, 6, 6)),
    (lambda: MaxPooling2D(2, dtype="float64"), (6, 6, 2)),
    (lambda: MaxPooling2D(3, strides=2, padding="same", dtype="float64"), (7, 5, 2)),
    (lambda: AveragePooling2D(2, padding="same", dtype="float64"), (5, 5, 2)),
    (lambda: Flatten(dtype="float64"), (3, 4, 2)),
    (lambda: Dense(4, activation="relu", dtype="float64"), (6,)),
    (lambda: Dense(3, activation="softmax", dtype="float64"), (5,)),
    (lambda: ReLU(dtype="float64"), (7,)),
    (lambda: Softmax(dtype="float64"), (4,)),
]


@pytest.mark.parametrize("factory,in_shape", LAYER_CASES)
def test_layer_backward_matches_central_differences(factory, in_shape):
    utils.set_random_seed(11)
    layer = built(factory(), in_shape)
    x = rand((2,) + in_shape, 1)
    if isinstance(layer, MaxPooling2D):
        x = np.arange(x.size, dtype=np.float64).reshape(x.shape)  # no ties
        np.random.default_rng(0).shuffle(x.reshape(-1))
    for p in layer.params.values():
        p += rand(p.shape, 2) * 0.1  # non-zero bias
    r = rand((2,) + layer.output_shape[1:], 3)

    def loss():
        return float((layer.forward(x, True) * r).sum())

    loss()
    dx = layer.backward(r)
    assert dx.shape == x.shape
    idx, num = numeric_grad(loss, x)
    np.testing.assert_allclose(dx.reshape(-1)[idx], num, rtol=1e-5, atol=1e-7)
    loss()
    layer.backward(r)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    assert grads.keys() == layer.params.keys()
    for k, p in layer.params.items():
        idx, num = numeric_grad(loss, p)
        np.testing.assert_allclose(grads[k].reshape(-1)[idx], num, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------ config, pickle
def test_get_config_round_trip_and_pickle():
    layers = [Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1)),
              MaxPooling2D((2, 2), padding="same"), AveragePooling2D(), Flatten(),
              Dropout(0.5, seed=3), Dense(100, activation="relu"), Dense(10, activation="softmax"),
              ReLU(), Softmax()]
    for layer in layers:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        assert Lyr.get(type(layer).__name__) is type(layer)
    conv = layers[0]
    conv.build((None, 28, 28, 1))
    conv(np.zeros((1, 28, 28, 1), np.float32))
    clone = pickle.loads(pickle.dumps(conv))
    np.testing.assert_array_equal(clone.params["kernel"], conv.params["kernel"])
    assert not hasattr(clone, "x")  # the last batch is not pickled
    assert conv.get_config()["batch_input_shape"] == (None, 28, 28, 1)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("factory,exc,match", [
    (lambda: Conv2D(10, 3, activation="tanhh"), ValueError, "Unknown activation 'tanhh'"),
    (lambda: Dense(10, activation="log_sigmoid"), ValueError, "Unknown activation 'log_sigmoid'"),
    (lambda: Conv2D(10, 3, padding="full"), ValueError, "padding must be 'valid' or 'same'"),
    (lambda: MaxPooling2D(2, padding="causal"), ValueError, "padding must be"),
    (lambda: Conv2D(0, 3), ValueError, "filters must be >= 1"),
    (lambda: Conv2D(10.5, 3), TypeError, "filters must be an int"),
    (lambda: Conv2D(10, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: Conv2D(10, 3, strides=0), ValueError, "strides"),
    (lambda: Conv2D(10, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: Conv2D(10, 3, data_format="NHWC"), ValueError, "data_format"),
    (lambda: Conv2D(10, 3, kernel_initializer="orthogonal"), ValueError,
     "Unknown kernel_initializer 'orthogonal'"),
    (lambda: Dense(0), ValueError, "units must be >= 1"),
    (lambda: Dropout(1.0), ValueError, r"rate must be in \[0, 1\)"),
    (lambda: Dropout("half"), TypeError, "rate"),
    (lambda: Dense(3, input_shape=(0,)), ValueError, "input_shape"),
    (lambda: Dense(3, dtype="int32"), ValueError, "dtype"),
])
def test_bad_constructor_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


def test_bad_shapes():
    with pytest.raises(ValueError, match="Conv2D expects 4-D input"):
        Conv2D(2, 3).build((None, 28, 28))
    with pytest.raises(ValueError, match="larger than the input"):
        Conv2D(2, 5).build((None, 3, 3, 1))
    with pytest.raises(ValueError, match="MaxPooling2D expects 4-D"):
        MaxPooling2D().build((None, 10))
    conv = built(Conv2D(2, 3), (8, 8, 1))
    with pytest.raises(ValueError, match=r"incompatible: expected shape \(None, 8, 8, 1\), "
                                          r"got \(2, 8, 8, 3\)"):
        conv(np.zeros((2, 8, 8, 3)))
    dense = built(Dense(2), (5,))
    with pytest.raises(ValueError, match="incompatible"):
        dense(np.zeros((2, 4)))
