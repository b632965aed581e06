/* conv2d_winograd.c -- Winograd F(2x2, 3x3) conv2d kernels (see conv2d.c
 * for the algorithms, conv2d.h for when the auto kernels take them).
 *
 * The typed bodies, at the bottom, are instantiated for float and double by
 * ccnn_template.h.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"

/* Tiles a transform handles at once (its row buffers live on the stack). */
#define WINO_CHUNK 256

/* The run of tiles from tile t (numbered as in wino_input_transform) along
 * its tile row: at most `left` tiles and WINO_CHUNK; *img, *ti, *tj0 its
 * image, tile row and first tile column. */
static inline int64_t wino_run(int64_t t, int64_t left, int64_t tw, int64_t T, int64_t *img,
                               int64_t *ti, int64_t *tj0)
{
    *img = t / T;
    *ti = (t % T) / tw;
    *tj0 = (t % T) % tw;
    int64_t run = tw - *tj0 < left ? tw - *tj0 : left;
    return run > WINO_CHUNK ? WINO_CHUNK : run;
}

#define CCNN_TEMPLATE "conv2d_winograd.c"
#include "ccnn_template.h"

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

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

/* U (16, k, c) <- G g G^T of every filter; weight (k, c, 3, 3).  Vectorised
 * across filters: blocks of 16 filters, their taps first transposed to
 * gt (9, 16) so that each lane is one filter and the 16 outputs are stored
 * unit-stride.  (Every convolution's forward runs it, at every call: a
 * quarter of a batch-1 predict of the modern model when it was scalar.) */
static CCNN_DISPATCH void SUF(wino_filter_transform)(REAL *restrict U,
                                                     const REAL *restrict weight,
                                                     int64_t K, int64_t C)
{
    const int64_t KC = K * C;
    const REAL h = (REAL)0.5;
    for (int64_t kc0 = 0; kc0 < KC; kc0 += 16) {
        const int64_t nb = KC - kc0 < 16 ? KC - kc0 : 16;
        REAL gt[9][16];
        for (int64_t i = 0; i < nb; i++)
            for (int64_t j = 0; j < 9; j++) gt[j][i] = weight[(kc0 + i) * 9 + j];
        REAL *u = U + kc0;
        #pragma omp simd
        for (int64_t i = 0; i < nb; i++) {
            /* G g: rows t0 .. t3, columns 0 .. 2 */
            const REAL g0 = gt[0][i], g1 = gt[1][i], g2 = gt[2][i], g3 = gt[3][i];
            const REAL g4 = gt[4][i], g5 = gt[5][i], g6 = gt[6][i], g7 = gt[7][i];
            const REAL g8 = gt[8][i];
            const REAL t10 = h * (g0 + g3 + g6), t11 = h * (g1 + g4 + g7);
            const REAL t12 = h * (g2 + g5 + g8);
            const REAL t20 = h * (g0 - g3 + g6), t21 = h * (g1 - g4 + g7);
            const REAL t22 = h * (g2 - g5 + g8);
            /* (G g) G^T: row a -> U[4a .. 4a+3] */
            u[0 * KC + i] = g0;
            u[1 * KC + i] = h * (g0 + g1 + g2);
            u[2 * KC + i] = h * (g0 - g1 + g2);
            u[3 * KC + i] = g2;
            u[4 * KC + i] = t10;
            u[5 * KC + i] = h * (t10 + t11 + t12);
            u[6 * KC + i] = h * (t10 - t11 + t12);
            u[7 * KC + i] = t12;
            u[8 * KC + i] = t20;
            u[9 * KC + i] = h * (t20 + t21 + t22);
            u[10 * KC + i] = h * (t20 - t21 + t22);
            u[11 * KC + i] = t22;
            u[12 * KC + i] = g6;
            u[13 * KC + i] = h * (g6 + g7 + g8);
            u[14 * KC + i] = h * (g6 - g7 + g8);
            u[15 * KC + i] = g8;
        }
    }
}

/* Runs of tiles are transformed in whole multiples of this many lanes (one
 * AVX2 vector of floats): a run of tw = 14 (28x28 images) or 7 (14x14)
 * tiles otherwise ends in a scalar remainder loop, which took most of the
 * transform's time.  The lanes past the run read on into the frame (at most
 * 2 * (WINO_LANES - 1) elements past a row segment: within the next row, or
 * the frame's CCNN_GEMM_PAD_SLACK zeroed elements after the last) and are
 * written to V's row padding or to tiles the next run overwrites. */
