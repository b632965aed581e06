/* pool.c -- max and average pooling kernels (see pool.h).
 *
 * Typed bodies are instantiated for float and double by self-inclusion.
 * Every kernel is parallel over the (n, c) planes (in dynamically scheduled
 * chunks, see pool_chunk): a thread owns its plane
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

/* Planes per chunk of the dynamically scheduled plane loops: ~16 chunks per
 * thread.  A thread that starts late (woken from sleep, or sharing its core
 * with another process's spinning threads) then takes fewer chunks instead of
 * holding up the others at the barrier.  Each plane is computed the same way
 * whichever thread takes it, so results do not depend on the thread count. */
static inline int pool_chunk(int64_t planes, int nt)
{
    const int64_t c = planes / ((int64_t)nt * 16);
    return c < 1 ? 1 : c > 4096 ? 4096 : (int)c;
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

/* ---- vectors for the 2x2 / stride-2 fast path ----------------------------
 * GCC/clang vector extensions, 32 bytes (8 floats or 4 doubles); in the
 * CCNN_DISPATCH clones they become AVX-512/AVX2 registers or SSE2 pairs.
 * VL windows of one output row read 2*VL inputs from each of the two input
 * rows: two vectors per row, split into even (left) and odd (right) lanes.
 * Other compilers use the scalar row loops. */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12) && !defined(CCNN_POOL_NO_VEC)
#define POOL_VEC 1
typedef float    pool_vf   __attribute__((vector_size(32)));
typedef int32_t  pool_vfm  __attribute__((vector_size(32)));   /* float lane masks */
typedef double   pool_vd   __attribute__((vector_size(32)));
typedef int64_t  pool_vdm  __attribute__((vector_size(32)));   /* double lane masks / 4 indices */
typedef uint64_t pool_vdiu __attribute__((vector_size(32)));  /* 4 flat indices   */
typedef uint8_t  pool_vb32 __attribute__((vector_size(32)));  /* a mask's bytes   */
typedef uint8_t  pool_vb8  __attribute__((vector_size(8)));   /* 8 window offsets */
typedef uint8_t  pool_vb4  __attribute__((vector_size(4)));   /* 4 window offsets */
/* The low byte of each lane of a mask vector (offsets 0..3) as bytes: one
 * byte shuffle (__builtin_convertvector lowers to a lane-by-lane loop). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LOW_BYTES8(v) __builtin_shufflevector((pool_vb32)(v), (pool_vb32)(v), 0, 4, 8, 12, 16, 20, 24, 28)
#define LOW_BYTES4(v) __builtin_shufflevector((pool_vb32)(v), (pool_vb32)(v), 0, 8, 16, 24)
#else
#define LOW_BYTES8(v) __builtin_convertvector(v, pool_vb8)
#define LOW_BYTES4(v) __builtin_convertvector(v, pool_vb4)
#endif
#define POOL_IOTA2 ((pool_vdiu){0, 2, 4, 6})
#endif

#define REAL float
#define SUF(name) name##_f32
#ifdef POOL_VEC
#define VL 8
#define VR pool_vf
#define VM pool_vfm
#define EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define ZIPLO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIPHI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define VB pool_vb8
#define LOW_BYTES(v) LOW_BYTES8(v)
/* am[q .. q+7] = start + 2i + off[i]: 8 int64 from the 32-bit offsets, in halves */
#define STORE_IDX(am, q, off, start) do {                                         \
        const pool_vdiu s_ = (uint64_t)(start) + POOL_IOTA2;                      \
        const pool_vdiu lo_ = __builtin_convertvector(                           \
            __builtin_shufflevector(off, off, 0, 1, 2, 3), pool_vdiu) + s_;      \
        const pool_vdiu hi_ = __builtin_convertvector(                           \
            __builtin_shufflevector(off, off, 4, 5, 6, 7), pool_vdiu) + (s_ + 8); \
        memcpy((am) + (q), &lo_, sizeof lo_);                                     \
        memcpy((am) + (q) + 4, &hi_, sizeof hi_);                                 \
    } while (0)
