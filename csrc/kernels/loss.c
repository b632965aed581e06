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

/* exp is several multiply-adds' worth of work: weigh it when deciding to fork. */
#define CCNN_LOSS_WORK(n, classes) ((n) * (classes) * 8)

#define REAL float
#define SUF(name) name##_f32
#define EXP_R expf
#define LOG1P_R log1pf
#define FABS_R fabsf
#include "loss.c"
#undef REAL
#undef SUF
#undef EXP_R
#undef LOG1P_R
#undef FABS_R

#define REAL double
#define SUF(name) name##_f64
#define EXP_R exp
#define LOG1P_R log1p
#define FABS_R fabs
#include "loss.c"
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

/* ccnn_sigmoid_bce_forward_f32, ccnn_sigmoid_bce_forward_f64 */
void SUF(ccnn_sigmoid_bce_forward)(REAL *loss, const REAL *logits, const REAL *targets,
                                   int64_t n, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * 16);   /* exp + log1p per element */
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL z = logits[i], t = targets[i];
        /* log(1 + exp(z)) - z t, written so exp never sees a positive argument */
        loss[i] = (z > 0 ? z : (REAL)0) - z * t + LOG1P_R(EXP_R(-FABS_R(z)));
    }
}

/* sigmoid(z) without overflow: exp of -|z| only */
static inline REAL SUF(sigmoid_stable)(REAL z)
{
    const REAL e = EXP_R(-FABS_R(z));                  /* in (0, 1] */
    return z >= 0 ? (REAL)1 / ((REAL)1 + e) : e / ((REAL)1 + e);
}

/* ccnn_sigmoid_bce_backward_f32, ccnn_sigmoid_bce_backward_f64 */
void SUF(ccnn_sigmoid_bce_backward)(REAL *dlogits, const REAL *dloss, const REAL *logits,
                                    const REAL *targets, REAL scale, int64_t n, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * 8);
    (void)nt;
    if (dloss) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t i = 0; i < n; i++)
            dlogits[i] = (SUF(sigmoid_stable)(logits[i]) - targets[i]) * scale * dloss[i];
    } else {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t i = 0; i < n; i++)
            dlogits[i] = (SUF(sigmoid_stable)(logits[i]) - targets[i]) * scale;
    }
}

#endif /* REAL */
