/* conv2d_wgrad.c -- the conv2d weight gradient of the GEMM path, without an
 * im2col copy:
 *
 *     dW[k, j] = sum_n sum_{p,q} xpad[n, c, p*sh + r*dh, q*sw + s*dw] * dy[n, k, p, q],
 *     j = (c, r, s)
 *
 * a GEMM dW^T (crs x k) = im2col(x) (crs x pq) * dy^T (pq x k) whose im2col
 * operand is never packed: the micro-kernel broadcasts each image value
 * straight from the zero-framed image (conv2d_gemm_pad_image), row j of
 * im2col being a strided walk of channel c from offset r*dh*wp + s*dw.  Only
 * dy[n] is repacked, transposed once per image to dyt (pq, kp) (kp: k rounded
 * up to a vector), which every tile reads; each image value is used for 2
 * vectors of k.  Register tiles: up to JR rows j (9 with AVX-512: a 3x3
 * channel's rows; 6 with AVX2) x 2 vectors of k (32 floats / 16 doubles with
 * AVX-512), accumulated over blocks of output rows (their dyt in L1) into a
 * (crs, kp) sum, then added to the next block's.  gemm.c's micro-kernel
 * choice (CCNN_GEMM_ISA) picks AVX-512, AVX2+FMA or portable C here too.
 *
 * Work split (every element summed in an order that depends on the shape
 * only, never on the thread count):
 *   groups  G = min(n, 8) fixed groups of images, each summing its images in
 *           order into a (crs, kp) partial of its own, the partials added in
 *           group order (no two threads transpose the same dy[n]);
 *   rows    when those partials would be large (big crs x k): the crs rows in
 *           blocks of JR, every thread walking all images (each transposes
 *           every dy[n], cheap next to its share of the products then).
 *
 * The typed bodies, at the bottom, are instantiated for float and double by
 * ccnn_template.h.
 */
#ifndef REAL
#include <stdlib.h>
#include <string.h>
#include "conv2d_internal.h"
#include "layout.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WG_X86 1
#endif

/* the widest tile: rows j (the AVX-512 kernels; AVX2: 6) */
#define WG_JR_MAX 9
/* output pixels per block (whole output rows): its dyt rows (pixels x 2
 * vectors) stay in L2.  Measured (AVX-512, float32, 1 thread, batch 64, ms):
 * c = k = 32 at 28x28 blocks of 96 pixels 7.29, 200 6.79, whole images 6.63;
 * c = k = 64 at 14x14 7.56 / 7.16 / 7.16 -- L1-sized blocks lose more to
 * the tiles' loads and stores of their sums than they gain. */
#define WG_BLOCK_PIXELS 1024
/* the groups split's partials, bytes at most (else the rows split) */
#define WG_PARTIAL_BYTES ((int64_t)8 << 20)

enum { WG_GENERIC = 0, WG_AVX2 = 1, WG_AVX512 = 2 };

/* gemm.c's micro-kernel family (ccnn_gemm_kernel_name): the same choice here */
static int wg_isa(void)
{
    const char *name = ccnn_gemm_kernel_name();
    if (strncmp(name, "avx512", 6) == 0) return WG_AVX512;
    if (strncmp(name, "avx2", 4) == 0) return WG_AVX2;
    return WG_GENERIC;
}

/* rows per tile */
static int wg_jr(int isa) { return isa == WG_AVX512 ? 9 : 6; }

#ifdef WG_X86
/* acc (M rows of ldacc, NV vectors each) += sum over np output rows of Q
 * pixels: x_i[q * sw] (x_i = x + off[i] + p * rowstep) * b[pixel, 0 .. NV
 * vectors); b: (pixels, ldb).  One body for every ISA and type: V the
 * vector type, P the intrinsics' prefix, S their suffix; named accumulators
 * (an array would be spilled). */
#define WG_ROW(i, V, P, S, LANES)                                                          \
    if (M > (i)) {                                                                         \
        const V a = P##_set1_##S(xr[i][q * sw]);                                           \
        c##i##0 = P##_fmadd_##S(a, b0, c##i##0);                                           \
        if (NV > 1) c##i##1 = P##_fmadd_##S(a, b1, c##i##1);                               \
    }
#define WG_LOAD(i, V, P, S, LANES)                                                         \
    if (M > (i)) {                                                                         \
        c##i##0 = P##_loadu_##S(acc + (i) * ldacc);                                        \
        if (NV > 1) c##i##1 = P##_loadu_##S(acc + (i) * ldacc + LANES);                    \
    }
