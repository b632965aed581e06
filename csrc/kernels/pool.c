/* pool.c -- max and average pooling kernels (see pool.h).
 *
 * Typed bodies are instantiated for float and double by self-inclusion, and
 * within them the 2x2 / stride-2 plane kernels (POOL_ROWS) once per vector
 * width (NAME_wide, NAME_half; NAME_s is the scalar version).
 * Every kernel is parallel over the (n, c) planes (in dynamically scheduled
 * chunks, see pool_chunk): a thread owns its plane
 * of the output (forward) or of dinp (backward), so windows that overlap
 * never make two threads write one element.
 */
#ifndef REAL
#include <string.h>
#include <stdlib.h>
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


/* The kernels pooling takes (pool.h): 0 the fastest, 1 the 2x2 fast path
 * without vectors, 2 the general loops; -1 until first read from the
 * environment (CCNN_POOL_PATH = "scalar" or "general"). */
static int pool_path = -1;

static int pool_path_override(void)
{
    int v = __atomic_load_n(&pool_path, __ATOMIC_RELAXED);
    if (v >= 0) return v;
    const char *env = getenv("CCNN_POOL_PATH");
    v = env && strcmp(env, "general") == 0 ? 2 : env && strcmp(env, "scalar") == 0 ? 1 : 0;
    int expected = -1;   /* a concurrent ccnn_pool2d_path wins */
    __atomic_compare_exchange_n(&pool_path, &expected, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return __atomic_load_n(&pool_path, __ATOMIC_RELAXED);
}

int ccnn_pool2d_path(int path)
{
    const int old = pool_path_override();
    if (path >= 0 && path <= 2) __atomic_store_n(&pool_path, path, __ATOMIC_RELAXED);
    return old;
}

/* ---- vectors for the 2x2 / stride-2 fast path ----------------------------
 * GCC/clang vector extensions, "wide" 32 bytes (8 floats or 4 doubles) and
 * "half" 16 bytes (4 floats or 2 doubles); in the CCNN_DISPATCH clones they
 * become AVX-512/AVX2/SSE registers.  VL windows of one output row read 2*VL
 * inputs from each of the two input rows: two vectors per row, split into
 * even (left) and odd (right) lanes.  A row of Q windows takes the wide
 * vectors when Q >= VL, else the half vectors when Q >= VL/2 (14x14 -> 7x7 in
 * float), else scalar code.  Other compilers use the scalar loops. */
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
typedef float    pool_hf   __attribute__((vector_size(16)));
typedef int32_t  pool_hfm  __attribute__((vector_size(16)));
typedef double   pool_hd   __attribute__((vector_size(16)));
typedef int64_t  pool_hdm  __attribute__((vector_size(16)));
typedef uint64_t pool_hdiu __attribute__((vector_size(16)));  /* 2 flat indices   */
typedef uint8_t  pool_hb16 __attribute__((vector_size(16)));  /* a mask's bytes   */
typedef uint8_t  pool_vb2  __attribute__((vector_size(2)));   /* 2 window offsets */
/* The low byte of each lane of a mask vector (offsets 0..3) as bytes: one
 * byte shuffle (__builtin_convertvector lowers to a lane-by-lane loop). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LOW_BYTES8(v) __builtin_shufflevector((pool_vb32)(v), (pool_vb32)(v), 0, 4, 8, 12, 16, 20, 24, 28)
#define LOW_BYTES4(v) __builtin_shufflevector((pool_vb32)(v), (pool_vb32)(v), 0, 8, 16, 24)
#define LOW_BYTES4H(v) __builtin_shufflevector((pool_hb16)(v), (pool_hb16)(v), 0, 4, 8, 12)
#define LOW_BYTES2H(v) __builtin_shufflevector((pool_hb16)(v), (pool_hb16)(v), 0, 8)
#else
#define LOW_BYTES8(v) __builtin_convertvector(v, pool_vb8)
#define LOW_BYTES4(v) __builtin_convertvector(v, pool_vb4)
#define LOW_BYTES4H(v) __builtin_convertvector(v, pool_vb4)
#define LOW_BYTES2H(v) __builtin_convertvector(v, pool_vb2)
#endif
#define POOL_IOTA2 ((pool_vdiu){0, 2, 4, 6})
#define POOL_IOTA2H ((pool_hdiu){0, 2})
#endif

#define REAL float
#define SUF(name) name##_f32
#define UREAL uint32_t
#ifdef POOL_VEC
#define VL_W 8
#define VR_W pool_vf
#define VM_W pool_vfm
#define EVEN_W(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD_W(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define ZIPLO_W(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIPHI_W(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define VB_W pool_vb8
#define LOW_BYTES_W(v) LOW_BYTES8(v)
/* am[q .. q+7] = start + 2i + off[i]: 8 int64 from the 32-bit offsets, in halves */
#define STORE_IDX_W(am, q, off, start) do {                                       \
        const pool_vdiu s_ = (uint64_t)(start) + POOL_IOTA2;                      \
        const pool_vdiu lo_ = __builtin_convertvector(                           \
            __builtin_shufflevector(off, off, 0, 1, 2, 3), pool_vdiu) + s_;      \
        const pool_vdiu hi_ = __builtin_convertvector(                           \
            __builtin_shufflevector(off, off, 4, 5, 6, 7), pool_vdiu) + (s_ + 8); \
        memcpy((am) + (q), &lo_, sizeof lo_);                                     \
        memcpy((am) + (q) + 4, &hi_, sizeof hi_);                                 \
    } while (0)
