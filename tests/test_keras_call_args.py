"""Keras 3's fit / evaluate / predict / *_on_batch arguments that Keras CNN
tutorials pass: verbose='auto', steps=0 (every batch) and steps of arrays
(evaluate's steps, fit's steps_per_epoch),
y=None in train_on_batch / test_on_batch -- each against what Keras 3 itself
does (torch backend) where Keras is installed."""

import warnings

import numpy as np
import pytest

from _testutils import keras_or_skip
from test_keras_compile_args import conv_functional, data, dense


def keras_twin(keras):
    """(Keras's dense(), ccnn's dense() with its weights), both compiled alike."""
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                           keras.layers.Dense(2)])
    km.compile(optimizer="sgd", loss="mse")
    m = dense(optimizer="sgd", loss="mse")
    m.set_weights(km.get_weights())
    return km, m


# ------------------------------------------------------------------ verbose, steps
@pytest.mark.parametrize("model", [dense, conv_functional])
def test_verbose_auto_is_1_and_a_bad_verbose_is_named(model, capsys):
    m = model()
    x = np.zeros((3, 4)) if model is dense else np.zeros((3, 8, 8, 1))
    y = np.zeros((3, 2)) if model is dense else np.eye(3)
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, y, verbose="auto")
    assert "loss" in capsys.readouterr().out
    m.evaluate(x, y, verbose="auto")
    assert "loss" in capsys.readouterr().out
    assert m.predict(x, verbose="auto").shape[0] == 3
    m.fit(x, y, verbose=True)           # a bool is 1 / 0, as in Keras
    assert "loss" in capsys.readouterr().out
    m.evaluate(x, y, verbose=False)
    assert capsys.readouterr().out == ""
    for bad in ("bad", 3, -1, "1"):
        for call in (lambda: m.fit(x, y, verbose=bad), lambda: m.evaluate(x, y, verbose=bad),
                     lambda: m.predict(x, verbose=bad),     # the plan's fast path too:
                     lambda: m.predict_on_batch(x) is None or m.predict(x, verbose=bad)):
            with pytest.raises(ValueError, match="verbose"):
                call()


def test_steps_0_is_every_batch_as_keras():
    x, y = data(10)
    m = dense(optimizer="sgd", loss="mse")
    np.testing.assert_array_equal(m.predict(x, steps=0, batch_size=3), m.predict(x))
    assert m.evaluate(x, y, steps=0, batch_size=3) == pytest.approx(m.evaluate(x, y))
    with pytest.raises(ValueError, match="steps"):
        m.predict(x, steps=-1)


def test_evaluate_steps_of_arrays_is_the_first_batches():
    x, y = data(10)
    m = dense(optimizer="sgd", loss="mse")
    assert m.evaluate(x, y, steps=2, batch_size=3) == pytest.approx(
        m.evaluate(x[:6], y[:6], batch_size=3))
    assert m.evaluate(x, y, steps=9, batch_size=3) == pytest.approx(m.evaluate(x, y))


def test_steps_as_keras():
    keras = keras_or_skip()
    x, y = data(10)
    km, m = keras_twin(keras)
    for steps, bs in ((0, 3), (2, 3), (1, 4), (9, 3)):
        np.testing.assert_allclose(m.predict(x, steps=steps, batch_size=bs),
                                   km.predict(x, steps=steps, batch_size=bs, verbose=0),
                                   rtol=1e-5, atol=1e-6)
        assert m.evaluate(x, y, steps=steps, batch_size=bs) == pytest.approx(
            km.evaluate(x, y, steps=steps, batch_size=bs, verbose=0), rel=1e-5)


# ------------------------------------------------------------------ y=None
def test_train_and_test_on_batch_take_y_optional_and_name_it_when_missing():
    x, y = data()
    for m in (dense(optimizer="sgd", loss="mse"), conv_functional()):
        if not m.compiled:
            m.compile(optimizer="sgd", loss="categorical_crossentropy")
            x = np.zeros((2, 8, 8, 1))
        w = [a.copy() for a in m.get_weights()]
        for call in (m.train_on_batch, m.test_on_batch):
            with pytest.raises(ValueError, match="y is required"):
                call(x)
        for a, b in zip(w, m.get_weights()):       # nothing was applied
            np.testing.assert_array_equal(a, b)
    m = dense(optimizer="sgd", loss="mse")
    x, y = data()
    assert np.isfinite(m.train_on_batch(x, y=y)) and np.isfinite(m.test_on_batch(x, y=y))


def test_keras_also_refuses_train_on_batch_without_y():
    keras = keras_or_skip()
    x, _ = data()
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    km.compile(optimizer="sgd", loss="mse")
    with pytest.raises(Exception):
        km.train_on_batch(x)


# ------------------------------------------------------------------ fit(steps_per_epoch) of arrays
def fit_steps(m, x, y, steps, epochs, shuffle=False):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(x, y, batch_size=2, steps_per_epoch=steps, epochs=epochs, shuffle=shuffle,
                  verbose=0)
    return h.history, [w for w in caught if "ran out of data" in str(w.message)]


def test_steps_per_epoch_of_arrays_goes_on_where_the_last_epoch_stopped():
    """10 samples in batches of 2 (5 per pass), 3 steps per epoch: epoch 1
    is batches 0-2, epoch 2 batches 3-4 (the pass ends: a warning), epoch 3
    a new pass's 0-2 -- the same updates as fit over those slices."""
    x, y = data(10)
    m = dense(optimizer="sgd", loss="mse")
    ref = dense(optimizer="sgd", loss="mse")
    history, ran_out = fit_steps(m, x, y, 3, 3)
    assert len(ran_out) == 1 and "after 2 of steps_per_epoch=3" in str(ran_out[0].message)
    want = []
    for lo, hi in ((0, 6), (6, 10), (0, 6)):
        want += ref.fit(x[lo:hi], y[lo:hi], batch_size=2, shuffle=False,
                        verbose=0).history["loss"]
    np.testing.assert_allclose(history["loss"], want, rtol=1e-12)
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_steps_per_epoch_of_arrays_beyond_a_pass_is_a_pass_per_epoch():
    x, y = data(10)
    m, ref = dense(optimizer="sgd", loss="mse"), dense(optimizer="sgd", loss="mse")
    history, ran_out = fit_steps(m, x, y, 7, 2)
    assert len(ran_out) == 2
    want = ref.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-12)


def test_steps_per_epoch_of_arrays_with_shuffle_and_validation_split():
    x, y = data(20)
    m = dense(optimizer="sgd", loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = m.fit(x, y, batch_size=4, steps_per_epoch=3, epochs=3, validation_split=0.2,
                  verbose=0)
    assert sorted(h.history) == ["loss", "val_loss"]
    assert all(len(v) == 3 and np.all(np.isfinite(v)) for v in h.history.values())


def test_steps_per_epoch_of_arrays_as_keras():
    keras = keras_or_skip()
    x, y = data(10)
    km, m = keras_twin(keras)
    for steps, epochs in ((3, 4), (7, 2), (5, 2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = km.fit(x, y, batch_size=2, steps_per_epoch=steps, epochs=epochs,
                          shuffle=False, verbose=0).history
        got, _ = fit_steps(m, x, y, steps, epochs)
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
        for a, b in zip(m.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
