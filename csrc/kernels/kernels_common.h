/* kernels_common.h -- private helpers for the kernel families: overflow checks
 * and SIMD-dispatched vector primitives (axpy, dot, sum).
 *
 * The typed primitives are written once and instantiated for float and double
 * by ccnn_template.h.  Each carries
 * CCNN_DISPATCH, so the loader picks an AVX-512, AVX2+FMA or baseline clone. */
#ifndef REAL
#ifndef CCNN_KERNELS_COMMON_H
#define CCNN_KERNELS_COMMON_H
#include <stdarg.h>
#include "ccnn_common.h"

/* 1 when the product of `count` non-negative int64 arguments overflows int64. */
static inline int ccnn_product_overflows(int count, ...)
{
    va_list ap;
    int64_t acc = 1;
    int bad = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++) {
        int64_t v = va_arg(ap, int64_t);
        if (v < 0 || __builtin_mul_overflow(acc, v, &acc)) bad = 1;
    }
    va_end(ap);
    return bad;
}

/* The kernels' numeric tuning knobs from the environment (runtime.c):
 * ccnn_env_knob(k) is the variable's value when it is a whole decimal number
 * >= 0 (digits only; capped at 2^40), else -1 (unset, empty or anything
 * else).  Each variable is read and parsed once, on first use, and kept:
 * after changing one in the process, call ccnn_env_reread() (Python:
 * ccnn._runtime.reread_environment()) before the next kernel call. */
enum {
    CCNN_KNOB_WINO_SMALL_CK_TILES,     /* conv2d.c: Winograd's tiles floor, c * k < 2048 */
    CCNN_KNOB_WINO_MIN_CALL_TILES,     /* conv2d.c: Winograd's tiles-per-call floor (AVX2) */
    CCNN_KNOB_WINO_WGRAD,              /* conv2d.c: 0 turns the Winograd weight gradient off */
    CCNN_KNOB_DENSE_SMALL_M,           /* dense.c: rows up to which the small-batch kernel runs */
    CCNN_KNOB_COUNT
};
int64_t ccnn_env_knob(int knob);

#define CCNN_UNUSED __attribute__((unused))
#define CCNN_TEMPLATE "kernels_common.h"
#include "ccnn_template.h"

#endif /* CCNN_KERNELS_COMMON_H */
#else /* ---- typed primitives ------------------------------------------------ */

/* y[i*incy] += a * x[i*incx],  i in [0, n) */
static CCNN_DISPATCH CCNN_UNUSED void SUF(ccnn_axpy)(int64_t n, REAL a, const REAL *restrict x, int64_t incx,
                                         REAL *restrict y, int64_t incy)
{
    if (incx == 1 && incy == 1) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i * incy] += a * x[i * incx];
    }
}

/* sum_i x[i*incx] * y[i*incy], accumulated in double */
static CCNN_DISPATCH CCNN_UNUSED double SUF(ccnn_dot)(int64_t n, const REAL *restrict x, int64_t incx,
                                          const REAL *restrict y, int64_t incy)
{
    double acc = 0.0;
    if (incx == 1 && incy == 1) {
        #pragma omp simd reduction(+:acc)
        for (int64_t i = 0; i < n; i++) acc += (double)x[i] * (double)y[i];
    } else {
        for (int64_t i = 0; i < n; i++) acc += (double)x[i * incx] * (double)y[i * incy];
    }
    return acc;
}

/* 1 when every x[i] is finite: x - x is 0 for a finite x and NaN otherwise,
 * and a NaN term makes the sum NaN in any order (so it vectorises) */
static CCNN_DISPATCH CCNN_UNUSED int SUF(ccnn_finite)(int64_t n, const REAL *restrict x)
{
    REAL bad = 0;
    #pragma omp simd reduction(+:bad)
    for (int64_t i = 0; i < n; i++) bad += x[i] - x[i];
    return bad == 0;
}

/* sum_i x[i], accumulated in double */
static CCNN_DISPATCH CCNN_UNUSED double SUF(ccnn_sum)(int64_t n, const REAL *restrict x)
{
    double acc = 0.0;
    #pragma omp simd reduction(+:acc)
    for (int64_t i = 0; i < n; i++) acc += (double)x[i];
    return acc;
}

#endif /* REAL */
