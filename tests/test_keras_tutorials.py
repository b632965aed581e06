"""The best-known Keras CNN tutorials, as a Keras user pastes them, on ccnn.

Each tutorial below is its code as published (keras.io, tensorflow.org, the
book "Do it! 딥러닝 입문") with the data shrunk to a few samples of the right
shapes (Fashion-MNIST from ccnn's bundled sample; random arrays for CIFAR-10
and "cats vs dogs", as no test downloads anything) and with only its imports
changed: each is a function of `keras` and `layers`, run once with
`import ccnn as keras; from ccnn import layers` and -- where Keras 3 is
installed (torch backend) -- once with Keras itself.  The comparison: the
same parameter counts (model.summary()'s), History keys, output shapes,
get_config round trips and, after set_weights(keras_model.get_weights()),
the same predictions.

What each tutorial needed (README "Keras compatibility"):
- keras.io "Simple MNIST convnet", TensorFlow "Basic classification",
  TensorFlow "Convolutional Neural Network", keras.io "Getting started"
  (Sequential, functional, subclassing, save / load_model, configs), the
  book's chapter 8: ran as pasted (scikit-learn's train_test_split, which
  the book uses, replaced by stratified_split below);
- keras.io "Image classification from scratch": needed ModelCheckpoint to
  save the whole model by default (Keras 3's save_weights_only=False; it
  refused before), then runs as pasted up to its last line, which calls
  keras.ops.sigmoid: ccnn has no keras.ops, and keras.activations.sigmoid
  (which needed a 0-d result for a scalar) is used instead;
- TensorFlow "Overfit and underfit": needed fit(..., steps_per_epoch=...) of
  arrays (a ValueError before; now Keras 3's epochs of that many batches);
- TensorFlow "Data augmentation": needed layers.Resizing (its model, as
  pasted, in test_data_augmentation_model; Resizing's parity with Keras is
  tests/test_resize.py's).
"""

import os

import numpy as np
import pytest

import ccnn
from ccnn import layers as ccnn_layers

from _testutils import keras_or_skip


def ccnn_env():
    return ccnn, ccnn_layers


def keras_env():
    keras = keras_or_skip()
    return keras, keras.layers


def fashion(n_train, n_test):
    """A few real Fashion-MNIST images (ccnn's bundled sample), uint8 (n, 28, 28)."""
    (x, y), (xt, yt) = ccnn.datasets.fashion_mnist.load_sample()
    return (x[:n_train], y[:n_train]), (xt[:n_test], yt[:n_test])


def same_weights(keras_model, ccnn_model):
    ws = keras_model.get_weights()
    assert [w.shape for w in ws] == [w.shape for w in ccnn_model.get_weights()]
    ccnn_model.set_weights(ws)


def assert_close_predictions(keras_model, ccnn_model, x):
    want = np.asarray(keras_model.predict(x, verbose=0))
    got = ccnn_model.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def predicts_as_keras(tutorial, data):
    """The tutorial run on Keras and on ccnn (it returns the model first and
    its evaluation images last): ccnn, given Keras's weights, predicts what
    Keras does."""
    keras, layers = keras_env()
    km = tutorial(keras, layers, data)[0]
    cm, *_, x = tutorial(ccnn, ccnn_layers, data)
    same_weights(km, cm)
    assert_close_predictions(km, cm, x.astype("float32"))


# ------------------------------------------------------------ keras.io: Simple MNIST convnet
def simple_mnist_convnet(keras, layers, data):
    # Model / data parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    (x_train, y_train), (x_test, y_test) = data

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )

    model.summary()

    batch_size = 128
    epochs = 2

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.1)

    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return model, history, score, x_test


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_simple_mnist_convnet_runs_as_pasted(env, capsys):
    keras, layers = env()
    model, history, score, x_test = simple_mnist_convnet(keras, layers, fashion(160, 40))
    out = capsys.readouterr().out
    assert "Total params: 34,826" in out            # keras.io's summary
    assert model.count_params() == 34826
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values())
    assert len(score) == 2 and 0.0 <= score[1] <= 1.0 and np.isfinite(score[0])
    probs = model.predict(x_test, verbose=0)
    assert probs.shape == (40, 10)
    np.testing.assert_allclose(np.asarray(probs).sum(1), 1.0, rtol=1e-5)


