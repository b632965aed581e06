/* conv2d.c -- direct 2-D cross-correlation kernels (see conv2d.h).
 *
 * The typed bodies are written once, at the bottom of this file, and
 * instantiated for float and double by including this file into itself with
 * REAL / SUF defined (a C stand-in for Cython's fused types).
 *
 * Three algorithms, chosen per call by ccnn_conv2d_algo() (and, within gemm,
 * ccnn_conv2d_winograd_eligible()):
 *   direct  plain loops (vectorised along output rows): the reference, and the
 *           faster choice when c*r*s is small (the textbook's first layer);
 *   gemm    implicit GEMM (gemm.h): forward    y[n] (k x pq)   = W (k x crs) * im2col(x[n])
 *                                   data       stride 1: dx[n] (c x hw) = W' (c x krs) * im2col'(dy[n]),
 *                                              the forward convolution of dy with the flipped
 *                                              weight (gemm_data_as_forward); else
 *                                              dcol (crs x pq) = W^T * dy[n], then col2im
 *                                   weight     dW (k x crs)   += dy[n] * im2col(x[n])^T
 *           (im2col is read from a zero-framed copy of each image, gemm_pad_image)
 *   winograd  F(2x2, 3x3) (Lavin & Gray 2015) for 3x3 / stride 1 / dilation 1 with
 *           enough channels and tiles (ccnn_conv2d_winograd_eligible): in place of
 *           gemm for the forward and the stride-1 input gradient's flipped forward;
 *           16 GEMMs M[xi] (k x tiles) = U[xi] (k x c) * V[xi] (c x tiles) between
 *           the input / filter and output transforms (forward_winograd); images
 *           or weights holding NaN or inf take the gemm path
 *
 * Work split of the direct kernels (no two threads ever write one element):
 *   forward          parallel over images  -> each thread owns y[n]
 *   backward data    parallel over images  -> each thread owns dx[n]
 *   backward weight  parallel over 16 fixed groups of images, one partial
 *                    sum each, added in group order
 *   backward bias    parallel over k
 * and of the gemm kernels: forward and backward-data parallel over images
 * (winograd: over fixed groups of images),
 * handed out one at a time (each thread owns y[n] / dx[n]; a thread slowed
 * down by another process just does fewer); backward-weight parallel over row blocks of
 * dW, each thread summing over all images in the same order, or -- for a crs
 * small against k -- over 8 fixed groups of images with partials added in group
 * order (weight_grad_gemm_rows / _groups) -- so results do not depend on the
 * thread count.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d.h"
#include "kernels_common.h"
#include "gemm.h"
#include "pool.h"

int ccnn_conv2d_dims_init(ccnn_conv2d_dims *d,
                          int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t k, int64_t r, int64_t s,
                          int64_t stride_h, int64_t stride_w,
                          int64_t dil_h, int64_t dil_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right)
{
    if (n < 0 || c < 1 || h < 1 || w < 1 || k < 1 || r < 1 || s < 1 ||
        stride_h < 1 || stride_w < 1 || dil_h < 1 || dil_w < 1 ||
        pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0)
        return CCNN_EBADARG;
    const int64_t lim = (int64_t)1 << 31;
    if (h >= lim || w >= lim || r >= lim || s >= lim || stride_h >= lim || stride_w >= lim ||
        dil_h >= lim || dil_w >= lim || pad_top >= lim || pad_bottom >= lim ||
        pad_left >= lim || pad_right >= lim)
        return CCNN_EOVERFLOW;
    d->n = n; d->c = c; d->h = h; d->w = w;
    d->k = k; d->r = r; d->s = s;
    d->stride_h = stride_h; d->stride_w = stride_w;
    d->dil_h = dil_h; d->dil_w = dil_w;
    d->pad_top = pad_top; d->pad_bottom = pad_bottom;
    d->pad_left = pad_left; d->pad_right = pad_right;
    d->p = ccnn_out_size(h, pad_top, pad_bottom, r, stride_h, dil_h, 0);
    d->q = ccnn_out_size(w, pad_left, pad_right, s, stride_w, dil_w, 0);
    if (d->p < 1 || d->q < 1) return CCNN_EEMPTY;
    if (ccnn_product_overflows(4, n, c, h, w) || ccnn_product_overflows(4, k, c, r, s) ||
        ccnn_product_overflows(4, n, k, d->p, d->q))
        return CCNN_EOVERFLOW;
    /* The workspaces' byte counts must fit too (else their size_t computation
     * wraps, and a too-small buffer is overrun): the direct kernels' zero-framed
     * image c x hp x wp, the per-group weight partials 16 x k x crs doubles, the
     * gemm kernels' column buffer crs x pq and dW^T crs x k; and so must the
     * multiply-add count that picks the thread count. */
    const int64_t hp = (d->p - 1) * stride_h + (r - 1) * dil_h + 1;
    const int64_t wp = (d->q - 1) * stride_w + (s - 1) * dil_w + 1;
    const int64_t b = (int64_t)sizeof(double);
    if (ccnn_product_overflows(4, b, c, hp, wp + 16) || ccnn_product_overflows(4, b, k, d->p, d->q + 16) ||
        ccnn_product_overflows(5, 16 * b, k, c, r, s) ||
        ccnn_product_overflows(6, b, c, r, s, d->p, d->q) ||
        ccnn_product_overflows(7, n, k, d->p, d->q, c, r, s))
        return CCNN_EOVERFLOW;
    return CCNN_OK;
}

/* The stride-1 input gradient as a forward correlation of dout with the
 * flipped, transposed weight (a "transposed convolution"):
 *     dx[c, ih, iw] = sum_{k,r,s} w[k,c,r,s] * dy[k, ih + pt - r*dh, iw + pl - s*dw]
 * is conv2d(dy (k channels, p x q), wt) with wt[c, k, r', s'] = w[k, c, R-1-r', S-1-s']
 * and padding (R-1)*dh - pt on top (and so on), whose output is h x w.  Fills
 * *f for a batch of n and returns 1 when that applies: stride 1 and no
 * padding beyond the kernel's span (the flipped padding is then >= 0). */
static int flipped_dims(const ccnn_conv2d_dims *d, int64_t n, ccnn_conv2d_dims *f)
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

/* The direct kernels take that route (backward_data_flipped) when, besides,
 * the span is not much larger than the image (their forward frames dout in
 * (h + span) x (w + span)). */
static int conv_data_as_forward(const ccnn_conv2d_dims *d)
{
    ccnn_conv2d_dims f;
    return (d->r - 1) * d->dil_h <= d->h + 16 && (d->s - 1) * d->dil_w <= d->w + 16 &&
           flipped_dims(d, d->n, &f);
}

int ccnn_conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d)
{
    return d->stride_w == 1 && d->p >= 2 && d->q >= 2 &&
           d->c * d->r * d->s < 32;   /* the direct kernels' shapes */
}

int ccnn_conv2d_algo(const ccnn_conv2d_dims *d, int pass)
{
    /* Measured on the benchmark shapes: GEMM pays off once each output sums
     * enough terms (c*r*s) and there are enough output channels to fill the
     * 6-row micro-tiles.  For few input channels the direct kernels win:
     * the stride-1 input gradient as a forward correlation with the flipped
     * weight, the weight gradient as long contiguous dot products (stride-1
     * columns); otherwise GEMM still wins the input gradient when there are
     * several filters. */
    const int64_t crs = d->c * d->r * d->s;
    if (pass == CCNN_PASS_DATA) {
        if (crs >= 32) return CCNN_CONV_GEMM;
        if (conv_data_as_forward(d)) return CCNN_CONV_DIRECT;   /* flipped-weight forward */
        return d->k >= 6 ? CCNN_CONV_GEMM : CCNN_CONV_DIRECT;
    }
    if (pass == CCNN_PASS_WEIGHT) {
        if (crs >= 32) return CCNN_CONV_GEMM;
        if (d->stride_w == 1) return CCNN_CONV_DIRECT;
        return d->k >= 6 ? CCNN_CONV_GEMM : CCNN_CONV_DIRECT;
    }
    return (crs >= 32 && d->k >= 6) ? CCNN_CONV_GEMM : CCNN_CONV_DIRECT;
}

/* The GEMM kernels take that route (one image at a time: *f for n = 1) when
 * there are enough input channels to fill the micro-tile rows. */
static int gemm_data_as_forward(const ccnn_conv2d_dims *d, ccnn_conv2d_dims *f)
{
    return d->c >= 16 && flipped_dims(d, 1, f);
}

/* Winograd F(2x2, 3x3) (Lavin & Gray 2015) for the forward and, through the
 * flipped forward, the stride-1 input gradient: 3x3 windows, stride 1,
 * dilation 1, any padding and any p, q (partial last tiles), where its 16
 * small GEMMs (k x c times c x tiles) beat the implicit GEMM's one large one.
 * Shape only (never the thread count).  Measured at 2 threads, float32
 * (Zen 3), Winograd / GEMM speed-up, forward and input gradient:
 *     c = k = 16: 28x28 0.94, 56x56 1.00      c = k = 32: 14x14 1.0, 28x28 1.35, 56x56 1.28
 *     32 -> 64, 64 -> 32 at 14x14: 1.03-1.14    c = k = 64: 7x7 0.8, 14x14 1.12-1.19
 *     c = k = 128: 14x14 1.12, 28x28 1.40      c = k = 256: 14x14 0.8, 28x28 1.25
 * -- it needs enough channels, and enough tiles per image against the
 * k x c filters (each of the 16 GEMMs packs its k x c operand per image). */
int ccnn_conv2d_winograd_supported(const ccnn_conv2d_dims *d)
{
    return d->r == 3 && d->s == 3 && d->stride_h == 1 && d->stride_w == 1 &&
           d->dil_h == 1 && d->dil_w == 1;
}

int ccnn_conv2d_winograd_eligible(const ccnn_conv2d_dims *d)
{
    if (!ccnn_conv2d_winograd_supported(d) || d->c < CCNN_WINO_MIN_C || d->k < CCNN_WINO_MIN_K)
        return 0;
    const int64_t tiles = ((d->p + 1) / 2) * ((d->q + 1) / 2), ck = d->c * d->k;
    return tiles >= 49 && ck <= 512 * tiles && (tiles >= 100 || ck >= 2048);
}

/* The input gradient's Winograd route: the GEMM kernels take the flipped
 * forward (gemm_data_as_forward: stride 1, padding <= 2, c >= 16) and
 * Winograd supports it / would be the auto choice for it. */
