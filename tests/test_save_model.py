"""Whole-model files: model.save / ccnn.models.load_model in ccnn's own
format (ccnn.saving.ccnn_format), model.to_json / model_from_json,
clone_model.  A loaded model predicts what the saved one did and trains on
bit for bit as it would; the file itself is read back with NumPy's own
reader (np.load on each member) as the independent reference for what it
holds; a damaged or hostile file is only ever a ValueError."""

import io
import json
import os
import sys
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ccnn
from ccnn import Sequential, optimizers
from ccnn.layers import (BatchNormalization, Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D,
                         Dropout, Flatten, GlobalAveragePooling2D, Layer, LayerNormalization,
                         MaxPooling2D, PReLU, SeparableConv2D)
from ccnn.models import clone_model, load_model, model_from_json
from ccnn.saving import ccnn_format
from ccnn.utils import set_random_seed, to_categorical


# ---------------------------------------------------------------- models and data
def book_model(dtype="float32"):
    """The book's model (README), on 28x28 images."""
    return Sequential([Conv2D(10, (3, 3), activation="relu", padding="same",
                              input_shape=(28, 28, 1), dtype=dtype),
                       MaxPooling2D((2, 2), dtype=dtype), Flatten(dtype=dtype),
                       Dropout(0.5, dtype=dtype), Dense(100, activation="relu", dtype=dtype),
                       Dense(10, activation="softmax", dtype=dtype)])


def conv_family_model(dtype="float32"):
    """BatchNormalization, seeded Dropout and the conv family."""
    return Sequential([Conv2D(6, 3, padding="same", input_shape=(10, 10, 2), dtype=dtype),
                       BatchNormalization(dtype=dtype), PReLU(dtype=dtype),
                       DepthwiseConv2D(3, depth_multiplier=2, dtype=dtype),
                       SeparableConv2D(5, 3, padding="same", activation="relu", dtype=dtype),
                       Conv2DTranspose(4, 2, strides=2, dtype=dtype),
                       LayerNormalization(dtype=dtype), Dropout(0.3, seed=11, dtype=dtype),
                       GlobalAveragePooling2D(dtype=dtype),
                       Dense(5, activation="softmax", dtype=dtype)])


def small_model(dtype="float32", seeded_dropout=True):
    return Sequential([Conv2D(4, 3, activation="relu", padding="same", input_shape=(8, 8, 1),
                              dtype=dtype),
                       BatchNormalization(dtype=dtype), MaxPooling2D(2, dtype=dtype),
                       Flatten(dtype=dtype),
                       Dropout(0.25, seed=5 if seeded_dropout else None, dtype=dtype),
                       Dense(12, activation="relu", dtype=dtype), Dropout(0.2, dtype=dtype),
                       Dense(5, activation="softmax", dtype=dtype)])


def data(shape, classes, n=24, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape).astype(dtype)
    return x, to_categorical(rng.integers(0, classes, n), classes)


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype and np.array_equal(u, v)


