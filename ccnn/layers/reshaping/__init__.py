"""Reshaping layers, one module each: Flatten, Reshape, Permute, ZeroPadding2D /
ZeroPadding1D, Cropping2D / Cropping1D, UpSampling2D / UpSampling1D (base_spatial:
the padding / cropping / upsampling layers' shared view of their data for the
C kernels)."""
from .cropping2d import Cropping1D, Cropping2D
from .flatten import Flatten
from .permute import Permute
from .reshape import Reshape
from .up_sampling2d import UpSampling1D, UpSampling2D
from .zero_padding2d import ZeroPadding1D, ZeroPadding2D

__all__ = ["Flatten", "Reshape", "Permute", "ZeroPadding2D", "ZeroPadding1D", "Cropping2D",
           "Cropping1D", "UpSampling2D", "UpSampling1D"]
