"""Layers, models and optimizers pickle and deep-copy: the copy predicts what
the original predicts and trains on exactly as the original would, the two
stay independent, and a model trained in a worker process (spawn) comes back
to the parent intact.  (tests/test_model.py pickles a trained model once;
this file covers every layer type, deepcopy, every pickle protocol,
optimizer state sharing and multiprocessing.)"""
import copy
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import ccnn
from ccnn.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D,
                         ReLU, Softmax)
from ccnn.optimizers import SGD, Adam
from _mp_worker import data, small_model, train

PROTOCOLS = list(range(2, pickle.HIGHEST_PROTOCOL + 1))


def _roundtrips():
    return {
        **{f"pickle{p}": (lambda obj, p=p: pickle.loads(pickle.dumps(obj, protocol=p)))
           for p in PROTOCOLS},
        "deepcopy": copy.deepcopy,
    }


ROUNDTRIPS = _roundtrips()


def _layers():
    return [
        (Conv2D(3, (3, 3), strides=2, padding="same", activation="relu"), (4, 9, 8, 2)),
        (Conv2D(2, 2, dilation_rate=2, data_format="channels_first", use_bias=False),
         (4, 2, 9, 8)),
        (MaxPooling2D((2, 2), padding="same"), (4, 9, 8, 2)),
        (AveragePooling2D((3, 2), strides=1), (4, 9, 8, 2)),
        (Flatten(), (4, 3, 5, 2)),
        (Dropout(0.4, seed=3), (4, 10)),
        (Dense(5, activation="softmax"), (4, 7)),
        (Dense(3, dtype="float64"), (4, 2, 7)),
        (ReLU(), (4, 6)),
        (Softmax(), (4, 6)),
    ]


@pytest.mark.parametrize("how", ROUNDTRIPS)
@pytest.mark.parametrize("index", range(len(_layers())))
def test_every_layer_round_trips(index, how):
    layer, shape = _layers()[index]
    rng = np.random.default_rng(index)
    x = rng.standard_normal(shape).astype(layer.dtype)
    unbuilt = ROUNDTRIPS[how](layer)
    assert not unbuilt.built and unbuilt.get_config() == layer.get_config()

    y = layer(x, training=True)                       # built, with a cached batch
    layer.backward(np.ones_like(y))
    clone = ROUNDTRIPS[how](layer)
    assert type(clone) is type(layer) and clone.built
    assert clone.get_config() == layer.get_config()
    assert clone.input_shape == layer.input_shape and clone.output_shape == layer.output_shape
    assert clone.params.keys() == layer.params.keys()
    for k, p in layer.params.items():
        assert clone.params[k] is not p
        assert clone.params[k].dtype == p.dtype
        np.testing.assert_array_equal(clone.params[k], p)
    # the same computation on both, in inference and in training mode (the
    # Dropout layer's own generator was copied with its state)
    x2 = rng.standard_normal(shape).astype(layer.dtype)
    np.testing.assert_array_equal(clone(x2), layer(x2))
    y1, y2 = clone(x2, training=True), layer(x2, training=True)
    np.testing.assert_array_equal(y1, y2)
    g = rng.standard_normal(y1.shape).astype(layer.dtype)
    np.testing.assert_array_equal(clone.backward(g), layer.backward(g))
    for k in layer.grads:
        np.testing.assert_array_equal(clone.grads[k], layer.grads[k])
    # and they are independent
    for p in clone.params.values():
        p += 1
    for k, p in layer.params.items():
        assert not np.array_equal(clone.params[k], p)


@pytest.mark.parametrize("how", ROUNDTRIPS)
@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.05, momentum=0.9),
                                  lambda: SGD(0.05, momentum=0.5, nesterov=True),
                                  lambda: SGD(0.1)])
def test_optimizer_state_round_trips_with_its_params(make, how):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal(5)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(6)]
    opt = make()
    for gs in grads[:3]:
        opt.apply_gradients(zip(gs, params))
    params2, opt2 = ROUNDTRIPS[how]((params, opt))
    assert type(opt2) is type(opt) and opt2.get_config() == opt.get_config()
    assert opt2.iterations == opt.iterations == 3
    # the copied state refers to the copied parameters, not to the originals
    for entry in opt2._slots:
        assert any(entry["param"] is p for p in params2)
    for gs in grads[3:]:
        opt.apply_gradients(zip(gs, params))
        opt2.apply_gradients(zip(gs, params2))
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(opt.variables, opt2.variables):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def trained():
    model, _, _ = train(None, epochs=2, seed=4)
    return model


@pytest.mark.parametrize("how", ROUNDTRIPS)
def test_model_round_trip(trained, how):
    x, y = data(seed=1)
    clone = ROUNDTRIPS[how](trained)
    assert clone.get_config() == trained.get_config()
    assert clone.compiled and clone.metrics == trained.metrics
    assert clone.history.history == trained.history.history
    np.testing.assert_array_equal(clone.predict(x), trained.predict(x))
    assert clone.evaluate(x, y) == trained.evaluate(x, y)
    # the optimizer of the copy updates the copy's weights
    weights = {id(w) for w in clone.weights}
    assert all(id(e["param"]) in weights for e in clone.optimizer._slots)
    assert len(clone.optimizer._slots) == len(clone.trainable_weights)
    # training the copy leaves the original alone ...
    before = [w.copy() for w in trained.weights]
    ccnn.utils.set_random_seed(7)
    clone.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for w, b in zip(trained.weights, before):
        np.testing.assert_array_equal(w, b)
    # ... and the original, trained the same way, ends where the copy did
    ccnn.utils.set_random_seed(7)
    trained.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert clone.optimizer.iterations == trained.optimizer.iterations
    for a, b in zip(clone.weights, trained.weights):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, b) for a, b in zip(trained.weights, before))


def test_unbuilt_and_uncompiled_models_round_trip():
    model = ccnn.Sequential([Flatten(), Dense(3)])
    clone = pickle.loads(pickle.dumps(model))
    assert not clone.built and not clone.compiled and len(clone.layers) == 2
    x = np.ones((2, 4, 4), np.float32)
    model.build((None, 4, 4))
    clone = copy.deepcopy(model)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_model_trained_in_a_spawned_process_comes_back():
    """A model built and trained in a worker process (spawn start method) is
    returned to the parent through pickling: same weights, same predictions,
    and it goes on training here."""
    x, y = data()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        model, preds, pid = pool.apply(train, (None, 3, 11))
        assert pid != os.getpid()
        # and a model sent from here, trained there, and sent back
        sent = small_model(12)
        before = [w.copy() for w in sent.weights]
        back, back_preds, pid2 = pool.apply(train, (sent, 2, 12))
    assert pid2 != os.getpid()
    np.testing.assert_array_equal(model.predict(x), preds)
    assert model.optimizer.iterations == 3 * 6
    assert len(model.history.history["loss"]) == 3
    np.testing.assert_array_equal(back.predict(x), back_preds)
    assert any(not np.array_equal(a, b) for a, b in zip(back.weights, before))
    for w, b in zip(sent.weights, before):  # the parent's copy was not touched
        np.testing.assert_array_equal(w, b)
    # the same training here gives the same model as there
    local, local_preds, _ = train(None, 3, 11)
    np.testing.assert_array_equal(local_preds, preds)
    for a, b in zip(local.weights, model.weights):
        np.testing.assert_array_equal(a, b)
    # it keeps training in the parent
    loss_before = model.evaluate(x, y)[0]
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert model.evaluate(x, y)[0] < loss_before
