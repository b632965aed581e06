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


# ---- rectifiers (rectifier.c) and log-softmax (log_softmax.c) ----------------

def relu_ext_forward(const floating[::1] x, double negative_slope, double max_value,
                     double threshold, int nthreads):
    """Keras's relu(x, negative_slope, max_value (inf: none), threshold)."""
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] y = out
    if x.shape[0] == 0:
        return out
    with nogil:
        ck.relu_ext_forward(&y[0], &x[0], x.shape[0], negative_slope, max_value, threshold,
                            nthreads)
    return out


def relu_ext_backward(const floating[::1] dout, const floating[::1] x, double negative_slope,
                      double max_value, double threshold, int nthreads):
    if dout.shape[0] != x.shape[0]:
        raise ValueError("grad_out and x differ in size")
    out = np.empty(x.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] dx = out
    if x.shape[0] == 0:
        return out
    with nogil:
        ck.relu_ext_backward(&dx[0], &dout[0], &x[0], x.shape[0], negative_slope, max_value,
                             threshold, nthreads)
    return out


def prelu_forward(const floating[:, ::1] x, const floating[::1] alpha, int nthreads):
    """x (n, a) with slopes alpha (a)."""
    cdef Py_ssize_t n = x.shape[0], a = x.shape[1]
    if alpha.shape[0] != a:
        raise ValueError("alpha and x's rows differ in size")
    out = np.empty((n, a), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] y = out
    if n == 0 or a == 0:
        return out
    with nogil:
        ck.prelu_forward(&y[0, 0], &x[0, 0], &alpha[0], n, a, nthreads)
    return out


def prelu_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                   const floating[::1] alpha, bint need_dx, int nthreads):
    """(dx (n, a) or None, dalpha (a))."""
    cdef Py_ssize_t n = x.shape[0], a = x.shape[1]
    if alpha.shape[0] != a or dout.shape[0] != n or dout.shape[1] != a:
        raise ValueError("grad_out, x and alpha differ in size")
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((n, a), dtype=dtype) if need_dx else None
    dalpha = np.zeros(a, dtype=dtype)
    cdef floating[:, ::1] d
    cdef floating[::1] da = dalpha
    cdef floating *dp = NULL
    if need_dx:
        d = dx
        if n and a:
            dp = &d[0, 0]
    if n == 0 or a == 0:
        return dx, dalpha
    with nogil:
        ck.prelu_backward(dp, &da[0], &dout[0, 0], &x[0, 0], &alpha[0], n, a, nthreads)
    return dx, dalpha


def log_softmax_forward(const floating[:, ::1] x, int nthreads):
    """log-softmax over each row of x (rows, classes)."""
    cdef Py_ssize_t rows = x.shape[0], classes = x.shape[1]
    out = np.empty((rows, classes), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] y = out
    if rows == 0:
        return out
    if classes == 0:
        raise ValueError("log_softmax needs at least one class per row")
    with nogil:
        ck.log_softmax_forward(&y[0, 0], &x[0, 0], rows, classes, nthreads)
    return out


def log_softmax_backward(const floating[:, ::1] dout, const floating[:, ::1] y, int nthreads):
    """The input gradient of log_softmax from its output y (rows, classes)."""
    cdef Py_ssize_t rows = y.shape[0], classes = y.shape[1]
    if dout.shape[0] != rows or dout.shape[1] != classes:
        raise ValueError("grad_out and output differ in shape")
    out = np.empty((rows, classes), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] d = out
    if rows == 0 or classes == 0:
        return out
    with nogil:
        ck.log_softmax_backward(&d[0, 0], &dout[0, 0], &y[0, 0], rows, classes, nthreads)
    return out