int ccnn_conv2d_winograd_data_supported(const ccnn_conv2d_dims *d)
{
    ccnn_conv2d_dims f;
    return gemm_data_as_forward(d, &f) && ccnn_conv2d_winograd_supported(&f);
}

int ccnn_conv2d_winograd_data_eligible(const ccnn_conv2d_dims *d)
{
    ccnn_conv2d_dims f;
    return gemm_data_as_forward(d, &f) && ccnn_conv2d_winograd_eligible(&f);
}

/* Tiles per block: the per-thread V (16, c, tb) and M (16, k, tb) together
 * within CCNN_WINO_BLOCK_BYTES, the blocks of one image of equal size, a
 * multiple of 16 (the GEMM micro-tile's width).  Shape only.  Measured on
 * the benchmark shapes (Zen 3: 512 KB L2, 32 MB L3): larger blocks win,
 * whole images of the "mid" shape (1.2 MB) included, over blocks within L2
 * (each of the 16 GEMMs repacks its k x c operand, and the transforms'
 * loops get longer); CCNN_WINO_BLOCK_BYTES in the environment overrides
 * the budget (a tuning and test aid). */
static int64_t wino_tile_block(int64_t C, int64_t K, int64_t T, int64_t itemsize)
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
static int64_t wino_group(int64_t N, int64_t T)
{
    int64_t g = (CCNN_WINO_MIN_TILES + T - 1) / T;
    if (g > N / 4) g = N / 4;
    return g < 1 ? 1 : g;
}

/* The scratch bytes the auto kernels take for d (kernels_common.h / gemm.h
 * workspaces), with elements of itemsize bytes on nthreads threads: the
 * forward, or with `backward` the input and weight gradients.  Per thread,
 * the direct kernels' zero-framed image (c x hp x wp, rows widened to a
 * vector multiple) or the gemm kernels' packing panels and framed image and,
 * backward, column buffer (crs x pq) or framed grad_out; once, the
 * weight-gradient partials (or dW^T and the flipped weight); for Winograd
 * F(2x2, 3x3) per thread a tile block of V and M and a group of framed
 * images, once the transformed filters.  An upper bound of what the
 * algorithms ccnn_conv2d_algo picks for d use; INT64_MAX when it does not fit
 * in an int64_t. */
int64_t ccnn_conv2d_workspace_bytes(const ccnn_conv2d_dims *d, int backward, int64_t itemsize,
                                    int nthreads)
{
    /* in double: an estimate, and sums of products that may pass 2**63 */
    const double n = (double)d->n, c = (double)d->c, h = (double)d->h, w = (double)d->w;
    const double k = (double)d->k, p = (double)d->p, q = (double)d->q, isz = (double)itemsize;
    const double crs = c * (double)(d->r * d->s);
    const double nt = d->n < 1 ? 1 : (double)(nthreads < d->n ? (nthreads < 1 ? 1 : nthreads) : d->n);
    const double span_h = (double)((d->r - 1) * d->dil_h), span_w = (double)((d->s - 1) * d->dil_w);
    const double hp = (p - 1) * (double)d->stride_h + span_h + 1;
    const double wp = (q - 1) * (double)d->stride_w + span_w + 1;
    double direct = nt * c * hp * (wp + 16) * isz;
    double gemm = nt * ((double)ccnn_gemm_workspace_bytes((size_t)itemsize) + (c * hp * wp + 64) * isz);
    if (backward) {
        /* direct: rows of dy widened to a vector multiple, partial sums, the
         * flipped-weight forward's frame of dy (k channels); gemm: col2im's
         * column buffer or the flipped forward's framed dy, dW^T, flipped weight */
        direct += nt * (k * p * (q + 16) * isz + crs * 8) + (n < 16 ? n : 16) * k * crs * 8;
        if (d->stride_h == 1 && d->stride_w == 1 && span_h <= h + 16 && span_w <= w + 16)
            direct += nt * k * (h + 2 * span_h + 1) * (w + 2 * span_w + 17) * isz;
        const double framed = k * (h + span_h) * (w + span_w) + 64;
        gemm += nt * (crs * p * q > framed ? crs * p * q : framed) * isz + 2 * crs * k * isz;
    }
    if (ccnn_conv2d_winograd_supported(d)) {
        /* the forward's tiles, or the flipped forward's (h x w output) backward */
        const int64_t th = ((d->p > d->h ? d->p : d->h) + 1) / 2;
        const int64_t tw = ((d->q > d->w ? d->q : d->w) + 1) / 2;
        const int64_t g = wino_group(d->n, th * tw);
        const int64_t tb = wino_tile_block(d->c, d->k, g * th * tw, itemsize);
        const double framed = (double)g * (c > k ? c : k) * (double)(2 * th + 2) * (double)(2 * tw + 2);
        gemm += nt * (16 * (c + k) * (double)tb + framed) * isz + 16 * k * c * isz;
    }
    /* the algorithms the auto kernels pick for the passes that run */
    int uses_gemm = ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM;
    int uses_direct = !uses_gemm;
    if (backward) {
        const int data = ccnn_conv2d_algo(d, CCNN_PASS_DATA), wgt = ccnn_conv2d_algo(d, CCNN_PASS_WEIGHT);
        uses_gemm = data == CCNN_CONV_GEMM || wgt == CCNN_CONV_GEMM;
        uses_direct = data == CCNN_CONV_DIRECT || wgt == CCNN_CONV_DIRECT;
    }
    double bytes = 0;
    if (uses_direct && direct > bytes) bytes = direct;
    if (uses_gemm && gemm > bytes) bytes = gemm;
    return bytes >= 9.2e18 ? INT64_MAX : (int64_t)bytes;
}

#define REAL float
#define SUF(name) name##_f32
#include "conv2d.c"
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include "conv2d.c"
#undef REAL
#undef SUF

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

/* xpad (c, hp, wp) <- x (c, h, w) shifted by (pt, pl) into a zero frame:
 * xpad[c, i, j] = x[c, i - pt, j - pl], or 0 where that falls outside x.
 * hp x wp is the part of the padded image the windows actually reach. */
static void SUF(pad_image)(REAL *restrict xpad, const REAL *restrict x, int64_t C, int64_t H,
                           int64_t W, int64_t pt, int64_t pl, int64_t hp, int64_t wp)
{
    const int64_t j0 = pl < wp ? pl : wp;                       /* first column holding x */
    const int64_t j1 = pl + W < wp ? pl + W : wp;               /* one past the last      */
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < hp; i++) {
            REAL *row = xpad + (c * hp + i) * wp;
            const int64_t ih = i - pt;
            if (ih < 0 || ih >= H || j1 <= j0) {
                memset(row, 0, (size_t)wp * sizeof(REAL));
                continue;
            }
            memset(row, 0, (size_t)j0 * sizeof(REAL));
            memcpy(row + j0, x + (c * H + ih) * W + (j0 - pl), (size_t)(j1 - j0) * sizeof(REAL));
            memset(row + j1, 0, (size_t)(wp - j1) * sizeof(REAL));
        }
}

/* y (p, q) = bias + sum_{c,r,s} wk[c,r,s] * xpad[c, p*sh + r*dh, q*sw + s*dw]
 * y: (p, q); xpad: (c, hp, wp) plus CCNN_QB elements of zeroed slack at the
 * end; wk: (c, r, s) -- one output plane.
 *
 * Outputs are computed CCNN_QB columns at a time with the partial sums in a
 * small fixed-size block (kept in vector registers) over all c*r*s taps, so
 * each tap costs one load and one FMA per vector.  The last block of a row
 * may run past Q: those lanes read the next row or the slack and are never
 * stored. */
/* two 32-byte GCC vectors of partial sums (AVX registers; the compiler splits
 * them on older instruction sets), and an unaligned-load twin */
typedef REAL SUF(vec) __attribute__((vector_size(32)));
typedef REAL SUF(vec_u) __attribute__((vector_size(32), aligned(sizeof(REAL)), may_alias));
#define SUF_LANES (int64_t)(32 / sizeof(REAL))

/* dst[0 .. nq) <- the 2 vectors (a0, a1), through max(., 0) when relu (NaN
 * stays NaN: only lanes < 0 are cleared); whole blocks are stored directly. */
static inline void SUF(store_block)(REAL *dst, SUF(vec) a0, SUF(vec) a1, int64_t nq, int relu)
{
    if (relu) {
        const SUF(vec) zero = {0};
        typedef __typeof__(a0 < zero) ivec;
        a0 = (SUF(vec))((ivec)a0 & ~(a0 < zero));
        a1 = (SUF(vec))((ivec)a1 & ~(a1 < zero));
    }
    if (nq == 2 * SUF_LANES) {
        *(SUF(vec_u) *)dst = a0;
        *(SUF(vec_u) *)(dst + SUF_LANES) = a1;
        return;
    }
    REAL tmp[2 * 32 / sizeof(REAL)];
    *(SUF(vec_u) *)tmp = a0;
    *(SUF(vec_u) *)(tmp + SUF_LANES) = a1;
    for (int64_t u = 0; u < nq; u++) dst[u] = tmp[u];
}

/* Up to 4 output planes at once, so every loaded input vector feeds 4 FMAs:
 *   y[k] (p, q) = bias[k] + sum_t wk[k, t] * xpad_flat[p*sh*wp + q*sw + off[t]]
 * y: (nk, p, q); xpad: (c, hp, wp) plus zeroed slack; wk: (nk, crs) rows of
 * the weight; off: (crs) offsets of the taps t = (c, r, s) in xpad:
 * off[t] = (c*hp + r*dh)*wp + s*dw.  Columns go CCNN_QB at a time; the last
 * block of a row may read past it (into the next row or the slack) in lanes
 * that are never stored. */
