"""A per-kernel timer: how much of a call is spent in ccnn's C kernels.

    with ccnn.profiler.kernel_timer() as t:
        model.train_on_batch(x, y)
    print(t.table())                     # kernel, calls, total ms
    print(t.kernel_seconds)              # time inside the extension modules

While the timer is on, every function of ccnn's extension modules (the thin
Cython bindings through which ccnn.functional, the layers and the optimizers
reach the C kernels) but the bookkeeping ones (SKIP) is wrapped by one that
adds its wall time to a tally; the wrappers are removed when the `with` block
ends.  The time of a call
minus `kernel_seconds` is what ran in Python and NumPy around the kernels --
the "Python overhead" of a training step that benchmarks/bench.py reports.
Each wrapped call costs about a microsecond more while the timer is on, so
time the same work with the timer off for the step itself.  The timer is not
thread-safe: switch it on from one thread, with no other thread calling ccnn.
"""
from __future__ import annotations

import importlib
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple
from contextlib import contextmanager

__all__ = ["KernelTimes", "kernel_timer"]

#: the extension modules whose functions are timed (ccnn._runtime only answers
#: questions about the build; ccnn.kernels is the C-API capsule table)
MODULES = ("_activation", "_augment", "_conv2d", "_correlate", "_dense", "_depthwise",
           "_layout", "_loss", "_norm", "_optim", "_pool", "_reshaping", "_plan")

#: functions of those modules that are bookkeeping, not kernels (the training
#: loop's accuracy count and label check): never wrapped, never counted
SKIP = frozenset(("_loss.argmax_matches", "_loss.label_range"))


class KernelTimes:
    """The tally of one kernel_timer(): {"_conv2d.conv2d_forward": [calls, seconds]}."""

    def __init__(self) -> None:
        self.by_kernel: Dict[str, List[float]] = {}

    @property
    def kernel_seconds(self) -> float:
        """Wall time spent inside the timed functions, in seconds."""
        return sum(s for _, s in self.by_kernel.values())

    @property
    def calls(self) -> int:
        return int(sum(c for c, _ in self.by_kernel.values()))

    def table(self) -> str:
        """One line per kernel, the most time first."""
        rows = sorted(self.by_kernel.items(), key=lambda kv: -kv[1][1])
        width = max([6] + [len(k) for k in self.by_kernel])
        lines = [f"{'kernel':<{width}}  {'calls':>7}  {'ms':>10}"]
        lines += [f"{k:<{width}}  {int(c):>7}  {s * 1e3:>10.3f}" for k, (c, s) in rows]
        lines.append(f"{'total':<{width}}  {self.calls:>7}  {self.kernel_seconds * 1e3:>10.3f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<KernelTimes calls={self.calls} "
                f"kernel_seconds={self.kernel_seconds:.6f}>")


def _timed(name: str, fn: Callable[..., Any], tally: Dict[str, List[float]]
           ) -> Callable[..., Any]:
    clock = time.perf_counter

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = tally.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += clock() - t0

    wrapper.__name__ = getattr(fn, "__name__", name)
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


_active = False


@contextmanager
def kernel_timer() -> Iterator[KernelTimes]:
    """Time every call into ccnn's C kernels made inside the `with` block."""
    global _active
    if _active:
        raise RuntimeError("kernel_timer() is already on; it does not nest")
    times = KernelTimes()
    patched: List[Tuple[Any, str, Any]] = []
    for modname in MODULES:
        module = importlib.import_module(f"ccnn.{modname}")
        for attr in dir(module):
            fn = getattr(module, attr)
            name = f"{modname}.{attr}"
            if attr.startswith("_") or isinstance(fn, type) or not callable(fn) \
                    or getattr(fn, "__module__", None) != module.__name__ or name in SKIP:
                continue
            patched.append((module, attr, fn))
            setattr(module, attr, _timed(name, fn, times.by_kernel))
    _active = True
    try:
        yield times
    finally:
        for module, attr, fn in patched:
            setattr(module, attr, fn)
        _active = False
