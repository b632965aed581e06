/* global_pool.h -- global average and max pooling over each row of a
 * (rows, len) array: NCHW images are rows = n * c, len = h * w.
 *
 *   avg: out[r] = sum_i inp[r, i] / len;        dinp[r, i] = dout[r] / len
 *   max: out[r] = max_i inp[r, i], argmax[r] its index (the first maximum;
 *        a NaN wins over everything, the first NaN, as max pooling);
 *        dinp[r, i] = dout[r] at i == argmax[r], else 0. */
#ifndef CCNN_GLOBAL_POOL_H
#define CCNN_GLOBAL_POOL_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out: (rows); inp: (rows, len), len >= 1 */
void ccnn_global_avg_pool_forward_f32(float *out, const float *inp, int64_t rows, int64_t len,
                                      int nthreads);
void ccnn_global_avg_pool_forward_f64(double *out, const double *inp, int64_t rows, int64_t len,
                                      int nthreads);
/* dinp: (rows, len) overwritten; dout: (rows) */
void ccnn_global_avg_pool_backward_f32(float *dinp, const float *dout, int64_t rows, int64_t len,
                                       int nthreads);
void ccnn_global_avg_pool_backward_f64(double *dinp, const double *dout, int64_t rows,
                                       int64_t len, int nthreads);
/* out, argmax: (rows); inp: (rows, len), len >= 1 */
void ccnn_global_max_pool_forward_f32(float *out, int64_t *argmax, const float *inp,
                                      int64_t rows, int64_t len, int nthreads);
void ccnn_global_max_pool_forward_f64(double *out, int64_t *argmax, const double *inp,
                                      int64_t rows, int64_t len, int nthreads);
/* dinp: (rows, len) overwritten; dout, argmax: (rows), argmax in [0, len)
 * (checked: CCNN_EBADARG and nothing written otherwise) */
int ccnn_global_max_pool_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                      int64_t rows, int64_t len, int nthreads);
int ccnn_global_max_pool_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                      int64_t rows, int64_t len, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_GLOBAL_POOL_H */
