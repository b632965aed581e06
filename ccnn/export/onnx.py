"""A Sequential model as an ONNX file: ``model.export("m.onnx", format="onnx")``.

ONNX opset 17 (IR version 8), float32.  The graph takes the model's input as
the model does -- channels-last (N, H, W, C) images by default -- with a
dynamic batch dimension "N", and gives what model.predict gives.  ONNX's Conv
and pooling ops are channels-first, so the converters of Conv2D / Conv1D and
the pooling layers move the data to NCHW (a 1-D layer's sequences become
images of height 1, as in ccnn's kernels) and back around them; the padding
is written out explicitly, from ccnn's own TensorFlow-style 'same' rule (the
odd extra row / column at the bottom / right), so it matches exactly.

One small converter per layer type, in _CONVERTERS: converter(graph, layer,
x) adds the layer's nodes to the graph and returns the name of its output.
Layers active only in training (Dropout, RandomTranslation) are Identity;
any other layer is a ValueError naming it.

The `onnx` package is an optional extra (pip install "ccnn[onnx]"), imported
only when a model is exported.  The model is never changed.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._fileio import atomic_write

__all__ = ["OPSET", "export_onnx"]

#: the ONNX opset the exported graphs use (LayerNormalization needs 17)
OPSET = 17
_IR_VERSION = 8      # the IR version of opset 17: older runtimes load the file too
_INT64_MAX = np.iinfo(np.int64).max


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError(f'exporting to ONNX needs the onnx package: pip install "ccnn[onnx]" '
                          f'(or pip install onnx) ({e})') from None
    return onnx


class _Graph:
    """The nodes and constant tensors (initializers) of the graph being built."""

    def __init__(self, onnx: Any):
        self.onnx = onnx
        self.nodes: List[Any] = []
        self.initializers: List[Any] = []
        self._names: Dict[str, int] = {}
        self.prefix = ""         # the current layer's name, prefixed to its tensors

    def name(self, hint: str) -> str:
        base = f"{self.prefix}/{hint}" if self.prefix else hint
        i = self._names.get(base, 0)
        self._names[base] = i + 1
        return base if i == 0 else f"{base}_{i}"

    def const(self, value: Any, hint: str = "const", dtype: Any = np.float32) -> str:
        """A constant tensor (a copy of `value`, as `dtype`) and its name."""
        name = self.name(hint)
        array = np.array(value, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Sequence[int], hint: str = "axes") -> str:
        return self.const(list(values), hint, np.int64)

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        """One node of `op_type`; the name of its (single) output."""
        out = self.name(op_type)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out],
                                                     name=out, **attrs))
        return out


# ---------------------------------------------------------------- activations

_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "selu": "Selu",
           "softplus": "Softplus", "softsign": "Softsign", "exponential": "Exp",
           "hard_silu": "HardSwish"}


def _activation(g: _Graph, name: Optional[str], x: str, axis: int = -1) -> str:
    """ccnn.activations' `name` (canonical; None is linear) of x; softmax over `axis`."""
    if name is None:
        return x
    if name in _SIMPLE:
        return g.op(_SIMPLE[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=axis)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=axis)
    if name == "relu6":
        return g.op("Clip", [x, g.const(0.0, "min"), g.const(6.0, "max")])
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], alpha=0.2)
    if name == "elu":
        return g.op("Elu", [x], alpha=1.0)
    if name == "hard_sigmoid":           # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":                   # exact: x * (1 + erf(x / sqrt(2))) / 2
        erf = g.op("Erf", [g.op("Mul", [x, g.const(1.0 / math.sqrt(2.0), "inv_sqrt2")])])
        return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, g.const(1.0, "one")])]),
                            g.const(0.5, "half")])
    raise ValueError(f"activation {name!r} cannot be exported to ONNX")


# ------------------------------------------------- channels-first round trips

def _to_nchw(g: _Graph, layer: Any, x: str) -> str:
    """x in the layer's data_format as (N, C, H, W); a sequence as height 1."""
    last = layer.data_format == "channels_last"
    if layer.rank == 1:      # (N, L, C) -> (N, 1, L, C); (N, C, L) -> (N, C, 1, L)
        x = g.op("Unsqueeze", [x, g.ints([1 if last else 2])])
    return g.op("Transpose", [x], perm=[0, 3, 1, 2]) if last else x


