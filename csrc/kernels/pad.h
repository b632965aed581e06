/* pad.h -- constant padding and cropping of the two spatial axes of a
 * (outer, h, w, inner) array.  NCHW images are outer = n * c, inner = 1;
 * NHWC images are outer = n, inner = c; (n, steps, features) sequences are
 * outer = n, h = steps, w = 1, inner = features.
 *
 *   out: (outer, h + top + bottom, w + left + right, inner)
 *   out[o, i, j, k] = inp[o, i - top, j - left, k] where that lies inside inp,
 *                     value elsewhere
 *
 * A negative pad crops (top = -2 drops inp's first two rows), so a padding's
 * backward is the cropping with the pads negated, and one kernel is both:
 * ZeroPadding2D's forward is Cropping2D's backward and the other way round. */
#ifndef CCNN_PAD_H
#define CCNN_PAD_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out: (outer, h + top + bottom, w + left + right, inner), overwritten;
 * inp: (outer, h, w, inner).  CCNN_EBADARG (nothing written) unless every
 * size is >= 0 and both output sizes are >= 1. */
int ccnn_pad2d_f32(float *out, const float *inp, int64_t outer, int64_t h, int64_t w,
                   int64_t inner, int64_t top, int64_t bottom, int64_t left, int64_t right,
                   double value, int nthreads);
int ccnn_pad2d_f64(double *out, const double *inp, int64_t outer, int64_t h, int64_t w,
                   int64_t inner, int64_t top, int64_t bottom, int64_t left, int64_t right,
                   double value, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_PAD_H */
