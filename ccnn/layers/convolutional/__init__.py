"""Convolution layers, one module each: Conv2D (with groups), Conv1D (Conv2D's
kernels on sequences as images of height 1), DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose."""
from .conv1d import Conv1D
from .conv2d import Conv2D, kernel_from_keras, kernel_to_keras
from .conv2d_transpose import Conv2DTranspose
from .depthwise_conv2d import DepthwiseConv2D
from .separable_conv2d import SeparableConv2D

__all__ = ["Conv2D", "Conv1D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
           "kernel_to_keras", "kernel_from_keras"]
