/* plan_train.h -- a compiled training step: forward (training mode), the
 * softmax + cross-entropy loss and its gradient, and backward, for a chain of
 * layers, run by one C call.
 *
 * ccnn.models.train_plan compiles a Sequential model, for one batch shape,
 * into ops of the same design as plan.h: each a record of
 * CCNN_TRAIN_FIELDS int64 (the op, which buffers it reads and writes, which
 * weights and gradients, its geometry) and CCNN_TRAIN_REALS doubles, and a
 * table of buffer pointers the records index (ptrs[i] is a pointer, as an
 * int64; an index < 0 is NULL; slots 0, 1 and 2 stand for the call's inp, out
 * and targets).  ccnn_plan_train runs every op's forward in order, then every
 * op's backward in reverse; each calls the kernel (and makes the
 * zero-initialisations the kernel needs) that its layer's binding makes, with
 * the same thread count, so the step is bit-identical to the per-layer one.
 * Activations are NCHW, C-contiguous; every value has its own buffer (the
 * backward reads them); gradients of values go to two ping-pong buffers.
 *
 *   op                     forward: src -> dst          backward: ddst -> dsrc (if any)
 *   CCNN_TP_CONV           conv2d (n,c,h,w) -> (n,k,p,q) (+ relu);  dweight, dbias
 *   CCNN_TP_CONV_POOL      conv -> relu -> 2x2 max pool -> (n,k,p/2,q/2), argmax
 *                          uint8 in aux;  dweight, dbias (no dsrc: a first layer only)
 *   CCNN_TP_DENSE          (n, in = c) -> (n, units = k) (+ relu);  dweight, dbias
 *   CCNN_TP_MAXPOOL        pool2d (n,c,h,w) -> (n,c,p,q), int64 argmax in aux
 *   CCNN_TP_BN             (outer = n, c, inner = h) with the batch's statistics:
 *                          mean in aux, biased var in aux2, invstd in aux3 (all (c));
 *                          flag 1 (a frozen layer, inference mode): aux and aux2 are
 *                          the moving mean and variance, read only;
 *                          weight = gamma, bias = beta (or NULL); dweight = dgamma,
 *                          dbias = dbeta (or NULL); eps in reals
 *   CCNN_TP_RELU           (count = n)
 *   CCNN_TP_DROPOUT        (count = n), uint8 mask in aux, the seed's bits in the
 *                          seed field, the rate in reals
 *   CCNN_TP_TRANSPOSE      (n, a = c, b = h) -> (n, b, a)
 *   CCNN_TP_SOFTMAX_XENT   logits (rows = n, classes = c) -> probs (dst); the
 *                          per-row losses in aux, the loss's probs in aux2 and
 *                          d(mean loss)/d(logits) (times the scale in reals)
 *                          in dsrc, all in the forward;
 *                          flag bit 1: int64 labels (n) in the targets slot, else
 *                          targets (n, c) of the element type; flag bit 2: the
 *                          model's output is the logits (from_logits: dst is src,
 *                          no softmax written)
 *   CCNN_TP_POINTWISE      pointwise.h's activation `kind` (count = n, alpha in reals)
 *   CCNN_TP_AVGPOOL        avg pool2d (n,c,h,w) -> (n,c,p,q), padding not counted
 *                          (count_include_pad 0; geometry as MAXPOOL's)
 *   CCNN_TP_GAVGPOOL       global average pool: (rows = n, len = h) -> (rows)
 *   CCNN_TP_GMAXPOOL       global max pool: (rows = n, len = h) -> (rows), int64
 *                          argmax in aux
 *   CCNN_TP_SIGMOID_BCE    the binary cross-entropy from the logits (count = n): src
 *                          is the model's output (dst is src), aux the logits (the
 *                          Dense's pre-activation; NULL: src, a loss from_logits),
 *                          aux2 the elementwise losses and
 *                          dsrc d(mean loss)/d(logits) (scale = 1 / count in reals'
 *                          alpha; then times the scale in reals), both in the
 *                          forward; targets of the element type
 *   CCNN_TP_SPATIAL_DROPOUT  (n, c, inner = h): each (image, channel) kept or zeroed,
 *                          the (n, c) uint8 mask in aux drawn as SpatialDropout2D
 *                          draws it (dropout_sample of double ones, a double scratch
 *                          (n c) in aux3), the channel scales (n c) in aux2, the
 *                          seed's bits in the seed field, the rate in reals
 *   CCNN_TP_BN_RELU        a BatchNormalization in training mode (as CCNN_TP_BN
 *                          with flag 0) and the ReLU after it, one kernel
 *                          (batchnorm.h's batchnorm_relu_forward / _backward):
 *                          dst the ReLU's output, the only value written
 *   CCNN_TP_ADD            (count = n): dst = src + aux (the second input, the element
 *                          type), flag 1: src - aux (Subtract); no backward of its own
 *                          (CCNN_TP_ACCUM ops give its gradient, ddst, to each input)
 *   CCNN_TP_ACCUM          (count = n): no forward; backward: flag 0 dsrc = ddst (a
 *                          copy), flag 1 dsrc = dsrc + ddst (a value's gradient summed
 *                          as Model._backward sums it: dvals[s] + g); flag 2 and 3 as
 *                          0 and 1 with -ddst for ddst (Subtract's second input's
 *                          gradient, -dout).  Placed before the
 *                          op whose gradient it takes, it runs right after that op's
 *                          backward.
 * flag (CONV, DENSE): 1 for the fused ReLU; 2 for pointwise.h's activation `kind`
 * (alpha in reals) in act_epilogue.h's epilogue, the pre-activation in aux and
 * its gradient in aux2 (both the output's size); 3 (DENSE): as 2, but ddst is
 * already the gradient of the pre-activation (a fused sigmoid + BCE head).
 */
