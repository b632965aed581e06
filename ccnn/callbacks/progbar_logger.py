"""ProgbarLogger: Keras's progress display."""
from __future__ import annotations

import numbers
import sys
import time
from typing import Any, Dict, Optional, TextIO

import numpy as np

from .callback import Callback


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _fmt_logs(logs: Dict[str, Any]) -> str:
    """' - name: value' per log; a per-class array shows its mean (as Keras's)."""
    return "".join(f" - {k}: {float(np.mean(v)):.4f}" for k, v in logs.items())


class ProgbarLogger(Callback):
    """Keras's progress display.

    verbose=1 on a terminal: a bar redrawn in place with steps, ETA and the
    running loss / accuracy, then the epoch's time per step and validation
    numbers.  verbose=1 when the output is not a terminal, and verbose=2:
    one plain line per epoch."""

    def __init__(self, verbose: int = 1, stream: Optional[TextIO] = None,
                 width: int = 30) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self.width = width

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        out = self._out()
        self.tty = self.verbose == 1 and bool(getattr(out, "isatty", lambda: False)())
        self.epochs = self.params.get("epochs", 1)
        self.steps = self.params.get("steps")

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch = epoch
        self.t0 = time.perf_counter()
        self.last_draw = 0.0
        if self.tty:
            self._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def _bar(self, step: int) -> str:
        steps = self.steps
        if not steps:
            return f"{step}"
        digits = len(str(steps))
        filled = self.width * step // steps
        arrow = ">" if step < steps else ""
        bar = "=" * max(0, filled - (1 if arrow else 0)) + arrow
        return f"{step:{digits}d}/{steps} [{bar:<{self.width}}]"

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if not self.tty:
            return
        step = batch + 1
        now = time.perf_counter()
        if step < (self.steps or 0) and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        elapsed = now - self.t0
        eta = elapsed / step * ((self.steps or step) - step)
        self._write(f"\r{self._bar(step)} - ETA: {_fmt_duration(eta)}{_fmt_logs(logs or {})}"
                    f"\x1b[K")

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        elapsed = time.perf_counter() - self.t0
        steps = self.steps or 1
        per_step = elapsed / steps
        unit = f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 else \
            f"{per_step * 1e6:.0f}us/step"
        timing = f"{_fmt_duration(elapsed)} {unit}"
        if self.tty:
            self._write(f"\r{self._bar(steps)} - {timing}{_fmt_logs(logs or {})}\x1b[K\n")
        else:
            self._write(f"Epoch {epoch + 1}/{self.epochs} - {steps}/{steps} - {timing}"
                        f"{_fmt_logs(logs or {})}\n")

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["stream"] = None  # streams do not pickle
        return state
