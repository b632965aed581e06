"""A modern small CNN for Fashion-MNIST on ccnn, written as a Keras script.

Beyond the book's one-convolution model: random shifts of the training
images, two Conv-BatchNormalization-ReLU blocks per resolution, dropout before
the classifier.  The same model in TensorFlow/Keras is the project's anchor
../shared/anchors/modern_tf.py; with `--recipe keras` this script trains it
exactly as that script does (Adam 1e-3, batch 64, 15 epochs, the first 48,000
training images to train and the last 12,000 to validate), so the two can be
compared epoch by epoch.  `--recipe long` (the default) is the recipe that
`ccnn train --model modern` runs: 30 epochs with the learning rate following a
cosine from 1e-3 to 0.

    python examples/fashion_modern.py                      # the long recipe
    python examples/fashion_modern.py --recipe keras       # modern_tf.py's recipe
    python examples/fashion_modern.py --epochs 1 --limit 2000   # a quick look

The data come from $CCNN_DATA (or the download cache); without them the
packaged sample is used.
"""
import argparse
import resource
import time

import numpy as np

import ccnn
from ccnn import layers
from ccnn.datasets import fashion_mnist

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--recipe", choices=["long", "keras"], default="long")
parser.add_argument("--epochs", type=int, default=None)
parser.add_argument("--limit", type=int, default=None, help="use only N training images")
args = parser.parse_args()
epochs = args.epochs or {"long": 30, "keras": 15}[args.recipe]

(x_all, y_all), (x_test, y_test) = fashion_mnist.load_data(fallback_to_sample=True)
x_all = x_all.reshape(-1, 28, 28, 1).astype("float32")
x_all /= 255.0                      # in place: no float64 copy of the 60,000 images
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
n_train = len(x_all) * 4 // 5
x_train, y_train = x_all[:n_train][:args.limit], y_all[:n_train][:args.limit]
x_val, y_val = x_all[n_train:], y_all[n_train:]

ccnn.utils.set_random_seed(42)


def block(filters):
    """Conv2D without bias (BatchNormalization's beta is the bias) -> BN -> ReLU."""
    return [layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.Activation("relu")]


model = ccnn.Sequential([ccnn.Input((28, 28, 1)),
                         layers.RandomTranslation(0.1, 0.1)]
                        + block(32) + block(32) + [layers.MaxPooling2D()]
                        + block(64) + block(64) + [layers.MaxPooling2D(),
                                                   layers.Flatten(),
                                                   layers.Dropout(0.5),
                                                   layers.Dense(128, activation="relu"),
                                                   layers.Dense(10, activation="softmax")])

learning_rate = 1e-3
if args.recipe == "long":
    steps = epochs * -(-len(x_train) // 64)
    learning_rate = ccnn.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
model.compile(optimizer=ccnn.optimizers.Adam(learning_rate),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()


class EpochTimer(ccnn.callbacks.Callback):
    """One line per epoch, as modern_tf.py prints it."""

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1} {time.perf_counter() - self.t:.1f} s "
              f"val_acc {logs['val_accuracy']:.4f}", flush=True)


model.fit(x_train, y_train, epochs=epochs, batch_size=64, validation_data=(x_val, y_val),
          verbose=0, callbacks=[EpochTimer()])
val_acc = model.evaluate(x_val, y_val, verbose=0)[1]
test_acc = model.evaluate(x_test, y_test, verbose=0)[1]
print("val", round(val_acc, 4), "test", round(test_acc, 4))
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
