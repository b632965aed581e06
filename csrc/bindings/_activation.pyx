"""ccnn._activation -- thin binding over csrc/kernels/activation.c (ReLU, dropout) and
pointwise.c (the other elementwise activations)."""
import numpy as np
from cython cimport floating
from libc.stdint cimport uint8_t, uint64_t
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def relu_forward(const floating[::1] x, int nthreads):
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] y = out
    if x.shape[0] == 0:
        return out
    with nogil:
        ck.relu_forward(&y[0], &x[0], x.shape[0], nthreads)
    return out


def relu_backward(const floating[::1] dout, const floating[::1] x, int nthreads):
    if dout.shape[0] != x.shape[0]:
        raise ValueError("grad_out and x differ in size")
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] dx = out
    if x.shape[0] == 0:
        return out
    with nogil:
        ck.relu_backward(&dx[0], &dout[0], &x[0], x.shape[0], nthreads)
    return out


def dropout_apply(const floating[::1] x, const uint8_t[::1] mask, double scale, int nthreads):
    """x * mask * scale (forward and backward of inverted dropout)."""
    if mask.shape[0] != x.shape[0]:
        raise ValueError("mask and x differ in size")
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] y = out
    if x.shape[0] == 0:
        return out
    with nogil:
        ck.dropout_forward(&y[0], &x[0], &mask[0], <floating>scale, x.shape[0], nthreads)
    return out


def dropout_sample(const floating[::1] x, double rate, uint64_t seed, int nthreads):
    """(x * mask / (1 - rate), mask): the mask (bool, True = kept with
    probability 1 - rate) drawn in C from a counter-based hash of seed."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float32 if floating is float else np.float64)
    mask = np.empty(n, dtype=np.bool_)
    cdef floating[::1] y = out
    cdef uint8_t[::1] m = mask.view(np.uint8)
    if n == 0:
        return out, mask
    with nogil:
        ck.dropout_sample(&y[0], &m[0], &x[0], n, rate, seed, nthreads)
    return out, mask


def pointwise_kind_name(int kind):
    """The name of pointwise kind `kind` (pointwise.h), or None past the last."""
    cdef const char *name = pointwise_name(kind)
    return None if name == NULL else name.decode("ascii")


def pointwise_forward(const floating[::1] x, int kind, double alpha, int nthreads):
    """f(x) for the elementwise activation `kind` (pointwise.h)."""
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] y = out
    cdef int rc = 0
    if x.shape[0] == 0:
        return out
    with nogil:
        rc = ck.pointwise_forward(&y[0], &x[0], x.shape[0], kind, alpha, nthreads)
    if rc != 0:
        raise ValueError(f"unknown pointwise kind {kind}")
    return out


def pointwise_backward(const floating[::1] dout, const floating[::1] x, int kind, double alpha,
                       int nthreads):
    """dout * f'(x) for the elementwise activation `kind`."""
    if dout.shape[0] != x.shape[0]:
        raise ValueError("grad_out and x differ in size")
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] dx = out
    cdef int rc = 0
    if x.shape[0] == 0:
        return out
    with nogil:
        rc = ck.pointwise_backward(&dx[0], &dout[0], &x[0], x.shape[0], kind, alpha, nthreads)
    if rc != 0:
        raise ValueError(f"unknown pointwise kind {kind}")
    return out
