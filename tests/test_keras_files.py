"""Keras 3 files (ccnn.saving.keras_format) against the real Keras 3 (torch
backend): .keras archives and .weights.h5 files written by one side and read
by the other must give the same predictions."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import sys
import zipfile

import numpy as np
import pytest

try:
    import h5py  # noqa: F401
    import keras
except ImportError as e:            # CI installs both (pyproject's test extra)
    pytest.skip(f"keras 3 and h5py are needed for the Keras-file tests: {e}",
                allow_module_level=True)

import ccnn
from ccnn import layers as cl
from ccnn.models import Sequential
from ccnn.saving.keras_format import (load_keras_file, load_weights_h5, save_keras_file,
                                      save_weights_h5)

KL = keras.layers
TOL = 1e-5

# (id, [(class name, kwargs)], input shape without the batch axis)
CASES = [
    ("conv1d", [("Conv1D", dict(filters=4, kernel_size=3, activation="relu"))], (10, 3)),
    ("conv1d_same_dil", [("Conv1D", dict(filters=3, kernel_size=3, padding="same",
                                         dilation_rate=2))], (9, 2)),
    ("conv2d", [("Conv2D", dict(filters=4, kernel_size=3, padding="same",
                                activation="relu"))], (7, 7, 3)),
    ("conv2d_strided", [("Conv2D", dict(filters=5, kernel_size=(3, 2), strides=2,
                                        use_bias=False))], (8, 7, 2)),
    ("conv2d_groups", [("Conv2D", dict(filters=4, kernel_size=3, groups=2))], (6, 6, 4)),
    ("conv2d_reg", [("Conv2D", dict(filters=2, kernel_size=3, kernel_initializer="he_normal",
                                    kernel_regularizer=keras.regularizers.L2(0.01)))],
     (5, 5, 1)),
    ("depthwise", [("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2))], (6, 6, 3)),
    ("separable", [("SeparableConv2D", dict(filters=4, kernel_size=3, padding="same"))],
     (6, 6, 3)),
    ("conv2d_transpose", [("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2))],
     (4, 4, 2)),
    ("dense", [("Flatten", {}), ("Dense", dict(units=5, activation="tanh"))], (3, 4)),
    ("dense_softmax", [("Dense", dict(units=4, activation="softmax"))], (6,)),
    ("batchnorm", [("BatchNormalization", dict(momentum=0.9, epsilon=1e-3))], (4, 4, 3)),
    ("layernorm", [("LayerNormalization", dict(epsilon=1e-5))], (5, 6)),
    ("maxpool2d", [("MaxPooling2D", dict(pool_size=2))], (6, 6, 2)),
    ("avgpool2d", [("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"))],
     (7, 7, 2)),
    ("maxpool1d", [("MaxPooling1D", dict(pool_size=2))], (8, 3)),
    ("avgpool1d", [("AveragePooling1D", dict(pool_size=2))], (8, 3)),
    ("gap2d", [("GlobalAveragePooling2D", {})], (5, 5, 3)),
    ("gmp2d", [("GlobalMaxPooling2D", {})], (5, 5, 3)),
    ("gap1d", [("GlobalAveragePooling1D", {})], (6, 3)),
    ("gmp1d", [("GlobalMaxPooling1D", {})], (6, 3)),
    ("dropout", [("Dropout", dict(rate=0.5))], (5,)),
    ("spatial_dropout", [("SpatialDropout2D", dict(rate=0.3))], (4, 4, 2)),
    ("gaussian_noise", [("GaussianNoise", dict(stddev=0.2))], (5,)),
    ("gaussian_dropout", [("GaussianDropout", dict(rate=0.2))], (5,)),
    ("activation", [("Activation", dict(activation="gelu"))], (5,)),
    ("relu", [("ReLU", dict(max_value=1.5, negative_slope=0.1))], (5,)),
    ("leaky_relu", [("LeakyReLU", dict(negative_slope=0.2))], (5,)),
    ("elu", [("ELU", dict(alpha=0.7))], (5,)),
    ("softmax", [("Softmax", {})], (5,)),
    ("prelu", [("PReLU", dict(shared_axes=[1, 2]))], (4, 4, 3)),
    ("zero_padding2d", [("ZeroPadding2D", dict(padding=((1, 2), (0, 1))))], (3, 3, 2)),
    ("zero_padding1d", [("ZeroPadding1D", dict(padding=2))], (3, 2)),
    ("cropping2d", [("Cropping2D", dict(cropping=((1, 0), (1, 1))))], (5, 5, 2)),
    ("cropping1d", [("Cropping1D", dict(cropping=(1, 2)))], (6, 2)),
    ("upsampling2d", [("UpSampling2D", dict(size=2))], (3, 3, 2)),
    ("upsampling1d", [("UpSampling1D", dict(size=3))], (3, 2)),
    ("reshape", [("Reshape", dict(target_shape=(6, 2)))], (3, 4)),
    ("permute", [("Permute", dict(dims=(2, 1)))], (3, 4)),
    ("flatten", [("Flatten", {})], (3, 4, 2)),
    ("rescaling", [("Rescaling", dict(scale=1 / 255.0, offset=-0.5))], (4, 4, 1)),
    ("normalization", [("Normalization", dict(mean=[0.5, -1.0], variance=[4.0, 0.25]))],
     (3, 2)),
    ("random_flip", [("RandomFlip", dict(mode="horizontal"))], (5, 5, 1)),
    ("random_rotation", [("RandomRotation", dict(factor=0.1))], (5, 5, 1)),
    ("random_translation", [("RandomTranslation", dict(height_factor=0.1,
                                                       width_factor=0.1))], (5, 5, 1)),
    ("random_zoom", [("RandomZoom", dict(height_factor=0.1))], (5, 5, 1)),
    ("random_crop", [("RandomCrop", dict(height=4, width=4))], (6, 6, 1)),
    ("random_contrast", [("RandomContrast", dict(factor=0.2))], (5, 5, 1)),
    ("dense_float64", [("Dense", dict(units=3, dtype="float64"))], (4,)),
    ("frozen_conv", [("Conv2D", dict(filters=2, kernel_size=3, trainable=False)),
                     ("Flatten", {}), ("Dense", dict(units=2))], (5, 5, 1)),
]
IDS = [c[0] for c in CASES]


def _keras_model(specs, shape):
    return keras.Sequential([keras.Input(shape)] +
                            [getattr(KL, name)(**kw) for name, kw in specs])


def _ccnn_kwargs(kw):
    kw = dict(kw)
    for k, v in kw.items():
        if isinstance(v, keras.regularizers.Regularizer):
            kw[k] = ccnn.regularizers.get({"class_name": type(v).__name__,
                                           "config": v.get_config()})
    return kw


def _ccnn_model(specs, shape):
    return Sequential([ccnn.Input(shape)] +
                      [getattr(cl, name)(**_ccnn_kwargs(kw)) for name, kw in specs])


def _random_weights(weights, rng):
    """New values for each weight array (variances stay positive)."""
    out = []
    for w in weights:
        w = np.asarray(w)
        if w.ndim == 0 or w.dtype.kind != "f":
            out.append(w)
            continue
        out.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
        if len(out) % 4 != 0:        # BatchNormalization's 4th is the variance; others signed
            out[-1] = (rng.standard_normal(w.shape) * 0.5).astype(w.dtype)
    return out


def _randomize_keras(model, rng):
    for layer in model.layers:
        ws = layer.get_weights()
        if ws and type(layer).__name__ != "Normalization":
            layer.set_weights(_random_weights(ws, rng))


def _randomize_ccnn(model, rng):
    for layer in model.layers:
        ws = layer.get_weights()
        if ws and type(layer).__name__ != "Normalization":
            layer.set_weights(_random_weights(ws, rng))


def _keras_predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _input(shape, rng):
    return rng.standard_normal((3,) + tuple(shape)).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_file_into_ccnn(case, tmp_path):
    _, specs, shape = case
    rng = np.random.default_rng(0)
    km = _keras_model(specs, shape)
    _randomize_keras(km, rng)
    path = tmp_path / "m.keras"
    km.save(path)
    model = load_keras_file(path)
    assert isinstance(model, Sequential)
    assert [type(layer).__name__ for layer in model.layers] == [n for n, _ in specs]
    x = _input(shape, rng)
    np.testing.assert_allclose(model.predict(x), _keras_predict(km, x), atol=TOL, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ccnn_file_into_keras(case, tmp_path):
    _, specs, shape = case
    rng = np.random.default_rng(1)
    model = _ccnn_model(specs, shape)
    _randomize_ccnn(model, rng)
    path = tmp_path / "m.keras"
    save_keras_file(model, path)
    km = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in km.layers] == [n for n, _ in specs]
    x = _input(shape, rng)
    np.testing.assert_allclose(_keras_predict(km, x), model.predict(x), atol=TOL, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weights_h5_both_ways(case, tmp_path):
    _, specs, shape = case
    rng = np.random.default_rng(2)
    x = _input(shape, rng)
    # keras -> ccnn, through Sequential.load_weights
    km = _keras_model(specs, shape)
    _randomize_keras(km, rng)
    km.save_weights(tmp_path / "k.weights.h5")
    model = _ccnn_model(specs, shape)
    model.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_allclose(model.predict(x), _keras_predict(km, x), atol=TOL, rtol=0)
    # ccnn -> keras, through Sequential.save_weights
    _randomize_ccnn(model, rng)
    model.save_weights(str(tmp_path / "c.weights.h5"))
    km2 = _keras_model(specs, shape)
    km2.load_weights(tmp_path / "c.weights.h5")
    np.testing.assert_allclose(_keras_predict(km2, x), model.predict(x), atol=TOL, rtol=0)


def _book_keras():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        KL.Conv2D(10, (3, 3), activation="relu", padding="same"),
        KL.MaxPooling2D((2, 2)), KL.Flatten(), KL.Dropout(0.5),
        KL.Dense(100, activation="relu"), KL.Dense(10, activation="softmax")])


def _modern_keras(dropout=0.3):
    layers = [keras.Input((12, 12, 1))]
    for filters in (8, 16):
        layers += [KL.Conv2D(filters, 3, padding="same", use_bias=False),
                   KL.BatchNormalization(), KL.ReLU()]
    layers += [KL.GlobalAveragePooling2D()]
    if dropout:
        layers += [KL.Dropout(dropout)]
    layers += [KL.Dense(10, activation="softmax")]
    return keras.Sequential(layers)


def _data(shape, n, rng):
    x = rng.standard_normal((n,) + shape).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


@pytest.mark.parametrize("which", ["book", "modern"])
def test_compiled_keras_model_trains_in_ccnn(which, tmp_path):
    rng = np.random.default_rng(3)
    km = _book_keras() if which == "book" else _modern_keras()
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003),
               loss="categorical_crossentropy", metrics=["accuracy"])
    shape = (28, 28, 1) if which == "book" else (12, 12, 1)
    x, y = _data(shape, 16, rng)
    km.fit(x, y, epochs=1, batch_size=8, verbose=0)     # moving statistics away from 0/1
    km.save(tmp_path / "m.keras")
    model = load_keras_file(tmp_path / "m.keras")
    assert model.compiled
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.003)
    assert type(model.loss).__name__ == "CategoricalCrossentropy"
    k_loss, k_acc = km.evaluate(x, y, verbose=0)
    c_loss, c_acc = model.evaluate(x, y, verbose=0)
    assert c_loss == pytest.approx(k_loss, abs=1e-5)
    assert c_acc == pytest.approx(k_acc)
    before = model.get_weights()
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_compiled_adam_step_matches_keras(tmp_path):
    """The optimizer settings read from compile_config give Keras's update."""
    rng = np.random.default_rng(4)
    km = _modern_keras(dropout=0)
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, beta_1=0.8, epsilon=1e-6),
               loss="categorical_crossentropy")
    x, y = _data((12, 12, 1), 8, rng)
    km.save(tmp_path / "m.keras")
    model = load_keras_file(tmp_path / "m.keras")
    km.train_on_batch(x, y)
    model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=1e-4, rtol=1e-4)


