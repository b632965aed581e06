/* conv2d.h -- padded, strided, dilated 2-D cross-correlation, forward and backward.
 *
 *   y[n,k,p,q] = bias[k] + sum_{c,r,s} w[k,c,r,s] * x[n, c, p*sh - pad_top  + r*dh,
 *                                                        q*sw - pad_left + s*dw]
 * (terms whose input index falls in the padding are zero).
 */
#ifndef CCNN_CONV2D_H
#define CCNN_CONV2D_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n, c, h, w;          /* input  x (n, c, h, w)                    */
    int64_t k, r, s;             /* weight   (k, c, r, s), bias (k)          */
    int64_t p, q;                /* output y (n, k, p, q), set by dims_init  */
    int64_t stride_h, stride_w;
    int64_t dil_h, dil_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
} ccnn_conv2d_dims;

/* Fills *d and computes the output size (p, q).  Returns CCNN_OK, or
 * CCNN_EBADARG / CCNN_EEMPTY / CCNN_EOVERFLOW; *d is then unusable. */
int ccnn_conv2d_dims_init(ccnn_conv2d_dims *d,
                          int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t k, int64_t r, int64_t s,
                          int64_t stride_h, int64_t stride_w,
                          int64_t dil_h, int64_t dil_w,
                          int64_t pad_top, int64_t pad_bottom,
                          int64_t pad_left, int64_t pad_right);

/* Bytes of scratch memory (per-thread and shared workspaces, reused across
 * calls) the auto-dispatching kernels take for d with elements of itemsize
 * bytes on nthreads threads: the forward (backward = 0) or the input and
 * weight gradients (backward = 1).  An upper bound, computed from the same
 * block sizes the kernels use; INT64_MAX when past int64.  ccnn.functional
 * refuses a call whose output and workspace exceed the machine's memory. */
int64_t ccnn_conv2d_workspace_bytes(const ccnn_conv2d_dims *d, int backward, int64_t itemsize,
                                    int nthreads);

/* Which algorithm the auto-dispatching kernels use for these dims in each
 * pass: the forward, the input gradient (data) or the weight and bias
 * gradients (weight); the auto backward may run the two halves with
 * different algorithms. */
enum { CCNN_CONV_DIRECT = 1, CCNN_CONV_GEMM = 2, CCNN_CONV_WINOGRAD = 3 };
enum { CCNN_PASS_FORWARD = 0, CCNN_PASS_DATA = 1, CCNN_PASS_WEIGHT = 2 };
int ccnn_conv2d_algo(const ccnn_conv2d_dims *d, int pass);

/* Winograd F(2x2, 3x3): where ccnn_conv2d_algo picks GEMM, the GEMM-class
 * forward and stride-1 input gradient run as Winograd instead when these
 * return 1 and the weight and the images are finite.  Shape (and GEMM
 * micro-kernel) only: 3x3, stride 1, dilation 1, c >= CCNN_WINO_MIN_C input
 * and k >= CCNN_WINO_MIN_K output channels, and T = ceil(p/2) * ceil(q/2)
 * tiles per image with T >= 49, c*k <= 512 T, and c*k >= 2048 when T < 100
 * (T < 400 when the AVX-512 GEMM micro-kernel is in use, which also needs
 * n * T >= 256 tiles per call; conv2d.c has the measurements) -- of the
 * flipped forward on the whole batch (c = k, k = c, p x q = h x w) for
 * the input gradient, which also needs padding <= 2 on every side. */
#define CCNN_WINO_MIN_C 32
#define CCNN_WINO_MIN_K 32
#define CCNN_WINO_BLOCK_BYTES (2 * 1024 * 1024)
#define CCNN_WINO_MIN_TILES 128
int ccnn_conv2d_winograd_eligible(const ccnn_conv2d_dims *d);
int ccnn_conv2d_winograd_data_eligible(const ccnn_conv2d_dims *d);
/* The auto weight gradient (where ccnn_conv2d_algo picks GEMM for it) runs
 * as Winograd F(2x2, 3x3) when this returns 1: 3x3, stride 1, dilation 1,
 * c >= CCNN_WINO_MIN_C, k >= CCNN_WINO_MIN_K, T >= 49 tiles per image, and
 * the AVX2 (not the AVX-512) GEMM micro-kernel; CCNN_WINO_WGRAD=0 in the
 * environment turns it off (conv2d.c has the measurements). */
int ccnn_conv2d_winograd_weight_eligible(const ccnn_conv2d_dims *d);
/* What the forced _winograd kernels below take: 3x3, stride 1, dilation 1
 * (any channels and size); for the input gradient also padding <= 2 on
 * every side and c >= 16 (the GEMM kernels' flipped forward). */
int ccnn_conv2d_winograd_supported(const ccnn_conv2d_dims *d);
int ccnn_conv2d_winograd_data_supported(const ccnn_conv2d_dims *d);

/* Forward.  out: (n,k,p,q); inp: (n,c,h,w); weight: (k,c,r,s); bias: (k) or NULL.
 * _direct: plain loops (the reference); _gemm: implicit GEMM; no suffix: the
 * faster of the two for d.  Return CCNN_OK or CCNN_ENOMEM (workspace). */
