"""ccnn.functional -- PyTorch-style ops over NCHW arrays, computed by C kernels.

Every op ``f`` has ``f_backward(grad_out, <f's array inputs>, <f's keyword
arguments>)`` returning the gradient of each array input.  Extra keyword
arguments may carry saved state (max-pool ``indices``, the dropout ``mask``)
to skip recomputation.

dtype rule: the result is float32 when every floating input is float32, else
float64 (ints and bools are read as float64).  Inputs are never modified and
outputs never alias them.  Arguments are checked before any C code runs.

The layers call the same kernels through the "unchecked entries" at the end
(arguments they checked when they were built).  One module of about 700
lines on purpose: the whole PyTorch-style API in one place, grouped by op
family, as torch.nn.functional is.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, Literal, Optional, Tuple, Union, overload

import numpy as np

from . import (_activation, _augment, _conv2d, _correlate, _dense, _depthwise, _layout, _loss,
               _norm, _plan, _pool, _reshaping)
from . import _checks as chk
from ._config import get_num_threads

__all__ = [
    "conv2d", "conv2d_backward", "conv2d_relu_maxpool2d", "conv2d_relu_maxpool2d_backward",
    "dense", "dense_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "pool2d_pads",
    "relu", "relu_backward", "dropout", "dropout_backward", "channels_first", "channels_last",
    "correlate", "convolve",
    "batch_norm", "batch_norm_backward", "batch_norm_stats", "affine_transform",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu6", "relu6_backward",
    "leaky_relu", "leaky_relu_backward", "elu", "elu_backward", "selu", "selu_backward",
    "gelu", "gelu_backward", "silu", "silu_backward", "hardsigmoid", "hardsigmoid_backward",
    "hardswish", "hardswish_backward", "softplus", "softplus_backward", "softsign",
    "softsign_backward",
    "pad", "pad_backward", "interpolate", "interpolate_backward",
    "log_softmax", "log_softmax_backward", "prelu", "prelu_backward", "layer_norm",
    "layer_norm_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "conv_transpose2d", "conv_transpose2d_backward",
    "dropout2d", "dropout2d_backward",
]

IntPair = Union[int, Tuple[int, int]]
Padding = Union[str, int, Tuple[int, int], Tuple[Tuple[int, int], Tuple[int, int]]]


# --------------------------------------------------------------------- conv2d

def _conv2d_setup(x: Any, weight: Any, stride: IntPair, padding: Padding, dilation: IntPair,
                  groups: int = 1) -> Tuple[np.ndarray, np.ndarray, chk.Pair, chk.Pair, chk.Pads,
                                            Tuple[int, int, int, int]]:
    """Validated (x, weight, stride, dilation, pads, out_shape, dtype); groups
    checked by _groups_arg first."""
    x = chk.real_array(x, "x")
    weight = chk.real_array(weight, "weight")
    chk.check_ndim(x, 4, "x", "(N, C, H, W)")
    chk.check_ndim(weight, 4, "weight", "(out_channels, in_channels, kh, kw)")
    chk.nonempty_hw(x, "x")
    if min(weight.shape) < 1:
        raise ValueError(f"weight must have no zero-length axis, got shape {weight.shape}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"channel mismatch: x has {x.shape[1]} channels (x.shape[1]) but weight "
                         f"expects {weight.shape[1] * groups} (weight.shape[1] * groups)")
    if weight.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the out_channels (weight.shape[0] = "
                         f"{weight.shape[0]})")
    if max(weight.shape[2:]) > chk.MAX_DIM:
        raise ValueError(f"weight is too large: shape {weight.shape}")
    sh, sw = chk.pair(stride, "stride", 1)
    dh, dw = chk.pair(dilation, "dilation", 1)
    kh, kw = weight.shape[2], weight.shape[3]
    pads = chk.padding(padding, "padding", x.shape[2:], (kh, kw), (sh, sw), (dh, dw))
    p = chk.out_size(x.shape[2], pads[0], pads[1], kh, sh, dh, False, "conv2d height")
    q = chk.out_size(x.shape[3], pads[2], pads[3], kw, sw, dw, False, "conv2d width")
    out_shape = (x.shape[0], weight.shape[0], p, q)
    return x, weight, (sh, sw), (dh, dw), pads, out_shape


def _conv2d_workspace(x_shape: Tuple[int, ...], w_shape: Tuple[int, ...], stride: chk.Pair,
                      dilation: chk.Pair, pads: chk.Pads, out_shape: Tuple[int, int, int, int],
                      itemsize: int, backward: bool) -> int:
    """Bytes of scratch memory the conv2d kernels take for this geometry, as C
    reports them (ccnn_conv2d_workspace_bytes, from the kernels' own block
    sizes), so that check_alloc refuses an impossible call before anything is
    allocated."""
    del out_shape  # C computes the output size itself
    return _conv2d.workspace_bytes(tuple(x_shape), tuple(w_shape), stride, dilation, pads,
                                   itemsize, backward, get_num_threads())


def _conv_activation(activation: Any) -> bool:
    """True for 'relu', False for None; anything else is a ValueError."""
    if activation is None:
        return False
    if isinstance(activation, str) and activation == "relu":
        return True
    raise ValueError(f"activation must be None or 'relu', got {activation!r}")


def _fused_output(relu: bool, output: Any, out_shape: Tuple[int, ...], op: str,
                  layout: str) -> Optional[np.ndarray]:
    """The forward result a fused ReLU's backward needs (checked), or None."""
    if not relu:
        if output is not None:
            raise ValueError("output is only used with activation='relu'")
        return None
    if output is None:
        raise ValueError(f"activation='relu' needs output, the result of {op}(..., "
                         f"activation='relu')")
    output = chk.real_array(output, "output")
    chk.check_ndim(output, len(out_shape), "output", layout)
    chk.check_shape(output, out_shape, "output")
    return output


def _bias(bias: Any, units: int) -> Optional[np.ndarray]:
    """bias checked as a real (units,) array, or None."""
    if bias is None:
        return None
    bias = chk.real_array(bias, "bias")
    chk.check_shape(bias, (units,), "bias")
    return bias


def conv2d(x: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
           padding: Padding = 0, dilation: IntPair = 1,
           activation: Optional[str] = None, groups: int = 1) -> np.ndarray:
    """2-D cross-correlation: y[n,k,p,q] = bias[k] + sum_{c,r,s} weight[k,c,r,s] *
    x_padded[n, c, p*sh + r*dh, q*sw + s*dw].

    x: (N, C, H, W); weight: (K, C, kh, kw); bias: (K,) or None -> y: (N, K, P, Q)
    padding: int, (ph, pw), ((top, bottom), (left, right)), "valid" or "same"
    (TensorFlow's rule: P = ceil(H / sh), the odd extra row at the bottom).
    activation='relu' returns max(y, 0), applied in the kernel's epilogue
    (one pass instead of two); pass the result as `output` to conv2d_backward.
    groups (PyTorch's): weight (K, C / groups, kh, kw), input channels and
    filters split into groups convolved separately; groups == C with weight
    (C * m, 1, kh, kw) is the depthwise convolution (its own kernel).
    """
    relu = _conv_activation(activation)
    groups = _groups_arg(groups, relu)
    x, weight, stride, dilation, pads, out_shape = _conv2d_setup(x, weight, stride, padding,
                                                                 dilation, groups)
    bias = _bias(bias, weight.shape[0])
    if groups > 1:
        return _grouped_conv2d(x, weight, bias, stride, dilation, pads, out_shape, groups)
    dtype = chk.result_dtype(x, weight, bias)
    chk.check_alloc(out_shape, dtype, "conv2d output", _conv2d_workspace(
        x.shape, weight.shape, stride, dilation, pads, out_shape, np.dtype(dtype).itemsize, False))
    b = None if bias is None else chk.contiguous(bias, dtype)
    return conv2d_unchecked(chk.contiguous(x, dtype), chk.contiguous(weight, dtype), b, stride,
                            dilation, pads, relu)


def conv2d_backward(grad_out: Any, x: Any, weight: Any, stride: IntPair = 1,
                    padding: Padding = 0, dilation: IntPair = 1, need_input_grad: bool = True,
                    activation: Optional[str] = None, output: Any = None, groups: int = 1
                    ) -> Tuple[Optional[np.ndarray], np.ndarray, np.ndarray]:
    """Gradients (grad_x, grad_weight, grad_bias) of conv2d given grad_out = dL/dy.

    grad_out: (N, K, P, Q) -> grad_x: (N, C, H, W), grad_weight: (K, C, kh, kw),
    grad_bias: (K,) = grad_out summed over N, P, Q.  need_input_grad=False skips
    grad_x (returned as None): a network's first layer never needs it.
    activation='relu': the gradients of conv2d(..., activation='relu'), whose
    result must be passed as `output` (grad_out is masked by output > 0).
    groups: as conv2d's.
    """
    relu = _conv_activation(activation)
    groups = _groups_arg(groups, relu)
    need_input_grad = chk.boolean(need_input_grad, "need_input_grad")
    x, weight, stride, dilation, pads, out_shape = _conv2d_setup(x, weight, stride, padding,
                                                                 dilation, groups)
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_ndim(grad_out, 4, "grad_out", "(N, K, P, Q)")
    chk.check_shape(grad_out, out_shape, "grad_out")
    if groups > 1:
        return _grouped_conv2d_backward(grad_out, x, weight, stride, dilation, pads, out_shape,
                                        groups, need_input_grad)
    output = _fused_output(relu, output, out_shape, "conv2d", "(N, K, P, Q)")
    dtype = chk.result_dtype(grad_out, x, weight)
    itemsize = np.dtype(dtype).itemsize
    chk.check_alloc(x.shape if need_input_grad else (0,), dtype, "conv2d_backward grad_x",
                    _conv2d_workspace(x.shape, weight.shape, stride, dilation, pads, out_shape,
                                      itemsize, True)
                    + (weight.size + weight.shape[0]) * itemsize
                    + (math.prod(out_shape) * itemsize if relu else 0))
    gx, gw, gb = conv2d_backward_unchecked(
        chk.contiguous(grad_out, dtype), chk.contiguous(x, dtype), chk.contiguous(weight, dtype),
        stride, dilation, pads, need_input_grad, True,
        chk.contiguous(output, dtype) if relu else None)
    assert gw is not None and gb is not None
    return gx, gw, gb


