/* depthwise.c -- depthwise 2-D cross-correlation (see depthwise.h).
 *
 * Every output plane y[n, o] reads one input plane x[n, o/m] and r*s weights,
 * so the work is a few multiply-adds per byte moved: no GEMM, no im2col.
 * Each loop below walks rows: for a tap (r, s) the valid output columns
 * [lo, hi) (ccnn_valid_range, so no padding branches inside) get
 *     y_row[q] += w[r,s] * x_row[q*sw + s*dw - pad_left]
 * vectorised along q (contiguous when sw == 1).
 *
 * Work split (no two threads ever write one element):
 *   forward          threads over (n, o) output planes
 *   backward data    threads over (n, ci) input planes: each sums its m
 *                    output planes' contributions
 *   backward weight  threads over output channels o: each sums over images
 *                    (row dot products in REAL, the total in double), and
 *                    its bias gradient with it
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "depthwise.h"
#include "kernels_common.h"

/* The output rows [plo, phi) and columns [lo, hi) whose tap (r, s) reads inside
 * the image, and the column offset off of that tap (input column q*sw + off). */
static inline void dw_tap(const ccnn_conv2d_dims *d, int64_t r, int64_t s, int64_t *plo,
                          int64_t *phi, int64_t *lo, int64_t *hi, int64_t *off)
{
    ccnn_valid_range(d->p, d->stride_h, r * d->dil_h - d->pad_top, d->h, plo, phi);
    *off = s * d->dil_w - d->pad_left;
    ccnn_valid_range(d->q, d->stride_w, *off, d->w, lo, hi);
}

#define CCNN_TEMPLATE "depthwise.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* One output plane y (p, q) += the correlation of the input plane x (h, w)
 * with one filter wt (r, s). */
static CCNN_DISPATCH void SUF(dw_plane_forward)(REAL *restrict y, const REAL *restrict x,
                                                const REAL *restrict wt,
                                                const ccnn_conv2d_dims *d)
{
    const int64_t sh = d->stride_h, sw = d->stride_w;
    for (int64_t r = 0; r < d->r; r++)
        for (int64_t s = 0; s < d->s; s++) {
            int64_t plo, phi, lo, hi, off;
            dw_tap(d, r, s, &plo, &phi, &lo, &hi, &off);
            const REAL a = wt[r * d->s + s];
            for (int64_t p = plo; p < phi; p++) {
                REAL *restrict yr = y + p * d->q;                       /* (q) */
                const REAL *restrict xr = x + (p * sh + r * d->dil_h - d->pad_top) * d->w + off;
                if (sw == 1) {
                    #pragma omp simd
                    for (int64_t q = lo; q < hi; q++) yr[q] += a * xr[q];
                } else {
                    #pragma omp simd
                    for (int64_t q = lo; q < hi; q++) yr[q] += a * xr[q * sw];
                }
            }
        }
}

/* The input-gradient plane dx (h, w) += the contribution of one output
 * gradient plane dy (p, q) through one filter wt (r, s). */
static CCNN_DISPATCH void SUF(dw_plane_data)(REAL *restrict dx, const REAL *restrict dy,
                                             const REAL *restrict wt, const ccnn_conv2d_dims *d)
{
    const int64_t sh = d->stride_h, sw = d->stride_w;
    for (int64_t r = 0; r < d->r; r++)
        for (int64_t s = 0; s < d->s; s++) {
            int64_t plo, phi, lo, hi, off;
            dw_tap(d, r, s, &plo, &phi, &lo, &hi, &off);
            const REAL a = wt[r * d->s + s];
            for (int64_t p = plo; p < phi; p++) {
                const REAL *restrict gr = dy + p * d->q;                 /* (q) */
                REAL *restrict xr = dx + (p * sh + r * d->dil_h - d->pad_top) * d->w + off;
                if (sw == 1) {
                    #pragma omp simd
                    for (int64_t q = lo; q < hi; q++) xr[q] += a * gr[q];
                } else {
                    #pragma omp simd
                    for (int64_t q = lo; q < hi; q++) xr[q * sw] += a * gr[q];
                }
            }
        }
}

/* acc (r, s) += the weight gradient of one output plane dy (p, q) on its
 * input plane x (h, w); returns the sum of dy (the bias gradient's share). */
