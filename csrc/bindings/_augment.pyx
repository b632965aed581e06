"""ccnn._augment -- thin binding over csrc/kernels/augment.c (affine resampling, flips,
contrast, the broadcast multiply-add).

ccnn.functional checks the arguments before calling here."""
import numpy as np
from cython cimport floating
from libc.stdint cimport uint8_t
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


def image_flip(const floating[:, :, :, ::1] x, const uint8_t[::1] flags, int nthreads):
    """x (n, h, w, c) with image i flipped left-right (flags[i] bit 0) / top-bottom (bit 1)."""
    cdef Py_ssize_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
    if flags.shape[0] != n:
        raise ValueError("flags must be (n,)")
    out = np.empty((n, h, w, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = out
    if n == 0 or h == 0 or w == 0 or c == 0:
        return out
    with nogil:
        ck.image_flip(&y[0, 0, 0, 0], &x[0, 0, 0, 0], &flags[0], n, h, w, c, nthreads)
    return out


def adjust_contrast(const floating[:, :, ::1] x, const double[::1] factors, double lo,
                    double hi, int nthreads):
    """x (n, hw, c): (x - mean over hw) * factors[i] + mean, clipped to [lo, hi]."""
    cdef Py_ssize_t n = x.shape[0], hw = x.shape[1], c = x.shape[2]
    if factors.shape[0] != n:
        raise ValueError("factors must be (n,)")
    out = np.empty((n, hw, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] y = out
    if n == 0 or hw == 0 or c == 0:
        return out
    with nogil:
        ck.adjust_contrast(&y[0, 0, 0], &x[0, 0, 0], &factors[0], n, hw, c, lo, hi, nthreads)
    return out


def broadcast_affine(const floating[:, :, ::1] x, const floating[::1] scale,
                     const floating[::1] shift, Py_ssize_t so, Py_ssize_t sm, Py_ssize_t si,
                     int nthreads):
    """x (outer, mid, inner) * scale[j] + shift[j], j = o*so + m*sm + i*si; an empty
    scale / shift stands for 1 / 0."""
    cdef Py_ssize_t outer = x.shape[0], mid = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t last = (outer - 1) * so + (mid - 1) * sm + (inner - 1) * si
    cdef const floating *ps = NULL
    cdef const floating *pb = NULL
    if so < 0 or sm < 0 or si < 0:
        raise ValueError("strides must be >= 0")
    out = np.empty((outer, mid, inner), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] y = out
    if outer == 0 or mid == 0 or inner == 0:
        return out
    if (scale.shape[0] != 0 and scale.shape[0] <= last) or (shift.shape[0] != 0 and
                                                             shift.shape[0] <= last):
        raise ValueError("scale / shift too short for the strides")
    if scale.shape[0] != 0:
        ps = &scale[0]
    if shift.shape[0] != 0:
        pb = &shift[0]
    with nogil:
        ck.broadcast_affine(&y[0, 0, 0], &x[0, 0, 0], ps, pb, outer, mid, inner, so, sm, si,
                            nthreads)
    return out
