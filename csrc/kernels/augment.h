/* augment.h -- per-pixel image augmentation: affine resampling.
 *
 *   affine_transform: for every output pixel (y, x) of image i, the input point
 *     x_in = a0 x + a1 y + a2,   y_in = b0 x + b1 y + b2
 *   with (a0, a1, a2, b0, b1, b2) = transforms[i] (Keras's / TensorFlow's
 *   ImageProjectiveTransform convention without its projective terms), sampled
 *   from image i by nearest-neighbour (round half to even) or bilinear
 *   interpolation; each neighbour that falls outside the image is replaced
 *   by fill mode: constant (fill_value), nearest (the edge), wrap, mirror
 *   (d c b | a b c d | c b a) or reflect (d c b a | a b c d | d c b a) --
 *   the rules of keras.ops.image.affine_transform.
 * Images are channels-last and contiguous: (n, h, w, c). */
#ifndef CCNN_AUGMENT_H
#define CCNN_AUGMENT_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { CCNN_INTERP_NEAREST = 0, CCNN_INTERP_BILINEAR = 1 };
enum { CCNN_FILL_CONSTANT = 0, CCNN_FILL_NEAREST = 1, CCNN_FILL_WRAP = 2,
       CCNN_FILL_MIRROR = 3, CCNN_FILL_REFLECT = 4 };

/* out, inp: (n, h, w, c), not overlapping; transforms: (n, 6) double.
 * Returns CCNN_OK, or CCNN_EBADARG (nothing written) for an unknown
 * interpolation or fill mode. */
int ccnn_affine_transform_f32(float *out, const float *inp, const double *transforms,
                              int64_t n, int64_t h, int64_t w, int64_t c, int interpolation,
                              int fill_mode, double fill_value, int nthreads);
int ccnn_affine_transform_f64(double *out, const double *inp, const double *transforms,
                              int64_t n, int64_t h, int64_t w, int64_t c, int interpolation,
                              int fill_mode, double fill_value, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_AUGMENT_H */