def conv2d_relu_maxpool2d(x: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
                          padding: Padding = 0, dilation: IntPair = 1
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """max_pool2d(conv2d(x, weight, bias, ..., activation='relu'), 2) in one
    kernel (the textbook's first two layers): the conv output never reaches
    memory.  Returns (out (N, K, P//2, Q//2), argmax): argmax (uint8, same
    shape) is each window's first maximum as its offset 0..3 (row-major).
    Only for stride 1 along columns and few input taps (C*kh*kw < 32); else a
    ValueError -- compose conv2d and max_pool2d instead."""
    x, weight, stride, dilation, pads, out_shape = _conv2d_setup(x, weight, stride, padding, dilation)
    bias = _bias(bias, weight.shape[0])
    if not conv2d_relu_maxpool2d_supported(x.shape, weight.shape, stride, dilation, pads):
        raise ValueError(f"conv2d_relu_maxpool2d supports stride 1 along columns, an output of "
                         f"at least 2 x 2 and in_channels * kh * kw < 32; got stride {stride}, "
                         f"output {out_shape[2:]}, weight {weight.shape}")
    dtype = chk.result_dtype(x, weight, bias)
    chk.check_alloc(out_shape, dtype, "conv2d_relu_maxpool2d output", _conv2d_workspace(
        x.shape, weight.shape, stride, dilation, pads, out_shape, np.dtype(dtype).itemsize, False))
    b = None if bias is None else chk.contiguous(bias, dtype)
    return conv2d_relu_maxpool2d_unchecked(chk.contiguous(x, dtype), chk.contiguous(weight, dtype),
                                           b, stride, dilation, pads)


def conv2d_relu_maxpool2d_backward(grad_out: Any, x: Any, weight: Any, output: Any, argmax: Any,
                                   stride: IntPair = 1, padding: Padding = 0,
                                   dilation: IntPair = 1) -> Tuple[np.ndarray, np.ndarray]:
    """(grad_weight, grad_bias) of conv2d_relu_maxpool2d given grad_out =
    dL/d(out); output and argmax are that forward's results.  The input
    gradient is not computed (the fused layers are a network's first)."""
    x, weight, stride, dilation, pads, out_shape = _conv2d_setup(x, weight, stride, padding, dilation)
    pooled = (out_shape[0], out_shape[1], out_shape[2] // 2, out_shape[3] // 2)
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_shape(grad_out, pooled, "grad_out")
    output = chk.real_array(output, "output")
    chk.check_shape(output, pooled, "output")
    argmax = np.asarray(argmax)
    if argmax.dtype != np.uint8:
        raise TypeError(f"argmax must be the uint8 array from conv2d_relu_maxpool2d, got dtype "
                        f"{argmax.dtype}")
    chk.check_shape(argmax, pooled, "argmax")
    if not conv2d_relu_maxpool2d_supported(x.shape, weight.shape, stride, dilation, pads):
        raise ValueError("conv2d_relu_maxpool2d_backward: unsupported geometry (see "
                         "conv2d_relu_maxpool2d)")
    dtype = chk.result_dtype(grad_out, x, weight, output)
    chk.check_alloc(weight.shape, dtype, "conv2d_relu_maxpool2d_backward grad_weight",
                    _conv2d_workspace(x.shape, weight.shape, stride, dilation, pads, out_shape,
                                      np.dtype(dtype).itemsize, True))
    gw, gb = conv2d_relu_maxpool2d_backward_unchecked(
        chk.contiguous(grad_out, dtype), chk.contiguous(x, dtype), tuple(weight.shape),
        chk.contiguous(output, dtype), np.ascontiguousarray(argmax), stride, dilation, pads, True)
    assert gb is not None
    return gw, gb


# ---------------------------------------------------------------------- dense

def _dense_setup(x: Any, kernel: Any) -> Tuple[np.ndarray, np.ndarray]:
    x = chk.real_array(x, "x")
    kernel = chk.real_array(kernel, "kernel")
    chk.check_ndim(x, 2, "x", "(N, in_features)")
    chk.check_ndim(kernel, 2, "kernel", "(in_features, units)")
    if min(kernel.shape) < 1:
        raise ValueError(f"kernel must have no zero-length axis, got shape {kernel.shape}")
    if x.shape[1] != kernel.shape[0]:
        raise ValueError(f"feature mismatch: x has {x.shape[1]} features (x.shape[1]) but kernel "
                         f"expects {kernel.shape[0]} (kernel.shape[0])")
    return x, kernel


def dense(x: Any, kernel: Any, bias: Any = None, activation: Optional[str] = None) -> np.ndarray:
    """Fully connected layer: y = x @ kernel + bias (Keras's Dense, kernel
    (in_features, units)), with activation='relu' applied in the same kernel.

    x: (N, in_features); kernel: (in_features, units); bias: (units,) or None
    -> y: (N, units).  The product runs on ccnn's own GEMM and thread pool.
    """
    relu = _conv_activation(activation)
    x, kernel = _dense_setup(x, kernel)
    bias = _bias(bias, kernel.shape[1])
    dtype = chk.result_dtype(x, kernel, bias)
    chk.check_alloc((x.shape[0], kernel.shape[1]), dtype, "dense output")
    b = None if bias is None else chk.contiguous(bias, dtype)
    return dense_unchecked(chk.contiguous(x, dtype), chk.contiguous(kernel, dtype), b, relu)


def dense_backward(grad_out: Any, x: Any, kernel: Any, need_input_grad: bool = True,
                   activation: Optional[str] = None, output: Any = None
                   ) -> Tuple[Optional[np.ndarray], np.ndarray, np.ndarray]:
    """Gradients (grad_x, grad_kernel, grad_bias) of dense given grad_out = dL/dy.

    grad_x = dz @ kernel.T (None when need_input_grad=False), grad_kernel =
    x.T @ dz, grad_bias = dz summed over N, where dz = grad_out, or
    grad_out * (output > 0) with activation='relu' (output: dense's result).
    """
    relu = _conv_activation(activation)
    need_input_grad = chk.boolean(need_input_grad, "need_input_grad")
    x, kernel = _dense_setup(x, kernel)
    out_shape = (x.shape[0], kernel.shape[1])
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_ndim(grad_out, 2, "grad_out", "(N, units)")
    chk.check_shape(grad_out, out_shape, "grad_out")
    output = _fused_output(relu, output, out_shape, "dense", "(N, units)")
    dtype = chk.result_dtype(grad_out, x, kernel)
    chk.check_alloc(x.shape if need_input_grad else (0,), dtype, "dense_backward grad_x",
                    (kernel.size + kernel.shape[1] + math.prod(out_shape)) * np.dtype(dtype).itemsize)
    gx, gk, gb = dense_backward_unchecked(chk.contiguous(grad_out, dtype), chk.contiguous(x, dtype),
                                          chk.contiguous(kernel, dtype), need_input_grad, True,
                                          chk.contiguous(output, dtype) if relu else None)
    assert gb is not None
    return gx, gk, gb


# -------------------------------------------------------------------- pooling

def _pool_setup(x: Any, kernel_size: IntPair, stride: Optional[IntPair], padding: Padding,
                ceil_mode: bool, what: str
                ) -> Tuple[np.ndarray, chk.Pair, chk.Pair, chk.Pads, bool,
                           Tuple[int, int, int, int]]:
    """Validated (x, kernel, stride, pads, ceil_mode, out_shape)."""
    x = chk.real_array(x, "x")
    chk.check_ndim(x, 4, "x", "(N, C, H, W)")
    chk.nonempty_hw(x, "x")
    kernel = chk.pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else chk.pair(stride, "stride", 1)
    ceil_mode = chk.boolean(ceil_mode, "ceil_mode")
    pads = pool2d_pads(x.shape[2:], kernel, stride, padding)
    p = chk.out_size(x.shape[2], pads[0], pads[1], kernel[0], stride[0], 1, ceil_mode, f"{what} height")
    q = chk.out_size(x.shape[3], pads[2], pads[3], kernel[1], stride[1], 1, ceil_mode, f"{what} width")
    return x, kernel, stride, pads, ceil_mode, (x.shape[0], x.shape[1], p, q)


def pool2d_pads(input_hw: Tuple[int, int], kernel_size: IntPair,
                stride: Optional[IntPair] = None, padding: Padding = 0) -> chk.Pads:
    """(top, bottom, left, right): the zero (avg) or -inf (max) border that
    max_pool2d and avg_pool2d put around an input of input_hw = (H, W) for
    `padding` (as they take it: int, pair, ((top, bottom), (left, right)),
    'valid' or 'same'); at most half the window on each side."""
    kernel = chk.pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else chk.pair(stride, "stride", 1)
    pads = chk.padding(padding, "padding", (int(input_hw[0]), int(input_hw[1])), kernel, stride,
                       (1, 1))
    for pad, k in ((pads[0], kernel[0]), (pads[1], kernel[0]), (pads[2], kernel[1]), (pads[3], kernel[1])):
        if 2 * pad > k:
            raise ValueError(f"padding must be at most half of kernel_size, got padding {padding!r} "
                             f"for kernel_size {kernel_size!r}")
    return pads


def _grad_out(grad_out: Any, out_shape: Tuple[int, ...]) -> np.ndarray:
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_ndim(grad_out, 4, "grad_out", "(N, C, P, Q)")
    chk.check_shape(grad_out, out_shape, "grad_out")
    return grad_out


@overload
def max_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: Padding = 0, ceil_mode: bool = False,
               return_indices: Literal[False] = False) -> np.ndarray: ...
@overload
def max_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: Padding = 0, ceil_mode: bool = False, *,
               return_indices: Literal[True]) -> Tuple[np.ndarray, np.ndarray]: ...
@overload
def max_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair], padding: Padding,
               ceil_mode: bool, return_indices: Literal[True]
               ) -> Tuple[np.ndarray, np.ndarray]: ...
@overload
def max_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: Padding = 0, ceil_mode: bool = False, return_indices: bool = False
               ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]: ...
def max_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: Padding = 0, ceil_mode: bool = False, return_indices: bool = False
               ) -> Any:
    """Max over each kernel_size window (padding counts as -inf).

    x: (N, C, H, W) -> y: (N, C, P, Q), and with return_indices the int64 flat
    index h*W + w of each window's first maximum (a NaN wins: NaN propagates).
    """
    x, kernel, stride, pads, ceil_mode, out_shape = _pool_setup(
        x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    return_indices = chk.boolean(return_indices, "return_indices")
    dtype = chk.result_dtype(x)
    chk.check_alloc(out_shape, np.int64, "max_pool2d output")
    y, idx = max_pool2d_unchecked(chk.contiguous(x, dtype), kernel, stride, pads, ceil_mode,
                                  return_indices)
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_out: Any, x: Any, kernel_size: IntPair,
                        stride: Optional[IntPair] = None, padding: Padding = 0,
                        ceil_mode: bool = False, indices: Any = None) -> np.ndarray:
    """grad_x: each grad_out value goes to its window's (first) maximum.

    indices (from max_pool2d(..., return_indices=True)) skips recomputing it."""
    x, kernel, stride, pads, ceil_mode, out_shape = _pool_setup(
        x, kernel_size, stride, padding, ceil_mode, "max_pool2d")
    grad_out = _grad_out(grad_out, out_shape)
    dtype = chk.result_dtype(grad_out, x)
    nthreads = get_num_threads()
    if indices is None:
        return _pool.max_pool2d_backward_recompute(chk.contiguous(grad_out, dtype),
                                                   chk.contiguous(x, dtype), kernel, stride, pads,
                                                   ceil_mode, nthreads)
    return max_pool2d_backward_unchecked(chk.contiguous(grad_out, dtype),
                                         _pool_indices(indices, out_shape), x.shape,
                                         kernel, stride, pads, ceil_mode)


def _pool_indices(indices: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """A max pool's saved indices, checked for dtype and shape, as C-contiguous
    int64.  The range check [0, H*W) is done by the C kernel in its pass over
    the indices (a ValueError naming indices; uint64 values above 2**63 wrap
    to negatives)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
    chk.check_shape(idx, shape, "indices")
    return np.ascontiguousarray(idx, dtype=np.int64)


def avg_pool2d(x: Any, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: Padding = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> np.ndarray:
    """Mean over each window; the divisor follows PyTorch (count_include_pad
    counts the zero padding, never the part of a ceil_mode window beyond it)."""
    x, kernel, stride, pads, ceil_mode, out_shape = _pool_setup(
        x, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    count_include_pad = chk.boolean(count_include_pad, "count_include_pad")
    dtype = chk.result_dtype(x)
    chk.check_alloc(out_shape, dtype, "avg_pool2d output")
    return avg_pool2d_unchecked(chk.contiguous(x, dtype), kernel, stride, pads, ceil_mode,
                                count_include_pad)


def avg_pool2d_backward(grad_out: Any, x: Any, kernel_size: IntPair,
                        stride: Optional[IntPair] = None, padding: Padding = 0,
                        ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """grad_x: each grad_out value spread evenly (1/divisor) over its window."""
    x, kernel, stride, pads, ceil_mode, out_shape = _pool_setup(
        x, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    count_include_pad = chk.boolean(count_include_pad, "count_include_pad")
    grad_out = _grad_out(grad_out, out_shape)
    dtype = chk.result_dtype(grad_out, x)
    return avg_pool2d_backward_unchecked(chk.contiguous(grad_out, dtype), x.shape, kernel,
                                         stride, pads, ceil_mode, count_include_pad)


# ---------------------------------------------------------------- activations

def relu(x: Any) -> np.ndarray:
    """max(x, 0), any shape; NaN stays NaN."""
    x = chk.real_array(x, "x")
    dtype = chk.result_dtype(x)
    return _activation.relu_forward(chk.contiguous(x, dtype).reshape(-1),
                                    get_num_threads()).reshape(x.shape)


def relu_backward(grad_out: Any, x: Any) -> np.ndarray:
    """grad_out * (x > 0)."""
    x = chk.real_array(x, "x")
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_shape(grad_out, x.shape, "grad_out")
    dtype = chk.result_dtype(grad_out, x)
    return _activation.relu_backward(chk.contiguous(grad_out, dtype).reshape(-1),
                                     chk.contiguous(x, dtype).reshape(-1),
                                     get_num_threads()).reshape(x.shape)


def dropout(x: Any, rate: float, training: bool = True,
            seed: Union[None, int, np.random.Generator] = None
            ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Inverted dropout: (y, mask) with y = x * mask / (1 - rate).

    mask is a bool array (True = kept, each with probability 1 - rate) drawn
    from `seed` (None, an int, or a numpy Generator).  With training=False the
    result is (a copy of x, None)."""
    rate = chk.dropout_rate(rate)
    training = chk.boolean(training, "training")
    x = chk.real_array(x, "x")
    if seed is not None and not isinstance(seed, np.random.Generator):
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be None, an int or a numpy.random.Generator, "
                            f"got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
    dtype = chk.result_dtype(x)
    if not training:
        return np.array(x, dtype=dtype, copy=True), None
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    y, mask = dropout_unchecked(chk.contiguous(x, dtype), rate, rng)
    return y.reshape(x.shape), mask.reshape(x.shape)     # () stays ()


def dropout_backward(grad_out: Any, mask: Optional[Any], rate: float) -> np.ndarray:
    """grad_out * mask / (1 - rate); a copy of grad_out when mask is None."""
    rate = chk.dropout_rate(rate)
    grad_out = chk.real_array(grad_out, "grad_out")
    dtype = chk.result_dtype(grad_out)
    if mask is None:
        return np.array(grad_out, dtype=dtype, copy=True)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a bool array (from dropout), got dtype {mask.dtype}")
    chk.check_shape(mask, grad_out.shape, "mask")
    return dropout_backward_unchecked(chk.contiguous(grad_out, dtype), np.ascontiguousarray(mask),
                                      rate).reshape(grad_out.shape)   # () stays ()


# ------------------------------------------------------- NCHW <-> NHWC moves

def channels_last(x: Any) -> np.ndarray:
    """(N, C, H, W) -> a C-contiguous (N, H, W, C) copy: the moves between the
    kernels' layout and Keras's images.  Free for the transposed view of such
    a copy (e.g. the channels-last view of an NCHW result), else one C
    transpose (NumPy's strided copy is several times slower)."""
    x = chk.real_array(x, "x")
    chk.check_ndim(x, 4, "x", "(N, C, H, W)")
    return move_channels_unchecked(x, to_last=True)


def channels_first(x: Any) -> np.ndarray:
    """(N, H, W, C) -> a C-contiguous (N, C, H, W) copy (see channels_last)."""
    x = chk.real_array(x, "x")
    chk.check_ndim(x, 4, "x", "(N, H, W, C)")
    return move_channels_unchecked(x, to_last=False)


# ------------------------------------------ unchecked entries (for the layers)
# What a built layer calls on every batch.  Its input was checked against the
# shape it was built for, its weights are its own and its geometry (stride,
# dilation, pads) was parsed when it was built, so these skip the argument
# checks of the ops above -- which end in the same calls: one route from a
# layer or a user to a kernel.  Arrays are C-contiguous and all float32 or all
# float64; pads = (top, bottom, left, right).  Nothing else should call them.

def conv2d_unchecked(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                     stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                     relu: bool = False) -> np.ndarray:
    """conv2d(x, weight, bias, ..., activation='relu' if relu else None)."""
    return _conv2d.conv2d_forward(x, weight, bias, stride, dilation, pads, get_num_threads(),
                                  relu=relu)


def conv2d_act_unchecked(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                         stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads, kind: str,
                         alpha: float) -> Tuple[np.ndarray, np.ndarray]:
    """(y, z): z = conv2d(x, weight, bias, ...), y = the pointwise activation `kind`
    of z, applied block by block while z is in cache (act_epilogue.c)."""
    return _conv2d.conv2d_act_forward(x, weight, bias, stride, dilation, pads,
                                      _pointwise_kinds()[kind], alpha, get_num_threads())


def conv2d_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                              stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                              need_input_grad: bool, need_bias_grad: bool,
                              output: Optional[np.ndarray] = None
                              ) -> Tuple[Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]:
    """conv2d_backward; output (the ReLU'd result) given means activation='relu'.
    grad_bias is None unless need_bias_grad."""
    gx, gw, gb = _conv2d.conv2d_backward(grad_out, x, weight, stride, dilation, pads,
                                         need_input_grad, True, need_bias_grad,
                                         get_num_threads(), relu_out=output)
    assert gw is not None
    return gx, gw, gb


