/* gemm.c -- packed, register-blocked GEMM with implicit-im2col operands (see gemm.h).
 *
 * Loop nest (Goto / BLIS):  jc (NC columns of C) -> pc (KC of the inner
 * dimension; pack a KC x NC panel of B) -> ic (MC rows; pack an MC x KC block
 * of A) -> jr (NR) -> ir (MR) -> micro-kernel: an MR x NR tile of C kept in
 * registers for the whole KC loop.  When A is a single block (m <= MC, e.g. the
 * convolution forward with at most 96 filters) each KC x NR micro-panel of B
 * is packed just before its micro-kernels run instead, while it is in L1.
 *
 * Packing: an im2col operand is read from a zero-framed image, so each of its
 * rows is a strided line of that image broken only at output-row ends; the
 * AVX2 packers load 8 columns as one to three vector loads merged by lane
 * masks, and transpose 6 x 8 (A) or 8 x 8 (B = dy^T) blocks in registers.
 *
 * Micro-kernels, chosen once at run time (gemm_isa), the widest the CPU has:
 *   - AVX-512F intrinsics: one zmm of C per row (16 floats / 8 doubles, the
 *     same NR as AVX2, so every B packer is shared), tiles of 12 rows read
 *     from two 6-row A panels side by side (the last 13..18 rows as one tile
 *     of three panels; instantiated for each height 1..18), partial column
 *     panels through lane masks.  A panels are then all 6 rows but the last.
 *     Per k step and 12 rows: one B load, 12 FMAs with embedded broadcasts
 *     of A (a 6-row tile could not cover the FMA latency with one zmm per
 *     row).  The AVX2 packers serve this path too.
 *   - AVX2+FMA intrinsics (float 6x16, double 6x8; for each tile height 1..6).
 *   - a portable C kernel compiled with target_clones (the reference the
 *     others are tested against).
 * Only these functions carry target("avx512f") / target("avx2,fma"): the file
 * is compiled for baseline x86-64 and runs on any CPU.  CCNN_GEMM_ISA=avx2
 * (or =generic) and CCNN_GEMM_GENERIC=1 (the portable kernel, also without the
 * AVX2 packers) force a narrower path, read once; ccnn_gemm_kernel_name()
 * names the one in use (ccnn.show_config() prints it).  tests/test_gemm.py
 * runs every path in a subprocess.
 */
#ifndef REAL
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "kernels_common.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CCNN_X86 1
#endif

/* ---- per-thread workspaces: grow, never shrink, reused across calls, and
 * freed when their thread exits (a pthread key destructor).  Threads come and
 * go -- Python threads, and the OpenMP team each of them starts -- and each
 * would otherwise leave its buffers behind (about 2 MB of GEMM packing space
 * alone). ---- */
typedef struct {
    void *ptr[CCNN_WS_SLOTS];
    size_t size[CCNN_WS_SLOTS];
} ccnn_ws_set;

static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_err;

static void ws_free(void *p)
{
    ccnn_ws_set *ws = (ccnn_ws_set *)p;
    for (int i = 0; i < CCNN_WS_SLOTS; i++) free(ws->ptr[i]);
    free(ws);
}

static void ws_make_key(void) { ws_key_err = pthread_key_create(&ws_key, ws_free); }

void *ccnn_workspace(int slot, size_t bytes)
{
    if (pthread_once(&ws_once, ws_make_key) != 0 || ws_key_err != 0) return NULL;
    ccnn_ws_set *ws = (ccnn_ws_set *)pthread_getspecific(ws_key);
    if (!ws) {
        ws = (ccnn_ws_set *)calloc(1, sizeof *ws);
        if (!ws) return NULL;
        if (pthread_setspecific(ws_key, ws) != 0) {
            free(ws);
            return NULL;
        }
    }
    if (bytes == 0) bytes = 1;
    if (bytes > ws->size[slot]) {
        free(ws->ptr[slot]);
        ws->ptr[slot] = NULL;
        ws->size[slot] = 0;
        if (posix_memalign(&ws->ptr[slot], 64, bytes) != 0) {
            ws->ptr[slot] = NULL;
            return NULL;
        }
        ws->size[slot] = bytes;
    }
    return ws->ptr[slot];
}

/* The micro-kernel family in use, decided once: the widest the CPU has,
 * unless CCNN_GEMM_GENERIC=1 (the portable C kernel) or CCNN_GEMM_ISA
 * ("generic", "avx2"; "avx512", the default, picks the widest available)
 * asks for a narrower one. */
enum { GEMM_GENERIC = 0, GEMM_AVX2 = 1, GEMM_AVX512 = 2 };
static int gemm_isa_cached = -1;   /* -1: not decided yet */

static int gemm_isa(void)
{
    int isa = __atomic_load_n(&gemm_isa_cached, __ATOMIC_RELAXED);
    if (isa >= 0) return isa;
    isa = GEMM_GENERIC;
#ifdef CCNN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        isa = GEMM_AVX2;
        if (__builtin_cpu_supports("avx512f")) isa = GEMM_AVX512;
    }
#endif
    const char *want = getenv("CCNN_GEMM_ISA");
    if (want && strcmp(want, "avx2") == 0 && isa > GEMM_AVX2) isa = GEMM_AVX2;
    if (want && strcmp(want, "generic") == 0) isa = GEMM_GENERIC;
    const char *env = getenv("CCNN_GEMM_GENERIC");
    if (env && env[0] == '1') isa = GEMM_GENERIC;
    __atomic_store_n(&gemm_isa_cached, isa, __ATOMIC_RELAXED);
    return isa;
}

/* the AVX2 packers and (at least) the AVX2 micro-kernels */
static inline int fast_kernels(void) { return gemm_isa() >= GEMM_AVX2; }

/* the AVX-512 micro-kernels: tiles of up to 18 rows made of 6-row A panels */
static inline int wide_kernels(void) { return gemm_isa() == GEMM_AVX512; }

int ccnn_gemm_wide(void) { return wide_kernels(); }

const char *ccnn_gemm_kernel_name(void)
{
    switch (gemm_isa()) {
    case GEMM_AVX512: return "avx512f (f32 12x16, f64 12x8)";
    case GEMM_AVX2: return "avx2+fma (f32 6x16, f64 6x8)";
    default: return "generic C";
    }
}

#ifdef CCNN_X86
/* The AVX2 micro-kernels keep the 6 x 2 vector tile of C in twelve named
 * registers (an array would be spilled to the stack by GCC).  They are
 * instantiated for each row count M = 1..6 of the tile (rows past M are
 * neither computed nor stored), and either add the product to C or, with
 * `ow`, overwrite C with it (plus bias[i] on row i when bias is not NULL). */
#define ROW_FMA(i, fma, bcast, c0, c1)                                               \
    do { if (M > (i)) { const __typeof__(b0) ai = bcast(a + (i));                     \
                        c0 = fma(ai, b0, c0); c1 = fma(ai, b1, c1); } } while (0)
