# ccnn/kernels.pxd -- the public Cython interface to ccnn's C kernels.
#
# Source: csrc/kernels.pxd.  setup.py copies it, with the public C headers,
# into the directory that ccnn.get_include() returns:
#
#     <get_include()>/ccnn/kernels.pxd     this file
#     <get_include()>/ccnn/*.h             ccnn_common.h, conv2d.h, pool.h, ...
#
# A downstream extension cimports the kernels and reaches them at run time
# through the C-API capsules of the extension module ccnn.kernels (its
# __pyx_capi__), as scipy.linalg.cython_blas does: there is nothing to link.
#
#     # cython: language_level=3
#     from ccnn.kernels cimport ccnn_conv2d_dims, conv2d_dims_init, conv2d_forward_f32, CCNN_OK
#
#     cdef ccnn_conv2d_dims d
#     if conv2d_dims_init(&d, n, c, h, w, k, r, s, 1, 1, 1, 1, 1, 1, 1, 1) != CCNN_OK: ...
#     with nogil:
#         err = conv2d_forward_f32(&y[0, 0, 0, 0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], NULL, &d, 1)
#
#     # setup.py:  Extension(..., include_dirs=[ccnn.get_include()]) and
#     #            cythonize(..., include_path=[ccnn.get_include()])
#
# Each function is the C kernel of the same name with the "ccnn_" prefix
# dropped: same arguments, same return value, same documentation (the
# headers).  Every one is noexcept and nogil: it touches no Python object,
# may be called with the GIL released from any number of threads at once,
# and runs `nthreads` OpenMP threads (1 = serial in the calling thread).
# Arrays are C-contiguous; activations are NCHW; sizes are int64_t.
# Shapes are described by a *_dims struct filled by its *_dims_init function,
# which validates them (ccnn_correlate_dims is filled by hand and checked
# by correlate2d_*).  Kernels that cannot fail return nothing.
#
# The structs, enums and ccnn_out_size below come from the headers (the
# types, the constants and one static inline function: no symbols to link).

from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "ccnn/ccnn_common.h" nogil:
    enum:
        CCNN_OK         # 0
        CCNN_EBADARG    # a size < 1 where >= 1 is needed, or negative
        CCNN_EEMPTY     # the kernel does not fit in the padded input
        CCNN_EOVERFLOW  # a size product does not fit in int64
        CCNN_ENOMEM     # a workspace could not be allocated
    # Output length of a sliding window (PyTorch's conv/pool formula); static inline.
    int64_t ccnn_out_size(int64_t inp, int64_t pad_lo, int64_t pad_hi, int64_t k,
                          int64_t stride, int64_t dilation, int ceil_mode)

cdef extern from "ccnn/conv2d.h" nogil:
    ctypedef struct ccnn_conv2d_dims:
        int64_t n, c, h, w          # input  x (n, c, h, w)
        int64_t k, r, s             # weight   (k, c, r, s), bias (k)
        int64_t p, q                # output y (n, k, p, q), set by conv2d_dims_init
        int64_t stride_h, stride_w
        int64_t dil_h, dil_w
        int64_t pad_top, pad_bottom, pad_left, pad_right
    enum:
        CCNN_CONV_DIRECT
        CCNN_CONV_GEMM

cdef extern from "ccnn/pool.h" nogil:
    ctypedef struct ccnn_pool2d_dims:
        int64_t n, c, h, w          # input  x (n, c, h, w)
        int64_t kh, kw              # window
        int64_t p, q                # output y (n, c, p, q), set by pool2d_dims_init
        int64_t stride_h, stride_w
        int64_t pad_top, pad_bottom, pad_left, pad_right
        int ceil_mode
        int count_include_pad       # avg only

cdef extern from "ccnn/correlate.h" nogil:
    ctypedef struct ccnn_correlate_dims:
        int64_t ha, wa              # a   (ha, wa)
        int64_t hv, wv              # v   (hv, wv)
        int64_t ho, wo              # out (ho, wo)
        int64_t off_h, off_w        # window offset into the full correlation
        int multiply_fill           # 1: outside-a terms are products with 0 (scipy)

cdef extern from "ccnn/dense.h" nogil:
    ctypedef struct ccnn_dense_dims:
        int64_t n, units            # inp (n, in), weight (in, units), out (n, units)
        int64_t in_ "in"            # `in` is a Python keyword


