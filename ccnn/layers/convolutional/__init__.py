"""Convolution layers, one module each: Conv2D, Conv1D (Conv2D's kernels on
sequences as images of height 1)."""
from .conv1d import Conv1D
from .conv2d import Conv2D, kernel_from_keras, kernel_to_keras

__all__ = ["Conv2D", "Conv1D", "kernel_to_keras", "kernel_from_keras"]