#define ROW_STORE(i, load, store, add, bset, c0, c1, half)                           \
    do { if (M > (i)) {                                                              \
        if (ow) { if (bias) { c0 = add(c0, bset(bias[i])); c1 = add(c1, bset(bias[i])); } \
                  store(c + (i) * ldc, c0); store(c + (i) * ldc + (half), c1); }     \
        else { store(c + (i) * ldc, add(load(c + (i) * ldc), c0));                   \
               store(c + (i) * ldc + (half), add(load(c + (i) * ldc + (half)), c1)); } } } while (0)

/* c (M x 16, ldc) (+)= a_packed (kc x 6, rows < M used) * b_packed (kc x 16) */
__attribute__((target("avx2,fma"), always_inline))
static inline void ukernel_avx2_f32_m(int64_t kc, const float *restrict a, const float *restrict b,
                                      float *restrict c, int64_t ldc, const int M, int ow,
                                      const float *bias)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    #pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        ROW_FMA(0, _mm256_fmadd_ps, _mm256_broadcast_ss, c00, c01);
        ROW_FMA(1, _mm256_fmadd_ps, _mm256_broadcast_ss, c10, c11);
        ROW_FMA(2, _mm256_fmadd_ps, _mm256_broadcast_ss, c20, c21);
        ROW_FMA(3, _mm256_fmadd_ps, _mm256_broadcast_ss, c30, c31);
        ROW_FMA(4, _mm256_fmadd_ps, _mm256_broadcast_ss, c40, c41);
        ROW_FMA(5, _mm256_fmadd_ps, _mm256_broadcast_ss, c50, c51);
        a += 6;
        b += 16;
    }
    ROW_STORE(0, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c00, c01, 8);
    ROW_STORE(1, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c10, c11, 8);
    ROW_STORE(2, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c20, c21, 8);
    ROW_STORE(3, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c30, c31, 8);
    ROW_STORE(4, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c40, c41, 8);
    ROW_STORE(5, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, _mm256_set1_ps, c50, c51, 8);
}

/* c (M x 8, ldc) (+)= a_packed (kc x 6, rows < M used) * b_packed (kc x 8) */
__attribute__((target("avx2,fma"), always_inline))
static inline void ukernel_avx2_f64_m(int64_t kc, const double *restrict a, const double *restrict b,
                                      double *restrict c, int64_t ldc, const int M, int ow,
                                      const double *bias)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256d c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
        const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
        ROW_FMA(0, _mm256_fmadd_pd, _mm256_broadcast_sd, c00, c01);
        ROW_FMA(1, _mm256_fmadd_pd, _mm256_broadcast_sd, c10, c11);
        ROW_FMA(2, _mm256_fmadd_pd, _mm256_broadcast_sd, c20, c21);
        ROW_FMA(3, _mm256_fmadd_pd, _mm256_broadcast_sd, c30, c31);
        ROW_FMA(4, _mm256_fmadd_pd, _mm256_broadcast_sd, c40, c41);
        ROW_FMA(5, _mm256_fmadd_pd, _mm256_broadcast_sd, c50, c51);
        a += 6;
        b += 8;
    }
    ROW_STORE(0, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c00, c01, 4);
    ROW_STORE(1, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c10, c11, 4);
    ROW_STORE(2, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c20, c21, 4);
    ROW_STORE(3, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c30, c31, 4);
    ROW_STORE(4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c40, c41, 4);
    ROW_STORE(5, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_add_pd, _mm256_set1_pd, c50, c51, 4);
}

/* the row-count instantiations: ukernel_avx2_<type>(kc, a, b, c, ldc, mr, ow, bias), 1 <= mr <= 6 */
#define UK_DISPATCH(T, NAME, BODY)                                                               \
    __attribute__((target("avx2,fma"))) static void NAME(int64_t kc, const T *restrict a,        \
                                                         const T *restrict b, T *restrict c,     \
                                                         int64_t ldc, int64_t mr, int ow,        \
                                                         const T *bias)                          \
    {                                                                                            \
        switch (mr) {                                                                            \
        case 6: BODY(kc, a, b, c, ldc, 6, ow, bias); break;                                            \
        case 5: BODY(kc, a, b, c, ldc, 5, ow, bias); break;                                            \
        case 4: BODY(kc, a, b, c, ldc, 4, ow, bias); break;                                            \
        case 3: BODY(kc, a, b, c, ldc, 3, ow, bias); break;                                            \
        case 2: BODY(kc, a, b, c, ldc, 2, ow, bias); break;                                            \
        default: BODY(kc, a, b, c, ldc, 1, ow, bias); break;                                           \
        }                                                                                        \
    }
UK_DISPATCH(float, ukernel_avx2_f32, ukernel_avx2_f32_m)
UK_DISPATCH(double, ukernel_avx2_f64, ukernel_avx2_f64_m)
#undef UK_DISPATCH
#undef ROW_FMA
#undef ROW_STORE

/* The AVX-512 micro-kernels: one zmm of C per row (16 floats or 8 doubles,
 * the NR of the AVX2 kernels, so the B packing is shared), M = 1..18 rows
 * read from up to three consecutive 6-row A panels (row i from panel i / 6,
 * column i % 6; panels are pstride = 6*kc elements apart).  Columns past nr
 * are neither loaded nor stored (lane masks). */
#define W_FMA(i, acc, set1, fma)                                                      \
    do { if (M > (i)) acc = fma(set1(((i) < 6 ? a0 : (i) < 12 ? a1 : a2)[(i) % 6]), b0, acc); } while (0)
#define W_STORE(i, acc, set1, add, mload, mstore)                                      \
    do { if (M > (i)) {                                                               \
        __typeof__(c) ci = c + (i) * ldc;                                             \
        if (ow) { if (bias) acc = add(acc, set1(bias[i])); mstore(ci, mask, acc); }   \
        else mstore(ci, mask, add(mload(mask, ci), acc)); } } while (0)
#define W_ALL(X, ...)                                                                  \
    X(0, c0, __VA_ARGS__); X(1, c1, __VA_ARGS__); X(2, c2, __VA_ARGS__);               \
    X(3, c3, __VA_ARGS__); X(4, c4, __VA_ARGS__); X(5, c5, __VA_ARGS__);               \
    X(6, c6, __VA_ARGS__); X(7, c7, __VA_ARGS__); X(8, c8, __VA_ARGS__);               \
    X(9, c9, __VA_ARGS__); X(10, c10, __VA_ARGS__); X(11, c11, __VA_ARGS__);           \
    X(12, c12, __VA_ARGS__); X(13, c13, __VA_ARGS__); X(14, c14, __VA_ARGS__);         \
    X(15, c15, __VA_ARGS__); X(16, c16, __VA_ARGS__); X(17, c17, __VA_ARGS__)

/* c (M x nr, ldc) (+)= a_panels (kc x 6 each, rows < M used) * b_packed (kc x LANES),
 * one body for both types: V the zmm type, MASK its lane mask, P the intrinsics' suffix */
