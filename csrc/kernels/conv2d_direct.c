/* conv2d_direct.c -- the direct conv2d kernels (see conv2d.c for the
 * algorithms and their work split): plain loops over a zero-framed copy of
 * each image, vectorised along output rows; the reference, and the faster
 * choice when c*r*s is small.  Also the fused conv -> relu -> 2x2 max pool,
 * whose pooling runs on each image's output while it is in cache.
 *
 * The typed bodies, at the bottom, are instantiated for float and double by
 * ccnn_template.h.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"

/* Below this many images the direct forward cuts each image's output planes
 * into parts (direct_split_bound), so that one image keeps every thread busy. */
#define DIRECT_SPLIT_ITEMS 4

/* The output planes of one image are computed in units: first the blocks of
 * 4 planes planes_forward takes (all of them, the last one partial, for
 * strided columns; else only whole ones), then the remaining planes one by
 * one (plane_forward_rows).  The first plane of unit u: */
static inline int64_t direct_unit_plane(int64_t u, int64_t nblk, int64_t K)
{
    const int64_t k = u < nblk ? 4 * u : 4 * nblk + (u - nblk);
    return k < K ? k : K;
}

/* The first unit of part b of `per` parts (b = per: nunits), each about
 * K / per planes: the unit boundary nearest to b * K / per.  Shape only. */
static inline int64_t direct_split_bound(int64_t b, int64_t per, int64_t nunits, int64_t nblk,
                                         int64_t K)
{
    int64_t best = 0;
    for (int64_t u = 1; u <= nunits; u++) {
        const int64_t e = direct_unit_plane(u, nblk, K) * per - b * K;
        const int64_t eb = direct_unit_plane(best, nblk, K) * per - b * K;
        if ((e < 0 ? -e : e) < (eb < 0 ? -eb : eb)) best = u;
    }
    return best;
}

/* unpool_grad_image's lanes: from L / 2 windows' gradients g, pooled values
 * y and argmax bytes a, gv = each window's g where y > 0 (else 0) and av =
 * its offset (a & 3), each in two adjacent lanes (window u / 2 in lane u). */
typedef float unp_f4 __attribute__((vector_size(16)));
typedef float unp_f8 __attribute__((vector_size(32)));
typedef int unp_i4 __attribute__((vector_size(16)));
typedef int unp_i8 __attribute__((vector_size(32)));
typedef unsigned unp_u8 __attribute__((vector_size(32)));
typedef double unp_d2 __attribute__((vector_size(16)));
typedef double unp_d4 __attribute__((vector_size(32)));
typedef long unp_l2 __attribute__((vector_size(16)));
typedef long unp_l4 __attribute__((vector_size(32)));

static inline void unpool_lanes_f32(unp_f8 *gv, unp_i8 *av, const float *g, const float *y,
                                    const unsigned char *a)
{
    unp_f4 g4, y4;
    const unp_f4 zero = {0};
    /* the 4 bytes in one word (one load), then each lane's byte by a shift */
    const unsigned w = (unsigned)a[0] | (unsigned)a[1] << 8 | (unsigned)a[2] << 16
                     | (unsigned)a[3] << 24;
    const unp_u8 sh = {0, 0, 8, 8, 16, 16, 24, 24};
    memcpy(&g4, g, sizeof g4);
    memcpy(&y4, y, sizeof y4);
    g4 = (unp_f4)((unp_i4)g4 & (y4 > zero));          /* ReLU's mask (NaN y: 0) */
    *gv = __builtin_shufflevector(g4, g4, 0, 0, 1, 1, 2, 2, 3, 3);
    *av = (unp_i8)((((unp_u8){0} + w) >> sh) & 3);    /* inside the window */
}

static inline void unpool_lanes_f64(unp_d4 *gv, unp_l4 *av, const double *g, const double *y,
                                    const unsigned char *a)
{
    unp_d2 g2, y2;
    const unp_d2 zero = {0};
    const long w = (long)a[0] | (long)a[1] << 8;
    memcpy(&g2, g, sizeof g2);
    memcpy(&y2, y, sizeof y2);
    g2 = (unp_d2)((unp_l2)g2 & (y2 > zero));
    *gv = __builtin_shufflevector(g2, g2, 0, 0, 1, 1);
    const unp_l4 wv = (unp_l4){0} + w, sh = {0, 0, 8, 8};
    *av = (wv >> sh) & 3;
}

