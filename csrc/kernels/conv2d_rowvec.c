/* conv2d_rowvec.c -- the stride-1 convolution forward as a direct, row-vector
 * kernel with AVX-512 (the layout-free cousin of MLAS's NCHWc direct kernels):
 * no im2col packing, no zero frame.
 *
 * The output of one image is cut into vectors of L = 16 floats / 8 doubles
 * along its rows (a row of q columns is ceil(q / L) vectors, the last one
 * partial); vectors are taken two at a time (of one row, or of two rows when a
 * row is one vector) and, for a block of M <= 12 output channels, the
 * micro-kernel keeps the M x 2 accumulators in registers while it walks the
 * c * r * s terms: per term two masked loads straight from the input image
 * (the lanes whose window falls in the padding are masked off and read as 0;
 * a window row above or below the image is a whole masked-off load) and 2 M
 * FMAs with the weight broadcast from a panel packed per call as
 * (k-block, r*s, c, M); per tap, its lane masks and input offset stay in
 * registers over the channels.  Bias, ReLU (max(v, 0), NaN stays NaN) and the masked
 * store of the valid lanes run on the registers.
 *
 * Every output sums its c*r*s terms in the order (r, s, c), padding terms
 * skipped: as the definition, whatever the thread count.
 *
 * Work split: parallel over images, handed out one at a time; fewer images
 * than threads, over chunks of each image's vector pairs.  No two threads
 * write one element.
 *
 * ccnn_conv2d_rowvec_eligible() (conv2d.c's forward dispatch takes it first
 * where it holds): AVX-512 in use by the GEMM (ccnn_gemm_wide), stride 1,
 * dilation 1, r * s <= 49, rows that fill at least 3/4 of their vectors'
 * lanes and at most 4096 filter pairs c * k.  CCNN_CONV_ROWVEC=0 in the
 * environment turns it off (a tuning and test aid).
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RV_X86 1
#endif

#define RV_MAX_TAPS 49
#define RV_MR 12

static int rowvec_switch = -1;   /* -1: CCNN_CONV_ROWVEC not read yet */

static int rowvec_enabled(void)
{
    int on = __atomic_load_n(&rowvec_switch, __ATOMIC_RELAXED);
    if (on < 0) {
        const char *env = getenv("CCNN_CONV_ROWVEC");
        on = !(env && env[0] == '0');
        __atomic_store_n(&rowvec_switch, on, __ATOMIC_RELAXED);
    }
    return on;
}

int ccnn_conv2d_rowvec_eligible(const ccnn_conv2d_dims *d, int64_t itemsize)
{
#ifdef RV_X86
    const int64_t lanes = itemsize == 4 ? 16 : 8;
    const int64_t nvec = (d->q + lanes - 1) / lanes;
    return ccnn_gemm_wide() && rowvec_enabled() && d->stride_h == 1 && d->stride_w == 1 &&
           d->dil_h == 1 && d->dil_w == 1 && d->r * d->s <= RV_MAX_TAPS &&
           4 * d->q >= 3 * nvec * lanes && d->c * d->k <= 4096;
#else
    (void)d; (void)itemsize;
    return 0;
#endif
}

/* The K output channels as ceil(K / 12) blocks of near-equal heights: block b
 * starts at rv_block_start(K, b). */
static inline int64_t rv_nblocks(int64_t K) { return (K + RV_MR - 1) / RV_MR; }
static inline int64_t rv_block_start(int64_t K, int64_t b)
{
    const int64_t nb = rv_nblocks(K), base = K / nb, extra = K % nb;
    return b * base + (b < extra ? b : extra);
}

/* One output vector: its row y, first column x0, valid lanes len; per tap t
 * = r * s + s its input offset (from the channel plane's start) and lane mask. */
typedef struct {
    int64_t y, x0, len;
    int64_t off[RV_MAX_TAPS];
    uint32_t mask[RV_MAX_TAPS];
} rv_vec;

/* Vector v (row-major over the p x ceil(q/L) vectors; v >= count: an empty one). */
static void rv_vec_init(rv_vec *v, int64_t idx, int64_t count, int64_t lanes,
                        const ccnn_conv2d_dims *d)
{
    const int64_t nx = (d->q + lanes - 1) / lanes;
    if (idx >= count) {
        v->y = v->x0 = v->len = 0;
        for (int64_t t = 0; t < d->r * d->s; t++) { v->off[t] = 0; v->mask[t] = 0; }
        return;
    }
    v->y = idx / nx;
    v->x0 = (idx % nx) * lanes;
    v->len = d->q - v->x0 < lanes ? d->q - v->x0 : lanes;
    for (int64_t r = 0; r < d->r; r++) {
        const int64_t iy = v->y - d->pad_top + r;
        for (int64_t s = 0; s < d->s; s++) {
            const int64_t t = r * d->s + s;
            const int64_t ix = v->x0 - d->pad_left + s;   /* input column of lane 0 */
            /* lanes l < len with 0 <= ix + l < w */
            int64_t lo = -ix, hi = d->w - ix;
            lo = lo < 0 ? 0 : lo;
            hi = hi > v->len ? v->len : hi;
            const uint32_t m = iy >= 0 && iy < d->h && lo < hi
                ? (uint32_t)(((1u << hi) - 1u) & ~((1u << lo) - 1u)) : 0u;
            v->mask[t] = m;
            v->off[t] = m ? iy * d->w + ix : 0;
        }
    }
}

