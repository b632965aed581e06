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


/* ---- 2x2 windows, stride 2, no padding, every window inside the input: the
 * textbook's pooling.  Same results as the general loops (first maximum wins,
 * the first NaN wins), written so the compiler can vectorise along q. */
static int SUF(is_2x2)(const ccnn_pool2d_dims *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 &&
           d->pad_top == 0 && d->pad_bottom == 0 && d->pad_left == 0 && d->pad_right == 0 &&
           2 * d->p <= d->h && 2 * d->q <= d->w;
}

/* y[q] = max of the 2x2 window (a NaN wins); selects only, so it vectorises */
static CCNN_DISPATCH void SUF(max2x2_row)(REAL *restrict y, const REAL *restrict r0,
                                          const REAL *restrict r1, int64_t Q)
{
    #pragma omp simd
    for (int64_t q = 0; q < Q; q++) {
        const REAL a = r0[2 * q], b = r0[2 * q + 1], c = r1[2 * q], e = r1[2 * q + 1];
        REAL m = a;
        m = (m == m && (b > m || b != b)) ? b : m;
        m = (m == m && (c > m || c != c)) ? c : m;
        m = (m == m && (e > m || e != e)) ? e : m;
        y[q] = m;
    }
}

/* am[q] = flat index of the first window element equal to y[q] (or the first
 * NaN when y[q] is NaN) -- the same element the general loop picks */
static CCNN_DISPATCH void SUF(argmax2x2_row)(int64_t *restrict am, const REAL *restrict y,
                                             const REAL *restrict r0, const REAL *restrict r1,
                                             int64_t Q, int64_t base, int64_t W)
{
    #pragma omp simd
    for (int64_t q = 0; q < Q; q++) {
        const REAL a = r0[2 * q], b = r0[2 * q + 1], c = r1[2 * q], m = y[q];
        const int64_t off = (a == m || a != a) ? 0 : (b == m || b != b) ? 1
                          : (c == m || c != c) ? W : W + 1;
        am[q] = base + 2 * q + off;
    }
}

static CCNN_DISPATCH void SUF(avg2x2_row)(REAL *restrict y, const REAL *restrict r0,
                                          const REAL *restrict r1, int64_t Q)
{
    for (int64_t q = 0; q < Q; q++)
        y[q] = ((r0[2 * q] + r0[2 * q + 1]) + (r1[2 * q] + r1[2 * q + 1])) / (REAL)4;
}

void SUF(ccnn_max_pool2d_forward)(REAL *out, int64_t *argmax, const REAL *inp,
                                  const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    const int fast = SUF(is_2x2)(d);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
        int64_t *am = argmax ? argmax + nc * P * Q : NULL;
        if (fast) {
            for (int64_t p = 0; p < P; p++) {
                const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
                SUF(max2x2_row)(y + p * Q, r0, r1, Q);
                if (am) SUF(argmax2x2_row)(am + p * Q, y + p * Q, r0, r1, Q, 2 * p * W, W);
            }
            continue;
        }
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
    const int fast = SUF(is_2x2)(d);   /* divisor 4 either way */
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;
        REAL *y = out + nc * P * Q;
        if (fast) {
            for (int64_t p = 0; p < P; p++)
                SUF(avg2x2_row)(y + p * Q, x + 2 * p * W, x + (2 * p + 1) * W, Q);
            continue;
        }
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
    const int fast = SUF(is_2x2)(d);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;
        const REAL *dy = dout + nc * P * Q;
        if (fast) {   /* every input in at most one window: write, don't accumulate */
            for (int64_t p = 0; p < P; p++) {
                REAL *r0 = dx + 2 * p * W, *r1 = r0 + W;
                const REAL *g = dy + p * Q;
                #pragma omp simd
                for (int64_t q = 0; q < Q; q++) {
                    const REAL v = g[q] / (REAL)4;
                    r0[2 * q] = v; r0[2 * q + 1] = v; r1[2 * q] = v; r1[2 * q + 1] = v;
                }
                for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
            }
            if (2 * P < H) memset(dx + 2 * P * W, 0, (size_t)((H - 2 * P) * W) * sizeof(REAL));
            continue;
        }
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