#define WG_STORE(i, V, P, S, LANES)                                                        \
    if (M > (i)) {                                                                         \
        P##_storeu_##S(acc + (i) * ldacc, c##i##0);                                        \
        if (NV > 1) P##_storeu_##S(acc + (i) * ldacc + LANES, c##i##1);                    \
    }
#define WG_ALL(X, ...) X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(2, __VA_ARGS__) X(3, __VA_ARGS__) \
    X(4, __VA_ARGS__) X(5, __VA_ARGS__) X(6, __VA_ARGS__) X(7, __VA_ARGS__) X(8, __VA_ARGS__)

#define WG_BODY(NAME, TARGET, T, V, P, S, LANES)                                           \
    __attribute__((target(TARGET), always_inline))                                         \
    static inline void NAME(const int M, const int NV, const T *x, const int64_t *off,     \
                            int64_t np, int64_t Q, int64_t sw, int64_t rowstep,            \
                            const T *restrict b, int64_t ldb, T *restrict acc,             \
                            int64_t ldacc)                                                 \
    {                                                                                      \
        V c00 = P##_setzero_##S(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;  \
        V c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                \
        V c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00;                \
        const T *xr[WG_JR_MAX];                                                            \
        for (int i = 0; i < WG_JR_MAX; i++) xr[i] = x + off[i < M ? i : 0];                \
        WG_ALL(WG_LOAD, V, P, S, LANES)                                                    \
        for (int64_t p = 0; p < np; p++) {                                                 \
            for (int64_t q = 0; q < Q; q++, b += ldb) {                                    \
                const V b0 = P##_loadu_##S(b);                                             \
                const V b1 = NV > 1 ? P##_loadu_##S(b + LANES) : b0;                       \
                WG_ALL(WG_ROW, V, P, S, LANES)                                             \
            }                                                                              \
            for (int i = 0; i < WG_JR_MAX; i++) xr[i] += rowstep;                          \
        }                                                                                  \
        WG_ALL(WG_STORE, V, P, S, LANES)                                                   \
    }

WG_BODY(wg_avx512_f32_m, "avx512f", float, __m512, _mm512, ps, 16)
WG_BODY(wg_avx512_f64_m, "avx512f", double, __m512d, _mm512, pd, 8)
WG_BODY(wg_avx2_f32_m, "avx2,fma", float, __m256, _mm256, ps, 8)
WG_BODY(wg_avx2_f64_m, "avx2,fma", double, __m256d, _mm256, pd, 4)

/* the instantiations for M = 1 .. JR rows and NV = 1, 2 vectors */
#define WG_CASE(BODY, m)                                                                   \
    case m:                                                                                \
        if (nv > 1) BODY(m, 2, x, off, np, Q, sw, rowstep, b, ldb, acc, ldacc);            \
        else BODY(m, 1, x, off, np, Q, sw, rowstep, b, ldb, acc, ldacc);                   \
        break;
#define WG_DISPATCH(NAME, TARGET, T, BODY)                                                 \
    __attribute__((target(TARGET))) static void NAME(int m, int nv, const T *x,            \
                                                     const int64_t *off, int64_t np,       \
                                                     int64_t Q, int64_t sw, int64_t rowstep, \
                                                     const T *b, int64_t ldb, T *acc,      \
                                                     int64_t ldacc)                        \
    {                                                                                      \
        switch (m) {                                                                       \
        WG_CASE(BODY, 9) WG_CASE(BODY, 8) WG_CASE(BODY, 7) WG_CASE(BODY, 6)                \
        WG_CASE(BODY, 5) WG_CASE(BODY, 4) WG_CASE(BODY, 3) WG_CASE(BODY, 2)                \
        default: WG_CASE(BODY, 1)                                                          \
        }                                                                                  \
    }
WG_DISPATCH(wg_avx512_f32, "avx512f", float, wg_avx512_f32_m)
WG_DISPATCH(wg_avx512_f64, "avx512f", double, wg_avx512_f64_m)
WG_DISPATCH(wg_avx2_f32, "avx2,fma", float, wg_avx2_f32_m)
WG_DISPATCH(wg_avx2_f64, "avx2,fma", double, wg_avx2_f64_m)
#undef WG_CASE
#undef WG_DISPATCH
#undef WG_BODY
#undef WG_ALL
#undef WG_ROW
#undef WG_LOAD
#undef WG_STORE
#endif /* WG_X86 */

#define CCNN_TEMPLATE "conv2d_wgrad.c"
#include "ccnn_template.h"

#else /* ---- typed bodies, REAL = float or double ---------------------------- */

