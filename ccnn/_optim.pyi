"""ccnn._optim -- thin binding over csrc/kernels/optim.c (csrc/bindings/_optim.pyx).  Flat arrays of
one dtype and length; param and state are updated in place."""
from typing import List, Optional

import numpy as np
from numpy.typing import NDArray

_Float = np.floating

def adam_update(param: NDArray[_Float], m: NDArray[_Float], v: NDArray[_Float],
                grad: NDArray[_Float], lr_t: float, beta1: float, beta2: float, eps: float,
                nthreads: int) -> None: ...
def sgd_update(param: NDArray[_Float], velocity: Optional[NDArray[_Float]],
               grad: NDArray[_Float], lr: float, momentum: float, nesterov: bool,
               nthreads: int) -> None: ...
def adam_update_many(params: List[NDArray[_Float]], ms: List[NDArray[_Float]],
                     vs: List[NDArray[_Float]], grads: List[NDArray[_Float]], lr_t: float,
                     beta1: float, beta2: float, eps: float, nthreads: int) -> None: ...
def all_finite(arrays: List[NDArray[_Float]], nthreads: int) -> bool: ...
