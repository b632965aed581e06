"""ccnn._depthwise -- thin binding over csrc/kernels/depthwise.c (csrc/bindings/_depthwise.pyx).

Arrays are C-contiguous and all float32 or all float64; ccnn.functional
validates them first.  weight (k, r, s), k = c * multiplier;
pads = (top, bottom, left, right).
"""
from typing import Optional, Tuple

import numpy as np
from numpy.typing import NDArray

_Float = np.floating
_Pair = Tuple[int, int]
_Pads = Tuple[int, int, int, int]

def depthwise_forward(x: NDArray[_Float], weight: NDArray[_Float],
                      bias: Optional[NDArray[_Float]], stride: _Pair, dilation: _Pair,
                      pads: _Pads, nthreads: int) -> NDArray[_Float]: ...
def depthwise_backward(dout: NDArray[_Float], x: NDArray[_Float], weight: NDArray[_Float],
                       stride: _Pair, dilation: _Pair, pads: _Pads, need_dx: bool,
                       need_dweight: bool, need_dbias: bool, nthreads: int
                       ) -> Tuple[Optional[NDArray[_Float]], Optional[NDArray[_Float]],
                                  Optional[NDArray[_Float]]]: ...