def conv2d_relu_maxpool2d_supported(x_shape: Tuple[int, ...], weight_shape: Tuple[int, ...],
                                    stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads) -> bool:
    """Whether conv2d_relu_maxpool2d runs this geometry (x_shape's N is ignored)."""
    return bool(_conv2d.relu_maxpool_supported(tuple(x_shape), tuple(weight_shape), stride,
                                               dilation, pads))


def conv2d_relu_maxpool2d_unchecked(x: np.ndarray, weight: np.ndarray,
                                    bias: Optional[np.ndarray], stride: chk.Pair,
                                    dilation: chk.Pair, pads: chk.Pads
                                    ) -> Tuple[np.ndarray, np.ndarray]:
    """conv2d_relu_maxpool2d: (out, argmax)."""
    return _conv2d.conv2d_relu_maxpool_forward(x, weight, bias, stride, dilation, pads,
                                               get_num_threads())


def conv2d_relu_maxpool2d_backward_unchecked(
        grad_out: np.ndarray, x: np.ndarray, weight_shape: Tuple[int, ...], output: np.ndarray,
        argmax: np.ndarray, stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
        need_bias_grad: bool) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """conv2d_relu_maxpool2d_backward: (grad_weight, grad_bias or None)."""
    return _conv2d.conv2d_relu_maxpool_backward(grad_out, output, argmax, x, weight_shape,
                                                stride, dilation, pads, need_bias_grad,
                                                get_num_threads())


def dense_unchecked(x: np.ndarray, kernel: np.ndarray, bias: Optional[np.ndarray],
                    relu: bool = False) -> np.ndarray:
    """dense(x, kernel, bias, activation='relu' if relu else None)."""
    return _dense.dense_forward(x, kernel, bias, relu, get_num_threads())


def dense_act_unchecked(x: np.ndarray, kernel: np.ndarray, bias: Optional[np.ndarray],
                        kind: str, alpha: float) -> Tuple[np.ndarray, np.ndarray]:
    """(y, z): z = x @ kernel + bias, y = the pointwise activation `kind` of z,
    block by block while z is in cache (act_epilogue.c)."""
    return _dense.dense_act_forward(x, kernel, bias, _pointwise_kinds()[kind], alpha,
                                    get_num_threads())


def dense_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, kernel: np.ndarray,
                             need_input_grad: bool, need_bias_grad: bool,
                             output: Optional[np.ndarray] = None
                             ) -> Tuple[Optional[np.ndarray], np.ndarray, Optional[np.ndarray]]:
    """dense_backward; output (the ReLU'd result) given means activation='relu'."""
    return _dense.dense_backward(grad_out, x, kernel, output, need_input_grad, need_bias_grad,
                                 get_num_threads())


def max_pool2d_unchecked(x: np.ndarray, kernel: chk.Pair, stride: chk.Pair, pads: chk.Pads,
                         ceil_mode: bool = False, return_indices: bool = True
                         ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """max_pool2d: (y, int64 indices or None)."""
    return _pool.max_pool2d_forward(x, kernel, stride, pads, ceil_mode, return_indices,
                                    get_num_threads())


def max_pool2d_backward_unchecked(grad_out: np.ndarray, indices: np.ndarray,
                                  x_shape: Tuple[int, ...], kernel: chk.Pair, stride: chk.Pair,
                                  pads: chk.Pads, ceil_mode: bool = False) -> np.ndarray:
    """max_pool2d_backward with the int64 indices of max_pool2d_unchecked."""
    return _pool.max_pool2d_backward(grad_out, indices, tuple(x_shape), kernel, stride, pads,
                                     ceil_mode, get_num_threads())


def avg_pool2d_unchecked(x: np.ndarray, kernel: chk.Pair, stride: chk.Pair, pads: chk.Pads,
                         ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """avg_pool2d."""
    return _pool.avg_pool2d_forward(x, kernel, stride, pads, ceil_mode, count_include_pad,
                                    get_num_threads())


def avg_pool2d_backward_unchecked(grad_out: np.ndarray, x_shape: Tuple[int, ...],
                                  kernel: chk.Pair, stride: chk.Pair, pads: chk.Pads,
                                  ceil_mode: bool = False,
                                  count_include_pad: bool = True) -> np.ndarray:
    """avg_pool2d_backward."""
    return _pool.avg_pool2d_backward(grad_out, tuple(x_shape), kernel, stride, pads, ceil_mode,
                                     count_include_pad, get_num_threads())


def move_channels_unchecked(a: np.ndarray, to_last: bool) -> np.ndarray:
    """channels_last(a) when to_last, else channels_first(a), for a 4-D float `a`."""
    t = a.transpose(0, 2, 3, 1) if to_last else a.transpose(0, 3, 1, 2)
    if t.flags.c_contiguous or not a.flags.c_contiguous:
        return np.ascontiguousarray(t)
    n, d1, d2, d3 = a.shape     # each image a (d1, d2*d3) or (d1*d2, d3) matrix, transposed
    rows, cols = (d1, d2 * d3) if to_last else (d1 * d2, d3)
    return _layout.transpose_batched(a.reshape(n, rows, cols),
                                     get_num_threads()).reshape(t.shape)


def dropout_unchecked(x: np.ndarray, rate: float, rng: np.random.Generator
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """dropout(x, rate, seed=rng): (y, bool mask), shaped like x.  One 64-bit
    draw from rng seeds the C kernel's counter-based stream, which draws the
    mask and applies it in one pass."""
    key = int(rng.integers(0, 2 ** 64, dtype=np.uint64))
    y, mask = _activation.dropout_sample(x.reshape(-1), rate, key, get_num_threads())
    return y.reshape(x.shape), mask.reshape(x.shape)


def dropout_backward_unchecked(grad_out: np.ndarray, mask: np.ndarray, rate: float) -> np.ndarray:
    """dropout_backward with the bool mask of dropout."""
    g = _activation.dropout_apply(grad_out.reshape(-1), mask.reshape(-1).view(np.uint8),
                                  1.0 / (1.0 - rate), get_num_threads())
    return g.reshape(grad_out.shape)


# ------------------------------------------------------ correlate / convolve

_MODES = ("full", "valid", "same")


def _window(m: int, n: int, mode: str, flipped: bool, two_d: bool) -> Tuple[int, int]:
    """(length, offset) of `mode`'s window into the full correlation along one
    axis of lengths m (a) and n (v).  1-D follows numpy, 2-D follows scipy."""
    if mode == "full":
        return m + n - 1, 0
    if mode == "valid":
        return abs(m - n) + 1, min(m, n) - 1
    if two_d:  # scipy: the shape of a, centred
        return m, (n - 1) // 2 if flipped else n // 2
    if flipped or m >= n:  # numpy: length max(m, n)
        return max(m, n), (min(m, n) - 1) // 2
    return n, m // 2


def _correlate_or_convolve(a: Any, v: Any, mode: Any, flipped: bool) -> np.ndarray:
    name = "convolve" if flipped else "correlate"
    a = chk.real_array(a, "a")
    v = chk.real_array(v, "v")
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if a.ndim not in (1, 2) or v.ndim != a.ndim:
        raise ValueError(f"{name}: a and v must both be 1-D or both be 2-D, got a.ndim={a.ndim}, "
                         f"v.ndim={v.ndim}")
    if a.size == 0:
        raise ValueError(f"a must not be empty, got shape {a.shape}")
    if v.size == 0:
        raise ValueError(f"v must not be empty, got shape {v.shape}")
    two_d = a.ndim == 2
    a2 = a if two_d else a.reshape(1, -1)
    v2 = v if two_d else v.reshape(1, -1)
    if max(a2.shape + v2.shape) > chk.MAX_DIM // 2:
        raise ValueError(f"{name}: a or v is too large")
    if mode == "valid" and two_d:
        bigger = all(m >= n for m, n in zip(a2.shape, v2.shape))
        smaller = all(m <= n for m, n in zip(a2.shape, v2.shape))
        if not (bigger or smaller):
            raise ValueError(f"{name}: for mode 'valid', a or v must be at least as large as the "
                             f"other in every dimension, got {a.shape} and {v.shape}")
    dtype = chk.result_dtype(a, v)
    if flipped:  # convolution = correlation with the kernel flipped
        v2 = v2[::-1, ::-1]
    ho, oh = _window(a2.shape[0], v2.shape[0], mode, flipped, True)
    wo, ow = _window(a2.shape[1], v2.shape[1], mode, flipped, two_d)
    if not two_d:
        ho, oh = 1, 0
    chk.check_alloc((ho, wo), dtype, f"{name} output")
    # scipy's boundary='fill' multiplies the zero fill (NaN*0 = NaN) in "full" and
    # "same"; "valid" and numpy's 1-D functions never touch the fill.
    out = _correlate.correlate2d(chk.contiguous(a2, dtype), chk.contiguous(v2, dtype),
                                 (ho, wo), (oh, ow), two_d and mode != "valid", get_num_threads())
    return out if two_d else out.reshape(-1)


def correlate(a: Any, v: Any, mode: str = "valid") -> np.ndarray:
    """Cross-correlation (no flip): 1-D like numpy.correlate, 2-D like
    scipy.signal.correlate2d.  The textbook's example:
    correlate([1, 3, 2, 2, 0, 2, 3], [-1, 0, 1]) -> [1, -1, -2, 0, 3]."""
    return _correlate_or_convolve(a, v, mode, flipped=False)


def convolve(a: Any, v: Any, mode: str = "full") -> np.ndarray:
    """Convolution (the kernel flipped): 1-D like numpy.convolve, 2-D like
    scipy.signal.convolve2d."""
    return _correlate_or_convolve(a, v, mode, flipped=True)


# ---- normalization (issue 13) ----------------------------------------------
# Batch normalization over axis 1 of (N, C, *), as PyTorch's F.batch_norm.  The
# kernels see (outer, C, inner); a layer normalizing another axis passes its own
# 3-D view (see the *_unchecked entries below).

def _bn_setup(x: Any, name: str = "input") -> np.ndarray:
    x = chk.real_array(x, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have a channel axis (N, C, ...), got shape {x.shape}")
    return x


def _nc_rest(x: np.ndarray) -> np.ndarray:
    """(N, C, *) as (N, C, prod(*)), empty batches included."""
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64)))


def _per_channel(a: Any, c: int, name: str, dtype: type) -> Optional[np.ndarray]:
    if a is None:
        return None
    a = chk.real_array(a, name)
    chk.check_shape(a, (c,), name)
    return chk.contiguous(a, dtype)


def _invstd(var: np.ndarray, eps: float, dtype: type) -> np.ndarray:
    """1 / sqrt(var + eps), computed in double, as `dtype`."""
    return (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(dtype)


def _eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not float(eps) > 0:
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    return float(eps)


def _bn_statistics(x3: np.ndarray, running_mean: Any, running_var: Any, training: bool,
                   eps: float, dtype: type) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, invstd) batch_norm normalizes with: x3's own when training, else
    the running statistics (checked)."""
    if training:
        if x3.shape[0] * x3.shape[2] == 0:
            raise ValueError(f"input needs at least one value per channel when training, "
                             f"got shape {x3.shape}")
        mean, var = batch_norm_stats_unchecked(x3)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var are required when training=False")
        c = x3.shape[1]
        m = _per_channel(running_mean, c, "running_mean", dtype)
        v = _per_channel(running_var, c, "running_var", dtype)
        assert m is not None and v is not None
        mean, var = m, v
    return mean, _invstd(var, eps, dtype)


def batch_norm_stats(input: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, var) of each channel of input (N, C, *): the statistics
    batch_norm(training=True) normalizes with; var is biased (divided by the
    number of values), as PyTorch's batch_norm uses it."""
    x = _bn_setup(input)
    dtype = chk.result_dtype(x)
    x3 = _nc_rest(chk.contiguous(x, dtype))
    if x3.shape[0] * x3.shape[2] == 0:
        raise ValueError(f"input needs at least one value per channel, got shape {x.shape}")
    return batch_norm_stats_unchecked(x3)


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> np.ndarray:
    """PyTorch's F.batch_norm: (x - mean) / sqrt(var + eps) * weight + bias per
    channel of input (N, C, *), with the batch's statistics when training, else
    running_mean / running_var.  ccnn never writes to a caller's array, so the
    running statistics are not updated in place: when training, update them
    with batch_norm_stats (PyTorch's rule: running = (1 - momentum) * running +
    momentum * batch, with the unbiased variance).  `momentum` is accepted for
    PyTorch's signature and checked, nothing more."""
    x = _bn_setup(input)
    training = chk.boolean(training, "training")
    eps = _eps(eps)
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
            or not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    c = x.shape[1]
    dtype = chk.result_dtype(x, *(None if a is None else chk.real_array(a, n) for a, n in (
        (weight, "weight"), (bias, "bias"))))
    gamma, beta = _per_channel(weight, c, "weight", dtype), _per_channel(bias, c, "bias", dtype)
    x3 = _nc_rest(chk.contiguous(x, dtype))
    mean, invstd = _bn_statistics(x3, running_mean, running_var, training, eps, dtype)
    return batch_norm_unchecked(x3, mean, invstd, gamma, beta).reshape(x.shape)


def batch_norm_backward(grad_out: Any, input: Any, running_mean: Any, running_var: Any,
                        weight: Any = None, bias: Any = None, training: bool = False,
                        momentum: float = 0.1, eps: float = 1e-5
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_input, grad_weight, grad_bias) of batch_norm with the same
    arguments (bias and momentum do not enter the gradients); with
    training=True the batch statistics' own dependence on the input is
    included.  grad_weight / grad_bias are returned even when weight / bias
    are None (the gradients of a weight of ones / a bias of zeros)."""
    del bias, momentum
    x = _bn_setup(input)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape, "grad_out")
    training = chk.boolean(training, "training")
    eps = _eps(eps)
    c = x.shape[1]
    w = None if weight is None else chk.real_array(weight, "weight")
    dtype = chk.result_dtype(x, g, w)
    gamma = _per_channel(w, c, "weight", dtype)
    x3 = _nc_rest(chk.contiguous(x, dtype))
    mean, invstd = _bn_statistics(x3, running_mean, running_var, training, eps, dtype)
    dx, dw, db = batch_norm_backward_unchecked(chk.contiguous(g, dtype).reshape(x3.shape), x3,
                                               mean, invstd, gamma, training,
                                               True, True, True)
    assert dx is not None and dw is not None and db is not None
    return dx.reshape(x.shape), dw, db


def batch_norm_stats_unchecked(x3: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, biased var) per channel of a C-contiguous (outer, C, inner) x3."""
    return _norm.batchnorm_stats(x3, get_num_threads())


def batch_norm_unchecked(x3: np.ndarray, mean: np.ndarray, invstd: np.ndarray,
                         gamma: Optional[np.ndarray], beta: Optional[np.ndarray]) -> np.ndarray:
    """(x3 - mean) * invstd * gamma + beta over (outer, C, inner)."""
    return _norm.batchnorm_forward(x3, mean, invstd, gamma, beta, get_num_threads())


def batch_norm_backward_unchecked(grad_out3: np.ndarray, x3: np.ndarray, mean: np.ndarray,
                                  invstd: np.ndarray, gamma: Optional[np.ndarray],
                                  training: bool, need_input_grad: bool, need_weight_grad: bool,
                                  need_bias_grad: bool
                                  ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray],
                                             Optional[np.ndarray]]:
    """(dx3, dgamma, dbeta) (None where not needed) of batch_norm_unchecked."""
    return _norm.batchnorm_backward(grad_out3, x3, mean, invstd, gamma, training,
                                    need_input_grad, need_weight_grad, need_bias_grad,
                                    get_num_threads())