def test_simple_mnist_convnet_predicts_as_keras():
    keras, layers = keras_env()
    data = fashion(32, 16)
    km, *_ = simple_mnist_convnet(keras, layers, data)
    cm, *_ = simple_mnist_convnet(ccnn, ccnn_layers, data)
    same_weights(km, cm)
    x = np.expand_dims(data[1][0].astype("float32") / 255, -1)
    assert_close_predictions(km, cm, x)
    assert cm.evaluate(x, ccnn.utils.to_categorical(data[1][1], 10), verbose=0)[0] == \
        pytest.approx(km.evaluate(x, keras.utils.to_categorical(data[1][1], 10),
                                  verbose=0)[0], rel=1e-4)


# ------------------------------------------------------------ TensorFlow: Basic classification
def basic_classification(keras, layers, data):
    (train_images, train_labels), (test_images, test_labels) = data
    class_names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                   'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
    train_images = train_images / 255.0
    test_images = test_images / 255.0

    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(128, activation='relu'),
        keras.layers.Dense(10)
    ])
    model.compile(optimizer='adam',
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    model.fit(train_images, train_labels, epochs=2)

    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)
    print('\nTest accuracy:', test_acc)

    probability_model = keras.Sequential([model, keras.layers.Softmax()])
    predictions = probability_model.predict(test_images)
    print(predictions[0], np.argmax(predictions[0]), test_labels[0],
          class_names[np.argmax(predictions[0])])

    # Grab an image from the test dataset.
    img = test_images[1]
    # Add the image to a batch where it's the only member.
    img = (np.expand_dims(img, 0))
    predictions_single = probability_model.predict(img)
    print(np.argmax(predictions_single[0]))
    return model, probability_model, predictions, predictions_single, test_images


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_basic_classification_runs_as_pasted(env):
    keras, layers = env()
    model, probability_model, predictions, single, _ = basic_classification(
        keras, layers, fashion(128, 32))
    assert model.count_params() == 101770          # tensorflow.org's summary
    assert predictions.shape == (32, 10) and single.shape == (1, 10)
    np.testing.assert_allclose(np.asarray(predictions).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(single[0], predictions[1], rtol=1e-5, atol=1e-7)


def test_basic_classification_predicts_as_keras():
    keras, layers = keras_env()
    data = fashion(64, 16)
    km, kprob, *_ = basic_classification(keras, layers, data)
    cm, cprob, *_, x = basic_classification(ccnn, ccnn_layers, data)
    same_weights(km, cm)
    assert_close_predictions(kprob, cprob, x.astype("float32"))
    assert_close_predictions(km, cm, x.astype("float32"))


# ------------------------------------------------------------ TensorFlow: Convolutional Neural Network (CIFAR-10)
def cifar10_cnn(keras, layers, data):
    (train_images, train_labels), (test_images, test_labels) = data
    # Normalize pixel values to be between 0 and 1
    train_images, test_images = train_images / 255.0, test_images / 255.0

    model = keras.models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(32, 32, 3)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.summary()

    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation='relu'))
    model.add(layers.Dense(10))
    model.summary()

    model.compile(optimizer='adam',
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])

    history = model.fit(train_images, train_labels, epochs=2,
                        validation_data=(test_images, test_labels))

    accuracy, val_accuracy = history.history['accuracy'], history.history['val_accuracy']
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)
    print(test_acc)
    return model, history, test_images


def cifar_like(n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
             rng.integers(0, 10, (n_train, 1), dtype=np.uint8)),
            (rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
             rng.integers(0, 10, (n_test, 1), dtype=np.uint8)))


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_cifar10_cnn_runs_as_pasted(env, capsys):
    keras, layers = env()
    model, history, _ = cifar10_cnn(keras, layers, cifar_like(48, 16))
    out = capsys.readouterr().out
    assert "Total params: 56,320" in out and "Total params: 122,570" in out   # both summaries
    assert model.count_params() == 122570
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["val_accuracy"]) == 2


def test_cifar10_cnn_predicts_as_keras():
    predicts_as_keras(cifar10_cnn, cifar_like(16, 8))


