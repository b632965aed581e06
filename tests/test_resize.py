"""Resizing (csrc/kernels/resize.c): the kernel against the NumPy reference
(tests/ref_resize.py) over seeded shapes, both dtypes, forward and backward;
float64 central differences; thread-count independence; F.interpolate
against torch.nn.functional.interpolate; Resizing and
UpSampling2D(interpolation='bilinear') against Keras 3; a model holding
Resizing saved / loaded (.keras), trained, exported to ONNX; bad arguments."""
import os

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
import ccnn.layers as L
from ccnn import _reshaping

import ref_resize as ref

DTYPES = (np.float32, np.float64)
MODES = (ref.NEAREST, ref.NEAREST_EXACT, ref.BILINEAR, ref.BILINEAR_ALIGN)
# (h, w, ho, wo): up, down, non-integer ratios, 1 x 1 in and out, identity
SHAPES = [(4, 5, 8, 10), (9, 7, 3, 2), (5, 7, 7, 12), (6, 6, 4, 9), (1, 1, 3, 4),
          (7, 5, 1, 1), (1, 6, 5, 1), (5, 5, 5, 5), (3, 8, 11, 3), (13, 2, 6, 7)]


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: no PyTorch cross-check")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(len(SHAPES)))
def test_kernel_matches_reference(seed, mode, dtype):
    h, w, ho, wo = SHAPES[seed]
    rng = np.random.default_rng(seed)
    outer, inner = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rng.standard_normal((outer, h, w, inner)).astype(dtype)
    x0 = x.copy()
    scales = (0.0, 0.0) if seed % 2 else (h / ho * 0.9, w / wo * 1.1)   # given scales too
    y = _reshaping.resize2d_forward(x, ho, wo, mode, *scales, 2)
    assert y.dtype == dtype and y.shape == (outer, ho, wo, inner)
    want = ref.resize(x.transpose(0, 3, 1, 2), ho, wo, mode, scales).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y, want, **_tol(dtype))
    g = rng.standard_normal(y.shape).astype(dtype)
    g0 = g.copy()
    dx = _reshaping.resize2d_backward(g, h, w, mode, *scales, 2)
    assert dx.dtype == dtype and dx.shape == x.shape
    want = ref.resize_backward(g.transpose(0, 3, 1, 2), h, w, mode, scales).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(dx, want, **_tol(dtype))
    np.testing.assert_array_equal(x, x0)            # inputs untouched
    np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None),
                                        ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("kw", [dict(size=(7, 3)), dict(scale_factor=1.7),
                                dict(scale_factor=(0.6, 2.5)), dict(size=1)])
def test_central_differences_float64(mode, align, kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 4, 5))
    y = F.interpolate(x, mode=mode, align_corners=align, **kw)
    g = rng.standard_normal(y.shape)
    dx = F.interpolate_backward(g, x, mode=mode, align_corners=align, **kw)
    num = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = ((F.interpolate(xp, mode=mode, align_corners=align, **kw) * g).sum()
                  - (F.interpolate(xm, mode=mode, align_corners=align, **kw) * g).sum()) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_thread_count_independent(mode, dtype):
    rng = np.random.default_rng(5)
    for outer, inner in ((7, 1), (2, 5)):        # NCHW planes, NHWC images
        x = rng.standard_normal((outer, 33, 29, inner)).astype(dtype)
        g = rng.standard_normal((outer, 50, 17, inner)).astype(dtype)
        runs = [(_reshaping.resize2d_forward(x, 50, 17, mode, 0.0, 0.0, t),
                 _reshaping.resize2d_backward(g, 33, 29, mode, 0.0, 0.0, t)) for t in (1, 2, 3)]
        for y, dx in runs[1:]:
            np.testing.assert_array_equal(y, runs[0][0])
            np.testing.assert_array_equal(dx, runs[0][1])


TORCH_CASES = [dict(size=(9, 4)), dict(size=(3, 3)), dict(size=5), dict(scale_factor=2),
               dict(scale_factor=2.3), dict(scale_factor=(0.5, 1.7)), dict(scale_factor=0.31),
               dict(scale_factor=2.3, recompute_scale_factor=True), dict(size=(1, 1)),
               dict(scale_factor=(3, 41))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None),
                                        ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("kw", TORCH_CASES)
