"""ccnn._depthwise -- thin binding over csrc/kernels/depthwise.c (depthwise 2-D
cross-correlation: conv2d with groups == in_channels).

Arguments arrive validated, C-contiguous and of one dtype (ccnn.functional
does that); this layer only allocates outputs and releases the GIL.
weight is (k, r, s) with k = c * multiplier; pads = (top, bottom, left, right).
"""
import numpy as np
from cython cimport floating
from ccnn.kernels cimport CCNN_OK, CCNN_ENOMEM, ccnn_conv2d_dims, conv2d_dims_init
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


cdef ccnn_conv2d_dims make_dims(Py_ssize_t n, Py_ssize_t c, Py_ssize_t h, Py_ssize_t w,
                                Py_ssize_t k, Py_ssize_t r, Py_ssize_t s, tuple stride,
                                tuple dilation, tuple pads) except *:
    cdef ccnn_conv2d_dims d
    cdef int err = conv2d_dims_init(&d, n, c, h, w, k, r, s, stride[0], stride[1],
                                    dilation[0], dilation[1], pads[0], pads[1], pads[2],
                                    pads[3])
    if err != CCNN_OK or k % c:
        raise ValueError(f"invalid depthwise conv2d geometry (code {err})")
    return d


cdef inline void check(int err, str op):
    if err == CCNN_ENOMEM:
        raise MemoryError(f"{op}: out of memory")
    if err != CCNN_OK:
        raise ValueError(f"{op}: invalid geometry (code {err})")


def depthwise_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] weight, bias,
                      tuple stride, tuple dilation, tuple pads, int nthreads):
    """y (n,k,p,q) from x (n,c,h,w), weight (k,r,s), bias (k,) or None."""
    cdef ccnn_conv2d_dims d = make_dims(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                        weight.shape[0], weight.shape[1], weight.shape[2],
                                        stride, dilation, pads)
    out = np.empty((d.n, d.k, d.p, d.q), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = out
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        bptr = &b[0]
    if d.n == 0:
        return out
    cdef int err
    with nogil:
        err = ck.depthwise_forward(&y[0, 0, 0, 0], &x[0, 0, 0, 0], &weight[0, 0, 0], bptr,
                                   &d, nthreads)
    check(err, "depthwise conv2d")
    return out


def depthwise_backward(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                       const floating[:, :, ::1] weight, tuple stride, tuple dilation,
                       tuple pads, bint need_dx, bint need_dweight, bint need_dbias,
                       int nthreads):
    """(dx (n,c,h,w) or None, dweight (k,r,s) or None, dbias (k,) or None)."""
    cdef ccnn_conv2d_dims d = make_dims(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                        weight.shape[0], weight.shape[1], weight.shape[2],
                                        stride, dilation, pads)
    if (dout.shape[0], dout.shape[1], dout.shape[2], dout.shape[3]) != (d.n, d.k, d.p, d.q):
        raise ValueError("grad_out has the wrong shape")
    dtype = np.float32 if floating is float else np.float64
    # The kernel writes every element of dx (each plane zeroed, then summed
    # into), dw and db (each channel's sums stored): no zeroing pass.  An
    # empty batch runs no kernel: its dw and db are zeros.
    grad = np.empty if d.n > 0 else np.zeros
    dx = grad((d.n, d.c, d.h, d.w), dtype=dtype) if need_dx else None
    dw = grad((d.k, d.r, d.s), dtype=dtype) if need_dweight else None
    db = grad((d.k,), dtype=dtype) if need_dbias else None
    if d.n == 0:
        return dx, dw, db
    cdef floating[:, :, :, ::1] dx_v
    cdef floating[:, :, ::1] dw_v
    cdef floating[::1] db_v
    cdef floating *dx_p = NULL
    cdef floating *dw_p = NULL
    cdef floating *db_p = NULL
    if need_dx:
        dx_v = dx
        dx_p = &dx_v[0, 0, 0, 0]
    if need_dweight:
        dw_v = dw
        dw_p = &dw_v[0, 0, 0]
    if need_dbias:
        db_v = db
        db_p = &db_v[0]
    cdef int err
    with nogil:
        err = ck.depthwise_backward(dx_p, dw_p, db_p, &dout[0, 0, 0, 0], &x[0, 0, 0, 0],
                                    &weight[0, 0, 0], &d, nthreads)
    check(err, "depthwise conv2d backward")
    return dx, dw, db
