"""RandomFlip, RandomRotation, RandomZoom, RandomCrop, RandomContrast,
Rescaling, Normalization: the layers against NumPy references
(tests/ref_augment.py, tests/ref_regularization.py) for replayed draws, and
against Keras 3's own transform_images / keras.ops.image.affine_transform for
the same transforms; inference behaviour, gradients, configs, bad arguments."""
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
import ref_regularization as rref
from _testutils import DTYPES, central_differences, unchanged


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


def _x(shape=(4, 7, 9, 3), dtype=np.float32, seed=0, lo=0.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-11


RANDOM = [lambda **k: layers.RandomFlip(**k), lambda **k: layers.RandomRotation(0.2, **k),
          lambda **k: layers.RandomZoom(0.3, **k), lambda **k: layers.RandomCrop(5, 6, **k),
          lambda **k: layers.RandomContrast(0.4, **k)]


# ---------------------------------------------------------------- RandomFlip

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,bits", [("horizontal", 1), ("vertical", 2),
                                       ("horizontal_and_vertical", 3)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_flip_matches_reference(dtype, mode, bits, data_format):
    x = _x((8, 5, 6, 2), dtype)
    layer = layers.RandomFlip(mode, seed=4, data_format=data_format, dtype=dtype)
    xin = x if data_format == "channels_last" else _nchw(x)
    check = unchanged(xin)
    y = layer(xin, training=True)
    check()
    flags = (np.random.default_rng(4).uniform(size=8) <= 0.5) * bits
    want = ref.flip(x, flags)
    got = y if data_format == "channels_last" else y.transpose(0, 2, 3, 1)
    assert y.dtype == dtype
    np.testing.assert_array_equal(got, want)
    # the input gradient is the same flip
    g = _x((8, 5, 6, 2), dtype, seed=2)
    gin = g if data_format == "channels_last" else _nchw(g)
    dx = layer.backward(gin)
    dx = dx if data_format == "channels_last" else dx.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(dx, ref.flip(g, flags))


def test_random_flip_gradient_central_differences():
    x = _x((3, 3, 4, 2), np.float64)
    w = _x((3, 3, 4, 2), np.float64, seed=1)
    layer = layers.RandomFlip(seed=0, dtype="float64")

    def loss(v):
        layer.rng = np.random.default_rng(0)
        return float(np.sum(layer(v, training=True) * w))
    num = central_differences(loss, x)
    loss(x)
    np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


def test_random_flip_matches_keras_transform():
    keras = _keras()
    x = _x((6, 5, 7, 2))
    flips = np.array([True, False, True, True, False, False]).reshape(6, 1, 1, 1)
    for mode, bits in (("horizontal", 1), ("vertical", 2), ("horizontal_and_vertical", 3)):
        k = keras.layers.RandomFlip(mode)
        want = np.asarray(k.transform_images(x, {"flips": flips, "input_shape": x.shape}))
        np.testing.assert_array_equal(ref.flip(x, flips.ravel() * bits), want)
        layer = layers.RandomFlip(mode, seed=0)
        got = layer(x, training=True)
        drawn = np.random.default_rng(0).uniform(size=6) <= 0.5
        kw = np.asarray(k.transform_images(x, {"flips": drawn.reshape(6, 1, 1, 1),
                                               "input_shape": x.shape}))
        np.testing.assert_array_equal(got, kw)


# ---------------------------------------------------- RandomRotation / Zoom

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_rotation_matches_reference(dtype, fill_mode, interpolation):
    x = _x((3, 6, 8, 2), dtype)
    layer = layers.RandomRotation((-0.3, 0.2), fill_mode=fill_mode, interpolation=interpolation,
                                  seed=2, fill_value=0.5, dtype=dtype)
    y = layer(x, training=True)
    angles = np.random.default_rng(2).uniform(-0.3 * 360, 0.2 * 360, size=3)
    t = np.array([ref.rotation_matrix(a, 6, 8) for a in angles])
    want = ref.affine_transform(x, t, interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(y, want, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width_factor", [None, (-0.2, 0.4)])
@pytest.mark.parametrize("fill_mode", ["reflect", "constant"])
def test_random_zoom_matches_reference(dtype, width_factor, fill_mode):
    x = _x((3, 7, 6, 2), dtype)
    layer = layers.RandomZoom(0.3, width_factor, fill_mode=fill_mode, seed=8, dtype=dtype)
    y = layer(x, training=True)
    draws = np.random.default_rng(8)
    zh = draws.uniform(0.7, 1.3, size=3)
    zw = zh if width_factor is None else draws.uniform(0.8, 1.4, size=3)
    t = np.array([ref.zoom_matrix(a, b, 7, 6) for a, b in zip(zh, zw)])
    np.testing.assert_allclose(y, ref.affine_transform(x, t, "bilinear", fill_mode, 0.0),
                               rtol=_tol(dtype), atol=_tol(dtype))


def test_channels_first_rotation_and_zoom():
    x = _x((2, 6, 6, 3))
    for make in (lambda: layers.RandomRotation(0.2, seed=1),
                 lambda: layers.RandomZoom(0.2, seed=1)):
        a = make()(x, training=True)
        layer = make()
        layer.data_format = "channels_first"
        np.testing.assert_allclose(layer(_nchw(x), training=True).transpose(0, 2, 3, 1), a,
                                   rtol=1e-6, atol=1e-6)


def test_rotation_and_zoom_match_keras_with_the_same_transforms():
    """Keras's own layers, given the drawn angle / zooms, produce our outputs."""
    keras = _keras()
    x = _x((4, 9, 11, 2))
    ours = layers.RandomRotation(0.25, fill_mode="nearest", seed=3)
    got = ours(x, training=True)
    angles = np.random.default_rng(3).uniform(-90, 90, size=4).astype("float32")
    k = keras.layers.RandomRotation(0.25, fill_mode="nearest")
    import torch
    tr = k.get_random_transformation(x, training=True)
    mat = k._compute_affine_matrix(0.5, 0.5, torch.tensor(angles), torch.zeros(4),
                                   torch.zeros(4), torch.ones(4), torch.zeros(4),
                                   torch.zeros(4), 9, 11)
    tr["rotation_matrix"] = mat
    want = np.asarray(k.transform_images(x, tr, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    t = np.array([ref.rotation_matrix(a, 9, 11) for a in angles], "float32")
    np.testing.assert_allclose(
        np.asarray(keras.ops.image.affine_transform(x, t, fill_mode="nearest")), want,
        rtol=1e-4, atol=1e-4)

    zl = layers.RandomZoom((-0.3, 0.2), (0.1, 0.5), fill_mode="constant", seed=6)
    got = zl(x, training=True)
    draws = np.random.default_rng(6)
    zh = draws.uniform(0.7, 1.2, size=(4, 1)).astype("float32")
    zw = draws.uniform(1.1, 1.5, size=(4, 1)).astype("float32")
    kz = keras.layers.RandomZoom((-0.3, 0.2), (0.1, 0.5), fill_mode="constant")
    want = np.asarray(kz.transform_images(x, {"height_zoom": torch.tensor(zh),
                                              "width_zoom": torch.tensor(zw)}, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- RandomCrop

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_crop_window_and_gradient(dtype, data_format):
    x = _x((3, 10, 12, 2), dtype)
    layer = layers.RandomCrop(6, 7, seed=5, data_format=data_format, dtype=dtype)
    xin = x if data_format == "channels_last" else _nchw(x)
    y = layer(xin, training=True)
    draws = np.random.default_rng(5)
    top, left = int(draws.uniform(0, 5)), int(draws.uniform(0, 6))
    want = x[:, top:top + 6, left:left + 7]
    got = y if data_format == "channels_last" else y.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(got, want)
    assert layer.compute_output_shape(layer.input_shape) == (
        (None, 6, 7, 2) if data_format == "channels_last" else (None, 2, 6, 7))
    g = _x(want.shape, dtype, seed=1)
    gin = g if data_format == "channels_last" else _nchw(g)
    dx = layer.backward(gin)
    dx = dx if data_format == "channels_last" else dx.transpose(0, 2, 3, 1)
    expect = np.zeros_like(x)
    expect[:, top:top + 6, left:left + 7] = g
    np.testing.assert_array_equal(dx, expect)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,target", [((2, 10, 12, 1), (12, 12)), ((2, 20, 10, 2), (8, 12)),
                                          ((2, 10, 20, 1), (10, 10)), ((2, 5, 5, 1), (5, 5))])
def test_random_crop_small_images_center_crop_and_resize(dtype, shape, target):
    x = _x(shape, dtype)
    y = layers.RandomCrop(*target, seed=0, dtype=dtype)(x, training=True)
    top, left = ref.center_crop_start(shape[1], shape[2], *target)
    crop = x[:, top:top + target[0], left:left + target[1]]
    want = crop if crop.shape[1:3] == target else ref.resize_bilinear(crop, *target)
    assert y.shape == (shape[0],) + target + (shape[3],)
    np.testing.assert_allclose(y, want, rtol=_tol(dtype), atol=_tol(dtype))


def test_random_crop_matches_keras():
    keras = _keras()
    x = _x((2, 10, 12, 3))
    for target in ((12, 12), (8, 14), (10, 10), (4, 5)):
        k = keras.layers.RandomCrop(*target)
        ours = layers.RandomCrop(*target, seed=1)
        # inference: Keras 3 passes the images through unchanged
        np.testing.assert_array_equal(ours(x, training=False), np.asarray(k(x, training=False)))
        got = ours(x, training=True)
        if x.shape[1] > target[0] and x.shape[2] > target[1]:
            draws = np.random.default_rng(1)
            start = (int(draws.uniform(0, 10 - target[0] + 1)),
                     int(draws.uniform(0, 12 - target[1] + 1)))
        else:
            start = k.get_random_transformation(x, training=True)
        want = np.asarray(k.transform_images(x, start, training=True))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert ours.get_config()["height"] == target[0]


# ------------------------------------------------------------ RandomContrast

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor,value_range", [(0.5, (0, 255)), ((0.3, 0.6), (0.2, 0.8))])
def test_random_contrast_matches_reference(dtype, factor, value_range):
    x = _x((5, 6, 7, 3), dtype)
    layer = layers.RandomContrast(factor, value_range=value_range, seed=3, dtype=dtype)
    y = layer(x, training=True)
    lo, hi = (0.0, factor) if not isinstance(factor, tuple) else factor
    f = np.random.default_rng(3).uniform(1 - lo, 1 + hi, size=5)
    np.testing.assert_allclose(y, ref.adjust_contrast(x, f, *value_range), rtol=_tol(dtype),
                               atol=_tol(dtype))
    layer = layers.RandomContrast(factor, value_range=value_range, seed=3, dtype=dtype,
                                  data_format="channels_first")
    np.testing.assert_allclose(layer(_nchw(x), training=True).transpose(0, 2, 3, 1), y,
                               rtol=_tol(dtype), atol=_tol(dtype))


def test_random_contrast_matches_keras():
    keras = _keras()
    import torch
    x = _x((3, 6, 5, 2), lo=0, hi=255)
    k = keras.layers.RandomContrast((0.2, 0.5), value_range=(10, 200))
    assert tuple(k.factor) == layers.RandomContrast((0.2, 0.5)).factor
    assert tuple(keras.layers.RandomContrast(0.4).factor) == layers.RandomContrast(0.4).factor
    ours = layers.RandomContrast((0.2, 0.5), value_range=(10, 200), seed=2)
    got = ours(x, training=True)
    f = np.random.default_rng(2).uniform(0.8, 1.5, size=3).astype("float32").reshape(3, 1, 1, 1)
    want = np.asarray(k.transform_images(keras.ops.convert_to_tensor(x),
                                         {"contrast_factor": torch.tensor(f)}, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


# ----------------------------------------------- Rescaling / Normalization

@pytest.mark.parametrize("dtype", DTYPES)
def test_rescaling_forward_backward_and_keras(dtype):
    x = _x((3, 4, 5, 2), dtype, lo=0, hi=255)
    for scale, offset in ((1 / 255.0, 0.0), (1 / 127.5, -1.0), ([0.5, 2.0], [1.0, -1.0])):
        layer = layers.Rescaling(scale, offset, dtype=dtype)
        want = x.astype(np.float64) * np.asarray(scale) + np.asarray(offset)
        for training in (False, True):
            np.testing.assert_allclose(layer(x, training=training), want, rtol=_tol(dtype),
                                       atol=_tol(dtype))
        g = _x((3, 4, 5, 2), dtype, seed=1)
        np.testing.assert_allclose(layer.backward(g), g * np.asarray(scale), rtol=_tol(dtype))
        clone = layers.Rescaling.from_config(layer.get_config())
        np.testing.assert_allclose(clone(x), want, rtol=_tol(dtype), atol=_tol(dtype))
    keras = _keras()
    k = keras.layers.Rescaling(1 / 127.5, offset=-1)
    np.testing.assert_allclose(layers.Rescaling(1 / 127.5, offset=-1)(x.astype("float32")),
                               np.asarray(k(x.astype("float32"))), rtol=1e-6, atol=1e-6)
    assert layers.Rescaling(0.5).get_config()["offset"] == keras.layers.Rescaling(0.5).get_config()["offset"] == 0.0


def test_rescaling_gradient_central_differences():
    x = _x((2, 3, 3, 2), np.float64)
    w = _x((2, 3, 3, 2), np.float64, seed=3)
    layer = layers.Rescaling([0.5, -2.0], 0.3, dtype="float64")
    num = central_differences(lambda v: float(np.sum(layer(v) * w)), x)
    np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, (1, 2), None, 1])
def test_normalization_adapt_matches_reference(dtype, axis):
    data = _x((20, 4, 5, 3), dtype, lo=-2, hi=5)
    layer = layers.Normalization(axis=axis, dtype=dtype)
    layer.adapt(data)
    ax = () if axis is None else ((axis,) if isinstance(axis, int) else axis)
    keep = sorted(a % 4 for a in ax)
    red = tuple(d for d in range(4) if d not in keep)
    mean = data.astype(np.float64).mean(axis=red, keepdims=True)
    var = data.astype(np.float64).var(axis=red, keepdims=True)
    x = _x((6, 4, 5, 3), dtype, seed=7, lo=-2, hi=5)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(layer(x), rref.normalize(x, mean, var), rtol=tol, atol=tol)
    g = _x((6, 4, 5, 3), dtype, seed=8)
    np.testing.assert_allclose(layer.backward(g), g / np.sqrt(var), rtol=tol, atol=tol)
    kept_shape = tuple(data.shape[d] for d in keep)
    w = layer.get_weights()
    assert [a.shape for a in w] == [kept_shape, kept_shape, ()]
    assert layer.count_params() == 2 * int(np.prod(kept_shape)) + 1
    inv = layers.Normalization(axis=axis, invert=True, dtype=dtype)
    inv.adapt(data)
    np.testing.assert_allclose(inv(layer(x)), x, rtol=tol, atol=tol)


def test_normalization_adapt_batches_and_given_stats():
    data = _x((30, 4), np.float64, lo=-3, hi=3)
    one, many = layers.Normalization(dtype="float64"), layers.Normalization(dtype="float64")
    one.adapt(data)
    many.adapt([data[:7], data[7:19], data[19:]])
    np.testing.assert_allclose(many.get_weights()[0], one.get_weights()[0], rtol=1e-12)
    np.testing.assert_allclose(many.get_weights()[1], one.get_weights()[1], rtol=1e-12)
    given = layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[4.0, 1.0, 0.25, 0.0])
    x = _x((5, 4), np.float32)
    want = rref.normalize(x, np.array([1, 2, 3, 4.0]), np.array([4, 1, 0.25, 0.0]))
    np.testing.assert_allclose(given(x), want, rtol=1e-5, atol=1e-5)
    assert given.count_params() == 0 and given.get_weights() == []
    clone = layers.Normalization.from_config(given.get_config())
    np.testing.assert_allclose(clone(x), want, rtol=1e-5, atol=1e-5)
    scalar = layers.Normalization(axis=None, mean=2.0, variance=9.0)
    np.testing.assert_allclose(scalar(x), (x - 2.0) / 3.0, rtol=1e-6, atol=1e-6)


def test_normalization_matches_keras():
    keras = _keras()
    data = _x((16, 5, 6, 3), lo=0, hi=255)
    x = _x((4, 5, 6, 3), seed=2, lo=0, hi=255)
    for kwargs in ({}, {"axis": (1, 3)}, {"axis": None}, {"invert": True}):
        k, ours = keras.layers.Normalization(**kwargs), layers.Normalization(**kwargs)
        k.adapt(data)
        ours.adapt(data)
        for a, b in zip(ours.get_weights(), k.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(ours(x), np.asarray(k(x)), rtol=1e-4, atol=1e-4)
        assert ours.count_params() == k.count_params()
        kc, oc = k.get_config(), ours.get_config()
        for key in ("axis", "invert", "mean", "variance"):
            assert tuple(np.atleast_1d(oc[key] if oc[key] is not None else [])) == tuple(
                np.atleast_1d(kc[key] if kc[key] is not None else [])), key
    k = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])
    ours = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])
    np.testing.assert_allclose(ours(x), np.asarray(k(x)), rtol=1e-5, atol=1e-5)


def test_normalization_gradient_central_differences():
    x = _x((3, 4), np.float64)
    w = _x((3, 4), np.float64, seed=1)
    layer = layers.Normalization(mean=[0.5, 1, 2, 3], variance=[2, 3, 0.5, 1.0], dtype="float64")
    num = central_differences(lambda v: float(np.sum(layer(v) * w)), x)
    np.testing.assert_allclose(layer.backward(w), num, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------- shared behaviour

@pytest.mark.parametrize("make", RANDOM)
def test_identity_at_inference_reproducible_and_config(make):
    x = _x((3, 8, 9, 2))
    layer = make()
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    a, b = make(seed=5), make(seed=5)
    np.testing.assert_array_equal(a(x, training=True), b(x, training=True))
    ccnn.utils.set_random_seed(9)
    u = make()(x, training=True)
    ccnn.utils.set_random_seed(9)
    np.testing.assert_array_equal(make()(x, training=True), u)
    cfg = make(seed=3, name="p").get_config()
    clone = type(layer).from_config(cfg)
    assert clone.get_config() == cfg
    assert layer.count_params() == 0


def test_inference_matches_keras_for_every_layer():
    keras = _keras()
    x = _x((2, 8, 9, 3), lo=0, hi=255)
    pairs = [(layers.RandomFlip(), keras.layers.RandomFlip()),
             (layers.RandomRotation(0.2), keras.layers.RandomRotation(0.2)),
             (layers.RandomZoom(0.2), keras.layers.RandomZoom(0.2)),
             (layers.RandomCrop(4, 5), keras.layers.RandomCrop(4, 5)),
             (layers.RandomContrast(0.3), keras.layers.RandomContrast(0.3)),
             (layers.Rescaling(0.5, 2.0), keras.layers.Rescaling(0.5, 2.0))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x, training=False), np.asarray(theirs(x, training=False)),
                                   rtol=1e-6, err_msg=type(ours).__name__)
        kc, oc = theirs.get_config(), ours.get_config()
        for key in kc:
            if key not in ("name", "dtype", "trainable", "seed"):
                assert oc[key] == (tuple(kc[key]) if isinstance(kc[key], list) else kc[key]), (
                    type(ours).__name__, key)


def test_no_input_gradient_for_resampling_layers():
    x = _x((2, 6, 6, 1))
    for layer in (layers.RandomRotation(0.2), layers.RandomZoom(0.2),
                  layers.RandomContrast(0.3), layers.RandomCrop(8, 8)):
        y = layer(x, training=True)
        with pytest.raises(ValueError, match="first layer"):
            layer.backward(np.ones_like(y))
        layer.need_input_grad = False
        assert layer.backward(np.ones_like(y)) is None


def test_bad_arguments():
    cases = [(lambda: layers.RandomFlip("diagonal"), "mode"),
             (lambda: layers.RandomFlip(seed=-2), "seed"),
             (lambda: layers.RandomFlip(data_format="nhwc"), "data_format"),
             (lambda: layers.RandomRotation(1.5), "factor"),
             (lambda: layers.RandomRotation("a"), "factor"),
             (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
             (lambda: layers.RandomRotation(0.1, interpolation="cubic"), "interpolation"),
             (lambda: layers.RandomRotation(0.1, fill_value="0"), "fill_value"),
             (lambda: layers.RandomZoom(-1.0), "height_factor"),
             (lambda: layers.RandomZoom(0.2, (0.1, 0.2, 0.3)), "width_factor"),
             (lambda: layers.RandomCrop(0, 4), "height"),
             (lambda: layers.RandomCrop(4, 2.5), "width"),
             (lambda: layers.RandomContrast(1.5), "factor"),
             (lambda: layers.RandomContrast(0.2, value_range=(1, 0)), "value_range"),
             (lambda: layers.Rescaling("x"), "scale"),
             (lambda: layers.Rescaling(1.0, offset=[np.nan]), "offset"),
             (lambda: layers.Normalization(mean=1.0), "variance"),
             (lambda: layers.Normalization(mean=[1.0, 2.0], variance=[1.0]), "variance"),
             (lambda: layers.Normalization(axis="x"), "axis")]
    for make, name in cases:
        with pytest.raises((ValueError, TypeError), match=name):
            make()
    with pytest.raises(ValueError, match="axis"):
        layers.Normalization(axis=5).build((None, 3, 4))


def test_sequential_with_preprocessing_trains():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(64, 8, 8, 2)).astype("float32")
    y = (x[:, :, :, 0].mean(axis=(1, 2)) > 127.5).astype("int64")
    norm = layers.Normalization()
    norm.adapt(x)
    ccnn.utils.set_random_seed(0)
    model = ccnn.Sequential([ccnn.Input((8, 8, 2)), layers.RandomFlip(), layers.RandomRotation(0.05),
                             layers.RandomZoom(0.1), layers.RandomContrast(0.1),
                             layers.RandomCrop(6, 6), layers.Rescaling(1 / 255.0),
                             layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < losses[0]
    # a normalization head trains too, with its input gradient flowing
    model2 = ccnn.Sequential([ccnn.Input((8, 8, 2)), layers.Dense(3), norm_head(),
                              layers.Flatten(), layers.Dense(2, activation="softmax")])
    model2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h2 = model2.fit(x / 255.0, y, epochs=8, batch_size=16, verbose=0)
    assert h2.history["loss"][-1] < h2.history["loss"][0]


def norm_head():
    return layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 0.5])


def test_model_config_and_weights_round_trip(tmp_path):
    x = _x((10, 5, 5, 3), lo=0, hi=9)
    norm = layers.Normalization()
    norm.adapt(x)
    model = ccnn.Sequential([ccnn.Input((5, 5, 3)), layers.Rescaling(0.5, 1.0), norm,
                             layers.RandomFlip("horizontal", seed=2), layers.RandomZoom(0.1),
                             layers.RandomRotation(0.1), layers.RandomContrast(0.2),
                             layers.SpatialDropout2D(0.1), layers.GaussianNoise(0.1),
                             layers.GaussianDropout(0.1), layers.Flatten(), layers.Dense(2)])
    model.build((None, 5, 5, 3))
    clone = ccnn.Sequential.from_config(model.get_config())
    clone.build((None, 5, 5, 3))
    assert clone.get_config() == model.get_config()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(clone.layers[1].get_weights()[0], x.mean(axis=(0, 1, 2)),
                               rtol=1e-5)


# ----------------------------------------------- the new kernels themselves

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3),
       st.integers(0, 2 ** 32 - 1))
