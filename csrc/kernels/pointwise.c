/* pointwise.c -- elementwise activations (see pointwise.h).  One loop per kind
 * (the switch is outside the loop, so each loop vectorises); math in the
 * element type through <tgmath.h>.  With glibc >= 2.35 on x86-64 the loops
 * call libmvec's SIMD exp / erf / tanh / log1p (declared `omp declare simd`
 * below; setup.py links libm, whose linker script adds libmvec); elsewhere
 * they call the scalar functions.  Typed bodies are instantiated for float
 * and double by self-inclusion. */
#ifndef REAL
#include <math.h>
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define CCNN_LIBMVEC 1
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
double erf(double);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
double log1p(double);
#endif
#include <string.h>
#include <tgmath.h>
#include "pointwise.h"
#include "kernels_common.h"

#define PW_MIN 32768        /* below this many elements, stay serial */
#define PW_CHUNK 16384
#define PW_LANES 16         /* a multiple of every clone's vector width (AVX-512 floats) */

static const char *const pw_names[CCNN_POINTWISE_KINDS] = {
    "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid", "hard_sigmoid",
    "silu", "hard_silu", "tanh", "softplus", "softsign", "exponential"};

const char *ccnn_pointwise_name(int kind)
{
    return kind >= 0 && kind < CCNN_POINTWISE_KINDS ? pw_names[kind] : NULL;
}

#define SELU_A 1.6732632423543772
#define SELU_S 1.0507009873554805
#define GELU_K 0.7978845608028654        /* sqrt(2 / pi) */
#define GELU_C 0.044715
#define INV_SQRT2 0.7071067811865476
#define INV_SQRT_2PI 0.3989422804014327

/* out[i] = EXPR(x) with x = inp[i] */
#define PW_MAP(EXPR)                                                         \
    do {                                                                     \
        _Pragma("omp simd")                                                  \
        for (int64_t i = 0; i < n; i++) { const REAL x = inp[i]; out[i] = (EXPR); } \
    } while (0)
/* dinp[i] = dout[i] * (EXPR)(x) with x = inp[i] */
#define PW_GRAD(EXPR)                                                        \
    do {                                                                     \
        _Pragma("omp simd")                                                  \
        for (int64_t i = 0; i < n; i++) {                                    \
            const REAL x = inp[i];                                           \
            dinp[i] = dout[i] * (EXPR);                                      \
        }                                                                    \
    } while (0)

#define CCNN_TEMPLATE "pointwise.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

static inline REAL SUF(pw_sigmoid)(REAL x) { return (REAL)1 / ((REAL)1 + exp(-x)); }

static CCNN_DISPATCH void SUF(pw_fwd_loop)(REAL *out, const REAL *inp, int64_t n, int kind,
                                           REAL a)
{
    const REAL zero = 0, one = 1, half = (REAL)0.5, six = 6, three = 3;
    const REAL sa = (REAL)SELU_A, ss = (REAL)SELU_S, k = (REAL)GELU_K, c = (REAL)GELU_C;
    switch (kind) {
    case 0: PW_MAP(x < zero ? zero : (x > six ? six : x)); break;
    case 1: PW_MAP(x > zero ? x : a * x); break;
    case 2: PW_MAP(x > zero ? x : a * (exp(x) - one)); break;
    case 3: PW_MAP(ss * (x > zero ? x : sa * (exp(x) - one))); break;
    case 4: PW_MAP(half * x * (one + erf(x * (REAL)INV_SQRT2))); break;
    case 5: PW_MAP(half * x * (one + tanh(k * (x + c * x * x * x)))); break;
    case 6: PW_MAP(SUF(pw_sigmoid)(x)); break;
    case 7: PW_MAP(x < -three ? zero : (x > three ? one : x / six + half)); break;
    case 8: PW_MAP(x * SUF(pw_sigmoid)(x)); break;
    case 9: PW_MAP(x < -three ? zero : (x > three ? x : x * (x / six + half))); break;
    case 10: PW_MAP(tanh(x)); break;
    case 11: PW_MAP((x > zero ? x : zero) + log1p(exp(-fabs(x)))); break;
    case 12: PW_MAP(x / (one + fabs(x))); break;
    case 13: PW_MAP(exp(x)); break;
    }
}

