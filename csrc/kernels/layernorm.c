/* layernorm.c -- layer normalization over rows (see layernorm.h).  Threads
 * take rows for the statistics, the output and dx; dgamma / dbeta are summed
 * per fixed block of LN_BLOCK rows into a double workspace, then the blocks
 * are added in order.  Typed bodies are instantiated for float and double by
 * self-inclusion. */
#ifndef REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "layernorm.h"
#include "kernels_common.h"

#define LN_BLOCK 64           /* rows per block of the column sums */

#define CCNN_TEMPLATE "layernorm.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_layernorm_forward_f32, ccnn_layernorm_forward_f64 */
void SUF(ccnn_layernorm_forward)(REAL *out, double *mean, double *rstd, const REAL *x,
                                 const REAL *gamma, const REAL *beta, int64_t rows,
                                 int64_t cols, double eps, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, rows * cols * 4);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < rows; r++) {
        const REAL *xr = x + r * cols;                                /* (cols) */
        REAL *yr = out + r * cols;                                    /* (cols) */
        double s = 0.0;
        #pragma omp simd reduction(+:s)
        for (int64_t j = 0; j < cols; j++) s += (double)xr[j];
        const double m = s / (double)cols;
        double v = 0.0;
        #pragma omp simd reduction(+:v)
        for (int64_t j = 0; j < cols; j++) {
            const double d = (double)xr[j] - m;
            v += d * d;
        }
        const double rs = 1.0 / sqrt(v / (double)cols + eps);
        mean[r] = m;
        rstd[r] = rs;
        const REAL mr = (REAL)m, sr = (REAL)rs;
        #pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            REAL y = (xr[j] - mr) * sr;
            if (gamma) y *= gamma[j];
            if (beta) y += beta[j];
            yr[j] = y;
        }
    }
}

/* ccnn_layernorm_backward_f32, ccnn_layernorm_backward_f64 */
int SUF(ccnn_layernorm_backward)(REAL *dx, REAL *dgamma, REAL *dbeta, const REAL *dout,
                                 const REAL *x, const double *mean, const double *rstd,
                                 const REAL *gamma, int64_t rows, int64_t cols, int nthreads)
{
    const int64_t blocks = (rows + LN_BLOCK - 1) / LN_BLOCK;
    const int sums = dgamma != NULL || dbeta != NULL;
    double *part = NULL;                     /* (blocks, 2, cols): dgamma, dbeta partials */
    if (sums && blocks > 0) {
        part = (double *)calloc((size_t)(blocks * 2 * cols), sizeof(double));
        if (!part) return CCNN_ENOMEM;
    }
    const int nt = ccnn_threads_for(nthreads, rows * cols * 6);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t lo = b * LN_BLOCK, hi = lo + LN_BLOCK < rows ? lo + LN_BLOCK : rows;
        double *pg = part ? part + b * 2 * cols : NULL, *pb = pg ? pg + cols : NULL;
        for (int64_t r = lo; r < hi; r++) {
            const REAL *xr = x + r * cols, *gr = dout + r * cols;     /* (cols) */
            const double m = (double)mean[r], rs = (double)rstd[r];
            if (pg) {
                #pragma omp simd
                for (int64_t j = 0; j < cols; j++) {
                    pg[j] += (double)gr[j] * ((double)xr[j] - m) * rs;
                    pb[j] += (double)gr[j];
                }
            }
            if (!dx) continue;
            double s1 = 0.0, s2 = 0.0;    /* sums of dxhat and dxhat * xhat */
            #pragma omp simd reduction(+:s1, s2)
            for (int64_t j = 0; j < cols; j++) {
                const double dh = (double)gr[j] * (gamma ? (double)gamma[j] : 1.0);
                s1 += dh;
                s2 += dh * ((double)xr[j] - m) * rs;
            }
            s1 /= (double)cols;
            s2 /= (double)cols;
            REAL *dr = dx + r * cols;                                 /* (cols) */
            #pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                const double dh = (double)gr[j] * (gamma ? (double)gamma[j] : 1.0);
                const double xh = ((double)xr[j] - m) * rs;
                dr[j] = (REAL)(rs * (dh - s1 - xh * s2));
            }
        }
    }
    if (sums) {
        for (int64_t j = 0; j < cols; j++) {
            double g = 0.0, bsum = 0.0;
            for (int64_t b = 0; b < blocks; b++) {
                g += part[b * 2 * cols + j];
                bsum += part[b * 2 * cols + cols + j];
            }
            if (dgamma) dgamma[j] = (REAL)g;
            if (dbeta) dbeta[j] = (REAL)bsum;
        }
        free(part);
    }
    return CCNN_OK;
}

#endif /* REAL */
