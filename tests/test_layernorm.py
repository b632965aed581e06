"""Layer normalization: the C kernels (layernorm.c, through F.layer_norm)
against the NumPy reference in tests/ref_norm.py, central differences and
PyTorch; the LayerNormalization layer against Keras."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_norm as ref
from _testutils import (DTYPES, assert_close, central_differences, check_layer_gradients,
                        keras_or_skip, unchanged)


def _case(seed, dtype):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(1, 8, size=ndim))
    k = int(rng.integers(1, ndim))                     # normalize the last k axes
    x = (rng.normal(size=shape) * rng.uniform(0.1, 10) + rng.normal() * 5).astype(dtype)
    norm = shape[ndim - k:]
    w = rng.normal(size=norm).astype(dtype) if seed % 3 else None
    b = rng.normal(size=norm).astype(dtype) if seed % 4 else None
    return rng, x, norm, w, b, tuple(range(ndim - k, ndim))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_layer_norm_matches_reference(seed, dtype):
    rng, x, norm, w, b, axes = _case(seed, dtype)
    eps = float(rng.choice([1e-5, 1e-3]))
    check = unchanged(*(a for a in (x, w, b) if a is not None))
    y = F.layer_norm(x, norm, w, b, eps)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.layer_norm_ref(x, axes, w, b, eps).astype(dtype), dtype, scale=10)
    g = rng.normal(size=x.shape).astype(dtype)
    dx, dw, db = F.layer_norm_backward(g, x, norm, w, b, eps)
    rdx, rdw, rdb = ref.layer_norm_backward_ref(g, x, axes, w, eps)
    scale = np.abs(g).sum() / max(1, g.size // max(1, int(np.prod(norm)))) + 1
    assert_close(dx, rdx.astype(dtype), dtype, scale=scale * 10)
    assert (dw is None) == (w is None) and (db is None) == (b is None)
    if w is not None:
        assert_close(dw, rdw.astype(dtype), dtype, scale=np.abs(g).sum() + 1)
    if b is not None:
        assert_close(db, rdb.astype(dtype), dtype, scale=np.abs(g).sum() + 1)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_rows_and_thread_counts(dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4096, 96)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    w, b = rng.normal(size=96).astype(dtype), rng.normal(size=96).astype(dtype)
    before = ccnn.get_num_threads()
    runs = []
    try:
        for t in (1, 2):
            ccnn.set_num_threads(t)
            runs.append((F.layer_norm(x, 96, w, b),) + F.layer_norm_backward(g, x, 96, w, b))
    finally:
        ccnn.set_num_threads(before)
    for a, c in zip(*runs):
        np.testing.assert_array_equal(a, c)     # column sums in a fixed order
    assert_close(runs[0][2], ref.layer_norm_backward_ref(g, x, (1,), w, 1e-5)[1].astype(dtype),
                 dtype,
                 scale=np.abs(g).sum(axis=0).max())


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=8),
                  elements=st.floats(-1e3, 1e3)))
def test_rows_come_out_standardized_and_gradients_sum_to_zero(x):
    cols = x.shape[-1]
    y = F.layer_norm(x, cols, eps=1e-5)
    var = x.var(axis=-1)
    ok = var > 1e-6
    np.testing.assert_allclose(y.mean(axis=-1)[ok], 0.0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=-1)[ok], np.sqrt(var / (var + 1e-5))[ok], rtol=1e-6)
    g = np.ones_like(x)                    # a constant gradient moves no normalized value
    dx, _, _ = F.layer_norm_backward(g, x, cols, eps=1e-5)
    np.testing.assert_allclose(dx, 0.0, atol=1e-6 * (1 + np.abs(x).max()))


def test_gradients_match_central_differences():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 4, 5))
    w, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    g = rng.normal(size=x.shape)
    dx, dw, db = F.layer_norm_backward(g, x, (4, 5), w, b, 1e-3)
    f = lambda xx, ww, bb: float((F.layer_norm(xx, (4, 5), ww, bb, 1e-3) * g).sum())  # noqa
    np.testing.assert_allclose(dx, central_differences(lambda a: f(a, w, b), x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(dw, central_differences(lambda a: f(x, a, b), w), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(db, central_differences(lambda a: f(x, w, a), b), rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytorch(dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(6, 5, 8)) * 3 + 2).astype(dtype)
    w, b = rng.normal(size=8).astype(dtype), rng.normal(size=8).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.layer_norm(xt, (8,), wt, bt, 1e-5)
    yt.backward(torch.tensor(g))
    dx, dw, db = F.layer_norm_backward(g, x, 8, w, b)
    assert_close(F.layer_norm(x, 8, w, b), yt.detach().numpy(), dtype, scale=5)
    assert_close(dx, xt.grad.numpy(), dtype, scale=10)
    assert_close(dw, wt.grad.numpy(), dtype, scale=np.abs(g).sum())
    assert_close(db, bt.grad.numpy(), dtype, scale=np.abs(g).sum())


@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.layer_norm(np.zeros((2, 3)), (4,)), ValueError, "normalized_shape"),
    (lambda: F.layer_norm(np.zeros((2, 3)), ()), TypeError, "normalized_shape"),
    (lambda: F.layer_norm(np.zeros((2, 3)), "3"), TypeError, "normalized_shape"),
    (lambda: F.layer_norm(np.zeros((2, 3)), 3, np.ones(2)), ValueError, "weight"),
    (lambda: F.layer_norm(np.zeros((2, 3)), 3, None, np.ones((3, 1))), ValueError, "bias"),
    (lambda: F.layer_norm(np.zeros((2, 3)), 3, eps=-1.0), ValueError, "eps"),
    (lambda: F.layer_norm(np.zeros((2, 3)), 3, eps=np.nan), ValueError, "eps"),
    (lambda: F.layer_norm(np.zeros((2, 3), complex), 3), TypeError, "input"),
    (lambda: F.layer_norm_backward(np.zeros((2, 4)), np.zeros((2, 3)), 3), ValueError,
     "grad_out"),
])
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# ------------------------------------------------------------------ the layer

# Keras's torch backend only normalizes trailing axes; the others are checked
# against the NumPy reference below
KERAS_CASES = [dict(), dict(axis=[2, 3]), dict(axis=[1, 2, 3], center=False),
               dict(axis=3, scale=False, epsilon=1e-5), dict(axis=[-1, 2]), dict(axis=[3, -2])]


@pytest.mark.parametrize("kwargs", KERAS_CASES)
def test_layer_matches_keras(kwargs):
    keras = keras_or_skip()
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 5, 6, 3)) * 3 + 1).astype("float32")
    theirs = keras.layers.LayerNormalization(gamma_initializer="random_normal",
                                             beta_initializer="random_normal", **kwargs)
    theirs.build((None, 5, 6, 3))
    ours = layers.LayerNormalization(**kwargs)
    ours.build((None, 5, 6, 3))
    assert [w.shape for w in ours.get_weights()] == \
        [tuple(w.shape) for w in theirs.get_weights()]
    for w in ours.get_weights():                    # Keras's initializers: ones, zeros
        assert set(np.unique(w)) <= {0.0, 1.0}
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5,
                               atol=2e-6)
    assert ours.get_config()["axis"] == theirs.get_config()["axis"]
    assert ours.get_config()["epsilon"] == theirs.get_config()["epsilon"]


@pytest.mark.parametrize("axis", [-1, 1, 2, [1, 2], [1, 3], [2, 1]])
def test_layer_matches_reference_and_central_differences(axis):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4, 5, 2)) * 2 + 1
    layer = layers.LayerNormalization(axis=axis, dtype="float64")
    layer.build((None, 4, 5, 2))
    for key in layer.params:
        layer.params[key][...] = rng.normal(size=layer.params[key].shape)
    axes = tuple(sorted(a % 4 for a in (axis if isinstance(axis, list) else [axis])))
    g, b = layer.params["gamma"], layer.params["beta"]
    np.testing.assert_allclose(layer(x), ref.layer_norm_ref(x, axes, g, b, 1e-3), rtol=1e-10,
                               atol=1e-12)
    check_layer_gradients(layer, x, rng.normal(size=x.shape), "gamma")


def test_config_registry_bad_arguments_and_training():
    layer = layers.LayerNormalization(axis=[1, 2], epsilon=1e-4, center=False, name="ln")
    again = layers.LayerNormalization.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert layers.get("LayerNormalization") is layers.LayerNormalization
    for call, words in [(lambda: layers.LayerNormalization(axis="1"), "axis"),
                        (lambda: layers.LayerNormalization(axis=[]), "axis"),
                        (lambda: layers.LayerNormalization(epsilon=0), "epsilon"),
                        (lambda: layers.LayerNormalization(center="no"), "center"),
                        (lambda: layers.LayerNormalization(gamma_initializer="x"),
                         "gamma_initializer"),
                        (lambda: layers.LayerNormalization(rms_scaling=True), "rms_scaling"),
                        (lambda: layers.LayerNormalization(gamma_regularizer="l2"),
                         "gamma_regularizer")]:
        with pytest.raises((TypeError, ValueError), match=words):
            call()
    for axis in (0, 4, [1, 1]):
        with pytest.raises(ValueError, match="axis"):
            layers.LayerNormalization(axis=axis).build((None, 4, 5, 2))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 6, 1)).astype("float32")
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(int)
    model = ccnn.Sequential([ccnn.Input((6, 6, 1)), layers.Conv2D(4, 3),
                             layers.LayerNormalization(axis=[1, 2, 3]), layers.ReLU(),
                             layers.Flatten(), layers.Dense(8), layers.LayerNormalization(),
                             layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < first
    frozen = model.layers[2]
    frozen.trainable = False
    before = frozen.get_weights()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
