"""Dataset loaders for ccnn (pure Python + numpy; no compiled code needed).

Available loaders:

* :mod:`ccnn.datasets.fashion_mnist` -- ``load_data()``, ``load_sample()``,
  ``read_idx()``, ``class_names``.
"""

from . import fashion_mnist
from .fashion_mnist import DatasetError

__all__ = ["fashion_mnist", "DatasetError"]
