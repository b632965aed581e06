/* batchnorm.c -- batch normalization over (outer, c, inner) (see batchnorm.h).
 *
 * Every pass is one sweep over the data.  Per-channel sums are accumulated in
 * double (over SIMD partial sums of at most BN_BLOCK values).  With inner > 1 (NCHW images) each channel's values are `outer`
 * contiguous runs of `inner`, and threads take whole channels; with inner == 1
 * (channels-last images, Dense outputs) the values of a channel are strided,
 * so threads take blocks of rows and keep partial sums of their own, added
 * in thread order (the result does not depend on scheduling, only on the
 * thread count).
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <stdlib.h>
#include <math.h>
#include "batchnorm.h"
#include "kernels_common.h"

/* the values a SIMD partial sum in the element type covers before it is
 * added to a double (bounds the rounding of float sums) */
#define BN_BLOCK 4096

#define CCNN_TEMPLATE "batchnorm.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* s1[j] = sum a,  s2[j] = sum (a - ma[j]) * (b - mb[j])   (s2 only when b != NULL;
 * ma / mb NULL mean 0).  a, b: (outer, c, inner); s1, s2: (c) */
static CCNN_DISPATCH void SUF(bn_reduce)(double *s1, double *s2, const REAL *a, const REAL *b,
                                         const double *ma, const double *mb, int64_t outer,
                                         int64_t c, int64_t inner, int nthreads)
{
    const int64_t total = outer * c * inner;
    if (inner > 1) {
        const int nt = ccnn_threads_for(c < nthreads ? (int)c : nthreads, total);
        (void)nt;
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t j = 0; j < c; j++) {
            const REAL am = ma ? (REAL)ma[j] : 0, bm = mb ? (REAL)mb[j] : 0;
            double t1 = 0.0, t2 = 0.0;
            for (int64_t o = 0; o < outer; o++) {
                const REAL *pa = a + (o * c + j) * inner;
                const REAL *pb = b ? b + (o * c + j) * inner : NULL;
                /* SIMD sums in REAL over blocks of at most BN_BLOCK values, added in double */
                for (int64_t i0 = 0; i0 < inner; i0 += BN_BLOCK) {
                    const int64_t len = inner - i0 < BN_BLOCK ? inner - i0 : BN_BLOCK;
                    const REAL *qa = pa + i0;
                    REAL u1 = 0, u2 = 0;
                    if (pb) {
                        const REAL *qb = pb + i0;
                        #pragma omp simd reduction(+:u1, u2)
                        for (int64_t i = 0; i < len; i++) {
                            u1 += qa[i];
                            u2 += (qa[i] - am) * (qb[i] - bm);
                        }
                    } else {
                        #pragma omp simd reduction(+:u1)
                        for (int64_t i = 0; i < len; i++) u1 += qa[i];
                    }
                    t1 += (double)u1;
                    t2 += (double)u2;
                }
            }
            s1[j] = t1;
            if (s2) s2[j] = t2;
        }
        return;
    }
    /* rows of c: per-thread partial sums, added in thread order */
    const int nt = ccnn_threads_for(nthreads, total);
    double *part = (double *)calloc((size_t)(2 * c * nt), sizeof(double));
    int used = 1;
    if (!part) {   /* no memory for partials: one thread, sums straight into s1 / s2 */
        for (int64_t j = 0; j < c; j++) { s1[j] = 0.0; if (s2) s2[j] = 0.0; }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < c; j++) {
                const double va = (double)a[o * c + j];
                s1[j] += va;
                if (s2) s2[j] += (va - (ma ? ma[j] : 0.0)) * ((double)b[o * c + j] - (mb ? mb[j] : 0.0));
            }
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        int64_t tid, nthr;
        ccnn_team(&tid, &nthr);
        #pragma omp single
        used = (int)nthr;
        const int64_t lo = outer * tid / nthr, hi = outer * (tid + 1) / nthr;
        double *p1 = part + 2 * c * tid, *p2 = p1 + c;
        for (int64_t o = lo; o < hi; o++) {
            const REAL *pa = a + o * c;
            const REAL *pb = b ? b + o * c : pa;
            #pragma omp simd
            for (int64_t j = 0; j < c; j++) {
                p1[j] += (double)pa[j];
                p2[j] += ((double)pa[j] - (ma ? ma[j] : 0.0)) * ((double)pb[j] - (mb ? mb[j] : 0.0));
            }
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double t1 = 0.0, t2 = 0.0;
        for (int t = 0; t < used; t++) {
            t1 += part[2 * c * t + j];
            t2 += part[2 * c * t + c + j];
        }
        s1[j] = t1;
        if (s2) s2[j] = t2;
    }
    free(part);
}