def test_interpolate_matches_torch(kw, mode, align, dtype):
    torch = _torch()
    rng = np.random.default_rng(len(str(kw)))
    for shape in ((2, 3, 5, 7), (1, 2, 1, 1), (2, 1, 8, 3)):
        x = rng.standard_normal(shape).astype(dtype)
        x0 = x.copy()
        xt = torch.tensor(x, requires_grad=True)
        try:
            yt = torch.nn.functional.interpolate(xt, mode=mode, align_corners=align, **kw)
        except RuntimeError:              # an empty output: both refuse
            with pytest.raises(ValueError, match="scale_factor"):
                F.interpolate(x, mode=mode, align_corners=align, **kw)
            continue
        y = F.interpolate(x, mode=mode, align_corners=align, **kw)
        assert y.dtype == dtype and y.shape == tuple(yt.shape)
        if mode.startswith("nearest"):
            np.testing.assert_array_equal(y, yt.detach().numpy())
        else:
            np.testing.assert_allclose(y, yt.detach().numpy(), **_tol(dtype))
        g = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.tensor(g))
        dx = F.interpolate_backward(g, x, mode=mode, align_corners=align, **kw)
        if mode == "nearest" and dtype == np.float64 and kw == dict(scale_factor=(3, 41)):
            # PyTorch's float64 nearest backward takes float32 coordinates (its
            # forward float64 ones): there it is not its forward's transpose; ours is
            want = ref.resize_backward(g, *x.shape[2:], ref.NEAREST, (1 / 3, 1 / 41))
            np.testing.assert_allclose(dx, want, **_tol(dtype))
        else:
            np.testing.assert_allclose(dx, xt.grad.numpy(), **_tol(dtype))
        np.testing.assert_array_equal(x, x0)


def test_interpolate_nearest_3d_matches_torch():
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 3, 7))
    for kw in (dict(size=11), dict(scale_factor=0.6), dict(scale_factor=3)):
        want = torch.nn.functional.interpolate(torch.tensor(x), mode="nearest", **kw).numpy()
        np.testing.assert_array_equal(F.interpolate(x, **kw), want)


RESIZING = [dict(), dict(interpolation="nearest"), dict(crop_to_aspect_ratio=True),
            dict(crop_to_aspect_ratio=True, interpolation="nearest"),
            dict(pad_to_aspect_ratio=True, fill_value=0.25),
            dict(pad_to_aspect_ratio=True, interpolation="nearest")]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kw", RESIZING)
