/* plan.c -- the inference plan's interpreter (see plan.h): one loop over the
 * ops, each handed to the kernel its layer calls.  Typed bodies are
 * instantiated for float and double by ccnn_template.h. */
#ifndef REAL
#include <math.h>
#include <string.h>
#include "plan.h"
#include "conv2d.h"
#include "conv2d_internal.h"
#include "dense.h"
#include "pool.h"
#include "global_pool.h"
#include "batchnorm.h"
#include "activation.h"
#include "pointwise.h"
#include "loss.h"
#include "layout.h"
#include "act_epilogue.h"
#include "merge.h"
#include "kernels_common.h"

#define CCNN_TEMPLATE "plan.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* The pointer of table slot o[field]: inp for 0, out for 1, NULL for an index < 0. */
static void *SUF(plan_ptr)(REAL *out, const REAL *inp, const int64_t *ptrs, const int64_t *o,
                           int field)
{
    const int64_t i = o[field];
    return i < 0 ? NULL : i == 0 ? (void *)(intptr_t)inp : i == 1 ? (void *)out
                                 : (void *)(intptr_t)ptrs[i];
}

#define PLAN_FOLD_BLOCK 512

/* wf (per) <- (REAL)(w * s) in double, a block stored only when its bits
 * change; compiled for the widest SIMD (the same roundings on any). */
static CCNN_DISPATCH void SUF(plan_fold_row)(REAL *restrict wf, const REAL *restrict w,
                                             double s, int64_t per)
{
    for (int64_t i0 = 0; i0 < per; i0 += PLAN_FOLD_BLOCK) {
        const int64_t m = per - i0 < PLAN_FOLD_BLOCK ? per - i0 : PLAN_FOLD_BLOCK;
        REAL t[PLAN_FOLD_BLOCK];
        for (int64_t i = 0; i < m; i++) t[i] = (REAL)((double)w[i0 + i] * s);
        if (memcmp(t, wf + i0, sizeof(REAL) * (size_t)m) != 0)
            memcpy(wf + i0, t, sizeof(REAL) * (size_t)m);
    }
}

/* A BatchNormalization folded into the `units` output channels of a conv
 * (weight (units, per), channel-major) or a dense layer (weight (per, units),
 * channel-minor): wf, bf <- weight * s, (bias - mean) * s + beta with
 * s = gamma / sqrt(var + eps), in double.  It runs when the weights changed
 * (plan_weights), or, for an op without a cache, at every call, before the
 * conv, which reads all of wf on every thread; so, channel-major, it runs in
 * parallel over the channels (each element computed alone: the same at any
 * thread count), and a block of wf (bf) is stored only when its bits change
 * -- with unchanged weights the folded copy stays valid in every core's
 * cache instead of being rewritten by one core and fetched back by the
 * others at each call. */
static void SUF(plan_fold)(REAL *restrict wf, REAL *restrict bf, const REAL *restrict w,
                           const REAL *bias, const REAL *mean, const REAL *var,
                           const REAL *gamma, const REAL *beta, double eps, int64_t units,
                           int64_t per, int channel_major, int nthreads)
{
    const int nt = channel_major ? ccnn_threads_for(nthreads, units * per * 4) : 1;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t j = 0; j < units; j++) {
        const double s = (gamma ? (double)gamma[j] : 1.0) / sqrt((double)var[j] + eps);
        const REAL bj = (REAL)(((bias ? (double)bias[j] : 0.0) - (double)mean[j]) * s +
                               (beta ? (double)beta[j] : 0.0));
        if (memcmp(&bj, bf + j, sizeof bj) != 0) bf[j] = bj;
        if (channel_major)
            SUF(plan_fold_row)(wf + j * per, w + j * per, s, per);
        else
            for (int64_t i = 0; i < per; i++)
                wf[i * units + j] = (REAL)((double)w[i * units + j] * s);
    }
}

