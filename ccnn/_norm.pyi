"""ccnn._norm -- thin binding over csrc/kernels/batchnorm.c and layernorm.c (csrc/bindings/_norm.pyx)."""
from typing import Optional, Tuple

import numpy as np

from numpy.typing import NDArray

_Float = np.floating

def batchnorm_stats(x: NDArray[_Float], nthreads: int) -> Tuple[NDArray[_Float], NDArray[_Float]]: ...
def batchnorm_forward(x: NDArray[_Float], mean: NDArray[_Float], invstd: NDArray[_Float],
                      gamma: Optional[NDArray[_Float]], beta: Optional[NDArray[_Float]],
                      nthreads: int) -> NDArray[_Float]: ...
def batchnorm_backward(dout: NDArray[_Float], x: NDArray[_Float], mean: NDArray[_Float],
                       invstd: NDArray[_Float], gamma: Optional[NDArray[_Float]],
                       training: bool, need_dx: bool, need_dgamma: bool, need_dbeta: bool,
                       nthreads: int) -> Tuple[Optional[NDArray[_Float]],
                                               Optional[NDArray[_Float]],
                                               Optional[NDArray[_Float]]]: ...
def layernorm_forward(x: NDArray[_Float], gamma: Optional[NDArray[_Float]],
                      beta: Optional[NDArray[_Float]], eps: float,
                      nthreads: int) -> Tuple[NDArray[_Float], NDArray[_Float],
                                              NDArray[_Float]]: ...
def layernorm_backward(dout: NDArray[_Float], x: NDArray[_Float], mean: NDArray[_Float],
                       rstd: NDArray[_Float], gamma: Optional[NDArray[_Float]], need_dx: bool,
                       need_dgamma: bool, need_dbeta: bool,
                       nthreads: int) -> Tuple[Optional[NDArray[_Float]],
                                               Optional[NDArray[_Float]],
                                               Optional[NDArray[_Float]]]: ...
