"""ccnn._pool -- thin binding over csrc/kernels/pool.c and global_pool.c (inputs arrive validated)."""
import numpy as np
from cython cimport floating
from libc.stdint cimport int64_t
from ccnn.kernels cimport *
cimport ccnn.kernels as kernels
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


cdef inline tuple shape4(Py_ssize_t *s):
    return (s[0], s[1], s[2], s[3])


cdef ccnn_pool2d_dims make_dims(tuple xshape, tuple kernel, tuple stride, tuple pads,
                                bint ceil_mode, bint count_include_pad) except *:
    cdef ccnn_pool2d_dims d
    cdef int err = pool2d_dims_init(
        &d, xshape[0], xshape[1], xshape[2], xshape[3], kernel[0], kernel[1], stride[0], stride[1],
        pads[0], pads[1], pads[2], pads[3], ceil_mode, count_include_pad)
    if err != CCNN_OK:
        raise ValueError(f"invalid pooling geometry (code {err})")
    return d


def max_pool2d_forward(const floating[:, :, :, ::1] x, tuple kernel, tuple stride, tuple pads,
                       bint ceil_mode, bint return_indices, int nthreads):
    """(y (n,c,p,q), argmax int64 (n,c,p,q) or None)."""
    cdef ccnn_pool2d_dims d = make_dims(shape4(x.shape), kernel, stride, pads, ceil_mode, True)
    out = np.empty((d.n, d.c, d.p, d.q), dtype=np.float32 if floating is float else np.float64)
    idx = np.empty((d.n, d.c, d.p, d.q), dtype=np.int64) if return_indices else None
    if d.n * d.c == 0:
        return out, idx
    cdef floating[:, :, :, ::1] y = out
    cdef int64_t[:, :, :, ::1] idx_v
    cdef int64_t *idx_p = NULL
    if return_indices:
        idx_v = idx
        idx_p = &idx_v[0, 0, 0, 0]
    with nogil:
        ck.max_pool2d_forward(&y[0, 0, 0, 0], idx_p, &x[0, 0, 0, 0], &d, nthreads)
    return out, idx


def max_pool2d_backward(const floating[:, :, :, ::1] dout, const int64_t[:, :, :, ::1] indices,
                        tuple xshape, tuple kernel, tuple stride, tuple pads, bint ceil_mode,
                        int nthreads):
    """dx (n,c,h,w) from untrusted indices: the C kernel checks every index
    (nogil, in the same pass) and an index outside [0, h*w) is a ValueError."""
    cdef ccnn_pool2d_dims d = make_dims(xshape, kernel, stride, pads, ceil_mode, True)
    if shape4(dout.shape) != (d.n, d.c, d.p, d.q) or shape4(indices.shape) != (d.n, d.c, d.p, d.q):
        raise ValueError("grad_out or indices has the wrong shape")
    dx = np.empty((d.n, d.c, d.h, d.w), dtype=np.float32 if floating is float else np.float64)
    if d.n * d.c == 0:
        return dx
    cdef floating[:, :, :, ::1] dx_v = dx
    cdef int err
    with nogil:
        err = ck.max_pool2d_backward_checked(&dx_v[0, 0, 0, 0], &dout[0, 0, 0, 0],
                                             &indices[0, 0, 0, 0], &d, nthreads)
    if err != CCNN_OK:
        raise ValueError(f"indices must lie in [0, H*W) = [0, {d.h * d.w})")
    return dx


def max_pool2d_backward_recompute(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                                  tuple kernel, tuple stride, tuple pads, bint ceil_mode,
                                  int nthreads):
    """dx (n,c,h,w), each window's argmax recomputed from x."""
    cdef ccnn_pool2d_dims d = make_dims(shape4(x.shape), kernel, stride, pads, ceil_mode, True)
    if shape4(dout.shape) != (d.n, d.c, d.p, d.q):
        raise ValueError("grad_out has the wrong shape")
    dx = np.empty((d.n, d.c, d.h, d.w), dtype=np.float32 if floating is float else np.float64)
    if d.n * d.c == 0:
        return dx
    cdef floating[:, :, :, ::1] dx_v = dx
    with nogil:
        ck.max_pool2d_backward_recompute(&dx_v[0, 0, 0, 0], &dout[0, 0, 0, 0],
                                         &x[0, 0, 0, 0], &d, nthreads)
    return dx


