"""model.export(path, format="onnx"): each exported file is run by onnxruntime
on random inputs of two batch sizes and compared with model.predict (max abs
difference <= 1e-5, float32) -- every supported layer alone, in both
data_formats where it has one, and the book's and the modern models.  The
expected values are ccnn's own predict; the file is checked by onnx.checker
and run by onnxruntime, neither of which shares code with the exporter."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from _testutils import require_optional

onnx = require_optional("onnx", "the onnx extra")
ort = require_optional("onnxruntime", "ONNX export tests run the files in onnxruntime")

import ccnn  # noqa: E402
from ccnn import activations, layers  # noqa: E402
from ccnn.cli import build_model, build_modern_model, build_resnet_small  # noqa: E402
from ccnn.export import OPSET  # noqa: E402

TOL = 1e-5
L = layers


def randomize(model, seed=0):
    """Random weights in every array (moving variances positive), so that
    biases, BatchNormalization's statistics and PReLU's slopes all matter."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        arrays = []
        for key, p in layer.weight_arrays().items():
            shape = layer.keras_shape(key)
            if key == "moving_variance":
                arrays.append(rng.uniform(0.5, 2.0, shape))
            else:
                arrays.append(rng.normal(0.0, 0.5, shape))
        if arrays:
            layer.set_weights([a.astype(np.float32) for a in arrays])
    return model


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return out


def check_export(model, tmp_path, batch_sizes=(1, 5), seed=1, scale=1.0, sample_shape=None):
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx", verbose=False)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    rng = np.random.default_rng(seed)
    for n in batch_sizes:
        shape = sample_shape or tuple(model.input_shape[1:])
        x = (rng.standard_normal((n,) + shape) * scale).astype(np.float32)
        want = model.predict(x, verbose=0)
        got = run_onnx(path, x)
        assert got.dtype == np.float32
        assert got.shape == want.shape, (got.shape, want.shape)
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        assert diff <= TOL, f"batch {n}: max abs difference {diff:.3g}"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]       # no temporary file left


def single(shape, layer):
    return randomize(ccnn.Sequential([ccnn.Input(shape), layer]))


CF, CL = "channels_first", "channels_last"

