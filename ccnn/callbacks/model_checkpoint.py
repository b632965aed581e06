"""ModelCheckpoint: save the model (or its weights) every epoch, or when the
monitored value improves."""
from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional

import numpy as np

from .._warnings import warn as _warn
from .callback import Callback
from .monitor import _mode_op


#: the names of weights files: what save_weights writes (and Keras 3's)
WEIGHTS_SUFFIXES = (".weights.h5", ".npz")


class ModelCheckpoint(Callback):
    """Save the model at the end of every epoch, or only when `monitor`
    improved (save_best_only).  `filepath` may hold Keras's placeholders,
    e.g. "save_at_{epoch}.keras" or "ckpt-{epoch:02d}-{val_loss:.3f}.weights.npz".
    Each file is written atomically.

    As in Keras 3 (save_weights_only=False, its default), the whole model is
    saved (model.save: a Keras 3 archive for a ".keras" path, ccnn's own
    format otherwise) for models.load_model; with save_weights_only=True the
    weights only (model.save_weights), for model.load_weights.  A path
    naming a weights file (".weights.h5", ".npz") saves the weights whatever
    save_weights_only says (Keras 3 refuses that combination)."""

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto") -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        if not isinstance(self.filepath, str):
            raise TypeError(f"filepath must be a str or os.PathLike of str, got {filepath!r}")
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only) or \
            self.filepath.lower().endswith(WEIGHTS_SUFFIXES)
        self.mode = _mode_op(mode, monitor)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        logs = dict(logs or {})
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint filepath {self.filepath!r} uses {e}, which is "
                           f"not in the epoch logs {sorted(logs)}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                _warn(f"Can save best model only with {self.monitor} available, skipping.")
                return
            better = current < self.best if self.mode == "min" else current > self.best
            if not better or (isinstance(current, float) and np.isnan(current)):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