/* planes2_pool_rows' lane shuffles (GCC 12+ or clang; otherwise the fused
 * forward pools each image's stored planes instead): (e, o) <- the even and
 * odd lanes of the 2L values lo, hi (columns 2j and 2j + 1 of L windows); and
 * the low byte of each lane of a window-offset vector (values 0..3). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define CDP_POOL_VEC 1
typedef unsigned char unp_b32 __attribute__((vector_size(32)));
typedef unsigned char unp_b8 __attribute__((vector_size(8)));
typedef unsigned char unp_b4 __attribute__((vector_size(4)));
static inline void even_odd_f32(unp_f8 *e, unp_f8 *o, unp_f8 lo, unp_f8 hi)
{
    *e = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
    *o = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}
static inline void even_odd_f64(unp_d4 *e, unp_d4 *o, unp_d4 lo, unp_d4 hi)
{
    *e = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
    *o = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
}
static inline void low_bytes_f32(unsigned char *dst, unp_i8 v)
{
    const unp_b8 b = __builtin_shufflevector((unp_b32)v, (unp_b32)v, 0, 4, 8, 12, 16, 20, 24, 28);
    memcpy(dst, &b, sizeof b);
}
static inline void low_bytes_f64(unsigned char *dst, unp_l4 v)
{
    const unp_b4 b = __builtin_shufflevector((unp_b32)v, (unp_b32)v, 0, 8, 16, 24);
    memcpy(dst, &b, sizeof b);
}
#endif

#define CCNN_TEMPLATE "conv2d_direct.c"
#include "ccnn_template.h"

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
 * stays NaN: only lanes < 0 are cleared); whole blocks are stored directly,
 * blocks of at least one vector as two vector stores (the second overlapping
 * the first, with the same values), shorter ones element by element. */
/* *v <- max(*v, 0) lane by lane, NaN staying NaN (only lanes < 0 are cleared) */
static inline __attribute__((always_inline)) void SUF(relu_vec)(SUF(vec) *v)
{
    const SUF(vec) zero = {0};
    typedef __typeof__(*v < zero) ivec;
    *v = (SUF(vec))((ivec)*v & ~(*v < zero));
}

