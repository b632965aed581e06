"""BackupAndRestore: resume an interrupted fit where it stopped."""
from __future__ import annotations

import os
import shutil
from typing import Any, Dict, Optional, Union

import numpy as np

from .callback import Callback


def _saving() -> Any:
    """ccnn.models.saving (imported when used: ccnn.models imports the callbacks)."""
    from ..models import saving
    return saving


class BackupAndRestore(Callback):
    """Keras's BackupAndRestore: at the end of every epoch (or every `save_freq`
    batches) the model's weights, its optimizer's state and the epoch reached
    go into one file, `backup_dir/latest.weights.npz`, written atomically; when
    fit starts and that file exists -- the last fit was interrupted -- they are
    restored and training goes on at that epoch, as if it had never stopped.
    When fit ends normally the backup is deleted (delete_checkpoint=True).

        model.fit(x, y, epochs=30, callbacks=[BackupAndRestore("backup")])
        # Ctrl-C, a crash, a reboot ... then the same call resumes.

    Keras writes two files (weights, then a JSON of the epoch); ccnn writes
    one, so a crash between the two cannot pair new weights with an old epoch.
    double_checkpoint keeps the previous backup beside it (`.bkp`), used when
    the latest one cannot be read.  On deletion only the backup's own files
    are removed (and backup_dir, if that leaves it empty)."""

    FILE = "latest.weights.npz"

    def __init__(self, backup_dir: Any, save_freq: Union[str, int] = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq!r}. Expected either 'epoch' or an "
                             f"integer value >= 1.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._path = os.path.join(self.backup_dir, self.FILE)
        self._prev_path = self._path + ".bkp"
        self._epoch = 0
        self._batches = 0

    # ---- restoring
    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        model = self.model
        if not getattr(model, "built", False):
            raise ValueError("To use the BackupAndRestore callback, your model must be built "
                             "before you call fit()")
        for path in (self._path, self._prev_path):
            if not os.path.exists(path):
                continue
            try:
                epoch = self._restore(path)
            except ValueError:
                if path == self._prev_path or not os.path.exists(self._prev_path):
                    raise
                continue              # the latest backup is unreadable: the previous one
            model._resume_epoch = epoch
            self._epoch = epoch
            return

    def _restore(self, path: str) -> int:
        saving = _saving()
        meta = saving.split_prefixed(saving.load_npz_checked(path), saving.METADATA_PREFIX)
        epoch = meta.get("epoch")
        if epoch is None or epoch.shape != () or epoch.dtype.kind not in "iu" or epoch < 0:
            raise ValueError(f"{path}: not a BackupAndRestore backup (no valid epoch)")
        self.model.load_weights(path)   # weights and optimizer state, checked first
        return int(epoch)

    # ---- saving
    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches >= int(self.save_freq):
            self._batches = 0
            self._save()          # mid-epoch: a resumed fit starts this epoch again

    def _save(self) -> None:
        arrays = self.model._weights_file_arrays(
            include_optimizer=getattr(self.model, "optimizer", None) is not None)
        saving = _saving()
        arrays[saving.METADATA_PREFIX + "epoch"] = np.array(self._epoch, dtype=np.int64)
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            os.replace(self._path, self._prev_path)
        saving.save_npz_atomic(self._path, arrays)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        if not self.delete_checkpoint:
            return
        for path in (self._path, self._prev_path):
            if os.path.exists(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)
        except OSError:
            pass                  # not empty (the user's files) or already gone

    def get_config(self) -> Dict[str, Any]:
        return {"backup_dir": self.backup_dir, "save_freq": self.save_freq,
                "double_checkpoint": self.double_checkpoint,
                "delete_checkpoint": self.delete_checkpoint}
