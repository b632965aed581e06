"""ccnn._conv2d -- thin binding over the conv2d kernels (csrc/kernels/conv2d*.c),
reached through ccnn.kernels' capsules.

Arguments arrive validated, C-contiguous and of one dtype (ccnn.functional
does that); this layer only allocates outputs and releases the GIL.
"""
import numpy as np
from cython cimport floating
from libc.stdint cimport int64_t, uint8_t
cimport ccnn.kernels as kernels
from ccnn.kernels cimport (
    CCNN_OK, CCNN_EBADARG, CCNN_EOVERFLOW, CCNN_CONV_DIRECT, CCNN_CONV_GEMM, CCNN_CONV_WINOGRAD,
    CCNN_PASS_FORWARD, CCNN_PASS_DATA, CCNN_PASS_WEIGHT, ccnn_conv2d_dims, conv2d_dims_init,
    conv2d_algo, conv2d_winograd_eligible, conv2d_winograd_data_eligible,
    conv2d_winograd_weight_eligible,
    conv2d_winograd_supported, conv2d_winograd_data_supported, conv2d_relu_maxpool_supported,
    conv2d_workspace_bytes,
)
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


cdef inline tuple shape4(Py_ssize_t *s):
    return (s[0], s[1], s[2], s[3])


cdef ccnn_conv2d_dims make_dims(tuple xshape, tuple wshape, tuple stride, tuple dilation,
                                tuple pads) except *:
    cdef ccnn_conv2d_dims d
    cdef int err = conv2d_dims_init(
        &d, xshape[0], xshape[1], xshape[2], xshape[3], wshape[0], wshape[2], wshape[3],
        stride[0], stride[1], dilation[0], dilation[1], pads[0], pads[1], pads[2], pads[3])
    if err != CCNN_OK:
        raise ValueError(f"invalid conv2d geometry (code {err})")
    return d


ALGOS = {"auto": 0, "direct": CCNN_CONV_DIRECT, "gemm": CCNN_CONV_GEMM,
         "winograd": CCNN_CONV_WINOGRAD}


cdef int algo_code(str algo) except -1:
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {sorted(ALGOS)}, got {algo!r}")
    return ALGOS[algo]


