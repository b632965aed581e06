"""Argument checks shared by ccnn.functional (and the layers above it).

Every public op validates here, in Python, before any C code runs: a bad
argument becomes a ValueError or TypeError that names it.  Sizes are kept
below 2**31 so that no index product can overflow inside the kernels.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
from typing import Any, Optional, Tuple, Union

import numpy as np

from . import _runtime

MAX_DIM = 2**31 - 1  # every size, stride, dilation and padding must stay below this

Pair = Tuple[int, int]
Pads = Tuple[int, int, int, int]  # (top, bottom, left, right)


def real_array(a: Any, name: str) -> np.ndarray:
    """`a` as an ndarray of float32 or float64 (no copy when it already is one).

    float32 stays float32; other real dtypes (ints, bools, float16, float64)
    become float64.  Complex, object, string and other dtypes are a TypeError.
    """
    if isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as e:  # ragged nested lists and the like
            raise TypeError(f"{name} must be an array of real numbers ({e})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if kind == "f" and arr.dtype.itemsize in (4, 8):
        # float32 / float64, converted to native byte order when needed
        return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    return arr.astype(np.float64)


def result_dtype(*arrays: Optional[np.ndarray]) -> type:
    """float32 when every given array is float32, else float64."""
    for a in arrays:
        if a is not None and a.dtype != np.float32:
            return np.float64
    return np.float32


def contiguous(a: np.ndarray, dtype: type) -> np.ndarray:
    """C-contiguous `a` of `dtype`; the caller's array is never written to."""
    return np.ascontiguousarray(a, dtype=dtype)


def check_ndim(a: np.ndarray, ndim: int, name: str, layout: str) -> None:
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array {layout}, got shape {a.shape}")


def integer(v: Any, name: str, minimum: int) -> int:
    """A Python int >= minimum and <= MAX_DIM (bools and floats are TypeErrors)."""
    if type(v) is int and minimum <= v <= MAX_DIM:  # the common case, without the ABC check
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if v > MAX_DIM:
        raise ValueError(f"{name} is too large: {v} (the limit is {MAX_DIM})")
    return v


def finite_float(v: Any, name: str) -> float:
    """A finite real number as a float (bools and non-numbers are TypeErrors)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r}")
    if not math.isfinite(float(v)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return float(v)


def pair(v: Any, name: str, minimum: int) -> Pair:
    """An int or a pair of ints, as (height, width)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {v!r}")
        return integer(v[0], f"{name}[0]", minimum), integer(v[1], f"{name}[1]", minimum)
    h = integer(v, name, minimum)
    return h, h


def same_pads(size: int, k: int, stride: int, dilation: int) -> Tuple[int, int]:
    """TensorFlow/Keras "same": output ceil(size / stride), the extra row at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def padding(v: Any, name: str, hw: Pair, kernel: Pair, stride: Pair, dilation: Pair) -> Pads:
    """Parse int, (ph, pw), ((top, bottom), (left, right)), "valid" or "same"."""
    if isinstance(v, str):
        if v == "valid":
            return 0, 0, 0, 0
        if v == "same":
            top, bottom = same_pads(hw[0], kernel[0], stride[0], dilation[0])
            left, right = same_pads(hw[1], kernel[1], stride[1], dilation[1])
            return top, bottom, left, right
        raise ValueError(f"{name} must be an int, a pair, ((top, bottom), (left, right)), "
                         f"'valid' or 'same'; got {v!r}")
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(e, (tuple, list)) for e in v):
        (t, b), (left, r) = _two(v[0], f"{name}[0]"), _two(v[1], f"{name}[1]")
        return (integer(t, f"{name}[0][0]", 0), integer(b, f"{name}[0][1]", 0),
                integer(left, f"{name}[1][0]", 0), integer(r, f"{name}[1][1]", 0))
    ph, pw = pair(v, name, 0)
    return ph, ph, pw, pw


def _two(v: Any, name: str) -> Tuple[Any, Any]:
    if len(v) != 2:
        raise ValueError(f"{name} must be a pair (before, after), got {v!r}")
    return v[0], v[1]


def out_size(size: int, pad_lo: int, pad_hi: int, k: int, stride: int, dilation: int,
             ceil_mode: bool, what: str) -> int:
    """Output length, computed by C (ccnn_out_size in ccnn_common.h, the one place
    the formula lives); a ValueError when the window does not fit in the padded
    input."""
    n = int(_runtime.out_size(size, pad_lo, pad_hi, k, stride, dilation, bool(ceil_mode)))
    if n >= 1:
        return n
    span = (k - 1) * dilation + 1
    if span > size + pad_lo + pad_hi:
        raise ValueError(f"{what}: the kernel (size {k}, dilation {dilation}, span {span}) is "
                         f"larger than the padded input ({size} + {pad_lo} + {pad_hi})")
    raise ValueError(f"{what}: the output would be empty")


def dropout_rate(rate: Any) -> float:
    """Dropout's rate: a real number in [0, 1)."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, numbers.Real):
        raise TypeError(f"rate must be a float in [0, 1), got {type(rate).__name__}")
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    return rate


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    x = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        x /= 1024
        if x < 1024:
            return f"{x:.1f} {unit}"
    return f"{x / 1024:.1f} EiB"


_MEMORY_LIMIT: Optional[int] = None


def memory_limit() -> int:
    """The most memory one call may ask for: the machine's RAM plus swap
    (MemTotal + SwapTotal of /proc/meminfo, else sysconf), which no allocation
    can exceed; sys.maxsize when neither is known."""
    global _MEMORY_LIMIT
    if _MEMORY_LIMIT is None:
        total = 0
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("MemTotal", "SwapTotal"):
                        total += int(rest.split()[0]) * 1024
        except (OSError, ValueError, IndexError):
            total = 0
        if total <= 0:
            try:
                total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (AttributeError, ValueError, OSError):
                total = 0
        _MEMORY_LIMIT = total if total > 0 else sys.maxsize
    return _MEMORY_LIMIT


def check_alloc(shape: Tuple[int, ...], dtype: Any, name: str, extra_bytes: int = 0) -> None:
    """A ValueError, before anything is allocated, when an array of `shape`
    (plus `extra_bytes` of workspace) cannot exist: its size overflows, or it
    exceeds the machine's memory (RAM + swap, see memory_limit())."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > sys.maxsize:
        raise ValueError(f"{name} of shape {shape} would need {nbytes} bytes: too large")
    total = nbytes + extra_bytes
    limit = memory_limit()
    if total > limit:
        work = f" (and {_fmt_bytes(extra_bytes)} of workspace)" if extra_bytes else ""
        raise ValueError(f"{name} of shape {shape} would need {_fmt_bytes(nbytes)}{work}, "
                         f"more than this machine's memory ({_fmt_bytes(limit)} of RAM + swap)")


def check_shape(a: np.ndarray, shape: Tuple[int, ...], name: str) -> None:
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")


def boolean(v: Any, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return bool(v)


def nonempty_hw(x: np.ndarray, name: str) -> None:
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} must have height and width >= 1, got shape {x.shape}")
    if x.shape[2] > MAX_DIM or x.shape[3] > MAX_DIM:
        raise ValueError(f"{name} is too large: shape {x.shape}")


Seed = Union[None, int, np.random.Generator]
