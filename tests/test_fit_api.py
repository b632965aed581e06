"""The model's training API (issue 14): metrics in compile / fit /
evaluate, the full callback hook set with Keras's logs, and the model's
methods -- each by its effect on a small fit, against NumPy, and (when keras
is installed, KERAS_BACKEND=torch) against a real keras fit."""
import io
import os
import contextlib

import numpy as np
import pytest

import ccnn
from ccnn.callbacks import Callback, LearningRateScheduler
from ccnn.layers import Dense
from ccnn.optimizers import SGD

os.environ.setdefault("KERAS_BACKEND", "torch")


def data(n=48, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    y = ((x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 1)) % classes
    return x, y


def model(metrics=("accuracy",), loss="sparse_categorical_crossentropy", lr=0.1, seed=0,
          weighted_metrics=None):
    ccnn.utils.set_random_seed(seed)
    m = ccnn.models.Sequential([Dense(8, activation="relu", dtype="float64"),
                                Dense(3, activation="softmax", dtype="float64")])
    m.compile(optimizer=SGD(learning_rate=lr), loss=loss, metrics=list(metrics),
              weighted_metrics=weighted_metrics)
    m.build((None, 6))
    return m


def np_metrics(p, onehot):
    """accuracy, mae, mse and top-2 accuracy in NumPy."""
    true = onehot.argmax(1)
    top2 = np.argsort(-p, axis=1)[:, :2]
    return {"acc": np.mean(p.argmax(1) == true),
            "mae": np.mean(np.mean(np.abs(onehot - p), axis=1)),
            "mse": np.mean(np.mean((onehot - p) ** 2, axis=1)),
            "top2": np.mean([t in row for t, row in zip(true, top2)])}


METRICS = ["acc", "mae", "mse", ccnn.metrics.TopKCategoricalAccuracy(k=2, name="top2")]


# ------------------------------------------------------------ metrics
def test_fit_logs_every_compiled_metric_under_keras_names():
    x, y = data()
    yo = ccnn.utils.to_categorical(y, 3)
    m = model(METRICS, loss="categorical_crossentropy")
    h = m.fit(x[:32], yo[:32], batch_size=8, epochs=2, verbose=0,
              validation_data=(x[32:], yo[32:]))
    assert list(h.history) == ["loss", "acc", "mae", "mse", "top2",
                               "val_loss", "val_acc", "val_mae", "val_mse", "val_top2"]
    # the last epoch's validation ran with the final weights
    want = np_metrics(m.predict(x[32:]), yo[32:])
    for k, v in want.items():
        assert h.history["val_" + k][-1] == pytest.approx(v, rel=1e-12, abs=1e-12)
    assert m.metrics_names == ["loss", "acc", "mae", "mse", "top2"]


def test_train_on_batch_and_evaluate_metrics_match_numpy():
    x, y = data()
    yo = ccnn.utils.to_categorical(y, 3)
    m = model(METRICS, loss="categorical_crossentropy")
    p = m.predict(x[:16])                      # no dropout: the training forward is this
    got = m.train_on_batch(x[:16], yo[:16])
    want = np_metrics(p, yo[:16])
    loss = -np.mean(np.log(np.sum(p * yo[:16], axis=1)))
    np.testing.assert_allclose(got, [loss] + [want[k] for k in ("acc", "mae", "mse", "top2")],
                               rtol=1e-10, atol=1e-12)
    # evaluate: the whole set, not the mean of batch means (batches 20 + 20 + 8)
    p = m.predict(x)
    want = np_metrics(p, yo)
    logs = m.evaluate(x, yo, batch_size=20, return_dict=True)
    assert list(logs) == ["loss", "acc", "mae", "mse", "top2"]
    for k, v in want.items():
        assert logs[k] == pytest.approx(v, rel=1e-12, abs=1e-12)
    assert logs["loss"] == pytest.approx(-np.mean(np.log(np.sum(p * yo, axis=1))), rel=1e-12)
    assert m.evaluate(x, yo, batch_size=20) == list(logs.values())
    assert m.test_on_batch(x, yo) == pytest.approx(list(logs.values()), rel=1e-12)
    assert m.test_on_batch(x, yo, return_dict=True).keys() == logs.keys()
    np.testing.assert_array_equal(m.predict_on_batch(x[:5]), m.predict(x[:5]))
    before = m.get_weights()
    m.test_on_batch(x, yo)
    m.predict_on_batch(x)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_accuracy_resolves_from_the_loss_and_metric_objects_are_reset_each_epoch():
    x, y = data()
    m = model(["accuracy", ccnn.metrics.SparseTopKCategoricalAccuracy(k=1, name="top1")])
    seen = []
    m.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False,
          callbacks=[ccnn.callbacks.LambdaCallback(
              on_epoch_end=lambda e, logs: seen.append((logs["accuracy"], logs["top1"])))])
    assert isinstance(m._compiled_metrics()[0], ccnn.metrics.SparseCategoricalAccuracy)
    for a, b in seen:              # top-1 == accuracy each epoch: both reset per epoch
        assert a == pytest.approx(b, abs=1e-15) and 0 <= a <= 1
    # the metric object the user passed is the one updated
    top1 = m._compiled_metrics()[1]
    assert top1.count == 48


