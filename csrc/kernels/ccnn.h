/* ccnn.h -- every public header of ccnn's C kernels (installed as
 * <ccnn.get_include()>/ccnn/ccnn.h):
 *
 *   ccnn_common.h  error codes, ccnn_out_size, build facts
 *   conv2d.h       2-D cross-correlation forward / backward, ccnn_conv2d_dims;
 *                  fused with a ReLU, and with ReLU + 2x2 max pooling
 *   pool.h         max / average pooling, ccnn_pool2d_dims
 *   activation.h   ReLU, inverted dropout (with its mask drawn in C)
 *   correlate.h    2-D correlation of two arrays, ccnn_correlate_dims
 *   loss.h         softmax, fused softmax + cross-entropy
 *   optim.h        fused Adam / SGD updates, Adam over many arrays, finiteness check
 *   dense.h        fully connected layer forward / backward, ccnn_dense_dims
 *   layout.h       batched transpose (NCHW <-> NHWC)
 *   batchnorm.h    batch normalization statistics, forward, backward
 *   augment.h      affine resampling of images (random translation, rotation, zoom)
 *   global_pool.h  global average / max pooling
 *   pointwise.h    elementwise activations beyond ReLU (sigmoid, tanh, gelu, ...)
 *   pad.h          constant padding / cropping of the spatial axes
 *   upsample.h     nearest-neighbour upsampling
 *   resize.h       nearest / bilinear resizing to any size
 *   rectifier.h    ReLU with Keras's arguments, PReLU
 *   log_softmax.h  row-wise log-softmax
 *   layernorm.h    layer normalization over rows
 *   act_epilogue.h conv2d / dense with an activation applied block by block in cache
 *   plan.h         a compiled inference plan (a chain of layers) run by one call
 *   plan_train.h   a compiled training step (forward, loss, backward) run by one call
 *
 * These headers describe the kernels and their shape structs.  Another
 * package reaches the kernels without linking: from Cython through
 * `from ccnn.kernels cimport ...` (ccnn/kernels.pxd), from C through the
 * function table of kernels_capi.h.
 */
#ifndef CCNN_H
#define CCNN_H
#include "ccnn_common.h"
#include "conv2d.h"
#include "pool.h"
#include "activation.h"
#include "correlate.h"
#include "loss.h"
#include "optim.h"
#include "dense.h"
#include "layout.h"
#include "batchnorm.h"
#include "augment.h"
#include "global_pool.h"
#include "pointwise.h"
#include "pad.h"
#include "upsample.h"
#include "resize.h"
#include "rectifier.h"
#include "log_softmax.h"
#include "layernorm.h"
#include "act_epilogue.h"
#include "depthwise.h"
#include "plan.h"
#include "plan_train.h"
#endif /* CCNN_H */