LAYER_CASES = {
    # convolutions: TF-style asymmetric 'same' pads, strides, dilation, bias, activation
    "conv2d_same": ((8, 9, 3), lambda: L.Conv2D(4, 3, padding="same")),
    "conv2d_groups": ((7, 8, 4), lambda: L.Conv2D(6, 3, groups=2, padding="same")),
    "rescaling": ((5, 6, 3), lambda: L.Rescaling(1 / 255.0, offset=-0.5)),
    "rescaling_per_channel": ((5, 6, 3), lambda: L.Rescaling([0.5, 2.0, -1.0], offset=0.25)),
    "normalization": ((5, 6, 3), lambda: L.Normalization(mean=[0.1, -0.2, 0.3],
                                                         variance=[2.0, 0.5, 1e-20])),
    "normalization_invert": ((5, 6, 3), lambda: L.Normalization(axis=(1, 3), mean=0.5,
                                                                variance=4.0, invert=True)),
    "spatial_dropout": ((5, 6, 3), lambda: L.SpatialDropout2D(0.3)),
    "gaussian_noise": ((6,), lambda: L.GaussianNoise(0.5)),
    "gaussian_dropout": ((6,), lambda: L.GaussianDropout(0.3)),
    "random_flip": ((5, 6, 3), lambda: L.RandomFlip()),
    "random_rotation": ((5, 6, 3), lambda: L.RandomRotation(0.2)),
    "random_zoom": ((5, 6, 3), lambda: L.RandomZoom(0.2)),
    "random_crop": ((5, 6, 3), lambda: L.RandomCrop(5, 6)),
    "random_contrast": ((5, 6, 3), lambda: L.RandomContrast(0.3)),
    "depthwise": ((8, 9, 3), lambda: L.DepthwiseConv2D(3, depth_multiplier=2,
                                                       padding="same", activation="relu")),
    "depthwise_cf_stride": ((3, 9, 8), lambda: L.DepthwiseConv2D(
        (3, 2), strides=2, data_format=CF, use_bias=False)),
    "separable": ((8, 9, 3), lambda: L.SeparableConv2D(5, 3, depth_multiplier=2,
                                                       padding="same", activation="tanh")),
    "separable_cf_dilated": ((3, 9, 9), lambda: L.SeparableConv2D(
        4, 3, dilation_rate=2, data_format=CF)),
    "conv_transpose_valid": ((5, 6, 3), lambda: L.Conv2DTranspose(4, 3, strides=2)),
    "conv_transpose_same": ((5, 6, 3), lambda: L.Conv2DTranspose(4, 3, strides=2,
                                                                 padding="same")),
    "conv_transpose_output_padding": ((5, 6, 3), lambda: L.Conv2DTranspose(
        4, (3, 4), strides=(3, 2), output_padding=(2, 1), activation="relu")),
    "conv_transpose_cf_dilated": ((3, 5, 6), lambda: L.Conv2DTranspose(
        2, 3, dilation_rate=2, data_format=CF, padding="same")),
    "conv2d_same_even_stride2": ((8, 9, 3), lambda: L.Conv2D(4, (2, 4), strides=2,
                                                              padding="same")),
    "conv2d_valid_stride": ((9, 8, 3), lambda: L.Conv2D(5, (3, 2), strides=(2, 1))),
    "conv2d_dilation_same": ((9, 9, 2), lambda: L.Conv2D(3, 3, dilation_rate=2,
                                                          padding="same")),
    "conv2d_relu_nobias": ((6, 6, 2), lambda: L.Conv2D(4, 3, activation="relu",
                                                        use_bias=False)),
    "conv2d_softmax": ((6, 6, 2), lambda: L.Conv2D(4, 3, activation="softmax")),
    "conv2d_cf_same": ((3, 8, 7), lambda: L.Conv2D(4, 3, strides=2, padding="same",
                                                    data_format=CF, activation="tanh")),
    "conv1d_same": ((10, 3), lambda: L.Conv1D(4, 4, padding="same")),
    "conv1d_valid_stride": ((11, 3), lambda: L.Conv1D(4, 3, strides=2, activation="relu")),
    "conv1d_causal_dilation": ((12, 2), lambda: L.Conv1D(3, 3, padding="causal",
                                                          dilation_rate=2)),
    "conv1d_cf": ((3, 10), lambda: L.Conv1D(4, 3, padding="same", data_format=CF)),
    # dense on 2-D and on 3-D inputs
    "dense": ((7,), lambda: L.Dense(5)),
    "dense_relu_3d": ((4, 6), lambda: L.Dense(3, activation="relu")),
    "dense_softmax_nobias": ((6,), lambda: L.Dense(4, activation="softmax", use_bias=False)),
    # pooling
    "maxpool2d": ((8, 9, 3), lambda: L.MaxPooling2D()),
    "maxpool2d_same_3x3_s2": ((8, 9, 3), lambda: L.MaxPooling2D(3, 2, padding="same")),
    "maxpool2d_cf": ((3, 7, 8), lambda: L.MaxPooling2D(2, padding="same", data_format=CF)),
    "avgpool2d": ((8, 9, 3), lambda: L.AveragePooling2D((2, 3))),
    "avgpool2d_same": ((7, 9, 2), lambda: L.AveragePooling2D(3, 2, padding="same")),
    "avgpool2d_cf_same": ((2, 7, 5), lambda: L.AveragePooling2D(2, padding="same",
                                                                 data_format=CF)),
    "maxpool1d": ((9, 3), lambda: L.MaxPooling1D(2)),
    "maxpool1d_same_cf": ((3, 9), lambda: L.MaxPooling1D(3, 2, padding="same",
                                                          data_format=CF)),
    "avgpool1d_same": ((9, 3), lambda: L.AveragePooling1D(2, padding="same")),
    "avgpool1d_cf": ((3, 9), lambda: L.AveragePooling1D(3, 1, data_format=CF)),
    "gap2d": ((5, 6, 3), lambda: L.GlobalAveragePooling2D()),
    "gap2d_keepdims_cf": ((3, 5, 6), lambda: L.GlobalAveragePooling2D(CF, keepdims=True)),
    "gmp2d": ((5, 6, 3), lambda: L.GlobalMaxPooling2D(keepdims=True)),
    "gmp2d_cf": ((3, 5, 6), lambda: L.GlobalMaxPooling2D(CF)),
    "gap1d": ((7, 4), lambda: L.GlobalAveragePooling1D()),
    "gap1d_cf_keepdims": ((4, 7), lambda: L.GlobalAveragePooling1D(CF, keepdims=True)),
    "gmp1d": ((7, 4), lambda: L.GlobalMaxPooling1D(keepdims=True)),
    "gmp1d_cf": ((4, 7), lambda: L.GlobalMaxPooling1D(CF)),
    # reshaping
    "flatten": ((4, 5, 3), lambda: L.Flatten()),
    "flatten_cf": ((3, 4, 5), lambda: L.Flatten(CF)),
    "flatten_3d": ((4, 5), lambda: L.Flatten()),
    "reshape": ((4, 6), lambda: L.Reshape((3, -1))),
    "reshape_4d": ((4, 6, 2), lambda: L.Reshape((2, 4, 6))),
    "permute": ((2, 3, 4), lambda: L.Permute((3, 1, 2))),
    "permute_2d": ((3, 4), lambda: L.Permute((2, 1))),
    "zero_padding2d": ((4, 5, 3), lambda: L.ZeroPadding2D(((1, 2), (0, 3)))),
    "zero_padding2d_cf": ((3, 4, 5), lambda: L.ZeroPadding2D((2, 1), data_format=CF)),
    "zero_padding1d": ((5, 3), lambda: L.ZeroPadding1D((2, 1))),
    "zero_padding1d_cf": ((3, 5), lambda: L.ZeroPadding1D(1, data_format=CF)),
    "cropping2d": ((7, 8, 3), lambda: L.Cropping2D(((1, 2), (0, 3)))),
    "cropping2d_cf": ((3, 7, 8), lambda: L.Cropping2D((2, 1), data_format=CF)),
    "cropping1d": ((9, 3), lambda: L.Cropping1D((1, 2))),
    "cropping1d_end0": ((9, 3), lambda: L.Cropping1D((2, 0))),
    "upsampling2d": ((3, 4, 2), lambda: L.UpSampling2D((2, 3))),
    "upsampling2d_cf": ((2, 3, 4), lambda: L.UpSampling2D(2, data_format=CF)),
    "upsampling1d": ((4, 3), lambda: L.UpSampling1D(3)),
    "upsampling2d_bilinear": ((3, 4, 2), lambda: L.UpSampling2D((2, 3),
                                                                interpolation="bilinear")),
    "upsampling2d_bilinear_cf": ((2, 3, 4), lambda: L.UpSampling2D(2, data_format=CF,
                                                                   interpolation="bilinear")),
    # preprocessing that runs at inference
    "resizing": ((6, 5, 2), lambda: L.Resizing(4, 7)),
    "resizing_nearest_crop": ((6, 5, 2), lambda: L.Resizing(4, 7, interpolation="nearest",
                                                            crop_to_aspect_ratio=True)),
    "resizing_pad_cf": ((2, 6, 5), lambda: L.Resizing(4, 7, pad_to_aspect_ratio=True,
                                                      fill_value=0.5, data_format=CF)),
    # normalization (inference: the moving statistics)
    "batchnorm": ((5, 6, 3), lambda: L.BatchNormalization()),
    "batchnorm_axis1": ((3, 5, 6), lambda: L.BatchNormalization(axis=1, epsilon=0.01)),
    "batchnorm_axis2": ((4, 5, 6), lambda: L.BatchNormalization(axis=2)),
    "batchnorm_2d_noscale": ((7,), lambda: L.BatchNormalization(center=False, scale=False)),
    "batchnorm_1d_seq": ((6, 4), lambda: L.BatchNormalization()),
    "layernorm": ((5, 6, 3), lambda: L.LayerNormalization()),
    "layernorm_2axes": ((5, 6, 3), lambda: L.LayerNormalization(axis=[2, 3])),
    "layernorm_inner_axes": ((5, 6, 3), lambda: L.LayerNormalization(axis=[1, 2])),
    "layernorm_noscale": ((4, 6), lambda: L.LayerNormalization(axis=1, scale=False,
                                                                epsilon=1e-5)),
    "layernorm_nocenter_2d": ((8,), lambda: L.LayerNormalization(center=False)),
    # training-only layers: identity at inference
    "dropout": ((4, 5, 3), lambda: L.Dropout(0.5)),
    "random_translation": ((6, 6, 2), lambda: L.RandomTranslation(0.2, 0.2)),
    # activation layers
    "relu": ((4, 5, 3), lambda: L.ReLU()),
    "relu_max": ((4, 5), lambda: L.ReLU(max_value=1.0)),
    "relu_slope": ((4, 5), lambda: L.ReLU(negative_slope=0.1)),
    "relu_threshold": ((4, 5), lambda: L.ReLU(threshold=0.5)),
    "relu_all": ((4, 5), lambda: L.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.3)),
    "leaky_relu": ((4, 5), lambda: L.LeakyReLU()),
    "leaky_relu_slope": ((4, 5), lambda: L.LeakyReLU(negative_slope=0.05)),
    "elu": ((4, 5), lambda: L.ELU()),
    "elu_alpha": ((4, 5), lambda: L.ELU(alpha=0.5)),
    "prelu": ((4, 5, 3), lambda: L.PReLU()),
    "prelu_shared": ((4, 5, 3), lambda: L.PReLU(shared_axes=[1, 2])),
    "softmax": ((4, 5), lambda: L.Softmax()),
    "softmax_axis1": ((4, 5), lambda: L.Softmax(axis=1)),
}
# every activation name, as an Activation layer, as Dense's and as Conv2D's activation=
for _name in activations.NAMES + tuple(activations.ALIASES):
    LAYER_CASES[f"activation_{_name}"] = ((4, 6), lambda n=_name: L.Activation(n))
    LAYER_CASES[f"dense_{_name}"] = ((6,), lambda n=_name: L.Dense(5, activation=n))
    LAYER_CASES[f"conv2d_{_name}"] = ((5, 5, 2), lambda n=_name: L.Conv2D(3, 3, activation=n))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_alone(case, tmp_path):
    shape, make = LAYER_CASES[case]
    # inputs to +-6 reach the saturated parts (hard_sigmoid, relu6); exp's
    # grow to where one float32 ulp is > 1e-5, so its inputs stay smaller
    scale = 0.5 if case.endswith("exponential") else 2.0
    check_export(single(shape, make()), tmp_path, scale=scale)


