/* batchnorm.h -- batch normalization over all axes but one (the channels).
 *
 * The input is seen as (outer, c, inner), contiguous: NCHW images are
 * (n, c, h*w); channels-last images and Dense outputs are (n*h*w, c, 1).
 * M = outer * inner values per channel.
 *
 *   stats:    mean[j] = sum x / M,  var[j] = sum (x - mean)^2 / M   (biased; two passes,
 *             sums in double)
 *   forward:  out = (x - mean) * invstd * gamma + beta,  invstd = 1 / sqrt(var + eps)
 *   backward: training (the batch statistics depend on x):
 *               dbeta = sum dout,  dgamma = sum dout * xhat,  xhat = (x - mean) * invstd
 *               dx = gamma * invstd * (dout - dbeta / M - xhat * dgamma / M)
 *             inference (fixed statistics): dx = dout * gamma * invstd
 * gamma / beta may be NULL (scale 1 / shift 0); dgamma / dbeta may be NULL
 * to skip them (they are still computed internally in training mode). */
#ifndef CCNN_BATCHNORM_H
#define CCNN_BATCHNORM_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* mean, var: (c); x: (outer, c, inner) */
void ccnn_batchnorm_stats_f32(float *mean, float *var, const float *x, int64_t outer,
                              int64_t c, int64_t inner, int nthreads);
void ccnn_batchnorm_stats_f64(double *mean, double *var, const double *x, int64_t outer,
                              int64_t c, int64_t inner, int nthreads);

/* out, x: (outer, c, inner) -- out may equal x; mean, invstd, gamma, beta: (c) */
void ccnn_batchnorm_forward_f32(float *out, const float *x, const float *mean,
                                const float *invstd, const float *gamma, const float *beta,
                                int64_t outer, int64_t c, int64_t inner, int nthreads);
void ccnn_batchnorm_forward_f64(double *out, const double *x, const double *mean,
                                const double *invstd, const double *gamma, const double *beta,
                                int64_t outer, int64_t c, int64_t inner, int nthreads);

/* dx, dout, x: (outer, c, inner) -- dx may equal dout; dgamma, dbeta, mean, invstd,
 * gamma: (c).  training: 1 when mean / invstd are the batch's own statistics. */
void ccnn_batchnorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dout,
                                 const float *x, const float *mean, const float *invstd,
                                 const float *gamma, int64_t outer, int64_t c, int64_t inner,
                                 int training, int nthreads);
void ccnn_batchnorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dout,
                                 const double *x, const double *mean, const double *invstd,
                                 const double *gamma, int64_t outer, int64_t c, int64_t inner,
                                 int training, int nthreads);

/* Batch normalization (training mode) fused with a ReLU: y = relu(BN(x)) with
 * the batch's statistics, bit for bit what batchnorm_stats, invstd = (REAL)(1 /
 * sqrt((double)var + eps)), batchnorm_forward and relu_forward give one after
 * the other; mean, var (biased), invstd: (c) written.  out, x: (outer, c,
 * inner), not overlapping; gamma, beta: (c) or NULL.  Returns CCNN_OK. */
int ccnn_batchnorm_relu_forward_f32(float *out, float *mean, float *var, float *invstd,
                                    const float *x, const float *gamma, const float *beta,
                                    double eps, int64_t outer, int64_t c, int64_t inner,
                                    int nthreads);
int ccnn_batchnorm_relu_forward_f64(double *out, double *mean, double *var, double *invstd,
                                    const double *x, const double *gamma, const double *beta,
                                    double eps, int64_t outer, int64_t c, int64_t inner,
                                    int nthreads);

/* Its backward: bit for bit relu_backward (dz = dout * (y > 0)) then
 * batchnorm_backward(training = 1) of dz; y the forward's output, x its input.
 * dx (may equal dout; NULL to skip), dout, y, x: (outer, c, inner); dgamma,
 * dbeta (NULL to skip), mean, invstd, gamma: (c).  Returns CCNN_OK or
 * CCNN_ENOMEM (nothing written). */
int ccnn_batchnorm_relu_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dout,
                                     const float *y, const float *x, const float *mean,
                                     const float *invstd, const float *gamma, int64_t outer,
                                     int64_t c, int64_t inner, int nthreads);
int ccnn_batchnorm_relu_backward_f64(double *dx, double *dgamma, double *dbeta,
                                     const double *dout, const double *y, const double *x,
                                     const double *mean, const double *invstd,
                                     const double *gamma, int64_t outer, int64_t c,
                                     int64_t inner, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_BATCHNORM_H */
