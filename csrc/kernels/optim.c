/* optim.c -- fused Adam and SGD update kernels (see optim.h).
 *
 * Typed bodies are instantiated for float and double by self-inclusion.  The
 * arithmetic runs in the parameter's dtype, like Keras's updates.  Work is
 * split into fixed chunks: each thread owns whole chunks, and each chunk's
 * loop is a SIMD-dispatched clone (AVX-512 / AVX2+FMA / baseline).
 */
#ifndef REAL
#include <math.h>
#include <stdlib.h>
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

/* the element count of `count` arrays of lengths n[i] */
static int64_t elements_total(int64_t count, const int64_t *n)
{
    int64_t el = 0;
    for (int64_t i = 0; i < count; i++) el += n[i];
    return el;
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

/* Thread tid's share (of nthr) of the arrays' elements, in whole blocks of
 * CCNN_OPT_ALIGN elements of one array (an array's last block may be short):
 * the blocks [lo, hi) of all arrays' blocks in a row.  Every piece of an
 * array then starts at a multiple of CCNN_OPT_ALIGN, as the chunks of the
 * serial split do (the same lanes, the same remainder loop at the array's
 * end, on any thread count). */
#define CCNN_OPT_ALIGN 64
static void opt_share(int64_t count, const int64_t *n, int64_t tid, int64_t nthr,
                      int64_t *lo, int64_t *hi)
{
    int64_t blocks = 0;
    for (int64_t i = 0; i < count; i++) blocks += (n[i] + CCNN_OPT_ALIGN - 1) / CCNN_OPT_ALIGN;
    *lo = blocks * tid / nthr;
    *hi = blocks * (tid + 1) / nthr;
}

/* Optimizer state that decays geometrically -- Adam's m and v, momentum
 * velocities -- drifts into the subnormal range wherever a gradient stays
 * exactly zero (the weights of a dead ReLU unit): m = 0.9^t m0 is subnormal
 * after some 800 Adam steps, and on Intel cores every operation on a
 * subnormal takes a microcode assist (the book model's Adam step measured
 * 7.5x slower after 1,000 steps, 13 % of its m subnormal).  Each chunk of an
 * update therefore runs with flush-to-zero and denormals-are-zero set in the
 * thread's MXCSR, restored after it: such state becomes 0, as in
 * TensorFlow's CPU kernels, which run with the same two flags. */
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define OPT_FTZ_BEGIN const unsigned int csr_ = _mm_getcsr(); _mm_setcsr(csr_ | 0x8040u);
#define OPT_FTZ_END _mm_setcsr(csr_);
#else
#define OPT_FTZ_BEGIN
#define OPT_FTZ_END
#endif

/* The step kernels' common pre-steps, per array a: the gradient is scaled by
 * gscale[a] (clipnorm / global_clipnorm; NULL: 1) and clamped to
 * [-clipvalue, clipvalue] (clipvalue <= 0: none); the parameter first loses
 * param * decay[a] (decoupled weight decay, decay = weight_decay * lr; NULL: 0).
 * Runs over the `count` arrays of lengths n[] in one thread team, each thread
 * taking an equal share of all their elements (opt_share: the chunks of one
 * large array and a few small ones would leave one thread with a chunk more),
 * in pieces of at most CCNN_OPT_CHUNK; the body sees a (array), s (first
 * element), len, gs, wd, clip.  The bodies are elementwise, so the split
 * changes no result. */
#define OPT_FOR_CHUNKS(REALT, count, n, nthreads, gscale, decay, clipvalue, ...)            \
    do {                                                                                \
        const int nt_ = opt_threads(nthreads, elements_total(count, n));                \
        const REALT clip = (clipvalue) > 0 ? (REALT)(clipvalue) : (REALT)INFINITY;      \
        (void)nt_;                                                                      \
        _Pragma("omp parallel num_threads(nt_)")                                        \
        {                                                                               \
            int64_t tid_, nthr_, lo_, hi_, base_ = 0;   /* base_: array a's first block */ \
            ccnn_team(&tid_, &nthr_);                                                   \
            opt_share(count, n, tid_, nthr_, &lo_, &hi_);                               \
            for (int64_t a = 0; a < (count) && base_ < hi_; a++) {                      \
                const int64_t nb_ = ((n)[a] + CCNN_OPT_ALIGN - 1) / CCNN_OPT_ALIGN;     \
                const int64_t b0_ = lo_ > base_ ? lo_ - base_ : 0;                      \
                const int64_t b1_ = hi_ - base_ < nb_ ? hi_ - base_ : nb_;              \
                const int64_t s1_ = b1_ * CCNN_OPT_ALIGN < (n)[a] ? b1_ * CCNN_OPT_ALIGN : (n)[a]; \
                const REALT gs = (gscale) ? (REALT)(gscale)[a] : (REALT)1;              \
                const REALT wd = (decay) ? (REALT)(decay)[a] : (REALT)0;                \
                base_ += nb_;                                                           \
                for (int64_t s = b0_ * CCNN_OPT_ALIGN; s < s1_; s += CCNN_OPT_CHUNK) {  \
                    const int64_t len = s1_ - s < CCNN_OPT_CHUNK ? s1_ - s : CCNN_OPT_CHUNK; \
                    OPT_FTZ_BEGIN                                                       \
                    __VA_ARGS__                                                         \
                    OPT_FTZ_END                                                         \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    } while (0)
/* array a of an optional state list, from element s; NULL when the list is */
#define OPT_AT(list, a, s) ((list) ? (list)[a] + (s) : NULL)

#ifdef __GNUC__
#define OPT_INLINE static inline __attribute__((always_inline))
#else
#define OPT_INLINE static inline
#endif

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
        OPT_FTZ_BEGIN
        SUF(adam_chunk)(param + i0, m + i0, v + i0, grad + i0, len, lr_t, beta1, beta2, eps);
        OPT_FTZ_END
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
        OPT_FTZ_BEGIN
        SUF(sgd_chunk)(param + i0, velocity ? velocity + i0 : NULL, grad + i0, len, lr,
                       momentum, nesterov);
        OPT_FTZ_END
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
        OPT_FTZ_BEGIN
        SUF(adam_chunk)(param[a] + s, m[a] + s, v[a] + s, grad[a] + s, len, lr_t, beta1, beta2,
                        eps);
        OPT_FTZ_END
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

/* ---- step kernels: clipping and weight decay fused (see OPT_FOR_CHUNKS) ---- */

/* the gradient after clipping: g * gs clamped to [-clip, clip] (NaN stays NaN) */
static inline REAL SUF(clipped)(REAL g, REAL gs, REAL clip, const int pre)
{
    if (!pre) return g;
    g *= gs;
    return g > clip ? clip : (g < -clip ? -clip : g);
}

/* the parameter after decoupled weight decay (exactly p when wd is 0) */
static inline REAL SUF(decayed)(REAL p, REAL wd, const int pre)
{
    return pre && wd != 0 ? p - p * wd : p;
}

/* sum_squares: out[a] = sum of a[i]^2 (in double), per array; chunk partial
 * sums are added in chunk order, so the result is the same for any thread count */
static CCNN_DISPATCH double SUF(sumsq_chunk)(const REAL *restrict x, int64_t n)
{
    double acc = 0;
    #pragma omp simd reduction(+:acc)
    for (int64_t i = 0; i < n; i++) acc += (double)x[i] * (double)x[i];
    return acc;
}

/* ccnn_sum_squares_f32, ccnn_sum_squares_f64 */
int SUF(ccnn_sum_squares)(double *out, int64_t count, const REAL *const *x, const int64_t *n,
                          int nthreads)
{
    int64_t elements;
    const int64_t total = chunks_total(count, n, &elements);
    const int nt = opt_threads(nthreads, elements);
    double *part = (double *)malloc((size_t)(total > 0 ? total : 1) * sizeof(double));
    int64_t *owner = (int64_t *)malloc((size_t)(total > 0 ? total : 1) * sizeof(int64_t));
    (void)nt;
    if (part == NULL || owner == NULL) {
        free(part); free(owner);
        return CCNN_ENOMEM;
    }
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t ci = 0; ci < total; ci++) {
        int64_t a, s, len;
        chunk_locate(ci, count, n, &a, &s, &len);
        owner[ci] = a;
        part[ci] = SUF(sumsq_chunk)(x[a] + s, len);
    }
    for (int64_t i = 0; i < count; i++) out[i] = 0;
    for (int64_t ci = 0; ci < total; ci++) out[owner[ci]] += part[ci];
    free(part); free(owner);
    return CCNN_OK;
}

/* Adam (+ AMSGrad when vhat is not NULL: vhat = max(vhat, v), used for v) */
OPT_INLINE void SUF(adam_step_body)(REAL *restrict p, REAL *restrict m,
                                    REAL *restrict v, REAL *restrict vhat,
                                    const REAL *restrict g, int64_t n, REAL gs,
                                    REAL clip, REAL wd, REAL lr_t, REAL b1,
                                    REAL b2, REAL eps, const int pre)
{
    const REAL c1 = (REAL)1 - b1, c2 = (REAL)1 - b2;
    if (vhat == NULL) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
            const REAL mi = b1 * m[i] + c1 * gi;
            const REAL vi = b2 * v[i] + c2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = SUF(decayed)(p[i], wd, pre) - lr_t * mi / (SQRT_R(vi) + eps);
        }
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
            const REAL mi = b1 * m[i] + c1 * gi;
            const REAL vi = b2 * v[i] + c2 * gi * gi;
            const REAL hi = vhat[i] > vi ? vhat[i] : vi;
            m[i] = mi;
            v[i] = vi;
            vhat[i] = hi;
            p[i] = SUF(decayed)(p[i], wd, pre) - lr_t * mi / (SQRT_R(hi) + eps);
        }
    }
}

