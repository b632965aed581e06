/* gemm.h -- a packed, register-blocked GEMM (after BLIS / Goto), the engine of
 * the convolution kernels:
 *
 *     C (m x n, row-major, leading dim ldc)  +=  A (m x k) * B (k x n)
 *
 * A and B are each a strided matrix (so transposes are free) or an *implicit
 * im2col* view of one image of a convolution, packed straight from a
 * zero-framed copy of the image, so the convolution never materialises its
 * column buffer:
 *     im2col[(c*R + r)*S + s, p*Q + q] = xpad[c, p*sh + r*dh, q*sw + s*dw]
 * where xpad[c, i, j] = x[c, i - pt, j - pl] (0 in the padding).
 *
 * Serial: callers parallelise over images or over row blocks of C.  Packing
 * buffers come from a per-thread workspace that is reused across calls.
 */
#ifndef CCNN_GEMM_H
#define CCNN_GEMM_H
#include "ccnn_common.h"
#include "conv2d.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { CCNN_OPERAND_STRIDED = 0, CCNN_OPERAND_IM2COL = 1, CCNN_OPERAND_PACKED = 2 };

/* Elements of readable memory the im2col packing needs before and after a
 * zero-framed image (it loads whole vectors and keeps only some lanes). */
#define CCNN_GEMM_PAD_SLACK 32

/* A GEMM operand: a strided matrix M[i, j] = ptr[i*rs + j*cs], or the implicit
 * im2col matrix of one zero-framed image xpad (c, hp, wp) of the convolution
 * `conv` (only its r, s, p, q, strides and dilations are used):
 *     M[i, oh*Q + ow] = xpad[c, oh*sh + r*dh, ow*sw + s*dw]
 * with (c*R + r)*S + s = row0 + i.  ptr points at xpad[0, 0, 0]; the
 * CCNN_GEMM_PAD_SLACK elements on either side of xpad must be readable. */
typedef struct {
    int kind;
    const void *ptr;
    int64_t rs, cs;
    const ccnn_conv2d_dims *conv;
    int64_t row0;              /* im2col: the operand starts at this im2col row */
    int64_t hp, wp;            /* im2col: extent of xpad */
} ccnn_gemm_operand;

/* A CCNN_OPERAND_PACKED operand (A only; ptr, the other fields unused): the
 * whole m x k matrix already in the packed panels ccnn_gemm_* would build
 * from it, ccnn_gemm_packed_a_elems(m, k) elements written by
 * ccnn_gemm_pack_a_* (in this process: the layout follows the micro-kernel
 * in use).  A GEMM on it is bit for bit the GEMM on the operand packed. */
int64_t ccnn_gemm_packed_a_elems(int64_t m, int64_t k);
/* dst (ccnn_gemm_packed_a_elems(m, k)) <- the packed panels of A (m x k,
 * strided or im2col); CCNN_OK, or CCNN_ENOMEM without the packing scratch. */
int ccnn_gemm_pack_a_f32(float *dst, int64_t m, int64_t k, const ccnn_gemm_operand *a);
int ccnn_gemm_pack_a_f64(double *dst, int64_t m, int64_t k, const ccnn_gemm_operand *a);

/* C += A * B, or, when `overwrite`, C = A * B + bias (bias[i] added to row i;
 * bias (m) may be NULL; C is then only written), with C (m x n) row-major
 * (leading dim ldc), A (m x k), B (k x n).
 * Returns CCNN_OK, or CCNN_ENOMEM when the packing workspace cannot be had. */
int ccnn_gemm_f32(int64_t m, int64_t n, int64_t k, const ccnn_gemm_operand *a,
                  const ccnn_gemm_operand *b, float *c, int64_t ldc, int overwrite,
                  const float *bias);
int ccnn_gemm_f64(int64_t m, int64_t n, int64_t k, const ccnn_gemm_operand *a,
                  const ccnn_gemm_operand *b, double *c, int64_t ldc, int overwrite,
                  const double *bias);

/* ccnn_gemm_* on strided matrices A[i, p] = a[i*rsa + p*csa], B[p, j] =
 * b[p*rsb + j*csb] (the tests' entry point to the GEMM). */
int ccnn_gemm_strided_f32(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
                          int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c,
                          int64_t ldc, int overwrite, const float *bias);
int ccnn_gemm_strided_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t rsa,
                          int64_t csa, const double *b, int64_t rsb, int64_t csb, double *c,
                          int64_t ldc, int overwrite, const double *bias);

/* Per-thread scratch memory, 64-byte aligned, grown on demand and reused by
 * later calls on the same thread (never freed).  Slot CCNN_WS_GEMM belongs to
 * ccnn_gemm_*; callers use the others.  NULL when out of memory. */
enum { CCNN_WS_GEMM = 0, CCNN_WS_CONV = 1, CCNN_WS_CONV2 = 2, CCNN_WS_CONV3 = 3,
       CCNN_WS_ACT = 4, CCNN_WS_WINO = 5, CCNN_WS_SLOTS = 6 };
void *ccnn_workspace(int slot, size_t bytes);

/* Bytes of the CCNN_WS_GEMM workspace ccnn_gemm_* takes per thread, for
 * elements of itemsize bytes (4: float, 8: double). */
size_t ccnn_gemm_workspace_bytes(size_t itemsize);

/* Name of the micro-kernel family in use: "avx512f (...)", "avx2+fma (...)"
 * or "generic C" (CCNN_GEMM_ISA=avx2 / generic or CCNN_GEMM_GENERIC=1 force a
 * narrower one than the CPU has). */
const char *ccnn_gemm_kernel_name(void);
/* 1 when the AVX-512 micro-kernels are in use (conv2d.c's Winograd dispatch) */
int ccnn_gemm_wide(void);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_GEMM_H */