/* The weights an op runs with: *w and *b, or with `mean` the fold of them
 * and the statistics into foldw, foldb (plan_fold; units, per, channel_major
 * as there); for a conv (d not NULL) whose forward takes the implicit GEMM,
 * *packed the GEMM's packed weight (else NULL).  Through the op's cache
 * (plan.h) when it has one: header cache[0] its bytes, cache[1] 1 when the
 * copies are valid, cache[2] 1 when the packed weight is (2: the forward does
 * not take the GEMM), then, each at a 64-byte boundary, the copies of the
 * sources and the packed weight. */
static int SUF(plan_weights)(int64_t *cache, const REAL **w, const REAL **b, const REAL **packed,
                             const REAL *mean, const REAL *var, const REAL *gamma,
                             const REAL *beta, REAL *foldw, REAL *foldb, double eps,
                             int64_t units, int64_t per, int channel_major,
                             const ccnn_conv2d_dims *d, int nthreads)
{
    *packed = NULL;
    if (mean && (!var || !foldw || !foldb)) return CCNN_EBADARG;
    if (!cache) {
        if (mean) {
            SUF(plan_fold)(foldw, foldb, *w, *b, mean, var, gamma, beta, eps, units, per,
                           channel_major, nthreads);
            *w = foldw;
            *b = foldb;
        }
        return CCNN_OK;
    }
    const REAL *src[6] = {*w};
    int64_t len[6] = {units * per}, off[7];
    int ns = 1;
    if (mean) {
        const REAL *stats[5] = {*b, mean, var, gamma, beta};
        for (int i = 0; i < 5; i++)
            if (stats[i]) {
                src[ns] = stats[i];
                len[ns++] = units;
            }
    }
    const int64_t npk = d ? conv2d_packed_weight_elems(d) : 0;
    char *base = (char *)cache;
    /* the first 64-byte boundary past the header */
    int64_t at = (int64_t)((((uintptr_t)base + 64 + 63) & ~(uintptr_t)63) - (uintptr_t)base);
    for (int i = 0; i <= ns; i++) {
        off[i] = at;
        at += ((i < ns ? len[i] : npk) * (int64_t)sizeof(REAL) + 63) / 64 * 64;
    }
    if (cache[0] < at) return CCNN_EBADARG;
    int same = cache[1] == 1;
    for (int i = 0; i < ns && same; i++)
        same = memcmp(base + off[i], src[i], sizeof(REAL) * (size_t)len[i]) == 0;
    if (!same) {
        for (int i = 0; i < ns; i++) memcpy(base + off[i], src[i], sizeof(REAL) * (size_t)len[i]);
        if (mean)
            SUF(plan_fold)(foldw, foldb, *w, *b, mean, var, gamma, beta, eps, units, per,
                           channel_major, nthreads);
        cache[1] = 1;
        cache[2] = 0;
    }
    if (mean) {
        *w = foldw;
        *b = foldb;
    }
    if (npk) {
        REAL *pk = (REAL *)(void *)(base + off[ns]);
        if (cache[2] == 0) {
            if (SUF(conv2d_forward_takes_gemm)(d, *w)) {
                const int rc = SUF(conv2d_pack_weight)(pk, *w, d);
                if (rc != CCNN_OK) return rc;
                cache[2] = 1;
            } else {
                cache[2] = 2;
            }
        }
        if (cache[2] == 1) *packed = pk;
    }
    return CCNN_OK;
}

