"""LearningRateScheduler: set the learning rate at the start of every epoch."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np

from .callback import Callback
from .monitor import _nonneg_int


class LearningRateScheduler(Callback):
    """Keras's LearningRateScheduler: at the start of every epoch,
    optimizer.learning_rate = schedule(epoch, current_lr) (or schedule(epoch)
    for a one-argument function, tried when the two-argument call raises
    TypeError, as Keras does).  The schedule must return a float.  The rate
    is logged as 'learning_rate' at the end of every epoch (in History)."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function (epoch, lr) -> lr, got "
                            f"{type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = _nonneg_int(verbose, "verbose")

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # a schedule of the epoch alone
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
