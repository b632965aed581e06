"""ccnn_downstream._fused -- conv2d -> ReLU -> max-pool in one nogil call,
on ccnn's kernels cimported from ccnn.kernels (no link step: the functions
come from ccnn.kernels' __pyx_capi__ capsules when this module is imported).
"""
import numpy as np
from cython cimport floating
from libc.stdint cimport int64_t

from ccnn.kernels cimport (
    CCNN_OK, CCNN_ENOMEM, ccnn_conv2d_dims, ccnn_pool2d_dims,
    conv2d_dims_init, pool2d_dims_init,
    conv2d_forward_f32, conv2d_forward_f64,
    relu_forward_f32, relu_forward_f64,
    max_pool2d_forward_f32, max_pool2d_forward_f64,
    simd_path, have_openmp,
)


def build_info():
    """What the ccnn this module is bound to reports about itself."""
    return {"simd_path": simd_path().decode(), "openmp": bool(have_openmp())}


def conv_relu_pool(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] weight,
                   const floating[::1] bias=None, int padding=0, int pool=2, int nthreads=1):
    """max_pool2d(relu(conv2d(x, weight, bias, padding=padding)), pool).

    x (N, C, H, W), weight (K, C, kh, kw), bias (K,) or None, all float32 or
    all float64 and C-contiguous; stride 1; pool x pool windows with stride
    pool.  Returns (N, K, P // pool, Q // pool).  The three kernels run one
    after the other with the GIL released, `nthreads` OpenMP threads each."""
    cdef ccnn_conv2d_dims cd
    cdef ccnn_pool2d_dims pd
    cdef int err
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight expects {weight.shape[1]} channels, x has {x.shape[1]}")
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise ValueError(f"bias must have {weight.shape[0]} entries, got {bias.shape[0]}")
    if nthreads < 1:
        raise ValueError("nthreads must be >= 1")
    err = conv2d_dims_init(&cd, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                           weight.shape[0], weight.shape[2], weight.shape[3],
                           1, 1, 1, 1, padding, padding, padding, padding)
    if err != CCNN_OK:
        raise ValueError(f"invalid conv2d geometry (ccnn error {err})")
    err = pool2d_dims_init(&pd, cd.n, cd.k, cd.p, cd.q, pool, pool, pool, pool, 0, 0, 0, 0,
                           0, 1)
    if err != CCNN_OK:
        raise ValueError(f"invalid pooling geometry (ccnn error {err})")

    dtype = np.float32 if floating is float else np.float64
    z = np.empty((cd.n, cd.k, cd.p, cd.q), dtype=dtype)     # conv output, ReLU in place
    y = np.empty((pd.n, pd.c, pd.p, pd.q), dtype=dtype)
    if cd.n == 0:
        return y
    cdef floating[:, :, :, ::1] zv = z
    cdef floating[:, :, :, ::1] yv = y
    cdef const floating *bptr = NULL
    if bias is not None:
        bptr = &bias[0]
    cdef int64_t size = cd.n * cd.k * cd.p * cd.q
    with nogil:
        if floating is float:
            err = conv2d_forward_f32(&zv[0, 0, 0, 0], &x[0, 0, 0, 0], &weight[0, 0, 0, 0],
                                     bptr, &cd, nthreads)
            if err == CCNN_OK:
                relu_forward_f32(&zv[0, 0, 0, 0], &zv[0, 0, 0, 0], size, nthreads)
                max_pool2d_forward_f32(&yv[0, 0, 0, 0], NULL, &zv[0, 0, 0, 0], &pd, nthreads)
        else:
            err = conv2d_forward_f64(&zv[0, 0, 0, 0], &x[0, 0, 0, 0], &weight[0, 0, 0, 0],
                                     bptr, &cd, nthreads)
            if err == CCNN_OK:
                relu_forward_f64(&zv[0, 0, 0, 0], &zv[0, 0, 0, 0], size, nthreads)
                max_pool2d_forward_f64(&yv[0, 0, 0, 0], NULL, &zv[0, 0, 0, 0], &pd, nthreads)
    if err == CCNN_ENOMEM:
        raise MemoryError("conv2d could not allocate its workspace")
    if err != CCNN_OK:
        raise RuntimeError(f"conv2d failed (ccnn error {err})")
    return y
