/* conv2d.c -- 2-D cross-correlation (see conv2d.h): the geometry
 * (ccnn_conv2d_dims_init, the workspace it takes), the choice of algorithm
 * and the auto-dispatching kernels; the algorithms live beside it:
 *   conv2d_direct.c    direct loops, and the fused conv -> relu -> 2x2 max pool
 *   conv2d_gemm.c      implicit GEMM (gemm.c)
 *   conv2d_wgrad.c     the GEMM path's weight gradient (register tiles over the framed image)
 *   conv2d_winograd.c  Winograd F(2x2, 3x3)
 * with what they share declared in conv2d_internal.h.
 *
 * The typed bodies, at the bottom, are instantiated for float and double by
 * ccnn_template.h.
 *
 * Three algorithms, chosen per call by ccnn_conv2d_algo() (and, within gemm,
 * ccnn_conv2d_winograd_eligible()):
 *   direct  plain loops (vectorised along output rows): the reference, and the
 *           faster choice when c*r*s is small (the textbook's first layer) --
 *           except, with the AVX-512 GEMM, a forward of 32 filters or more;
 *   gemm    implicit GEMM (gemm.h): forward    y[n] (k x pq)   = W (k x crs) * im2col(x[n])
 *                                   data       stride 1: dx[n] (c x hw) = W' (c x krs) * im2col'(dy[n]),
 *                                              the forward convolution of dy with the flipped
 *                                              weight (gemm_data_as_forward); else
 *                                              dcol (crs x pq) = W^T * dy[n], then col2im
 *                                   weight     dW^T (crs x k) += im2col(x[n]) * dy[n]^T, with
 *                                              im2col broadcast from the framed image, never
 *                                              packed (conv2d_wgrad.c)
 *           (im2col is read from a zero-framed copy of each image, conv2d_gemm_pad_image)
 *   winograd  F(2x2, 3x3) (Lavin & Gray 2015) for 3x3 / stride 1 / dilation 1 with
 *           enough channels and tiles (ccnn_conv2d_winograd_eligible): in place of
 *           gemm for the forward and the stride-1 input gradient's flipped forward;
 *           16 GEMMs M[xi] (k x tiles) = U[xi] (k x c) * V[xi] (c x tiles) between
 *           the input / filter and output transforms (conv2d_winograd_forward); images
 *           or weights holding NaN or inf take the gemm path; and for the weight
 *           gradient (ccnn_conv2d_winograd_weight_eligible) 16 GEMMs Mw[xi] (k x c) +=
 *           Ydy[xi] (k x tiles) * V[xi]^T between the dy / input transforms and
 *           dW = G^T Mw G (conv2d_winograd_wgrad; a non-finite result is recomputed
 *           by conv2d_wgrad.c)
 *
 * Work split of the direct kernels (no two threads ever write one element):
 *   forward          parallel over images  -> each thread owns y[n]; below 4
 *                    images over parts of each image's output planes
 *   backward data    parallel over images  -> each thread owns dx[n]
 *   backward weight  parallel over 16 fixed groups of images, one partial
 *                    sum each, added in group order
 *   backward bias    parallel over k
 * and of the gemm kernels: forward and backward-data parallel over images
 * (the forward of fewer images than threads: over bands of each image's
 * output rows, conv2d_internal.h's gemm_split_parts -- every element summed
 * as without the split; winograd: over fixed groups of images; a single
 * image: over 2 blocks of its tiles, conv2d_internal.h's wino_split_block),
 * handed out one at a time (each thread owns y[n] / dx[n]; a thread slowed
 * down by another process just does fewer); backward-weight parallel over 8
 * fixed groups of images with partials added in group order, or -- when those
 * partials would be large -- over row blocks of dW, each thread summing over
 * all images in the same order (conv2d_wgrad.c), or (Winograd) over 8 fixed
 * groups of images, one (16, k, c) partial each, added in group order -- so
 * results do not depend on the thread count.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"

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
        /* with AVX-512, conv2d_wgrad.c's tiles win over the direct dot products
         * once there are 16 filters or more: measured (Intel Xeon, float32, 1
         * thread, CPU time) on the modern model's first layer, c = 1, k = 32,
         * 28x28, batch 64: 0.77 / 1.28 ms */
        if (ccnn_gemm_wide() && d->k >= 16) return CCNN_CONV_GEMM;
        if (d->stride_w == 1) return CCNN_CONV_DIRECT;
        return d->k >= 6 ? CCNN_CONV_GEMM : CCNN_CONV_DIRECT;
    }
    if (crs >= 32 && d->k >= 6) return CCNN_CONV_GEMM;
    /* The AVX-512 GEMM also wins the forward of few input channels once there
     * are many filters: measured (Intel Xeon with AVX-512, float32, 1 thread,
     * 3x3 'same', GEMM / direct) c = 1, k = 32, 28x28: batch 32 0.37 / 0.50 ms,
     * one image 0.013 / 0.018 ms (the modern model's first layer); c = 3, k = 32,
     * 32x32: 0.63 / 0.76 ms; c = 2, k = 64: 0.81 / 1.63 ms; but c = 1, k = 16:
     * 0.246 / 0.254 ms. */
    if (ccnn_gemm_wide() && d->k >= 32) return CCNN_CONV_GEMM;
    return CCNN_CONV_DIRECT;
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

