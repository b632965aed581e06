/* activation.h -- elementwise activations: ReLU and inverted dropout.
 *
 *   relu:    y = max(x, 0) (NaN propagates);     dx = dy * (x > 0)
 *   dropout: y = x * mask * scale;               dx = dy * mask * scale
 *            with scale = 1 / (1 - rate) and mask[i] in {0, 1}
 * All arrays are flat, length n; the kernels are parallel over chunks. */
#ifndef CCNN_ACTIVATION_H
#define CCNN_ACTIVATION_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out, inp: (n) -- out may equal inp (in place) */
void ccnn_relu_forward_f32(float *out, const float *inp, int64_t n, int nthreads);
void ccnn_relu_forward_f64(double *out, const double *inp, int64_t n, int nthreads);
/* dinp, dout, inp: (n) -- dinp may equal dout */
void ccnn_relu_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n, int nthreads);
void ccnn_relu_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n, int nthreads);

/* out, inp, mask: (n); mask entries are 0 or 1 */
void ccnn_dropout_forward_f32(float *out, const float *inp, const uint8_t *mask, float scale,
                              int64_t n, int nthreads);
void ccnn_dropout_forward_f64(double *out, const double *inp, const uint8_t *mask, double scale,
                              int64_t n, int nthreads);
/* Draw the mask and apply it in one pass: mask[i] = 1 with probability
 * 1 - rate, else 0 (written), and out = inp * mask * scale with
 * scale = 1 / (1 - rate); 0 <= rate < 1.  The draws are a counter-based hash
 * of (seed, i) (two rounds of a 32-bit integer mixer), so they depend on
 * seed and i only -- not on the thread count.  out, inp: (n); mask: (n)
 * uint8, for the backward (ccnn_dropout_backward_* with the same scale).
 * out may equal inp. */
void ccnn_dropout_sample_f32(float *out, uint8_t *mask, const float *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads);
void ccnn_dropout_sample_f64(double *out, uint8_t *mask, const double *inp, int64_t n,
                             double rate, uint64_t seed, int nthreads);

/* the backward pass is the same map applied to dout */
#define ccnn_dropout_backward_f32(dinp, dout, mask, scale, n, nthreads) \
    ccnn_dropout_forward_f32(dinp, dout, mask, scale, n, nthreads)
#define ccnn_dropout_backward_f64(dinp, dout, mask, scale, n, nthreads) \
    ccnn_dropout_forward_f64(dinp, dout, mask, scale, n, nthreads)

#ifdef __cplusplus
}
#endif
#endif /* CCNN_ACTIVATION_H */