/* dlo, dhi: low and high 32 bits of am[q+i] - (start + 2i) (wrapping, never UB) */
#define LOAD_DELTA(dlo, dhi, am, q, start) do {                                   \
        pool_vdiu a_, b_;                                                         \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        memcpy(&b_, (am) + (q) + 4, sizeof b_);                                   \
        const pool_vdiu s_ = (uint64_t)(start) + POOL_IOTA2;                      \
        a_ -= s_; b_ -= s_ + 8;                                                   \
        dlo = EVEN((VM)a_, (VM)b_); dhi = ODD((VM)a_, (VM)b_);                    \
    } while (0)
#endif
#include "pool.c"
#undef REAL
#undef SUF
#undef VL
#undef VR
#undef VM
#undef EVEN
#undef ODD
#undef ZIPLO
#undef ZIPHI
#undef VB
#undef LOW_BYTES
#undef STORE_IDX
#undef LOAD_DELTA

#define REAL double
#define SUF(name) name##_f64
#ifdef POOL_VEC
#define VL 4
#define VR pool_vd
#define VM pool_vdm
#define EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define ZIPLO(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define ZIPHI(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define VB pool_vb4
#define LOW_BYTES(v) LOW_BYTES4(v)
#define STORE_IDX(am, q, off, start) do {                                         \
        const pool_vdiu i_ = (pool_vdiu)(off) + (uint64_t)(start) + POOL_IOTA2;   \
        memcpy((am) + (q), &i_, sizeof i_);                                       \
    } while (0)
#define LOAD_DELTA(dlo, dhi, am, q, start) do {                                   \
        pool_vdiu a_;                                                             \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        dlo = (VM)(a_ - ((uint64_t)(start) + POOL_IOTA2)); dhi = (VM){0};         \
    } while (0)
#endif
#include "pool.c"
#undef REAL
#undef SUF

#else /* ---- typed bodies ---------------------------------------------------- */


/* ---- 2x2 windows, stride 2, no padding, every window inside the input: the
 * textbook's pooling.  Same results as the general loops (first maximum wins,
 * the first NaN wins); one pass over two input rows makes one output row, and
 * the backward writes every element of dinp exactly once (no zeroing pass). */
static int SUF(is_2x2)(const ccnn_pool2d_dims *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 &&
           d->pad_top == 0 && d->pad_bottom == 0 && d->pad_left == 0 && d->pad_right == 0 &&
           2 * d->p <= d->h && 2 * d->q <= d->w;
}

/* Offset in {0, 1, W, W+1} of the maximum of window (a b / c e): the first
 * maximum in row-major order, the first NaN if there is one. */
static inline int64_t SUF(argmax2x2)(REAL a, REAL b, REAL c, REAL e, int64_t W, REAL *m)
{
    REAL v = a;
    int64_t off = 0;
    if (v == v && (b > v || b != b)) { v = b; off = 1; }
    if (v == v && (c > v || c != c)) { v = c; off = W; }
    if (v == v && (e > v || e != e)) { v = e; off = W + 1; }
    *m = v;
    return off;
}

#ifdef POOL_VEC
/* lanes of a where the mask is set, else lanes of b */
#define SEL(mask, a, b) ((VR)(((VM)(a) & (mask)) | ((VM)(b) & ~(mask))))
#define SEL_I(mask, a, b) (((a) & (mask)) | ((b) & ~(mask)))
/* a, b, c, e: the four inputs of windows q .. q+VL-1 of rows r0, r1 */
#define LOAD2X2(a, b, c, e, r0, r1, q) do {                                   \
        VR l0_, h0_, l1_, h1_;                                                \
        memcpy(&l0_, (r0) + 2 * (q), sizeof l0_);                             \
        memcpy(&h0_, (r0) + 2 * (q) + VL, sizeof h0_);                        \
        memcpy(&l1_, (r1) + 2 * (q), sizeof l1_);                             \
        memcpy(&h1_, (r1) + 2 * (q) + VL, sizeof h1_);                        \
        a = EVEN(l0_, h0_); b = ODD(l0_, h0_);                                \
        c = EVEN(l1_, h1_); e = ODD(l1_, h1_);                                \
    } while (0)
/* m = window maximum, off = its offset (argmax2x2, lane by lane).  "take v"
 * is (m == m) && (v > m || v != v), i.e. m is not NaN and !(v <= m). */
