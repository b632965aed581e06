/* activation.c -- ReLU and dropout kernels (see activation.h).
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include "activation.h"
#include "kernels_common.h"

#define CCNN_EW_MIN 65536   /* elementwise: below this many elements, stay serial */

#define REAL float
#define SUF(name) name##_f32
#include "activation.c"
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include "activation.c"
#undef REAL
#undef SUF

#else /* ---- typed bodies ---------------------------------------------------- */

static CCNN_DISPATCH void SUF(relu_fwd_chunk)(REAL *out, const REAL *inp, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] < 0 ? (REAL)0 : inp[i];
}

void SUF(ccnn_relu_forward)(REAL *out, const REAL *inp, int64_t n, int nthreads)
{
    const int nt = n < CCNN_EW_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 16384;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(relu_fwd_chunk)(out + i0, inp + i0, n - i0 < chunk ? n - i0 : chunk);
}

static CCNN_DISPATCH void SUF(relu_bwd_chunk)(REAL *dinp, const REAL *dout, const REAL *inp, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const REAL keep = inp[i] > 0 ? (REAL)1 : (REAL)0;   /* a select, so it vectorises */
        dinp[i] = dout[i] * keep;
    }
}

void SUF(ccnn_relu_backward)(REAL *dinp, const REAL *dout, const REAL *inp, int64_t n, int nthreads)
{
    const int nt = n < CCNN_EW_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 16384;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(relu_bwd_chunk)(dinp + i0, dout + i0, inp + i0, n - i0 < chunk ? n - i0 : chunk);
}

static CCNN_DISPATCH void SUF(dropout_chunk)(REAL *out, const REAL *inp, const uint8_t *mask,
                                             REAL scale, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] * (mask[i] ? scale : (REAL)0);
}

void SUF(ccnn_dropout_forward)(REAL *out, const REAL *inp, const uint8_t *mask, REAL scale,
                               int64_t n, int nthreads)
{
    const int nt = n < CCNN_EW_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 16384;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(dropout_chunk)(out + i0, inp + i0, mask + i0, scale, n - i0 < chunk ? n - i0 : chunk);
}

#endif /* REAL */
