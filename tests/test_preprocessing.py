"""Affine resampling (the C kernel behind RandomTranslation) against the NumPy
reference (tests/ref_augment.py) and keras.ops.image.affine_transform, and the
RandomTranslation layer's Keras semantics."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccnn
import ccnn.functional as F
from ccnn import layers

import ref_augment as ref
from _testutils import DTYPES, unchanged

MODES = list(F.FILL_MODES)


def _transforms(rng, n, spread=1.0):
    t = np.zeros((n, 6))
    t[:, 0] = rng.uniform(0.6, 1.4, n)
    t[:, 1] = rng.uniform(-0.4, 0.4, n) * spread
    t[:, 2] = rng.uniform(-9, 9, n)
    t[:, 3] = rng.uniform(-0.4, 0.4, n) * spread
    t[:, 4] = rng.uniform(0.6, 1.4, n)
    t[:, 5] = rng.uniform(-9, 9, n)
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", list(F.INTERPOLATIONS))
@pytest.mark.parametrize("fill_mode", MODES)
@pytest.mark.parametrize("seed", range(3))
def test_kernel_matches_reference(seed, fill_mode, interpolation, dtype):
    rng = np.random.default_rng(seed)
    n, h, w, c = 2, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 4))
    x = rng.normal(size=(n, h, w, c)).astype(dtype)
    t = _transforms(rng, n)
    check = unchanged(x, t)
    got = F.affine_transform(x.transpose(0, 3, 1, 2), t, interpolation, fill_mode,
                             0.25).transpose(0, 2, 3, 1)
    want = ref.affine_transform(x, t, interpolation, fill_mode, 0.25)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    check()


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("interpolation", list(F.INTERPOLATIONS))
@pytest.mark.parametrize("fill_mode", MODES)
def test_kernel_matches_keras(fill_mode, interpolation, dtype, tol):
    """Equal to keras.ops.image.affine_transform: to rounding in float64; in
    float32 within the error of sampling coordinates that Keras (3.15 on)
    computes in float32 (ccnn computes them in float64)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 9, 11, 2)).astype(dtype)
    t = np.zeros((4, 8), dtype)
    t[:, :6] = _transforms(rng, 4)
    want = np.asarray(keras.ops.image.affine_transform(
        x, t, interpolation=interpolation, fill_mode=fill_mode, fill_value=0.5,
        data_format="channels_last"))
    got = F.affine_transform(x.transpose(0, 3, 1, 2), t, interpolation, fill_mode,
                             0.5).transpose(0, 2, 3, 1)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(-20, 20), st.integers(-20, 20),
       st.sampled_from(["wrap", "constant"]), st.integers(0, 2 ** 32 - 1))
def test_integer_shifts_move_pixels(h, w, dy, dx, mode, seed):
    """A whole-pixel translation is an exact shift: np.roll with wrap, zeros
    flowing in with constant (fill 0)."""
    x = np.random.default_rng(seed).normal(size=(1, 1, h, w))
    t = np.array([1.0, 0, -dx, 0, 1.0, -dy])
    for interpolation in F.INTERPOLATIONS:
        y = F.affine_transform(x, t, interpolation, mode, 0.0)[0, 0]
        if mode == "wrap":
            np.testing.assert_array_equal(y, np.roll(x[0, 0], (dy, dx), axis=(0, 1)))
        else:
            want = np.zeros((h, w))
            ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
            src = (slice(max(-dy, 0), h - max(dy, 0)), slice(max(-dx, 0), w - max(dx, 0)))
            if ys.start < ys.stop and xs.start < xs.stop:
                want[ys, xs] = x[0, 0][src]
            np.testing.assert_array_equal(y, want)


def test_affine_transform_bad_arguments():
    x = np.ones((2, 1, 4, 4))
    with pytest.raises(ValueError, match="transforms"):
        F.affine_transform(x, np.ones((3, 6)))
    with pytest.raises(ValueError, match="transforms"):
        F.affine_transform(x, [1, 0, 0, 0, 1, 0, 0.5, 0])         # projective
    with pytest.raises(ValueError, match="transforms"):
        F.affine_transform(x, [1, 0, np.nan, 0, 1, 0])
    with pytest.raises(ValueError, match="interpolation"):
        F.affine_transform(x, [1, 0, 0, 0, 1, 0], interpolation="cubic")
    with pytest.raises(ValueError, match="fill_mode"):
        F.affine_transform(x, [1, 0, 0, 0, 1, 0], fill_mode="zeros")
    with pytest.raises(TypeError, match="fill_value"):
        F.affine_transform(x, [1, 0, 0, 0, 1, 0], fill_value="0")
    with pytest.raises(ValueError, match="x"):
        F.affine_transform(np.ones((4, 4)), [1, 0, 0, 0, 1, 0])