# The kernel for the algorithm (0: auto) -- one choice per pass, any dtype
cdef inline int run_forward(int algo, bint relu, floating *y, const floating *x,
                            const floating *weight, const floating *bias,
                            const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    if relu:
        return ck.conv2d_relu_forward(y, x, weight, bias, d, nthreads)
    if algo == CCNN_CONV_DIRECT:
        return ck.conv2d_forward_direct(y, x, weight, bias, d, nthreads)
    if algo == CCNN_CONV_GEMM:
        return ck.conv2d_forward_gemm(y, x, weight, bias, d, nthreads)
    if algo == CCNN_CONV_WINOGRAD:
        return ck.conv2d_forward_winograd(y, x, weight, bias, d, nthreads)
    return ck.conv2d_forward(y, x, weight, bias, d, nthreads)


cdef inline int run_backward(int algo, const floating *relu_out, floating *dx, floating *dw,
                             floating *db, const floating *dout, const floating *x,
                             const floating *weight, const ccnn_conv2d_dims *d,
                             int nthreads) noexcept nogil:
    if relu_out != NULL:
        return ck.conv2d_relu_backward(dx, dw, db, dout, relu_out, x, weight, d, nthreads)
    if algo == CCNN_CONV_DIRECT:
        return ck.conv2d_backward_direct(dx, dw, db, dout, x, weight, d, nthreads)
    if algo == CCNN_CONV_GEMM:
        return ck.conv2d_backward_gemm(dx, dw, db, dout, x, weight, d, nthreads)
    if algo == CCNN_CONV_WINOGRAD:
        return ck.conv2d_backward_winograd(dx, dw, db, dout, x, weight, d, nthreads)
    return ck.conv2d_backward(dx, dw, db, dout, x, weight, d, nthreads)


PASSES = {"forward": CCNN_PASS_FORWARD, "data": CCNN_PASS_DATA, "weight": CCNN_PASS_WEIGHT}


def algo_for(tuple xshape, tuple wshape, tuple stride, tuple dilation, tuple pads,
             str pass_="forward"):
    """The algorithm ("direct" or "gemm") the auto kernels pick for this
    geometry in one pass: "forward", "data" (input gradient) or "weight"."""
    cdef ccnn_conv2d_dims d = make_dims(xshape, wshape, stride, dilation, pads)
    return "gemm" if conv2d_algo(&d, PASSES[pass_]) == CCNN_CONV_GEMM else "direct"


def winograd_eligible(tuple xshape, tuple wshape, tuple stride, tuple dilation, tuple pads,
                      str pass_="forward", bint forced=False):
    """True when the auto kernels run this geometry as Winograd F(2x2, 3x3)
    in one pass, "forward", "data" (the stride-1 input gradient) or "weight"
    (where the auto weight pass is a GEMM's: algo_for) -- or, with forced,
    when algo="winograd" accepts it."""
    cdef ccnn_conv2d_dims d = make_dims(xshape, wshape, stride, dilation, pads)
    if pass_ == "data":
        return bool(conv2d_winograd_data_supported(&d) if forced
                    else conv2d_winograd_data_eligible(&d))
    if pass_ == "weight":
        return bool(conv2d_winograd_supported(&d) if forced
                    else conv2d_winograd_weight_eligible(&d))
    if pass_ != "forward":
        raise ValueError(f"pass_ must be 'forward', 'data' or 'weight', got {pass_!r}")
    return bool(conv2d_winograd_supported(&d) if forced
                else conv2d_winograd_eligible(&d))


def workspace_bytes(tuple xshape, tuple wshape, tuple stride, tuple dilation, tuple pads,
                    int itemsize, bint backward, int nthreads):
    """Bytes of scratch memory the auto kernels take for this geometry
    (ccnn_conv2d_workspace_bytes): the forward, or the backward.  2**63 - 1
    when they do not fit in an int64 (the C dims check refuses such sizes)."""
    cdef ccnn_conv2d_dims d
    cdef int err = conv2d_dims_init(
        &d, xshape[0], xshape[1], xshape[2], xshape[3], wshape[0], wshape[2], wshape[3],
        stride[0], stride[1], dilation[0], dilation[1], pads[0], pads[1], pads[2], pads[3])
    if err == CCNN_EOVERFLOW:
        return 2 ** 63 - 1
    if err != CCNN_OK:
        raise ValueError(f"invalid conv2d geometry (code {err})")
    return conv2d_workspace_bytes(&d, backward, itemsize, nthreads)


def gemm_kernel_name():
    return kernels.gemm_kernel_name().decode()


def gemm(const floating[:, :] a, const floating[:, :] b, floating[:, :] c, bint overwrite,
         bias=None):
    """c (m, n) += a (m, k) @ b (k, n), or with overwrite c = a @ b + bias[:, None]
    (bias (m,) or None), through the packed GEMM the convolutions use (a test
    hook).  a and b: any strides; c: contiguous rows, not overlapping."""
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = b.shape[1], item = sizeof(floating)
    if b.shape[0] != k or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(f"gemm: shapes ({m}, {k}) @ ({b.shape[0]}, {n}) -> "
                         f"({c.shape[0]}, {c.shape[1]}) do not chain")
    if (a.strides[0] % item or a.strides[1] % item or b.strides[0] % item
            or b.strides[1] % item or c.strides[0] % item or c.strides[1] % item):
        raise ValueError("gemm: strides must be whole elements")
    if n > 1 and c.strides[1] != item:
        raise ValueError("gemm: c's rows must be contiguous")
    if m > 1 and c.strides[0] < n * item:
        raise ValueError("gemm: c's rows must not overlap")
    cdef const floating[::1] bv
    cdef const floating *bp = NULL
    if bias is not None:
        bv = bias
        if bv.shape[0] != m:
            raise ValueError(f"gemm: bias has length {bv.shape[0]}, expected {m}")
        if m:
            bp = &bv[0]
    if m == 0 or n == 0:
        return
    cdef const floating *ap = &a[0, 0] if k else NULL
    cdef const floating *bq = &b[0, 0] if k else NULL
    cdef int64_t rsa = a.strides[0] // item, csa = a.strides[1] // item
    cdef int64_t rsb = b.strides[0] // item, csb = b.strides[1] // item
    cdef int64_t ldc = c.strides[0] // item
    cdef int err
    with nogil:
        err = ck.gemm_strided(m, n, k, ap, rsa, csa, bq, rsb, csb, &c[0, 0], ldc, overwrite, bp)
    if err != CCNN_OK:
        raise MemoryError("gemm: could not allocate its workspace")


def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] weight, bias,
                   tuple stride, tuple dilation, tuple pads, int nthreads, str algo="auto",
                   bint relu=False):
    """y (n,k,p,q) from x (n,c,h,w), weight (k,c,r,s), bias (k,) or None;
    pads = (top, bottom, left, right); algo: "auto", "direct", "gemm" or
    "winograd" (ValueError when the shape is not eligible);
    relu: y = max(conv, 0) in the kernels' epilogue (auto algorithm only)."""
    cdef ccnn_conv2d_dims d = make_dims(shape4(x.shape), shape4(weight.shape),
                                        stride, dilation, pads)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((d.n, d.k, d.p, d.q), dtype=dtype)
    cdef floating[:, :, :, ::1] y = out
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        bptr = &b[0]
    if d.n == 0:
        return out
    cdef int a = algo_code(algo)
    if a == CCNN_CONV_WINOGRAD and not conv2d_winograd_supported(&d):
        raise ValueError("conv2d: algo='winograd' needs a 3x3 kernel, stride 1 and dilation 1")
    cdef int err
    with nogil:
        err = run_forward(a, relu, &y[0, 0, 0, 0], &x[0, 0, 0, 0], &weight[0, 0, 0, 0], bptr,
                          &d, nthreads)
    if err != CCNN_OK:
        raise MemoryError("conv2d: could not allocate its workspace")
    return out