static CCNN_DISPATCH void SUF(adam_step_chunk)(REAL *p, REAL *m,
                                               REAL *v, REAL *vhat,
                                               const REAL *g, int64_t n, REAL gs,
                                               REAL clip, REAL wd, REAL lr_t, REAL b1,
                                               REAL b2, REAL eps)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(adam_step_body)(p, m, v, vhat, g, n, gs, clip, wd, lr_t, b1, b2, eps, 0);
    else
        SUF(adam_step_body)(p, m, v, vhat, g, n, gs, clip, wd, lr_t, b1, b2, eps, 1);
}

/* ccnn_adam_step_f32, ccnn_adam_step_f64 */
void SUF(ccnn_adam_step)(int64_t count, REAL *const *param, REAL *const *m, REAL *const *v,
                         REAL *const *vhat, const REAL *const *grad, const int64_t *n,
                         const double *gscale, double clipvalue, const double *decay,
                         REAL lr_t, REAL beta1, REAL beta2, REAL eps, int nthreads)
{
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(adam_step_chunk)(param[a] + s, m[a] + s, v[a] + s, OPT_AT(vhat, a, s),
                             grad[a] + s, len, gs, clip, wd, lr_t, beta1, beta2, eps););
}

/* SGD (velocity NULL when momentum is 0) */
OPT_INLINE void SUF(sgd_step_body)(REAL *restrict p, REAL *restrict vel,
                                   const REAL *restrict g, int64_t n, REAL gs,
                                   REAL clip, REAL wd, REAL lr, REAL mom,
                                   int nesterov, const int pre)
{
    if (vel == NULL) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++)
            p[i] = SUF(decayed)(p[i], wd, pre) - lr * SUF(clipped)(g[i], gs, clip, pre);
    } else if (nesterov) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL step = -lr * SUF(clipped)(g[i], gs, clip, pre);
            const REAL vi = mom * vel[i] + step;
            vel[i] = vi;
            p[i] = SUF(decayed)(p[i], wd, pre) + (mom * vi + step);
        }
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const REAL vi = mom * vel[i] - lr * SUF(clipped)(g[i], gs, clip, pre);
            vel[i] = vi;
            p[i] = SUF(decayed)(p[i], wd, pre) + vi;
        }
    }
}

