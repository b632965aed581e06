"""compile(metrics=..., weighted_metrics=...) as Keras 3: the loss is weighted
by sample_weight / class_weight, `metrics` are not, `weighted_metrics` are;
the log names (a weighted metric whose name is taken is 'weighted_<name>',
a repeated name gets '_1'); each checked against a real Keras 3 model with
the same weights, data and sample weights (KERAS_BACKEND=torch)."""
import os

import numpy as np
import pytest

import ccnn
from ccnn.layers import Dense
from ccnn.models.trainer import metric_log_names
from ccnn.optimizers import SGD

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="keras 3 is the reference of these tests "
                            "(installed in CI: pip install .[test])")

RTOL = 2e-5


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    y = ((x[:, :2].sum(1) > 0).astype(np.int64) + (x[:, 2] > 0.5)) % 3
    sw = rng.uniform(0.0, 2.0, n)
    return x, y, sw


def onehot(y):
    return np.eye(3, dtype=np.float32)[y]


def pair(metrics, weighted_metrics, loss="categorical_crossentropy", lr=0.05):
    """A ccnn Sequential and a Keras one with the same weights, compiled alike."""
    ccnn.utils.set_random_seed(1)
    ours = ccnn.models.Sequential([ccnn.Input((5,)), Dense(6, activation="relu"),
                                   Dense(3, activation="softmax")])
    ours.compile(optimizer=SGD(learning_rate=lr), loss=loss, metrics=metrics,
                 weighted_metrics=weighted_metrics)
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=loss,
                   metrics=metrics, weighted_metrics=weighted_metrics)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def assert_logs(ours, theirs):
    assert set(ours) == set(theirs)
    for k in theirs:
        assert ours[k] == pytest.approx(float(theirs[k]), rel=RTOL, abs=1e-6), k


def test_metrics_are_unweighted_and_weighted_metrics_weighted_as_keras():
    x, y, sw = data()
    ours, theirs = pair(["accuracy", "mae"], ["accuracy", "mse"])
    t = onehot(y)
    # evaluate / test_on_batch: every name and value as Keras's
    got = ours.evaluate(x, t, sample_weight=sw, batch_size=16, return_dict=True)
    want = theirs.evaluate(x, t, sample_weight=sw, batch_size=16, verbose=0, return_dict=True)
    assert_logs(got, want)
    assert list(got) == ["loss", "accuracy", "mae", "weighted_accuracy", "mse"]
    # and against NumPy: accuracy unweighted, weighted_accuracy weighted
    p = ours.predict(x)
    hit = p.argmax(1) == y
    assert got["accuracy"] == pytest.approx(hit.mean(), rel=1e-6)
    assert got["weighted_accuracy"] == pytest.approx(np.sum(sw * hit) / sw.sum(), rel=1e-6)
    assert got["mae"] == pytest.approx(np.abs(p - t).mean(), rel=1e-5)
    assert got["mse"] == pytest.approx(np.sum(sw * ((p - t) ** 2).mean(1)) / sw.sum(), rel=1e-5)
    assert_logs(ours.test_on_batch(x, t, sample_weight=sw, return_dict=True),
                theirs.test_on_batch(x, t, sample_weight=sw, return_dict=True))
    # without sample weights the weighted metrics equal the unweighted ones
    got = ours.evaluate(x, t, return_dict=True)
    assert got["weighted_accuracy"] == got["accuracy"]
    assert_logs(got, theirs.evaluate(x, t, verbose=0, return_dict=True))