/* dlo, dhi: low and high 32 bits of am[q+i] - (start + 2i) (wrapping, never UB) */
#define LOAD_DELTA_W(dlo, dhi, am, q, start) do {                                 \
        pool_vdiu a_, b_;                                                         \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        memcpy(&b_, (am) + (q) + 4, sizeof b_);                                   \
        const pool_vdiu s_ = (uint64_t)(start) + POOL_IOTA2;                      \
        a_ -= s_; b_ -= s_ + 8;                                                   \
        dlo = EVEN_W((pool_vfm)a_, (pool_vfm)b_);                                 \
        dhi = ODD_W((pool_vfm)a_, (pool_vfm)b_);                                  \
    } while (0)
#define VL_H 4
#define VR_H pool_hf
#define VM_H pool_hfm
#define EVEN_H(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define ODD_H(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define ZIPLO_H(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define ZIPHI_H(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define VB_H pool_vb4
#define LOW_BYTES_H(v) LOW_BYTES4H(v)
#define STORE_IDX_H(am, q, off, start) do {                                       \
        const pool_vdiu i_ = __builtin_convertvector(off, pool_vdiu) +           \
                             ((uint64_t)(start) + POOL_IOTA2);                    \
        memcpy((am) + (q), &i_, sizeof i_);                                       \
    } while (0)
#define LOAD_DELTA_H(dlo, dhi, am, q, start) do {                                 \
        pool_vdiu a_;                                                             \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        a_ -= (uint64_t)(start) + POOL_IOTA2;                                     \
        dlo = __builtin_shufflevector((pool_vfm)a_, (pool_vfm)a_, 0, 2, 4, 6);    \
        dhi = __builtin_shufflevector((pool_vfm)a_, (pool_vfm)a_, 1, 3, 5, 7);    \
    } while (0)
#endif
#include "pool.c"
#undef REAL
#undef SUF
#undef UREAL
#undef VL_W
#undef VR_W
#undef VM_W
#undef EVEN_W
#undef ODD_W
#undef ZIPLO_W
#undef ZIPHI_W
#undef VB_W
#undef LOW_BYTES_W
#undef STORE_IDX_W
#undef LOAD_DELTA_W
#undef VL_H
#undef VR_H
#undef VM_H
#undef EVEN_H
#undef ODD_H
#undef ZIPLO_H
#undef ZIPHI_H
#undef VB_H
#undef LOW_BYTES_H
#undef STORE_IDX_H
#undef LOAD_DELTA_H

