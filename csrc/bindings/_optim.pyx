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

cdef extern from "ccnn/plan_train.h":
    enum:
        CCNN_TO_ADAM
        CCNN_TO_SGD
        CCNN_TO_RMSPROP
        CCNN_TO_ADAGRAD
        CCNN_TO_ADADELTA
        CCNN_TO_ADAMAX

#: the training plan's optimizer kinds (plan_train.h's CCNN_TO_*: opt[CCNN_TO_KIND]),
#: the values the C compiler gives them; each optimizer's _plan_kernel is one of these
PLAN_ADAM = CCNN_TO_ADAM
PLAN_SGD = CCNN_TO_SGD
PLAN_RMSPROP = CCNN_TO_RMSPROP
PLAN_ADAGRAD = CCNN_TO_ADAGRAD
PLAN_ADADELTA = CCNN_TO_ADADELTA
PLAN_ADAMAX = CCNN_TO_ADAMAX


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


# ---- step kernels (Keras 3's optimizers; clipping and weight decay fused) ----

cdef const double *_per_array(arr, Py_ssize_t count) except? NULL:
    """The data of a float64 (count) array, or NULL for None; the caller keeps
    `arr` alive."""
    if arr is None:
        return NULL
    cdef const double[::1] d = arr
    if d.shape[0] != count:
        raise ValueError(f"per-array factors: {d.shape[0]} values for {count} params")
    return &d[0]


cdef class _Lists:
    """The data pointers of one step call: params (p), grads (g), the
    per-array factors gscale (gs) and decay (dc), and state lists (get()),
    each checked against the params (flat, C-contiguous, one dtype, matching
    lengths); the malloc'd pointer arrays are freed with the object."""
    cdef list params
    cdef Py_ssize_t count
    cdef bint f32
    cdef int64_t *n
    cdef void **blocks[8]
    cdef int used
    cdef void **p
    cdef void **g
    cdef const double *gs
    cdef const double *dc
    cdef object keep          # the factor arrays gs / dc point into

    def __cinit__(self, list params, list grads, gscale=None, decay=None,
                  bint params_writable=True):
        self.params = params
        self.count = len(params)
        self.used = 0
        self.n = NULL
        if self.count == 0:
            raise ValueError("no parameters")
        self.f32 = params[0].dtype == np.float32
        self.n = <int64_t *>malloc(self.count * sizeof(int64_t))
        if self.n == NULL:
            raise MemoryError()
        self.keep = (gscale, decay)
        self.gs = _per_array(gscale, self.count)
        self.dc = _per_array(decay, self.count)
        self.p = self.get(params, params_writable)
        self.g = self.get(grads, False)

    def __dealloc__(self):
        free(self.n)
        for i in range(self.used):
            free(self.blocks[i])

    cdef _check(self, list arrays):
        if len(arrays) != self.count:
            raise ValueError(f"{len(arrays)} arrays for {self.count} params")
        for i in range(self.count):
            a, p = arrays[i], self.params[i]
            if (a.ndim != 1 or p.ndim != 1 or a.shape[0] != p.shape[0]
                    or (a.dtype == np.float32) != self.f32
                    or a.dtype not in (np.float32, np.float64)):
                raise ValueError(f"array {i}: arrays must be flat, of one dtype (float32 or "
                                 f"float64) and of their param's length")

    cdef void **get(self, arrays, bint writable) except? NULL:
        """Pointers of `arrays` (a list like params), or NULL for None."""
        if arrays is None:
            return NULL
        self._check(arrays)
        ptrs = _pointers(arrays, self.n, writable)
        self.blocks[self.used] = ptrs
        self.used += 1
        return ptrs


def sum_squares(list arrays, int nthreads):
    """Per-array sums of squares (float64, accumulated in double) of flat,
    C-contiguous float arrays, all float32 or all float64."""
    cdef Py_ssize_t count = len(arrays)
    out = np.zeros(count, dtype=np.float64)
    if count == 0:
        return out
    cdef _Lists b = _Lists(arrays, arrays, params_writable=False)
    cdef void **x = b.g
    cdef double[::1] o = out
    cdef int rc
    with nogil:
        if b.f32:
            rc = ck.sum_squares(&o[0], count, <const float *const *>x, b.n, nthreads)
        else:
            rc = ck.sum_squares(&o[0], count, <const double *const *>x, b.n, nthreads)
    if rc != 0:
        raise MemoryError()
    return out


def adam_step(list params, list m, list v, vhat, list grads, gscale, double clipvalue, decay,
              double lr_t, double beta1, double beta2, double eps, int nthreads):
    """Adam (AMSGrad when vhat is a list) on lists of flat arrays; gscale,
    decay: float64 (len(params)) or None."""
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **pm = b.get(m, True)
    cdef void **pv = b.get(v, True)
    cdef void **ph = b.get(vhat, True)
    with nogil:
        if b.f32:
            ck.adam_step(b.count, <float *const *>b.p, <float *const *>pm,
                         <float *const *>pv, <float *const *>ph, <const float *const *>b.g,
                         b.n, b.gs, clipvalue, b.dc,
                         <float>lr_t, <float>beta1, <float>beta2, <float>eps, nthreads)
        else:
            ck.adam_step(b.count, <double *const *>b.p, <double *const *>pm,
                         <double *const *>pv, <double *const *>ph, <const double *const *>b.g,
                         b.n, b.gs, clipvalue, b.dc,
                         lr_t, beta1, beta2, eps, nthreads)