#define UK512_BODY(NAME, T, V, MASK, LANES, P)                                               \
    __attribute__((target("avx512f"), always_inline))                                        \
    static inline void NAME(int64_t kc, const T *restrict a, const T *restrict b,            \
                            T *restrict c, int64_t ldc, const int M, int64_t nr, int ow,     \
                            const T *bias)                                                   \
    {                                                                                        \
        const T *a0 = a, *a1 = M > 6 ? a + 6 * kc : a, *a2 = M > 12 ? a + 12 * kc : a;        \
        const MASK mask = (MASK)((1u << nr) - 1u);                                           \
        V c0 = _mm512_setzero_##P(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;             \
        V c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;                            \
        V c12 = c0, c13 = c0, c14 = c0, c15 = c0, c16 = c0, c17 = c0;                        \
        _Pragma("GCC unroll 4")                                                              \
        for (int64_t p = 0; p < kc; p++) {                                                   \
            const V b0 = _mm512_loadu_##P(b);                                                \
            W_ALL(W_FMA, _mm512_set1_##P, _mm512_fmadd_##P);                                 \
            a0 += 6; a1 += 6; a2 += 6;                                                       \
            b += LANES;                                                                      \
        }                                                                                    \
        W_ALL(W_STORE, _mm512_set1_##P, _mm512_add_##P, _mm512_maskz_loadu_##P,              \
              _mm512_mask_storeu_##P);                                                       \
    }
UK512_BODY(ukernel_avx512_f32_m, float, __m512, __mmask16, 16, ps)
UK512_BODY(ukernel_avx512_f64_m, double, __m512d, __mmask8, 8, pd)
#undef UK512_BODY

/* the row-count instantiations: ukernel_avx512_<type>(kc, a, b, c, ldc, mr, nr, ow, bias),
 * 1 <= mr <= 18, 1 <= nr <= NR */
#define UK512_CASE(BODY, R) case R: BODY(kc, a, b, c, ldc, R, nr, ow, bias); break
#define UK512_DISPATCH(T, NAME, BODY)                                                            \
    __attribute__((target("avx512f"))) static void NAME(int64_t kc, const T *restrict a,          \
                                                        const T *restrict b, T *restrict c,      \
                                                        int64_t ldc, int64_t mr, int64_t nr,     \
                                                        int ow, const T *bias)                   \
    {                                                                                            \
        switch (mr) {                                                                            \
        UK512_CASE(BODY, 18); UK512_CASE(BODY, 17); UK512_CASE(BODY, 16); UK512_CASE(BODY, 15);  \
        UK512_CASE(BODY, 14); UK512_CASE(BODY, 13); UK512_CASE(BODY, 12); UK512_CASE(BODY, 11);  \
        UK512_CASE(BODY, 10); UK512_CASE(BODY, 9); UK512_CASE(BODY, 8); UK512_CASE(BODY, 7);     \
        UK512_CASE(BODY, 6); UK512_CASE(BODY, 5); UK512_CASE(BODY, 4); UK512_CASE(BODY, 3);      \
        UK512_CASE(BODY, 2);                                                                     \
        default: BODY(kc, a, b, c, ldc, 1, nr, ow, bias); break;                                 \
        }                                                                                        \
    }
UK512_DISPATCH(float, ukernel_avx512_f32, ukernel_avx512_f32_m)
UK512_DISPATCH(double, ukernel_avx512_f64, ukernel_avx512_f64_m)
#undef UK512_DISPATCH
#undef UK512_CASE
#undef W_ALL
#undef W_FMA
#undef W_STORE
#endif

/* ---- im2col column chunks: the packing routines walk the im2col columns 8 at
 * a time.  Column j of the operand reads xpad_row[colb(j)], colb(oh*Q + ow) =
 * oh*sh*wp + ow*sw; a chunk of 8 columns is made of up to 3 runs along an
 * output row, each a stride-sw line of xpad, so a vector kernel loads it as up
 * to 3 (strided) vector loads merged by lane masks.  Chunks of more runs, or
 * with fewer than 8 columns, take the scalar path through off[]. ---- */
#define CHUNK_RUNS 3
typedef struct {
    int32_t mask[CHUNK_RUNS][8];   /* mask[k][l] = -1 when lane l belongs to run k >= 1 */
    int64_t rel[CHUNK_RUNS];       /* run k: lane l reads xpad_row[rel[k] + l*sw] */
    int64_t off[8];                /* lane l reads xpad_row[off[l]] (l < nvalid) */
    int nruns;                     /* 1..CHUNK_RUNS, or 0: more (scalar path only) */
    int nvalid;                    /* lanes that are columns of the operand; the rest are 0 */
} ccnn_chunk8;

/* Rows of the next packed A panel when `rem` rows of a block are left.  For
 * the AVX2 and generic kernels a panel is a micro-tile: 6 rows, except that
 * the last 7..11 rows make two tiles of 3..6 rows -- a tile of 1 or 2 rows has
 * too few independent FMA chains to hide their latency, so 8 rows run faster
 * as 4 + 4 than as 6 + 2.  The AVX-512 kernels read several 6-row panels as
 * one tile (kernel_rows), so there only the last panel is shorter. */
static inline int64_t tile_rows(int64_t rem)
{
    if (wide_kernels()) return rem < 6 ? rem : 6;
    if (rem <= 6) return rem;
    return rem >= 12 ? 6 : (rem + 1) / 2;
}

/* Rows of the next micro-kernel call when `rem` rows of a block are left: one
 * panel (tile_rows), or for the AVX-512 kernels 12 rows (two panels), the
 * last 13..18 rows as one tile (18 accumulators and one B vector still fit
 * the 32 zmm registers).  A call of mr rows reads ceil(mr / 6) panels.  isa:
 * gemm_isa(), read once per GEMM by the caller. */
static inline int64_t kernel_rows(int64_t rem, int isa)
{
    if (isa == GEMM_AVX512) return rem <= 18 ? rem : 12;
    return tile_rows(rem);
}

/* ch[0 .. nchunks) <- the chunks of im2col columns col0 .. col0+ncols-1
 * (chunks past the last column have no valid lanes) */
static void make_chunks(ccnn_chunk8 *ch, int64_t nchunks, const ccnn_conv2d_dims *d, int64_t wp,
                        int64_t col0, int64_t ncols)
{
    const int64_t Q = d->q, sw = d->stride_w, shw = d->stride_h * wp;
    int64_t oh = col0 / Q, ow = col0 % Q;
    for (int64_t j0 = 0; j0 < 8 * nchunks; j0 += 8, ch++) {
        const int nvalid = (int)(ncols - j0 < 8 ? (ncols - j0 > 0 ? ncols - j0 : 0) : 8);
        int nruns = 0;
        memset(ch->mask, 0, sizeof ch->mask);
        for (int l = 0; l < nvalid; l++) {
            const int64_t off = oh * shw + ow * sw;
            ch->off[l] = off;
            if (l == 0 || off != ch->off[l - 1] + sw) {          /* a new run starts */
                if (nruns < CHUNK_RUNS) ch->rel[nruns] = off - l * sw;
                nruns++;
            }
            if (nruns >= 2 && nruns <= CHUNK_RUNS) ch->mask[nruns - 1][l] = -1;
            if (++ow == Q) { ow = 0; oh++; }
        }
        for (int l = nvalid; l < 8; l++) ch->off[l] = 0;
        ch->nruns = nruns <= CHUNK_RUNS && nvalid == 8 ? nruns : 0;
        ch->nvalid = nvalid;
    }
}

/* ch[0 .. ceil(ncols/8)) <- chunks of the columns 0 .. ncols-1 of a row-major row */
static void make_chunks_contiguous(ccnn_chunk8 *ch, int64_t ncols)
{
    for (int64_t j0 = 0; j0 < ncols; j0 += 8, ch++) {
        const int nvalid = (int)(ncols - j0 < 8 ? ncols - j0 : 8);
        memset(ch->mask, 0, sizeof ch->mask);
        ch->rel[0] = j0;
        for (int l = 0; l < 8; l++) ch->off[l] = l < nvalid ? j0 + l : 0;
        ch->nruns = nvalid == 8 ? 1 : 0;
        ch->nvalid = nvalid;
    }
}

/* off[i] = offset in xpad of im2col row row0 + i: (c*hp + r*dh)*wp + s*dw */
static void make_rowoffs(int64_t *off, const ccnn_conv2d_dims *d, int64_t hp, int64_t wp,
                         int64_t row0, int64_t nrows)
{
    const int64_t R = d->r, S = d->s;
    int64_t c = row0 / (R * S), r = (row0 / S) % R, s = row0 % S;
    for (int64_t i = 0; i < nrows; i++) {
        off[i] = (c * hp + r * d->dil_h) * wp + s * d->dil_w;
        if (++s == S) { s = 0; if (++r == R) { r = 0; c++; } }
    }
}

#ifdef CCNN_X86
/* lane l of the chunk ch of the row at src (see ccnn_chunk8); sw is 1 or 2 and
 * ch->nruns >= 1.  Lanes of other runs are loaded too (from within the slack
 * around xpad) and masked away. */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 line_load(const float *p, int sw)
{
    if (sw == 1) return _mm256_loadu_ps(p);
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    const __m256 t = _mm256_shuffle_ps(a, b, 0x88);            /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}

__attribute__((target("avx2,fma"), always_inline))
static inline __m256 chunk_load(const float *src, const ccnn_chunk8 *ch, int sw)
{
    __m256 v = line_load(src + ch->rel[0], sw);
    if (ch->nruns > 1) {
        v = _mm256_blendv_ps(v, line_load(src + ch->rel[1], sw),
                             _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)ch->mask[1])));
        if (ch->nruns > 2)
            v = _mm256_blendv_ps(v, line_load(src + ch->rel[2], sw),
                                 _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)ch->mask[2])));
    }
    return v;
}