def test_flip_twice_is_identity_and_contrast_one_clips_only(n, h, w, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, h, w, c))
    flags = rng.integers(0, 4, n).astype(np.uint8)
    once = F.image_flip_unchecked(x, flags)
    np.testing.assert_array_equal(once, ref.flip(x, flags))
    np.testing.assert_array_equal(F.image_flip_unchecked(once, flags), x)
    np.testing.assert_allclose(F.adjust_contrast_unchecked(x, np.ones(n), -0.5, 0.5),
                               np.clip(x, -0.5, 0.5), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_broadcast_affine_is_numpy_broadcasting(outer, mid, inner, has_scale, has_shift, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(outer, mid, inner))
    strides = [int(rng.integers(0, 2)) for _ in range(3)]
    shape = [d if s else 1 for d, s in zip((outer, mid, inner), strides)]
    s, b = rng.normal(size=shape), rng.normal(size=shape)
    # the flat index j = o*so + m*sm + i*si of a C-ordered array over the strided axes
    so = (shape[1] * shape[2]) if strides[0] else 0
    sm = shape[2] if strides[1] else 0
    si = 1 if strides[2] else 0
    got = F.broadcast_affine_unchecked(x, s.ravel() if has_scale else None,
                                       b.ravel() if has_shift else None, (so, sm, si))
    want = x * (s if has_scale else 1.0) + (b if has_shift else 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


def test_new_kernels_release_the_gil():
    from _gilcheck import increments_during
    from ccnn import _augment
    old = ccnn.get_num_threads()
    ccnn.set_num_threads(1)
    try:
        x = np.random.default_rng(0).normal(size=(64, 128, 128, 3))
        flags = np.full(64, 3, np.uint8)
        calls = {"image_flip": lambda: _augment.image_flip(x, flags, 1),
                 "adjust_contrast": lambda: _augment.adjust_contrast(
                     x.reshape(64, -1, 3), np.ones(64), -1.0, 1.0, 1),
                 "broadcast_affine": lambda: _augment.broadcast_affine(
                     x.reshape(1, -1, 1), np.ones(1), np.empty(0), 0, 0, 0, 1)}
        for name, call in calls.items():
            call()
            assert any(increments_during(call, 3) > 0 for _ in range(10)), f"{name} held the GIL"
    finally:
        ccnn.set_num_threads(old)
