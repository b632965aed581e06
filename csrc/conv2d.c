/* conv2d.c -- direct 2-D cross-correlation kernels (see conv2d.h).
 *
 * The typed bodies are written once, at the bottom of this file, and
 * instantiated for float and double by including this file into itself with
 * REAL / SUF defined (a C stand-in for Cython's fused types).
 *
 * Two algorithms, chosen per call by ccnn_conv2d_algo():
 *   direct  plain loops (vectorised along output rows): the reference, and the
 *           faster choice when c*r*s is small (the textbook's first layer);
 *   gemm    implicit GEMM (gemm.h): forward    y[n] (k x pq)   = W (k x crs) * im2col(x[n])
 *                                   data       dcol (crs x pq) = W^T * dy[n], then col2im
 *                                   weight     dW (k x crs)   += dy[n] * im2col(x[n])^T
 *
 * Work split of the direct kernels (no two threads ever write one element):
 *   forward          parallel over (n, k)  -> each thread owns y[n,k,:,:]
 *   backward data    parallel over (n, c)  -> each thread owns dx[n,c,:,:]
 *   backward weight  parallel over (k, c)  -> each thread owns dw[k,c,:,:]
 *   backward bias    parallel over k
 * and of the gemm kernels: forward and backward-data parallel over images
 * (each thread owns y[n] / dx[n]); backward-weight parallel over row blocks of
 * dW, each thread summing over all images in the same order -- so results do
 * not depend on the thread count.
 */
#ifndef REAL
#include <string.h>
#include "conv2d.h"
#include "kernels_common.h"
#include "gemm.h"

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
    return CCNN_OK;
}

int ccnn_conv2d_algo(const ccnn_conv2d_dims *d)
{
    /* GEMM pays off once each output sums enough terms and there are enough
     * output channels to fill the 6-row micro-tiles. */
    return (d->c * d->r * d->s >= 32 && d->k >= 6) ? CCNN_CONV_GEMM : CCNN_CONV_DIRECT;
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

/* y[p, q] += wv * 0 (NaN) for every (p, q) outside [plo, phi) x [qlo, qhi):
 * the outputs whose tap falls on the zero padding, when wv is NaN or inf. */
static void SUF(poison_padding)(REAL *y, int64_t P, int64_t Q, int64_t plo, int64_t phi,
                                int64_t qlo, int64_t qhi, REAL wv)
{
    for (int64_t p = 0; p < P; p++)
        for (int64_t q = 0; q < Q; q++)
            if (p < plo || p >= phi || q < qlo || q >= qhi) y[p * Q + q] += wv * (REAL)0;
}

/* 1 when some entry of x (n) is NaN or inf */
static int SUF(any_nonfinite)(const REAL *x, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad |= (x[i] - x[i] != 0);
    return bad;
}

void SUF(ccnn_conv2d_forward_direct)(REAL *out, const REAL *inp, const REAL *weight,
                              const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t P = d->p, Q = d->q, sh = d->stride_h, sw = d->stride_w;
    const int64_t dh = d->dil_h, dw = d->dil_w, pt = d->pad_top, pl = d->pad_left;
    const int nt = ccnn_threads_for(nthreads, N * K * P * Q * C * R * S);
    (void)nt;
    #pragma omp parallel for collapse(2) schedule(static) num_threads(nt)
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) {
            REAL *y = out + (n * K + k) * P * Q;                /* (p, q) */
            const REAL b = bias ? bias[k] : (REAL)0;
            for (int64_t i = 0; i < P * Q; i++) y[i] = b;
            for (int64_t c = 0; c < C; c++) {
                const REAL *x = inp + (n * C + c) * H * W;      /* (h, w) */
                const REAL *wk = weight + (k * C + c) * R * S;  /* (r, s) */
                for (int64_t r = 0; r < R; r++) {
                    int64_t plo, phi;                           /* rows inside the input */
                    ccnn_valid_range(P, sh, r * dh - pt, H, &plo, &phi);
                    for (int64_t s = 0; s < S; s++) {
                        const int64_t off = s * dw - pl;
                        int64_t qlo, qhi;
                        ccnn_valid_range(Q, sw, off, W, &qlo, &qhi);
                        const REAL wv = wk[r * S + s];
                        if (wv - wv != 0)   /* NaN/inf weight: taps on the zero padding give NaN (IEEE 0*inf) */
                            SUF(poison_padding)(y, P, Q, plo, phi, qlo, qhi, wv);
                        if (qhi <= qlo) continue;
                        for (int64_t p = plo; p < phi; p++) {
                            const REAL *xrow = x + (p * sh + r * dh - pt) * W;
                            /* y[p, q] += wv * x[ih, q*sw + off]  for q in [qlo, qhi) */
                            SUF(ccnn_axpy)(qhi - qlo, wv, xrow + qlo * sw + off, sw,
                                           y + p * Q + qlo, 1);
                        }
                    }
                }
            }
        }
    }
}