def test_fit_history_and_validation_logs_match_keras():
    x, y, sw = data(48)
    ours, theirs = pair(["accuracy"], ["accuracy"], loss="sparse_categorical_crossentropy")
    kw = dict(batch_size=16, epochs=2, shuffle=False, sample_weight=sw[:40],
              validation_data=(x[40:], y[40:], sw[40:]))
    h = ours.fit(x[:40], y[:40], verbose=0, **kw)
    kh = theirs.fit(x[:40], y[:40], verbose=0, **kw)
    assert set(h.history) == set(kh.history) == {
        "loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy",
        "val_weighted_accuracy"}
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-4, atol=1e-6,
                                   err_msg=k)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # train_on_batch: the same step, the same logs
    assert_logs(ours.train_on_batch(x[:16], y[:16], sample_weight=sw[:16], return_dict=True),
                theirs.train_on_batch(x[:16], y[:16], sample_weight=sw[:16],
                                      return_dict=True))
    # the list: loss, then the logs' order ([loss, accuracy, accuracy,
    # weighted_accuracy] from Keras 3.15, which lists a taken name twice)
    got = ours.train_on_batch(x[:16], y[:16], sample_weight=sw[:16])
    assert_logs(dict(zip(["loss", "accuracy", "weighted_accuracy"], got)),
                theirs.train_on_batch(x[:16], y[:16], sample_weight=sw[:16],
                                      return_dict=True))


def test_class_weight_weighs_the_loss_and_weighted_metrics_only():
    x, y, _ = data(48)
    cw = {0: 3.0, 1: 0.5}
    ours, theirs = pair(["accuracy"], ["accuracy"], loss="sparse_categorical_crossentropy")
    h = ours.fit(x, y, batch_size=48, epochs=1, shuffle=False, verbose=0, class_weight=cw)
    kh = theirs.fit(x, y, batch_size=48, epochs=1, shuffle=False, verbose=0, class_weight=cw)
    assert set(h.history) == set(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-4, err_msg=k)
    assert h.history["accuracy"] != h.history["weighted_accuracy"]


def test_repeated_metric_names_as_keras():
    x, y, sw = data()
    ids = ["accuracy", "accuracy"]
    ours, theirs = pair(ids, ids)
    t = onehot(y)
    got = ours.evaluate(x, t, sample_weight=sw, return_dict=True)
    assert list(got) == ["loss", "accuracy", "accuracy_1", "weighted_accuracy",
                         "weighted_accuracy_1"]
    assert_logs(got, theirs.evaluate(x, t, sample_weight=sw, verbose=0, return_dict=True))
    assert ours.metrics_names == list(got)
    # only weighted: no collision, the plain name
    ours, theirs = pair(None, ["accuracy"])
    got = ours.evaluate(x, t, sample_weight=sw, return_dict=True)
    assert_logs(got, theirs.evaluate(x, t, sample_weight=sw, verbose=0, return_dict=True))
    assert list(got) == ["loss", "accuracy"]


def test_metric_log_names_follow_keras_compile_metrics():
    """The naming rule against Keras's CompileMetrics.result, output names included."""
    from keras.src.trainers.compile_utils import CompileMetrics
    metrics = {"a": ["accuracy", "mae", "accuracy"], "b": ["mae"]}
    weighted = {"a": ["accuracy", "accuracy", "mse"], "b": ["mae", "mse"]}
    cm = CompileMetrics(metrics, weighted, output_names=["a", "b"])
    yt = [np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32)]
    cm.update_state(yt, yt)
    entries = [(o, m, False) for o in "ab" for m in metrics[o]] + \
        [(o, m, True) for o in "ab" for m in weighted[o]]
    assert metric_log_names(entries) == list(cm.result())


def functional_pair(metrics, weighted_metrics, lr=0.05):
    ccnn.utils.set_random_seed(2)
    i = ccnn.Input((5,), name="x")
    h = Dense(6, activation="relu", name="h")(i)
    ours = ccnn.Model(i, [Dense(3, activation="softmax", name="a")(h), Dense(1, name="b")(h)])
    loss = {"a": "sparse_categorical_crossentropy", "b": "mse"}
    ours.compile(optimizer=SGD(learning_rate=lr), loss=loss, metrics=metrics,
                 weighted_metrics=weighted_metrics)
    ki = keras.Input((5,), name="x")
    kh = keras.layers.Dense(6, activation="relu", name="h")(ki)
    theirs = keras.Model(ki, [keras.layers.Dense(3, activation="softmax", name="a")(kh),
                              keras.layers.Dense(1, name="b")(kh)])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=loss,
                   metrics=metrics, weighted_metrics=weighted_metrics)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.parametrize("metrics,weighted", [
    ({"a": ["accuracy"], "b": ["mae"]}, {"a": ["accuracy"], "b": ["mae", "mse"]}),
    ([["accuracy"], None], [None, ["mae"]]),
    (None, {"a": ["accuracy"]}),
])
def test_functional_outputs_weighted_metrics_as_keras(metrics, weighted):
    x, y, sw = data(48)
    yb = x[:, :1] * 0.5
    ours, theirs = functional_pair(metrics, weighted)
    got = ours.evaluate(x, [y, yb], sample_weight=sw, return_dict=True)
    want = theirs.evaluate(x, [y, yb], sample_weight=sw, verbose=0, return_dict=True)
    assert_logs(got, want)
    kw = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    h, kh = ours.fit(x, [y, yb], **kw), theirs.fit(x, [y, yb], **kw)
    assert set(h.history) == set(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-4, atol=1e-6,
                                   err_msg=k)