#define REAL double
#define SUF(name) name##_f64
#define UREAL uint64_t
#ifdef POOL_VEC
#define VL_W 4
#define VR_W pool_vd
#define VM_W pool_vdm
#define EVEN_W(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define ODD_W(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define ZIPLO_W(a, b) __builtin_shufflevector(a, b, 0, 4, 1, 5)
#define ZIPHI_W(a, b) __builtin_shufflevector(a, b, 2, 6, 3, 7)
#define VB_W pool_vb4
#define LOW_BYTES_W(v) LOW_BYTES4(v)
#define STORE_IDX_W(am, q, off, start) do {                                       \
        const pool_vdiu i_ = (pool_vdiu)(off) + (uint64_t)(start) + POOL_IOTA2;   \
        memcpy((am) + (q), &i_, sizeof i_);                                       \
    } while (0)
#define LOAD_DELTA_W(dlo, dhi, am, q, start) do {                                 \
        pool_vdiu a_;                                                             \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        dlo = (pool_vdm)(a_ - ((uint64_t)(start) + POOL_IOTA2)); dhi = (pool_vdm){0}; \
    } while (0)
#define VL_H 2
#define VR_H pool_hd
#define VM_H pool_hdm
#define EVEN_H(a, b) __builtin_shufflevector(a, b, 0, 2)
#define ODD_H(a, b) __builtin_shufflevector(a, b, 1, 3)
#define ZIPLO_H(a, b) __builtin_shufflevector(a, b, 0, 2)
#define ZIPHI_H(a, b) __builtin_shufflevector(a, b, 1, 3)
#define VB_H pool_vb2
#define LOW_BYTES_H(v) LOW_BYTES2H(v)
#define STORE_IDX_H(am, q, off, start) do {                                       \
        const pool_hdiu i_ = (pool_hdiu)(off) + (uint64_t)(start) + POOL_IOTA2H;  \
        memcpy((am) + (q), &i_, sizeof i_);                                       \
    } while (0)
#define LOAD_DELTA_H(dlo, dhi, am, q, start) do {                                 \
        pool_hdiu a_;                                                             \
        memcpy(&a_, (am) + (q), sizeof a_);                                       \
        dlo = (pool_hdm)(a_ - ((uint64_t)(start) + POOL_IOTA2H)); dhi = (pool_hdm){0}; \
    } while (0)
#endif
#include "pool.c"
#undef REAL
#undef SUF
#undef UREAL

#elif !defined(POOL_ROWS) /* ---- typed bodies -------------------------------- */


/* ---- 2x2 windows, stride 2, no padding, every window inside the input: the
 * textbook's pooling.  Same results as the general loops (first maximum wins,
 * the first NaN wins); one pass over two input rows makes one output row, and
 * the backward writes every element of dinp exactly once (no zeroing pass).
 * Plane kernels: x, dx (H, W); y, dy, am (P, Q) with 2P <= H, 2Q <= W. */
static int SUF(is_2x2)(const ccnn_pool2d_dims *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 &&
           d->pad_top == 0 && d->pad_bottom == 0 && d->pad_left == 0 && d->pad_right == 0 &&
           2 * d->p <= d->h && 2 * d->q <= d->w;
}

/* Position k = row*2 + column (0..3) of the maximum of window (a b / c e):
 * the first maximum in row-major order, the first NaN if there is one.
 * "take v" is (m == m) && !(v <= m): m is not NaN and v > m or v is NaN.
 * The selects are done on the bits with masks, so that the compiler does not
 * branch on the data (a branch per take mispredicts on random data). */
static inline int SUF(argmax2x2)(REAL a, REAL b, REAL c, REAL e, REAL *m)
{
    UREAL bb, cb, eb, vb;
    memcpy(&vb, &a, sizeof vb); memcpy(&bb, &b, sizeof bb);
    memcpy(&cb, &c, sizeof cb); memcpy(&eb, &e, sizeof eb);
    REAL v = a;
    UREAL t;
    unsigned k;
    t = (UREAL)0 - (UREAL)((v == v) & !(b <= v));
    vb = (bb & t) | (vb & ~t); k = (unsigned)t & 1u;
    memcpy(&v, &vb, sizeof v);
    t = (UREAL)0 - (UREAL)((v == v) & !(c <= v));
    vb = (cb & t) | (vb & ~t); k = ((unsigned)t & 2u) | (k & ~(unsigned)t);
    memcpy(&v, &vb, sizeof v);
    t = (UREAL)0 - (UREAL)((v == v) & !(e <= v));
    vb = (eb & t) | (vb & ~t); k = ((unsigned)t & 3u) | (k & ~(unsigned)t);
    memcpy(m, &vb, sizeof vb);
    return (int)k;
}

