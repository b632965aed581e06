/* act_epilogue.h -- a convolution or a dense layer followed by one of
 * pointwise.h's activations, the activation applied while the output is still
 * in cache: the batch goes through in blocks of CCNN_ACT_BLOCK images (rows,
 * for dense: CCNN_ACT_ROWS), each block's pre-activation written to `pre` and
 * its activation to `out` before the next block starts, instead of a second
 * pass over the whole batch's output from memory.  (ReLU has its own epilogue
 * inside the kernels, conv2d_relu_forward and dense_forward(relu = 1).)
 *
 *   pre = conv2d(inp, weight, bias)  or  inp @ weight + bias
 *   out = pointwise_forward(kind, alpha)(pre)
 *
 * pre is kept for the backward (pointwise_backward needs the activation's
 * input).  The block size does not depend on the thread count, so the result
 * is the same on any. */
#ifndef CCNN_ACT_EPILOGUE_H
#define CCNN_ACT_EPILOGUE_H
#include "ccnn_common.h"
#include "conv2d.h"
#include "dense.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out, pre: (n, k, p, q); inp (n, c, h, w); weight (k, c, r, s); bias (k) or NULL.
 * CCNN_OK, CCNN_EBADARG (a kind outside pointwise.h's table; nothing written)
 * or CCNN_ENOMEM. */
int ccnn_conv2d_act_forward_f32(float *out, float *pre, const float *inp, const float *weight,
                                const float *bias, const ccnn_conv2d_dims *d, int kind,
                                double alpha, int nthreads);
int ccnn_conv2d_act_forward_f64(double *out, double *pre, const double *inp,
                                const double *weight, const double *bias,
                                const ccnn_conv2d_dims *d, int kind, double alpha,
                                int nthreads);
/* out, pre: (n, units); inp (n, in); weight (in, units); bias (units) or NULL. */
int ccnn_dense_act_forward_f32(float *out, float *pre, const float *inp, const float *weight,
                               const float *bias, const ccnn_dense_dims *d, int kind,
                               double alpha, int nthreads);
int ccnn_dense_act_forward_f64(double *out, double *pre, const double *inp,
                               const double *weight, const double *bias,
                               const ccnn_dense_dims *d, int kind, double alpha, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_ACT_EPILOGUE_H */