#define WINO_LANES 8
#define WINO_VPAD 16   /* V's row padding (>= WINO_LANES - 1), elements */

/* V (16, c, ldv) <- B^T d B of the tiles t0 .. t0+nt-1 of every channel of
 * xpad (g, c, hp, wp), g framed images one after another (framed by
 * conv2d_gemm_pad_image: slack after the last); ldv >= nt + WINO_VPAD (the
 * elements past nt of each row are scratch); tile t is tile t % T of image
 * t / T, T = th * tw tiles row-major over its tile grid, and tile (i, j)
 * starts at xpad[img, ., 2i, 2j].  Per run of tiles along a tile row,
 * rounded up to WINO_LANES: first B^T d on whole row segments (e (4, 2*run +
 * 2), unit stride), then each row's columns combined, reading the tiles'
 * even and odd columns. */
static CCNN_DISPATCH void SUF(wino_input_transform)(REAL *restrict V, const REAL *restrict xpad,
                                                    int64_t C, int64_t hp, int64_t wp, int64_t tw,
                                                    int64_t T, int64_t t0, int64_t nt, int64_t ldv)
{
    const int64_t CT = C * ldv;
    REAL e[4][2 * WINO_CHUNK + 2];
    for (int64_t c = 0; c < C; c++) {
        REAL *vc = V + c * ldv;                           /* V[xi][c]: (nt), stride CT per xi */
        for (int64_t t = t0; t < t0 + nt;) {              /* one run of tiles within a tile row */
            int64_t img, ti, tj0;
            const int64_t run = wino_run(t, t0 + nt - t, tw, T, &img, &ti, &tj0);
            const REAL *xc = xpad + (img * C + c) * hp * wp;   /* (hp, wp) */
            const int64_t runv = (run + WINO_LANES - 1) / WINO_LANES * WINO_LANES;   /* <= WINO_CHUNK */
            const int64_t j0 = 2 * tj0, len = 2 * runv + 2;
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
                for (int64_t u = 0; u < runv; u++) {
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
    /* o: the tiles' outputs, with WINO_LANES of slack (read past a run, never
     * stored to y); rows: a run's two output rows, interleaved in whole
     * WINO_LANES multiples of tiles, then copied to y cropped */
    REAL o[4][WINO_CHUNK + WINO_LANES], rows[2][2 * WINO_CHUNK];
    memset(o, 0, sizeof(o));
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
                /* run <= cn <= WINO_CHUNK, a multiple of WINO_LANES: runv <= WINO_CHUNK */
                const int64_t runv = (run + WINO_LANES - 1) / WINO_LANES * WINO_LANES;
                /* the columns of y written: 2 per full tile, 1 for a cropped last one */
                const size_t ncol = (size_t)(2 * full + (full < run ? 1 : 0));
                #pragma omp simd
                for (int64_t u = 0; u < runv; u++) {
                    rows[0][2 * u] = o0[u];
                    rows[0][2 * u + 1] = o1[u];
                    rows[1][2 * u] = o2[u];
                    rows[1][2 * u + 1] = o3[u];
                }
                memcpy(y0, rows[0], sizeof(REAL) * ncol);
                if (2 * ti + 1 < P) memcpy(y1, rows[1], sizeof(REAL) * ncol);
                i += run;
            }
        }
    }
}

/* The Winograd forward (see above), d supported (ccnn_conv2d_winograd_supported)
 * and weight finite (the caller checks: flip_weight, ccnn_finite).
 * out (n, k, p, q); inp (n, c, h, w); weight (k, c, 3, 3); bias (k) or NULL.
 * Parallel over work items handed out one at a time: groups of g consecutive
 * images (g: enough tiles for long GEMMs, from the shape only), or, for fewer
 * than WINO_SPLIT_ITEMS images, blocks of each image's tiles (wino_split_block:
 * shape only), so that one image keeps every thread busy; either way the
 * items, and so the result, never depend on the thread count.  A group (an
 * image) holding a NaN or an infinity goes through the implicit GEMM
 * instead, image by image, which keeps their placement (the transforms' sums
 * would turn inf into NaN and spread it to the neighbours).  Workspaces: U
 * in CCNN_WS_CONV2 of the calling thread (shared, read-only), per thread the
 * framed images in CCNN_WS_CONV (split: all n framed once, in CCNN_WS_CONV
 * of the calling thread, shared; a non-finite image's frame then goes to
 * CCNN_WS_WINO) and V, M in CCNN_WS_WINO.  (The callers hold CCNN_WS_CONV3:
 * the flipped weight, and CCNN_WS_ACT: the masked gradient.) */
