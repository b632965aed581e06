"""Chapter 8 of "Do it! 딥러닝 입문" -- the hand-written ConvolutionNetwork, on ccnn.functional.

The book writes this class over TensorFlow (tf.nn.conv2d, tf.nn.max_pool2d,
tf.GradientTape).  Here every forward op is a ccnn.functional call and the
backward pass, which GradientTape did silently, is written out: each
forward line has its backward line, in reverse order, so the whole of
backpropagation through a CNN fits on one page.

Layout: ccnn.functional works on (N, C, H, W) images, so x (N, 28, 28, 1)
is transposed to (N, 1, 28, 28) once, and the kernel is stored as
(n_kernels, 1, 3, 3) instead of TensorFlow's (3, 3, 1, n_kernels).

The update uses ccnn.optimizers.Adam (the book's class uses SGD; Adam is
what its Keras version trains with and converges much faster).

    python examples/book_convnet.py                       # 20 epochs, all the data
    python examples/book_convnet.py --limit 2000 --epochs 2
"""
import argparse
import os

import numpy as np

import ccnn.functional as F
from ccnn.datasets import fashion_mnist
from ccnn.losses import softmax_cross_entropy, softmax_cross_entropy_backward
from ccnn.optimizers import Adam
from ccnn.utils import to_categorical


def glorot_uniform(shape, fan_in, fan_out, rng):
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


