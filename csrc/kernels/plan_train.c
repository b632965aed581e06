/* plan_train.c -- the training plan's interpreter (see plan_train.h): the ops'
 * forwards in order, then their backwards in reverse, each handed to the
 * kernel its layer calls.  Typed bodies are instantiated for float and double
 * by ccnn_template.h. */
#ifndef REAL
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plan_train.h"
#include "conv2d.h"
#include "dense.h"
#include "pool.h"
#include "batchnorm.h"
#include "activation.h"
#include "pointwise.h"
#include "act_epilogue.h"
#include "global_pool.h"
#include "augment.h"
#include "loss.h"
#include "layout.h"
#include "optim.h"
#include "kernels_common.h"

#define CCNN_TEMPLATE "plan_train.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* The pointer of table slot o[field]: out for 1, inp for 0, targets for 2,
 * NULL for an index < 0. */
static void *SUF(tp_ptr)(REAL *out, const REAL *inp, const void *targets, const int64_t *ptrs,
                         const int64_t *o, int field)
{
    const int64_t i = o[field];
    return i < 0 ? NULL : i == 0 ? (void *)(intptr_t)inp : i == 1 ? (void *)out
         : i == 2 ? (void *)(intptr_t)targets : (void *)(intptr_t)ptrs[i];
}

#define TP(field) SUF(tp_ptr)(out, inp, targets, ptrs, o, (field))

static int SUF(tp_conv_dims)(ccnn_conv2d_dims *d, const int64_t *o)
{
    return ccnn_conv2d_dims_init(d, o[CCNN_TF_N], o[CCNN_TF_C], o[CCNN_TF_H], o[CCNN_TF_W],
                                 o[CCNN_TF_K], o[CCNN_TF_R], o[CCNN_TF_S], o[CCNN_TF_SH],
                                 o[CCNN_TF_SW], o[CCNN_TF_DH], o[CCNN_TF_DW], o[CCNN_TF_PT],
                                 o[CCNN_TF_PB], o[CCNN_TF_PL], o[CCNN_TF_PR]);
}

static int SUF(tp_pool_dims)(ccnn_pool2d_dims *d, const int64_t *o)
{
    /* as the layers' calls: ceil_mode 0; count_include_pad 1 for max pooling
     * (unused), 0 for AveragePooling2D's */
    return ccnn_pool2d_dims_init(d, o[CCNN_TF_N], o[CCNN_TF_C], o[CCNN_TF_H], o[CCNN_TF_W],
                                 o[CCNN_TF_R], o[CCNN_TF_S], o[CCNN_TF_SH], o[CCNN_TF_SW],
                                 o[CCNN_TF_PT], o[CCNN_TF_PB], o[CCNN_TF_PL], o[CCNN_TF_PR],
                                 0, o[CCNN_TF_OP] != CCNN_TP_AVGPOOL);
}

/* compile's loss weight on a loss head's gradient: d *= (REAL)scale, each
 * element's product alone (as the per-layer path's d * dtype(scale)) */
static void SUF(tp_loss_scale)(REAL *d /* (count) */, int64_t count, double scale)
{
    if (scale == 1.0) return;
    const REAL s = (REAL)scale;
    for (int64_t i = 0; i < count; i++) d[i] *= s;
}

