"""Which input sizes a built layer accepts: Keras's InputSpec semantics.

Keras's convolution layers fix only the channel axis of their input,
pooling and pointwise layers (activations, dropout, augmentation, padding)
nothing but its rank, Dense its last axis, BatchNormalization its feature
axis.  So a layer built for 8x8 images takes 10x10 ones -- what Keras's
RandomCrop hands on at inference (its input, whole).  The reference for
accept / reject is Keras 3 itself; for the numbers, the same layer built for
the new size with the same weights.
"""
import os

import numpy as np
import pytest

import ccnn
import ccnn.layers as L

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

# (name, ccnn layer, keras layer, built input shape) -- calls are then tried at other shapes
CASES = [
    ("conv2d", lambda: L.Conv2D(3, 3, padding="same"), lambda: keras.layers.Conv2D(3, 3, padding="same"), (8, 8, 2)),
    ("conv2d_cf", lambda: L.Conv2D(3, 3, data_format="channels_first"),
     lambda: keras.layers.Conv2D(3, 3, data_format="channels_first"), (2, 8, 8)),
    ("maxpool", lambda: L.MaxPooling2D(), lambda: keras.layers.MaxPooling2D(), (8, 8, 2)),
    ("avgpool", lambda: L.AveragePooling2D(), lambda: keras.layers.AveragePooling2D(2), (8, 8, 2)),
    ("gap", lambda: L.GlobalAveragePooling2D(), lambda: keras.layers.GlobalAveragePooling2D(), (8, 8, 2)),
    ("gmp", lambda: L.GlobalMaxPooling2D(), lambda: keras.layers.GlobalMaxPooling2D(), (8, 8, 2)),
    ("bn", lambda: L.BatchNormalization(), lambda: keras.layers.BatchNormalization(), (8, 8, 2)),
    ("relu", lambda: L.ReLU(), lambda: keras.layers.ReLU(), (8, 8, 2)),
    ("activation", lambda: L.Activation("tanh"), lambda: keras.layers.Activation("tanh"), (8, 8, 2)),
    ("dropout", lambda: L.Dropout(0.5), lambda: keras.layers.Dropout(0.5), (8, 8, 2)),
    ("dense", lambda: L.Dense(4), lambda: keras.layers.Dense(4), (5, 6)),
    ("conv1d", lambda: L.Conv1D(3, 3), lambda: keras.layers.Conv1D(3, 3), (10, 2)),
]
# other input shapes (no batch axis) for a built shape: same rank, then a wrong channel count
OTHER = {(8, 8, 2): [(10, 12, 2), (8, 8, 3)], (2, 8, 8): [(2, 10, 12), (3, 8, 8)],
         (5, 6): [(7, 6), (5, 7)], (10, 2): [(13, 2), (10, 3)]}


def _accepts(call):
    try:
        call()
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("name,make,make_keras,built", CASES, ids=[c[0] for c in CASES])
def test_accepts_the_shapes_keras_accepts(name, make, make_keras, built):
    rng = np.random.default_rng(0)
    layer, klayer = make(), make_keras()
    layer.build((None,) + built)
    klayer.build((None,) + built)
    for shape in OTHER[built]:
        x = rng.random((2,) + shape).astype(np.float32)
        want = _accepts(lambda: klayer(x))
        got = _accepts(lambda: layer(x))
        assert got == want, f"{name} at {shape}: ccnn accepts {got}, Keras {want}"
    # another rank: rejected by both
    x = rng.random((2,) + built + (1,)).astype(np.float32)
    assert not _accepts(lambda: layer(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,make,make_keras,built", [c for c in CASES if c[0] != "dropout"],
                         ids=[c[0] for c in CASES if c[0] != "dropout"])
def test_another_size_equals_a_layer_built_for_it(name, make, make_keras, built, dtype):
    """Forward and backward at the new size, bit for bit those of the same
    layer built for that size with the same weights."""
    rng = np.random.default_rng(1)
    shape = OTHER[built][0]
    a, b = make(), make()
    a.dtype = b.dtype = dtype
    a.build((None,) + built)
    b.build((None,) + shape)
    b.set_weights(a.get_weights())
    x = rng.normal(size=(3,) + shape).astype(dtype)
    x0 = x.copy()
    ya, yb = a.forward(x, training=True), b.forward(x, training=True)
    np.testing.assert_array_equal(ya, yb)
    dy = rng.normal(size=ya.shape).astype(dtype)
    da, db = a.backward(dy), b.backward(dy)
    np.testing.assert_array_equal(da, db)
    for k in a.grads:
        np.testing.assert_array_equal(a.grads[k], b.grads[k])
    np.testing.assert_array_equal(x, x0)


def test_random_crop_then_global_pooling_predicts_as_keras_does():
    """Input(8, 8, 2) -> RandomCrop(6, 6) -> Conv2D -> GlobalAveragePooling2D
    -> Dense: Keras passes the 8x8 input on whole at inference; ccnn gives the
    same numbers as that chain built for 8x8, with the plan and per layer."""
    ccnn.utils.set_random_seed(0)
    m = ccnn.Sequential([ccnn.Input((8, 8, 2)), L.RandomCrop(6, 6), L.Conv2D(4, 3),
                         L.GlobalAveragePooling2D(), L.Dense(3)])
    ref = ccnn.Sequential([ccnn.Input((8, 8, 2)), L.Conv2D(4, 3), L.GlobalAveragePooling2D(),
                           L.Dense(3)])
    ref.set_weights(m.get_weights())
    x = np.random.default_rng(2).random((5, 8, 8, 2)).astype(np.float32)
    want = ref.predict_on_batch(x)
    np.testing.assert_array_equal(m.predict_on_batch(x), want)
    from ccnn.models import inference
    inference.set_enabled(False)
    try:
        np.testing.assert_array_equal(m.predict_on_batch(x), want)
    finally:
        inference.set_enabled(True)
    k = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.RandomCrop(6, 6),
                          keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(3)])
    k.set_weights(m.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(x, training=False)), want, rtol=1e-5, atol=1e-6)
    # training crops to 6x6, then the same layers
    m.compile("sgd", "mse")
    m.train_on_batch(x, np.zeros((5, 3), np.float32))


def test_the_message_names_the_layer_and_both_shapes():
    layer = L.Dense(4, name="head")
    layer.build((None, 6))
    with pytest.raises(ValueError, match=r"'head' \(Dense\).*\(None, 6\).*\(2, 7\)"):
        layer(np.zeros((2, 7), np.float32))
