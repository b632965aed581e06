/* merge.c -- the merge layers' elementwise kernels (see merge.h).
 * Typed bodies are instantiated for float and double by ccnn_template.h. */
#ifndef REAL
#include <math.h>
#include <string.h>
#include "merge.h"
#include "kernels_common.h"

#define CCNN_MERGE_PAR_MIN 65536   /* below this many elements, stay serial */

#define CCNN_TEMPLATE "merge.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* one chunk: out (n) <- kind(a, b) (then relu when relu) */
static CCNN_DISPATCH void SUF(merge_chunk)(REAL *out, const REAL *a, const REAL *b, int64_t n,
                                          int kind, REAL div, int relu)
{
    switch (kind) {
    case CCNN_MERGE_ADD:
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        break;
    case CCNN_MERGE_SUB:
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = a[i] - b[i];
        break;
    case CCNN_MERGE_MUL:
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
        break;
    case CCNN_MERGE_AVG:
        for (int64_t i = 0; i < n; i++) {
            const REAL s = a[i] + b[i];      /* rounded to REAL, as NumPy's sum */
            out[i] = s / div;
        }
        break;
    case CCNN_MERGE_MAX:
        for (int64_t i = 0; i < n; i++) out[i] = isnan(a[i]) ? a[i] : a[i] > b[i] ? a[i] : b[i];
        break;
    default:   /* CCNN_MERGE_MIN */
        for (int64_t i = 0; i < n; i++) out[i] = isnan(a[i]) ? a[i] : a[i] < b[i] ? a[i] : b[i];
        break;
    }
    if (relu) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = out[i] < 0 ? (REAL)0 : out[i];
    }
}

/* ccnn_merge_forward_f32, ccnn_merge_forward_f64 */
int SUF(ccnn_merge_forward)(REAL *out, const REAL *a, const REAL *b, int64_t n, int kind,
                            double div, int act, int nthreads)
{
    if (kind < 0 || kind >= CCNN_MERGE_KINDS || (act != CCNN_MERGE_ACT_NONE &&
                                                 act != CCNN_MERGE_ACT_RELU) || n < 0)
        return CCNN_EBADARG;
    const int nt = n < CCNN_MERGE_PAR_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    const int64_t chunk = 16384;
    const REAL d = (REAL)div;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < n; i0 += chunk)
        SUF(merge_chunk)(out + i0, a + i0, b + i0, n - i0 < chunk ? n - i0 : chunk, kind, d,
                         act == CCNN_MERGE_ACT_RELU);
    return CCNN_OK;
}

/* ccnn_concat_rows_f32, ccnn_concat_rows_f64 */
void SUF(ccnn_concat_rows)(REAL *out, const REAL *inp, int64_t rows, int64_t len,
                           int64_t out_len, int64_t offset, int nthreads)
{
    const int nt = rows * len < CCNN_MERGE_PAR_MIN ? 1 : (nthreads < 1 ? 1 : nthreads);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++)
        memcpy(out + r * out_len + offset, inp + r * len, (size_t)len * sizeof(REAL));
}

#endif /* REAL */
