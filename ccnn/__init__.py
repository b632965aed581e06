"""ccnn: convolutional neural networks whose hot loops are C.

    import ccnn
    ccnn.functional.conv2d(x, w, padding="same")      # PyTorch-style ops
    model = ccnn.Sequential([...])                      # Keras-style model
    (x_train, y_train), _ = ccnn.datasets.fashion_mnist.load_data()

Layers: C kernels (csrc/) -> Cython bindings (ccnn._*) -> ccnn.functional
-> ccnn.layers -> ccnn.Sequential -> the command line (python -m ccnn).

The Keras-style modules (layers, models, optimizers, losses, callbacks,
utils), the datasets and ccnn.kernels (the kernels for other packages' C
and Cython code; see get_include()) are imported on first use, so
`import ccnn` stays fast.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, List

__version__ = "0.1.0"

from ._config import get_num_threads, set_num_threads, show_config
from . import functional

if TYPE_CHECKING:  # what the lazy attributes below resolve to, for type checkers
    from . import callbacks, datasets, kernels, layers, losses, models, optimizers, utils
    from .models import Sequential

_SUBMODULES = ("callbacks", "datasets", "kernels", "layers", "losses", "models", "optimizers",
               "utils")
_LAZY_NAMES = {"Sequential": "models"}

__all__ = ["functional", "get_include", "get_num_threads", "set_num_threads", "show_config",
           "__version__", "Sequential", *_SUBMODULES]


def get_include() -> str:
    """The directory holding ccnn's C headers and Cython declarations, for
    packages that call ccnn's kernels from their own C or Cython code (as
    numpy.get_include() does for numpy's):

        <get_include()>/ccnn/kernels.pxd    from ccnn.kernels cimport conv2d_forward_f32, ...
        <get_include()>/ccnn/ccnn.h         the kernels and their shape structs
        <get_include()>/ccnn/kernels_capi.h the kernels' function table, for C

    Pass it as include_dirs of the Extension (C headers) and as include_path
    of cythonize (the .pxd).  The kernels are reached at run time through the
    capsules of the module ccnn.kernels: nothing is linked."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