def conv2d_backward(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                    const floating[:, :, :, ::1] weight, tuple stride, tuple dilation, tuple pads,
                    bint need_dx, bint need_dweight, bint need_dbias, int nthreads,
                    str algo="auto", relu_out=None):
    """(dx or None, dweight or None, dbias or None).  relu_out: the forward's
    result of a conv fused with ReLU (n,k,p,q); dout is then masked by
    relu_out > 0 (auto algorithm only)."""
    cdef ccnn_conv2d_dims d = make_dims(shape4(x.shape), shape4(weight.shape),
                                        stride, dilation, pads)
    if shape4(dout.shape) != (d.n, d.k, d.p, d.q):
        raise ValueError("grad_out has the wrong shape")
    dtype = np.float32 if floating is float else np.float64
    cdef int a = algo_code(algo)
    if a == CCNN_CONV_WINOGRAD and need_dx and not conv2d_winograd_data_supported(&d):
        raise ValueError("conv2d_backward: algo='winograd' needs a 3x3 kernel, stride 1, "
                         "dilation 1, padding <= 2 and at least 16 input channels")
    if a == CCNN_CONV_WINOGRAD and need_dweight and not conv2d_winograd_supported(&d):
        raise ValueError("conv2d_backward: algo='winograd' needs a 3x3 kernel, stride 1 "
                         "and dilation 1")
    # Every algorithm writes every element of dx, dw and db (the direct data pass
    # crops its zero frame into dx, the GEMM one zeroes each image before col2im,
    # the weight and bias passes store their sums): no zeroing pass.  An empty
    # batch runs no kernel: its dw and db are zeros.
    grad = np.empty if d.n > 0 else np.zeros
    dx = grad((d.n, d.c, d.h, d.w), dtype=dtype) if need_dx else None
    dw = grad((d.k, d.c, d.r, d.s), dtype=dtype) if need_dweight else None
    db = grad((d.k,), dtype=dtype) if need_dbias else None
    if d.n == 0:
        return dx, dw, db
    cdef floating[:, :, :, ::1] dx_v
    cdef floating[:, :, :, ::1] dw_v
    cdef floating[::1] db_v
    cdef floating *dx_p = NULL
    cdef floating *dw_p = NULL
    cdef floating *db_p = NULL
    if need_dx:
        dx_v = dx
        dx_p = &dx_v[0, 0, 0, 0]
    if need_dweight:
        dw_v = dw
        dw_p = &dw_v[0, 0, 0, 0]
    if need_dbias:
        db_v = db
        db_p = &db_v[0]
    cdef const floating[:, :, :, ::1] yv
    cdef const floating *y_p = NULL
    if relu_out is not None:
        yv = relu_out
        if shape4(yv.shape) != (d.n, d.k, d.p, d.q):
            raise ValueError("relu_out has the wrong shape")
        y_p = &yv[0, 0, 0, 0]
    cdef int err
    with nogil:
        err = run_backward(a, y_p, dx_p, dw_p, db_p, &dout[0, 0, 0, 0], &x[0, 0, 0, 0],
                       &weight[0, 0, 0, 0], &d, nthreads)
    if err != CCNN_OK:
        raise MemoryError("conv2d_backward: could not allocate its workspace")
    return dx, dw, db


def relu_maxpool_supported(tuple xshape, tuple wshape, tuple stride, tuple dilation, tuple pads):
    """True when the fused conv -> relu -> 2x2 max pool kernels take this geometry."""
    cdef ccnn_conv2d_dims d = make_dims(xshape, wshape, stride, dilation, pads)
    return bool(conv2d_relu_maxpool_supported(&d))


