"""LearningRateScheduler, ReduceLROnPlateau, CSVLogger and LambdaCallback by
their effect on a small fit, against Python transcriptions of Keras 3's
rules -- and, when keras is installed, against keras.callbacks driven by the
same logs."""

import csv
import os
import types

import numpy as np
import pytest

import ccnn
from ccnn.callbacks import (Callback, CSVLogger, LambdaCallback, LearningRateScheduler,
                            ReduceLROnPlateau)
from ccnn.layers import Dense
from ccnn.optimizers import SGD, schedules


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float64)
    y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 1)
    return x, y


def model(lr=0.1, seed=0):
    ccnn.utils.set_random_seed(seed)
    m = ccnn.models.Sequential([Dense(8, activation="relu"), Dense(3, activation="softmax")])
    m.compile(optimizer=SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.build((None, 6))
    return m


class RecordLR(Callback):
    """The learning rate each batch's update is made with, and the iteration count."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(self.model.optimizer.learning_rate)


# ------------------------------------------------------------ LearningRateScheduler
def test_learning_rate_scheduler_sets_the_rate_each_epoch(capsys):
    x, y = data()
    m = model()
    rec = RecordLR()
    sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5, verbose=1)
    hist = m.fit(x, y, batch_size=16, epochs=5, verbose=0, shuffle=False,
                 callbacks=[sched, rec])
    want = [0.1, 0.1, 0.05, 0.025, 0.0125]
    assert hist.history["learning_rate"] == pytest.approx(want, rel=1e-15)
    assert rec.rates == pytest.approx(np.repeat(want, 3).tolist(), rel=1e-15)
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.05." in \
        capsys.readouterr().out


def test_learning_rate_scheduler_effect_equals_setting_the_rate_by_hand():
    """Fit with the scheduler == fit one epoch at a time with the rate set
    by hand between them (model.optimizer.learning_rate settable mid-training):
    the same weights, bit for bit."""
    x, y = data()
    rates = [0.2, 0.05, 0.01]
    a = model()
    a.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False,
          callbacks=[LearningRateScheduler(lambda epoch: rates[epoch])])
    b = model()
    for epoch, lr in enumerate(rates):
        b.optimizer.learning_rate = lr
        b.fit(x, y, batch_size=16, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
              shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = model()
    c.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)   # a constant 0.1 differs
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_learning_rate_scheduler_bad_input():
    x, y = data()
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match="verbose"):
        LearningRateScheduler(lambda e: 0.1, verbose=-1)
    m = model()
    with pytest.raises(ValueError, match="should be a float"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: 1)])
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: -0.1)])
    m = model()
    m.optimizer = SGD(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="not settable"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.1)])


# ------------------------------------------------------------ ReduceLROnPlateau
def ref_plateau(values, lr, factor=0.1, patience=10, mode="min", min_delta=1e-4, cooldown=0,
                min_lr=0.0):
    """Keras 3's ReduceLROnPlateau.on_epoch_end, transcribed: the rate logged
    at each epoch's end (before that epoch's reduction) and the final rate."""
    best, wait, cool, logged = None, 0, 0, []
    for v in values:
        logged.append(lr)
        if cool > 0:
            cool -= 1
            wait = 0
        better = best is None or (v + min_delta < best if mode == "min" else
                                  v - min_delta > best)
        if better:
            best, wait = v, 0
        elif not cool > 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):
                lr = max(lr * factor, min_lr)
                cool, wait = cooldown, 0
    return logged, lr


SCRIPTS = [
    # (monitored values, kwargs)
    ([1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8], dict(patience=2)),
    ([1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], dict(patience=1, cooldown=2,
                                                           factor=0.5)),
    ([1.0] * 12, dict(patience=1, factor=0.5, min_lr=0.02)),
    ([1.0, 0.99995, 0.9999, 0.5, 0.5, 0.5], dict(patience=2, min_delta=1e-4)),
    ([0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3], dict(patience=2, mode="max")),
    ([0.0, 1.0, 1.0, 1.0], dict(patience=0, factor=0.0)),
]


def _scripted_fit(values, monitor, **kwargs):
    """A fit whose monitored value at epoch i is values[i] (a LambdaCallback
    ahead of ReduceLROnPlateau writes it into the shared epoch logs)."""
    x, y = data()
    m = model(lr=0.1)
    script = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(
        {monitor: values[epoch]}))
    rec = RecordLR()
    hist = m.fit(x, y, batch_size=24, epochs=len(values), verbose=0,
                 callbacks=[script, ReduceLROnPlateau(monitor=monitor, **kwargs), rec])
    return m, hist, rec


@pytest.mark.parametrize("values,kwargs", SCRIPTS)
def test_reduce_lr_on_plateau_follows_keras_rules(values, kwargs):
    monitor = "val_accuracy" if kwargs.get("mode") == "max" else "val_loss"
    m, hist, rec = _scripted_fit(values, monitor, **kwargs)
    logged, final = ref_plateau(values, 0.1, **kwargs)
    assert hist.history["learning_rate"] == pytest.approx(logged, rel=1e-15)
    assert m.optimizer.learning_rate == pytest.approx(final, rel=1e-15)
    # the rate logged at an epoch's end is the one its batches were trained with
    assert rec.rates == pytest.approx(np.repeat(logged, 2).tolist(), rel=1e-15)


def test_reduce_lr_on_plateau_auto_mode_and_real_fit(capsys):
    assert ReduceLROnPlateau(monitor="val_accuracy")._op == "max"
    assert ReduceLROnPlateau(monitor="loss")._op == "min"
    assert ReduceLROnPlateau(monitor="val_mae")._op == "min"
    assert ReduceLROnPlateau(monitor="auc")._op == "max"
    x, y = data()
    m = model(lr=0.0)   # nothing is learned: the loss never improves after epoch 1
    m.optimizer.learning_rate = 1e-12
    hist = m.fit(x, y, batch_size=16, epochs=4, verbose=0,
                 callbacks=[ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5,
                                              min_delta=1e-3, verbose=1)])
    assert hist.history["learning_rate"] == pytest.approx([1e-12, 5e-13, 2.5e-13, 1.25e-13])
    assert "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 5e-13.\n" in \
        capsys.readouterr().out
    with pytest.warns(UserWarning, match="not available"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau(monitor="val_loss")])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(factor=1.0), ValueError, "factor >= 1.0"),
    (dict(factor=-0.5), ValueError, "factor"),
    (dict(factor="x"), TypeError, "factor"),
    (dict(patience=-1), ValueError, "patience"),
    (dict(cooldown=1.5), ValueError, "cooldown"),
    (dict(min_lr=-1.0), ValueError, "min_lr"),
    (dict(min_delta=None), TypeError, "min_delta"),
    (dict(mode="up"), ValueError, "mode"),
    (dict(monitor=3), TypeError, "monitor"),
    (dict(monitor="val_custom"), ValueError, "mode='max'"),
])
def test_reduce_lr_on_plateau_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ReduceLROnPlateau(**kwargs)


# ------------------------------------------------------------ CSVLogger
def read_rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_writes_keras_columns(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    m = model()
    hist = m.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25,
                 callbacks=[CSVLogger(path)])
    rows = read_rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert int(row[0]) == epoch
        for key, text in zip(rows[0][1:], row[1:]):
            assert float(text) == hist.history[key][epoch]   # repr: exact round trip
    assert open(path, "rb").read().count(b"\r\n") == 4   # csv.excel's line ends, as Keras
    # append=True: more rows, no second header; separator
    m.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25,
          callbacks=[CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert len(rows) == 6 and rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == \
        ["0", "1", "2", "0", "1"]
    # without validation the val_ columns are there, as NA
    m.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert read_rows(path, ";") == [["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
                                    read_rows(path, ";")[1]]
    assert read_rows(path, ";")[1][3:] == ["NA", "NA"]
    assert sorted(os.listdir(tmp_path)) == ["log.csv"]   # no temporary files left


def test_csv_logger_crash_leaves_whole_lines(tmp_path):
    """Each epoch's end rewrites the file atomically: read after every epoch
    it is always complete, and an interruption in the middle of an epoch
    leaves the completed epochs' rows and no temporary file."""
    x, y = data()
    path = tmp_path / "log.csv"
    seen = []

    def check(epoch, logs):
        text = open(path, newline="").read()
        assert text.endswith("\r\n")
        seen.append(len(read_rows(path)))

    def crash(batch, logs):
        if len(seen) == 2 and batch == 1:
            raise KeyboardInterrupt

    m = model()
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, batch_size=8, epochs=5, verbose=0,
              callbacks=[CSVLogger(path), LambdaCallback(on_epoch_end=check,
                                                         on_train_batch_end=crash)])
    assert seen == [2, 3]
    rows = read_rows(path)
    assert len(rows) == 3 and all(len(r) == len(rows[0]) for r in rows)
    assert sorted(os.listdir(tmp_path)) == ["log.csv"]


