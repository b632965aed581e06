/* pool.h -- 2-D max and average pooling, forward and backward.
 *
 * Window (p, q) covers input rows  p*sh - pad_top  .. + kh-1  and
 *                       columns q*sw - pad_left .. + kw-1.
 * max:  y = max over the window's in-bounds elements (padding acts as -inf);
 *       the first maximum in row-major order wins ties; a NaN wins over
 *       everything (the first NaN).  argmax is stored as a flat index h*W + w
 *       into the input plane (PyTorch's convention).
 * avg:  PyTorch's divisor rule:  hend = min(hstart + kh, H + pad_bottom),
 *       pool_size = (hend - hstart) * (wend - wstart) before clipping to the
 *       input; divisor = pool_size if count_include_pad, else the number of
 *       in-bounds elements.
 */
#ifndef CCNN_POOL_H
#define CCNN_POOL_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n, c, h, w;          /* input  x (n, c, h, w)                   */
    int64_t kh, kw;              /* window                                  */
    int64_t p, q;                /* output y (n, c, p, q), set by dims_init */
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int ceil_mode;
    int count_include_pad;       /* avg only */
} ccnn_pool2d_dims;

int ccnn_pool2d_dims_init(ccnn_pool2d_dims *d,
                          int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right,
                          int ceil_mode, int count_include_pad);

/* out: (n,c,p,q); argmax: (n,c,p,q) or NULL; inp: (n,c,h,w) */
void ccnn_max_pool2d_forward_f32(float *out, int64_t *argmax, const float *inp,
                                 const ccnn_pool2d_dims *d, int nthreads);
void ccnn_max_pool2d_forward_f64(double *out, int64_t *argmax, const double *inp,
                                 const ccnn_pool2d_dims *d, int nthreads);
/* dinp: (n,c,h,w), overwritten; dout: (n,c,p,q); argmax: (n,c,p,q), every
 * entry in [0, h*w) (callers check untrusted indices first). */
void ccnn_max_pool2d_backward_f32(float *dinp, const float *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads);
void ccnn_max_pool2d_backward_f64(double *dinp, const double *dout, const int64_t *argmax,
                                  const ccnn_pool2d_dims *d, int nthreads);
/* The same for untrusted indices: returns CCNN_EBADARG, having written no
 * element outside dinp (whose contents are then unspecified), when an entry of
 * argmax lies outside [0, h*w); else CCNN_OK.  The range check costs nothing
 * extra when every index lies in its own window (indices from the forward). */
int ccnn_max_pool2d_backward_checked_f32(float *dinp, const float *dout, const int64_t *argmax,
                                         const ccnn_pool2d_dims *d, int nthreads);
int ccnn_max_pool2d_backward_checked_f64(double *dinp, const double *dout, const int64_t *argmax,
                                         const ccnn_pool2d_dims *d, int nthreads);
/* The same without indices: each window's argmax is recomputed from inp (the
 * forward's rule).  dinp: (n,c,h,w), overwritten; dout: (n,c,p,q); inp: (n,c,h,w) */
void ccnn_max_pool2d_backward_recompute_f32(float *dinp, const float *dout, const float *inp,
                                            const ccnn_pool2d_dims *d, int nthreads);
void ccnn_max_pool2d_backward_recompute_f64(double *dinp, const double *dout, const double *inp,
                                            const ccnn_pool2d_dims *d, int nthreads);

/* out: (n,c,p,q); inp: (n,c,h,w) */
void ccnn_avg_pool2d_forward_f32(float *out, const float *inp,
                                 const ccnn_pool2d_dims *d, int nthreads);
void ccnn_avg_pool2d_forward_f64(double *out, const double *inp,
                                 const ccnn_pool2d_dims *d, int nthreads);
/* dinp: (n,c,h,w), overwritten; dout: (n,c,p,q) */
void ccnn_avg_pool2d_backward_f32(float *dinp, const float *dout,
                                  const ccnn_pool2d_dims *d, int nthreads);
void ccnn_avg_pool2d_backward_f64(double *dinp, const double *dout,
                                  const ccnn_pool2d_dims *d, int nthreads);

/* One plane, 2x2 windows, stride 2, no padding (serial): out (h/2, w/2) the
 * window maxima, offset (h/2, w/2) each maximum's position in its window as
 * row*2 + column (0..3); ties and NaN as above.  Used by the fused
 * conv -> relu -> max-pool kernel of conv2d.h. */
void ccnn_max_pool2x2_plane_f32(float *out, uint8_t *offset, const float *x, int64_t h, int64_t w);
void ccnn_max_pool2x2_plane_f64(double *out, uint8_t *offset, const double *x, int64_t h,
                                int64_t w);

/* Which kernels pooling runs, for tests and benchmarks: 0 the fastest, 1 the
 * 2x2 / stride-2 fast path without vectors, 2 the general per-window loops
 * for every geometry.  Max pooling gives the same bits on every path; the
 * 2x2 average sums (a + b) + (c + e), the general loops left to right.  path in 0..2 sets it
 * (process-wide), anything else only reads it; returns the previous setting.
 * The start value comes from the environment: CCNN_POOL_PATH=scalar|general. */
int ccnn_pool2d_path(int path);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_POOL_H */