def test_loss_only_model_returns_a_scalar():
    x, y = data()
    m = model(())
    assert isinstance(m.evaluate(x, y), float)
    assert m.evaluate(x, y, return_dict=True).keys() == {"loss"}
    assert isinstance(m.train_on_batch(x, y), float)


def test_bad_metrics_are_named():
    m = model(())
    with pytest.raises(ValueError, match="metric identifier: 'f1-ish'"):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["f1-ish"])
    with pytest.raises(TypeError, match="metrics must be a list"):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics="accuracy")
    with pytest.raises(TypeError, match="callbacks must be a list"):
        m.evaluate(*data(), callbacks=[print])
    with pytest.raises(TypeError, match="callbacks must be a list"):
        m.predict(data()[0], callbacks=Callback())


# ------------------------------------------------------------ hooks
class Recorder(Callback):
    HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
             "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
             "on_predict_batch_begin", "on_predict_batch_end"]

    def __init__(self):
        super().__init__()
        self.calls = []
        for hook in self.HOOKS:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        def record(*args, **kwargs):          # keras passes some logs by position
            index, logs = (args, kwargs["logs"]) if "logs" in kwargs else (args[:-1], args[-1])
            assert isinstance(logs, dict), (hook, index, logs)
            self.calls.append((hook,) + tuple(index) + (sorted(logs),))
        return record


def expected_fit_calls(epochs, steps, val_steps, keys):
    val = [f"val_{k}" for k in keys]
    calls = [("on_train_begin", [])]
    for e in range(epochs):
        calls.append(("on_epoch_begin", e, []))
        for s in range(steps):
            calls += [("on_train_batch_begin", s, []), ("on_train_batch_end", s, keys)]
        calls.append(("on_test_begin", []))
        for s in range(val_steps):
            calls += [("on_test_batch_begin", s, []), ("on_test_batch_end", s, keys)]
        calls += [("on_test_end", keys), ("on_epoch_end", e, sorted(keys + val))]
    calls.append(("on_train_end", sorted(keys + val)))
    return calls


def test_every_hook_in_keras_order_with_keras_logs():
    x, y = data()
    rec = Recorder()
    m = model()
    m.fit(x[:40], y[:40], batch_size=16, epochs=2, verbose=0, callbacks=[rec],
          validation_data=(x[40:], y[40:]))
    assert rec.calls == expected_fit_calls(2, 3, 1, ["accuracy", "loss"])
    rec.calls = []
    m.evaluate(x, y, batch_size=32, callbacks=[rec])
    keys = ["accuracy", "loss"]
    assert rec.calls == [("on_test_begin", []), ("on_test_batch_begin", 0, []),
                         ("on_test_batch_end", 0, keys), ("on_test_batch_begin", 1, []),
                         ("on_test_batch_end", 1, keys), ("on_test_end", keys)]
    rec.calls = []
    outs = []
    m.predict(x, batch_size=32, callbacks=[rec, ccnn.callbacks.LambdaCallback(
        on_predict_batch_end=lambda b, logs: outs.append(logs["outputs"]))])
    assert rec.calls == [("on_predict_begin", []), ("on_predict_batch_begin", 0, []),
                         ("on_predict_batch_end", 0, ["outputs"]),
                         ("on_predict_batch_begin", 1, []),
                         ("on_predict_batch_end", 1, ["outputs"]), ("on_predict_end", [])]
    np.testing.assert_array_equal(np.concatenate(outs), m.predict(x))