static CCNN_DISPATCH void SUF(sgd_step_chunk)(REAL *p, REAL *vel,
                                              const REAL *g, int64_t n, REAL gs,
                                              REAL clip, REAL wd, REAL lr, REAL mom,
                                              int nesterov)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(sgd_step_body)(p, vel, g, n, gs, clip, wd, lr, mom, nesterov, 0);
    else
        SUF(sgd_step_body)(p, vel, g, n, gs, clip, wd, lr, mom, nesterov, 1);
}

/* ccnn_sgd_step_f32, ccnn_sgd_step_f64 */
void SUF(ccnn_sgd_step)(int64_t count, REAL *const *param, REAL *const *velocity,
                        const REAL *const *grad, const int64_t *n, const double *gscale,
                        double clipvalue, const double *decay, REAL lr, REAL momentum,
                        int nesterov, int nthreads)
{
    if (momentum == 0) velocity = NULL;
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(sgd_step_chunk)(param[a] + s, OPT_AT(velocity, a, s), grad[a] + s, len, gs, clip,
                            wd, lr, momentum, nesterov););
}

/* RMSprop: one body, specialised for (centered, momentum) by inlining */
OPT_INLINE void SUF(rmsprop_body)(REAL *restrict p, REAL *restrict vel, REAL *restrict mom,
                                  REAL *restrict avg, const REAL *restrict g, int64_t n,
                                  REAL gs, REAL clip, REAL wd, REAL lr, REAL rho, REAL mu,
                                  REAL eps, const int centered, const int has_mom,
                                  const int pre)
{
    const REAL c = (REAL)1 - rho;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
        const REAL vi = rho * vel[i] + c * (gi * gi);
        REAL den;
        vel[i] = vi;
        if (centered) {
            const REAL ai = rho * avg[i] + c * gi;
            avg[i] = ai;
            den = vi - ai * ai + eps;
        } else {
            den = vi + eps;
        }
        const REAL inc = lr * gi / SQRT_R(den);
        if (has_mom) {
            const REAL mo = mu * mom[i] + inc;
            mom[i] = mo;
            p[i] = SUF(decayed)(p[i], wd, pre) - mo;
        } else {
            p[i] = SUF(decayed)(p[i], wd, pre) - inc;
        }
    }
}

