"""Functional models (ccnn.Model over ccnn.Input tensors) against the same
graphs in Keras 3 (torch backend), central differences for shared layers,
the feature-extractor snippet, configs in Keras's format, and bad input."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import ccnn
from ccnn import layers as L
from ccnn.layers.fused import SoftmaxCrossEntropy
from _testutils import central_differences, keras_or_skip


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def residual(lib, dtype="float32"):
    """A residual block: x + Dense(Dense(x)) then a softmax head."""
    Lb = lib.layers
    inp = lib.Input((6,), name="x", dtype=dtype)
    h = Lb.Dense(6, activation="relu", name="d1", dtype=dtype)(inp)
    h = Lb.Dense(6, name="d2", dtype=dtype)(h)
    s = Lb.Add(name="res", dtype=dtype)([inp, h])
    out = Lb.Dense(3, activation="softmax", name="head", dtype=dtype)(s)
    return lib.Model(inp, out, name="resblock")


def multi(lib):
    """Two inputs, merges of every kind, two outputs."""
    Lb = lib.layers
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    ha = Lb.Dense(5, activation="tanh", name="da")(a)
    hb = Lb.Dense(5, name="db")(b)
    m = Lb.Multiply(name="mul")([ha, hb])
    s = Lb.Subtract(name="sub")([ha, hb])
    mx = Lb.Maximum(name="max")([m, s, hb])
    mn = Lb.Minimum(name="min")([m, s])
    av = Lb.Average(name="avg")([mx, mn])
    c = Lb.Concatenate(name="cat")([av, ha, b])
    cls = Lb.Dense(2, activation="softmax", name="cls")(c)
    reg = Lb.Dense(1, name="reg")(Lb.Add(name="add")([av, mn]))
    return lib.Model([a, b], [cls, reg], name="multi")


def copy_weights(src, dst):
    dst.set_weights(src.get_weights())


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, 4)).astype(np.float32)
    xb = rng.standard_normal((n, 3)).astype(np.float32)
    ycls = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    yreg = rng.standard_normal((n, 1)).astype(np.float32)
    return [xa, xb], [ycls, yreg]


def test_residual_block_matches_keras(keras):
    ours, theirs = residual(ccnn), residual(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    copy_weights(ours, theirs)
    x = np.random.default_rng(1).standard_normal((10, 6)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5)
    y = np.eye(3, dtype=np.float32)[np.random.default_rng(2).integers(0, 3, 10)]
    ours.compile(ccnn.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    theirs.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(ours._execution_plan()[1][0], SoftmaxCrossEntropy)   # fused head
    for _ in range(3):
        got = ours.train_on_batch(x, y)
        want = theirs.train_on_batch(x, y)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for w, k in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w, k, rtol=1e-4, atol=1e-5)


def test_multi_input_multi_output_matches_keras(keras):
    ours, theirs = multi(ccnn), multi(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    copy_weights(ours, theirs)
    x, y = data()
    for got, want in zip(ours.predict(x), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    kw = dict(loss={"cls": "categorical_crossentropy", "reg": "mse"},
              loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    ours.compile(ccnn.optimizers.SGD(0.05), **kw)
    theirs.compile(keras.optimizers.SGD(0.05), **kw)
    h1 = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                  validation_data=(x, y)).history
    h2 = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                    validation_data=(x, y)).history
    assert set(h1) == set(h2), set(h1) ^ set(h2)
    for k in h2:
        np.testing.assert_allclose(h1[k], h2[k], rtol=1e-4, atol=1e-5, err_msg=k)
    for w, k in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w, k, rtol=1e-4, atol=1e-5)
    got = ours.evaluate(x, y, return_dict=True)
    want = theirs.evaluate(x, y, return_dict=True, verbose=0)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6, err_msg=k)
    # dicts keyed by input / output names, as Keras takes them
    xd, yd = {"a": x[0], "b": x[1]}, {"cls": y[0], "reg": y[1]}
    np.testing.assert_allclose(ours.evaluate(xd, yd), ours.evaluate(x, y))
    np.testing.assert_allclose(ours.test_on_batch(x, y), theirs.test_on_batch(x, y),
                               rtol=1e-4, atol=1e-6)
    pb = ours.predict_on_batch(xd)
    assert isinstance(pb, list) and len(pb) == 2


def test_dict_outputs_predict_as_dict():
    a = ccnn.Input((3,))
    m = ccnn.Model({"in": a}, {"p": L.Dense(2)(a), "q": L.Dense(1)(a)})
    out = m.predict({"in": np.zeros((4, 3))})
    assert isinstance(out, dict) and set(out) == {"p", "q"} and out["q"].shape == (4, 1)
    m.compile("sgd", loss={"p": "mse"})           # q has no loss: it needs no targets
    m.fit({"in": np.ones((4, 3))}, {"p": np.ones((4, 2))}, verbose=0)


def shared_model(dtype="float64"):
    a = ccnn.Input((3,), dtype=dtype)
    b = ccnn.Input((3,), dtype=dtype)
    d = L.Dense(3, activation="tanh", dtype=dtype, name="shared")
    h = d(d(a))                                   # the same layer twice in a row
    g = d(b)                                      # and on another input
    s = L.Concatenate(dtype=dtype)([h, g, a])
    out = L.Dense(2, dtype=dtype, name="out")(s)
    return ccnn.Model([a, b], out)


def test_shared_layer_gradients_vs_central_differences():
    model = shared_model()
    model.compile("sgd", "mse")
    rng = np.random.default_rng(3)
    x = [rng.standard_normal((5, 3)), rng.standard_normal((5, 3))]
    y = rng.standard_normal((5, 2))
    loss, grads = model.compute_gradients(x, y)
    params = [p for layer in model.layers for p in layer.params.values()]
    assert len(grads) == len(params) == 4
    for p, g in zip(params, grads):
        p0 = p.copy()

        def f(a):
            np.copyto(p, a)
            return model.compute_gradients(x, y)[0]
        num = central_differences(f, p0)
        np.copyto(p, p0)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    assert len(model.get_layer("shared")._inbound_nodes) == 3
    with pytest.raises(ValueError):
        model.get_layer("nope")


def test_shared_layer_matches_keras(keras):
    def build(lib):
        a = lib.Input((3,), name="a")
        d = lib.layers.Dense(3, activation="tanh", name="shared")
        h = d(d(a))
        out = lib.layers.Dense(2, name="out")(lib.layers.Concatenate(name="cat")([h, a]))
        return lib.Model(a, out)
    ours, theirs = build(ccnn), build(keras)
    copy_weights(ours, theirs)
    x = np.random.default_rng(4).standard_normal((6, 3)).astype(np.float32)
    y = np.random.default_rng(5).standard_normal((6, 2)).astype(np.float32)
    ours.compile(ccnn.optimizers.SGD(0.1), "mse")
    theirs.compile(keras.optimizers.SGD(0.1), "mse")
    for _ in range(3):
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                                   rtol=1e-5)
    for w, k in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w, k, rtol=1e-4, atol=1e-5)
    assert ours.get_config()["layers"][1]["inbound_nodes"] == \
        _plain(theirs.get_config()["layers"][1]["inbound_nodes"])


def _plain(obj):
    return json.loads(json.dumps(obj))


def test_feature_extractor_snippet():
    """The classic "plot the first layer's feature maps" snippet."""
    rng = np.random.default_rng(6)
    x_train = rng.random((32, 12, 12, 1)).astype(np.float32)
    y_train = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    model = ccnn.Sequential()
    model.add(L.Conv2D(4, (3, 3), activation="relu", input_shape=(12, 12, 1)))
    model.add(L.MaxPooling2D((2, 2)))
    model.add(L.Flatten())
    model.add(L.Dense(3, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, verbose=0)

    feature_model = ccnn.Model(inputs=model.inputs, outputs=model.layers[0].output)
    feature_maps = feature_model.predict(x_train[:1])

    assert feature_maps.shape == (1, 10, 10, 4)
    torch = pytest.importorskip("torch")
    kernel, bias = model.layers[0].get_weights()          # Keras layout (3, 3, 1, 4)
    want = torch.relu(torch.nn.functional.conv2d(
        torch.tensor(x_train[:1]).permute(0, 3, 1, 2),
        torch.tensor(kernel).permute(3, 2, 0, 1), torch.tensor(bias))).permute(0, 2, 3, 1)
    np.testing.assert_allclose(feature_maps, want.numpy(), rtol=1e-5, atol=1e-5)
    # it shares the weights: training the model changes the features
    model.fit(x_train, y_train, epochs=1, verbose=0)
    assert not np.allclose(feature_model.predict(x_train[:1]), feature_maps)
    assert model.layers[1].input is model.layers[0].output
    assert model.outputs[0] is model.layers[-1].output
    assert [t.shape for t in model.inputs] == [(None, 12, 12, 1)]


def test_sequential_with_input_exposes_it():
    inp = ccnn.Input((5,), name="feat")
    model = ccnn.Sequential([inp, L.Dense(3), L.Dense(2)])
    assert model.inputs == [inp]
    mid = ccnn.Model(model.inputs, model.layers[0].output)
    x = np.ones((2, 5), np.float32)
    np.testing.assert_allclose(mid.predict(x), model.layers[0](x))
    model.pop()
    assert model.outputs[0] is model.layers[-1].output
    model.add(L.Dense(4))
    assert model.outputs[0].shape == (None, 4)


def test_config_round_trip_and_keras_structure(keras):
    ours, theirs = multi(ccnn), multi(keras)
    got, want = ours.get_config(), _plain(theirs.get_config())
    got = _plain(got)
    assert got["input_layers"] == want["input_layers"]
    assert got["output_layers"] == want["output_layers"]
    assert [d["name"] for d in got["layers"]] == [d["name"] for d in want["layers"]]
    assert [d["class_name"] for d in got["layers"]] == [d["class_name"] for d in want["layers"]]
    assert [d["inbound_nodes"] for d in got["layers"]] == [d["inbound_nodes"]
                                                            for d in want["layers"]]
    assert [d.get("build_config") for d in got["layers"]] == \
        [d.get("build_config") for d in want["layers"]]
    again = ccnn.Model.from_config(json.loads(json.dumps(ours.get_config())))
    again.set_weights(ours.get_weights())
    x, _ = data(seed=7)
    for a, b in zip(again.predict(x), ours.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert _plain(again.get_config()) == got
    # and a Keras config builds the same graph in ccnn (layer configs aside)
    single = residual(keras)
    conf = _plain(single.get_config())
    for d in conf["layers"]:          # ccnn's layer configs are its own
        d["config"] = {k: v for k, v in d["config"].items()
                       if k in ("name", "units", "batch_shape", "axis")}
        if d["class_name"] == "Dense":
            d["config"]["activation"] = "relu" if d["name"] == "d1" else \
                ("softmax" if d["name"] == "head" else None)
    model = ccnn.Model.from_config(conf)
    assert [layer.name for layer in model.layers] == [layer.name for layer in single.layers]
    copy_weights(single, model)
    x6 = np.random.default_rng(8).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x6), single.predict(x6, verbose=0), atol=1e-5)


def test_summary_connected_to():
    lines = []
    multi(ccnn).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "a (InputLayer)" in text
    row = next(line for line in lines if line.startswith("max (Maximum)"))
    assert row.rstrip().endswith("mul[0][0],")
    i = lines.index(row)
    assert lines[i + 1].strip() == "sub[0][0]," and lines[i + 2].strip() == "db[0][0]"


def test_weights_files_pickle_trainable(tmp_path):
    model = residual(ccnn)
    x = np.random.default_rng(9).standard_normal((4, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = residual(ccnn)
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    model.get_layer("d1").trainable = False
    before = model.get_layer("d1").get_weights()
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_layer("d1").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.get_layer("head").get_weights()[0],
                              other.get_layer("head").get_weights()[0])


def test_regularizers_in_graphs():
    inp = ccnn.Input((3,), dtype="float64")
    out = L.Dense(2, kernel_regularizer=ccnn.regularizers.L2(0.1), dtype="float64")(inp)
    model = ccnn.Model(inp, out)
    model.compile("sgd", "mse")
    x, y = np.ones((2, 3)), np.zeros((2, 2))
    loss, _ = model.compute_gradients(x, y)
    k = model.layers[1].params["kernel"]
    mse = float(np.mean(model.predict(x) ** 2))
    np.testing.assert_allclose(loss, mse + 0.1 * np.sum(k ** 2), rtol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda a, b: ccnn.Model(a, L.Dense(2)(b)), "Graph disconnected"),
    (lambda a, b: ccnn.Model([a, b], L.Dense(2)(a)), "not connected to its outputs"),
    (lambda a, b: ccnn.Model(L.Dense(3)(a), L.Dense(2)(a)), "must come from ccnn.Input"),
    (lambda a, b: ccnn.Model(a, np.zeros(3)), "symbolic tensors"),
    (lambda a, b: ccnn.Model([a, b], L.add([L.Dense(3, name="same")(a),
                                            L.Dense(3, name="same")(b)])), "unique"),
])
def test_bad_graphs(make, match):
    with pytest.raises(ValueError, match=match):
        make(ccnn.Input((3,), name="in_a"), ccnn.Input((3,), name="in_b"))


def test_bad_data():
    model = multi(ccnn)
    x, y = data()
    with pytest.raises(ValueError, match="expects 2 input"):
        model.predict([x[0]])
    with pytest.raises(ValueError, match="expects 2 input"):
        model.predict(x[0])
    with pytest.raises(ValueError, match="unknown input name 'zz'"):
        model.predict({"a": x[0], "zz": x[1]})
    with pytest.raises(ValueError, match="no data for input 'b'"):
        model.predict({"a": x[0]})
    with pytest.raises(ValueError, match="incompatible"):
        model.predict([x[1], x[0]])
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.predict([x[0], x[1][:3]])
    with pytest.raises(ValueError, match="Expected keys"):
        model.compile("sgd", loss={"zz": "mse"})
    with pytest.raises(ValueError, match="one entry per output"):
        model.compile("sgd", loss=["mse"])
    with pytest.raises(ValueError, match="Invalid `metrics`"):
        model.compile("sgd", loss="mse", metrics=["mae"])
    model.compile("sgd", loss="mse")
    with pytest.raises(ValueError, match="unknown output name 'zz'"):
        model.fit(x, {"cls": y[0], "zz": y[1]}, verbose=0)
    with pytest.raises(ValueError, match="expects 2 output"):
        model.fit(x, y[0], verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)


def test_readme_section_runs(capsys):
    from test_readme import README, python_blocks, run_block
    blocks = python_blocks(README, "Functional models")
    scope = run_block(blocks[0], "README.md")
    assert "Connected to" in capsys.readouterr().out
    scope.update(run_block("\n".join(["import numpy as np", "import ccnn",
                                      "from ccnn import layers", blocks[1]]), "README.md"))
    assert scope["feature_maps"].shape == (1, 26, 26, 8)


def test_shared_conv_norm_pool_gradients():
    """Shared Conv2D (3 calls), LayerNormalization and MaxPooling2D (2 calls each):
    each call keeps its own cache (im2col, statistics, argmax)."""
    # fixed weights: the test does not depend on the tests run before it (some
    # draws leave a LayerNormalization over an all-zero relu output, where
    # 1/sqrt(var + eps) makes central differences meaningless)
    ccnn.utils.set_random_seed(0)
    dt = "float64"
    a = ccnn.Input((5, 5, 2), dtype=dt)
    conv = L.Conv2D(2, 3, padding="same", activation="relu", dtype=dt)
    norm = L.LayerNormalization(dtype=dt)
    pool = L.MaxPooling2D(dtype=dt)
    h2 = conv(L.BatchNormalization(dtype=dt)(conv(a)))
    h4 = norm(conv(norm(h2)))
    out = L.Dense(2, dtype=dt)(L.Flatten(dtype=dt)(L.add([pool(h4), pool(h2)], dtype=dt)))
    model = ccnn.Model(a, out)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 5, 5, 2)), rng.standard_normal((3, 2))
    _, grads = model.compute_gradients(x, y)
    grads = [g.copy() for g in grads]               # the calls below refill the layers' grads
    params = [p for layer in model.layers for p in layer.params.values()]
    for p, g in zip(params, grads):
        p0 = p.copy()

        def f(v):
            np.copyto(p, v)
            return model.compute_gradients(x, y)[0]
        num = central_differences(f, p0)
        np.copyto(p, p0)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_deep_graph_pickles():
    x = inp = ccnn.Input((4,))
    for _ in range(300):
        x = L.Dense(4)(x)
    model = ccnn.Model(inp, x)
    clone = pickle.loads(pickle.dumps(model))
    data_ = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(clone.predict(data_), model.predict(data_))


def subclassed(lib):
    class Residual(lib.Model):
        def __init__(self):
            super().__init__()
            self.d1 = lib.layers.Dense(8, activation="relu")
            self.d2 = lib.layers.Dense(8)
            self.head = lib.layers.Dense(3, activation="softmax")

        def call(self, x, training=False):
            h = self.d1(x)
            return self.head(lib.layers.add([h, self.d2(h)]))
    return Residual()


def test_subclassed_model_matches_keras(keras):
    ours, theirs = subclassed(ccnn), subclassed(keras)
    rng = np.random.default_rng(10)
    x = rng.random((10, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)]
    ours.compile(ccnn.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    theirs.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    assert not ours.built
    ours.build((None, 5))
    theirs(x)
    # the attributes first, in assignment order (Keras's), then the add() made in call
    assert ours.layers[:3] == [ours.d1, ours.d2, ours.head] and len(ours.layers) == 4
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), atol=1e-5)
    for _ in range(3):
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y),
                                   rtol=1e-5)
    # built by the first fit, too
    fresh = subclassed(ccnn)
    fresh.compile("adam", "categorical_crossentropy")
    fresh.fit(x, y, epochs=1, verbose=0)
    assert fresh.built and fresh.count_params() == ours.count_params()
    with pytest.raises(ValueError, match="subclass of Model that defines call"):
        ccnn.Model()


def test_shared_layer_activity_regularizer_gradients():
    a = ccnn.Input((3,), dtype="float64")
    d = L.Dense(3, activation="tanh", activity_regularizer=ccnn.regularizers.L2(0.3),
                dtype="float64")
    out = L.Dense(1, dtype="float64")(d(d(a)))
    model = ccnn.Model(a, out)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    _, grads = model.compute_gradients(x, y)
    kernel = model.layers[1].params["kernel"]
    k0 = kernel.copy()

    def f(v):
        np.copyto(kernel, v)
        return model.compute_gradients(x, y)[0]
    num = central_differences(f, k0)
    np.copyto(kernel, k0)
    np.testing.assert_allclose(grads[0], num, rtol=1e-6, atol=1e-8)


def test_the_layers_of_another_model_can_be_shared():
    """A model's layers put in another model are shared (nested models
    themselves: tests/test_nested_models.py)."""
    ccnn.utils.set_random_seed(0)
    inner = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3, activation="relu")])
    outer = ccnn.Sequential([ccnn.Input((4,)), *inner.layers, L.Dense(2)])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    h = np.maximum(x @ inner.layers[0].kernel + inner.layers[0].bias, 0)
    np.testing.assert_allclose(outer.predict(x), h @ outer.layers[1].kernel + outer.layers[1].bias,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inner.predict(x), h, rtol=1e-5, atol=1e-6)
