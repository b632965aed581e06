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
 * Images are channels-last and contiguous: (n, h, w, c).
 *
 *   image_flip, adjust_contrast, broadcast_affine: RandomFlip's and
 *   RandomContrast's per-pixel work, and the broadcast multiply-add of the
 *   dropout / noise / rescaling layers (below). */
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

/* image_flip: out (n, h, w, c) <- inp (n, h, w, c), not overlapping; flags (n):
 * bit 0 flips image i left-right, bit 1 top-bottom.  Its own backward. */
void ccnn_image_flip_f32(float *out, const float *inp, const uint8_t *flags, int64_t n,
                         int64_t h, int64_t w, int64_t c, int nthreads);
void ccnn_image_flip_f64(double *out, const double *inp, const uint8_t *flags, int64_t n,
                         int64_t h, int64_t w, int64_t c, int nthreads);

/* adjust_contrast: out (n, hw, c) = clip((inp - m) * factors[i] + m, lo, hi) with
 * m the mean of channel k of image i over its hw pixels (summed in double);
 * inp (n, hw, c), factors (n).  out may equal inp. */
void ccnn_adjust_contrast_f32(float *out, const float *inp, const double *factors, int64_t n,
                              int64_t hw, int64_t c, double lo, double hi, int nthreads);
void ccnn_adjust_contrast_f64(double *out, const double *inp, const double *factors,
                              int64_t n, int64_t hw, int64_t c, double lo, double hi,
                              int nthreads);

/* broadcast_affine: out[o, m, i] = inp[o, m, i] * scale[j] + shift[j],
 * j = o * so + m * sm + i * si (strides in elements, 0 broadcasts); inp, out
 * (outer, mid, inner), out may equal inp; scale / shift NULL: 1 / 0.  Serves
 * the channel masks of spatial dropout, elementwise noise and rescaling. */
void ccnn_broadcast_affine_f32(float *out, const float *inp, const float *scale,
                               const float *shift, int64_t outer, int64_t mid, int64_t inner,
                               int64_t so, int64_t sm, int64_t si, int nthreads);
void ccnn_broadcast_affine_f64(double *out, const double *inp, const double *scale,
                               const double *shift, int64_t outer, int64_t mid, int64_t inner,
                               int64_t so, int64_t sm, int64_t si, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_AUGMENT_H */