static CCNN_DISPATCH void SUF(rmsprop_chunk)(REAL *p, REAL *vel, REAL *mom, REAL *avg,
                                             const REAL *g, int64_t n, REAL gs, REAL clip,
                                             REAL wd, REAL lr, REAL rho, REAL mu, REAL eps)
{
    const int pre = !(gs == 1 && wd == 0 && clip == (REAL)INFINITY);
    if (avg && mom)
        SUF(rmsprop_body)(p, vel, mom, avg, g, n, gs, clip, wd, lr, rho, mu, eps, 1, 1, pre);
    else if (avg)
        SUF(rmsprop_body)(p, vel, mom, avg, g, n, gs, clip, wd, lr, rho, mu, eps, 1, 0, pre);
    else if (mom)
        SUF(rmsprop_body)(p, vel, mom, avg, g, n, gs, clip, wd, lr, rho, mu, eps, 0, 1, pre);
    else
        SUF(rmsprop_body)(p, vel, mom, avg, g, n, gs, clip, wd, lr, rho, mu, eps, 0, 0, pre);
}

/* ccnn_rmsprop_step_f32, ccnn_rmsprop_step_f64 */
void SUF(ccnn_rmsprop_step)(int64_t count, REAL *const *param, REAL *const *velocity,
                            REAL *const *momentum_buf, REAL *const *average_grad,
                            const REAL *const *grad, const int64_t *n, const double *gscale,
                            double clipvalue, const double *decay, REAL lr, REAL rho,
                            REAL momentum, REAL eps, int nthreads)
{
    if (!(momentum > 0)) momentum_buf = NULL;
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(rmsprop_chunk)(param[a] + s, velocity[a] + s, OPT_AT(momentum_buf, a, s),
                           OPT_AT(average_grad, a, s), grad[a] + s, len, gs, clip, wd, lr,
                           rho, momentum, eps););
}

