"""TensorBoard: event files for `tensorboard --logdir`, through tensorboardX."""
from __future__ import annotations

import numbers
import os
from typing import Any, Dict, Optional

import numpy as np

from .callback import Callback


def _scalars(logs: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """logs as floats, checked before any is written: a value that is not a
    scalar (a per-class metric, F1Score(average=None)) is a ValueError, as
    Keras's TensorBoard's (tf.summary.scalar's assert_scalar) is."""
    out = {}
    for key, value in (logs or {}).items():
        shape = np.shape(value)
        if shape != ():
            raise ValueError(f"TensorBoard logs scalars only: {key!r} has shape {shape} (a "
                             f"per-class metric?); Keras's TensorBoard raises for it too. "
                             f"Log a scalar form (e.g. F1Score(average='macro')) or use "
                             f"another callback (CSVLogger) for per-class values")
        out[key] = float(value)
    return out


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
        from ..report import have_matplotlib
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
        for key, value in _scalars(logs).items():
            self._writer("train").add_scalar(f"batch_{key}", value, self._batches)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        for key, value in _scalars(logs).items():
            which = "validation" if key.startswith("val_") else "train"
            name = key[4:] if which == "validation" else key
            self._writer(which).add_scalar(f"epoch_{name}", value, epoch)
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
        from .. import visualization as vis
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
