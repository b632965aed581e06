/* correlate.c -- 2-D cross-correlation over a window of the full result
 * (see correlate.h).  Parallel over output rows; each thread owns its rows. */
#ifndef REAL
#include "correlate.h"
#include "kernels_common.h"

static int dims_ok(const ccnn_correlate_dims *d)
{
    return d != NULL && d->ha >= 1 && d->wa >= 1 && d->hv >= 1 && d->wv >= 1
        && d->ho >= 1 && d->wo >= 1 && d->off_h >= 0 && d->off_w >= 0
        && d->off_h + d->ho <= d->ha + d->hv - 1 && d->off_w + d->wo <= d->wa + d->wv - 1;
}

#define CCNN_TEMPLATE "correlate.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_correlate2d_f32, ccnn_correlate2d_f64 */
void SUF(ccnn_correlate2d)(REAL *out, const REAL *a, const REAL *v,
                           const ccnn_correlate_dims *d, int nthreads)
{
    const int64_t HA = d->ha, WA = d->wa, HV = d->hv, WV = d->wv, HO = d->ho, WO = d->wo;
    const int nt = ccnn_threads_for(nthreads, HO * WO * HV * WV);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < HO; i++) {
        REAL *orow = out + i * WO;                          /* (wo) */
        for (int64_t j = 0; j < WO; j++) orow[j] = 0;
        for (int64_t u = 0; u < HV; u++) {
            const int64_t ia = i + d->off_h + u - (HV - 1); /* row of a */
            const int row_ok = ia >= 0 && ia < HA;
            const REAL *arow = a + ia * WA;                 /* only read when row_ok */
            for (int64_t t = 0; t < WV; t++) {
                /* orow[j] += v[u,t] * a[ia, j + off] for j with 0 <= j + off < WA */
                const int64_t off = d->off_w + t - (WV - 1);
                int64_t jlo = 0, jhi = 0;
                if (row_ok) ccnn_valid_range(WO, 1, off, WA, &jlo, &jhi);
                const REAL vt = v[u * WV + t];
                if (d->multiply_fill && vt - vt != 0)       /* NaN/inf times the zero fill */
                    for (int64_t j = 0; j < WO; j++)
                        if (j < jlo || j >= jhi) orow[j] += vt * (REAL)0;
                if (!row_ok) continue;
                if (jhi > jlo)
                    SUF(ccnn_axpy)(jhi - jlo, v[u * WV + t], arow + jlo + off, 1, orow + jlo, 1);
            }
        }
    }
}

/* ccnn_correlate2d_checked_f32, ccnn_correlate2d_checked_f64 */
int SUF(ccnn_correlate2d_checked)(REAL *out, const REAL *a, const REAL *v,
                                  const ccnn_correlate_dims *d, int nthreads)
{
    if (!dims_ok(d)) return CCNN_EBADARG;
    SUF(ccnn_correlate2d)(out, a, v, d, nthreads);
    return CCNN_OK;
}

#endif /* REAL */