def test_compile_false_and_ccnn_compiled_into_keras(tmp_path):
    rng = np.random.default_rng(5)
    km = _book_keras()
    km.compile(optimizer="sgd", loss="categorical_crossentropy")
    km.save(tmp_path / "m.keras")
    assert not load_keras_file(tmp_path / "m.keras", compile=False).compiled
    model = _ccnn_model([("Flatten", {}), ("Dense", dict(units=10, activation="softmax"))],
                        (4, 4, 1))
    model.compile(optimizer=ccnn.optimizers.RMSprop(learning_rate=0.002),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    save_keras_file(model, tmp_path / "c.keras")
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    assert type(km2.optimizer).__name__ == "RMSprop"
    assert float(km2.optimizer.learning_rate) == pytest.approx(0.002)
    x, y = _data((4, 4, 1), 8, rng)
    k_loss = km2.evaluate(x, y, verbose=0)[0]
    assert k_loss == pytest.approx(model.evaluate(x, y, verbose=0)[0], abs=1e-5)
    km2.fit(x, y, epochs=1, verbose=0)


def test_keras_file_layout(tmp_path):
    """config.json / metadata.json / model.weights.h5 as Keras 3 writes them."""
    model = _ccnn_model([("Conv2D", dict(filters=2, kernel_size=3)), ("Conv2D",
                         dict(filters=2, kernel_size=1)), ("Flatten", {})], (5, 5, 1))
    save_keras_file(model, tmp_path / "c.keras")
    km = _keras_model([("Conv2D", dict(filters=2, kernel_size=3)), ("Conv2D",
                       dict(filters=2, kernel_size=1)), ("Flatten", {})], (5, 5, 1))
    km.save(tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "c.keras") as zc, zipfile.ZipFile(tmp_path / "k.keras") as zk:
        assert sorted(zc.namelist()) == sorted(zk.namelist())
        cc, kc = json.loads(zc.read("config.json")), json.loads(zk.read("config.json"))
        assert set(cc) == set(kc)
        for a, b in zip(cc["config"]["layers"], kc["config"]["layers"]):
            assert set(a) == set(b)
            assert a["class_name"] == b["class_name"]
        conv_c, conv_k = cc["config"]["layers"][1]["config"], kc["config"]["layers"][1]["config"]
        assert conv_c["kernel_initializer"]["class_name"] == "GlorotUniform"
        assert conv_c["dtype"]["class_name"] == conv_k["dtype"]["class_name"]
        for name in ("c", "k"):
            (tmp_path / name).mkdir()
        zc.extract("model.weights.h5", tmp_path / "c")
        zk.extract("model.weights.h5", tmp_path / "k")

    def datasets(p):
        out = {}
        with h5py.File(p) as f:
            f.visititems(lambda n, o: out.__setitem__(n, o.shape)
                         if isinstance(o, h5py.Dataset) else None)
        return out
    assert datasets(tmp_path / "c" / "model.weights.h5") == \
        datasets(tmp_path / "k" / "model.weights.h5")


def _keras_dense_graph():
    inp = keras.Input((6,))
    hidden = KL.Dense(4, activation="relu")(inp)
    return keras.Model(inp, KL.Dense(3)(hidden)), [(4, 6)]


def _keras_residual_graph():
    inp = keras.Input((8, 8, 3))
    x = KL.Conv2D(4, 3, padding="same", use_bias=False)(inp)
    x = KL.BatchNormalization()(x)
    x = KL.Activation("relu")(x)
    y = KL.Conv2D(4, 3, padding="same")(x)
    x = KL.Activation("relu")(KL.Add()([x, y]))
    p = KL.Conv2D(6, 1, strides=2)(x)                       # projection shortcut
    z = KL.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    x = KL.GlobalAveragePooling2D()(KL.Add()([p, z]))
    return keras.Model(inp, KL.Dense(5, activation="softmax")(x)), [(3, 8, 8, 3)]


def _keras_two_by_two_graph():
    a = keras.Input((6, 6, 1), name="image")
    b = keras.Input((4,), name="meta")
    x = KL.Flatten()(KL.Conv2D(2, 3, activation="relu")(a))
    shared = KL.Dense(3, activation="tanh")
    x = KL.Concatenate()([x, shared(b), shared(KL.Dense(4)(b))])
    cls = KL.Dense(3, activation="softmax", name="cls")(x)
    reg = KL.Dense(1, name="reg")(KL.Multiply()([x, x]))
    return keras.Model([a, b], [cls, reg]), [(5, 6, 6, 1), (5, 4)]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("make", [_keras_dense_graph, _keras_residual_graph,
                                  _keras_two_by_two_graph],
                         ids=["dense", "residual", "two_inputs_two_outputs"])
def test_functional_keras_file(tmp_path, make):
    """A functional Keras model's .keras file loads as a ccnn.Model that
    predicts as Keras does, and written back by ccnn loads in Keras alike."""
    km, shapes = make()
    rng = np.random.default_rng(6)
    for w in km.weights:             # moving statistics away from 0 / 1, too
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    km.save(tmp_path / "f.keras")
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    x = xs if len(xs) > 1 else xs[0]
    want = [keras.ops.convert_to_numpy(o) for o in _as_list(km(x, training=False))]
    model = load_keras_file(tmp_path / "f.keras")
    assert isinstance(model, ccnn.Model)
    for got, w in zip(_as_list(model.predict(x, verbose=0)), want, strict=True):
        np.testing.assert_allclose(got, w, atol=TOL, rtol=1e-5)
    save_keras_file(model, tmp_path / "c.keras")
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    for got, w in zip(_as_list(km2(x, training=False)), want, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), w, atol=TOL, rtol=1e-5)


