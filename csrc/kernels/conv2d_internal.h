/* conv2d_internal.h -- what the conv2d files (conv2d.c, conv2d_direct.c,
 * conv2d_gemm.c, conv2d_winograd.c, conv2d_wgrad.c) share; private, not installed.
 *
 * The geometry helpers are static inline; the typed helpers are defined once
 * per algorithm file, for float (suffix _f32) and double (_f64), and declared
 * here for both. */
#ifndef CCNN_CONV2D_INTERNAL_H
#define CCNN_CONV2D_INTERNAL_H
#include <stdlib.h>
#include "conv2d.h"
#include "kernels_common.h"
#include "gemm.h"
#include "pool.h"

/* The stride-1 input gradient as a forward correlation of dout with the
 * flipped, transposed weight (a "transposed convolution"):
 *     dx[c, ih, iw] = sum_{k,r,s} w[k,c,r,s] * dy[k, ih + pt - r*dh, iw + pl - s*dw]
 * is conv2d(dy (k channels, p x q), wt) with wt[c, k, r', s'] = w[k, c, R-1-r', S-1-s']
 * and padding (R-1)*dh - pt on top (and so on), whose output is h x w.  Fills
 * *f for a batch of n and returns 1 when that applies: stride 1 and no
 * padding beyond the kernel's span (the flipped padding is then >= 0). */
static inline int flipped_dims(const ccnn_conv2d_dims *d, int64_t n, ccnn_conv2d_dims *f)
{
    const int64_t eh = (d->r - 1) * d->dil_h, ew = (d->s - 1) * d->dil_w;
    if (d->stride_h != 1 || d->stride_w != 1 ||
        d->pad_top > eh || d->pad_bottom > eh || d->pad_left > ew || d->pad_right > ew)
        return 0;
    if (ccnn_conv2d_dims_init(f, n, d->k, d->p, d->q, d->c, d->r, d->s, 1, 1, d->dil_h, d->dil_w,
                              eh - d->pad_top, eh - d->pad_bottom, ew - d->pad_left,
                              ew - d->pad_right) != CCNN_OK)
        return 0;
    return f->p == d->h && f->q == d->w;
}

/* The GEMM kernels take that route (one image at a time: *f for n = 1) when
 * there are enough input channels to fill the micro-tile rows. */
static inline int gemm_data_as_forward(const ccnn_conv2d_dims *d, ccnn_conv2d_dims *f)
{
    return d->c >= 16 && flipped_dims(d, 1, f);
}

/* Tiles per block: the per-thread V (16, c, tb) and M (16, k, tb) together
 * within CCNN_WINO_BLOCK_BYTES, the blocks of one image of equal size, a
 * multiple of 16 (the GEMM micro-tile's width).  Shape only.  Measured on
 * the benchmark shapes (Zen 3: 512 KB L2, 32 MB L3): larger blocks win,
 * whole images of the "mid" shape (1.2 MB) included, over blocks within L2
 * (each of the 16 GEMMs repacks its k x c operand, and the transforms'
 * loops get longer); CCNN_WINO_BLOCK_BYTES in the environment overrides
 * the budget (a tuning and test aid). */
static inline int64_t wino_tile_block(int64_t C, int64_t K, int64_t T, int64_t itemsize)
{
    int64_t budget = CCNN_WINO_BLOCK_BYTES;
    const char *env = getenv("CCNN_WINO_BLOCK_BYTES");
    if (env && atol(env) > 0) budget = atol(env);
    int64_t tb = budget / (16 * (C + K) * itemsize);
    if (tb < 16) tb = 16;
    const int64_t nblocks = (T + tb - 1) / tb;
    tb = ((T + nblocks - 1) / nblocks + 15) / 16 * 16;
    return tb < T ? tb : T;
}

/* Images per Winograd group (see forward_winograd): enough tiles (T per
 * image) for long GEMMs, leaving at least 4 groups to share out.  Shape only. */
