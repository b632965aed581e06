"""Blocks that Ctrl-C cannot cut in half.

Python turns SIGINT into KeyboardInterrupt between two bytecodes, so a Ctrl-C
could land between the updates of two parameters of one optimizer step and
leave the model half-updated.  Inside ``deferred_keyboard_interrupt()`` SIGINT
is only recorded; when the block ends, the previous handler is put back and
called -- for Python's default handler that raises KeyboardInterrupt, now
that the block is complete.

Signals reach Python in the main thread only, so elsewhere (and wherever a
handler cannot be installed) the block simply runs.

A training loop opens one such block per step; swapping the SIGINT handler
twice a step costs ~15 us.  ``keyboard_interrupt_guard()`` around the loop
installs one handler for all of it: inside the guard a deferred block only
counts itself, and a Ctrl-C outside the deferred blocks is passed on at once,
exactly as without the guard.
"""
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module behind signal
import contextlib
import signal
import threading
from types import FrameType
from typing import Any, Callable, Iterator, List, Optional, Tuple


_SIGINT = int(signal.SIGINT)


class _Guard:
    """State of the keyboard_interrupt_guard() in force (main thread only)."""
    active = False
    previous: Callable[..., Any] = signal.default_int_handler
    deferring = 0                                           # deferred blocks open
    held: List[Tuple[int, Optional[FrameType]]] = []        # SIGINTs they held back


def _swap_sigint(handler: Callable[[int, Optional[FrameType]], None]
                 ) -> Optional[Callable[..., Any]]:
    """Install `handler` for SIGINT in place of a Python-level handler and
    return that one; None, installing nothing, when SIGINT has SIG_IGN,
    SIG_DFL or a handler set from C, or signals are not supported here."""
    # _signal's functions: signal.signal / getsignal are the same calls plus
    # enum conversions of the handlers (a failed Handlers(value) lookup, an
    # exception, for every Python-level handler: most of a swap's time)
    try:
        previous = _signal.getsignal(_SIGINT)
    except (ValueError, OSError):  # pragma: no cover - no signal support
        return None
    if not callable(previous):
        return None
    try:
        _signal.signal(_SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover - e.g. a sub-interpreter
        return None
    return previous


def _guard_handler(signum: int, frame: Optional[FrameType]) -> None:
    if _Guard.deferring:
        _Guard.held.append((signum, frame))
    else:
        _Guard.previous(signum, frame)


@contextlib.contextmanager
def keyboard_interrupt_guard() -> Iterator[None]:
    """One SIGINT handler for a loop of deferred_keyboard_interrupt() blocks."""
    previous = None
    if not _Guard.active and threading.get_ident() == threading.main_thread().ident:
        previous = _swap_sigint(_guard_handler)
    if previous is None:
        yield
        return
    _Guard.active, _Guard.previous, _Guard.deferring, _Guard.held = True, previous, 0, []
    try:
        yield
    finally:
        _Guard.active = False
        _signal.signal(_SIGINT, previous)


class _Deferred:
    """One deferred_keyboard_interrupt() block (a class rather than a
    generator: a training step opens one, and a generator-based context
    manager costs a few microseconds more)."""
    __slots__ = ("mode", "previous", "received")

    def __enter__(self) -> None:
        self.mode = 0                       # 0: nothing to undo (not the main thread, ...)
        if threading.get_ident() != threading.main_thread().ident:
            return
        if _Guard.active:   # the guard's handler is installed: count, don't swap
            _Guard.deferring += 1
            self.mode = 1
            return
        received: List[Tuple[int, Optional[FrameType]]] = []

        def hold(signum: int, frame: Optional[FrameType]) -> None:
            received.append((signum, frame))

        previous = _swap_sigint(hold)
        if previous is None:   # SIG_IGN, SIG_DFL or a handler set from C: leave it be
            return
        self.mode, self.previous, self.received = 2, previous, received

    def __exit__(self, *exc: Any) -> None:
        if self.mode == 1:
            _Guard.deferring -= 1
            if not _Guard.deferring and _Guard.held:
                signum, frame = _Guard.held[0]
                _Guard.held.clear()
                _Guard.previous(signum, frame)   # default_int_handler: raise now
        elif self.mode == 2:
            _signal.signal(_SIGINT, self.previous)
            if self.received:
                self.previous(*self.received[0])  # default_int_handler: raise KeyboardInterrupt now


def deferred_keyboard_interrupt() -> _Deferred:
    """Hold back SIGINT (Ctrl-C) until the block has finished."""
    return _Deferred()
