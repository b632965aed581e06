"""ccnn._reshaping -- thin binding over csrc/kernels/pad.c and upsample.c (inputs
arrive validated).  Arrays are (outer, h, w, inner): NCHW images as (n * c, h, w, 1),
NHWC images as (n, h, w, c)."""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def pad2d(const floating[:, :, :, ::1] x, tuple pads, double value, int nthreads):
    """x (outer, h, w, inner) padded by pads (top, bottom, left, right); a negative
    pad crops."""
    cdef Py_ssize_t outer = x.shape[0], h = x.shape[1], w = x.shape[2], inner = x.shape[3]
    cdef Py_ssize_t top = pads[0], bottom = pads[1], left = pads[2], right = pads[3]
    cdef Py_ssize_t ho = h + top + bottom, wo = w + left + right
    if ho < 1 or wo < 1:
        raise ValueError(f"padding {pads} leaves an empty {ho} x {wo} output")
    out = np.empty((outer, ho, wo, inner), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = out
    cdef int rc = 0
    if outer == 0 or inner == 0:
        return out
    with nogil:
        rc = ck.pad2d(&y[0, 0, 0, 0], &x[0, 0, 0, 0], outer, h, w, inner, top, bottom,
                      left, right, value, nthreads)
    if rc != 0:
        raise ValueError(f"invalid padding {pads} for a {h} x {w} input")
    return out


def upsample_nearest2d_forward(const floating[:, :, :, ::1] x, Py_ssize_t sh, Py_ssize_t sw,
                               int nthreads):
    """(outer, h * sh, w * sw, inner): each pixel of x repeated sh x sw times."""
    cdef Py_ssize_t outer = x.shape[0], h = x.shape[1], w = x.shape[2], inner = x.shape[3]
    if sh < 1 or sw < 1:
        raise ValueError(f"scale factors must be >= 1, got ({sh}, {sw})")
    out = np.empty((outer, h * sh, w * sw, inner),
                   dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = out
    if out.size == 0:
        return out
    with nogil:
        ck.upsample_nearest2d_forward(&y[0, 0, 0, 0], &x[0, 0, 0, 0], outer, h, w, inner,
                                      sh, sw, nthreads)
    return out


def upsample_nearest2d_backward(const floating[:, :, :, ::1] dout, Py_ssize_t sh,
                                Py_ssize_t sw, int nthreads):
    """(outer, h, w, inner): the sum of each sh x sw block of dout (outer, h*sh, w*sw, inner)."""
    cdef Py_ssize_t outer = dout.shape[0], inner = dout.shape[3]
    if sh < 1 or sw < 1 or dout.shape[1] % sh or dout.shape[2] % sw:
        raise ValueError(f"grad_output's size {dout.shape[1]} x {dout.shape[2]} is not a "
                         f"multiple of the scale factors ({sh}, {sw})")
    cdef Py_ssize_t h = dout.shape[1] // sh, w = dout.shape[2] // sw
    dx = np.empty((outer, h, w, inner), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] d = dx
    if dx.size == 0:
        return dx
    with nogil:
        ck.upsample_nearest2d_backward(&d[0, 0, 0, 0], &dout[0, 0, 0, 0], outer, h, w, inner,
                                       sh, sw, nthreads)
    return dx