/* Lanes of a vector of REAL for the ISA (generic: 8). */
static int64_t SUF(wg_lanes)(int isa)
{
    const int64_t bytes = isa == WG_AVX512 ? 64 : isa == WG_AVX2 ? 32 : 8 * (int64_t)sizeof(REAL);
    return bytes / (int64_t)sizeof(REAL);
}

/* The portable tile: as the intrinsics' (above), nv vectors of `lanes`. */
static CCNN_DISPATCH void SUF(wg_generic)(int m, int nv, int64_t lanes, const REAL *x,
                                          const int64_t *off, int64_t np, int64_t Q, int64_t sw,
                                          int64_t rowstep, const REAL *restrict b, int64_t ldb,
                                          REAL *restrict acc, int64_t ldacc)
{
    const int64_t w = nv * lanes;   /* <= 16 */
    REAL c[WG_JR_MAX][16];
    for (int i = 0; i < m; i++)
        for (int64_t l = 0; l < w; l++) c[i][l] = acc[i * ldacc + l];
    for (int64_t p = 0; p < np; p++)
        for (int64_t q = 0; q < Q; q++, b += ldb)
            for (int i = 0; i < m; i++) {
                const REAL a = x[off[i] + p * rowstep + q * sw];
                #pragma omp simd
                for (int64_t l = 0; l < w; l++) c[i][l] += a * b[l];
            }
    for (int i = 0; i < m; i++)
        for (int64_t l = 0; l < w; l++) acc[i * ldacc + l] = c[i][l];
}

/* acc (rows j0 .. j1 of (crs, kp)) += the products of one image: xpad its
 * framed channels (off[j] - shift: row j's first element in it), dyt (pq, kp) its
 * transposed dy; blocks of output rows, within each every vector pair of k,
 * within that every tile of rows. */
static void SUF(wg_image)(REAL *acc, const REAL *xpad, const REAL *dyt, const int64_t *off,
                          int64_t shift, int64_t j0, int64_t j1, int64_t kp,
                          const ccnn_conv2d_dims *d, int64_t wp, int isa)
{
    const int64_t P = d->p, Q = d->q, sw = d->stride_w, rowstep = d->stride_h * wp;
    const int64_t lanes = SUF(wg_lanes)(isa), jr = wg_jr(isa);
    int64_t pb = WG_BLOCK_PIXELS / Q;
    if (pb < 1) pb = 1;
    for (int64_t p0 = 0; p0 < P; p0 += pb) {
        const int64_t np = P - p0 < pb ? P - p0 : pb;
        for (int64_t k0 = 0; k0 < kp; k0 += 2 * lanes) {
            const int nv = kp - k0 >= 2 * lanes ? 2 : 1;
            const REAL *b = dyt + p0 * Q * kp + k0;
            for (int64_t j = j0; j < j1; j += jr) {
                const int m = (int)(j1 - j < jr ? j1 - j : jr);
                REAL *a = acc + j * kp + k0;
                int64_t o[WG_JR_MAX];   /* the tile's rows, at output row p0 */
                for (int i = 0; i < m; i++) o[i] = off[j + i] - shift + p0 * rowstep;
                const REAL *x = xpad;
#ifdef WG_X86
                if (isa == WG_AVX512) {
                    SUF(wg_avx512)(m, nv, x, o, np, Q, sw, rowstep, b, kp, a, kp);
                    continue;
                }
                if (isa == WG_AVX2) {
                    SUF(wg_avx2)(m, nv, x, o, np, Q, sw, rowstep, b, kp, a, kp);
                    continue;
                }
#endif
                SUF(wg_generic)(m, nv, lanes, x, o, np, Q, sw, rowstep, b, kp, a, kp);
            }
        }
    }
}

/* dyt (pq, kp) <- dy (k, pq) transposed, columns k .. kp-1 zero */
static void SUF(wg_transpose)(REAL *restrict dyt, const REAL *restrict dy, int64_t K, int64_t PQ,
                              int64_t kp)
{
    if (kp == K) {
        SUF(ccnn_transpose_batched)(dyt, dy, 1, K, PQ, 1);
        return;
    }
    for (int64_t e = 0; e < PQ; e++) {
        for (int64_t k = 0; k < K; k++) dyt[e * kp + k] = dy[k * PQ + e];
        for (int64_t k = K; k < kp; k++) dyt[e * kp + k] = 0;
    }
}

/* conv2d_wgrad_backward_f32, conv2d_wgrad_backward_f64:
 * dweight (k, c, r, s) <- the weight gradient (overwritten) of dout (n, k, p, q)
 * and inp (n, c, h, w) -- any geometry d.  Workspaces: CCNN_WS_CONV of the
 * calling thread (the sums, shared), per thread CCNN_WS_CONV2 (the framed
 * image) and CCNN_WS_WINO (dyt). */
