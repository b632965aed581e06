"""ccnn: convolutional neural networks whose hot loops are C.

    import ccnn
    ccnn.functional.conv2d(x, w, padding="same")      # PyTorch-style ops
    model = ccnn.Sequential([...])                      # Keras-style model

Layers: C kernels (csrc/) -> Cython bindings (ccnn._*) -> ccnn.functional
-> ccnn.layers -> ccnn.Sequential -> the command line (python -m ccnn).
"""
from __future__ import annotations

__version__ = "0.1.0"

from ._config import get_num_threads, set_num_threads, show_config
from . import functional

__all__ = ["functional", "get_num_threads", "set_num_threads", "show_config", "__version__"]
