"""ccnn._norm -- thin binding over csrc/kernels/batchnorm.c and layernorm.c.

Batch normalization: arrays are (outer, c, inner), C-contiguous; per-channel arrays (c,), of the
same dtype.  ccnn.functional checks shapes and dtypes before calling here."""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


cdef inline const floating *_ptr_or_null(const floating[::1] a) noexcept:
    return NULL if a is None or a.shape[0] == 0 else &a[0]


cdef object _grad_array(bint need, shape, bint zero, floating **p):
    """A new C-contiguous array of shape (np.zeros if zero, else np.empty) of
    floating's dtype, its first element in *p (NULL when it is empty); not
    need: None and NULL."""
    p[0] = NULL
    if not need:
        return None
    dtype = np.float32 if floating is float else np.float64
    a = np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
    cdef floating[::1] v = a.reshape(-1)
    if v.shape[0]:
        p[0] = &v[0]
    return a


def batchnorm_stats(const floating[:, :, ::1] x, int nthreads):
    """(mean, var) per channel (axis 1), var biased."""
    cdef Py_ssize_t o = x.shape[0], c = x.shape[1], i = x.shape[2]
    dtype = np.float32 if floating is float else np.float64
    mean = np.empty(c, dtype=dtype)
    var = np.empty(c, dtype=dtype)
    cdef floating[::1] m = mean
    cdef floating[::1] v = var
    if c == 0:
        return mean, var
    with nogil:
        ck.batchnorm_stats(&m[0], &v[0], &x[0, 0, 0], o, c, i, nthreads)
    return mean, var


def batchnorm_forward(const floating[:, :, ::1] x, const floating[::1] mean,
                      const floating[::1] invstd, const floating[::1] gamma,
                      const floating[::1] beta, int nthreads):
    """(x - mean) * invstd * gamma + beta; gamma / beta None: 1 / 0."""
    cdef Py_ssize_t o = x.shape[0], c = x.shape[1], i = x.shape[2]
    out = np.empty((o, c, i), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] y = out
    if o == 0 or c == 0 or i == 0:
        return out
    cdef const floating *g_p = _ptr_or_null(gamma)
    cdef const floating *b_p = _ptr_or_null(beta)
    with nogil:
        ck.batchnorm_forward(&y[0, 0, 0], &x[0, 0, 0], &mean[0], &invstd[0], g_p, b_p,
                             o, c, i, nthreads)
    return out


def batchnorm_backward(const floating[:, :, ::1] dout, const floating[:, :, ::1] x,
                       const floating[::1] mean, const floating[::1] invstd,
                       const floating[::1] gamma, bint training, bint need_dx,
                       bint need_dgamma, bint need_dbeta, int nthreads):
    """(dx or None, dgamma or None, dbeta or None)."""
    cdef Py_ssize_t o = x.shape[0], c = x.shape[1], i = x.shape[2]
    cdef floating *dx_p
    cdef floating *dg_p
    cdef floating *db_p
    dx = _grad_array(need_dx, (o, c, i), False, &dx_p)
    dg = _grad_array(need_dgamma, c, True, &dg_p)
    db = _grad_array(need_dbeta, c, True, &db_p)
    if c == 0 or o == 0 or i == 0:
        return dx, dg, db
    cdef const floating *g_p = _ptr_or_null(gamma)
    with nogil:
        ck.batchnorm_backward(dx_p, dg_p, db_p, &dout[0, 0, 0], &x[0, 0, 0], &mean[0],
                              &invstd[0], g_p, o, c, i, training, nthreads)
    return dx, dg, db


def batchnorm_relu_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                           const floating[::1] beta, double eps, int nthreads):
    """(relu(batch norm of x with the batch's statistics), mean, var, invstd);
    gamma / beta None: 1 / 0."""
    cdef Py_ssize_t o = x.shape[0], c = x.shape[1], i = x.shape[2]
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((o, c, i), dtype=dtype)
    mean = np.empty(c, dtype=dtype)
    var = np.empty(c, dtype=dtype)
    invstd = np.empty(c, dtype=dtype)
    cdef floating[:, :, ::1] y = out
    cdef floating[::1] m = mean
    cdef floating[::1] v = var
    cdef floating[::1] s = invstd
    cdef int rc
    if c == 0:
        return out, mean, var, invstd
    cdef const floating *g_p = _ptr_or_null(gamma)
    cdef const floating *b_p = _ptr_or_null(beta)
    cdef const floating *x_p = NULL
    cdef floating *y_p = NULL
    if o and i:
        x_p = &x[0, 0, 0]
        y_p = &y[0, 0, 0]
    with nogil:
        rc = ck.batchnorm_relu_forward(y_p, &m[0], &v[0], &s[0], x_p, g_p, b_p, eps, o, c, i,
                                       nthreads)
    if rc:
        raise MemoryError("batchnorm_relu_forward")
    return out, mean, var, invstd