/* Adagrad */
OPT_INLINE void SUF(adagrad_body)(REAL *restrict p, REAL *restrict acc,
                                  const REAL *restrict g, int64_t n, REAL gs,
                                  REAL clip, REAL wd, REAL lr, REAL eps, const int pre)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
        const REAL ai = acc[i] + gi * gi;
        acc[i] = ai;
        p[i] = SUF(decayed)(p[i], wd, pre) - lr * gi / SQRT_R(ai + eps);
    }
}

static CCNN_DISPATCH void SUF(adagrad_chunk)(REAL *p, REAL *acc,
                                             const REAL *g, int64_t n, REAL gs,
                                             REAL clip, REAL wd, REAL lr, REAL eps)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(adagrad_body)(p, acc, g, n, gs, clip, wd, lr, eps, 0);
    else
        SUF(adagrad_body)(p, acc, g, n, gs, clip, wd, lr, eps, 1);
}

/* ccnn_adagrad_step_f32, ccnn_adagrad_step_f64 */
void SUF(ccnn_adagrad_step)(int64_t count, REAL *const *param, REAL *const *accumulator,
                            const REAL *const *grad, const int64_t *n, const double *gscale,
                            double clipvalue, const double *decay, REAL lr, REAL eps,
                            int nthreads)
{
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(adagrad_chunk)(param[a] + s, accumulator[a] + s, grad[a] + s, len, gs, clip, wd,
                           lr, eps););
}

/* Adadelta */
OPT_INLINE void SUF(adadelta_body)(REAL *restrict p, REAL *restrict ag,
                                   REAL *restrict ad, const REAL *restrict g,
                                   int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                   REAL rho, REAL eps, const int pre)
{
    const REAL c = (REAL)1 - rho;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
        const REAL agi = rho * ag[i] + c * (gi * gi);
        const REAL dv = -(SQRT_R(ad[i] + eps) * gi / SQRT_R(agi + eps));
        ag[i] = agi;
        ad[i] = rho * ad[i] + c * (dv * dv);
        p[i] = SUF(decayed)(p[i], wd, pre) + lr * dv;
    }
}

static CCNN_DISPATCH void SUF(adadelta_chunk)(REAL *p, REAL *ag,
                                              REAL *ad, const REAL *g,
                                              int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                              REAL rho, REAL eps)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(adadelta_body)(p, ag, ad, g, n, gs, clip, wd, lr, rho, eps, 0);
    else
        SUF(adadelta_body)(p, ag, ad, g, n, gs, clip, wd, lr, rho, eps, 1);
}

/* ccnn_adadelta_step_f32, ccnn_adadelta_step_f64 */
void SUF(ccnn_adadelta_step)(int64_t count, REAL *const *param, REAL *const *accumulated_grad,
                             REAL *const *accumulated_delta, const REAL *const *grad,
                             const int64_t *n, const double *gscale, double clipvalue,
                             const double *decay, REAL lr, REAL rho, REAL eps, int nthreads)
{
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(adadelta_chunk)(param[a] + s, accumulated_grad[a] + s, accumulated_delta[a] + s,
                            grad[a] + s, len, gs, clip, wd, lr, rho, eps););
}

/* Adamax: bias1 = 1 - beta1^t */
OPT_INLINE void SUF(adamax_body)(REAL *restrict p, REAL *restrict m,
                                 REAL *restrict u, const REAL *restrict g,
                                 int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                 REAL b1, REAL b2, REAL eps, REAL bias1, const int pre)
{
    const REAL c1 = (REAL)1 - b1;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL bu = b2 * u[i], ag = gi < 0 ? -gi : gi;
        const REAL ui = bu > ag ? bu : ag;
        m[i] = mi;
        u[i] = ui;
        p[i] = SUF(decayed)(p[i], wd, pre) - lr * mi / (bias1 * (ui + eps));
    }
}

