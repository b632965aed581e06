"""ccnn: convolutional neural networks whose hot loops are C.

    import ccnn
    ccnn.functional.conv2d(x, w, padding="same")      # PyTorch-style ops
    model = ccnn.Sequential([...])                      # Keras-style model
    (x_train, y_train), _ = ccnn.datasets.fashion_mnist.load_data()

Layers: C kernels (csrc/) -> Cython bindings (ccnn._*) -> ccnn.functional
-> ccnn.layers -> ccnn.Sequential -> the command line (`ccnn train`).

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


def _extensions_missing(exc: ImportError) -> ImportError:
    """The ImportError to raise when ccnn's compiled modules cannot be imported:
    it says why, and what to do (as NumPy does), instead of the circular-import
    traceback that a source checkout's ccnn/ gives."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    if os.path.exists(os.path.join(root, "setup.py")) and os.path.isdir(os.path.join(root, "csrc")):
        msg = (f"you are importing ccnn from its source directory ({here}), which has no compiled "
               f"extensions. Run Python (or `ccnn train`) from another directory to use the "
               f"installed ccnn (`pip install .` installs it), or build this tree in place with "
               f"`pip install -e . --no-build-isolation` or `python setup.py build_ext --inplace`.")
    else:
        msg = (f"ccnn's compiled extension modules could not be imported from {here} ({exc}); "
               f"reinstall ccnn (`pip install --force-reinstall ccnn`, or `pip install .` from "
               f"its source)")
    return ImportError(msg)


try:
    from . import _runtime  # the first compiled module every other one needs
except ImportError as _exc:
    raise _extensions_missing(_exc) from None

from ._config import get_num_threads, set_num_threads, show_config
from . import functional

if TYPE_CHECKING:  # what the lazy attributes below resolve to, for type checkers
    from . import (activations, callbacks, datasets, kernels, layers, losses, metrics, models,
                   optimizers, profiler, regularizers, saving, utils)
    from .layers import Input
    from .models import Model, Sequential

_SUBMODULES = ("activations", "callbacks", "datasets", "kernels", "layers", "losses", "metrics", "models",
               "optimizers", "profiler", "regularizers", "saving", "utils", "distribution")
_LAZY_NAMES = {"Sequential": "models", "Input": "layers", "Model": "models"}

__all__ = ["functional", "get_include", "get_num_threads", "set_num_threads", "show_config",
           "__version__", "Sequential", "Input", *_SUBMODULES, "Model"]


def get_include() -> str:
    """The directory holding ccnn's C headers and Cython declarations, for
    packages that call ccnn's kernels from their own C or Cython code (as
    numpy.get_include() does for numpy's):

        <get_include()>/ccnn/kernels.pxd    from ccnn.kernels cimport conv2d_dims_init, ...
        <get_include()>/ccnn/kernels_fused.pxd  the typed kernels over Cython's `floating`
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
