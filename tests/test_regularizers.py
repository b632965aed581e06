"""ccnn.regularizers and the layers' kernel_regularizer / bias_regularizer /
activity_regularizer: the penalties against their formulas, their gradients
against central differences, and a regularized model's loss, gradients and
training steps against Keras's on the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import ccnn
from ccnn import layers, regularizers

from _testutils import central_differences, keras_or_skip


@pytest.mark.parametrize("reg, l1, l2", [(regularizers.L1(0.3), 0.3, 0.0),
                                         (regularizers.L2(0.2), 0.0, 0.2),
                                         (regularizers.L1L2(0.1, 0.4), 0.1, 0.4),
                                         (regularizers.l1_l2(l2=0.5), 0.0, 0.5)])
def test_penalties_and_gradients(reg, l1, l2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 2))
    want = l1 * np.abs(x).sum() + l2 * (x ** 2).sum()
    assert reg(x) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(reg.gradient(x), central_differences(reg, x), rtol=1e-6,
                               atol=1e-8)
    x32 = x.astype(np.float32)
    assert reg.gradient(x32).dtype == np.float32
    assert reg.gradient(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]   # |x|'s gradient at 0: 0


def test_get_serialize_and_keras_defaults():
    assert regularizers.get(None) is None
    assert regularizers.get("l2") == regularizers.L2(0.01)
    assert regularizers.get("L1") == regularizers.L1(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(0.0, 0.0)     # as Keras
    reg = regularizers.L1L2(0.1, 0.2)
    assert regularizers.get(regularizers.serialize(reg)) == reg
    assert regularizers.get(reg) is reg
    for bad in ("l3", 5, {"class_name": "Orthogonal"}, {"class_name": "L2", "config": [1]}):
        with pytest.raises(ValueError):
            regularizers.get(bad)
    for call in (lambda: regularizers.L2(-1), lambda: regularizers.L1(np.nan),
                 lambda: regularizers.L1L2(l1="0.1"), lambda: regularizers.L2(True)):
        with pytest.raises(ValueError, match="l1|l2"):
            call()


def _model(lib, fused):
    R, L = lib.regularizers, lib.layers
    return lib.Sequential([
        lib.Input((6, 6, 2)),
        L.Conv2D(4, 3, activation="relu", kernel_regularizer=R.L2(0.05),
                 bias_regularizer=R.L1(0.02),
                 activity_regularizer=None if fused else R.L1L2(0.01, 0.02)),
        L.MaxPooling2D(), L.Flatten(),
        L.Dense(5, activation="tanh", kernel_regularizer="l1", activity_regularizer=R.L2(0.1)),
        L.Dense(3, activation="softmax", kernel_regularizer=R.L1L2(0.01, 0.01),
                activity_regularizer=None if fused else R.L1(0.05))])


@pytest.mark.parametrize("fused", [False, True])
def test_regularized_model_matches_keras(fused):
    """Same weights in: the same loss (evaluate, and fit's history) and the same
    weights after SGD steps -- so the penalties, their scaling by the batch size
    and their gradients are Keras's."""
    keras = keras_or_skip()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, 16)
    theirs, ours = _model(keras, fused), _model(ccnn, fused)
    for layer in theirs.layers:
        if layer.weights:
            layer.set_weights([w + 0.1 * rng.normal(size=w.shape).astype("float32")
                               for w in layer.get_weights()])
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    ours.compile(ccnn.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    assert ours.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, batch_size=16, verbose=0), rel=1e-5)
    hk = theirs.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    hc = ours.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(hc.history["loss"], hk.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_gradients_include_the_penalties():
    """The model's gradients (compute_gradients) against central differences of
    its regularized loss, in float64."""
    rng = np.random.default_rng(2)
    R = regularizers
    model = ccnn.Sequential([
        ccnn.Input((5,)),
        layers.Dense(4, activation="tanh", kernel_regularizer=R.L2(0.3),
                     bias_regularizer=R.L1(0.2), activity_regularizer=R.L1L2(0.1, 0.2),
                     dtype="float64"),
        layers.Dense(3, activation="softmax", kernel_regularizer=R.L1(0.1),
                     activity_regularizer=R.L2(0.5), dtype="float64")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    loss, grads = model.compute_gradients(x, y)
    params = [p for layer in model.layers for p in layer.params.values()]
    for p, g in zip(params, grads):
        p0 = p.copy()

        def f(a, p=p):
            np.copyto(p, a)
            return model.compute_gradients(x, y)[0]
        num = central_differences(f, p0)
        np.copyto(p, p0)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    assert loss > model.compute_gradients(x, y)[0] - 1e-12  # deterministic


def test_frozen_layers_add_no_penalty_and_configs_round_trip():
    dense = layers.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5),
                         activity_regularizer="l1", name="d")
    dense.build((None, 4))
    dense.params["bias"][...] = 1.0
    assert dense.regularization_loss() == pytest.approx(
        0.01 * (dense.params["kernel"] ** 2).sum() + 0.5 * 3)
    dense.trainable = False
    assert dense.regularization_loss() == 0.0
    again = layers.Dense.from_config(dense.get_config())
    assert again.get_config() == dense.get_config()
    assert again.regularizers == dense.regularizers
    assert again.activity_regularizer == regularizers.L1(0.01)
    conv = layers.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(0.1, 0.2))
    assert layers.Conv2D.from_config(conv.get_config()).regularizers["kernel"] == \
        regularizers.L1L2(0.1, 0.2)
    for call in (lambda: layers.Dense(3, kernel_regularizer="l5"),
                 lambda: layers.Conv2D(2, 3, bias_regularizer=3),
                 lambda: layers.MaxPooling2D(activity_regularizer="x")):
        with pytest.raises(ValueError, match="regularizer"):
            call()