# ------------------------------------------------------------ keras.io: Image classification from scratch
def from_scratch_model(keras, layers, image_size=(32, 32)):
    data_augmentation_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    def make_model(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)

        # Entry block
        x = data_augmentation(inputs)
        x = layers.Rescaling(1.0 / 255)(x)
        x = layers.Conv2D(128, 3, strides=2, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)

        previous_block_activation = x  # Set aside residual

        for size in [256, 512, 728]:
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(size, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(size, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)

            x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

            # Project residual
            residual = layers.Conv2D(size, 1, strides=2, padding="same")(
                previous_block_activation
            )
            x = layers.add([x, residual])  # Add back residual
            previous_block_activation = x  # Set aside next residual

        x = layers.SeparableConv2D(1024, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)

        x = layers.GlobalAveragePooling2D()(x)
        if num_classes == 2:
            units = 1
        else:
            units = num_classes

        x = layers.Dropout(0.25)(x)
        # We specify activation=None so as to return logits
        outputs = layers.Dense(units, activation=None)(x)
        return keras.Model(inputs, outputs)

    return make_model(input_shape=image_size + (3,), num_classes=2)


def from_scratch_training(keras, model, x, y):
    epochs = 1

    callbacks = [
        keras.callbacks.ModelCheckpoint("save_at_{epoch}.keras"),
    ]
    model.compile(
        optimizer=keras.optimizers.Adam(3e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(name="acc")],
    )
    return model.fit(x, y, epochs=epochs, callbacks=callbacks, validation_data=(x, y),
                     batch_size=4)


def cats_and_dogs(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (n, 32, 32, 3)).astype("float32"),
            rng.integers(0, 2, (n, 1)).astype("float32"))


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_image_classification_from_scratch_runs_as_pasted(env, tmp_path, monkeypatch):
    keras, layers = env()
    monkeypatch.chdir(tmp_path)
    model = from_scratch_model(keras, layers)
    model.summary()
    assert model.count_params() == 2731065          # Keras 3's summary (the keras_env run)
    x, y = cats_and_dogs(8)
    history = from_scratch_training(keras, model, x, y)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert os.path.exists("save_at_1.keras")
    again = keras.models.load_model("save_at_1.keras")
    np.testing.assert_allclose(again.predict(x[:2], verbose=0), model.predict(x[:2], verbose=0),
                               rtol=1e-5, atol=1e-6)
    # "Run inference on new data" -- keras.ops.sigmoid there; ccnn has no keras.ops
    predictions = model.predict(x[:1])
    score = float(keras.activations.sigmoid(predictions[0][0]))
    assert 0.0 <= score <= 1.0
    assert not hasattr(ccnn, "ops")


def test_image_classification_from_scratch_predicts_as_keras():
    keras, layers = keras_env()
    km, cm = from_scratch_model(keras, layers), from_scratch_model(ccnn, ccnn_layers)
    assert cm.count_params() == km.count_params()
    assert [type(v).__name__ for v in cm.layers] == [type(v).__name__ for v in km.layers]
    rng = np.random.default_rng(3)
    ws = [w + rng.uniform(0.0, 0.2, w.shape).astype(w.dtype) if w.ndim == 1 else w
          for w in km.get_weights()]      # non-trivial BatchNorm statistics and biases
    km.set_weights(ws)
    cm.set_weights(ws)
    x, _ = cats_and_dogs(4)
    assert_close_predictions(km, cm, x)


def test_image_classification_from_scratch_config_round_trip():
    model = from_scratch_model(ccnn, ccnn_layers)
    again = ccnn.Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    x, _ = cats_and_dogs(2)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------ keras.io: Getting started (Sequential / functional / subclassing)
def getting_started_functional(keras, layers, x_train, y_train):
    inputs = keras.Input(shape=(28, 28, 1), name="img")
    x = layers.Conv2D(16, 3, activation="relu")(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    model.summary()

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=16, epochs=2, validation_split=0.2,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss",
                                                                 patience=2)])
    test_scores = model.evaluate(x_train, y_train, verbose=2)
    print("Test loss:", test_scores[0])
    print("Test accuracy:", test_scores[1])

    model.save("my_model.keras")
    del model
    # Recreate the exact same model purely from the file:
    model = keras.models.load_model("my_model.keras")

    config = model.get_config()
    new_model = keras.Model.from_config(config)
    return model, new_model, history


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_getting_started_functional_runs_as_pasted(env, tmp_path, monkeypatch):
    keras, layers = env()
    monkeypatch.chdir(tmp_path)
    (x, y), _ = fashion(48, 0)
    x = np.expand_dims(x.astype("float32") / 255, -1)
    model, new_model, history = getting_started_functional(keras, layers, x, y)
    assert model.name == "mnist_model" and model.count_params() == new_model.count_params()
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert [v.name for v in model.layers] == [v.name for v in new_model.layers]
    assert model.predict(x[:3], verbose=0).shape == (3, 10)


def test_getting_started_functional_file_loads_in_keras(tmp_path, monkeypatch):
    keras, layers = keras_env()
    monkeypatch.chdir(tmp_path)
    (x, y), _ = fashion(32, 0)
    x = np.expand_dims(x.astype("float32") / 255, -1)
    cm, _, _ = getting_started_functional(ccnn, ccnn_layers, x, y)
    km = keras.models.load_model("my_model.keras")      # the file ccnn wrote
    assert km.count_params() == cm.count_params()
    assert_close_predictions(km, cm, x[:8])