#ifdef RV_X86
/* The micro-kernel, one body for both types (V the zmm type, MASK its lane
 * mask, P the intrinsics' suffix): out rows k0..k0+M-1 (o0 / o1: the two
 * vectors' first elements in row k0; rows pq apart) = bias + the M x crs
 * panel a (r*s, c, M) times the two vectors' windows of the c planes of one
 * image x (c, hw), summed tap by tap (each tap over the channels), ReLU with
 * relu. */
#define RV_FMA(i, P) do { if (M > (i)) { const __typeof__(b0) wi = _mm512_set1_##P(a[i]);                \
        c##i = _mm512_fmadd_##P(wi, b0, c##i); e##i = _mm512_fmadd_##P(wi, b1, e##i); } } while (0)
#define RV_STORE(i, P) do { if (M > (i)) {                                                  \
        __typeof__(c0) u = c##i, z = e##i;                                                            \
        if (bias) { const __typeof__(c0) bi = _mm512_set1_##P(bias[i]);                                  \
                    u = _mm512_add_##P(u, bi); z = _mm512_add_##P(z, bi); }                  \
        if (relu) { u = _mm512_max_##P(zero, u); z = _mm512_max_##P(zero, z); }            \
        if (s0) _mm512_mask_storeu_##P(o0 + (i) * pq, s0, u);                               \
        if (s1) _mm512_mask_storeu_##P(o1 + (i) * pq, s1, z); } } while (0)
#define RV_ALL(X, P) X(0, P); X(1, P); X(2, P); X(3, P); X(4, P); X(5, P); X(6, P);         \
        X(7, P); X(8, P); X(9, P); X(10, P); X(11, P)
#define RV_BODY(NAME, T, V, MASK, P)                                                         \
    __attribute__((target("avx512f"), always_inline))                                        \
    static inline void NAME##_m(T *restrict o0, T *restrict o1, const T *restrict x,         \
                                const T *restrict a, const T *bias, const rv_vec *v0,        \
                                const rv_vec *v1, int64_t c, int64_t hw, int64_t taps,       \
                                int64_t pq, const int M, int relu)                           \
    {                                                                                        \
        V c0 = _mm512_setzero_##P(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,   \
          c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;                                     \
        V e0 = c0, e1 = c0, e2 = c0, e3 = c0, e4 = c0, e5 = c0, e6 = c0, e7 = c0, e8 = c0,   \
          e9 = c0, e10 = c0, e11 = c0;                                                       \
        for (int64_t t = 0; t < taps; t++) {                                                 \
            /* masked-off lanes are neither read nor faulted on; a tap whose window is   \
             * all padding has mask 0 and offset 0 */                                        \
            const MASK m0 = (MASK)v0->mask[t], m1 = (MASK)v1->mask[t];                       \
            const T *p0 = x + v0->off[t], *p1 = x + v1->off[t];                              \
            for (int64_t ci = 0; ci < c; ci++) {                                             \
                const V b0 = _mm512_maskz_loadu_##P(m0, p0);                                 \
                const V b1 = _mm512_maskz_loadu_##P(m1, p1);                                 \
                RV_ALL(RV_FMA, P);                                                           \
                a += M;                                                                      \
                p0 += hw;                                                                    \
                p1 += hw;                                                                    \
            }                                                                                \
        }                                                                                    \
        const V zero = _mm512_setzero_##P();                                                 \
        const MASK s0 = (MASK)((1u << v0->len) - 1u), s1 = (MASK)((1u << v1->len) - 1u);     \
        RV_ALL(RV_STORE, P);                                                                 \
    }                                                                                        \
    __attribute__((target("avx512f")))                                                       \
    static void NAME(T *o0, T *o1, const T *x, const T *a, const T *bias, const rv_vec *v0,  \
                     const rv_vec *v1, int64_t c, int64_t hw, int64_t taps, int64_t pq,      \
                     int64_t mr, int relu)                                                   \
    {                                                                                        \
        switch (mr) {                                                                        \
        RV_CASE(NAME, 12); RV_CASE(NAME, 11); RV_CASE(NAME, 10); RV_CASE(NAME, 9);           \
        RV_CASE(NAME, 8); RV_CASE(NAME, 7); RV_CASE(NAME, 6); RV_CASE(NAME, 5);              \
        RV_CASE(NAME, 4); RV_CASE(NAME, 3); RV_CASE(NAME, 2);                                \
        default: NAME##_m(o0, o1, x, a, bias, v0, v1, c, hw, taps, pq, 1, relu); break;      \
        }                                                                                    \
    }
#define RV_CASE(NAME, m) case m: NAME##_m(o0, o1, x, a, bias, v0, v1, c, hw, taps, pq, m, relu); break
RV_BODY(rv_kernel_f32, float, __m512, __mmask16, ps)
RV_BODY(rv_kernel_f64, double, __m512d, __mmask8, pd)
#undef RV_BODY
#undef RV_CASE
#undef RV_FMA
#undef RV_STORE
#undef RV_ALL
#endif /* RV_X86 */

#define CCNN_TEMPLATE "conv2d_rowvec.c"
#include "ccnn_template.h"

#else /* ---- typed bodies, REAL = float or double ---------------------------- */


/* conv2d_rowvec_forward_f32 / _f64: out (n, k, p, q) = conv(inp (n, c, h, w),
 * weight (k, c, r, s)) + bias (k, or NULL), ReLU with `relu`; d must be
 * ccnn_conv2d_rowvec_eligible.  CCNN_ENOMEM: the weight panel's workspace;
 * CCNN_EBADARG: not eligible (nothing written). */
int SUF(conv2d_rowvec_forward)(REAL *out, const REAL *inp, const REAL *weight,
                               const REAL *bias, const ccnn_conv2d_dims *d, int relu,
                               int nthreads)
{
#ifdef RV_X86
    if (!ccnn_conv2d_rowvec_eligible(d, (int64_t)sizeof(REAL))) return CCNN_EBADARG;
    const int64_t N = d->n, C = d->c, K = d->k, taps = d->r * d->s, crs = C * taps;
    const int64_t hw = d->h * d->w, pq = d->p * d->q;
    const int64_t lanes = sizeof(REAL) == 4 ? 16 : 8;
    const int64_t nvec = d->p * ((d->q + lanes - 1) / lanes), npairs = (nvec + 1) / 2;
    const int64_t nb = rv_nblocks(K);
    if (N == 0) return CCNN_OK;
    /* the panels: block b (rows k0..k0+mr-1) at a + k0 * crs, as (r*s, c, mr) */
    REAL *a = (REAL *)ccnn_workspace(CCNN_WS_CONV2, sizeof(REAL) * (size_t)(K * crs));
    if (!a) return CCNN_ENOMEM;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t k0 = rv_block_start(K, b), mr = rv_block_start(K, b + 1) - k0;
        REAL *panel = a + k0 * crs;
        for (int64_t m = 0; m < mr; m++)
            for (int64_t ci = 0; ci < C; ci++)
                for (int64_t t = 0; t < taps; t++)
                    panel[(t * C + ci) * mr + m] = weight[(k0 + m) * crs + ci * taps + t];
    }
    const int nt = ccnn_threads_for(nthreads, N * K * pq * crs);
    /* fewer images than threads: each image's pairs in chunks */
    int64_t chunks = 1;
    if (N < nt) {
        chunks = (2 * (int64_t)nt + N - 1) / N;
        if (chunks > npairs) chunks = npairs;
    }
    const int64_t units = N * chunks;
    (void)nt;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t u = 0; u < units; u++) {
        const int64_t img = u / chunks, ch = u % chunks;
        const int64_t lo = ch * npairs / chunks, hi = (ch + 1) * npairs / chunks;
        const REAL *x = inp + img * C * hw;
        REAL *y = out + img * K * pq;
        rv_vec v0, v1;
        for (int64_t b = 0; b < nb; b++) {     /* the block's panel stays in L1 */
            const int64_t k0 = rv_block_start(K, b), mr = rv_block_start(K, b + 1) - k0;
            REAL *yk = y + k0 * pq;
            for (int64_t pr = lo; pr < hi; pr++) {
                rv_vec_init(&v0, 2 * pr, nvec, lanes, d);
                rv_vec_init(&v1, 2 * pr + 1, nvec, lanes, d);
                SUF(rv_kernel)(yk + v0.y * d->q + v0.x0, yk + v1.y * d->q + v1.x0, x,
                               a + k0 * crs, bias ? bias + k0 : NULL, &v0, &v1, C, hw, taps,
                               pq, mr, relu);
            }
        }
    }
    return CCNN_OK;
#else
    (void)out; (void)inp; (void)weight; (void)bias; (void)d; (void)relu; (void)nthreads;
    return CCNN_EBADARG;
#endif
}

#endif /* REAL */