# ---- augmentation (issue 13) -----------------------------------------------
# keras.ops.image.affine_transform's resampling, computed in C.

INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def affine_transform(x: Any, transforms: Any, interpolation: str = "bilinear",
                     fill_mode: str = "constant", fill_value: float = 0.0) -> np.ndarray:
    """Images x (N, C, H, W) resampled through one affine map per image, by
    the rules of keras.ops.image.affine_transform: output pixel (y, x) of
    image i reads the input at x_in = a0 x + a1 y + a2, y_in = b0 x + b1 y + b2,
    (a0, a1, a2, b0, b1, b2) = transforms[i] (a (6,) transform serves every
    image; Keras's 8-entry transforms are accepted when their projective
    terms are 0).  interpolation 'nearest' or 'bilinear'; fill_mode for
    points outside the image: 'constant' (fill_value), 'nearest', 'wrap',
    'mirror' (d c b | a b c d | c b a) or 'reflect' (d c b a | a b c d | d c b a)."""
    x = chk.real_array(x, "x")
    chk.check_ndim(x, 4, "x", "(N, C, H, W)")
    t = _transforms_arg(transforms, x.shape[0])
    interp, fill = _resample_modes(interpolation, fill_mode)
    if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
        raise TypeError(f"fill_value must be a number, got {fill_value!r}")
    dtype = chk.result_dtype(x)
    nhwc = move_channels_unchecked(chk.contiguous(x, dtype), to_last=True)
    y = affine_transform_unchecked(nhwc, t, interp, fill, float(fill_value))
    return move_channels_unchecked(y, to_last=False)


def _transforms_arg(transforms: Any, n: int) -> np.ndarray:
    t = np.array(chk.real_array(transforms, "transforms"), dtype=np.float64)
    if t.ndim == 1:
        t = np.broadcast_to(t, (n, t.shape[0]))
    if t.ndim != 2 or t.shape[0] != n or t.shape[1] not in (6, 8):
        raise ValueError(f"transforms must be (6,), (8,), (N, 6) or (N, 8) for N = {n} images, "
                         f"got shape {np.shape(transforms)}")
    if t.shape[1] == 8 and np.any(t[:, 6:] != 0):
        raise ValueError("transforms with projective terms (entries 6 and 7 not 0) are not "
                         "supported")
    if not np.all(np.isfinite(t)):
        raise ValueError("transforms must be finite")
    return np.ascontiguousarray(t[:, :6])


def _resample_modes(interpolation: Any, fill_mode: Any) -> Tuple[int, int]:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    return INTERPOLATIONS.index(interpolation), FILL_MODES.index(fill_mode)


def affine_transform_unchecked(x_nhwc: np.ndarray, transforms: np.ndarray, interpolation: int,
                               fill_mode: int, fill_value: float) -> np.ndarray:
    """affine_transform on C-contiguous channels-last images (N, H, W, C);
    transforms (N, 6) float64; the modes as indices of INTERPOLATIONS / FILL_MODES."""
    return _augment.affine_transform(x_nhwc, transforms, interpolation, fill_mode, fill_value,
                                     get_num_threads())


# ---- global pooling (issue 13) ---------------------------------------------
# PyTorch's adaptive pooling to a 1 x 1 output: the mean / max of each plane.

def _global_setup(x: Any, output_size: Any) -> np.ndarray:
    x = chk.real_array(x, "x")
    chk.check_ndim(x, 4, "x", "(N, C, H, W)")
    if output_size not in (1, (1, 1), [1, 1]):
        raise ValueError(f"output_size must be 1 (global pooling; other sizes are not "
                         f"supported), got {output_size!r}")
    chk.nonempty_hw(x, "x")
    return x


def adaptive_avg_pool2d(x: Any, output_size: Any = 1) -> np.ndarray:
    """The mean of each (H, W) plane of x (N, C, H, W): (N, C, 1, 1)."""
    x = _global_setup(x, output_size)
    dtype = chk.result_dtype(x)
    n, c, h, w = x.shape
    return global_avg_pool_unchecked(chk.contiguous(x, dtype)).reshape(n, c, 1, 1)


def adaptive_avg_pool2d_backward(grad_out: Any, x: Any, output_size: Any = 1) -> np.ndarray:
    x = _global_setup(x, output_size)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape[:2] + (1, 1), "grad_out")
    return global_avg_pool_backward_unchecked(chk.contiguous(g, chk.result_dtype(g, x)),
                                              x.shape)


def adaptive_max_pool2d(x: Any, output_size: Any = 1, return_indices: bool = False
                        ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """The max of each (H, W) plane of x (N, C, H, W): (N, C, 1, 1), and with
    return_indices the flat index h * W + w of each maximum (the first; a NaN wins)."""
    x = _global_setup(x, output_size)
    return_indices = chk.boolean(return_indices, "return_indices")
    n, c, h, w = x.shape
    y, idx = global_max_pool_unchecked(chk.contiguous(x, chk.result_dtype(x)))
    y, idx = y.reshape(n, c, 1, 1), idx.reshape(n, c, 1, 1)
    return (y, idx) if return_indices else y


def adaptive_max_pool2d_backward(grad_out: Any, x: Any, output_size: Any = 1,
                                 indices: Any = None) -> np.ndarray:
    """The gradient of adaptive_max_pool2d; `indices` (its return_indices) or
    recomputed from x."""
    x = _global_setup(x, output_size)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape[:2] + (1, 1), "grad_out")
    dtype = chk.result_dtype(g, x)
    if indices is None:
        _, idx = global_max_pool_unchecked(chk.contiguous(x, dtype))
    else:
        idx = _pool_indices(indices, x.shape[:2] + (1, 1))
    return global_max_pool_backward_unchecked(chk.contiguous(g, dtype), idx, x.shape)


def global_avg_pool_unchecked(x: np.ndarray) -> np.ndarray:
    """(N * C,) plane means of a C-contiguous (N, C, H, W) x."""
    n, c, h, w = x.shape
    return _pool.global_avg_pool_forward(x.reshape(n * c, h * w), get_num_threads())


def global_avg_pool_backward_unchecked(grad_out: np.ndarray, x_shape: Tuple[int, ...]
                                       ) -> np.ndarray:
    n, c, h, w = x_shape
    return _pool.global_avg_pool_backward(grad_out.reshape(-1), h * w,
                                          get_num_threads()).reshape(x_shape)


def global_max_pool_unchecked(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """((N * C,) plane maxima, (N * C,) int64 flat indices) of a C-contiguous x."""
    n, c, h, w = x.shape
    return _pool.global_max_pool_forward(x.reshape(n * c, h * w), get_num_threads())


def global_max_pool_backward_unchecked(grad_out: np.ndarray, indices: np.ndarray,
                                       x_shape: Tuple[int, ...]) -> np.ndarray:
    n, c, h, w = x_shape
    return _pool.global_max_pool_backward(grad_out.reshape(-1), indices.reshape(-1), h * w,
                                          get_num_threads()).reshape(x_shape)


# ---- elementwise activations (issue 13) ------------------------------------
# PyTorch's names and defaults; one C kernel pair (pointwise.c) indexed by kind.

def _pointwise_kinds() -> Dict[str, int]:
    """{name: kind} as the C side numbers them (pointwise.h's table)."""
    kinds: Dict[str, int] = {}
    while (name := _activation.pointwise_kind_name(len(kinds))) is not None:
        kinds[name] = len(kinds)
    return kinds


POINTWISE = _pointwise_kinds()


def _pointwise(x: Any, name: str, alpha: float = 0.0) -> np.ndarray:
    x = chk.real_array(x, "x")
    dtype = chk.result_dtype(x)
    return pointwise_unchecked(chk.contiguous(x, dtype), name, alpha)


def _pointwise_backward(grad_out: Any, x: Any, name: str, alpha: float = 0.0) -> np.ndarray:
    x = chk.real_array(x, "x")
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_shape(grad_out, x.shape, "grad_out")
    dtype = chk.result_dtype(grad_out, x)
    return pointwise_backward_unchecked(chk.contiguous(grad_out, dtype),
                                        chk.contiguous(x, dtype), name, alpha)


def pointwise_unchecked(x: np.ndarray, name: str, alpha: float = 0.0) -> np.ndarray:
    """activation `name` (a key of POINTWISE) of a C-contiguous float array."""
    return _activation.pointwise_forward(x.reshape(-1), POINTWISE[name], alpha,
                                         get_num_threads()).reshape(x.shape)


def pointwise_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, name: str,
                                 alpha: float = 0.0) -> np.ndarray:
    """grad_out * f'(x), both C-contiguous, one dtype."""
    return _activation.pointwise_backward(grad_out.reshape(-1), x.reshape(-1), POINTWISE[name],
                                          alpha, get_num_threads()).reshape(x.shape)