static inline void SUF(store_block)(REAL *dst, SUF(vec) a0, SUF(vec) a1, int64_t nq, int relu)
{
    if (relu) {
        SUF(relu_vec)(&a0);
        SUF(relu_vec)(&a1);
    }
    if (nq == 2 * SUF_LANES) {
        *(SUF(vec_u) *)dst = a0;
        *(SUF(vec_u) *)(dst + SUF_LANES) = a1;
        return;
    }
    REAL tmp[2 * 32 / sizeof(REAL)];
    *(SUF(vec_u) *)tmp = a0;
    *(SUF(vec_u) *)(tmp + SUF_LANES) = a1;
    if (nq >= SUF_LANES) {   /* a0 whole, then the vector ending at nq (a0's lanes again) */
        *(SUF(vec_u) *)dst = a0;
        *(SUF(vec_u) *)(dst + nq - SUF_LANES) = *(const SUF(vec_u) *)(tmp + nq - SUF_LANES);
        return;
    }
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

/* acc[k] <- (row r0: 2 vectors, row r1: 2 vectors) of output plane k = 0, 1,
 * starting at column base - xpad:  bias_k + sum_t wk_k[t] * base[off[t] + r + 0 .. 2L)
 * in the order t = 0, 1, ... (each tap: 4 loads, 2 broadcasts, 8 FMAs). */
static inline __attribute__((always_inline)) void SUF(sums2x2)(
    SUF(vec) acc[2][4], const REAL *base, int64_t r0, int64_t r1, const REAL *w0,
    const REAL *w1, REAL b0, REAL b1, const int64_t *off, int64_t CRS)
{
    const int64_t L = SUF_LANES;
    const SUF(vec) zero = {0};
    SUF(vec) a00 = zero + b0, a01 = a00, a10 = a00, a11 = a00;   /* plane 0, rows 0 1 */
    SUF(vec) c00 = zero + b1, c01 = c00, c10 = c00, c11 = c00;   /* plane 1 */
    for (int64_t t = 0; t < CRS; t++) {
        const REAL *b = base + off[t];
        const REAL u = w0[t], v = w1[t];
        const SUF(vec) x00 = *(const SUF(vec_u) *)(b + r0);
        const SUF(vec) x01 = *(const SUF(vec_u) *)(b + r0 + L);
        const SUF(vec) x10 = *(const SUF(vec_u) *)(b + r1);
        const SUF(vec) x11 = *(const SUF(vec_u) *)(b + r1 + L);
        a00 += u * x00; a01 += u * x01; a10 += u * x10; a11 += u * x11;
        c00 += v * x00; c01 += v * x01; c10 += v * x10; c11 += v * x11;
    }
    acc[0][0] = a00; acc[0][1] = a01; acc[0][2] = a10; acc[0][3] = a11;
    acc[1][0] = c00; acc[1][1] = c01; acc[1][2] = c10; acc[1][3] = c11;
}

/* Two output planes, 2 rows at a time (stride-1 columns):
 *   y[k] (p, q) = bias[k] + sum_t wk[k, t] * xpad_flat[p*sh*wp + q + off[t]]
 * y: (2, p, q); xpad, off, wp as in planes_forward; wk: (2, crs) rows of the
 * weight; bias (2) or NULL.  Two planes x two rows x two vectors of columns
 * are accumulated together (each tap: 4 loads, 2 broadcasts, 8 FMAs), each
 * sum in the order of the other kernels (bias, then t = 0, 1, ...), so the
 * planes a 4-plane block leaves over (K = 10: 8 and 9) cost less than one by
 * one in plane_forward_rows.  A last odd row recomputes the row before it,
 * stored once. */
static CCNN_DISPATCH void SUF(planes2_forward_rows)(REAL *restrict y, const REAL *restrict xpad,
                                                    const REAL *restrict wk, const REAL *bias,
                                                    const int64_t *restrict off,
                                                    const ccnn_conv2d_dims *d, int64_t wp,
                                                    int relu)
{
    const int64_t CRS = d->c * d->r * d->s, P = d->p, Q = d->q, PQ = P * Q, sh = d->stride_h;
    const int64_t QB = 2 * SUF_LANES;
    const REAL *w0 = wk, *w1 = wk + CRS;
    const REAL b0 = bias ? bias[0] : (REAL)0, b1 = bias ? bias[1] : (REAL)0;
    for (int64_t p0 = 0; p0 < P; p0 += 2) {
        const int64_t np = P - p0 < 2 ? P - p0 : 2;
        const int64_t r0 = p0 * sh * wp, r1 = (p0 + (np > 1 ? 1 : 0)) * sh * wp;
        for (int64_t q0 = 0; q0 < Q; q0 += QB) {
            const int64_t nq = Q - q0 < QB ? Q - q0 : QB;
            SUF(vec) a[2][4];
            if (CRS == 9)   /* 3x3 taps of one channel: a constant count, unrolled */
                SUF(sums2x2)(a, xpad + q0, r0, r1, w0, w1, b0, b1, off, 9);
            else
                SUF(sums2x2)(a, xpad + q0, r0, r1, w0, w1, b0, b1, off, CRS);
            REAL *yb = y + p0 * Q + q0;
            SUF(store_block)(yb, a[0][0], a[0][1], nq, relu);
            SUF(store_block)(yb + PQ, a[1][0], a[1][1], nq, relu);
            if (np > 1) {
                SUF(store_block)(yb + Q, a[0][2], a[0][3], nq, relu);
                SUF(store_block)(yb + PQ + Q, a[1][2], a[1][3], nq, relu);
            }
        }
    }
}

/* pooled (j), argmax (j) <- for the windows j < nw of one window row, the
 * 2x2 maximum of ReLU(rows x0, x1) (when relu) and its offset row*2 + column
 * in the window: the first maximum in row-major order, the first NaN if
 * there is one (pool.c's argmax2x2, lane by lane).  x0 = (x00, x01) and
 * x1 = (x10, x11): 2L columns of the two rows, window j holding columns 2j,
 * 2j + 1. */
static inline __attribute__((always_inline)) void SUF(pool_block)(
    REAL *pooled, uint8_t *argmax, SUF(vec) x00, SUF(vec) x01, SUF(vec) x10, SUF(vec) x11,
    int64_t nw, int relu)
{
    typedef __typeof__(x00 < x00) ivec;
    if (relu) {
        SUF(relu_vec)(&x00); SUF(relu_vec)(&x01);
        SUF(relu_vec)(&x10); SUF(relu_vec)(&x11);
    }
    SUF(vec) a, b, c, e;
    SUF(even_odd)(&a, &b, x00, x01);
    SUF(even_odd)(&c, &e, x10, x11);
    /* take v when m is not NaN and !(v <= m): v > m or v is NaN */
    SUF(vec) m = a;
    ivec t = (m == m) & ~(b <= m);
    m = (SUF(vec))(((ivec)b & t) | ((ivec)m & ~t));
    ivec k = t & 1;
    t = (m == m) & ~(c <= m);
    m = (SUF(vec))(((ivec)c & t) | ((ivec)m & ~t));
    k = (t & 2) | (k & ~t);
    t = (m == m) & ~(e <= m);
    m = (SUF(vec))(((ivec)e & t) | ((ivec)m & ~t));
    k = (t & 3) | (k & ~t);
    if (nw == SUF_LANES) {
        *(SUF(vec_u) *)pooled = m;
        SUF(low_bytes)(argmax, k);
        return;
    }
    REAL mt[SUF_LANES];
    uint8_t kt[SUF_LANES];
    *(SUF(vec_u) *)mt = m;
    SUF(low_bytes)(kt, k);
    memcpy(pooled, mt, (size_t)nw * sizeof(REAL));
    memcpy(argmax, kt, (size_t)nw);
}

/* The fused conv -> relu -> 2x2 max pool of one or two output planes,
 * a window row (two conv rows) at a time, pooled straight from the
 * registers -- the conv output itself is never stored:
 *   y[k] (p, q) = bias[k] + sum_t wk[k, t] * xpad_flat[p*sh*wp + q + off[t]]
 *   pooled[k] (i, j) = max of relu(y[k]) over (2i + {0, 1}, 2j + {0, 1}),
 *   argmax[k] (i, j) = its offset in the window (pool_block)
 * pooled, argmax: (nk, p/2, q/2); xpad, off, wp as in planes_forward; wk:
 * (nk, crs) rows of the weight; bias (nk) or NULL; nk = 1 or 2 (1: the
 * second set of sums repeats the first, never stored).  Each sum is
 * planes2_forward_rows' (the order of every direct kernel), so the results
 * are those of the unfused conv, relu and pool2x2_image; an odd last row
 * or column, which the pool drops, is not computed.  The last column block
 * reads up to 2L columns from its first: inside the frame's row when it is
 * the row's last L windows, else (fewer than L windows) into the next row
 * or xpad's slack, in lanes that are never stored. */
static CCNN_DISPATCH void SUF(planes2_pool_rows)(REAL *restrict pooled,
                                                 uint8_t *restrict argmax,
                                                 const REAL *restrict xpad,
                                                 const REAL *restrict wk, const REAL *bias,
                                                 int64_t nk, const int64_t *restrict off,
                                                 const ccnn_conv2d_dims *d, int64_t wp, int relu)
{
    const int64_t CRS = d->c * d->r * d->s, P2 = d->p / 2, Q2 = d->q / 2, PQ2 = P2 * Q2;
    const int64_t sh = d->stride_h, L = SUF_LANES;
    const int64_t k1 = nk > 1 ? 1 : 0;
    const REAL *w0 = wk, *w1 = wk + k1 * CRS;
    const REAL b0 = bias ? bias[0] : (REAL)0, b1 = bias ? bias[k1] : (REAL)0;
    for (int64_t i = 0; i < P2; i++) {
        const int64_t r0 = 2 * i * sh * wp, r1 = r0 + sh * wp;
        for (int64_t jb = 0; jb < Q2; jb += L) {                 /* L windows, 2L columns */
            /* a last partial block is the row's last L windows again when
             * there are that many (overlapping the block before: the same
             * values stored twice, whole vectors), else the nw there are */
            const int64_t j0 = jb + L > Q2 && Q2 >= L ? Q2 - L : jb;
            const int64_t nw = Q2 - j0 < L ? Q2 - j0 : L;
            SUF(vec) a[2][4];
            if (CRS == 9)   /* 3x3 taps of one channel: a constant count, unrolled */
                SUF(sums2x2)(a, xpad + 2 * j0, r0, r1, w0, w1, b0, b1, off, 9);
            else
                SUF(sums2x2)(a, xpad + 2 * j0, r0, r1, w0, w1, b0, b1, off, CRS);
            REAL *po = pooled + i * Q2 + j0;
            uint8_t *ao = argmax + i * Q2 + j0;
            SUF(pool_block)(po, ao, a[0][0], a[0][1], a[0][2], a[0][3], nw, relu);
            if (nk > 1)
                SUF(pool_block)(po + PQ2, ao + PQ2, a[1][0], a[1][1], a[1][2], a[1][3], nw, relu);
        }
    }
}

/* (v0, v1, v2) <- the vectors at x0 + o, x1 + o, x2 + o (three taps' inputs),
 * their lanes where keep is 0 cleared when `last` (the row's last block). */
static inline __attribute__((always_inline)) void SUF(load_taps)(
    SUF(vec) *v0, SUF(vec) *v1, SUF(vec) *v2, const REAL *x0, const REAL *x1, const REAL *x2,
    int64_t o, int last, __typeof__(*(SUF(vec) *)0 == 0) keep)
{
    *v0 = *(const SUF(vec_u) *)(x0 + o);
    *v1 = *(const SUF(vec_u) *)(x1 + o);
    *v2 = *(const SUF(vec_u) *)(x2 + o);
    if (last) {
        typedef __typeof__(keep) ivec;
        *v0 = (SUF(vec))((ivec)*v0 & keep);
        *v1 = (SUF(vec))((ivec)*v1 & keep);
        *v2 = (SUF(vec))((ivec)*v2 & keep);
    }
}

/* part[i * ld + t] += the sum of acc[i][t]'s lanes, in double, lane by lane
 * (i < nk filters, t < ntap taps of a tile). */
static inline __attribute__((always_inline)) void SUF(add_tile_sums)(
    double *part, int64_t ld, const SUF(vec) (*acc)[3], int64_t nk, int64_t ntap)
{
    for (int64_t i = 0; i < nk; i++)
        for (int64_t t = 0; t < ntap; t++) {
            double s = 0.0;
            for (int64_t u = 0; u < SUF_LANES; u++) s += (double)acc[i][t][u];
            part[i * ld + t] += s;
        }
}

/* part (k, crs) += sum_{p, q} dyw[k, p, q] * xf[c, p*sh + r*dh, q + s*dw]   -- one image,
 * stride-1 columns.  part: (k, c*r*s) doubles; dyw: (k, p, qv), the image's dy
 * with every row zero-extended from q to qv (a multiple of the vector width);
 * xf: (c, hf, wf), the zero-framed image, wf >= qv + (s-1)*dw so that every
 * load stays inside its row; off: (crs) tap offsets (c*hf + r*dh)*wf + s*dw.
 *
 * Tiles of 4 filters x 3 taps keep 12 vector accumulators over the whole
 * image: each step loads 3 input and 4 gradient vectors for 12 FMAs (a last
 * tile of 1 or 2 filters: 6 accumulators, each sum in the same order).  In the
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
            if (nk <= 2) {   /* 2 filters (e.g. the last of 10): 6 sums, none repeated */
                SUF(vec) b00 = zero, b01 = zero, b02 = zero, b10 = zero, b11 = zero, b12 = zero;
                for (int64_t p = 0; p < P; p++) {
                    const int64_t xo = p * rowstep, yo = p * qv;
                    for (int64_t j = 0; j < qv; j += L) {
                        SUF(vec) v0, v1, v2;
                        SUF(load_taps)(&v0, &v1, &v2, x0, x1, x2, xo + j, j == jlast, keep);
                        const SUF(vec) g0 = *(const SUF(vec_u) *)(y0 + yo + j);
                        const SUF(vec) g1 = *(const SUF(vec_u) *)(y1 + yo + j);
                        b00 += g0 * v0; b01 += g0 * v1; b02 += g0 * v2;
                        b10 += g1 * v0; b11 += g1 * v1; b12 += g1 * v2;
                    }
                }
                const SUF(vec) acc2[2][3] = {{b00, b01, b02}, {b10, b11, b12}};
                SUF(add_tile_sums)(part + k0 * CRS + t0, CRS, acc2, nk, ntap);
                continue;
            }
            SUF(vec) a00 = zero, a01 = zero, a02 = zero, a10 = zero, a11 = zero, a12 = zero;
            SUF(vec) a20 = zero, a21 = zero, a22 = zero, a30 = zero, a31 = zero, a32 = zero;
            for (int64_t p = 0; p < P; p++) {
                const int64_t xo = p * rowstep, yo = p * qv;
                for (int64_t j = 0; j < qv; j += L) {
                    SUF(vec) v0, v1, v2;
                    SUF(load_taps)(&v0, &v1, &v2, x0, x1, x2, xo + j, j == jlast, keep);
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
            SUF(add_tile_sums)(part + k0 * CRS + t0, CRS, acc, nk, ntap);
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
void SUF(conv2d_bias_backward)(REAL *dbias, const REAL *dout, int64_t N, int64_t K, int64_t PQ,
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
 * column, the tail past q) stays 0 (it is zeroed once by the caller, and
 * only zeros are written there).
 *
 * Each row pair is written a vector at a time: L / 2 windows give L columns
 * of both rows, lane u of window j = u / 2 holding g_j where its offset is
 * (row * 2 + u % 2), else 0 -- a compare and an and, no scatter.  A last
 * partial block is the row's last L / 2 windows again (overlapping the
 * block before: the same values written twice); a row of fewer than L / 2
 * windows reads its inputs from a zero-padded copy (g = 0: zeros written),
 * its stores staying inside the row: L <= qv, qv being q rounded up to
 * whole vectors. */
static CCNN_DISPATCH void SUF(unpool_grad_image)(REAL *restrict dyw, double *restrict bsum,
                                                 const REAL *restrict dout,
                                                 const REAL *restrict po,
                                                 const uint8_t *restrict am, int64_t K,
                                                 int64_t P, int64_t Q, int64_t qv)
{
    typedef __typeof__(*(SUF(vec) *)0 == 0) ivec;   /* lane-wise ints of REAL's size */
    const int64_t P2 = P / 2, Q2 = Q / 2, PQ2 = P2 * Q2;
    const int64_t L = 32 / (int64_t)sizeof(REAL), H = L / 2;   /* windows per vector */
    ivec c0, c1;                          /* each lane's window offset in rows 0, 1 */
    for (int64_t u = 0; u < L; u++) {
        c0[u] = (__typeof__(c0[0]))(u & 1);
        c1[u] = (__typeof__(c1[0]))(2 + (u & 1));
    }
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
            REAL *restrict r1 = r0 + qv;
            const REAL *gi = gk + i * Q2, *yi = pk + i * Q2;
            const uint8_t *ai = ak + i * Q2;
            SUF(vec) gv;
            ivec av;
            int64_t j0 = 0;
            for (; j0 + H <= Q2; j0 += H) {           /* whole blocks */
                SUF(unpool_lanes)(&gv, &av, gi + j0, yi + j0, ai + j0);
                *(SUF(vec_u) *)(r0 + 2 * j0) = (SUF(vec))((ivec)gv & (av == c0));
                *(SUF(vec_u) *)(r1 + 2 * j0) = (SUF(vec))((ivec)gv & (av == c1));
            }
            if (j0 < Q2) {                            /* the last windows */
                REAL gb[32 / sizeof(REAL) / 2], yb[32 / sizeof(REAL) / 2];
                uint8_t ab[32 / sizeof(REAL) / 2];
                if (Q2 >= H) {                        /* again the row's last H: overlapping */
                    j0 = Q2 - H;
                    SUF(unpool_lanes)(&gv, &av, gi + j0, yi + j0, ai + j0);
                } else {                              /* a short row, zero-padded */
                    for (int64_t u = 0; u < H; u++) {
                        const int in = u < Q2;
                        gb[u] = in ? gi[u] : (REAL)0;
                        yb[u] = in ? yi[u] : (REAL)0;
                        ab[u] = in ? ai[u] : 0;
                    }
                    SUF(unpool_lanes)(&gv, &av, gb, yb, ab);
                }
                *(SUF(vec_u) *)(r0 + 2 * j0) = (SUF(vec))((ivec)gv & (av == c0));
                *(SUF(vec_u) *)(r1 + 2 * j0) = (SUF(vec))((ivec)gv & (av == c1));
            }
        }
    }
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