def test_every_layer_has_a_case():
    """Every layer class ccnn.layers registers is exported by some case above."""
    covered = {type(make()).__name__ for _, make in LAYER_CASES.values()}
    covered |= {type(layer).__name__ for layer in merge_graph().layers} - {"InputLayer"}
    assert covered == set(layers._LAYERS), set(layers._LAYERS) ^ covered


def test_book_model(tmp_path):
    check_export(randomize(build_model()), tmp_path, batch_sizes=(1, 7))


def test_modern_model(tmp_path):
    check_export(randomize(build_modern_model()), tmp_path, batch_sizes=(2, 3))


def test_residual_model(tmp_path):
    check_export(randomize(build_resnet_small()), tmp_path, batch_sizes=(1, 3))


def test_stack_of_layers(tmp_path):
    """Layout changes chained: channels-first convs and pools feeding Flatten,
    1-D layers after a Reshape."""
    model = ccnn.Sequential([
        ccnn.Input((3, 12, 10)),
        L.Conv2D(4, 3, padding="same", data_format=CF, activation="gelu"),
        L.BatchNormalization(axis=1),
        L.MaxPooling2D(2, data_format=CF),
        L.ZeroPadding2D(1, data_format=CF),
        L.Flatten(CF),
        L.Reshape((16, -1)),
        L.Conv1D(5, 3, padding="same", activation="silu"),
        L.UpSampling1D(2),
        L.AveragePooling1D(3, padding="same"),
        L.LayerNormalization(),
        L.GlobalMaxPooling1D(),
        L.PReLU(),
        L.Dense(3, activation="log_softmax")])
    check_export(randomize(model), tmp_path)


