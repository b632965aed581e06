"""CSVLogger: every epoch's logs as a CSV file."""
from __future__ import annotations

import csv as _csv
import io as _io
import os
from typing import Any, Dict, List, Optional

import numpy as np

from .._fileio import atomic_write as _atomic_write
from .callback import Callback


class CSVLogger(Callback):
    """Keras's CSVLogger: one row per epoch -- 'epoch' (from 0), then the
    logs' keys sorted (with val_* columns added when the first epoch had
    none) -- to `filename`.  The file is rewritten atomically at every
    epoch's end (a temporary file renamed over it), so a crash leaves the
    rows of the completed epochs and never half a line.  append=True keeps
    the rows already in the file (and writes no second header)."""

    def __init__(self, filename: Any, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        try:
            self.filename = os.fspath(filename)
        except TypeError:
            raise TypeError(f"filename must be a path, got {type(filename).__name__}") from None
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be a one-character str, got {separator!r}")
        if not isinstance(append, (bool, np.bool_)):
            raise TypeError(f"append must be a bool, got {type(append).__name__}")
        self.sep = separator
        self.append = bool(append)
        self.keys: Optional[List[str]] = None
        self._text = ""
        self._header = True

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._text = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, "r", newline="") as f:
                self._text = f.read()
            if self._text and not self._text.endswith("\n"):
                self._text += "\r\n"
        self.keys = None
        self._header = not self._text

    @staticmethod
    def _value(v: Any) -> Any:
        if isinstance(v, str):
            return v
        if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) > 0:
            return f"\"[{', '.join(map(str, v))}]\""
        return v

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        out = _io.StringIO()
        writer = _csv.writer(out, delimiter=self.sep)  # csv.excel: \r\n line ends, as Keras
        if self._header:
            writer.writerow(["epoch"] + self.keys)
            self._header = False
        writer.writerow([epoch] + [self._value(logs.get(k, "NA")) for k in self.keys])
        self._text += out.getvalue()
        with _atomic_write(self.filename) as f:
            f.write(self._text.encode())
