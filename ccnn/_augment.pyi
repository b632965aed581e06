"""ccnn._augment -- thin binding over csrc/kernels/augment.c (csrc/bindings/_augment.pyx)."""
import numpy as np

from numpy.typing import NDArray

_Float = np.floating

def affine_transform(x: NDArray[_Float], transforms: NDArray[np.float64], interpolation: int,
                     fill_mode: int, fill_value: float, nthreads: int) -> NDArray[_Float]: ...