/* Tiles per image from which Winograd pays off with fewer than 2048 filter
 * pairs c * k.  100 against the AVX2 micro-kernel (the table above); 400
 * against the AVX-512 one, which runs the implicit GEMM 1.35-1.56x faster
 * while the Winograd transforms, on runs of tw tiles per tile row, gain
 * little: measured on the modern model's c = k = 32, 28x28 (196 tiles,
 * batch 64, 1 thread, Intel Xeon with AVX-512), GEMM / Winograd forward 9.8 /
 * 11.2 ms, input gradient 8.4 / 11.0 ms; at 56x56 (784 tiles) Winograd still
 * wins.  CCNN_WINO_SMALL_CK_TILES in the environment overrides it (a tuning and
 * test aid: 100 restores the AVX2 choice; read once, ccnn_env_knob). */
static int64_t wino_min_tiles(void)
{
    const int64_t v = ccnn_env_knob(CCNN_KNOB_WINO_SMALL_CK_TILES);
    if (v > 0) return v;
    return ccnn_gemm_wide() ? 400 : 100;
}

/* Tiles per call (n images of T tiles) below which the AVX-512 implicit GEMM
 * beats Winograd whatever the channels: the filter transform and the 16
 * GEMMs' k x c packing, per call, are spread over too few tiles.  Measured
 * (Intel Xeon with AVX-512, float32, 1 thread, ms per image, GEMM / Winograd)
 * on the modern model's 14x14 layers (T = 49): 32 -> 64 at n = 1 0.065 /
 * 0.089, n = 4 0.063 / 0.070, n = 8 0.063 / 0.059; 64 -> 64 at n = 1 0.126 /
 * 0.166, n = 4 0.124 / 0.126, n = 8 0.124 / 0.106 -- and at 2 threads one
 * image's GEMM split into bands of rows (gemm_split_parts) 0.047 / 0.066 and
 * 0.091 / 0.118 against Winograd's split of its tiles. */
#define WINO_WIDE_MIN_CALL_TILES 256

/* The same floor for the AVX2 / generic GEMM, lower: measured (Zen 3, AVX2,
 * float32, 1 thread, CPU time, us per call, GEMM / Winograd, machine shared:
 * load 8-11) 32 -> 64 at 14x14: n = 1 (49 tiles) 107 / 128, 123 / 142,
 * n = 2 206 / 204; 64 -> 64 at 14x14: n = 1 215 / 254, n = 2 412 / 374,
 * n = 3 633 / 540; 32 -> 32 at 28x28, n = 1 (196 tiles) 204 / 188.  So one
 * 14x14 image (the modern model's predict of one image) runs the implicit
 * GEMM, whose single-image split into bands of rows (gemm_split_parts) also
 * shares 2 threads evenly where Winograd's two tile blocks are 32 and 17.
 * CCNN_WINO_MIN_CALL_TILES in the environment overrides it (a tuning and
 * benchmark aid: both paths in one process, ccnn_env_reread between). */
#define WINO_NARROW_MIN_CALL_TILES 64
static int64_t wino_narrow_min_call_tiles(void)
{
    const int64_t v = ccnn_env_knob(CCNN_KNOB_WINO_MIN_CALL_TILES);
    return v >= 0 ? v : WINO_NARROW_MIN_CALL_TILES;
}

int ccnn_conv2d_winograd_eligible(const ccnn_conv2d_dims *d)
{
    if (!ccnn_conv2d_winograd_supported(d) || d->c < CCNN_WINO_MIN_C || d->k < CCNN_WINO_MIN_K)
        return 0;
    const int64_t tiles = ((d->p + 1) / 2) * ((d->q + 1) / 2), ck = d->c * d->k;
    if (d->n * tiles < (ccnn_gemm_wide() ? WINO_WIDE_MIN_CALL_TILES
                                          : wino_narrow_min_call_tiles()))
        return 0;
    return tiles >= 49 && ck <= 512 * tiles && (tiles >= wino_min_tiles() || ck >= 2048);
}