/* The planes k0 .. k1-1 (whole units) of image n: see conv2d_direct_forward. */
static void SUF(direct_forward_part)(REAL *out, uint8_t *pooled_argmax, const REAL *inp,
                                     const REAL *weight, const REAL *bias,
                                     const ccnn_conv2d_dims *d, int relu, int64_t n,
                                     int64_t k0, int64_t k1, int *err)
{
    const int64_t C = d->c, H = d->h, W = d->w, K = d->k, PQ = d->p * d->q;
    const int64_t PQ2 = (d->p / 2) * (d->q / 2);
    int64_t hp, wp;
    conv2d_padded_extent(d, &hp, &wp);
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
        *err = CCNN_ENOMEM;
        return;
    }
    int64_t *off = (int64_t *)(void *)(xpad + npad + (npad & 1));  /* 8-byte aligned */
    for (int64_t c = 0, t = 0; c < C; c++)
        for (int64_t r = 0; r < d->r; r++)
            for (int64_t s = 0; s < d->s; s++, t++)
                off[t] = (c * hp + r * d->dil_h) * wp + s * d->dil_w;
    SUF(pad_image)(xpad, inp + n * C * H * W, C, H, W, d->pad_top, d->pad_left, hp, wp);
    memset(xpad + C * hp * wp, 0, (size_t)slack * sizeof(REAL));
