"""Keras's weight initializers, by name (kernel_initializer='he_normal', ...)."""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import re
from typing import Any, Iterator, List, Optional

import numpy as np

from .. import utils

INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                "lecun_normal", "random_uniform", "random_normal", "zeros", "ones")


def initializer_arg(name: Any, what: str) -> str:
    """An initializer's name; Keras's class names ('Zeros', 'GlorotUniform',
    'HeNormal') are accepted as their snake_case function names."""
    if isinstance(name, str) and name not in INITIALIZERS:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        if snake in INITIALIZERS:
            return snake
    if name not in INITIALIZERS:
        raise ValueError(f"Unknown {what} {name!r}; ccnn supports {', '.join(INITIALIZERS)}")
    return name


def _truncated_normal(rng: np.random.Generator, stddev: float, shape: Any) -> np.ndarray:
    """Normal(0, stddev) redrawn outside two standard deviations (Keras's
    truncated normal)."""
    out = rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


#: bytes that new weights may still take, while a model from a file is built
#: (None: no limit); see weight_budget
_budget: contextvars.ContextVar[Optional[List[int]]] = contextvars.ContextVar(
    "ccnn_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(nbytes: int) -> Iterator[None]:
    """Inside the block, new weights may take at most `nbytes` in all: a
    model rebuilt from a file's config (whose weights the file then
    supplies) can ask for no more memory than the file holds, so a config
    asking for a 10**9-unit Dense is a ValueError, not a 4 GB allocation."""
    token = _budget.set([int(nbytes)])
    try:
        yield
    finally:
        _budget.reset(token)


def reserve(shape: Any, dtype: Any) -> None:
    """Count a new weight of `shape` against weight_budget (if one is set)."""
    left = _budget.get()
    if left is None:
        return
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    need = math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize
    if need > left[0]:
        raise ValueError(f"the configuration asks for a weight of shape {dims} ({need:,} "
                         f"bytes), more than the file's arrays hold")
    left[0] -= need


def initialize(name: str, shape: Any, fan_in: int, fan_out: int, dtype: Any) -> np.ndarray:
    """A new weight array drawn like Keras's initializer `name`.

    glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
    The *_normal ones are truncated normals whose stddev is corrected for the
    truncation (Keras's 0.87962566103423978)."""
    reserve(shape, dtype)
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