#ifndef CCNN_PLAN_TRAIN_H
#define CCNN_PLAN_TRAIN_H
#include "ccnn_common.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { CCNN_TP_CONV = 1, CCNN_TP_CONV_POOL = 2, CCNN_TP_DENSE = 3, CCNN_TP_MAXPOOL = 4,
       CCNN_TP_BN = 5, CCNN_TP_RELU = 6, CCNN_TP_DROPOUT = 7, CCNN_TP_TRANSPOSE = 8,
       CCNN_TP_SOFTMAX_XENT = 9, CCNN_TP_POINTWISE = 10, CCNN_TP_AVGPOOL = 11,
       CCNN_TP_GAVGPOOL = 12, CCNN_TP_GMAXPOOL = 13, CCNN_TP_SIGMOID_BCE = 14,
       CCNN_TP_SPATIAL_DROPOUT = 15, CCNN_TP_BN_RELU = 16,
       /* a functional model's graph (ccnn.models.train_graph) */
       CCNN_TP_ADD = 17, CCNN_TP_ACCUM = 18 };

/* The fields of an op's record (int64), and of its reals (double). */
enum {
    CCNN_TF_OP = 0, CCNN_TF_FLAG, CCNN_TF_SRC, CCNN_TF_DST, CCNN_TF_DSRC, CCNN_TF_DDST,
    CCNN_TF_WEIGHT, CCNN_TF_BIAS, CCNN_TF_DWEIGHT, CCNN_TF_DBIAS, CCNN_TF_AUX, CCNN_TF_AUX2,
    CCNN_TF_AUX3, CCNN_TF_SEED,
    /* geometry: conv (n c h w k r s sh sw dh dw pt pb pl pr); dense (n, in = c, units = k);
     * max pool (n c h w, kh = r, kw = s, sh sw, pads); BN (outer = n, c, inner = h);
     * RELU / DROPOUT / POINTWISE (count = n); TRANSPOSE (n, a = c, b = h); SOFTMAX_XENT
     * (n, classes = c); AVGPOOL as max pool; GAVGPOOL / GMAXPOOL (rows = n, len = h) */
    CCNN_TF_N, CCNN_TF_C, CCNN_TF_H, CCNN_TF_W, CCNN_TF_K, CCNN_TF_R, CCNN_TF_S,
    CCNN_TF_SH, CCNN_TF_SW, CCNN_TF_DH, CCNN_TF_DW, CCNN_TF_PT, CCNN_TF_PB, CCNN_TF_PL,
    CCNN_TF_PR,
    CCNN_TF_KIND,       /* pointwise.h's kind: POINTWISE, CONV / DENSE with flag 2 */
    CCNN_TRAIN_FIELDS = 32
};
/* reals: SOFTMAX_XENT and SIGMOID_BCE take the loss's weight (compile's
 * loss_weights) in SCALE: their d(loss)/d(logits) is multiplied by it in the
 * element type after the mean loss's gradient (1.0: left as it is) */
