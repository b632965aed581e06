/* optim.c -- fused Adam and SGD update kernels (see optim.h).
 *
 * Typed bodies are instantiated for float and double by self-inclusion.  The
 * arithmetic runs in the parameter's dtype, like Keras's updates.  Work is
 * split into fixed chunks: each thread owns whole chunks, and each chunk's
 * loop is a SIMD-dispatched clone (AVX-512 / AVX2+FMA / baseline).
 */
#ifndef REAL
#include <math.h>
#include "optim.h"
#include "kernels_common.h"

#define CCNN_OPT_MIN 65536    /* below this many elements, stay serial */
#define CCNN_OPT_CHUNK 16384

static inline int opt_threads(int nthreads, int64_t n)
{
    return n < CCNN_OPT_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
}

/* Chunks of CCNN_OPT_CHUNK elements over `count` arrays of lengths n[i]:
 * the total, and for chunk `ci` its array and first element. */
static int64_t chunks_total(int64_t count, const int64_t *n, int64_t *elements)
{
    int64_t total = 0, el = 0;
    for (int64_t i = 0; i < count; i++) {
        total += (n[i] + CCNN_OPT_CHUNK - 1) / CCNN_OPT_CHUNK;
        el += n[i];
    }
    *elements = el;
    return total;
}

static void chunk_locate(int64_t ci, int64_t count, const int64_t *n, int64_t *arr,
                         int64_t *start, int64_t *len)
{
    for (int64_t i = 0; i < count; i++) {
        const int64_t c = (n[i] + CCNN_OPT_CHUNK - 1) / CCNN_OPT_CHUNK;
        if (ci < c) {
            *arr = i;
            *start = ci * CCNN_OPT_CHUNK;
            *len = n[i] - *start < CCNN_OPT_CHUNK ? n[i] - *start : CCNN_OPT_CHUNK;
            return;
        }
        ci -= c;
    }
    *arr = 0; *start = 0; *len = 0;
}

#define REAL float
#define SUF(name) name##_f32
#define SQRT_R sqrtf
#include "optim.c"
#undef REAL
#undef SUF
#undef SQRT_R

#define REAL double
#define SUF(name) name##_f64
#define SQRT_R sqrt
#include "optim.c"
#undef REAL
#undef SUF
#undef SQRT_R

#else /* ---- typed bodies ---------------------------------------------------- */

static CCNN_DISPATCH void SUF(adam_chunk)(REAL *restrict p, REAL *restrict m, REAL *restrict v,
                                          const REAL *restrict g, int64_t n, REAL lr_t,
                                          REAL b1, REAL b2, REAL eps)
{
    const REAL c1 = (REAL)1 - b1, c2 = (REAL)1 - b2;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = g[i];
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t * mi / (SQRT_R(vi) + eps);
    }
}

/* ccnn_adam_update_f32, ccnn_adam_update_f64 */
void SUF(ccnn_adam_update)(REAL *param, REAL *m, REAL *v, const REAL *grad, int64_t n,
                           REAL lr_t, REAL beta1, REAL beta2, REAL eps, int nthreads)
{
    const int nt = opt_threads(nthreads, n);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += CCNN_OPT_CHUNK) {
        const int64_t len = n - i0 < CCNN_OPT_CHUNK ? n - i0 : CCNN_OPT_CHUNK;
        SUF(adam_chunk)(param + i0, m + i0, v + i0, grad + i0, len, lr_t, beta1, beta2, eps);
    }
}

static CCNN_DISPATCH void SUF(sgd_chunk)(REAL *restrict p, REAL *restrict vel,
                                         const REAL *restrict g, int64_t n, REAL lr,
                                         REAL mom, int nesterov)
{
    if (vel == NULL) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) p[i] -= lr * g[i];
    } else if (nesterov) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL step = -lr * g[i];
            const REAL vi = mom * vel[i] + step;
            vel[i] = vi;
            p[i] += mom * vi + step;
        }
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL vi = mom * vel[i] - lr * g[i];
            vel[i] = vi;
            p[i] += vi;
        }
    }
}

/* ccnn_sgd_update_f32, ccnn_sgd_update_f64 */
void SUF(ccnn_sgd_update)(REAL *param, REAL *velocity, const REAL *grad, int64_t n,
                          REAL lr, REAL momentum, int nesterov, int nthreads)
{
    const int nt = opt_threads(nthreads, n);
    (void)nt;
    if (momentum == 0) velocity = NULL;   /* Keras keeps no velocity then */
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += CCNN_OPT_CHUNK) {
        const int64_t len = n - i0 < CCNN_OPT_CHUNK ? n - i0 : CCNN_OPT_CHUNK;
        SUF(sgd_chunk)(param + i0, velocity ? velocity + i0 : NULL, grad + i0, len, lr,
                       momentum, nesterov);
    }
}

/* ccnn_adam_update_many_f32, ccnn_adam_update_many_f64 */
void SUF(ccnn_adam_update_many)(int64_t count, REAL *const *param, REAL *const *m,
                                REAL *const *v, const REAL *const *grad, const int64_t *n,
                                REAL lr_t, REAL beta1, REAL beta2, REAL eps, int nthreads)
{
    int64_t elements;
    const int64_t total = chunks_total(count, n, &elements);
    const int nt = opt_threads(nthreads, elements);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t ci = 0; ci < total; ci++) {
        int64_t a, s, len;
        chunk_locate(ci, count, n, &a, &s, &len);
        SUF(adam_chunk)(param[a] + s, m[a] + s, v[a] + s, grad[a] + s, len, lr_t, beta1, beta2,
                        eps);
    }
}

/* ccnn_all_finite_f32, ccnn_all_finite_f64 */
int SUF(ccnn_all_finite)(int64_t count, const REAL *const *a, const int64_t *n, int nthreads)
{
    int64_t elements;
    const int64_t total = chunks_total(count, n, &elements);
    const int nt = opt_threads(nthreads, elements);
    int ok = 1;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt) reduction(&&:ok)
    for (int64_t ci = 0; ci < total; ci++) {
        int64_t i, s, len;
        chunk_locate(ci, count, n, &i, &s, &len);
        ok = ok && SUF(ccnn_finite)(len, a[i] + s);
    }
    return ok;
}

#endif /* REAL */