def getting_started_sequential_and_subclassing(keras, layers, x_train, y_train):
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    # Call model on a test input
    x = np.ones((3, 3), dtype="float32")
    y = model(x)
    seq_config = model.get_config()
    seq_again = keras.Sequential.from_config(seq_config)

    class MyModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(8, 3, activation="relu")
            self.pool = layers.GlobalAveragePooling2D()
            self.dense = layers.Dense(10)

        def call(self, inputs):
            return self.dense(self.pool(self.conv(inputs)))

    sub = MyModel()
    sub.compile(optimizer="adam",
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    history = sub.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
    return model, y, seq_again, sub, history


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_getting_started_sequential_and_subclassing_run_as_pasted(env):
    keras, layers = env()
    (x, y), _ = fashion(32, 0)
    x = np.expand_dims(x.astype("float32") / 255, -1)
    model, out, again, sub, history = getting_started_sequential_and_subclassing(
        keras, layers, x, y)
    assert tuple(out.shape) == (3, 4) and len(model.weights) == 6
    assert [v.name for v in again.layers] == ["layer1", "layer2", "layer3"]
    assert sorted(history.history) == ["accuracy", "loss"]
    assert sub.predict(x[:2], verbose=0).shape == (2, 10)
    assert sub.count_params() == 8 * 9 + 8 + 8 * 10 + 10


# ------------------------------------------------------------ Do it! 딥러닝 입문, chapter 8
def stratified_split(x, y, test_size):
    """scikit-learn's train_test_split(x, y, stratify=y, test_size=...) in
    effect: test_size of each class to the second part (sklearn is not a
    test dependency)."""
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        val[idx[:int(round(len(idx) * test_size))]] = True
    return x[~val], x[val], y[~val], y[val]


def doit_chapter8(keras, layers, data):
    (x_train_all, y_train_all), (x_test, y_test) = data
    # the book: train_test_split(..., stratify=y_train_all, test_size=0.2) (scikit-learn)
    x_train, x_val, y_train, y_val = stratified_split(x_train_all, y_train_all, 0.2)
    y_train_encoded = keras.utils.to_categorical(y_train)
    y_val_encoded = keras.utils.to_categorical(y_val)
    x_train = x_train.reshape(-1, 28, 28, 1)
    x_val = x_val.reshape(-1, 28, 28, 1)
    x_train = x_train / 255
    x_val = x_val / 255

    Conv2D, MaxPooling2D, Flatten, Dense, Dropout = (
        layers.Conv2D, layers.MaxPooling2D, layers.Flatten, layers.Dense, layers.Dropout)
    conv1 = keras.Sequential()
    conv1.add(Conv2D(10, (3, 3), activation='relu', padding='same', input_shape=(28, 28, 1)))
    conv1.add(MaxPooling2D((2, 2)))
    conv1.add(Flatten())
    conv1.add(Dropout(0.5))
    conv1.add(Dense(100, activation='relu'))
    conv1.add(Dense(10, activation='softmax'))
    conv1.summary()

    conv1.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = conv1.fit(x_train, y_train_encoded, epochs=2,
                        validation_data=(x_val, y_val_encoded))
    # the book plots these
    loss, val_loss = history.history['loss'], history.history['val_loss']
    accuracy, val_accuracy = history.history['accuracy'], history.history['val_accuracy']
    loss, accuracy = conv1.evaluate(x_val, y_val_encoded, verbose=0)
    return conv1, history, x_val


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_doit_chapter8_runs_as_pasted(env):
    keras, layers = env()
    conv1, history, x_val = doit_chapter8(keras, layers, fashion(100, 0))
    assert conv1.count_params() == 100 + 196100 + 1010       # the book's summary
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert conv1.predict(x_val, verbose=0).shape == (20, 10)


def test_doit_chapter8_predicts_as_keras():
    predicts_as_keras(doit_chapter8, fashion(50, 0))


# ------------------------------------------------------------ what the tutorials call that Keras 3 defaults
@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_compile_with_only_a_loss_and_verbose_auto_as_keras(env, capsys):
    keras, layers = env()
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    model.compile(loss="mse", run_eagerly=False, jit_compile="auto")
    assert type(model.optimizer).__name__ == "RMSprop"
    x = np.ones((8, 4), "float32")
    model.fit(x, x[:, :2], epochs=1, verbose="auto")
    model.evaluate(x, x[:, :2], verbose="auto")
    assert "loss" in capsys.readouterr().out
    assert model.predict(x, steps=0, verbose=0).shape == (8, 2)


# ------------------------------------------------------------ what still does not run
def overfit_and_underfit(keras, layers, x, y):
    model = keras.Sequential([
        layers.Dense(16, activation='elu', input_shape=(28,),
                     kernel_regularizer=keras.regularizers.l2(0.001)),
        layers.Dropout(0.5),
        layers.Dense(16, activation='elu', kernel_regularizer=keras.regularizers.l2(0.001)),
        layers.Dense(1)])
    lr_schedule = keras.optimizers.schedules.InverseTimeDecay(
        0.001, decay_steps=20, decay_rate=1, staircase=False)
    model.compile(optimizer=keras.optimizers.Adam(lr_schedule),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryCrossentropy(from_logits=True,
                                                            name='binary_crossentropy'),
                           'accuracy'])
    model.summary()
    return model.fit(x, y, steps_per_epoch=2, epochs=2, validation_data=(x, y),
                     callbacks=[keras.callbacks.EarlyStopping(
                         monitor='val_binary_crossentropy', patience=200)], verbose=0)