/* out = x * scale[j] + shift[j] (+ y * yscale[j] when y != NULL).
 * out, x, y: (outer, c, inner); scale, shift, yscale: (c) */
static CCNN_DISPATCH void SUF(bn_affine)(REAL *out, const REAL *x, const double *scale,
                                         const double *shift, const REAL *y,
                                         const double *yscale, int64_t outer, int64_t c,
                                         int64_t inner, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, outer * c * inner);
    (void)nt;
    if (inner > 1) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t oj = 0; oj < outer * c; oj++) {
            const int64_t j = oj % c;
            const REAL a = (REAL)scale[j], s = (REAL)shift[j], ya = y ? (REAL)yscale[j] : 0;
            REAL *po = out + oj * inner;
            const REAL *px = x + oj * inner;
            if (y) {
                const REAL *py = y + oj * inner;
                #pragma omp simd
                for (int64_t i = 0; i < inner; i++) po[i] = px[i] * a + py[i] * ya + s;
            } else {
                #pragma omp simd
                for (int64_t i = 0; i < inner; i++) po[i] = px[i] * a + s;
            }
        }
        return;
    }
    REAL *buf = (REAL *)malloc((size_t)(3 * c) * sizeof(REAL));
    if (!buf) {   /* no memory for the typed copies: the same map from the double arrays */
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < c; j++)
                out[o * c + j] = (REAL)(x[o * c + j] * (REAL)scale[j]
                                        + (y ? y[o * c + j] * (REAL)yscale[j] : 0) + (REAL)shift[j]);
        return;
    }
    REAL *a = buf, *s = buf + c, *ya = buf + 2 * c;
    for (int64_t j = 0; j < c; j++) {
        a[j] = (REAL)scale[j];
        s[j] = (REAL)shift[j];
        ya[j] = y ? (REAL)yscale[j] : 0;
    }
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t o = 0; o < outer; o++) {
        REAL *po = out + o * c;
        const REAL *px = x + o * c;
        if (y) {
            const REAL *py = y + o * c;
            #pragma omp simd
            for (int64_t j = 0; j < c; j++) po[j] = px[j] * a[j] + py[j] * ya[j] + s[j];
        } else {
            #pragma omp simd
            for (int64_t j = 0; j < c; j++) po[j] = px[j] * a[j] + s[j];
        }
    }
    free(buf);
}

/* ccnn_batchnorm_stats_f32, ccnn_batchnorm_stats_f64 */
void SUF(ccnn_batchnorm_stats)(REAL *mean, REAL *var, const REAL *x, int64_t outer, int64_t c,
                               int64_t inner, int nthreads)
{
    const double m = (double)(outer * inner);
    double *s = (double *)malloc((size_t)(2 * c) * sizeof(double));
    if (!s || m == 0) {   /* no values (or no memory): NaN statistics, as a mean of nothing */
        for (int64_t j = 0; j < c; j++) mean[j] = var[j] = (REAL)NAN;
        free(s);
        return;
    }
    double *mu = s + c;
    SUF(bn_reduce)(s, NULL, x, NULL, NULL, NULL, outer, c, inner, nthreads);
    for (int64_t j = 0; j < c; j++) mu[j] = s[j] / m;
    SUF(bn_reduce)(s, s, x, x, mu, mu, outer, c, inner, nthreads);   /* s2 = sum (x - mu)^2 */
    for (int64_t j = 0; j < c; j++) {
        mean[j] = (REAL)mu[j];
        var[j] = (REAL)(s[j] / m);
    }
    free(s);
}