# ------------------------------------------------------ RandomTranslation

def test_random_translation_is_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 2)).astype("float32")
    layer = layers.RandomTranslation(0.3, 0.3)
    np.testing.assert_array_equal(layer(x, training=False), x)
    model = ccnn.Sequential([ccnn.Input((8, 8, 2)), layers.RandomTranslation(0.5, 0.5)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_random_translation_shifts_like_keras_translation_matrices():
    """In training each image is shifted by (dy, dx) drawn in Keras's ranges:
    the output equals keras.ops.image.affine_transform with Keras's translation
    matrix [1, 0, -dx, 0, 1, -dy] for those shifts."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")
    x = np.random.default_rng(1).normal(size=(6, 10, 12, 1)).astype("float32")
    layer = layers.RandomTranslation((-0.2, 0.1), 0.25, seed=5)
    got = layer(x, training=True)
    draws = np.random.default_rng(5)                    # the layer's generator, replayed
    dy = draws.uniform(-0.2, 0.1, size=6) * 10
    dx = draws.uniform(-0.25, 0.25, size=6) * 12
    assert np.all((-2 <= dy) & (dy <= 1)) and np.all(np.abs(dx) <= 3)
    m = np.zeros((6, 8), "float32")
    m[:, 0] = m[:, 4] = 1
    m[:, 2], m[:, 5] = -dx, -dy
    want = np.asarray(keras.ops.image.affine_transform(x, m, interpolation="bilinear",
                                                       fill_mode="reflect",
                                                       data_format="channels_last"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_random_translation_is_reproducible_from_the_global_seed():
    x = np.random.default_rng(2).normal(size=(4, 6, 6, 1)).astype("float32")
    outs = []
    for _ in range(2):
        ccnn.utils.set_random_seed(123)
        outs.append(layers.RandomTranslation(0.2, 0.2)(x, training=True))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], x)


def test_random_translation_channels_first():
    x = np.random.default_rng(3).normal(size=(2, 3, 7, 7)).astype("float32")
    a = layers.RandomTranslation(0.3, 0.3, seed=1, data_format="channels_first")
    b = layers.RandomTranslation(0.3, 0.3, seed=1)
    np.testing.assert_array_equal(a(x, training=True),
                                  b(x.transpose(0, 2, 3, 1), training=True).transpose(0, 3, 1, 2))


def test_random_translation_config_and_defaults():
    layer = layers.RandomTranslation(0.1, (-0.2, 0.3), seed=4, name="shift")
    cfg = layer.get_config()
    assert (cfg["fill_mode"], cfg["interpolation"], cfg["fill_value"]) == ("reflect", "bilinear",
                                                                          0.0)
    again = layers.get("RandomTranslation").from_config(cfg)
    assert again.get_config() == cfg
    assert layer.count_params() == 0


def test_random_translation_first_layer_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, 64)
    model = ccnn.Sequential([ccnn.Input((8, 8, 1)), layers.RandomTranslation(0.1, 0.1),
                             layers.Conv2D(4, 3), layers.Flatten(),
                             layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    middle = ccnn.Sequential([ccnn.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same"),
                              layers.RandomTranslation(0.1, 0.1), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    middle.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="first layer"):
        middle.fit(x, y, epochs=1, batch_size=16, verbose=0)


@pytest.mark.parametrize("kwargs,name", [
    ({"height_factor": 1.5, "width_factor": 0.1}, "height_factor"),
    ({"height_factor": 0.1, "width_factor": (0.3, 0.1)}, "width_factor"),
    ({"height_factor": "a", "width_factor": 0.1}, "height_factor"),
    ({"height_factor": 0.1, "width_factor": 0.1, "fill_mode": "zeros"}, "fill_mode"),
    ({"height_factor": 0.1, "width_factor": 0.1, "interpolation": "cubic"}, "interpolation"),
    ({"height_factor": 0.1, "width_factor": 0.1, "fill_value": "x"}, "fill_value"),
    ({"height_factor": 0.1, "width_factor": 0.1, "seed": -1}, "seed"),
    ({"height_factor": 0.1, "width_factor": 0.1, "data_format": "nhwc"}, "data_format")])
def test_random_translation_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        layers.RandomTranslation(**kwargs)