def avg_pool2d_forward(const floating[:, :, :, ::1] x, tuple kernel, tuple stride, tuple pads,
                       bint ceil_mode, bint count_include_pad, int nthreads):
    cdef ccnn_pool2d_dims d = make_dims(shape4(x.shape), kernel, stride, pads, ceil_mode,
                                        count_include_pad)
    out = np.empty((d.n, d.c, d.p, d.q), dtype=np.float32 if floating is float else np.float64)
    if d.n * d.c == 0:
        return out
    cdef floating[:, :, :, ::1] y = out
    with nogil:
        ck.avg_pool2d_forward(&y[0, 0, 0, 0], &x[0, 0, 0, 0], &d, nthreads)
    return out


def avg_pool2d_backward(const floating[:, :, :, ::1] dout, tuple xshape, tuple kernel,
                        tuple stride, tuple pads, bint ceil_mode, bint count_include_pad,
                        int nthreads):
    cdef ccnn_pool2d_dims d = make_dims(xshape, kernel, stride, pads, ceil_mode, count_include_pad)
    if shape4(dout.shape) != (d.n, d.c, d.p, d.q):
        raise ValueError("grad_out has the wrong shape")
    dx = np.empty((d.n, d.c, d.h, d.w), dtype=np.float32 if floating is float else np.float64)
    if d.n * d.c == 0:
        return dx
    cdef floating[:, :, :, ::1] dx_v = dx
    with nogil:
        ck.avg_pool2d_backward(&dx_v[0, 0, 0, 0], &dout[0, 0, 0, 0], &d, nthreads)
    return dx



# ---- global pooling: rows (n * c) of len (h * w) ---------------------------

def global_avg_pool_forward(const floating[:, ::1] x, int nthreads):
    """(rows,) means of x (rows, len)."""
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    out = np.empty(rows, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] y = out
    if rows == 0:
        return out
    if n == 0:
        raise ValueError("global pooling needs at least one value per row")
    with nogil:
        ck.global_avg_pool_forward(&y[0], &x[0, 0], rows, n, nthreads)
    return out


def global_avg_pool_backward(const floating[::1] dout, Py_ssize_t n, int nthreads):
    """(rows, n): each row dout[row] / n."""
    cdef Py_ssize_t rows = dout.shape[0]
    dx = np.empty((rows, n), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] d = dx
    if rows == 0 or n == 0:
        return dx
    with nogil:
        ck.global_avg_pool_backward(&d[0, 0], &dout[0], rows, n, nthreads)
    return dx


def global_max_pool_forward(const floating[:, ::1] x, int nthreads):
    """((rows,) maxima, (rows,) int64 argmax) of x (rows, len)."""
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    out = np.empty(rows, dtype=np.float32 if floating is float else np.float64)
    idx = np.empty(rows, dtype=np.int64)
    cdef floating[::1] y = out
    cdef int64_t[::1] a = idx
    if rows == 0:
        return out, idx
    if n == 0:
        raise ValueError("global pooling needs at least one value per row")
    with nogil:
        ck.global_max_pool_forward(&y[0], &a[0], &x[0, 0], rows, n, nthreads)
    return out, idx


def global_max_pool_backward(const floating[::1] dout, const int64_t[::1] argmax,
                             Py_ssize_t n, int nthreads):
    """(rows, n): dout[row] at argmax[row], zeros elsewhere."""
    cdef Py_ssize_t rows = dout.shape[0]
    if argmax.shape[0] != rows:
        raise ValueError("indices and grad_out differ in length")
    dx = np.empty((rows, n), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] d = dx
    cdef int rc = 0
    if rows == 0:
        return dx
    if n == 0:
        raise ValueError("indices must lie in [0, H * W)")
    with nogil:
        rc = ck.global_max_pool_backward(&d[0, 0], &dout[0], &argmax[0], rows, n, nthreads)
    if rc != 0:
        raise ValueError("indices must lie in [0, H * W)")
    return dx


def pool_path(int path=-1):
    """Which pooling kernels run: 0 the fastest, 1 the 2x2 / stride-2 fast
    path without vectors, 2 the general per-window loops (max pooling: the
    same bits on every path).  path in 0..2 sets it (process-wide); returns the
    previous setting.  For tests and benchmarks."""
    return kernels.pool2d_path(path)