static CCNN_DISPATCH double SUF(dw_plane_weight)(double *restrict acc, const REAL *restrict dy,
                                                 const REAL *restrict x, const ccnn_conv2d_dims *d)
{
    const int64_t sh = d->stride_h, sw = d->stride_w;
    for (int64_t r = 0; r < d->r; r++)
        for (int64_t s = 0; s < d->s; s++) {
            int64_t plo, phi, lo, hi, off;
            dw_tap(d, r, s, &plo, &phi, &lo, &hi, &off);
            double tap = 0.0;
            for (int64_t p = plo; p < phi; p++) {
                const REAL *restrict gr = dy + p * d->q;                 /* (q) */
                const REAL *restrict xr = x + (p * sh + r * d->dil_h - d->pad_top) * d->w + off;
                REAL part = 0;
                if (sw == 1) {
                    #pragma omp simd reduction(+:part)
                    for (int64_t q = lo; q < hi; q++) part += gr[q] * xr[q];
                } else {
                    #pragma omp simd reduction(+:part)
                    for (int64_t q = lo; q < hi; q++) part += gr[q] * xr[q * sw];
                }
                tap += (double)part;
            }
            acc[r * d->s + s] += tap;
        }
    double total = 0.0;
    for (int64_t p = 0; p < d->p; p++) {
        const REAL *restrict gr = dy + p * d->q;
        REAL part = 0;
        #pragma omp simd reduction(+:part)
        for (int64_t q = 0; q < d->q; q++) part += gr[q];
        total += (double)part;
    }
    return total;
}

/* ccnn_depthwise_forward_f32, ccnn_depthwise_forward_f64 */
int SUF(ccnn_depthwise_forward)(REAL *out, const REAL *inp, const REAL *weight,
                                const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (d->c < 1 || d->k % d->c) return CCNN_EBADARG;
    const int64_t m = d->k / d->c, hw = d->h * d->w, pq = d->p * d->q, rs = d->r * d->s;
    const int nt = ccnn_threads_for(nthreads, d->n * d->k * pq * rs);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < d->n * d->k; t++) {
        const int64_t n = t / d->k, o = t % d->k;
        REAL *y = out + t * pq;                                          /* (p, q) */
        const REAL b = bias ? bias[o] : (REAL)0;
        for (int64_t i = 0; i < pq; i++) y[i] = b;
        SUF(dw_plane_forward)(y, inp + (n * d->c + o / m) * hw, weight + o * rs, d);
    }
    return CCNN_OK;
}

/* ccnn_depthwise_backward_f32, ccnn_depthwise_backward_f64 */
int SUF(ccnn_depthwise_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                                 const REAL *dout, const REAL *inp, const REAL *weight,
                                 const ccnn_conv2d_dims *d, int nthreads)
{
    if (d->c < 1 || d->k % d->c) return CCNN_EBADARG;
    const int64_t m = d->k / d->c, hw = d->h * d->w, pq = d->p * d->q, rs = d->r * d->s;
    const int nt = ccnn_threads_for(nthreads, d->n * d->k * pq * rs);
    (void)nt;
    if (dinp) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t t = 0; t < d->n * d->c; t++) {
            const int64_t n = t / d->c, ci = t % d->c;
            REAL *dx = dinp + t * hw;                                    /* (h, w) */
            memset(dx, 0, (size_t)hw * sizeof(REAL));
            for (int64_t j = 0; j < m; j++) {
                const int64_t o = ci * m + j;
                SUF(dw_plane_data)(dx, dout + (n * d->k + o) * pq, weight + o * rs, d);
            }
        }
    }
    int failed = 0;
    if (dweight || dbias) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t o = 0; o < d->k; o++) {
            double small[64];                      /* the taps' sums: on the stack up to 8x8 */
            double *acc = rs <= 64 ? small : (double *)malloc((size_t)rs * sizeof(double));
            if (!acc) {
                #pragma omp atomic write
                failed = 1;
                continue;
            }
            for (int64_t i = 0; i < rs; i++) acc[i] = 0.0;
            double bsum = 0.0;
            for (int64_t n = 0; n < d->n; n++)
                bsum += SUF(dw_plane_weight)(acc, dout + (n * d->k + o) * pq,
                                             inp + (n * d->c + o / m) * hw, d);
            if (dweight)
                for (int64_t i = 0; i < rs; i++) dweight[o * rs + i] = (REAL)acc[i];
            if (dbias) dbias[o] = (REAL)bsum;
            if (acc != small) free(acc);
        }
    }
    return failed ? CCNN_ENOMEM : CCNN_OK;
}

#endif /* REAL */
