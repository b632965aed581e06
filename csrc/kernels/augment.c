/* augment.c -- affine resampling of channels-last images (see augment.h).
 * Threads take rows of output pixels; each pixel computes its input point
 * once and interpolates every channel from the same (up to four) neighbours.
 * Typed bodies are instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <math.h>
#include "augment.h"
#include "kernels_common.h"

/* floor-mod: the result in [0, m) for m > 0, as Python's and torch's % */
static inline int64_t fmod_floor(int64_t a, int64_t m)
{
    const int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* d c b | a b c d | c b a: a triangle wave of period 2 (size - 1) */
static inline int64_t mirror_index(int64_t i, int64_t size)
{
    if (size == 1) return 0;
    const int64_t s = size - 1;
    const int64_t r = fmod_floor(i + s, 2 * s) - s;
    return r < 0 ? -r : r;
}

/* d c b a | a b c d | d c b a: the mirror of the half-sample grid */
static inline int64_t reflect_index(int64_t i, int64_t size)
{
    const int64_t m = mirror_index(2 * i + 1, 2 * size + 1) - 1;
    return m >= 0 ? m / 2 : -((-m + 1) / 2);   /* floor division by 2 */
}

/* the index that fill mode `mode` reads for index i of an axis of `size`
 * (constant: clipped; its validity is checked separately) */
static inline int64_t fix_index(int64_t i, int64_t size, int mode)
{
    if (i >= 0 && i < size) return i;   /* every mode's identity inside: no division */
    switch (mode) {
    case CCNN_FILL_WRAP: return fmod_floor(i, size);
    case CCNN_FILL_MIRROR: return mirror_index(i, size);
    case CCNN_FILL_REFLECT: return reflect_index(i, size);
    default: return i < 0 ? 0 : (i >= size ? size - 1 : i);
    }
}

#define CCNN_TEMPLATE "augment.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* ccnn_affine_transform_f32, ccnn_affine_transform_f64 */
int SUF(ccnn_affine_transform)(REAL *out, const REAL *inp, const double *transforms,
                               int64_t n, int64_t h, int64_t w, int64_t c, int interpolation,
                               int fill_mode, double fill_value, int nthreads)
{
    if ((interpolation != CCNN_INTERP_NEAREST && interpolation != CCNN_INTERP_BILINEAR) ||
        fill_mode < CCNN_FILL_CONSTANT || fill_mode > CCNN_FILL_REFLECT ||
        n < 0 || h < 1 || w < 1 || c < 1)
        return CCNN_EBADARG;
    const int nt = ccnn_threads_for(nthreads, n * h * w * c * 4);
    const REAL fill = (REAL)fill_value;
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t row = 0; row < n * h; row++) {
        const int64_t i = row / h, y = row % h;
        const double *t = transforms + 6 * i;
        const REAL a0 = (REAL)t[0], a1 = (REAL)t[1], a2 = (REAL)t[2];
        const REAL b0 = (REAL)t[3], b1 = (REAL)t[4], b2 = (REAL)t[5];
        const REAL *img = inp + i * h * w * c;
        REAL *o = out + (i * h + y) * w * c;
        for (int64_t x = 0; x < w; x++, o += c) {
            const REAL xin = a0 * (REAL)x + a1 * (REAL)y + a2;
            const REAL yin = b0 * (REAL)x + b1 * (REAL)y + b2;
            int64_t ys[2], xs[2];
            REAL wy[2], wx[2];
            int ny, nx;
            if (!isfinite(xin) || !isfinite(yin) || fabs((double)xin) > 1e15 ||
                fabs((double)yin) > 1e15) {
                /* a point no fill mode can place: the fill value (NaN transforms too) */
                for (int64_t k = 0; k < c; k++) o[k] = fill_mode == CCNN_FILL_CONSTANT ? fill : (REAL)NAN;
                continue;
            }
            if (interpolation == CCNN_INTERP_NEAREST) {
                ys[0] = (int64_t)nearbyint((double)yin);
                xs[0] = (int64_t)nearbyint((double)xin);
                wy[0] = wx[0] = 1;
                ny = nx = 1;
            } else {
                const REAL fy = (REAL)floor((double)yin), fx = (REAL)floor((double)xin);
                ys[0] = (int64_t)fy; ys[1] = ys[0] + 1;
                xs[0] = (int64_t)fx; xs[1] = xs[0] + 1;
                wy[1] = yin - fy; wy[0] = 1 - wy[1];
                wx[1] = xin - fx; wx[0] = 1 - wx[1];
                ny = nx = 2;
            }
            for (int64_t k = 0; k < c; k++) o[k] = 0;
            for (int a = 0; a < ny; a++) {
                const int vy = ys[a] >= 0 && ys[a] < h;
                const int64_t iy = fix_index(ys[a], h, fill_mode);
                for (int b = 0; b < nx; b++) {
                    const REAL wgt = wy[a] * wx[b];
                    const int valid = fill_mode != CCNN_FILL_CONSTANT ||
                                      (vy && xs[b] >= 0 && xs[b] < w);
                    if (valid) {
                        const REAL *p = img + (iy * w + fix_index(xs[b], w, fill_mode)) * c;
                        for (int64_t k = 0; k < c; k++) o[k] += wgt * p[k];
                    } else {
                        for (int64_t k = 0; k < c; k++) o[k] += wgt * fill;
                    }
                }
            }
        }
    }
    return CCNN_OK;
}

