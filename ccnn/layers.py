"""ccnn.layers -- Keras-named layers, each a small class you can read in one go.

Every layer has (after deep-learning-from-scratch's common/layers.py):

    build(input_shape)        create the weights for inputs of that shape
    forward(x, training)      compute the output, keep what backward needs on self
    backward(dout)            gradient of the input; fills self.grads
    params, grads             dicts with the same keys ('kernel', 'bias')

plus Keras's compute_output_shape, count_params, get_config.  Shapes include
the batch axis as None, as in Keras: Conv2D(10, 3, input_shape=(28, 28, 1))
is built for (None, 28, 28, 1).

Images are channels-last (N, H, W, C) by default, as in Keras; the C kernels
(ccnn.functional) work on channels-first (N, C, H, W).  Conv2D and the
pooling layers therefore transpose their input to NCHW and hand back their
NCHW result as a channels-last *view* (a transpose, no copy); the next
layer's transpose to NCHW undoes that view, again without copying, so a
stack of conv / pool / activation layers moves no data between them.

Arrays are float32 by default (dtype='float32'); pass dtype='float64' to a
layer for double precision (the gradient checks do).
"""
from __future__ import annotations

import abc
import math
import numbers
import re
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type

import numpy as np

from . import _checks as chk
from . import _activation as _activation_c
from . import _conv2d, _dense, _layout, _pool
from . import functional as F
from ._config import get_num_threads
from . import losses
from . import utils

__all__ = ["Layer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dropout",
           "Dense", "ReLU", "Softmax", "get"]

Shape = Tuple[Optional[int], ...]

ACTIVATIONS = (None, "linear", "relu", "softmax")
_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                "lecun_normal", "random_uniform", "random_normal", "zeros", "ones")


# ----------------------------------------------------------------- helpers

def _snake(name: str) -> str:
    """Keras's default layer names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _activation(name: Any) -> Optional[str]:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; ccnn supports 'relu', 'softmax', "
                         f"'linear' or None")
    return None if name == "linear" else name


def _initializer(name: Any, what: str) -> str:
    if name not in INITIALIZERS:
        raise ValueError(f"Unknown {what} {name!r}; ccnn supports {', '.join(INITIALIZERS)}")
    return name


def _truncated_normal(rng: np.random.Generator, stddev: float, shape) -> np.ndarray:
    """Normal(0, stddev) redrawn outside two standard deviations (Keras's
    truncated normal)."""
    out = rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


def initialize(name: str, shape, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """A new weight array drawn like Keras's initializer `name`.

    glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
    The *_normal ones are truncated normals whose stddev is corrected for the
    truncation (Keras's 0.87962566103423978)."""
    rng = utils.get_rng()
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
    if name == "ones":
        return np.ones(shape, dtype=dtype)
    if name == "random_uniform":
        return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)
    if name == "random_normal":
        return rng.normal(0.0, 0.05, size=shape).astype(dtype)
    scale = {"glorot": 2.0 / max(1.0, fan_in + fan_out), "he": 2.0 / max(1, fan_in),
             "lecun": 1.0 / max(1, fan_in)}[name.split("_")[0]]
    if name.endswith("_uniform"):
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)
    return _truncated_normal(rng, math.sqrt(scale) / 0.87962566103423978, shape).astype(dtype)


def _int_pair(v: Any, name: str) -> Tuple[int, int]:
    return chk.pair(v, name, 1)


