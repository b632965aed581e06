"""Batch normalization: the C kernels against the NumPy reference (tests/ref_norm.py),
central differences, PyTorch's F.batch_norm, and the BatchNormalization layer
against Keras's semantics."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_norm as ref
from _testutils import DTYPES, assert_close, central_differences, unchanged


def _case(seed):
    """A random (outer, C, inner) shape -- inner 1 is the channels-last / Dense layout."""
    rng = np.random.default_rng(seed)
    outer = int(rng.integers(1, 9))
    c = int(rng.integers(1, 12))
    inner = int(rng.choice([1, 1, 2, 5, 17, 64]))
    if outer * inner == 1:
        outer = 2
    return rng, (outer, c, inner)


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(25))
def test_kernels_match_reference(seed, dtype):
    rng, shape = _case(seed)
    c = shape[1]
    x = (rng.normal(size=shape) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)).astype(dtype)
    gamma = rng.normal(size=c).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    dout = rng.normal(size=shape).astype(dtype)
    check = unchanged(x, gamma, beta, dout)

    mean, var = F.batch_norm_stats_unchecked(x)
    rmean, rvar = ref.stats(x)
    assert_close(mean, rmean.astype(dtype), dtype, scale=np.abs(x).max())
    assert_close(var, rvar.astype(dtype), dtype, scale=np.abs(x).max() ** 2)

    eps = 1e-3
    invstd = F._invstd(rvar.astype(dtype), eps, dtype)
    y = F.batch_norm_unchecked(x, rmean.astype(dtype), invstd, gamma, beta)
    want = ref.forward(x, rmean.astype(dtype).astype(np.float64),
                       rvar.astype(dtype).astype(np.float64), eps, gamma, beta)
    assert_close(y, want.astype(dtype), dtype)

    for training in (True, False):
        m, v = (rmean, rvar) if training else (rng.normal(size=c), rng.uniform(0.5, 2, c))
        m, v = m.astype(dtype), v.astype(dtype)
        dx, dg, db = F.batch_norm_backward_unchecked(dout, x, m, F._invstd(v, eps, dtype),
                                                     gamma, training, True, True, True)
        rdx, rdg, rdb = ref.backward(dout, x, m.astype(np.float64), v.astype(np.float64), eps,
                                     gamma, training)
        scale = np.abs(dout).max() * np.abs(gamma).max() / np.sqrt(v.min() + eps) * 4
        assert_close(dx, rdx.astype(dtype), dtype, scale=scale)
        assert_close(dg, rdg.astype(dtype), dtype, scale=np.abs(rdg).max() + shape[0] * shape[2])
        assert_close(db, rdb.astype(dtype), dtype, scale=np.abs(dout).sum(axis=(0, 2)).max())
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_counts_agree(dtype):
    """Partial sums are added in a fixed order: 1 and 2 threads differ only by rounding."""
    rng = np.random.default_rng(3)
    for shape in [(4096, 16, 1), (8, 16, 4096)]:
        x = rng.normal(size=shape).astype(dtype)
        before = ccnn.get_num_threads()
        try:
            ccnn.set_num_threads(1)
            a = F.batch_norm_stats_unchecked(x)
            ccnn.set_num_threads(2)
            b = F.batch_norm_stats_unchecked(x)
        finally:
            ccnn.set_num_threads(before)
        for u, v in zip(a, b):
            assert_close(u, v.astype(dtype), dtype, scale=4)


# ----------------------------------------------------------- functional op

@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_central_differences(training):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 4, 2, 3)) * 2 + 1
    w, b = rng.normal(size=4), rng.normal(size=4)
    rm, rv = rng.normal(size=4), rng.uniform(0.5, 2, 4)
    g = rng.normal(size=x.shape)

    def loss(x_, w_, b_):
        return float((F.batch_norm(x_, rm, rv, w_, b_, training=training, eps=1e-3) * g).sum())

    dx, dw, db = F.batch_norm_backward(g, x, rm, rv, w, b, training=training, eps=1e-3)
    np.testing.assert_allclose(dx, central_differences(lambda a: loss(a, w, b), x),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, central_differences(lambda a: loss(x, a, b), w),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, central_differences(lambda a: loss(x, w, a), b),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytorch(training, dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 6, 7, 3)).astype(dtype) * 3 + 2
    w, b = rng.normal(size=6).astype(dtype), rng.normal(size=6).astype(dtype)
    rm, rv = rng.normal(size=6).astype(dtype), rng.uniform(0.5, 2, 6).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), wt, bt,
                                        training=training, eps=1e-5)
    yt.backward(torch.tensor(g))
    y = F.batch_norm(x, rm, rv, w, b, training=training)
    dx, dw, db = F.batch_norm_backward(g, x, rm, rv, w, b, training=training)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for got, want in ((y, yt), (dx, xt.grad), (dw, wt.grad), (db, bt.grad)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(2, 30), st.floats(-1e3, 1e3),
       st.floats(1e-2, 1e2), st.integers(0, 2 ** 32 - 1))
def test_normalized_batch_has_zero_mean_unit_variance(n, c, hw, shift, spread, seed):
    """With the batch's statistics, every channel comes out with mean 0 and
    variance var / (var + eps) (no scale / shift)."""
    x = np.random.default_rng(seed).normal(size=(n, c, hw)) * spread + shift
    y = F.batch_norm(x, None, None, training=True, eps=1e-5)
    _, var = ref.stats(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-9)
    np.testing.assert_allclose(y.var(axis=(0, 2)), var / (var + 1e-5), rtol=1e-9, atol=1e-12)


def test_bad_arguments():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="weight"):
        F.batch_norm(x, None, None, weight=np.ones(4), training=True)
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(x, None, None, training=True, eps=0)
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm(x, None, None, training=True, momentum=2)
    with pytest.raises(ValueError, match="input"):
        F.batch_norm(np.ones(3), None, None, training=True)
    with pytest.raises(TypeError, match="input"):
        F.batch_norm(np.array(["a"]), None, None)
    with pytest.raises(ValueError, match="grad_out"):
        F.batch_norm_backward(np.ones((2, 3, 5)), x, None, None, training=True)
    F.batch_norm(np.ones((1, 3, 1)), None, None, training=True)  # one value per channel: fine
    with pytest.raises(ValueError, match="at least one value"):
        F.batch_norm(np.ones((0, 3, 4)), None, None, training=True)


# -------------------------------------------------------------------- layer

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


@pytest.mark.parametrize("shape,axis", [((6, 5, 4, 3), -1), ((6, 3, 5, 4), 1), ((9, 7), -1)])
def test_layer_matches_keras(shape, axis):
    """Same weights in -> same outputs in training and inference, and the same
    moving statistics after a few training batches."""
    keras = _keras()
    rng = np.random.default_rng(5)
    c = shape[axis]
    kl = keras.layers.BatchNormalization(axis=axis, momentum=0.8)
    cl = layers.BatchNormalization(axis=axis, momentum=0.8)
    kl.build(shape)
    cl.build((None,) + shape[1:])
    w = [rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c)]
    w = [a.astype("float32") for a in w]
    kl.set_weights(w)
    cl.set_weights(w)
    for step in range(4):
        x = (rng.normal(size=shape) * 3 + step).astype("float32")
        for training in (True, False):
            got = cl(x, training=training)
            want = np.asarray(kl(x, training=training).detach().cpu())
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for a, b in zip(cl.get_weights(), kl.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [tuple(v.shape) for v in kl.weights] == [a.shape for a in cl.weights]


def test_layer_defaults_and_weights():
    bn = layers.BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    bn.build((None, 4, 4, 3))
    assert [w.tolist() for w in bn.get_weights()] == [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert bn.count_params() == 12
    bare = layers.BatchNormalization(center=False, scale=False)
    bare.build((None, 3))
    assert len(bare.get_weights()) == 2 and bare.count_params() == 6 and not bare.params
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    y = bare(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-6)


def test_config_round_trip():
    bn = layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False,
                                   gamma_initializer="zeros", name="bn")
    again = layers.BatchNormalization.from_config(bn.get_config())
    assert again.get_config() == bn.get_config()
    assert layers.get("BatchNormalization") is layers.BatchNormalization


def test_frozen_layer_runs_in_inference_mode_and_is_not_updated():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 6, 6, 2)).astype("float32") * 2 + 3
    y = rng.integers(0, 3, 64)
    model = ccnn.Sequential([ccnn.Input((6, 6, 2)), layers.Conv2D(4, 3),
                             layers.BatchNormalization(trainable=False), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])
    bn = model.layers[1]
    before = bn.get_weights()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    out = bn(np.ones((2, 4, 4, 4), "float32"), training=True)   # frozen: moving statistics
    np.testing.assert_allclose(out, 1 / np.sqrt(1 + 1e-3), rtol=1e-6)
    assert model.summary is not None
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 16" in "\n".join(lines)


def test_model_trains_and_weights_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(128, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    ccnn.utils.set_random_seed(0)
    model = ccnn.Sequential([ccnn.Input((8, 8, 1)), layers.Conv2D(6, 3, use_bias=False),
                             layers.BatchNormalization(), layers.Activation("relu"),
                             layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(ccnn.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.7
    moving = model.layers[1].states["moving_mean"]
    assert np.any(moving != 0)
    model.save_weights(tmp_path / "w.npz")
    other = ccnn.Sequential.from_config(model.get_config())
    other.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(other.layers[1].states["moving_mean"], moving)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_float64_layer_gradient_through_batch_statistics():
    """The layer's backward in training equals central differences of its output."""
    rng = np.random.default_rng(9)
    bn = layers.BatchNormalization(dtype="float64")
    x = rng.normal(size=(3, 2, 2, 4)) * 2 + 1
    bn.build((None, 2, 2, 4))
    bn.set_weights([rng.normal(size=4), rng.normal(size=4), np.zeros(4), np.ones(4)])
    g = rng.normal(size=x.shape)

    def loss(x_):
        saved = [s.copy() for s in bn.states.values()]
        out = float((bn.forward(x_, training=True) * g).sum())
        for s, v in zip(bn.states.values(), saved):
            s[...] = v
        return out

    loss(x)
    dx = bn.backward(g)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kwargs,name", [
    ({"momentum": 1.5}, "momentum"), ({"epsilon": 0}, "epsilon"), ({"axis": "x"}, "axis"),
    ({"center": "yes"}, "center"), ({"gamma_initializer": "nope"}, "gamma_initializer"),
    ({"beta_regularizer": "l2"}, "beta_regularizer"), ({"synchronized": True}, "synchronized")])
def test_bad_layer_arguments_at_construction(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        layers.BatchNormalization(**kwargs)


def test_bad_axis_at_build():
    with pytest.raises(ValueError, match="axis"):
        ccnn.Sequential([ccnn.Input((4, 4, 2)), layers.BatchNormalization(axis=5)])