def members(path):
    """Every .npy member of a model file, read by NumPy's own reader."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".npy"):
                out[name[:-4]] = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
        manifest = json.loads(zf.read("manifest.json"))
    return out, manifest


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("make, shape, classes, dtype", [
    (book_model, (28, 28, 1), 10, "float32"),
    (conv_family_model, (10, 10, 2), 5, "float32"),
    (conv_family_model, (10, 10, 2), 5, "float64"),
    (book_model, (28, 28, 1), 10, "float64"),
])
def test_round_trip_gives_the_same_model(tmp_path, make, shape, classes, dtype):
    set_random_seed(0)
    model = make(dtype)
    x, y = data(shape, classes, dtype=dtype)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)      # BN statistics move
    path = tmp_path / "m.ccnn"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is Sequential and loaded.compiled
    assert loaded.get_config() == model.get_config()
    assert_same_weights(model, loaded)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.predict(x).dtype == np.dtype(dtype)
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    # the file holds Keras's layout, as get_weights gives it (read by np.load)
    arrays, manifest = members(path)
    weights = [arrays[k] for k in arrays if k.startswith("weights/")]
    assert len(weights) == len(model.get_weights())
    for got, want in zip(weights, model.get_weights()):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert manifest["format"] == "ccnn.model" and manifest["ccnn_version"] == ccnn.__version__
    assert manifest["model"]["config"] == json.loads(json.dumps(model.get_config()))


def test_file_names_follow_save_weights(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.ccnn")
    model.save_weights(tmp_path / "w.npz")
    arrays, manifest = members(tmp_path / "m.ccnn")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as w:
        npz = {k: w[k] for k in w.files if "/" in k}
    assert {"weights/" + k for k in npz} == {k for k in arrays if k.startswith("weights/")}
    for k, a in npz.items():
        assert np.array_equal(arrays["weights/" + k], a)
    assert set(manifest["arrays"]) == set(arrays)
    assert manifest["compile_config"] is None       # never compiled


# ---------------------------------------------------------------- training goes on
OPTIMIZERS = {
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam_schedule": lambda: optimizers.Adam(
        learning_rate=optimizers.schedules.ExponentialDecay(0.02, decay_steps=2,
                                                            decay_rate=0.5)),
    "sgd_cosine_clip": lambda: optimizers.SGD(
        learning_rate=optimizers.schedules.CosineDecay(0.1, decay_steps=10),
        momentum=0.5, clipnorm=1.0),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.3, centered=True),
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
}


def optimizer_state(model):
    return model.optimizer.get_state(model._params_in_order())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_loaded_model_trains_on_bit_for_bit(tmp_path, name):
    set_random_seed(1)
    model = small_model()
    model.compile(optimizer=OPTIMIZERS[name](), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    batches = [data((8, 8, 1), 5, n=8, seed=s) for s in range(6)]
    for x, y in batches[:3]:
        model.train_on_batch(x, y)
    model.save(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn")
    assert loaded.optimizer is not model.optimizer
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    logs = []
    for m in (model, loaded):
        set_random_seed(123)                      # the unseeded Dropout's masks
        out = [m.train_on_batch(x, y) for x, y in batches[3:]]
        set_random_seed(7)                        # fit's shuffling
        hist = m.fit(*data((8, 8, 1), 5, n=20, seed=9), batch_size=6, epochs=2, verbose=0)
        logs.append((out, hist.history))
    assert logs[0] == logs[1]
    assert_same_weights(model, loaded)
    a, b = optimizer_state(model), optimizer_state(loaded)
    assert sorted(a) == sorted(b) and len(a) > 2
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
    assert model.optimizer.iterations == loaded.optimizer.iterations == 3 + 3 + 2 * 4


def test_the_seeded_dropout_goes_on_with_its_own_generator(tmp_path):
    """The state of a seeded Dropout's generator is in the file: a model
    rebuilt from the config alone would draw the masks from the start again."""
    set_random_seed(2)
    model = small_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = data((8, 8, 1), 5, n=8)
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn")
    fresh = Sequential.from_config(model.get_config())
    for m in (model, loaded, fresh):
        m.build((None, 8, 8, 1))
    drop = [m.layers[4] for m in (model, loaded, fresh)]
    masks = [d.rng.random(5) for d in drop]
    assert np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[0], masks[2])


# ---------------------------------------------------------------- what is restored
def test_uncompiled_model_loads_uncompiled(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn")
    assert not loaded.compiled and loaded.optimizer is None
    assert_same_weights(model, loaded)


def test_compile_false_skips_the_compile_config(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["mae"])
    model.train_on_batch(*data((8, 8, 1), 5, n=4))
    model.save(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn", compile=False)
    assert not loaded.compiled and loaded.optimizer is None
    assert_same_weights(model, loaded)
    again = load_model(tmp_path / "m.ccnn")
    assert again.compiled and again.metrics_names == ["loss", "mae"]
    assert again.get_compile_config() == model.get_compile_config()


def test_unbuilt_and_late_built_models(tmp_path):
    unbuilt = Sequential([Dense(3), Dense(2, activation="softmax")])
    unbuilt.compile(optimizer="sgd", loss="mse")
    unbuilt.save(tmp_path / "u.ccnn")
    loaded = load_model(tmp_path / "u.ccnn")
    assert not loaded.built and loaded.compiled
    late = Sequential([Dense(3), Dense(2)])
    late.build((None, 7))                       # built without an input_shape
    late.save(tmp_path / "b.ccnn")
    loaded = load_model(tmp_path / "b.ccnn")
    assert loaded.built and loaded.input_shape == (None, 7)
    assert_same_weights(late, loaded)


def test_overwrite(tmp_path):
    path = tmp_path / "m.ccnn"
    small_model().save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        small_model(seeded_dropout=False).save(path, overwrite=False)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.ccnn"]
    small_model(seeded_dropout=False).save(tmp_path / "new.ccnn", overwrite=False)
    load_model(tmp_path / "new.ccnn")
    small_model(seeded_dropout=False).save(path)            # overwrite=True replaces
    assert path.read_bytes() != before


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.ccnn"
    small_model().save(path)
    before = path.read_bytes()
    calls = []
    real = np.lib.format.write_array

    def failing(f, a, *args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(f, a, *args, **kw)
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        small_model(seeded_dropout=False).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.ccnn"]         # no temporary file left


def test_save_and_load_do_not_touch_the_users_arrays(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = data((8, 8, 1), 5, n=8)
    x0, y0 = x.copy(), y.copy()
    model.train_on_batch(x, y)
    weights, state = model.get_weights(), optimizer_state(model)
    live = model.weights
    model.save(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn")
    assert_same_weights(model, loaded)
    for a, b in zip(weights, model.get_weights()):
        assert np.array_equal(a, b)
    for k, a in optimizer_state(model).items():
        assert np.array_equal(a, state[k])
    assert all(a is b for a, b in zip(live, model.weights))
    assert not any(np.shares_memory(a, b) for a in model.weights for b in loaded.weights)
    loaded.train_on_batch(x, y)
    for a, b in zip(weights, model.get_weights()):
        assert np.array_equal(a, b)                  # training the copy leaves the original
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


# ---------------------------------------------------------------- custom objects
class Scale(Layer):
    """A layer of the user's own: y = x * w, one weight per feature."""

    def build(self, input_shape):
        super().build(input_shape)
        self.params["w"] = np.full(input_shape[-1], 1.5, dtype=self.dtype)

    def forward(self, x, training=False):
        self.x = x
        return x * self.params["w"]

    def backward(self, dout):
        self.grads["w"] = (dout * self.x).reshape(-1, dout.shape[-1]).sum(0)
        return dout * self.params["w"]


