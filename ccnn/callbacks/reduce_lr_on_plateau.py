"""ReduceLROnPlateau: lower the learning rate when a monitored value stops improving."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .._warnings import warn as _warn
from .callback import Callback
from .monitor import _metric_direction, _nonneg_int, _number


class ReduceLROnPlateau(Callback):
    """Keras's ReduceLROnPlateau: when `monitor` has not improved by more
    than min_delta for `patience` epochs, learning_rate = max(lr * factor,
    min_lr) (only while lr > min_lr), then wait `cooldown` epochs before
    counting again.  The rate is logged as 'learning_rate' every epoch.
    mode='auto' minimises losses and errors and maximises accuracies, AUC,
    precision and recall; an unknown monitor needs mode='min' or 'max'
    (ValueError at construction; Keras raises at the first epoch's end)."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        factor = _number(factor, "factor")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        if factor < 0:
            raise ValueError(f"factor must be in [0, 1), got {factor}")
        min_lr = _number(min_lr, "min_lr")
        if min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = abs(_number(min_delta, "min_delta"))
        self.patience = _nonneg_int(patience, "patience")
        self.verbose = _nonneg_int(verbose, "verbose")
        self.cooldown = _nonneg_int(cooldown, "cooldown")
        self.mode = mode
        self._op = mode if mode != "auto" else _metric_direction(monitor)
        self._reset()

    def _reset(self) -> None:
        self.best: Optional[float] = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, current: float) -> bool:
        if self.best is None:
            return True
        if self._op == "min":
            return current + self.min_delta < self.best
        return current - self.min_delta > self.best

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            _warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                  f"not available. Available metrics are: {','.join(logs)}.")
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
