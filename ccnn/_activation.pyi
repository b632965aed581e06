"""ccnn._activation -- thin binding over csrc/kernels/activation.c (csrc/bindings/_activation.pyx).
Flat (1-D) C-contiguous arrays."""
import numpy as np
from typing import Tuple

from numpy.typing import NDArray

_Float = np.floating

def relu_forward(x: NDArray[_Float], nthreads: int) -> NDArray[_Float]: ...
def relu_backward(dout: NDArray[_Float], x: NDArray[_Float], nthreads: int) -> NDArray[_Float]: ...
def dropout_apply(x: NDArray[_Float], mask: NDArray[np.uint8], scale: float,
                  nthreads: int) -> NDArray[_Float]: ...
def dropout_sample(x: NDArray[_Float], rate: float, seed: int, nthreads: int
                   ) -> Tuple[NDArray[_Float], NDArray[np.bool_]]: ...
