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
#include "activation.h"
#include "kernels_common.h"

/* the values a SIMD partial sum in the element type covers before it is
 * added to a double (bounds the rounding of float sums) */
#define BN_BLOCK 4096

#define CCNN_TEMPLATE "batchnorm.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* One run of len values: t1 += sum a, and with b, t2 += sum (a - am) * (b - bm);
 * with y (backward of a fused ReLU whose output is y), a is first replaced by
 * ReLU's gradient a * (y > 0), as activation.c's relu backward computes it (the product,
 * not a select: a NaN gradient stays NaN), without storing it.  SIMD sums in
 * REAL over blocks of at most BN_BLOCK values, each added to the double.  A
 * dispatched (never inlined) function: every pass that sums a run -- the
 * layer's kernels and the fused BN + ReLU ones -- runs this same code, so
 * their sums agree bit for bit.  a, b, y: (len) */
static CCNN_DISPATCH void SUF(bn_run_sums)(double *t1, double *t2, const REAL *pa,
                                           const REAL *pb, const REAL *py, REAL am, REAL bm,
                                           int64_t len_all)
{
    for (int64_t i0 = 0; i0 < len_all; i0 += BN_BLOCK) {
        const int64_t len = len_all - i0 < BN_BLOCK ? len_all - i0 : BN_BLOCK;
        const REAL *qa = pa + i0;
        REAL u1 = 0, u2 = 0;
        if (pb && py) {
            const REAL *qb = pb + i0, *qy = py + i0;
            #pragma omp simd reduction(+:u1, u2)
            for (int64_t i = 0; i < len; i++) {
                const REAL keep = qy[i] > 0 ? (REAL)1 : (REAL)0;
                const REAL dz = qa[i] * keep;
                u1 += dz;
                u2 += (dz - am) * (qb[i] - bm);
            }
        } else if (pb) {
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
        *t1 += (double)u1;
        *t2 += (double)u2;
    }
}

/* Channel j's sums over its outer runs of inner values (inner > 1), in run
 * order.  a, b: (outer, c, inner) */
static void SUF(bn_chan_sums)(double *t1, double *t2, const REAL *a, const REAL *b, REAL am,
                              REAL bm, int64_t outer, int64_t c, int64_t inner, int64_t j)
{
    double s1 = 0.0, s2 = 0.0;
    for (int64_t o = 0; o < outer; o++)
        SUF(bn_run_sums)(&s1, &s2, a + (o * c + j) * inner, b ? b + (o * c + j) * inner : NULL,
                         NULL, am, bm, inner);
    *t1 = s1;
    if (t2) *t2 = s2;
}

/* One run: po = px * a + s, or with py, po = px * a + py * ya + s (po may be py);
 * with py and m (a fused ReLU's output), py is first replaced by ReLU's
 * gradient py * (m > 0) as bn_run_sums takes it; with relu (and no py), the
 * result goes through activation.c's relu forward, p < 0 ? 0 : p, before it is stored.
 * Dispatched and never inlined, as bn_run_sums.  po, px, py, m: (len) */
static CCNN_DISPATCH void SUF(bn_run_affine)(REAL *po, const REAL *px, REAL a, const REAL *py,
                                             const REAL *m, REAL ya, REAL s, int relu,
                                             int64_t len)
{
    if (py && m) {
        #pragma omp simd
        for (int64_t i = 0; i < len; i++) {
            const REAL keep = m[i] > 0 ? (REAL)1 : (REAL)0;
            const REAL dz = py[i] * keep;
            po[i] = px[i] * a + dz * ya + s;
        }
    } else if (py) {
        #pragma omp simd
        for (int64_t i = 0; i < len; i++) po[i] = px[i] * a + py[i] * ya + s;
    } else if (relu) {
        #pragma omp simd
        for (int64_t i = 0; i < len; i++) {
            const REAL v = px[i] * a + s;
            po[i] = v < 0 ? (REAL)0 : v;
        }
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < len; i++) po[i] = px[i] * a + s;
    }
}

/* training-mode backward coefficients of channel j: dx = a * dout + b * x + s
 * (never inlined: the same scalar code for every caller) */