def _from_nchw(g: _Graph, layer: Any, y: str) -> str:
    """The inverse of _to_nchw."""
    last = layer.data_format == "channels_last"
    if last:
        y = g.op("Transpose", [y], perm=[0, 2, 3, 1])
    if layer.rank == 1:
        y = g.op("Squeeze", [y, g.ints([1 if last else 2])])
    return y


def _window_pads(layer: Any) -> List[int]:
    """ONNX's [top, left, bottom, right] of the layer's window for its built
    input size (ccnn's (top, bottom, left, right), TensorFlow's 'same' rule)."""
    _, _, h, w = layer._split(layer.input_shape)
    if layer.padding == "same" and (h is None or w is None):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): padding='same' needs "
                         f"the input's spatial size to export, got {layer.input_shape}")
    top, bottom, left, right = layer._compute_pads(h or 1, w or 1)
    return [top, left, bottom, right]


def _spatial_axes(layer: Any) -> List[int]:
    """The spatial axes of the layer's input in its data_format."""
    first = 1 if layer.data_format == "channels_last" else 2
    return list(range(first, first + layer.rank))


# ----------------------------------------------------------------- converters

def _conv_op(g: _Graph, layer: Any, x: str, kernel: str, bias: Optional[str],
             groups: int) -> str:
    """One ONNX Conv of the layer's window (x and the result NCHW)."""
    kh, kw = layer.kernel_size
    return g.op("Conv", [x, g.const(layer.params[kernel], kernel)] +
                ([g.const(layer.params[bias], bias)] if bias else []),
                kernel_shape=[kh, kw], strides=list(layer.strides),
                dilations=list(layer.dilation_rate), pads=_window_pads(layer), group=groups)


def _conv(g: _Graph, layer: Any, x: str) -> str:
    """Conv2D / Conv1D (groups too) and DepthwiseConv2D -- whose (C * m, 1, kh, kw)
    kernel is a Conv with one group per input channel: Conv in NCHW with
    explicit pads, the activation, back."""
    x = _to_nchw(g, layer, x)
    groups = getattr(layer, "groups", 1)
    if isinstance(layer, _layers().DepthwiseConv2D):
        groups = layer.params["kernel"].shape[0] // layer.depth_multiplier
    y = _conv_op(g, layer, x, "kernel", "bias" if layer.use_bias else None, groups)
    return _from_nchw(g, layer, _activation(g, layer.activation, y, axis=1))


def _separable_conv(g: _Graph, layer: Any, x: str) -> str:
    """SeparableConv2D: the depthwise Conv, then a 1x1 Conv with the bias."""
    x = _to_nchw(g, layer, x)
    mid = _conv_op(g, layer, x, "depthwise_kernel", None,
                   layer.params["depthwise_kernel"].shape[0] // layer.depth_multiplier)
    inputs = [mid, g.const(layer.params["pointwise_kernel"], "pointwise_kernel")]
    if layer.use_bias:
        inputs.append(g.const(layer.params["bias"], "bias"))
    y = g.op("Conv", inputs, kernel_shape=[1, 1])
    return _from_nchw(g, layer, _activation(g, layer.activation, y, axis=1))


def _conv_transpose(g: _Graph, layer: Any, x: str) -> str:
    """Conv2DTranspose: ConvTranspose (kernel (in, filters, kh, kw) as ONNX's)
    whose full output is cropped at the top / left as ccnn's geometry says, and
    cut or extended (output_padding) at the bottom / right to its size."""
    _, _, h, w = layer._split(layer.input_shape)
    if h is None or w is None:
        raise ValueError(f"layer {layer.name!r} (Conv2DTranspose): the input's spatial size "
                         f"must be known to export, got {layer.input_shape}")
    ct, oh, cl, ow = layer._compute_pads(h, w)
    pads, extra = [ct, cl, 0, 0], [0, 0]
    for i, (size, crop, out) in enumerate(((h, ct, oh), (w, cl, ow))):
        k, s, d = layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        full = (size - 1) * s + d * (k - 1) + 1
        if crop + out <= full:
            pads[2 + i] = full - crop - out
        else:
            extra[i] = crop + out - full
    inputs = [_to_nchw(g, layer, x), g.const(layer.params["kernel"], "kernel")]
    if layer.use_bias:
        inputs.append(g.const(layer.params["bias"], "bias"))
    kh, kw = layer.kernel_size
    y = g.op("ConvTranspose", inputs, kernel_shape=[kh, kw], strides=list(layer.strides),
             dilations=list(layer.dilation_rate), pads=pads, output_padding=extra)
    return _from_nchw(g, layer, _activation(g, layer.activation, y, axis=1))


def _affine(g: _Graph, x: str, scale: np.ndarray, shift: np.ndarray) -> str:
    """x * scale + shift, NumPy-broadcast as ONNX's Mul and Add are."""
    return g.op("Add", [g.op("Mul", [x, g.const(np.asarray(scale, np.float32), "scale")]),
                        g.const(np.asarray(shift, np.float32), "shift")])


def _rescaling(g: _Graph, layer: Any, x: str) -> str:
    """Rescaling: x * scale + offset."""
    return _affine(g, x, *layer._arrays())


def _normalization(g: _Graph, layer: Any, x: str) -> str:
    """Normalization: (x - mean) / max(sqrt(variance), epsilon) (invert: its
    inverse), as the scale and shift the layer computes."""
    scale, shift = layer._scale_shift()
    if scale.shape[0] != 1:
        raise ValueError(f"layer {layer.name!r} (Normalization): statistics over the batch "
                         f"axis cannot be exported")
    return _affine(g, x, scale[0], shift[0])


def _layers() -> Any:
    from .. import layers
    return layers


def _pool(op_type: str, **attrs: Any) -> Callable[[_Graph, Any, str], str]:
    def convert(g: _Graph, layer: Any, x: str) -> str:
        y = g.op(op_type, [_to_nchw(g, layer, x)], kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides), pads=_window_pads(layer), **attrs)
        return _from_nchw(g, layer, y)
    return convert