def doubled_error(y_true, y_pred):
    return 2 * np.mean(np.abs(y_true - y_pred), axis=-1)


def test_custom_objects(tmp_path):
    model = Sequential([Dense(4, input_shape=(3,)), Scale(), Dense(2)])
    model.layers[1].params["w"][:] = [1, 2, 3, 4]
    model.compile(optimizer="sgd", loss="mse", metrics=[doubled_error])
    model.save(tmp_path / "m.ccnn")
    with pytest.raises(ValueError, match="Unknown layer class 'Scale'.*custom_objects"):
        load_model(tmp_path / "m.ccnn")
    loaded = load_model(tmp_path / "m.ccnn",
                        custom_objects={"Scale": Scale, "doubled_error": doubled_error})
    assert type(loaded.layers[1]) is Scale
    assert_same_weights(model, loaded)
    x, y = np.ones((2, 3), "float32"), np.zeros((2, 2), "float32")
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    with ccnn.saving.custom_object_scope({"Scale": Scale, "doubled_error": doubled_error}):
        assert type(load_model(tmp_path / "m.ccnn").layers[1]) is Scale


def test_a_lambda_metric_cannot_be_saved(tmp_path):
    model = small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=[lambda t, p: np.abs(t - p)])
    with pytest.raises(ValueError, match="cannot be saved by name"):
        model.save(tmp_path / "m.ccnn")
    assert not (tmp_path / "m.ccnn").exists()


# ---------------------------------------------------------------- JSON, clones
def test_to_json_and_model_from_json():
    model = conv_family_model()
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    again = model_from_json(text)
    assert again.get_config() == model.get_config() and not again.compiled
    assert again.count_params() == model.count_params()
    for bad in ("{", "[]", '{"class_name": "Sequential"}', '{"class_name": "Os", "config": {}}',
                '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Eval"}]}}',
                "[" * 100_000):
        with pytest.raises(ValueError):
            model_from_json(bad)


def test_keras_model_json_goes_to_keras_format(monkeypatch):
    calls = []
    fake = type(sys)("ccnn.saving.keras_format")
    fake.model_from_keras_config = lambda d, source: calls.append((d["class_name"], source))
    monkeypatch.setitem(sys.modules, "ccnn.saving.keras_format", fake)
    model_from_json('{"module": "keras", "class_name": "Sequential", "config": {}}')
    assert calls == [("Sequential", "json_string")]
    monkeypatch.setitem(sys.modules, "ccnn.saving.keras_format", None)
    with pytest.raises(ImportError, match=r"ccnn\[keras-files\]"):
        model_from_json('{"module": "keras", "class_name": "Sequential", "config": {}}')


