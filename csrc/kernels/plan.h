/* plan.h -- a compiled inference plan: a chain of layers run by one C call.
 *
 * ccnn.models.inference compiles a Sequential model, for one batch shape,
 * into an array of ops, each a fixed-width record of CCNN_PLAN_FIELDS int64
 * (the op, its activation, which buffers it reads and writes, which weights,
 * its geometry) and CCNN_PLAN_REALS doubles (alpha, epsilon), plus a table of
 * buffer pointers the records index (ptrs[i] is a pointer, as an int64; an
 * index < 0 is NULL).  ccnn_plan_forward runs the ops in order; each calls
 * the kernel the layer itself calls (conv2d.h, dense.h, pool.h, ...), so a
 * plan's result is the per-layer result, except where a BatchNormalization
 * is folded into the convolution or dense layer before it:
 *
 *     s = gamma / sqrt(var + eps)        (in double)
 *     weight' = weight * s (per output channel),  bias' = (bias - mean) * s + beta
 *
 * computed into the op's fold buffers.  A conv or dense op may have a weight
 * cache (CCNN_PF_CACHE: a zeroed int64 buffer whose element 0 is its size in
 * bytes, too small: CCNN_EBADARG): a copy of the weight arrays it last ran
 * with (weight, and with a fold bias, mean, var, gamma, beta), compared with
 * memcmp at every run -- so weights changed in place are always seen -- and
 * only when they differ copied again, folded again and, for a conv whose
 * forward takes the implicit GEMM, the (folded) weight packed again into the
 * GEMM's panels, which the conv then reads as they are (bit for bit the
 * same result).  Without a cache the fold runs at every call.  All
 * activations are NCHW, C-contiguous.
 *
 *   op                  reads src, writes dst
 *   CCNN_PLAN_CONV      conv2d (n,c,h,w) -> (n,k,p,q) + act; with `pool` the fused
 *                       conv -> relu -> 2x2 max pool (n,k,p/2,q/2), argmax in scratch
 *   CCNN_PLAN_DENSE     (n, in) -> (n, units) + act
 *   CCNN_PLAN_MAXPOOL   pool2d (n,c,h,w) -> (n,c,p,q)
 *   CCNN_PLAN_AVGPOOL   the same, averages (count_include_pad from the record)
 *   CCNN_PLAN_GAP       (rows = n*c, len = h*w) -> (rows): means
 *   CCNN_PLAN_GMP       the same, maxima (int64 argmax in scratch)
 *   CCNN_PLAN_BN        (outer, c, inner) -> same, the moving statistics
 *                       (invstd in the fold bias buffer)
 *   CCNN_PLAN_ACT       (count) elementwise: relu or a pointwise.h kind; dst may be src
 *   CCNN_PLAN_SOFTMAX   (rows, classes) over each row; dst may be src
 *   CCNN_PLAN_TRANSPOSE (n, a, b) -> (n, b, a)
 *   CCNN_PLAN_MERGE     (count = n) elementwise merge.h kind (= c) of src and a
 *                       second operand (the `weight` slot), div = alpha, act NONE or
 *                       RELU; dst may be either operand  (a functional model's graph)
 *   CCNN_PLAN_CONCAT    (rows = n, len = c) -> columns [w, w + c) of dst (rows, h)
 * act: CCNN_PLAN_ACT_NONE, CCNN_PLAN_ACT_RELU, or a pointwise.h kind (>= 0,
 * with alpha; the pre-activation then goes to scratch, as act_epilogue.h).
 */
#ifndef CCNN_PLAN_H
#define CCNN_PLAN_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { CCNN_PLAN_CONV = 1, CCNN_PLAN_DENSE = 2, CCNN_PLAN_MAXPOOL = 3, CCNN_PLAN_AVGPOOL = 4,
       CCNN_PLAN_GAP = 5, CCNN_PLAN_GMP = 6, CCNN_PLAN_BN = 7, CCNN_PLAN_ACT = 8,
       CCNN_PLAN_SOFTMAX = 9, CCNN_PLAN_TRANSPOSE = 10,
       CCNN_PLAN_MERGE = 11, CCNN_PLAN_CONCAT = 12 };
enum { CCNN_PLAN_ACT_NONE = -2, CCNN_PLAN_ACT_RELU = -1 };

/* The fields of an op's record (int64), and of its reals (double). */
enum {
    CCNN_PF_OP = 0, CCNN_PF_ACT, CCNN_PF_POOL, CCNN_PF_SRC, CCNN_PF_DST, CCNN_PF_SCRATCH,
    CCNN_PF_WEIGHT, CCNN_PF_BIAS, CCNN_PF_MEAN, CCNN_PF_VAR, CCNN_PF_GAMMA, CCNN_PF_BETA,
    CCNN_PF_FOLDW, CCNN_PF_FOLDB,
    /* geometry: conv (n c h w k r s sh sw dh dw pt pb pl pr); dense (n, in = c, units = k);
     * pool (n c h w, kh = r, kw = s, sh sw, pads, ceil, count_include_pad);
     * GAP / GMP (rows = n, len = c); BN (outer = n, c, inner = h); ACT (count = n);
     * SOFTMAX (rows = n, classes = c); TRANSPOSE (n, a = c, b = h) */
    CCNN_PF_N, CCNN_PF_C, CCNN_PF_H, CCNN_PF_W, CCNN_PF_K, CCNN_PF_R, CCNN_PF_S,
    CCNN_PF_SH, CCNN_PF_SW, CCNN_PF_DH, CCNN_PF_DW, CCNN_PF_PT, CCNN_PF_PB, CCNN_PF_PL,
    CCNN_PF_PR, CCNN_PF_CEIL, CCNN_PF_INCLUDE_PAD,
    CCNN_PF_CACHE,    /* conv / dense: the op's weight cache (below), or -1 */
    CCNN_PLAN_FIELDS = 32
};
enum { CCNN_PR_ALPHA = 0, CCNN_PR_EPS = 1, CCNN_PLAN_REALS = 2 };

/* Run nops ops: code (nops, CCNN_PLAN_FIELDS), reals (nops, CCNN_PLAN_REALS),
 * ptrs the buffer table, whose slots 0 and 1 stand for inp (the model's
 * input) and out (its output).  Returns CCNN_OK, CCNN_EBADARG (an unknown op or a
 * geometry its dims_init refuses; the ops before it have run) or CCNN_ENOMEM. */
int ccnn_plan_forward_f32(float *out, const float *inp, const int64_t *ptrs,
                          const int64_t *code, const double *reals, int64_t nops, int nthreads);
int ccnn_plan_forward_f64(double *out, const double *inp, const int64_t *ptrs,
                          const int64_t *code, const double *reals, int64_t nops, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_PLAN_H */