def batchnorm_relu_backward(const floating[:, :, ::1] dout, const floating[:, :, ::1] y,
                            const floating[:, :, ::1] x, const floating[::1] mean,
                            const floating[::1] invstd, const floating[::1] gamma,
                            bint need_dx, int nthreads):
    """(dx or None, dgamma, dbeta) of batchnorm_relu_forward (training mode); y its
    output, x its input."""
    cdef Py_ssize_t o = x.shape[0], c = x.shape[1], i = x.shape[2]
    cdef floating *dx_p
    cdef floating *dg_p
    cdef floating *db_p
    dx = _grad_array(need_dx, (o, c, i), False, &dx_p)
    dg = _grad_array(True, c, True, &dg_p)
    db = _grad_array(True, c, True, &db_p)
    cdef int rc
    if c == 0 or o == 0 or i == 0:
        return dx, dg, db
    cdef const floating *g_p = _ptr_or_null(gamma)
    with nogil:
        rc = ck.batchnorm_relu_backward(dx_p, dg_p, db_p, &dout[0, 0, 0], &y[0, 0, 0],
                                        &x[0, 0, 0], &mean[0], &invstd[0], g_p, o, c, i,
                                        nthreads)
    if rc:
        raise MemoryError("batchnorm_relu_backward")
    return dx, dg, db


# ---- layer normalization: rows of (rows, cols) -------------------------------

def layernorm_forward(const floating[:, ::1] x, const floating[::1] gamma,
                      const floating[::1] beta, double eps, int nthreads):
    """(out, mean, rstd): each row of x normalized; gamma / beta None: 1 / 0; the
    row statistics in float64."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((rows, cols), dtype=dtype)
    mean = np.empty(rows, dtype=np.float64)
    rstd = np.empty(rows, dtype=np.float64)
    cdef floating[:, ::1] y = out
    cdef double[::1] m = mean
    cdef double[::1] r = rstd
    if rows == 0:
        return out, mean, rstd
    if cols == 0:
        raise ValueError("layer normalization needs at least one value per row")
    cdef const floating *g_p = _ptr_or_null(gamma)
    cdef const floating *b_p = _ptr_or_null(beta)
    with nogil:
        ck.layernorm_forward(&y[0, 0], &m[0], &r[0], &x[0, 0], g_p, b_p, rows, cols, eps,
                             nthreads)
    return out, mean, rstd


def layernorm_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                       const double[::1] mean, const double[::1] rstd,
                       const floating[::1] gamma, bint need_dx, bint need_dgamma,
                       bint need_dbeta, int nthreads):
    """(dx or None, dgamma or None, dbeta or None)."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    if dout.shape[0] != rows or dout.shape[1] != cols or mean.shape[0] != rows \
            or rstd.shape[0] != rows:
        raise ValueError("grad_out, input and the statistics differ in shape")
    cdef floating *dx_p
    cdef floating *dg_p
    cdef floating *db_p
    dx = _grad_array(need_dx, (rows, cols), False, &dx_p)
    dg = _grad_array(need_dgamma, cols, True, &dg_p)
    db = _grad_array(need_dbeta, cols, True, &db_p)
    cdef int rc = 0
    if rows == 0 or cols == 0:
        return dx, dg, db
    cdef const floating *g_p = _ptr_or_null(gamma)
    with nogil:
        rc = ck.layernorm_backward(dx_p, dg_p, db_p, &dout[0, 0], &x[0, 0], &mean[0], &rstd[0],
                                   g_p, rows, cols, nthreads)
    if rc != 0:
        raise MemoryError("layer normalization's backward could not allocate its workspace")
    return dx, dg, db
