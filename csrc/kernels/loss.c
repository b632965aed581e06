/* loss.c -- softmax, fused softmax + cross-entropy and fused sigmoid + binary
 * cross-entropy kernels (see loss.h).
 *
 * Typed bodies are written once, at the bottom of this file, and instantiated
 * for float and double by including this file into itself with REAL / SUF
 * (and the matching exp / log) defined.
 *
 * Work split: parallel over rows; a thread owns whole rows of every output.
 * Row sums are accumulated in double for both dtypes.
 */
#ifndef REAL
#include <math.h>
#include "loss.h"
#include "kernels_common.h"

/* The sigmoid + binary cross-entropy loops call libmvec's SIMD exp / log1p
 * with glibc >= 2.35 on x86-64 (as pointwise.c does), through names of their
 * own bound to the same symbols, so that only these loops -- not the softmax
 * kernels above -- change from the scalar functions. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float ccnn_vexpf(float) __asm__("expf") __attribute__((const, nothrow));
#pragma omp declare simd notinbranch
double ccnn_vexp(double) __asm__("exp") __attribute__((const, nothrow));
#pragma omp declare simd notinbranch
float ccnn_vlog1pf(float) __asm__("log1pf") __attribute__((const, nothrow));
#pragma omp declare simd notinbranch
double ccnn_vlog1p(double) __asm__("log1p") __attribute__((const, nothrow));
#else
#define ccnn_vexpf expf
#define ccnn_vexp exp
#define ccnn_vlog1pf log1pf
#define ccnn_vlog1p log1p
#endif
#define BCE_CHUNK 16384     /* elements per task: fixed, so any thread count gives the same bits */

/* exp is several multiply-adds' worth of work: weigh it when deciding to fork. */
#define CCNN_LOSS_WORK(n, classes) ((n) * (classes) * 8)

#define REAL float
#define SUF(name) name##_f32
#define EXP_R expf
#define VEXP_R ccnn_vexpf
#define LOG1P_R ccnn_vlog1pf
#define FABS_R fabsf
#include "loss.c"
#undef VEXP_R
#undef REAL
#undef SUF
#undef EXP_R
#undef LOG1P_R
#undef FABS_R

#define REAL double
#define SUF(name) name##_f64
#define EXP_R exp
#define VEXP_R ccnn_vexp
#define LOG1P_R ccnn_vlog1p
#define FABS_R fabs
#include "loss.c"
#undef VEXP_R
#undef REAL
#undef SUF
#undef EXP_R
#undef LOG1P_R
#undef FABS_R

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

/* Softmax of one row.  p: (C) or NULL; z: (C) -- p may equal z.
 * Returns log-sum-exp of z (NaN when the row holds a NaN). */
static double SUF(softmax_row)(REAL *p, const REAL *z, int64_t C)
{
    REAL m = z[0];
    for (int64_t j = 1; j < C; j++)
        if (z[j] > m) m = z[j];
    double s = 0.0;
    if (p) {
        for (int64_t j = 0; j < C; j++) {
            const REAL e = EXP_R(z[j] - m);   /* in (0, 1]: no overflow */
            p[j] = e;
            s += (double)e;
        }
        const REAL inv = (REAL)(1.0 / s);
        for (int64_t j = 0; j < C; j++) p[j] *= inv;
    } else {
        for (int64_t j = 0; j < C; j++) s += (double)EXP_R(z[j] - m);
    }
    return (double)m + log(s);  /* s >= 1 (the max term is exp(0)) */
}

/* ccnn_softmax_forward_f32, ccnn_softmax_forward_f64 */
void SUF(ccnn_softmax_forward)(REAL *probs, const REAL *logits, int64_t n, int64_t classes,
                               int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, CCNN_LOSS_WORK(n, classes));
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++)
        (void)SUF(softmax_row)(probs + i * classes, logits + i * classes, classes);
}

/* ccnn_softmax_backward_f32, ccnn_softmax_backward_f64 */
void SUF(ccnn_softmax_backward)(REAL *dinp, const REAL *dout, const REAL *probs, int64_t n,
                                int64_t classes, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * classes * 2);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *dy = dout + i * classes;      /* (classes) */
        const REAL *p = probs + i * classes;      /* (classes) */
        REAL *dx = dinp + i * classes;            /* (classes) */
        const REAL dot = (REAL)SUF(ccnn_dot)(classes, dy, 1, p, 1);
        for (int64_t j = 0; j < classes; j++) dx[j] = p[j] * (dy[j] - dot);
    }
}

/* ccnn_softmax_xent_forward_f32, ccnn_softmax_xent_forward_f64 */
void SUF(ccnn_softmax_xent_forward)(REAL *loss_per_row, REAL *probs, const REAL *logits,
                                    const int64_t *labels, int64_t n, int64_t classes,
                                    int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, CCNN_LOSS_WORK(n, classes));
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *z = logits + i * classes;             /* (classes) */
        const double zy = (double)z[labels[i]];           /* read before p may overwrite z */
        const double lse = SUF(softmax_row)(probs ? probs + i * classes : NULL, z, classes);
        loss_per_row[i] = (REAL)(lse - zy);               /* = -log softmax(z)[y] >= 0 */
    }
}

