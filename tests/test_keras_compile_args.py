"""Keras 3's compile() arguments that Keras CNN tutorials pass: the default
optimizer ('rmsprop'), run_eagerly / jit_compile / auto_scale_loss -- each
against what Keras 3 itself does (torch backend) where Keras is installed."""

import numpy as np
import pytest

import ccnn
from ccnn import layers
from ccnn.models import inference, train_plan

from _testutils import keras_or_skip


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, :2] * 2 - x[:, 2:]).astype(np.float32)


def dense(seed=0, **compile_kw):
    ccnn.utils.set_random_seed(seed)
    m = ccnn.Sequential([ccnn.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    if compile_kw:
        m.compile(**compile_kw)
    return m


def conv_functional(seed=0):
    ccnn.utils.set_random_seed(seed)
    inp = ccnn.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inp)
    out = layers.Dense(3, activation="softmax")(layers.Flatten()(h))
    return ccnn.Model(inp, out)


# ------------------------------------------------------------------ rmsprop
def test_compile_without_optimizer_is_rmsprop_as_keras():
    m = dense(loss="mse")
    assert type(m.optimizer).__name__ == "RMSprop"
    assert m.get_compile_config()["optimizer"]["class_name"] == "RMSprop"
    f = conv_functional()
    f.compile(loss="categorical_crossentropy")
    assert type(f.optimizer).__name__ == "RMSprop"


def test_default_optimizer_trains_as_an_explicit_rmsprop():
    x, y = data()
    a, b = dense(loss="mse"), dense(optimizer="rmsprop", loss="mse")
    a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_default_optimizer_is_keras_s():
    keras = keras_or_skip()
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    km.compile(loss="mse")
    m = dense(loss="mse")
    assert type(km.optimizer).__name__ == type(m.optimizer).__name__ == "RMSprop"
    kc, cc = km.optimizer.get_config(), m.optimizer.get_config()
    for key in ("rho", "momentum", "epsilon", "centered"):
        assert cc[key] == pytest.approx(kc[key]), key
    assert cc["learning_rate"] == pytest.approx(kc["learning_rate"])


# ------------------------------------------------------------------ run_eagerly, jit_compile
def test_run_eagerly_runs_no_plan_and_gives_the_plan_s_results():
    x = np.random.default_rng(1).standard_normal((12, 8, 8, 1))
    y = ccnn.utils.to_categorical(np.arange(12) % 3, 3)
    planned, eager = conv_functional(), conv_functional()
    planned.compile(optimizer="sgd", loss="categorical_crossentropy")
    eager.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)
    assert eager.run_eagerly is True and planned.run_eagerly is False
    before = train_plan.calls()
    eager.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    pe = eager.predict(x, verbose=0)
    assert train_plan.calls() == before
    assert "_inference_plans" not in eager.__dict__
    planned.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert train_plan.calls() > before            # the same model does have a plan
    for we, wp in zip(eager.get_weights(), planned.get_weights()):
        np.testing.assert_allclose(we, wp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pe, planned.predict(x, verbose=0), rtol=1e-10, atol=1e-12)


def test_run_eagerly_set_after_compile_is_seen_as_in_keras():
    x, y = data()
    m = dense(optimizer="sgd", loss="mse")
    m.predict(x, verbose=0)
    m.predict(x, verbose=0)            # an inference plan compiled for this batch
    if not inference.is_enabled():
        pytest.skip("the inference plan is turned off (CCNN_INFERENCE_PLAN=0)")
    m.run_eagerly = True

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the plan cache was used ({name}) under run_eagerly")
    m.__dict__["_inference_plans"] = Untouchable()
    np.testing.assert_array_equal(m.predict(x, verbose=0), m.predict_on_batch(x))
    np.testing.assert_array_equal(m(x), m.predict_on_batch(x))
    before = train_plan.calls()
    m.fit(x, y, epochs=1, verbose=0)
    assert train_plan.calls() == before


def test_compile_config_has_run_eagerly_and_jit_compile_and_round_trips():
    m = dense(optimizer="sgd", loss="mse", run_eagerly=True)
    cfg = m.get_compile_config()
    assert cfg["run_eagerly"] is True and cfg["jit_compile"] is False
    again = dense()
    again.compile_from_config(cfg)
    assert again.run_eagerly is True
    cfg["jit_compile"] = True        # a Keras file written under XLA: ccnn's C steps regardless
    again.compile_from_config(cfg)
    assert again.jit_compile is False


def test_compile_config_keys_are_keras_s():
    keras = keras_or_skip()
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    km.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    m = dense(optimizer="sgd", loss="mse", run_eagerly=True)
    kc, cc = km.get_compile_config(), m.get_compile_config()
    assert sorted(kc) == sorted(cc)
    assert (kc["run_eagerly"], kc["jit_compile"]) == (cc["run_eagerly"], cc["jit_compile"])


@pytest.mark.parametrize("kw", [dict(jit_compile=False), dict(jit_compile="auto"),
                                dict(auto_scale_loss=True), dict(auto_scale_loss=False),
                                dict(run_eagerly=False)])
def test_keras_s_compile_options_are_accepted_and_change_nothing(kw):
    x, y = data()
    a, b = dense(optimizer="adam", loss="mse"), dense(optimizer="adam", loss="mse", **kw)
    assert b.jit_compile is False
    a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("kw,err,words", [
    (dict(jit_compile=True), ValueError, "jit_compile=True"),
    (dict(jit_compile="xla"), ValueError, "jit_compile"),
    (dict(run_eagerly="yes"), TypeError, "run_eagerly"),
    (dict(auto_scale_loss=None), TypeError, "auto_scale_loss")])
def test_compile_options_ccnn_cannot_honour_are_named(kw, err, words):
    for m in (dense(), conv_functional()):
        with pytest.raises(err, match=words):
            m.compile(optimizer="sgd", loss="mse", **kw)
        assert not m.compiled


def test_subclassed_model_keeps_run_eagerly_until_it_is_traced():
    class Net(ccnn.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, inputs):
            return self.d(inputs)

    x, y = data()
    net = Net()
    net.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    before = train_plan.calls()
    net.fit(x, y, epochs=1, verbose=0)
    assert net.run_eagerly is True and train_plan.calls() == before