def _gelu_kind(approximate: Any) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return "gelu" if approximate == "none" else "gelu_tanh"


def _elementwise(name: str, kind: str, doc: str
                 ) -> Tuple[Callable[[Any], np.ndarray], Callable[[Any, Any], np.ndarray]]:
    """(f, f_backward) for an activation without parameters: f(x) and
    f_backward(grad_out, x), as the hand-written ops below."""
    def forward(x: Any) -> np.ndarray:
        return _pointwise(x, kind)

    def backward(grad_out: Any, x: Any) -> np.ndarray:
        return _pointwise_backward(grad_out, x, kind)

    forward.__name__ = forward.__qualname__ = name
    backward.__name__ = backward.__qualname__ = name + "_backward"
    forward.__doc__ = doc
    backward.__doc__ = f"grad_out * {name}'(x)."
    return forward, backward


sigmoid, sigmoid_backward = _elementwise("sigmoid", "sigmoid", "1 / (1 + exp(-x)).")
tanh, tanh_backward = _elementwise("tanh", "tanh", "tanh(x).")
relu6, relu6_backward = _elementwise("relu6", "relu6", "min(max(x, 0), 6).")
selu, selu_backward = _elementwise(
    "selu", "selu", "scale * elu(x, alpha) with the self-normalizing constants.")
silu, silu_backward = _elementwise("silu", "silu", "x * sigmoid(x) (Keras's swish).")
hardsigmoid, hardsigmoid_backward = _elementwise(
    "hardsigmoid", "hard_sigmoid", "relu6(x + 3) / 6 (Keras 3's hard_sigmoid).")
hardswish, hardswish_backward = _elementwise(
    "hardswish", "hard_silu", "x * hardsigmoid(x) (Keras's hard_silu).")
softplus, softplus_backward = _elementwise(
    "softplus", "softplus", "log(1 + exp(x)), stable for any x.")
softsign, softsign_backward = _elementwise("softsign", "softsign", "x / (1 + |x|).")


def leaky_relu(x: Any, negative_slope: float = 0.01) -> np.ndarray:
    """x where x > 0, negative_slope * x elsewhere."""
    return _pointwise(x, "leaky_relu", chk.finite_float(negative_slope, "negative_slope"))


def leaky_relu_backward(grad_out: Any, x: Any, negative_slope: float = 0.01) -> np.ndarray:
    return _pointwise_backward(grad_out, x, "leaky_relu",
                               chk.finite_float(negative_slope, "negative_slope"))


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""
    return _pointwise(x, "elu", chk.finite_float(alpha, "alpha"))


def elu_backward(grad_out: Any, x: Any, alpha: float = 1.0) -> np.ndarray:
    return _pointwise_backward(grad_out, x, "elu", chk.finite_float(alpha, "alpha"))


def gelu(x: Any, approximate: str = "none") -> np.ndarray:
    """x * Phi(x) (approximate='tanh': the tanh formula)."""
    return _pointwise(x, _gelu_kind(approximate))


def gelu_backward(grad_out: Any, x: Any, approximate: str = "none") -> np.ndarray:
    return _pointwise_backward(grad_out, x, _gelu_kind(approximate))


# ---- padding, cropping, upsampling (issue 13) --------------------------------
# One C kernel pads and crops (a negative pad crops), another repeats pixels;
# both see an array as (outer, h, w, inner), so NCHW (inner = 1) and the layers'
# NHWC (inner = C) need no transpose.

def _pad_arg(pad: Any, ndim: int) -> Tuple[int, int, int, int]:
    """PyTorch's pad (left, right[, top, bottom]) as (top, bottom, left, right)."""
    if not isinstance(pad, (tuple, list)) or len(pad) not in (2, 4):
        raise ValueError(f"pad must be (left, right) or (left, right, top, bottom), got {pad!r}")
    if len(pad) == 4 and ndim < 3:
        raise ValueError(f"pad (left, right, top, bottom) needs an input of at least 3 "
                         f"dimensions, got {ndim}")
    vals = [chk.integer(v, f"pad[{i}]", -chk.MAX_DIM) for i, v in enumerate(pad)]
    left, right = vals[0], vals[1]
    top, bottom = (vals[2], vals[3]) if len(vals) == 4 else (0, 0)
    return top, bottom, left, right


def _as_planes(x: np.ndarray, two_axes: bool) -> np.ndarray:
    """x (..., H, W) (two_axes) or (..., W) as (outer, h, w, 1) for the kernels."""
    if two_axes:
        return x.reshape((-1,) + x.shape[-2:] + (1,))
    return x.reshape(-1, 1, x.shape[-1], 1)


