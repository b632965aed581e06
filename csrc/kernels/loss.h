/* loss.h -- softmax and the fused softmax + cross-entropy loss, forward and backward.
 *
 * For each row i of logits z (n rows, `classes` columns):
 *
 *     lse_i   = max_j z_ij + log sum_j exp(z_ij - max_j z_ij)     (log-sum-exp)
 *     probs_ij = exp(z_ij - lse_i)                                  (softmax)
 *
 *   sparse labels y_i in [0, classes):
 *     loss_i  = lse_i - z_{i,y_i}                    = -log probs_{i,y_i}
 *     dz_ij   = (probs_ij - [j == y_i]) / n          (gradient of the batch mean)
 *   dense targets t_ij (one-hot or soft):
 *     loss_i  = sum_j t_ij (lse_i - z_ij)            = -sum_j t_ij log probs_ij
 *     dz_ij   = (probs_ij * sum_k t_ik - t_ij) / n
 *
 * The max is subtracted before exponentiating, so logits of any finite size
 * give finite losses and probabilities (no overflow; no log(0)): this is the
 * stable fused path, no epsilon clipping.  NaN in a row propagates to that
 * row's loss and probabilities.  All arrays are C-contiguous; labels are
 * int64 and must already be checked to lie in [0, classes) by the caller.
 * OpenMP splits the rows; each row is written by exactly one thread.
 */
#ifndef CCNN_LOSS_H
#define CCNN_LOSS_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* probs: (n, classes); logits: (n, classes) -- probs may equal logits (in place) */
void ccnn_softmax_forward_f32(float *probs, const float *logits, int64_t n, int64_t classes,
                              int nthreads);
void ccnn_softmax_forward_f64(double *probs, const double *logits, int64_t n, int64_t classes,
                              int nthreads);

/* dinp = probs * (dout - sum_j dout_j probs_j), row by row.
 * dinp, dout, probs: (n, classes) -- dinp may equal dout */
void ccnn_softmax_backward_f32(float *dinp, const float *dout, const float *probs, int64_t n,
                               int64_t classes, int nthreads);
void ccnn_softmax_backward_f64(double *dinp, const double *dout, const double *probs, int64_t n,
                               int64_t classes, int nthreads);

/* loss_per_row: (n); probs: (n, classes) or NULL to skip; logits: (n, classes);
 * labels: (n), each in [0, classes) */
void ccnn_softmax_xent_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                   const int64_t *labels, int64_t n, int64_t classes, int nthreads);
void ccnn_softmax_xent_forward_f64(double *loss_per_row, double *probs, const double *logits,
                                   const int64_t *labels, int64_t n, int64_t classes, int nthreads);

/* dlogits: (n, classes); probs: (n, classes) from the forward; labels: (n).
 * dlogits = (probs - onehot(labels)) / n; dlogits may equal probs. */
void ccnn_softmax_xent_backward_f32(float *dlogits, const float *probs, const int64_t *labels,
                                    int64_t n, int64_t classes, int nthreads);
void ccnn_softmax_xent_backward_f64(double *dlogits, const double *probs, const int64_t *labels,
                                    int64_t n, int64_t classes, int nthreads);

/* Dense targets.  loss_per_row: (n); probs: (n, classes) or NULL;
 * logits, targets: (n, classes) */
void ccnn_softmax_xent_dense_forward_f32(float *loss_per_row, float *probs, const float *logits,
                                         const float *targets, int64_t n, int64_t classes,
                                         int nthreads);
void ccnn_softmax_xent_dense_forward_f64(double *loss_per_row, double *probs, const double *logits,
                                         const double *targets, int64_t n, int64_t classes,
                                         int nthreads);

/* dlogits = (probs * rowsum(targets) - targets) / n.
 * dlogits, probs, targets: (n, classes); dlogits may equal probs. */
void ccnn_softmax_xent_dense_backward_f32(float *dlogits, const float *probs, const float *targets,
                                          int64_t n, int64_t classes, int nthreads);
void ccnn_softmax_xent_dense_backward_f64(double *dlogits, const double *probs,
                                          const double *targets, int64_t n, int64_t classes,
                                          int nthreads);

/* Sigmoid + binary cross-entropy, elementwise over flat arrays of length n
 * (logits z, targets t in [0, 1] -- or any real t, the formula is linear in t):
 *
 *     loss_i   = max(z_i, 0) - z_i t_i + log1p(exp(-|z_i|))   = -t log s - (1-t) log(1-s)
 *     dlogit_i = (s_i - t_i) * scale * dloss_i                  s = sigmoid(z)
 *
 * exp only ever sees -|z| <= 0, so any finite logit gives a finite loss and
 * gradient (no clipping; PyTorch's binary_cross_entropy_with_logits).  NaN
 * propagates.  scale is 1/count for a mean, 1 for a sum; dloss NULL means 1. */

/* loss: (n); logits: (n); targets: (n) */
void ccnn_sigmoid_bce_forward_f32(float *loss, const float *logits, const float *targets,
                                  int64_t n, int nthreads);
void ccnn_sigmoid_bce_forward_f64(double *loss, const double *logits, const double *targets,
                                  int64_t n, int nthreads);

/* dlogits: (n); dloss: (n) or NULL; logits: (n); targets: (n) -- dlogits may equal dloss */
void ccnn_sigmoid_bce_backward_f32(float *dlogits, const float *dloss, const float *logits,
                                   const float *targets, float scale, int64_t n, int nthreads);
void ccnn_sigmoid_bce_backward_f64(double *dlogits, const double *dloss, const double *logits,
                                   const double *targets, double scale, int64_t n,
                                   int nthreads);

/* How many rows of p (n, classes) have labels[i] as their argmax -- NumPy's:
 * the first NaN, else the first maximum (accuracy's count; serial: n * classes
 * is a batch's logits).  classes >= 1. */
int64_t ccnn_argmax_matches_f32(const float *p, const int64_t *labels, int64_t n,
                                int64_t classes);
int64_t ccnn_argmax_matches_f64(const double *p, const int64_t *labels, int64_t n,
                                int64_t classes);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_LOSS_H */
