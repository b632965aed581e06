"""ccnn._optim -- thin binding over csrc/kernels/optim.c (csrc/bindings/_optim.pyx).  Flat arrays of
one dtype and length; param and state are updated in place."""
from typing import List, Optional

import numpy as np
from numpy.typing import NDArray

_Float = np.floating

#: the training plan's optimizer kinds (plan_train.h's CCNN_TO_ADAM, ...)
PLAN_ADAM: int
PLAN_SGD: int
PLAN_RMSPROP: int
PLAN_ADAGRAD: int
PLAN_ADADELTA: int
PLAN_ADAMAX: int

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

# Step kernels (Keras 3's optimizers): lists of flat arrays of one dtype; gscale
# and decay are float64 (len(params)) per-array factors or None; clipvalue <= 0: none.
_L = List[NDArray[_Float]]
_PerArray = Optional[NDArray[np.float64]]

def sum_squares(arrays: _L, nthreads: int) -> NDArray[np.float64]: ...
def adam_step(params: _L, m: _L, v: _L, vhat: Optional[_L], grads: _L, gscale: _PerArray,
              clipvalue: float, decay: _PerArray, lr_t: float, beta1: float, beta2: float,
              eps: float, nthreads: int) -> None: ...
def sgd_step(params: _L, velocity: Optional[_L], grads: _L, gscale: _PerArray,
             clipvalue: float, decay: _PerArray, lr: float, momentum: float, nesterov: bool,
             nthreads: int) -> None: ...
def rmsprop_step(params: _L, velocity: _L, momentum_buf: Optional[_L],
                 average_grad: Optional[_L], grads: _L, gscale: _PerArray, clipvalue: float,
                 decay: _PerArray, lr: float, rho: float, momentum: float, eps: float,
                 nthreads: int) -> None: ...
def adagrad_step(params: _L, accumulator: _L, grads: _L, gscale: _PerArray, clipvalue: float,
                 decay: _PerArray, lr: float, eps: float, nthreads: int) -> None: ...
def adadelta_step(params: _L, accumulated_grad: _L, accumulated_delta: _L, grads: _L,
                  gscale: _PerArray, clipvalue: float, decay: _PerArray, lr: float, rho: float,
                  eps: float, nthreads: int) -> None: ...
def adamax_step(params: _L, m: _L, u: _L, grads: _L, gscale: _PerArray, clipvalue: float,
                decay: _PerArray, lr: float, beta1: float, beta2: float, eps: float,
                bias1: float, nthreads: int) -> None: ...
def nadam_step(params: _L, m: _L, v: _L, grads: _L, gscale: _PerArray, clipvalue: float,
               decay: _PerArray, lr: float, beta1: float, beta2: float, eps: float,
               u_next: float, den_next: float, one_minus_u: float, den: float, den_v: float,
               nthreads: int) -> None: ...