/* The weight gradient's Winograd route (conv2d_winograd_wgrad) in place of
 * conv2d_wgrad.c's tiles.  Shape (and GEMM micro-kernel) only.  Measured
 * (Zen 3, AVX2, float32, 1 thread, CPU time, medians of 21 interleaved,
 * machine shared: load 8-10), conv2d_wgrad.c / Winograd at the modern
 * model's layers, two runs: batch 64 c = k = 32 28x28 1.09 / 1.20, 32 -> 64
 * 14x14 1.11 / 1.14, c = k = 64 14x14 1.20 / 1.08; batch 32 0.96 / 0.99
 * (a wash), 1.25 / 1.15, 1.28 / 1.16; the modern step (batch 64, 1 thread,
 * CPU time) 1.026x faster with it.  Not measured against
 * the AVX-512 tiles (9 rows x 32 floats), so not taken with them.
 * CCNN_WINO_WGRAD=0 in the environment turns it off (a tuning and
 * benchmark aid: the step with and without it in one process,
 * ccnn_env_reread between). */
int ccnn_conv2d_winograd_weight_eligible(const ccnn_conv2d_dims *d)
{
    if (ccnn_env_knob(CCNN_KNOB_WINO_WGRAD) == 0) return 0;
    if (!ccnn_conv2d_winograd_supported(d) || d->c < CCNN_WINO_MIN_C || d->k < CCNN_WINO_MIN_K ||
        ccnn_gemm_wide())
        return 0;
    const int64_t tiles = ((d->p + 1) / 2) * ((d->q + 1) / 2);
    return tiles >= 49;
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
    if (!gemm_data_as_forward(d, &f)) return 0;
    f.n = d->n;   /* the flipped forward runs on the whole batch */
    return ccnn_conv2d_winograd_eligible(&f);
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
    if (d->n < nthreads)   /* the forward's split (gemm_split_parts): one frame of all n images */
        gemm += (n * c * hp * wp + 64) * isz;
    if (backward) {
        /* direct: rows of dy widened to a vector multiple, partial sums, the
         * flipped-weight forward's frame of dy (k channels); gemm: col2im's
         * column buffer or the flipped forward's framed dy, dW^T, flipped weight */
        direct += nt * (k * p * (q + 16) * isz + crs * 8) + (n < 16 ? n : 16) * k * crs * 8;
        if (d->stride_h == 1 && d->stride_w == 1 && span_h <= h + 16 && span_w <= w + 16)
            direct += nt * k * (h + 2 * span_h + 1) * (w + 2 * span_w + 17) * isz;
        const double framed = k * (h + span_h) * (w + span_w) + 64;
        gemm += nt * (crs * p * q > framed ? crs * p * q : framed) * isz + 2 * crs * k * isz;
        /* conv2d_wgrad.c: per thread dy[n] transposed (k rounded up to 16), at
         * most 8 partial sums of (crs, k), the rows' offsets */
        const double kp = (double)((d->k + 15) / 16 * 16);
        gemm += nt * p * q * kp * isz + (n < 8 ? n : 8) * crs * kp * isz + crs * 8;
    }
    if (ccnn_conv2d_winograd_supported(d)) {
        /* the forward's tiles, or the flipped forward's (h x w output) backward */
        const int64_t th = ((d->p > d->h ? d->p : d->h) + 1) / 2;
        const int64_t tw = ((d->q > d->w ? d->q : d->w) + 1) / 2;
        const int64_t g = wino_group(d->n, th * tw);
        const int64_t tb = wino_tile_block(d->c, d->k, g * th * tw, itemsize);
        const double framed = (double)g * (c > k ? c : k) * (double)(2 * th + 2) * (double)(2 * tw + 2);
        gemm += nt * (16 * (c * (double)(tb + 16) + k * (double)tb) + framed) * isz + 16 * k * c * isz;
        if (d->n < WINO_SPLIT_ITEMS)   /* the split's shared frame of all n images */
            gemm += n * (c > k ? c : k) * (double)(2 * th + 2) * (double)(2 * tw + 2) * isz;
        if (backward) {
            /* the Winograd weight gradient (conv2d_winograd_wgrad): per thread a chunk of
             * framed images and framed dout, V and Ydy of a tile block; once the partials */
            const int64_t tp = ((d->p + 1) / 2) * ((d->q + 1) / 2);
            int64_t ci, tbw;
            const double G = (double)wino_wgrad_blocks(d->n, d->c, d->k, tp, itemsize, &ci, &tbw);
            const double hq = (double)(2 * ((d->p + 1) / 2)), wq = (double)(2 * ((d->q + 1) / 2));
            gemm += nt * ((double)ci * (c * (hq + 2) * (wq + 2) + k * hq * wq) +
                          4 * CCNN_GEMM_PAD_SLACK + 16 * (c + k) * (double)(tbw + 16)) * isz +
                    G * 16 * k * c * isz;
        }
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

#define CCNN_TEMPLATE "conv2d.c"
#include "ccnn_template.h"

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

/* wt (c, k, r, s) = weight[k, c, R-1-r, S-1-s] (weight: (k, c, r, s)), the
 * weight of the flipped forward (flipped_dims).  Returns 0, leaving wt
 * undefined, when a weight is NaN or infinite: the flipped forward would
 * multiply it by the frame's zero padding, which the definition never does
 * (0 * inf = NaN), so callers then take a path without padding products. */
int SUF(conv2d_flip_weight)(REAL *restrict wt, const REAL *restrict weight,
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

int SUF(conv2d_forward_takes_gemm)(const ccnn_conv2d_dims *d, const REAL *weight)
{
    return ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM &&
           !(ccnn_conv2d_winograd_eligible(d) && SUF(ccnn_finite)(d->k * d->c * 9, weight));
}

/* The GEMM-class forward: Winograd where eligible and the weight is finite,
 * else the implicit GEMM (conv2d_forward_takes_gemm). */
static int SUF(forward_fast)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    if (ccnn_conv2d_winograd_eligible(d) && SUF(ccnn_finite)(d->k * d->c * 9, weight))
        return SUF(conv2d_winograd_forward)(out, inp, weight, bias, d, relu, nthreads);
    return SUF(conv2d_gemm_forward)(out, inp, weight, bias, d, relu, nthreads);
}

/* ccnn_conv2d_forward_f32, ccnn_conv2d_forward_f64 */
int SUF(ccnn_conv2d_forward)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM)
        return SUF(forward_fast)(out, inp, weight, bias, d, 0, nthreads);
    return SUF(conv2d_direct_forward)(out, NULL, inp, weight, bias, d, 0, nthreads);
}

