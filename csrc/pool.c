/* pool.c -- max and average pooling kernels (see pool.h).
 *
 * Typed bodies are instantiated for float and double by self-inclusion.
 * Every kernel is parallel over the (n, c) planes: a thread owns its plane
 * of the output (forward) or of dinp (backward), so windows that overlap
 * never make two threads write one element.
 */
#ifndef REAL
#include <string.h>
#include "pool.h"
#include "kernels_common.h"

int ccnn_pool2d_dims_init(ccnn_pool2d_dims *d,
                          int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right,
                          int ceil_mode, int count_include_pad)
{
    if (n < 0 || c < 0 || h < 1 || w < 1 || kh < 1 || kw < 1 || stride_h < 1 || stride_w < 1 ||
        pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0)
        return CCNN_EBADARG;
    const int64_t lim = (int64_t)1 << 31;
    if (h >= lim || w >= lim || kh >= lim || kw >= lim || stride_h >= lim || stride_w >= lim ||
        pad_top >= lim || pad_bottom >= lim || pad_left >= lim || pad_right >= lim)
        return CCNN_EOVERFLOW;
    /* every window must hold at least one input element */
    if (pad_top >= kh || pad_bottom >= kh || pad_left >= kw || pad_right >= kw)
        return CCNN_EBADARG;
    d->n = n; d->c = c; d->h = h; d->w = w;
    d->kh = kh; d->kw = kw;
    d->stride_h = stride_h; d->stride_w = stride_w;
    d->pad_top = pad_top; d->pad_bottom = pad_bottom;
    d->pad_left = pad_left; d->pad_right = pad_right;
    d->ceil_mode = ceil_mode != 0;
    d->count_include_pad = count_include_pad != 0;
    d->p = ccnn_out_size(h, pad_top, pad_bottom, kh, stride_h, 1, d->ceil_mode);
    d->q = ccnn_out_size(w, pad_left, pad_right, kw, stride_w, 1, d->ceil_mode);
    if (d->p < 1 || d->q < 1) return CCNN_EEMPTY;
    if (ccnn_product_overflows(4, n, c, h, w) || ccnn_product_overflows(4, n, c, d->p, d->q))
        return CCNN_EOVERFLOW;
    return CCNN_OK;
}

/* Clipped window [*h0, *h1) x [*w0, *w1) of output (p, q); returns the
 * avg-pool divisor of that window. */
static inline int64_t pool_window(const ccnn_pool2d_dims *d, int64_t p, int64_t q,
                                  int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1)
{
    int64_t hs = p * d->stride_h - d->pad_top, ws = q * d->stride_w - d->pad_left;
    int64_t he = hs + d->kh, we = ws + d->kw;
    if (he > d->h + d->pad_bottom) he = d->h + d->pad_bottom;
    if (we > d->w + d->pad_right) we = d->w + d->pad_right;
    int64_t pool_size = (he - hs) * (we - ws);
    if (hs < 0) hs = 0;
    if (ws < 0) ws = 0;
    if (he > d->h) he = d->h;
    if (we > d->w) we = d->w;
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    return d->count_include_pad ? pool_size : (he - hs) * (we - ws);
}

#define REAL float
#define SUF(name) name##_f32
#include "pool.c"
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include "pool.c"
#undef REAL
#undef SUF

#else /* ---- typed bodies ---------------------------------------------------- */

void SUF(ccnn_max_pool2d_forward)(REAL *out, int64_t *argmax, const REAL *inp,
                                  const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
        int64_t *am = argmax ? argmax + nc * P * Q : NULL;
        for (int64_t p = 0; p < P; p++) {
            for (int64_t q = 0; q < Q; q++) {
                int64_t h0, h1, w0, w1;
                pool_window(d, p, q, &h0, &h1, &w0, &w1);
                int64_t best = h0 * W + w0;
                REAL m = x[best];
                for (int64_t i = h0; i < h1 && m == m; i++) {
                    for (int64_t j = w0; j < w1; j++) {
                        const REAL v = x[i * W + j];
                        if (v > m || v != v) {
                            m = v; best = i * W + j;
                            if (v != v) break;   /* the first NaN wins */
                        }
                    }
                }
                y[p * Q + q] = m;
                if (am) am[p * Q + q] = best;
            }
        }
    }
}

void SUF(ccnn_max_pool2d_backward)(REAL *dinp, const REAL *dout, const int64_t *argmax,
                                   const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * (H * W + P * Q));
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        const int64_t *am = argmax + nc * P * Q;   /* (p, q) */
        memset(dx, 0, (size_t)(H * W) * sizeof(REAL));
        for (int64_t i = 0; i < P * Q; i++) dx[am[i]] += dy[i];
    }
}

void SUF(ccnn_avg_pool2d_forward)(REAL *out, const REAL *inp,
                                  const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;
        REAL *y = out + nc * P * Q;
        for (int64_t p = 0; p < P; p++) {
            for (int64_t q = 0; q < Q; q++) {
                int64_t h0, h1, w0, w1;
                const int64_t div = pool_window(d, p, q, &h0, &h1, &w0, &w1);
                REAL acc = 0;
                for (int64_t i = h0; i < h1; i++)
                    for (int64_t j = w0; j < w1; j++) acc += x[i * W + j];
                y[p * Q + q] = acc / (REAL)div;
            }
        }
    }
}

void SUF(ccnn_avg_pool2d_backward)(REAL *dinp, const REAL *dout,
                                   const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;
        const REAL *dy = dout + nc * P * Q;
        memset(dx, 0, (size_t)(H * W) * sizeof(REAL));
        for (int64_t p = 0; p < P; p++) {
            for (int64_t q = 0; q < Q; q++) {
                int64_t h0, h1, w0, w1;
                const int64_t div = pool_window(d, p, q, &h0, &h1, &w0, &w1);
                const REAL g = dy[p * Q + q] / (REAL)div;
                for (int64_t i = h0; i < h1; i++)
                    for (int64_t j = w0; j < w1; j++) dx[i * W + j] += g;
            }
        }
    }
}

#endif /* REAL */
