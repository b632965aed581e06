"""Keep NumPy's BLAS on one thread while a model trains or predicts.

ccnn's C kernels run their own OpenMP threads; NumPy's OpenBLAS (used for the
Dense layers' matrix products) runs a second pool.  Both pools busy-wait
between calls, so alternating small kernels and small GEMMs puts twice as
many spinning threads as cores on the machine and each hand-over waits for a
time slice: on 2 cores a training step of the textbook model got 2-3x slower.
The Dense GEMMs (e.g. 32 x 1960 x 100) are too small to gain from threads, so
`single_threaded_blas()` pins OpenBLAS to one thread for the duration of a
fit / evaluate / predict call and then restores the previous count, as
threadpoolctl does.  With another BLAS (MKL, Accelerate) or none found it
does nothing.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Any, Callable, Optional, Tuple

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "_64", "")

_lock = threading.Lock()
_depth = 0
_saved: Optional[int] = None
_api: Optional[Tuple[Callable[[], int], Callable[[int], None]]] = None
_searched = False


def _library_paths() -> list:
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if "/" in line else ""
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    if not paths:  # not Linux: look where NumPy's wheels keep their OpenBLAS
        import numpy
        site = os.path.dirname(os.path.dirname(numpy.__file__))
        for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*",
                        "scipy_openblas*/lib/*openblas*"):
            paths += glob.glob(os.path.join(site, pattern))
    return paths


def _find_api():
    global _api, _searched
    if _searched:
        return _api
    _searched = True
    for path in _library_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    get.argtypes = []
                    put.restype = None
                    put.argtypes = [ctypes.c_int]
                    _api = (get, put)
                    return _api
    return None


class _SingleThreaded:
    """single_threaded_blas()'s block (a class: cheaper than a generator-based
    context manager around every train_on_batch)."""
    __slots__ = ("api",)

    def __enter__(self) -> None:
        global _depth, _saved
        with _lock:
            api = self.api = _find_api()
            if api is not None and _depth == 0:
                _saved = api[0]()
                if _saved != 1:
                    api[1](1)
            _depth += 1

    def __exit__(self, *exc: Any) -> None:
        global _depth
        with _lock:
            _depth -= 1
            api = self.api
            if api is not None and _depth == 0 and _saved is not None and _saved != 1:
                api[1](_saved)


def single_threaded_blas() -> _SingleThreaded:
    """OpenBLAS on one thread inside the block (re-entrant, thread-safe)."""
    return _SingleThreaded()


def blas_num_threads() -> Optional[int]:
    """OpenBLAS's current thread count (None when not found)."""
    api = _find_api()
    return None if api is None else api[0]()
