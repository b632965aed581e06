/* upsample.h -- nearest-neighbour upsampling by integer factors of the two
 * spatial axes of a (outer, h, w, inner) array (NCHW: outer = n * c, inner = 1;
 * NHWC: outer = n, inner = c; sequences (n, steps, features): w = 1), Keras's
 * UpSampling2D / UpSampling1D and PyTorch's interpolate(mode="nearest"):
 *
 *   forward:  out[o, i, j, k] = inp[o, i / sh, j / sw, k]
 *   backward: dinp[o, i, j, k] = sum over a < sh, b < sw of dout[o, i*sh + a, j*sw + b, k]
 *             (summed in that order, a then b: the same result on any thread count) */
#ifndef CCNN_UPSAMPLE_H
#define CCNN_UPSAMPLE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out: (outer, h * sh, w * sw, inner); inp: (outer, h, w, inner); sh, sw >= 1 */
void ccnn_upsample_nearest2d_forward_f32(float *out, const float *inp, int64_t outer,
                                         int64_t h, int64_t w, int64_t inner, int64_t sh,
                                         int64_t sw, int nthreads);
void ccnn_upsample_nearest2d_forward_f64(double *out, const double *inp, int64_t outer,
                                         int64_t h, int64_t w, int64_t inner, int64_t sh,
                                         int64_t sw, int nthreads);
/* dinp: (outer, h, w, inner), overwritten; dout: (outer, h * sh, w * sw, inner) */
void ccnn_upsample_nearest2d_backward_f32(float *dinp, const float *dout, int64_t outer,
                                          int64_t h, int64_t w, int64_t inner, int64_t sh,
                                          int64_t sw, int nthreads);
void ccnn_upsample_nearest2d_backward_f64(double *dinp, const double *dout, int64_t outer,
                                          int64_t h, int64_t w, int64_t inner, int64_t sh,
                                          int64_t sw, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_UPSAMPLE_H */