#define MAX2X2(m, off, a, b, c, e, W) do {                                    \
        VM t_;                                                                \
        m = a;                                                                \
        t_ = (VM)(m == m) & ~(VM)(b <= m);                                    \
        m = SEL(t_, b, m); off = t_ & 1;                                      \
        t_ = (VM)(m == m) & ~(VM)(c <= m);                                    \
        m = SEL(t_, c, m); off = SEL_I(t_, (VM){0} + (W), off);               \
        t_ = (VM)(m == m) & ~(VM)(e <= m);                                    \
        m = SEL(t_, e, m); off = SEL_I(t_, (VM){0} + ((W) + 1), off);         \
    } while (0)
/* store v0 v1 interleaved to r[2q ..], v2 v3 to s[2q ..] */
#define STORE2X2(r, s, q, v0, v1, v2, v3) do {                                \
        const VR z0_ = ZIPLO(v0, v1), z1_ = ZIPHI(v0, v1);                    \
        const VR z2_ = ZIPLO(v2, v3), z3_ = ZIPHI(v2, v3);                    \
        memcpy((r) + 2 * (q), &z0_, sizeof z0_);                              \
        memcpy((r) + 2 * (q) + VL, &z1_, sizeof z1_);                         \
        memcpy((s) + 2 * (q), &z2_, sizeof z2_);                              \
        memcpy((s) + 2 * (q) + VL, &z3_, sizeof z3_);                         \
    } while (0)
/* Vector loops run over q = 0, VL, 2VL, ... and a last vector at Q - VL that
 * may overlap the one before (it recomputes, and rewrites, the same values).
 * They need Q >= VL, and W + 1 must fit the 32-bit lanes of the float masks. */
#define VEC_ROW_OK(Q, W) ((Q) >= VL && (W) < ((int64_t)1 << 30))
#define FOR_VEC_Q(q, Q) \
    for (int64_t q0_ = 0, q = 0; q0_ < (Q); q0_ += VL, q = q0_ < (Q) - VL ? q0_ : (Q) - VL)
#endif

/* y: (Q,) window maxima of input rows r0, r1 (W,); am: (Q,) or NULL, the
 * flat index base + 2q + {0, 1, W, W+1} of each maximum */
static CCNN_DISPATCH void SUF(max2x2_row)(REAL *restrict y, int64_t *restrict am,
                                          const REAL *restrict r0, const REAL *restrict r1,
                                          int64_t Q, int64_t base, int64_t W)
{
#ifdef POOL_VEC
    if (VEC_ROW_OK(Q, W)) {
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e, m;
            VM off;
            LOAD2X2(a, b, c, e, r0, r1, q);
            MAX2X2(m, off, a, b, c, e, (int)W);
            memcpy(y + q, &m, sizeof m);
            if (am) STORE_IDX(am, q, off, base + 2 * q);
        }
        return;
    }
#endif
    for (int64_t q = 0; q < Q; q++) {
        REAL m;
        const int64_t off = SUF(argmax2x2)(r0[2 * q], r0[2 * q + 1], r1[2 * q], r1[2 * q + 1], W, &m);
        y[q] = m;
        if (am) am[q] = base + 2 * q + off;
    }
}

/* Backward of one output row from its argmax am: (Q,) -- each of the 2x2
 * inputs of window q in rows r0, r1 (W,) gets g[q] if it is the argmax, else 0;
 * columns from 2Q on get 0.  Returns 0 (having written garbage) when some index
 * is not in its own window: the caller then takes the general path. */
