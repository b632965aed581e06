/* activation.c -- ReLU and dropout kernels (see activation.h).
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include "activation.h"
#include "kernels_common.h"

#define CCNN_EW_MIN 65536   /* elementwise: below this many elements, stay serial */
#define CCNN_HASH_MIN 16384 /* the same for the dropout draw: ~1 ns an element (two
                             * hash rounds), so threads pay off 4x sooner */
#define CCNN_MASK_MIN 32768 /* the same for dropout's apply (its backward): a byte
                             * read besides, ~0.25 ns an element (the book model's
                             * 32 x 1960 in ~16 us on one thread) */

/* A 32-bit integer mixer (Chris Wellons' "lowbias32": xorshift-multiply,
 * twice); bijective, and it vectorises (32-bit multiplies). */
static inline uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7feb352dU;
    h ^= h >> 15;
    h *= 0x846ca68bU;
    h ^= h >> 16;
    return h;
}

/* keep element i when its draw is >= thr: probability (2^32 - thr) / 2^32 */
static inline uint32_t keep_threshold(double rate)
{
    const double t = rate * 4294967296.0;
    return t >= 4294967295.0 ? 4294967295U : (uint32_t)t;
}

#define CCNN_TEMPLATE "activation.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

static CCNN_DISPATCH void SUF(relu_fwd_chunk)(REAL *out, const REAL *inp, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] < 0 ? (REAL)0 : inp[i];
}

/* ccnn_relu_forward_f32, ccnn_relu_forward_f64 */
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

/* ccnn_relu_backward_f32, ccnn_relu_backward_f64 */
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

/* ccnn_dropout_forward_f32, ccnn_dropout_forward_f64 */
void SUF(ccnn_dropout_forward)(REAL *out, const REAL *inp, const uint8_t *mask, REAL scale,
                               int64_t n, int nthreads)
{
    const int nt = n < CCNN_MASK_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 16384;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(dropout_chunk)(out + i0, inp + i0, mask + i0, scale, n - i0 < chunk ? n - i0 : chunk);
}

/* out, mask (n) <- inp (n) for the elements [i0, i0 + len) of the stream */
static CCNN_DISPATCH void SUF(dropout_sample_chunk)(REAL *out, uint8_t *mask, const REAL *inp,
                                                    int64_t i0, int64_t len, uint32_t thr,
                                                    uint32_t s0, uint32_t s1, REAL scale)
{
    const uint32_t hi = mix32((uint32_t)((uint64_t)i0 >> 32) ^ s1);   /* chunks never cross 2^32 */
    const uint32_t lo0 = (uint32_t)i0;
    #pragma omp simd
    for (int64_t i = 0; i < len; i++) {
        const uint32_t u = mix32(mix32((lo0 + (uint32_t)i) ^ s0) + hi);
        const uint8_t keep = u >= thr;
        mask[i] = keep;
        out[i] = inp[i] * (keep ? scale : (REAL)0);
    }
}

/* ccnn_dropout_sample_f32, ccnn_dropout_sample_f64 */
void SUF(ccnn_dropout_sample)(REAL *out, uint8_t *mask, const REAL *inp, int64_t n,
                              double rate, uint64_t seed, int nthreads)
{
    const int nt = n < CCNN_HASH_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 8192;           /* divides 2^32: no chunk crosses it */
    const uint32_t thr = keep_threshold(rate);
    const uint32_t s0 = (uint32_t)seed, s1 = (uint32_t)(seed >> 32);
    const REAL scale = (REAL)(1.0 / (1.0 - rate));
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(dropout_sample_chunk)(out + i0, mask + i0, inp + i0, i0,
                                  n - i0 < chunk ? n - i0 : chunk, thr, s0, s1, scale);
}

#endif /* REAL */
