"""The fusion pass (ccnn.models.fusion): which steps a model runs for its
layers.  A fused plan gives the results of the layer-by-layer plan, a model
without the patterns is left alone, and the fused steps share the user's
layers' weights -- model.layers, get_config, pickling and frozen layers see
only the user's layers."""

import pickle

import numpy as np
import pytest

from ccnn import Sequential, losses
from ccnn.layers import (AveragePooling2D, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU,
                         Softmax)
from ccnn.layers.fused import Conv2DReLUMaxPool2D, SoftmaxCrossEntropy
from ccnn.models.fusion import FUSIONS, LossHead, make_plan
from _testutils import DTYPES


def book_model(dtype="float32", dropout=False, input_shape=(12, 10, 1)):
    layers = [Conv2D(5, 3, activation="relu", padding="same", input_shape=input_shape,
                     dtype=dtype),
              MaxPooling2D(2, dtype=dtype), Flatten(dtype=dtype)]
    if dropout:
        layers.append(Dropout(0.5, seed=3, dtype=dtype))
    layers += [Dense(16, activation="relu", dtype=dtype),
               Dense(6, activation="softmax", dtype=dtype)]
    return Sequential(layers)


def data(dtype, n=11, shape=(12, 10, 1), classes=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n,) + shape).astype(dtype), rng.integers(0, classes, n)


def tol(dtype):
    return dict(rtol=2e-5, atol=1e-6) if np.dtype(dtype) == np.float32 else dict(rtol=1e-11, atol=1e-13)


def unfuse(model):
    """Make the model run the layer-by-layer plan."""
    model._plan = make_plan(model.layers, model.loss, fusions=())
    assert model._execution_plan().steps == model.layers


def test_the_book_model_is_fused():
    model = book_model(dropout=True)
    model.compile(loss="sparse_categorical_crossentropy")
    plan = model._execution_plan()
    first, last = plan.steps[0], plan.steps[-1]
    assert isinstance(first, Conv2DReLUMaxPool2D)
    assert first.layers == (model.layers[0], model.layers[1])
    assert isinstance(last, SoftmaxCrossEntropy) and last.layers == (model.layers[-1],)
    assert plan.head is last
    assert plan.steps[1:-1] == model.layers[2:-1]        # the rest: the user's layers
    assert len(model.layers) == 6                         # model.layers is untouched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_fused_and_unfused_plans_agree(dtype, loss):
    x, labels = data(dtype)
    y = labels if loss.startswith("sparse") else np.eye(6, dtype=dtype)[labels]
    results = []
    for fused in (True, False):
        model = book_model(dtype)
        model.set_weights([np.random.default_rng(i).normal(0, 0.3, w.shape)
                           for i, w in enumerate(model.get_weights())])
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        if not fused:
            unfuse(model)
        lossv, grads = model.compute_gradients(x, y)
        out = model.predict(x)
        ev = model.evaluate(x, y)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        results.append((lossv, grads, out, ev, model.get_weights()))
    (l1, g1, o1, e1, w1), (l2, g2, o2, e2, w2) = results
    np.testing.assert_allclose(l1, l2, **tol(dtype))
    np.testing.assert_allclose(o1, o2, **tol(dtype))
    np.testing.assert_allclose(e1, e2, **tol(dtype))
    assert len(g1) == len(g2) == 6
    for a, b in zip(g1, g2):
        assert a.shape == b.shape and a.dtype == np.dtype(dtype)
        assert np.any(a != 0)
        np.testing.assert_allclose(a, b, **tol(dtype))
    for a, b in zip(w1, w2):    # a few Adam steps: the differences stay at rounding level
        f32 = np.dtype(dtype) == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-3 if f32 else 1e-9,
                                   atol=1e-5 if f32 else 1e-12)


def steps_of(model):
    return model._execution_plan().steps