# ---------------------------------------------------------------- build facts
cdef const char *simd_path() noexcept nogil          # SIMD clone picked on this CPU
cdef int have_openmp() noexcept nogil                # 1 when built with OpenMP
cdef int max_threads() noexcept nogil                # OpenMP's default thread count

# --------------------------------------------------------------------- conv2d
# (conv2d.h)  out (n,k,p,q); inp (n,c,h,w); weight (k,c,r,s); bias (k) or NULL.
# Return CCNN_OK or CCNN_ENOMEM.  Backward: any of dinp/dweight/dbias may be
# NULL to skip it; gradients are overwritten, not accumulated.
cdef int conv2d_dims_init(ccnn_conv2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t k, int64_t r, int64_t s,
                          int64_t stride_h, int64_t stride_w, int64_t dil_h, int64_t dil_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right) noexcept nogil
cdef int conv2d_algo(const ccnn_conv2d_dims *d, int backward) noexcept nogil
cdef int conv2d_forward_f32(float *out, const float *inp, const float *weight,
                            const float *bias, const ccnn_conv2d_dims *d,
                            int nthreads) noexcept nogil
cdef int conv2d_forward_f64(double *out, const double *inp, const double *weight,
                            const double *bias, const ccnn_conv2d_dims *d,
                            int nthreads) noexcept nogil
cdef int conv2d_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight,
                             const ccnn_conv2d_dims *d, int nthreads) noexcept nogil
cdef int conv2d_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                             const double *inp, const double *weight,
                             const ccnn_conv2d_dims *d, int nthreads) noexcept nogil
# Fused with a ReLU: out = max(conv2d(inp), 0); the backward takes that
# forward's out (n,k,p,q) and masks dout with out > 0.
cdef int conv2d_relu_forward_f32(float *out, const float *inp, const float *weight,
                                 const float *bias, const ccnn_conv2d_dims *d,
                                 int nthreads) noexcept nogil
cdef int conv2d_relu_forward_f64(double *out, const double *inp, const double *weight,
                                 const double *bias, const ccnn_conv2d_dims *d,
                                 int nthreads) noexcept nogil
cdef int conv2d_relu_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *out, const float *inp, const float *weight,
                                  const ccnn_conv2d_dims *d, int nthreads) noexcept nogil
cdef int conv2d_relu_backward_f64(double *dinp, double *dweight, double *dbias,
                                  const double *dout, const double *out, const double *inp,
                                  const double *weight, const ccnn_conv2d_dims *d,
                                  int nthreads) noexcept nogil
# Fused conv -> ReLU -> 2x2 / stride-2 max pool: out and argmax (uint8 window
# offsets 0..3) (n, k, p//2, q//2).  Backward: dweight (required), dbias or
# NULL; no input gradient.  Only when conv2d_relu_maxpool_supported(d) (else
# CCNN_EBADARG): stride-1 columns, c*r*s < 32, p, q >= 2.
cdef int conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d) noexcept nogil
cdef int conv2d_relu_maxpool_forward_f32(float *out, uint8_t *argmax, const float *inp,
                                         const float *weight, const float *bias,
                                         const ccnn_conv2d_dims *d, int nthreads) noexcept nogil
cdef int conv2d_relu_maxpool_forward_f64(double *out, uint8_t *argmax, const double *inp,
                                         const double *weight, const double *bias,
                                         const ccnn_conv2d_dims *d, int nthreads) noexcept nogil
cdef int conv2d_relu_maxpool_backward_f32(float *dweight, float *dbias, const float *dout,
                                          const float *out, const uint8_t *argmax,
                                          const float *inp, const ccnn_conv2d_dims *d,
                                          int nthreads) noexcept nogil
cdef int conv2d_relu_maxpool_backward_f64(double *dweight, double *dbias, const double *dout,
                                          const double *out, const uint8_t *argmax,
                                          const double *inp, const ccnn_conv2d_dims *d,
                                          int nthreads) noexcept nogil

# -------------------------------------------------------------------- pooling
# (pool.h)  out (n,c,p,q); argmax (n,c,p,q) int64 flat h*W+w indices, or NULL;
# inp (n,c,h,w).  Backward: dinp (n,c,h,w) is overwritten; every argmax entry
# must lie in [0, h*w).
cdef int pool2d_dims_init(ccnn_pool2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                          int64_t pad_right, int ceil_mode,
                          int count_include_pad) noexcept nogil
cdef void max_pool2d_forward_f32(float *out, int64_t *argmax, const float *inp,
                                 const ccnn_pool2d_dims *d, int nthreads) noexcept nogil