#ifdef CDP_POOL_VEC
    if (pooled_argmax && d->stride_w == 1) {   /* pooled from the registers, two planes a time */
        REAL *po = out + n * K * PQ2;                                /* (k, p/2, q/2) */
        uint8_t *ao = pooled_argmax + n * K * PQ2;
        for (int64_t k = k0; k < k1; k += 2)
            SUF(planes2_pool_rows)(po + k * PQ2, ao + k * PQ2, xpad, weight + k * CRS,
                                   bias ? bias + k : NULL, k1 - k < 2 ? 1 : 2, off, d, wp, relu);
        return;
    }
#endif
    REAL *y = out + n * K * PQ;                                  /* (k, p, q) */
    if (pooled_argmax) {
        y = (REAL *)ccnn_workspace(CCNN_WS_CONV3, sizeof(REAL) * (size_t)(K * PQ));
        if (!y) {
            #pragma omp atomic write
            *err = CCNN_ENOMEM;
            return;
        }
    }
    int64_t k = k0;
    for (; k < k1 && (k + 4 <= K || d->stride_w != 1); k += 4)   /* 4 planes at a time */
        SUF(planes_forward)(y + k * PQ, xpad, weight + k * CRS,
                            bias ? bias + k : NULL, K - k < 4 ? K - k : 4, off, d, wp, relu);
    for (; k + 2 <= k1; k += 2)                                  /* the rest two by two */
        SUF(planes2_forward_rows)(y + k * PQ, xpad, weight + k * CRS, bias ? bias + k : NULL,
                                  off, d, wp, relu);
    for (; k < k1; k++)                                          /* and a last one */
        SUF(plane_forward_rows)(y + k * PQ, xpad, weight + k * CRS,
                                bias ? bias[k] : (REAL)0, off, d, wp, relu);
    if (pooled_argmax)
        SUF(pool2x2_image)(out + n * K * PQ2 + k0 * PQ2, pooled_argmax + n * K * PQ2 + k0 * PQ2,
                           y + k0 * PQ, k1 - k0, d->p, d->q);
}