/* scalar twin of chunk_load for any chunk: 0 in lanes >= nvalid */
__attribute__((target("avx2,fma"), always_inline))
static inline __m256 chunk_load_scalar(const float *src, const ccnn_chunk8 *ch)
{
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int l = 0; l < ch->nvalid; l++) t[l] = src[ch->off[l]];
    return _mm256_loadu_ps(t);
}

/* bp (npanel panels of kc x 16) <- rows rowoff[0..kc) of the im2col operand at
 * xpad, columns of the chunks ch (two per panel) */
__attribute__((target("avx2,fma")))
static void pack_b_im2col_avx2_f32(float *restrict bp, const float *xpad,
                                   const int64_t *rowoff, const ccnn_chunk8 *ch,
                                   int64_t npanel, int64_t kc, int sw)
{
    for (int64_t jp = 0; jp < npanel; jp++, ch += 2, bp += 16 * kc) {
        const ccnn_chunk8 *c0 = ch, *c1 = ch + 1;
        if (c0->nruns == 1 && c1->nruns == 1 && c1->rel[0] == c0->rel[0] + 8 * sw) {
            /* one run: 16 consecutive (strided) elements per row */
            const int64_t rel = c0->rel[0];
            if (sw == 1) {
                for (int64_t p = 0; p < kc; p++) {
                    const float *src = xpad + rowoff[p] + rel;
                    _mm256_store_ps(bp + 16 * p, _mm256_loadu_ps(src));
                    _mm256_store_ps(bp + 16 * p + 8, _mm256_loadu_ps(src + 8));
                }
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    const float *src = xpad + rowoff[p] + rel;
                    _mm256_store_ps(bp + 16 * p, line_load(src, 2));
                    _mm256_store_ps(bp + 16 * p + 8, line_load(src + 16, 2));
                }
            }
            continue;
        }
        if (c0->nruns && c0->nruns <= 2 && c1->nruns && c1->nruns <= 2) {
            /* each half is one or two runs: two loads merged by a lane mask */
            const int64_t a0 = c0->rel[0], b0 = c0->nruns == 2 ? c0->rel[1] : a0;
            const int64_t a1 = c1->rel[0], b1 = c1->nruns == 2 ? c1->rel[1] : a1;
            const __m256 m0 = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)c0->mask[1]));
            const __m256 m1 = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)c1->mask[1]));
            if (sw == 1) {
                for (int64_t p = 0; p < kc; p++) {
                    const float *src = xpad + rowoff[p];
                    _mm256_store_ps(bp + 16 * p, _mm256_blendv_ps(_mm256_loadu_ps(src + a0),
                                                                  _mm256_loadu_ps(src + b0), m0));
                    _mm256_store_ps(bp + 16 * p + 8, _mm256_blendv_ps(_mm256_loadu_ps(src + a1),
                                                                      _mm256_loadu_ps(src + b1), m1));
                }
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    const float *src = xpad + rowoff[p];
                    _mm256_store_ps(bp + 16 * p, _mm256_blendv_ps(line_load(src + a0, 2),
                                                                  line_load(src + b0, 2), m0));
                    _mm256_store_ps(bp + 16 * p + 8, _mm256_blendv_ps(line_load(src + a1, 2),
                                                                      line_load(src + b1, 2), m1));
                }
            }
            continue;
        }
        for (int64_t p = 0; p < kc; p++) {
            const float *src = xpad + rowoff[p];
            __m256 v0, v1;
            if (c0->nruns) v0 = sw == 1 ? chunk_load(src, c0, 1) : chunk_load(src, c0, 2);
            else v0 = chunk_load_scalar(src, c0);
            if (c1->nruns) v1 = sw == 1 ? chunk_load(src, c1, 1) : chunk_load(src, c1, 2);
            else v1 = chunk_load_scalar(src, c1);
            _mm256_store_ps(bp + 16 * p, v0);
            _mm256_store_ps(bp + 16 * p + 8, v1);
        }
    }
}

