/* global_pool.c -- global average / max pooling over rows (see global_pool.h).
 * Threads take rows; a row's sum is a SIMD sum accumulated in double.
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <math.h>
#include <string.h>
#include "global_pool.h"
#include "kernels_common.h"

#define CCNN_TEMPLATE "global_pool.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_global_avg_pool_forward_f32, ccnn_global_avg_pool_forward_f64 */
void SUF(ccnn_global_avg_pool_forward)(REAL *out, const REAL *inp, int64_t rows, int64_t len,
                                       int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * len);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++)
        out[r] = (REAL)(SUF(ccnn_sum)(len, inp + r * len) / (double)len);
}

/* ccnn_global_avg_pool_backward_f32, ccnn_global_avg_pool_backward_f64 */
void SUF(ccnn_global_avg_pool_backward)(REAL *dinp, const REAL *dout, int64_t rows,
                                        int64_t len, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * len);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const REAL g = (REAL)((double)dout[r] / (double)len);
        REAL *d = dinp + r * len;
        #pragma omp simd
        for (int64_t i = 0; i < len; i++) d[i] = g;
    }
}

/* ccnn_global_max_pool_forward_f32, ccnn_global_max_pool_forward_f64 */
void SUF(ccnn_global_max_pool_forward)(REAL *out, int64_t *argmax, const REAL *inp,
                                       int64_t rows, int64_t len, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * len);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const REAL *x = inp + r * len;
        int64_t best = 0;
        REAL m = x[0];
        if (!isnan(m)) {
            for (int64_t i = 1; i < len; i++) {
                if (isnan(x[i])) { best = i; m = x[i]; break; }
                if (x[i] > m) { best = i; m = x[i]; }
            }
        }
        out[r] = m;
        argmax[r] = best;
    }
}

/* ccnn_global_max_pool_backward_f32, ccnn_global_max_pool_backward_f64 */
int SUF(ccnn_global_max_pool_backward)(REAL *dinp, const REAL *dout, const int64_t *argmax,
                                       int64_t rows, int64_t len, int nthreads)
{
    for (int64_t r = 0; r < rows; r++)
        if (argmax[r] < 0 || argmax[r] >= len) return CCNN_EBADARG;
    const int nt = ccnn_threads_for(nthreads, rows * len);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        memset(dinp + r * len, 0, (size_t)len * sizeof(REAL));
        dinp[r * len + argmax[r]] = dout[r];
    }
    return CCNN_OK;
}

#endif /* REAL */