def conv2d_relu_maxpool_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] weight,
                                bias, tuple stride, tuple dilation, tuple pads, int nthreads):
    """(out (n,k,p/2,q/2) = maxpool2x2(relu(conv2d)), argmax uint8 (n,k,p/2,q/2))."""
    cdef ccnn_conv2d_dims d = make_dims(shape4(x.shape), shape4(weight.shape),
                                        stride, dilation, pads)
    if not conv2d_relu_maxpool_supported(&d):
        raise ValueError("conv2d_relu_maxpool: unsupported geometry")
    out = np.empty((d.n, d.k, d.p // 2, d.q // 2), dtype=np.float32 if floating is float else np.float64)
    arg = np.empty((d.n, d.k, d.p // 2, d.q // 2), dtype=np.uint8)
    cdef floating[:, :, :, ::1] y = out
    cdef uint8_t[:, :, :, ::1] a = arg
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        if b.shape[0] != d.k:
            raise ValueError("bias has the wrong length")
        bptr = &b[0]
    if d.n == 0:
        return out, arg
    cdef int err
    with nogil:
        err = ck.conv2d_relu_maxpool_forward(&y[0, 0, 0, 0], &a[0, 0, 0, 0], &x[0, 0, 0, 0],
                                             &weight[0, 0, 0, 0], bptr, &d, nthreads)
    if err != CCNN_OK:
        raise MemoryError("conv2d_relu_maxpool: could not allocate its workspace")
    return out, arg


def conv2d_relu_maxpool_backward(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] out,
                                 const uint8_t[:, :, :, ::1] argmax, const floating[:, :, :, ::1] x,
                                 tuple wshape, tuple stride, tuple dilation, tuple pads,
                                 bint need_dbias, int nthreads):
    """(dweight (k,c,r,s), dbias (k) or None) of the fused forward."""
    cdef ccnn_conv2d_dims d = make_dims(shape4(x.shape), wshape, stride, dilation, pads)
    if not conv2d_relu_maxpool_supported(&d):
        raise ValueError("conv2d_relu_maxpool: unsupported geometry")
    pooled = (d.n, d.k, d.p // 2, d.q // 2)
    if shape4(dout.shape) != pooled or shape4(out.shape) != pooled or shape4(argmax.shape) != pooled:
        raise ValueError("grad_out, out and argmax must have the pooled shape")
    if np.asarray(argmax).max(initial=0) > 3:   # the kernel trusts argmax: offsets 0..3 only
        raise ValueError("argmax holds window offsets 0..3 only")
    dtype = np.float32 if floating is float else np.float64
    grad = np.empty if d.n > 0 else np.zeros     # the kernel stores every element
    dw = grad((d.k, d.c, d.r, d.s), dtype=dtype)
    db = grad((d.k,), dtype=dtype) if need_dbias else None
    if d.n == 0:
        return dw, db
    cdef floating[:, :, :, ::1] dw_v = dw
    cdef floating[::1] db_v
    cdef floating *db_p = NULL
    if need_dbias:
        db_v = db
        db_p = &db_v[0]
    cdef int err
    with nogil:
        err = ck.conv2d_relu_maxpool_backward(&dw_v[0, 0, 0, 0], db_p, &dout[0, 0, 0, 0],
                                              &out[0, 0, 0, 0], &argmax[0, 0, 0, 0],
                                              &x[0, 0, 0, 0], &d, nthreads)
    if err != CCNN_OK:
        raise MemoryError("conv2d_relu_maxpool_backward: could not allocate its workspace")
    return dw, db


def conv2d_act_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] weight,
                       bias, tuple stride, tuple dilation, tuple pads, int kind, double alpha,
                       int nthreads):
    """(y, z): z = conv2d(x, weight, bias) (n,k,p,q), y = pointwise kind (alpha) of z,
    block by block while z is in cache (act_epilogue.c)."""
    cdef ccnn_conv2d_dims d = make_dims(shape4(x.shape), shape4(weight.shape),
                                        stride, dilation, pads)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((d.n, d.k, d.p, d.q), dtype=dtype)
    pre = np.empty((d.n, d.k, d.p, d.q), dtype=dtype)
    cdef floating[:, :, :, ::1] y = out
    cdef floating[:, :, :, ::1] z = pre
    cdef const floating[::1] b
    cdef const floating *bptr = NULL
    if bias is not None:
        b = bias
        bptr = &b[0]
    if d.n == 0:
        return out, pre
    cdef int err
    with nogil:
        err = ck.conv2d_act_forward(&y[0, 0, 0, 0], &z[0, 0, 0, 0], &x[0, 0, 0, 0],
                                    &weight[0, 0, 0, 0], bptr, &d, kind, alpha, nthreads)
    if err == CCNN_EBADARG:
        raise ValueError(f"conv2d: unknown activation kind {kind}")
    if err != CCNN_OK:
        raise MemoryError("conv2d: could not allocate its workspace")
    return out, pre
