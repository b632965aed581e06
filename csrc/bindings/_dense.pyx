"""ccnn._dense -- thin binding over csrc/kernels/dense.c (fully connected layer).

Arguments arrive validated, 2-D, C-contiguous and of one dtype (ccnn.functional
does that); this layer only allocates outputs and releases the GIL.
"""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


cdef ccnn_dense_dims make_dims(Py_ssize_t n, Py_ssize_t fan_in, Py_ssize_t units) except *:
    cdef ccnn_dense_dims d
    if dense_dims_init(&d, n, fan_in, units) != CCNN_OK:
        raise ValueError(f"invalid dense geometry ({n}, {fan_in}) x ({fan_in}, {units})")
    return d


def dense_forward(const floating[:, ::1] x, const floating[:, ::1] weight, bias, bint relu,
                  int nthreads):
    """out (n, units) = act(x (n, in) @ weight (in, units) + bias (units) or None)."""
    if weight.shape[0] != x.shape[1]:
        raise ValueError("x and weight do not chain")
    cdef ccnn_dense_dims d = make_dims(x.shape[0], x.shape[1], weight.shape[1])
    out = np.empty((d.n, d.units), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] y = out
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        if b.shape[0] != d.units:
            raise ValueError("bias has the wrong length")
        bptr = &b[0]
    if d.n == 0:
        return out
    cdef int err
    with nogil:
        err = ck.dense_forward(&y[0, 0], &x[0, 0], &weight[0, 0], bptr, &d, relu, nthreads)
    if err != CCNN_OK:
        raise MemoryError("dense: could not allocate its workspace")
    return out


def dense_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                   const floating[:, ::1] weight, relu_out, bint need_dx, bint need_dbias,
                   int nthreads):
    """(dx (n, in) or None, dweight (in, units), dbias (units) or None);
    relu_out: the forward's output when it had a ReLU, else None."""
    if weight.shape[0] != x.shape[1]:
        raise ValueError("x and weight do not chain")
    cdef ccnn_dense_dims d = make_dims(x.shape[0], x.shape[1], weight.shape[1])
    if dout.shape[0] != d.n or dout.shape[1] != d.units:
        raise ValueError("grad_out has the wrong shape")
    dtype = np.float32 if floating is float else np.float64
    dx = np.empty((d.n, d.in_), dtype=dtype) if need_dx else None
    dw = np.empty((d.in_, d.units), dtype=dtype)
    db = np.empty((d.units,), dtype=dtype) if need_dbias else None
    cdef floating[:, ::1] dx_v
    cdef floating[:, ::1] dw_v = dw
    cdef floating[::1] db_v
    cdef floating *dx_p = NULL
    cdef floating *db_p = NULL
    cdef const floating[:, ::1] yv
    cdef const floating *y_p = NULL
    if need_dx:
        dx_v = dx
        dx_p = &dx_v[0, 0]
    if need_dbias:
        db_v = db
        db_p = &db_v[0]
    if relu_out is not None:
        yv = relu_out
        if yv.shape[0] != d.n or yv.shape[1] != d.units:
            raise ValueError("relu_out has the wrong shape")
        if d.n:
            y_p = &yv[0, 0]
    cdef const floating *dout_p = &dout[0, 0] if d.n else NULL
    cdef const floating *x_p = &x[0, 0] if d.n else NULL
    cdef int err
    with nogil:
        err = ck.dense_backward(dx_p, &dw_v[0, 0], db_p, dout_p, y_p, x_p,
                                &weight[0, 0], &d, nthreads)
    if err != CCNN_OK:
        raise MemoryError("dense_backward: could not allocate its workspace")
    return dx, dw, db


def dense_act_forward(const floating[:, ::1] x, const floating[:, ::1] weight, bias, int kind,
                      double alpha, int nthreads):
    """(y, z): z = x @ weight + bias (n, units), y = pointwise kind (alpha) of z,
    block by block while z is in cache (act_epilogue.c)."""
    if weight.shape[0] != x.shape[1]:
        raise ValueError("x and weight do not chain")
    cdef ccnn_dense_dims d = make_dims(x.shape[0], x.shape[1], weight.shape[1])
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((d.n, d.units), dtype=dtype)
    pre = np.empty((d.n, d.units), dtype=dtype)
    cdef floating[:, ::1] y = out
    cdef floating[:, ::1] z = pre
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        if b.shape[0] != d.units:
            raise ValueError("bias has the wrong length")
        bptr = &b[0]
    if d.n == 0:
        return out, pre
    cdef int err
    with nogil:
        err = ck.dense_act_forward(&y[0, 0], &z[0, 0], &x[0, 0], &weight[0, 0], bptr, &d, kind,
                                   alpha, nthreads)
    if err == CCNN_EBADARG:
        raise ValueError(f"dense: unknown activation kind {kind}")
    if err != CCNN_OK:
        raise MemoryError("dense: could not allocate its workspace")
    return out, pre
