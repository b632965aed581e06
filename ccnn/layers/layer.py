"""The Layer base class, the image-layer base and the argument checks the
layers share.

Every layer has (after deep-learning-from-scratch's common/layers.py):

    build(input_shape)        create the weights for inputs of that shape
    forward(x, training)      compute the output, keep what backward needs on self
    backward(dout)            gradient of the input; fills self.grads
    params, grads             dicts with the same keys ('kernel', 'bias')

plus Keras's compute_output_shape, count_params, get_config.  A layer computes
through ccnn.functional, never through a binding.
"""
from __future__ import annotations

import abc
import numbers
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import _checks as chk
from .. import activations
from .. import functional as F
from .. import regularizers

Shape = Tuple[Optional[int], ...]

ACTIVATIONS = (None,) + activations.NAMES + tuple(activations.ALIASES)
_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def to_snake_case(name: str) -> str:
    """Keras's default layer names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


_NAME_UIDS: Dict[str, int] = {}


def unique_name(class_name: str) -> str:
    """Keras's automatic layer name, unique in the session: dense, dense_1, ..."""
    base = to_snake_case(class_name)
    n = _NAME_UIDS.get(base, 0)
    _NAME_UIDS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


# ------------------------------------------------------- argument checks

def activation_arg(name: Any) -> Optional[str]:
    """The Keras name of an activation= (aliases resolved), None for linear."""
    return activations.canonical(name)


def int_pair(v: Any, name: str) -> Tuple[int, int]:
    return chk.pair(v, name, 1)


def padding_arg(v: Any) -> str:
    if not isinstance(v, str) or v.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {v!r}")
    return v.lower()


def data_format_arg(v: Any) -> str:
    if v not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {v!r}")
    return v


def kernel_bias_grads(dw: Optional[np.ndarray], db: Optional[np.ndarray],
                      use_bias: bool) -> Dict[str, np.ndarray]:
    """Conv2D's and Dense's grads, under the keys of their params."""
    assert dw is not None
    if not use_bias:
        return {"kernel": dw}
    assert db is not None
    return {"kernel": dw, "bias": db}


# -------------------------------------------------------------------- Layer

