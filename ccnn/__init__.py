"""ccnn: convolutional neural networks whose hot loops are C.

    import ccnn
    ccnn.functional.conv2d(x, w, padding="same")      # PyTorch-style ops
    model = ccnn.Sequential([...])                      # Keras-style model
    (x_train, y_train), _ = ccnn.datasets.fashion_mnist.load_data()

Layers: C kernels (csrc/) -> Cython bindings (ccnn._*) -> ccnn.functional
-> ccnn.layers -> ccnn.Sequential -> the command line (python -m ccnn).

The Keras-style modules (layers, models, optimizers, losses, callbacks,
utils) and the datasets are imported on first use, so `import ccnn` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from ._config import get_num_threads, set_num_threads, show_config
from . import functional

_SUBMODULES = ("callbacks", "datasets", "layers", "losses", "models", "optimizers", "utils")
_LAZY_NAMES = {"Sequential": "models"}

__all__ = ["functional", "get_num_threads", "set_num_threads", "show_config", "__version__",
           "Sequential", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
