/* depthwise.h -- depthwise 2-D cross-correlation (PyTorch's conv2d with
 * groups == in_channels, Keras's DepthwiseConv2D), forward and backward.
 *
 * Each input channel ci is correlated with its own m = k / c filters; output
 * channel o = ci * m + j (j < m) sees input channel ci = o / m only:
 *
 *   y[n,o,p,q] = bias[o] + sum_{r,s} w[o,r,s] * x[n, o/m, p*sh - pad_top  + r*dh,
 *                                                          q*sw - pad_left + s*dw]
 * (terms whose input index falls in the padding are zero).
 *
 * The geometry is a ccnn_conv2d_dims (conv2d.h, filled by ccnn_conv2d_dims_init)
 * with k = c * m output channels; the weight is (k, r, s) -- PyTorch's
 * (k, 1, r, s).  Memory-bound, so no GEMM: direct loops over each
 * (image, channel) plane, vectorised along output rows, threads over planes.
 */
#ifndef CCNN_DEPTHWISE_H
#define CCNN_DEPTHWISE_H
#include "ccnn_common.h"
#include "conv2d.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Forward.  out (n,k,p,q); inp (n,c,h,w); weight (k,r,s); bias (k) or NULL.
 * CCNN_EBADARG (nothing written) when k is not a multiple of c. */
int ccnn_depthwise_forward_f32(float *out, const float *inp, const float *weight,
                               const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_depthwise_forward_f64(double *out, const double *inp, const double *weight,
                               const double *bias, const ccnn_conv2d_dims *d, int nthreads);

/* Backward.  dinp (n,c,h,w) or NULL to skip; dweight (k,r,s) or NULL; dbias (k)
 * or NULL; dout (n,k,p,q); inp (n,c,h,w) (read only for dweight); weight (k,r,s)
 * (read only for dinp).  Gradients are overwritten, not accumulated.
 * CCNN_EBADARG (nothing written) when k is not a multiple of c; CCNN_ENOMEM
 * when a kernel of more than 64 taps finds no memory for its sums. */
int ccnn_depthwise_backward_f32(float *dinp, float *dweight, float *dbias,
                                const float *dout, const float *inp, const float *weight,
                                const ccnn_conv2d_dims *d, int nthreads);
int ccnn_depthwise_backward_f64(double *dinp, double *dweight, double *dbias,
                                const double *dout, const double *inp, const double *weight,
                                const ccnn_conv2d_dims *d, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_DEPTHWISE_H */