enum { CCNN_TR_EPS = 0, CCNN_TR_RATE = 1, CCNN_TR_ALPHA = 2, CCNN_TR_SCALE = 3,
       CCNN_TRAIN_REALS = 4 };

/* Run the training step of nops ops: code (nops, CCNN_TRAIN_FIELDS), reals
 * (nops, CCNN_TRAIN_REALS), ptrs the buffer table, whose slots 0, 1 and 2
 * stand for inp (the plan's input), out (the model's output) and targets
 * (int64 labels or element-type targets).  Returns CCNN_OK, CCNN_EBADARG (an
 * unknown op, a missing buffer or a geometry its dims_init refuses; the ops
 * before it have run) or CCNN_ENOMEM. */
int ccnn_plan_train_f32(float *out, const float *inp, const void *targets, const int64_t *ptrs,
                        const int64_t *code, const double *reals, int64_t nops, int nthreads);
int ccnn_plan_train_f64(double *out, const double *inp, const void *targets,
                        const int64_t *ptrs, const int64_t *code, const double *reals,
                        int64_t nops, int nthreads);

/* ccnn_plan_train then the optimizer's update, one call (plan_train_step):
 * opt (CCNN_TO_HEAD + 6 count) int64 describes it, optreals its scalars.
 *   opt[KIND]    CCNN_TO_ADAM, _SGD, _RMSPROP, _ADAGRAD, _ADADELTA or _ADAMAX: the
 *                optim.h step kernel it calls (no gscale: no norm clipping)
 *   opt[COUNT]   count, the number of (param, grad) pairs
 *   opt[CHECK]   1: update only when every grad and every per-row loss of
 *                rows (nrows, the element type) is finite and the rows' sum of
 *                magnitudes (double) is at most DBL_MAX / 4 (then any mean of
 *                them is finite); else *applied = 0 and nothing is updated
 *   opt[ROWS], opt[NROWS]   that buffer (a pointer) and its length
 *   opt[HAS0..HAS2]  1 when state list 0, 1, 2 is given, else its kernel argument is NULL
 *   opt[DECAY]   a pointer to (count) doubles, weight decay * lr per param, or 0
 *   opt[GSCALE]  a pointer to (count) doubles, each grad's scale (the kernels'
 *                gscale: ccnn.distribution.DataParallel's share of the batch), or 0
 *   then, each (count): param pointers, state 0, 1 and 2 pointers, grad pointers,
 *   sizes (elements)
 * optreals: clipvalue (0: none), then the kernel's scalars after its decay
 * argument, in its order (SGD's nesterov as 0 / 1).  The kernel is called as
 * ccnn.optimizers' _step calls it through _optim, scalars cast to REAL. */
enum { CCNN_TO_ADAM = 1, CCNN_TO_SGD = 2, CCNN_TO_RMSPROP = 3, CCNN_TO_ADAGRAD = 4,
       CCNN_TO_ADADELTA = 5, CCNN_TO_ADAMAX = 6 };
enum { CCNN_TO_KIND = 0, CCNN_TO_COUNT, CCNN_TO_CHECK, CCNN_TO_ROWS, CCNN_TO_NROWS,
       CCNN_TO_HAS0, CCNN_TO_HAS1, CCNN_TO_HAS2, CCNN_TO_DECAY, CCNN_TO_GSCALE,
       CCNN_TO_HEAD = 16 };
enum { CCNN_TO_REALS = 8 };

/* As ccnn_plan_train, then (when it returns CCNN_OK and the check passes) the
 * update; *applied says whether it ran.  CCNN_EBADARG also for a bad opt. */
int ccnn_plan_train_step_f32(float *out, const float *inp, const void *targets,
                             const int64_t *ptrs, const int64_t *code, const double *reals,
                             int64_t nops, const int64_t *opt, const double *optreals,
                             int *applied, int nthreads);
int ccnn_plan_train_step_f64(double *out, const double *inp, const void *targets,
                             const int64_t *ptrs, const int64_t *code, const double *reals,
                             int64_t nops, const int64_t *opt, const double *optreals,
                             int *applied, int nthreads);

