"""compile() without a loss of a model with regularization losses (a
kernel_regularizer, an activity_regularizer), as Keras 3: fit, evaluate,
train_on_batch and test_on_batch run (y may be left out), fit minimises the
penalties alone and History's `loss` is their value; a model without any
still raises "No loss to compute" (test_compile_loss_weights).  The
reference is Keras 3 itself, from the same weights."""
import os

import numpy as np
import pytest

import ccnn
from ccnn.models import trainer as trainer_mod

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 5)).astype(np.float32)
Y = RNG.standard_normal((16, 3)).astype(np.float32)
KINDS = ["sequential", "functional"]
REGS = ["kernel", "activity", "both"]


def _model(lib, kind, reg):
    kw = {}
    if reg in ("kernel", "both"):
        kw["kernel_regularizer"] = lib.regularizers.L2(0.1)
    if reg in ("activity", "both"):
        kw["activity_regularizer"] = lib.regularizers.L1(0.05)
    hidden = lib.layers.Dense(4, activation="tanh", **kw)
    out = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.L1L2(0.01, 0.02)
                           if reg == "both" else None)
    if kind == "sequential":
        return lib.Sequential([lib.Input((5,)), hidden, out])
    i = lib.Input((5,))
    return lib.Model(i, out(hidden(i)))


def _pair(kind, reg, metrics=None):
    ccnn.utils.set_random_seed(0)
    m, k = _model(ccnn, kind, reg), _model(keras, kind, reg)
    k.set_weights(m.get_weights())
    m.compile(ccnn.optimizers.SGD(0.1), metrics=metrics)
    k.compile(keras.optimizers.SGD(0.1), metrics=metrics)
    return m, k


def _close_weights(m, k):
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("kind", KINDS)
def test_fit_minimises_the_regularization_alone_as_keras(kind, reg):
    m, k = _pair(kind, reg)
    hk = k.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    hm = m.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(hm) == sorted(hk) == ["loss"]
    np.testing.assert_allclose(hm["loss"], hk["loss"], rtol=1e-5)
    assert hm["loss"][-1] < hm["loss"][0] and hm["loss"][0] > 0
    _close_weights(m, k)
    # without targets (nothing reads them)
    hk = k.fit(X, epochs=2, batch_size=16, verbose=0).history
    hm = m.fit(X, epochs=2, batch_size=16, verbose=0).history
    np.testing.assert_allclose(hm["loss"], hk["loss"], rtol=1e-5)
    _close_weights(m, k)


@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_and_the_batch_calls_as_keras(kind, reg):
    m, k = _pair(kind, reg)
    for call in (lambda model: model.evaluate(X, Y, verbose=0),
                 lambda model: model.evaluate(X, verbose=0),
                 lambda model: model.test_on_batch(X, Y),
                 lambda model: model.train_on_batch(X, Y),
                 lambda model: model.train_on_batch(X),
                 lambda model: model.evaluate(X, verbose=0)):
        assert call(m) == pytest.approx(float(call(k)), rel=1e-5)
    _close_weights(m, k)


def test_the_kernel_penalty_alone_is_the_first_loss_and_gradient():
    """SGD(lr) on 0.1 * sum(w**2): w <- w - lr * 0.2 * w, the loss before the step."""
    ccnn.utils.set_random_seed(3)
    m = ccnn.Sequential([ccnn.Input((5,), dtype="float64"),
                         ccnn.layers.Dense(3, kernel_regularizer=ccnn.regularizers.L2(0.1),
                                           dtype="float64")])
    m.compile(ccnn.optimizers.SGD(0.1))
    w, b = (a.copy() for a in m.get_weights())
    h = m.fit(X.astype(np.float64), epochs=1, batch_size=16, verbose=0).history
    assert h["loss"] == [pytest.approx(0.1 * np.sum(w ** 2), rel=1e-12)]
    np.testing.assert_allclose(m.get_weights()[0], w - 0.1 * 0.2 * w, rtol=1e-12)
    np.testing.assert_array_equal(m.get_weights()[1], b)        # no penalty: no gradient


@pytest.mark.parametrize("kind", KINDS)
def test_metrics_on_the_targets_as_keras(kind):
    m, k = _pair(kind, "kernel", metrics=["mae"])
    hk = k.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    hm = m.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(hm) == sorted(hk) == ["loss", "mae"]
    for key in hk:
        np.testing.assert_allclose(hm[key], hk[key], rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_without_any_regularization_it_still_raises(kind):
    m, k = _model(ccnn, kind, None), _model(keras, kind, None)
    m.compile("sgd")
    k.compile("sgd")
    for model in (m, k):
        with pytest.raises(ValueError, match="No loss to compute"):
            model.fit(X, Y, verbose=0)
        with pytest.raises(ValueError, match="No loss to compute"):
            model.evaluate(X, Y, verbose=0)
    assert trainer_mod.NO_LOSS.startswith("No loss to compute")