class ConvolutionNetwork:

    def __init__(self, n_kernels=10, units=10, batch_size=32, learning_rate=0.001, seed=42):
        self.n_kernels = n_kernels      # number of convolution kernels
        self.kernel_size = 3            # kernel size (3x3)
        self.optimizer = None           # the optimizer
        self.conv_w = None              # convolution kernel (n_kernels, 1, 3, 3)
        self.conv_b = None              # convolution bias (n_kernels,)
        self.units = units              # hidden-layer size
        self.batch_size = batch_size    # minibatch size
        self.w1 = None                  # hidden-layer weights
        self.b1 = None                  # hidden-layer bias
        self.w2 = None                  # output-layer weights
        self.b2 = None                  # output-layer bias
        self.a1 = None                  # hidden-layer activation
        self.losses = []                # training losses, one per epoch
        self.val_losses = []            # validation losses, one per epoch
        self.lr = learning_rate         # learning rate
        self.rng = np.random.default_rng(seed)

    def forpass(self, x):
        """Forward pass; keeps every intermediate value for backprop()."""
        self.x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)  # (N, 1, 28, 28)
        # 3x3 convolution, 'same' padding, plus bias
        self.c_out = F.conv2d(self.x, self.conv_w, self.conv_b, stride=1, padding='same')
        # ReLU
        self.r_out = F.relu(self.c_out)
        # 2x2 max pooling (the argmax positions are kept for the backward pass)
        self.p_out, self.p_idx = F.max_pool2d(self.r_out, 2, stride=2, return_indices=True)
        # flatten everything but the batch axis
        self.f_out = self.p_out.reshape(x.shape[0], -1)
        self.z1 = self.f_out @ self.w1 + self.b1        # hidden layer, linear part
        self.a1 = F.relu(self.z1)                       # activation
        z2 = self.a1 @ self.w2 + self.b2                # output layer (logits)
        return z2

    def backprop(self, z2_grad):
        """Backward pass: what tape.gradient(loss, weights_list) computed in the book.
        z2_grad = d(loss)/d(z2); returns the gradients in weights_list's order."""
        w2_grad = self.a1.T @ z2_grad                   # z2 = a1 @ w2 + b2
        b2_grad = z2_grad.sum(axis=0)
        a1_grad = z2_grad @ self.w2.T
        z1_grad = F.relu_backward(a1_grad, self.z1)     # a1 = relu(z1)
        w1_grad = self.f_out.T @ z1_grad                # z1 = f_out @ w1 + b1
        b1_grad = z1_grad.sum(axis=0)
        f_grad = z1_grad @ self.w1.T
        p_grad = f_grad.reshape(self.p_out.shape)       # f_out = reshape(p_out)
        r_grad = F.max_pool2d_backward(p_grad, self.r_out, 2, stride=2,
                                       indices=self.p_idx)           # p_out = max_pool(r_out)
        c_grad = F.relu_backward(r_grad, self.c_out)    # r_out = relu(c_out)
        _, conv_w_grad, conv_b_grad = F.conv2d_backward(c_grad, self.x, self.conv_w,
                                                        stride=1, padding='same')
        return [conv_w_grad, conv_b_grad, w1_grad, b1_grad, w2_grad, b2_grad]

    def init_weights(self, input_shape, n_classes):
        k = self.kernel_size
        # glorot_uniform with Keras's fans: in*k*k and n_kernels*k*k
        self.conv_w = glorot_uniform((self.n_kernels, 1, k, k), k * k,
                                     self.n_kernels * k * k, self.rng)
        self.conv_b = np.zeros(self.n_kernels, dtype=np.float32)
        n_features = 14 * 14 * self.n_kernels
        self.w1 = glorot_uniform((n_features, self.units), n_features, self.units, self.rng)
        self.b1 = np.zeros(self.units, dtype=np.float32)
        self.w2 = glorot_uniform((self.units, n_classes), self.units, n_classes, self.rng)
        self.b2 = np.zeros(n_classes, dtype=np.float32)

    def fit(self, x, y, epochs=100, x_val=None, y_val=None):
        self.init_weights(x.shape, y.shape[1])    # hidden and output weights
        self.optimizer = Adam(learning_rate=self.lr)
        for i in range(epochs):
            print('epoch', i, end=' ')
            batch_losses = []
            for x_batch, y_batch in self.gen_batch(x, y):
                print('.', end='', flush=True)
                batch_losses.append(self.training(x_batch, y_batch))
            print()
            self.losses.append(np.mean(batch_losses))            # mean training loss
            self.val_losses.append(self.get_loss(x_val, y_val))   # validation loss

    def gen_batch(self, x, y):
        """Minibatch generator."""
        bins = len(x) // self.batch_size                        # number of minibatches
        indexes = self.rng.permutation(np.arange(len(x)))       # shuffle
        x = x[indexes]
        y = y[indexes]
        for i in range(bins):
            start = self.batch_size * i
            end = self.batch_size * (i + 1)
            yield x[start:end], y[start:end]

    def training(self, x, y):
        z = self.forpass(x)                                     # forward pass
        loss, probs = softmax_cross_entropy(z, y)               # fused softmax + cross-entropy
        z_grad = softmax_cross_entropy_backward(probs, y)       # d(mean loss)/dz = (probs - y) / m
        weights_list = [self.conv_w, self.conv_b, self.w1, self.b1, self.w2, self.b2]
        grads = self.backprop(z_grad)                           # the gradients GradientTape gave
        self.optimizer.apply_gradients(zip(grads, weights_list))  # update the weights in place
        return loss.mean()

    def predict(self, x):
        z = np.concatenate([self.forpass(c) for c in self.chunks(x)])
        return np.argmax(z, axis=1)

    def score(self, x, y):
        return np.mean(self.predict(x) == np.argmax(y, axis=1))

    def get_loss(self, x, y):
        z = np.concatenate([self.forpass(c) for c in self.chunks(x)])
        loss, _ = softmax_cross_entropy(z, y)
        return loss.mean()

    @staticmethod
    def chunks(x, size=1000):
        """x in pieces of `size` images (the book runs all of x at once, which
        needs ~400 MB of activations for 12,000 images)."""
        return [x[i:i + size] for i in range(0, len(x), size)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=int(os.environ.get("BOOK_LIMIT", 0)) or None)
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("BOOK_EPOCHS", 20)))
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    (x_train_all, y_train_all), (x_test, y_test) = fashion_mnist.load_data(
        fallback_to_sample=True)
    if args.limit:
        x_train_all, y_train_all = x_train_all[:args.limit], y_train_all[:args.limit]
    perm = np.random.default_rng(42).permutation(len(x_train_all))
    n_val = len(perm) // 5
    val, tr = perm[:n_val], perm[n_val:]
    x_train = (x_train_all[tr] / 255).reshape(-1, 28, 28, 1).astype(np.float32)
    x_val = (x_train_all[val] / 255).reshape(-1, 28, 28, 1).astype(np.float32)
    y_train_encoded = to_categorical(y_train_all[tr], 10)
    y_val_encoded = to_categorical(y_train_all[val], 10)

    cn = ConvolutionNetwork(n_kernels=10, units=100, batch_size=args.batch_size,
                            learning_rate=0.001)
    cn.fit(x_train, y_train_encoded, x_val=x_val, y_val=y_val_encoded, epochs=args.epochs)
    print("training losses:  ", " ".join(f"{v:.4f}" for v in cn.losses))
    print("validation losses:", " ".join(f"{v:.4f}" for v in cn.val_losses))
    print("validation accuracy:", cn.score(x_val, y_val_encoded))


if __name__ == "__main__":
    main()
