/* upsample.c -- nearest-neighbour upsampling (see upsample.h).  Threads take
 * input rows: the forward writes one output row by repeating each pixel sw
 * times and copies it to the other sh - 1 rows; the backward sums each
 * pixel's sh x sw block.  Typed bodies are instantiated for float and double
 * by self-inclusion. */
#ifndef REAL
#include <string.h>
#include "upsample.h"
#include "kernels_common.h"

#define CCNN_TEMPLATE "upsample.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_upsample_nearest2d_forward_f32, ccnn_upsample_nearest2d_forward_f64 */
void SUF(ccnn_upsample_nearest2d_forward)(REAL *out, const REAL *inp, int64_t outer,
                                          int64_t h, int64_t w, int64_t inner, int64_t sh,
                                          int64_t sw, int nthreads)
{
    const int64_t wo = w * sw, row_len = wo * inner;
    const int nt = ccnn_threads_for(nthreads, outer * h * row_len * sh);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < outer * h; r++) {
        const REAL *src = inp + r * w * inner;                        /* (w, inner) */
        REAL *dst = out + r * sh * row_len;                           /* (sh, wo, inner) */
        for (int64_t j = 0; j < w; j++)
            for (int64_t b = 0; b < sw; b++)
                memcpy(dst + (j * sw + b) * inner, src + j * inner,
                       (size_t)inner * sizeof(REAL));
        for (int64_t a = 1; a < sh; a++)
            memcpy(dst + a * row_len, dst, (size_t)row_len * sizeof(REAL));
    }
}

/* ccnn_upsample_nearest2d_backward_f32, ccnn_upsample_nearest2d_backward_f64 */
void SUF(ccnn_upsample_nearest2d_backward)(REAL *dinp, const REAL *dout, int64_t outer,
                                           int64_t h, int64_t w, int64_t inner, int64_t sh,
                                           int64_t sw, int nthreads)
{
    const int64_t wo = w * sw, row_len = wo * inner;
    const int nt = ccnn_threads_for(nthreads, outer * h * row_len * sh);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < outer * h; r++) {
        const REAL *src = dout + r * sh * row_len;                    /* (sh, wo, inner) */
        REAL *dst = dinp + r * w * inner;                             /* (w, inner) */
        for (int64_t j = 0; j < w; j++) {
            REAL *d = dst + j * inner;
            for (int64_t k = 0; k < inner; k++) d[k] = (REAL)0;
            for (int64_t a = 0; a < sh; a++)
                for (int64_t b = 0; b < sw; b++) {
                    const REAL *s = src + a * row_len + (j * sw + b) * inner;
                    #pragma omp simd
                    for (int64_t k = 0; k < inner; k++) d[k] += s[k];
                }
        }
    }
}

#endif /* REAL */
