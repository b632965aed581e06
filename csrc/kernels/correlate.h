/* correlate.h -- 2-D cross-correlation of two arrays (the textbook's
 * "correlate" and, with the kernel flipped by the caller, "convolve").
 *
 * The full correlation of a (ha, wa) with v (hv, wv) has shape
 * (ha + hv - 1, wa + wv - 1):
 *     full[i, j] = sum_{u,t} a[i + u - (hv-1), j + t - (wv-1)] * v[u, t]
 * (terms outside a are zero).  The kernel computes the window
 *     out[i, j] = full[i + off_h, j + off_w],  (i, j) in [0, ho) x [0, wo),
 * which gives the "full", "valid" and "same" modes; 1-D is the case ha = hv = 1.
 *
 * NaN/inf: with multiply_fill = 1 the terms outside a are real products with
 * the zero fill (scipy's boundary='fill': 0 * inf = NaN reaches the output);
 * with 0 they are skipped (numpy.correlate / numpy.convolve).
 */
#ifndef CCNN_CORRELATE_H
#define CCNN_CORRELATE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t ha, wa;          /* a   (ha, wa) */
    int64_t hv, wv;          /* v   (hv, wv) */
    int64_t ho, wo;          /* out (ho, wo) */
    int64_t off_h, off_w;    /* window offset into the full correlation */
    int multiply_fill;       /* 1: outside-a terms are products with 0 (scipy) */
} ccnn_correlate_dims;

/* out: (ho, wo); a: (ha, wa); v: (hv, wv) */
void ccnn_correlate2d_f32(float *out, const float *a, const float *v,
                          const ccnn_correlate_dims *d, int nthreads);
void ccnn_correlate2d_f64(double *out, const double *a, const double *v,
                          const ccnn_correlate_dims *d, int nthreads);
/* The same with d checked first: CCNN_EBADARG, writing nothing, when a size
 * is < 1 or the window does not lie inside the full correlation; else CCNN_OK
 * (the entry correlate2d_* of ccnn.kernels and of kernels_capi.h's table). */
int ccnn_correlate2d_checked_f32(float *out, const float *a, const float *v,
                                 const ccnn_correlate_dims *d, int nthreads);
int ccnn_correlate2d_checked_f64(double *out, const double *a, const double *v,
                                 const ccnn_correlate_dims *d, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_CORRELATE_H */
