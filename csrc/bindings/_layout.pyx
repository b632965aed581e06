"""ccnn._layout -- thin binding over csrc/kernels/layout.c (NCHW <-> NHWC moves)."""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def transpose_batched(const floating[:, :, ::1] x, int nthreads):
    """out[n, j, i] = x[n, i, j]: x (n, a, b) -> a new C-contiguous (n, b, a)."""
    cdef Py_ssize_t n = x.shape[0], a = x.shape[1], b = x.shape[2]
    out = np.empty((n, b, a), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] y = out
    if n == 0 or a == 0 or b == 0:
        return out
    with nogil:
        ck.transpose_batched(&y[0, 0, 0], &x[0, 0, 0], n, a, b, nthreads)
    return out