def test_csv_logger_bad_arguments():
    with pytest.raises(TypeError, match="filename"):
        CSVLogger(3.5)
    with pytest.raises(ValueError, match="separator"):
        CSVLogger("a.csv", separator=";;")
    with pytest.raises(TypeError, match="append"):
        CSVLogger("a.csv", append="yes")


# ------------------------------------------------------------ LambdaCallback
def test_lambda_callback_hooks_and_logs():
    x, y = data()
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch,
                                                             sorted(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))))
    model().fit(x, y, batch_size=24, epochs=2, verbose=0, callbacks=[cb])
    keys = ["accuracy", "loss"]
    epoch = [("batch_begin", 0), ("batch_end", 0, keys), ("batch_begin", 1),
             ("batch_end", 1, keys)]
    assert calls == ([("train_begin", {}), ("epoch_begin", 0, {})] + epoch +
                     [("epoch_end", 0, keys), ("epoch_begin", 1, {})] + epoch +
                     [("epoch_end", 1, keys), ("train_end", keys)])  # Keras: the last epoch's


def test_lambda_callback_stops_training_and_bad_arguments():
    x, y = data()
    m = model()

    def stop(epoch, logs):
        m.stop_training = epoch == 1
    hist = m.fit(x, y, epochs=5, verbose=0, callbacks=[LambdaCallback(on_epoch_end=stop)])
    assert hist.epoch == [0, 1]
    LambdaCallback(on_test_begin=lambda logs: None)   # accepted, as in Keras
    with pytest.raises(TypeError, match="on_epoch_end"):
        LambdaCallback(on_epoch_end=3)
    with pytest.raises(TypeError, match="on_epoch_ned"):
        LambdaCallback(on_epoch_ned=lambda e, l: None)


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed; the transcriptions "
                                               "above stand for it")