int SUF(conv2d_winograd_forward)(REAL *out, const REAL *inp, const REAL *weight,
                                 const REAL *bias, const ccnn_conv2d_dims *d, int relu,
                                 int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, P = d->p, Q = d->q;
    const int64_t PQ = P * Q, CHW = C * H * W;
    const int64_t th = (P + 1) / 2, tw = (Q + 1) / 2, T = th * tw;   /* tile grid of an image */
    const int64_t hp2 = 2 * th + 2, wp2 = 2 * tw + 2;   /* frame the tiles reach */
    int64_t hp, wp;                                     /* the GEMM fallback's frame */
    conv2d_padded_extent(d, &hp, &wp);
    const int64_t g = wino_group(N, T);                 /* images per group */
    const int64_t ngroups = (N + g - 1) / g;
    const int64_t TB = wino_tile_block(C, K, g * T, (int64_t)sizeof(REAL));
    /* split: a few single images (g = 1), each cut into blocks of sb tiles */
    const int split = N < WINO_SPLIT_ITEMS;
    const int64_t sb = split ? wino_split_block(N, T, TB) : g * T;
    const int64_t per = split ? (T + sb - 1) / sb : 1;  /* items per group */
    const int64_t nitems = ngroups * per;
    int nt = ccnn_threads_for(nthreads, N * K * PQ * C * 9);
    if (nt > nitems) nt = nitems > 0 ? (int)nitems : 1;   /* no idle thread to fork */
    int err = CCNN_OK;
    (void)nt;
    REAL *U = (REAL *)ccnn_workspace(CCNN_WS_CONV2, sizeof(REAL) * (size_t)(16 * K * C));
    if (!U) return CCNN_ENOMEM;                         /* (16, k, c) */
    SUF(wino_filter_transform)(U, weight, K, C);
    const REAL *xall = NULL;                            /* split: (n, c, hp2, wp2) */
    int finite[WINO_SPLIT_ITEMS] = {0};                 /* split: image n is finite */
    if (split) {
        for (int64_t n = 0; n < N; n++) finite[n] = SUF(ccnn_finite)(CHW, inp + n * CHW);
        xall = SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV, inp, d, 0, N * C, hp2, wp2);
        if (!xall) return CCNN_ENOMEM;
    }
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < nitems; it++) {
        const int64_t gi = it / per, bi = it % per;
        const int64_t n0 = gi * g, gn = N - n0 < g ? N - n0 : g;   /* images n0 .. n0+gn-1 */
        const int64_t t0 = bi * sb, t1 = gn * T - t0 < sb ? gn * T : t0 + sb;  /* its tiles */
        REAL *y = out + n0 * K * PQ;                    /* (gn, k, p, q) */
        const REAL *x = inp + n0 * CHW;                 /* (gn, c, h, w) */
        if (split ? !finite[gi] : !SUF(ccnn_finite)(gn * CHW, x)) {
            /* non-finite input: the implicit GEMM (split: the image's first item) */
            for (int64_t n = 0; n < gn && bi == 0; n++) {
                REAL *yn = y + n * K * PQ;
                const REAL *xpad = SUF(conv2d_gemm_pad_image)(split ? CCNN_WS_WINO : CCNN_WS_CONV,
                                                               x + n * CHW, d, 0, C, hp, wp);
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
        const REAL *xpad = split ? xall + n0 * C * hp2 * wp2
                                 : SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV, x, d, 0, gn * C, hp2, wp2);
        const int64_t ldv = TB + WINO_VPAD;             /* V's rows, padded (wino_input_transform) */
        REAL *V = (REAL *)ccnn_workspace(CCNN_WS_WINO,
                                         sizeof(REAL) * (size_t)(16 * (C * ldv + K * TB)));
        if (!xpad || !V) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
            continue;
        }
        for (int64_t tb0 = t0; tb0 < t1; tb0 += TB) {
            const int64_t nb = t1 - tb0 < TB ? t1 - tb0 : TB;
            REAL *M = V + 16 * C * ldv;                 /* V (16, c, ldv), M (16, k, nb) */
            SUF(wino_input_transform)(V, xpad, C, hp2, wp2, tw, T, tb0, nb, ldv);
            for (int64_t xi = 0; xi < 16; xi++) {
                /* M[xi] (k x nb) = U[xi] (k x c) * V[xi] (c x nb) */
                const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, U + xi * K * C, C, 1, NULL, 0, 0, 0};
                const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, V + xi * C * ldv, ldv, 1, NULL, 0, 0, 0};
                if (SUF(ccnn_gemm)(K, nb, C, &A, &B, M + xi * K * nb, nb, 1, NULL) != CCNN_OK) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                }
            }
            SUF(wino_output_transform)(y, M, bias, K, P, Q, tw, T, tb0, nb, relu);
        }
    }
    return err;
}

