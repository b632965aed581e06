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

/* ---- step kernels (Keras 3's optimizers, with its base-class pre-steps) ----
 * Each updates `count` arrays in one pass: param[i], the state arrays [i] and
 * grad[i] are (n[i]).  Before the update, per array a and element i:
 *     g = grad * gscale[a]            (clipnorm / global_clipnorm; gscale NULL: 1)
 *     g = clamp(g, -clipvalue, clipvalue)          (only when clipvalue > 0)
 *     param = param - param * decay[a]  (weight decay * lr; decay NULL: none)
 * gscale, decay: (count) or NULL.  The formulas are Keras's (keras/src/optimizers/<name>.py). */

/* out (count) = sum of squares of each x[i] (n[i]), accumulated in double, the
 * same for any thread count.  CCNN_OK or CCNN_ENOMEM. */
int ccnn_sum_squares_f32(double *out, int64_t count, const float *const *x, const int64_t *n,
                         int nthreads);
int ccnn_sum_squares_f64(double *out, int64_t count, const double *const *x, const int64_t *n,
                         int nthreads);

/* Adam: m, v; vhat (AMSGrad's max of v) or NULL; lr_t as adam_update */
void ccnn_adam_step_f32(int64_t count, float *const *param, float *const *m, float *const *v,
        float *const *vhat, const float *const *grad, const int64_t *n, const double *gscale,
        double clipvalue, const double *decay, float lr_t, float beta1, float beta2, float eps,
        int nthreads);
void ccnn_adam_step_f64(int64_t count, double *const *param, double *const *m, double *const *v,
        double *const *vhat, const double *const *grad, const int64_t *n, const double *gscale,
        double clipvalue, const double *decay, double lr_t, double beta1, double beta2,
        double eps, int nthreads);

/* SGD: velocity (NULL when momentum == 0) */
void ccnn_sgd_step_f32(int64_t count, float *const *param, float *const *velocity,
        const float *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, float lr, float momentum, int nesterov, int nthreads);
void ccnn_sgd_step_f64(int64_t count, double *const *param, double *const *velocity,
        const double *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, double lr, double momentum, int nesterov, int nthreads);

/* RMSprop: velocity; momentum_buf (NULL when momentum == 0); average_grad (centered,
 * else NULL) */
void ccnn_rmsprop_step_f32(int64_t count, float *const *param, float *const *velocity,
        float *const *momentum_buf, float *const *average_grad, const float *const *grad,
        const int64_t *n, const double *gscale, double clipvalue, const double *decay, float lr,
        float rho, float momentum, float eps, int nthreads);
void ccnn_rmsprop_step_f64(int64_t count, double *const *param, double *const *velocity,
        double *const *momentum_buf, double *const *average_grad, const double *const *grad,
        const int64_t *n, const double *gscale, double clipvalue, const double *decay,
        double lr, double rho, double momentum, double eps, int nthreads);

/* Adagrad: accumulator */
void ccnn_adagrad_step_f32(int64_t count, float *const *param, float *const *accumulator,
        const float *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, float lr, float eps, int nthreads);
void ccnn_adagrad_step_f64(int64_t count, double *const *param, double *const *accumulator,
        const double *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, double lr, double eps, int nthreads);

/* Adadelta: accumulated_grad, accumulated_delta */
void ccnn_adadelta_step_f32(int64_t count, float *const *param, float *const *accumulated_grad,
        float *const *accumulated_delta, const float *const *grad, const int64_t *n,
        const double *gscale, double clipvalue, const double *decay, float lr, float rho,
        float eps, int nthreads);
void ccnn_adadelta_step_f64(int64_t count, double *const *param,
        double *const *accumulated_grad, double *const *accumulated_delta,
        const double *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, double lr, double rho, double eps, int nthreads);

/* Adamax: m, u; bias1 = 1 - beta1^t */
void ccnn_adamax_step_f32(int64_t count, float *const *param, float *const *m, float *const *u,
        const float *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, float lr, float beta1, float beta2, float eps, float bias1,
        int nthreads);
void ccnn_adamax_step_f64(int64_t count, double *const *param, double *const *m,
        double *const *u, const double *const *grad, const int64_t *n, const double *gscale,
        double clipvalue, const double *decay, double lr, double beta1, double beta2,
        double eps, double bias1, int nthreads);

/* Nadam: m, v; u_next = u_{t+1}, den_next = 1 - u_product_{t+1},
 * one_minus_u = 1 - u_t, den = 1 - u_product_t, den_v = 1 - beta2^t */
void ccnn_nadam_step_f32(int64_t count, float *const *param, float *const *m, float *const *v,
        const float *const *grad, const int64_t *n, const double *gscale, double clipvalue,
        const double *decay, float lr, float beta1, float beta2, float eps, float u_next,
        float den_next, float one_minus_u, float den, float den_v, int nthreads);
void ccnn_nadam_step_f64(int64_t count, double *const *param, double *const *m,
        double *const *v, const double *const *grad, const int64_t *n, const double *gscale,
        double clipvalue, const double *decay, double lr, double beta1, double beta2,
        double eps, double u_next, double den_next, double one_minus_u, double den,
        double den_v, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_OPTIM_H */