/* The direct forward.  pooled_argmax == NULL: out (n,k,p,q).  Otherwise the
 * fused conv -> (relu) -> 2x2 max pool: each image's conv output goes to a
 * per-thread buffer (k x p x q, cache-sized) and only its pooling reaches
 * memory: out (n,k,p/2,q/2), pooled_argmax (n,k,p/2,q/2) window offsets. */
int SUF(conv2d_direct_forward)(REAL *out, uint8_t *pooled_argmax, const REAL *inp,
                               const REAL *weight, const REAL *bias,
                               const ccnn_conv2d_dims *d, int relu, int nthreads)
{
    /* direct: each image is copied once into a zero frame (so padding is an
     * ordinary multiply by 0 and the inner loops have no bounds tests), then
     * every output plane is computed from it.  Parallel over images; below
     * DIRECT_SPLIT_ITEMS images over parts of each image's planes (from the
     * shape only: every plane is computed the same way either way). */
    const int64_t N = d->n, K = d->k, PQ = d->p * d->q;
    int nt = ccnn_threads_for(nthreads, N * K * PQ * d->c * d->r * d->s);
    int err = CCNN_OK;
    if (N < DIRECT_SPLIT_ITEMS && nt > 1) {
        const int64_t nblk = d->stride_w != 1 ? (K + 3) / 4 : K / 4;
        const int64_t nunits = nblk + (d->stride_w != 1 ? 0 : K - 4 * nblk);
        int64_t per = (DIRECT_SPLIT_ITEMS + N - 1) / (N < 1 ? 1 : N);
        if (per > nunits) per = nunits;
        const int64_t nitems = N * per;
        if (nt > nitems) nt = (int)nitems;
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t it = 0; it < nitems; it++) {
            const int64_t n = it / per, b = it % per;
            const int64_t u0 = direct_split_bound(b, per, nunits, nblk, K);
            const int64_t u1 = direct_split_bound(b + 1, per, nunits, nblk, K);
            if (u1 > u0)
                SUF(direct_forward_part)(out, pooled_argmax, inp, weight, bias, d, relu, n,
                                         direct_unit_plane(u0, nblk, K),
                                         direct_unit_plane(u1, nblk, K), &err);
        }
        return err;
    }
    if (nt > N) nt = N > 0 ? (int)N : 1;                  /* no idle thread to fork */
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t n = 0; n < N; n++)
        SUF(direct_forward_part)(out, pooled_argmax, inp, weight, bias, d, relu, n, 0, K, &err);
    return err;
}