def test_model_from_keras_json():
    """A Keras 3 model's own to_json is read (keras as the reference); needs
    ccnn.saving.keras_format (the Keras-files work, merged separately)."""
    pytest.importorskip("ccnn.saving.keras_format")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                           keras.layers.Dense(3, activation="softmax")])
    ours = model_from_json(km.to_json())
    assert [type(layer).__name__ for layer in ours.layers] == ["Dense", "Dense"]
    assert ours.built and ours.input_shape == (None, 6)
    ours.set_weights(km.get_weights())
    x = np.random.default_rng(0).standard_normal((5, 6)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_clone_model_has_new_weights():
    set_random_seed(0)
    model = conv_family_model()
    clone = clone_model(model)
    assert clone.get_config() == model.get_config() and clone.built
    assert not clone.compiled
    assert not any(np.array_equal(a, b) for a, b in zip(model.get_weights()[:1],
                                                        clone.get_weights()[:1]))


# ---------------------------------------------------------------- formats, dispatch
def test_format_is_decided_by_content(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.zip")
    (tmp_path / "m.keras").write_bytes((tmp_path / "m.zip").read_bytes())
    assert_same_weights(model, load_model(tmp_path / "m.keras"))     # ccnn's, by its manifest
    model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="weights file.*load_weights"):
        load_model(tmp_path / "w.npz")
    (tmp_path / "x.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="HDF5"):
        load_model(tmp_path / "x.h5")
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a zip"):
        load_model(tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.ccnn")


def _keras_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("metadata.json", "{}")
        zf.writestr("model.weights.h5", b"\x89HDF")


def test_keras_files_go_to_keras_format(tmp_path, monkeypatch):
    calls = []
    fake = type(sys)("ccnn.saving.keras_format")
    fake.save_keras_file = lambda model, path: calls.append(("save", path))
    fake.load_keras_file = lambda path, compile=True: calls.append(("load", path, compile))
    monkeypatch.setitem(sys.modules, "ccnn.saving.keras_format", fake)
    monkeypatch.setattr(ccnn.saving, "keras_format", fake, raising=False)
    small_model().save(tmp_path / "m.keras")
    _keras_zip(tmp_path / "k.bin")                       # a Keras zip, by its members
    load_model(tmp_path / "k.bin", compile=False)
    assert calls == [("save", str(tmp_path / "m.keras")),
                     ("load", str(tmp_path / "k.bin"), False)]


def test_keras_files_without_keras_format_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ccnn.saving.keras_format", None)
    monkeypatch.delattr(ccnn.saving, "keras_format", raising=False)
    with pytest.raises(ImportError, match=r'ccnn\[keras-files\].*\.ccnn'):
        small_model().save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
    _keras_zip(tmp_path / "k.keras")
    with pytest.raises(ImportError, match=r'ccnn\[keras-files\]'):
        load_model(tmp_path / "k.keras")


def test_bad_arguments(tmp_path):
    model = small_model()
    with pytest.raises(TypeError, match="filepath"):
        model.save(3)
    with pytest.raises(TypeError, match="model"):
        ccnn.saving.save_model(object(), tmp_path / "m.ccnn")
    with pytest.raises(TypeError, match="overwrite"):
        model.save(tmp_path / "m.ccnn", overwrite="no")
    model.save(tmp_path / "m.ccnn")
    with pytest.raises(TypeError, match="custom_objects"):
        load_model(tmp_path / "m.ccnn", custom_objects=[Scale])
    with pytest.raises(TypeError, match="compile"):
        load_model(tmp_path / "m.ccnn", compile="yes")


# ---------------------------------------------------------------- hostile files
def rewrite(path, out, manifest=None, drop=(), add=None, replace=None):
    """A copy of the model file `path` with its manifest / members changed."""
    with zipfile.ZipFile(path) as zf:
        items = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(out, "w") as zf:
        for name, raw in items:
            if name in drop:
                continue
            if name == "manifest.json" and manifest is not None:
                raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            if replace and name in replace:
                raw = replace[name]
            zf.writestr(name, raw)
        for name, raw in (add or {}).items():
            zf.writestr(name, raw)
    return out


def npy(a, **kw):
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def saved():
    with tempfile.TemporaryDirectory() as d:
        model = small_model()
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.train_on_batch(*data((8, 8, 1), 5, n=4))
        path = os.path.join(d, "m.ccnn")
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
        yield path, manifest, d


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_hostile_files_are_value_errors(saved, tmp_path):
    path, manifest, _ = saved
    out = str(tmp_path / "bad.ccnn")

    def fails(match, **kw):
        with pytest.raises(ValueError, match=match):
            load_model(rewrite(path, out, **kw))

    def changed(fn):
        m = json.loads(json.dumps(manifest))
        fn(m)
        return m
    fails("missing arrays.*layer0/bias", drop={"weights/layer0/bias.npy"})
    fails("members not in its manifest.*extra", add={"extra.npy": npy(np.zeros(2))})
    fails("pickle|dtype object|numbers only",
          replace={"weights/layer0/bias.npy": npy(np.array([{}] * 4, dtype=object),
                                                  allow_pickle=True)})
    fails("layer0/bias.*manifest says", replace={"weights/layer0/bias.npy": npy(np.zeros(5, "f4"))})
    fails("layer0/bias.*manifest says",
          replace={"weights/layer0/bias.npy": npy(np.zeros(4, "f8"))})
    # a header claiming a huge array in a small member: refused before reading
    fails(r"bytes, but its header says",
          manifest=changed(lambda m: m["arrays"]["weights/layer0/bias"].update(
              shape=[10**12])),
          replace={"weights/layer0/bias.npy": _npy_header_only((10**12,), "<f4")})
    fails("Unknown layer class 'Evil'",
          manifest=changed(lambda m: m["model"]["config"]["layers"][0].update(
              class_name="Evil")))
    fails("Unknown model class",
          manifest=changed(lambda m: m["model"].update(class_name="subprocess.Popen")))
    fails("do not match the model's config.*layer5/kernel",
          manifest=changed(lambda m: m["model"]["config"]["layers"][5]["config"].update(
              units=13)))
    fails("format version", manifest=changed(lambda m: m.update(format_version=2)))
    fails("format", manifest=changed(lambda m: m.update(format="keras")))
    fails("not valid JSON", manifest=b"{\"format\": ")
    fails("not valid JSON", manifest=b"[" * 200_000)
    fails("optimizer state.*not one of", add={"optimizer/0/zz.npy": npy(np.zeros(3, "f4"))},
          manifest=changed(lambda m: m["arrays"].update(
              {"optimizer/0/zz": {"shape": [3], "dtype": "<f4"}})))
    fails("optimizer state 'optimizer/0/m'|optimizer state '0/m'",
          replace={"optimizer/0/m.npy": npy(np.zeros((3, 3, 1, 5), "f4"))},
          manifest=changed(lambda m: m["arrays"].update(
              {"optimizer/0/m": {"shape": [3, 3, 1, 5], "dtype": "<f4"}})))
    fails("compile config cannot be applied",
          manifest=changed(lambda m: m["compile_config"].update(loss="no_such_loss")))
    fails("optimizer state but no compile config",
          manifest=changed(lambda m: m.update(compile_config=None)))
    fails("rng/layer4 is not the state of a random generator",
          replace={"rng/layer4.npy": npy(np.full(6, 2**40, dtype=np.uint64))})
    fails("two members of the same name", add={"manifest.json": b"{}"})
    fails("without ccnn's manifest.json", drop={"manifest.json"})


def _npy_header_only(shape, dtype):
    """A .npy file whose header promises `shape` but that holds no data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_manifest_size_is_capped(saved, tmp_path, monkeypatch):
    path, manifest, _ = saved
    monkeypatch.setattr(ccnn_format, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(ValueError, match="manifest is .* bytes"):
        load_model(path)


def _load_only_value_errors(path):
    try:
        load_model(path)
    except ValueError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_damaged_files_are_value_errors(saved, data):
    """Truncated files and flipped bytes: load_model succeeds or raises a
    ValueError, nothing else (and never crashes)."""
    path, _, d = saved
    raw = bytearray(open(path, "rb").read())
    how = data.draw(st.sampled_from(["truncate", "flip", "both"]))
    if how in ("truncate", "both"):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    if how in ("flip", "both") and raw:
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= data.draw(st.integers(1, 255))
    out = os.path.join(d, "fuzz.ccnn")
    with open(out, "wb") as f:
        f.write(raw)
    _load_only_value_errors(out)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() |
    st.text(max_size=12) | st.sampled_from(["Dense", "Sequential", "float64", "<f4", "relu"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_manifest_json_is_value_errors(saved, data):
    """The manifest changed as JSON (a value replaced anywhere, a key
    removed) or as text (bytes flipped): load_model succeeds or raises a
    ValueError."""
    path, manifest, d = saved
    m = json.loads(json.dumps(manifest))
    paths = [p for p in _paths(m) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        p = data.draw(st.sampled_from(paths))
        parent = m
        try:
            for k in p[:-1]:
                parent = parent[k]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                del parent[p[-1]]
            else:
                parent[p[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass                         # an earlier change removed the path
    text = bytearray(json.dumps(m).encode())
    if data.draw(st.booleans()):
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(text) - 1))
            text[i] = data.draw(st.integers(0, 255))
    out = rewrite(path, os.path.join(d, "fuzzm.ccnn"), manifest=bytes(text))
    _load_only_value_errors(out)


def test_readme_example_runs(tmp_path, monkeypatch):
    from test_readme import README, python_blocks, run_block
    monkeypatch.chdir(tmp_path)
    run_block(python_blocks(README, "Saving and loading whole models")[0], "README.md")
    assert (tmp_path / "m.ccnn").exists()


def test_one_load_model_and_registered_classes(tmp_path):
    assert ccnn.models.load_model is ccnn.saving.load_model
    registry = ccnn.saving.get_custom_objects()

    @ccnn.saving.register_keras_serializable(package="test_save_model")
    class Twice(Layer):
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, dout):
            return 2 * dout
    try:
        model = Sequential([Dense(3, input_shape=(2,)), Twice()])
        model.save(tmp_path / "m.ccnn")
        loaded = load_model(tmp_path / "m.ccnn")          # found without custom_objects
        assert type(loaded.layers[1]) is Twice
        x = np.ones((1, 2), "float32")
        assert np.array_equal(loaded.predict(x), model.predict(x))
    finally:
        registry.pop("test_save_model>Twice", None)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_array_members_are_value_errors(saved, data):
    """A .npy member changed behind a valid zip (its header or data bytes
    flipped, truncated or extended): load_model succeeds or raises a ValueError."""
    path, manifest, d = saved
    name = data.draw(st.sampled_from(sorted(manifest["arrays"]))) + ".npy"
    with zipfile.ZipFile(path) as zf:
        raw = bytearray(zf.read(name))
    how = data.draw(st.sampled_from(["flip_header", "flip", "truncate", "extend"]))
    if how == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif how == "extend":
        raw += bytes(data.draw(st.integers(1, 64)))
    else:
        hi = min(len(raw), 128) if how == "flip_header" else len(raw)
        for _ in range(data.draw(st.integers(1, 6))):
            i = data.draw(st.integers(0, hi - 1))
            raw[i] = data.draw(st.integers(0, 255))
    out = rewrite(path, os.path.join(d, "fuzza.ccnn"), replace={name: bytes(raw)})
    _load_only_value_errors(out)


def test_unparsable_npy_headers_are_value_errors(saved, tmp_path):
    """numpy's header parser raises SyntaxError / TokenError for some damaged
    headers (a NUL byte, an open parenthesis): whole-model and weights files
    both turn them into ValueErrors (the fuzzer above found these)."""
    path, manifest, _ = saved
    good = npy(np.zeros(4, "f4"))
    for bad in (good[:12] + b"\x00" + good[13:], good.replace(b"(4,)", b"((4,")):
        with pytest.raises(ValueError, match="header"):
            load_model(rewrite(path, str(tmp_path / "h.ccnn"),
                               replace={"weights/layer0/bias.npy": bad}))
        model = small_model()
        model.save_weights(tmp_path / "w.npz")
        with zipfile.ZipFile(tmp_path / "w.npz") as zf:
            items = {n: zf.read(n) for n in zf.namelist()}
        items["layer0/bias.npy"] = bad
        with zipfile.ZipFile(tmp_path / "w.npz", "w") as zf:
            for n, raw in items.items():
                zf.writestr(n, raw)
        with pytest.raises(ValueError, match="header"):
            model.load_weights(tmp_path / "w.npz")