static CCNN_DISPATCH void SUF(planes_forward)(REAL *restrict y, const REAL *restrict xpad,
                                              const REAL *restrict wk, const REAL *bias,
                                              int64_t nk, const int64_t *restrict off,
                                              const ccnn_conv2d_dims *d, int64_t wp, int relu)
{
    const int64_t CRS = d->c * d->r * d->s, P = d->p, Q = d->q, PQ = P * Q;
    const int64_t sh = d->stride_h, sw = d->stride_w;
    const int64_t L = SUF_LANES, QB = 2 * SUF_LANES;          /* columns per block */
    /* rows of wk for the 4 accumulator sets (repeating the last when nk < 4) */
    const REAL *w0 = wk, *w1 = wk + (nk > 1 ? 1 : 0) * CRS;
    const REAL *w2 = wk + (nk > 2 ? 2 : 0) * CRS, *w3 = wk + (nk > 3 ? 3 : 0) * CRS;
    REAL b[4] = {0, 0, 0, 0};
    for (int64_t k = 0; k < nk; k++) b[k] = bias ? bias[k] : (REAL)0;
    for (int64_t p = 0; p < P; p++) {
        for (int64_t q0 = 0; q0 < Q; q0 += QB) {
            const int64_t nq = Q - q0 < QB ? Q - q0 : QB;
            const REAL *base = xpad + p * sh * wp + q0 * sw;
            REAL out[4][2 * 32 / sizeof(REAL)];
            if (sw == 1) {
                const SUF(vec) zero = {0};
                SUF(vec) a00 = zero + b[0], a01 = a00, a10 = zero + b[1], a11 = a10;
                SUF(vec) a20 = zero + b[2], a21 = a20, a30 = zero + b[3], a31 = a30;
                for (int64_t t = 0; t < CRS; t++) {
                    const SUF(vec) x0 = *(const SUF(vec_u) *)(base + off[t]);
                    const SUF(vec) x1 = *(const SUF(vec_u) *)(base + off[t] + L);
                    a00 += w0[t] * x0; a01 += w0[t] * x1;
                    a10 += w1[t] * x0; a11 += w1[t] * x1;
                    a20 += w2[t] * x0; a21 += w2[t] * x1;
                    a30 += w3[t] * x0; a31 += w3[t] * x1;
                }
                REAL *yb = y + p * Q + q0;
                SUF(store_block)(yb, a00, a01, nq, relu);
                if (nk > 1) SUF(store_block)(yb + PQ, a10, a11, nq, relu);
                if (nk > 2) SUF(store_block)(yb + 2 * PQ, a20, a21, nq, relu);
                if (nk > 3) SUF(store_block)(yb + 3 * PQ, a30, a31, nq, relu);
                continue;
            } else {   /* strided: only the nq columns that exist (no read past the frame) */
                for (int64_t k = 0; k < nk; k++) {
                    for (int64_t u = 0; u < nq; u++) out[k][u] = b[k];
                    for (int64_t t = 0; t < CRS; t++) {
                        const REAL wv = wk[k * CRS + t];
                        for (int64_t u = 0; u < nq; u++) out[k][u] += wv * base[off[t] + u * sw];
                    }
                }
            }
            if (relu)   /* the fused activation: max(v, 0), NaN stays NaN */
                for (int64_t k = 0; k < nk; k++)
                    for (int64_t u = 0; u < nq; u++) out[k][u] = out[k][u] < 0 ? (REAL)0 : out[k][u];
            for (int64_t k = 0; k < nk; k++)
                memcpy(y + k * PQ + p * Q + q0, out[k], (size_t)nq * sizeof(REAL));
        }
    }
}

/* One output plane, 4 rows at a time (stride-1 columns):
 *   y (p, q) = bias + sum_t wk[t] * xpad_flat[p*sh*wp + q + off[t]]
 * y: (p, q); xpad, off, wp as in planes_forward; wk: (crs).  Four rows x two
 * vectors of columns are accumulated together, so each tap costs 8 loads
 * and 8 FMAs and no work is repeated for missing planes (planes_forward
 * computes 4 planes whatever nk is).  For the last rows of an odd block the
 * last real row is recomputed, never stored twice. */
static CCNN_DISPATCH void SUF(plane_forward_rows)(REAL *restrict y, const REAL *restrict xpad,
                                                  const REAL *restrict wk, REAL bias,
                                                  const int64_t *restrict off,
                                                  const ccnn_conv2d_dims *d, int64_t wp, int relu)
{
    const int64_t CRS = d->c * d->r * d->s, P = d->p, Q = d->q, sh = d->stride_h;
    const int64_t L = SUF_LANES, QB = 2 * SUF_LANES;
    for (int64_t p0 = 0; p0 < P; p0 += 4) {
        const int64_t np = P - p0 < 4 ? P - p0 : 4;
        const int64_t r0 = p0 * sh * wp, r1 = (p0 + (np > 1 ? 1 : 0)) * sh * wp;
        const int64_t r2 = (p0 + (np > 2 ? 2 : 0)) * sh * wp, r3 = (p0 + (np > 3 ? 3 : 0)) * sh * wp;
        for (int64_t q0 = 0; q0 < Q; q0 += QB) {
            const int64_t nq = Q - q0 < QB ? Q - q0 : QB;
            const REAL *base = xpad + q0;
            const SUF(vec) zero = {0};
            SUF(vec) a00 = zero + bias, a01 = a00, a10 = a00, a11 = a00;
            SUF(vec) a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int64_t t = 0; t < CRS; t++) {
                const REAL *b = base + off[t];
                const REAL wv = wk[t];
                a00 += wv * *(const SUF(vec_u) *)(b + r0); a01 += wv * *(const SUF(vec_u) *)(b + r0 + L);
                a10 += wv * *(const SUF(vec_u) *)(b + r1); a11 += wv * *(const SUF(vec_u) *)(b + r1 + L);
                a20 += wv * *(const SUF(vec_u) *)(b + r2); a21 += wv * *(const SUF(vec_u) *)(b + r2 + L);
                a30 += wv * *(const SUF(vec_u) *)(b + r3); a31 += wv * *(const SUF(vec_u) *)(b + r3 + L);
            }
            REAL *yb = y + p0 * Q + q0;
            SUF(store_block)(yb, a00, a01, nq, relu);
            if (np > 1) SUF(store_block)(yb + Q, a10, a11, nq, relu);
            if (np > 2) SUF(store_block)(yb + 2 * Q, a20, a21, nq, relu);
            if (np > 3) SUF(store_block)(yb + 3 * Q, a30, a31, nq, relu);
        }
    }
}

/* part (k, crs) += sum_{p, q} dyw[k, p, q] * xf[c, p*sh + r*dh, q + s*dw]   -- one image,
 * stride-1 columns.  part: (k, c*r*s) doubles; dyw: (k, p, qv), the image's dy
 * with every row zero-extended from q to qv (a multiple of the vector width);
 * xf: (c, hf, wf), the zero-framed image, wf >= qv + (s-1)*dw so that every
 * load stays inside its row; off: (crs) tap offsets (c*hf + r*dh)*wf + s*dw.
 *
 * Tiles of 4 filters x 3 taps keep 12 vector accumulators over the whole
 * image: each step loads 3 input and 4 gradient vectors for 12 FMAs.  In the
 * last column block of a row the input lanes at q >= Q are masked to zero, so
 * they add exactly 0 (no 0 * inf from columns the reference never reads). */
static CCNN_DISPATCH void SUF(image_backward_weight_s1)(double *restrict part,
                                                        const REAL *restrict dyw,
                                                        const REAL *restrict xf,
                                                        const int64_t *restrict off,
                                                        const ccnn_conv2d_dims *d, int64_t wf,
                                                        int64_t qv)
{
    typedef __typeof__(*(SUF(vec) *)0 == 0) ivec;   /* lane-wise ints of REAL's size */
    const int64_t K = d->k, CRS = d->c * d->r * d->s, P = d->p, Q = d->q;
    const int64_t L = SUF_LANES, rowstep = d->stride_h * wf, plane = P * qv;
    const int64_t jlast = qv - L;                      /* the block that holds column Q-1 */
    ivec keep;                                         /* -1 in lanes q < Q of that block */
    for (int64_t u = 0; u < L; u++) keep[u] = jlast + u < Q ? -1 : 0;
    for (int64_t k0 = 0; k0 < K; k0 += 4) {
        const int64_t nk = K - k0 < 4 ? K - k0 : 4;
        const REAL *y0 = dyw + k0 * plane, *y1 = y0 + (nk > 1 ? 1 : 0) * plane;
        const REAL *y2 = y0 + (nk > 2 ? 2 : 0) * plane, *y3 = y0 + (nk > 3 ? 3 : 0) * plane;
        for (int64_t t0 = 0; t0 < CRS; t0 += 3) {
            const int64_t ntap = CRS - t0 < 3 ? CRS - t0 : 3;
            const REAL *x0 = xf + off[t0], *x1 = xf + off[t0 + (ntap > 1 ? 1 : 0)];
            const REAL *x2 = xf + off[t0 + (ntap > 2 ? 2 : 0)];
            const SUF(vec) zero = {0};
            SUF(vec) a00 = zero, a01 = zero, a02 = zero, a10 = zero, a11 = zero, a12 = zero;
            SUF(vec) a20 = zero, a21 = zero, a22 = zero, a30 = zero, a31 = zero, a32 = zero;
            for (int64_t p = 0; p < P; p++) {
                const int64_t xo = p * rowstep, yo = p * qv;
                for (int64_t j = 0; j < qv; j += L) {
                    SUF(vec) v0 = *(const SUF(vec_u) *)(x0 + xo + j);
                    SUF(vec) v1 = *(const SUF(vec_u) *)(x1 + xo + j);
                    SUF(vec) v2 = *(const SUF(vec_u) *)(x2 + xo + j);
                    if (j == jlast) {
                        v0 = (SUF(vec))((ivec)v0 & keep);
                        v1 = (SUF(vec))((ivec)v1 & keep);
                        v2 = (SUF(vec))((ivec)v2 & keep);
                    }
                    const SUF(vec) g0 = *(const SUF(vec_u) *)(y0 + yo + j);
                    const SUF(vec) g1 = *(const SUF(vec_u) *)(y1 + yo + j);
                    const SUF(vec) g2 = *(const SUF(vec_u) *)(y2 + yo + j);
                    const SUF(vec) g3 = *(const SUF(vec_u) *)(y3 + yo + j);
                    a00 += g0 * v0; a01 += g0 * v1; a02 += g0 * v2;
                    a10 += g1 * v0; a11 += g1 * v1; a12 += g1 * v2;
                    a20 += g2 * v0; a21 += g2 * v1; a22 += g2 * v2;
                    a30 += g3 * v0; a31 += g3 * v1; a32 += g3 * v2;
                }
            }
            const SUF(vec) acc[4][3] = {{a00, a01, a02}, {a10, a11, a12},
                                        {a20, a21, a22}, {a30, a31, a32}};
            for (int64_t i = 0; i < nk; i++)
                for (int64_t t = 0; t < ntap; t++) {
                    double s = 0.0;
                    for (int64_t u = 0; u < L; u++) s += (double)acc[i][t][u];
                    part[(k0 + i) * CRS + t0 + t] += s;
                }
        }
    }
}
#undef SUF_LANES

