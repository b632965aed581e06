/* layout.h -- moving image batches between channels-first and channels-last.
 *
 *   out[n, j, i] = inp[n, i, j]      inp (n, a, b), out (n, b, a)
 *
 * NCHW -> NHWC is (a, b) = (C, H*W); NHWC -> NCHW is (a, b) = (H*W, C).  The
 * Keras-style layers keep images channels-last and the kernels work on
 * NCHW: Flatten and the layers' backward passes use this where NumPy would
 * make a strided copy.  Parallel over 32 x 32 tiles of the images; out and
 * inp must not overlap. */
#ifndef CCNN_LAYOUT_H
#define CCNN_LAYOUT_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out: (n, b, a); inp: (n, a, b); n, a, b >= 0.  Cannot fail. */
void ccnn_transpose_batched_f32(float *out, const float *inp, int64_t n, int64_t a, int64_t b,
                                int nthreads);
void ccnn_transpose_batched_f64(double *out, const double *inp, int64_t n, int64_t a, int64_t b,
                                int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_LAYOUT_H */