/* ccnn_batchnorm_forward_f32, ccnn_batchnorm_forward_f64 */
void SUF(ccnn_batchnorm_forward)(REAL *out, const REAL *x, const REAL *mean, const REAL *invstd,
                                 const REAL *gamma, const REAL *beta, int64_t outer, int64_t c,
                                 int64_t inner, int nthreads)
{
    double *k = (double *)malloc((size_t)(2 * c) * sizeof(double));
    if (!k) {   /* no memory for the per-channel coefficients: one channel at a time */
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < c; j++) {
                const REAL g = gamma ? gamma[j] : 1, b = beta ? beta[j] : 0;
                for (int64_t i = 0; i < inner; i++) {
                    const int64_t at = (o * c + j) * inner + i;
                    out[at] = (x[at] - mean[j]) * invstd[j] * g + b;
                }
            }
        return;
    }
    double *scale = k, *shift = k + c;
    for (int64_t j = 0; j < c; j++) {
        scale[j] = (double)invstd[j] * (gamma ? (double)gamma[j] : 1.0);
        shift[j] = (beta ? (double)beta[j] : 0.0) - (double)mean[j] * scale[j];
    }
    SUF(bn_affine)(out, x, scale, shift, NULL, NULL, outer, c, inner, nthreads);
    free(k);
}

/* ccnn_batchnorm_backward_f32, ccnn_batchnorm_backward_f64 */
void SUF(ccnn_batchnorm_backward)(REAL *dx, REAL *dgamma, REAL *dbeta, const REAL *dout,
                                  const REAL *x, const REAL *mean, const REAL *invstd,
                                  const REAL *gamma, int64_t outer, int64_t c, int64_t inner,
                                  int training, int nthreads)
{
    const double m = (double)(outer * inner);
    double *k = (double *)calloc((size_t)(6 * c), sizeof(double));
    if (!k) {
        /* no memory: say so through NaN gradients rather than wrong ones */
        for (int64_t i = 0; dx && i < outer * c * inner; i++) dx[i] = (REAL)NAN;
        for (int64_t j = 0; j < c; j++) {
            if (dgamma) dgamma[j] = (REAL)NAN;
            if (dbeta) dbeta[j] = (REAL)NAN;
        }
        return;
    }
    double *sdy = k, *sdyx = k + c, *mu = k + 2 * c, *a = k + 3 * c, *b = k + 4 * c, *s = k + 5 * c;
    for (int64_t j = 0; j < c; j++) mu[j] = (double)mean[j];
    const int need_sums = training || dgamma || dbeta;
    if (need_sums)   /* sdy = sum dout, sdyx = sum dout * (x - mean) */
        SUF(bn_reduce)(sdy, sdyx, dout, x, NULL, mu, outer, c, inner, nthreads);
    for (int64_t j = 0; j < c; j++) {
        const double is = (double)invstd[j], g = gamma ? (double)gamma[j] : 1.0;
        if (dbeta) dbeta[j] = (REAL)sdy[j];
        if (dgamma) dgamma[j] = (REAL)(sdyx[j] * is);
        a[j] = g * is;                                 /* dx = a * dout + b * x + s */
        if (training && m > 0) {
            b[j] = -g * is * is * is * sdyx[j] / m;
            s[j] = -g * is * sdy[j] / m - b[j] * mu[j];
        } else {
            b[j] = 0.0;
            s[j] = 0.0;
        }
    }
    if (dx) {
        if (training)
            SUF(bn_affine)(dx, x, b, s, dout, a, outer, c, inner, nthreads);
        else
            SUF(bn_affine)(dx, dout, a, s, NULL, NULL, outer, c, inner, nthreads);
    }
    free(k);
}

#endif /* REAL */