static CCNN_DISPATCH int SUF(max2x2_bwd_row)(REAL *restrict r0, REAL *restrict r1,
                                             const REAL *restrict g, const int64_t *restrict am,
                                             int64_t Q, int64_t base, int64_t W)
{
    int ok = 1;
#ifdef POOL_VEC
    if (VEC_ROW_OK(Q, W)) {
        VM okv = (VM){0} - 1;
        FOR_VEC_Q(q, Q) {
            VM dl, dh;   /* the offset of each index in its window (low, high 32 bits for float) */
            VR gv;
            LOAD_DELTA(dl, dh, am, q, base + 2 * q);
            memcpy(&gv, g + q, sizeof gv);
            const VM k0 = (VM)(dl == 0), k1 = (VM)(dl == 1);
            const VM k2 = (VM)(dl == (int)W), k3 = (VM)(dl == (int)W + 1);
            okv &= (VM)(dh == 0) & (k0 | k1 | k2 | k3);
            const VR v0 = (VR)((VM)gv & k0), v1 = (VR)((VM)gv & k1);
            const VR v2 = (VR)((VM)gv & k2), v3 = (VR)((VM)gv & k3);
            STORE2X2(r0, r1, q, v0, v1, v2, v3);
        }
        for (int i = 0; i < VL; i++) ok &= okv[i] != 0;
    } else
#endif
    {
        for (int64_t q = 0; q < Q; q++) {
            const uint64_t dl = (uint64_t)am[q] - (uint64_t)(base + 2 * q);
            const REAL v = g[q];
            ok &= dl == 0 || dl == 1 || dl == (uint64_t)W || dl == (uint64_t)W + 1;
            r0[2 * q] = dl == 0 ? v : 0;
            r0[2 * q + 1] = dl == 1 ? v : 0;
            r1[2 * q] = dl == (uint64_t)W ? v : 0;
            r1[2 * q + 1] = dl == (uint64_t)W + 1 ? v : 0;
        }
    }
    for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
    return ok;
}

/* Backward of one output row, the argmax recomputed from the input rows
 * x0, x1 (W,): writes rows r0, r1 (W,) of dinp like max2x2_bwd_row. */
static CCNN_DISPATCH void SUF(max2x2_bwd_row_x)(REAL *restrict r0, REAL *restrict r1,
                                                const REAL *restrict g,
                                                const REAL *restrict x0, const REAL *restrict x1,
                                                int64_t Q, int64_t W)
{
#ifdef POOL_VEC
    if (VEC_ROW_OK(Q, W)) {
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e, m, gv;
            VM off;
            LOAD2X2(a, b, c, e, x0, x1, q);
            MAX2X2(m, off, a, b, c, e, (int)W);
            memcpy(&gv, g + q, sizeof gv);
            const VR v0 = (VR)((VM)gv & (VM)(off == 0)), v1 = (VR)((VM)gv & (VM)(off == 1));
            const VR v2 = (VR)((VM)gv & (VM)(off == (int)W));
            const VR v3 = (VR)((VM)gv & (VM)(off == (int)W + 1));
            STORE2X2(r0, r1, q, v0, v1, v2, v3);
        }
    } else
#endif
    {
        for (int64_t q = 0; q < Q; q++) {
            REAL m;
            const int64_t off = SUF(argmax2x2)(x0[2 * q], x0[2 * q + 1], x1[2 * q], x1[2 * q + 1], W, &m);
            const REAL v = g[q];
            r0[2 * q] = off == 0 ? v : 0;
            r0[2 * q + 1] = off == 1 ? v : 0;
            r1[2 * q] = off == W ? v : 0;
            r1[2 * q + 1] = off == W + 1 ? v : 0;
        }
    }
    for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
}

/* y: (Q,) window means of rows r0, r1 (W,) */
static CCNN_DISPATCH void SUF(avg2x2_row)(REAL *restrict y, const REAL *restrict r0,
                                          const REAL *restrict r1, int64_t Q)
{
#ifdef POOL_VEC
    if (VEC_ROW_OK(Q, 0)) {
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e;
            LOAD2X2(a, b, c, e, r0, r1, q);
            const VR m = ((a + b) + (c + e)) / (REAL)4;
            memcpy(y + q, &m, sizeof m);
        }
        return;
    }
#endif
    for (int64_t q = 0; q < Q; q++)
        y[q] = ((r0[2 * q] + r0[2 * q + 1]) + (r1[2 * q] + r1[2 * q + 1])) / (REAL)4;
}