def keras_twin(keras):
    """model()'s architecture in keras, compiled alike, and Recorder as a keras
    callback class."""
    class KRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []
            for hook in Recorder.HOOKS:
                setattr(self, hook, self._recorder(hook))

        _recorder = Recorder._recorder
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.Dense(3, activation="softmax")])
    km.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return km, KRecorder


def test_hooks_match_a_real_keras_fit():
    keras = pytest.importorskip("keras", reason="keras is not installed; the hook order is "
                                "also checked against the written-out Keras order above")

    km, KRecorder = keras_twin(keras)
    x, y = data()
    krec, rec = KRecorder(), Recorder()
    km.fit(x[:40], y[:40], batch_size=16, epochs=2, verbose=0, callbacks=[krec],
           validation_data=(x[40:], y[40:]))
    model().fit(x[:40], y[:40], batch_size=16, epochs=2, verbose=0, callbacks=[rec],
                validation_data=(x[40:], y[40:]))
    assert rec.calls == krec.calls


def test_progbar_runs_after_the_other_callbacks_and_shows_learning_rate():
    x, y = data()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model().fit(x, y, batch_size=16, epochs=2, verbose=2,
                    callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    lines = [ln for ln in out.getvalue().splitlines() if "loss" in ln]
    assert len(lines) == 2
    assert "learning_rate: 0.1000" in lines[0] and "learning_rate: 0.0500" in lines[1]


def test_stop_training_set_by_a_callback_ends_fit_after_that_epoch():
    x, y = data()

    class StopAtBatch1(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    rec = Recorder()
    h = model().fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[StopAtBatch1(), rec])
    assert h.epoch == [0]
    assert [c[1] for c in rec.calls if c[0] == "on_train_batch_end"] == [0, 1]


# ------------------------------------------------------------ data: PyDataset, generators
class Batches(ccnn.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.bs = x, y, batch_size
        self.epochs_ended = 0
        self.read = []

    def __len__(self):
        return -(-len(self.x) // self.bs)

    def __getitem__(self, i):
        self.read.append(i)
        return self.x[i * self.bs:(i + 1) * self.bs], self.y[i * self.bs:(i + 1) * self.bs]

    def on_epoch_end(self):
        self.epochs_ended += 1


def gen(x, y, batch_size, forever=True):
    while True:
        for lo in range(0, len(x), batch_size):
            yield x[lo:lo + batch_size], y[lo:lo + batch_size]
        if not forever:
            return


def test_pydataset_and_generator_train_exactly_as_the_same_arrays():
    x, y = data()
    ref = model()
    h_ref = ref.fit(x[:40], y[:40], batch_size=16, epochs=3, verbose=0, shuffle=False,
                    validation_data=(x[40:], y[40:]))
    ds = Batches(x[:40], y[:40], 16)
    m = model()
    h = m.fit(ds, epochs=3, verbose=0, shuffle=False, validation_data=Batches(x[40:], y[40:], 16))
    assert h.history == h_ref.history
    assert ds.epochs_ended == 3 and ds.read == [0, 1, 2] * 3
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    m = model()
    h = m.fit(gen(x[:40], y[:40], 16), steps_per_epoch=3, epochs=3, verbose=0,
              validation_data=gen(x[40:], y[40:], 16), validation_steps=1)
    assert h.history == h_ref.history
    assert ccnn.utils.Sequence is ccnn.utils.PyDataset
    assert m.evaluate(Batches(x, y, 16), return_dict=True) == \
        m.evaluate(x, y, batch_size=16, return_dict=True)
    assert m.evaluate(gen(x, y, 16), steps=3) == m.evaluate(x, y, batch_size=16)


def test_pydataset_batches_are_shuffled_by_default_and_steps_per_epoch_limits_them():
    x, y = data()
    ds = Batches(x, y, 8)
    rec = Recorder()
    model().fit(ds, epochs=2, verbose=0, callbacks=[rec])
    epochs = [ds.read[:6], ds.read[6:]]
    assert all(sorted(e) == list(range(6)) for e in epochs)      # every batch once an epoch
    assert any(e != list(range(6)) for e in epochs)               # in a shuffled order
    ds = Batches(x, y, 8)
    model().fit(ds, epochs=2, steps_per_epoch=2, verbose=0, shuffle=False, callbacks=[rec])
    assert ds.read == [0, 1, 0, 1]


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = data()
    with pytest.warns(UserWarning, match="gave 0 batches this epoch"):
        h = model().fit(gen(x, y, 16, forever=False), epochs=4, verbose=0)
    # the first epoch takes it all (3 batches), the second finds it empty
    assert h.epoch == [0]
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model().fit(gen(x, y, 16, forever=False), steps_per_epoch=2, epochs=4, verbose=0)
    assert h.epoch == [0, 1]     # 2 + 1 batches, then nothing


def test_validation_freq_validates_every_nth_epoch():
    x, y = data()
    rec = Recorder()
    h = model().fit(x[:40], y[:40], epochs=4, verbose=0, validation_data=(x[40:], y[40:]),
                    validation_freq=2, callbacks=[rec])
    ends = [c[2] for c in rec.calls if c[0] == "on_epoch_end"]
    assert ["val_loss" in keys for keys in ends] == [False, True, False, True]
    assert len(h.history["val_loss"]) == 2 and len(h.history["loss"]) == 4


def test_validation_batch_size_batches_the_validation_data():
    """fit(validation_batch_size=k) validates arrays (validation_data or
    validation_split) in batches of k (None: batch_size), as Keras 3: the
    hooks see ceil(n_val / k) test batches and History holds what
    evaluate(x_val, y_val, batch_size=k) returns."""
    x, y = data()
    for vbs, val_steps in ((3, 3), (None, 1), (5, 2)):
        rec, m = Recorder(), model()
        h = m.fit(x[:40], y[:40], batch_size=16, epochs=2, verbose=0, callbacks=[rec],
                  validation_data=(x[40:], y[40:]), validation_batch_size=vbs)
        assert rec.calls == expected_fit_calls(2, 3, val_steps, ["accuracy", "loss"])
        want = m.evaluate(x[40:], y[40:], batch_size=vbs or 16, return_dict=True)
        assert h.history["val_loss"][-1] == want["loss"]
        assert h.history["val_accuracy"][-1] == want["accuracy"]
    # validation_split: the last 20 % (10 samples) in batches of 4
    rec, m = Recorder(), model()
    h = m.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[rec],
              validation_split=0.2, validation_batch_size=4)
    assert [c[1] for c in rec.calls if c[0] == "on_test_batch_end"] == [0, 1, 2]
    want = m.evaluate(x[38:], y[38:], batch_size=4, return_dict=True)
    assert h.history["val_loss"] == [want["loss"]]
    with pytest.raises(ValueError, match="validation_batch_size"):
        m.fit(x, y, verbose=0, validation_split=0.2, validation_batch_size=0)
    with pytest.raises(ValueError, match="validation_batch_size"):
        m.fit(x, y, verbose=0, validation_data=(x, y), validation_batch_size=2.5)


def test_validation_batch_size_matches_a_real_keras_fit():
    keras = pytest.importorskip("keras", reason="keras is not installed; the batches are "
                                "also checked against the written-out Keras order above")

    km, KRecorder = keras_twin(keras)
    x, y = data()
    for kwargs in ({"validation_data": (x[40:], y[40:])}, {"validation_split": 0.25}):
        krec, rec = KRecorder(), Recorder()
        km.fit(x[:40], y[:40], batch_size=16, epochs=1, verbose=0, callbacks=[krec],
               validation_batch_size=3, **kwargs)
        model().fit(x[:40], y[:40], batch_size=16, epochs=1, verbose=0, callbacks=[rec],
                    validation_batch_size=3, **kwargs)
        assert rec.calls == krec.calls


def test_predict_steps_predicts_the_first_batches_as_keras():
    """predict(steps=k) (Keras 3's) gives the outputs of the first k batches,
    all of x when it has fewer; on every path (the plan's, callbacks', a
    functional model's)."""
    x, _ = data(20)
    m = model()
    inp = ccnn.layers.Input((6,))
    f = ccnn.models.Model(inp, m.layers[1](m.layers[0](inp)))
    for net in (m, f):
        full = net.predict(x, batch_size=8)
        for steps, rows in ((1, 8), (2, 16), (3, 20), (5, 20)):
            got = net.predict(x, batch_size=8, steps=steps)
            np.testing.assert_array_equal(got, full[:rows])
            np.testing.assert_array_equal(
                net.predict(x, batch_size=8, steps=steps, callbacks=[Recorder()]), got)
        # steps=0 is Keras's `steps or <all batches>`: every batch
        np.testing.assert_array_equal(net.predict(x, batch_size=8, steps=0), full)
        with pytest.raises(ValueError, match="steps"):
            net.predict(x, steps=-1)
    keras = pytest.importorskip("keras", reason="keras is not installed; the rows are also "
                                "checked against ccnn's full predict above")
    km, _ = keras_twin(keras)
    km.set_weights(m.get_weights())
    for steps in (1, 2, 3, None):
        want = km.predict(x.astype(np.float32), batch_size=8, steps=steps, verbose=0)
        got = m.predict(x, batch_size=8, steps=steps)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_bad_fit_arguments_are_named():
    x, y = data()
    m = model()
    for kwargs, match in [({"validation_freq": 0}, "validation_freq"),
                          ({"steps_per_epoch": -1}, "steps_per_epoch"),
                          ({"validation_steps": -1}, "validation_steps"),
                          ({"validation_data": [x]}, "validation_data must be")]:
        with pytest.raises(ValueError, match=match):
            m.fit(x, y, verbose=0, **kwargs)
    with pytest.raises(ValueError, match="y must be None"):
        m.fit(Batches(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported for arrays"):
        m.fit(Batches(x, y, 8), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"x must give batches \(x, y\) or \(x, y, sample"):
        m.fit(iter([x[:8]]), verbose=0)
    with pytest.raises(ValueError, match="x's batch x"):
        m.fit(iter([(x[:8, :5], y[:8])]), verbose=0)
    # evaluate(steps=k) of arrays: the first k batches (Keras's)
    assert m.evaluate(x, y, steps=1, batch_size=8) == pytest.approx(
        m.evaluate(x[:8], y[:8], batch_size=8))


# ------------------------------------------------------------ layers
def test_get_layer_and_pop():
    m = model()
    first, last = m.layers
    assert m.get_layer(index=0) is first and m.get_layer(last.name) is last
    with pytest.raises(ValueError, match="No such layer: nope"):
        m.get_layer("nope")
    with pytest.raises(ValueError, match="at index 2 but model only has 2 layers"):
        m.get_layer(index=2)
    with pytest.raises(ValueError, match="only a layer name or a layer index"):
        m.get_layer(first.name, 0)
    with pytest.raises(ValueError, match="Provide either"):
        m.get_layer()
    assert m.pop() is last and m.layers == [first] and m.output_shape == (None, 8)
    m.add(Dense(1, activation="softmax", dtype="float64"))
    m.add(Dense(3, activation="softmax", dtype="float64"))
    m.pop()
    m.pop()
    m.add(Dense(3, activation="softmax", dtype="float64"))
    x, y = data()
    assert m.evaluate(x, y, return_dict=True).keys() == {"loss", "accuracy"}
    m.pop(), m.pop()
    assert not m.built
    with pytest.raises(TypeError, match="no layers"):
        m.pop()


def test_a_frozen_layer_is_not_updated_by_fit():
    x, y = data()
    m = model()
    m.layers[0].trainable = False
    frozen = [w.copy() for w in m.layers[0].get_weights()]
    trained = [w.copy() for w in m.layers[1].get_weights()]
    m.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, m.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, b) for a, b in zip(trained, m.layers[1].get_weights()))


# ------------------------------------------------------------ utils
def test_normalize_matches_numpy_and_keras():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 3))
    x[1, 2] = 0
    before = x.copy()
    for axis, order in [(-1, 2), (0, 1), (1, 2), (2, 3)]:
        norm = np.sum(np.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
        want = x / np.where(norm == 0, 1, norm)
        np.testing.assert_allclose(ccnn.utils.normalize(x, axis, order), want, rtol=1e-12)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match="axis"):
        ccnn.utils.normalize(x, axis=3)
    with pytest.raises(ValueError, match="order"):
        ccnn.utils.normalize(x, order=0)
    with pytest.raises(TypeError, match="real numbers"):
        ccnn.utils.normalize(np.array(["a"]))
    try:
        import keras
    except ImportError:
        return
    np.testing.assert_allclose(ccnn.utils.normalize(x, 1, 2),
                               keras.ops.convert_to_numpy(keras.utils.normalize(x, 1, 2)),
                               rtol=1e-6)