static CCNN_DISPATCH void SUF(pw_bwd_loop)(REAL *dinp, const REAL *dout, const REAL *inp,
                                           int64_t n, int kind, REAL a)
{
    const REAL zero = 0, one = 1, half = (REAL)0.5, six = 6, three = 3;
    const REAL sa = (REAL)SELU_A, ss = (REAL)SELU_S, k = (REAL)GELU_K, c = (REAL)GELU_C;
    switch (kind) {
    case 0: PW_GRAD(x > zero && x < six ? one : zero); break;
    case 1: PW_GRAD(x > zero ? one : a); break;
    case 2: PW_GRAD(x > zero ? one : a * exp(x)); break;
    case 3: PW_GRAD(x > zero ? ss : ss * sa * exp(x)); break;
    case 4: PW_GRAD(half * (one + erf(x * (REAL)INV_SQRT2))
                    + x * (REAL)INV_SQRT_2PI * exp(-half * x * x)); break;
    case 5: {
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            const REAL x = inp[i], t = tanh(k * (x + c * x * x * x));
            dinp[i] = dout[i] * (half * (one + t)
                                 + half * x * (one - t * t) * k * (one + 3 * c * x * x));
        }
        break;
    }
    case 6: {
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            const REAL s = SUF(pw_sigmoid)(inp[i]);
            dinp[i] = dout[i] * s * (one - s);
        }
        break;
    }
    case 7: PW_GRAD(x > -three && x < three ? one / six : zero); break;
    case 8: {
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            const REAL x = inp[i], s = SUF(pw_sigmoid)(x);
            dinp[i] = dout[i] * s * (one + x * (one - s));
        }
        break;
    }
    case 9: PW_GRAD(x < -three ? zero : (x > three ? one : (2 * x + three) / six)); break;
    case 10: {
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            const REAL t = tanh(inp[i]);
            dinp[i] = dout[i] * (one - t * t);
        }
        break;
    }
    case 11: PW_GRAD(SUF(pw_sigmoid)(x)); break;
    case 12: PW_GRAD(one / ((one + fabs(x)) * (one + fabs(x)))); break;
    case 13: PW_GRAD(exp(x)); break;
    }
}

/* The loops over n - n % PW_LANES elements, then the tail through a
 * PW_LANES buffer: every element goes through the SIMD loop body (never a
 * scalar epilogue, whose exp may round differently), so equal inputs give
 * equal outputs wherever they sit. */
static void SUF(pw_fwd_chunk)(REAL *out, const REAL *inp, int64_t n, int kind, REAL a)
{
    const int64_t body = n - n % PW_LANES;
    SUF(pw_fwd_loop)(out, inp, body, kind, a);
    if (body < n) {
        REAL tin[PW_LANES] = {0}, tout[PW_LANES];
        memcpy(tin, inp + body, (size_t)(n - body) * sizeof(REAL));
        SUF(pw_fwd_loop)(tout, tin, PW_LANES, kind, a);
        memcpy(out + body, tout, (size_t)(n - body) * sizeof(REAL));
    }
}

static void SUF(pw_bwd_chunk)(REAL *dinp, const REAL *dout, const REAL *inp, int64_t n,
                              int kind, REAL a)
{
    const int64_t body = n - n % PW_LANES;
    SUF(pw_bwd_loop)(dinp, dout, inp, body, kind, a);
    if (body < n) {
        REAL tin[PW_LANES] = {0}, tdout[PW_LANES] = {0}, tout[PW_LANES];
        memcpy(tin, inp + body, (size_t)(n - body) * sizeof(REAL));
        memcpy(tdout, dout + body, (size_t)(n - body) * sizeof(REAL));
        SUF(pw_bwd_loop)(tout, tdout, tin, PW_LANES, kind, a);
        memcpy(dinp + body, tout, (size_t)(n - body) * sizeof(REAL));
    }
}

/* ccnn_pointwise_forward_f32, ccnn_pointwise_forward_f64 */
int SUF(ccnn_pointwise_forward)(REAL *out, const REAL *inp, int64_t n, int kind, double alpha,
                                int nthreads)
{
    if (kind < 0 || kind >= CCNN_POINTWISE_KINDS) return CCNN_EBADARG;
    const int nt = n < PW_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += PW_CHUNK)
        SUF(pw_fwd_chunk)(out + i0, inp + i0, n - i0 < PW_CHUNK ? n - i0 : PW_CHUNK, kind,
                          (REAL)alpha);
    return CCNN_OK;
}

/* ccnn_pointwise_backward_f32, ccnn_pointwise_backward_f64 */
int SUF(ccnn_pointwise_backward)(REAL *dinp, const REAL *dout, const REAL *inp, int64_t n,
                                 int kind, double alpha, int nthreads)
{
    if (kind < 0 || kind >= CCNN_POINTWISE_KINDS) return CCNN_EBADARG;
    const int nt = n < PW_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += PW_CHUNK)
        SUF(pw_bwd_chunk)(dinp + i0, dout + i0, inp + i0, n - i0 < PW_CHUNK ? n - i0 : PW_CHUNK,
                          kind, (REAL)alpha);
    return CCNN_OK;
}

#endif /* REAL */
