"""Elementwise activations beyond ReLU (csrc/kernels/pointwise.c): the kernels
against the float64 formulas in tests/reference.py, central differences,
PyTorch's functional ops, and ccnn.activations / the activation layers /
activation= against Keras 3."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ccnn
import ccnn.functional as F
from ccnn import activations, layers

import reference as ref
from _testutils import DTYPES, assert_close, central_differences, unchanged

KINDS = list(F.POINTWISE)
ALPHA = {"leaky_relu": 0.2, "elu": 1.3}


def test_kind_table_is_complete():
    assert KINDS == ["relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid",
                     "hard_sigmoid", "silu", "hard_silu", "tanh", "softplus", "softsign",
                     "exponential"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_kernels_match_reference(name, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 9, size=int(rng.integers(1, 5))))
    if seed == 5:
        shape = (70001,)                     # several chunks, both threads
    x = (rng.normal(size=shape) * rng.choice([0.5, 2, 4])).astype(dtype)
    if name == "exponential":
        x = np.clip(x, -20, 20)
    g = rng.normal(size=shape).astype(dtype)
    alpha = ALPHA.get(name, 0.0)
    check = unchanged(x, g)
    y = F.pointwise_unchecked(x, name, alpha)
    dx = F.pointwise_backward_unchecked(g, x, name, alpha)
    ry, rd = ref.pointwise_ref(name, x, alpha)
    assert_close(y, ry.astype(dtype), dtype)
    assert_close(dx, (g * rd).astype(dtype), dtype)
    check()


@pytest.mark.parametrize("name", KINDS)
def test_gradients_match_central_differences(name):
    rng = np.random.default_rng(1)
    x = rng.uniform(-4, 4, size=40)
    x = x[np.min(np.abs(x[:, None] - np.array([-3.0, 0.0, 3.0, 6.0])), axis=1) > 1e-3]
    w = rng.normal(size=x.shape)
    alpha = ALPHA.get(name, 0.0)
    num = central_differences(lambda a: float((F.pointwise_unchecked(a, name, alpha) * w).sum()),
                              x)
    # the difference quotient's rounding error: eps * |sum of the terms| / h
    atol = 1e-9 * (1 + np.abs(F.pointwise_unchecked(x, name, alpha) * w).sum())
    np.testing.assert_allclose(F.pointwise_backward_unchecked(w, x, name, alpha), num,
                               rtol=1e-6, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes_are_finite_and_nan_propagates(dtype):
    x = np.array([-1e4, -100, -30, 0, 30, 100, 1e4, np.nan], dtype=dtype)
    for name in KINDS:
        y = F.pointwise_unchecked(x, name, ALPHA.get(name, 0.0))
        assert np.isnan(y[-1]), name
        if name != "exponential":
            assert np.isfinite(y[:-1]).all(), (name, y)
        d = F.pointwise_backward_unchecked(np.ones_like(x), x, name, ALPHA.get(name, 0.0))
        if name != "exponential":       # (f'(NaN) of a piecewise f may be 0: not checked)
            assert np.isfinite(d[:-1]).all(), (name, d)
    np.testing.assert_array_equal(F.softplus(x[:-1])[[0, 6]], np.array([0, 1e4], dtype))
    np.testing.assert_array_equal(F.sigmoid(x[:-1])[[0, 6]], np.array([0, 1], dtype))


def test_thread_counts_agree():
    x = np.random.default_rng(2).normal(size=200_003).astype(np.float32)
    before = ccnn.get_num_threads()
    try:
        ccnn.set_num_threads(1)
        one = [F.pointwise_unchecked(x, k, 0.3) for k in KINDS]
        ccnn.set_num_threads(2)
        two = [F.pointwise_unchecked(x, k, 0.3) for k in KINDS]
    finally:
        ccnn.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


MONOTONE = ["relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
            "softsign", "exponential"]
BOUNDS = {"sigmoid": (0, 1), "hard_sigmoid": (0, 1), "tanh": (-1, 1), "softsign": (-1, 1),
          "relu6": (0, 6), "softplus": (0, np.inf), "exponential": (0, np.inf)}


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 300),
                  elements=st.floats(-80, 80, width=32, allow_subnormal=False)),
       st.sampled_from(KINDS))
def test_properties_for_any_input(x, name):
    """Monotone activations keep the order of their inputs, bounded ones stay
    in their range, and every derivative is finite and agrees in sign with
    the monotonicity (float32, any finite input in [-80, 80])."""
    alpha = ALPHA.get(name, 0.0)
    y = F.pointwise_unchecked(x, name, alpha)
    d = F.pointwise_backward_unchecked(np.ones_like(x), x, name, alpha)
    assert np.isfinite(y).all() and np.isfinite(d).all()
    order = np.argsort(x, kind="stable")
    if name in MONOTONE:
        assert (np.diff(y[order]) >= 0).all()
        assert (d >= 0).all()
    lo, hi = BOUNDS.get(name, (-np.inf, np.inf))
    assert ((y >= lo) & (y <= hi)).all()
    ry, rd = ref.pointwise_ref(name, x.astype(np.float64), alpha)
    np.testing.assert_allclose(y, ry, rtol=2e-5, atol=2e-6 * max(1.0, np.abs(ry).max()))


# (ccnn.functional name, keyword arguments, torch.nn.functional name)
TORCH_OPS = [("sigmoid", {}, "sigmoid"), ("tanh", {}, "tanh"), ("relu6", {}, "relu6"),
             ("leaky_relu", {}, "leaky_relu"), ("leaky_relu", {"negative_slope": 0.2},
                                                "leaky_relu"),
             ("elu", {}, "elu"), ("elu", {"alpha": 0.5}, "elu"), ("selu", {}, "selu"),
             ("gelu", {}, "gelu"), ("gelu", {"approximate": "tanh"}, "gelu"),
             ("silu", {}, "silu"), ("hardsigmoid", {}, "hardsigmoid"),
             ("hardswish", {}, "hardswish"), ("softplus", {}, "softplus"),
             ("softsign", {}, "softsign")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, kwargs, theirs", TORCH_OPS)
def test_functional_matches_pytorch(ours, kwargs, theirs, dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 3, 5, 5)) * 3).astype(dtype)
    x[0, 0, 0, :] = [-3.5, -2.5, 0.5, 2.5, 3.5]      # hardsigmoid / hardswish pieces
    g = rng.normal(size=x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    fn = getattr(torch.nn.functional, theirs)
    yt = fn(xt, **kwargs) if theirs != "tanh" else torch.tanh(xt)
    yt.backward(torch.tensor(g))
    check = unchanged(x, g)
    got = getattr(F, ours)(x, **kwargs), getattr(F, ours + "_backward")(g, x, **kwargs)
    want = yt.detach().numpy(), xt.grad.numpy()
    if dtype == np.float64 and ours in ("hardsigmoid", "hardswish"):
        # PyTorch's double kernels round 1/6 to float: 3e-8 relative (ours match
        # the float64 formula, test_kernels_match_reference)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    else:
        assert_close(got[0], want[0], dtype)
        assert_close(got[1], want[1], dtype)
    check()


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.sigmoid("x"), TypeError, "x"),
    (lambda: F.sigmoid(np.zeros(3, complex)), TypeError, "x"),
    (lambda: F.elu(np.zeros(3), alpha=float("nan")), ValueError, "alpha"),
    (lambda: F.leaky_relu(np.zeros(3), negative_slope="0.1"), TypeError, "negative_slope"),
    (lambda: F.gelu(np.zeros(3), approximate="erf"), ValueError, "approximate"),
    (lambda: F.tanh_backward(np.zeros(4), np.zeros(3)), ValueError, "grad_out"),
])
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# ------------------------------------------------------------------ Keras surface

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


ALL_NAMES = [n for n in activations.NAMES if n != "softmax"] + list(activations.ALIASES)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_activation_functions_match_keras(name):
    keras = _keras()
    x = np.random.default_rng(4).normal(size=(6, 7)).astype("float32") * 3
    x[0, :] = [-3.5, -2.5, -0.5, 0, 0.5, 2.5, 3.5]
    want = keras.ops.convert_to_numpy(getattr(keras.activations, name)(x))
    np.testing.assert_allclose(getattr(activations, name)(x), want, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(activations.get(name)(x), want, rtol=2e-6, atol=2e-6)


def test_activation_function_arguments_match_keras():
    keras = _keras()
    x = np.random.default_rng(5).normal(size=(5, 8)).astype("float32") * 3
    pairs = [(activations.leaky_relu(x, negative_slope=0.1),
              keras.activations.leaky_relu(x, negative_slope=0.1)),
             (activations.elu(x, alpha=0.7), keras.activations.elu(x, alpha=0.7)),
             (activations.gelu(x, approximate=True), keras.activations.gelu(x, approximate=True)),
             (activations.softmax(x, axis=0), keras.activations.softmax(x, axis=0))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=2e-6,
                                   atol=2e-6)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "swish", "elu", "softplus",
                                  "hard_silu"])
def test_dense_and_conv_activation_match_keras(name):
    keras = _keras()
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 6, 2)).astype("float32")
    kc = keras.layers.Conv2D(4, 3, activation=name)
    kd = keras.layers.Dense(5, activation=name)
    want = keras.ops.convert_to_numpy(kd(kc(x)))
    conv, dense = layers.Conv2D(4, 3, activation=name), layers.Dense(5, activation=name)
    conv.build(x.shape)
    dense.build((3, 4, 4, 4))
    conv.set_weights([keras.ops.convert_to_numpy(w) for w in kc.weights])
    dense.set_weights([keras.ops.convert_to_numpy(w) for w in kd.weights])
    np.testing.assert_allclose(dense(conv(x)), want, rtol=1e-5, atol=1e-5)
    assert conv.get_config()["activation"] == kc.get_config()["activation"]
    assert dense.get_config()["activation"] == kd.get_config()["activation"]


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "selu", "gelu", "silu", "leaky_relu",
                                  "softsign", "relu6"])
def test_layer_gradients_match_central_differences(name):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 5, 5, 2))
    model = [layers.Conv2D(3, 3, activation=name, dtype="float64"),
             layers.Activation(name, dtype="float64"),
             layers.Dense(2, activation=name, dtype="float64")]

    def run(a):
        for layer in model:
            a = layer(a, training=True)
        return a

    g = rng.normal(size=run(x).shape)
    num = central_differences(lambda a: float((run(a) * g).sum()), x)
    run(x)
    d = g
    for layer in reversed(model):
        layer.need_input_grad = True
        d = layer.backward(d)
    np.testing.assert_allclose(d, num, rtol=1e-5, atol=1e-7)


def test_layers_match_keras():
    keras = _keras()
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4, 5)).astype("float32") * 2
    cases = [(layers.LeakyReLU(), keras.layers.LeakyReLU()),
             (layers.LeakyReLU(negative_slope=0.05), keras.layers.LeakyReLU(negative_slope=0.05)),
             (layers.ELU(), keras.layers.ELU()), (layers.ELU(alpha=0.4), keras.layers.ELU(alpha=0.4)),
             (layers.Softmax(), keras.layers.Softmax()),
             (layers.Softmax(axis=1), keras.layers.Softmax(axis=1)),
             (layers.Activation("gelu"), keras.layers.Activation("gelu")),
             (layers.Activation("swish"), keras.layers.Activation("swish"))]
    for ours, theirs in cases:
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=2e-6,
                                   atol=2e-6)
        mine, keras_config = ours.get_config(), theirs.get_config()
        for key in ("negative_slope", "alpha", "axis", "activation"):
            if key in keras_config:
                assert mine[key] == keras_config[key], (type(ours).__name__, key)
        assert type(ours).from_config(mine).get_config() == mine
    model = ccnn.Sequential([ccnn.Input((4,)), layers.LeakyReLU(), layers.ELU()])
    assert [layer.name for layer in model.layers] == ["leaky_re_lu", "elu"]   # Keras's names


def test_layer_backwards_match_reference():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 3, 5))
    g = rng.normal(size=x.shape)
    for layer, name, alpha in [(layers.LeakyReLU(negative_slope=0.1, dtype="float64"),
                                "leaky_relu", 0.1),
                               (layers.ELU(alpha=0.6, dtype="float64"), "elu", 0.6)]:
        layer(x, training=True)
        np.testing.assert_allclose(layer.backward(g), g * ref.pointwise_ref(name, x, alpha)[1],
                                   rtol=1e-12)
    sm = layers.Softmax(axis=1, dtype="float64")
    y = sm(x, training=True)
    num = central_differences(lambda a: float((sm(a) * g).sum()), x)
    sm(x, training=True)
    np.testing.assert_allclose(sm.backward(g), num, rtol=1e-6, atol=1e-9)
    assert y.shape == x.shape


@pytest.mark.parametrize("call, exc, words", [
    (lambda: layers.Dense(3, activation="sigmoidd"), ValueError, "Unknown activation"),
    (lambda: layers.Conv2D(3, 3, activation=3), ValueError, "Unknown activation"),
    (lambda: layers.LeakyReLU(negative_slope=-1), ValueError, "negative_slope"),
    (lambda: layers.LeakyReLU(negative_slope="a"), TypeError, "negative_slope"),
    (lambda: layers.ELU(alpha=float("inf")), ValueError, "alpha"),
    (lambda: layers.Softmax(axis=1.5), TypeError, "axis"),
    (lambda: activations.gelu(np.zeros(2), approximate="yes"), TypeError, "approximate"),
])
def test_bad_layer_arguments_at_construction(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_model_with_new_activations_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(128, 8, 8, 1)).astype("float32")
    y = (x[:, :4].sum(axis=(1, 2, 3)) > x[:, 4:].sum(axis=(1, 2, 3))).astype(int)
    model = ccnn.Sequential([ccnn.Input((8, 8, 1)), layers.Conv2D(8, 3, activation="tanh"),
                             layers.LeakyReLU(), layers.GlobalAveragePooling2D(),
                             layers.Dense(16, activation="gelu"), layers.ELU(),
                             layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < first
    model.save_weights(tmp_path / "w.npz")
    again = ccnn.Sequential.from_config(model.get_config())
    again.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "elu", "selu", "gelu", "silu",
                                  "softplus", "leaky_relu", "exponential", "hard_sigmoid"])
def test_activation_of_a_scalar_is_0_d_as_keras(name):
    """keras.io's "Image classification from scratch" ends with
    float(keras.activations.sigmoid(predictions[0][0])): a NumPy scalar in, a
    0-d array out (Keras's 0-d tensor), the value of the array path."""
    from ccnn import activations
    fn = getattr(activations, name)
    for dtype in (np.float32, np.float64):
        v = dtype(0.3)
        out = fn(v)
        assert out.shape == () and out.dtype == dtype
        assert float(out) == fn(np.array([v]))[0]
    keras = pytest.importorskip("keras", reason="keras is not installed; checked against "
                                "ccnn's own array path above")
    want = float(getattr(keras.activations, name)(np.float32(0.3)))
    assert float(fn(np.float32(0.3))) == pytest.approx(want, rel=1e-6)
