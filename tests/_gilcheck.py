"""Does a call release the GIL?  Decided by counting, not by timing.

A helper thread counts in pure Python (it needs the GIL for every
increment) and sleeps a moment between increments.  The calling thread reads
the counter, makes the call, reads it again.  The interpreter's switch
interval is raised to SWITCH_INTERVAL seconds for the duration, so a thread
that holds the GIL is never forced to hand it over: while the call holds the
GIL the counter cannot move at all, and it can only move when the call
releases the GIL itself -- as ccnn's kernels do (`with nogil`).

    increments_during(fn)  ->  0 when fn held the GIL throughout, > 0 otherwise

(A Python loop of any length gives exactly 0; tests/test_gil.py checks that
too, to show the method can tell the two apart.)

    releases_gil(fn)  ->  whether the counter moved during some call of fn

On a loaded machine the counter thread may not be scheduled during a short
call at all; "no increment" is then ambiguous.  releases_gil measures how long
the counter takes between increments when nothing holds the GIL (the
caller sleeping), and repeats the call until the counter moved (True), or the
calls, added up, lasted GAPS times the longest of those gaps -- time in which
a waiting counter would have run many times over (False: the call holds the
GIL) -- or the budget in seconds ran out (False as well: never shown to
release it).  Retrying cannot make a held GIL pass: the counter cannot move.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

SWITCH_INTERVAL = 20.0  # seconds; longer than any call these tests make
GAPS = 50               # releases_gil: calls lasting this many counter gaps decide


class _Counter:
    """A Python thread counting (under the GIL) with a short sleep between
    increments; the switch interval raised while it runs (a context manager)."""

    def __init__(self) -> None:
        self.count = 0
        self.stamps: list = []
        self.stop = threading.Event()
        self.running = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gil-counter", daemon=True)
        self.old = sys.getswitchinterval()

    def _run(self) -> None:
        self.running.set()
        while not self.stop.is_set():
            self.count += 1
            self.stamps.append(time.perf_counter())
            if len(self.stamps) > 4096:
                del self.stamps[:2048]
            time.sleep(0.0002)  # let the GIL go now and then, so the caller gets it back

    def __enter__(self) -> "_Counter":
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.thread.start()
        self.running.wait()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        sys.setswitchinterval(self.old)

    def gap(self, seconds: float = 0.05) -> float:
        """The longest time between two increments while the caller sleeps
        (the GIL free): how long a waiting counter takes to run again now."""
        start = len(self.stamps)
        time.sleep(seconds)
        t = self.stamps[start - 1:] if start else self.stamps
        return max((b - a for a, b in zip(t, t[1:])), default=seconds)


def increments_during(fn: Callable[[], Any], repeats: int = 1) -> int:
    """Counter increments made by another Python thread while fn() ran (repeats times)."""
    with _Counter() as c:
        total = 0
        for _ in range(repeats):
            before = c.count
            fn()
            total += c.count - before
        return total


def releases_gil(fn: Callable[[], Any], budget: float = 30.0) -> bool:
    """Whether the counter moves during a call of fn (see the module's text)."""
    deadline = time.perf_counter() + budget
    with _Counter() as c:
        gap = c.gap()
        spent = 0.0
        while True:
            before = c.count
            t0 = time.perf_counter()
            fn()
            spent += time.perf_counter() - t0
            if c.count != before:
                return True
            if spent >= GAPS * gap or time.perf_counter() > deadline:
                return False
