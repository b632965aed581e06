/* rectifier.h -- Keras's ReLU with all its arguments, and PReLU (a learned
 * slope per position), forward and backward.
 *
 * ReLU(negative_slope s >= 0, max_value m (INFINITY: none), threshold t >= 0),
 * as keras.activations.relu computes it:
 *     y = min(x > t ? x : 0, m) - s * max(t - x, 0)
 *     dy/dx = [t < x <= m] + s * [x < t]
 *
 * PReLU over x (n, a), alpha (a) -- a sample's a values, one slope each (a
 * slope shared across axes is broadcast to (a) by the caller, and its
 * gradient summed back):
 *     y = x > 0 ? x : alpha * x
 *     dx = dy * (x > 0 ? 1 : alpha),  dalpha[j] = sum_i dy[i, j] * min(x[i, j], 0) */
#ifndef CCNN_RECTIFIER_H
#define CCNN_RECTIFIER_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out, inp: (n) -- out may equal inp */
void ccnn_relu_ext_forward_f32(float *out, const float *inp, int64_t n, double negative_slope,
                               double max_value, double threshold, int nthreads);
void ccnn_relu_ext_forward_f64(double *out, const double *inp, int64_t n, double negative_slope,
                               double max_value, double threshold, int nthreads);
/* dinp, dout, inp: (n) -- dinp may equal dout */
void ccnn_relu_ext_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n,
                                double negative_slope, double max_value, double threshold,
                                int nthreads);
void ccnn_relu_ext_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n,
                                double negative_slope, double max_value, double threshold,
                                int nthreads);

/* out, inp: (n, a); alpha: (a) */
void ccnn_prelu_forward_f32(float *out, const float *inp, const float *alpha, int64_t n,
                            int64_t a, int nthreads);
void ccnn_prelu_forward_f64(double *out, const double *inp, const double *alpha, int64_t n,
                            int64_t a, int nthreads);
/* dinp: (n, a) overwritten, or NULL to skip; dalpha: (a) overwritten, or NULL;
 * dout, inp: (n, a); alpha: (a) */
void ccnn_prelu_backward_f32(float *dinp, float *dalpha, const float *dout, const float *inp,
                             const float *alpha, int64_t n, int64_t a, int nthreads);
void ccnn_prelu_backward_f64(double *dinp, double *dalpha, const double *dout,
                             const double *inp, const double *alpha, int64_t n, int64_t a,
                             int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_RECTIFIER_H */