class Layer(abc.ABC):
    """Base class.  Subclasses set params/grads in build, forward, backward."""

    #: backward may skip the input gradient (and return None) when this is False;
    #: Sequential turns it off around its first layer's backward.
    need_input_grad: bool = True
    #: the rank of the inputs the layer takes, when fixed (Keras's InputSpec(ndim=...))
    input_ndim: Optional[int] = None
    #: whether the layer is a nested model (ccnn.models.nested.ModelLayer)
    is_model: bool = False

    def __init__(self, name: Optional[str] = None, input_shape: Any = None,
                 dtype: Any = "float32", trainable: bool = True,
                 activity_regularizer: Any = None, **regularizer_args: Any):
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
        #: non-trainable weights the layer updates itself (BatchNormalization's
        #: moving statistics): saved and loaded with params, never given to the optimizer
        self.states: Dict[str, np.ndarray] = {}
        self.built = False
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None
        #: penalties on weights (params key -> Regularizer; set by the layers that
        #: take kernel_regularizer / bias_regularizer) and on the layer's output
        self.regularizers: Dict[str, regularizers.Regularizer] = {}
        self.activity_regularizer = regularizers.get(activity_regularizer)
        unknown = sorted(set(regularizer_args) - set(self._REGULARIZED))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{unknown[0]!r}")
        self._regularizer_args(regularizer_args)

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
        return int(sum(p.size for p in self.weight_arrays().values()))

    def weight_arrays(self) -> Dict[str, np.ndarray]:
        """params then states: every weight, in Keras's order (BatchNormalization:
        gamma, beta, moving_mean, moving_variance), as the live internal arrays."""
        return {**self.params, **self.states} if self.states else self.params

    # ---- weights at the Keras surface
    # `params` holds the arrays the kernels use (Conv2D's kernel in PyTorch's
    # (out, in, kh, kw)); everything public below speaks Keras 3's layout, as
    # NumPy copies: a user's array is never aliased, the layer's never handed out.
    def to_keras(self, key: str, p: np.ndarray) -> np.ndarray:
        """params[key] (or a gradient like it) in Keras's layout; may be a view."""
        return p

    def from_keras(self, key: str, w: np.ndarray) -> np.ndarray:
        """The Keras-layout array w in params[key]'s layout; may be a view of w."""
        return w

    def keras_shape(self, key: str) -> Tuple[int, ...]:
        """The shape of params[key] in Keras's layout."""
        return self.to_keras(key, self.weight_arrays()[key]).shape

    def get_weights(self) -> List[np.ndarray]:
        """Copies of the layer's weights in Keras's layout (kernel, bias)."""
        return [np.array(self.to_keras(k, p)) for k, p in self.weight_arrays().items()]

    @property
    def weights(self) -> List[np.ndarray]:
        """As get_weights(): NumPy copies in Keras's layout (Keras gives variables;
        change a layer's weights with set_weights)."""
        return self.get_weights()

    @property
    def trainable_weights(self) -> List[np.ndarray]:
        return [np.array(self.to_keras(k, p)) for k, p in self.params.items()] \
            if self.trainable else []

    @property
    def non_trainable_weights(self) -> List[np.ndarray]:
        if not self.trainable:
            return self.get_weights()
        return [np.array(self.to_keras(k, p)) for k, p in self.states.items()]

    def set_weights(self, weights: Any) -> None:
        """Copy `weights` (a list in Keras's layout, like get_weights()) into the
        layer's arrays; every shape is checked before anything changes."""
        self.assign_weights(self.check_weights(weights))

    def check_weights(self, weights: Any) -> List[np.ndarray]:
        """`weights` as arrays, checked against the layer's Keras-layout shapes:
        a ValueError naming the layer, the weight and both shapes."""
        arrays = [np.asarray(w) for w in weights]
        names = self.weight_arrays()
        if len(arrays) != len(names):
            raise ValueError(f"layer {self.name!r} has {len(names)} weight arrays, "
                             f"got {len(arrays)}")
        for key, w in zip(names, arrays):
            want = self.keras_shape(key)
            if w.shape != want:
                raise ValueError(f"layer {self.name!r} ({type(self).__name__}): weight "
                                 f"{key!r} must have shape {want} (Keras's layout), got "
                                 f"{w.shape}")
        return arrays

    def assign_weights(self, arrays: List[np.ndarray]) -> None:
        """Copy checked Keras-layout arrays (check_weights) into params."""
        for (key, p), w in zip(self.weight_arrays().items(), arrays):
            np.copyto(p, self.from_keras(key, w), casting="same_kind")

    # ---- regularization (ccnn.regularizers): Keras's layer losses
    def _regularizer_arg(self, key: str, value: Any) -> None:
        """Set the regularizer of weight `key` (None: none); a ValueError for a bad one."""
        reg = regularizers.get(value)
        if reg is not None:
            self.regularizers[key] = reg

    def regularization_loss(self) -> float:
        """The penalties of the trainable weights' regularizers (0 when frozen)."""
        if not self.trainable:
            return 0.0
        return sum(reg(self.params[k]) for k, reg in self.regularizers.items()
                   if k in self.params)

    def add_regularization_grads(self) -> None:
        """Add each weight regularizer's gradient to the weight's gradient."""
        if not self.trainable:
            return
        for k, reg in self.regularizers.items():
            if k in self.grads:
                self.grads[k] = self.grads[k] + reg.gradient(self.params[k])

    def _regularizer_config(self) -> dict:
        return {arg: regularizers.serialize(self.regularizers.get(key))
                for arg, key in self._REGULARIZED.items()}

    def _regularizer_args(self, args: Dict[str, Any]) -> None:
        """Set the regularizers named by _REGULARIZED from the constructor's arguments."""
        for arg, key in self._REGULARIZED.items():
            self._regularizer_arg(key, args.get(arg))

    #: the constructor's regularizer arguments and the weights they regularize
    #: ({"kernel_regularizer": "kernel", ...})
    _REGULARIZED: Dict[str, str] = {}

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        config.update(self._regularizer_config())
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
    def __call__(self, x: Any, training: bool = False) -> Any:
        """The layer on a batch x (built for its shape on first use), or, on a
        KerasTensor (ccnn.Input, a layer's output), the symbolic output tensor
        of a functional model, the call recorded as a node."""
        from .core.input_layer import is_symbolic, symbolic_call
        if is_symbolic(x):
            return symbolic_call(self, x)
        x = np.asarray(x)
        if not self.built:
            self.build((None,) + x.shape[1:])
        return self.forward(x, training)

    # ---- the layer in functional models (Keras's Operation.input / output)
    def _node_attribute(self, attr: str) -> Any:
        from .core.input_layer import inbound_nodes
        nodes = inbound_nodes(self)
        if not nodes:
            raise AttributeError(f"The layer {self.name} has never been called and thus has "
                                 f"no defined {attr}.")
        node = nodes[0]
        values = node.outputs if attr == "output" else node.inputs
        return values if attr == "input" and node.multi else values[0]

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call (a list for merge layers)."""
        return self._node_attribute("input")

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call."""
        return self._node_attribute("output")

    @abc.abstractmethod
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output for x; keeps on self what backward needs."""

    @abc.abstractmethod
    def backward(self, dout: np.ndarray) -> np.ndarray:
        """d(loss)/d(input) from dout = d(loss)/d(output); fills self.grads."""

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        """The axes of an input of ndim dimensions (batch axis 0) that must
        equal the built input shape's; None: every one.  As Keras's InputSpec:
        a layer whose work follows its input's size (a convolution, a pooling,
        a pointwise layer) fixes only the axes its weights depend on."""
        return None

    def accepts(self, shape: Any) -> bool:
        """Whether the built layer takes inputs of `shape` (batch axis first):
        the rank, and the sizes of the axes _fixed_axes names (None: any)."""
        want, shape = self.input_shape, tuple(shape)
        if want is None or isinstance(want, list):
            return want is None or shape == tuple(want)
        if len(shape) != len(want):
            return False
        fixed = self._fixed_axes(len(want))
        axes = range(1, len(want)) if fixed is None else fixed
        return all(want[a] is None or shape[a] is None or want[a] == shape[a] for a in axes)

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        """x as this layer's dtype, checked against the built input shape:
        its rank, and the sizes of the axes _fixed_axes names."""
        if not isinstance(x, np.ndarray) or x.dtype != _DTYPES[self.dtype]:
            x = np.asarray(x, dtype=self.dtype)
        want = self.input_shape
        if want is not None:
            fixed = self._fixed_axes(len(want)) if x.ndim == len(want) else None
            axes = range(1, len(want)) if fixed is None else fixed
            if x.ndim != len(want) or any(want[a] is not None and want[a] != x.shape[a]
                                          for a in axes):
                raise ValueError(f"Input of layer {self.name!r} ({type(self).__name__}) is "
                                 f"incompatible: expected shape {want}, got {x.shape}")
        return x

    # What forward keeps for backward: not pickled (a pickled layer carries
    # its weights, not the last batch).
    _CACHE_ATTRS: Tuple[str, ...] = ("x", "z", "y", "argmax", "mask", "logits", "x_shape", "transposed")

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in self._CACHE_ATTRS}
        state["grads"] = {}
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class AnySize:
    """A layer that takes any input size of its built rank (an activation,
    dropout, a pointwise augmentation or reshaping whose output follows its
    input), as Keras's layers without an InputSpec."""

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return ()


