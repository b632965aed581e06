"""ccnn._optim -- thin binding over csrc/kernels/optim.c (fused Adam / SGD updates).

Arguments arrive validated (ccnn.optimizers does that): param, state and grad
are flat, C-contiguous, of one dtype and one length; param and state are
written in place.
"""
import numpy as np
from cython cimport floating
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def adam_update(floating[::1] param, floating[::1] m, floating[::1] v,
                const floating[::1] grad, double lr_t, double beta1, double beta2,
                double eps, int nthreads):
    cdef Py_ssize_t n = param.shape[0]
    if m.shape[0] != n or v.shape[0] != n or grad.shape[0] != n:
        raise ValueError("param, m, v and grad differ in length")
    if n == 0:
        return
    with nogil:
        ck.adam_update(&param[0], &m[0], &v[0], &grad[0], n, <floating>lr_t,
                       <floating>beta1, <floating>beta2, <floating>eps, nthreads)


def sgd_update(floating[::1] param, velocity, const floating[::1] grad, double lr,
               double momentum, bint nesterov, int nthreads):
    """velocity: flat array like param, or None (only when momentum == 0)."""
    cdef Py_ssize_t n = param.shape[0]
    if grad.shape[0] != n:
        raise ValueError("param and grad differ in length")
    cdef floating[::1] vel
    cdef floating *vptr = NULL
    if velocity is not None:
        vel = velocity
        if vel.shape[0] != n:
            raise ValueError("param and velocity differ in length")
        if n:
            vptr = &vel[0]
    elif momentum != 0:
        raise ValueError("momentum != 0 needs a velocity array")
    if n == 0:
        return
    with nogil:
        ck.sgd_update(&param[0], vptr, &grad[0], n, <floating>lr, <floating>momentum,
                      nesterov, nthreads)


cdef void **_pointers(list arrays, int64_t *n, bint writable) except NULL:
    """malloc'd array of the data pointers of `arrays` (flat, C-contiguous, one
    dtype -- the caller checked); their lengths into n (when n is not NULL)."""
    cdef Py_ssize_t i, count = len(arrays)
    cdef void **ptrs = <void **>malloc(max(count, 1) * sizeof(void *))
    if ptrs == NULL:
        raise MemoryError()
    cdef float[::1] f
    cdef double[::1] d
    cdef const float[::1] cf
    cdef const double[::1] cd
    try:
        for i in range(count):
            a = arrays[i]
            if a.dtype == np.float32:
                if writable:
                    f = a
                    ptrs[i] = &f[0] if f.shape[0] else NULL
                else:
                    cf = a
                    ptrs[i] = <void *>&cf[0] if cf.shape[0] else NULL
            else:
                if writable:
                    d = a
                    ptrs[i] = &d[0] if d.shape[0] else NULL
                else:
                    cd = a
                    ptrs[i] = <void *>&cd[0] if cd.shape[0] else NULL
            if n != NULL:
                n[i] = a.shape[0]
    except BaseException:
        free(ptrs)
        raise
    return ptrs


def adam_update_many(list params, list ms, list vs, list grads, double lr_t, double beta1,
                     double beta2, double eps, int nthreads):
    """Adam on every (param, m, v, grad) quadruple in one C call: flat,
    C-contiguous arrays, all float32 or all float64, matching lengths."""
    cdef Py_ssize_t count = len(params)
    if not (len(ms) == len(vs) == len(grads) == count):
        raise ValueError("params, ms, vs and grads differ in length")
    if count == 0:
        return
    cdef bint f32 = params[0].dtype == np.float32
    for group in (params, ms, vs, grads):
        for i in range(count):
            a = group[i]
            if a.ndim != 1 or a.shape[0] != params[i].shape[0] or (a.dtype == np.float32) != f32:
                raise ValueError("adam_update_many: arrays must be flat, of one dtype and "
                                 "matching lengths")
    cdef int64_t *n = <int64_t *>malloc(count * sizeof(int64_t))
    if n == NULL:
        raise MemoryError()
    cdef void **p = NULL
    cdef void **m = NULL
    cdef void **v = NULL
    cdef void **g = NULL
    try:
        p = _pointers(params, n, True)
        m = _pointers(ms, NULL, True)
        v = _pointers(vs, NULL, True)
        g = _pointers(grads, NULL, False)
        with nogil:
            if f32:
                ck.adam_update_many(count, <float *const *>p, <float *const *>m,
                                    <float *const *>v, <const float *const *>g, n, <float>lr_t,
                                    <float>beta1, <float>beta2, <float>eps, nthreads)
            else:
                ck.adam_update_many(count, <double *const *>p, <double *const *>m,
                                    <double *const *>v, <const double *const *>g, n, lr_t,
                                    beta1, beta2, eps, nthreads)
    finally:
        free(n); free(p); free(m); free(v); free(g)


def all_finite(list arrays, int nthreads):
    """True when no element of these flat, C-contiguous float arrays (each
    float32 or float64) is NaN or infinite."""
    f32 = [a for a in arrays if a.dtype == np.float32]
    f64 = [a for a in arrays if a.dtype != np.float32]
    cdef int ok = 1
    cdef int64_t *n = NULL
    cdef void **p = NULL
    cdef Py_ssize_t count
    cdef bint is32
    for group, py32 in ((f32, True), (f64, False)):
        is32 = py32
        count = len(group)
        if count == 0:
            continue
        n = <int64_t *>malloc(count * sizeof(int64_t))
        if n == NULL:
            raise MemoryError()
        try:
            p = _pointers(group, n, False)
            with nogil:
                if is32:
                    ok = ok and ck.all_finite(count, <const float *const *>p, n, nthreads)
                else:
                    ok = ok and ck.all_finite(count, <const double *const *>p, n, nthreads)
        finally:
            free(n); free(p)
            n = NULL
            p = NULL
    return bool(ok)
