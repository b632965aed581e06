/* optim.h -- fused optimizer updates: one pass over a parameter array.
 *
 * Adam (Keras's "epsilon hat" form; the step-dependent bias correction is
 * folded into lr_t by the caller: lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)):
 *     m     = beta1 * m + (1 - beta1) * g
 *     v     = beta2 * v + (1 - beta2) * g^2
 *     param = param - lr_t * m / (sqrt(v) + eps)
 *
 * SGD (Keras):
 *     momentum == 0 (velocity may be NULL):  param = param - lr * g
 *     else:  velocity = momentum * velocity - lr * g
 *            param    = param + velocity                        (classic)
 *            param    = param + momentum * velocity - lr * g    (nesterov)
 *
 * All arrays are flat, length n, C-contiguous, and must not overlap (except
 * that nothing is read after it is written for the same index).  State arrays
 * (m, v, velocity) are updated in place.  Parallel over chunks of the arrays;
 * small arrays stay serial.
 */
#ifndef CCNN_OPTIM_H
#define CCNN_OPTIM_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* param, m, v: (n), updated in place; grad: (n) */
void ccnn_adam_update_f32(float *param, float *m, float *v, const float *grad, int64_t n,
                          float lr_t, float beta1, float beta2, float eps, int nthreads);
void ccnn_adam_update_f64(double *param, double *m, double *v, const double *grad, int64_t n,
                          double lr_t, double beta1, double beta2, double eps, int nthreads);

/* param: (n), updated in place; velocity: (n) updated in place, or NULL when
 * momentum == 0; grad: (n) */
void ccnn_sgd_update_f32(float *param, float *velocity, const float *grad, int64_t n,
                         float lr, float momentum, int nesterov, int nthreads);
void ccnn_sgd_update_f64(double *param, double *velocity, const double *grad, int64_t n,
                         double lr, double momentum, int nesterov, int nthreads);

/* Adam over `count` arrays in one pass (one parallel region for all of
 * them, work split into fixed chunks across the arrays):
 * param[i], m[i], v[i], grad[i]: (n[i]) for i < count.  Same update as
 * ccnn_adam_update, bit for bit. */
void ccnn_adam_update_many_f32(int64_t count, float *const *param, float *const *m,
                               float *const *v, const float *const *grad, const int64_t *n,
                               float lr_t, float beta1, float beta2, float eps, int nthreads);
void ccnn_adam_update_many_f64(int64_t count, double *const *param, double *const *m,
                               double *const *v, const double *const *grad, const int64_t *n,
                               double lr_t, double beta1, double beta2, double eps,
                               int nthreads);

/* 1 when every element of the `count` arrays a[i]: (n[i]) is finite, else 0. */
int ccnn_all_finite_f32(int64_t count, const float *const *a, const int64_t *n, int nthreads);
int ccnn_all_finite_f64(int64_t count, const double *const *a, const int64_t *n, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_OPTIM_H */
