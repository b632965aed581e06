"""ccnn.regularizers -- Keras 3's weight and activity regularizers.

    Dense(64, kernel_regularizer=ccnn.regularizers.L2(1e-4))
    Conv2D(32, 3, kernel_regularizer="l2", activity_regularizer=L1(1e-5))

A regularizer is a penalty on an array, added to the loss the model reports
and trains on, as in Keras: each weight regularizer's penalty of its (trainable)
weight, and each activity regularizer's penalty of its layer's output divided by
the batch size.  Its gradient is added to the weight's gradient (or to the
gradient flowing into the layer's output).  The arrays are parameter-sized or
pass once over an output, so NumPy computes them.

    L1(l1=0.01):           l1 * sum(|x|)                gradient l1 * sign(x)
    L2(l2=0.01):           l2 * sum(x ** 2)             gradient 2 * l2 * x
    L1L2(l1=0.0, l2=0.0):  the sum of both

Strings are Keras's: 'l1', 'l2', 'l1_l2' (and the class names) give the class
with its defaults -- so 'l1_l2' is L1L2() with both factors 0, as in Keras.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Optional, Type

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


def _factor(value: Any, name: str) -> float:
    """Keras's validate_float_arg: a finite float >= 0 (None: 0)."""
    if value is None:
        return 0.0
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float, "
                         f"got {value!r}")
    return float(value)


class Regularizer:
    """Base class: __call__(x) the penalty, gradient(x) its derivative."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x)
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(x).sum(dtype=np.float64))
        if self.l2:
            total += self.l2 * float(np.square(x, dtype=np.float64).sum())
        return total

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """d penalty / dx, in x's dtype."""
        x = np.asarray(x)
        g = np.zeros_like(x)
        if self.l1:
            g += np.asarray(self.l1, dtype=x.dtype) * np.sign(x)
        if self.l2:
            g += np.asarray(2 * self.l2, dtype=x.dtype) * x
        return g

    def get_config(self) -> Dict[str, float]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Regularizer":
        return cls(**config)

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor(l1, "l1")

    def get_config(self) -> Dict[str, float]:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x ** 2)."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(l2, "l2")

    def get_config(self) -> Dict[str, float]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x ** 2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def get_config(self) -> Dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}


# Keras's lower-case aliases are the classes themselves
l1, l2, l1_l2 = L1, L2, L1L2

_CLASSES: Dict[str, Type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2,
                                          "l1_l2": L1L2}


def serialize(regularizer: Optional[Regularizer]) -> Optional[Dict[str, Any]]:
    """{'class_name': ..., 'config': ...} (Keras's form), None for None."""
    if regularizer is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config: Any) -> Regularizer:
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"Could not interpret regularizer config {config!r}; ccnn knows "
                         f"{', '.join(sorted(set(_CLASSES)))}")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise ValueError(f"regularizer config must be a dict, got {inner!r}")
    return _CLASSES[config["class_name"]].from_config(inner)


def get(identifier: Any) -> Optional[Regularizer]:
    """A regularizer from None, a Regularizer, a name ('l2', 'L1L2', ...) or a
    serialized dict; anything else is a ValueError."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}; ccnn "
                     f"supports 'l1', 'l2', 'l1_l2', L1(...), L2(...), L1L2(...) or None")
