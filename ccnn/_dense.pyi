"""ccnn._dense -- thin binding over csrc/kernels/dense.c (csrc/bindings/_dense.pyx).
2-D C-contiguous arrays, all float32 or all float64."""
from typing import Optional, Tuple

import numpy as np
from numpy.typing import NDArray

_Float = np.floating

def dense_forward(x: NDArray[_Float], weight: NDArray[_Float], bias: Optional[NDArray[_Float]],
                  relu: bool, nthreads: int) -> NDArray[_Float]: ...
def dense_backward(dout: NDArray[_Float], x: NDArray[_Float], weight: NDArray[_Float],
                   relu_out: Optional[NDArray[_Float]], need_dx: bool, need_dbias: bool,
                   nthreads: int) -> Tuple[Optional[NDArray[_Float]], NDArray[_Float],
                                           Optional[NDArray[_Float]]]: ...
def dense_act_forward(x: NDArray[_Float], weight: NDArray[_Float], bias: Optional[NDArray[_Float]],
                      kind: int, alpha: float,
                      nthreads: int) -> Tuple[NDArray[_Float], NDArray[_Float]]: ...
