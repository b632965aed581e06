"""ccnn._conv2d -- thin binding over the conv2d kernels (csrc/bindings/_conv2d.pyx).

Arrays are C-contiguous and all float32 or all float64 (fused types);
ccnn.functional validates them first.  pads = (top, bottom, left, right).
"""
from typing import Dict, Literal, Optional, Tuple, overload

import numpy as np
from numpy.typing import NDArray

_Float = np.floating
_Pair = Tuple[int, int]
_Pads = Tuple[int, int, int, int]
_Algo = Literal["auto", "direct", "gemm", "winograd"]

ALGOS: Dict[str, int]

PASSES: Dict[str, int]

def algo_for(xshape: Tuple[int, ...], wshape: Tuple[int, ...], stride: _Pair, dilation: _Pair,
             pads: _Pads, pass_: Literal["forward", "data", "weight"] = ...
             ) -> Literal["direct", "gemm"]: ...
def winograd_eligible(xshape: Tuple[int, ...], wshape: Tuple[int, ...], stride: _Pair,
                      dilation: _Pair, pads: _Pads, pass_: Literal["forward", "data", "weight"] = ...,
                      forced: bool = ...) -> bool: ...
def workspace_bytes(xshape: Tuple[int, ...], wshape: Tuple[int, ...], stride: _Pair,
                    dilation: _Pair, pads: _Pads, itemsize: int, backward: bool,
                    nthreads: int) -> int: ...
def gemm_kernel_name() -> str: ...
def gemm(a: NDArray[_Float], b: NDArray[_Float], c: NDArray[_Float], overwrite: bool,
         bias: Optional[NDArray[_Float]] = ...) -> None: ...
def conv2d_forward(x: NDArray[_Float], weight: NDArray[_Float], bias: Optional[NDArray[_Float]],
                   stride: _Pair, dilation: _Pair, pads: _Pads, nthreads: int,
                   algo: _Algo = ..., relu: bool = ...) -> NDArray[_Float]: ...
@overload
def conv2d_backward(dout: NDArray[_Float], x: NDArray[_Float], weight: NDArray[_Float],
                    stride: _Pair, dilation: _Pair, pads: _Pads, need_dx: Literal[True],
                    need_dweight: Literal[True], need_dbias: Literal[True], nthreads: int,
                    algo: _Algo = ..., relu_out: Optional[NDArray[_Float]] = ...
                    ) -> Tuple[NDArray[_Float], NDArray[_Float], NDArray[_Float]]: ...
@overload
def conv2d_backward(dout: NDArray[_Float], x: NDArray[_Float], weight: NDArray[_Float],
                    stride: _Pair, dilation: _Pair, pads: _Pads, need_dx: bool,
                    need_dweight: bool, need_dbias: bool, nthreads: int, algo: _Algo = ...,
                    relu_out: Optional[NDArray[_Float]] = ...
                    ) -> Tuple[Optional[NDArray[_Float]], Optional[NDArray[_Float]],
                               Optional[NDArray[_Float]]]: ...
def relu_maxpool_supported(xshape: Tuple[int, ...], wshape: Tuple[int, ...], stride: _Pair,
                           dilation: _Pair, pads: _Pads) -> bool: ...
def conv2d_relu_maxpool_forward(x: NDArray[_Float], weight: NDArray[_Float],
                                bias: Optional[NDArray[_Float]], stride: _Pair, dilation: _Pair,
                                pads: _Pads, nthreads: int
                                ) -> Tuple[NDArray[_Float], NDArray[np.uint8]]: ...
def conv2d_relu_maxpool_backward(dout: NDArray[_Float], out: NDArray[_Float],
                                 argmax: NDArray[np.uint8], x: NDArray[_Float],
                                 wshape: Tuple[int, ...], stride: _Pair, dilation: _Pair,
                                 pads: _Pads, need_dbias: bool, nthreads: int
                                 ) -> Tuple[NDArray[_Float], Optional[NDArray[_Float]]]: ...
def conv2d_act_forward(x: NDArray[_Float], weight: NDArray[_Float], bias: Optional[NDArray[_Float]],
                       stride: Tuple[int, int], dilation: Tuple[int, int],
                       pads: Tuple[int, int, int, int], kind: int, alpha: float,
                       nthreads: int) -> Tuple[NDArray[_Float], NDArray[_Float]]: ...
