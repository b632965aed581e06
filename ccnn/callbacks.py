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


class CallbackList:
    """Calls each hook on every callback, in order (internal to fit)."""

    def __init__(self, callbacks: List[Callback], model: Any, params: Dict[str, Any]) -> None:
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
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
