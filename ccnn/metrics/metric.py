"""The Metric base class and the array helpers every metric family shares."""
from __future__ import annotations

import abc
import re
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np


def auto_name(class_name: str) -> str:
    """Keras's default metric name: the class name in snake case (AUC -> auc)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def as_array(value: Any, name: str) -> np.ndarray:
    """`value` as a float64 array (a new one: the caller's array is never
    written); TypeError naming the argument when it is not real numbers."""
    if value is None:
        raise TypeError(f"{name} is required, got None")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be an array of real numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def squeeze_or_expand_to_same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True
                                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Keras's rule: when the ranks differ by one and the longer one ends in
    a 1, that axis is squeezed (or, for a rank-1 partner, the partner expanded)."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, 0 where b == 0 (Keras's ops.divide_no_nan)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    np.divide(a, b, out=out, where=np.broadcast_to(b != 0, out.shape))
    return out


def log_value(value: Any) -> Union[float, np.ndarray]:
    """A metric's result as a model's logs hold it (as Keras's do): a float,
    or a float64 array for a per-class result (F1Score(average=None))."""
    if type(value) is float:            # the usual case, without an array
        return value
    a = np.array(value, dtype=np.float64)
    return float(a) if a.ndim == 0 else a


def check_dtype(dtype: Any) -> Optional[str]:
    if dtype is not None and (not isinstance(dtype, str) or dtype not in ("float32", "float64")):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}")
    return dtype


def check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


class Metric(abc.ABC):
    """Base class of ccnn's metrics, Keras's protocol:

        m = ccnn.metrics.BinaryAccuracy()
        m.update_state(y_true, y_pred, sample_weight=None)   # accumulate a batch
        m.result()                                           # the value so far
        m.reset_state()                                      # start over

    Calling the metric (m(y_true, y_pred)) updates it and returns the result.
    A subclass implements update_state and result; as in Keras, the default
    reset_state zeroes the state arrays made by add_variable (and resets
    the metrics held as attributes).  State is accumulated in float64
    whatever `dtype` says (it is accepted, and kept in the config, for Keras
    code that passes it).  `_direction` ('up' or 'down') says which way is
    better (ReduceLROnPlateau's mode='auto')."""

    _direction = "up"

    def __init__(self, name: Optional[str] = None, dtype: Optional[str] = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self.name = name or auto_name(type(self).__name__)
        self.dtype = check_dtype(dtype)
        self._variables: List[np.ndarray] = []

    @abc.abstractmethod
    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Accumulate a batch's statistics."""

    @abc.abstractmethod
    def result(self) -> Any:
        """The metric's value from the state so far."""

    def reset_state(self) -> None:
        """Zero every state variable and reset the metrics held as
        attributes (Keras's default: every variable, its metrics' too, zeroed)."""
        for v in self.__dict__.get("_variables", []):
            v[...] = 0
        for m in self._metrics():
            m.reset_state()

    def _metrics(self) -> List["Metric"]:
        return [v for v in self.__dict__.values() if isinstance(v, Metric) and v is not self]

    def add_variable(self, shape: Any = (), initializer: Any = "zeros", dtype: Any = None,
                     name: Optional[str] = None) -> np.ndarray:
        """A new float64 state array of `shape`, zeros (the only initializer),
        that the default reset_state zeroes; update it in place (v += x)."""
        if initializer != "zeros":
            raise ValueError(f"initializer must be 'zeros', got {initializer!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        check_dtype(dtype)
        try:
            dims = tuple(check_int(d, "shape", 0) for d in
                         ((shape,) if isinstance(shape, (int, np.integer)) else shape))
        except TypeError:
            raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before add_variable")
        v = np.zeros(dims)
        self._variables.append(v)
        return v

    @property
    def variables(self) -> List[np.ndarray]:
        """The state arrays of add_variable, then those of the metrics held as attributes."""
        out = list(self.__dict__.get("_variables", []))
        for m in self._metrics():
            out += m.variables
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
