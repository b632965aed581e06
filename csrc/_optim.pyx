"""ccnn._optim -- thin binding over csrc/optim.c (fused Adam / SGD updates).

Arguments arrive validated (ccnn.optimizers does that): param, state and grad
are flat, C-contiguous, of one dtype and one length; param and state are
written in place.
"""
from cython cimport floating
from ckernels cimport *


def adam_update(floating[::1] param, floating[::1] m, floating[::1] v,
                const floating[::1] grad, double lr_t, double beta1, double beta2,
                double eps, int nthreads):
    cdef Py_ssize_t n = param.shape[0]
    if m.shape[0] != n or v.shape[0] != n or grad.shape[0] != n:
        raise ValueError("param, m, v and grad differ in length")
    if n == 0:
        return
    with nogil:
        if floating is float:
            ccnn_adam_update_f32(&param[0], &m[0], &v[0], &grad[0], n, <float>lr_t,
                                 <float>beta1, <float>beta2, <float>eps, nthreads)
        else:
            ccnn_adam_update_f64(&param[0], &m[0], &v[0], &grad[0], n, lr_t,
                                 beta1, beta2, eps, nthreads)


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
        if floating is float:
            ccnn_sgd_update_f32(&param[0], vptr, &grad[0], n, <float>lr, <float>momentum,
                                nesterov, nthreads)
        else:
            ccnn_sgd_update_f64(&param[0], vptr, &grad[0], n, lr, momentum, nesterov, nthreads)