void SUF(ccnn_conv2d_backward_direct)(REAL *dinp, REAL *dweight, REAL *dbias,
                               const REAL *dout, const REAL *inp, const REAL *weight,
                               const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t P = d->p, Q = d->q, sh = d->stride_h, sw = d->stride_w;
    const int64_t dh = d->dil_h, dw = d->dil_w, pt = d->pad_top, pl = d->pad_left;
    const int nt = ccnn_threads_for(nthreads, N * K * P * Q * C * R * S);
    (void)nt;

    /* dbias[k] = sum_{n,p,q} dout[n,k,p,q] */
    if (dbias) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t k = 0; k < K; k++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++)
                acc += SUF(ccnn_sum)(P * Q, dout + (n * K + k) * P * Q);
            dbias[k] = (REAL)acc;
        }
    }

    /* dinp[n,c,ih,iw] = sum_{k,r,s} w[k,c,r,s] * dout[n,k,p,q]
     * over the (p,q) with p*sh - pt + r*dh = ih and q*sw - pl + s*dw = iw. */
    if (dinp) {
        #pragma omp parallel for collapse(2) schedule(static) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            for (int64_t c = 0; c < C; c++) {
                REAL *dx = dinp + (n * C + c) * H * W;           /* (h, w) */
                memset(dx, 0, (size_t)(H * W) * sizeof(REAL));
                for (int64_t k = 0; k < K; k++) {
                    const REAL *dy = dout + (n * K + k) * P * Q; /* (p, q) */
                    const REAL *wk = weight + (k * C + c) * R * S;
                    for (int64_t r = 0; r < R; r++) {
                        int64_t plo, phi;
                        ccnn_valid_range(P, sh, r * dh - pt, H, &plo, &phi);
                        for (int64_t s = 0; s < S; s++) {
                            const int64_t off = s * dw - pl;
                            int64_t qlo, qhi;
                            ccnn_valid_range(Q, sw, off, W, &qlo, &qhi);
                            if (qhi <= qlo) continue;
                            const REAL wv = wk[r * S + s];
                            for (int64_t p = plo; p < phi; p++) {
                                REAL *dxrow = dx + (p * sh + r * dh - pt) * W;
                                SUF(ccnn_axpy)(qhi - qlo, wv, dy + p * Q + qlo, 1,
                                               dxrow + qlo * sw + off, sw);
                            }
                        }
                    }
                }
            }
        }
    }

    /* dweight[k,c,r,s] = sum_{n,p,q} dout[n,k,p,q] * x[n,c,p*sh-pt+r*dh, q*sw-pl+s*dw] */
    if (dweight) {
        const int dout_bad = SUF(any_nonfinite)(dout, N * K * P * Q);
        #pragma omp parallel for collapse(2) schedule(static) num_threads(nt)
        for (int64_t k = 0; k < K; k++) {
            for (int64_t c = 0; c < C; c++) {
                REAL *dwk = dweight + (k * C + c) * R * S;        /* (r, s) */
                for (int64_t r = 0; r < R; r++) {
                    int64_t plo, phi;
                    ccnn_valid_range(P, sh, r * dh - pt, H, &plo, &phi);
                    for (int64_t s = 0; s < S; s++) {
                        const int64_t off = s * dw - pl;
                        int64_t qlo, qhi;
                        ccnn_valid_range(Q, sw, off, W, &qlo, &qhi);
                        double acc = 0.0;
                        if (dout_bad) {   /* NaN/inf in dout meets the zero padding: 0*inf = NaN */
                            for (int64_t n = 0; n < N; n++) {
                                const REAL *dy = dout + (n * K + k) * P * Q;
                                for (int64_t p = 0; p < P; p++)
                                    for (int64_t q = 0; q < Q; q++)
                                        if (p < plo || p >= phi || q < qlo || q >= qhi)
                                            acc += (double)dy[p * Q + q] * 0.0;
                            }
                        }
                        if (qhi > qlo) {
                            for (int64_t n = 0; n < N; n++) {
                                const REAL *dy = dout + (n * K + k) * P * Q;
                                const REAL *x = inp + (n * C + c) * H * W;
                                for (int64_t p = plo; p < phi; p++)
                                    acc += SUF(ccnn_dot)(qhi - qlo, dy + p * Q + qlo, 1,
                                                         x + (p * sh + r * dh - pt) * W + qlo * sw + off, sw);
                            }
                        }
                        dwk[r * S + s] = (REAL)acc;
                    }
                }
            }
        }
    }
}