/* Six rows r0..r5 of 8 columns -> the 8 columns at dst + 6*t, t = 0..7 (MR = 6 layout) */
__attribute__((target("avx2,fma"), always_inline))
static inline void store_6x8_transposed(float *dst, __m256 r0, __m256 r1, __m256 r2, __m256 r3,
                                        __m256 r4, __m256 r5)
{
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    /* column t: rows 0-3 in u[t % 4] (low half for t < 4), rows 4-5 in t4 / t5 */
    const __m128 e0 = _mm256_castps256_ps128(t4), e1 = _mm256_castps256_ps128(t5);
    const __m128 e2 = _mm256_extractf128_ps(t4, 1), e3 = _mm256_extractf128_ps(t5, 1);
    _mm_storeu_ps(dst + 0, _mm256_castps256_ps128(u0));  _mm_storel_pi((__m64 *)(dst + 4), e0);
    _mm_storeu_ps(dst + 6, _mm256_castps256_ps128(u1));  _mm_storeh_pi((__m64 *)(dst + 10), e0);
    _mm_storeu_ps(dst + 12, _mm256_castps256_ps128(u2)); _mm_storel_pi((__m64 *)(dst + 16), e1);
    _mm_storeu_ps(dst + 18, _mm256_castps256_ps128(u3)); _mm_storeh_pi((__m64 *)(dst + 22), e1);
    _mm_storeu_ps(dst + 24, _mm256_extractf128_ps(u0, 1)); _mm_storel_pi((__m64 *)(dst + 28), e2);
    _mm_storeu_ps(dst + 30, _mm256_extractf128_ps(u1, 1)); _mm_storeh_pi((__m64 *)(dst + 34), e2);
    _mm_storeu_ps(dst + 36, _mm256_extractf128_ps(u2, 1)); _mm_storel_pi((__m64 *)(dst + 40), e3);
    _mm_storeu_ps(dst + 42, _mm256_extractf128_ps(u3, 1)); _mm_storeh_pi((__m64 *)(dst + 46), e3);
}

/* ap (panels of kc x 6) <- rows i < mc (the row at base + rowoff[i]) and the kc
 * columns of the chunks ch; rows mc .. of the last panel are 0 */
__attribute__((target("avx2,fma"), always_inline))
static inline void pack_a_chunks_sw(float *restrict ap, const float *base, const int64_t *rowoff,
                                    const ccnn_chunk8 *ch, int64_t mc, int64_t kc, const int sw)
{
    for (int64_t ir = 0, mr; ir < mc; ir += mr, ap += 6 * kc) {
        mr = tile_rows(mc - ir);
        const float *s0 = base + rowoff[ir];
        const float *s1 = base + rowoff[ir + (mr > 1 ? 1 : 0)];
        const float *s2 = base + rowoff[ir + (mr > 2 ? 2 : 0)];
        const float *s3 = base + rowoff[ir + (mr > 3 ? 3 : 0)];
        const float *s4 = base + rowoff[ir + (mr > 4 ? 4 : 0)];
        const float *s5 = base + rowoff[ir + (mr > 5 ? 5 : 0)];
        for (int64_t p = 0, q = 0; p < kc; p += 8, q++) {
            const ccnn_chunk8 *c = ch + q;
            __m256 r0, r1, r2, r3, r4, r5;
            if (c->nruns == 1) {
                const int64_t rel = c->rel[0];
                r0 = line_load(s0 + rel, sw); r1 = line_load(s1 + rel, sw);
                r2 = line_load(s2 + rel, sw); r3 = line_load(s3 + rel, sw);
                r4 = line_load(s4 + rel, sw); r5 = line_load(s5 + rel, sw);
            } else if (c->nruns) {
                r0 = chunk_load(s0, c, sw); r1 = chunk_load(s1, c, sw);
                r2 = chunk_load(s2, c, sw); r3 = chunk_load(s3, c, sw);
                r4 = chunk_load(s4, c, sw); r5 = chunk_load(s5, c, sw);
            } else {
                r0 = chunk_load_scalar(s0, c); r1 = chunk_load_scalar(s1, c);
                r2 = chunk_load_scalar(s2, c); r3 = chunk_load_scalar(s3, c);
                r4 = chunk_load_scalar(s4, c); r5 = chunk_load_scalar(s5, c);
            }
            if (mr < 6) {   /* rows past mc are 0 (they were loaded from row 0) */
                const __m256 z = _mm256_setzero_ps();
                if (mr < 2) r1 = z;
                if (mr < 3) r2 = z;
                if (mr < 4) r3 = z;
                if (mr < 5) r4 = z;
                r5 = z;
            }
            if (c->nvalid == 8) {
                store_6x8_transposed(ap + 6 * p, r0, r1, r2, r3, r4, r5);
            } else {
                float t[48];
                store_6x8_transposed(t, r0, r1, r2, r3, r4, r5);
                memcpy(ap + 6 * p, t, sizeof(float) * 6 * (size_t)c->nvalid);
            }
        }
    }
}

__attribute__((target("avx2,fma")))
static void pack_a_chunks_avx2_f32(float *restrict ap, const float *base, const int64_t *rowoff,
                                   const ccnn_chunk8 *ch, int64_t mc, int64_t kc, int sw)
{
    if (sw == 1) pack_a_chunks_sw(ap, base, rowoff, ch, mc, kc, 1);
    else pack_a_chunks_sw(ap, base, rowoff, ch, mc, kc, 2);
}

/* 8x8 transpose of r[0..7] in place */
__attribute__((target("avx2,fma"), always_inline))
static inline void transpose8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* bp (panels of kc x 16) <- B[p, j] = src[j*cs + p] (a transposed row-major
 * matrix, e.g. dy^T), p < kc, j < nc; columns nc .. of the last panel are 0 */
__attribute__((target("avx2,fma")))
static void pack_b_trans_avx2_f32(float *restrict bp, const float *src, int64_t cs,
                                  int64_t kc, int64_t nc)
{
    for (int64_t jr = 0; jr < nc; jr += 16, bp += 16 * kc) {
        const int64_t nr = nc - jr < 16 ? nc - jr : 16;
        const float *row[16];
        for (int j = 0; j < 16; j++) row[j] = src + (jr + (j < nr ? j : nr - 1)) * cs;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 a[8], b[8];
            for (int j = 0; j < 8; j++) {
                a[j] = _mm256_loadu_ps(row[j] + p);
                b[j] = j + 8 < nr ? _mm256_loadu_ps(row[j + 8] + p) : _mm256_setzero_ps();
            }
            for (int j = (int)nr; j < 8; j++) a[j] = _mm256_setzero_ps();
            transpose8(a);
            transpose8(b);
            for (int t = 0; t < 8; t++) {
                _mm256_store_ps(bp + 16 * (p + t), a[t]);
                _mm256_store_ps(bp + 16 * (p + t) + 8, b[t]);
            }
        }
        if (p < kc) {   /* the last kc % 8 rows: the same transposes of masked loads */
            const int64_t rem = kc - p;
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256 a[8], b[8];
            for (int j = 0; j < 8; j++) {
                a[j] = j < nr ? _mm256_maskload_ps(row[j] + p, m) : _mm256_setzero_ps();
                b[j] = j + 8 < nr ? _mm256_maskload_ps(row[j + 8] + p, m) : _mm256_setzero_ps();
            }
            transpose8(a);
            transpose8(b);
            for (int64_t t = 0; t < rem; t++) {
                _mm256_store_ps(bp + 16 * (p + t), a[t]);
                _mm256_store_ps(bp + 16 * (p + t) + 8, b[t]);
            }
        }
    }
}

/* bp (panels of kc x 16) <- B[p, j] = src[p*rs + j] (a row-major matrix, e.g.
 * a Dense weight), p < kc, j < nc; columns nc .. of the last panel are 0:
 * two vector copies a row, the last panel's through a lane mask */
