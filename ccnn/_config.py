"""Thread count and build facts shared by every ccnn module.

The thread count is a plain Python setting passed to each C kernel call as
its `nthreads` argument: the kernels hold no global state, so embedding code
can choose its own count.
"""
from __future__ import annotations

import os
import platform
import sys
import sysconfig
from typing import Optional, TextIO

from . import _runtime

MAX_THREADS = 4096
_num_threads: int = 0  # 0 = not set yet: use OpenMP's default


def get_num_threads() -> int:
    """Threads ccnn's kernels use (OpenMP's default until set_num_threads is called)."""
    return _num_threads if _num_threads > 0 else _runtime.max_threads()


def set_num_threads(n: int) -> None:
    """Use `n` threads (>= 1) in every following kernel call."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n must be between 1 and {MAX_THREADS}, got {n}")
    _num_threads = n


def show_config(file: Optional[TextIO] = None) -> None:
    """Print how ccnn was built and which SIMD path this CPU runs."""
    from . import __version__, _conv2d

    lines = [
        f"ccnn {__version__}",
        f"python: {sys.version.split()[0]} ({platform.machine()})",
        f"compiler: {sysconfig.get_config_var('CC') or 'unknown'}",
        f"openmp: {'yes' if _runtime.have_openmp() else 'no (serial build)'}",
        f"threads: {get_num_threads()} (OMP default {_runtime.max_threads()},"
        f" OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
        f"simd path: {_runtime.simd_path()}",
        f"gemm micro-kernel: {_conv2d.gemm_kernel_name()}",
    ]
    print("\n".join(lines), file=file if file is not None else sys.stdout)