/* ccnn_image_flip_f32, ccnn_image_flip_f64 */
void SUF(ccnn_image_flip)(REAL *out, const REAL *inp, const uint8_t *flags, int64_t n,
                          int64_t h, int64_t w, int64_t c, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * h * w * c);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t row = 0; row < n * h; row++) {
        const int64_t i = row / h, y = row % h;
        const int fx = flags[i] & 1, fy = (flags[i] >> 1) & 1;
        const REAL *src = inp + (i * h + (fy ? h - 1 - y : y)) * w * c;   /* (w, c) */
        REAL *dst = out + row * w * c;                                   /* (w, c) */
        for (int64_t x = 0; x < w; x++) {
            const REAL *s = src + (fx ? w - 1 - x : x) * c;
            for (int64_t k = 0; k < c; k++) dst[x * c + k] = s[k];
        }
    }
}

/* ccnn_adjust_contrast_f32, ccnn_adjust_contrast_f64 */
void SUF(ccnn_adjust_contrast)(REAL *out, const REAL *inp, const double *factors, int64_t n,
                               int64_t hw, int64_t c, double lo, double hi, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, n * hw * c * 2);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < n; i++) {
        const REAL *img = inp + i * hw * c;   /* (hw, c) */
        REAL *o = out + i * hw * c;           /* (hw, c) */
        const REAL f = (REAL)factors[i];
        for (int64_t k = 0; k < c; k++) {
            double s = 0;
            for (int64_t p = 0; p < hw; p++) s += (double)img[p * c + k];
            const REAL m = (REAL)(s / (double)hw);
            for (int64_t p = 0; p < hw; p++) {
                const REAL v = (img[p * c + k] - m) * f + m;
                o[p * c + k] = v < (REAL)lo ? (REAL)lo : (v > (REAL)hi ? (REAL)hi : v);
            }
        }
    }
}

/* ccnn_broadcast_affine_f32, ccnn_broadcast_affine_f64 */
void SUF(ccnn_broadcast_affine)(REAL *out, const REAL *inp, const REAL *scale,
                                const REAL *shift, int64_t outer, int64_t mid, int64_t inner,
                                int64_t so, int64_t sm, int64_t si, int nthreads)
{
    const int nt = ccnn_threads_for(nthreads, outer * mid * inner);
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t row = 0; row < outer * mid; row++) {
        const int64_t o = row / mid, m = row % mid;
        const int64_t j0 = o * so + m * sm;
        const REAL *x = inp + row * inner;   /* (inner) */
        REAL *y = out + row * inner;         /* (inner) */
        for (int64_t i = 0; i < inner; i++) {
            const int64_t j = j0 + i * si;
            y[i] = x[i] * (scale ? scale[j] : (REAL)1) + (shift ? shift[j] : (REAL)0);
        }
    }
}

#endif /* REAL */