@pytest.mark.parametrize("values,kwargs", SCRIPTS)
def test_reduce_lr_on_plateau_matches_keras(values, kwargs):
    keras = _keras()
    monitor = "val_accuracy" if kwargs.get("mode") == "max" else "val_loss"
    fake = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.1),
                                 metrics=[])
    theirs = keras.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs)
    theirs.set_model(fake)
    theirs.on_train_begin()
    their_logged = []
    for epoch, v in enumerate(values):
        logs = {monitor: v}
        theirs.on_epoch_end(epoch, logs)
        their_logged.append(logs["learning_rate"])
    _, hist, _ = _scripted_fit(values, monitor, **kwargs)
    assert hist.history["learning_rate"] == pytest.approx(their_logged, rel=1e-12)


def test_csv_logger_matches_keras_byte_for_byte(tmp_path):
    keras = _keras()
    logs_seq = [{"loss": 0.5, "accuracy": 0.25, "val_loss": 0.625},
                {"loss": 0.125, "accuracy": 0.75, "val_loss": 1 / 3},
                {"loss": 0.1, "accuracy": 1.0}]
    for append in (False, True):
        for cls, name in ((keras.callbacks.CSVLogger, "keras.csv"), (CSVLogger, "ccnn.csv")):
            cb = cls(str(tmp_path / name), separator=";", append=append)
            cb.on_train_begin()
            for epoch, logs in enumerate(logs_seq):
                cb.on_epoch_end(epoch, dict(logs))
            cb.on_train_end()
        assert (tmp_path / "ccnn.csv").read_bytes() == (tmp_path / "keras.csv").read_bytes()


def test_csv_logger_used_without_on_train_begin(tmp_path):
    cb = CSVLogger(tmp_path / "log.csv")
    cb.on_epoch_end(0, {"loss": 0.5})
    assert read_rows(tmp_path / "log.csv") == [["epoch", "loss", "val_loss"], ["0", "0.5", "NA"]]
