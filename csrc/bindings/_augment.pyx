"""ccnn._augment -- thin binding over csrc/kernels/augment.c (affine resampling).

ccnn.functional checks the arguments before calling here."""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def affine_transform(const floating[:, :, :, ::1] x, const double[:, ::1] transforms,
                     int interpolation, int fill_mode, double fill_value, int nthreads):
    """x (n, h, w, c) resampled at the affine map of each image's transform (6,)."""
    cdef Py_ssize_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
    if transforms.shape[0] != n or transforms.shape[1] != 6:
        raise ValueError("transforms must be (n, 6)")
    out = np.empty((n, h, w, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = out
    cdef int rc = 0
    if n == 0 or h == 0 or w == 0 or c == 0:
        return out
    with nogil:
        rc = ck.affine_transform(&y[0, 0, 0, 0], &x[0, 0, 0, 0], &transforms[0, 0], n, h, w, c,
                                 interpolation, fill_mode, fill_value, nthreads)
    if rc != 0:
        raise ValueError("unknown interpolation or fill mode")
    return out