cdef void max_pool2d_forward_f64(double *out, int64_t *argmax, const double *inp,
                                 const ccnn_pool2d_dims *d, int nthreads) noexcept nogil
cdef void max_pool2d_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads) noexcept nogil
cdef void max_pool2d_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads) noexcept nogil
cdef void avg_pool2d_forward_f32(float *out, const float *inp, const ccnn_pool2d_dims *d,
                                 int nthreads) noexcept nogil
cdef void avg_pool2d_forward_f64(double *out, const double *inp, const ccnn_pool2d_dims *d,
                                 int nthreads) noexcept nogil
cdef void avg_pool2d_backward_f32(float *dinp, const float *dout, const ccnn_pool2d_dims *d,
                                  int nthreads) noexcept nogil
cdef void avg_pool2d_backward_f64(double *dinp, const double *dout, const ccnn_pool2d_dims *d,
                                  int nthreads) noexcept nogil

# ---------------------------------------------------------------- activations
# (activation.h)  flat arrays of length n; out may equal inp, dinp may equal
# dout.  Dropout: mask entries are 0 or 1, scale = 1 / (1 - rate); the
# backward pass is the same map applied to dout.  dropout_sample draws the
# mask (keep with probability 1 - rate, 0 <= rate < 1; a hash of (seed, i),
# the same for any thread count), writes it and applies it in one pass.
cdef void relu_forward_f32(float *out, const float *inp, int64_t n,
                           int nthreads) noexcept nogil
cdef void relu_forward_f64(double *out, const double *inp, int64_t n,
                           int nthreads) noexcept nogil
cdef void relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n,
                            int nthreads) noexcept nogil
cdef void relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n,
                            int nthreads) noexcept nogil
cdef void dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                              int64_t n, int nthreads) noexcept nogil
cdef void dropout_forward_f64(double *out, const double *inp, const uint8_t *mask,
                              double scale, int64_t n, int nthreads) noexcept nogil
cdef void dropout_backward_f32(float *dinp, const float *dout, const uint8_t *mask,
                               float scale, int64_t n, int nthreads) noexcept nogil
cdef void dropout_backward_f64(double *dinp, const double *dout, const uint8_t *mask,
                               double scale, int64_t n, int nthreads) noexcept nogil
cdef void dropout_sample_f32(float *out, uint8_t *mask, const float *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads) noexcept nogil
cdef void dropout_sample_f64(double *out, uint8_t *mask, const double *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads) noexcept nogil

# ------------------------------------------------------------------ correlate
# (correlate.h)  out (ho, wo) = the window at (off_h, off_w) of the full
# correlation of a (ha, wa) with v (hv, wv).  Returns CCNN_EBADARG (and
# writes nothing) when the window does not lie inside the full correlation.
cdef int correlate2d_f32(float *out, const float *a, const float *v,
                         const ccnn_correlate_dims *d, int nthreads) noexcept nogil
cdef int correlate2d_f64(double *out, const double *a, const double *v,
                         const ccnn_correlate_dims *d, int nthreads) noexcept nogil

# ----------------------------------------------------------------------- loss
# (loss.h)  row-wise over (n, classes) arrays; labels int64 in [0, classes).
cdef void softmax_forward_f32(float *probs, const float *logits, int64_t n, int64_t classes,
                              int nthreads) noexcept nogil
cdef void softmax_forward_f64(double *probs, const double *logits, int64_t n,
                              int64_t classes, int nthreads) noexcept nogil
cdef void softmax_backward_f32(float *dinp, const float *dout, const float *probs, int64_t n,
                               int64_t classes, int nthreads) noexcept nogil
cdef void softmax_backward_f64(double *dinp, const double *dout, const double *probs,
                               int64_t n, int64_t classes, int nthreads) noexcept nogil
cdef void softmax_xent_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                   const int64_t *labels, int64_t n, int64_t classes,
                                   int nthreads) noexcept nogil
cdef void softmax_xent_forward_f64(double *loss_per_row, double *probs, const double *logits,
                                   const int64_t *labels, int64_t n, int64_t classes,
                                   int nthreads) noexcept nogil
cdef void softmax_xent_backward_f32(float *dlogits, const float *probs, const int64_t *labels,
                                    int64_t n, int64_t classes, int nthreads) noexcept nogil
cdef void softmax_xent_backward_f64(double *dlogits, const double *probs,
                                    const int64_t *labels, int64_t n, int64_t classes,
                                    int nthreads) noexcept nogil
