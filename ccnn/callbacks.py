"""ccnn.callbacks -- Keras's fit callbacks: History, ProgbarLogger,
EarlyStopping, ModelCheckpoint, TerminateOnNaN, TensorBoard, and the Callback
base class to write your own.

    model.fit(x, y, validation_split=0.2, callbacks=[
        EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
        ModelCheckpoint("best.weights.npz", save_best_only=True)])
"""
from __future__ import annotations

import math
import numbers
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, TextIO

import numpy as np

from ._warnings import warn as _warn

__all__ = ["Callback", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "TensorBoard"]


class Callback:
    """Base class; override any of the on_* hooks.  `self.model` is the model
    being trained, `self.params` a dict (epochs, steps, verbose, ...)."""

    def __init__(self) -> None:
        self.model: Any = None  # the Sequential being trained
        self.params: Dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_test_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_begin(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_end(self, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass
    def on_predict_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None: pass


class CallbackList:
    """Calls each hook on every callback, in order (internal to fit, evaluate
    and predict): `cbl.on_epoch_end(epoch, logs)`, the logs always last."""

    def __init__(self, callbacks: List[Callback], model: Any, params: Dict[str, Any]) -> None:
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            *index, logs = args                # every hook is given its logs dict,
            for cb in self.callbacks:          # by keyword as Keras's CallbackList does
                getattr(cb, hook)(*index, logs=logs)
        return call


class History(Callback):
    """Records the epoch logs: history.history['loss'][i] is epoch i's loss."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch: List[int] = []
        self.history: Dict[str, List[float]] = {}

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _fmt_logs(logs: Dict[str, float]) -> str:
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


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


def _mode_op(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved by more than `min_delta`
    for `patience` epochs (Keras's rules, including restore_best_weights:
    at the end of training the weights of the best epoch are put back)."""

    # (declared here for type checkers, which cannot follow __init__'s
    # numbers.Real / numbers.Integral checks)
    monitor: str
    patience: int
    verbose: int
    baseline: Optional[float]
    min_delta: float
    restore_best_weights: bool
    start_from_epoch: int
    mode: str

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: Optional[float] = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) \
                or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"min_delta must be a number, got {type(min_delta).__name__}")
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _mode_op(mode, monitor)

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights: Optional[List[np.ndarray]] = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            _warn(f"Early stopping conditioned on metric `{self.monitor}` which is "
                  f"not available. Available metrics are: {','.join(logs or {})}")
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = [w.copy() for w in self.model.get_weights()]
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the weights at the end of every epoch, or only when `monitor`
    improved (save_best_only).  `filepath` may hold Keras's placeholders,
    e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.weights.npz".  Each file is written
    atomically (model.save_weights).  ccnn saves weights only:
    save_weights_only must stay True."""

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = True,
                 mode: str = "auto") -> None:
        super().__init__()
        if not save_weights_only:
            raise ValueError("ccnn's ModelCheckpoint saves weights only "
                             "(save_weights_only=True); rebuild the model in code and call "
                             "model.load_weights(path)")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = True
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
        self.model.save_weights(path)


class TerminateOnNaN(Callback):
    """Keras's TerminateOnNaN: stop training when a batch's loss is NaN or
    infinite.  (Sequential.fit already does so by default, before that batch's
    update: fit(..., terminate_on_nan=True); this callback is for Keras code
    that lists it, and acts after the update, as in Keras.)"""

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


# ---------------------------------------------------------------- Keras breadth II
# (kept at the end of the module, imports included, so that it merges simply)
import csv as _csv  # noqa: E402
import io as _io  # noqa: E402

from ._fileio import AtomicFile as _AtomicFile  # noqa: E402

__all__ += ["LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback"]


def _nonneg_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite number, got {type(value).__name__} {value!r}")
    return float(value)


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


def _metric_direction(monitor: str) -> str:
    """'min' or 'max' for mode='auto': the loss is minimised; a metric ccnn
    knows goes the way its class says (Keras reads the compiled metric)."""
    from . import metrics as metrics_mod
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "min"
    if name.lower() in ("accuracy", "acc"):
        return "max"
    metric = metrics_mod.ALL_OBJECTS_DICT.get(name)
    if metric is None:
        raise ValueError(f"ReduceLROnPlateau callback received monitor={monitor}, but ccnn "
                         f"isn't able to automatically determine whether that metric should "
                         f"be maximized or minimized. Pass `mode='max'` in order to monitor "
                         f"based on the highest metric value, or pass `mode='min'` in order "
                         f"to use the lowest value.")
    return "max" if metric._direction == "up" else "min"


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
        directory = os.path.dirname(os.path.abspath(self.filename))
        with _AtomicFile(directory, "." + os.path.basename(self.filename) + ".", ".tmp") as tmp:
            tmp.file.write(self._text.encode())
            tmp.commit(self.filename)


_LAMBDA_HOOKS = {  # hook -> whether its first argument is an epoch / batch index
    "on_train_begin": False, "on_train_end": False, "on_epoch_begin": True,
    "on_epoch_end": True, "on_train_batch_begin": True, "on_train_batch_end": True,
    "on_test_begin": False, "on_test_end": False, "on_test_batch_begin": True,
    "on_test_batch_end": True, "on_predict_begin": False, "on_predict_end": False,
    "on_predict_batch_begin": True, "on_predict_batch_end": True}


class LambdaCallback(Callback):
    """Keras's LambdaCallback: a callback from functions, e.g.

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    on_epoch_* and on_*_batch_* functions take (index, logs), on_*_begin/end
    take (logs); logs is always a dict (fit passes none to some hooks; {} is
    given then, as Keras's CallbackList does)."""

    def __init__(self, on_epoch_begin: Optional[Callable[..., Any]] = None,
                 on_epoch_end: Optional[Callable[..., Any]] = None,
                 on_train_begin: Optional[Callable[..., Any]] = None,
                 on_train_end: Optional[Callable[..., Any]] = None,
                 on_train_batch_begin: Optional[Callable[..., Any]] = None,
                 on_train_batch_end: Optional[Callable[..., Any]] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - set(_LAMBDA_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {unknown}; the hooks are "
                            f"{sorted(_LAMBDA_HOOKS)}")
        given = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"{hook} must be a function, got {type(fn).__name__}")
            setattr(self, hook, self._wrap(fn, _LAMBDA_HOOKS[hook]))

    @staticmethod
    def _wrap(fn: Callable[..., Any], indexed: bool) -> Callable[..., None]:
        if indexed:
            def hook(index: int, logs: Optional[Dict[str, Any]] = None) -> None:
                fn(index, logs if logs is not None else {})
        else:
            def hook(logs: Optional[Dict[str, Any]] = None) -> None:  # type: ignore[misc]
                fn(logs if logs is not None else {})
        return hook


class TensorBoard(Callback):
    """Keras's TensorBoard callback: event files for `tensorboard --logdir log_dir`,
    written by tensorboardX (the `tensorboard` extra: pip install 'ccnn[tensorboard]';
    no TensorFlow needed).

    As in Keras: log_dir/train gets epoch_loss, epoch_<metric> and
    epoch_learning_rate per epoch, log_dir/validation the val_ numbers under
    the same tags; update_freq=N (an int) also writes batch_loss and
    batch_<metric> every N batches.  Every `histogram_freq` epochs (0: never)
    a histogram of each weight array, tagged "<layer>/<weight>", and with
    write_images=True (needs matplotlib) the first convolution's filters as a
    picture ("<layer>/filters").  ccnn's addition: confusion_data=(x, y) also
    pictures the confusion matrix of the model on (x, y) at those epochs
    ("confusion_matrix"), with class_names as in ccnn.visualization."""

    def __init__(self, log_dir: Any = "logs", histogram_freq: int = 0, *,
                 write_images: bool = False, update_freq: Any = "epoch",
                 confusion_data: Optional[Any] = None, class_names: Any = None) -> None:
        super().__init__()
        try:
            import tensorboardX
        except ImportError:
            raise ImportError("TensorBoard needs tensorboardX: pip install 'ccnn[tensorboard]'") \
                from None
        self._writer_class = tensorboardX.SummaryWriter
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, numbers.Integral) \
                or histogram_freq < 0:
            raise ValueError(f"histogram_freq must be an int >= 0, got {histogram_freq!r}")
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(
                update_freq, numbers.Integral) or update_freq < 1):
            raise ValueError(f"update_freq must be 'epoch' or a positive int, got "
                             f"{update_freq!r}")
        from .report import have_matplotlib
        if (write_images or confusion_data is not None) and not have_matplotlib():
            raise ImportError("TensorBoard(write_images=True) and confusion_data need "
                              "matplotlib: pip install 'ccnn[plot]'")
        if confusion_data is not None and (not isinstance(confusion_data, (tuple, list))
                                           or len(confusion_data) != 2):
            raise ValueError("confusion_data must be a tuple (x, y)")
        self.log_dir: str = os.fspath(log_dir)
        self.histogram_freq: int = int(histogram_freq)
        self.write_images: bool = bool(write_images)
        self.update_freq: Any = update_freq
        self.confusion_data: Optional[Any] = confusion_data
        self.class_names: Any = class_names
        self._writers: Dict[str, Any] = {}
        self._batches: int = 0

    def _writer(self, which: str) -> Any:
        if which not in self._writers:
            self._writers[which] = self._writer_class(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq:
            return
        for key, value in (logs or {}).items():
            self._writer("train").add_scalar(f"batch_{key}", float(value), self._batches)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        for key, value in (logs or {}).items():
            which = "validation" if key.startswith("val_") else "train"
            name = key[4:] if which == "validation" else key
            self._writer(which).add_scalar(f"epoch_{name}", float(value), epoch)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            self._writer("train").add_scalar("epoch_learning_rate",
                                             float(optimizer.learning_rate), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def _log_weights(self, epoch: int) -> None:
        train = self._writer("train")
        for layer in self.model.layers:
            for key, w in layer.params.items():
                train.add_histogram(f"{layer.name}/{key}", np.asarray(w), epoch)
        if not (self.write_images or self.confusion_data is not None):
            return
        from . import visualization as vis
        if self.write_images and any(vis._is_conv(layer) for layer in self.model.layers):
            conv = vis._pick_layer(self.model, 0)
            train.add_figure(f"{conv.name}/filters", vis.plot_filters(conv), epoch)
        if self.confusion_data is not None:
            x, y = self.confusion_data
            pred = self.model.predict(x, batch_size=256)
            train.add_figure("confusion_matrix",
                             vis.plot_confusion_matrix(y, pred, self.class_names), epoch)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