@pytest.mark.parametrize("make", [
    # the conv has no ReLU / the pool is not 2x2 stride 2 'valid' / not max
    lambda: [Conv2D(3, 3, input_shape=(8, 8, 1)), MaxPooling2D(2), Flatten()],
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(3), Flatten()],
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(2, strides=1),
             Flatten()],
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(9, 9, 1)),
             MaxPooling2D(2, padding="same"), Flatten()],
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), AveragePooling2D(2),
             Flatten()],
    lambda: [Conv2D(3, 3, input_shape=(8, 8, 1)), ReLU(), MaxPooling2D(2), Flatten()],
    # too many input taps for the fused kernel (C * kh * kw >= 32)
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(8, 8, 4)), MaxPooling2D(2), Flatten()],
    # the pattern, but not as the first layers (the fused backward has no input gradient)
    lambda: [Conv2D(2, 1, input_shape=(8, 8, 1)), Conv2D(3, 3, activation="relu"),
             MaxPooling2D(2), Flatten()],
    # the pattern as the whole model (the pass fuses it only ahead of further layers)
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(2)],
    # unknown image size: nothing to check the fused kernel's geometry against
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(None, None, 1)), MaxPooling2D(2),
             Conv2D(2, 1)],
    # different data formats
    lambda: [Conv2D(3, 3, activation="relu", input_shape=(1, 8, 8), data_format="channels_first"),
             MaxPooling2D(2), Flatten()],
])
def test_models_without_the_conv_pool_pattern_stay_unfused(make):
    model = Sequential(make())
    model.compile(loss="categorical_crossentropy")
    assert steps_of(model) == model.layers
    assert isinstance(model._execution_plan().head, LossHead)


def test_softmax_heads():
    x, labels = data("float64", shape=(5,))
    # Dense(softmax) and Softmax are fused with the loss ...
    for last in ([Dense(6, activation="softmax")], [Dense(6), Softmax()]):
        model = Sequential([Dense(4, input_shape=(5,), dtype="float64")] + last)
        model.compile(loss="sparse_categorical_crossentropy")
        head = model._execution_plan().head
        assert isinstance(head, SoftmaxCrossEntropy) and head.layer is model.layers[-1]
        assert steps_of(model)[-1] is head
    # ... but not when the loss takes logits, nor for another output layer
    for model, loss in [
            (Sequential([Dense(6, activation="softmax", input_shape=(5,))]),
             losses.SparseCategoricalCrossentropy(from_logits=True)),
            (Sequential([Dense(6, input_shape=(5,))]), "sparse_categorical_crossentropy"),
            (Sequential([Dense(6, activation="relu", input_shape=(5,))]),
             "sparse_categorical_crossentropy")]:
        model.compile(loss=loss)
        assert steps_of(model) == model.layers
        assert isinstance(model._execution_plan().head, LossHead)
    # before compile there is no loss: the output layer runs as itself
    model = Sequential([Dense(6, activation="softmax", input_shape=(5,))])
    assert steps_of(model) == model.layers and model._execution_plan().head is None
    np.testing.assert_array_equal(model.predict(x), model.layers[0](x.astype(np.float32)))


def test_the_fused_steps_share_the_layers_weights():
    x, y = data("float64")
    model = book_model("float64")
    model.compile(loss="sparse_categorical_crossentropy")
    fused = steps_of(model)[0]
    assert fused.conv.params is model.layers[0].params
    before = model.predict(x)
    # new weights through the model: the fused steps compute with them
    new = [w * 0.5 for w in model.get_weights()]
    model.set_weights(new)
    after = model.predict(x)
    assert not np.allclose(before, after)
    unfuse(model)
    np.testing.assert_allclose(model.predict(x), after, rtol=1e-12, atol=1e-14)
    # and they fill the user's layers' grads
    model._replan()
    assert isinstance(steps_of(model)[0], Conv2DReLUMaxPool2D)
    _, grads = model.compute_gradients(x, y)
    conv = model.layers[0]
    assert conv.grads["kernel"] is grads[0] and conv.grads["bias"] is grads[1]


def test_a_frozen_fused_layer_is_not_updated():
    x, y = data("float32")
    model = book_model()
    model.layers[0].trainable = False
    model.compile(loss="sparse_categorical_crossentropy")
    assert isinstance(steps_of(model)[0], Conv2DReLUMaxPool2D)
    w0 = model.get_weights()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    w1 = model.get_weights()
    np.testing.assert_array_equal(w0[0], w1[0])          # the conv's kernel and bias
    np.testing.assert_array_equal(w0[1], w1[1])
    assert not np.array_equal(w0[2], w1[2])              # the Dense layers train
    assert len(model.trainable_weights) == 4


