/* resize.c -- 2-D nearest / bilinear resizing (see resize.h).  Each call first
 * builds the two axes' tap tables (source indices i0, i1 and weights l0, l1,
 * computed in the element type as PyTorch computes them); the forward then
 * gathers, threads taking output rows; the backward scatters each output
 * pixel's gradient with the same weights, threads taking whole (h, w, inner)
 * planes, each plane summed in one fixed order.  Typed bodies are
 * instantiated for float and double by self-inclusion. */
#ifndef REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "resize.h"
#include "kernels_common.h"

static int resize_args_ok(int64_t outer, int64_t h, int64_t w, int64_t inner, int64_t ho,
                          int64_t wo, int mode)
{
    return outer >= 0 && inner >= 0 && h >= 1 && w >= 1 && ho >= 1 && wo >= 1 &&
           mode >= CCNN_RESIZE_NEAREST && mode <= CCNN_RESIZE_BILINEAR_ALIGN &&
           !ccnn_product_overflows(4, outer, h, w, inner) &&
           !ccnn_product_overflows(4, outer, ho, wo, inner);
}

#define CCNN_TEMPLATE "resize.c"
#include "ccnn_template.h"

#else /* ---- typed bodies ---------------------------------------------------- */

/* One axis's taps: i0, i1 (out) int64 source indices, l0, l1 (out) weights. */
typedef struct {
    int64_t *i0, *i1;   /* (out) each */
    REAL *l0, *l1;      /* (out) each */
} SUF(resize_axis);

/* The nearest modes' source index of output index d (PyTorch's nearest_idx /
 * nearest_exact_idx: the scale in the element type; "nearest-exact"'s
 * (d + 0.5) * scale in double, then rounded to the element type). */
static int64_t SUF(resize_nearest_index)(int64_t d, int64_t in, int64_t out, int mode,
                                         double scale)
{
    const REAL sc = scale > 0 ? (REAL)scale : (REAL)in / (REAL)out;
    int64_t s;
    if (mode == CCNN_RESIZE_NEAREST) {
        if (out == in) return d;
        if (out == 2 * in) return d >> 1;
        s = (int64_t)floor((double)((REAL)d * sc));
    } else {
        s = (int64_t)floor((double)(REAL)(((double)d + 0.5) * (double)sc));
    }
    return s < in - 1 ? s : in - 1;
}

/* Fill ax for an axis of in -> out pixels (its arrays hold out entries). */
static void SUF(resize_taps)(SUF(resize_axis) *ax, int64_t in, int64_t out, int mode,
                             double scale)
{
    if (mode == CCNN_RESIZE_NEAREST || mode == CCNN_RESIZE_NEAREST_EXACT) {
        for (int64_t d = 0; d < out; d++) {
            ax->i0[d] = ax->i1[d] = SUF(resize_nearest_index)(d, in, out, mode, scale);
            ax->l0[d] = (REAL)1;
            ax->l1[d] = (REAL)0;
        }
        return;
    }
    const int align = mode == CCNN_RESIZE_BILINEAR_ALIGN;
    const REAL sc = align ? (out > 1 ? (REAL)(in - 1) / (REAL)(out - 1) : (REAL)0)
                          : (scale > 0 ? (REAL)scale : (REAL)in / (REAL)out);
    for (int64_t d = 0; d < out; d++) {
        REAL s = align ? sc * (REAL)d : sc * ((REAL)d + (REAL)0.5) - (REAL)0.5;
        if (s < (REAL)0) s = (REAL)0;
        int64_t i = (int64_t)floor((double)s);
        if (i > in - 1) i = in - 1;
        REAL l = s - (REAL)i;
        l = l < (REAL)0 ? (REAL)0 : (l > (REAL)1 ? (REAL)1 : l);
        ax->i0[d] = i;
        ax->i1[d] = i < in - 1 ? i + 1 : i;
        ax->l0[d] = (REAL)1 - l;
        ax->l1[d] = l;
    }
}

/* Both axes' tables in one allocation (*mem, to free); 0 when out of memory. */
static int SUF(resize_tables)(SUF(resize_axis) *ay, SUF(resize_axis) *ax, void **mem,
                              int64_t h, int64_t w, int64_t ho, int64_t wo, int mode,
                              double scale_h, double scale_w)
{
    const size_t n = (size_t)(ho + wo);
    char *p = malloc(n * 2 * (sizeof(int64_t) + sizeof(REAL)));   /* idx then wts, below */
    *mem = p;
    if (p == NULL) return 0;
    int64_t *idx = (int64_t *)p;                                     /* (2, ho + wo) */
    REAL *wts = (REAL *)(p + n * 2 * sizeof(int64_t));               /* (2, ho + wo) */
    ay->i0 = idx;          ay->i1 = idx + n;          ay->l0 = wts;          ay->l1 = wts + n;
    ax->i0 = idx + ho;     ax->i1 = idx + n + ho;     ax->l0 = wts + ho;     ax->l1 = wts + n + ho;
    SUF(resize_taps)(ay, h, ho, mode, scale_h);
    SUF(resize_taps)(ax, w, wo, mode, scale_w);
    return 1;
}

/* The forward's gather into out (outer, ho, wo, inner) from inp (outer, h, w,
 * inner); threads take output rows. */