/* ccnn_conv2d_relu_forward_f32, ccnn_conv2d_relu_forward_f64 */
int SUF(ccnn_conv2d_relu_forward)(REAL *out, const REAL *inp, const REAL *weight,
                                  const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d, CCNN_PASS_FORWARD) == CCNN_CONV_GEMM)
        return SUF(forward_fast)(out, inp, weight, bias, d, 1, nthreads);
    return SUF(conv2d_direct_forward)(out, NULL, inp, weight, bias, d, 1, nthreads);
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
    if (!SUF(conv2d_flip_weight)(wt, weight, d)) return CCNN_EBADARG;
    return SUF(conv2d_direct_forward)(dinp, NULL, dout, wt, NULL, &t, 0, nthreads);
}

/* ccnn_conv2d_backward_f32, ccnn_conv2d_backward_f64 */
int SUF(ccnn_conv2d_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                              const REAL *dout, const REAL *inp, const REAL *weight,
                              const ccnn_conv2d_dims *d, int nthreads)
{
    /* the input gradient and the weight/bias gradients, each with its own algorithm */
    int err = CCNN_OK;
    if (dinp) {
        if (ccnn_conv2d_algo(d, CCNN_PASS_DATA) == CCNN_CONV_GEMM)   /* Winograd where eligible */
            err = SUF(conv2d_gemm_backward)(dinp, NULL, NULL, dout, inp, weight, d, 1, nthreads);
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
            ? SUF(conv2d_gemm_backward)(NULL, dweight, dbias, dout, inp, weight, d, 1, nthreads)
            : SUF(ccnn_conv2d_backward_direct)(NULL, dweight, dbias, dout, inp, weight, d, nthreads);
    return err;
}

/* The weight pass of the direct kernel masks dout on the fly; otherwise
 * dz (n,k,p,q) = dout * (out > 0) goes into a workspace for the plain backward. */
/* ccnn_conv2d_relu_backward_f32, ccnn_conv2d_relu_backward_f64 */
int SUF(ccnn_conv2d_relu_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                                   const REAL *dout, const REAL *out, const REAL *inp,
                                   const REAL *weight, const ccnn_conv2d_dims *d, int nthreads)
{
    if (!dinp && d->stride_w == 1 && dweight &&
        ccnn_conv2d_algo(d, CCNN_PASS_WEIGHT) == CCNN_CONV_DIRECT)   /* mask applied on the fly */
        return SUF(conv2d_direct_backward)(NULL, dweight, dbias, dout, out, NULL, inp, weight, d, nthreads);
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
