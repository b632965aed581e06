"""evaluate (and fit's validation, test_on_batch) through the inference plan
(ccnn.models.inference.evaluate_forward).

The reference is the per-layer forward (the plan switched off), which the
rest of the suite checks against NumPy, torch and Keras.  Without a
BatchNormalization folded into the layer before it the plan calls the same
kernels on the same batches, so the logs must be bit-identical; with a
folded one the outputs round differently (tests/test_inference_plan.py), so
the loss is compared at float64 to 1e-10 relative.
"""
import numpy as np
import pytest

import ccnn
from ccnn import layers
from ccnn.models import inference


@pytest.fixture(autouse=True)
def _plan_on():
    inference.set_enabled(True)
    yield
    inference.set_enabled(True)


def per_layer(fn, *args, **kw):
    inference.set_enabled(False)
    try:
        return fn(*args, **kw)
    finally:
        inference.set_enabled(True)


def build(last, loss, dtype="float32", bn=False, activity=None, seed=1):
    ccnn.utils.set_random_seed(seed)
    ls = [layers.RandomTranslation(0.1, 0.1, dtype=dtype),
          layers.Conv2D(4, 3, padding="same", use_bias=not bn, dtype=dtype,
                        activation=None if bn else "relu")]
    ls += [layers.BatchNormalization(dtype=dtype), layers.Activation("relu", dtype=dtype)] \
        if bn else []
    ls += [layers.MaxPooling2D(dtype=dtype), layers.Flatten(dtype=dtype),
           layers.Dropout(0.3, dtype=dtype),
           layers.Dense(8, activation="relu", dtype=dtype, activity_regularizer=activity)]
    ls += [layers.Dense(5, activation="softmax", dtype=dtype)] if last == "dense" else \
        [layers.Dense(5, dtype=dtype), layers.Softmax(dtype=dtype)]
    model = ccnn.Sequential(ls)
    model.build((None, 10, 10, 2))
    model.compile("adam", loss, metrics=["accuracy"])
    return model


def data(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 10, 10, 2)).astype(dtype), rng.integers(0, 5, n)


def targets(loss, y):
    return y if loss.startswith("sparse") else ccnn.utils.to_categorical(y, 5)


def no_per_layer_forward(model):
    """Make the per-layer forward fail: the plan must answer on its own."""
    def refuse(x, training):
        raise AssertionError("the per-layer forward ran")
    model._forward = refuse


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("last", ["dense", "softmax"])
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy",
                                  "categorical_crossentropy", "mse"])
@pytest.mark.parametrize("batch", [1, 7, 32, 100])
def test_evaluate_is_the_per_layer_evaluate_bit_for_bit(dtype, last, loss, batch):
    model = build(last, loss, dtype)
    x, y = data(90, dtype)
    t = targets(loss, y)
    model.fit(x, t, epochs=1, batch_size=16, verbose=0)
    want = per_layer(model.evaluate, x, t, batch_size=batch)
    want_one = per_layer(model.test_on_batch, x[:batch], t[:batch])
    trained = model._forward
    no_per_layer_forward(model)
    assert model.evaluate(x, t, batch_size=batch) == want
    assert model.test_on_batch(x[:batch], t[:batch]) == want_one
    del model._forward
    assert model._forward == trained
    # the head's logits are the last batch's, as the per-layer forward leaves them
    head = model._execution_plan().head
    if loss != "mse":
        z = np.asarray(head.layer.logits)
        per_layer(model.evaluate, x[:batch], t[:batch], batch_size=batch)
        assert np.array_equal(z, head.layer.logits)


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-10)])
def test_a_folded_batchnorm_rounds_differently_only(dtype, rtol):
    model = build("dense", "sparse_categorical_crossentropy", dtype, bn=True)
    x, y = data(96, dtype, seed=3)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    want = per_layer(model.evaluate, x, y, batch_size=32)
    no_per_layer_forward(model)
    got = model.evaluate(x, y, batch_size=32)
    np.testing.assert_allclose(got[0], want[0], rtol=rtol)
    if dtype == "float64":
        assert got[1] == want[1]


def test_fit_validation_runs_the_plan_and_training_is_unchanged():
    x, y = data(120, "float32", seed=5)
    xv, yv = data(50, "float32", seed=6)
    runs = []
    for on in (False, True):
        inference.set_enabled(on)
        model = build("dense", "sparse_categorical_crossentropy")
        hist = model.fit(x, y, epochs=3, batch_size=16, validation_data=(xv, yv), verbose=0)
        runs.append((hist.history, model.get_weights(),
                     "_logits_plans" in model.__dict__))
    (h0, w0, used0), (h1, w1, used1) = runs
    assert not used0 and used1
    assert h0 == h1                         # no folded BN: the same kernels, the same logs
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1))


def test_an_activity_regularizer_keeps_the_per_layer_path():
    model = build("dense", "sparse_categorical_crossentropy", activity="l2")
    x, y = data(40, "float32")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    want = per_layer(model.evaluate, x, y, batch_size=16)
    calls = []
    forward = model._forward

    def counted(xb, training):
        calls.append(training)
        return forward(xb, training)
    model._forward = counted
    got = model.evaluate(x, y, batch_size=16)
    assert got == want and calls == [False] * 3
    assert "_logits_plans" not in model.__dict__


def test_the_logits_plan_leaves_the_softmax_off():
    model = build("dense", "sparse_categorical_crossentropy", "float64")
    x, _ = data(12, "float64")
    probs = model.predict(x, batch_size=12)
    plan = inference.compile_plan(model.layers, x.shape, x.dtype, logits=True)
    z = plan.run(x)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), probs, rtol=1e-12)
    assert not np.allclose(z.sum(axis=1), 1.0)
    assert "softmax" not in " ".join(plan.ops)
