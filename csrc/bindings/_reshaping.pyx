"""ccnn._reshaping -- thin binding over csrc/kernels/pad.c, upsample.c and resize.c (inputs
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


#: resize.h's modes
RESIZE_NEAREST, RESIZE_NEAREST_EXACT, RESIZE_BILINEAR, RESIZE_BILINEAR_ALIGN = 0, 1, 2, 3


def _resize_check(Py_ssize_t h, Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo, int mode,
                  double scale_h, double scale_w):
    if h < 1 or w < 1:
        raise ValueError(f"input's spatial size must be >= 1, got {h} x {w}")
    if ho < 1 or wo < 1:
        raise ValueError(f"size must be >= 1, got ({ho}, {wo})")
    if mode < RESIZE_NEAREST or mode > RESIZE_BILINEAR_ALIGN:
        raise ValueError(f"mode must be 0..3 (resize.h), got {mode}")
    if not (scale_h == scale_h and scale_w == scale_w) or scale_h == float("inf") \
            or scale_w == float("inf"):
        raise ValueError(f"scales must be finite, got ({scale_h}, {scale_w})")


def _resize(const floating[:, :, :, ::1] src, Py_ssize_t h, Py_ssize_t w, Py_ssize_t ho,
            Py_ssize_t wo, int mode, double scale_h, double scale_w, int nthreads,
            bint backward):
    """resize.c's forward (src: the input; the result (outer, ho, wo, inner)) or
    backward (src: the output's gradient; the result (outer, h, w, inner))."""
    cdef Py_ssize_t outer = src.shape[0], inner = src.shape[3]
    _resize_check(h, w, ho, wo, mode, scale_h, scale_w)
    shape = (outer, h, w, inner) if backward else (outer, ho, wo, inner)
    res = np.empty(shape, dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] dst = res
    cdef int rc = 0
    if res.size == 0:
        return res
    with nogil:
        if backward:
            rc = ck.resize2d_backward(&dst[0, 0, 0, 0], &src[0, 0, 0, 0], outer, h, w, inner,
                                      ho, wo, mode, scale_h, scale_w, nthreads)
        else:
            rc = ck.resize2d_forward(&dst[0, 0, 0, 0], &src[0, 0, 0, 0], outer, h, w, inner,
                                     ho, wo, mode, scale_h, scale_w, nthreads)
    if rc == CCNN_ENOMEM:
        raise MemoryError("resize2d: no memory for the tap tables")
    if rc != CCNN_OK:
        raise ValueError(f"resize2d: invalid arguments (error {rc})")
    return res


def resize2d_forward(const floating[:, :, :, ::1] x, Py_ssize_t ho, Py_ssize_t wo, int mode,
                     double scale_h, double scale_w, int nthreads):
    """x (outer, h, w, inner) resized to (outer, ho, wo, inner) (resize.h's mode;
    scale: source pixels per output pixel, <= 0: h / ho)."""
    return _resize(x, x.shape[1], x.shape[2], ho, wo, mode, scale_h, scale_w, nthreads, False)


def resize2d_backward(const floating[:, :, :, ::1] dout, Py_ssize_t h, Py_ssize_t w, int mode,
                      double scale_h, double scale_w, int nthreads):
    """The (outer, h, w, inner) gradient of resize2d_forward from dout
    (outer, ho, wo, inner): each output pixel's gradient scattered with its weights."""
    return _resize(dout, h, w, dout.shape[1], dout.shape[2], mode, scale_h, scale_w, nthreads,
                   True)
