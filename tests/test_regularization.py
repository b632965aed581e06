"""SpatialDropout2D, GaussianNoise, GaussianDropout (and F.dropout2d): NumPy
references (tests/ref_regularization.py) for replayed draws, statistics at
fixed seeds, gradients, reproducibility, Keras's inference behaviour and
configs, bad arguments; the regularization/ package keeps Dropout's imports."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_regularization as ref
from _testutils import DTYPES, central_differences, unchanged

NEW = [lambda **k: layers.SpatialDropout2D(0.4, **k), lambda **k: layers.GaussianNoise(0.3, **k),
       lambda **k: layers.GaussianDropout(0.3, **k)]


def _x(dtype=np.float64, shape=(5, 6, 7, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def test_dropout_import_paths_kept():
    from ccnn.layers import Dropout
    from ccnn.layers.regularization import Dropout as D2
    from ccnn.layers.regularization.dropout import Dropout as D3
    assert Dropout is D2 is D3
    for name in ("SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
        assert name in layers.__all__ and layers.get(name) is getattr(layers, name)


# ---------------------------------------------------------- SpatialDropout2D

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_matches_reference(dtype, data_format):
    x = _x(dtype)
    layer = layers.SpatialDropout2D(0.3, data_format=data_format, seed=3, dtype=dtype)
    check = unchanged(x)
    y = layer(x, training=True)
    check()
    assert y.dtype == dtype and y.shape == x.shape
    last = data_format == "channels_last"
    keep = layer.mask
    assert keep.dtype == np.bool_ and keep.shape == (5, 4 if last else 6)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, ref.spatial_dropout(x, keep, 0.3, last), rtol=tol, atol=tol)
    # whole channels: a channel is either all zeros or all x / 0.7
    chan = y if last else y.transpose(0, 2, 3, 1)
    zero = np.all(chan == 0, axis=(1, 2))
    np.testing.assert_array_equal(zero, ~keep)
    g = _x(dtype, seed=9)
    np.testing.assert_allclose(layer.backward(g), ref.spatial_dropout(g, keep, 0.3, last),
                               rtol=tol, atol=tol)


def test_spatial_dropout_rate_within_binomial_bounds():
    """4000 channels dropped at rate p: the dropped fraction within 5 sigma."""
    x = np.ones((100, 2, 2, 40))
    for p in (0.1, 0.5, 0.8):
        layer = layers.SpatialDropout2D(p, seed=11)
        y = layer(x, training=True)
        dropped = np.mean(np.all(y == 0, axis=(1, 2)))
        sigma = math.sqrt(p * (1 - p) / 4000)
        assert abs(dropped - p) < 5 * sigma, (p, dropped)
        kept = y[y != 0]
        np.testing.assert_allclose(kept, 1.0 / (1.0 - p))


def test_spatial_dropout_gradient_central_differences():
    x = _x(np.float64, (2, 3, 3, 3))
    layer = layers.SpatialDropout2D(0.5, seed=1, dtype="float64")
    layer(x, training=True)
    mask = layer.mask
    w = _x(np.float64, (2, 3, 3, 3), seed=4)

    def loss(v):
        layer.rng = np.random.default_rng(1)            # the same mask each call
        return float(np.sum(layer(v, training=True) * w))
    num = central_differences(loss, x)
    layer.rng = np.random.default_rng(1)
    layer(x, training=True)
    np.testing.assert_array_equal(layer.mask, mask)
    np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


def test_functional_dropout2d_and_torch():
    x = _x(np.float32, (3, 5, 4, 4))                      # NCHW
    check = unchanged(x)
    y, mask = F.dropout2d(x, 0.4, seed=2)
    check()
    np.testing.assert_allclose(y, ref.spatial_dropout(x, mask, 0.4, channels_last=False),
                               rtol=1e-6)
    g = _x(np.float32, (3, 5, 4, 4), seed=1)
    np.testing.assert_allclose(F.dropout2d_backward(g, mask, 0.4),
                               ref.spatial_dropout(g, mask, 0.4, channels_last=False), rtol=1e-6)
    y2, m2 = F.dropout2d(x, 0.4, seed=2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(F.dropout2d(x, 0.4, training=False)[0], x)
    assert F.dropout2d(x, 0.0)[1] is None
    with pytest.raises(ValueError, match="rate"):
        F.dropout2d(x, 1.0)
    with pytest.raises(ValueError, match="input"):
        F.dropout2d(np.ones((2, 3)), 0.5)
    with pytest.raises(TypeError, match="mask"):
        F.dropout2d_backward(g, mask.astype(np.float32), 0.4)
    with pytest.raises(ValueError, match="mask"):
        F.dropout2d_backward(g, mask[:2], 0.4)
    torch = pytest.importorskip("torch", reason="torch is not installed: no PyTorch cross-check")
    # PyTorch's semantics: whole channels zeroed, the rest scaled by 1 / (1 - p)
    t = torch.nn.functional.dropout2d(torch.ones(200, 10, 3, 3), p=0.4, training=True).numpy()
    per_channel = t.reshape(200, 10, 9)
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.6).all(-1))
    ours = F.dropout2d(np.ones((200, 10, 3, 3), np.float32), 0.4, seed=0)[0].reshape(200, 10, 9)
    assert np.all((ours == 0).all(-1) | np.isclose(ours, 1 / 0.6).all(-1))
    assert abs((ours == 0).all(-1).mean() - 0.4) < 0.05


# ---------------------------------------------- GaussianNoise / GaussianDropout

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["noise", "dropout"])
def test_gaussian_layers_match_replayed_draws(dtype, kind):
    """y for the layer's draws replayed (standard normals from the same seed);
    GaussianNoise's gradient is dout, GaussianDropout's dout times the same noise."""
    x, g = _x(dtype), _x(dtype, seed=3)
    z = np.random.default_rng(7).standard_normal(x.shape)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    if kind == "noise":
        layer = layers.GaussianNoise(0.2, seed=7, dtype=dtype)
        want, want_g = ref.gaussian_noise(x, z, 0.2), g
    else:
        layer = layers.GaussianDropout(0.3, seed=7, dtype=dtype)
        want, want_g = ref.gaussian_dropout(x, z, 0.3), ref.gaussian_dropout(g, z, 0.3)
    y = layer(x, training=True)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.backward(g), want_g, rtol=tol, atol=tol)


def test_gaussian_dropout_gradient_central_differences():
    x = _x(np.float64, (2, 3, 2, 2))
    w = _x(np.float64, (2, 3, 2, 2), seed=5)
    layer = layers.GaussianDropout(0.4, seed=2, dtype="float64")

    def loss(v):
        layer.rng = np.random.default_rng(2)
        return float(np.sum(layer(v, training=True) * w))
    num = central_differences(loss, x)
    layer.rng = np.random.default_rng(2)
    layer(x, training=True)
    np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


def test_gaussian_statistics():
    x = np.full((200, 50, 50), 2.0)
    noise = layers.GaussianNoise(0.3, seed=1)(x, training=True) - 2.0
    assert abs(noise.mean()) < 5 * 0.3 / math.sqrt(noise.size)
    assert abs(noise.std() - 0.3) < 0.003
    e = layers.GaussianDropout(0.2, seed=1)(x, training=True) / 2.0
    assert abs(e.mean() - 1.0) < 5 * 0.5 / math.sqrt(e.size)
    assert abs(e.std() - math.sqrt(0.2 / 0.8)) < 0.005


# ---------------------------------------------------------- shared behaviour

@pytest.mark.parametrize("make", NEW)
def test_identity_at_inference_and_same_seed_reproducible(make):
    x = _x(np.float32)
    layer = make()
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    a, b = make(seed=5), make(seed=5)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))
    assert not np.array_equal(a(x, training=True), make(seed=6)(x, training=True))
    ccnn.utils.set_random_seed(3)
    u = make()(x, training=True)
    ccnn.utils.set_random_seed(3)
    np.testing.assert_array_equal(make()(x, training=True), u)


@pytest.mark.parametrize("make", NEW)
def test_config_round_trip(make):
    layer = make(seed=4, name="r")
    layer(_x(np.float32), training=False)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert layer.count_params() == 0
    assert layer.compute_output_shape((None, 6, 7, 4)) == (None, 6, 7, 4)


def test_keras_configs_and_inference():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")
    x = _x(np.float32)
    pairs = [(layers.SpatialDropout2D(0.3, seed=1), keras.layers.SpatialDropout2D(0.3, seed=1)),
             (layers.GaussianNoise(0.2, seed=1), keras.layers.GaussianNoise(0.2, seed=1)),
             (layers.GaussianDropout(0.3, seed=1), keras.layers.GaussianDropout(0.3, seed=1))]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours(x, training=False),
                                      np.asarray(theirs(x, training=False)))
        kc, oc = theirs.get_config(), ours.get_config()
        for key in kc:
            if key not in ("name", "dtype", "trainable"):
                assert oc[key] == kc[key], (type(ours).__name__, key)
        # Keras's training formula: SpatialDropout2D keeps whole channels scaled by 1/(1-p)
    yk = np.asarray(keras.layers.SpatialDropout2D(0.5, seed=1)(np.ones((8, 3, 3, 6), "float32"),
                                                                training=True))
    assert np.all(np.isin(yk, [0.0, 2.0])) and np.all(yk.std(axis=(1, 2)) == 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="rate"):
        layers.SpatialDropout2D(1.0)
    with pytest.raises(TypeError, match="rate"):
        layers.SpatialDropout2D("0.5")
    with pytest.raises(ValueError, match="data_format"):
        layers.SpatialDropout2D(0.5, data_format="nhwc")
    with pytest.raises(ValueError, match="seed"):
        layers.SpatialDropout2D(0.5, seed=-1)
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(1.5)
    with pytest.raises(TypeError, match="stddev"):
        layers.GaussianNoise("a")
    with pytest.raises(ValueError, match="rate"):
        layers.GaussianDropout(-0.1)
    with pytest.raises(ValueError, match="rate"):
        layers.GaussianDropout(1.0)


def test_sequential_with_regularization_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 2)).astype("float32")
    y = (x[:, :, :, 0].mean(axis=(1, 2)) > 0).astype("int64")
    ccnn.utils.set_random_seed(0)
    model = ccnn.Sequential([ccnn.Input((6, 6, 2)), layers.Conv2D(4, 3, activation="relu"),
                             layers.SpatialDropout2D(0.2), layers.GaussianNoise(0.05),
                             layers.GaussianDropout(0.1), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="adam", loss=ccnn.losses.SparseCategoricalCrossentropy(from_logits=True)
                  if hasattr(ccnn, "losses") else "sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    b = before[0] if isinstance(before, (list, tuple)) else before
    a = after[0] if isinstance(after, (list, tuple)) else after
    assert a < b