def test_unsupported_layer_is_named(tmp_path):
    km = keras.Sequential([keras.Input((5, 3)), KL.LSTM(4), KL.Dense(2),
                           KL.Embedding(4, 2)])
    km.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Embedding, LSTM"):
        load_keras_file(tmp_path / "m.keras")


def test_unsupported_argument_is_named(tmp_path):
    km = keras.Sequential([keras.Input((5,)), KL.Dense(
        2, kernel_constraint=keras.constraints.NonNeg())])
    km.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="kernel_constraint"):
        load_keras_file(tmp_path / "m.keras")
    km = keras.Sequential([keras.Input((5,)), KL.Dense(
        2, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))])
    km.save(tmp_path / "n.keras")
    with pytest.raises(ValueError, match="stddev"):
        load_keras_file(tmp_path / "n.keras")


def test_corrupt_and_truncated_files(tmp_path):
    km = _keras_model([("Dense", dict(units=3))], (4,))
    km.save(tmp_path / "m.keras")
    km.save_weights(tmp_path / "m.weights.h5")
    data = (tmp_path / "m.keras").read_bytes()
    for i, cut in enumerate((10, len(data) // 2, len(data) - 30)):
        (tmp_path / f"t{i}.keras").write_bytes(data[:cut])
        with pytest.raises(ValueError):
            load_keras_file(tmp_path / f"t{i}.keras")
    h5 = (tmp_path / "m.weights.h5").read_bytes()
    (tmp_path / "t.weights.h5").write_bytes(h5[: len(h5) // 2])
    model = _ccnn_model([("Dense", dict(units=3))], (4,))
    with pytest.raises(ValueError):
        model.load_weights(str(tmp_path / "t.weights.h5"))
    (tmp_path / "x.weights.h5").write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(ValueError):
        load_weights_h5(model, tmp_path / "x.weights.h5")
    # the wrong architecture: nothing changes
    before = model.get_weights()
    other = _keras_model([("Dense", dict(units=5))], (4,))
    other.save_weights(tmp_path / "o.weights.h5")
    with pytest.raises(ValueError, match="dense"):
        model.load_weights(str(tmp_path / "o.weights.h5"))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_external_link_is_not_followed(tmp_path):
    model = _ccnn_model([("Dense", dict(units=3))], (4,))
    save_weights_h5(model, tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink("elsewhere.h5", "/data")
    with pytest.raises(ValueError, match="ExternalLink"):
        load_weights_h5(model, tmp_path / "m.weights.h5")


def test_save_is_atomic_and_checks_suffix(tmp_path):
    model = _ccnn_model([("Dense", dict(units=3))], (4,))
    with pytest.raises(ValueError, match="weights.h5"):
        save_weights_h5(model, tmp_path / "m.h5")
    save_keras_file(model, tmp_path / "m.keras")
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]
    unbuilt = Sequential([cl.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        save_keras_file(unbuilt, tmp_path / "u.keras")


def test_missing_h5py_says_how_to_install(tmp_path, monkeypatch):
    model = _ccnn_model([("Dense", dict(units=3))], (4,))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r'ccnn\[keras-files\]'):
        save_keras_file(model, tmp_path / "m.keras")
    with pytest.raises(ImportError, match=r'ccnn\[keras-files\]'):
        model.save_weights(str(tmp_path / "m.weights.h5"))


OPTIMIZERS = [
    lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: keras.optimizers.RMSprop(0.01, rho=0.8, centered=True),
    lambda: keras.optimizers.AdamW(0.002, weight_decay=0.01, clipnorm=1.0),
    lambda: keras.optimizers.Adagrad(0.05),
    lambda: keras.optimizers.Adadelta(0.5, rho=0.9),
    lambda: keras.optimizers.Adamax(0.004),
    lambda: keras.optimizers.Nadam(0.003, beta_2=0.99),
    lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.01, 100, 0.9)),
]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=[str(i) for i in range(len(OPTIMIZERS))])
def test_optimizer_config_both_ways(make, tmp_path):
    """Keras -> ccnn -> Keras keeps every optimizer setting."""
    km = _keras_model([("Dense", dict(units=3, activation="softmax"))], (4,))
    km.compile(optimizer=make(), loss="categorical_crossentropy", metrics=["accuracy"])
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    assert type(model.optimizer).__name__ == type(km.optimizer).__name__
    save_keras_file(model, tmp_path / "c.keras")
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    want, got = km.optimizer.get_config(), km2.optimizer.get_config()
    assert type(km2.optimizer).__name__ == type(km.optimizer).__name__
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6), key
        elif key != "learning_rate":
            assert got[key] == value, key
    lr = want["learning_rate"]
    if isinstance(lr, dict):
        assert got["learning_rate"]["config"] == lr["config"]


LOSSES = [
    (lambda: keras.losses.CategoricalCrossentropy(label_smoothing=0.1), "onehot"),
    (lambda: "categorical_crossentropy", "onehot"),
    (lambda: keras.losses.CategoricalCrossentropy(from_logits=True), "onehot"),
    (lambda: "sparse_categorical_crossentropy", "sparse"),
    (lambda: keras.losses.MeanSquaredError(), "onehot"),
    (lambda: "mae", "onehot"),
    (lambda: keras.losses.KLDivergence(), "onehot"),
    (lambda: keras.losses.CategoricalHinge(), "onehot"),
]


@pytest.mark.parametrize("make,targets", LOSSES, ids=[str(i) for i in range(len(LOSSES))])
def test_loss_and_metrics_from_keras_file(make, targets, tmp_path):
    """The loss and metrics read from compile_config evaluate as Keras's."""
    rng = np.random.default_rng(7)
    km = _keras_model([("Dense", dict(units=4, activation="softmax"))], (5,))
    km.compile(optimizer="adam", loss=make(),
               metrics=["mae", keras.metrics.TopKCategoricalAccuracy(k=2)]
               if targets == "onehot" else ["accuracy"])
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    x = rng.standard_normal((16, 5)).astype(np.float32)
    labels = rng.integers(0, 4, 16)
    y = np.eye(4, dtype=np.float32)[labels] if targets == "onehot" else labels
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_keras_model_built_without_input(tmp_path):
    km = keras.Sequential([KL.Dense(3, activation="relu"), KL.Dense(2)])
    km.build((None, 4))
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    x = np.random.default_rng(8).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _keras_predict(km, x), atol=TOL, rtol=0)


