"""ccnn._reshaping -- thin binding over csrc/kernels/pad.c and upsample.c (csrc/bindings/_reshaping.pyx)."""
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