/* dxpad (c, hp, wp) += sum_k  w[k,c,r,s] * dy[k, p, q] at (p*sh + r*dh, q*sw + s*dw)
 * dxpad: (c, hp, wp), zeroed by the caller; dy: (k, p, q); w: (k, c, r, s) -- one image. */
static CCNN_DISPATCH void SUF(image_backward_data)(REAL *restrict dxpad, const REAL *restrict dy,
                                                   const REAL *restrict w,
                                                   const ccnn_conv2d_dims *d, int64_t hp, int64_t wp)
{
    const int64_t C = d->c, K = d->k, R = d->r, S = d->s, P = d->p, Q = d->q;
    const int64_t sh = d->stride_h, sw = d->stride_w, dh = d->dil_h, dw = d->dil_w;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t p = 0; p < P; p++) {
                const REAL *restrict dyrow = dy + (k * P + p) * Q;
                for (int64_t r = 0; r < R; r++) {
                    REAL *dxrow = dxpad + (c * hp + p * sh + r * dh) * wp;
                    for (int64_t s = 0; s < S; s++) {
                        const REAL wv = w[((k * C + c) * R + r) * S + s];
                        REAL *restrict dxs = dxrow + s * dw;
                        if (sw == 1) {
                            #pragma omp simd
                            for (int64_t q = 0; q < Q; q++) dxs[q] += wv * dyrow[q];
                        } else {
                            for (int64_t q = 0; q < Q; q++) dxs[q * sw] += wv * dyrow[q];
                        }
                    }
                }
            }
}

/* part (k, c, r, s) += sum_{p,q} dy[k,p,q] * xpad[c, p*sh + r*dh, q*sw + s*dw] -- one image */
static CCNN_DISPATCH void SUF(image_backward_weight)(double *restrict part, const REAL *restrict dy,
                                                     const REAL *restrict xpad,
                                                     const ccnn_conv2d_dims *d, int64_t hp, int64_t wp)
{
    const int64_t C = d->c, K = d->k, R = d->r, S = d->s, P = d->p, Q = d->q;
    const int64_t sh = d->stride_h, sw = d->stride_w, dh = d->dil_h, dw = d->dil_w;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t s = 0; s < S; s++) {
                    double acc = 0.0;
                    for (int64_t p = 0; p < P; p++) {
                        const REAL *restrict dyrow = dy + (k * P + p) * Q;
                        const REAL *restrict xs = xpad + (c * hp + p * sh + r * dh) * wp + s * dw;
                        REAL racc = 0;
                        if (sw == 1) {
                            #pragma omp simd reduction(+:racc)
                            for (int64_t q = 0; q < Q; q++) racc += dyrow[q] * xs[q];
                        } else {
                            for (int64_t q = 0; q < Q; q++) racc += dyrow[q] * xs[q * sw];
                        }
                        acc += racc;
                    }
                    part[((k * C + c) * R + r) * S + s] += acc;
                }
}

/* dbias[k] = sum_{n,p,q} dout[n,k,p,q] -- shared by both algorithms.
 * dbias: (k); dout: (n, k, pq).  Parallel over k. */
static void SUF(bias_backward)(REAL *dbias, const REAL *dout, int64_t N, int64_t K, int64_t PQ,
                               int nt)
{
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t k = 0; k < K; k++) {
        double acc = 0.0;
        for (int64_t n = 0; n < N; n++) acc += SUF(ccnn_sum)(PQ, dout + (n * K + k) * PQ);
        dbias[k] = (REAL)acc;
    }
}

/* dst (q) = dout (q) * (out (q) > 0): one row of ReLU's backward */
static CCNN_DISPATCH void SUF(relu_mask_row)(REAL *restrict dst, const REAL *restrict dout,
                                             const REAL *restrict out, int64_t q)
{
    #pragma omp simd
    for (int64_t i = 0; i < q; i++) {
        const REAL keep = out[i] > 0 ? (REAL)1 : (REAL)0;   /* a select, so it vectorises */
        dst[i] = dout[i] * keep;
    }
}

/* dyw (k, p, qv) <- for one image, the gradient at the conv output of the
 * fused conv -> relu -> 2x2 max pool: dout (k, p/2, q/2) routed to each
 * window's argmax (am, offsets 0..3) where the pooled value po > 0 (ReLU's
 * mask), 0 at the window's other three places; bsum[k] += the sum of plane
 * k (the bias gradient).  Every element of the windows is written, so
 * nothing needs zeroing per image; the rest of dyw (an odd last row or
 * column, the tail past q) is left as it is. */
static CCNN_DISPATCH void SUF(unpool_grad_image)(REAL *restrict dyw, double *restrict bsum,
                                                 const REAL *restrict dout,
                                                 const REAL *restrict po,
                                                 const uint8_t *restrict am, int64_t K,
                                                 int64_t P, int64_t Q, int64_t qv)
{
    const int64_t P2 = P / 2, Q2 = Q / 2, PQ2 = P2 * Q2;
    for (int64_t k = 0; k < K; k++) {
        const REAL *restrict gk = dout + k * PQ2, *restrict pk = po + k * PQ2;  /* (p/2, q/2) */
        const uint8_t *restrict ak = am + k * PQ2;
        REAL acc = 0;                                 /* one plane: a few hundred terms */
        #pragma omp simd reduction(+:acc)
        for (int64_t t = 0; t < PQ2; t++) {
            const REAL g = gk[t], y = pk[t];          /* both loaded: a select, no branch */
            acc += y > 0 ? g : (REAL)0;
        }
        bsum[k] += (double)acc;
        for (int64_t i = 0; i < P2; i++) {
            REAL *restrict r0 = dyw + (k * P + 2 * i) * qv;      /* rows 2i, 2i + 1 */
            memset(r0, 0, sizeof(REAL) * (size_t)(2 * Q2));
            memset(r0 + qv, 0, sizeof(REAL) * (size_t)(2 * Q2));
            for (int64_t j = 0; j < Q2; j++) {   /* no branches: ReLU's mask is a select */
                const int64_t t = i * Q2 + j;
                const unsigned a = ak[t] & 3u;   /* inside the window whatever the byte */
                const REAL g = gk[t], y = pk[t];
                r0[(a >> 1) * qv + 2 * j + (a & 1)] = y > 0 ? g : (REAL)0;
            }
        }
    }
}

/* wt (c, k, r, s) = weight[k, c, R-1-r, S-1-s] (weight: (k, c, r, s)), the
 * weight of the flipped forward (flipped_dims).  Returns 0, leaving wt
 * undefined, when a weight is NaN or infinite: the flipped forward would
 * multiply it by the frame's zero padding, which the definition never does
 * (0 * inf = NaN), so callers then take a path without padding products. */
static int SUF(flip_weight)(REAL *restrict wt, const REAL *restrict weight,
                            const ccnn_conv2d_dims *d)
{
    const int64_t C = d->c, K = d->k, R = d->r, S = d->s;
    if (!SUF(ccnn_finite)(C * K * R * S, weight)) return 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t r = 0; r < R; r++)
                for (int64_t s = 0; s < S; s++)
                    wt[((c * K + k) * R + r) * S + s] =
                        weight[((k * C + c) * R + (R - 1 - r)) * S + (S - 1 - s)];
    return 1;
}

/* Rows and columns of the padded image that the windows reach. */
static inline void SUF(padded_extent)(const ccnn_conv2d_dims *d, int64_t *hp, int64_t *wp)
{
    *hp = (d->p - 1) * d->stride_h + (d->r - 1) * d->dil_h + 1;
    *wp = (d->q - 1) * d->stride_w + (d->s - 1) * d->dil_w + 1;
}

/* pooled (k, p/2, q/2), argmax (k, p/2, q/2) <- 2x2 / stride-2 max pooling of
 * y (k, p, q), plane by plane (pool.h: ccnn_max_pool2x2_plane; argmax holds
 * each maximum's offset 0..3 = row*2 + column in its window). */
static void SUF(pool2x2_image)(REAL *restrict pooled, uint8_t *restrict argmax,
                               const REAL *restrict y, int64_t K, int64_t P, int64_t Q)
{
    const int64_t PQ2 = (P / 2) * (Q / 2);
    for (int64_t k = 0; k < K; k++)
        SUF(ccnn_max_pool2x2_plane)(pooled + k * PQ2, argmax + k * PQ2, y + k * P * Q, P, Q);
}

/* The direct forward.  pooled_argmax == NULL: out (n,k,p,q).  Otherwise the
 * fused conv -> (relu) -> 2x2 max pool: each image's conv output goes to a
 * per-thread buffer (k x p x q, cache-sized) and only its pooling reaches
 * memory: out (n,k,p/2,q/2), pooled_argmax (n,k,p/2,q/2) window offsets. */
static int SUF(forward_direct)(REAL *out, uint8_t *pooled_argmax, const REAL *inp,
                               const REAL *weight, const REAL *bias,
                               const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    /* direct: each image is copied once into a zero frame (so padding is an
     * ordinary multiply by 0 and the inner loops have no bounds tests), then
     * every output plane is computed from it.  Parallel over images. */
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, PQ = d->p * d->q;
    const int64_t PQ2 = (d->p / 2) * (d->q / 2);
    int64_t hp, wp;
    SUF(padded_extent)(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * C * d->r * d->s);
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t n = 0; n < N; n++) {
        /* + slack: the last column block (16 floats or 8 doubles) of the
         * stride-1 path may read past the end; then the tap offsets.  (Not
         * times the stride: the strided path reads only existing columns, so
         * a stride near 2**31 needs no gigantic slack.) */
        const int64_t slack = 2 * 32 / (int64_t)sizeof(REAL);
        const int64_t CRS = C * d->r * d->s, npad = C * hp * wp + slack;
        REAL *xpad = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(npad + 1)
                                                         + sizeof(int64_t) * (size_t)CRS);
        if (!xpad) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
            continue;
        }
        int64_t *off = (int64_t *)(void *)(xpad + npad + (npad & 1));  /* 8-byte aligned */
        for (int64_t c = 0, t = 0; c < C; c++)
            for (int64_t r = 0; r < d->r; r++)
                for (int64_t s = 0; s < d->s; s++, t++)
                    off[t] = (c * hp + r * d->dil_h) * wp + s * d->dil_w;
        SUF(pad_image)(xpad, inp + n * C * H * W, C, H, W, d->pad_top, d->pad_left, hp, wp);
        memset(xpad + C * hp * wp, 0, (size_t)slack * sizeof(REAL));
        REAL *y = out + n * K * PQ;                                  /* (k, p, q) */
        if (pooled_argmax) {
            y = (REAL *)ccnn_workspace(CCNN_WS_CONV3, sizeof(REAL) * (size_t)(K * PQ));
            if (!y) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
        }
        int64_t k = 0;
        for (; k + 4 <= K || (k < K && d->stride_w != 1); k += 4)   /* 4 planes at a time */
            SUF(planes_forward)(y + k * PQ, xpad, weight + k * CRS,
                                bias ? bias + k : NULL, K - k < 4 ? K - k : 4, off, d, wp, relu);
        for (; k < K; k++)                                           /* the rest one by one */
            SUF(plane_forward_rows)(y + k * PQ, xpad, weight + k * CRS,
                                    bias ? bias[k] : (REAL)0, off, d, wp, relu);
        if (pooled_argmax)
            SUF(pool2x2_image)(out + n * K * PQ2, pooled_argmax + n * K * PQ2, y, K, d->p, d->q);
    }
    return err;
}


