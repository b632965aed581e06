/* layernorm.h -- layer normalization over each row of a (rows, cols) array
 * (the normalized axes of a sample flattened into cols), forward and backward:
 *
 *   mean[r] = sum_j x[r, j] / cols,   var[r] = sum_j (x[r, j] - mean[r])^2 / cols
 *   rstd[r] = 1 / sqrt(var[r] + eps)
 *   out[r, j] = (x[r, j] - mean[r]) * rstd[r] * gamma[j] + beta[j]
 *
 * gamma / beta may be NULL (1 and 0).  The backward (xhat = (x - mean) * rstd,
 * dxhat = dout * gamma):
 *   dx[r, j]  = rstd[r] * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat))
 *   dgamma[j] = sum_r dout[r, j] * xhat[r, j],   dbeta[j] = sum_r dout[r, j]
 * Row statistics and the column sums are accumulated in double; the column
 * sums over fixed blocks of rows added in block order, so every result is
 * the same on any thread count. */
#ifndef CCNN_LAYERNORM_H
#define CCNN_LAYERNORM_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out, x: (rows, cols), cols >= 1; mean, rstd: (rows), in double, written for the
 * backward; gamma, beta: (cols) or NULL */
void ccnn_layernorm_forward_f32(float *out, double *mean, double *rstd, const float *x,
                                const float *gamma, const float *beta, int64_t rows,
                                int64_t cols, double eps, int nthreads);
void ccnn_layernorm_forward_f64(double *out, double *mean, double *rstd, const double *x,
                                const double *gamma, const double *beta, int64_t rows,
                                int64_t cols, double eps, int nthreads);
/* dx: (rows, cols) or NULL; dgamma, dbeta: (cols) or NULL, overwritten;
 * dout, x: (rows, cols); mean, rstd: (rows) from the forward; gamma: (cols) or
 * NULL.  CCNN_ENOMEM (nothing written) when the column-sum workspace cannot
 * be allocated. */
int ccnn_layernorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dout,
                                const float *x, const double *mean, const double *rstd,
                                const float *gamma, int64_t rows, int64_t cols, int nthreads);
int ccnn_layernorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dout,
                                const double *x, const double *mean, const double *rstd,
                                const double *gamma, int64_t rows, int64_t cols,
                                int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_LAYERNORM_H */
