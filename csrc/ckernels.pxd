# ckernels.pxd -- Cython declarations of ccnn's C kernels (csrc/*.h).
# Every kernel is nogil: it touches no Python object and may run while other
# Python threads do.
from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "ccnn_common.h" nogil:
    enum:
        CCNN_OK
        CCNN_EBADARG
        CCNN_EEMPTY
        CCNN_EOVERFLOW
    int64_t ccnn_out_size(int64_t inp, int64_t pad_lo, int64_t pad_hi, int64_t k,
                          int64_t stride, int64_t dilation, int ceil_mode)
    const char *ccnn_simd_path()
    int ccnn_have_openmp()
    int ccnn_max_threads()

cdef extern from "conv2d.h" nogil:
    ctypedef struct ccnn_conv2d_dims:
        int64_t n, c, h, w, k, r, s, p, q
        int64_t stride_h, stride_w, dil_h, dil_w
        int64_t pad_top, pad_bottom, pad_left, pad_right
    int ccnn_conv2d_dims_init(ccnn_conv2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                              int64_t k, int64_t r, int64_t s,
                              int64_t stride_h, int64_t stride_w, int64_t dil_h, int64_t dil_w,
                              int64_t pad_top, int64_t pad_bottom, int64_t pad_left, int64_t pad_right)
    enum:
        CCNN_CONV_DIRECT
        CCNN_CONV_GEMM
        CCNN_CONV_WINOGRAD
    enum:
        CCNN_PASS_FORWARD
        CCNN_PASS_DATA
        CCNN_PASS_WEIGHT
    int ccnn_conv2d_algo(const ccnn_conv2d_dims *d, int pass_)
    int ccnn_conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_winograd_eligible(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_winograd_data_eligible(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_winograd_supported(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_winograd_data_supported(const ccnn_conv2d_dims *d)
    int ccnn_conv2d_forward_winograd_f32(float *out, const float *inp, const float *weight,
                                         const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_winograd_f64(double *out, const double *inp, const double *weight,
                                         const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_winograd_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                          const float *inp, const float *weight,
                                          const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_winograd_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                          const double *inp, const double *weight,
                                          const ccnn_conv2d_dims *d, int nthreads)
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
    int ccnn_conv2d_relu_maxpool_backward_f64(double *dweight, double *dbias, const double *dout,
                                              const double *out, const uint8_t *argmax,
                                              const double *inp, const ccnn_conv2d_dims *d,
                                              int nthreads)
    int ccnn_conv2d_relu_forward_f32(float *out, const float *inp, const float *weight,
                                     const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_forward_f64(double *out, const double *inp, const double *weight,
                                     const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                      const float *out, const float *inp, const float *weight,
                                      const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_relu_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                      const double *out, const double *inp, const double *weight,
                                      const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_f32(float *out, const float *inp, const float *weight,
                                const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_f64(double *out, const double *inp, const double *weight,
                                const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_direct_f32(float *out, const float *inp, const float *weight,
                                        const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_direct_f64(double *out, const double *inp, const double *weight,
                                        const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_gemm_f32(float *out, const float *inp, const float *weight,
                                     const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_forward_gemm_f64(double *out, const double *inp, const double *weight,
                                     const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight,
                                 const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                 const double *inp, const double *weight,
                                 const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_direct_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                         const float *inp, const float *weight,
                                         const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_direct_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                         const double *inp, const double *weight,
                                         const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_gemm_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                      const float *inp, const float *weight,
                                      const ccnn_conv2d_dims *d, int nthreads)
    int ccnn_conv2d_backward_gemm_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                      const double *inp, const double *weight,
                                      const ccnn_conv2d_dims *d, int nthreads)

cdef extern from "dense.h" nogil:
    ctypedef struct ccnn_dense_dims:
        int64_t n, units
        int64_t in_ "in"
    int ccnn_dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in_, int64_t units)
    int ccnn_dense_forward_f32(float *out, const float *inp, const float *weight, const float *bias,
                               const ccnn_dense_dims *d, int relu, int nthreads)
    int ccnn_dense_forward_f64(double *out, const double *inp, const double *weight,
                               const double *bias, const ccnn_dense_dims *d, int relu, int nthreads)
    int ccnn_dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *relu_out, const float *inp, const float *weight,
                                const ccnn_dense_dims *d, int nthreads)
    int ccnn_dense_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                const double *relu_out, const double *inp, const double *weight,
                                const ccnn_dense_dims *d, int nthreads)

cdef extern from "gemm.h" nogil:
    const char *ccnn_gemm_kernel_name()

cdef extern from "pool.h" nogil:
    ctypedef struct ccnn_pool2d_dims:
        int64_t n, c, h, w, kh, kw, p, q
        int64_t stride_h, stride_w
        int64_t pad_top, pad_bottom, pad_left, pad_right
        int ceil_mode, count_include_pad
    int ccnn_pool2d_dims_init(ccnn_pool2d_dims *d, int64_t n, int64_t c, int64_t h, int64_t w,
                              int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                              int64_t pad_top, int64_t pad_bottom, int64_t pad_left, int64_t pad_right,
                              int ceil_mode, int count_include_pad)
    void ccnn_max_pool2d_forward_f32(float *out, int64_t *argmax, const float *inp,
                                     const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_forward_f64(double *out, int64_t *argmax, const double *inp,
                                     const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                      const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                      const ccnn_pool2d_dims *d, int nthreads)
    int ccnn_max_pool2d_backward_checked_f32(float *dinp, const float *dout, const int64_t *argmax,
                                             const ccnn_pool2d_dims *d, int nthreads)
    int ccnn_max_pool2d_backward_checked_f64(double *dinp, const double *dout, const int64_t *argmax,
                                             const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_recompute_f32(float *dinp, const float *dout, const float *inp,
                                                const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_max_pool2d_backward_recompute_f64(double *dinp, const double *dout, const double *inp,
                                                const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_forward_f32(float *out, const float *inp, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_forward_f64(double *out, const double *inp, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_backward_f32(float *dinp, const float *dout, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_backward_f64(double *dinp, const double *dout, const ccnn_pool2d_dims *d, int nthreads)

cdef extern from "activation.h" nogil:
    void ccnn_relu_forward_f32(float *out, const float *inp, int64_t n, int nthreads)
    void ccnn_relu_forward_f64(double *out, const double *inp, int64_t n, int nthreads)
    void ccnn_relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n, int nthreads)
    void ccnn_relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n, int nthreads)
    void ccnn_dropout_sample_f32(float *out, uint8_t *mask, const float *inp, int64_t n,
                                 double rate, uint64_t seed, int nthreads)
    void ccnn_dropout_sample_f64(double *out, uint8_t *mask, const double *inp, int64_t n,
                                 double rate, uint64_t seed, int nthreads)
    void ccnn_dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                                  int64_t n, int nthreads)
    void ccnn_dropout_forward_f64(double *out, const double *inp, const uint8_t *mask, double scale,
                                  int64_t n, int nthreads)

cdef extern from "correlate.h" nogil:
    ctypedef struct ccnn_correlate_dims:
        int64_t ha, wa, hv, wv, ho, wo, off_h, off_w
        int multiply_fill
    void ccnn_correlate2d_f32(float *out, const float *a, const float *v,
                              const ccnn_correlate_dims *d, int nthreads)
    void ccnn_correlate2d_f64(double *out, const double *a, const double *v,
                              const ccnn_correlate_dims *d, int nthreads)

cdef extern from "loss.h" nogil:
    void ccnn_softmax_forward_f32(float *probs, const float *logits, int64_t n, int64_t classes,
                                  int nthreads)
    void ccnn_softmax_forward_f64(double *probs, const double *logits, int64_t n, int64_t classes,
                                  int nthreads)
    void ccnn_softmax_backward_f32(float *dinp, const float *dout, const float *probs, int64_t n,
                                   int64_t classes, int nthreads)
    void ccnn_softmax_backward_f64(double *dinp, const double *dout, const double *probs, int64_t n,
                                   int64_t classes, int nthreads)
    void ccnn_softmax_xent_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                       const int64_t *labels, int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_forward_f64(double *loss_per_row, double *probs, const double *logits,
                                       const int64_t *labels, int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_backward_f32(float *dlogits, const float *probs, const int64_t *labels,
                                        int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_backward_f64(double *dlogits, const double *probs, const int64_t *labels,
                                        int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_dense_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                             const float *targets, int64_t n, int64_t classes,
                                             int nthreads)
    void ccnn_softmax_xent_dense_forward_f64(double *loss_per_row, double *probs,
                                             const double *logits, const double *targets,
                                             int64_t n, int64_t classes, int nthreads)
    void ccnn_softmax_xent_dense_backward_f32(float *dlogits, const float *probs,
                                              const float *targets, int64_t n, int64_t classes,
                                              int nthreads)
    void ccnn_softmax_xent_dense_backward_f64(double *dlogits, const double *probs,
                                              const double *targets, int64_t n, int64_t classes,
                                              int nthreads)

cdef extern from "optim.h" nogil:
    void ccnn_adam_update_f32(float *param, float *m, float *v, const float *grad, int64_t n,
                              float lr_t, float beta1, float beta2, float eps, int nthreads)
    void ccnn_adam_update_f64(double *param, double *m, double *v, const double *grad, int64_t n,
                              double lr_t, double beta1, double beta2, double eps, int nthreads)
    void ccnn_adam_update_many_f32(int64_t count, float **param, float **m, float **v,
                                   const float **grad, const int64_t *n, float lr_t, float beta1,
                                   float beta2, float eps, int nthreads)
    void ccnn_adam_update_many_f64(int64_t count, double **param, double **m, double **v,
                                   const double **grad, const int64_t *n, double lr_t,
                                   double beta1, double beta2, double eps, int nthreads)
    int ccnn_all_finite_f32(int64_t count, const float **a, const int64_t *n, int nthreads)
    int ccnn_all_finite_f64(int64_t count, const double **a, const int64_t *n, int nthreads)
    void ccnn_sgd_update_f32(float *param, float *velocity, const float *grad, int64_t n,
                             float lr, float momentum, int nesterov, int nthreads)
    void ccnn_sgd_update_f64(double *param, double *velocity, const double *grad, int64_t n,
                             double lr, double momentum, int nesterov, int nthreads)

cdef extern from "layout.h" nogil:
    void ccnn_transpose_batched_f32(float *out, const float *inp, int64_t n, int64_t a, int64_t b,
                                    int nthreads)
    void ccnn_transpose_batched_f64(double *out, const double *inp, int64_t n, int64_t a, int64_t b,
                                    int nthreads)