int SUF(ccnn_conv2d_forward_direct)(REAL *out, const REAL *inp, const REAL *weight,
                                     const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(forward_direct)(out, NULL, inp, weight, bias, d, 0, nthreads);
}

/* The direct backward.  relu_out (n,k,p,q) or NULL: the output of a conv
 * fused with ReLU, whose mask (relu_out > 0) is applied to dout on the fly;
 * only with dinp == NULL and stride_w == 1 (the vectorised weight path, where
 * each image's dy is copied anyway -- and where dbias is summed too).
 * With pool_argmax != NULL as well, the backward of the fused conv -> relu ->
 * 2x2 max pool (forward_direct with pooled_argmax): dout (n,k,p/2,q/2) is the
 * gradient of the pooled output relu_out (n,k,p/2,q/2), routed to each
 * window's argmax where the pooled value is > 0 (ReLU's mask) -- built per
 * image straight into the weight kernel's rows. */
static int SUF(backward_direct)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                                const REAL *relu_out, const uint8_t *pool_argmax,
                                const REAL *inp, const REAL *weight,
                                const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, PQ = d->p * d->q;
    const int64_t CRS = C * d->r * d->s, pt = d->pad_top, pl = d->pad_left;
    int64_t hp, wp;
    SUF(padded_extent)(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;
    /* the vectorised weight path also sums the bias gradient */
    const int s1 = d->stride_w == 1 && dweight != NULL;

    if (dbias && !s1) SUF(bias_backward)(dbias, dout, N, K, PQ, nt);

    /* dinp: scatter into a zero frame per image, then crop.  Parallel over images. */
    if (dinp) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            REAL *dxpad = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(C * hp * wp));
            if (!dxpad) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
            memset(dxpad, 0, sizeof(REAL) * (size_t)(C * hp * wp));
            SUF(image_backward_data)(dxpad, dout + n * K * PQ, weight, d, hp, wp);
            REAL *dx = dinp + n * C * H * W;                 /* (c, h, w) */
            for (int64_t c = 0; c < C; c++)
                for (int64_t ih = 0; ih < H; ih++) {
                    REAL *row = dx + (c * H + ih) * W;
                    const int64_t i = ih + pt;
                    for (int64_t iw = 0; iw < W; iw++) {
                        const int64_t j = iw + pl;
                        row[iw] = (i < hp && j < wp) ? dxpad[(c * hp + i) * wp + j] : (REAL)0;
                    }
                }
        }
    }

    /* dweight: images split into G fixed groups (G depends on N only), one
     * partial sum per group, added in group order -- so the result does not
     * depend on the thread count.  Parallel over groups. */
    if (dweight) {
        const int64_t G = N < 16 ? N : 16;
        /* (g, k, crs) weight partials, then (g, k) bias partials */
        const int64_t nparts = (G > 0 ? G : 1) * K * (CRS + 1);
        double *part = (double *)ccnn_workspace(CCNN_WS_CONV2, sizeof(double) * (size_t)nparts);
        if (!part) return CCNN_ENOMEM;
        memset(part, 0, sizeof(double) * (size_t)nparts);
        double *bpart = part + (G > 0 ? G : 1) * K * CRS;
        /* stride-1 columns: the vectorised kernel over a frame of width wf and
         * the image's dy with rows zero-extended to qv (image_backward_weight_s1) */
        const int64_t L = 32 / (int64_t)sizeof(REAL), P = d->p, Q = d->q;
        const int64_t qv = (Q + L - 1) / L * L, wf = qv + (d->s - 1) * d->dil_w;
        const int64_t fw = s1 ? wf : wp;                       /* frame row length */
        int64_t nreal = C * hp * fw + (s1 ? K * P * qv : 0);
        nreal += nreal & 1;                                    /* then 8-byte aligned offsets */
        const size_t ws_bytes = sizeof(REAL) * (size_t)nreal + sizeof(int64_t) * (size_t)CRS;
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t g = 0; g < G; g++) {
            REAL *xpad = (REAL *)ccnn_workspace(CCNN_WS_CONV, ws_bytes);
            if (!xpad) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
            REAL *dyw = xpad + C * hp * fw;                    /* (k, p, qv) */
            int64_t *off = (int64_t *)(void *)(xpad + nreal);  /* (crs) */
            if (s1) {
                for (int64_t c = 0, t = 0; c < C; c++)
                    for (int64_t r = 0; r < d->r; r++)
                        for (int64_t s = 0; s < d->s; s++, t++)
                            off[t] = (c * hp + r * d->dil_h) * wf + s * d->dil_w;
                if (pool_argmax)   /* unpool_grad_image writes the windows only */
                    memset(dyw, 0, sizeof(REAL) * (size_t)(K * P * qv));
                else
                    for (int64_t i = 0; i < K * P; i++)
                        memset(dyw + i * qv + Q, 0, sizeof(REAL) * (size_t)(qv - Q));
            }
            for (int64_t n = g * N / G; n < (g + 1) * N / G; n++) {
                SUF(pad_image)(xpad, inp + n * C * H * W, C, H, W, pt, pl, hp, fw);
                if (s1 && pool_argmax) {   /* dyw <- the pooled gradient at each argmax */
                    const int64_t PQ2 = (P / 2) * (Q / 2);                   /* (k, p/2, q/2) */
                    SUF(unpool_grad_image)(dyw, bpart + g * K, dout + n * K * PQ2,
                                           relu_out + n * K * PQ2, pool_argmax + n * K * PQ2,
                                           K, P, Q, qv);
                } else if (s1) {
                    const REAL *dy = dout + n * K * PQ;                     /* (k, p, q) */
                    const REAL *yo = relu_out ? relu_out + n * K * PQ : NULL;
                    for (int64_t i = 0; i < K * P; i++) {   /* rows of dy (masked) -> dyw */
                        if (yo)
                            SUF(relu_mask_row)(dyw + i * qv, dy + i * Q, yo + i * Q, Q);
                        else
                            memcpy(dyw + i * qv, dy + i * Q, sizeof(REAL) * (size_t)Q);
                    }
                }
                if (s1) {
                    if (dbias && !pool_argmax)   /* the zero tails add nothing: one sum a plane */
                        for (int64_t k = 0; k < K; k++)
                            bpart[g * K + k] += SUF(ccnn_sum)(P * qv, dyw + k * P * qv);
                    SUF(image_backward_weight_s1)(part + g * K * CRS, dyw, xpad, off, d, wf, qv);
                } else {
                    SUF(image_backward_weight)(part + g * K * CRS, dout + n * K * PQ, xpad, d, hp, wp);
                }
            }
        }
        for (int64_t i = 0; i < K * CRS; i++) {
            double acc = 0.0;
            for (int64_t g = 0; g < G; g++) acc += part[g * K * CRS + i];
            dweight[i] = (REAL)acc;
        }
        if (dbias && s1)
            for (int64_t k = 0; k < K; k++) {
                double acc = 0.0;
                for (int64_t g = 0; g < G; g++) acc += bpart[g * K + k];
                dbias[k] = (REAL)acc;
            }
    }
    return err;
}

int SUF(ccnn_conv2d_backward_direct)(REAL *dinp, REAL *dweight, REAL *dbias,
                                     const REAL *dout, const REAL *inp, const REAL *weight,
                                     const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(backward_direct)(dinp, dweight, dbias, dout, NULL, NULL, inp, weight, d, nthreads);
}

/* Zero-framed copy of channels c0 .. c0+nch-1 of one image for the im2col
 * operand of gemm.c, with CCNN_GEMM_PAD_SLACK zeroed elements on either side.
 * Returns xpad (nch, hp, wp) inside the CCNN_WS_CONV-type workspace `slot`,
 * or NULL when out of memory. */
static REAL *SUF(gemm_pad_image)(int slot, const REAL *x, const ccnn_conv2d_dims *d, int64_t c0,
                                 int64_t nch, int64_t hp, int64_t wp)
{
    const int64_t npad = nch * hp * wp, slack = CCNN_GEMM_PAD_SLACK;
    REAL *buf = (REAL *)ccnn_workspace(slot, sizeof(REAL) * (size_t)(npad + 2 * slack));
    if (!buf) return NULL;
    REAL *xpad = buf + slack;
    memset(buf, 0, sizeof(REAL) * (size_t)slack);
    memset(xpad + npad, 0, sizeof(REAL) * (size_t)slack);
    /* xpad[c, i, j] = x[c0 + c, i - pt, j - pl], 0 outside x (as pad_image, with
     * the usually short zero borders written inline) */
    const int64_t H = d->h, W = d->w, pt = d->pad_top, pl = d->pad_left;
    const int64_t j0 = pl < wp ? pl : wp, j1 = pl + W < wp ? pl + W : wp;
    for (int64_t c = 0; c < nch; c++) {
        const REAL *xc = x + (c0 + c) * H * W;             /* (h, w) */
        for (int64_t i = 0; i < hp; i++) {
            REAL *restrict row = xpad + (c * hp + i) * wp;
            const int64_t ih = i - pt;
            if (ih < 0 || ih >= H || j1 <= j0) {
                memset(row, 0, sizeof(REAL) * (size_t)wp);
                continue;
            }
            const REAL *restrict src = xc + ih * W;          /* (w) */
            for (int64_t j = 0; j < j0; j++) row[j] = 0;
            for (int64_t j = j0; j < j1; j++) row[j] = src[j - pl];
            for (int64_t j = j1; j < wp; j++) row[j] = 0;
        }
    }
    return xpad;
}