cdef void softmax_xent_dense_forward_f32(float *loss_per_row, float *probs,
                                         const float *logits, const float *targets, int64_t n,
                                         int64_t classes, int nthreads) noexcept nogil
cdef void softmax_xent_dense_forward_f64(double *loss_per_row, double *probs,
                                         const double *logits, const double *targets,
                                         int64_t n, int64_t classes, int nthreads) noexcept nogil
cdef void softmax_xent_dense_backward_f32(float *dlogits, const float *probs,
                                          const float *targets, int64_t n, int64_t classes,
                                          int nthreads) noexcept nogil
cdef void softmax_xent_dense_backward_f64(double *dlogits, const double *probs,
                                          const double *targets, int64_t n, int64_t classes,
                                          int nthreads) noexcept nogil

# ---------------------------------------------------------------- optimizers
# (optim.h)  flat arrays of length n, updated in place.  Adam: lr_t already
# carries the bias correction lr * sqrt(1 - beta2^t) / (1 - beta1^t).  SGD:
# velocity may be NULL when momentum == 0.  *_many / all_finite: `count`
# arrays given as arrays of pointers, array i of length n[i];
# adam_update_many equals adam_update on each, bit for bit; all_finite
# returns 1 when every element is finite, else 0.
cdef void adam_update_f32(float *param, float *m, float *v, const float *grad, int64_t n,
                          float lr_t, float beta1, float beta2, float eps,
                          int nthreads) noexcept nogil
cdef void adam_update_f64(double *param, double *m, double *v, const double *grad, int64_t n,
                          double lr_t, double beta1, double beta2, double eps,
                          int nthreads) noexcept nogil
cdef void sgd_update_f32(float *param, float *velocity, const float *grad, int64_t n, float lr,
                         float momentum, int nesterov, int nthreads) noexcept nogil
cdef void sgd_update_f64(double *param, double *velocity, const double *grad, int64_t n,
                         double lr, double momentum, int nesterov, int nthreads) noexcept nogil
cdef void adam_update_many_f32(int64_t count, float *const *param, float *const *m,
                               float *const *v, const float *const *grad, const int64_t *n,
                               float lr_t, float beta1, float beta2, float eps,
                               int nthreads) noexcept nogil
cdef void adam_update_many_f64(int64_t count, double *const *param, double *const *m,
                               double *const *v, const double *const *grad, const int64_t *n,
                               double lr_t, double beta1, double beta2, double eps,
                               int nthreads) noexcept nogil
cdef int all_finite_f32(int64_t count, const float *const *a, const int64_t *n,
                        int nthreads) noexcept nogil
cdef int all_finite_f64(int64_t count, const double *const *a, const int64_t *n,
                        int nthreads) noexcept nogil

# ---------------------------------------------------------------------- dense
# (dense.h)  out (n, units) = inp (n, in) @ weight (in, units) + bias (units)
# or NULL, then max(., 0) when relu.  dense_dims_init: n >= 0, in, units >= 1.
# Return CCNN_OK or CCNN_ENOMEM.  Backward: any of dinp (n, in), dweight
# (in, units), dbias (units) may be NULL to skip it; gradients are
# overwritten; relu_out is the forward's out when it had a ReLU, else NULL.
cdef int dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in_,
                         int64_t units) noexcept nogil
cdef int dense_forward_f32(float *out, const float *inp, const float *weight, const float *bias,
                           const ccnn_dense_dims *d, int relu, int nthreads) noexcept nogil
cdef int dense_forward_f64(double *out, const double *inp, const double *weight,
                           const double *bias, const ccnn_dense_dims *d, int relu,
                           int nthreads) noexcept nogil
cdef int dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *relu_out, const float *inp, const float *weight,
                            const ccnn_dense_dims *d, int nthreads) noexcept nogil
cdef int dense_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                            const double *relu_out, const double *inp, const double *weight,
                            const ccnn_dense_dims *d, int nthreads) noexcept nogil

# --------------------------------------------------------------------- layout
# (layout.h)  out[i, j, k] = inp[i, k, j]: out (n, b, a), inp (n, a, b), not
# overlapping.  NCHW -> NHWC is (a, b) = (C, H*W); NHWC -> NCHW is (H*W, C).
cdef void transpose_batched_f32(float *out, const float *inp, int64_t n, int64_t a, int64_t b,
                                int nthreads) noexcept nogil
cdef void transpose_batched_f64(double *out, const double *inp, int64_t n, int64_t a,
                                int64_t b, int nthreads) noexcept nogil
