/* act_epilogue.c -- convolution / dense followed by an activation, block by
 * block (see act_epilogue.h).  Typed bodies are instantiated for float and
 * double by self-inclusion. */
#ifndef REAL
#include "act_epilogue.h"
#include "pointwise.h"
#include "kernels_common.h"

#define CCNN_ACT_BLOCK 8      /* images per block: each block's output stays in cache */
#define CCNN_ACT_ROWS 256     /* dense rows per block */

#define CCNN_TEMPLATE "act_epilogue.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_conv2d_act_forward_f32, ccnn_conv2d_act_forward_f64 */
int SUF(ccnn_conv2d_act_forward)(REAL *out, REAL *pre, const REAL *inp, const REAL *weight,
                                 const REAL *bias, const ccnn_conv2d_dims *d, int kind,
                                 double alpha, int nthreads)
{
    if (!ccnn_pointwise_name(kind)) return CCNN_EBADARG;
    const int64_t per_in = d->c * d->h * d->w, per_out = d->k * d->p * d->q;
    for (int64_t n0 = 0; n0 < d->n; n0 += CCNN_ACT_BLOCK) {
        ccnn_conv2d_dims b = *d;
        b.n = d->n - n0 < CCNN_ACT_BLOCK ? d->n - n0 : CCNN_ACT_BLOCK;
        REAL *z = pre + n0 * per_out;                                 /* (b.n, k, p, q) */
        int rc = SUF(ccnn_conv2d_forward)(z, inp + n0 * per_in, weight, bias, &b, nthreads);
        if (rc != CCNN_OK) return rc;
        rc = SUF(ccnn_pointwise_forward)(out + n0 * per_out, z, b.n * per_out, kind, alpha,
                                         nthreads);
        if (rc != CCNN_OK) return rc;
    }
    return CCNN_OK;
}

/* ccnn_dense_act_forward_f32, ccnn_dense_act_forward_f64 */
int SUF(ccnn_dense_act_forward)(REAL *out, REAL *pre, const REAL *inp, const REAL *weight,
                                const REAL *bias, const ccnn_dense_dims *d, int kind,
                                double alpha, int nthreads)
{
    if (!ccnn_pointwise_name(kind)) return CCNN_EBADARG;
    for (int64_t r0 = 0; r0 < d->n; r0 += CCNN_ACT_ROWS) {
        ccnn_dense_dims b;
        const int64_t rows = d->n - r0 < CCNN_ACT_ROWS ? d->n - r0 : CCNN_ACT_ROWS;
        int rc = ccnn_dense_dims_init(&b, rows, d->in, d->units);
        if (rc != CCNN_OK) return rc;
        REAL *z = pre + r0 * d->units;                                /* (rows, units) */
        rc = SUF(ccnn_dense_forward)(z, inp + r0 * d->in, weight, bias, &b, 0, nthreads);
        if (rc != CCNN_OK) return rc;
        rc = SUF(ccnn_pointwise_forward)(out + r0 * d->units, z, rows * d->units, kind, alpha,
                                         nthreads);
        if (rc != CCNN_OK) return rc;
    }
    return CCNN_OK;
}

#endif /* REAL */