static CCNN_DISPATCH void SUF(adamax_chunk)(REAL *p, REAL *m,
                                            REAL *u, const REAL *g,
                                            int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                            REAL b1, REAL b2, REAL eps, REAL bias1)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(adamax_body)(p, m, u, g, n, gs, clip, wd, lr, b1, b2, eps, bias1, 0);
    else
        SUF(adamax_body)(p, m, u, g, n, gs, clip, wd, lr, b1, b2, eps, bias1, 1);
}

/* ccnn_adamax_step_f32, ccnn_adamax_step_f64 */
void SUF(ccnn_adamax_step)(int64_t count, REAL *const *param, REAL *const *m, REAL *const *u,
                           const REAL *const *grad, const int64_t *n, const double *gscale,
                           double clipvalue, const double *decay, REAL lr, REAL beta1,
                           REAL beta2, REAL eps, REAL bias1, int nthreads)
{
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(adamax_chunk)(param[a] + s, m[a] + s, u[a] + s, grad[a] + s, len, gs, clip, wd,
                          lr, beta1, beta2, eps, bias1););
}

/* Nadam: m_hat = u_next * m / den_next + one_minus_u * g / den; v_hat = v / den_v */
OPT_INLINE void SUF(nadam_body)(REAL *restrict p, REAL *restrict m,
                                REAL *restrict v, const REAL *restrict g,
                                int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                REAL b1, REAL b2, REAL eps, REAL u_next,
                                REAL den_next, REAL one_minus_u, REAL den,
                                REAL den_v, const int pre)
{
    const REAL c1 = (REAL)1 - b1, c2 = (REAL)1 - b2;
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL gi = SUF(clipped)(g[i], gs, clip, pre);
        const REAL mi = b1 * m[i] + c1 * gi;
        const REAL vi = b2 * v[i] + c2 * (gi * gi);
        const REAL mhat = u_next * mi / den_next + one_minus_u * gi / den;
        m[i] = mi;
        v[i] = vi;
        p[i] = SUF(decayed)(p[i], wd, pre) - mhat * lr / (SQRT_R(vi / den_v) + eps);
    }
}

static CCNN_DISPATCH void SUF(nadam_chunk)(REAL *p, REAL *m,
                                           REAL *v, const REAL *g,
                                           int64_t n, REAL gs, REAL clip, REAL wd, REAL lr,
                                           REAL b1, REAL b2, REAL eps, REAL u_next,
                                           REAL den_next, REAL one_minus_u, REAL den,
                                           REAL den_v)
{
    if (gs == 1 && wd == 0 && clip == (REAL)INFINITY)  /* no clipping, no decay */
        SUF(nadam_body)(p, m, v, g, n, gs, clip, wd, lr, b1, b2, eps, u_next, den_next,
                        one_minus_u, den, den_v, 0);
    else
        SUF(nadam_body)(p, m, v, g, n, gs, clip, wd, lr, b1, b2, eps, u_next, den_next,
                        one_minus_u, den, den_v, 1);
}

/* ccnn_nadam_step_f32, ccnn_nadam_step_f64 */
void SUF(ccnn_nadam_step)(int64_t count, REAL *const *param, REAL *const *m, REAL *const *v,
                          const REAL *const *grad, const int64_t *n, const double *gscale,
                          double clipvalue, const double *decay, REAL lr, REAL beta1,
                          REAL beta2, REAL eps, REAL u_next, REAL den_next, REAL one_minus_u,
                          REAL den, REAL den_v, int nthreads)
{
    OPT_FOR_CHUNKS(REAL, count, n, nthreads, gscale, decay, clipvalue,
        SUF(nadam_chunk)(param[a] + s, m[a] + s, v[a] + s, grad[a] + s, len, gs, clip, wd, lr,
                         beta1, beta2, eps, u_next, den_next, one_minus_u, den, den_v););
}

#endif /* REAL */
