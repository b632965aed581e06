"""Input: the shape of a model's inputs, as keras.Input."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np


class InputTensor:
    """What ccnn.Input returns: a placeholder for the model's inputs with
    Keras's `shape` (batch axis first, None when unknown), `dtype` and `name`.
    Put it first in a Sequential (Sequential([Input((28, 28, 1)), ...]) or
    model.add(Input(...))): it fixes the input shape and is not a layer of
    the model (it is not in model.layers), as in Keras 3."""

    def __init__(self, batch_shape: Tuple[Optional[int], ...], dtype: str, name: Optional[str]):
        self.shape = batch_shape
        self.dtype = dtype
        self.name = name

    def get_config(self) -> dict:
        return {"batch_shape": list(self.shape), "dtype": self.dtype, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "InputTensor":
        shape = config["batch_shape"]
        return Input(tuple(shape[1:]), batch_size=shape[0], dtype=config.get("dtype"),
                     name=config.get("name"))

    def __repr__(self) -> str:
        return f"<InputTensor shape={self.shape} dtype={self.dtype} name={self.name!r}>"


def Input(shape: Any = None, batch_size: Optional[int] = None, dtype: Any = None,
          name: Optional[str] = None, batch_shape: Any = None) -> InputTensor:
    """keras.Input: `shape` without the batch axis (e.g. (28, 28, 1)), or
    `batch_shape` with it."""
    if (shape is None) == (batch_shape is None):
        raise ValueError("Input needs exactly one of shape and batch_shape")
    if batch_shape is not None:
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise ValueError(f"batch_shape must be a non-empty tuple, got {batch_shape!r}")
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 1)
            for d in shape):
        raise ValueError(f"shape must be a tuple of positive ints or None (without the batch "
                         f"axis), got {shape!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    dtype = "float32" if dtype is None else np.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    dims = tuple(None if d is None else int(d) for d in shape)
    return InputTensor((None if batch_size is None else int(batch_size),) + dims, dtype, name)
