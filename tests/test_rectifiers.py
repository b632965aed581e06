"""ReLU with Keras's arguments, PReLU and log-softmax: the C kernels
(rectifier.c, log_softmax.c, through ccnn.activations and ccnn.functional)
against the NumPy references in tests/ref_activations.py, central differences
and PyTorch; the ReLU / PReLU layers and the 'log_softmax' activation against
Keras."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ccnn
import ccnn.functional as F
from ccnn import activations, layers

import ref_activations as ref
from _testutils import (DTYPES, assert_close, central_differences, check_layer_gradients,
                        keras_or_skip, unchanged)

RELU_ARGS = [dict(), dict(max_value=6.0), dict(negative_slope=0.1), dict(threshold=1.0),
             dict(max_value=2.5, negative_slope=0.2, threshold=0.5),
             dict(max_value=0.0, negative_slope=0.3), dict(threshold=0.25, max_value=3.0)]


def _away_from_kinks(x, args):
    """x nudged off the points where the derivative jumps (for gradient checks)."""
    kinks = [args.get("threshold", 0.0)] + ([args["max_value"]] if "max_value" in args else [])
    for k in kinks:
        x = np.where(np.abs(x - k) < 1e-3, x + 0.01, x)
    return x


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(14))
def test_relu_ext_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    args = RELU_ARGS[seed % len(RELU_ARGS)]
    n = int(rng.integers(1, 70000)) if seed % 3 == 0 else int(rng.integers(1, 500))
    x = _away_from_kinks(rng.normal(size=n) * 4, args).astype(dtype)
    check = unchanged(x)
    y = activations.relu(x, **args)
    assert y.dtype == dtype
    assert_close(y, ref.relu_ext_ref(x, **args).astype(dtype), dtype)
    layer = layers.ReLU(dtype=np.dtype(dtype).name, **args)
    g = rng.normal(size=n).astype(dtype)
    layer(x, training=True)
    assert_close(layer.backward(g), (g * ref.relu_ext_grad_ref(x, **args)).astype(dtype), dtype)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(20))
def test_log_softmax_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 4))))
    x = (rng.normal(size=shape) * rng.uniform(0.1, 30)).astype(dtype)
    axis = int(rng.integers(-len(shape), len(shape)))
    check = unchanged(x)
    y = F.log_softmax(x, axis)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.log_softmax_ref(x, axis).astype(dtype), dtype, scale=np.abs(x).max() + 1)
    g = rng.normal(size=shape).astype(dtype)
    assert_close(F.log_softmax_backward(g, x, axis), ref.log_softmax_backward_ref(g, x, axis)
                 .astype(dtype), dtype, scale=np.abs(g).sum() + 1)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_prelu_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(2, 5))))
    x = rng.normal(size=shape).astype(dtype)
    w = rng.uniform(-0.5, 0.5, size=shape[1] if seed % 2 else 1).astype(dtype)
    check = unchanged(x, w)
    wb = w.reshape((-1,) + (1,) * (x.ndim - 2)) if w.size > 1 else w[0]
    np.testing.assert_array_equal(F.prelu(x, w), ref.prelu_ref(x, wb).astype(dtype))
    g = rng.normal(size=shape).astype(dtype)
    dx, dw = F.prelu_backward(g, x, w)
    rdx, rda = ref.prelu_backward_ref(g, x, np.broadcast_to(wb, x.shape[1:]))
    assert_close(dx, rdx.astype(dtype), dtype)
    rdw = rda.reshape(rda.shape[0], -1).sum(axis=1) if w.size > 1 else np.array([rda.sum()])
    assert_close(dw, rdw.astype(dtype), dtype, scale=np.abs(g).sum())
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_inputs_and_thread_counts(dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 3000)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    w = rng.uniform(size=3000).astype(dtype)
    before = ccnn.get_num_threads()
    runs = []
    try:
        for t in (1, 2):
            ccnn.set_num_threads(t)
            runs.append((activations.relu(x, 0.1, 2.0, 0.5), F.log_softmax(x),
                         F.log_softmax_backward(g, x), F.prelu(x, np.array([0.2], dtype)),
                         F.prelu_backward(g.reshape(8, 8, 3000), x.reshape(8, 8, 3000),
                                          w[:8])[1]))
    finally:
        ccnn.set_num_threads(before)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=8),
                  elements=st.floats(-300, 300)))
def test_log_softmax_normalizes_and_relu_is_monotone(x):
    y = F.log_softmax(x)
    assert (y <= 1e-12).all()
    np.testing.assert_allclose(np.exp(y).sum(axis=-1), 1.0, rtol=1e-9)
    s = np.sort(x, axis=None)
    r = activations.relu(s, 0.1, 5.0, 0.5)
    assert (np.diff(r) >= 0).all() and (r <= 5.0).all()


def test_gradients_match_central_differences():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 4, 5))
    w = rng.normal(size=x.shape)
    for axis in (-1, 0, 1):
        num = central_differences(lambda a: float((F.log_softmax(a, axis) * w).sum()), x)
        np.testing.assert_allclose(F.log_softmax_backward(w, x, axis), num, rtol=1e-6, atol=1e-8)
    alpha = rng.uniform(size=4)
    num = central_differences(lambda a: float((F.prelu(a, alpha) * w).sum()), x)
    numw = central_differences(lambda a: float((F.prelu(x, a) * w).sum()), alpha)
    dx, dw = F.prelu_backward(w, x, alpha)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numw, rtol=1e-6, atol=1e-8)
    for args in RELU_ARGS:
        xa = _away_from_kinks(x * 3, args)
        layer = layers.ReLU(dtype="float64", **args)
        num = central_differences(lambda a: float((layer(a) * w).sum()), xa)
        layer(xa)
        np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytorch(dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(6, 5, 4)) * 5).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    for dim in (-1, 1):
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.log_softmax(xt, dim)
        yt.backward(torch.tensor(g))
        assert_close(F.log_softmax(x, dim), yt.detach().numpy(), dtype, scale=50)
        assert_close(F.log_softmax_backward(g, x, dim), xt.grad.numpy(), dtype, scale=10)
    for xx, w in ((x, np.array([0.25], dtype)), (x, rng.uniform(size=5).astype(dtype)),
                  (x[:, 0, 0], np.array([0.5], dtype)), (x[:, :, 0], rng.uniform(size=5)
                                                         .astype(dtype))):
        xt, wt = torch.tensor(xx, requires_grad=True), torch.tensor(w, requires_grad=True)
        gg = rng.normal(size=xx.shape).astype(dtype)
        yt = torch.nn.functional.prelu(xt, wt)
        yt.backward(torch.tensor(gg))
        dx, dw = F.prelu_backward(gg, xx, w)
        np.testing.assert_array_equal(F.prelu(xx, w), yt.detach().numpy())
        assert_close(dx, xt.grad.numpy(), dtype)
        assert_close(dw, wt.grad.numpy(), dtype, scale=np.abs(gg).sum())
    # relu6 and leaky_relu are torch ops; the general form is torch's autograd of Keras's formula
    for args, theirs in [(dict(max_value=6.0), torch.nn.functional.relu6),
                         (dict(negative_slope=0.1),
                          lambda t: torch.nn.functional.leaky_relu(t, 0.1))]:
        xt = torch.tensor(x, requires_grad=True)
        theirs(xt).backward(torch.tensor(g))
        layer = layers.ReLU(dtype=np.dtype(dtype).name, **args)
        assert_close(layer(x), theirs(torch.tensor(x)).numpy(), dtype)
        assert_close(layer.backward(g), xt.grad.numpy(), dtype)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.log_softmax(np.zeros((2, 3)), 2), ValueError, "dim"),
    (lambda: F.log_softmax(np.zeros((2, 3)), 1.0), TypeError, "dim"),
    (lambda: F.log_softmax(np.zeros((2, 0))), ValueError, "non-empty"),
    (lambda: F.log_softmax(np.float64(1.0)), ValueError, "input"),
    (lambda: F.log_softmax("x"), TypeError, "input"),
    (lambda: F.log_softmax_backward(np.zeros((2, 4)), np.zeros((2, 3))), ValueError,
     "grad_out"),
    (lambda: F.prelu(np.zeros((2, 3, 4)), np.zeros(4)), ValueError, "weight"),
    (lambda: F.prelu(np.zeros((2, 3, 4)), np.zeros((1, 1))), ValueError, "weight"),
    (lambda: F.prelu_backward(np.zeros((2, 3)), np.zeros((2, 3, 4)), np.zeros(3)),
     ValueError, "grad_out"),
    (lambda: F.prelu(np.zeros(5), np.zeros(2)), ValueError, "weight"),
    (lambda: activations.relu(np.zeros(3), max_value=np.inf), ValueError, "max_value"),
    (lambda: activations.relu(np.zeros(3), negative_slope="a"), TypeError, "negative_slope"),
])
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# ------------------------------------------------------------------ layers

@pytest.mark.parametrize("args", RELU_ARGS)
def test_relu_layer_matches_keras(args):
    keras = keras_or_skip()
    x = (np.random.default_rng(3).normal(size=(4, 5, 6, 3)) * 4).astype("float32")
    want = keras.ops.convert_to_numpy(keras.layers.ReLU(**args)(x))
    np.testing.assert_allclose(layers.ReLU(**args)(x), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(activations.relu(x, **args),
                               keras.ops.convert_to_numpy(keras.activations.relu(x, **args)),
                               rtol=1e-6, atol=1e-6)
    ours = layers.ReLU(**args).get_config()
    theirs = keras.layers.ReLU(**args).get_config()
    for key in ("max_value", "negative_slope", "threshold"):
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("shared_axes", [None, [1, 2], [3], 2])
def test_prelu_layer_matches_keras(shared_axes):
    keras = keras_or_skip()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 5, 6, 3)).astype("float32")
    theirs = keras.layers.PReLU(alpha_initializer="random_normal", shared_axes=shared_axes)
    theirs.build((None, 5, 6, 3))
    ours = layers.PReLU(shared_axes=shared_axes)
    ours.build((None, 5, 6, 3))
    assert [w.shape for w in ours.get_weights()] == \
        [tuple(w.shape) for w in theirs.get_weights()]
    assert (ours.get_weights()[0] == 0).all()            # Keras's default: zeros
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6,
                               atol=1e-6)
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("shared_axes", [None, [1, 2], [3]])
def test_prelu_layer_gradients(shared_axes):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4, 5, 2))
    layer = layers.PReLU(shared_axes=shared_axes, dtype="float64")
    layer.build((None, 4, 5, 2))
    alpha = layer.params["alpha"]
    alpha[...] = rng.uniform(-0.5, 0.5, size=alpha.shape)
    check_layer_gradients(layer, x, rng.normal(size=x.shape), "alpha")


def test_log_softmax_activation_matches_keras_everywhere_activation_is_taken():
    keras = keras_or_skip()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3)).astype("float32") * 3
    theirs = keras.layers.Dense(4, activation="log_softmax")
    theirs.build((None, 3))
    ours = layers.Dense(4, activation="log_softmax")
    ours.build((None, 3))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5,
                               atol=1e-5)
    img = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(layers.Activation("log_softmax")(img),
                               keras.ops.convert_to_numpy(
                                   keras.layers.Activation("log_softmax")(img)),
                               rtol=1e-5, atol=1e-5)
    conv_k = keras.layers.Conv2D(3, 2, activation="log_softmax")
    conv_k.build((None, 4, 4, 3))
    conv = layers.Conv2D(3, 2, activation="log_softmax")
    conv.build((None, 4, 4, 3))
    conv.set_weights(conv_k.get_weights())
    np.testing.assert_allclose(conv(img), keras.ops.convert_to_numpy(conv_k(img)), rtol=1e-5,
                               atol=1e-5)
    # its gradient through the Activation layer
    layer = layers.Activation("log_softmax", dtype="float64")
    x64 = rng.normal(size=(3, 5))
    g = rng.normal(size=x64.shape)
    num = central_differences(lambda a: float((layer(a) * g).sum()), x64)
    layer(x64)
    np.testing.assert_allclose(layer.backward(g), num, rtol=1e-6, atol=1e-8)


def test_layer_configs_registry_and_bad_arguments():
    for layer in (layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="r"),
                  layers.PReLU(alpha_initializer="Zeros", shared_axes=[1, 2], name="p")):
        cls = type(layer)
        again = cls.from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
        assert layers.get(cls.__name__) is cls
    assert layers.PReLU(alpha_initializer="Zeros").alpha_initializer == "zeros"
    for call, words in [(lambda: layers.ReLU(max_value=-1), "max_value"),
                        (lambda: layers.ReLU(negative_slope=-0.1), "negative_slope"),
                        (lambda: layers.ReLU(threshold=-1), "threshold"),
                        (lambda: layers.ReLU(max_value="6"), "max_value"),
                        (lambda: layers.PReLU(alpha_initializer="nope"), "alpha_initializer"),
                        (lambda: layers.PReLU(shared_axes=[0]), "shared_axes"),
                        (lambda: layers.PReLU(shared_axes="1"), "shared_axes")]:
        with pytest.raises((TypeError, ValueError), match=words):
            call()
    with pytest.raises(ValueError, match="shared_axes"):
        layers.PReLU(shared_axes=[4]).build((None, 4, 5, 2))
    assert activations.canonical("log_softmax") == "log_softmax"


def test_prelu_model_trains_and_a_frozen_prelu_is_not_updated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 6, 1)).astype("float32")
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(int)
    model = ccnn.Sequential([ccnn.Input((6, 6, 1)), layers.Conv2D(4, 3),
                             layers.ReLU(max_value=6.0, negative_slope=0.05),
                             layers.PReLU(shared_axes=[1, 2]), layers.Flatten(),
                             layers.Dense(2, activation="log_softmax"),
                             layers.Softmax()])
    model.compile("adam", "sparse_categorical_crossentropy")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    prelu = model.layers[2]
    assert np.abs(prelu.get_weights()[0]).sum() > 0          # learned from zeros
    prelu.trainable = False
    before = prelu.get_weights()[0].copy()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(prelu.get_weights()[0], before)
