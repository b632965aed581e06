/* pointwise.h -- the elementwise activations beyond ReLU, forward and backward,
 * as Keras 3 and PyTorch define them (alpha: the one parameter some take).
 *
 *   kind  name          y = f(x)                              dy/dx
 *   0     relu6         min(max(x, 0), 6)                     0 < x < 6
 *   1     leaky_relu    x > 0 ? x : alpha x                   x > 0 ? 1 : alpha
 *   2     elu           x > 0 ? x : alpha (e^x - 1)           x > 0 ? 1 : alpha e^x
 *   3     selu          S (x > 0 ? x : A (e^x - 1))           S (x > 0 ? 1 : A e^x)
 *                       A = 1.6732632423543772, S = 1.0507009873554805
 *   4     gelu          x Phi(x) (exact, erf)                 Phi(x) + x phi(x)
 *   5     gelu_tanh     x / 2 (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2 / pi)
 *   6     sigmoid       1 / (1 + e^-x)                        s (1 - s)
 *   7     hard_sigmoid  min(max(x + 3, 0), 6) / 6             -3 < x < 3 ? 1/6 : 0
 *   8     silu          x sigmoid(x)                          s (1 + x (1 - s))
 *   9     hard_silu     x hard_sigmoid(x)                     x < -3 ? 0 : x > 3 ? 1 : (2x + 3) / 6
 *   10    tanh          tanh(x)                               1 - y^2
 *   11    softplus      log(1 + e^x) (stable for any x)       sigmoid(x)
 *   12    softsign      x / (1 + |x|)                         1 / (1 + |x|)^2
 *   13    exponential   e^x                                   e^x
 * NaN propagates.  All arrays are flat, length n; threads take chunks. */
#ifndef CCNN_POINTWISE_H
#define CCNN_POINTWISE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

#define CCNN_POINTWISE_KINDS 14

/* the name of kind (the table above), NULL outside [0, CCNN_POINTWISE_KINDS) */
const char *ccnn_pointwise_name(int kind);

/* out, inp: (n) -- out may equal inp.  CCNN_EBADARG (nothing written) for an
 * unknown kind. */
int ccnn_pointwise_forward_f32(float *out, const float *inp, int64_t n, int kind, double alpha,
                               int nthreads);
int ccnn_pointwise_forward_f64(double *out, const double *inp, int64_t n, int kind,
                               double alpha, int nthreads);
/* dinp, dout, inp: (n) -- dinp may equal dout; the derivative is taken at inp */
int ccnn_pointwise_backward_f32(float *dinp, const float *dout, const float *inp, int64_t n,
                                int kind, double alpha, int nthreads);
int ccnn_pointwise_backward_f64(double *dinp, const double *dout, const double *inp, int64_t n,
                                int kind, double alpha, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_POINTWISE_H */