/* One op's forward (training mode). */
static int SUF(tp_forward)(REAL *out, const REAL *inp, const void *targets, const int64_t *ptrs,
                           const int64_t *o, const double *r, int nthreads)
{
    const REAL *src = (const REAL *)TP(CCNN_TF_SRC);
    REAL *dst = (REAL *)TP(CCNN_TF_DST);
    const REAL *w = (const REAL *)TP(CCNN_TF_WEIGHT);
    const REAL *b = (const REAL *)TP(CCNN_TF_BIAS);
    void *aux = TP(CCNN_TF_AUX);
    const int64_t n = o[CCNN_TF_N], c = o[CCNN_TF_C], h = o[CCNN_TF_H];
    const int flag = (int)o[CCNN_TF_FLAG];
    if (o[CCNN_TF_OP] == CCNN_TP_ACCUM) return CCNN_OK;     /* a backward only */
    if (!src || !dst) return CCNN_EBADARG;
    switch (o[CCNN_TF_OP]) {
    case CCNN_TP_ADD: {     /* Add: np.add of the two inputs; flag 1, Subtract: np.subtract */
        const REAL *src2 = (const REAL *)aux;
        if (n < 1 || !src2) return CCNN_EBADARG;
        if (flag == 1) {
            for (int64_t i = 0; i < n; i++) dst[i] = src[i] - src2[i];
        } else {
            for (int64_t i = 0; i < n; i++) dst[i] = src[i] + src2[i];
        }
        return CCNN_OK;
    }
    case CCNN_TP_CONV: {
        ccnn_conv2d_dims d;
        if (SUF(tp_conv_dims)(&d, o) != CCNN_OK || !w) return CCNN_EBADARG;
        if (flag == 2)      /* Conv2D's conv2d_act_forward: the pre-activation in aux */
            return aux ? SUF(ccnn_conv2d_act_forward)(dst, (REAL *)aux, src, w, b, &d,
                                                      (int)o[CCNN_TF_KIND], r[CCNN_TR_ALPHA],
                                                      nthreads)
                       : CCNN_EBADARG;
        return flag ? SUF(ccnn_conv2d_relu_forward)(dst, src, w, b, &d, nthreads)
                    : SUF(ccnn_conv2d_forward)(dst, src, w, b, &d, nthreads);
    }
    case CCNN_TP_CONV_POOL: {
        ccnn_conv2d_dims d;
        if (SUF(tp_conv_dims)(&d, o) != CCNN_OK || !w || !aux) return CCNN_EBADARG;
        return SUF(ccnn_conv2d_relu_maxpool_forward)(dst, (uint8_t *)aux, src, w, b, &d,
                                                     nthreads);
    }
    case CCNN_TP_DENSE: {
        ccnn_dense_dims d;
        if (ccnn_dense_dims_init(&d, n, c, o[CCNN_TF_K]) != CCNN_OK || !w) return CCNN_EBADARG;
        if (flag >= 2)      /* Dense's dense_act_forward: the pre-activation in aux */
            return aux ? SUF(ccnn_dense_act_forward)(dst, (REAL *)aux, src, w, b, &d,
                                                     (int)o[CCNN_TF_KIND], r[CCNN_TR_ALPHA],
                                                     nthreads)
                       : CCNN_EBADARG;
        return SUF(ccnn_dense_forward)(dst, src, w, b, &d, flag, nthreads);
    }
    case CCNN_TP_MAXPOOL: {
        ccnn_pool2d_dims d;
        if (SUF(tp_pool_dims)(&d, o) != CCNN_OK || !aux) return CCNN_EBADARG;
        SUF(ccnn_max_pool2d_forward)(dst, (int64_t *)aux, src, &d, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_BN: {
        /* the layer: the batch's (mean, biased var) -- or with flag (a frozen
         * layer) the moving ones, read only; invstd = 1 / sqrt(var + eps) in
         * double, rounded to REAL (functional._invstd) */
        REAL *mean = (REAL *)aux, *var = (REAL *)TP(CCNN_TF_AUX2);
        REAL *invstd = (REAL *)TP(CCNN_TF_AUX3);
        if (n < 1 || c < 1 || h < 1 || !mean || !var || !invstd) return CCNN_EBADARG;
        if (!flag) SUF(ccnn_batchnorm_stats)(mean, var, src, n, c, h, nthreads);
        for (int64_t j = 0; j < c; j++)
            invstd[j] = (REAL)(1.0 / sqrt((double)var[j] + r[CCNN_TR_EPS]));
        SUF(ccnn_batchnorm_forward)(dst, src, mean, invstd, w, b, n, c, h, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_BN_RELU: {
        /* the layer's statistics, invstd, normalization, then the ReLU's forward,
         * in one kernel (bit for bit the four) */
        REAL *mean = (REAL *)aux, *var = (REAL *)TP(CCNN_TF_AUX2);
        REAL *invstd = (REAL *)TP(CCNN_TF_AUX3);
        if (n < 1 || c < 1 || h < 1 || !mean || !var || !invstd) return CCNN_EBADARG;
        return SUF(ccnn_batchnorm_relu_forward)(dst, mean, var, invstd, src, w, b,
                                                r[CCNN_TR_EPS], n, c, h, nthreads);
    }
    case CCNN_TP_RELU:
        if (n < 1) return CCNN_EBADARG;
        SUF(ccnn_relu_forward)(dst, src, n, nthreads);
        return CCNN_OK;
    case CCNN_TP_POINTWISE:
        if (n < 1) return CCNN_EBADARG;
        return SUF(ccnn_pointwise_forward)(dst, src, n, (int)o[CCNN_TF_KIND], r[CCNN_TR_ALPHA],
                                           nthreads);
    case CCNN_TP_AVGPOOL: {
        ccnn_pool2d_dims d;
        if (SUF(tp_pool_dims)(&d, o) != CCNN_OK) return CCNN_EBADARG;
        SUF(ccnn_avg_pool2d_forward)(dst, src, &d, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_GAVGPOOL:
        if (n < 1 || h < 1) return CCNN_EBADARG;
        SUF(ccnn_global_avg_pool_forward)(dst, src, n, h, nthreads);
        return CCNN_OK;
    case CCNN_TP_GMAXPOOL:
        if (n < 1 || h < 1 || !aux) return CCNN_EBADARG;
        SUF(ccnn_global_max_pool_forward)(dst, (int64_t *)aux, src, n, h, nthreads);
        return CCNN_OK;
    case CCNN_TP_SIGMOID_BCE: {
        /* BinaryCrossentropy.fused: the elementwise losses, then the gradient
         * (sigmoid(z) - t) * (1 / count), from the logits z (aux; without one,
         * from_logits: src itself) */
        REAL *loss = (REAL *)TP(CCNN_TF_AUX2), *dlogits = (REAL *)TP(CCNN_TF_DSRC);
        const REAL *z = aux ? (const REAL *)aux : src;
        if (n < 1 || !loss || !dlogits || !targets) return CCNN_EBADARG;
        SUF(ccnn_sigmoid_bce_forward)(loss, z, (const REAL *)targets, n, nthreads);
        SUF(ccnn_sigmoid_bce_backward)(dlogits, NULL, z, (const REAL *)targets,
                                       (REAL)r[CCNN_TR_ALPHA], n, nthreads);
        SUF(tp_loss_scale)(dlogits, n, r[CCNN_TR_SCALE]);
        return CCNN_OK;
    }
    case CCNN_TP_DROPOUT: {
        uint64_t seed;
        if (n < 1 || !aux) return CCNN_EBADARG;
        memcpy(&seed, &o[CCNN_TF_SEED], sizeof seed);
        SUF(ccnn_dropout_sample)(dst, (uint8_t *)aux, src, n, r[CCNN_TR_RATE], seed, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_TRANSPOSE:
        if (n < 1 || c < 1 || h < 1) return CCNN_EBADARG;
        SUF(ccnn_transpose_batched)(dst, src, n, c, h, nthreads);
        return CCNN_OK;
    case CCNN_TP_SPATIAL_DROPOUT: {
        /* SpatialDropout2D: F.channel_mask_unchecked (dropout_sample of a
         * float64 (n, c) of ones), the scales mask * (1 / (1 - rate)) in the
         * element type (channel_scale_unchecked), then broadcast_affine over
         * the NCHW memory (each element's product alone: any layout's) */
        REAL *scale = (REAL *)TP(CCNN_TF_AUX2);
        double *ones = (double *)TP(CCNN_TF_AUX3);
        uint8_t *mask = (uint8_t *)aux;
        uint64_t seed;
        if (n < 1 || c < 1 || h < 1 || !mask || !scale || !ones) return CCNN_EBADARG;
        memcpy(&seed, &o[CCNN_TF_SEED], sizeof seed);
        for (int64_t j = 0; j < n * c; j++) ones[j] = 1.0;
        ccnn_dropout_sample_f64(ones, mask, ones, n * c, r[CCNN_TR_RATE], seed, nthreads);
        const REAL s = (REAL)(1.0 / (1.0 - r[CCNN_TR_RATE]));
        for (int64_t j = 0; j < n * c; j++) scale[j] = (REAL)mask[j] * s;
        SUF(ccnn_broadcast_affine)(dst, src, scale, NULL, n, c, h, c, 1, 0, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_SOFTMAX_XENT: {
        /* the model's output (Dense's softmax), then the loss's own forward and
         * backward from the logits, as SoftmaxCrossEntropy + the loss call them */
        REAL *rows = (REAL *)aux, *probs = (REAL *)TP(CCNN_TF_AUX2);
        REAL *dlogits = (REAL *)TP(CCNN_TF_DSRC);
        if (n < 1 || c < 1 || !rows || !probs || !dlogits || !targets) return CCNN_EBADARG;
        if (!(flag & 2))    /* bit 2: from_logits, the output is the logits themselves */
            SUF(ccnn_softmax_forward)(dst, src, n, c, nthreads);
        if (flag & 1) {
            const int64_t *labels = (const int64_t *)targets;
            SUF(ccnn_softmax_xent_forward)(rows, probs, src, labels, n, c, nthreads);
            SUF(ccnn_softmax_xent_backward)(dlogits, probs, labels, n, c, nthreads);
        } else {
            const REAL *t = (const REAL *)targets;
            SUF(ccnn_softmax_xent_dense_forward)(rows, probs, src, t, n, c, nthreads);
            SUF(ccnn_softmax_xent_dense_backward)(dlogits, probs, t, n, c, nthreads);
        }
        SUF(tp_loss_scale)(dlogits, n * c, r[CCNN_TR_SCALE]);
        return CCNN_OK;
    }
    default:
        return CCNN_EBADARG;
    }
}

/* One op's backward: ddst -> dsrc (when it has one) and its weights' gradients,
 * overwritten.  The zeroing is the bindings' (np.zeros where they use it) where
 * the kernel needs it; the weight and bias gradients need none (every kernel
 * called here writes each of their elements without reading it). */
static int SUF(tp_backward)(REAL *out, const REAL *inp, const void *targets, const int64_t *ptrs,
                            const int64_t *o, const double *r, int nthreads)
{
    const REAL *src = (const REAL *)TP(CCNN_TF_SRC);
    const REAL *dst = (const REAL *)TP(CCNN_TF_DST);
    REAL *dsrc = (REAL *)TP(CCNN_TF_DSRC);
    const REAL *ddst = (const REAL *)TP(CCNN_TF_DDST);
    const REAL *w = (const REAL *)TP(CCNN_TF_WEIGHT);
    REAL *dw = (REAL *)TP(CCNN_TF_DWEIGHT);
    REAL *db = (REAL *)TP(CCNN_TF_DBIAS);
    void *aux = TP(CCNN_TF_AUX);
    const int64_t n = o[CCNN_TF_N], c = o[CCNN_TF_C], h = o[CCNN_TF_H];
    const int flag = (int)o[CCNN_TF_FLAG];
    const int64_t op = o[CCNN_TF_OP];
    if (op == CCNN_TP_SOFTMAX_XENT || op == CCNN_TP_SIGMOID_BCE || op == CCNN_TP_ADD)
        return CCNN_OK;                                 /* all done in its forward */
    if (op == CCNN_TP_ACCUM) {  /* a value's gradient: ddst copied, or added (dsrc + ddst);
                                 * flag bit 2: -ddst (Subtract's second input) */
        if (n < 1 || !dsrc || !ddst) return CCNN_EBADARG;
        switch (flag) {
        case 0: memcpy(dsrc, ddst, (size_t)n * sizeof(REAL)); break;
        case 1: for (int64_t i = 0; i < n; i++) dsrc[i] = dsrc[i] + ddst[i]; break;
        case 2: for (int64_t i = 0; i < n; i++) dsrc[i] = -ddst[i]; break;
        case 3: for (int64_t i = 0; i < n; i++) dsrc[i] = dsrc[i] + (-ddst[i]); break;
        default: return CCNN_EBADARG;
        }
        return CCNN_OK;
    }
    if (!dsrc && !dw) return CCNN_OK;                   /* nothing to give back */
    if (!ddst || !src || !dst) return CCNN_EBADARG;
    switch (op) {
    case CCNN_TP_CONV: {
        ccnn_conv2d_dims d;
        if (SUF(tp_conv_dims)(&d, o) != CCNN_OK || !w || !dw) return CCNN_EBADARG;
        if (flag == 2) {    /* Conv2D.backward: dz = pointwise_backward(dy, z), in aux2 */
            REAL *dz = (REAL *)TP(CCNN_TF_AUX2);
            int rc;
            if (!aux || !dz) return CCNN_EBADARG;
            rc = SUF(ccnn_pointwise_backward)(dz, ddst, (const REAL *)aux,
                                              d.n * d.k * d.p * d.q, (int)o[CCNN_TF_KIND],
                                              r[CCNN_TR_ALPHA], nthreads);
            if (rc != CCNN_OK) return rc;
            ddst = dz;
        }
        /* dx, dw, db: overwritten (the direct data pass crops its zero frame into
         * dx, the GEMM one zeroes each image before col2im; conv2d_wgrad_backward /
         * conv2d_direct_backward's sums, conv2d_bias_backward) */
        return flag == 1
            ? SUF(ccnn_conv2d_relu_backward)(dsrc, dw, db, ddst, dst, src, w, &d, nthreads)
            : SUF(ccnn_conv2d_backward)(dsrc, dw, db, ddst, src, w, &d, nthreads);
    }
    case CCNN_TP_CONV_POOL: {
        ccnn_conv2d_dims d;
        if (SUF(tp_conv_dims)(&d, o) != CCNN_OK || !dw || !aux || dsrc) return CCNN_EBADARG;
        /* dw, db: overwritten (conv2d_direct_backward's sums) */
        return SUF(ccnn_conv2d_relu_maxpool_backward)(dw, db, ddst, dst, (const uint8_t *)aux,
                                                      src, &d, nthreads);
    }
    case CCNN_TP_DENSE: {
        ccnn_dense_dims d;
        if (ccnn_dense_dims_init(&d, n, c, o[CCNN_TF_K]) != CCNN_OK || !w || !dw)
            return CCNN_EBADARG;
        if (flag == 2) {    /* Dense.backward: dz = pointwise_backward(dy, z), in aux2 */
            REAL *dz = (REAL *)TP(CCNN_TF_AUX2);
            int rc;
            if (!aux || !dz) return CCNN_EBADARG;
            rc = SUF(ccnn_pointwise_backward)(dz, ddst, (const REAL *)aux, n * o[CCNN_TF_K],
                                              (int)o[CCNN_TF_KIND], r[CCNN_TR_ALPHA], nthreads);
            if (rc != CCNN_OK) return rc;
            ddst = dz;
        }
        return SUF(ccnn_dense_backward)(dsrc, dw, db, ddst, flag == 1 ? dst : NULL, src, w, &d,
                                        nthreads);
    }
    case CCNN_TP_MAXPOOL: {
        ccnn_pool2d_dims d;
        if (SUF(tp_pool_dims)(&d, o) != CCNN_OK || !aux || !dsrc) return CCNN_EBADARG;
        return SUF(ccnn_max_pool2d_backward_checked)(dsrc, ddst, (const int64_t *)aux, &d,
                                                     nthreads);
    }
    case CCNN_TP_BN: {
        const REAL *mean = (const REAL *)aux, *invstd = (const REAL *)TP(CCNN_TF_AUX3);
        if (n < 1 || c < 1 || h < 1 || !mean || !invstd) return CCNN_EBADARG;
        /* dgamma (dw), dbeta (db): overwritten, every channel */
        SUF(ccnn_batchnorm_backward)(dsrc, dw, db, ddst, src, mean, invstd, w, n, c, h, !flag,
                                     nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_BN_RELU: {
        const REAL *mean = (const REAL *)aux, *invstd = (const REAL *)TP(CCNN_TF_AUX3);
        if (n < 1 || c < 1 || h < 1 || !mean || !invstd) return CCNN_EBADARG;
        /* the ReLU's backward (its output dst for its input: the same mask), then
         * _norm.batchnorm_backward's, in one kernel; dgamma, dbeta overwritten */
        return SUF(ccnn_batchnorm_relu_backward)(dsrc, dw, db, ddst, dst, src, mean, invstd, w,
                                                 n, c, h, nthreads);
    }
    case CCNN_TP_RELU:
        if (n < 1 || !dsrc) return CCNN_EBADARG;
        SUF(ccnn_relu_backward)(dsrc, ddst, src, n, nthreads);
        return CCNN_OK;
    case CCNN_TP_POINTWISE:
        if (n < 1 || !dsrc) return CCNN_EBADARG;
        return SUF(ccnn_pointwise_backward)(dsrc, ddst, src, n, (int)o[CCNN_TF_KIND],
                                            r[CCNN_TR_ALPHA], nthreads);
    case CCNN_TP_AVGPOOL: {
        ccnn_pool2d_dims d;
        if (SUF(tp_pool_dims)(&d, o) != CCNN_OK || !dsrc) return CCNN_EBADARG;
        SUF(ccnn_avg_pool2d_backward)(dsrc, ddst, &d, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_GAVGPOOL:
        if (n < 1 || h < 1 || !dsrc) return CCNN_EBADARG;
        SUF(ccnn_global_avg_pool_backward)(dsrc, ddst, n, h, nthreads);
        return CCNN_OK;
    case CCNN_TP_GMAXPOOL:
        if (n < 1 || h < 1 || !aux || !dsrc) return CCNN_EBADARG;
        return SUF(ccnn_global_max_pool_backward)(dsrc, ddst, (const int64_t *)aux, n, h,
                                                  nthreads) == 0 ? CCNN_OK : CCNN_EBADARG;
    case CCNN_TP_DROPOUT:
        if (n < 1 || !aux || !dsrc) return CCNN_EBADARG;
        /* _activation.dropout_apply's scale: 1 / (1 - rate) in double, as REAL */
        SUF(ccnn_dropout_backward)(dsrc, ddst, (const uint8_t *)aux,
                                   (REAL)(1.0 / (1.0 - r[CCNN_TR_RATE])), n, nthreads);
        return CCNN_OK;
    case CCNN_TP_SPATIAL_DROPOUT: {
        const REAL *scale = (const REAL *)TP(CCNN_TF_AUX2);
        if (n < 1 || c < 1 || h < 1 || !scale || !dsrc) return CCNN_EBADARG;
        SUF(ccnn_broadcast_affine)(dsrc, ddst, scale, NULL, n, c, h, c, 1, 0, nthreads);
        return CCNN_OK;
    }
    case CCNN_TP_TRANSPOSE:
        if (n < 1 || c < 1 || h < 1 || !dsrc) return CCNN_EBADARG;
        SUF(ccnn_transpose_batched)(dsrc, ddst, n, h, c, nthreads);
        return CCNN_OK;
    default:
        return CCNN_EBADARG;
    }
}

#undef TP

/* ccnn_plan_train_f32, ccnn_plan_train_f64 */
int SUF(ccnn_plan_train)(REAL *out, const REAL *inp, const void *targets, const int64_t *ptrs,
                         const int64_t *code, const double *reals, int64_t nops, int nthreads)
{
    for (int64_t i = 0; i < nops; i++) {
        const int rc = SUF(tp_forward)(out, inp, targets, ptrs, code + i * CCNN_TRAIN_FIELDS,
                                       reals + i * CCNN_TRAIN_REALS, nthreads);
        if (rc != CCNN_OK) return rc;
    }
    for (int64_t i = nops - 1; i >= 0; i--) {
        const int rc = SUF(tp_backward)(out, inp, targets, ptrs, code + i * CCNN_TRAIN_FIELDS,
                                        reals + i * CCNN_TRAIN_REALS, nthreads);
        if (rc != CCNN_OK) return rc;
    }
    return CCNN_OK;
}

/* The optimizer's update of plan_train_step (see plan_train.h): the check,
 * then its optim.h step kernel over the pairs, as _optim's binding calls it. */
static int SUF(tp_optimize)(const int64_t *opt, const double *x, int *applied, int nthreads)
{
    const int64_t count = opt[CCNN_TO_COUNT];
    const int64_t *nn = opt + CCNN_TO_HEAD + 5 * count;            /* sizes (count) */
    const double *decay = (const double *)(intptr_t)opt[CCNN_TO_DECAY];
    const double *gs = (const double *)(intptr_t)opt[CCNN_TO_GSCALE];
    const double cv = x[0];
    REAL **t = (REAL **)malloc((size_t)(5 * count) * sizeof *t);  /* param, s0, s1, s2, grad */
    if (!t) return CCNN_ENOMEM;
    for (int64_t i = 0; i < 5 * count; i++) t[i] = (REAL *)(intptr_t)opt[CCNN_TO_HEAD + i];
    REAL *const *p = t;
    REAL *const *s0 = opt[CCNN_TO_HAS0] ? t + count : NULL;
    REAL *const *s1 = opt[CCNN_TO_HAS1] ? t + 2 * count : NULL;
    REAL *const *s2 = opt[CCNN_TO_HAS2] ? t + 3 * count : NULL;
    const REAL *const *g = (const REAL *const *)(t + 4 * count);
    if (opt[CCNN_TO_CHECK]) {   /* the loss (any mean of the rows) and every grad finite */
        const REAL *rows = (const REAL *)(intptr_t)opt[CCNN_TO_ROWS];
        double sum = 0.0;
        for (int64_t i = 0; i < opt[CCNN_TO_NROWS]; i++) sum += fabs((double)rows[i]);
        if (!(sum <= DBL_MAX / 4) || !SUF(ccnn_all_finite)(count, g, nn, nthreads)) {
            free(t);
            return CCNN_OK;
        }
    }
    switch (opt[CCNN_TO_KIND]) {
    case CCNN_TO_ADAM:      /* m, v, vhat; lr_t, beta1, beta2, eps */
        SUF(ccnn_adam_step)(count, p, s0, s1, s2, g, nn, gs, cv, decay, (REAL)x[1],
                            (REAL)x[2], (REAL)x[3], (REAL)x[4], nthreads);
        break;
    case CCNN_TO_SGD:       /* velocity; lr, momentum, nesterov */
        SUF(ccnn_sgd_step)(count, p, s0, g, nn, gs, cv, decay, (REAL)x[1], (REAL)x[2],
                           (int)x[3], nthreads);
        break;
    case CCNN_TO_RMSPROP:   /* velocity, momentum, average grad; lr, rho, momentum, eps */
        SUF(ccnn_rmsprop_step)(count, p, s0, s1, s2, g, nn, gs, cv, decay, (REAL)x[1],
                               (REAL)x[2], (REAL)x[3], (REAL)x[4], nthreads);
        break;
    case CCNN_TO_ADAGRAD:   /* accumulator; lr, eps */
        SUF(ccnn_adagrad_step)(count, p, s0, g, nn, gs, cv, decay, (REAL)x[1], (REAL)x[2],
                               nthreads);
        break;
    case CCNN_TO_ADADELTA:  /* accumulated grad, accumulated delta; lr, rho, eps */
        SUF(ccnn_adadelta_step)(count, p, s0, s1, g, nn, gs, cv, decay, (REAL)x[1],
                                (REAL)x[2], (REAL)x[3], nthreads);
        break;
    case CCNN_TO_ADAMAX:    /* m, u; lr, beta1, beta2, eps, 1 - beta1^t */
        SUF(ccnn_adamax_step)(count, p, s0, s1, g, nn, gs, cv, decay, (REAL)x[1],
                              (REAL)x[2], (REAL)x[3], (REAL)x[4], (REAL)x[5], nthreads);
        break;
    }
    free(t);
    *applied = 1;
    return CCNN_OK;
}

static int SUF(tp_bad_record)(const int64_t *opt)
{
    return opt[CCNN_TO_KIND] < CCNN_TO_ADAM || opt[CCNN_TO_KIND] > CCNN_TO_ADAMAX
        || opt[CCNN_TO_COUNT] < 1 || (opt[CCNN_TO_CHECK] && !opt[CCNN_TO_ROWS]);
}

/* ccnn_plan_train_step_f32, ccnn_plan_train_step_f64 */
int SUF(ccnn_plan_train_step)(REAL *out, const REAL *inp, const void *targets,
                              const int64_t *ptrs, const int64_t *code, const double *reals,
                              int64_t nops, const int64_t *opt, const double *optreals,
                              int *applied, int nthreads)
{
    *applied = 0;
    if (SUF(tp_bad_record)(opt)) return CCNN_EBADARG;
    const int rc = SUF(ccnn_plan_train)(out, inp, targets, ptrs, code, reals, nops, nthreads);
    return rc != CCNN_OK ? rc : SUF(tp_optimize)(opt, optreals, applied, nthreads);
}

/* ccnn_plan_train_steps_f32, ccnn_plan_train_steps_f64 (plan_train.h: the
 * parameters are CCNN_PLAN_TRAIN_STEPS_PARAMS's) */
int SUF(ccnn_plan_train_steps) CCNN_PLAN_TRAIN_STEPS_PARAMS(REAL)
{
    const int64_t decay0 = opt[CCNN_TO_DECAY], count = opt[CCNN_TO_COUNT];
    int rc = CCNN_OK;
    *done = 0;
    *applied = 0;
    if (nsteps < 1 || n < 1 || in_size < 1 || targets_bytes < 1 || in_size % n
            || targets_bytes % n || nrows < 1 || nseeds < 0 || nsnaps < 0
            || (hits && classes < 1))
        return CCNN_EBADARG;
    for (int64_t j = 0; j < nseeds; j++)
        if (seed_rows[j] < 0 || seed_rows[j] >= nops) return CCNN_EBADARG;
    /* every row the steps read, before any of them runs */
    if (rows) {
        for (int64_t k = 0; k < nsteps * n; k++)
            if (rows[k] < 0 || rows[k] >= nrows) return CCNN_EBADARG;
    } else if (first < 0 || first > nrows || nsteps * n > nrows - first) {
        return CCNN_EBADARG;
    }
    const int64_t xrow = in_size / n, trow = targets_bytes / n;     /* a row's size */
    REAL *xbuf = NULL;          /* (n, xrow): a step's gathered inputs */
    char *tbuf = NULL;          /* (n, trow bytes): its gathered targets */
    if (rows) {
        xbuf = (REAL *)malloc((size_t)in_size * sizeof(REAL));
        tbuf = targets_rows ? (char *)malloc((size_t)targets_bytes) : NULL;
        if (!xbuf || (targets_rows && !tbuf)) {
            free(xbuf);
            free(tbuf);
            return CCNN_ENOMEM;
        }
    }
    for (int64_t i = 0; i < nsteps; i++) {
        const int64_t *r = rows ? rows + i * n : NULL;              /* this step's (n) */
        const REAL *x = xbuf;
        const char *t = (const char *)targets;
        if (r) {
            for (int64_t j = 0; j < n; j++)
                memcpy(xbuf + j * xrow, inp + r[j] * xrow, (size_t)xrow * sizeof(REAL));
        } else {
            x = inp + (first + i * n) * xrow;
        }
        if (!targets_rows) {
            t += i * targets_bytes;
        } else if (r) {
            for (int64_t j = 0; j < n; j++)
                memcpy(tbuf + j * trow, t + r[j] * trow, (size_t)trow);
            t = tbuf;
        } else {
            t += (first + i * n) * trow;
        }
        for (int64_t j = 0; j < nseeds; j++)
            memcpy(&code[seed_rows[j] * CCNN_TRAIN_FIELDS + CCNN_TF_SEED],
                   &seeds[i * nseeds + j], sizeof(uint64_t));
        if (decays) opt[CCNN_TO_DECAY] = (int64_t)(intptr_t)(decays + i * count);
        if (reduce) {   /* backward, the caller's all-reduce, then the update */
            *applied = 0;
            rc = SUF(tp_bad_record)(opt) ? CCNN_EBADARG
                : SUF(ccnn_plan_train)(out, x, t, ptrs, code, reals, nops, nthreads);
            if (rc == CCNN_OK && reduce(reduce_ctx, i) != 0) rc = CCNN_TRAIN_EREDUCE;
            if (rc == CCNN_OK)
                rc = SUF(tp_optimize)(opt, optreals + i * CCNN_TO_REALS, applied, nthreads);
        } else {
            rc = SUF(ccnn_plan_train_step)(out, x, t, ptrs, code, reals, nops, opt,
                                           optreals + i * CCNN_TO_REALS, applied, nthreads);
        }
        if (rc != CCNN_OK) break;
        for (int64_t j = 0; j < nsnaps; j++) {
            const int64_t *sn = snaps + 3 * j;                  /* src, dst, bytes */
            memcpy((char *)(intptr_t)sn[1] + i * sn[2], (const void *)(intptr_t)sn[0],
                   (size_t)sn[2]);
        }
        if (hits)
            hits[i] = labels ? SUF(ccnn_argmax_matches)(out, labels + i * n, n, classes)
                : SUF(ccnn_argmax_matches)(out, (const int64_t *)(const void *)t,
                                           targets_bytes / (int64_t)sizeof(int64_t), classes);
        *done = i + 1;
        if (!*applied) break;       /* the check refused it: the caller decides */
    }
    opt[CCNN_TO_DECAY] = decay0;
    free(xbuf);
    free(tbuf);
    return rc;
}

/* ccnn_plan_optimize_f32, ccnn_plan_optimize_f64 */
int SUF(ccnn_plan_optimize)(const int64_t *opt, const double *optreals, int *applied,
                            int nthreads)
{
    *applied = 0;
    if (SUF(tp_bad_record)(opt)) return CCNN_EBADARG;
    return SUF(tp_optimize)(opt, optreals, applied, nthreads);
}

#endif /* REAL */
