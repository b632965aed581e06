/* layout.c -- batched transposes (see layout.h).  Typed bodies are
 * instantiated for float and double by self-inclusion. */
#ifndef REAL
#include "layout.h"
#include "kernels_common.h"

/* Tiles of TILE x TILE elements: a tile's rows and columns both stay in L1,
 * so reads and writes each touch whole cache lines. */
#define TILE 32

#define REAL float
#define SUF(name) name##_f32
#include "layout.c"
#undef REAL
#undef SUF

#define REAL double
#define SUF(name) name##_f64
#include "layout.c"
#undef REAL
#undef SUF

#else /* ---- typed bodies ---------------------------------------------------- */

/* out (b, a) block [j0, j1) x [i0, i1) <- inp (a, b) -- one tile of one image */
static CCNN_DISPATCH void SUF(transpose_tile)(REAL *restrict out, const REAL *restrict inp,
                                              int64_t a, int64_t b, int64_t i0, int64_t i1,
                                              int64_t j0, int64_t j1)
{
    for (int64_t j = j0; j < j1; j++)
        for (int64_t i = i0; i < i1; i++) out[j * a + i] = inp[i * b + j];
}

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
