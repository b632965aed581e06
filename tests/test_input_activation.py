"""ccnn.Input as the first element of a Sequential, and the Activation layer,
against Keras's semantics."""
from __future__ import annotations

import os

import numpy as np
import pytest

import ccnn
from ccnn import layers

from _testutils import central_differences


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


def test_input_fixes_the_shape_and_is_not_a_layer():
    inp = ccnn.Input((28, 28, 1), name="img")
    assert inp.shape == (None, 28, 28, 1) and inp.dtype == "float32"
    model = ccnn.Sequential([inp, layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(2)])
    assert model.built and len(model.layers) == 3
    assert model.layers[0].input_shape == (None, 28, 28, 1)
    assert ccnn.Input(batch_shape=(8, 3)).shape == (8, 3)
    added = ccnn.Sequential()
    added.add(ccnn.Input((5,)))
    added.add(layers.Dense(3))
    assert added.built and added.output_shape == (None, 3)


def test_input_matches_keras_summary_shapes():
    keras = _keras()
    k = keras.Sequential([keras.Input((12, 10, 3)), keras.layers.Conv2D(4, 3),
                          keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                          keras.layers.Dense(5)])
    c = ccnn.Sequential([ccnn.Input((12, 10, 3)), layers.Conv2D(4, 3), layers.MaxPooling2D(),
                         layers.Flatten(), layers.Dense(5)])
    assert len(k.layers) == len(c.layers)
    for kl, cl in zip(k.layers, c.layers):
        assert tuple(kl.output.shape) == cl.output_shape
    assert k.count_params() == c.count_params()


def test_input_config_round_trip():
    model = ccnn.Sequential([ccnn.Input((6,), name="x"), layers.Dense(3)])
    cfg = model.get_config()
    assert cfg["layers"][0]["class_name"] == "InputLayer"
    again = ccnn.Sequential.from_config(cfg)
    assert again.built and again.get_config() == cfg


def test_input_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        ccnn.Input((0, 3))
    with pytest.raises(ValueError, match="shape"):
        ccnn.Input()
    with pytest.raises(ValueError, match="batch_size"):
        ccnn.Input((3,), batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        ccnn.Input((3,), dtype="int8")
    with pytest.raises(ValueError, match="Input"):
        ccnn.Sequential([layers.Dense(2, input_shape=(3,)), ccnn.Input((2,))])
    with pytest.raises(ValueError, match="input_shape"):
        ccnn.Sequential([ccnn.Input((3,)), layers.Dense(2, input_shape=(3,))])


@pytest.mark.parametrize("name", ["relu", "softmax", "linear", None])
def test_activation_layer_matches_keras(name):
    keras = _keras()
    x = np.random.default_rng(0).normal(size=(4, 5, 6, 3)).astype("float32")
    want = np.asarray(keras.layers.Activation(name or "linear")(x).detach().cpu())
    layer = layers.Activation(name)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-7)
    again = layers.Activation.from_config(layer.get_config())
    assert again.activation == layer.activation


def test_activation_layer_backward():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 7))
    g = rng.normal(size=(3, 7))
    for name in ("relu", "softmax", "linear"):
        layer = layers.Activation(name, dtype="float64")
        y = layer.forward(x)
        dx = layer.backward(g)
        num = central_differences(
            lambda a: float((layers.Activation(name, dtype="float64").forward(a) * g).sum()), x)
        np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-7)
        assert y.shape == x.shape


def test_activation_bad_argument():
    with pytest.raises(ValueError, match="activation"):
        layers.Activation("swishy")
