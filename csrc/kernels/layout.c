/* layout.c -- batched transposes (see layout.h).  Typed bodies are
 * instantiated for float and double by self-inclusion. */
#ifndef REAL
#include "layout.h"
#include "kernels_common.h"

#include <string.h>

/* Tiles of TILE x TILE elements: a tile's rows and columns both stay in L1,
 * so reads and writes each touch whole cache lines. */
#define TILE 32

/* float: 8 x 8 blocks transposed in registers (GCC/clang vector extensions;
 * in the CCNN_DISPATCH clones, AVX2 or SSE shuffles), the rest element by
 * element */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12) && !defined(CCNN_LAYOUT_NO_VEC)
#define LAYOUT_VEC 1
typedef float layout_v8 __attribute__((vector_size(32)));
#define SHUF __builtin_shufflevector

/* out[j * ldo + i] = in[i * ldi + j] for i, j < 8 */
__attribute__((always_inline))
static inline void transpose8x8_f32(float *restrict out, int64_t ldo, const float *restrict in,
                                    int64_t ldi)
{
    layout_v8 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) memcpy(&r[i], in + i * ldi, sizeof r[i]);
    for (int i = 0; i < 8; i += 2) {   /* pairs of rows interleaved */
        t[i] = SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {   /* then pairs of pairs: columns c and c + 4 */
        u[i] = SHUF(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = SHUF(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = SHUF(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = SHUF(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int c = 0; c < 4; c++) {      /* halves of rows 0-3 and 4-7 joined */
        const layout_v8 lo = SHUF(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        const layout_v8 hi = SHUF(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(out + c * ldo, &lo, sizeof lo);
        memcpy(out + (c + 4) * ldo, &hi, sizeof hi);
    }
}
#undef SHUF
#endif

#define REAL float
#define SUF(name) name##_f32
#define IS_F32 1
#include "layout.c"
#undef REAL
#undef SUF
#undef IS_F32

#define REAL double
#define SUF(name) name##_f64
#define IS_F32 0
#include "layout.c"
#undef IS_F32
#undef REAL
#undef SUF

#else /* ---- typed bodies ---------------------------------------------------- */

/* out (b, a) block [j0, j1) x [i0, i1) <- inp (a, b) -- one tile of one image */
static CCNN_DISPATCH void SUF(transpose_tile)(REAL *restrict out, const REAL *restrict inp,
                                              int64_t a, int64_t b, int64_t i0, int64_t i1,
                                              int64_t j0, int64_t j1)
{
#if IS_F32 && defined(LAYOUT_VEC)
    const int64_t i8 = i0 + (i1 - i0) / 8 * 8, j8 = j0 + (j1 - j0) / 8 * 8;
    for (int64_t i = i0; i < i8; i += 8)
        for (int64_t j = j0; j < j8; j += 8) transpose8x8_f32(out + j * a + i, a, inp + i * b + j, b);
    for (int64_t j = j0; j < j8; j++)          /* rows past the last block of 8 */
        for (int64_t i = i8; i < i1; i++) out[j * a + i] = inp[i * b + j];
    for (int64_t j = j8; j < j1; j++)          /* columns past it */
        for (int64_t i = i0; i < i1; i++) out[j * a + i] = inp[i * b + j];
#else
    for (int64_t j = j0; j < j1; j++)
        for (int64_t i = i0; i < i1; i++) out[j * a + i] = inp[i * b + j];
#endif
}

/* ccnn_transpose_batched_f32, ccnn_transpose_batched_f64 */
void SUF(ccnn_transpose_batched)(REAL *out, const REAL *inp, int64_t n, int64_t a, int64_t b,
                                 int nthreads)
{
    const int64_t ta = (a + TILE - 1) / TILE, tb = (b + TILE - 1) / TILE;
    const int64_t tiles = n * ta * tb;
    const int nt = ccnn_threads_for(nthreads, n * a * b);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t t = 0; t < tiles; t++) {
        const int64_t img = t / (ta * tb), it = t / tb % ta, jt = t % tb;
        const int64_t i0 = it * TILE, j0 = jt * TILE;
        SUF(transpose_tile)(out + img * a * b, inp + img * a * b, a, b,
                            i0, i0 + TILE < a ? i0 + TILE : a, j0, j0 + TILE < b ? j0 + TILE : b);
    }
}

#endif /* REAL */