static inline int64_t wino_group(int64_t N, int64_t T)
{
    int64_t g = (CCNN_WINO_MIN_TILES + T - 1) / T;
    if (g > N / 4) g = N / 4;
    return g < 1 ? 1 : g;
}

/* Fixed groups of images of the Winograd weight gradient (its partial sums). */
#define WINO_WGRAD_GROUPS 8

/* The Winograd weight gradient's split (conv2d_winograd_wgrad) of n images
 * of T tiles: returns the groups, min(n, WINO_WGRAD_GROUPS); *ci images per
 * chunk (as many as wino_tile_block's budget holds, at least 1), *tb tiles
 * per block of a chunk.  Shape only. */
static inline int64_t wino_wgrad_blocks(int64_t N, int64_t C, int64_t K, int64_t T,
                                        int64_t itemsize, int64_t *ci, int64_t *tb)
{
    const int64_t G = N < WINO_WGRAD_GROUPS ? (N < 1 ? 1 : N) : WINO_WGRAD_GROUPS;
    const int64_t per = (N + G - 1) / G < 1 ? 1 : (N + G - 1) / G;   /* the largest group */
    int64_t c = wino_tile_block(C, K, per * T, itemsize) / T;
    if (c < 1) c = 1;
    if (c > per) c = per;
    *ci = c;
    *tb = wino_tile_block(C, K, c * T, itemsize);
    return G;
}

/* Below this many images the Winograd forward splits each image's tiles
 * into blocks (wino_split_block) instead of handing out whole images, so a
 * single image keeps every thread busy. */
#define WINO_SPLIT_ITEMS 2

/* Tiles per block of that split, for n < WINO_SPLIT_ITEMS images of T tiles
 * each and the tile budget TB: about WINO_SPLIT_ITEMS blocks in all, each a
 * multiple of 16 tiles (the GEMM micro-tile's width; the last block of an
 * image takes the rest), at most TB.  Shape only (never the thread count). */
static inline int64_t wino_split_block(int64_t n, int64_t T, int64_t TB)
{
    const int64_t per = (WINO_SPLIT_ITEMS + n - 1) / (n < 1 ? 1 : n);   /* blocks per image */
    int64_t sb = ((T + per - 1) / per + 15) / 16 * 16;
    if (sb > TB) sb = TB;
    return sb < 1 ? 1 : sb;
}

/* Bands of output rows per image when the implicit-GEMM forward has fewer
 * images n than threads nt: each image's p output rows cut into about nt / n
 * bands, so that one image keeps every thread busy (1: whole images).  Every
 * output element is summed the same way whatever band holds it (the GEMM's
 * depth blocks depend on c*r*s only), so the result does not depend on it. */
static inline int64_t gemm_split_parts(int64_t n, int64_t p, int nt)
{
    if (n < 1 || n >= nt) return 1;
    const int64_t parts = (nt + n - 1) / n;
    return parts < p ? parts : p;
}

/* Rows and columns of the padded image that the windows reach. */
static inline void conv2d_padded_extent(const ccnn_conv2d_dims *d, int64_t *hp, int64_t *wp)
{
    *hp = (d->p - 1) * d->stride_h + (d->r - 1) * d->dil_h + 1;
    *wp = (d->q - 1) * d->stride_w + (d->s - 1) * d->dil_w + 1;
}

/* Elements of the forward's packed weight (conv2d_pack_weight). */
static inline int64_t conv2d_packed_weight_elems(const ccnn_conv2d_dims *d)
{
    return ccnn_gemm_packed_a_elems(d->k, d->c * d->r * d->s);
}

