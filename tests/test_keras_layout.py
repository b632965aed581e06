"""Weights at the Keras surface (issue 14): get_weights, set_weights,
layer.kernel / bias / weights and save_weights speak Keras 3's layout (Conv2D
kernel (kh, kw, in, out), Dense (in, out)); the kernels keep theirs (Conv2D
params (out, in, kh, kw)).  Files written before the format key existed (the
kernels' layout) still load.  With keras installed (KERAS_BACKEND=torch) the
weights move between a real Keras model and ccnn with equal predictions."""
import os

import numpy as np
import pytest

import ccnn
from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from ccnn.utils import set_random_seed


def book(dtype="float32"):
    return ccnn.Sequential([
        Conv2D(10, 3, padding="same", activation="relu", input_shape=(28, 28, 1), dtype=dtype),
        MaxPooling2D(2, dtype=dtype), Flatten(dtype=dtype), Dropout(0.5, dtype=dtype),
        Dense(100, activation="relu", dtype=dtype), Dense(10, activation="softmax", dtype=dtype)])


def images(n=8, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n,) + shape).astype(np.float32)


# ----------------------------------------------------------- the layout itself
def test_conv2d_weights_are_keras_layout():
    set_random_seed(1)
    conv = Conv2D(4, (2, 3), input_shape=(6, 5, 3))
    conv.build((None, 6, 5, 3))
    conv.params["bias"][:] = np.arange(4)
    inner = conv.params["kernel"]                       # (out, in, kh, kw)
    kernel, bias = conv.get_weights()
    assert inner.shape == (4, 3, 2, 3) and kernel.shape == (2, 3, 3, 4)
    for r, s, c, k in np.ndindex(*kernel.shape):
        assert kernel[r, s, c, k] == inner[k, c, r, s]
    np.testing.assert_array_equal(conv.kernel, kernel)
    np.testing.assert_array_equal(conv.kernel[:, :, 0, 2], inner[2, 0])  # a filter to plot
    np.testing.assert_array_equal(conv.bias, np.arange(4))
    for got, want in zip(conv.weights, [kernel, bias]):
        np.testing.assert_array_equal(got, want)
    assert [w.shape for w in conv.trainable_weights] == [(2, 3, 3, 4), (4,)]
    assert conv.non_trainable_weights == []


def test_dense_weights_and_trainable_flag():
    d = Dense(3)
    d.build((None, 5))
    assert [w.shape for w in d.get_weights()] == [(5, 3), (3,)]
    np.testing.assert_array_equal(d.kernel, d.params["kernel"])
    d.trainable = False
    assert d.trainable_weights == []
    assert [w.shape for w in d.non_trainable_weights] == [(5, 3), (3,)]
    nb = Dense(3, use_bias=False)
    nb.build((None, 5))
    assert nb.bias is None and len(nb.get_weights()) == 1
    with pytest.raises(AttributeError, match="until it is built"):
        Dense(2).kernel


def test_weights_are_copies_both_ways():
    conv = Conv2D(2, 3)
    conv.build((None, 5, 5, 1))
    inner = conv.params["kernel"].copy()
    for got in (conv.get_weights()[0], conv.kernel, conv.weights[0]):
        got += 1.0                                      # changing a copy changes nothing
    np.testing.assert_array_equal(conv.params["kernel"], inner)
    mine = np.random.default_rng(0).random((3, 3, 1, 2))
    keep = mine.copy()
    conv.set_weights([mine, np.ones(2)])
    np.testing.assert_array_equal(mine, keep)           # the user's array is not modified
    mine[...] = 7.0                                     # nor aliased
    np.testing.assert_array_equal(conv.kernel, keep.astype(np.float32))
    assert conv.params["kernel"].flags.c_contiguous


def test_set_weights_shape_errors_name_layer_weight_and_shapes():
    model = book()
    good = model.get_weights()
    torch_layout = [good[0].transpose(3, 2, 0, 1)] + good[1:]
    with pytest.raises(ValueError, match=r"'conv2d' \(Conv2D\): weight 'kernel' must have "
                                         r"shape \(3, 3, 1, 10\).*got \(10, 1, 3, 3\)"):
        model.set_weights(torch_layout)
    with pytest.raises(ValueError, match=r"'conv2d'.*'kernel'.*\(3, 3, 1, 10\).*\(10, 1, 3, 3\)"):
        model.layers[0].set_weights(torch_layout[:2])
    bad_last = good[:-1] + [np.zeros(11)]
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"'dense_1' \(Dense\): weight 'bias' must have shape "
                                         r"\(10,\).*got \(11,\)"):
        model.set_weights([w + 1 for w in bad_last])
    for a, b in zip(model.get_weights(), before):  # nothing changed, not even layer 0
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="6 weight arrays, got 5"):
        model.set_weights(good[:5])


def test_model_set_get_weights_round_trip():
    a, b = book(), book()
    b.set_weights(a.get_weights())
    x = images()
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