/* ccnn_plan_forward_f32, ccnn_plan_forward_f64 */
int SUF(ccnn_plan_forward)(REAL *out, const REAL *inp, const int64_t *ptrs,
                           const int64_t *code, const double *reals, int64_t nops, int nthreads)
{
    for (int64_t i = 0; i < nops; i++) {
        const int64_t *o = code + i * CCNN_PLAN_FIELDS;
        const double alpha = reals[i * CCNN_PLAN_REALS + CCNN_PR_ALPHA];
        const double eps = reals[i * CCNN_PLAN_REALS + CCNN_PR_EPS];
        const REAL *src = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_SRC);
        REAL *dst = (REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_DST);
        void *scratch = SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_SCRATCH);
        const REAL *w = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_WEIGHT);
        const REAL *b = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_BIAS);
        const REAL *mean = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_MEAN);
        const REAL *var = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_VAR);
        const REAL *gamma = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_GAMMA);
        const REAL *beta = (const REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_BETA);
        REAL *foldw = (REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_FOLDW);
        REAL *foldb = (REAL *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_FOLDB);
        int64_t *cache = (int64_t *)SUF(plan_ptr)(out, inp, ptrs, o, CCNN_PF_CACHE);
        const REAL *packed = NULL;
        const int64_t n = o[CCNN_PF_N], c = o[CCNN_PF_C], h = o[CCNN_PF_H];
        const int act = (int)o[CCNN_PF_ACT];
        int rc = CCNN_OK;
        if (!src || !dst) return CCNN_EBADARG;
        switch (o[CCNN_PF_OP]) {
        case CCNN_PLAN_CONV: {
            ccnn_conv2d_dims d;
            rc = ccnn_conv2d_dims_init(&d, n, c, h, o[CCNN_PF_W], o[CCNN_PF_K], o[CCNN_PF_R],
                                       o[CCNN_PF_S], o[CCNN_PF_SH], o[CCNN_PF_SW],
                                       o[CCNN_PF_DH], o[CCNN_PF_DW], o[CCNN_PF_PT],
                                       o[CCNN_PF_PB], o[CCNN_PF_PL], o[CCNN_PF_PR]);
            if (rc != CCNN_OK || !w) return CCNN_EBADARG;
            /* (a BatchNormalization folded in with mean; packed: relu / none only) */
            const int plain = !o[CCNN_PF_POOL] && (act == CCNN_PLAN_ACT_RELU ||
                                                   act == CCNN_PLAN_ACT_NONE);
            const int gemm = plain && ccnn_conv2d_algo(&d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM &&
                             !ccnn_conv2d_winograd_eligible(&d);
            rc = SUF(plan_weights)(mean || gemm ? cache : NULL, &w, &b, &packed, mean, var,
                                   gamma, beta, foldw, foldb, eps, d.k, d.c * d.r * d.s, 1,
                                   gemm ? &d : NULL, nthreads);
            if (rc != CCNN_OK) return rc;
            if (packed) {
                rc = SUF(conv2d_gemm_forward_packed)(dst, src, packed, b, &d,
                                                     act == CCNN_PLAN_ACT_RELU, nthreads);
            } else if (o[CCNN_PF_POOL]) {
                if (act != CCNN_PLAN_ACT_RELU || !scratch) return CCNN_EBADARG;
                rc = SUF(ccnn_conv2d_relu_maxpool_forward)(dst, (uint8_t *)scratch, src, w, b, &d,
                                                           nthreads);
            } else if (act == CCNN_PLAN_ACT_RELU) {
                rc = SUF(ccnn_conv2d_relu_forward)(dst, src, w, b, &d, nthreads);
            } else if (act == CCNN_PLAN_ACT_NONE) {
                rc = SUF(ccnn_conv2d_forward)(dst, src, w, b, &d, nthreads);
            } else {
                if (!scratch) return CCNN_EBADARG;
                rc = SUF(ccnn_conv2d_act_forward)(dst, (REAL *)scratch, src, w, b, &d, act, alpha,
                                                  nthreads);
            }
            break;
        }
        case CCNN_PLAN_DENSE: {
            ccnn_dense_dims d;
            rc = ccnn_dense_dims_init(&d, n, c, o[CCNN_PF_K]);
            if (rc != CCNN_OK || !w) return CCNN_EBADARG;
            rc = SUF(plan_weights)(mean ? cache : NULL, &w, &b, &packed, mean, var, gamma, beta,
                                   foldw, foldb, eps, d.units, d.in, 0, NULL, nthreads);
            if (rc != CCNN_OK) return rc;
            if (act == CCNN_PLAN_ACT_RELU || act == CCNN_PLAN_ACT_NONE) {
                rc = SUF(ccnn_dense_forward)(dst, src, w, b, &d, act == CCNN_PLAN_ACT_RELU,
                                             nthreads);
            } else {
                if (!scratch) return CCNN_EBADARG;
                rc = SUF(ccnn_dense_act_forward)(dst, (REAL *)scratch, src, w, b, &d, act, alpha,
                                                 nthreads);
            }
            break;
        }
        case CCNN_PLAN_MAXPOOL:
        case CCNN_PLAN_AVGPOOL: {
            ccnn_pool2d_dims d;
            rc = ccnn_pool2d_dims_init(&d, n, c, h, o[CCNN_PF_W], o[CCNN_PF_R], o[CCNN_PF_S],
                                       o[CCNN_PF_SH], o[CCNN_PF_SW], o[CCNN_PF_PT],
                                       o[CCNN_PF_PB], o[CCNN_PF_PL], o[CCNN_PF_PR],
                                       (int)o[CCNN_PF_CEIL], (int)o[CCNN_PF_INCLUDE_PAD]);
            if (rc != CCNN_OK) return CCNN_EBADARG;
            if (o[CCNN_PF_OP] == CCNN_PLAN_MAXPOOL)
                SUF(ccnn_max_pool2d_forward)(dst, NULL, src, &d, nthreads);
            else
                SUF(ccnn_avg_pool2d_forward)(dst, src, &d, nthreads);
            break;
        }
        case CCNN_PLAN_GAP:
            if (n < 0 || c < 1) return CCNN_EBADARG;
            SUF(ccnn_global_avg_pool_forward)(dst, src, n, c, nthreads);
            break;
        case CCNN_PLAN_GMP:
            if (n < 0 || c < 1 || !scratch) return CCNN_EBADARG;
            SUF(ccnn_global_max_pool_forward)(dst, (int64_t *)scratch, src, n, c, nthreads);
            break;
        case CCNN_PLAN_BN:
            /* the moving statistics, as the layer: invstd = 1 / sqrt(var + eps) in
             * double, rounded to REAL, into the fold bias buffer */
            if (n < 0 || c < 1 || h < 0 || !mean || !var || !foldb) return CCNN_EBADARG;
            for (int64_t j = 0; j < c; j++) foldb[j] = (REAL)(1.0 / sqrt((double)var[j] + eps));
            SUF(ccnn_batchnorm_forward)(dst, src, mean, foldb, gamma, beta, n, c, h, nthreads);
            break;
        case CCNN_PLAN_ACT:
            if (n < 0) return CCNN_EBADARG;
            if (act == CCNN_PLAN_ACT_RELU)
                SUF(ccnn_relu_forward)(dst, src, n, nthreads);
            else
                rc = SUF(ccnn_pointwise_forward)(dst, src, n, act, alpha, nthreads);
            break;
        case CCNN_PLAN_SOFTMAX:
            if (n < 0 || c < 1) return CCNN_EBADARG;
            SUF(ccnn_softmax_forward)(dst, src, n, c, nthreads);
            break;
        case CCNN_PLAN_TRANSPOSE:
            if (n < 0 || c < 0 || h < 0) return CCNN_EBADARG;
            SUF(ccnn_transpose_batched)(dst, src, n, c, h, nthreads);
            break;
        case CCNN_PLAN_MERGE:   /* the second operand in the weight slot */
            if (n < 0 || !w || (act != CCNN_PLAN_ACT_NONE && act != CCNN_PLAN_ACT_RELU))
                return CCNN_EBADARG;
            rc = SUF(ccnn_merge_forward)(dst, src, w, n, (int)c, alpha,
                                         act == CCNN_PLAN_ACT_RELU ? CCNN_MERGE_ACT_RELU
                                                                   : CCNN_MERGE_ACT_NONE,
                                         nthreads);
            break;
        case CCNN_PLAN_CONCAT:
            if (n < 0 || c < 0 || o[CCNN_PF_W] < 0 || o[CCNN_PF_W] + c > h) return CCNN_EBADARG;
            SUF(ccnn_concat_rows)(dst, src, n, c, h, o[CCNN_PF_W], nthreads);
            break;
        default:
            return CCNN_EBADARG;
        }
        if (rc != CCNN_OK) return rc;
    }
    return CCNN_OK;
}

#endif /* REAL */