@pytest.mark.parametrize("layer,arg", [
    (lambda: KL.BatchNormalization(renorm=True), "renorm"),
    (lambda: KL.LayerNormalization(rms_scaling=True), "rms_scaling"),
    (lambda: KL.Conv2D(2, 3, bias_constraint=keras.constraints.NonNeg()), "bias_constraint"),
    (lambda: KL.Conv2D(2, 3, kernel_initializer="orthogonal"), "Orthogonal"),
    (lambda: KL.Dropout(0.5, noise_shape=(None, 1, 1, 3)), "noise_shape"),
    (lambda: KL.Dense(2, dtype="float16"), "float16"),
])
def test_unsupported_arguments_are_named(layer, arg, tmp_path):
    km = keras.Sequential([keras.Input((4, 4, 3)), layer()])
    km.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=arg):
        load_keras_file(tmp_path / "m.keras")


def test_adapted_normalization_both_ways(tmp_path):
    """Normalization's adapted mean / variance / count (an int32 scalar) travel."""
    x = (np.random.default_rng(9).standard_normal((20, 3, 2)) * 3 + 1).astype(np.float32)
    layer = KL.Normalization()
    layer.adapt(x)
    km = keras.Sequential([keras.Input((3, 2)), layer])
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    np.testing.assert_allclose(model.predict(x), _keras_predict(km, x), atol=TOL, rtol=0)
    save_keras_file(model, tmp_path / "c.keras")
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(_keras_predict(km2, x), model.predict(x), atol=TOL, rtol=0)


