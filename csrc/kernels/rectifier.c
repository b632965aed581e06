/* rectifier.c -- Keras's ReLU(negative_slope, max_value, threshold) and PReLU
 * (see rectifier.h).  Elementwise loops split into chunks across threads; the
 * PReLU slope gradient is a column sum: each thread owns a block of columns
 * and walks every row, so the sums come out the same on any thread count.
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <math.h>
#include "rectifier.h"
#include "kernels_common.h"

#define RECT_CHUNK 16384
#define RECT_COLS 256         /* PReLU dalpha: columns per thread block */

#define CCNN_TEMPLATE "rectifier.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_relu_ext_forward_f32, ccnn_relu_ext_forward_f64 */
void SUF(ccnn_relu_ext_forward)(REAL *out, const REAL *inp, int64_t n, double negative_slope,
                                double max_value, double threshold, int nthreads)
{
    const REAL s = (REAL)negative_slope, m = (REAL)max_value, t = (REAL)threshold;
    const int64_t chunks = (n + RECT_CHUNK - 1) / RECT_CHUNK;
    const int nt = ccnn_threads_for(nthreads, n);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t lo = c * RECT_CHUNK, hi = lo + RECT_CHUNK < n ? lo + RECT_CHUNK : n;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            const REAL x = inp[i];
            REAL pos = x > t ? x : (REAL)0;
            pos = pos < m ? pos : m;
            const REAL below = t - x > (REAL)0 ? t - x : (REAL)0;
            out[i] = isnan(x) ? x : pos - s * below;
        }
    }
}

/* ccnn_relu_ext_backward_f32, ccnn_relu_ext_backward_f64 */
void SUF(ccnn_relu_ext_backward)(REAL *dinp, const REAL *dout, const REAL *inp, int64_t n,
                                 double negative_slope, double max_value, double threshold,
                                 int nthreads)
{
    const REAL s = (REAL)negative_slope, m = (REAL)max_value, t = (REAL)threshold;
    const int64_t chunks = (n + RECT_CHUNK - 1) / RECT_CHUNK;
    const int nt = ccnn_threads_for(nthreads, n);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t lo = c * RECT_CHUNK, hi = lo + RECT_CHUNK < n ? lo + RECT_CHUNK : n;
        #pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            const REAL x = inp[i];
            const REAL d = (x > t && x <= m ? (REAL)1 : (REAL)0) + (x < t ? s : (REAL)0);
            dinp[i] = dout[i] * d;
        }
    }
}

/* ccnn_prelu_forward_f32, ccnn_prelu_forward_f64 */
void SUF(ccnn_prelu_forward)(REAL *out, const REAL *inp, const REAL *alpha, int64_t n,
                             int64_t a, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * a);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < n; r++) {
        const REAL *x = inp + r * a;                                  /* (a) */
        REAL *y = out + r * a;                                        /* (a) */
        #pragma omp simd
        for (int64_t j = 0; j < a; j++) y[j] = x[j] > (REAL)0 ? x[j] : alpha[j] * x[j];
    }
}

/* ccnn_prelu_backward_f32, ccnn_prelu_backward_f64 */
void SUF(ccnn_prelu_backward)(REAL *dinp, REAL *dalpha, const REAL *dout, const REAL *inp,
                              const REAL *alpha, int64_t n, int64_t a, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * a);
    (void)nt;
    if (dinp) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t r = 0; r < n; r++) {
            const REAL *x = inp + r * a, *g = dout + r * a;               /* (a) */
            REAL *d = dinp + r * a;                                       /* (a) */
            #pragma omp simd
            for (int64_t j = 0; j < a; j++) d[j] = x[j] > (REAL)0 ? g[j] : alpha[j] * g[j];
        }
    }
    if (dalpha) {
        const int64_t blocks = (a + RECT_COLS - 1) / RECT_COLS;
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t lo = b * RECT_COLS, hi = lo + RECT_COLS < a ? lo + RECT_COLS : a;
            double acc[RECT_COLS] = {0};
            for (int64_t r = 0; r < n; r++) {
                const REAL *x = inp + r * a, *g = dout + r * a;
                #pragma omp simd
                for (int64_t j = lo; j < hi; j++)
                    acc[j - lo] += x[j] < (REAL)0 ? (double)g[j] * (double)x[j] : 0.0;
            }
            for (int64_t j = lo; j < hi; j++) dalpha[j] = (REAL)acc[j - lo];
        }
    }
}

#endif /* REAL */
