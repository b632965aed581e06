# ckernels.pxd -- Cython declarations of ccnn's C kernels (csrc/*.h).
# Every kernel is nogil: it touches no Python object and may run while other
# Python threads do.
from libc.stdint cimport int64_t, uint8_t

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
    void ccnn_conv2d_forward_f32(float *out, const float *inp, const float *weight,
                                 const float *bias, const ccnn_conv2d_dims *d, int nthreads)
    void ccnn_conv2d_forward_f64(double *out, const double *inp, const double *weight,
                                 const double *bias, const ccnn_conv2d_dims *d, int nthreads)
    void ccnn_conv2d_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight,
                                  const ccnn_conv2d_dims *d, int nthreads)
    void ccnn_conv2d_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                                  const double *inp, const double *weight,
                                  const ccnn_conv2d_dims *d, int nthreads)

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
    void ccnn_avg_pool2d_forward_f32(float *out, const float *inp, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_forward_f64(double *out, const double *inp, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_backward_f32(float *dinp, const float *dout, const ccnn_pool2d_dims *d, int nthreads)
    void ccnn_avg_pool2d_backward_f64(double *dinp, const double *dout, const ccnn_pool2d_dims *d, int nthreads)

cdef extern from "activation.h" nogil:
    void ccnn_relu_forward_f32(float *out, const float *inp, int64_t n, int nthreads)
    void ccnn_relu_forward_f64(double *out, const double *inp, int64_t n, int nthreads)
    void ccnn_relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n, int nthreads)
    void ccnn_relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n, int nthreads)
    void ccnn_dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                                  int64_t n, int nthreads)
    void ccnn_dropout_forward_f64(double *out, const double *inp, const uint8_t *mask, double scale,
                                  int64_t n, int nthreads)

cdef extern from "correlate.h" nogil:
    ctypedef struct ccnn_correlate_dims:
        int64_t ha, wa, hv, wv, ho, wo, off_h, off_w
    void ccnn_correlate2d_f32(float *out, const float *a, const float *v,
                              const ccnn_correlate_dims *d, int nthreads)
    void ccnn_correlate2d_f64(double *out, const double *a, const double *v,
                              const ccnn_correlate_dims *d, int nthreads)