static void SUF(resize_gather)(REAL *out, const REAL *inp, const SUF(resize_axis) *ay,
                               const SUF(resize_axis) *ax, int64_t outer, int64_t h,
                               int64_t w, int64_t inner, int64_t ho, int64_t wo, int nearest,
                               int nt)
{
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t r = 0; r < outer * ho; r++) {
        const int64_t o = r / ho, y = r % ho;
        const REAL *a = inp + (o * h + ay->i0[y]) * w * inner;        /* (w, inner) row i0(y) */
        const REAL *b = inp + (o * h + ay->i1[y]) * w * inner;        /* (w, inner) row i1(y) */
        REAL *dst = out + r * wo * inner;                             /* (wo, inner) */
        if (nearest) {
            for (int64_t x = 0; x < wo; x++)
                memcpy(dst + x * inner, a + ax->i0[x] * inner, (size_t)inner * sizeof(REAL));
            continue;
        }
        const REAL hl0 = ay->l0[y], hl1 = ay->l1[y];
        for (int64_t x = 0; x < wo; x++) {
            const REAL wl0 = ax->l0[x], wl1 = ax->l1[x];
            const REAL *a0 = a + ax->i0[x] * inner, *a1 = a + ax->i1[x] * inner; /* (inner) */
            const REAL *b0 = b + ax->i0[x] * inner, *b1 = b + ax->i1[x] * inner; /* (inner) */
            REAL *d = dst + x * inner;                                           /* (inner) */
            #pragma omp simd
            for (int64_t k = 0; k < inner; k++)
                d[k] = hl0 * (wl0 * a0[k] + wl1 * a1[k]) + hl1 * (wl0 * b0[k] + wl1 * b1[k]);
        }
    }
}

/* The backward's scatter into dinp (outer, h, w, inner), overwritten, from
 * dout (outer, ho, wo, inner); threads take whole planes o, each summed in
 * row-major output order. */
static void SUF(resize_scatter)(REAL *dinp, const REAL *dout, const SUF(resize_axis) *ay,
                                const SUF(resize_axis) *ax, int64_t outer, int64_t h,
                                int64_t w, int64_t inner, int64_t ho, int64_t wo, int nearest,
                                int nt)
{
    (void)nt;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t o = 0; o < outer; o++) {
        REAL *plane = dinp + o * h * w * inner;                       /* (h, w, inner) */
        memset(plane, 0, (size_t)(h * w * inner) * sizeof(REAL));
        for (int64_t y = 0; y < ho; y++) {
            const REAL *g = dout + (o * ho + y) * wo * inner;        /* (wo, inner) */
            REAL *a = plane + ay->i0[y] * w * inner;                  /* (w, inner) row i0(y) */
            REAL *b = plane + ay->i1[y] * w * inner;                  /* (w, inner) row i1(y) */
            const REAL hl0 = ay->l0[y], hl1 = ay->l1[y];
            for (int64_t x = 0; x < wo; x++) {
                const REAL *gx = g + x * inner;                       /* (inner) */
                REAL *a0 = a + ax->i0[x] * inner, *a1 = a + ax->i1[x] * inner;   /* (inner) */
                REAL *b0 = b + ax->i0[x] * inner, *b1 = b + ax->i1[x] * inner;   /* (inner) */
                if (nearest) {
                    for (int64_t k = 0; k < inner; k++) a0[k] += gx[k];
                    continue;
                }
                const REAL wl0 = ax->l0[x], wl1 = ax->l1[x];
                /* a0 .. b1 may coincide (clamped taps): one sum after another */
                for (int64_t k = 0; k < inner; k++) a0[k] += hl0 * wl0 * gx[k];
                for (int64_t k = 0; k < inner; k++) a1[k] += hl0 * wl1 * gx[k];
                for (int64_t k = 0; k < inner; k++) b0[k] += hl1 * wl0 * gx[k];
                for (int64_t k = 0; k < inner; k++) b1[k] += hl1 * wl1 * gx[k];
            }
        }
    }
}

/* Both directions: check, build the tap tables, gather (dst = out, src = inp)
 * or scatter (dst = dinp, src = dout). */
static int SUF(resize_run)(REAL *dst, const REAL *src, int64_t outer, int64_t h, int64_t w,
                           int64_t inner, int64_t ho, int64_t wo, int mode, double scale_h,
                           double scale_w, int nthreads, int backward)
{
    if (!resize_args_ok(outer, h, w, inner, ho, wo, mode)) return CCNN_EBADARG;
    SUF(resize_axis) ay, ax;
    void *mem;
    if (!SUF(resize_tables)(&ay, &ax, &mem, h, w, ho, wo, mode, scale_h, scale_w))
        return CCNN_ENOMEM;
    const int nearest = mode <= CCNN_RESIZE_NEAREST_EXACT;
    const int nt = ccnn_threads_for(nthreads, outer * ho * wo * inner * (nearest ? 1 : 4));
    if (backward)
        SUF(resize_scatter)(dst, src, &ay, &ax, outer, h, w, inner, ho, wo, nearest, nt);
    else
        SUF(resize_gather)(dst, src, &ay, &ax, outer, h, w, inner, ho, wo, nearest, nt);
    free(mem);
    return CCNN_OK;
}

/* ccnn_resize2d_forward_f32, ccnn_resize2d_forward_f64 */
int SUF(ccnn_resize2d_forward)(REAL *out, const REAL *inp, int64_t outer, int64_t h,
                               int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                               double scale_h, double scale_w, int nthreads)
{
    return SUF(resize_run)(out, inp, outer, h, w, inner, ho, wo, mode, scale_h, scale_w,
                           nthreads, 0);
}

/* ccnn_resize2d_backward_f32, ccnn_resize2d_backward_f64 */
int SUF(ccnn_resize2d_backward)(REAL *dinp, const REAL *dout, int64_t outer, int64_t h,
                                int64_t w, int64_t inner, int64_t ho, int64_t wo, int mode,
                                double scale_h, double scale_w, int nthreads)
{
    return SUF(resize_run)(dinp, dout, outer, h, w, inner, ho, wo, mode, scale_h, scale_w,
                           nthreads, 1);
}

#endif /* REAL */
