/* log_softmax.c -- row-wise log-softmax and its gradient (see log_softmax.h).
 * Threads take rows.  Typed bodies are instantiated for float and double by
 * self-inclusion. */
#ifndef REAL
#include <math.h>
#include "log_softmax.h"
#include "kernels_common.h"

#define CCNN_TEMPLATE "log_softmax.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_log_softmax_forward_f32, ccnn_log_softmax_forward_f64 */
void SUF(ccnn_log_softmax_forward)(REAL *out, const REAL *inp, int64_t rows, int64_t classes,
                                   int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * classes * 8);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const REAL *x = inp + r * classes;                            /* (classes) */
        REAL *y = out + r * classes;                                  /* (classes) */
        REAL mx = x[0];
        for (int64_t k = 1; k < classes; k++) mx = x[k] > mx || isnan(x[k]) ? x[k] : mx;
        double sum = 0.0;
        for (int64_t k = 0; k < classes; k++) sum += exp((double)x[k] - (double)mx);
        const double lse = (double)mx + log(sum);
        for (int64_t k = 0; k < classes; k++) y[k] = (REAL)((double)x[k] - lse);
    }
}

/* ccnn_log_softmax_backward_f32, ccnn_log_softmax_backward_f64 */
void SUF(ccnn_log_softmax_backward)(REAL *dinp, const REAL *dout, const REAL *out,
                                    int64_t rows, int64_t classes, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * classes * 4);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const REAL *g = dout + r * classes, *y = out + r * classes;  /* (classes) */
        REAL *d = dinp + r * classes;                                 /* (classes) */
        double sum = 0.0;
        for (int64_t k = 0; k < classes; k++) sum += (double)g[k];
        for (int64_t k = 0; k < classes; k++)
            d[k] = (REAL)((double)g[k] - exp((double)y[k]) * sum);
    }
}

#endif /* REAL */