class AnySpatialSize:
    """A layer that takes any height and width (or sequence length): only
    the channel axis is fixed, as Keras's conv and pooling layers' InputSpec."""

    def _fixed_axes(self, ndim: int) -> Optional[Tuple[int, ...]]:
        return (1,) if getattr(self, "data_format", "channels_last") == "channels_first" \
            else (ndim - 1,)


class KernelBias:
    """`layer.kernel` and `layer.bias` as in Keras, for Conv2D and Dense: NumPy
    copies in Keras's layout (Conv2D's kernel (kh, kw, in, out), so
    `layer.kernel[:, :, 0, i]` is filter i on input channel 0); None for the
    bias of a layer built with use_bias=False.  Change them with set_weights."""
    params: Dict[str, np.ndarray]

    def _keras_weight(self, key: str) -> Optional[np.ndarray]:
        p = self.params.get(key)
        if p is None:
            if key == "kernel":
                raise AttributeError(f"layer {getattr(self, 'name', None)!r} has no kernel "
                                     f"until it is built")
            return None
        return np.array(self.to_keras(key, p))  # type: ignore[attr-defined]

    @property
    def kernel(self) -> Optional[np.ndarray]:
        return self._keras_weight("kernel")

    @property
    def bias(self) -> Optional[np.ndarray]:
        return self._keras_weight("bias")


# ------------------------------------------------------------- image layers

def split_channels(layer: Any, shape: Shape) -> Tuple[Optional[int], Optional[int], Shape]:
    """(n, c, spatial sizes) of a shape in `layer`'s data_format, for a layer of
    `layer.rank` spatial axes (2: images, 1: sequences); a ValueError naming the
    layer for the wrong number of axes."""
    shape = tuple(shape)
    if len(shape) != layer.rank + 2:
        what = "(batch, height, width, channels)" if layer.rank == 2 else \
            "(batch, steps, features)"
        raise ValueError(f"{type(layer).__name__} expects {layer.rank + 2}-D input {what}, "
                         f"got shape {shape}")
    if layer.data_format == "channels_last":
        return shape[0], shape[-1], shape[1:-1]
    return shape[0], shape[1], shape[2:]