/* ---- the weight gradient ------------------------------------------------------
 * Y = A^T [U (.) V] A is bilinear in U = G g G^T and V, so for one tile with
 * output gradient dY (2x2)
 *     dL/dg = G^T [ (A dY A^T) (.) V ] G
 * and, summed over the images' tiles t and per position xi, a GEMM
 *     Mw[xi] (k x c) += Ydy[xi] (k x t) * V[xi]^T (t x c),
 * Ydy[xi][k][t] = (A dY[k,t] A^T)[a][b], V as in the forward; then
 * dW[k,c] = G^T Mw[k,c] G.  Tiles past the output's edge have dY = 0
 * (dy framed with zeros), so the frame rows and columns no window reads
 * only ever meet zeros. */

/* Ydy (16, k, ldy) <- A dY A^T of the tiles t0 .. t0+nt-1 (numbered as in
 * wino_input_transform) of every channel of dypad (g, k, hq, wq): g images'
 * dy framed with zeros to hq = 2 th rows and wq = 2 tw columns (slack after the
 * last: conv2d_gemm_pad_image), tile (i, j) at [img, ., 2i, 2j]; ldy >= nt +
 * WINO_VPAD.  A = (A^T)^T = [1 0; 1 1; 1 -1; 0 -1].  Runs of tiles as in
 * wino_input_transform: first A dY on the two row segments, then each row's
 * columns combined. */
static CCNN_DISPATCH void SUF(wino_grad_transform)(REAL *restrict Y, const REAL *restrict dypad,
                                                   int64_t K, int64_t hq, int64_t wq, int64_t tw,
                                                   int64_t T, int64_t t0, int64_t nt, int64_t ldy)
{
    const int64_t KT = K * ldy;
    REAL e[4][2 * WINO_CHUNK];
    for (int64_t k = 0; k < K; k++) {
        REAL *yk = Y + k * ldy;                           /* Ydy[xi][k]: (nt), stride KT per xi */
        for (int64_t t = t0; t < t0 + nt;) {
            int64_t img, ti, tj0;
            const int64_t run = wino_run(t, t0 + nt - t, tw, T, &img, &ti, &tj0);
            const int64_t runv = (run + WINO_LANES - 1) / WINO_LANES * WINO_LANES;
            const REAL *r0 = dypad + (img * K + k) * hq * wq + 2 * ti * wq + 2 * tj0;   /* (2 run) */
            const REAL *r1 = r0 + wq;
            #pragma omp simd
            for (int64_t i = 0; i < 2 * runv; i++) {      /* A dY: rows combined */
                e[0][i] = r0[i];
                e[1][i] = r0[i] + r1[i];
                e[2][i] = r0[i] - r1[i];
                e[3][i] = -r1[i];
            }
            REAL *v = yk + (t - t0);
            for (int64_t a = 0; a < 4; a++) {             /* (A dY) A^T: columns combined */
                const REAL *ea = e[a];
                REAL *v0 = v + (4 * a) * KT, *v1 = v0 + KT, *v2 = v1 + KT, *v3 = v2 + KT;
                #pragma omp simd
                for (int64_t u = 0; u < runv; u++) {
                    const REAL d0 = ea[2 * u], d1 = ea[2 * u + 1];
                    v0[u] = d0;
                    v1[u] = d0 + d1;
                    v2[u] = d0 - d1;
                    v3[u] = -d1;
                }
            }
            t += run;
        }
    }
}