@pytest.mark.parametrize("target", [(8, 8), (16, 7), (5, 20), (10, 13), (1, 1)])
def test_resizing_matches_keras(target, kw, data_format):
    keras = _keras()
    import torch
    x = np.random.default_rng(1).uniform(0, 1, (2, 10, 13, 3)).astype(np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    x0 = x.copy()
    kl = keras.layers.Resizing(*target, data_format=data_format, **kw)
    xt = torch.tensor(x, requires_grad=True)
    yt = kl(xt)
    layer = L.Resizing(*target, data_format=data_format, **kw)
    y = layer(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("size", [2, (2, 3), (3, 1)])
def test_upsampling2d_bilinear_matches_keras(size, data_format):
    keras = _keras()
    import torch
    x = np.random.default_rng(4).standard_normal((2, 5, 6, 3)).astype(np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    kl = keras.layers.UpSampling2D(size, data_format=data_format, interpolation="bilinear")
    xt = torch.tensor(x, requires_grad=True)
    yt = kl(xt)
    layer = L.UpSampling2D(size, data_format=data_format, interpolation="bilinear")
    y = layer(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(5).standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", RESIZING)
def test_resizing_layer_central_differences(kw):
    rng = np.random.default_rng(6)
    layer = L.Resizing(5, 8, dtype="float64", **kw)
    x = rng.standard_normal((2, 6, 4, 2))
    y = layer(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += 1e-6
        xm[i] -= 1e-6
        num[i] = ((layer(xp) * g).sum() - (layer(xm) * g).sum()) / 2e-6
    np.testing.assert_allclose(dx, num, rtol=1e-7, atol=1e-7)


def _model(dtype="float32"):
    return ccnn.Sequential([ccnn.Input((10, 12, 3)),
                            L.Resizing(8, 8, crop_to_aspect_ratio=True, dtype=dtype),
                            L.Rescaling(1 / 255, dtype=dtype),
                            L.Conv2D(4, 3, activation="relu", dtype=dtype),
                            L.UpSampling2D(interpolation="bilinear", dtype=dtype),
                            L.Flatten(dtype=dtype), L.Dense(3, activation="softmax", dtype=dtype)])


def test_model_with_resizing_saves_loads_and_trains(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 255, (6, 10, 12, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    m = _model()
    m.compile("adam", "sparse_categorical_crossentropy")
    m.train_on_batch(x, y)
    path = tmp_path / "m.keras"
    m.save(path)
    m2 = ccnn.models.load_model(path)
    assert [type(layer).__name__ for layer in m2.layers] == \
        [type(layer).__name__ for layer in m.layers]
    assert m2.layers[0].get_config() == m.layers[0].get_config()
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    before = [w.copy() for w in m2.get_weights()]
    loss = m2.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, m2.get_weights()))


def test_resizing_config_round_trip_and_functional_model():
    layer = L.Resizing(7, 9, interpolation="nearest", pad_to_aspect_ratio=True, fill_value=1.5,
                       data_format="channels_first", name="rs")
    again = L.Resizing.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    inp = ccnn.Input((10, 12, 3))
    out = L.Dense(2)(L.Flatten()(L.Resizing(4, 5)(inp)))
    model = ccnn.Model(inp, out)
    x = np.random.default_rng(8).standard_normal((3, 10, 12, 3)).astype(np.float32)
    assert model.predict(x).shape == (3, 2)
    assert model.layers[1].output_shape == (None, 4, 5, 3)


def test_keras_file_both_ways(tmp_path):
    keras = _keras()
    pytest.importorskip("h5py")
    from ccnn.saving.keras_format import load_keras_file, save_keras_file
    x = np.random.default_rng(9).uniform(0, 1, (2, 10, 12, 3)).astype(np.float32)
    km = keras.Sequential([keras.Input((10, 12, 3)),
                           keras.layers.Resizing(6, 7, crop_to_aspect_ratio=True),
                           keras.layers.UpSampling2D(2, interpolation="bilinear")])
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    want = keras.ops.convert_to_numpy(km(x))
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
    save_keras_file(model, tmp_path / "c.keras")
    back = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", RESIZING + [dict(data_format="channels_first")])
def test_onnx_export_matches(kw, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from ccnn.export import export_onnx
    x = np.random.default_rng(10).uniform(0, 1, (2, 10, 13, 3)).astype(np.float32)
    for target in ((8, 8), (16, 7), (1, 1), (5, 20)):
        m = ccnn.Sequential([ccnn.Input((10, 13, 3)), L.Resizing(*target, **kw),
                             L.UpSampling2D((2, 3), interpolation="bilinear")])
        export_onnx(m, tmp_path / "m.onnx")
        s = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        y = s.run(None, {s.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(y, m.predict(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=3, mode="bicubic"), ValueError, "mode"),
    (lambda: F.interpolate(np.zeros((1, 1, 4)), size=3, mode="bilinear"), ValueError, "input"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=3, align_corners=True), ValueError,
     "align_corners"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=3, mode="bilinear",
                           align_corners="yes"), TypeError, "align_corners"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=-2), ValueError, "scale_factor"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=0.1), ValueError,
     "scale_factor"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=float("nan")), ValueError,
     "scale_factor"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=(2, 2, 2)), ValueError, "size"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=(2, 2.5)), TypeError, "size"),
    (lambda: F.interpolate(np.zeros((1, 1, 4, 4)), size=2, recompute_scale_factor=True),
     ValueError, "recompute_scale_factor"),
    (lambda: F.interpolate(np.zeros((1, 1, 0, 4)), size=2), ValueError, "input"),
    (lambda: F.interpolate_backward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)), size=2,
                                    mode="bilinear"), ValueError, "grad_out"),
    (lambda: L.Resizing(0, 4), ValueError, "height"),
    (lambda: L.Resizing(4, 2.5), TypeError, "width"),
    (lambda: L.Resizing(4, 4, interpolation="bicubic"), ValueError, "interpolation"),
    (lambda: L.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError,
     "pad_to_aspect_ratio"),
    (lambda: L.Resizing(4, 4, fill_mode="reflect"), ValueError, "fill_mode"),
    (lambda: L.Resizing(4, 4, fill_value="a"), TypeError, "fill_value"),
    (lambda: L.Resizing(4, 4, antialias=True), ValueError, "antialias"),
    (lambda: L.Resizing(4, 4, data_format="nhwc"), ValueError, "data_format"),
    (lambda: L.Resizing(4, 4)(np.zeros((2, 3, 3))), ValueError, "4-D"),
    (lambda: L.UpSampling2D(2, interpolation="area"), ValueError, "interpolation"),
    (lambda: _reshaping.resize2d_forward(np.zeros((1, 2, 2, 1)), 0, 2, 2, 0.0, 0.0, 1),
     ValueError, "size"),
    (lambda: _reshaping.resize2d_forward(np.zeros((1, 2, 2, 1)), 2, 2, 7, 0.0, 0.0, 1),
     ValueError, "mode"),
    (lambda: _reshaping.resize2d_backward(np.zeros((1, 2, 2, 1)), 0, 2, 2, 0.0, 0.0, 1),
     ValueError, "spatial"),
])
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