__attribute__((target("avx2,fma")))
static void pack_b_rows_avx2_f32(float *restrict bp, const float *src, int64_t rs,
                                 int64_t kc, int64_t nc)
{
    for (int64_t jr = 0; jr < nc; jr += 16, bp += 16 * kc) {
        const int64_t nr = nc - jr < 16 ? nc - jr : 16;
        const float *s0 = src + jr;
        if (nr == 16) {
            for (int64_t p = 0; p < kc; p++) {
                _mm256_store_ps(bp + 16 * p, _mm256_loadu_ps(s0 + p * rs));
                _mm256_store_ps(bp + 16 * p + 8, _mm256_loadu_ps(s0 + p * rs + 8));
            }
            continue;
        }
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lane);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lane);
        for (int64_t p = 0; p < kc; p++) {   /* masked lanes are neither read nor kept */
            _mm256_store_ps(bp + 16 * p, _mm256_maskload_ps(s0 + p * rs, m0));
            _mm256_store_ps(bp + 16 * p + 8, _mm256_maskload_ps(s0 + p * rs + 8, m1));
        }
    }
}
#endif

#define MR 6
#define KC 256
#define MC 96

#define REAL float
#define SUF(name) name##_f32
#define IS_F32 1
#define NR 16
#define NC 2048
#include "gemm.c"
#undef REAL
#undef SUF
#undef IS_F32
#undef NR
#undef NC

#define REAL double
#define SUF(name) name##_f64
#define IS_F32 0
#define NR 8
#define NC 1024
#include "gemm.c"
#undef REAL
#undef SUF
#undef IS_F32
#undef NR
#undef NC

int64_t ccnn_gemm_packed_a_elems(int64_t m, int64_t k)
{
    /* per block of k (pc), its ic blocks of MC rows (a multiple of MR) each
     * ceil(mc / MR) panels of kc x MR: ceil(m / MR) * MR * kc in all */
    return m <= 0 || k <= 0 ? 0 : (m + MR - 1) / MR * MR * k;
}

size_t ccnn_gemm_workspace_bytes(size_t itemsize)
{
    return itemsize == sizeof(float) ? gemm_workspace_bytes_f32() : gemm_workspace_bytes_f64();
}

#else /* ---- typed bodies: REAL, SUF, MR x NR tiles ------------------------- */

/* c (mr x nr, ldc) (+)= a_packed (kc x MR) * b_packed (kc x NR): portable kernel
 * (with `ow`, overwrites c with the product plus bias[i] on row i, bias may be NULL) */
static CCNN_DISPATCH void SUF(ukernel_generic)(int64_t kc, const REAL *restrict a,
                                               const REAL *restrict b, REAL *restrict c,
                                               int64_t ldc, int64_t mr, int64_t nr, int ow,
                                               const REAL *bias)
{
    REAL acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = 0;
    for (int64_t p = 0; p < kc; p++) {
        for (int i = 0; i < MR; i++) {
            const REAL ai = a[p * MR + i];
            #pragma omp simd
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[p * NR + j];
        }
    }
    for (int64_t i = 0; i < mr; i++) {
        const REAL c0 = ow && bias ? bias[i] : (REAL)0;
        for (int64_t j = 0; j < nr; j++) c[i * ldc + j] = (ow ? c0 : c[i * ldc + j]) + acc[i][j];
    }
}

/* c (mr x nr, ldc) (+)= one micro-tile: with `ow` C = A*B (+ bias[i] on row i
 * when bias is not NULL), else C += A*B.  a: the tile's first packed A panel;
 * mr <= 6 (one panel), or up to 18 for the AVX-512 kernels (see kernel_rows);
 * isa: gemm_isa(). */
__attribute__((always_inline))
static inline void SUF(ukernel)(int isa, int64_t kc, const REAL *a, const REAL *b, REAL *c,
                                int64_t ldc, int64_t mr, int64_t nr, int ow, const REAL *bias)
{
    (void)isa;
#ifdef CCNN_X86
    if (isa == GEMM_AVX512) {
        SUF(ukernel_avx512)(kc, a, b, c, ldc, mr, nr, ow, bias);
        return;
    }
    if (isa == GEMM_AVX2) {
        if (nr == NR) {
            SUF(ukernel_avx2)(kc, a, b, c, ldc, mr, ow, bias);
            return;
        }
        REAL tmp[MR * NR];   /* a partial column panel: compute into a buffer */
        SUF(ukernel_avx2)(kc, a, b, tmp, NR, mr, 1, NULL);
        for (int64_t i = 0; i < mr; i++) {
            const REAL c0 = ow && bias ? bias[i] : (REAL)0;
            for (int64_t j = 0; j < nr; j++)
                c[i * ldc + j] = (ow ? c0 : c[i * ldc + j]) + tmp[i * NR + j];
        }
        return;
    }
#endif
    SUF(ukernel_generic)(kc, a, b, c, ldc, mr, nr, ow, bias);
}

/* Packing scratch of one ccnn_gemm call, after the A and B panels in the
 * CCNN_WS_GEMM workspace. */
typedef struct {
    int64_t rowoff_a[MC > KC ? MC : KC];      /* pack_a: offsets of the rows of A      */
    int64_t rowoff_b[KC];                     /* pack_b: offsets of the rows of B      */
    ccnn_chunk8 chunk_a[KC / 8 + 2];          /* pack_a: its kc columns                */
    ccnn_chunk8 chunk_b[NC / 8 + 2];          /* pack_b: the nc columns of the block   */
} SUF(gemm_scratch);

#if IS_F32 && defined(CCNN_X86)
/* the AVX2 im2col packing applies (strides 1 and 2 along a row) */
static int SUF(im2col_fast)(const ccnn_gemm_operand *x)
{
    return fast_kernels() && (x->conv->stride_w == 1 || x->conv->stride_w == 2);
}
#endif

/* For an im2col A: the chunks of its columns pc .. pc+kc into sc. */
static void SUF(prepare_a)(const ccnn_gemm_operand *a, int64_t pc, int64_t kc, SUF(gemm_scratch) *sc)
{
    if (a->kind == CCNN_OPERAND_IM2COL) make_chunks(sc->chunk_a, (kc + 7) / 8, a->conv, a->wp, pc, kc);
}

/* ap (ceil(mc/MR) panels of kc x MR) <- A[ic:ic+mc, pc:pc+kc], zero-padded;
 * for an im2col A, sc holds prepare_a(a, pc, kc) */