static __attribute__((noinline)) void SUF(bn_coef)(double *a, double *b, double *s, double sdy,
                                                   double sdyx, double mu, double is, double g,
                                                   double m)
{
    *a = g * is;
    *b = -g * is * is * is * sdyx / m;
    *s = -g * is * sdy / m - *b * mu;
}

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
        for (int64_t j = 0; j < c; j++)
            SUF(bn_chan_sums)(&s1[j], s2 ? &s2[j] : NULL, a, b, ma ? (REAL)ma[j] : 0,
                              mb ? (REAL)mb[j] : 0, outer, c, inner, j);
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
            SUF(bn_run_affine)(out + oj * inner, x + oj * inner, a, y ? y + oj * inner : NULL,
                               NULL, ya, s, 0, inner);
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

/* Channel j's mean and biased variance (inner > 1): the sum, then the squares
 * about the mean -- bn_reduce's two passes, for one channel.  x: (outer, c, inner) */
static void SUF(bn_chan_stats)(REAL *mean, REAL *var, const REAL *x, int64_t outer, int64_t c,
                               int64_t inner, int64_t j)
{
    const double m = (double)(outer * inner);
    double t1, t2;
    SUF(bn_chan_sums)(&t1, NULL, x, NULL, 0, 0, outer, c, inner, j);
    const double mu = t1 / m;
    SUF(bn_chan_sums)(&t1, &t2, x, x, (REAL)mu, (REAL)mu, outer, c, inner, j);
    *mean = (REAL)mu;
    *var = (REAL)(t2 / m);
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
    if (inner > 1) {
        /* threads take whole channels; a channel's second pass reads it again
         * while it is still in this core's cache */
        const int nt = ccnn_threads_for(c < nthreads ? (int)c : nthreads, outer * c * inner);
        (void)nt;
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t j = 0; j < c; j++)
            SUF(bn_chan_stats)(&mean[j], &var[j], x, outer, c, inner, j);
        free(s);
        return;
    }
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

/* The training-mode backward over whole channels (inner > 1, outer * inner > 0),
 * threads taking channels: channel j's sums sdy = sum dz, sdyx = sum dz (x - mean),
 * then its dx = a dz + b x + s, with dz = dout, or with y (the fused ReLU's
 * output) ReLU's gradient dout * (y > 0), computed where it is used (in the
 * sums and again in dx's pass) rather than stored: the same values as
 * activation.c's relu backward followed by the layer's backward, one pass
 * over dout fewer.  Returns CCNN_OK. */