def test_export_does_not_change_the_model(tmp_path):
    model = randomize(build_modern_model())
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 1)).astype(np.float32)
    before = model.predict(x, verbose=0)
    weights, config = model.get_weights(), model.get_config()
    state = pickle.dumps(model)
    model.export(tmp_path / "m.onnx", verbose=False)
    assert model.get_config() == config
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    assert pickle.dumps(model) == state


def test_verbose_and_overwrite(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    model = randomize(build_model())
    model.export(str(path), format="onnx")
    assert "m.onnx" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(path)))


class Doubler(layers.Layer):
    def forward(self, x, training=False):
        return 2 * x

    def backward(self, dout):
        return 2 * dout


def test_unsupported_layer_is_named(tmp_path):
    model = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3), Doubler(name="twice")])
    with pytest.raises(ValueError, match=r"'twice' \(Doubler\)"):
        model.export(tmp_path / "m.onnx", verbose=False)
    assert os.listdir(tmp_path) == []


def test_subclass_of_a_supported_layer_is_refused(tmp_path):
    """A subclass may compute something else: refused, not exported as its base."""
    class MyDense(L.Dense):
        pass
    model = ccnn.Sequential([ccnn.Input((4,)), MyDense(3, name="mine")])
    with pytest.raises(ValueError, match="'mine' \\(MyDense\\)"):
        model.export(tmp_path / "m.onnx", verbose=False)