/* rows r0, r1 (W,) of dinp: g[q] / 4 over window q, 0 from column 2Q on */
static CCNN_DISPATCH void SUF(avg2x2_bwd_row)(REAL *restrict r0, REAL *restrict r1,
                                              const REAL *restrict g, int64_t Q, int64_t W)
{
#ifdef POOL_VEC
    if (VEC_ROW_OK(Q, W)) {
        FOR_VEC_Q(q, Q) {
            VR gv;
            memcpy(&gv, g + q, sizeof gv);
            const VR v = gv / (REAL)4;
            STORE2X2(r0, r1, q, v, v, v, v);
        }
    } else
#endif
    {
        for (int64_t q = 0; q < Q; q++) {
            const REAL v = g[q] / (REAL)4;
            r0[2 * q] = v; r0[2 * q + 1] = v; r1[2 * q] = v; r1[2 * q + 1] = v;
        }
    }
    for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
}

/* ---- general windows ------------------------------------------------------ */

/* Flat index of the maximum of window (p, q) of plane x (h, w); *m = the max. */
static inline int64_t SUF(window_argmax)(const REAL *x, const ccnn_pool2d_dims *d,
                                         int64_t p, int64_t q, REAL *m_out)
{
    const int64_t W = d->w;
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
    *m_out = m;
    return best;
}

/* ccnn_max_pool2d_forward_f32, ccnn_max_pool2d_forward_f64 */
void SUF(ccnn_max_pool2d_forward)(REAL *out, int64_t *argmax, const REAL *inp,
                                  const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    const int fast = SUF(is_2x2)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
        int64_t *am = argmax ? argmax + nc * P * Q : NULL;   /* (p, q) */
        if (fast) {
            for (int64_t p = 0; p < P; p++)
                SUF(max2x2_row)(y + p * Q, am ? am + p * Q : NULL, x + 2 * p * W,
                                x + (2 * p + 1) * W, Q, 2 * p * W, W);
            continue;
        }
        for (int64_t p = 0; p < P; p++) {
            for (int64_t q = 0; q < Q; q++) {
                REAL m;
                const int64_t best = SUF(window_argmax)(x, d, p, q, &m);
                y[p * Q + q] = m;
                if (am) am[p * Q + q] = best;
            }
        }
    }
}

/* The max-pool backward from indices; with check, an index outside [0, h*w)
 * makes it return CCNN_EBADARG (dinp then holds garbage) instead of writing
 * out of bounds. */
static int SUF(max_pool2d_backward_idx)(REAL *dinp, const REAL *dout, const int64_t *argmax,
                                        const ccnn_pool2d_dims *d, int nthreads, int check)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * (H * W + P * Q));
    const int fast = SUF(is_2x2)(d);
    int bad = 0;
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt) reduction(|:bad)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        const int64_t *am = argmax + nc * P * Q;   /* (p, q) */
        if (fast) {
            /* write-once while every index lies in its own window (always so
             * for indices from the forward); else the general path below */
            int ok = 1;
            for (int64_t p = 0; p < P && ok; p++)
                ok = SUF(max2x2_bwd_row)(dx + 2 * p * W, dx + (2 * p + 1) * W, dy + p * Q,
                                         am + p * Q, Q, 2 * p * W, W);
            if (ok) {
                if (2 * P < H) memset(dx + 2 * P * W, 0, (size_t)((H - 2 * P) * W) * sizeof(REAL));
                continue;
            }
        }
        if (check) {
            int64_t plane_bad = 0;
            for (int64_t i = 0; i < P * Q; i++) plane_bad |= (uint64_t)am[i] >= (uint64_t)(H * W);
            if (plane_bad) { bad = 1; continue; }
        }
        memset(dx, 0, (size_t)(H * W) * sizeof(REAL));
        for (int64_t i = 0; i < P * Q; i++) dx[am[i]] += dy[i];
    }
    return bad ? CCNN_EBADARG : CCNN_OK;
}

/* ccnn_max_pool2d_backward_f32, ccnn_max_pool2d_backward_f64 */
void SUF(ccnn_max_pool2d_backward)(REAL *dinp, const REAL *dout, const int64_t *argmax,
                                   const ccnn_pool2d_dims *d, int nthreads)
{
    (void)SUF(max_pool2d_backward_idx)(dinp, dout, argmax, d, nthreads, 0);
}

/* ccnn_max_pool2d_backward_checked_f32, ccnn_max_pool2d_backward_checked_f64 */
int SUF(ccnn_max_pool2d_backward_checked)(REAL *dinp, const REAL *dout, const int64_t *argmax,
                                          const ccnn_pool2d_dims *d, int nthreads)
{
    return SUF(max_pool2d_backward_idx)(dinp, dout, argmax, d, nthreads, 1);
}

