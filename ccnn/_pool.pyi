"""ccnn._pool -- thin binding over csrc/kernels/pool.c (csrc/bindings/_pool.pyx)."""
from typing import Literal, Optional, Tuple, overload

import numpy as np
from numpy.typing import NDArray

_Float = np.floating
_Pair = Tuple[int, int]
_Pads = Tuple[int, int, int, int]

@overload
def max_pool2d_forward(x: NDArray[_Float], kernel: _Pair, stride: _Pair, pads: _Pads,
                       ceil_mode: bool, return_indices: Literal[True], nthreads: int
                       ) -> Tuple[NDArray[_Float], NDArray[np.int64]]: ...
@overload
def max_pool2d_forward(x: NDArray[_Float], kernel: _Pair, stride: _Pair, pads: _Pads,
                       ceil_mode: bool, return_indices: bool, nthreads: int
                       ) -> Tuple[NDArray[_Float], Optional[NDArray[np.int64]]]: ...
def max_pool2d_backward(dout: NDArray[_Float], indices: NDArray[np.int64],
                        xshape: Tuple[int, ...], kernel: _Pair, stride: _Pair, pads: _Pads,
                        ceil_mode: bool, nthreads: int) -> NDArray[_Float]: ...
def max_pool2d_backward_recompute(dout: NDArray[_Float], x: NDArray[_Float], kernel: _Pair,
                                  stride: _Pair, pads: _Pads, ceil_mode: bool,
                                  nthreads: int) -> NDArray[_Float]: ...
def avg_pool2d_forward(x: NDArray[_Float], kernel: _Pair, stride: _Pair, pads: _Pads,
                       ceil_mode: bool, count_include_pad: bool,
                       nthreads: int) -> NDArray[_Float]: ...
def avg_pool2d_backward(dout: NDArray[_Float], xshape: Tuple[int, ...], kernel: _Pair,
                        stride: _Pair, pads: _Pads, ceil_mode: bool, count_include_pad: bool,
                        nthreads: int) -> NDArray[_Float]: ...
def global_avg_pool_forward(x: NDArray[_Float], nthreads: int) -> NDArray[_Float]: ...
def global_avg_pool_backward(dout: NDArray[_Float], n: int, nthreads: int) -> NDArray[_Float]: ...
def global_max_pool_forward(x: NDArray[_Float],
                            nthreads: int) -> Tuple[NDArray[_Float], NDArray[np.int64]]: ...
def global_max_pool_backward(dout: NDArray[_Float], argmax: NDArray[np.int64], n: int,
                             nthreads: int) -> NDArray[_Float]: ...
def pool_path(path: int = ...) -> int: ...