int SUF(conv2d_wgrad_backward)(REAL *dweight, const REAL *dout, const REAL *inp,
                               const ccnn_conv2d_dims *d, int nthreads)
{
    const int64_t N = d->n, C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s;
    const int64_t PQ = d->p * d->q, CRS = C * R * S, isz = (int64_t)sizeof(REAL);
    const int isa = wg_isa();
    const int64_t lanes = SUF(wg_lanes)(isa), jr = wg_jr(isa);
    const int64_t kp = (K + lanes - 1) / lanes * lanes;
    int64_t hp, wp;
    conv2d_padded_extent(d, &hp, &wp);
    if (N == 0) {   /* no images: empty sums */
        memset(dweight, 0, sizeof(REAL) * (size_t)(K * CRS));
        return CCNN_OK;
    }
    int64_t G = N < 8 ? N : 8;
    const int rows = G * CRS * kp * isz > WG_PARTIAL_BYTES;
    if (rows) G = 1;
    const int64_t blocks = (CRS + jr - 1) / jr;   /* rows split: tiles of jr rows */
    int nt = ccnn_threads_for(nthreads, N * K * PQ * CRS);
    if (nt > (rows ? blocks : G)) nt = (int)(rows ? blocks : G);
    (void)nt;
    /* the sums (G, crs, kp), then off (crs): row j's offset in its image's frame */
    char *ws = (char *)ccnn_workspace(CCNN_WS_CONV, (size_t)(G * CRS * kp * isz) +
                                                    sizeof(int64_t) * (size_t)CRS);
    if (!ws) return CCNN_ENOMEM;
    REAL *part = (REAL *)(void *)ws;
    int64_t *off = (int64_t *)(void *)(ws + G * CRS * kp * isz);
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t s = 0; s < S; s++)
                off[(c * R + r) * S + s] = (c * hp + r * d->dil_h) * wp + s * d->dil_w;
    memset(part, 0, (size_t)(G * CRS * kp * isz));
    int err = CCNN_OK;
    if (rows) {
        #pragma omp parallel num_threads(nt)
        {
            int64_t tid, nthr;
            ccnn_team(&tid, &nthr);
            const int64_t j0 = (blocks * tid / nthr) * jr, j1t = (blocks * (tid + 1) / nthr) * jr;
            const int64_t j1 = j1t < CRS ? j1t : CRS;
            /* the channels these rows read: c0 .. c1 */
            const int64_t c0 = j0 / (R * S), c1 = j1 > j0 ? (j1 - 1) / (R * S) : c0;
            REAL *dyt = (REAL *)ccnn_workspace(CCNN_WS_WINO, sizeof(REAL) * (size_t)(PQ * kp));
            for (int64_t n = 0; n < N && j1 > j0; n++) {
                const REAL *xpad = SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV2, inp + n * C * H * W, d,
                                                              c0, c1 - c0 + 1, hp, wp);
                if (!xpad || !dyt) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                    break;
                }
                SUF(wg_transpose)(dyt, dout + n * K * PQ, K, PQ, kp);
                SUF(wg_image)(part, xpad, dyt, off, c0 * hp * wp, j0, j1, kp, d, wp, isa);
            }
        }
    } else {
        #pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t g = 0; g < G; g++) {
            const int64_t n0 = g * N / G, n1 = (g + 1) * N / G;
            REAL *dyt = (REAL *)ccnn_workspace(CCNN_WS_WINO, sizeof(REAL) * (size_t)(PQ * kp));
            for (int64_t n = n0; n < n1; n++) {
                const REAL *xpad = SUF(conv2d_gemm_pad_image)(CCNN_WS_CONV2, inp + n * C * H * W, d,
                                                              0, C, hp, wp);
                if (!xpad || !dyt) {
                    #pragma omp atomic write
                    err = CCNN_ENOMEM;
                    break;
                }
                SUF(wg_transpose)(dyt, dout + n * K * PQ, K, PQ, kp);
                SUF(wg_image)(part + g * CRS * kp, xpad, dyt, off, 0, 0, CRS, kp, d, wp, isa);
            }
        }
    }
    if (err != CCNN_OK) return err;
    const int ntr = ccnn_threads_for(nthreads, K * CRS * G);
    (void)ntr;
    #pragma omp parallel for schedule(static) num_threads(ntr)
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < CRS; j++) {
            REAL acc = part[j * kp + k];
            for (int64_t g = 1; g < G; g++) acc += part[(g * CRS + j) * kp + k];
            dweight[k * CRS + j] = acc;
        }
    return CCNN_OK;
}

#endif /* REAL */