class ImageLayer(AnySpatialSize, Layer):
    """Base of Conv2D and the pooling layers: images in the layer's
    data_format, moved to and from the kernels' NCHW; a sliding window whose
    padding is computed once per input size.

    Images are channels-last (N, H, W, C) by default, as in Keras.  The input
    is moved to NCHW and the NCHW result handed back as a channels-last *view*
    (a transpose, no copy); the next layer's move to NCHW undoes that view,
    again without copying, so a stack of conv / pool / activation layers moves
    no data between them."""
    data_format = "channels_last"
    padding = "valid"
    input_ndim = 4

    #: 1 for the 1-D layers: sequences (N, steps, features) -- (N, features,
    #: steps) channels-first -- run through the same kernels as images of
    #: height 1, (N, C, 1, steps)
    rank = 2

    def _to_nchw(self, a: np.ndarray) -> np.ndarray:
        a = a.astype(self.dtype, copy=False)
        if self.rank == 1:      # (N, L, C) -> (N, 1, L, C); (N, C, L) -> (N, C, 1, L): views
            a = a[:, None] if self.data_format == "channels_last" else a[:, :, None]
        return F.move_channels_unchecked(a, to_last=False) \
            if self.data_format == "channels_last" else np.ascontiguousarray(a)

    def _from_nchw(self, a: np.ndarray) -> np.ndarray:
        if self.rank == 1:      # (N, C, 1, L) -> (N, L, C) / (N, C, L)
            a = a[:, :, 0]
            return a.transpose(0, 2, 1) if self.data_format == "channels_last" else a
        return a.transpose(0, 2, 3, 1) if self.data_format == "channels_last" else a

    def _split(self, shape: Shape) -> Tuple[Optional[int], Optional[int], Optional[int],
                                            Optional[int]]:
        """(n, c, h, w) of a shape in the layer's data_format (a sequence: h = 1)."""
        n, c, spatial = split_channels(self, shape)
        return (n, c, 1, spatial[0]) if self.rank == 1 else (n, c, spatial[0], spatial[1])

    def _channels(self, input_shape: Shape) -> int:
        """The input's channel count, which a layer with weights needs to know."""
        _, channels, _, _ = self._split(tuple(input_shape))
        if channels is None:
            raise ValueError(f"{type(self).__name__}: the channel dimension of the input must "
                             f"be known")
        return channels

    def _join(self, n: Optional[int], c: Optional[int], h: Optional[int],
              w: Optional[int]) -> Shape:
        if self.rank == 1:
            return (n, w, c) if self.data_format == "channels_last" else (n, c, w)
        return (n, h, w, c) if self.data_format == "channels_last" else (n, c, h, w)

    def _out_len(self, size: Optional[int], k: int, stride: int, dilation: int,
                 axis: str) -> Optional[int]:
        """Keras's output length along one axis (None stays None): 'same' gives
        ceil(size / stride); computed by chk.out_size, the one place."""
        if size is None:
            return None
        what = f"{type(self).__name__} {axis}"
        span = dilation * (k - 1) + 1
        if self.padding == "valid" and span > size:
            raise ValueError(f"{what}: the window (span {span}) is larger than the input "
                             f"({size}) with padding='valid'")
        lo, hi = chk.same_pads(size, k, stride, dilation) if self.padding == "same" else (0, 0)
        return chk.out_size(size, lo, hi, k, stride, dilation, False, what)

    _pads_for: Optional[Tuple[Tuple[int, int], chk.Pads]] = None

    def _pads(self, h: int, w: int) -> chk.Pads:
        """(top, bottom, left, right) for inputs of h x w, computed once per
        size (at build when the size is known)."""
        if self._pads_for is None or self._pads_for[0] != (h, w):
            self._pads_for = ((h, w), self._compute_pads(h, w))
        return self._pads_for[1]

    def _build_pads(self, input_shape: Shape) -> None:
        _, _, h, w = self._split(input_shape)
        if h is not None and w is not None:
            self._pads(h, w)

    @abc.abstractmethod
    def _compute_pads(self, h: int, w: int) -> chk.Pads:
        """The padding of the layer's window for inputs of h x w."""


def seed_arg(seed: Any) -> Tuple[Optional[int], Optional[np.random.Generator]]:
    """A random layer's `seed` argument and its own generator (None: the layer
    draws from ccnn.utils.get_rng(), which ccnn.utils.set_random_seed resets)."""
    if seed is None:
        return None, None
    seed = chk.integer(seed, "seed", 0)
    return seed, np.random.default_rng(seed)
