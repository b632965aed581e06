"""Pooling layers, one module each: MaxPooling2D, AveragePooling2D (base_pooling:
their shared window logic), GlobalAveragePooling2D, GlobalMaxPooling2D, and the
1-D forms (the same kernels on sequences as images of height 1)."""
from .average_pooling1d import AveragePooling1D
from .average_pooling2d import AveragePooling2D
from .base_pooling import Pooling2D
from .global_average_pooling1d import GlobalAveragePooling1D
from .global_average_pooling2d import GlobalAveragePooling2D
from .global_max_pooling1d import GlobalMaxPooling1D
from .global_max_pooling2d import GlobalMaxPooling2D
from .max_pooling1d import MaxPooling1D
from .max_pooling2d import MaxPooling2D

__all__ = ["Pooling2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D"]