def _global_pool(op_type: str) -> Callable[[_Graph, Any, str], str]:
    def convert(g: _Graph, layer: Any, x: str) -> str:
        return g.op(op_type, [x], axes=_spatial_axes(layer), keepdims=int(layer.keepdims))
    return convert


def _dense(g: _Graph, layer: Any, x: str) -> str:
    """Dense: MatMul (+ Add) over the last axis, then the activation."""
    y = g.op("MatMul", [x, g.const(layer.params["kernel"], "kernel")])
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.params["bias"], "bias")])
    return _activation(g, layer.activation, y, axis=-1)


def _identity(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Identity", [x])


def _flatten(g: _Graph, layer: Any, x: str) -> str:
    """(N, ...) -> (N, prod): channels-first images are moved to (N, H, W, C)
    order first, as ccnn's (and Keras's) Flatten does."""
    ndim = len(layer.input_shape)
    if layer.data_format == "channels_first" and ndim > 2:
        x = g.op("Transpose", [x], perm=[0] + list(range(2, ndim)) + [1])
    return g.op("Flatten", [x], axis=1)


def _reshape(g: _Graph, layer: Any, x: str) -> str:
    shape = [0] + list(layer.target_shape)           # 0: the batch size, copied
    return g.op("Reshape", [x, g.ints(shape, "shape")])


def _permute(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Transpose", [x], perm=[0] + list(layer.dims))


def _zero_padding(g: _Graph, layer: Any, x: str) -> str:
    ndim = layer.rank + 2
    begins, ends = [0] * ndim, [0] * ndim
    for axis, (lo, hi) in zip(_spatial_axes(layer), layer.padding):
        begins[axis], ends[axis] = lo, hi
    return g.op("Pad", [x, g.ints(begins + ends, "pads")], mode="constant")


def _cropping(g: _Graph, layer: Any, x: str) -> str:
    axes = _spatial_axes(layer)
    starts = [lo for lo, _ in layer.cropping]
    ends = [-hi if hi else _INT64_MAX for _, hi in layer.cropping]
    return g.op("Slice", [x, g.ints(starts, "starts"), g.ints(ends, "ends"),
                          g.ints(axes, "axes")])


def _up_sampling(g: _Graph, layer: Any, x: str) -> str:
    """Nearest-neighbour repeats: Resize by the integer factors, each output
    pixel taking input floor(i / factor); 'bilinear': half-pixel centres."""
    scales = [1.0] * (layer.rank + 2)
    for axis, factor in zip(_spatial_axes(layer), layer.size):
        scales[axis] = float(factor)
    if layer.interpolation == "bilinear":
        return g.op("Resize", [x, "", g.const(scales, "scales")], mode="linear",
                    coordinate_transformation_mode="half_pixel")
    return g.op("Resize", [x, "", g.const(scales, "scales")], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _resizing(g: _Graph, layer: Any, x: str) -> str:
    """Resizing: the crop (Slice) or the padding (Pad) to the aspect ratio, then
    Resize to the output sizes (the batch size read from the input's Shape):
    'bilinear' with half-pixel centres, 'nearest' floor((i + 0.5) * in / out)
    (the crop's / padding's amounts are fixed: the input's height and width
    must be)."""
    ndim = len(layer.input_shape)
    axes = _spatial_axes(layer)
    hw = [layer.input_shape[a] for a in axes]
    if any(d is None for d in hw) and (layer.crop_to_aspect_ratio or
                                       layer.pad_to_aspect_ratio):
        raise ValueError(f"layer {layer.name!r} (Resizing): crop_to_aspect_ratio / "
                         f"pad_to_aspect_ratio need a fixed input height and width to export")
    if layer.crop_to_aspect_ratio or layer.pad_to_aspect_ratio:
        top, bottom, left, right = layer._box(*hw)
        if layer.crop_to_aspect_ratio:
            x = g.op("Slice", [x, g.ints([-top, -left], "starts"),
                              g.ints([hw[0] + bottom, hw[1] + right], "ends"),
                              g.ints(axes, "axes")])
        else:
            begins, ends = [0] * ndim, [0] * ndim
            begins[axes[0]], ends[axes[0]], begins[axes[1]], ends[axes[1]] = \
                top, bottom, left, right
            x = g.op("Pad", [x, g.ints(begins + ends, "pads"),
                             g.const(layer.fill_value, "fill_value")], mode="constant")
    sizes = [g.op("Slice", [g.op("Shape", [x]), g.ints([0], "starts"), g.ints([1], "ends")])]
    c_axis = 1 if layer.data_format == "channels_first" else ndim - 1
    rest = {axes[0]: layer.height, axes[1]: layer.width, c_axis: layer.input_shape[c_axis]}
    sizes.append(g.ints([int(rest[a]) for a in range(1, ndim)], "sizes"))
    size = g.op("Concat", sizes, axis=0)
    if layer.interpolation == "bilinear":
        return g.op("Resize", [x, "", "", size], mode="linear",
                    coordinate_transformation_mode="half_pixel")
    # floor((i + 0.5) / scale) as round-half-up of half_pixel's (i + 0.5) / scale - 0.5
    return g.op("Resize", [x, "", "", size], mode="nearest",
                coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")


def _channels_to_1(g: _Graph, x: str, axis: int, ndim: int,
                   op: Callable[[str], str]) -> str:
    """op applied with `axis` moved to position 1, as ONNX's BatchNormalization wants."""
    if axis == 1:
        return op(x)
    perm = [0, axis] + [a for a in range(1, ndim) if a != axis]
    y = op(g.op("Transpose", [x], perm=perm))
    return g.op("Transpose", [y], perm=[int(a) for a in np.argsort(perm)])


def _batch_norm(g: _Graph, layer: Any, x: str) -> str:
    """Inference BatchNormalization with the moving statistics."""
    ndim = len(layer.input_shape)
    axis = layer._channel_axis(ndim)
    c = layer.states["moving_mean"].shape[0]
    gamma = layer.params.get("gamma", np.ones(c, np.float32))
    beta = layer.params.get("beta", np.zeros(c, np.float32))
    inputs = [g.const(gamma, "gamma"), g.const(beta, "beta"),
              g.const(layer.states["moving_mean"], "moving_mean"),
              g.const(layer.states["moving_variance"], "moving_variance")]
    return _channels_to_1(g, x, axis, ndim, lambda t: g.op(
        "BatchNormalization", [t] + inputs, epsilon=layer.epsilon))


def _layer_norm(g: _Graph, layer: Any, x: str) -> str:
    """LayerNormalization over the layer's axes, moved last when they are not."""
    ndim = len(layer.input_shape)
    axes = layer._axes(ndim)
    order = [a for a in range(ndim) if a not in axes] + list(axes)
    shape = [layer.input_shape[a] for a in axes]
    count = int(np.prod(shape))
    gamma = layer.params["gamma"] if "gamma" in layer.params else np.ones(count, np.float32)
    inputs = [g.const(np.reshape(gamma, shape), "gamma")]
    if "beta" in layer.params:
        inputs.append(g.const(np.reshape(layer.params["beta"], shape), "beta"))
    moved = order != list(range(ndim))
    if moved:
        x = g.op("Transpose", [x], perm=order)
    y = g.op("LayerNormalization", [x] + inputs, axis=ndim - len(axes),
             epsilon=layer.epsilon)
    return g.op("Transpose", [y], perm=[int(a) for a in np.argsort(order)]) if moved else y


def _activation_layer(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Identity", [x]) if layer.activation is None else \
        _activation(g, layer.activation, x, axis=-1)


def _relu_layer(g: _Graph, layer: Any, x: str) -> str:
    """Keras's ReLU: min(x > threshold ? x : 0, max_value) - negative_slope *
    max(threshold - x, 0)."""
    if layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0:
        return g.op("Relu", [x])
    zero = g.const(0.0, "zero")
    if layer.threshold == 0:
        y = g.op("Relu", [x])
    else:
        t = g.const(layer.threshold, "threshold")
        y = g.op("Where", [g.op("Greater", [x, t]), x, zero])
    if layer.max_value is not None:
        y = g.op("Min", [y, g.const(layer.max_value, "max_value")])
    if layer.negative_slope != 0:
        below = g.op("Relu", [g.op("Sub", [g.const(layer.threshold, "threshold"), x])])
        y = g.op("Sub", [y, g.op("Mul", [below, g.const(layer.negative_slope, "slope")])])
    return y


def _leaky_relu_layer(g: _Graph, layer: Any, x: str) -> str:
    return g.op("LeakyRelu", [x], alpha=float(layer.negative_slope))


def _elu_layer(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Elu", [x], alpha=float(layer.alpha))


def _prelu_layer(g: _Graph, layer: Any, x: str) -> str:
    return g.op("PRelu", [x, g.const(layer.params["alpha"], "alpha")])


def _softmax_layer(g: _Graph, layer: Any, x: str) -> str:
    return g.op("Softmax", [x], axis=layer.axis)


def _merge(op_type: str) -> Callable[[_Graph, Any, Any], str]:
    """A merge layer: inputs of lower rank get unit axes after the batch axis
    (Keras's), then one variadic op (Sum, Mean, Max, Min) or a chain of binary
    ones (Sub, Mul), or Concat."""
    def convert(g: _Graph, layer: Any, xs: Any) -> str:
        ranks = [len(s) for s in layer.input_shape]
        nd = max(ranks)
        xs = [x if r == nd else g.op("Unsqueeze", [x, g.ints(range(1, 1 + nd - r))])
              for x, r in zip(xs, ranks)]
        if op_type == "Concat":
            return g.op("Concat", xs, axis=layer.axis % nd)
        if op_type in ("Sub", "Mul"):
            y = xs[0]
            for x in xs[1:]:
                y = g.op(op_type, [y, x])
            return y
        return g.op(op_type, xs)
    return convert


def _converters() -> Dict[type, Callable[[_Graph, Any, Any], str]]:
    from .. import layers as L
    return {
        L.Add: _merge("Sum"), L.Subtract: _merge("Sub"), L.Multiply: _merge("Mul"),
        L.Average: _merge("Mean"), L.Maximum: _merge("Max"), L.Minimum: _merge("Min"),
        L.Concatenate: _merge("Concat"),
        L.Conv2D: _conv, L.Conv1D: _conv, L.DepthwiseConv2D: _conv,
        L.SeparableConv2D: _separable_conv, L.Conv2DTranspose: _conv_transpose,
        L.Dense: _dense,
        L.MaxPooling2D: _pool("MaxPool"), L.MaxPooling1D: _pool("MaxPool"),
        L.AveragePooling2D: _pool("AveragePool", count_include_pad=0),
        L.AveragePooling1D: _pool("AveragePool", count_include_pad=0),
        L.GlobalAveragePooling2D: _global_pool("ReduceMean"),
        L.GlobalAveragePooling1D: _global_pool("ReduceMean"),
        L.GlobalMaxPooling2D: _global_pool("ReduceMax"),
        L.GlobalMaxPooling1D: _global_pool("ReduceMax"),
        L.Flatten: _flatten, L.Reshape: _reshape, L.Permute: _permute,
        L.ZeroPadding2D: _zero_padding, L.ZeroPadding1D: _zero_padding,
        L.Cropping2D: _cropping, L.Cropping1D: _cropping,
        L.UpSampling2D: _up_sampling, L.UpSampling1D: _up_sampling,
        L.BatchNormalization: _batch_norm, L.LayerNormalization: _layer_norm,
        L.Dropout: _identity, L.RandomTranslation: _identity,
        # training-only layers: the identity at inference, as in Keras (RandomCrop too)
        L.SpatialDropout2D: _identity, L.GaussianNoise: _identity,
        L.GaussianDropout: _identity, L.RandomFlip: _identity, L.RandomRotation: _identity,
        L.RandomZoom: _identity, L.RandomCrop: _identity, L.RandomContrast: _identity,
        L.Rescaling: _rescaling, L.Normalization: _normalization, L.Resizing: _resizing,
        L.Activation: _activation_layer, L.ReLU: _relu_layer,
        L.LeakyReLU: _leaky_relu_layer, L.ELU: _elu_layer, L.PReLU: _prelu_layer,
        L.Softmax: _softmax_layer,
    }


def _value_info(onnx: Any, name: str, shape: Sequence[Optional[int]]) -> Any:
    dims: List[Any] = ["N"] + [d if d is not None else f"{name}_d{i + 1}"
                               for i, d in enumerate(shape[1:])]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def _graph_nodes(g: _Graph, model: Any, converters: Dict[type, Any]) -> Tuple[list, list]:
    """A functional Model's nodes into g; (graph inputs, graph outputs) named as
    the model's inputs and outputs."""
    onnx = g.onnx
    names: Dict[int, str] = {}
    inputs = []
    for t, name in zip(model.inputs, model.input_names):
        names[id(t)] = name
        inputs.append(_value_info(onnx, name, t.shape))
    for node in model._nodes:
        if node.is_input:
            continue
        g.prefix = node.layer.name
        ins = [names[id(t)] for t in node.inputs]
        names[id(node.outputs[0])] = converters[type(node.layer)](
            g, node.layer, ins if node.multi else ins[0])
    g.prefix = ""
    outputs, used = [], set(names.values())
    for t, name in zip(model.outputs, model.output_names):
        base, i = name, 0
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
        g.nodes.append(onnx.helper.make_node("Identity", [names[id(t)]], [name], name=name))
        outputs.append(_value_info(onnx, name, t.shape))
    return inputs, outputs


def to_onnx_model(model: Any) -> Any:
    """`model` (a built Sequential of float32 layers) as an onnx.ModelProto, checked."""
    onnx = _import_onnx()
    from ..layers.core.input_layer import InputLayer
    model._require_built()
    converters = _converters()
    for layer in model.layers:        # every problem named before anything is built
        if isinstance(layer, InputLayer):
            continue
        if type(layer) not in converters:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be exported "
                             f"to ONNX; ccnn exports "
                             f"{', '.join(sorted(c.__name__ for c in converters))}")
        if layer.dtype != "float32":
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) is {layer.dtype}; "
                             f"ONNX export supports float32 models")
    g = _Graph(onnx)
    if hasattr(model, "_nodes"):        # a functional Model: its nodes in order
        inputs, outputs = _graph_nodes(g, model, converters)
    else:
        x = "input"
        for layer in model.layers:
            g.prefix = layer.name
            x = converters[type(layer)](g, layer, x)
        g.prefix = ""
        g.nodes.append(onnx.helper.make_node("Identity", [x], ["output"], name="output"))
        inputs = [_value_info(onnx, "input", model.input_shape)]
        outputs = [_value_info(onnx, "output", model.output_shape)]
    graph = onnx.helper.make_graph(g.nodes, model.name, inputs, outputs,
                                   initializer=g.initializers)
    from .. import __version__
    proto = onnx.helper.make_model(graph, producer_name="ccnn", producer_version=__version__,
                                   opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    proto.ir_version = _IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, filepath: Any) -> None:
    """Write `model` (a built Sequential) to the ONNX file `filepath`
    atomically (opset 17; input "input", output "output", dynamic batch)."""
    data = to_onnx_model(model).SerializeToString()
    with atomic_write(filepath) as f:
        f.write(data)
