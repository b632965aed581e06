/* dense.h -- fully connected layer, forward and backward, on ccnn's packed
 * GEMM, with the bias and the ReLU fused into the GEMM's epilogue:
 *
 *   forward   out (n, units) = act(inp (n, in) @ weight (in, units) + bias)
 *   backward  dz = dout * (out > 0) when the layer has a ReLU, else dout;
 *             dinp (n, in)       = dz @ weight^T
 *             dweight (in, units) = inp^T @ dz
 *             dbias (units)       = sum over n of dz
 *
 * Row-major, C-contiguous arrays (Keras's kernel layout (in, units)).  Every
 * product is split over threads along whichever side of the output is
 * longer, in whole micro-tiles -- or, for a forward with a small output and
 * a long sum, along the sum, in a fixed number of parts added in order; each
 * output element is summed in the same order whatever the thread count, so
 * results do not depend on it.  A forward of at most 32 rows reads the
 * weight in place instead (no packing), each element summed in order of the
 * input features.
 */
#ifndef CCNN_DENSE_H
#define CCNN_DENSE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n, in, units;   /* inp (n, in), weight (in, units), out (n, units) */
} ccnn_dense_dims;

/* Fills *d; n may be 0 (an empty batch: nothing to compute forward, zero
 * weight and bias gradients backward).  Returns CCNN_OK, or CCNN_EBADARG
 * when n < 0, in < 1 or units < 1, or CCNN_EOVERFLOW when an array size does
 * not fit in int64; *d is then unusable. */
int ccnn_dense_dims_init(ccnn_dense_dims *d, int64_t n, int64_t in, int64_t units);

/* out: (n, units); inp: (n, in); weight: (in, units); bias: (units) or NULL;
 * relu: 1 for max(., 0) (NaN stays NaN).  CCNN_OK or CCNN_ENOMEM. */
int ccnn_dense_forward_f32(float *out, const float *inp, const float *weight, const float *bias,
                           const ccnn_dense_dims *d, int relu, int nthreads);
int ccnn_dense_forward_f64(double *out, const double *inp, const double *weight,
                           const double *bias, const ccnn_dense_dims *d, int relu, int nthreads);

/* dinp: (n, in) or NULL to skip; dweight: (in, units) or NULL; dbias: (units)
 * or NULL (all overwritten, not accumulated); dout: (n, units); relu_out: the
 * forward's output when it had a ReLU (relu = 1), else NULL; inp: (n, in);
 * weight: (in, units).  CCNN_OK or CCNN_ENOMEM. */
int ccnn_dense_backward_f32(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *relu_out, const float *inp, const float *weight,
                            const ccnn_dense_dims *d, int nthreads);
int ccnn_dense_backward_f64(double *dinp, double *dweight, double *dbias, const double *dout,
                            const double *relu_out, const double *inp, const double *weight,
                            const ccnn_dense_dims *d, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_DENSE_H */
