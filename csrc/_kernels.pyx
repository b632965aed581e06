"""ccnn.kernels -- ccnn's C kernels for other packages' Cython and C code.

Built from csrc/_kernels.pyx as the extension module ``ccnn.kernels``; its
declarations are ccnn/kernels.pxd (csrc/kernels.pxd), installed with the C
headers in the directory ccnn.get_include() returns.

From Cython:  ``from ccnn.kernels cimport conv2d_forward_f32, ...`` -- each
function reaches the caller through this module's ``__pyx_capi__`` capsules,
so the caller links nothing.

From C:  ``#include "ccnn/kernels_capi.h"`` and ``ccnn_import_kernels()``,
which fetches the function table ``_C_API`` (a capsule) from this module.

Python code uses ccnn.functional; this module has no Python-level functions.
"""
from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "ccnn/ccnn.h" nogil:
    const char *ccnn_simd_path()
    int ccnn_have_openmp()
    int ccnn_max_threads()
    int ccnn_conv2d_dims_init(ccnn_conv2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                              int64_t k, int64_t r, int64_t s,
                              int64_t stride_h, int64_t stride_w, int64_t dil_h, int64_t dil_w,
                              int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                              int64_t pad_right)
    int ccnn_conv2d_algo(const ccnn_conv2d_dims *d, int backward)
    int ccnn_conv2d_forward_f32(float *out, const float *inp, const float *weight,
                                const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_f64(double *out, const double *inp, const double *weight,
                                const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight,
                                 const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_f64(double *dinp, double *dweight, double *dbias,
                                 const double *dout, const double *inp, const double *weight,
                                 const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_pool2d_dims_init(ccnn_pool2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                              int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                              int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                              int64_t pad_right, int ceil_mode, int count_include_pad)
    void ccnn_max_pool2d_forward_f32(float *out, int64_t *argmax, const float *inp,
                                     const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_forward_f64(double *out, int64_t *argmax, const double *inp,
                                     const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                      const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                      const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_forward_f32(float *out, const float *inp, const ccnn_pool2d_dims *d,
                                     int nthreads)
    void ccnn_avg_pool2d_forward_f64(double *out, const double *inp, const ccnn_pool2d_dims *d,
                                     int nthreads)
    void ccnn_avg_pool2d_backward_f32(float *dinp, const float *dout, const ccnn_pool2d_dims *d,
                                      int nthreads)
    void ccnn_avg_pool2d_backward_f64(double *dinp, const double *dout,
                                      const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_relu_forward_f32(float *out, const float *inp, int64_t n, int nthreads)
    void ccnn_relu_forward_f64(double *out, const double *inp, int64_t n, int nthreads)
    void ccnn_relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n,
                                int nthreads)
    void ccnn_relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n,
                                int nthreads)
    void ccnn_dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                                  int64_t n, int nthreads)
    void ccnn_dropout_forward_f64(double *out, const double *inp, const uint8_t *mask,
                                  double scale, int64_t n, int nthreads)
    void ccnn_softmax_forward_f32(float *probs, const float *logits, int64_t n, int64_t classes,
                                  int nthreads)
    void ccnn_softmax_forward_f64(double *probs, const double *logits, int64_t n,
                                  int64_t classes, int nthreads)
    void ccnn_softmax_backward_f32(float *dinp, const float *dout, const float *probs, int64_t n,
                                   int64_t classes, int nthreads)
    void ccnn_softmax_backward_f64(double *dinp, const double *dout, const double *probs,
                                   int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                       const int64_t *labels, int64_t n, int64_t classes,
                                       int nthreads)
    void ccnn_softmax_xent_forward_f64(double *loss_per_row, double *probs,
                                       const double *logits, const int64_t *labels, int64_t n,
                                       int64_t classes, int nthreads)
    void ccnn_softmax_xent_backward_f32(float *dlogits, const float *probs,
                                        const int64_t *labels, int64_t n, int64_t classes,
                                        int nthreads)
    void ccnn_softmax_xent_backward_f64(double *dlogits, const double *probs,
                                        const int64_t *labels, int64_t n, int64_t classes,
                                        int nthreads)
    void ccnn_softmax_xent_dense_forward_f32(float *loss_per_row, float *probs,
                                             const float *logits, const float *targets,
                                             int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_dense_forward_f64(double *loss_per_row, double *probs,
                                             const double *logits, const double *targets,
                                             int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_dense_backward_f32(float *dlogits, const float *probs,
                                              const float *targets, int64_t n, int64_t classes,
                                              int nthreads)
    void ccnn_softmax_xent_dense_backward_f64(double *dlogits, const double *probs,
                                              const double *targets, int64_t n,
                                              int64_t classes, int nthreads)
    void ccnn_adam_update_f32(float *param, float *m, float *v, const float *grad, int64_t n,
                              float lr_t, float beta1, float beta2, float eps, int nthreads)
    void ccnn_adam_update_f64(double *param, double *m, double *v, const double *grad,
                              int64_t n, double lr_t, double beta1, double beta2, double eps,
                              int nthreads)
    void ccnn_sgd_update_f32(float *param, float *velocity, const float *grad, int64_t n,
                             float lr, float momentum, int nesterov, int nthreads)
    void ccnn_sgd_update_f64(double *param, double *velocity, const double *grad, int64_t n,
                             double lr, double momentum, int nesterov, int nthreads)
    # appended to the C table after 0.1.0
    int ccnn_conv2d_relu_forward_f32(float *out, const float *inp, const float *weight,
                                     const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_forward_f64(double *out, const double *inp, const double *weight,
                                     const double *bias, const ccnn_conv2d_dims *d,
                                     int nthreads)
    int ccnn_conv2d_relu_backward_f32(float *dinp, float *dweight, float *dbias,
                                      const float *dout, const float *out, const float *inp,
                                      const float *weight, const ccnn_conv2d_dims *d,
                                      int nthreads)
    int ccnn_conv2d_relu_backward_f64(double *dinp, double *dweight, double *dbias,
                                      const double *dout, const double *out, const double *inp,
                                      const double *weight, const ccnn_conv2d_dims *d,
                                      int nthreads)
    int ccnn_conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_relu_maxpool_forward_f32(float *out, uint8_t *argmax, const float *inp,
                                             const float *weight, const float *bias,
                                             const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_maxpool_forward_f64(double *out, uint8_t *argmax, const double *inp,
                                             const double *weight, const double *bias,
                                             const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_maxpool_backward_f32(float *dweight, float *dbias, const float *dout,
                                              const float *out, const uint8_t *argmax,
                                              const float *inp, const ccnn_conv2d_dims *d,
                                              int nthreads)
    int ccnn_conv2d_relu_maxpool_backward_f64(double *dweight, double *dbias,
                                              const double *dout, const double *out,
                                              const uint8_t *argmax, const double *inp,
                                              const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in_, int64_t units)
    int ccnn_dense_forward_f32(float *out, const float *inp, const float *weight,
                               const float *bias, const ccnn_dense_dims *d, int relu,
                               int nthreads)
    int ccnn_dense_forward_f64(double *out, const double *inp, const double *weight,
                               const double *bias, const ccnn_dense_dims *d, int relu,
                               int nthreads)
    int ccnn_dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *relu_out, const float *inp, const float *weight,
                                const ccnn_dense_dims *d, int nthreads)
    int ccnn_dense_backward_f64(double *dinp, double *dweight, double *dbias,
                                const double *dout, const double *relu_out, const double *inp,
                                const double *weight, const ccnn_dense_dims *d, int nthreads)
    void ccnn_dropout_sample_f32(float *out, uint8_t *mask, const float *inp, int64_t n,
                                 double rate, uint64_t seed, int nthreads)
    void ccnn_dropout_sample_f64(double *out, uint8_t *mask, const double *inp, int64_t n,
                                 double rate, uint64_t seed, int nthreads)
    void ccnn_adam_update_many_f32(int64_t count, float *const *param, float *const *m,
                                   float *const *v, const float *const *grad, const int64_t *n,
                                   float lr_t, float beta1, float beta2, float eps,
                                   int nthreads)
    void ccnn_adam_update_many_f64(int64_t count, double *const *param, double *const *m,
                                   double *const *v, const double *const *grad,
                                   const int64_t *n, double lr_t, double beta1, double beta2,
                                   double eps, int nthreads)
    int ccnn_all_finite_f32(int64_t count, const float *const *a, const int64_t *n,
                            int nthreads)
    int ccnn_all_finite_f64(int64_t count, const double *const *a, const int64_t *n,
                            int nthreads)
    void ccnn_transpose_batched_f32(float *out, const float *inp, int64_t n, int64_t a,
                                    int64_t b, int nthreads)
    void ccnn_transpose_batched_f64(double *out, const double *inp, int64_t n, int64_t a,
                                    int64_t b, int nthreads)

# The C side: correlate2d with its geometry checked (the raw kernel trusts
# its caller), and the function table for C callers (kernels_capi.h).  The
# designated initialisers let the C compiler check every entry's type.
cdef extern from *:
    """
    #include "ccnn/kernels_capi.h"

    static int ccnn_correlate_dims_ok(const ccnn_correlate_dims *d)
    {
        return d != NULL && d->ha >= 1 && d->wa >= 1 && d->hv >= 1 && d->wv >= 1
            && d->ho >= 1 && d->wo >= 1 && d->off_h >= 0 && d->off_w >= 0
            && d->off_h + d->ho <= d->ha + d->hv - 1 && d->off_w + d->wo <= d->wa + d->wv - 1;
    }
    static int ccnn_correlate2d_checked_f32(float *out, const float *a, const float *v,
                                            const ccnn_correlate_dims *d, int nthreads)
    {
        if (!ccnn_correlate_dims_ok(d)) return CCNN_EBADARG;
        ccnn_correlate2d_f32(out, a, v, d, nthreads);
        return CCNN_OK;
    }
    static int ccnn_correlate2d_checked_f64(double *out, const double *a, const double *v,
                                            const ccnn_correlate_dims *d, int nthreads)
    {
        if (!ccnn_correlate_dims_ok(d)) return CCNN_EBADARG;
        ccnn_correlate2d_f64(out, a, v, d, nthreads);
        return CCNN_OK;
    }

    static const ccnn_kernels_api ccnn_kernels_api_table = {
        .abi_version = CCNN_KERNELS_ABI_VERSION,
        .size = sizeof(ccnn_kernels_api),
        .simd_path = ccnn_simd_path,
        .have_openmp = ccnn_have_openmp,
        .max_threads = ccnn_max_threads,
        .conv2d_dims_init = ccnn_conv2d_dims_init,
        .conv2d_algo = ccnn_conv2d_algo,
        .conv2d_forward_f32 = ccnn_conv2d_forward_f32,
        .conv2d_forward_f64 = ccnn_conv2d_forward_f64,
        .conv2d_backward_f32 = ccnn_conv2d_backward_f32,
        .conv2d_backward_f64 = ccnn_conv2d_backward_f64,
        .pool2d_dims_init = ccnn_pool2d_dims_init,
        .max_pool2d_forward_f32 = ccnn_max_pool2d_forward_f32,
        .max_pool2d_forward_f64 = ccnn_max_pool2d_forward_f64,
        .max_pool2d_backward_f32 = ccnn_max_pool2d_backward_f32,
        .max_pool2d_backward_f64 = ccnn_max_pool2d_backward_f64,
        .avg_pool2d_forward_f32 = ccnn_avg_pool2d_forward_f32,
        .avg_pool2d_forward_f64 = ccnn_avg_pool2d_forward_f64,
        .avg_pool2d_backward_f32 = ccnn_avg_pool2d_backward_f32,
        .avg_pool2d_backward_f64 = ccnn_avg_pool2d_backward_f64,
        .relu_forward_f32 = ccnn_relu_forward_f32,
        .relu_forward_f64 = ccnn_relu_forward_f64,
        .relu_backward_f32 = ccnn_relu_backward_f32,
        .relu_backward_f64 = ccnn_relu_backward_f64,
        .dropout_forward_f32 = ccnn_dropout_forward_f32,
        .dropout_forward_f64 = ccnn_dropout_forward_f64,
        .correlate2d_f32 = ccnn_correlate2d_checked_f32,
        .correlate2d_f64 = ccnn_correlate2d_checked_f64,
        .softmax_forward_f32 = ccnn_softmax_forward_f32,
        .softmax_forward_f64 = ccnn_softmax_forward_f64,
        .softmax_backward_f32 = ccnn_softmax_backward_f32,
        .softmax_backward_f64 = ccnn_softmax_backward_f64,
        .softmax_xent_forward_f32 = ccnn_softmax_xent_forward_f32,
        .softmax_xent_forward_f64 = ccnn_softmax_xent_forward_f64,
        .softmax_xent_backward_f32 = ccnn_softmax_xent_backward_f32,
        .softmax_xent_backward_f64 = ccnn_softmax_xent_backward_f64,
        .softmax_xent_dense_forward_f32 = ccnn_softmax_xent_dense_forward_f32,
        .softmax_xent_dense_forward_f64 = ccnn_softmax_xent_dense_forward_f64,
        .softmax_xent_dense_backward_f32 = ccnn_softmax_xent_dense_backward_f32,
        .softmax_xent_dense_backward_f64 = ccnn_softmax_xent_dense_backward_f64,
        .adam_update_f32 = ccnn_adam_update_f32,
        .adam_update_f64 = ccnn_adam_update_f64,
        .sgd_update_f32 = ccnn_sgd_update_f32,
        .sgd_update_f64 = ccnn_sgd_update_f64,
        /* appended after 0.1.0 */
        .conv2d_relu_forward_f32 = ccnn_conv2d_relu_forward_f32,
        .conv2d_relu_forward_f64 = ccnn_conv2d_relu_forward_f64,
        .conv2d_relu_backward_f32 = ccnn_conv2d_relu_backward_f32,
        .conv2d_relu_backward_f64 = ccnn_conv2d_relu_backward_f64,
        .conv2d_relu_maxpool_supported = ccnn_conv2d_relu_maxpool_supported,
        .conv2d_relu_maxpool_forward_f32 = ccnn_conv2d_relu_maxpool_forward_f32,
        .conv2d_relu_maxpool_forward_f64 = ccnn_conv2d_relu_maxpool_forward_f64,
        .conv2d_relu_maxpool_backward_f32 = ccnn_conv2d_relu_maxpool_backward_f32,
        .conv2d_relu_maxpool_backward_f64 = ccnn_conv2d_relu_maxpool_backward_f64,
        .dense_dims_init = ccnn_dense_dims_init,
        .dense_forward_f32 = ccnn_dense_forward_f32,
        .dense_forward_f64 = ccnn_dense_forward_f64,
        .dense_backward_f32 = ccnn_dense_backward_f32,
        .dense_backward_f64 = ccnn_dense_backward_f64,
        .dropout_sample_f32 = ccnn_dropout_sample_f32,
        .dropout_sample_f64 = ccnn_dropout_sample_f64,
        .adam_update_many_f32 = ccnn_adam_update_many_f32,
        .adam_update_many_f64 = ccnn_adam_update_many_f64,
        .all_finite_f32 = ccnn_all_finite_f32,
        .all_finite_f64 = ccnn_all_finite_f64,
        .transpose_batched_f32 = ccnn_transpose_batched_f32,
        .transpose_batched_f64 = ccnn_transpose_batched_f64,
    };
    #define ccnn_kernels_api_table_ptr() ((void *)&ccnn_kernels_api_table)
    """
    int ccnn_correlate2d_checked_f32(float *out, const float *a, const float *v,
                                     const ccnn_correlate_dims *d, int nthreads) nogil
    int ccnn_correlate2d_checked_f64(double *out, const double *a, const double *v,
                                     const ccnn_correlate_dims *d, int nthreads) nogil
    void *ccnn_kernels_api_table_ptr()
    unsigned int CCNN_KERNELS_ABI_VERSION

#: ABI version of the C function table (kernels_capi.h: CCNN_KERNELS_ABI_VERSION).
C_API_VERSION = CCNN_KERNELS_ABI_VERSION
_C_API = PyCapsule_New(ccnn_kernels_api_table_ptr(), b"ccnn.kernels._C_API", NULL)


# ------------------------------------------------------------ the Cython API
# Each function forwards to the C kernel of the same name (prefix "ccnn_").

cdef const char *simd_path() noexcept nogil:
    return ccnn_simd_path()

cdef int have_openmp() noexcept nogil:
    return ccnn_have_openmp()

cdef int max_threads() noexcept nogil:
    return ccnn_max_threads()

# conv2d
cdef int conv2d_dims_init(ccnn_conv2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t k, int64_t r, int64_t s,
                          int64_t stride_h, int64_t stride_w, int64_t dil_h, int64_t dil_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right) noexcept nogil:
    return ccnn_conv2d_dims_init(d, n, c, h, w, k, r, s, stride_h, stride_w, dil_h, dil_w,
                                 pad_top, pad_bottom, pad_left, pad_right)

cdef int conv2d_algo(const ccnn_conv2d_dims *d, int backward) noexcept nogil:
    return ccnn_conv2d_algo(d, backward)

cdef int conv2d_forward_f32(float *out, const float *inp, const float *weight,
                            const float *bias, const ccnn_conv2d_dims *d,
                            int nthreads) noexcept nogil:
    return ccnn_conv2d_forward_f32(out, inp, weight, bias, d, nthreads)

cdef int conv2d_forward_f64(double *out, const double *inp, const double *weight,
                            const double *bias, const ccnn_conv2d_dims *d,
                            int nthreads) noexcept nogil:
    return ccnn_conv2d_forward_f64(out, inp, weight, bias, d, nthreads)

cdef int conv2d_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight,
                             const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    return ccnn_conv2d_backward_f32(dinp, dweight, dbias, dout, inp, weight, d, nthreads)

cdef int conv2d_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                             const double *inp, const double *weight,
                             const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    return ccnn_conv2d_backward_f64(dinp, dweight, dbias, dout, inp, weight, d, nthreads)

cdef int conv2d_relu_forward_f32(float *out, const float *inp, const float *weight,
                                 const float *bias, const ccnn_conv2d_dims *d,
                                 int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_forward_f32(out, inp, weight, bias, d, nthreads)

cdef int conv2d_relu_forward_f64(double *out, const double *inp, const double *weight,
                                 const double *bias, const ccnn_conv2d_dims *d,
                                 int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_forward_f64(out, inp, weight, bias, d, nthreads)

cdef int conv2d_relu_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *out, const float *inp, const float *weight,
                                  const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_backward_f32(dinp, dweight, dbias, dout, out, inp, weight, d,
                                         nthreads)

cdef int conv2d_relu_backward_f64(double *dinp, double *dweight, double *dbias,
                                  const double *dout, const double *out, const double *inp,
                                  const double *weight, const ccnn_conv2d_dims *d,
                                  int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_backward_f64(dinp, dweight, dbias, dout, out, inp, weight, d,
                                         nthreads)

cdef int conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d) noexcept nogil:
    return ccnn_conv2d_relu_maxpool_supported(d)

cdef int conv2d_relu_maxpool_forward_f32(float *out, uint8_t *argmax, const float *inp,
                                         const float *weight, const float *bias,
                                         const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_maxpool_forward_f32(out, argmax, inp, weight, bias, d, nthreads)

cdef int conv2d_relu_maxpool_forward_f64(double *out, uint8_t *argmax, const double *inp,
                                         const double *weight, const double *bias,
                                         const ccnn_conv2d_dims *d, int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_maxpool_forward_f64(out, argmax, inp, weight, bias, d, nthreads)

cdef int conv2d_relu_maxpool_backward_f32(float *dweight, float *dbias, const float *dout,
                                          const float *out, const uint8_t *argmax,
                                          const float *inp, const ccnn_conv2d_dims *d,
                                          int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_maxpool_backward_f32(dweight, dbias, dout, out, argmax, inp, d,
                                                 nthreads)

cdef int conv2d_relu_maxpool_backward_f64(double *dweight, double *dbias, const double *dout,
                                          const double *out, const uint8_t *argmax,
                                          const double *inp, const ccnn_conv2d_dims *d,
                                          int nthreads) noexcept nogil:
    return ccnn_conv2d_relu_maxpool_backward_f64(dweight, dbias, dout, out, argmax, inp, d,
                                                 nthreads)

# pooling
cdef int pool2d_dims_init(ccnn_pool2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_bottom, int64_t pad_left,
                          int64_t pad_right, int ceil_mode,
                          int count_include_pad) noexcept nogil:
    return ccnn_pool2d_dims_init(d, n, c, h, w, kh, kw, stride_h, stride_w, pad_top,
                                 pad_bottom, pad_left, pad_right, ceil_mode, count_include_pad)

cdef void max_pool2d_forward_f32(float *out, int64_t *argmax, const float *inp,
                                 const ccnn_pool2d_dims *d, int nthreads) noexcept nogil:
    ccnn_max_pool2d_forward_f32(out, argmax, inp, d, nthreads)

cdef void max_pool2d_forward_f64(double *out, int64_t *argmax, const double *inp,
                                 const ccnn_pool2d_dims *d, int nthreads) noexcept nogil:
    ccnn_max_pool2d_forward_f64(out, argmax, inp, d, nthreads)

cdef void max_pool2d_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads) noexcept nogil:
    ccnn_max_pool2d_backward_f32(dinp, dout, argmax, d, nthreads)

cdef void max_pool2d_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads) noexcept nogil:
    ccnn_max_pool2d_backward_f64(dinp, dout, argmax, d, nthreads)

cdef void avg_pool2d_forward_f32(float *out, const float *inp, const ccnn_pool2d_dims *d,
                                 int nthreads) noexcept nogil:
    ccnn_avg_pool2d_forward_f32(out, inp, d, nthreads)

cdef void avg_pool2d_forward_f64(double *out, const double *inp, const ccnn_pool2d_dims *d,
                                 int nthreads) noexcept nogil:
    ccnn_avg_pool2d_forward_f64(out, inp, d, nthreads)

cdef void avg_pool2d_backward_f32(float *dinp, const float *dout, const ccnn_pool2d_dims *d,
                                  int nthreads) noexcept nogil:
    ccnn_avg_pool2d_backward_f32(dinp, dout, d, nthreads)

cdef void avg_pool2d_backward_f64(double *dinp, const double *dout, const ccnn_pool2d_dims *d,
                                  int nthreads) noexcept nogil:
    ccnn_avg_pool2d_backward_f64(dinp, dout, d, nthreads)

# activations
cdef void relu_forward_f32(float *out, const float *inp, int64_t n,
                           int nthreads) noexcept nogil:
    ccnn_relu_forward_f32(out, inp, n, nthreads)

cdef void relu_forward_f64(double *out, const double *inp, int64_t n,
                           int nthreads) noexcept nogil:
    ccnn_relu_forward_f64(out, inp, n, nthreads)

cdef void relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n,
                            int nthreads) noexcept nogil:
    ccnn_relu_backward_f32(dinp, dout, inp, n, nthreads)

cdef void relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n,
                            int nthreads) noexcept nogil:
    ccnn_relu_backward_f64(dinp, dout, inp, n, nthreads)

cdef void dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                              int64_t n, int nthreads) noexcept nogil:
    ccnn_dropout_forward_f32(out, inp, mask, scale, n, nthreads)

cdef void dropout_forward_f64(double *out, const double *inp, const uint8_t *mask,
                              double scale, int64_t n, int nthreads) noexcept nogil:
    ccnn_dropout_forward_f64(out, inp, mask, scale, n, nthreads)

cdef void dropout_backward_f32(float *dinp, const float *dout, const uint8_t *mask,
                               float scale, int64_t n, int nthreads) noexcept nogil:
    ccnn_dropout_forward_f32(dinp, dout, mask, scale, n, nthreads)

cdef void dropout_backward_f64(double *dinp, const double *dout, const uint8_t *mask,
                               double scale, int64_t n, int nthreads) noexcept nogil:
    ccnn_dropout_forward_f64(dinp, dout, mask, scale, n, nthreads)

cdef void dropout_sample_f32(float *out, uint8_t *mask, const float *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads) noexcept nogil:
    ccnn_dropout_sample_f32(out, mask, inp, n, rate, seed, nthreads)

cdef void dropout_sample_f64(double *out, uint8_t *mask, const double *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads) noexcept nogil:
    ccnn_dropout_sample_f64(out, mask, inp, n, rate, seed, nthreads)

# correlate
cdef int correlate2d_f32(float *out, const float *a, const float *v,
                         const ccnn_correlate_dims *d, int nthreads) noexcept nogil:
    return ccnn_correlate2d_checked_f32(out, a, v, d, nthreads)

cdef int correlate2d_f64(double *out, const double *a, const double *v,
                         const ccnn_correlate_dims *d, int nthreads) noexcept nogil:
    return ccnn_correlate2d_checked_f64(out, a, v, d, nthreads)

# loss
cdef void softmax_forward_f32(float *probs, const float *logits, int64_t n, int64_t classes,
                              int nthreads) noexcept nogil:
    ccnn_softmax_forward_f32(probs, logits, n, classes, nthreads)

cdef void softmax_forward_f64(double *probs, const double *logits, int64_t n,
                              int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_forward_f64(probs, logits, n, classes, nthreads)

cdef void softmax_backward_f32(float *dinp, const float *dout, const float *probs, int64_t n,
                               int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_backward_f32(dinp, dout, probs, n, classes, nthreads)

cdef void softmax_backward_f64(double *dinp, const double *dout, const double *probs,
                               int64_t n, int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_backward_f64(dinp, dout, probs, n, classes, nthreads)

cdef void softmax_xent_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                   const int64_t *labels, int64_t n, int64_t classes,
                                   int nthreads) noexcept nogil:
    ccnn_softmax_xent_forward_f32(loss_per_row, probs, logits, labels, n, classes, nthreads)

cdef void softmax_xent_forward_f64(double *loss_per_row, double *probs, const double *logits,
                                   const int64_t *labels, int64_t n, int64_t classes,
                                   int nthreads) noexcept nogil:
    ccnn_softmax_xent_forward_f64(loss_per_row, probs, logits, labels, n, classes, nthreads)

cdef void softmax_xent_backward_f32(float *dlogits, const float *probs, const int64_t *labels,
                                    int64_t n, int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_xent_backward_f32(dlogits, probs, labels, n, classes, nthreads)

cdef void softmax_xent_backward_f64(double *dlogits, const double *probs,
                                    const int64_t *labels, int64_t n, int64_t classes,
                                    int nthreads) noexcept nogil:
    ccnn_softmax_xent_backward_f64(dlogits, probs, labels, n, classes, nthreads)

cdef void softmax_xent_dense_forward_f32(float *loss_per_row, float *probs,
                                         const float *logits, const float *targets, int64_t n,
                                         int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_xent_dense_forward_f32(loss_per_row, probs, logits, targets, n, classes,
                                        nthreads)

cdef void softmax_xent_dense_forward_f64(double *loss_per_row, double *probs,
                                         const double *logits, const double *targets,
                                         int64_t n, int64_t classes, int nthreads) noexcept nogil:
    ccnn_softmax_xent_dense_forward_f64(loss_per_row, probs, logits, targets, n, classes,
                                        nthreads)

cdef void softmax_xent_dense_backward_f32(float *dlogits, const float *probs,
                                          const float *targets, int64_t n, int64_t classes,
                                          int nthreads) noexcept nogil:
    ccnn_softmax_xent_dense_backward_f32(dlogits, probs, targets, n, classes, nthreads)

cdef void softmax_xent_dense_backward_f64(double *dlogits, const double *probs,
                                          const double *targets, int64_t n, int64_t classes,
                                          int nthreads) noexcept nogil:
    ccnn_softmax_xent_dense_backward_f64(dlogits, probs, targets, n, classes, nthreads)

# optimizers
cdef void adam_update_f32(float *param, float *m, float *v, const float *grad, int64_t n,
                          float lr_t, float beta1, float beta2, float eps,
                          int nthreads) noexcept nogil:
    ccnn_adam_update_f32(param, m, v, grad, n, lr_t, beta1, beta2, eps, nthreads)

cdef void adam_update_f64(double *param, double *m, double *v, const double *grad, int64_t n,
                          double lr_t, double beta1, double beta2, double eps,
                          int nthreads) noexcept nogil:
    ccnn_adam_update_f64(param, m, v, grad, n, lr_t, beta1, beta2, eps, nthreads)

cdef void sgd_update_f32(float *param, float *velocity, const float *grad, int64_t n, float lr,
                         float momentum, int nesterov, int nthreads) noexcept nogil:
    ccnn_sgd_update_f32(param, velocity, grad, n, lr, momentum, nesterov, nthreads)

cdef void sgd_update_f64(double *param, double *velocity, const double *grad, int64_t n,
                         double lr, double momentum, int nesterov, int nthreads) noexcept nogil:
    ccnn_sgd_update_f64(param, velocity, grad, n, lr, momentum, nesterov, nthreads)

cdef void adam_update_many_f32(int64_t count, float *const *param, float *const *m,
                               float *const *v, const float *const *grad, const int64_t *n,
                               float lr_t, float beta1, float beta2, float eps,
                               int nthreads) noexcept nogil:
    ccnn_adam_update_many_f32(count, param, m, v, grad, n, lr_t, beta1, beta2, eps, nthreads)

cdef void adam_update_many_f64(int64_t count, double *const *param, double *const *m,
                               double *const *v, const double *const *grad, const int64_t *n,
                               double lr_t, double beta1, double beta2, double eps,
                               int nthreads) noexcept nogil:
    ccnn_adam_update_many_f64(count, param, m, v, grad, n, lr_t, beta1, beta2, eps, nthreads)

cdef int all_finite_f32(int64_t count, const float *const *a, const int64_t *n,
                        int nthreads) noexcept nogil:
    return ccnn_all_finite_f32(count, a, n, nthreads)

cdef int all_finite_f64(int64_t count, const double *const *a, const int64_t *n,
                        int nthreads) noexcept nogil:
    return ccnn_all_finite_f64(count, a, n, nthreads)

# dense
cdef int dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in_,
                         int64_t units) noexcept nogil:
    return ccnn_dense_dims_init(d, n, in_, units)

cdef int dense_forward_f32(float *out, const float *inp, const float *weight, const float *bias,
                           const ccnn_dense_dims *d, int relu, int nthreads) noexcept nogil:
    return ccnn_dense_forward_f32(out, inp, weight, bias, d, relu, nthreads)

cdef int dense_forward_f64(double *out, const double *inp, const double *weight,
                           const double *bias, const ccnn_dense_dims *d, int relu,
                           int nthreads) noexcept nogil:
    return ccnn_dense_forward_f64(out, inp, weight, bias, d, relu, nthreads)

cdef int dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *relu_out, const float *inp, const float *weight,
                            const ccnn_dense_dims *d, int nthreads) noexcept nogil:
    return ccnn_dense_backward_f32(dinp, dweight, dbias, dout, relu_out, inp, weight, d,
                                   nthreads)

cdef int dense_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                            const double *relu_out, const double *inp, const double *weight,
                            const ccnn_dense_dims *d, int nthreads) noexcept nogil:
    return ccnn_dense_backward_f64(dinp, dweight, dbias, dout, relu_out, inp, weight, d,
                                   nthreads)

# layout
cdef void transpose_batched_f32(float *out, const float *inp, int64_t n, int64_t a, int64_t b,
                                int nthreads) noexcept nogil:
    ccnn_transpose_batched_f32(out, inp, n, a, b, nthreads)

cdef void transpose_batched_f64(double *out, const double *inp, int64_t n, int64_t a,
                                int64_t b, int nthreads) noexcept nogil:
    ccnn_transpose_batched_f64(out, inp, n, a, b, nthreads)