def test_split_dataset_as_keras_for_arrays_and_tuples():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    left, right = ccnn.utils.split_dataset(x, left_size=0.76)
    np.testing.assert_array_equal(left, x[:8])
    np.testing.assert_array_equal(right, x[8:])
    (lx, ly), (rx, ry) = ccnn.utils.split_dataset((x, y), left_size=3, right_size=0.5)
    np.testing.assert_array_equal(lx, x[:3])
    np.testing.assert_array_equal(ly, y[:3])
    np.testing.assert_array_equal(rx, x[5:])
    np.testing.assert_array_equal(ry, y[5:])
    (lx, ly), (rx, ry) = ccnn.utils.split_dataset((x, y), right_size=4, shuffle=True, seed=3)
    order = np.random.default_rng(3).permutation(10)
    np.testing.assert_array_equal(ly, order[:6])
    np.testing.assert_array_equal(rx, x[order[6:]])
    for kwargs, err, match in [({}, TypeError, "At least one"),
                               ({"left_size": 10}, ValueError, "left_size"),
                               ({"left_size": 1.0}, ValueError, "left_size"),
                               ({"right_size": "a"}, TypeError, "right_size"),
                               ({"left_size": 6, "right_size": 5}, ValueError, "more than"),
                               ({"left_size": 0.01}, ValueError, "empty")]:
        with pytest.raises(err, match=match):
            ccnn.utils.split_dataset(x, **kwargs)
    with pytest.raises(ValueError, match="different lengths"):
        ccnn.utils.split_dataset((x, y[:3]), left_size=2)


