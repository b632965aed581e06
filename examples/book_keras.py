"""Chapter 8 of "Do it! 딥러닝 입문" -- the Keras CNN for Fashion-MNIST, on ccnn.

The book's code with only its imports changed (tf.keras -> ccnn):

    import tensorflow as tf                 ->  from ccnn.datasets import fashion_mnist
    tf.keras.utils.to_categorical           ->  from ccnn.utils import to_categorical
    tf.keras.Sequential                     ->  from ccnn import Sequential
    from tensorflow.keras.layers import ... ->  from ccnn.layers import ...

It trains the convolutional network twice, as the book does: conv1 without
dropout, then conv2 with Dropout(0.5), and prints each validation accuracy
(the book reports about 0.92 for conv2).

    python examples/book_keras.py                     # the book's 20 epochs
    python examples/book_keras.py --limit 2000 --epochs 2 --only conv2   # quick look

--limit N keeps the first N of the 60,000 training images (also $BOOK_LIMIT),
--epochs E changes the 20 epochs (also $BOOK_EPOCHS).  The data come from
$CCNN_DATA (or the download cache); without them the packaged sample is used.
"""
import argparse
import os

import numpy as np

from ccnn.datasets import fashion_mnist
from ccnn.utils import to_categorical
from ccnn import Sequential
from ccnn.layers import Conv2D, MaxPooling2D, Flatten, Dense, Dropout

try:  # the book splits with scikit-learn; a NumPy stand-in when it is not installed
    from sklearn.model_selection import train_test_split
except ImportError:
    def train_test_split(x, y, stratify=None, test_size=0.2, random_state=None):
        """Stratified split like scikit-learn's (same proportions per class)."""
        rng = np.random.default_rng(random_state)
        test = []
        for c in np.unique(stratify):
            idx = np.flatnonzero(stratify == c)
            test.extend(rng.choice(idx, int(round(len(idx) * test_size)), replace=False))
        mask = np.zeros(len(x), dtype=bool)
        mask[test] = True
        return x[~mask], x[mask], y[~mask], y[mask]

try:  # the book draws the curves with matplotlib; optional here
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--limit", type=int, default=int(os.environ.get("BOOK_LIMIT", 0)) or None)
parser.add_argument("--epochs", type=int, default=int(os.environ.get("BOOK_EPOCHS", 20)))
parser.add_argument("--only", choices=["conv1", "conv2"], default=None,
                    help="train just one of the book's two models")
args = parser.parse_args()

# --- 08-4: load Fashion-MNIST and make the training / validation sets ------
(x_train_all, y_train_all), (x_test, y_test) = fashion_mnist.load_data(fallback_to_sample=True)
if args.limit:
    x_train_all, y_train_all = x_train_all[:args.limit], y_train_all[:args.limit]

x_train, x_val, y_train, y_val = train_test_split(x_train_all, y_train_all,
                                                  stratify=y_train_all,
                                                  test_size=0.2, random_state=42)
y_train_encoded = to_categorical(y_train)
y_val_encoded = to_categorical(y_val)

x_train = x_train.reshape(-1, 28, 28, 1)
x_val = x_val.reshape(-1, 28, 28, 1)
print(x_train.shape)

x_train = x_train / 255
x_val = x_val / 255


def plot(history, name):
    if plt is None:
        return
    for key in ("loss", "accuracy"):
        plt.plot(history.history[key])
        plt.plot(history.history["val_" + key])
        plt.ylabel(key)
        plt.xlabel("epoch")
        plt.legend(["train_" + key, "val_" + key])
        plt.savefig(f"{name}_{key}.png")
        plt.close()


# --- the convolutional network (conv1) ---------------------------------------
if args.only in (None, "conv1"):
    conv1 = Sequential()
    conv1.add(Conv2D(10, (3, 3), activation='relu', padding='same', input_shape=(28, 28, 1)))
    conv1.add(MaxPooling2D((2, 2)))
    conv1.add(Flatten())
    conv1.add(Dense(100, activation='relu'))
    conv1.add(Dense(10, activation='softmax'))
    conv1.summary()

    conv1.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = conv1.fit(x_train, y_train_encoded, epochs=args.epochs,
                        validation_data=(x_val, y_val_encoded))
    plot(history, "conv1")

    loss, accuracy = conv1.evaluate(x_val, y_val_encoded, verbose=0)
    print(accuracy)

# --- with dropout (conv2) ----------------------------------------------------
if args.only in (None, "conv2"):
    conv2 = Sequential()
    conv2.add(Conv2D(10, (3, 3), activation='relu', padding='same', input_shape=(28, 28, 1)))
    conv2.add(MaxPooling2D((2, 2)))
    conv2.add(Flatten())
    conv2.add(Dropout(0.5))
    conv2.add(Dense(100, activation='relu'))
    conv2.add(Dense(10, activation='softmax'))
    conv2.summary()

    conv2.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = conv2.fit(x_train, y_train_encoded, epochs=args.epochs,
                        validation_data=(x_val, y_val_encoded))
    plot(history, "conv2")

    loss, accuracy = conv2.evaluate(x_val, y_val_encoded, verbose=0)
    print(accuracy)