static int SUF(forward_gemm)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k;
    const int64_t PQ = d->p * d->q, CRS = C * d->r * d->s;
    int64_t hp, wp;
    SUF(padded_extent)(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t n = 0; n < N; n++) {
        REAL *y = out + n * K * PQ;                       /* (k, pq) = bias + W * im2col */
        const REAL *xpad = SUF(gemm_pad_image)(CCNN_WS_CONV, inp + n * C * H * W, d, 0, C, hp, wp);
        const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, CRS, 1, NULL, 0, 0, 0};
        const ccnn_gemm_operand B = {CCNN_OPERAND_IM2COL, xpad, 0, 0, d, 0, hp, wp};
        if (!xpad || SUF(ccnn_gemm)(K, PQ, CRS, &A, &B, y, PQ, 1, bias) != CCNN_OK) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
        if (relu)   /* epilogue while y[n] is still in cache: max(v, 0), NaN stays NaN */
            for (int64_t i = 0; i < K * PQ; i++) y[i] = y[i] < 0 ? (REAL)0 : y[i];
    }
    return err;
}

/* ---- Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2015, eq. 7-8) --------------------------------------------
 * Each 2x2 block of outputs y[k] of one image is
 *     Y = A^T [ sum_c (G g[k,c] G^T) (.) (B^T d[c] B) ] A
 * with d[c] the 4x4 input tile at (2i, 2j) of the zero-framed image (tiles
 * overlap by 2), g[k,c] the 3x3 filter, (.) the elementwise product, and
 *     B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
 *           [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
 *           [0 -1  1  0]         [1/2 -1/2  1/2]
 *           [0  1  0 -1]         [ 0    0    1 ]
 * (the cross-correlation form, which is what ccnn computes).  The sum over c
 * of each of the 16 positions xi = 4a + b of the 4x4 products is a GEMM:
 *     M[xi] (k x t) = U[xi] (k x c) * V[xi] (c x t),  t = the tiles,
 * U[xi][k][c] = (G g[k,c] G^T)[a][b], V[xi][c][t] = (B^T d[c,t] B)[a][b].
 * 16 k*c multiply-adds per tile and channel pair instead of the direct 36
 * (2.25x fewer), for a few adds in the transforms. */

/* U (16, k, c) <- G g G^T of every filter; weight (k, c, 3, 3). */
static void SUF(wino_filter_transform)(REAL *restrict U, const REAL *restrict weight,
                                       int64_t K, int64_t C)
{
    const int64_t KC = K * C;
    for (int64_t kc = 0; kc < KC; kc++) {
        const REAL *g = weight + kc * 9;                  /* (3, 3) */
        REAL t[4][3];                                     /* G g: (4, 3) */
        for (int64_t j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = (REAL)0.5 * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = (REAL)0.5 * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int64_t a = 0; a < 4; a++) {                 /* (G g) G^T: (4, 4) */
            U[(4 * a + 0) * KC + kc] = t[a][0];
            U[(4 * a + 1) * KC + kc] = (REAL)0.5 * (t[a][0] + t[a][1] + t[a][2]);
            U[(4 * a + 2) * KC + kc] = (REAL)0.5 * (t[a][0] - t[a][1] + t[a][2]);
            U[(4 * a + 3) * KC + kc] = t[a][2];
        }
    }
}

/* Tiles a transform handles at once (its row buffers live on the stack). */
#define WINO_CHUNK 256

/* V (16, c, nt) <- B^T d B of the tiles t0 .. t0+nt-1 of every channel of
 * xpad (g, c, hp, wp), g framed images one after another; tile t is tile
 * t % T of image t / T, T = th * tw tiles row-major over its tile grid, and
 * tile (i, j) starts at xpad[img, ., 2i, 2j].  Per run of tiles along a
 * tile row: first B^T d on whole row segments (e (4, 2*run + 2), unit
 * stride), then each row's columns combined, reading the tiles' even and
 * odd columns. */
static CCNN_DISPATCH void SUF(wino_input_transform)(REAL *restrict V, const REAL *restrict xpad,
                                                    int64_t C, int64_t hp, int64_t wp, int64_t tw,
                                                    int64_t T, int64_t t0, int64_t nt)
{
    const int64_t CT = C * nt;
    REAL e[4][2 * WINO_CHUNK + 2];
    for (int64_t c = 0; c < C; c++) {
        REAL *vc = V + c * nt;                            /* V[xi][c]: (nt), stride CT per xi */
        for (int64_t t = t0; t < t0 + nt;) {              /* one run of tiles within a tile row */
            const int64_t img = t / T, ti = (t % T) / tw, tj0 = (t % T) % tw;
            const REAL *xc = xpad + (img * C + c) * hp * wp;   /* (hp, wp) */
            int64_t run = (tw - tj0) < (t0 + nt - t) ? (tw - tj0) : (t0 + nt - t);
            if (run > WINO_CHUNK) run = WINO_CHUNK;
            const int64_t j0 = 2 * tj0, len = 2 * run + 2;
            const REAL *r0 = xc + 2 * ti * wp + j0, *r1 = r0 + wp, *r2 = r1 + wp, *r3 = r2 + wp;
            #pragma omp simd
            for (int64_t i = 0; i < len; i++) {           /* B^T d: rows combined */
                e[0][i] = r0[i] - r2[i];
                e[1][i] = r1[i] + r2[i];
                e[2][i] = r2[i] - r1[i];
                e[3][i] = r1[i] - r3[i];
            }
            REAL *v = vc + (t - t0);
            for (int64_t a = 0; a < 4; a++) {             /* (B^T d) B: columns combined */
                const REAL *ea = e[a];
                REAL *v0 = v + (4 * a) * CT, *v1 = v0 + CT, *v2 = v1 + CT, *v3 = v2 + CT;
                #pragma omp simd
                for (int64_t u = 0; u < run; u++) {
                    const REAL d0 = ea[2 * u], d1 = ea[2 * u + 1];
                    const REAL d2 = ea[2 * u + 2], d3 = ea[2 * u + 3];
                    v0[u] = d0 - d2;
                    v1[u] = d1 + d2;
                    v2[u] = d2 - d1;
                    v3[u] = d1 - d3;
                }
            }
            t += run;
        }
    }
}

/* y (g, k, p, q) <- A^T M A (+ bias, through max(., 0) when relu; NaN stays
 * NaN) for the tiles t0 .. t0+nt-1 (numbered as in wino_input_transform),
 * M (16, k, nt); a last tile row / column past p / q is cropped.  WINO_CHUNK tiles at a time: their 2x2 outputs into
 * o (4, WINO_CHUNK) (one long unit-stride loop), then interleaved into the
 * two output rows of each run of tiles along a tile row. */
static CCNN_DISPATCH void SUF(wino_output_transform)(REAL *restrict y, const REAL *restrict M,
                                                     const REAL *bias, int64_t K, int64_t P,
                                                     int64_t Q, int64_t tw, int64_t T,
                                                     int64_t t0, int64_t nt, int relu)
{
    const int64_t KT = K * nt, qfull = Q / 2;             /* tiles j < qfull have 2 columns */
    REAL o[4][WINO_CHUNK];
    for (int64_t k = 0; k < K; k++) {
        const REAL bk = bias ? bias[k] : (REAL)0;
        for (int64_t c0 = 0; c0 < nt; c0 += WINO_CHUNK) {
            const int64_t cn = nt - c0 < WINO_CHUNK ? nt - c0 : WINO_CHUNK;
            const REAL *m = M + k * nt + c0;              /* M[xi][k]: (nt), stride KT per xi */
            #pragma omp simd
            for (int64_t u = 0; u < cn; u++) {
                /* A^T M: (2 x 4) */
                REAL f0[4], f1[4];
                for (int64_t b = 0; b < 4; b++) {
                    const REAL m0 = m[(0 + b) * KT + u], m1 = m[(4 + b) * KT + u];
                    const REAL m2 = m[(8 + b) * KT + u], m3 = m[(12 + b) * KT + u];
                    f0[b] = m0 + m1 + m2;
                    f1[b] = m1 - m2 - m3;
                }
                /* (A^T M) A: (2 x 2) */
                REAL o00 = bk + (f0[0] + f0[1] + f0[2]), o01 = bk + (f0[1] - f0[2] - f0[3]);
                REAL o10 = bk + (f1[0] + f1[1] + f1[2]), o11 = bk + (f1[1] - f1[2] - f1[3]);
                if (relu) {
                    o00 = o00 < 0 ? (REAL)0 : o00;
                    o01 = o01 < 0 ? (REAL)0 : o01;
                    o10 = o10 < 0 ? (REAL)0 : o10;
                    o11 = o11 < 0 ? (REAL)0 : o11;
                }
                o[0][u] = o00; o[1][u] = o01; o[2][u] = o10; o[3][u] = o11;
            }
            for (int64_t i = 0; i < cn;) {                /* runs along a tile row */
                const int64_t t = t0 + c0 + i, img = t / T, ti = (t % T) / tw, tj0 = (t % T) % tw;
                REAL *yk = y + (img * K + k) * P * Q;     /* (p, q) */
                const int64_t run = tw - tj0 < cn - i ? tw - tj0 : cn - i;
                int64_t full = qfull - tj0;               /* tiles u < full are not cropped */
                if (full > run) full = run;
                if (full < 0) full = 0;
                const REAL *o0 = o[0] + i, *o1 = o[1] + i, *o2 = o[2] + i, *o3 = o[3] + i;
                REAL *y0 = yk + 2 * ti * Q + 2 * tj0, *y1 = y0 + Q;
                #pragma omp simd
                for (int64_t u = 0; u < full; u++) {
                    y0[2 * u] = o0[u];
                    y0[2 * u + 1] = o1[u];
                }
                if (full < run) y0[2 * full] = o0[full];  /* the cropped last column */
                if (2 * ti + 1 < P) {
                    #pragma omp simd
                    for (int64_t u = 0; u < full; u++) {
                        y1[2 * u] = o2[u];
                        y1[2 * u + 1] = o3[u];
                    }
                    if (full < run) y1[2 * full] = o2[full];
                }
                i += run;
            }
        }
    }
}

/* The Winograd forward (see above), d supported (ccnn_conv2d_winograd_supported)
 * and weight finite (the caller checks: flip_weight, ccnn_finite).
 * out (n, k, p, q); inp (n, c, h, w); weight (k, c, 3, 3); bias (k) or NULL.
 * Parallel over groups of g consecutive images (g: enough tiles for long
 * GEMMs, from the shape only), one group at a time; a group holding a NaN or
 * an infinity goes through the implicit GEMM instead, image by image, which
 * keeps their placement (the transforms' sums would turn inf into NaN and
 * spread it to the neighbours).  Workspaces: U in CCNN_WS_CONV2 of the
 * calling thread (shared, read-only), per thread the framed images in
 * CCNN_WS_CONV and V, M in CCNN_WS_WINO. */