/* dweight (k, c, 3, 3) <- G^T m G of m = the sum over the G partials of part
 * (G, 16, k, c), added in partial order (into part[0]).  G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0;
 * 0 1/2 1/2 1]. */
static void SUF(wino_wgrad_output)(REAL *restrict dweight, REAL *restrict part,
                                   int64_t G, int64_t K, int64_t C, int nthreads)
{
    const int64_t KC = K * C;
    const REAL h = (REAL)0.5;
    const int nt = ccnn_threads_for(nthreads, 16 * G * KC);
    (void)nt;
    for (int64_t g = 1; g < G; g++) {                    /* part[0] += part[g], in g order */
        const REAL *pg = part + g * 16 * KC;
        #pragma omp simd
        for (int64_t i = 0; i < 16 * KC; i++) part[i] += pg[i];
    }
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t kc = 0; kc < KC; kc++) {
        REAL m[16], f[3][4];
        for (int64_t xi = 0; xi < 16; xi++) m[xi] = part[xi * KC + kc];
        for (int64_t b = 0; b < 4; b++) {                 /* G^T m: (3 x 4) */
            const REAL m0 = m[b], m1 = m[4 + b], m2 = m[8 + b], m3 = m[12 + b];
            f[0][b] = m0 + h * (m1 + m2);
            f[1][b] = h * (m1 - m2);
            f[2][b] = h * (m1 + m2) + m3;
        }
        REAL *dw = dweight + kc * 9;                      /* (3, 3) */
        for (int64_t r = 0; r < 3; r++) {                 /* (G^T m) G: (3 x 3) */
            dw[3 * r + 0] = f[r][0] + h * (f[r][1] + f[r][2]);
            dw[3 * r + 1] = h * (f[r][1] - f[r][2]);
            dw[3 * r + 2] = h * (f[r][1] + f[r][2]) + f[r][3];
        }
    }
}

/* conv2d_winograd_wgrad_f32, conv2d_winograd_wgrad_f64:
 * dweight (k, c, 3, 3) <- the weight gradient (overwritten) of dout (n, k, p,
 * q) and inp (n, c, h, w), d supported (ccnn_conv2d_winograd_supported).
 * Parallel over WINO_WGRAD_GROUPS fixed groups of images (fewer when n is
 * smaller), each summing its images, in chunks of ci images (ci * T tiles
 * within the tile budget, shape only) cut into blocks of TB tiles, into a
 * (16, k, c) partial of its own; the partials are added in group order, so
 * the result never depends on the thread count.  A result that is not
 * finite (an input or dout holding NaN or inf, which the transforms would
 * spread; or an overflow) is recomputed by conv2d_wgrad_backward, which
 * keeps the definition's placement.  Workspaces: the partials in
 * CCNN_WS_CONV3 of the calling thread; per thread the framed images in
 * CCNN_WS_CONV, the framed dout in CCNN_WS_CONV2, V and Ydy in CCNN_WS_WINO. */
