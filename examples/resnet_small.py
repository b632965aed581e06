"""A small residual network for Fashion-MNIST: a model that needs a graph.

A functional model (ccnn.cli.build_resnet_small, what `ccnn train --model
resnet` trains; its source is a Keras 3 functional script but for the imports):
Conv-BatchNormalization-ReLU blocks whose input is added back to their output
-- through the identity when the shapes agree, through a strided 1x1
convolution (the projection shortcut) when a stage halves the resolution and
doubles the channels -- then GlobalAveragePooling2D and the classifier.

    28x28x1 -> stem conv 32 -> [block 32] -> [block 64, /2] -> [block 128, /2]
            -> GlobalAveragePooling2D -> Dense(10, softmax)

    python examples/resnet_small.py                        # 10 epochs
    python examples/resnet_small.py --epochs 1 --limit 2000   # a quick look

The data come from $CCNN_DATA (or the download cache); without them the
packaged sample is used.  Adam with a cosine decay from 2e-3, batch 128, the
first 48,000 training images to train and the last 12,000 to validate.
"""
import argparse
import resource
import time

import ccnn
from ccnn.cli import build_resnet_small
from ccnn.datasets import fashion_mnist

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--limit", type=int, default=None, help="use only N training images")
parser.add_argument("--save", default=None, help="write the trained model to this file")
args = parser.parse_args()

(x_all, y_all), (x_test, y_test) = fashion_mnist.load_data(fallback_to_sample=True)
x_all = x_all.reshape(-1, 28, 28, 1).astype("float32")
x_all /= 255.0
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
n_train = len(x_all) * 4 // 5
x_train, y_train = x_all[:n_train][:args.limit], y_all[:n_train][:args.limit]
x_val, y_val = x_all[n_train:], y_all[n_train:]

ccnn.utils.set_random_seed(42)
model = build_resnet_small()      # the network above (in ccnn/cli.py)

steps = args.epochs * -(-len(x_train) // args.batch_size)
model.compile(optimizer=ccnn.optimizers.Adam(
                  ccnn.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps)),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()


class EpochTimer(ccnn.callbacks.Callback):
    """One line per epoch: its time and the validation accuracy."""

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1} {time.perf_counter() - self.t:.1f} s "
              f"loss {logs['loss']:.4f} val_acc {logs['val_accuracy']:.4f}", flush=True)


model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
          validation_data=(x_val, y_val), verbose=0, callbacks=[EpochTimer()])
val_acc = model.evaluate(x_val, y_val, verbose=0)[1]
test_acc = model.evaluate(x_test, y_test, verbose=0)[1]
print("val", round(val_acc, 4), "test", round(test_acc, 4))
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
if args.save:
    model.save(args.save)
    print("saved", args.save)
