"""BackupAndRestore: an interrupted fit resumes at the right epoch with the
weights and the optimizer state it had, ending exactly where an uninterrupted
fit ends; the backup file is atomic, checked, and removed at the end."""
from __future__ import annotations

import os

import numpy as np
import pytest

import ccnn
from ccnn import layers as L
from ccnn.callbacks import BackupAndRestore, Callback


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
    return x, rng.integers(0, 3, 64)


def _model():
    model = ccnn.Sequential([ccnn.Input((6, 6, 1)), L.Conv2D(4, 3, activation="relu"),
                             L.BatchNormalization(), L.Flatten(), L.Dropout(0.2),
                             L.Dense(3, activation="softmax")])
    model.compile(ccnn.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


class _Interrupt(Callback):
    """Raises KeyboardInterrupt at the end of epoch `at` (0-based)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


class _Seed(Callback):
    """Seeds ccnn's generator at each epoch's start, so that an epoch's shuffle
    and dropout masks do not depend on the epochs before it."""

    def on_epoch_begin(self, epoch, logs=None):
        ccnn.utils.set_random_seed(100 + epoch)


def test_an_interrupted_fit_resumes_exactly(tmp_path):
    x, y = _data()
    ccnn.utils.set_random_seed(1)
    straight = _model()
    hist = straight.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[_Seed()])

    ccnn.utils.set_random_seed(1)
    model = _model()
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, batch_size=16, verbose=0,
                  callbacks=[_Seed(), BackupAndRestore(backup), _Interrupt(2)])
    assert (backup / "latest.weights.npz").exists()
    # a new process: a new model object, the same code
    ccnn.utils.set_random_seed(1)
    again = _model()
    seen = []
    rest = again.fit(x, y, epochs=5, batch_size=16, verbose=0,
                     callbacks=[_Seed(), BackupAndRestore(backup),
                                ccnn.callbacks.LambdaCallback(
                                    on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [3, 4]                                    # epochs 0-2 were done
    assert again.optimizer.iterations == straight.optimizer.iterations == 20
    for a, b in zip(again.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(rest.history["loss"], hist.history["loss"][3:])
    assert not backup.exists()                               # deleted at the end


def test_save_freq_in_batches_keep_and_bad_arguments(tmp_path):
    x, y = _data()
    model = _model()
    backup = tmp_path / "b"
    backup.mkdir()
    (backup / "mine.txt").write_text("user data")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                  callbacks=[BackupAndRestore(backup, save_freq=3, double_checkpoint=True),
                             _Interrupt(1)])
    assert (backup / "latest.weights.npz").exists()
    assert (backup / "latest.weights.npz.bkp").exists()
    again = _model()
    seen = []
    again.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[BackupAndRestore(backup, delete_checkpoint=True),
                         ccnn.callbacks.LambdaCallback(
                             on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [1, 2]          # saved mid-epoch 1 (batch 6 of 8): epoch 1 runs again
    assert sorted(os.listdir(backup)) == ["mine.txt"]         # only its own files removed
    for bad in (dict(backup_dir=""), dict(backup_dir="x", save_freq=0),
                dict(backup_dir="x", save_freq="batch"), dict(backup_dir="x", save_freq=True)):
        with pytest.raises(ValueError):
            BackupAndRestore(**bad)


def test_a_damaged_backup_is_a_clear_error_and_the_previous_one_is_used(tmp_path):
    x, y = _data()
    backup = tmp_path / "b"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, batch_size=16, verbose=0,
                  callbacks=[BackupAndRestore(backup, double_checkpoint=True), _Interrupt(2)])
    latest = backup / "latest.weights.npz"
    latest.write_bytes(latest.read_bytes()[:100])             # truncated
    seen = []
    _model().fit(x, y, epochs=4, batch_size=16, verbose=0,
                 callbacks=[BackupAndRestore(backup, double_checkpoint=True),
                            ccnn.callbacks.LambdaCallback(
                                on_epoch_begin=lambda e, logs: seen.append(e))])
    assert seen == [2, 3]                                     # the .bkp (after epoch 1)
    backup.mkdir()
    latest.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="weights file"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(backup)])
    other = ccnn.Sequential([ccnn.Input((6, 6, 1)), L.Flatten(), L.Dense(3)])
    other.compile("adam", "sparse_categorical_crossentropy")
    other.save_weights(latest, include_optimizer=False)
    with pytest.raises(ValueError, match="not a BackupAndRestore backup"):
        other.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(backup)])