#define CCNN_CONV2D_TYPED(REAL, S)                                                          \
    /* conv2d_direct.c: the direct forward (pooled_argmax != NULL: fused 2x2 max pool)     \
     * and backward (relu_out, pool_argmax: the fused ReLU / pool's gradients), and        \
     * dbias[k] = sum_{n,p,q} dout[n,k,p,q] */                                              \
    int conv2d_direct_forward##S(REAL *out, uint8_t *pooled_argmax, const REAL *inp,         \
                                 const REAL *weight, const REAL *bias,                       \
                                 const ccnn_conv2d_dims *d, int relu, int nthreads);        \
    int conv2d_direct_backward##S(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,  \
                                  const REAL *relu_out, const uint8_t *pool_argmax,          \
                                  const REAL *inp, const REAL *weight,                       \
                                  const ccnn_conv2d_dims *d, int nthreads);                  \
    void conv2d_bias_backward##S(REAL *dbias, const REAL *dout, int64_t N, int64_t K,        \
                                 int64_t PQ, int nt);                                        \
    /* conv2d_gemm.c: the implicit-GEMM forward and backward (wino: see there), the          \
     * zero-framed image of its im2col operand */                                           \
    int conv2d_gemm_forward##S(REAL *out, const REAL *inp, const REAL *weight,               \
                               const REAL *bias, const ccnn_conv2d_dims *d, int relu,        \
                               int nthreads);                                                \
    int conv2d_gemm_backward##S(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,    \
                                const REAL *inp, const REAL *weight,                         \
                                const ccnn_conv2d_dims *d, int wino, int nthreads);          \
    REAL *conv2d_gemm_pad_image##S(int slot, const REAL *x, const ccnn_conv2d_dims *d,       \
                                   int64_t c0, int64_t nch, int64_t hp, int64_t wp);         \
    /* conv2d_gemm.c: the weight (k, c, r, s) as the forward's packed GEMM operand       \
     * (conv2d_packed_weight_elems(d); CCNN_OK or CCNN_ENOMEM), and the implicit-GEMM   \
     * forward on it, bit for bit conv2d_gemm_forward on the weight (the inference      \
     * plan's cached weights: plan.c) */                                                 \
    int conv2d_pack_weight##S(REAL *packed, const REAL *weight, const ccnn_conv2d_dims *d);  \
    int conv2d_gemm_forward_packed##S(REAL *out, const REAL *inp, const REAL *packed,        \
                                      const REAL *bias, const ccnn_conv2d_dims *d, int relu, \
                                      int nthreads);                                         \
    /* conv2d.c: 1 when ccnn_conv2d_forward / _relu_forward of d and this weight run the  \
     * implicit GEMM (conv2d_gemm_forward) */                                              \
    int conv2d_forward_takes_gemm##S(const ccnn_conv2d_dims *d, const REAL *weight);       \
    /* conv2d_winograd.c: the Winograd forward (d supported, weight finite) */             \
    int conv2d_winograd_forward##S(REAL *out, const REAL *inp, const REAL *weight,           \
                                   const REAL *bias, const ccnn_conv2d_dims *d, int relu,    \
                                   int nthreads);                                            \
    /* conv2d_winograd.c: the Winograd weight gradient (d supported; dweight overwritten) */ \
    int conv2d_winograd_wgrad##S(REAL *dweight, const REAL *dout, const REAL *inp,           \
                                 const ccnn_conv2d_dims *d, int nthreads);                   \
    /* conv2d_wgrad.c: the GEMM path's weight gradient (dweight overwritten) */            \
    int conv2d_wgrad_backward##S(REAL *dweight, const REAL *dout, const REAL *inp,           \
                                 const ccnn_conv2d_dims *d, int nthreads);                   \
    /* conv2d.c: the flipped weight of the stride-1 input gradient (0: not finite) */      \
    int conv2d_flip_weight##S(REAL *restrict wt, const REAL *restrict weight,                \
                              const ccnn_conv2d_dims *d);

CCNN_CONV2D_TYPED(float, _f32)
CCNN_CONV2D_TYPED(double, _f64)
#undef CCNN_CONV2D_TYPED

#endif /* CCNN_CONV2D_INTERNAL_H */
