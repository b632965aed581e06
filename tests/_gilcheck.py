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
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

SWITCH_INTERVAL = 20.0  # seconds; longer than any call these tests make


def increments_during(fn: Callable[[], Any], repeats: int = 1) -> int:
    """Counter increments made by another Python thread while fn() ran (repeats times)."""
    count = 0
    stop = threading.Event()
    running = threading.Event()

    def counter() -> None:
        nonlocal count
        running.set()
        while not stop.is_set():
            count += 1
            time.sleep(0.0002)  # let the GIL go now and then, so the caller gets it back

    old = sys.getswitchinterval()
    thread = threading.Thread(target=counter, name="gil-counter", daemon=True)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        thread.start()
        running.wait()
        total = 0
        for _ in range(repeats):
            before = count
            fn()
            total += count - before
        return total
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