def sgd_step(list params, velocity, list grads, gscale, double clipvalue, decay, double lr,
             double momentum, bint nesterov, int nthreads):
    """SGD on lists of flat arrays; velocity None only when momentum == 0."""
    if velocity is None and momentum != 0:
        raise ValueError("momentum != 0 needs velocity arrays")
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **vel = b.get(velocity, True)
    with nogil:
        if b.f32:
            ck.sgd_step(b.count, <float *const *>b.p, <float *const *>vel,
                        <const float *const *>b.g, b.n, b.gs, clipvalue, b.dc, <float>lr,
                        <float>momentum, nesterov, nthreads)
        else:
            ck.sgd_step(b.count, <double *const *>b.p, <double *const *>vel,
                        <const double *const *>b.g, b.n, b.gs, clipvalue, b.dc, lr, momentum,
                        nesterov, nthreads)


def rmsprop_step(list params, list velocity, momentum_buf, average_grad, list grads, gscale,
                 double clipvalue, decay, double lr, double rho, double momentum, double eps,
                 int nthreads):
    """RMSprop; momentum_buf None unless momentum > 0, average_grad None unless centered."""
    if momentum_buf is None and momentum > 0:
        raise ValueError("momentum > 0 needs momentum arrays")
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **vel = b.get(velocity, True)
    cdef void **mo = b.get(momentum_buf, True)
    cdef void **avg = b.get(average_grad, True)
    with nogil:
        if b.f32:
            ck.rmsprop_step(b.count, <float *const *>b.p, <float *const *>vel,
                            <float *const *>mo, <float *const *>avg, <const float *const *>b.g,
                            b.n, b.gs, clipvalue, b.dc, <float>lr, <float>rho, <float>momentum,
                            <float>eps, nthreads)
        else:
            ck.rmsprop_step(b.count, <double *const *>b.p, <double *const *>vel,
                            <double *const *>mo, <double *const *>avg,
                            <const double *const *>b.g, b.n, b.gs, clipvalue, b.dc, lr, rho,
                            momentum, eps, nthreads)


def adagrad_step(list params, list accumulator, list grads, gscale, double clipvalue, decay,
                 double lr, double eps, int nthreads):
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **acc = b.get(accumulator, True)
    with nogil:
        if b.f32:
            ck.adagrad_step(b.count, <float *const *>b.p, <float *const *>acc,
                            <const float *const *>b.g, b.n, b.gs, clipvalue, b.dc, <float>lr,
                            <float>eps, nthreads)
        else:
            ck.adagrad_step(b.count, <double *const *>b.p, <double *const *>acc,
                            <const double *const *>b.g, b.n, b.gs, clipvalue, b.dc, lr, eps,
                            nthreads)


def adadelta_step(list params, list accumulated_grad, list accumulated_delta, list grads,
                  gscale, double clipvalue, decay, double lr, double rho, double eps,
                  int nthreads):
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **ag = b.get(accumulated_grad, True)
    cdef void **ad = b.get(accumulated_delta, True)
    with nogil:
        if b.f32:
            ck.adadelta_step(b.count, <float *const *>b.p, <float *const *>ag,
                             <float *const *>ad, <const float *const *>b.g, b.n, b.gs, clipvalue,
                             b.dc, <float>lr, <float>rho, <float>eps, nthreads)
        else:
            ck.adadelta_step(b.count, <double *const *>b.p, <double *const *>ag,
                             <double *const *>ad, <const double *const *>b.g, b.n, b.gs,
                             clipvalue, b.dc, lr, rho, eps, nthreads)


def adamax_step(list params, list m, list u, list grads, gscale, double clipvalue, decay,
                double lr, double beta1, double beta2, double eps, double bias1, int nthreads):
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **pm = b.get(m, True)
    cdef void **pu = b.get(u, True)
    with nogil:
        if b.f32:
            ck.adamax_step(b.count, <float *const *>b.p, <float *const *>pm, <float *const *>pu,
                           <const float *const *>b.g, b.n, b.gs, clipvalue, b.dc, <float>lr,
                           <float>beta1, <float>beta2, <float>eps, <float>bias1, nthreads)
        else:
            ck.adamax_step(b.count, <double *const *>b.p, <double *const *>pm,
                           <double *const *>pu, <const double *const *>b.g, b.n, b.gs, clipvalue,
                           b.dc, lr, beta1, beta2, eps, bias1, nthreads)


def nadam_step(list params, list m, list v, list grads, gscale, double clipvalue, decay,
               double lr, double beta1, double beta2, double eps, double u_next,
               double den_next, double one_minus_u, double den, double den_v, int nthreads):
    cdef _Lists b = _Lists(params, grads, gscale, decay)
    cdef void **pm = b.get(m, True)
    cdef void **pv = b.get(v, True)
    with nogil:
        if b.f32:
            ck.nadam_step(b.count, <float *const *>b.p, <float *const *>pm, <float *const *>pv,
                          <const float *const *>b.g, b.n, b.gs, clipvalue, b.dc, <float>lr,
                          <float>beta1, <float>beta2, <float>eps, <float>u_next,
                          <float>den_next, <float>one_minus_u, <float>den, <float>den_v,
                          nthreads)
        else:
            ck.nadam_step(b.count, <double *const *>b.p, <double *const *>pm,
                          <double *const *>pv, <const double *const *>b.g, b.n, b.gs, clipvalue,
                          b.dc, lr, beta1, beta2, eps, u_next, den_next, one_minus_u, den,
                          den_v, nthreads)
