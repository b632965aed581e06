/* conv2d_gemm.c -- the implicit-GEMM conv2d kernels (see conv2d.c for the
 * algorithms and their work split), on gemm.c's packed GEMM with an im2col
 * operand read from a zero-framed copy of each image.
 *
 * The typed bodies, at the bottom, are instantiated for float and double by
 * ccnn_template.h.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"

#define CCNN_TEMPLATE "conv2d_gemm.c"
#include "ccnn_template.h"

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

/* xpad (nch, nrows, wp) <- rows row0 .. row0+nrows-1 of the zero-framed
 * channels c0 .. c0+nch-1 of x (c, h, w):
 *     xpad[c, i, j] = x[c0 + c, row0 + i - pt, j - pl], 0 outside x
 * (as pad_image, with the usually short zero borders written inline).  The
 * CCNN_GEMM_PAD_SLACK elements on either side are zeroed; NULL when the
 * CCNN_WS_CONV-type workspace `slot` cannot hold it. */
static REAL *SUF(frame_rows)(int slot, const REAL *x, const ccnn_conv2d_dims *d, int64_t c0,
                             int64_t nch, int64_t row0, int64_t nrows, int64_t wp)
{
    const int64_t npad = nch * nrows * wp, slack = CCNN_GEMM_PAD_SLACK;
    REAL *buf = (REAL *)ccnn_workspace(slot, sizeof(REAL) * (size_t)(npad + 2 * slack));
    if (!buf) return NULL;
    REAL *xpad = buf + slack;
    memset(buf, 0, sizeof(REAL) * (size_t)slack);
    memset(xpad + npad, 0, sizeof(REAL) * (size_t)slack);
    const int64_t H = d->h, W = d->w, pt = d->pad_top, pl = d->pad_left;
    const int64_t j0 = pl < wp ? pl : wp, j1 = pl + W < wp ? pl + W : wp;
    for (int64_t c = 0; c < nch; c++) {
        const REAL *xc = x + (c0 + c) * H * W;             /* (h, w) */
        for (int64_t i = 0; i < nrows; i++) {
            REAL *restrict row = xpad + (c * nrows + i) * wp;
            const int64_t ih = row0 + i - pt;
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

/* Zero-framed copy of channels c0 .. c0+nch-1 of one image for the im2col
 * operand of gemm.c, with CCNN_GEMM_PAD_SLACK zeroed elements on either side.
 * Returns xpad (nch, hp, wp) inside the CCNN_WS_CONV-type workspace `slot`,
 * or NULL when out of memory. */
REAL *SUF(conv2d_gemm_pad_image)(int slot, const REAL *x, const ccnn_conv2d_dims *d, int64_t c0,
                                 int64_t nch, int64_t hp, int64_t wp)
{
    return SUF(frame_rows)(slot, x, d, c0, nch, 0, hp, wp);
}

/* The implicit-GEMM forward with the weight as the GEMM's A operand: strided
 * (k, crs), or packed (conv2d_pack_weight: the same product, bit for bit) */
static int SUF(gemm_forward_a)(REAL *out, const REAL *inp, const ccnn_gemm_operand *A,
                               const REAL *bias, const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k;
    const int64_t P = d->p, Q = d->q, PQ = P * Q, CRS = C * d->r * d->s;
    int64_t hp, wp;
    conv2d_padded_extent(d, &hp, &wp);
    int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    /* fewer images than threads: each cut into `parts` bands of output rows
     * (gemm_split_parts); each item frames, on its own thread, just the rows
     * of the image its band reads (no frame framed serially, or shared) */
    const int64_t parts = gemm_split_parts(N, P, nt);
    const int64_t nitems = N * parts;
    if (nt > nitems) nt = nitems > 0 ? (int)nitems : 1;   /* no idle thread to fork */
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < nitems; it++) {
        const int64_t n = it / parts, b = it % parts;
        const int64_t p0 = P * b / parts, p1 = P * (b + 1) / parts;   /* its output rows */
        /* the frame rows they read: p0 * sh .. (p1 - 1) * sh + (r - 1) * dh (all of
         * them for a whole image) */
        const int64_t hb = (p1 - p0 - 1) * d->stride_h + (d->r - 1) * d->dil_h + 1;
        REAL *y = out + n * K * PQ;                       /* (k, pq) = bias + W * im2col */
        const REAL *xpad = SUF(frame_rows)(CCNN_WS_CONV, inp + n * C * H * W, d, 0, C,
                                           p0 * d->stride_h, hb, wp);   /* (c, hb, wp) */
        if (!xpad) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
            continue;
        }
        /* rows p0 .. p1-1 of the output: the im2col columns p0*Q .. p1*Q-1, i.e. the
         * operand of the band's frame (its own p1 - p0 output rows) */
        ccnn_conv2d_dims db = *d;
        db.p = p1 - p0;
        const ccnn_gemm_operand B = {CCNN_OPERAND_IM2COL, xpad, 0, 0, &db, 0, hb, wp};
        const int64_t cols = (p1 - p0) * Q;
        if (SUF(ccnn_gemm)(K, cols, CRS, A, &B, y + p0 * Q, PQ, 1, bias) != CCNN_OK) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
        if (relu)   /* epilogue while y is still in cache: max(v, 0), NaN stays NaN */
            for (int64_t k = 0; k < K; k++) {
                REAL *yk = y + k * PQ + p0 * Q;
                for (int64_t i = 0; i < cols; i++) yk[i] = yk[i] < 0 ? (REAL)0 : yk[i];
            }
    }
    return err;
}

int SUF(conv2d_gemm_forward)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, d->c * d->r * d->s, 1, NULL, 0, 0, 0};
    return SUF(gemm_forward_a)(out, inp, &A, bias, d, relu, nthreads);
}

