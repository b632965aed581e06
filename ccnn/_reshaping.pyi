"""ccnn._reshaping -- thin binding over csrc/kernels/pad.c, upsample.c and resize.c (csrc/bindings/_reshaping.pyx)."""
from typing import Tuple

import numpy as np

from numpy.typing import NDArray

_Float = np.floating

def pad2d(x: NDArray[_Float], pads: Tuple[int, int, int, int], value: float,
          nthreads: int) -> NDArray[_Float]: ...
def upsample_nearest2d_forward(x: NDArray[_Float], sh: int, sw: int,
                               nthreads: int) -> NDArray[_Float]: ...
def upsample_nearest2d_backward(dout: NDArray[_Float], sh: int, sw: int,
                                nthreads: int) -> NDArray[_Float]: ...

RESIZE_NEAREST: int
RESIZE_NEAREST_EXACT: int
RESIZE_BILINEAR: int
RESIZE_BILINEAR_ALIGN: int

def resize2d_forward(x: NDArray[_Float], ho: int, wo: int, mode: int, scale_h: float,
                     scale_w: float, nthreads: int) -> NDArray[_Float]: ...
def resize2d_backward(dout: NDArray[_Float], h: int, w: int, mode: int, scale_h: float,
                      scale_w: float, nthreads: int) -> NDArray[_Float]: ...