/* ccnn_max_pool2d_backward_recompute_f32, ccnn_max_pool2d_backward_recompute_f64 */
void SUF(ccnn_max_pool2d_backward_recompute)(REAL *dinp, const REAL *dout, const REAL *inp,
                                             const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * (H * W + P * Q * d->kh * d->kw));
    const int fast = SUF(is_2x2)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        if (fast) {
            for (int64_t p = 0; p < P; p++)
                SUF(max2x2_bwd_row_x)(dx + 2 * p * W, dx + (2 * p + 1) * W, dy + p * Q,
                                      x + 2 * p * W, x + (2 * p + 1) * W, Q, W);
            if (2 * P < H) memset(dx + 2 * P * W, 0, (size_t)((H - 2 * P) * W) * sizeof(REAL));
            continue;
        }
        memset(dx, 0, (size_t)(H * W) * sizeof(REAL));
        for (int64_t p = 0; p < P; p++) {
            for (int64_t q = 0; q < Q; q++) {
                REAL m;
                dx[SUF(window_argmax)(x, d, p, q, &m)] += dy[p * Q + q];
            }
        }
    }
}

/* ccnn_avg_pool2d_forward_f32, ccnn_avg_pool2d_forward_f64 */
void SUF(ccnn_avg_pool2d_forward)(REAL *out, const REAL *inp,
                                  const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    const int fast = SUF(is_2x2)(d);   /* divisor 4 either way */
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
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

/* ccnn_avg_pool2d_backward_f32, ccnn_avg_pool2d_backward_f64 */
void SUF(ccnn_avg_pool2d_backward)(REAL *dinp, const REAL *dout,
                                   const ccnn_pool2d_dims *d, int nthreads)
{
    const int64_t NC = d->n * d->c, H = d->h, W = d->w, P = d->p, Q = d->q;
    const int nt = ccnn_threads_for(nthreads, NC * P * Q * d->kh * d->kw);
    const int fast = SUF(is_2x2)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        if (fast) {   /* every input in at most one window: write, don't accumulate */
            for (int64_t p = 0; p < P; p++)
                SUF(avg2x2_bwd_row)(dx + 2 * p * W, dx + (2 * p + 1) * W, dy + p * Q, Q, W);
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

/* One plane, 2x2 / stride 2, no padding: out (h/2, w/2) = each window's
 * maximum, offset (h/2, w/2) = its position in the window as row*2 + column
 * (0..3), with max2x2_row's rules (first maximum, first NaN); an odd last row
 * or column is dropped.  For the fused conv -> relu -> pool kernel. */
static CCNN_DISPATCH void SUF(max2x2_plane)(REAL *restrict out, uint8_t *restrict offset,
                                            const REAL *restrict x, int64_t H, int64_t W)
{
    const int64_t P = H / 2, Q = W / 2;
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        REAL *y = out + p * Q;
        uint8_t *o = offset + p * Q;
#ifdef POOL_VEC
        if (VEC_ROW_OK(Q, W)) {
            FOR_VEC_Q(q, Q) {
                VR a, b, c, e, m;
                VM off;
                LOAD2X2(a, b, c, e, r0, r1, q);
                MAX2X2(m, off, a, b, c, e, 2);      /* offsets 0, 1, 2, 3 */
                const VB ob = LOW_BYTES(off);                     /* lanes to bytes */
                memcpy(y + q, &m, sizeof m);
                memcpy(o + q, &ob, sizeof ob);
            }
            continue;
        }
#endif
        for (int64_t q = 0; q < Q; q++) {
            REAL m;
            o[q] = (uint8_t)SUF(argmax2x2)(r0[2 * q], r0[2 * q + 1], r1[2 * q], r1[2 * q + 1], 2, &m);
            y[q] = m;
        }
    }
}

/* ccnn_max_pool2x2_plane_f32, ccnn_max_pool2x2_plane_f64 */
void SUF(ccnn_max_pool2x2_plane)(REAL *out, uint8_t *offset, const REAL *x, int64_t h, int64_t w)
{
    SUF(max2x2_plane)(out, offset, x, h, w);
}

#endif /* REAL */