int SUF(conv2d_gemm_forward_packed)(REAL *out, const REAL *inp, const REAL *packed,
                                    const REAL *bias, const ccnn_conv2d_dims *d, int relu,
                                    int nthreads)
{
    const ccnn_gemm_operand A = {CCNN_OPERAND_PACKED, packed, 0, 0, NULL, 0, 0, 0};
    return SUF(gemm_forward_a)(out, inp, &A, bias, d, relu, nthreads);
}

int SUF(conv2d_pack_weight)(REAL *packed, const REAL *weight, const ccnn_conv2d_dims *d)
{
    const int64_t CRS = d->c * d->r * d->s;
    const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, CRS, 1, NULL, 0, 0, 0};
    return SUF(ccnn_gemm_pack_a)(packed, d->k, CRS, &A);
}

/* ccnn_conv2d_forward_gemm_f32, ccnn_conv2d_forward_gemm_f64 */
int SUF(ccnn_conv2d_forward_gemm)(REAL *out, const REAL *inp, const REAL *weight,
                                  const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(conv2d_gemm_forward)(out, inp, weight, bias, d, 0, nthreads);
}

/* The GEMM backward; the stride-1 input gradient's flipped forward runs as
 * the Winograd forward, and the weight gradient as the Winograd one, when
 * wino is 1 and they are eligible (the auto choice), or wino is 2 and they
 * are supported (forced); never when wino is 0. */
int SUF(conv2d_gemm_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                              const REAL *dout, const REAL *inp, const REAL *weight,
                              const ccnn_conv2d_dims *d, int wino, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t P = d->p, Q = d->q, PQ = P * Q, CRS = C * R * S;
    const int64_t sh = d->stride_h, sw = d->stride_w, dh = d->dil_h, dw = d->dil_w;
    const int64_t pt = d->pad_top, pl = d->pad_left;
    int64_t hp, wp;
    conv2d_padded_extent(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;

    if (dbias) SUF(conv2d_bias_backward)(dbias, dout, N, K, PQ, nt);

    ccnn_conv2d_dims f;
    REAL *wf = NULL;                                  /* (c, k, r, s): the flipped weight */
    if (dinp && gemm_data_as_forward(d, &f)) {
        wf = (REAL *)ccnn_workspace(CCNN_WS_CONV3, sizeof(REAL) * (size_t)(C * K * R * S));
        if (!wf) return CCNN_ENOMEM;
        if (!SUF(conv2d_flip_weight)(wf, weight, d)) wf = NULL;   /* non-finite weight: col2im path */
        f.n = N;   /* the flipped forward's batch (its eligibility counts the call's tiles) */
    }
    if (wf && (wino == 1 ? ccnn_conv2d_winograd_eligible(&f)
                         : wino == 2 && ccnn_conv2d_winograd_supported(&f))) {
        /* dx (n, c, h, w) = the Winograd forward of dy (n, k, p, q) with w' (c, k, 3, 3) */
        err = SUF(conv2d_winograd_forward)(dinp, dout, wf, NULL, &f, 0, nthreads);
        if (err != CCNN_OK) return err;
    } else if (wf) {
        /* dx[n] (c, hw) = w' (c x krs) * im2col_f(dy[n]) (krs x hw), see flipped_dims */
        const int64_t KRS = K * R * S;
        int64_t hpf, wpf;
        conv2d_padded_extent(&f, &hpf, &wpf);
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            REAL *dx = dinp + n * C * H * W;                 /* (c, h*w) */
            const REAL *dypad = SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV, dout + n * K * PQ, &f, 0, K, hpf, wpf);
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
        /* Winograd (conv2d_winograd.c) as for the input gradient: wino 1 where eligible, 2
         * where supported; else conv2d_wgrad.c */
        const int w = wino == 1 ? ccnn_conv2d_winograd_weight_eligible(d)
                                : wino == 2 && ccnn_conv2d_winograd_supported(d);
        const int e = w ? SUF(conv2d_winograd_wgrad)(dweight, dout, inp, d, nthreads)
                        : SUF(conv2d_wgrad_backward)(dweight, dout, inp, d, nthreads);
        if (e != CCNN_OK) err = e;
    }
    return err;
}

/* ccnn_conv2d_backward_gemm_f32, ccnn_conv2d_backward_gemm_f64 */
int SUF(ccnn_conv2d_backward_gemm)(REAL *dinp, REAL *dweight, REAL *dbias,
                                   const REAL *dout, const REAL *inp, const REAL *weight,
                                   const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(conv2d_gemm_backward)(dinp, dweight, dbias, dout, inp, weight, d, 0, nthreads);
}

#endif /* REAL */