/* ccnn_conv2d_forward_direct_f32, ccnn_conv2d_forward_direct_f64 */
int SUF(ccnn_conv2d_forward_direct)(REAL *out, const REAL *inp, const REAL *weight,
                                     const REAL *bias, const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(conv2d_direct_forward)(out, NULL, inp, weight, bias, d, 0, nthreads);
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
int SUF(conv2d_direct_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout,
                                const REAL *relu_out, const uint8_t *pool_argmax,
                                const REAL *inp, const REAL *weight,
                                const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, PQ = d->p * d->q;
    const int64_t CRS = C * d->r * d->s, pt = d->pad_top, pl = d->pad_left;
    int64_t hp, wp;
    conv2d_padded_extent(d, &hp, &wp);
    const int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    int err = CCNN_OK;
    (void)nt;
    /* the vectorised weight path also sums the bias gradient */
    const int s1 = d->stride_w == 1 && dweight != NULL;

    if (dbias && !s1) SUF(conv2d_bias_backward)(dbias, dout, N, K, PQ, nt);

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
        #pragma omp parallel num_threads(nt)
        {
            /* the workspace this thread set up last: its tap offsets and dyw's
             * zeros stay valid from group to group (a group writes only the
             * frame and dyw's windows or first q columns), so they are written
             * once a thread, not once a group */
            const REAL *ready = NULL;
            #pragma omp for schedule(static)
            for (int64_t g = 0; g < G; g++) {
                REAL *xpad = (REAL *)ccnn_workspace(CCNN_WS_CONV, ws_bytes);
                if (!xpad) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                    continue;
                }
                REAL *dyw = xpad + C * hp * fw;                    /* (k, p, qv) */
                int64_t *off = (int64_t *)(void *)(xpad + nreal);  /* (crs) */
                if (s1 && xpad != ready) {
                    ready = xpad;
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

/* ccnn_conv2d_backward_direct_f32, ccnn_conv2d_backward_direct_f64 */
int SUF(ccnn_conv2d_backward_direct)(REAL *dinp, REAL *dweight, REAL *dbias,
                                     const REAL *dout, const REAL *inp, const REAL *weight,
                                     const ccnn_conv2d_dims *d, int nthreads)
{
    return SUF(conv2d_direct_backward)(dinp, dweight, dbias, dout, NULL, NULL, inp, weight, d, nthreads);
}

/* ccnn_conv2d_relu_maxpool_forward_f32, ccnn_conv2d_relu_maxpool_forward_f64 */
int SUF(ccnn_conv2d_relu_maxpool_forward)(REAL *out, uint8_t *argmax, const REAL *inp,
                                          const REAL *weight, const REAL *bias,
                                          const ccnn_conv2d_dims *d, int nthreads)
{
    if (!ccnn_conv2d_relu_maxpool_supported(d)) return CCNN_EBADARG;
    return SUF(conv2d_direct_forward)(out, argmax, inp, weight, bias, d, 1, nthreads);
}

/* ccnn_conv2d_relu_maxpool_backward_f32, ccnn_conv2d_relu_maxpool_backward_f64 */
int SUF(ccnn_conv2d_relu_maxpool_backward)(REAL *dweight, REAL *dbias, const REAL *dout,
                                           const REAL *out, const uint8_t *argmax,
                                           const REAL *inp, const ccnn_conv2d_dims *d,
                                           int nthreads)
{
    if (!ccnn_conv2d_relu_maxpool_supported(d) || !dweight) return CCNN_EBADARG;
    return SUF(conv2d_direct_backward)(NULL, dweight, dbias, dout, out, argmax, inp, NULL, d,
                                       nthreads);
}

#endif /* REAL */