# ------------------------------------------------------------- files on disk
def test_save_weights_format_2_is_keras_layout(tmp_path):
    model = book()
    path = tmp_path / "w.weights.npz"
    model.save_weights(path)
    with np.load(path) as f:
        assert f["ccnn_weights_format"] == 2 and f["ccnn_weights_format"].shape == ()
        assert f["layer0/kernel"].shape == (3, 3, 1, 10)
        assert f["layer4/kernel"].shape == (1960, 100)
        np.testing.assert_array_equal(f["layer0/kernel"], model.layers[0].kernel)
    clone = book()
    clone.load_weights(path)
    for a, b in zip(clone.weights, model.weights):
        np.testing.assert_array_equal(a, b)


def old_format_file(model, path):
    """What save_weights wrote before the format key (ccnn <= main at fc69749):
    np.savez of {'layer{i}/{key}': params[key]}, the kernels' layout."""
    np.savez(path, **{f"layer{i}/{k}": p for i, layer in enumerate(model.layers)
                      for k, p in layer.params.items()})


def test_old_format_files_still_load(tmp_path):
    set_random_seed(3)
    old = book()
    path = tmp_path / "old.npz"
    old_format_file(old, path)
    with np.load(path) as f:
        assert f["layer0/kernel"].shape == (10, 1, 3, 3)   # the old layout
    new = book()
    new.load_weights(path)
    x = images()
    np.testing.assert_array_equal(new.predict(x, verbose=0), old.predict(x, verbose=0))
    for a, b in zip(new.get_weights(), old.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layout_mismatches_are_refused(tmp_path):
    model = book()
    before = model.get_weights()
    # a format-2 file with the old (out, in, kh, kw) kernel is refused, and vice versa
    arrays = {f"layer{i}/{k}": p for i, layer in enumerate(model.layers)
              for k, p in layer.params.items()}
    mixed = tmp_path / "mixed.npz"
    np.savez(mixed, ccnn_weights_format=np.array(2), **arrays)
    with pytest.raises(ValueError, match=r"layer0/kernel: file has float32\[10, 1, 3, 3\], "
                                         r"the model float32\[3, 3, 1, 10\]"):
        model.load_weights(mixed)
    keras_no_key = tmp_path / "nokey.npz"
    np.savez(keras_no_key, **dict(arrays, **{"layer0/kernel": before[0]}))
    with pytest.raises(ValueError, match=r"layer0/kernel: file has float32\[3, 3, 1, 10\]"):
        model.load_weights(keras_no_key)
    future = tmp_path / "future.npz"
    np.savez(future, ccnn_weights_format=np.array(3),
             **{f"layer{i}/{k}": w for i, layer in enumerate(model.layers)
                for k, w in zip(layer.params, layer.get_weights())})
    with pytest.raises(ValueError, match="format 3 is not one this ccnn reads"):
        model.load_weights(future)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: the weight exchange "
                                               "with a real Keras model is not tested")


def keras_book(keras):
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(10, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5), L.Dense(100, activation="relu"),
        L.Dense(10, activation="softmax")])


def strided_pair(keras, data_format):
    """Valid padding, stride 2, no bias, in either data_format, in Keras and in ccnn."""
    L = keras.layers
    shape = (13, 11, 3) if data_format == "channels_last" else (3, 13, 11)
    k = keras.Sequential([
        keras.Input(shape),
        L.Conv2D(6, (3, 2), strides=2, padding="valid", use_bias=False,
                 data_format=data_format),
        L.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
        L.MaxPooling2D(2, padding="same", data_format=data_format), L.Flatten(),
        L.Dense(5, use_bias=False)])
    c = ccnn.Sequential([
        Conv2D(6, (3, 2), strides=2, padding="valid", use_bias=False, data_format=data_format,
               input_shape=shape),
        Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
        MaxPooling2D(2, padding="same", data_format=data_format), Flatten(),
        Dense(5, use_bias=False)])
    return k, c, shape


def pairs(keras):
    yield "book", keras_book(keras), book(), (28, 28, 1)
    for fmt in ("channels_last", "channels_first"):
        yield (f"strided-{fmt}",) + strided_pair(keras, fmt)


def test_keras_weights_give_keras_predictions():
    keras = _keras()
    keras.utils.set_random_seed(0)
    for name, kmodel, cmodel, shape in pairs(keras):
        for w in kmodel.weights:                         # non-zero biases too
            w.assign(np.random.default_rng(w.shape[-1]).uniform(-0.3, 0.3, w.shape))
        kw = kmodel.get_weights()
        assert [w.shape for w in cmodel.get_weights()] == [w.shape for w in kw], name
        cmodel.set_weights(kw)
        x = images(8, shape, seed=4)
        np.testing.assert_allclose(cmodel.predict(x, verbose=0),
                                   kmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_ccnn_weights_give_ccnn_predictions_in_keras():
    keras = _keras()
    set_random_seed(5)
    for name, kmodel, cmodel, shape in pairs(keras):
        for layer in cmodel.layers:                      # non-zero biases too
            if "bias" in layer.params:
                layer.params["bias"][:] = np.linspace(-0.2, 0.2, layer.params["bias"].size)
        kmodel.set_weights(cmodel.get_weights())
        for a, b in zip(kmodel.get_weights(), cmodel.get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=name)
        x = images(8, shape, seed=6)
        np.testing.assert_allclose(kmodel.predict(x, verbose=0),
                                   cmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-5,
                                   err_msg=name)