static void SUF(pack_a)(REAL *restrict ap, const ccnn_gemm_operand *a, int64_t ic, int64_t mc,
                        int64_t pc, int64_t kc, SUF(gemm_scratch) *sc)
{
    if (a->kind == CCNN_OPERAND_IM2COL) {
        const REAL *xpad = (const REAL *)a->ptr;
        make_rowoffs(sc->rowoff_a, a->conv, a->hp, a->wp, a->row0 + ic, mc);
#if IS_F32 && defined(CCNN_X86)
        if (SUF(im2col_fast)(a)) {
            pack_a_chunks_avx2_f32(ap, xpad, sc->rowoff_a, sc->chunk_a, mc, kc, (int)a->conv->stride_w);
            return;
        }
#endif
        for (int64_t ir = 0, mr; ir < mc; ir += mr, ap += MR * kc) {
            mr = tile_rows(mc - ir);
            for (int64_t i = 0; i < MR; i++) {
                if (i >= mr) {
                    for (int64_t p = 0; p < kc; p++) ap[p * MR + i] = 0;
                    continue;
                }
                const REAL *src = xpad + sc->rowoff_a[ir + i];
                for (int64_t p0 = 0; p0 < kc; p0 += 8) {
                    const ccnn_chunk8 *c = sc->chunk_a + p0 / 8;
                    REAL *dst = ap + p0 * MR + i;
                    if (c->nruns == 1 && a->conv->stride_w == 1) {
                        for (int l = 0; l < 8; l++) dst[l * MR] = src[c->rel[0] + l];
                    } else {
                        for (int l = 0; l < c->nvalid; l++) dst[l * MR] = src[c->off[l]];
                    }
                }
            }
        }
        return;
    }
    const REAL *a0 = (const REAL *)a->ptr;
    const int64_t rsa = a->rs, csa = a->cs;
#if IS_F32 && defined(CCNN_X86)
    if (csa == 1 && fast_kernels()) {   /* rows are contiguous: 6 x 8 transposes */
        for (int64_t i = 0; i < mc; i++) sc->rowoff_a[i] = (ic + i) * rsa + pc;
        make_chunks_contiguous(sc->chunk_a, kc);
        pack_a_chunks_avx2_f32(ap, a0, sc->rowoff_a, sc->chunk_a, mc, kc, 1);
        return;
    }
#endif
    for (int64_t ir = 0, mr; ir < mc; ir += mr, ap += MR * kc) {
        mr = tile_rows(mc - ir);
        if (rsa == 1 && mr == MR) {   /* A^T row-major (e.g. A = x^T): MR contiguous at each p */
            const REAL *restrict src = a0 + (ic + ir) + pc * csa;
            for (int64_t p = 0; p < kc; p++)
                for (int i = 0; i < MR; i++) ap[p * MR + i] = src[p * csa + i];
            continue;
        }
        for (int64_t p = 0; p < kc; p++) {
            const REAL *src = a0 + (ic + ir) * rsa + (pc + p) * csa;
            int64_t i = 0;
            for (; i < mr; i++) ap[p * MR + i] = src[i * rsa];
            for (; i < MR; i++) ap[p * MR + i] = 0;
        }
    }
}

/* For an im2col B: the chunks of the columns jc .. jc+nc (rounded up to whole
 * NR panels) into sc. */
static void SUF(prepare_b_cols)(const ccnn_gemm_operand *b, int64_t jc, int64_t nc,
                                SUF(gemm_scratch) *sc)
{
    if (b->kind == CCNN_OPERAND_IM2COL)
        make_chunks(sc->chunk_b, (nc + NR - 1) / NR * (NR / 8), b->conv, b->wp, jc, nc);
}

/* For an im2col B: the offsets of the rows pc .. pc+kc into sc. */
static void SUF(prepare_b_rows)(const ccnn_gemm_operand *b, int64_t pc, int64_t kc,
                                SUF(gemm_scratch) *sc)
{
    if (b->kind == CCNN_OPERAND_IM2COL)
        make_rowoffs(sc->rowoff_b, b->conv, b->hp, b->wp, b->row0 + pc, kc);
}

/* bp (ceil(nc/NR) panels of kc x NR) <- B[pc:pc+kc, jc+j0 : jc+j0+nc], zero-padded;
 * for an im2col B, sc holds prepare_b_cols(b, jc, ...) and prepare_b_rows(b, pc, kc),
 * and j0 % NR == 0 */
static void SUF(pack_b)(REAL *restrict bp, const ccnn_gemm_operand *b, int64_t pc, int64_t kc,
                        int64_t jc, int64_t j0, int64_t nc, const SUF(gemm_scratch) *sc)
{
    if (b->kind == CCNN_OPERAND_IM2COL) {
        const REAL *xpad = (const REAL *)b->ptr;
        const ccnn_chunk8 *ch = sc->chunk_b + j0 / 8;
        const int64_t npanel = (nc + NR - 1) / NR;
#if IS_F32 && defined(CCNN_X86)
        if (SUF(im2col_fast)(b)) {
            pack_b_im2col_avx2_f32(bp, xpad, sc->rowoff_b, ch, npanel, kc, (int)b->conv->stride_w);
            return;
        }
#endif
        const int64_t sw = b->conv->stride_w;
        for (int64_t jp = 0; jp < npanel; jp++, bp += NR * kc) {
            for (int h = 0; h < NR / 8; h++, ch++) {   /* the panel's chunks of 8 columns */
                REAL *dst = bp + 8 * h;
                if (ch->nruns == 1 && sw == 1) {
                    const int64_t rel = ch->rel[0];
                    for (int64_t p = 0; p < kc; p++) {
                        const REAL *src = xpad + sc->rowoff_b[p] + rel;
                        for (int l = 0; l < 8; l++) dst[p * NR + l] = src[l];
                    }
                    continue;
                }
                for (int64_t p = 0; p < kc; p++) {
                    const REAL *src = xpad + sc->rowoff_b[p];
                    for (int l = 0; l < 8; l++) dst[p * NR + l] = l < ch->nvalid ? src[ch->off[l]] : (REAL)0;
                }
            }
        }
        return;
    }
    const REAL *src0 = (const REAL *)b->ptr;
    const int64_t rs = b->rs, cs = b->cs;
    jc += j0;
#if IS_F32 && defined(CCNN_X86)
    if (rs == 1 && fast_kernels()) {   /* B^T is row-major (e.g. B = dy^T): 8 x 8 transposes */
        pack_b_trans_avx2_f32(bp, src0 + jc * cs + pc, cs, kc, nc);
        return;
    }
    if (cs == 1 && fast_kernels()) {   /* B is row-major (e.g. a Dense weight) */
        pack_b_rows_avx2_f32(bp, src0 + pc * rs + jc, rs, kc, nc);
        return;
    }
#endif
    for (int64_t jr = 0; jr < nc; jr += NR, bp += NR * kc) {
        const int64_t nr = nc - jr < NR ? nc - jr : NR;
        if (cs == 1) {
            for (int64_t p = 0; p < kc; p++) {
                const REAL *src = src0 + (pc + p) * rs + (jc + jr);
                if (nr == NR) {
                    for (int j = 0; j < NR; j++) bp[p * NR + j] = src[j];
                } else {
                    int64_t j = 0;
                    for (; j < nr; j++) bp[p * NR + j] = src[j];
                    for (; j < NR; j++) bp[p * NR + j] = 0;
                }
            }
        } else {   /* column-wise: reads run along p (e.g. B = dy^T with rs == 1) */
            int64_t j = 0;
            for (; j < nr; j++) {
                const REAL *src = src0 + pc * rs + (jc + jr + j) * cs;
                for (int64_t p = 0; p < kc; p++) bp[p * NR + j] = src[p * rs];
            }
            for (; j < NR; j++)
                for (int64_t p = 0; p < kc; p++) bp[p * NR + j] = 0;
        }
    }
}