/* scalar plane kernels (rows too short for the vectors, or CCNN_POOL_PATH=scalar) */
/* GCC's vectoriser turns the backward loops into AVX-512 scatters, 3x
 * slower than the scalar code: keep those scalar. */
#if defined(__GNUC__) && !defined(__clang__)
#define POOL_SCALAR __attribute__((optimize("no-tree-vectorize")))
#else
#define POOL_SCALAR
#endif
static CCNN_DISPATCH void SUF(max2x2_fwd_s)(REAL *restrict y, int64_t *restrict am, const REAL *restrict x,
                              int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        for (int64_t q = 0; q < Q; q++) {
            REAL m;
            const int k = SUF(argmax2x2)(r0[2 * q], r0[2 * q + 1], r1[2 * q], r1[2 * q + 1], &m);
            y[p * Q + q] = m;
            if (am) am[p * Q + q] = 2 * p * W + 2 * q + (k >> 1) * W + (k & 1);
        }
    }
}

/* The backward: zero the two rows, then each window's gradient into its
 * argmax (without branching on the data) */
static POOL_SCALAR int SUF(max2x2_bwd_s)(REAL *restrict dx, const REAL *restrict dy,
                                           const int64_t *restrict am, int64_t P, int64_t Q,
                                           int64_t W)
{
    int ok = 1;
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W;
        memset(r0, 0, (size_t)(2 * W) * sizeof(REAL));
        for (int64_t q = 0; q < Q; q++) {
            const uint64_t dl = (uint64_t)am[p * Q + q] - (uint64_t)(2 * p * W + 2 * q);
            const uint64_t in = (uint64_t)0 - (uint64_t)((dl == 0) | (dl == 1) |
                                                        (dl == (uint64_t)W) | (dl == (uint64_t)W + 1));
            ok &= (int)(in & 1);
            r0[2 * q + (int64_t)(dl & in)] = dy[p * Q + q];   /* not in its window: r0[2q] */
        }
    }
    return ok;
}

static POOL_SCALAR void SUF(max2x2_bwd_x_s)(REAL *restrict dx, const REAL *restrict dy,
                                              const REAL *restrict x, int64_t P, int64_t Q,
                                              int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W;
        const REAL *x0 = x + 2 * p * W, *x1 = x0 + W;
        memset(r0, 0, (size_t)(2 * W) * sizeof(REAL));
        for (int64_t q = 0; q < Q; q++) {
            REAL m;
            const int k = SUF(argmax2x2)(x0[2 * q], x0[2 * q + 1], x1[2 * q], x1[2 * q + 1], &m);
            r0[2 * q + (k >> 1) * W + (k & 1)] = dy[p * Q + q];
        }
    }
}

static CCNN_DISPATCH void SUF(avg2x2_fwd_s)(REAL *restrict y, const REAL *restrict x,
                              int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        for (int64_t q = 0; q < Q; q++)
            y[p * Q + q] = ((((REAL)0 + r0[2 * q]) + r0[2 * q + 1]) + r1[2 * q]
                            + r1[2 * q + 1]) / (REAL)4;   /* the general loop's order */
    }
}

static CCNN_DISPATCH void SUF(avg2x2_bwd_s)(REAL *restrict dx, const REAL *restrict dy,
                              int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W, *r1 = r0 + W;
        for (int64_t q = 0; q < Q; q++) {
            const REAL v = dy[p * Q + q] / (REAL)4;
            r0[2 * q] = v; r0[2 * q + 1] = v; r1[2 * q] = v; r1[2 * q + 1] = v;
        }
        for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
    }
}

