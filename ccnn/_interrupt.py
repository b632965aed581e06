"""Blocks that Ctrl-C cannot cut in half.

Python turns SIGINT into KeyboardInterrupt between two bytecodes, so a Ctrl-C
could land between the updates of two parameters of one optimizer step and
leave the model half-updated.  Inside ``deferred_keyboard_interrupt()`` SIGINT
is only recorded; when the block ends, the previous handler is put back and
called -- for Python's default handler that raises KeyboardInterrupt, now
that the block is complete.

Signals reach Python in the main thread only, so elsewhere (and wherever a
handler cannot be installed) the block simply runs.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Iterator, List, Optional, Tuple


@contextlib.contextmanager
def deferred_keyboard_interrupt() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) until the block has finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # pragma: no cover - no signal support
        previous = None
    if not callable(previous):  # SIG_IGN, SIG_DFL or a handler set from C: leave it be
        yield
        return
    received: List[Tuple[int, Optional[FrameType]]] = []

    def hold(signum: int, frame: Optional[FrameType]) -> None:
        received.append((signum, frame))

    try:
        signal.signal(signal.SIGINT, hold)
    except (ValueError, OSError):  # pragma: no cover - e.g. a sub-interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            previous(*received[0])  # default_int_handler: raise KeyboardInterrupt now