def test_pickling_and_config_see_only_the_users_layers():
    x, y = data("float32")
    model = book_model(dropout=True)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    config = model.get_config()
    assert [d["class_name"] for d in config["layers"]] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense", "Dense"]
    rows = []
    model.summary(print_fn=rows.append)
    assert not any("Fused" in r or "CrossEntropy" in r for r in rows)
    blob = pickle.dumps(model)
    assert b"Conv2DReLUMaxPool2D" not in blob and b"SoftmaxCrossEntropy" not in blob
    clone = pickle.loads(blob)
    assert isinstance(steps_of(clone)[0], Conv2DReLUMaxPool2D)   # planned again on first use
    assert steps_of(clone)[0].conv is clone.layers[0]
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    np.testing.assert_array_equal(clone.evaluate(x, y), model.evaluate(x, y))
    rebuilt = Sequential.from_config(config)
    rebuilt.build((None, 12, 10, 1))
    rebuilt.compile(loss="sparse_categorical_crossentropy")
    assert isinstance(steps_of(rebuilt)[0], Conv2DReLUMaxPool2D)


def test_the_plan_follows_the_model():
    """The pass runs again when layers are added or the model is recompiled."""
    model = Sequential([Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)),
                        MaxPooling2D(2)])
    model.compile(loss="categorical_crossentropy")
    assert steps_of(model) == model.layers
    model.add(Flatten())
    model.add(Dense(4, activation="softmax"))
    steps = steps_of(model)
    assert isinstance(steps[0], Conv2DReLUMaxPool2D) and isinstance(steps[-1], SoftmaxCrossEntropy)
    model.compile(loss=losses.CategoricalCrossentropy(from_logits=True))
    assert steps_of(model)[-1] is model.layers[-1]
    model.layers.pop()                      # even a change behind the model's back
    assert steps_of(model)[-1] is model.layers[-1]


def test_make_plan_arguments():
    model = book_model()
    model.compile(loss="sparse_categorical_crossentropy")
    assert set(FUSIONS) == {"conv2d_relu_maxpool2d", "softmax_cross_entropy",
                            "sigmoid_binary_crossentropy"}
    only_head = make_plan(model.layers, model.loss, fusions=("softmax_cross_entropy",))
    assert only_head.steps[:-1] == model.layers[:-1]
    with pytest.raises(ValueError, match="unknown fusions"):
        make_plan(model.layers, model.loss, fusions=("conv_bn",))


def test_a_losss_fused_form_is_its_logits_of_attribute():
    """logits_of says which fused form a loss has (None: none, and then no
    fused / logit_rows methods); the fusion pass reads it, and a loss class
    cannot claim a fused form it does not implement."""
    from ccnn.layers.fused import SigmoidBinaryCrossentropy
    fused = {losses.CategoricalCrossentropy: "softmax",
             losses.SparseCategoricalCrossentropy: "softmax",
             losses.BinaryCrossentropy: "sigmoid"}
    for name in losses.__all__:
        cls = getattr(losses, name)
        if isinstance(cls, type) and issubclass(cls, losses.Loss) and cls is not losses.Loss:
            assert cls.logits_of == fused.get(cls), name
            assert hasattr(cls, "fused") == hasattr(cls, "logit_rows") == (cls in fused), name

    class MyCrossentropy(losses.Loss):        # a user loss: no fused form
        def call(self, y_true, y_pred):
            return losses.categorical_crossentropy(y_true, y_pred)

        def gradient(self, y_pred, y):
            return losses.CategoricalCrossentropy().gradient(y_pred, y)

    model = Sequential([Dense(6, activation="softmax", input_shape=(5,))])
    model.compile(loss=MyCrossentropy())
    assert isinstance(model._execution_plan().head, LossHead)
    x, labels = data("float32", shape=(5,))
    onehot = np.eye(6, dtype=np.float32)[labels]
    assert np.isfinite(model.train_on_batch(x, onehot))
    sig = Sequential([Dense(1, activation="sigmoid", input_shape=(5,))])
    sig.compile(loss="binary_crossentropy")
    assert isinstance(sig._execution_plan().head, SigmoidBinaryCrossentropy)
    with pytest.raises(TypeError, match="logits_of"):
        class Claims(losses.Loss):
            logits_of = "softmax"
    with pytest.raises(TypeError, match="softmax"):
        SoftmaxCrossEntropy(model.layers[0], MyCrossentropy())