def _padding(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {v!r}")
    return v.lower()


def _data_format(v: Any) -> str:
    if v not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {v!r}")
    return v


def _window_out(size: Optional[int], k: int, stride: int, dilation: int, padding: str,
                what: str) -> Optional[int]:
    """Keras's output length: 'same' -> ceil(size / stride),
    'valid' -> floor((size - span) / stride) + 1 with span = dilation * (k - 1) + 1."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    span = dilation * (k - 1) + 1
    if span > size:
        raise ValueError(f"{what}: the window (span {span}) is larger than the input ({size}) "
                         f"with padding='valid'")
    return (size - span) // stride + 1


def _c_order(a: np.ndarray) -> Tuple[np.ndarray, bool]:
    """(array, transposed): `a` itself when C-contiguous, or -- for the
    channels-last view of an NCHW array that Conv2D and pooling return --
    its contiguous NCHW base, so elementwise ops run without a copy."""
    if a.ndim == 4 and not a.flags.c_contiguous:
        b = a.transpose(0, 3, 1, 2)
        if b.flags.c_contiguous:
            return b, True
    return a, False


def _kernel_bias_grads(dw: Optional[np.ndarray], db: Optional[np.ndarray],
                       use_bias: bool) -> Dict[str, np.ndarray]:
    """Conv2D's and Dense's grads, under the keys of their params."""
    assert dw is not None
    if not use_bias:
        return {"kernel": dw}
    assert db is not None
    return {"kernel": dw, "bias": db}


def _move_channels(a: np.ndarray, to_last: bool) -> np.ndarray:
    """a C-contiguous copy of the 4-D `a` with its channel axis moved: (N, C, H,
    W) -> (N, H, W, C) when to_last, else back.  Free for an array that is the
    transposed view of such a copy (e.g. the channels-last view of an NCHW
    result), else one C transpose (NumPy's strided copy is several times
    slower)."""
    t = a.transpose(0, 2, 3, 1) if to_last else a.transpose(0, 3, 1, 2)
    if t.flags.c_contiguous or not a.flags.c_contiguous or a.dtype.kind != "f":
        return np.ascontiguousarray(t)
    n, d1, d2, d3 = a.shape     # each image a (d1, d2*d3) or (d1*d2, d3) matrix, transposed
    rows, cols = (d1, d2 * d3) if to_last else (d1 * d2, d3)
    return _layout.transpose_batched(a.reshape(n, rows, cols),
                                     get_num_threads()).reshape(t.shape)


def _channels_first(a: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> C-contiguous (N, C, H, W)."""
    return _move_channels(a, to_last=False)


def _channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> C-contiguous (N, H, W, C)."""
    return _move_channels(a, to_last=True)


def _act_forward(name: Optional[str], z: np.ndarray, channel_axis: int) -> np.ndarray:
    if name == "relu":
        return F.relu(z)
    if name == "softmax":
        if channel_axis == -1 or channel_axis == z.ndim - 1:
            return losses.softmax(z)
        moved = np.moveaxis(z, channel_axis, -1)
        return np.moveaxis(losses.softmax(moved), -1, channel_axis)
    return z


def _act_backward(name: Optional[str], dout: np.ndarray, z: np.ndarray, y: np.ndarray,
                  channel_axis: int) -> np.ndarray:
    if name == "relu":
        return F.relu_backward(dout, z)
    if name == "softmax":
        if channel_axis == -1 or channel_axis == y.ndim - 1:
            return losses.softmax_backward(dout, y)
        d = losses.softmax_backward(np.moveaxis(dout, channel_axis, -1),
                                    np.moveaxis(y, channel_axis, -1))
        return np.moveaxis(d, -1, channel_axis)
    return dout


# -------------------------------------------------------------------- Layer

class Layer(abc.ABC):
    """Base class.  Subclasses set params/grads in build, forward, backward."""

    #: backward may skip the input gradient (and return None) when this is False;
    #: Sequential turns it off around its first layer's backward.
    need_input_grad: bool = True

    def __init__(self, name: Optional[str] = None, input_shape: Any = None,
                 dtype: Any = "float32", trainable: bool = True):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self.name = name                       # set by Sequential.add when None
        self.dtype = np.dtype(dtype).name
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.trainable = chk.boolean(trainable, "trainable")
        self.batch_input_shape: Optional[Shape] = None
        if input_shape is not None:
            if not isinstance(input_shape, (tuple, list)) or not all(
                    d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                  and int(d) >= 1) for d in input_shape):
                raise ValueError(f"input_shape must be a tuple of positive ints (without the "
                                 f"batch axis), got {input_shape!r}")
            self.batch_input_shape = (None,) + tuple(None if d is None else int(d)
                                                     for d in input_shape)
        self.params: Dict[str, np.ndarray] = {}
        self.grads: Dict[str, np.ndarray] = {}
        self.built = False
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None

    # ---- building
    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of `input_shape` (batch axis included)."""
        input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(input_shape)
        self.input_shape = input_shape
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_weights(self) -> list:
        return [self.params[k] for k in self.params]

    def set_weights(self, weights) -> None:
        """Copy `weights` (a list like get_weights()) into the layer's arrays, in place."""
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(f"layer {self.name!r} has {len(self.params)} weight arrays, "
                             f"got {len(weights)}")
        for (key, p), w in zip(self.params.items(), weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"layer {self.name!r}: {key} must have shape {p.shape}, "
                                 f"got {w.shape}")
        for p, w in zip(self.params.values(), weights):
            np.copyto(p, w, casting="same_kind")

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        config = dict(config)
        shape = config.pop("batch_input_shape", None)
        if shape is not None:
            config["input_shape"] = tuple(shape[1:])
        return cls(**config)

    # ---- running
    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x)
        if not self.built:
            self.build((None,) + x.shape[1:])
        return self.forward(x, training)

    @abc.abstractmethod
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output for x; keeps on self what backward needs."""

    @abc.abstractmethod
    def backward(self, dout: np.ndarray) -> np.ndarray:
        """d(loss)/d(input) from dout = d(loss)/d(output); fills self.grads."""

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        """x as this layer's dtype, checked against the built input shape."""
        if not isinstance(x, np.ndarray) or x.dtype != _DTYPES[self.dtype]:
            x = np.asarray(x, dtype=self.dtype)
        want = self.input_shape
        if want is not None and (x.ndim != len(want) or any(
                w is not None and w != d for w, d in zip(want[1:], x.shape[1:]))):
            raise ValueError(f"Input of layer {self.name!r} ({type(self).__name__}) is "
                             f"incompatible: expected shape {want}, got {x.shape}")
        return x

    # What forward keeps for backward: not pickled (a pickled layer carries
    # its weights, not the last batch).
    _CACHE_ATTRS = ("x", "z", "y", "argmax", "mask", "logits", "x_shape", "transposed",
                    "pooled", "pool_argmax")

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in self._CACHE_ATTRS}
        state["grads"] = {}
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


