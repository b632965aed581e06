"""Issue 15's bar for whole-model files: a residual model and a multi-input /
multi-output model train, are saved, loaded, and then the original and the
loaded copy go on training bit for bit alike (same seed, same batches)."""
import numpy as np
import pytest

import ccnn
from ccnn import layers


def residual_model():
    inputs = ccnn.Input((10, 10, 2))
    x = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    y = layers.Conv2D(4, 3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))             # identity shortcut
    p = layers.Conv2D(6, 1, strides=2)(x)                            # projection shortcut
    z = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Add()([p, z])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = ccnn.Model(inputs, outputs, name="residual")
    model.compile(optimizer=ccnn.optimizers.Adam(ccnn.optimizers.schedules.CosineDecay(
                      1e-2, decay_steps=50)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def multi_io_model():
    image = ccnn.Input((8, 8, 1), name="image")
    meta = ccnn.Input((5,), name="meta")
    x = layers.Conv2D(3, 3, activation="relu")(image)
    x = layers.Flatten()(x)
    shared = layers.Dense(4, activation="tanh", name="shared")
    m = shared(meta)
    m2 = shared(layers.Dense(5)(meta))                 # a layer used at two nodes
    x = layers.Concatenate()([x, m, m2])
    cls = layers.Dense(3, activation="softmax", name="cls")(x)
    reg = layers.Dense(1, name="reg")(x)
    model = ccnn.Model([image, meta], [cls, reg], name="two_heads")
    model.compile(optimizer=ccnn.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5},
                  metrics={"cls": ["accuracy"]})
    return model


def residual_batches(rng, n):
    return [(rng.standard_normal((6, 10, 10, 2)).astype(np.float32),
             rng.integers(0, 3, 6)) for _ in range(n)]


def multi_io_batches(rng, n):
    return [([rng.standard_normal((6, 8, 8, 1)).astype(np.float32),
              rng.standard_normal((6, 5)).astype(np.float32)],
             [rng.integers(0, 3, 6), rng.standard_normal((6, 1)).astype(np.float32)])
            for _ in range(n)]


def state(model):
    """Every weight and every optimizer slot, as plain arrays."""
    opt = model.optimizer.get_state(model.weights)
    return [np.array(w) for w in model.get_weights()] + [np.array(v) for _, v in
                                                         sorted(opt.items())]


@pytest.mark.parametrize("make, batches", [(residual_model, residual_batches),
                                           (multi_io_model, multi_io_batches)],
                         ids=["residual", "multi_io"])
def test_loaded_model_goes_on_training_bit_for_bit(tmp_path, make, batches):
    ccnn.utils.set_random_seed(3)
    model = make()
    data = batches(np.random.default_rng(0), 8)
    for x, y in data[:4]:
        model.train_on_batch(x, y)
    path = tmp_path / "m.ccnn"
    model.save(path)
    loaded = ccnn.models.load_model(path)
    assert type(loaded) is type(model)
    for a, b in zip(state(model), state(loaded)):
        np.testing.assert_array_equal(a, b)
    logs = []
    for m in (model, loaded):
        ccnn.utils.set_random_seed(11)
        logs.append([m.train_on_batch(x, y) for x, y in data[4:]])
    assert logs[0] == logs[1]
    after = [state(model), state(loaded)]
    assert len(after[0]) == len(after[1])
    for a, b in zip(*after):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # and the training did change the weights (the comparison is not vacuous)
    assert not all(np.array_equal(a, b) for a, b in zip(after[0], state(make())))
    x0 = data[0][0]
    for a, b in zip(outputs(model, x0), outputs(loaded, x0)):
        np.testing.assert_array_equal(a, b)


def outputs(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def test_feature_extractor_of_the_book_model():
    """ccnn.Model(m.inputs, m.layers[0].output).predict(x): the first layer's
    feature maps, equal to that part of the full forward pass."""
    ccnn.utils.set_random_seed(5)
    model = ccnn.Sequential([layers.Conv2D(10, (3, 3), activation="relu", padding="same",
                                           input_shape=(28, 28, 1)),
                             layers.MaxPooling2D((2, 2)), layers.Flatten(),
                             layers.Dropout(0.5), layers.Dense(100, activation="relu"),
                             layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.random((16, 28, 28, 1), dtype=np.float32)
    model.fit(x, rng.integers(0, 10, 16), epochs=1, verbose=0)
    maps = ccnn.Model(model.inputs, model.layers[0].output).predict(x[:3], verbose=0)
    assert maps.shape == (3, 28, 28, 10)
    kernel, bias = model.layers[0].get_weights()              # Keras layout (3, 3, 1, 10)
    padded = np.pad(x[:3, :, :, 0], ((0, 0), (1, 1), (1, 1))).astype(np.float64)
    expect = np.zeros((3, 28, 28, 10))
    for i in range(3):
        for j in range(3):
            expect += padded[:, i:i + 28, j:j + 28, None] * kernel[i, j, 0]
    expect = np.maximum(expect + bias, 0)
    np.testing.assert_allclose(maps, expect, rtol=1e-5, atol=1e-5)
    # the extractor shares the model's weights: it follows further training
    model.fit(x, rng.integers(0, 10, 16), epochs=1, verbose=0)
    again = ccnn.Model(model.inputs, model.layers[0].output).predict(x[:3], verbose=0)
    assert not np.array_equal(again, maps)
    np.testing.assert_array_equal(again, model.layers[0](x[:3]))