/* out, offset (P, Q): maxima and their positions row*2 + column */
static CCNN_DISPATCH void SUF(max2x2_offs_s)(REAL *restrict out, uint8_t *restrict offset,
                               const REAL *restrict x, int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        for (int64_t q = 0; q < Q; q++) {
            REAL m;
            offset[p * Q + q] = (uint8_t)SUF(argmax2x2)(r0[2 * q], r0[2 * q + 1], r1[2 * q],
                                                         r1[2 * q + 1], &m);
            out[p * Q + q] = m;
        }
    }
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
/* m = window maximum, off = its offset (argmax2x2, lane by lane, with
 * offsets 0, 1, W, W+1). */
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
#define FOR_VEC_Q(q, Q) \
    for (int64_t q0_ = 0, q = 0; q0_ < (Q); q0_ += VL, q = q0_ < (Q) - VL ? q0_ : (Q) - VL)

/* the plane kernels once per vector width: NAME_wide (POOL_ROWS 1, the _W
 * vectors), NAME_half (POOL_ROWS 2, the _H ones); the POOL_ROWS section below
 * names that width's macros VL, VR, ... */
#define POOL_ROWS 1
#include "pool.c"
#undef POOL_ROWS
#define POOL_ROWS 2
#include "pool.c"
#undef POOL_ROWS
#endif

/* Which 2x2 plane kernels a plane of Q-window rows of width W takes:
 * 2 the wide vectors, 1 the half vectors, 0 the scalar loops. */
static inline int SUF(width2x2)(int64_t Q, int64_t W, int override)
{
#ifdef POOL_VEC
    if (override == 0 && W < ((int64_t)1 << 30))
        return Q >= VL_W ? 2 : Q >= VL_H ? 1 : 0;
#endif
    (void)Q; (void)W; (void)override;
    return 0;
}

/* -1: the general loops; else the 2x2 plane kernels of width2x2 */
static int SUF(fast_path)(const ccnn_pool2d_dims *d)
{
    const int ov = pool_path_override();
    if (ov == 2 || !SUF(is_2x2)(d)) return -1;
    return SUF(width2x2)(d->q, d->w, ov);
}

