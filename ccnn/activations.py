"""Keras 3's activation functions (``keras.activations``): each a NumPy array in,
an array out, computed by ccnn's C kernels (ccnn.functional).

The names are what ``activation=`` accepts on Conv2D, Dense and Activation;
``get(name)`` gives the function, ``derivative(name, dout, x, y, axis)`` the
backward pass the layers use.  Keras's defaults: leaky_relu's negative_slope
is 0.2, elu's alpha 1.0, gelu exact (approximate=False).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import _checks as chk
from . import functional as F
from . import losses

# name -> (the C kernel's kind, its alpha) for the elementwise ones; relu,
# softmax and linear have their own kernels
_POINTWISE: Dict[str, Tuple[str, float]] = {
    "relu6": ("relu6", 0.0), "leaky_relu": ("leaky_relu", 0.2), "elu": ("elu", 1.0),
    "selu": ("selu", 0.0), "gelu": ("gelu", 0.0), "silu": ("silu", 0.0),
    "sigmoid": ("sigmoid", 0.0), "hard_sigmoid": ("hard_sigmoid", 0.0),
    "hard_silu": ("hard_silu", 0.0), "tanh": ("tanh", 0.0), "softplus": ("softplus", 0.0),
    "softsign": ("softsign", 0.0), "exponential": ("exponential", 0.0)}
# Keras's aliases: the same function, serialized under the first name
ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
NAMES = ("linear", "relu", "softmax", "log_softmax") + tuple(_POINTWISE)


def canonical(name: Any) -> Optional[str]:
    """The activation's Keras name (aliases resolved), None for 'linear' / None;
    a ValueError naming the known ones otherwise."""
    if name is None:
        return None
    if not isinstance(name, str) or ALIASES.get(name, name) not in NAMES:
        raise ValueError(f"Unknown activation {name!r}; ccnn supports "
                         f"{', '.join(map(repr, NAMES + tuple(ALIASES)))} or None")
    name = ALIASES.get(name, name)
    return None if name == "linear" else name


def _float_array(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def _pointwise(name: str, x: Any, alpha: Optional[float] = None) -> np.ndarray:
    kind, default = _POINTWISE[name]
    a = _float_array(x)
    out = F._pointwise(a, kind, chk.finite_float(default if alpha is None else alpha, "alpha"))
    return out.reshape(a.shape)     # a scalar's is 0-d, as Keras's (float(sigmoid(p[0][0])))


def pointwise_kind(name: Optional[str]) -> Optional[Tuple[str, float]]:
    """(C kernel kind, alpha) of an elementwise activation that pointwise.c
    computes -- what Conv2D and Dense fuse into their output -- else None (relu,
    which the kernels fuse on their own; softmax, log_softmax; linear)."""
    return _POINTWISE.get(name) if name is not None else None


def forward(name: Optional[str], z: np.ndarray, axis: int = -1) -> np.ndarray:
    """activation `name` (canonical) of z; softmax over `axis`."""
    if name is None:
        return z
    if name == "relu":
        return F.relu(z)
    if name == "softmax":
        return softmax(z, axis)
    if name == "log_softmax":
        return F.log_softmax(z, axis)
    return _pointwise(name, z)


def derivative(name: Optional[str], dout: np.ndarray, z: np.ndarray, y: np.ndarray,
               axis: int = -1) -> np.ndarray:
    """d(loss)/dz from dout = d(loss)/dy, where y = forward(name, z, axis)."""
    if name is None:
        return dout
    if name == "relu":
        return F.relu_backward(dout, z)
    if name == "softmax":
        if axis == -1 or axis == y.ndim - 1:
            return losses.softmax_backward(dout, y)
        d = losses.softmax_backward(np.moveaxis(dout, axis, -1), np.moveaxis(y, axis, -1))
        return np.moveaxis(d, -1, axis)
    if name == "log_softmax":
        return F.log_softmax_backward(dout, z, axis, output=y)
    kind, alpha = _POINTWISE[name]
    dtype = z.dtype.type
    return F.pointwise_backward_unchecked(chk.contiguous(dout, dtype),
                                          chk.contiguous(z, dtype), kind, alpha)


# ---- keras.activations' functions ------------------------------------------

def linear(x: Any) -> np.ndarray:
    return np.asarray(x)


def relu(x: Any, negative_slope: float = 0.0, max_value: Optional[float] = None,
         threshold: float = 0.0) -> np.ndarray:
    """max(x, 0); with Keras's arguments min(x > threshold ? x : 0, max_value)
    - negative_slope * max(threshold - x, 0)."""
    x = _float_array(x)
    s = chk.finite_float(negative_slope, "negative_slope")
    t = chk.finite_float(threshold, "threshold")
    m = None if max_value is None else chk.finite_float(max_value, "max_value")
    if s == 0.0 and t == 0.0 and m is None:
        return F.relu(x)
    return F.relu_ext_unchecked(np.ascontiguousarray(x), s, m, t)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    """x - log(sum(exp(x))) along axis, computed stably."""
    return F.log_softmax(_float_array(x), axis)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    x = _float_array(x)
    if axis == -1 or axis == x.ndim - 1:
        return losses.softmax(x)
    return np.moveaxis(losses.softmax(np.moveaxis(x, axis, -1)), -1, axis)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> np.ndarray:
    return _pointwise("leaky_relu", x, negative_slope)


def elu(x: Any, alpha: float = 1.0) -> np.ndarray:
    return _pointwise("elu", x, alpha)


def gelu(x: Any, approximate: bool = False) -> np.ndarray:
    if not isinstance(approximate, (bool, np.bool_)):
        raise TypeError(f"approximate must be a bool, got {type(approximate).__name__}")
    a = _float_array(x)
    return F._pointwise(a, "gelu_tanh" if approximate else "gelu").reshape(a.shape)


def _keras_function(name: str) -> Callable[[Any], np.ndarray]:
    """keras.activations.<name> for an activation without parameters."""
    def fn(x: Any) -> np.ndarray:
        return _pointwise(name, x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Keras's {name}(x), elementwise (C kernel: pointwise.c)."
    return fn


relu6, selu, silu = _keras_function("relu6"), _keras_function("selu"), _keras_function("silu")
sigmoid, hard_sigmoid = _keras_function("sigmoid"), _keras_function("hard_sigmoid")
hard_silu, tanh = _keras_function("hard_silu"), _keras_function("tanh")
softplus, softsign = _keras_function("softplus"), _keras_function("softsign")
exponential = _keras_function("exponential")
swish = silu
hard_swish = hard_silu


def get(identifier: Any) -> Callable[..., np.ndarray]:
    """The function for a name (or None: linear); a callable is returned as is."""
    if callable(identifier):
        return identifier
    return globals()[canonical(identifier) or "linear"]


def serialize(fn: Callable[..., np.ndarray]) -> str:
    """The Keras name of one of this module's functions."""
    for name in NAMES:
        if globals()[name] is fn:
            return name
    raise ValueError(f"{fn!r} is not one of ccnn.activations' functions")