def test_damaged_files_are_value_errors(tmp_path):
    """Random byte changes in a .keras or .weights.h5 file: it loads (HDF5 has
    no checksums) or is a ValueError -- never another exception."""
    specs = [("Conv2D", dict(filters=3, kernel_size=3)), ("BatchNormalization", {}),
             ("Flatten", {}), ("Dense", dict(units=2))]
    km = _keras_model(specs, (6, 6, 2))
    km.compile(optimizer="adam", loss="mse")
    km.train_on_batch(np.ones((2, 6, 6, 2), np.float32), np.ones((2, 2), np.float32))
    km.save(tmp_path / "m.keras")                 # with the optimizer's state
    km.save_weights(tmp_path / "m.weights.h5")
    rng = np.random.default_rng(10)

    def load_weights(p):
        model = _ccnn_model(specs, (6, 6, 2))
        model.compile(optimizer="adam", loss="mse")
        model.load_weights(p)
    for name, load in (("m.keras", load_keras_file), ("m.weights.h5", load_weights)):
        data = (tmp_path / name).read_bytes()
        target = tmp_path / ("bad_" + name)
        for _ in range(150):
            damaged = bytearray(data)
            for _ in range(int(rng.integers(1, 8))):
                damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
            target.write_bytes(bytes(damaged))
            try:
                load(str(target))
            except ValueError:
                pass


