"""The modern Fashion-MNIST CNN trained in PyTorch (CPU), for the side-by-side
epoch times of `benchmarks/bench.py --only modern_epoch`.

The same model and recipe as examples/fashion_modern.py --recipe keras and
../shared/anchors/modern_tf.py: random shifts of up to 10 % (bilinear,
reflected border, as Keras's RandomTranslation), [Conv 3x3 (no bias) ->
BatchNorm -> ReLU] x 2 -> MaxPool -> the same with 64 filters -> MaxPool ->
Flatten -> Dropout(0.5) -> Linear(128) -> ReLU -> Linear(10); Adam 1e-3,
batch 64, the first 48,000 training images to train, the last 12,000 to
validate.  BatchNorm's momentum is Keras's (0.99, PyTorch's 0.01) and its
epsilon Keras's 1e-3.  Prints the lines benchmarks/side_by_side.py reads:

    epoch N T s val_acc V
    val V test T

    CCNN_DATA=... python benchmarks/modern_torch.py [epochs] [limit]
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as TF

from ccnn.datasets import fashion_mnist


def model() -> nn.Sequential:
    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU()]
    return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), *block(64, 64), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def translate(x: torch.Tensor, gen: torch.Generator, factor: float = 0.1) -> torch.Tensor:
    """Each image shifted by a uniform fraction in [-factor, factor] of its size."""
    n = x.shape[0]
    shift = (torch.rand((n, 2), generator=gen) * 2 - 1) * factor * 2  # grid units span 2
    theta = torch.zeros((n, 2, 3))
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = TF.affine_grid(theta, list(x.shape), align_corners=False)
    return TF.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                          align_corners=False)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    with torch.inference_mode():
        correct = sum(int((net(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(x), 1000))
    net.train()
    return correct / len(x)


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 48000
    torch.manual_seed(42)
    (xa, ya), (xt, yt) = fashion_mnist.load_data()

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32))

    x_train, y_train = tensor(xa[:48000][:limit]), torch.from_numpy(ya[:48000][:limit].astype(np.int64))
    x_val, y_val = tensor(xa[48000:]), torch.from_numpy(ya[48000:].astype(np.int64))
    x_test, y_test = tensor(xt), torch.from_numpy(yt.astype(np.int64))
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)   # Keras's epsilon
    gen = torch.Generator().manual_seed(42)
    lossf = nn.CrossEntropyLoss()
    for e in range(epochs):
        t = time.perf_counter()
        order = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(translate(x_train[idx], gen)), y_train[idx])
            loss.backward()
            opt.step()
        val = accuracy(net, x_val, y_val)
        print(f"epoch {e + 1} {time.perf_counter() - t:.1f} s val_acc {val:.4f}", flush=True)
    print("val", round(accuracy(net, x_val, y_val), 4), "test", round(accuracy(net, x_test, y_test), 4))


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    main()
