/* resize.h -- 2-D resizing (nearest / bilinear) of the two spatial axes of a
 * (outer, h, w, inner) array to (outer, ho, wo, inner), any sizes >= 1 (NCHW
 * images: outer = n * c, inner = 1; NHWC images: outer = n, inner = c).
 * PyTorch's interpolate(mode="nearest" | "nearest-exact" | "bilinear",
 * align_corners) and Keras 3's Resizing / ops.image.resize / UpSampling2D
 * (antialias off; Keras's "nearest" is PyTorch's "nearest-exact").
 *
 * Each axis maps an output index d to source taps, with scale the source
 * pixels per output pixel (scale <= 0: in / out, as PyTorch when interpolate
 * gets a size; PyTorch passes 1 / scale_factor when it gets a scale factor):
 *
 *   CCNN_RESIZE_NEAREST        src = min(floor(d * scale), in - 1), and
 *                              PyTorch's exact copies when out == in (d) and
 *                              out == 2 in (d >> 1)
 *   CCNN_RESIZE_NEAREST_EXACT  src = min(floor((d + 0.5) * scale), in - 1)
 *                              (half-pixel centres: Keras / TF "nearest")
 *   CCNN_RESIZE_BILINEAR       s = max((d + 0.5) * scale - 0.5, 0)   (half-pixel)
 *   CCNN_RESIZE_BILINEAR_ALIGN s = d * (in - 1) / (out - 1), 0 when out == 1
 *                              (align_corners; scale is not used)
 *
 * and for the bilinear modes i0 = min(floor(s), in - 1), i1 = min(i0 + 1, in - 1),
 * l1 = s - i0, l0 = 1 - l1 (the coordinates in the element type, as PyTorch):
 *
 *   forward:  out[o, y, x, k] = l0(y) (l0(x) inp[o, i0(y), i0(x), k] + l1(x) inp[o, i0(y), i1(x), k])
 *                             + l1(y) (l0(x) inp[o, i1(y), i0(x), k] + l1(x) inp[o, i1(y), i1(x), k])
 *   backward: its transpose, dinp[o, i, j, k] = sum of dout[o, y, x, k] times the
 *             weight (y, x) gave (i, j), scattered output pixel by output pixel
 *             in row-major order within each o: the same result on any thread count. */
#ifndef CCNN_RESIZE_H
#define CCNN_RESIZE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

enum {
    CCNN_RESIZE_NEAREST = 0,
    CCNN_RESIZE_NEAREST_EXACT = 1,
    CCNN_RESIZE_BILINEAR = 2,
    CCNN_RESIZE_BILINEAR_ALIGN = 3
};

/* out: (outer, ho, wo, inner), overwritten; inp: (outer, h, w, inner).
 * CCNN_EBADARG (nothing written) for a size < 1 (outer, inner < 0) or an
 * unknown mode; CCNN_ENOMEM when the tap tables cannot be allocated. */
int ccnn_resize2d_forward_f32(float *out, const float *inp, int64_t outer, int64_t h,
                              int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                              double scale_h, double scale_w, int nthreads);
int ccnn_resize2d_forward_f64(double *out, const double *inp, int64_t outer, int64_t h,
                              int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                              double scale_h, double scale_w, int nthreads);
/* dinp: (outer, h, w, inner), overwritten; dout: (outer, ho, wo, inner). */
int ccnn_resize2d_backward_f32(float *dinp, const float *dout, int64_t outer, int64_t h,
                               int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                               double scale_h, double scale_w, int nthreads);
int ccnn_resize2d_backward_f64(double *dinp, const double *dout, int64_t outer, int64_t h,
                               int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                               double scale_h, double scale_w, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_RESIZE_H */
