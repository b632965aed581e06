/* merge.h -- the merge layers' elementwise arithmetic (Add, Subtract, Multiply,
 * Average, Maximum, Minimum) and Concatenate's row copy, for the inference
 * plan (plan.c).  Private: not part of ccnn.h.
 *
 * The layers (ccnn/layers/merging/) compute with NumPy ufuncs; these loops do
 * the same IEEE operation per element, so they round identically:
 *
 *   kind  out[i] =
 *   0     a + b
 *   1     a - b
 *   2     a * b
 *   3     (a + b) / div        (Average's last step: the sum, then / len(inputs))
 *   4     isnan(a) ? a : a > b ? a : b     (np.maximum: NaN propagates; of
 *   5     isnan(a) ? a : a < b ? a : b      two equal values, b -- as NumPy 2)
 *
 * then act: CCNN_MERGE_ACT_NONE or CCNN_MERGE_ACT_RELU (x < 0 ? 0 : x, as
 * ccnn_relu_forward).  out may equal a or b. */
#ifndef CCNN_MERGE_H
#define CCNN_MERGE_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { CCNN_MERGE_ADD = 0, CCNN_MERGE_SUB = 1, CCNN_MERGE_MUL = 2, CCNN_MERGE_AVG = 3,
       CCNN_MERGE_MAX = 4, CCNN_MERGE_MIN = 5, CCNN_MERGE_KINDS = 6 };
enum { CCNN_MERGE_ACT_NONE = 0, CCNN_MERGE_ACT_RELU = 1 };

/* out, a, b: (n).  CCNN_EBADARG (nothing written) for an unknown kind or act. */
int ccnn_merge_forward_f32(float *out, const float *a, const float *b, int64_t n, int kind,
                           double div, int act, int nthreads);
int ccnn_merge_forward_f64(double *out, const double *a, const double *b, int64_t n, int kind,
                           double div, int act, int nthreads);

/* Concatenate along axis 1 of (rows, len) blocks: out (rows, out_len)[:, offset:offset + len]
 * <- inp (rows, len); 0 <= offset, offset + len <= out_len. */
void ccnn_concat_rows_f32(float *out, const float *inp, int64_t rows, int64_t len,
                          int64_t out_len, int64_t offset, int nthreads);
void ccnn_concat_rows_f64(double *out, const double *inp, int64_t rows, int64_t len,
                          int64_t out_len, int64_t offset, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_MERGE_H */