static int SUF(bn_chan_backward)(REAL *dx, REAL *dgamma, REAL *dbeta, const REAL *dout,
                                 const REAL *y, const REAL *x, const REAL *mean,
                                 const REAL *invstd, const REAL *gamma, int64_t outer,
                                 int64_t c, int64_t inner, int nthreads)
{
    const double m = (double)(outer * inner);
    const int nt = ccnn_threads_for(c < nthreads ? (int)c : nthreads, outer * c * inner);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < c; j++) {
        const REAL bm = (REAL)(double)mean[j];
        double sdy = 0.0, sdyx = 0.0, a, b, s;
        for (int64_t o = 0; o < outer; o++) {
            const int64_t at = (o * c + j) * inner;
            SUF(bn_run_sums)(&sdy, &sdyx, dout + at, x + at, y ? y + at : NULL, 0, bm, inner);
        }
        const double is = (double)invstd[j], g = gamma ? (double)gamma[j] : 1.0;
        if (dbeta) dbeta[j] = (REAL)sdy;
        if (dgamma) dgamma[j] = (REAL)(sdyx * is);
        SUF(bn_coef)(&a, &b, &s, sdy, sdyx, (double)mean[j], is, g, m);
        if (dx)
            for (int64_t o = 0; o < outer; o++) {
                const int64_t at = (o * c + j) * inner;
                SUF(bn_run_affine)(dx + at, x + at, (REAL)b, dout + at, y ? y + at : NULL,
                                   (REAL)a, (REAL)s, 0, inner);
            }
    }
    return CCNN_OK;
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
    if (training && inner > 1 && m > 0) {
        /* threads take whole channels: a channel's sums, then its dx from the
         * same values while they are still in this core's cache */
        SUF(bn_chan_backward)(dx, dgamma, dbeta, dout, NULL, x, mean, invstd, gamma, outer, c,
                              inner, nthreads);
        free(k);
        return;
    }
    for (int64_t j = 0; j < c; j++) mu[j] = (double)mean[j];
    const int need_sums = training || dgamma || dbeta;
    if (need_sums)   /* sdy = sum dout, sdyx = sum dout * (x - mean) */
        SUF(bn_reduce)(sdy, sdyx, dout, x, NULL, mu, outer, c, inner, nthreads);
    for (int64_t j = 0; j < c; j++) {
        const double is = (double)invstd[j], g = gamma ? (double)gamma[j] : 1.0;
        if (dbeta) dbeta[j] = (REAL)sdy[j];
        if (dgamma) dgamma[j] = (REAL)(sdyx[j] * is);
        if (training && m > 0) {                       /* dx = a * dout + b * x + s */
            SUF(bn_coef)(&a[j], &b[j], &s[j], sdy[j], sdyx[j], mu[j], is, g, m);
        } else {
            a[j] = g * is;
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


/* ccnn_batchnorm_relu_forward_f32, ccnn_batchnorm_relu_forward_f64 */
int SUF(ccnn_batchnorm_relu_forward)(REAL *out, REAL *mean, REAL *var, REAL *invstd,
                                     const REAL *x, const REAL *gamma, const REAL *beta,
                                     double eps, int64_t outer, int64_t c, int64_t inner,
                                     int nthreads)
{
    if (c < 1) return CCNN_OK;
    if (outer < 1 || inner < 1) {   /* no values: NaN statistics, as batchnorm_stats */
        for (int64_t j = 0; j < c; j++) mean[j] = var[j] = invstd[j] = (REAL)NAN;
        return CCNN_OK;
    }
    if (inner == 1) {   /* rows of c: the layers' kernels one after the other */
        SUF(ccnn_batchnorm_stats)(mean, var, x, outer, c, inner, nthreads);
        for (int64_t j = 0; j < c; j++) invstd[j] = (REAL)(1.0 / sqrt((double)var[j] + eps));
        SUF(ccnn_batchnorm_forward)(out, x, mean, invstd, gamma, beta, outer, c, inner,
                                    nthreads);
        SUF(ccnn_relu_forward)(out, out, outer * c, nthreads);
        return CCNN_OK;
    }
    /* threads take whole channels: the sum, the squares about the mean, then
     * out = relu(x * scale + shift) run by run, the channel's values read from
     * memory once and again from this core's cache */
    const int nt = ccnn_threads_for(c < nthreads ? (int)c : nthreads, outer * c * inner);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < c; j++) {
        SUF(bn_chan_stats)(&mean[j], &var[j], x, outer, c, inner, j);
        invstd[j] = (REAL)(1.0 / sqrt((double)var[j] + eps));
        /* batchnorm_forward's coefficients */
        const double scale = (double)invstd[j] * (gamma ? (double)gamma[j] : 1.0);
        const double shift = (beta ? (double)beta[j] : 0.0) - (double)mean[j] * scale;
        for (int64_t o = 0; o < outer; o++) {
            REAL *po = out + (o * c + j) * inner;
            SUF(bn_run_affine)(po, x + (o * c + j) * inner, (REAL)scale, NULL, NULL, 0,
                               (REAL)shift, 1, inner);
        }
    }
    return CCNN_OK;
}

/* ccnn_batchnorm_relu_backward_f32, ccnn_batchnorm_relu_backward_f64 */
int SUF(ccnn_batchnorm_relu_backward)(REAL *dx, REAL *dgamma, REAL *dbeta, const REAL *dout,
                                      const REAL *y, const REAL *x, const REAL *mean,
                                      const REAL *invstd, const REAL *gamma, int64_t outer,
                                      int64_t c, int64_t inner, int nthreads)
{
    const int64_t count = outer * c * inner;
    if (count == 0) {   /* no values: batchnorm_backward's sums of nothing */
        SUF(ccnn_batchnorm_backward)(dx, dgamma, dbeta, dout, x, mean, invstd, gamma, outer, c,
                                     inner, 1, nthreads);
        return CCNN_OK;
    }
    if (inner > 1)
        return SUF(bn_chan_backward)(dx, dgamma, dbeta, dout, y, x, mean, invstd, gamma, outer,
                                     c, inner, nthreads);
    /* rows of c: ReLU's gradient, then the layer's backward */
    REAL *dz = (REAL *)malloc((size_t)count * sizeof(REAL));
    if (!dz) return CCNN_ENOMEM;
    SUF(ccnn_relu_backward)(dz, dout, y, count, nthreads);
    SUF(ccnn_batchnorm_backward)(dx, dgamma, dbeta, dz, x, mean, invstd, gamma, outer, c, inner,
                                 1, nthreads);
    free(dz);
    return CCNN_OK;
}

#endif /* REAL */
