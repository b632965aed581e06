"""ccnn._correlate -- thin binding over csrc/kernels/correlate.c (csrc/bindings/_correlate.pyx)."""
from typing import Tuple

import numpy as np
from numpy.typing import NDArray

_Float = np.floating

def correlate2d(a: NDArray[_Float], v: NDArray[_Float], out_shape: Tuple[int, int],
                offset: Tuple[int, int], multiply_fill: bool, nthreads: int) -> NDArray[_Float]: ...