# ------------------------------------------------------------- image layers

class _ImageLayer(Layer):
    """Conv2D and pooling: moving between the layer's data_format and the
    kernels' NCHW."""
    data_format = "channels_last"

    def _to_nchw(self, a: np.ndarray) -> np.ndarray:
        a = a.astype(self.dtype, copy=False)
        return _channels_first(a) if self.data_format == "channels_last" else \
            np.ascontiguousarray(a)

    def _from_nchw(self, a: np.ndarray) -> np.ndarray:
        return a.transpose(0, 2, 3, 1) if self.data_format == "channels_last" else a

    _pads_for: Optional[Tuple[Tuple[int, int], chk.Pads]] = None

    def _pads(self, h: int, w: int) -> chk.Pads:
        """(top, bottom, left, right) for inputs of h x w (_compute_pads),
        remembered per size: layers that call the C bindings directly."""
        if self._pads_for is None or self._pads_for[0] != (h, w):
            self._pads_for = ((h, w), self._compute_pads(h, w))
        return self._pads_for[1]

    if TYPE_CHECKING:   # Conv2D and _Pooling2D define it
        def _compute_pads(self, h: int, w: int) -> chk.Pads: ...


# ------------------------------------------------------------------- Conv2D

class Conv2D(_ImageLayer):
    """2-D convolution (cross-correlation), Keras's Conv2D.

    kernel: (filters, in_channels, kh, kw) -- ccnn's (and PyTorch's) layout;
    Keras stores (kh, kw, in_channels, filters): kernel.transpose(2, 3, 1, 0).
    bias: (filters,).  Initialised with Keras's fans: fan_in = in_channels*kh*kw,
    fan_out = filters*kh*kw.
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", dilation_rate: Any = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", input_shape: Any = None,
                 data_format: str = "channels_last", **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.filters = chk.integer(filters, "filters", 1)
        self.kernel_size = _int_pair(kernel_size, "kernel_size")
        self.strides = _int_pair(strides, "strides")
        self.padding = _padding(padding)
        self.dilation_rate = _int_pair(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("strides > 1 together with dilation_rate > 1 is not supported "
                             "(as in Keras)")
        self.activation = _activation(activation)
        self.use_bias = chk.boolean(use_bias, "use_bias")
        self.kernel_initializer = _initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = _initializer(bias_initializer, "bias_initializer")
        self.data_format = _data_format(data_format)

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(f"Conv2D expects 4-D input (batch, height, width, channels) for "
                             f"channels_last, got shape {input_shape}")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError("Conv2D: the channel dimension of the input must be known")
        kh, kw = self.kernel_size
        fan_in, fan_out = channels * kh * kw, self.filters * kh * kw
        self.params = {"kernel": initialize(self.kernel_initializer,
                                            (self.filters, channels, kh, kw),
                                            fan_in, fan_out, self.dtype)}
        if self.use_bias:
            self.params["bias"] = initialize(self.bias_initializer, (self.filters,),
                                             self.filters, self.filters, self.dtype)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.data_format == "channels_last":
            n, h, w, _ = input_shape
        else:
            n, _, h, w = input_shape
        p = _window_out(h, self.kernel_size[0], self.strides[0], self.dilation_rate[0],
                        self.padding, "Conv2D height")
        q = _window_out(w, self.kernel_size[1], self.strides[1], self.dilation_rate[1],
                        self.padding, "Conv2D width")
        if self.data_format == "channels_last":
            return (n, p, q, self.filters)
        return (n, self.filters, p, q)

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        return chk.padding(self.padding, "padding", (h, w), self.kernel_size, self.strides,
                           self.dilation_rate)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        if self.activation == "relu":
            # fused: ReLU in the conv kernel's epilogue.  The input was checked
            # against the built shape above and the weights are the layer's own,
            # so the layer calls the C binding directly (F.conv2d would parse
            # and check every argument again on each call).
            self.z = None
            self.y = _conv2d.conv2d_forward(self.x, self.params["kernel"], self.params.get("bias"),
                                            self.strides, self.dilation_rate,
                                            self._pads(*self.x.shape[2:]), get_num_threads(),
                                            relu=True)
            return self._from_nchw(self.y)
        self.z = F.conv2d(self.x, self.params["kernel"], self.params.get("bias"),
                          stride=self.strides, padding=self.padding,
                          dilation=self.dilation_rate)                 # (N, K, P, Q)
        self.y = _act_forward(self.activation, self.z, 1)
        return self._from_nchw(self.y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dy = self._to_nchw(dout)
        need_dx = self.need_input_grad  # False while a model runs its first layer
        if self.activation == "relu":   # fused: dy masked by y > 0 inside the kernel
            dx, dw, db = _conv2d.conv2d_backward(dy, self.x, self.params["kernel"], self.strides,
                                                 self.dilation_rate, self._pads(*self.x.shape[2:]),
                                                 need_dx, True, self.use_bias, get_num_threads(),
                                                 relu_out=self.y)
        else:
            assert self.z is not None
            dz = _act_backward(self.activation, dy, self.z, self.y, 1)
            dx, dw, db = F.conv2d_backward(dz, self.x, self.params["kernel"],
                                           stride=self.strides, padding=self.padding,
                                           dilation=self.dilation_rate,
                                           need_input_grad=need_dx)
        self.grads = _kernel_bias_grads(dw, db, self.use_bias)
        return self._from_nchw(dx) if dx is not None else None  # type: ignore[return-value]


    # ---- fused with a following MaxPooling2D(2) (Sequential does this for its
    # first two layers): conv -> relu -> 2x2 max pool in one kernel, so the
    # conv output never reaches memory; the backward gives no input gradient.
    def can_fuse_pool(self, pool: "Layer") -> bool:
        """True when this layer and `pool` can run as one fused kernel."""
        if not (isinstance(pool, MaxPooling2D) and self.activation == "relu"
                and pool.pool_size == (2, 2) and pool.strides == (2, 2)
                and pool.padding == "valid" and pool.data_format == self.data_format
                and self.built and self.input_shape is not None):
            return False
        shape = self.input_shape
        if self.data_format == "channels_last":
            n, h, w, c = shape
        else:
            n, c, h, w = shape
        if h is None or w is None or c is None:
            return False
        kshape = self.params["kernel"].shape
        return bool(_conv2d.relu_maxpool_supported((1, c, h, w), kshape, self.strides,
                                                   self.dilation_rate, self._pads(h, w)))

    def forward_pooled(self, x: np.ndarray) -> np.ndarray:
        """MaxPooling2D(2)(this layer(x)) in one kernel (see can_fuse_pool)."""
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        self.z = None
        self.y = None  # type: ignore[assignment]  # the fused kernel keeps no conv output
        self.pooled, self.pool_argmax = _conv2d.conv2d_relu_maxpool_forward(
            self.x, self.params["kernel"], self.params.get("bias"), self.strides,
            self.dilation_rate, self._pads(*self.x.shape[2:]), get_num_threads())
        return self._from_nchw(self.pooled)                            # (N, K, P/2, Q/2)

    def backward_pooled(self, dout: np.ndarray) -> None:
        """Fills self.grads from dL/d(pooled output); no input gradient."""
        dw, db = _conv2d.conv2d_relu_maxpool_backward(
            self._to_nchw(dout), self.pooled, self.pool_argmax, self.x,
            self.params["kernel"].shape, self.strides, self.dilation_rate,
            self._pads(*self.x.shape[2:]), self.use_bias, get_num_threads())
        self.grads = _kernel_bias_grads(dw, db, self.use_bias)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, "data_format": self.data_format}


# ------------------------------------------------------------------ pooling

class _Pooling2D(_ImageLayer):
    """Shared by MaxPooling2D and AveragePooling2D: Keras's arguments, the
    TensorFlow 'same' rule (output ceil(size / stride), the odd extra padding
    row / column at the bottom / right)."""

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _int_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _int_pair(strides, "strides")
        self.padding = _padding(padding)
        self.data_format = _data_format(data_format)

    def build(self, input_shape: Shape) -> None:
        if len(tuple(input_shape)) != 4:
            raise ValueError(f"{type(self).__name__} expects 4-D input (batch, height, width, "
                             f"channels), got shape {tuple(input_shape)}")
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.data_format == "channels_last":
            n, h, w, c = input_shape
        else:
            n, c, h, w = input_shape
        what = type(self).__name__
        p = _window_out(h, self.pool_size[0], self.strides[0], 1, self.padding, f"{what} height")
        q = _window_out(w, self.pool_size[1], self.strides[1], 1, self.padding, f"{what} width")
        return (n, p, q, c) if self.data_format == "channels_last" else (n, c, p, q)

    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        """Checked by the functional API's own setup (on an empty stand-in)."""
        return F._pool_setup(np.empty((1, 1, h, w), self.dtype), self.pool_size, self.strides,
                             self.padding, False, type(self).__name__)[3]

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max over each pool_size window."""


    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))                   # (N, C, H, W)
        # the C binding directly (the input was checked against the built shape)
        y, self.argmax = _pool.max_pool2d_forward(self.x, self.pool_size, self.strides,
                                                  self._pads(*self.x.shape[2:]), False, True,
                                                  get_num_threads())   # (N, C, P, Q)
        return self._from_nchw(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = _pool.max_pool2d_backward(self._to_nchw(dout), self.argmax, self.x.shape,
                                       self.pool_size, self.strides, self._pads(*self.x.shape[2:]), False,
                                       get_num_threads())
        return self._from_nchw(dx)


class AveragePooling2D(_Pooling2D):
    """Mean over each pool_size window; with padding='same' the padding is not
    counted in the mean (Keras / TensorFlow)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = self._to_nchw(self._check_input(x))
        y = F.avg_pool2d(self.x, self.pool_size, self.strides, self.padding,
                         count_include_pad=False)
        return self._from_nchw(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = F.avg_pool2d_backward(self._to_nchw(dout), self.x, self.pool_size, self.strides,
                                   self.padding, count_include_pad=False)
        return self._from_nchw(dx)


# ------------------------------------------------------------------ Flatten

class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), in the input's logical order: for
    channels-last images that is (H, W, C) order, as in Keras.  With
    data_format='channels_first' an (N, C, H, W) input is first moved to
    (N, H, W, C), as Keras does to keep weights portable between formats."""

    def __init__(self, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = None if data_format is None else _data_format(data_format)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(int(d or 0) for d in rest)
        return (input_shape[0], size)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        self.x_shape = x.shape
        if x.ndim == 4 and not x.flags.c_contiguous:
            # the channels-last view of an NCHW result (Conv2D, pooling): one
            # C transpose to (H, W, C) order instead of reshape's strided copy
            x = _channels_last(x.transpose(0, 3, 1, 2))
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout.reshape(self.x_shape)
        if self.data_format == "channels_first" and dx.ndim > 2:
            dx = np.moveaxis(dx, -1, 1)
        return dx

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


# ------------------------------------------------------------------ Dropout

class Dropout(Layer):
    """Inverted dropout: in training, each value is zeroed with probability
    `rate` and the rest scaled by 1 / (1 - rate); at inference, identity.

    The mask comes from this layer's own generator when `seed` is given,
    else from ccnn.utils.get_rng() (seeded by ccnn.utils.set_random_seed)."""

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
            raise TypeError(f"rate must be a float in [0, 1), got {type(rate).__name__}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate: float = float(rate)
        self.seed: Optional[int] = None if seed is None else chk.integer(seed, "seed", 0)
        self.rng: Optional[np.random.Generator] = (None if self.seed is None
                                                   else np.random.default_rng(self.seed))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        # F.dropout's draw, without its argument checks
        rng = self.rng if self.rng is not None else utils.get_rng()
        y, mask = F._dropout_sample(np.ascontiguousarray(x), self.rate, rng)
        self.mask = mask.reshape(x.shape)
        return y.reshape(x.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return dout
        dout = np.ascontiguousarray(dout, dtype=self.dtype)
        dx = _activation_c.dropout_apply(dout.reshape(-1), self.mask.reshape(-1).view(np.uint8),
                                       1.0 / (1.0 - self.rate), get_num_threads())
        return dx.reshape(dout.shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


# -------------------------------------------------------------------- Dense

class Dense(Layer):
    """Fully connected: y = activation(x @ kernel + bias).

    kernel: (in_features, units) as in Keras; bias: (units,).  Inputs with more
    than two axes are applied along the last axis.  With activation='softmax'
    the pre-activation is kept as self.logits, so the model can compute
    softmax + cross-entropy fused (backward(dlogits, from_logits=True))."""

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 input_shape: Any = None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.units = chk.integer(units, "units", 1)
        self.activation = _activation(activation)
        self.use_bias = chk.boolean(use_bias, "use_bias")
        self.kernel_initializer = _initializer(kernel_initializer, "kernel_initializer")
        self.bias_initializer = _initializer(bias_initializer, "bias_initializer")

    def build(self, input_shape: Shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense needs inputs (batch, ..., features) with a known last "
                             f"axis, got shape {input_shape}")
        fan_in = input_shape[-1]
        self.params = {"kernel": initialize(self.kernel_initializer, (fan_in, self.units),
                                            fan_in, self.units, self.dtype)}
        if self.use_bias:
            self.params["bias"] = initialize(self.bias_initializer, (self.units,),
                                             self.units, self.units, self.dtype)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        x = self._check_input(x)
        self.x_shape = x.shape
        self.x = x.reshape(-1, x.shape[-1])                  # (N, in)
        relu = self.activation == "relu"
        # (N, units) = x @ kernel + bias, a GEMM with the bias (and a ReLU) fused
        # (the C binding directly: the input was checked against the built shape)
        self.x = np.ascontiguousarray(self.x)
        z = _dense.dense_forward(self.x, self.params["kernel"], self.params.get("bias"), relu,
                                 get_num_threads())
        self.logits = z                                      # pre-activation (unless relu)
        self.y = z if relu else _act_forward(self.activation, z, -1)
        return self.y.reshape(self.x_shape[:-1] + (self.units,))

    def backward(self, dout: np.ndarray, from_logits: bool = False) -> np.ndarray:
        """from_logits: dout is already d(loss)/d(pre-activation) (fused softmax loss)."""
        dout = np.asarray(dout, dtype=self.dtype).reshape(-1, self.units)
        relu = self.activation == "relu" and not from_logits
        dz = dout if from_logits or relu else _act_backward(self.activation, dout, self.logits,
                                                            self.y, -1)
        dx, dw, db = _dense.dense_backward(np.ascontiguousarray(dz), self.x,
                                           self.params["kernel"], self.y if relu else None,
                                           self.need_input_grad, self.use_bias,
                                           get_num_threads())
        self.grads = _kernel_bias_grads(dw, db, self.use_bias)
        return dx.reshape(self.x_shape) if dx is not None else None  # type: ignore[return-value]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}


# -------------------------------------------------------------- activations

class ReLU(Layer):
    """max(x, 0)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        xc, self.transposed = _c_order(self._check_input(x))
        self.x = xc
        y = F.relu(xc)
        return y.transpose(0, 2, 3, 1) if self.transposed else y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.transposed:
            return F.relu_backward(dout.transpose(0, 3, 1, 2), self.x).transpose(0, 2, 3, 1)
        return F.relu_backward(dout, self.x)


class Softmax(Layer):
    """Softmax over the last axis.  As the model's last layer it is fused with
    the cross-entropy loss (backward(dlogits, from_logits=True))."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.logits = self._check_input(x)
        self.y = losses.softmax(self.logits)
        return self.y

    def backward(self, dout: np.ndarray, from_logits: bool = False) -> np.ndarray:
        if from_logits:
            return np.asarray(dout, dtype=self.dtype)
        return losses.softmax_backward(dout, self.y)


_LAYERS = {cls.__name__: cls for cls in (Conv2D, MaxPooling2D, AveragePooling2D, Flatten,
                                         Dropout, Dense, ReLU, Softmax)}


def get(class_name: str) -> Type[Layer]:
    """The layer class named `class_name` (for rebuilding from get_config)."""
    try:
        return _LAYERS[class_name]
    except KeyError:
        raise ValueError(f"Unknown layer class {class_name!r}; ccnn has "
                         f"{', '.join(_LAYERS)}") from None