def test_bad_arguments(tmp_path):
    model = randomize(build_model())
    with pytest.raises(ValueError, match="format"):
        model.export(tmp_path / "m", format="tf_saved_model")
    double = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3, dtype="float64", name="d64")])
    with pytest.raises(ValueError, match="'d64'.*float32"):
        double.export(tmp_path / "m.onnx", verbose=False)
    with pytest.raises(ValueError, match="not yet been built"):
        ccnn.Sequential([L.Dense(3)]).export(tmp_path / "m.onnx", verbose=False)
    # 'same' padding needs the spatial size
    unknown = ccnn.Sequential([ccnn.Input((None, None, 2)), L.Conv2D(2, 3, padding="same",
                                                                      name="c")])
    with pytest.raises(ValueError, match="'c'.*spatial size"):
        unknown.export(tmp_path / "m.onnx", verbose=False)
    assert os.listdir(tmp_path) == []


def test_unknown_spatial_size_with_valid_padding(tmp_path):
    """Dynamic height and width are fine where the pads do not depend on them."""
    model = ccnn.Sequential([ccnn.Input((None, None, 2)), L.Conv2D(3, 3, activation="relu"),
                             L.MaxPooling2D(), L.GlobalAveragePooling2D(), L.Dense(2)])
    check_export(randomize(model), tmp_path, sample_shape=(11, 9, 2))
    check_export(model, tmp_path, sample_shape=(6, 14, 2))


def test_missing_onnx_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)      # import onnx now fails
    with pytest.raises(ImportError, match=r'pip install "ccnn\[onnx\]"'):
        build_model().export(tmp_path / "m.onnx", verbose=False)


def test_ccnn_does_not_import_onnx(tmp_path):
    # the ccnn this test imports: its parent directory first on the path (an
    # installed ccnn in CI's clean clone, the in-place build locally), run from
    # elsewhere so that the checkout's unbuilt sources are not picked up
    root = os.path.dirname(os.path.dirname(os.path.abspath(ccnn.__file__)))
    code = "import sys, ccnn, ccnn.export; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.strip() == "False"


def merge_graph():
    """A functional model with every merge layer, two inputs and two outputs."""
    a, b = ccnn.Input((4,), name="a"), ccnn.Input((3, 4), name="b")
    ha = L.Dense(4, activation="tanh")(a)
    hb = L.Dense(4)(b)                                    # (N, 3, 4)
    s = L.Subtract()([hb, ha])                            # lower rank: unit axis after N
    m = L.Multiply()([ha, hb, s])
    mx = L.Maximum()([m, s, hb])
    mn = L.Minimum()([m, s])
    av = L.Average()([mx, mn, hb])
    c = L.Concatenate(axis=1)([av, hb])                   # (N, 6, 4)
    out1 = L.Dense(2, activation="softmax", name="p")(L.Flatten()(L.add([c, c])))
    return ccnn.Model([a, b], [out1, L.Concatenate()([av, mn])], name="merges")


def test_functional_model_with_merges(tmp_path):
    model = randomize(merge_graph())
    path = tmp_path / "g.onnx"
    model.export(path, format="onnx", verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["a", "b"]
    rng = np.random.default_rng(3)
    for n in (1, 4):
        x = {"a": rng.standard_normal((n, 4)).astype(np.float32),
             "b": rng.standard_normal((n, 3, 4)).astype(np.float32)}
        got = session.run(None, x)
        want = model.predict(x)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert float(np.max(np.abs(g - w))) <= TOL