def pad(input: Any, pad: Any, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """PyTorch's F.pad for mode='constant': pad (left, right) pads the last axis,
    (left, right, top, bottom) the last two; a negative pad crops."""
    if mode != "constant":
        raise ValueError(f"mode must be 'constant' (ccnn has no {mode!r} padding), got {mode!r}")
    x = chk.real_array(input, "input")
    if x.ndim < 1:
        raise ValueError(f"input must have at least 1 dimension, got shape {x.shape}")
    top, bottom, left, right = _pad_arg(pad, x.ndim)
    value = chk.finite_float(value, "value")
    two = len(pad) == 4
    h = x.shape[-2] if two else 1
    ho, wo = h + top + bottom, x.shape[-1] + left + right
    if ho < 1 or wo < 1:
        raise ValueError(f"pad {tuple(pad)} leaves nothing of input of shape {x.shape}")
    shape = x.shape[:-2] + (ho, wo) if two else x.shape[:-1] + (wo,)
    if x.size == 0:
        return np.zeros(shape, dtype=chk.result_dtype(x))
    y = pad_unchecked(_as_planes(chk.contiguous(x, chk.result_dtype(x)), two),
                      (top, bottom, left, right), value)
    return y.reshape(shape)


def pad_backward(grad_out: Any, pad: Any, mode: str = "constant",
                 value: float = 0.0) -> np.ndarray:
    """The gradient of pad: grad_out cropped back (padded by the negated pad)."""
    if not isinstance(pad, (tuple, list)):
        raise ValueError(f"pad must be (left, right) or (left, right, top, bottom), got {pad!r}")
    chk.finite_float(value, "value")
    neg = tuple(-chk.integer(v, f"pad[{i}]", -chk.MAX_DIM) for i, v in enumerate(pad))
    return globals()["pad"](grad_out, neg, mode, 0.0)


#: interpolate's modes -> resize.h's (csrc/kernels/resize.h)
_RESIZE_MODES = {"nearest": _reshaping.RESIZE_NEAREST,
                 "nearest-exact": _reshaping.RESIZE_NEAREST_EXACT,
                 "bilinear": _reshaping.RESIZE_BILINEAR}


class _Resize:
    """interpolate's checked arguments: the output's spatial sizes, the kernel's
    mode and scales (source pixels per output pixel; 0: in / out), and whether
    the integer-factor nearest kernel (upsample.c) computes the same."""

    def __init__(self, x: np.ndarray, size: Any, scale_factor: Any, mode: Any,
                 align_corners: Any, recompute_scale_factor: Any) -> None:
        if not isinstance(mode, str) or mode not in _RESIZE_MODES:
            raise ValueError(f"mode must be 'nearest', 'nearest-exact' or 'bilinear' (ccnn has "
                             f"no other interpolation), got {mode!r}")
        if mode == "bilinear":
            if x.ndim != 4:
                raise ValueError(f"input must be (N, C, H, W) for mode='bilinear', got shape "
                                 f"{x.shape}")
            align = False if align_corners is None else chk.boolean(align_corners,
                                                                    "align_corners")
        else:
            if x.ndim not in (3, 4):
                raise ValueError(f"input must be (N, C, L) or (N, C, H, W), got shape "
                                 f"{x.shape}")
            if align_corners is not None:
                raise ValueError(f"align_corners can only be set with mode='bilinear', "
                                 f"got align_corners={align_corners!r} with mode={mode!r}")
            align = False
        recompute = False if recompute_scale_factor is None else chk.boolean(
            recompute_scale_factor, "recompute_scale_factor")
        k = x.ndim - 2
        spatial = x.shape[2:]
        if (size is None) == (scale_factor is None):
            raise ValueError("give exactly one of size and scale_factor")
        scales = [0.0] * k
        if scale_factor is not None:
            sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * k
            if len(sf) != k:
                raise ValueError(f"scale_factor must have {k} entries for a {x.ndim}-D input, "
                                 f"got {scale_factor!r}")
            out = []
            for i, (f, n) in enumerate(zip(sf, spatial)):
                f = chk.finite_float(f, f"scale_factor[{i}]")
                if f <= 0:
                    raise ValueError(f"scale_factor[{i}] must be > 0, got {f!r}")
                o = int(math.floor(n * f))
                if o < 1 or o > chk.MAX_DIM:
                    raise ValueError(f"scale_factor[{i}] = {f!r} gives an output size of {o} "
                                     f"for the input's {n}")
                out.append(o)
                if not recompute:
                    scales[i] = 1.0 / f             # PyTorch's scale: 1 / scale_factor
        else:
            if recompute:
                raise ValueError("recompute_scale_factor needs scale_factor, not size")
            sz = size if isinstance(size, (tuple, list)) else (size,) * k
            if len(sz) != k:
                raise ValueError(f"size must have {k} entries for a {x.ndim}-D input, "
                                 f"got {size!r}")
            out = [chk.integer(s, f"size[{i}]", 1) for i, s in enumerate(sz)]
        if any(n < 1 for n in spatial):
            raise ValueError(f"input's spatial sizes must be >= 1, got shape {x.shape}")
        self.spatial = tuple(out)
        self.mode = _reshaping.RESIZE_BILINEAR_ALIGN if align else _RESIZE_MODES[mode]
        self.scales = (scales[0], scales[1] if k == 2 else 0.0)
        # the integer-factor repeat (upsample.c) is PyTorch's nearest for f <= 32
        # and outputs below 2^16: floor(d * float(1 / f)) == d // f there (checked
        # exhaustively; from f = 41 on float(1 / f) rounds some d below)
        self.factors = tuple(o // n for o, n in zip(out, spatial))
        self.repeat = mode == "nearest" and all(
            o == n * f and 1 <= f <= 32 and o < 2 ** 16 and (sc == 0.0 or sc == 1.0 / f)
            for o, n, f, sc in zip(out, spatial, self.factors, scales))

    def planes(self, a: np.ndarray) -> np.ndarray:
        """a (N, C, ...) as the kernels' (outer, h, w|1, 1)."""
        return a.reshape((-1,) + a.shape[2:] + (1,) * (5 - a.ndim))

    def hw(self, shape: Tuple[int, ...]) -> Tuple[int, int]:
        return (shape[2], shape[3] if len(shape) == 4 else 1)


def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: Optional[bool] = None,
                recompute_scale_factor: Optional[bool] = None) -> np.ndarray:
    """PyTorch's F.interpolate (antialias off) of input (N, C, L) or (N, C, H, W)
    (mode 'bilinear': 4-D only) to `size` or by `scale_factor` (output floor(n *
    factor); the sampling scale 1 / factor unless recompute_scale_factor): mode
    'nearest' (source floor(d * scale)), 'nearest-exact' (floor((d + 0.5) *
    scale), Keras's 'nearest') or 'bilinear' (half-pixel centres, or
    align_corners=True).  C kernels: resize.c (upsample.c for integer factors)."""
    x = chk.real_array(input, "input")
    r = _Resize(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
    x = chk.contiguous(x, chk.result_dtype(x))
    shape = x.shape[:2] + r.spatial
    if x.size == 0:
        return np.zeros(shape, dtype=x.dtype)
    if r.repeat:
        sh, sw = r.factors if len(r.factors) == 2 else (r.factors[0], 1)
        return upsample_nearest_unchecked(r.planes(x), sh, sw).reshape(shape)
    ho, wo = r.hw(shape)
    return resize_unchecked(r.planes(x), ho, wo, r.mode, r.scales).reshape(shape)


def interpolate_backward(grad_out: Any, input: Any, size: Any = None, scale_factor: Any = None,
                         mode: str = "nearest", align_corners: Optional[bool] = None,
                         recompute_scale_factor: Optional[bool] = None) -> np.ndarray:
    """The gradient of interpolate: each output pixel's gradient handed back to
    the input pixels it was computed from, with the same weights."""
    x = chk.real_array(input, "input")
    r = _Resize(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape[:2] + r.spatial, "grad_out")
    g = chk.contiguous(g, chk.result_dtype(g, x))
    if x.size == 0:
        return np.zeros(x.shape, dtype=g.dtype)
    if r.repeat:
        sh, sw = r.factors if len(r.factors) == 2 else (r.factors[0], 1)
        return upsample_nearest_backward_unchecked(r.planes(g), sh, sw).reshape(x.shape)
    h, w = r.hw(x.shape)
    return resize_backward_unchecked(r.planes(g), h, w, r.mode, r.scales).reshape(x.shape)


def pad_unchecked(x4: np.ndarray, pads: chk.Pads, value: float = 0.0) -> np.ndarray:
    """x4 (outer, h, w, inner), C-contiguous, padded by pads (top, bottom, left,
    right); a negative pad crops."""
    return _reshaping.pad2d(x4, pads, value, get_num_threads())


def upsample_nearest_unchecked(x4: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """x4 (outer, h, w, inner), C-contiguous, as (outer, h * sh, w * sw, inner)."""
    return _reshaping.upsample_nearest2d_forward(x4, sh, sw, get_num_threads())


def upsample_nearest_backward_unchecked(g4: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """The (outer, h, w, inner) gradient of upsample_nearest_unchecked from g4."""
    return _reshaping.upsample_nearest2d_backward(g4, sh, sw, get_num_threads())


def resize_unchecked(x4: np.ndarray, ho: int, wo: int, mode: int,
                     scales: Tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """x4 (outer, h, w, inner), C-contiguous, resized to (outer, ho, wo, inner)
    (mode: _reshaping.RESIZE_*; scales: source pixels per output pixel, 0: h / ho)."""
    return _reshaping.resize2d_forward(x4, ho, wo, mode, scales[0], scales[1],
                                       get_num_threads())


def resize_backward_unchecked(g4: np.ndarray, h: int, w: int, mode: int,
                              scales: Tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The (outer, h, w, inner) gradient of resize_unchecked from g4 (outer, ho, wo, inner)."""
    return _reshaping.resize2d_backward(g4, h, w, mode, scales[0], scales[1],
                                        get_num_threads())


# ---- rectifiers and log-softmax (issue 13) -----------------------------------

def _dim_rows(x: np.ndarray, dim: Any) -> Tuple[np.ndarray, int]:
    """x with axis `dim` moved last, and that axis."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int, got {type(dim).__name__} {dim!r}")
    dim = int(dim)
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim {dim} is out of range for an input of {x.ndim} dimensions")
    dim %= x.ndim
    return np.moveaxis(x, dim, -1), dim


def log_softmax(input: Any, dim: int = -1) -> np.ndarray:
    """log(softmax(input)) along dim, computed stably (x - max - log sum exp)."""
    x = chk.real_array(input, "input")
    if x.ndim < 1:
        raise ValueError(f"input must have at least 1 dimension, got shape {x.shape}")
    moved, dim = _dim_rows(x, dim)
    if moved.shape[-1] < 1:
        raise ValueError(f"input must be non-empty along dim {dim}, got shape {x.shape}")
    y = log_softmax_unchecked(chk.contiguous(moved, chk.result_dtype(x)))
    return np.ascontiguousarray(np.moveaxis(y, -1, dim))


def log_softmax_backward(grad_out: Any, input: Any, dim: int = -1,
                         output: Any = None) -> np.ndarray:
    """grad_out - softmax(input) * sum(grad_out) along dim; `output` (log_softmax's
    result) saves recomputing it."""
    x = chk.real_array(input, "input")
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape, "grad_out")
    y = log_softmax(x, dim) if output is None else chk.real_array(output, "output")
    chk.check_shape(y, x.shape, "output")
    dtype = chk.result_dtype(g, x)
    gm, d = _dim_rows(g, dim)
    ym, _ = _dim_rows(y, dim)
    dx = log_softmax_backward_unchecked(chk.contiguous(gm, dtype), chk.contiguous(ym, dtype))
    return np.ascontiguousarray(np.moveaxis(dx, -1, d))


def _prelu_setup(input: Any, weight: Any) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, weight, the slope of each of a sample's values) for PyTorch's prelu:
    weight (1,) for all channels or (C,), one per channel (axis 1)."""
    x = chk.real_array(input, "input")
    w = chk.real_array(weight, "weight")
    if x.ndim < 1:
        raise ValueError(f"input must have at least 1 dimension, got shape {x.shape}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.ndim != 1 or w.shape[0] not in (1, channels):
        raise ValueError(f"weight must have shape (1,) or ({channels},) (the input's "
                         f"channels, axis 1), got {w.shape}")
    dtype = chk.result_dtype(x, w)
    sample = _prelu_sample(x)
    per = w.reshape((-1,) + (1,) * (len(sample) - 1)) if w.shape[0] > 1 else w[:1]
    alpha: np.ndarray = np.ascontiguousarray(
        np.broadcast_to(per.astype(dtype), sample).reshape(-1))
    return x, w, alpha


def _prelu_sample(x: np.ndarray) -> Tuple[int, ...]:
    """The shape of one row of prelu's (rows, a) view: a sample, or (1,) for a
    1-D input (no channel axis: every element is a row)."""
    return tuple(x.shape[1:]) if x.ndim >= 2 else (1,)


def prelu(input: Any, weight: Any) -> np.ndarray:
    """input where > 0, weight * input elsewhere (weight per channel, axis 1)."""
    x, _, alpha = _prelu_setup(input, weight)
    x2 = chk.contiguous(x, alpha.dtype.type).reshape(-1, alpha.size)
    return prelu_unchecked(x2, alpha).reshape(x.shape)


def prelu_backward(grad_out: Any, input: Any, weight: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(grad_input, grad_weight) of prelu."""
    x, w, alpha = _prelu_setup(input, weight)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape, "grad_out")
    dtype = chk.result_dtype(g, x, w)
    alpha = alpha.astype(dtype, copy=False)
    dx, dalpha = prelu_backward_unchecked(chk.contiguous(g, dtype).reshape(-1, alpha.size),
                                          chk.contiguous(x, dtype).reshape(-1, alpha.size),
                                          alpha, True)
    sample = _prelu_sample(x)
    if w.shape[0] > 1:
        dw = dalpha.reshape(sample[0], -1).sum(axis=1)
    else:
        dw = np.array([dalpha.sum()], dtype=dtype)
    assert dx is not None
    return dx.reshape(x.shape), dw.astype(dtype)


def relu_ext_unchecked(x: np.ndarray, negative_slope: float, max_value: Optional[float],
                       threshold: float) -> np.ndarray:
    """Keras's relu(x, negative_slope, max_value, threshold) of a C-contiguous x."""
    m = math.inf if max_value is None else max_value
    return _activation.relu_ext_forward(x.reshape(-1), negative_slope, m, threshold,
                                        get_num_threads()).reshape(x.shape)


def relu_ext_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, negative_slope: float,
                                max_value: Optional[float], threshold: float) -> np.ndarray:
    m = math.inf if max_value is None else max_value
    return _activation.relu_ext_backward(grad_out.reshape(-1), x.reshape(-1), negative_slope,
                                         m, threshold, get_num_threads()).reshape(x.shape)


def prelu_unchecked(x2: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """x2 (n, a), C-contiguous, with slopes alpha (a)."""
    return _activation.prelu_forward(x2, alpha, get_num_threads())


def prelu_backward_unchecked(grad_out2: np.ndarray, x2: np.ndarray, alpha: np.ndarray,
                             need_input_grad: bool) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """(dx (n, a) or None, dalpha (a))."""
    return _activation.prelu_backward(grad_out2, x2, alpha, need_input_grad, get_num_threads())


def log_softmax_unchecked(x: np.ndarray) -> np.ndarray:
    """log-softmax over the last axis of a C-contiguous x."""
    return _activation.log_softmax_forward(x.reshape(-1, x.shape[-1]),
                                           get_num_threads()).reshape(x.shape)


def log_softmax_backward_unchecked(grad_out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The input gradient from log_softmax's output y (last axis)."""
    return _activation.log_softmax_backward(grad_out.reshape(-1, y.shape[-1]),
                                            y.reshape(-1, y.shape[-1]),
                                            get_num_threads()).reshape(y.shape)


# ---- layer normalization (issue 13) -------------------------------------------

def _ln_setup(input: Any, normalized_shape: Any, weight: Any, bias: Any, eps: Any
              ) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray], float, int]:
    """(x, weight, bias, eps, cols) checked for layer_norm over the trailing
    normalized_shape axes of x."""
    x = chk.real_array(input, "input")
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else None
    if shape is None or not shape:
        raise TypeError(f"normalized_shape must be an int or a non-empty tuple of ints, got "
                        f"{normalized_shape!r}")
    shape = tuple(chk.integer(d, f"normalized_shape[{i}]", 1) for i, d in enumerate(shape))
    if x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ValueError(f"normalized_shape {shape} must be the last dimensions of the "
                         f"input, got an input of shape {x.shape}")
    arrays = []
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None:
            a = chk.real_array(a, name)
            chk.check_shape(a, shape, name)
        arrays.append(a)
    eps = chk.finite_float(eps, "eps")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return x, arrays[0], arrays[1], eps, math.prod(shape)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias, the statistics over the
    last len(normalized_shape) axes of each sample (PyTorch's F.layer_norm)."""
    x, w, b, eps, cols = _ln_setup(input, normalized_shape, weight, bias, eps)
    dtype = chk.result_dtype(x, w, b)
    flat = lambda a: None if a is None else chk.contiguous(a, dtype).reshape(-1)  # noqa: E731
    y, _, _ = layer_norm_unchecked(chk.contiguous(x, dtype).reshape(-1, cols), flat(w),
                                   flat(b), eps)
    return y.reshape(x.shape)


def layer_norm_backward(grad_out: Any, input: Any, normalized_shape: Any, weight: Any = None,
                        bias: Any = None, eps: float = 1e-5
                        ) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """(grad_input, grad_weight, grad_bias) of layer_norm; None for an absent weight / bias."""
    x, w, b, eps, cols = _ln_setup(input, normalized_shape, weight, bias, eps)
    g = chk.real_array(grad_out, "grad_out")
    chk.check_shape(g, x.shape, "grad_out")
    dtype = chk.result_dtype(g, x, w, b)
    x2 = chk.contiguous(x, dtype).reshape(-1, cols)
    w2 = None if w is None else chk.contiguous(w, dtype).reshape(-1)
    _, mean, rstd = layer_norm_unchecked(x2, None, None, eps)
    dx, dw, db = layer_norm_backward_unchecked(chk.contiguous(g, dtype).reshape(-1, cols), x2,
                                               mean, rstd, w2, True, w is not None,
                                               b is not None)
    assert dx is not None
    return (dx.reshape(x.shape), None if dw is None else dw.reshape(w.shape),  # type: ignore
            None if db is None else db.reshape(b.shape))  # type: ignore[union-attr]


def layer_norm_unchecked(x2: np.ndarray, gamma: Optional[np.ndarray],
                         beta: Optional[np.ndarray], eps: float
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, rstd) for the rows of a C-contiguous x2 (rows, cols)."""
    return _norm.layernorm_forward(x2, gamma, beta, eps, get_num_threads())


def layer_norm_backward_unchecked(g2: np.ndarray, x2: np.ndarray, mean: np.ndarray,
                                  rstd: np.ndarray, gamma: Optional[np.ndarray], need_dx: bool,
                                  need_dgamma: bool, need_dbeta: bool
                                  ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray],
                                             Optional[np.ndarray]]:
    """(dx, dgamma, dbeta), each None when not needed."""
    return _norm.layernorm_backward(g2, x2, mean, rstd, gamma, need_dx, need_dgamma,
                                    need_dbeta, get_num_threads())
# ---- losses (issue 14) -----------------------------------------------------
# PyTorch's binary_cross_entropy_with_logits: sigmoid + binary cross-entropy
# from the logits in one C kernel pair (loss.c), finite for any finite logit.

_REDUCTIONS = ("none", "mean", "sum")


def _bce_logits_setup(input: Any, target: Any, weight: Any, reduction: Any
                      ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], type]:
    """(logits, targets, weight or None, dtype): C-contiguous, one dtype; checked."""
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(_REDUCTIONS)}, got {reduction!r}")
    x = chk.real_array(input, "input")
    t = chk.real_array(target, "target")
    if t.shape != x.shape:
        raise ValueError(f"target must have the input's shape {x.shape}, got {t.shape}")
    w = None if weight is None else chk.real_array(weight, "weight")
    if w is not None:
        try:
            np.broadcast_to(w, x.shape)
        except ValueError:
            raise ValueError(f"weight of shape {w.shape} does not broadcast to the input's "
                             f"shape {x.shape}") from None
    dtype = chk.result_dtype(x, t, w)
    return (chk.contiguous(x, dtype), chk.contiguous(t, dtype),
            None if w is None else np.broadcast_to(w.astype(dtype, copy=False), x.shape), dtype)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     reduction: str = "mean") -> np.ndarray:
    """max(z, 0) - z * t + log1p(exp(-|z|)) elementwise (= BCE of sigmoid(z)),
    times `weight` (broadcast to the input's shape) when given, then
    reduction 'mean' (a 0-d array), 'sum' or 'none' (the input's shape)."""
    x, t, w, dtype = _bce_logits_setup(input, target, weight, reduction)
    loss = binary_cross_entropy_with_logits_unchecked(x, t)
    if w is not None:
        loss = loss * w
    if reduction == "none":
        return loss
    total = loss.sum(dtype=np.float64)
    if reduction == "mean":
        total = total / loss.size if loss.size else np.float64(np.nan)
    return np.asarray(total, dtype=dtype)


def binary_cross_entropy_with_logits_backward(grad_out: Any, input: Any, target: Any,
                                              weight: Any = None,
                                              reduction: str = "mean") -> np.ndarray:
    """d(loss)/d(input): (sigmoid(z) - t) * weight * grad_out, divided by the
    element count for 'mean'; grad_out is a scalar unless reduction='none'
    (then the input's shape)."""
    x, t, w, dtype = _bce_logits_setup(input, target, weight, reduction)
    g = chk.real_array(grad_out, "grad_out")
    if reduction == "none":
        chk.check_shape(g, x.shape, "grad_out")
        dloss: Optional[np.ndarray] = g if w is None else g * w
        scale = 1.0
    else:
        if g.size != 1:
            raise ValueError(f"grad_out must be a scalar for reduction={reduction!r}, got "
                             f"shape {g.shape}")
        dloss = w
        scale = float(g.reshape(())) / (x.size if reduction == "mean" and x.size else 1)
    if dloss is not None:
        dloss = chk.contiguous(dloss, dtype)
    return binary_cross_entropy_with_logits_backward_unchecked(dloss, x, t, scale)


def binary_cross_entropy_with_logits_unchecked(logits: np.ndarray,
                                               targets: np.ndarray) -> np.ndarray:
    """The elementwise loss; logits and targets C-contiguous, one shape and dtype."""
    return _loss.sigmoid_bce_forward(logits.reshape(-1), targets.reshape(-1),
                                     get_num_threads()).reshape(logits.shape)


def binary_cross_entropy_with_logits_backward_unchecked(
        dloss: Optional[np.ndarray], logits: np.ndarray, targets: np.ndarray,
        scale: float) -> np.ndarray:
    """(sigmoid(logits) - targets) * scale * dloss (None: 1); all C-contiguous,
    one shape and dtype."""
    return _loss.sigmoid_bce_backward(None if dloss is None else dloss.reshape(-1),
                                      logits.reshape(-1), targets.reshape(-1), scale,
                                      get_num_threads()).reshape(logits.shape)
# ---- grouped, depthwise and transposed convolutions (issue 13) ----------------
# groups == in_channels (weight (C * m, 1, kh, kw)) runs the depthwise kernel
# (depthwise.c: direct plane loops, memory-bound); other groups run the conv2d
# kernels once per group over channel slices.  conv_transpose2d is conv2d's
# input gradient (its forward) and conv2d's forward plus weight gradient (its
# backward), with PyTorch's weight layout (in_channels, out_channels / groups, kh, kw).

def _groups_arg(groups: Any, relu: bool = False) -> int:
    groups = chk.integer(groups, "groups", 1)
    if relu and groups > 1:
        raise ValueError("activation='relu' is fused for groups=1 only; apply relu after a "
                         "grouped convolution")
    return groups


def _group_slices(a: np.ndarray, groups: int) -> list:
    """a's axis 1 split into `groups` C-contiguous blocks."""
    size = a.shape[1] // groups
    return [np.ascontiguousarray(a[:, g * size:(g + 1) * size]) for g in range(groups)]


def _grouped_conv2d(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                    stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                    out_shape: Tuple[int, int, int, int], groups: int) -> np.ndarray:
    """The checked conv2d(..., groups > 1)."""
    dtype = chk.result_dtype(x, weight, bias)
    chk.check_alloc(out_shape, dtype, "conv2d output", _conv2d_workspace(
        (x.shape[0], weight.shape[1]) + x.shape[2:], weight.shape, stride, dilation, pads,
        out_shape, np.dtype(dtype).itemsize, False))
    b = None if bias is None else chk.contiguous(bias, dtype)
    return grouped_conv2d_unchecked(chk.contiguous(x, dtype), chk.contiguous(weight, dtype), b,
                                    stride, dilation, pads, groups)


def _grouped_conv2d_backward(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                             stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                             out_shape: Tuple[int, int, int, int], groups: int,
                             need_input_grad: bool
                             ) -> Tuple[Optional[np.ndarray], np.ndarray, np.ndarray]:
    """The checked conv2d_backward(..., groups > 1)."""
    dtype = chk.result_dtype(grad_out, x, weight)
    itemsize = np.dtype(dtype).itemsize
    chk.check_alloc(x.shape if need_input_grad else (0,), dtype, "conv2d_backward grad_x",
                    _conv2d_workspace((x.shape[0], weight.shape[1]) + x.shape[2:], weight.shape,
                                      stride, dilation, pads, out_shape, itemsize, True)
                    + (weight.size + weight.shape[0]) * itemsize)
    gx, gw, gb = grouped_conv2d_backward_unchecked(
        chk.contiguous(grad_out, dtype), chk.contiguous(x, dtype), chk.contiguous(weight, dtype),
        stride, dilation, pads, groups, need_input_grad, True)
    assert gb is not None
    return gx, gw, gb


def _transpose_setup(x: Any, weight: Any, stride: IntPair, padding: IntPair,
                     output_padding: IntPair, groups: int, dilation: IntPair
                     ) -> Tuple[np.ndarray, np.ndarray, chk.Pair, chk.Pair, chk.Pair,
                                Tuple[int, int, int, int], int]:
    """Validated (x, weight, stride, dilation, crops (top, left), out_shape, groups)."""
    x = chk.real_array(x, "input")
    weight = chk.real_array(weight, "weight")
    chk.check_ndim(x, 4, "input", "(N, C_in, H, W)")
    chk.check_ndim(weight, 4, "weight", "(in_channels, out_channels / groups, kh, kw)")
    chk.nonempty_hw(x, "input")
    if min(weight.shape) < 1 or max(weight.shape[2:]) > chk.MAX_DIM:
        raise ValueError(f"weight must have no zero-length axis, got shape {weight.shape}")
    groups = _groups_arg(groups)
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"channel mismatch: input has {x.shape[1]} channels (input.shape[1]) "
                         f"but weight expects {weight.shape[0]} (weight.shape[0])")
    if weight.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the in_channels ({weight.shape[0]})")
    stride = chk.pair(stride, "stride", 1)
    dilation = chk.pair(dilation, "dilation", 1)
    pad = chk.pair(padding, "padding", 0)
    opad = chk.pair(output_padding, "output_padding", 0)
    out_hw = []
    for i in range(2):
        if opad[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"output_padding must be smaller than stride or dilation, got "
                             f"output_padding={opad}, stride={stride}, dilation={dilation}")
        size = ((x.shape[2 + i] - 1) * stride[i] - 2 * pad[i]
                + dilation[i] * (weight.shape[2 + i] - 1) + opad[i] + 1)
        if size < 1:
            raise ValueError(f"conv_transpose2d: padding={pad} leaves an empty output "
                             f"(size {size} along axis {2 + i})")
        out_hw.append(size)
    out_shape = (x.shape[0], weight.shape[1] * groups, out_hw[0], out_hw[1])
    return x, weight, stride, dilation, pad, out_shape, groups


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> np.ndarray:
    """PyTorch's F.conv_transpose2d: the gradient of conv2d with respect to its
    input, as an op.  input (N, C_in, H, W); weight (C_in, C_out / groups, kh,
    kw); bias (C_out,) or None -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1."""
    x, weight, stride, dilation, crops, out_shape, groups = _transpose_setup(
        input, weight, stride, padding, output_padding, groups, dilation)
    bias = _bias(bias, out_shape[1])
    dtype = chk.result_dtype(x, weight, bias)
    chk.check_alloc(out_shape, dtype, "conv_transpose2d output")
    b = None if bias is None else chk.contiguous(bias, dtype)
    return conv_transpose2d_unchecked(chk.contiguous(x, dtype), chk.contiguous(weight, dtype), b,
                                      stride, dilation, crops, out_shape[2:], groups)


def conv_transpose2d_backward(grad_out: Any, input: Any, weight: Any, stride: IntPair = 1,
                              padding: IntPair = 0, output_padding: IntPair = 0,
                              groups: int = 1, dilation: IntPair = 1,
                              need_input_grad: bool = True
                              ) -> Tuple[Optional[np.ndarray], np.ndarray, np.ndarray]:
    """Gradients (grad_input, grad_weight, grad_bias) of conv_transpose2d given
    grad_out (N, C_out, H_out, W_out): grad_input is conv2d(grad_out, weight)
    (same geometry), grad_bias grad_out summed over N, H_out, W_out."""
    need_input_grad = chk.boolean(need_input_grad, "need_input_grad")
    x, weight, stride, dilation, crops, out_shape, groups = _transpose_setup(
        input, weight, stride, padding, output_padding, groups, dilation)
    grad_out = chk.real_array(grad_out, "grad_out")
    chk.check_ndim(grad_out, 4, "grad_out", "(N, C_out, H_out, W_out)")
    chk.check_shape(grad_out, out_shape, "grad_out")
    dtype = chk.result_dtype(grad_out, x, weight)
    chk.check_alloc(x.shape if need_input_grad else (0,), dtype,
                    "conv_transpose2d_backward grad_input", weight.size * 8)
    gx, gw, gb = conv_transpose2d_backward_unchecked(
        chk.contiguous(grad_out, dtype), chk.contiguous(x, dtype), chk.contiguous(weight, dtype),
        stride, dilation, crops, groups, need_input_grad, True)
    assert gb is not None
    return gx, gw, gb


def depthwise_conv2d_unchecked(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                               stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads
                               ) -> np.ndarray:
    """conv2d(x, weight, bias, ..., groups=C) for weight (C * m, 1, kh, kw)."""
    w3 = weight.reshape(weight.shape[0], weight.shape[2], weight.shape[3])
    return _depthwise.depthwise_forward(x, w3, bias, stride, dilation, pads, get_num_threads())


def depthwise_conv2d_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                                        stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                                        need_input_grad: bool, need_bias_grad: bool
                                        ) -> Tuple[Optional[np.ndarray], np.ndarray,
                                                   Optional[np.ndarray]]:
    """The gradients of depthwise_conv2d_unchecked; grad_weight (C * m, 1, kh, kw)."""
    w3 = weight.reshape(weight.shape[0], weight.shape[2], weight.shape[3])
    gx, gw, gb = _depthwise.depthwise_backward(grad_out, x, w3, stride, dilation, pads,
                                               need_input_grad, True, need_bias_grad,
                                               get_num_threads())
    assert gw is not None
    return gx, gw.reshape(weight.shape), gb


def grouped_conv2d_unchecked(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                             stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                             groups: int) -> np.ndarray:
    """conv2d(x, weight, bias, ..., groups=groups), weight (K, C / groups, kh, kw)."""
    if groups == 1:
        return conv2d_unchecked(x, weight, bias, stride, dilation, pads)
    if groups == x.shape[1]:
        return depthwise_conv2d_unchecked(x, weight, bias, stride, dilation, pads)
    bs = [None] * groups if bias is None else np.split(bias, groups)
    ys = [conv2d_unchecked(xg, wg, bg, stride, dilation, pads)
          for xg, wg, bg in zip(_group_slices(x, groups), np.split(weight, groups), bs)]
    return np.concatenate(ys, axis=1)


def grouped_conv2d_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                                      stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads,
                                      groups: int, need_input_grad: bool, need_bias_grad: bool
                                      ) -> Tuple[Optional[np.ndarray], np.ndarray,
                                                 Optional[np.ndarray]]:
    """The gradients of grouped_conv2d_unchecked (grad_bias None unless need_bias_grad)."""
    if groups == 1:
        return conv2d_backward_unchecked(grad_out, x, weight, stride, dilation, pads,
                                         need_input_grad, need_bias_grad)
    if groups == x.shape[1]:
        return depthwise_conv2d_backward_unchecked(grad_out, x, weight, stride, dilation, pads,
                                                   need_input_grad, need_bias_grad)
    # Per group: the input gradient by the auto kernels, the weight gradient by
    # the direct kernel when stride_w == 1 (its contiguous row dot products):
    # on (32, 16, 56, 56) groups it took 12 ms against the GEMM's 24-36 ms
    # (2 threads, AVX-512), where conv2d's auto dispatch picks the GEMM.
    algo: Literal["auto", "direct"] = "direct" if stride[1] == 1 else "auto"
    gxs, gws, gbs = [], [], []
    for g, xg, wg in zip(_group_slices(grad_out, groups), _group_slices(x, groups),
                         np.split(weight, groups)):
        wg = np.ascontiguousarray(wg)
        if need_input_grad:
            gxs.append(_conv2d_data_grad(g, wg, xg.shape, stride, dilation, pads))
        _, gw, gb = _conv2d.conv2d_backward(g, xg, wg, stride, dilation, pads, False, True,
                                            need_bias_grad, get_num_threads(), algo)
        assert gw is not None
        gws.append(gw)
        if gb is not None:
            gbs.append(gb)
    gx = np.concatenate(gxs, axis=1) if need_input_grad else None
    return gx, np.concatenate(gws), np.concatenate(gbs) if need_bias_grad else None


def _transpose_pads(in_hw: Tuple[int, ...], weight_shape: Tuple[int, ...], stride: chk.Pair,
                    dilation: chk.Pair, crops: chk.Pair, out_hw: Tuple[int, ...]
                    ) -> Tuple[chk.Pads, Tuple[int, int]]:
    """The conv2d geometry whose input gradient is this transposed convolution:
    pads (top, bottom, left, right) of an input of out_hw cropped by `tail`
    (rows, columns) -- the transposed output's last rows / columns that no
    input reaches (zero before the bias) when output padding reaches past the
    full output (in - 1) * stride + dilation * (k - 1) + 1."""
    full = [(in_hw[i] - 1) * stride[i] + dilation[i] * (weight_shape[2 + i] - 1) + 1
            for i in range(2)]
    hi = [full[i] - out_hw[i] - crops[i] for i in range(2)]
    tail = (max(0, -hi[0]), max(0, -hi[1]))
    return (crops[0], max(0, hi[0]), crops[1], max(0, hi[1])), tail


def _conv2d_data_grad(grad_out: np.ndarray, weight: np.ndarray, x_shape: Tuple[int, ...],
                      stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads) -> np.ndarray:
    """conv2d's input gradient alone, for an input of x_shape."""
    x = np.empty(x_shape, dtype=grad_out.dtype)     # gives the kernel its shape; never read
    gx = _conv2d.conv2d_backward(grad_out, x, weight, stride, dilation, pads, True, False, False,
                                 get_num_threads())[0]
    assert gx is not None
    return gx


def _conv2d_weight_grad(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                        stride: chk.Pair, dilation: chk.Pair, pads: chk.Pads) -> np.ndarray:
    """conv2d's weight gradient alone."""
    gw = _conv2d.conv2d_backward(grad_out, x, weight, stride, dilation, pads, False, True, False,
                                 get_num_threads())[1]
    assert gw is not None
    return gw


def conv_transpose2d_unchecked(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray],
                               stride: chk.Pair, dilation: chk.Pair, crops: chk.Pair,
                               out_hw: Tuple[int, ...], groups: int = 1) -> np.ndarray:
    """The transposed convolution of x (N, C_in, H, W) with weight (C_in,
    C_out / groups, kh, kw): its full output cropped by crops (top, left) to
    out_hw (zero rows / columns added past the full output)."""
    pads, tail = _transpose_pads(x.shape[2:], weight.shape, stride, dilation, crops, out_hw)
    kh, kw = out_hw[0] - tail[0], out_hw[1] - tail[1]
    cout = weight.shape[1] * groups
    y = np.zeros((x.shape[0], cout) + tuple(out_hw), dtype=x.dtype) if any(tail) else None
    if kh >= 1 and kw >= 1:
        parts = [_conv2d_data_grad(xg, np.ascontiguousarray(wg), (x.shape[0], wg.shape[1], kh, kw),
                                   stride, dilation, pads)
                 for xg, wg in zip(_group_slices(x, groups), np.split(weight, groups))]
        core = parts[0] if groups == 1 else np.concatenate(parts, axis=1)
        if y is None:
            y = core
        else:
            y[:, :, :kh, :kw] = core
    elif y is None:
        y = np.zeros((x.shape[0], cout) + tuple(out_hw), dtype=x.dtype)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward_unchecked(grad_out: np.ndarray, x: np.ndarray, weight: np.ndarray,
                                        stride: chk.Pair, dilation: chk.Pair, crops: chk.Pair,
                                        groups: int, need_input_grad: bool, need_bias_grad: bool
                                        ) -> Tuple[Optional[np.ndarray], np.ndarray,
                                                   Optional[np.ndarray]]:
    """(grad_input, grad_weight, grad_bias or None) of conv_transpose2d_unchecked."""
    out_hw = grad_out.shape[2:]
    pads, tail = _transpose_pads(x.shape[2:], weight.shape, stride, dilation, crops, out_hw)
    kh, kw = out_hw[0] - tail[0], out_hw[1] - tail[1]
    gb = grad_out.sum(axis=(0, 2, 3)) if need_bias_grad else None
    if kh < 1 or kw < 1:      # no input reaches the output
        return (np.zeros_like(x) if need_input_grad else None), np.zeros_like(weight), gb
    g = np.ascontiguousarray(grad_out[:, :, :kh, :kw]) if any(tail) else grad_out
    gxs, gws = [], []
    for gg, xg, wg in zip(_group_slices(g, groups), _group_slices(x, groups),
                          np.split(weight, groups)):
        wg = np.ascontiguousarray(wg)
        if need_input_grad:
            gxs.append(conv2d_unchecked(gg, wg, None, stride, dilation, pads))
        gws.append(_conv2d_weight_grad(xg, gg, wg, stride, dilation, pads))
    gx = (gxs[0] if groups == 1 else np.concatenate(gxs, axis=1)) if need_input_grad else None
    gw = gws[0] if groups == 1 else np.concatenate(gws)
    assert gw is not None
    return gx, gw, gb
# ---- augmentation and regularization layers (issue 13) -----------------------
# RandomFlip's and RandomContrast's per-pixel work and the broadcast multiply-add
# of the dropout / noise / rescaling layers, in C (augment.c).


def dropout2d(input: Any, p: float = 0.5, training: bool = True,
              seed: Optional[Union[int, np.random.Generator]] = None
              ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """PyTorch's F.dropout2d on (N, C, H, W): each whole channel zeroed with
    probability p, the rest scaled by 1 / (1 - p).  Returns (y, mask) with the
    channel mask (N, C) of bools (None when not training or p == 0) for
    dropout2d_backward."""
    x = chk.real_array(input, "input")
    chk.check_ndim(x, 4, "input", "(N, C, H, W)")
    p = chk.dropout_rate(p)
    x = chk.contiguous(x, chk.result_dtype(x))
    if not training or p == 0.0:
        return x.copy(), None
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mask = channel_mask_unchecked(x.shape[0], x.shape[1], p, rng)
    return channel_scale_unchecked(x, mask, p, channels_last=False), mask


def dropout2d_backward(grad_out: Any, mask: Optional[Any], p: float) -> np.ndarray:
    """The input gradient of dropout2d: grad_out * mask / (1 - p) per channel."""
    g = chk.real_array(grad_out, "grad_out")
    chk.check_ndim(g, 4, "grad_out", "(N, C, H, W)")
    p = chk.dropout_rate(p)
    g = chk.contiguous(g, chk.result_dtype(g))
    if mask is None:
        return g.copy()
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a bool array (from dropout2d), got dtype {mask.dtype}")
    chk.check_shape(mask, g.shape[:2], "mask")
    return channel_scale_unchecked(g, np.ascontiguousarray(mask), p, channels_last=False)


def channel_mask_unchecked(n: int, c: int, rate: float, rng: np.random.Generator
                           ) -> np.ndarray:
    """A (n, c) bool keep-mask with P(keep) = 1 - rate, drawn by dropout's C
    counter-based stream (one 64-bit draw from rng seeds it)."""
    _, mask = dropout_unchecked(np.ones((n, c)), rate, rng)
    return mask


def channel_scale_unchecked(x: np.ndarray, mask: np.ndarray, rate: float,
                            channels_last: bool) -> np.ndarray:
    """x (N, C, H, W) or, channels_last, (N, H, W, C), C-contiguous, with channel
    (i, k) multiplied by mask[i, k] / (1 - rate) (the spatial dropout)."""
    n, c = mask.shape
    scale = mask.astype(x.dtype).reshape(-1) * x.dtype.type(1.0 / (1.0 - rate))
    x3 = x.reshape(n, -1, c) if channels_last else x.reshape(n, c, -1)
    strides = (c, 0, 1) if channels_last else (c, 1, 0)
    return broadcast_affine_unchecked(x3, scale, None, strides).reshape(x.shape)


def broadcast_affine_unchecked(x3: np.ndarray, scale: Optional[np.ndarray],
                               shift: Optional[np.ndarray],
                               strides: Tuple[int, int, int]) -> np.ndarray:
    """x3 (outer, mid, inner), C-contiguous, times scale[j] plus shift[j] with
    j = o * strides[0] + m * strides[1] + i * strides[2] (flat arrays of x3's
    dtype; None: 1 / 0)."""
    empty = np.empty(0, dtype=x3.dtype)
    s = empty if scale is None else np.ascontiguousarray(scale, dtype=x3.dtype).reshape(-1)
    b = empty if shift is None else np.ascontiguousarray(shift, dtype=x3.dtype).reshape(-1)
    return _augment.broadcast_affine(x3, s, b, strides[0], strides[1], strides[2],
                                     get_num_threads())


def image_flip_unchecked(x_nhwc: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """x_nhwc (N, H, W, C), C-contiguous, image i flipped left-right when
    flags[i] & 1, top-bottom when flags[i] & 2 (flags uint8 (N,))."""
    return _augment.image_flip(x_nhwc, np.ascontiguousarray(flags, dtype=np.uint8),
                               get_num_threads())


def adjust_contrast_unchecked(x_nhwc: np.ndarray, factors: np.ndarray, lo: float,
                              hi: float) -> np.ndarray:
    """Keras's contrast adjustment of x_nhwc (N, H, W, C), C-contiguous:
    (x - mean over H, W) * factors[i] + mean, clipped to [lo, hi]."""
    n, h, w, c = x_nhwc.shape
    y = _augment.adjust_contrast(x_nhwc.reshape(n, h * w, c),
                                 np.ascontiguousarray(factors, dtype=np.float64), lo, hi,
                                 get_num_threads())
    return y.reshape(x_nhwc.shape)


def plan_forward_unchecked(code: np.ndarray, reals: np.ndarray, ptrs: np.ndarray,
                           x: np.ndarray, out: np.ndarray) -> None:
    """Run a compiled inference plan (ccnn.models.inference, which builds and
    checks code, reals, ptrs and the buffers) on the C-contiguous x into out."""
    _plan.plan_forward(code, reals, ptrs, x.reshape(-1), out.reshape(-1), get_num_threads())


def plan_runner_unchecked(code: np.ndarray, reals: np.ndarray, ptrs: np.ndarray, in_size: int,
                          out_size: int, dtype: np.dtype) -> Any:
    """A compiled inference plan (as plan_forward_unchecked) held for
    repeated runs on inputs of in_size and outputs of out_size elements of
    dtype (float32 or float64): plan_run_unchecked's first argument."""
    return _plan.PlanRunner(code, reals, ptrs, in_size, out_size, np.dtype(dtype) == np.float64)


def plan_run_unchecked(runner: Any, x: np.ndarray, out: np.ndarray) -> None:
    """Run a plan_runner_unchecked plan on the C-contiguous x into out (the
    runner checks their dtype and sizes)."""
    runner.run(x, out, get_num_threads())


def plan_train_unchecked(code: np.ndarray, reals: np.ndarray, ptrs: np.ndarray, x: np.ndarray,
                         out: np.ndarray, targets: np.ndarray, nbytes: Tuple[int, int, int],
                         opt: Optional[np.ndarray] = None,
                         optreals: Optional[np.ndarray] = None) -> bool:
    """Run a compiled training step (ccnn.models.train_plan, which builds code,
    reals, ptrs and the buffers) on the C-contiguous x, out and targets; the
    binding checks their kinds, and their sizes against the plan's `nbytes`
    (x, out, targets).  With an optimizer record (opt, optreals: plan_train.h)
    its update follows in the same call; returns whether it ran."""
    return _plan.plan_train(code, reals, ptrs, x, out, targets, nbytes[0], nbytes[1],
                            nbytes[2], get_num_threads(), opt, optreals)


def plan_train_steps_unchecked(code: np.ndarray, reals: np.ndarray, ptrs: np.ndarray,
                               x: np.ndarray, out: np.ndarray, targets: np.ndarray,
                               nbytes: Tuple[int, int, int], opt: np.ndarray,
                               optreals: np.ndarray, seeds: np.ndarray, seed_rows: np.ndarray,
                               decays: Optional[np.ndarray], snaps: np.ndarray,
                               hits: Optional[np.ndarray], classes: int,
                               rows: Optional[np.ndarray], first: int, batch: int,
                               targets_rows: bool,
                               reduce: Optional[Callable[[int], None]] = None,
                               labels: Optional[np.ndarray] = None) -> Tuple[int, bool]:
    """plan_train_unchecked with its optimizer record over optreals.shape[0]
    batches of `batch` rows in one call (compile's steps_per_execution; see
    _plan.plan_train_steps): step i's rows of x (and of targets with
    targets_rows; else targets are the steps' one after another) are
    rows[i * batch:(i + 1) * batch], or with rows None first + i * batch on,
    gathered in C; reduce(i), when given, runs between step i's backward and
    its update (a DataParallel fit's all-reduce); labels (int64, one per row
    of every step), when given, are what hits count matches against instead
    of the targets; returns (steps run, whether the last one updated)."""
    return _plan.plan_train_steps(code, reals, ptrs, x, out, targets, nbytes[0], nbytes[1],
                                  nbytes[2], get_num_threads(), opt, optreals, seeds, seed_rows,
                                  decays, snaps, hits, classes, rows, first, batch,
                                  targets_rows, reduce, labels)


def plan_optimize_unchecked(opt: np.ndarray, optreals: np.ndarray, f64: bool) -> bool:
    """The optimizer's update of a training plan's record (opt, optreals:
    plan_train.h) alone, over float64 (f64) or float32 arrays; returns whether
    it ran (False: the record's check found a non-finite grad or loss)."""
    return _plan.plan_optimize(opt, optreals, f64, get_num_threads())