int SUF(conv2d_winograd_wgrad)(REAL *dweight, const REAL *dout, const REAL *inp,
                               const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, K = d->k, P = d->p, Q = d->q, PQ = P * Q;
    const int64_t CHW = C * d->h * d->w, isz = (int64_t)sizeof(REAL);
    const int64_t th = (P + 1) / 2, tw = (Q + 1) / 2, T = th * tw;   /* tile grid of an image */
    const int64_t hp2 = 2 * th + 2, wp2 = 2 * tw + 2, hq = 2 * th, wq = 2 * tw;
    if (N == 0) {   /* no images: empty sums */
        memset(dweight, 0, sizeof(REAL) * (size_t)(K * C * 9));
        return CCNN_OK;
    }
    int64_t ci, TB;
    const int64_t G = wino_wgrad_blocks(N, C, K, T, isz, &ci, &TB);
    const int64_t ldv = TB + WINO_VPAD;                   /* V's and Ydy's rows, padded */
    int nt = ccnn_threads_for(nthreads, N * K * PQ * C * 9);
    if (nt > G) nt = (int)G;
    (void)nt;
    REAL *part = (REAL *)ccnn_workspace(CCNN_WS_CONV3, sizeof(REAL) * (size_t)(G * 16 * K * C));
    if (!part) return CCNN_ENOMEM;                        /* (G, 16, k, c) */
    memset(part, 0, sizeof(REAL) * (size_t)(G * 16 * K * C));
    ccnn_conv2d_dims dq = *d;                             /* dout (k, p, q) framed to (hq, wq) */
    dq.h = P;
    dq.w = Q;
    dq.pad_top = dq.pad_left = 0;
    int err = CCNN_OK;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t g = 0; g < G; g++) {
        REAL *mg = part + g * 16 * K * C;                 /* (16, k, c) */
        REAL *V = (REAL *)ccnn_workspace(CCNN_WS_WINO, sizeof(REAL) * (size_t)(16 * (C + K) * ldv));
        REAL *Y = V + 16 * C * ldv;                       /* V (16, c, ldv), Ydy (16, k, ldv) */
        for (int64_t n0 = g * N / G, n1 = (g + 1) * N / G; n0 < n1 && V; n0 += ci) {
            const int64_t gn = n1 - n0 < ci ? n1 - n0 : ci;   /* images n0 .. n0+gn-1 */
            const REAL *xpad = SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV, inp + n0 * CHW, d, 0,
                                                          gn * C, hp2, wp2);
            /* even p and q: dout is its own frame, but for the batch's last chunk (the
             * transform's vector lanes read up to 2 * WINO_LANES elements past a run) */
            const REAL *dypad = P == hq && Q == wq && n0 + gn < N
                ? dout + n0 * K * PQ
                : SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV2, dout + n0 * K * PQ, &dq, 0, gn * K,
                                             hq, wq);
            if (!xpad || !dypad) {
                V = NULL;
                break;
            }
            for (int64_t tb0 = 0; tb0 < gn * T; tb0 += TB) {
                const int64_t nb = gn * T - tb0 < TB ? gn * T - tb0 : TB;
                SUF(wino_input_transform)(V, xpad, C, hp2, wp2, tw, T, tb0, nb, ldv);
                SUF(wino_grad_transform)(Y, dypad, K, hq, wq, tw, T, tb0, nb, ldv);
                for (int64_t xi = 0; xi < 16; xi++) {
                    /* Mw[xi] (k x c) += Ydy[xi] (k x nb) * V[xi]^T (nb x c) */
                    const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, Y + xi * K * ldv, ldv, 1, NULL, 0, 0, 0};
                    const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, V + xi * C * ldv, 1, ldv, NULL, 0, 0, 0};
                    if (SUF(ccnn_gemm)(K, C, nb, &A, &B, mg + xi * K * C, C, 0, NULL) != CCNN_OK)
                        V = NULL;
                }
                if (!V) break;
            }
        }
        if (!V) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
    }
    if (err != CCNN_OK) return err;
    SUF(wino_wgrad_output)(dweight, part, G, K, C, nthreads);
    if (!SUF(ccnn_finite)(K * C * 9, dweight))            /* see above */
        return SUF(conv2d_wgrad_backward)(dweight, dout, inp, d, nthreads);
    return CCNN_OK;
}

/* ccnn_conv2d_forward_winograd_f32, ccnn_conv2d_forward_winograd_f64 */
int SUF(ccnn_conv2d_forward_winograd)(REAL *out, const REAL *inp, const REAL *weight,
                                      const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (!ccnn_conv2d_winograd_supported(d)) return CCNN_EBADARG;
    if (!SUF(ccnn_finite)(d->k * d->c * 9, weight))   /* non-finite weight: the GEMM path */
        return SUF(conv2d_gemm_forward)(out, inp, weight, bias, d, 0, nthreads);
    return SUF(conv2d_winograd_forward)(out, inp, weight, bias, d, 0, nthreads);
}

/* ccnn_conv2d_backward_winograd_f32, ccnn_conv2d_backward_winograd_f64 */
int SUF(ccnn_conv2d_backward_winograd)(REAL *dinp, REAL *dweight, REAL *dbias,
                                       const REAL *dout, const REAL *inp, const REAL *weight,
                                       const ccnn_conv2d_dims *d, int nthreads)
{
    if ((dinp && !ccnn_conv2d_winograd_data_supported(d)) ||
        (dweight && !ccnn_conv2d_winograd_supported(d)))
        return CCNN_EBADARG;
    return SUF(conv2d_gemm_backward)(dinp, dweight, dbias, dout, inp, weight, d, 2, nthreads);
}

#endif /* REAL */