/* The packed block A[ic:ic+mc, pc:pc+kc]: packed into ap now, or, for a
 * CCNN_OPERAND_PACKED A (mpad = ceil(m / MR) * MR), where ccnn_gemm_pack_a
 * left it -- the blocks of k one after the other, each mpad x kc, its blocks
 * of rows (whole panels: MC is a multiple of MR) at ic * kc. */
static inline const REAL *SUF(a_block)(REAL *ap, const ccnn_gemm_operand *a, int64_t ic,
                                       int64_t mc, int64_t pc, int64_t kc, int64_t mpad,
                                       SUF(gemm_scratch) *sc)
{
    if (a->kind == CCNN_OPERAND_PACKED) return (const REAL *)a->ptr + mpad * pc + ic * kc;
    SUF(pack_a)(ap, a, ic, mc, pc, kc, sc);
    return ap;
}

/* The bytes ccnn_gemm_* takes from its CCNN_WS_GEMM workspace: the packed
 * MC x KC block of A and KC x NC panel of B, and the index scratch. */
static size_t SUF(gemm_workspace_bytes)(void)
{
    return sizeof(REAL) * (size_t)(MC * KC + KC * NC) + sizeof(SUF(gemm_scratch));
}

/* ccnn_gemm_f32, ccnn_gemm_f64 */
int SUF(ccnn_gemm)(int64_t m, int64_t n, int64_t k, const ccnn_gemm_operand *a,
                   const ccnn_gemm_operand *b, REAL *c, int64_t ldc, int overwrite,
                   const REAL *bias)
{
    if (m <= 0 || n <= 0) return CCNN_OK;
    if (k <= 0) {   /* an empty sum */
        if (overwrite)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) c[i * ldc + j] = bias ? bias[i] : (REAL)0;
        return CCNN_OK;
    }
    const size_t panels = sizeof(REAL) * (size_t)(MC * KC + KC * NC);
    const int isa = gemm_isa();
    char *ws = (char *)ccnn_workspace(CCNN_WS_GEMM, SUF(gemm_workspace_bytes)());
    if (!ws) return CCNN_ENOMEM;
    REAL *ap = (REAL *)(void *)ws, *bp = ap + MC * KC;
    SUF(gemm_scratch) *sc = (SUF(gemm_scratch) *)(void *)(ws + panels);
    /* equal blocks of at most KC, rounded up to whole chunks of 8 columns (so
     * an im2col A packs whole chunks) */
    const int64_t nkb = (k + KC - 1) / KC, kblk = ((k + nkb - 1) / nkb + 7) / 8 * 8;
    const int64_t mpad = (m + MR - 1) / MR * MR;   /* a packed A's rows per block of k */
    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = n - jc < NC ? n - jc : NC;
        SUF(prepare_b_cols)(b, jc, nc, sc);
        for (int64_t pc = 0; pc < k; pc += kblk) {
            const int64_t kc = k - pc < kblk ? k - pc : kblk;
            const int ow = overwrite && pc == 0;
            SUF(prepare_a)(a, pc, kc, sc);
            SUF(prepare_b_rows)(b, pc, kc, sc);
            if (m <= MC) {
                /* one block of A: pack each B micro-panel just before the
                 * micro-kernels use it, while it is still in L1 */
                const REAL *apk = SUF(a_block)(ap, a, 0, m, pc, kc, mpad, sc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t nr = nc - jr < NR ? nc - jr : NR;
                    SUF(pack_b)(bp, b, pc, kc, jc, jr, nr, sc);
                    for (int64_t ir = 0, t = 0, mr; ir < m; ir += mr, t += (mr + MR - 1) / MR) {
                        mr = kernel_rows(m - ir, isa);
                        SUF(ukernel)(isa, kc, apk + t * MR * kc, bp, c + ir * ldc + jc + jr, ldc, mr, nr, ow,
                                     bias ? bias + ir : NULL);
                    }
                }
                continue;
            }
            SUF(pack_b)(bp, b, pc, kc, jc, 0, nc, sc);
            for (int64_t ic = 0; ic < m; ic += MC) {
                const int64_t mc = m - ic < MC ? m - ic : MC;
                const REAL *apk = SUF(a_block)(ap, a, ic, mc, pc, kc, mpad, sc);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t nr = nc - jr < NR ? nc - jr : NR;
                    for (int64_t ir = 0, t = 0, mr; ir < mc; ir += mr, t += (mr + MR - 1) / MR) {
                        mr = kernel_rows(mc - ir, isa);
                        SUF(ukernel)(isa, kc, apk + t * MR * kc, bp + jr * kc,
                                     c + (ic + ir) * ldc + jc + jr, ldc, mr, nr, ow,
                                     bias ? bias + ic + ir : NULL);
                    }
                }
            }
        }
    }
    return CCNN_OK;
}

/* ccnn_gemm_pack_a_f32, ccnn_gemm_pack_a_f64: the blocks in ccnn_gemm's order */
int SUF(ccnn_gemm_pack_a)(REAL *dst, int64_t m, int64_t k, const ccnn_gemm_operand *a)
{
    if (m <= 0 || k <= 0) return CCNN_OK;
    if (a->kind == CCNN_OPERAND_PACKED) return CCNN_EBADARG;
    char *ws = (char *)ccnn_workspace(CCNN_WS_GEMM, SUF(gemm_workspace_bytes)());
    if (!ws) return CCNN_ENOMEM;
    SUF(gemm_scratch) *sc = (SUF(gemm_scratch) *)(void *)(ws + sizeof(REAL) * (size_t)(MC * KC + KC * NC));
    const int64_t nkb = (k + KC - 1) / KC, kblk = ((k + nkb - 1) / nkb + 7) / 8 * 8;
    const int64_t mpad = (m + MR - 1) / MR * MR;
    for (int64_t pc = 0; pc < k; pc += kblk) {
        const int64_t kc = k - pc < kblk ? k - pc : kblk;
        SUF(prepare_a)(a, pc, kc, sc);
        for (int64_t ic = 0; ic < m; ic += MC)
            SUF(pack_a)(dst + mpad * pc + ic * kc, a, ic, m - ic < MC ? m - ic : MC, pc, kc, sc);
    }
    return CCNN_OK;
}

/* ccnn_gemm_strided_f32, ccnn_gemm_strided_f64 */
int SUF(ccnn_gemm_strided)(int64_t m, int64_t n, int64_t k, const REAL *a, int64_t rsa, int64_t csa,
                           const REAL *b, int64_t rsb, int64_t csb, REAL *c, int64_t ldc,
                           int overwrite, const REAL *bias)
{
    const ccnn_gemm_operand A = {CCNN_OPERAND_STRIDED, a, rsa, csa, NULL, 0, 0, 0};
    const ccnn_gemm_operand B = {CCNN_OPERAND_STRIDED, b, rsb, csb, NULL, 0, 0, 0};
    return SUF(ccnn_gemm)(m, n, k, &A, &B, c, ldc, overwrite, bias);
}

#endif /* REAL */
