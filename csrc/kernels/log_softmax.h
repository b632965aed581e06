/* log_softmax.h -- log-softmax over each row of a (rows, classes) array:
 *
 *   out[r, k] = inp[r, k] - max_r - log(sum_j exp(inp[r, j] - max_r))
 *   dinp[r, k] = dout[r, k] - exp(out[r, k]) * sum_j dout[r, j]
 *
 * (the backward from the forward's output).  Stable for any finite logits;
 * the row sums are accumulated in double. */
#ifndef CCNN_LOG_SOFTMAX_H
#define CCNN_LOG_SOFTMAX_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out, inp: (rows, classes), classes >= 1 */
void ccnn_log_softmax_forward_f32(float *out, const float *inp, int64_t rows, int64_t classes,
                                  int nthreads);
void ccnn_log_softmax_forward_f64(double *out, const double *inp, int64_t rows,
                                  int64_t classes, int nthreads);
/* dinp, dout, out: (rows, classes); out is the forward's result */
void ccnn_log_softmax_backward_f32(float *dinp, const float *dout, const float *out,
                                   int64_t rows, int64_t classes, int nthreads);
void ccnn_log_softmax_backward_f64(double *dinp, const double *dout, const double *out,
                                   int64_t rows, int64_t classes, int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_LOG_SOFTMAX_H */