/* ccnn_softmax_xent_backward_f32, ccnn_softmax_xent_backward_f64 */
void SUF(ccnn_softmax_xent_backward)(REAL *dlogits, const REAL *probs, const int64_t *labels,
                                     int64_t n, int64_t classes, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * classes);
    const REAL rn = (REAL)n;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *p = probs + i * classes;      /* (classes) */
        REAL *dz = dlogits + i * classes;         /* (classes) */
        const int64_t y = labels[i];
        for (int64_t j = 0; j < classes; j++) dz[j] = (p[j] - (REAL)(j == y)) / rn;
    }
}

/* ccnn_softmax_xent_dense_forward_f32, ccnn_softmax_xent_dense_forward_f64 */
void SUF(ccnn_softmax_xent_dense_forward)(REAL *loss_per_row, REAL *probs, const REAL *logits,
                                          const REAL *targets, int64_t n, int64_t classes,
                                          int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, CCNN_LOSS_WORK(n, classes));
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *z = logits + i * classes;     /* (classes) */
        const REAL *t = targets + i * classes;    /* (classes) */
        /* loss = sum_j t_j (lse - z_j): each term >= 0 for t_j >= 0, no
         * cancellation even for logits ~1e3.  z is read in full before p
         * (which may alias it) is written. */
        const double lse = SUF(softmax_row)(NULL, z, classes);
        double acc = 0.0;
        for (int64_t j = 0; j < classes; j++)
            if (t[j] != 0) acc += (double)t[j] * (lse - (double)z[j]);
        if (probs) {
            REAL *p = probs + i * classes;        /* (classes) */
            for (int64_t j = 0; j < classes; j++) p[j] = (REAL)exp((double)z[j] - lse);
        }
        loss_per_row[i] = (REAL)acc;
    }
}

/* ccnn_softmax_xent_dense_backward_f32, ccnn_softmax_xent_dense_backward_f64 */
void SUF(ccnn_softmax_xent_dense_backward)(REAL *dlogits, const REAL *probs, const REAL *targets,
                                           int64_t n, int64_t classes, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * classes);
    const REAL rn = (REAL)n;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *p = probs + i * classes;      /* (classes) */
        const REAL *t = targets + i * classes;    /* (classes) */
        REAL *dz = dlogits + i * classes;         /* (classes) */
        const REAL tsum = (REAL)SUF(ccnn_sum)(classes, t);
        for (int64_t j = 0; j < classes; j++) dz[j] = (p[j] * tsum - t[j]) / rn;
    }
}

/* One chunk of the sigmoid + BCE forward: loss, z, t: (n).  One SIMD loop;
 * exp only ever sees -|z| <= 0. */
static CCNN_DISPATCH void SUF(bce_fwd_chunk)(REAL *restrict loss, const REAL *restrict z,
                                             const REAL *restrict t, int64_t n)
{
    const REAL zero = 0;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL x = z[i];
        /* log(1 + exp(x)) - x t */
        loss[i] = (x > zero ? x : zero) - x * t[i] + LOG1P_R(VEXP_R(-FABS_R(x)));
    }
}

/* One chunk of the backward: dz (may equal dl), dl (n) or NULL, z, t (n). */
static CCNN_DISPATCH void SUF(bce_bwd_chunk)(REAL *dz, const REAL *dl, const REAL *restrict z,
                                             const REAL *restrict t, REAL scale, int64_t n)
{
    const REAL zero = 0, one = 1;
    if (dl) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL x = z[i], e = VEXP_R(-FABS_R(x));          /* in (0, 1] */
            const REAL s = (x >= zero ? one : e) / (one + e);     /* sigmoid(x) */
            dz[i] = (s - t[i]) * scale * dl[i];
        }
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL x = z[i], e = VEXP_R(-FABS_R(x));
            const REAL s = (x >= zero ? one : e) / (one + e);
            dz[i] = (s - t[i]) * scale;
        }
    }
}

/* ccnn_sigmoid_bce_forward_f32, ccnn_sigmoid_bce_forward_f64 */
void SUF(ccnn_sigmoid_bce_forward)(REAL *loss, const REAL *logits, const REAL *targets,
                                   int64_t n, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * 4);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += BCE_CHUNK)
        SUF(bce_fwd_chunk)(loss + i0, logits + i0, targets + i0,
                           n - i0 < BCE_CHUNK ? n - i0 : BCE_CHUNK);
}

/* ccnn_sigmoid_bce_backward_f32, ccnn_sigmoid_bce_backward_f64 */
void SUF(ccnn_sigmoid_bce_backward)(REAL *dlogits, const REAL *dloss, const REAL *logits,
                                    const REAL *targets, REAL scale, int64_t n, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * 4);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += BCE_CHUNK)
        SUF(bce_bwd_chunk)(dlogits + i0, dloss ? dloss + i0 : NULL, logits + i0, targets + i0,
                           scale, n - i0 < BCE_CHUNK ? n - i0 : BCE_CHUNK);
}

/* ccnn_argmax_matches_f32, ccnn_argmax_matches_f64 */
int64_t SUF(ccnn_argmax_matches)(const REAL *p, const int64_t *labels, int64_t n, int64_t c)
{
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++, p += c) {
        REAL m = p[0];
        int64_t best = 0;
        if (m == m) {
            for (int64_t j = 1; j < c; j++) {
                if (!(p[j] <= m)) {
                    m = p[j];
                    best = j;
                    if (m != m) break;
                }
            }
        }
        hits += best == labels[i];
    }
    return hits;
}

#endif /* REAL */