def test_functional_single_output_weighted_metrics():
    x, y, sw = data()
    ccnn.utils.set_random_seed(3)
    i = ccnn.Input((5,))
    ours = ccnn.Model(i, Dense(3, activation="softmax")(i))
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                 weighted_metrics=["accuracy"])
    ki = keras.Input((5,))
    theirs = keras.Model(ki, keras.layers.Dense(3, activation="softmax")(ki))
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], weighted_metrics=["accuracy"])
    theirs.set_weights(ours.get_weights())
    assert_logs(ours.evaluate(x, y, sample_weight=sw, return_dict=True),
                theirs.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True))


def test_bad_weighted_metrics_are_named():
    m = ccnn.models.Sequential([ccnn.Input((5,)), Dense(3, activation="softmax")])
    with pytest.raises(TypeError, match="weighted_metrics must be a list"):
        m.compile(loss="mse", weighted_metrics="accuracy")
    with pytest.raises(ValueError, match="metric identifier"):
        m.compile(loss="mse", weighted_metrics=["no_such_metric"])
    ours, _ = functional_pair(None, None)
    with pytest.raises(ValueError, match="weighted_metrics"):
        ours.compile(loss="mse", weighted_metrics=["accuracy"])      # 2 outputs: per output
    with pytest.raises(ValueError, match="weighted_metrics"):
        ours.compile(loss="mse", weighted_metrics={"c": ["accuracy"]})


@pytest.mark.parametrize("suffix", [".ccnn", ".keras"])
def test_weighted_metrics_survive_a_model_file(tmp_path, suffix):
    x, y, sw = data()
    ours, _ = pair(["accuracy"], ["accuracy", ccnn.metrics.AUC(name="auc")])
    path = tmp_path / f"m{suffix}"
    ours.save(path)
    again = ccnn.models.load_model(path)
    assert again.get_compile_config()["weighted_metrics"] == \
        ours.get_compile_config()["weighted_metrics"]
    t = onehot(y)
    assert again.evaluate(x, t, sample_weight=sw, return_dict=True) == pytest.approx(
        ours.evaluate(x, t, sample_weight=sw, return_dict=True), rel=1e-6)
    if suffix == ".keras":     # Keras reads the same compile arguments
        km = keras.saving.load_model(path)
        assert km.get_compile_config()["weighted_metrics"][0] == "accuracy"
        assert_logs(again.evaluate(x, t, sample_weight=sw, return_dict=True),
                    km.evaluate(x, t, sample_weight=sw, verbose=0, return_dict=True))


def test_keras_written_weighted_metrics_are_read(tmp_path):
    x, y, sw = data()
    _, theirs = pair(["accuracy"], ["accuracy"])
    theirs.save(tmp_path / "k.keras")
    ours = ccnn.models.load_model(tmp_path / "k.keras")
    t = onehot(y)
    assert_logs(ours.evaluate(x, t, sample_weight=sw, return_dict=True),
                theirs.evaluate(x, t, sample_weight=sw, verbose=0, return_dict=True))


def test_functional_compile_config_round_trip():
    ours, _ = functional_pair({"a": ["accuracy"]}, {"a": ["accuracy"], "b": ["mae"]})
    config = ours.get_compile_config()
    assert config["weighted_metrics"] == {"a": ["accuracy"], "b": ["mae"]}
    again, _ = functional_pair(None, None)
    again.compile_from_config(config)
    assert again.metrics_names == ours.metrics_names
