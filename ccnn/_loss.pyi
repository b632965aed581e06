"""ccnn._loss -- thin binding over csrc/kernels/loss.c (csrc/bindings/_loss.pyx).  2-D (n, classes)
C-contiguous arrays of one dtype; labels int64 in [0, classes)."""
from typing import Tuple

import numpy as np
from numpy.typing import NDArray

_Float = np.floating

def softmax_forward(logits: NDArray[_Float], nthreads: int) -> NDArray[_Float]: ...
def softmax_backward(dout: NDArray[_Float], probs: NDArray[_Float],
                     nthreads: int) -> NDArray[_Float]: ...
def softmax_xent_forward(logits: NDArray[_Float], labels: NDArray[np.int64], nthreads: int
                         ) -> Tuple[NDArray[_Float], NDArray[_Float]]: ...
def softmax_xent_backward(probs: NDArray[_Float], labels: NDArray[np.int64],
                          nthreads: int) -> NDArray[_Float]: ...
def softmax_xent_dense_forward(logits: NDArray[_Float], targets: NDArray[_Float], nthreads: int
                               ) -> Tuple[NDArray[_Float], NDArray[_Float]]: ...
def softmax_xent_dense_backward(probs: NDArray[_Float], targets: NDArray[_Float],
                                nthreads: int) -> NDArray[_Float]: ...