def tiny_higgs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 28)).astype("float32")
    return x, (x[:, :1] + 0.5 * rng.normal(size=(n, 1)) > 0).astype("float32")


@pytest.mark.parametrize("env", [ccnn_env, keras_env])
def test_overfit_and_underfit_runs_as_pasted(env):
    """TensorFlow's tutorial feeds a repeated tf.data dataset with
    steps_per_epoch; pasted with arrays, each epoch takes the next
    steps_per_epoch batches (Keras 3's; it needed steps_per_epoch of arrays)."""
    keras, layers = env()
    x, y = tiny_higgs()
    history = overfit_and_underfit(keras, layers, x, y)
    assert sorted(history.history) == ["accuracy", "binary_crossentropy", "loss",
                                       "val_accuracy", "val_binary_crossentropy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values())


def test_overfit_and_underfit_trains_as_keras():
    keras, layers = keras_env()
    x, y = tiny_higgs()
    keras.utils.set_random_seed(0)
    km = keras.Sequential([layers.Input((28,)), layers.Dense(16, activation='elu',
                           kernel_regularizer=keras.regularizers.l2(0.001)), layers.Dense(1)])
    cm = ccnn.Sequential([ccnn.Input((28,)), ccnn_layers.Dense(16, activation='elu',
                          kernel_regularizer=ccnn.regularizers.l2(0.001)), ccnn_layers.Dense(1)])
    cm.set_weights(km.get_weights())
    hist = []
    for keras_or_ccnn, m in ((keras, km), (ccnn, cm)):
        lr_schedule = keras_or_ccnn.optimizers.schedules.InverseTimeDecay(
            0.001, decay_steps=20, decay_rate=1, staircase=False)
        m.compile(optimizer=keras_or_ccnn.optimizers.Adam(lr_schedule),
                  loss=keras_or_ccnn.losses.BinaryCrossentropy(from_logits=True),
                  metrics=['accuracy'])
        hist.append(m.fit(x, y, batch_size=16, steps_per_epoch=3, epochs=3, shuffle=False,
                          verbose=0).history)
    np.testing.assert_allclose(hist[1]["loss"], hist[0]["loss"], rtol=1e-5)
    assert_close_predictions(km, cm, x)


def test_data_augmentation_model():
    """TensorFlow's "Data augmentation": resize_and_rescale (Resizing +
    Rescaling) and data_augmentation as nested Sequentials before the model's
    layers, trained on images of another size (uint8, as its dataset's)."""
    layers = ccnn_layers
    IMG_SIZE = 32
    resize_and_rescale = ccnn.Sequential([
        layers.Resizing(IMG_SIZE, IMG_SIZE),
        layers.Rescaling(1. / 255)
    ])
    data_augmentation = ccnn.Sequential([
        layers.RandomFlip("horizontal_and_vertical"),
        layers.RandomRotation(0.2),
    ])
    image = np.random.default_rng(1).integers(0, 256, (1, 40, 36, 3)).astype("uint8")
    result = resize_and_rescale(image)
    assert result.shape == (1, IMG_SIZE, IMG_SIZE, 3)
    assert 0.0 <= result.min() and result.max() <= 1.0
    model = ccnn.Sequential([
        layers.Input((40, 36, 3)),
        resize_and_rescale, data_augmentation,
        layers.Conv2D(16, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(), layers.Flatten(), layers.Dense(5)])
    model.compile(optimizer='adam',
                  loss=ccnn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    x = np.random.default_rng(0).integers(0, 256, (8, 40, 36, 3)).astype("uint8")
    history = model.fit(x, np.arange(8) % 5, epochs=1, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    assert model.predict(x, verbose=0).shape == (8, 5)