# ------------------------------------------------------------ sample and class weights
def ce(p, y):
    return -np.log(p[np.arange(len(y)), y])


def test_sample_weight_scales_each_sample_loss_and_gradient_as_keras():
    x, y = data()
    w = np.linspace(0.0, 2.0, 16)
    m = model(weighted_metrics=["accuracy"])
    p = m.predict(x[:16])
    loss, acc, wacc = m.train_on_batch(x[:16], y[:16], sample_weight=w)
    assert loss == pytest.approx(np.sum(w * ce(p, y[:16])) / 16, rel=1e-12)   # Keras: / batch
    correct = p.argmax(1) == y[:16]
    assert acc == pytest.approx(np.mean(correct), rel=1e-12)       # metrics: unweighted
    assert wacc == pytest.approx(np.sum(w * correct) / np.sum(w), rel=1e-12)
    # the gradient is sum(w_i g_i) / N: weights 1 on the first k samples and 0
    # on the rest step as an unweighted batch of those k with lr * k / N
    k = 10
    a, b = model(lr=0.1), model(lr=0.1 * k / 16)
    a.train_on_batch(x[:16], y[:16], sample_weight=np.r_[np.ones(k), np.zeros(16 - k)])
    b.train_on_batch(x[:k], y[:k])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)
    # evaluate weighs the same way
    m = model(weighted_metrics=["accuracy"])
    p = m.predict(x)
    w = np.random.default_rng(2).random(48)
    logs = m.evaluate(x, y, batch_size=48, sample_weight=w, return_dict=True)
    assert logs["loss"] == pytest.approx(np.sum(w * ce(p, y)) / 48, rel=1e-12)
    assert logs["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y), rel=1e-12)
    assert logs["weighted_accuracy"] == pytest.approx(
        np.sum(w * (p.argmax(1) == y)) / w.sum(), rel=1e-12)
    assert m.test_on_batch(x, y, sample_weight=w) == pytest.approx(list(logs.values()), rel=1e-12)


def test_weighted_fit_matches_a_numpy_weighted_epoch_loss():
    x, y = data()
    w = np.random.default_rng(3).random(48) + 0.5
    m = model(lr=0.0, weighted_metrics=["accuracy"])   # lr 0: every batch sees the same weights
    p = m.predict(x)
    h = m.fit(x, y, batch_size=16, epochs=1, verbose=0, sample_weight=w)
    # each batch loss sum(w ce)/16, averaged over batches by size (Keras's loss tracker)
    assert h.history["loss"][0] == pytest.approx(np.sum(w * ce(p, y)) / 48, rel=1e-12)
    assert h.history["accuracy"][0] == pytest.approx(np.mean(p.argmax(1) == y), rel=1e-12)
    assert h.history["weighted_accuracy"][0] == pytest.approx(
        np.sum(w * (p.argmax(1) == y)) / w.sum(), rel=1e-12)


def test_class_weight_is_sample_weight_by_class_and_generators_give_weights():
    x, y = data()
    cw = {0: 2.0, 2: 0.25}
    sw = np.array([cw.get(int(c), 1.0) for c in y])
    a, b = model(), model()
    ccnn.utils.set_random_seed(5)
    ha = a.fit(x, y, batch_size=16, epochs=2, verbose=0, class_weight=cw,
               validation_data=(x[:8], y[:8], sw[:8]))
    ccnn.utils.set_random_seed(5)
    hb = b.fit(x, y, batch_size=16, epochs=2, verbose=0, sample_weight=sw,
               validation_data=(x[:8], y[:8], sw[:8]))
    assert ha.history == hb.history
    c = model()
    hc = c.fit(iter([(x[i:i + 16], y[i:i + 16], sw[i:i + 16]) for i in (0, 16, 32)] * 2),
               steps_per_epoch=3, epochs=2, verbose=0)
    d = model()
    hd = d.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, sample_weight=sw)
    assert hc.history == hd.history
    e = model()
    e.fit(Batches(x, y, 16), epochs=2, verbose=0, shuffle=False, class_weight=cw)
    for we, wd in zip(e.get_weights(), d.get_weights()):
        np.testing.assert_array_equal(we, wd)
    unweighted = model()
    unweighted.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    assert not np.array_equal(unweighted.get_weights()[0], d.get_weights()[0])


def test_bad_weights_are_named():
    x, y = data()
    m = model()
    with pytest.raises(ValueError, match="both `class_weight` and `sample_weight`"):
        m.fit(x, y, verbose=0, sample_weight=np.ones(48), class_weight={0: 1.0})
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(48,\)"):
        m.fit(x, y, verbose=0, sample_weight=np.ones(47))
    with pytest.raises(ValueError, match="sample_weight must be finite"):
        m.fit(x, y, verbose=0, sample_weight=np.full(48, np.nan))
    with pytest.raises(TypeError, match="sample_weight must be an array of real numbers"):
        m.evaluate(x, y, sample_weight=["a"] * 48)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        m.fit(x, y, verbose=0, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="val_sample_weight must have shape"):
        m.fit(x, y, verbose=0, validation_data=(x, y, np.ones(3)))
    with pytest.raises(ValueError, match="sample_weight must be None when x is a PyDataset"):
        m.fit(Batches(x, y, 8), verbose=0, sample_weight=np.ones(48))