def _small_cnn(keras_side):
    # no conv bias: before BatchNormalization its gradient is rounding noise, which
    # Adam-like optimizers blow up to a full step (in Keras as in ccnn)
    specs = [("Conv2D", dict(filters=4, kernel_size=3, use_bias=False)),
             ("BatchNormalization", {}),
             ("ReLU", {}), ("GlobalAveragePooling2D", {}),
             ("Dense", dict(units=3, activation="softmax"))]
    return (_keras_model if keras_side else _ccnn_model)(specs, (6, 6, 2))


CCNN_OPTIMIZERS = [
    lambda: ccnn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: ccnn.optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
    lambda: ccnn.optimizers.AdamW(0.01, weight_decay=0.01),
    lambda: ccnn.optimizers.Adam(0.01, amsgrad=True),
    lambda: ccnn.optimizers.Adagrad(0.05),
    lambda: ccnn.optimizers.Adadelta(0.5, rho=0.9),
    lambda: ccnn.optimizers.Adamax(0.004),
    lambda: ccnn.optimizers.Nadam(0.003, beta_2=0.99),
]


def _one_more_step_each(km, model, x, y):
    km.train_on_batch(x, y)
    model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), atol=2e-5, rtol=2e-4)


@pytest.mark.parametrize("index", range(len(OPTIMIZERS)))
def test_optimizer_state_from_keras_resumes_exactly(index, tmp_path):
    """A Keras model trained two steps, saved, loaded compiled in ccnn: one
    more step on each side gives the same weights (the moments travelled)."""
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), \
        np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    km = _small_cnn(True)
    km.compile(optimizer=OPTIMIZERS[index](), loss="categorical_crossentropy")
    km.train_on_batch(x, y)
    km.train_on_batch(x, y)
    km.save(tmp_path / "k.keras")
    model = load_keras_file(tmp_path / "k.keras")
    assert model.optimizer.iterations == 2
    _one_more_step_each(km, model, x, y)