#ifdef POOL_VEC
#define POOL_PICK(width, name, args)                                           \
    ((width) == 2 ? SUF(name##_wide) args : (width) == 1 ? SUF(name##_half) args \
                                                        : SUF(name##_s) args)
#else
#define POOL_PICK(width, name, args) SUF(name##_s) args
#endif

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
    const int fast = SUF(fast_path)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
        int64_t *am = argmax ? argmax + nc * P * Q : NULL;   /* (p, q) */
        if (fast >= 0) {
            POOL_PICK(fast, max2x2_fwd, (y, am, x, P, Q, W));
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
    const int fast = SUF(fast_path)(d);
    int bad = 0;
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt) reduction(|:bad)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        const int64_t *am = argmax + nc * P * Q;   /* (p, q) */
        if (fast >= 0) {
            /* write-once while every index lies in its own window (always so
             * for indices from the forward); else the general path below */
            if (POOL_PICK(fast, max2x2_bwd, (dx, dy, am, P, Q, W))) {
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
    const int fast = SUF(fast_path)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        if (fast >= 0) {
            POOL_PICK(fast, max2x2_bwd_x, (dx, dy, x, P, Q, W));
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
    const int fast = SUF(fast_path)(d);   /* divisor 4 either way */
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        const REAL *x = inp + nc * H * W;          /* (h, w) */
        REAL *y = out + nc * P * Q;                /* (p, q) */
        if (fast >= 0) {
            POOL_PICK(fast, avg2x2_fwd, (y, x, P, Q, W));
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
    const int fast = SUF(fast_path)(d);
    const int chunk = pool_chunk(NC, nt);
    (void)nt; (void)chunk;
    #pragma omp parallel for schedule(dynamic, chunk) num_threads(nt)
    for (int64_t nc = 0; nc < NC; nc++) {
        REAL *dx = dinp + nc * H * W;              /* (h, w) */
        const REAL *dy = dout + nc * P * Q;        /* (p, q) */
        if (fast >= 0) {   /* every input in at most one window: write, don't accumulate */
            POOL_PICK(fast, avg2x2_bwd, (dx, dy, P, Q, W));
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

/* ccnn_max_pool2x2_plane_f32, ccnn_max_pool2x2_plane_f64: one plane, 2x2 /
 * stride 2, no padding, out (h/2, w/2) = each window's maximum, offset
 * (h/2, w/2) = its position in the window as row*2 + column (0..3), with the
 * rules above (first maximum, first NaN); an odd last row or column is
 * dropped.  For the fused conv -> relu -> pool kernel. */
void SUF(ccnn_max_pool2x2_plane)(REAL *out, uint8_t *offset, const REAL *x, int64_t h, int64_t w)
{
    const int width = SUF(width2x2)(w / 2, w, 0);
    (void)width;
    POOL_PICK(width, max2x2_offs, (out, offset, x, h / 2, w / 2, w));
}
#undef POOL_PICK

#else /* ---- POOL_ROWS: the 2x2 plane kernels for one vector width VL ----------
 * Every row has Q >= VL windows and W < 2^30 (width2x2). */

#if POOL_ROWS == 1
#define VWIDTH_(m) m##_W
#define VSUF(name) SUF(name##_wide)
#else
#define VWIDTH_(m) m##_H
#define VSUF(name) SUF(name##_half)
#endif
#define VL VWIDTH_(VL)
#define VR VWIDTH_(VR)
#define VM VWIDTH_(VM)
#define EVEN VWIDTH_(EVEN)
#define ODD VWIDTH_(ODD)
#define ZIPLO VWIDTH_(ZIPLO)
#define ZIPHI VWIDTH_(ZIPHI)
#define VB VWIDTH_(VB)
#define LOW_BYTES VWIDTH_(LOW_BYTES)
#define STORE_IDX VWIDTH_(STORE_IDX)
#define LOAD_DELTA VWIDTH_(LOAD_DELTA)

/* y (P, Q): the window maxima of x (H, W); am (P, Q) or NULL: the flat index
 * 2pW + 2q + {0, 1, W, W+1} of each maximum */
static CCNN_DISPATCH void VSUF(max2x2_fwd)(REAL *restrict y, int64_t *restrict am,
                                           const REAL *restrict x, int64_t P, int64_t Q,
                                           int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        REAL *yr = y + p * Q;
        if (am) {
            int64_t *ar = am + p * Q;
            FOR_VEC_Q(q, Q) {
                VR a, b, c, e, m;
                VM off;
                LOAD2X2(a, b, c, e, r0, r1, q);
                MAX2X2(m, off, a, b, c, e, (int)W);
                memcpy(yr + q, &m, sizeof m);
                STORE_IDX(ar, q, off, 2 * p * W + 2 * q);
            }
        } else {
            FOR_VEC_Q(q, Q) {
                VR a, b, c, e, m;
                VM off;
                LOAD2X2(a, b, c, e, r0, r1, q);
                MAX2X2(m, off, a, b, c, e, (int)W);
                (void)off;
                memcpy(yr + q, &m, sizeof m);
            }
        }
    }
}

/* dx (2P rows of W): each of the 2x2 inputs of window (p, q) gets dy[p, q] if
 * it is am[p, q], else 0; columns from 2Q on get 0.  Returns 0 (having
 * written garbage, but only inside those rows) when some index is not in its
 * own window: the caller then takes the general path. */
static CCNN_DISPATCH int VSUF(max2x2_bwd)(REAL *restrict dx, const REAL *restrict dy,
                                          const int64_t *restrict am, int64_t P, int64_t Q,
                                          int64_t W)
{
    VM okv = (VM){0} - 1;
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W, *r1 = r0 + W;
        const REAL *g = dy + p * Q;
        const int64_t *ar = am + p * Q;
        FOR_VEC_Q(q, Q) {
            VM dl, dh;   /* each index's offset in its window (low, high 32 bits for float) */
            VR gv;
            LOAD_DELTA(dl, dh, ar, q, 2 * p * W + 2 * q);
            memcpy(&gv, g + q, sizeof gv);
            const VM k0 = (VM)(dl == 0), k1 = (VM)(dl == 1);
            const VM k2 = (VM)(dl == (int)W), k3 = (VM)(dl == (int)W + 1);
            okv &= (VM)(dh == 0) & (k0 | k1 | k2 | k3);
            const VR v0 = (VR)((VM)gv & k0), v1 = (VR)((VM)gv & k1);
            const VR v2 = (VR)((VM)gv & k2), v3 = (VR)((VM)gv & k3);
            STORE2X2(r0, r1, q, v0, v1, v2, v3);
        }
        for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
    }
    int ok = 1;
    for (int i = 0; i < VL; i++) ok &= okv[i] != 0;
    return ok;
}

/* the same with each window's argmax recomputed from x (H, W) */
static CCNN_DISPATCH void VSUF(max2x2_bwd_x)(REAL *restrict dx, const REAL *restrict dy,
                                             const REAL *restrict x, int64_t P, int64_t Q,
                                             int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W, *r1 = r0 + W;
        const REAL *x0 = x + 2 * p * W, *x1 = x0 + W;
        const REAL *g = dy + p * Q;
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e, m, gv;
            VM off;
            LOAD2X2(a, b, c, e, x0, x1, q);
            MAX2X2(m, off, a, b, c, e, 2);
            memcpy(&gv, g + q, sizeof gv);
            const VR v0 = (VR)((VM)gv & (VM)(off == 0)), v1 = (VR)((VM)gv & (VM)(off == 1));
            const VR v2 = (VR)((VM)gv & (VM)(off == 2)), v3 = (VR)((VM)gv & (VM)(off == 3));
            STORE2X2(r0, r1, q, v0, v1, v2, v3);
        }
        for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
    }
}

/* y (P, Q): window means of x (H, W) */
static CCNN_DISPATCH void VSUF(avg2x2_fwd)(REAL *restrict y, const REAL *restrict x,
                                           int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e;
            LOAD2X2(a, b, c, e, r0, r1, q);
            const VR m = ((((REAL)0 + a) + b) + c + e) / (REAL)4;   /* the general loop's order */
            memcpy(y + p * Q + q, &m, sizeof m);
        }
    }
}

/* dx (2P rows of W): dy[p, q] / 4 over window (p, q), 0 from column 2Q on */
static CCNN_DISPATCH void VSUF(avg2x2_bwd)(REAL *restrict dx, const REAL *restrict dy,
                                           int64_t P, int64_t Q, int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        REAL *r0 = dx + 2 * p * W, *r1 = r0 + W;
        FOR_VEC_Q(q, Q) {
            VR gv;
            memcpy(&gv, dy + p * Q + q, sizeof gv);
            const VR v = gv / (REAL)4;
            STORE2X2(r0, r1, q, v, v, v, v);
        }
        for (int64_t j = 2 * Q; j < W; j++) { r0[j] = 0; r1[j] = 0; }
    }
}

/* out, offset (P, Q): the window maxima of x (H, W) and their positions
 * row*2 + column */
static CCNN_DISPATCH void VSUF(max2x2_offs)(REAL *restrict out, uint8_t *restrict offset,
                                            const REAL *restrict x, int64_t P, int64_t Q,
                                            int64_t W)
{
    for (int64_t p = 0; p < P; p++) {
        const REAL *r0 = x + 2 * p * W, *r1 = r0 + W;
        FOR_VEC_Q(q, Q) {
            VR a, b, c, e, m;
            VM off;
            LOAD2X2(a, b, c, e, r0, r1, q);
            MAX2X2(m, off, a, b, c, e, 2);      /* offsets 0, 1, 2, 3 */
            const VB ob = LOW_BYTES(off);       /* lanes to bytes */
            memcpy(out + p * Q + q, &m, sizeof m);
            memcpy(offset + p * Q + q, &ob, sizeof ob);
        }
    }
}

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
#undef VSUF
#undef VWIDTH_
#endif /* REAL / POOL_ROWS */