/* nsteps consecutive plan_train_step calls in one (compile's
 * steps_per_execution) over batches of n rows taken from the whole training
 * arrays: inp (nrows rows of in_size / n elements) and, with targets_rows,
 * targets (nrows rows of targets_bytes / n bytes).  Step i's rows are
 * rows[i * n .. i * n + n) -- gathered, just before the step, into a buffer
 * of the call's own (in_size elements, and targets_bytes bytes) -- or, with
 * rows NULL, the consecutive rows first + i * n .. (read in place).  Without
 * targets_rows, targets holds the steps' targets one after another (nsteps,
 * targets_bytes bytes).  Every row index is checked (0 <= index < nrows;
 * first + nsteps * n <= nrows) before anything runs: CCNN_EBADARG.
 * Each step first writes seeds[i * nseeds + j] into
 * code[seed_rows[j]][CCNN_TF_SEED] (its Dropouts' draws), with optreals +
 * i * CCNN_TO_REALS and, when decays is not NULL, opt[DECAY] = decays + i *
 * count (restored at the end).  After each step, each of the nsnaps snapshots
 * (snaps (nsnaps, 3): source pointer, destination pointer, bytes) copies its
 * source to destination + i * bytes, and with hits (nsteps) the rows of out
 * (nsteps' out is (n, classes)) whose argmax (NumPy's) is the step's int64
 * label -- labels[i * n + r] when labels is not NULL (the classes of one-hot
 * or other non-label targets, taken by the caller), else the step's targets
 * (int64 labels) -- are counted into hits[i].  A step whose check refused its update
 * ends the run: *done counts the steps run, *applied says whether the last
 * one updated.  With reduce (a DataParallel fit's; else NULL), each step is
 * the backward, then reduce(reduce_ctx, i) -- the binding's function, which
 * takes the GIL and runs the Python all-reduce of the gradients the plan
 * wrote into the all-reduce buffer (and may set opt[GSCALE]) -- then the
 * update (plan_optimize's, its check over the reduced sums); a reduce that
 * returns nonzero ends the run with CCNN_TRAIN_EREDUCE (*done: the steps before
 * it).  (Its parameters are written once, with their shapes, as
 * CCNN_PLAN_TRAIN_STEPS_PARAMS, for the float and the double kernel.) */
typedef int (*ccnn_step_reduce_fn)(void *ctx, int64_t step);
enum { CCNN_TRAIN_EREDUCE = 5 };     /* plan_train_steps: its reduce asked to stop */
#define CCNN_PLAN_TRAIN_STEPS_PARAMS(T)                                                        \
    (T *out,                        /* (n, classes): the model's output, each step's */       \
     const T *inp,                  /* (nrows, in_size / n): the rows the steps take */       \
     const void *targets,           /* (nrows, targets_bytes / n bytes) with targets_rows, */ \
                                    /* else (nsteps, targets_bytes bytes) */                  \
     const int64_t *rows,           /* (nsteps * n): the steps' rows, or NULL */              \
     int64_t first, int64_t nrows, int64_t n, int targets_rows,                               \
     const int64_t *ptrs, int64_t *code, const double *reals, int64_t nops, /* the plan */    \
     int64_t *opt, const double *optreals, /* the record; (nsteps, CCNN_TO_REALS) */          \
     int64_t nsteps, int64_t in_size, int64_t targets_bytes,                                  \
     const uint64_t *seeds,         /* (nsteps, nseeds) */                                    \
     const int64_t *seed_rows, int64_t nseeds, /* (nseeds): the ops whose seed they are */    \
     const double *decays,          /* (nsteps, count) or NULL */                             \
     const int64_t *snaps, int64_t nsnaps, /* (nsnaps, 3): source, destination, bytes */      \
     int64_t *hits, int64_t classes, /* (nsteps) or NULL */                                   \
     const int64_t *labels,         /* (nsteps * n): hits' labels, or NULL: the targets */    \
     ccnn_step_reduce_fn reduce, void *reduce_ctx, /* each step's all-reduce, or NULL */      \
     int64_t *done, int *applied, int nthreads)
int ccnn_plan_train_steps_f32 CCNN_PLAN_TRAIN_STEPS_PARAMS(float);
int ccnn_plan_train_steps_f64 CCNN_PLAN_TRAIN_STEPS_PARAMS(double);

/* The optimizer's update alone (plan_optimize): plan_train_step's, over the
 * grads its record points at (DataParallel: the all-reduced buffer), with
 * opt[CHECK] checking them and the rows (there: the all-reduced loss). */
int ccnn_plan_optimize_f32(const int64_t *opt, const double *optreals, int *applied,
                           int nthreads);
int ccnn_plan_optimize_f64(const int64_t *opt, const double *optreals, int *applied,
                           int nthreads);

#ifdef __cplusplus
}
#endif
#endif /* CCNN_PLAN_TRAIN_H */