@pytest.mark.parametrize("index", range(len(CCNN_OPTIMIZERS)))
def test_optimizer_state_into_keras_resumes_exactly(index, tmp_path):
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), \
        np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    model = _small_cnn(False)
    model.compile(optimizer=CCNN_OPTIMIZERS[index](), loss="categorical_crossentropy")
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    save_keras_file(model, tmp_path / "c.keras")
    km = keras.saving.load_model(tmp_path / "c.keras")
    assert int(km.optimizer.iterations) == 2
    _one_more_step_each(km, model, x, y)
    # and through .weights.h5 into a Keras model compiled alike
    model.save_weights(str(tmp_path / "c.weights.h5"))
    km2 = _small_cnn(True)
    km2.compile(optimizer=keras.optimizers.deserialize(
        keras.optimizers.serialize(km.optimizer)), loss="categorical_crossentropy")
    km2.optimizer.build(km2.trainable_variables)
    km2.load_weights(tmp_path / "c.weights.h5")
    _one_more_step_each(km2, model, x, y)


def test_multi_output_compile_config_both_ways(tmp_path):
    """Per-output losses, metrics and loss_weights travel as Keras writes them
    (dicts keyed by output name): Keras -> ccnn, and ccnn -> Keras -> ccnn."""
    a = keras.Input((4,), name="a")
    x = KL.Dense(3)(a)
    km = keras.Model(a, [KL.Dense(3, activation="softmax", name="cls")(x),
                         KL.Dense(1, name="reg")(x)])
    km.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
               loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    km.save(tmp_path / "k.keras")
    model = ccnn.models.load_model(tmp_path / "k.keras")
    assert [type(v).__name__ for v in model._losses] == ["SparseCategoricalCrossentropy",
                                                         "MeanSquaredError"]
    assert model._loss_weights == [1.0, 0.5]
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((8, 4)).astype(np.float32), [rng.integers(0, 3, 8),
                                                               rng.standard_normal((8, 1))]
    want = km.evaluate(xs, ys, verbose=0, return_dict=True)
    got = model.evaluate(xs, ys, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k
    model.save(tmp_path / "c.keras")
    compile_config = json.loads(zipfile.ZipFile(tmp_path / "c.keras").read("config.json")
                                )["compile_config"]
    assert set(compile_config["loss"]) == {"cls", "reg"}
    assert compile_config["loss_weights"] == {"cls": 1.0, "reg": 0.5}
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    want2 = km2.evaluate(xs, ys, verbose=0, return_dict=True)
    for k in want:
        assert want2[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k
    again = ccnn.models.load_model(tmp_path / "c.keras")
    assert again._loss_weights == [1.0, 0.5] and again.metrics == model.metrics


def test_single_output_compile_config_both_ways(tmp_path):
    """A compiled one-output functional model: its loss travels as one
    serialized loss (Keras's {"module", "class_name", "config"} dict), which
    Keras and ccnn both read back as that loss, not as a dict of outputs."""
    def build(lib):
        L = KL if lib is keras else cl
        a = lib.Input((4,))
        return lib.Model(a, L.Dense(3, activation="softmax")(L.Dense(5, activation="relu")(a)))
    km = build(keras)
    km.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(),
               metrics=["accuracy"])
    km.save(tmp_path / "k.keras")
    model = ccnn.models.load_model(tmp_path / "k.keras")
    assert type(model.loss).__name__ == "SparseCategoricalCrossentropy"
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.integers(0, 3, 8)
    want = km.evaluate(x, y, verbose=0, return_dict=True)
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k
    # ccnn -> ccnn and ccnn -> Keras, after a training step
    model.train_on_batch(x, y)
    model.save(tmp_path / "c.keras")
    loss = json.loads(zipfile.ZipFile(tmp_path / "c.keras").read("config.json")
                      )["compile_config"]["loss"]
    assert loss["class_name"] == "SparseCategoricalCrossentropy"
    again = ccnn.models.load_model(tmp_path / "c.keras")
    assert type(again.loss).__name__ == "SparseCategoricalCrossentropy"
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert again.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    km2 = keras.saving.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(km2(x)), model.predict(x, verbose=0),
                               atol=TOL, rtol=1e-5)
