/* pad.c -- constant padding / cropping of (outer, h, w, inner) arrays (see pad.h).
 * Threads take output rows; a row is a fill, a memcpy of the kept columns, a fill.
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <string.h>
#include "pad.h"
#include "kernels_common.h"

static inline int64_t pad_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t pad_min(int64_t a, int64_t b) { return a < b ? a : b; }

#define CCNN_TEMPLATE "pad.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

static inline void SUF(pad_fill)(REAL *out, int64_t n, REAL value)
{
    if (value == (REAL)0) {
        memset(out, 0, (size_t)n * sizeof(REAL));
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = value;
}

/* ccnn_pad2d_f32, ccnn_pad2d_f64 */
int SUF(ccnn_pad2d)(REAL *out, const REAL *inp, int64_t outer, int64_t h, int64_t w,
                    int64_t inner, int64_t top, int64_t bottom, int64_t left, int64_t right,
                    double value, int nthreads)
{
    const int64_t ho = h + top + bottom, wo = w + left + right;
    if (outer < 0 || h < 0 || w < 0 || inner < 0 || ho < 1 || wo < 1) return CCNN_EBADARG;
    /* the input columns [c0, c1) land at output column c0 + left */
    const int64_t c0 = pad_max(0, -left), c1 = pad_min(w, w + right);
    const int64_t kept = pad_max(0, c1 - c0);
    const int64_t before = kept ? c0 + left : wo, after = wo - before - kept;
    const REAL fill = (REAL)value;
    const int nt = ccnn_threads_for(nthreads, outer * ho * wo * inner);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < outer * ho; r++) {
        const int64_t o = r / ho, i = r % ho, si = i - top;
        REAL *row = out + r * wo * inner;                             /* (wo, inner) */
        if (si < 0 || si >= h || kept == 0) {
            SUF(pad_fill)(row, wo * inner, fill);
            continue;
        }
        const REAL *src = inp + ((o * h + si) * w + c0) * inner;     /* (kept, inner) */
        SUF(pad_fill)(row, before * inner, fill);
        memcpy(row + before * inner, src, (size_t)(kept * inner) * sizeof(REAL));
        SUF(pad_fill)(row + (before + kept) * inner, after * inner, fill);
    }
    return CCNN_OK;
}

#endif /* REAL */