static int SUF(forward_winograd)(REAL *out, const REAL *inp, const REAL *weight,
                                 const REAL *bias, const ccnn_conv2d_dims *d, int relu,
                                 int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, P = d->p, Q = d->q;
    const int64_t PQ = P * Q, CHW = C * H * W;
    const int64_t th = (P + 1) / 2, tw = (Q + 1) / 2, T = th * tw;   /* tile grid of an image */
    const int64_t hp2 = 2 * th + 2, wp2 = 2 * tw + 2;   /* frame the tiles reach */
    int64_t hp, wp;                                     /* the GEMM fallback's frame */
    SUF(padded_extent)(d, &hp, &wp);
    const int64_t g = wino_group(N, T);                 /* images per group */
    const int64_t ngroups = (N + g - 1) / g;
    const int64_t TB = wino_tile_block(C, K, g * T, (int64_t)sizeof(REAL));
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * C * 9);
    int err = CCNN_OK;
    (void)nt;
    REAL *U = (REAL *)ccnn_workspace(CCNN_WS_CONV2, sizeof(REAL) * (size_t)(16 * K * C));
    if (!U) return CCNN_ENOMEM;                         /* (16, k, c) */
    SUF(wino_filter_transform)(U, weight, K, C);
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t gi = 0; gi < ngroups; gi++) {
        const int64_t n0 = gi * g, gn = N - n0 < g ? N - n0 : g;   /* images n0 .. n0+gn-1 */
        REAL *y = out + n0 * K * PQ;                    /* (gn, k, p, q) */
        const REAL *x = inp + n0 * CHW;                 /* (gn, c, h, w) */
        if (!SUF(ccnn_finite)(gn * CHW, x)) {   /* non-finite input: the implicit GEMM */
            for (int64_t n = 0; n < gn; n++) {
                REAL *yn = y + n * K * PQ;
                const REAL *xpad = SUF(gemm_pad_image)(CCNN_WS_CONV, x + n * CHW, d, 0, C, hp, wp);
                const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, C * 9, 1, NULL, 0, 0, 0};
                const ccnn_gemm_operand B = {CCNN_OPERAND_IM2COL, xpad, 0, 0, d, 0, hp, wp};
                if (!xpad || SUF(ccnn_gemm)(K, PQ, C * 9, &A, &B, yn, PQ, 1, bias) != CCNN_OK) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                    break;
                }
                if (relu)
                    for (int64_t i = 0; i < K * PQ; i++) yn[i] = yn[i] < 0 ? (REAL)0 : yn[i];
            }
            continue;
        }
        /* (gn, c, hp2, wp2): consecutive images are consecutive channels of x */
        const REAL *xpad = SUF(gemm_pad_image)(CCNN_WS_CONV, x, d, 0, gn * C, hp2, wp2);
        REAL *V = (REAL *)ccnn_workspace(CCNN_WS_WINO, sizeof(REAL) * (size_t)(16 * (C + K) * TB));
        if (!xpad || !V) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
            continue;
        }
        for (int64_t t0 = 0; t0 < gn * T; t0 += TB) {
            const int64_t nb = gn * T - t0 < TB ? gn * T - t0 : TB;
            REAL *M = V + 16 * C * nb;                  /* V (16, c, nb), M (16, k, nb) */
            SUF(wino_input_transform)(V, xpad, C, hp2, wp2, tw, T, t0, nb);
            for (int64_t xi = 0; xi < 16; xi++) {
                /* M[xi] (k x nb) = U[xi] (k x c) * V[xi] (c x nb) */
                const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, U + xi * K * C, C, 1, NULL, 0, 0, 0};
                const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, V + xi * C * nb, nb, 1, NULL, 0, 0, 0};
                if (SUF(ccnn_gemm)(K, nb, C, &A, &B, M + xi * K * nb, nb, 1, NULL) != CCNN_OK) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                }
            }
            SUF(wino_output_transform)(y, M, bias, K, P, Q, tw, T, t0, nb, relu);
        }
    }
    return err;
}

int SUF(ccnn_conv2d_forward_winograd)(REAL *out, const REAL *inp, const REAL *weight,
                                      const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (!ccnn_conv2d_winograd_supported(d)) return CCNN_EBADARG;
    if (!SUF(ccnn_finite)(d->k * d->c * 9, weight))   /* non-finite weight: the GEMM path */
        return SUF(forward_gemm)(out, inp, weight, bias, d, 0, nthreads);
    return SUF(forward_winograd)(out, inp, weight, bias, d, 0, nthreads);
}

int SUF(ccnn_conv2d_forward_gemm)(REAL *out, const REAL *inp, const REAL *weight,
                                  const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(forward_gemm)(out, inp, weight, bias, d, 0, nthreads);
}

/* The weight gradient of the GEMM path, dW^T (crs x k) = sum_n im2col(x[n])
 * (crs x pq) * dy[n]^T (pq x k), transposed into dweight (k, crs), in one of
 * two splits over the threads; both sum each element in an order that does
 * not depend on the thread count.
 *
 * By rows: the crs rows in blocks of 6 (the micro-tile height), every thread
 * walking all images -- each thread packs all of every dy[n]^T, which is
 * cheap next to its share of im2col when crs is large against k. */
static int SUF(weight_grad_gemm_rows)(REAL *dweight, const REAL *dout, const REAL *inp,
                                      const ccnn_conv2d_dims *d, int64_t hp, int64_t wp, int nt)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t PQ = d->p * d->q, CRS = C * R * S;
    int err = CCNN_OK;
    REAL *dwt = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(CRS * K));
    if (!dwt) return CCNN_ENOMEM;
    memset(dwt, 0, sizeof(REAL) * (size_t)(CRS * K));
    const int64_t blocks = (CRS + 5) / 6;
    const int ntw = (int)(nt < blocks ? nt : blocks);
    (void)ntw;
    #pragma omp parallel num_threads(ntw)
    {
        int64_t tid, nthr;
        ccnn_team(&tid, &nthr);
        const int64_t i0 = (blocks * tid / nthr) * 6, i1t = (blocks * (tid + 1) / nthr) * 6;
        const int64_t i1 = i1t < CRS ? i1t : CRS;
        /* the channels these rows read: c0 .. c1 */
        const int64_t c0 = i0 / (R * S), c1 = i1 > i0 ? (i1 - 1) / (R * S) : c0;
        for (int64_t n = 0; n < N && i1 > i0; n++) {
            const REAL *xpad = SUF(gemm_pad_image)(CCNN_WS_CONV2, inp + n * C * H * W, d, c0,
                                                   c1 - c0 + 1, hp, wp);
            const ccnn_gemm_operand A = {CCNN_OPERAND_IM2COL, xpad, 0, 0, d, i0 - c0 * R * S, hp, wp};
            const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, dout + n * K * PQ, 1, PQ, NULL, 0, 0, 0};
            if (!xpad || SUF(ccnn_gemm)(i1 - i0, K, PQ, &A, &B, dwt + i0 * K, K, n == 0, NULL) != CCNN_OK) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                break;
            }
        }
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < CRS; i++) dweight[k * CRS + i] = dwt[i * K + k];
    return err;
}

/* By images: G fixed groups (G depends on N only), each summing its images in
 * order into a (crs x k) partial of its own, the partials added in group
 * order -- no two threads pack the same operand.  For a crs small against k
 * (a few input channels), where the rows split would have every thread pack
 * all of dy^T for a small share of im2col. */
static int SUF(weight_grad_gemm_groups)(REAL *dweight, const REAL *dout, const REAL *inp,
                                        const ccnn_conv2d_dims *d, int64_t hp, int64_t wp, int nt)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k;
    const int64_t PQ = d->p * d->q, CRS = C * d->r * d->s;
    int err = CCNN_OK;
    (void)nt;
    const int64_t G = N < 8 ? N : 8;
    if (G == 0) {   /* no images: empty sums */
        memset(dweight, 0, sizeof(REAL) * (size_t)(K * CRS));
        return err;
    }
    REAL *part = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(G * CRS * K));
    if (!part) return CCNN_ENOMEM;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t g = 0; g < G; g++) {
        const int64_t n0 = g * N / G, n1 = (g + 1) * N / G;
        for (int64_t n = n0; n < n1; n++) {
            const REAL *xpad = SUF(gemm_pad_image)(CCNN_WS_CONV2, inp + n * C * H * W, d, 0, C,
                                                   hp, wp);
            const ccnn_gemm_operand A = {CCNN_OPERAND_IM2COL, xpad, 0, 0, d, 0, hp, wp};
            const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, dout + n * K * PQ, 1, PQ, NULL, 0, 0, 0};
            if (!xpad || SUF(ccnn_gemm)(CRS, K, PQ, &A, &B, part + g * CRS * K, K, n == n0,
                                        NULL) != CCNN_OK) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                break;
            }
        }
    }
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t k = 0; k < K; k++)
        for (int64_t i = 0; i < CRS; i++) {
            REAL acc = part[i * K + k];
            for (int64_t g = 1; g < G; g++) acc += part[(g * CRS + i) * K + k];
            dweight[k * CRS + i] = acc;
        }
    return err;
}

/* The GEMM backward; the stride-1 input gradient's flipped forward runs as
 * the Winograd forward when wino is 1 and it is eligible (the auto choice),
 * or wino is 2 and it is supported (forced); never when wino is 0. */