int SUF(ccnn_conv2d_forward_gemm)(REAL *out, const REAL *inp, const REAL *weight,
                                  const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k;
    const int64_t PQ = d->p * d->q, CRS = C * d->r * d->s;
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t n = 0; n < N; n++) {
        REAL *y = out + n * K * PQ;                       /* (k, pq) */
        for (int64_t k = 0; k < K; k++) {
            const REAL b = bias ? bias[k] : (REAL)0;
            for (int64_t i = 0; i < PQ; i++) y[k * PQ + i] = b;
        }
        const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, CRS, 1, NULL, 0};
        const ccnn_gemm_operand B = {CCNN_OPERAND_IM2COL, inp + n * C * H * W, 0, 0, d, 0};
        if (SUF(ccnn_gemm)(K, PQ, CRS, &A, &B, y, PQ) != CCNN_OK) {
            #pragma omp atomic write
            err = CCNN_ENOMEM;
        }
    }
    return err;
}

int SUF(ccnn_conv2d_backward_gemm)(REAL *dinp, REAL *dweight, REAL *dbias,
                                   const REAL *dout, const REAL *inp, const REAL *weight,
                                   const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t P = d->p, Q = d->q, PQ = P * Q, CRS = C * R * S;
    const int64_t sh = d->stride_h, sw = d->stride_w, dh = d->dil_h, dw = d->dil_w;
    const int64_t pt = d->pad_top, pl = d->pad_left;
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;

    if (dbias) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t k = 0; k < K; k++) {
            double acc = 0.0;
            for (int64_t n = 0; n < N; n++) acc += SUF(ccnn_sum)(PQ, dout + (n * K + k) * PQ);
            dbias[k] = (REAL)acc;
        }
    }

    if (dinp) {
        #pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t n = 0; n < N; n++) {
            REAL *dcol = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(CRS * PQ));
            if (!dcol) {
                #pragma omp atomic write
                err = CCNN_ENOMEM;
                continue;
            }
            memset(dcol, 0, sizeof(REAL) * (size_t)(CRS * PQ));
            /* dcol (crs, pq) = W^T (crs x k) * dy[n] (k x pq) */
            const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, weight, 1, CRS, NULL, 0};
            const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, dout + n * K * PQ, PQ, 1, NULL, 0};
            if (SUF(ccnn_gemm)(CRS, PQ, K, &A, &B, dcol, PQ) != CCNN_OK) {
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
        /* dW^T (crs x k) = sum_n im2col(x[n]) (crs x pq) * dy[n]^T (pq x k), into a
         * workspace, then transposed into dweight (k, crs).  The crs rows are
         * split over the threads in blocks of 6 (the micro-tile height); every
         * thread walks all images in order, so sums do not depend on nt. */
        REAL *dwt = (REAL *)ccnn_workspace(CCNN_WS_CONV, sizeof(REAL) * (size_t)(CRS * K));
        if (!dwt) return CCNN_ENOMEM;
        memset(dwt, 0, sizeof(REAL) * (size_t)(CRS * K));
        const int64_t blocks = (CRS + 5) / 6;
        const int ntw = (int)(nt < blocks ? nt : blocks);
        (void)ntw;
        #pragma omp parallel num_threads(ntw)
        {
#ifdef _OPENMP
            const int64_t tid = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
            const int64_t tid = 0, nthr = 1;
#endif
            const int64_t i0 = (blocks * tid / nthr) * 6, i1t = (blocks * (tid + 1) / nthr) * 6;
            const int64_t i1 = i1t < CRS ? i1t : CRS;
            for (int64_t n = 0; n < N && i1 > i0; n++) {
                const ccnn_gemm_operand A = {CCNN_OPERAND_IM2COL, inp + n * C * H * W, 0, 0, d, i0};
                const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, dout + n * K * PQ, 1, PQ, NULL, 0};
                if (SUF(ccnn_gemm)(i1 - i0, K, PQ, &A, &B, dwt + i0 * K, K) != CCNN_OK) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                    break;
                }
            }
        }
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < CRS; i++) dweight[k * CRS + i] = dwt[i * K + k];
    }
    return err;
}

int SUF(ccnn_conv2d_forward)(REAL *out, const REAL *inp, const REAL *weight,
                             const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d) == CCNN_CONV_GEMM)
        return SUF(ccnn_conv2d_forward_gemm)(out, inp, weight, bias, d, nthreads);
    SUF(ccnn_conv2d_forward_direct)(out, inp, weight, bias, d, nthreads);
    return CCNN_OK;
}

int SUF(ccnn_conv2d_backward)(REAL *dinp, REAL *dweight, REAL *dbias,
                              const REAL *dout, const REAL *inp, const REAL *weight,
                              const ccnn_conv2d_dims *d, int nthreads)
{
    if (ccnn_conv2d_algo(d) == CCNN_CONV_GEMM)
        return SUF(ccnn_conv2d_backward_gemm)(dinp, dweight, dbias, dout, inp, weight, d, nthreads);
    SUF(ccnn_conv2d_backward_direct)(dinp, dweight, dbias, dout, inp, weight, d, nthreads);
    return CCNN_OK;
}

#endif /* REAL */
