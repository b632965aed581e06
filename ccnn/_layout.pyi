"""ccnn._layout -- thin binding over csrc/kernels/layout.c (csrc/bindings/_layout.pyx)."""
import numpy as np

from numpy.typing import NDArray

_Float = np.floating

def transpose_batched(x: NDArray[_Float], nthreads: int) -> NDArray[_Float]: ...