def test_regularization_shrinks_the_weights():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    norms = []
    for reg in (None, regularizers.L2(0.05)):
        ccnn.utils.set_random_seed(0)
        model = ccnn.Sequential([ccnn.Input((8,)), layers.Dense(16, activation="relu",
                                                                kernel_regularizer=reg),
                                 layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=20, batch_size=32, verbose=0)
        norms.append(float(np.square(model.layers[0].get_weights()[0]).sum()))
    assert norms[1] < 0.85 * norms[0]


@pytest.mark.parametrize("name, kwargs", [
    ("DepthwiseConv2D", dict(kernel_size=3, depthwise_regularizer="l2",
                             bias_regularizer="l1")),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, depthwise_regularizer="l1",
                             pointwise_regularizer="l2", bias_regularizer="l2")),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, kernel_regularizer="l2",
                             bias_regularizer="l1")),
    ("Conv1D", dict(filters=3, kernel_size=3, kernel_regularizer="l1")),
])
def test_convolution_family_regularizers_match_keras(name, kwargs):
    keras = keras_or_skip()
    rng = np.random.default_rng(4)
    shape = (7, 3) if name == "Conv1D" else (6, 6, 2)
    x = rng.normal(size=(8,) + shape).astype("float32")
    y = rng.integers(0, 2, 8)

    def build(lib):
        return lib.Sequential([lib.Input(shape), getattr(lib.layers, name)(**kwargs),
                               lib.layers.Flatten(), lib.layers.Dense(2, activation="softmax")])
    theirs, ours = build(keras), build(ccnn)
    theirs.set_weights([w + 0.2 for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    for model, opt in ((theirs, keras.optimizers.SGD(0.05)), (ours, ccnn.optimizers.SGD(0.05))):
        model.compile(opt, "sparse_categorical_crossentropy")
    assert ours.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, batch_size=8, verbose=0), rel=1e-5)
    theirs.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    ours.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    layer = ours.layers[0]
    assert type(layer).from_config(layer.get_config()).regularizers == layer.regularizers
    with pytest.raises(TypeError, match="unexpected keyword"):
        getattr(layers, name)(**kwargs, gamma_regularizer="l2")