static int SUF(backward_gemm)(REAL *dinp, REAL *dweight, REAL *dbias,
                              const REAL *dout, const REAL *inp, const REAL *weight,
                              const ccnn_conv2d_dims *d, int wino, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t P = d->p, Q = d->q, PQ = P * Q, CRS = C * R * S;
    const int64_t sh = d->stride_h, sw = d->stride_w, dh = d->dil_h, dw = d->dil_w;
    const int64_t pt = d->pad_top, pl = d->pad_left;
    int64_t hp, wp;
    SUF(padded_extent)(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;

    if (dbias) SUF(bias_backward)(dbias, dout, N, K, PQ, nt);

    ccnn_conv2d_dims f;
    REAL *wf = NULL;                                  /* (c, k, r, s): the flipped weight */
    if (dinp && gemm_data_as_forward(d, &f)) {
        wf = (REAL *)ccnn_workspace(CCNN_WS_CONV3, sizeof(REAL) * (size_t)(C * K * R * S));
        if (!wf) return CCNN_ENOMEM;
        if (!SUF(flip_weight)(wf, weight, d)) wf = NULL;   /* non-finite weight: col2im path */
    }
    if (wf && (wino == 1 ? ccnn_conv2d_winograd_eligible(&f)
                         : wino == 2 && ccnn_conv2d_winograd_supported(&f))) {
        /* dx (n, c, h, w) = the Winograd forward of dy (n, k, p, q) with w' (c, k, 3, 3) */
        ccnn_conv2d_dims fn = f;
        fn.n = N;
        err = SUF(forward_winograd)(dinp, dout, wf, NULL, &fn, 0, nthreads);
        if (err != CCNN_OK) return err;
    } else if (wf) {
        /* dx[n] (c, hw) = w' (c x krs) * im2col_f(dy[n]) (krs x hw), see flipped_dims */
        const int64_t KRS = K * R * S;
        int64_t hpf, wpf;
        SUF(padded_extent)(&f, &hpf, &wpf);
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            REAL *dx = dinp + n * C * H * W;                 /* (c, h*w) */
            const REAL *dypad = SUF(gemm_pad_image)(CCNN_WS_CONV, dout + n * K * PQ, &f, 0, K, hpf, wpf);
            const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, wf, KRS, 1, NULL, 0, 0, 0};
            const ccnn_gemm_operand B = {CCNN_OPERAND_IM2COL, dypad, 0, 0, &f, 0, hpf, wpf};
            if (!dypad || SUF(ccnn_gemm)(C, H * W, KRS, &A, &B, dx, H * W, 1, NULL) != CCNN_OK) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
            }
        }
    } else if (dinp) {
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            REAL *dcol = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(CRS * PQ));
            if (!dcol) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
            /* dcol (crs, pq) = W^T (crs x k) * dy[n] (k x pq) */
            const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, 1, CRS, NULL, 0, 0, 0};
            const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, dout + n * K * PQ, PQ, 1, NULL, 0, 0, 0};
            if (SUF(ccnn_gemm)(CRS, PQ, K, &A, &B, dcol, PQ, 1, NULL) != CCNN_OK) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
            /* col2im: dx[c, p*sh - pt + r*dh, q*sw - pl + s*dw] += dcol[(c,r,s), (p,q)] */
            REAL *dx = dinp + n * C * H * W;                 /* (c, h, w) */
            memset(dx, 0, sizeof(REAL) * (size_t)(C * H * W));
            for (int64_t c = 0; c < C; c++)
                for (int64_t r = 0; r < R; r++) {
                    int64_t plo, phi;
                    ccnn_valid_range(P, sh, r * dh - pt, H, &plo, &phi);
                    for (int64_t s = 0; s < S; s++) {
                        const int64_t off = s * dw - pl;
                        int64_t qlo, qhi;
                        ccnn_valid_range(Q, sw, off, W, &qlo, &qhi);
                        if (qhi <= qlo) continue;
                        const REAL *src = dcol + ((c * R + r) * S + s) * PQ;
                        for (int64_t p = plo; p < phi; p++) {
                            REAL *dxrow = dx + (c * H + p * sh + r * dh - pt) * W;
                            SUF(ccnn_axpy)(qhi - qlo, (REAL)1, src + p * Q + qlo, 1,
                                           dxrow + qlo * sw + off, sw);
                        }
                    }
                }
        }
    }

    if (dweight) {
        const int e = CRS >= 4 * K ? SUF(weight_grad_gemm_rows)(dweight, dout, inp, d, hp, wp, nt)
                                   : SUF(weight_grad_gemm_groups)(dweight, dout, inp, d, hp, wp, nt);
        if (e != CCNN_OK) err = e;
    }
    return err;
}

int SUF(ccnn_conv2d_backward_gemm)(REAL *dinp, REAL *dweight, REAL *dbias,
                                   const REAL *dout, const REAL *inp, const REAL *weight,
                                   const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(backward_gemm)(dinp, dweight, dbias, dout, inp, weight, d, 0, nthreads);
}

int SUF(ccnn_conv2d_backward_winograd)(REAL *dinp, REAL *dweight, REAL *dbias,
                                       const REAL *dout, const REAL *inp, const REAL *weight,
                                       const ccnn_conv2d_dims *d, int nthreads)
{
    if (dinp && !ccnn_conv2d_winograd_data_supported(d)) return CCNN_EBADARG;
    return SUF(backward_gemm)(dinp, dweight, dbias, dout, inp, weight, d, 2, nthreads);
}

/* The GEMM-class forward: Winograd where eligible and the weight is finite,
 * else the implicit GEMM. */
static int SUF(forward_fast)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    if (ccnn_conv2d_winograd_eligible(d) && SUF(ccnn_finite)(d->k * d->c * 9, weight))
        return SUF(forward_winograd)(out, inp, weight, bias, d, relu, nthreads);
    return SUF(forward_gemm)(out, inp, weight, bias, d, relu, nthreads);
}

int SUF(ccnn_conv2d_forward)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM)
        return SUF(forward_fast)(out, inp, weight, bias, d, 0, nthreads);
    return SUF(forward_direct)(out, NULL, inp, weight, bias, d, 0, nthreads);
}

int SUF(ccnn_conv2d_relu_forward)(REAL *out, const REAL *inp, const REAL *weight,
                                  const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM)
        return SUF(forward_fast)(out, inp, weight, bias, d, 1, nthreads);
    return SUF(forward_direct)(out, NULL, inp, weight, bias, d, 1, nthreads);
}

/* The stride-1 input gradient through the direct forward kernel (see
 * flipped_dims).  CCNN_EBADARG when it does not apply or a weight is not
 * finite: the caller then takes the scatter loops. */
static int SUF(backward_data_flipped)(REAL *dinp, const REAL *dout, const REAL *weight,
                                      const ccnn_conv2d_dims *d, int nthreads)
{
    ccnn_conv2d_dims t;
    if (!flipped_dims(d, d->n, &t)) return CCNN_EBADARG;
    REAL *wt = (REAL *)ccnn_workspace(CCNN_WS_CONV2,
                                      sizeof(REAL) * (size_t)(d->c * d->k * d->r * d->s));
    if (!wt) return CCNN_ENOMEM;
    if (!SUF(flip_weight)(wt, weight, d)) return CCNN_EBADARG;
    return SUF(forward_direct)(dinp, NULL, dout, wt, NULL, &t, 0, nthreads);
}

int SUF(ccnn_conv2d_relu_maxpool_forward)(REAL *out, uint8_t *argmax, const REAL *inp,
                                          const REAL *weight, const REAL *bias,
                                          const ccnn_conv2d_dims *d, int nthreads)
{
    if (!ccnn_conv2d_relu_maxpool_supported(d)) return CCNN_EBADARG;
    return SUF(forward_direct)(out, argmax, inp, weight, bias, d, 1, nthreads);
}

int SUF(ccnn_conv2d_relu_maxpool_backward)(REAL *dweight, REAL *dbias, const REAL *dout,
                                           const REAL *out, const uint8_t *argmax,
                                           const REAL *inp, const ccnn_conv2d_dims *d,
                                           int nthreads)
{
    if (!ccnn_conv2d_relu_maxpool_supported(d) || !dweight) return CCNN_EBADARG;
    return SUF(backward_direct)(NULL, dweight, dbias, dout, out, argmax, inp, NULL, d,
                                     nthreads);
}

int SUF(ccnn_conv2d_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                              const REAL *dout, const REAL *inp, const REAL *weight,
                              const ccnn_conv2d_dims *d, int nthreads)
{
    /* the input gradient and the weight/bias gradients, each with its own algorithm */
    int err = CCNN_OK;
    if (dinp) {
        if (ccnn_conv2d_algo(d, CCNN_PASS_DATA) == CCNN_CONV_GEMM)   /* Winograd where eligible */
            err = SUF(backward_gemm)(dinp, NULL, NULL, dout, inp, weight, d, 1, nthreads);
        else {
            /* flipped-weight forward; a non-finite weight (EBADARG) takes the scatter loops,
             * which never multiply it by the padding */
            err = conv_data_as_forward(d) ? SUF(backward_data_flipped)(dinp, dout, weight, d, nthreads)
                                          : CCNN_EBADARG;
            if (err == CCNN_EBADARG)
                err = SUF(ccnn_conv2d_backward_direct)(dinp, NULL, NULL, dout, inp, weight, d,
                                                       nthreads);
        }
        if (err != CCNN_OK) return err;
    }
    if (dweight || dbias)
        err = ccnn_conv2d_algo(d, CCNN_PASS_WEIGHT) == CCNN_CONV_GEMM
            ? SUF(ccnn_conv2d_backward_gemm)(NULL, dweight, dbias, dout, inp, weight, d, nthreads)
            : SUF(ccnn_conv2d_backward_direct)(NULL, dweight, dbias, dout, inp, weight, d, nthreads);
    return err;
}

/* The weight pass of the direct kernel masks dout on the fly; otherwise
 * dz (n,k,p,q) = dout * (out > 0) goes into a workspace for the plain backward. */
int SUF(ccnn_conv2d_relu_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                                   const REAL *dout, const REAL *out, const REAL *inp,
                                   const REAL *weight, const ccnn_conv2d_dims *d, int nthreads)
{
    if (!dinp && d->stride_w == 1 && dweight &&
        ccnn_conv2d_algo(d, CCNN_PASS_WEIGHT) == CCNN_CONV_DIRECT)   /* mask applied on the fly */
        return SUF(backward_direct)(NULL, dweight, dbias, dout, out, NULL, inp, weight, d, nthreads);
    const int64_t total = d->n * d->k * d->p * d->q;
    REAL *dz = (REAL *)ccnn_workspace(CCNN_WS_ACT, sizeof(REAL) * (size_t)total);
    if (!dz) return CCNN_ENOMEM;
    const int nt = ccnn_threads_for(nthreads, total / 4);
    const int64_t chunk = 16384;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i0 = 0; i0 < total; i0 += chunk) {
        const int64_t i1 = total - i0 < chunk ? total : i0 + chunk;
        #pragma omp simd
        for (int64_t i = i0; i < i1; i++) dz[i] = dout[i] * (out[i] > 0 ? (REAL)1 : (REAL)0);
    }
    return SUF(ccnn_conv2d_backward)(dinp, dweight, dbias, dz, inp, weight, d, nthreads);
}

#endif /* REAL */