int ccnn_conv2d_forward_f32(float *out, const float *inp, const float *weight,
                            const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_f64(double *out, const double *inp, const double *weight,
                            const double *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_direct_f32(float *out, const float *inp, const float *weight,
                                    const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_direct_f64(double *out, const double *inp, const double *weight,
                                    const double *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_gemm_f32(float *out, const float *inp, const float *weight,
                                 const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_gemm_f64(double *out, const double *inp, const double *weight,
                                 const double *bias, const ccnn_conv2d_dims *d, int nthreads);
/* _winograd: Winograd F(2x2, 3x3), CCNN_EBADARG (nothing written) when d is
 * not supported; the implicit GEMM for a non-finite weight or image. */
int ccnn_conv2d_forward_winograd_f32(float *out, const float *inp, const float *weight,
                                     const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_forward_winograd_f64(double *out, const double *inp, const double *weight,
                                     const double *bias, const ccnn_conv2d_dims *d, int nthreads);

/* Backward.  dinp: (n,c,h,w) or NULL to skip; dweight: (k,c,r,s) or NULL;
 * dbias: (k) or NULL; dout: (n,k,p,q); inp: (n,c,h,w); weight: (k,c,r,s).
 * Gradients are overwritten, not accumulated. */
int ccnn_conv2d_backward_f32(float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *weight,
                             const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_f64(double *dinp, double *dweight, double *dbias,
                             const double *dout, const double *inp, const double *weight,
                             const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_direct_f32(float *dinp, float *dweight, float *dbias,
                                     const float *dout, const float *inp, const float *weight,
                                     const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_direct_f64(double *dinp, double *dweight, double *dbias,
                                     const double *dout, const double *inp, const double *weight,
                                     const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_gemm_f32(float *dinp, float *dweight, float *dbias,
                                  const float *dout, const float *inp, const float *weight,
                                  const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_gemm_f64(double *dinp, double *dweight, double *dbias,
                                  const double *dout, const double *inp, const double *weight,
                                  const ccnn_conv2d_dims *d, int nthreads);
/* _winograd: the GEMM backward with the input gradient through the Winograd
 * forward and the weight gradient through the Winograd weight gradient;
 * CCNN_EBADARG (nothing written) when dinp is asked for and
 * ccnn_conv2d_winograd_data_supported(d) is 0, or dweight and
 * ccnn_conv2d_winograd_supported(d) is 0. */
int ccnn_conv2d_backward_winograd_f32(float *dinp, float *dweight, float *dbias,
                                      const float *dout, const float *inp, const float *weight,
                                      const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_backward_winograd_f64(double *dinp, double *dweight, double *dbias,
                                      const double *dout, const double *inp, const double *weight,
                                      const ccnn_conv2d_dims *d, int nthreads);

/* Fused with a ReLU (the layer Conv2D(..., activation='relu')):
 *   forward   out = max(conv2d(inp), 0), in the kernels' epilogue (NaN stays NaN);
 *   backward  the gradients of conv2d for dz = dout * (out > 0), where out is
 *             that forward's result: (n,k,p,q).  Same arguments otherwise. */
int ccnn_conv2d_relu_forward_f32(float *out, const float *inp, const float *weight,
                                 const float *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_relu_forward_f64(double *out, const double *inp, const double *weight,
                                 const double *bias, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_relu_backward_f32(float *dinp, float *dweight, float *dbias,
                                  const float *dout, const float *out, const float *inp,
                                  const float *weight, const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_relu_backward_f64(double *dinp, double *dweight, double *dbias,
                                  const double *dout, const double *out, const double *inp,
                                  const double *weight, const ccnn_conv2d_dims *d, int nthreads);

/* Fused conv -> ReLU -> 2x2 / stride-2 max pooling (the textbook's first two
 * layers): the conv output never reaches memory, only its pooling.
 *   forward   out (n, k, p/2, q/2) = maxpool2x2(max(conv2d(inp), 0)), with
 *             p/2 and q/2 rounded down (an odd last conv row / column is not
 *             pooled); inp (n,c,h,w), weight (k,c,r,s), bias (k) or NULL;
 *             argmax (n, k, p/2, q/2): each window's first maximum as its offset
 *             0..3 = (0,0) (0,1) (1,0) (1,1) (a NaN wins, the first NaN).
 *   backward  dweight (k,c,r,s) (required) and dbias (k) or NULL, overwritten
 *             with the gradients of the loss, given dout (n, k, p/2, q/2) = its
 *             gradient with respect to out, and the forward's out and argmax:
 *             the gradient reaches the conv output at each argmax where
 *             out > 0.  No input gradient (and no weight argument).
 * Supported when ccnn_conv2d_relu_maxpool_supported(d) returns 1 (stride-1
 * columns, c*r*s < 32, p, q >= 2; d filled by ccnn_conv2d_dims_init).  The
 * forward and backward return CCNN_OK, CCNN_ENOMEM (workspace), or
 * CCNN_EBADARG, writing nothing, when d is not supported (or dweight is NULL). */
int ccnn_conv2d_relu_maxpool_supported(const ccnn_conv2d_dims *d);
int ccnn_conv2d_relu_maxpool_forward_f32(float *out, uint8_t *argmax, const float *inp,
                                         const float *weight, const float *bias,
                                         const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_relu_maxpool_forward_f64(double *out, uint8_t *argmax, const double *inp,
                                         const double *weight, const double *bias,
                                         const ccnn_conv2d_dims *d, int nthreads);
int ccnn_conv2d_relu_maxpool_backward_f32(float *dweight, float *dbias, const float *dout,
                                          const float *out, const uint8_t *argmax,
                                          const float *inp, const ccnn_conv2d_dims *d,
                                          int nthreads);
int ccnn_conv2d_relu_maxpool_backward_f64(double *dweight, double *dbias, const double *dout,
                                          const double *out, const uint8_t *argmax,
                                          const double *inp, const ccnn_conv2d_dims *d,
                                          int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_CONV2D_H */
