"""Training that nothing loses: a non-finite loss stops fit before it spoils the
weights, Ctrl-C never leaves a half-applied update and keeps the history,
checkpoints survive a process killed in the middle of writing one, and
weights files are checked from their headers before any data is read."""

import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest

import ccnn
from ccnn import Sequential
from ccnn.callbacks import Callback, ModelCheckpoint, TerminateOnNaN
from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from ccnn.optimizers import SGD, Adam


def small_model(optimizer="adam", seed=3):
    ccnn.utils.set_random_seed(seed)
    model = Sequential([Conv2D(4, (3, 3), activation="relu", padding="same",
                               input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dropout(0.25),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, n)


class At(Callback):
    """Runs `action(model)` at the start (when="begin") or end of batch `step` of `epoch`."""

    def __init__(self, epoch, step, action, when="begin"):
        super().__init__()
        self.at, self.action, self.when = (epoch, step), action, when
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.when == "begin" and (self.epoch, batch) == self.at:
            self.action(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.when == "end" and (self.epoch, batch) == self.at:
            self.action(self.model)


def stop(model):
    model.stop_training = True


def interrupt(model):
    raise KeyboardInterrupt


def trained_until(epoch, step, **fit_kw):
    """A model trained exactly through batch `step` of `epoch` (then stopped)."""
    model = small_model()
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0,
              callbacks=[At(epoch, step, stop, when="end")], **fit_kw)
    return model


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------ non-finite loss
def test_nan_loss_stops_fit_before_the_update():
    x, y = data()
    x[40] = np.nan                       # sample 40: batch 2 (of 4) when not shuffled
    model = small_model()
    with pytest.warns(RuntimeWarning, match=r"Epoch 1/3, step 3/4: the loss is nan; "
                                            r"terminating training"):
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    assert model.stop_training
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    assert model.history is history
    assert all(np.isfinite(w).all() for w in model.get_weights())
    # exactly the weights after the two finite batches: the NaN batch changed nothing
    assert_same_weights(model, trained_until(0, 1, shuffle=False))
    assert model.optimizer.iterations == 2


def test_a_non_finite_gradient_with_a_finite_loss_stops_fit_too(monkeypatch):
    x, y = data()
    model = small_model()
    backward = Sequential._loss_and_backward
    calls = [0]

    def poisoned(self, out, y):        # step 3: an overflow in one gradient entry only
        loss = backward(self, out, y)
        calls[0] += 1
        if calls[0] == 3:
            self.layers[-1].grads["kernel"][0, 0] = np.inf
        return loss
    monkeypatch.setattr(Sequential, "_loss_and_backward", poisoned)
    with pytest.warns(RuntimeWarning, match=r"Epoch 1/3, step 3/4: the gradients are not "
                                            r"finite \(the loss is [0-9.]+\); terminating"):
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    monkeypatch.undo()
    assert_same_weights(model, trained_until(0, 1, shuffle=False))


def test_terminate_on_nan_false_trains_on():
    x, y = data()
    x[40] = np.nan
    model = small_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False,
                            terminate_on_nan=False)
    assert not any("terminating" in str(w.message) for w in caught)
    assert history.epoch == [0, 1] and not model.stop_training
    assert not all(np.isfinite(w).all() for w in model.get_weights())  # NaN went in


def test_keras_terminate_on_nan_callback(capsys):
    x, y = data()
    x[40] = np.nan
    model = small_model()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False,
                        terminate_on_nan=False, callbacks=[TerminateOnNaN()])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    assert history.epoch == [0] and model.stop_training


# ------------------------------------------------------------ Ctrl-C
def test_ctrl_c_between_steps_keeps_the_last_completed_step_and_the_history():
    model = small_model()
    x, y = data()
    with pytest.raises(KeyboardInterrupt):   # re-raised, as Keras does
        model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                  callbacks=[At(1, 2, interrupt)])
    reference = trained_until(1, 1)        # epoch 0, then batches 0 and 1 of epoch 1
    assert_same_weights(model, reference)
    assert model.optimizer.iterations == reference.optimizer.iterations == 6
    assert model.history.epoch == [0]      # the completed epoch is kept
    assert model.history.history["loss"] == reference.history.history["loss"][:1]


needs_main_thread = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                       reason="signals reach Python in the main thread only")


def ctrl_c_during_update(monkeypatch, cls, nth):
    """Make cls send this process a SIGINT in the middle of its nth update
    (counted over all steps), as a Ctrl-C during an optimizer step would: after
    the step has begun (the iteration count is already raised) and before any
    parameter has changed."""
    original = cls._update_all
    count = [0]

    def update_all(self, *args):
        count[0] += 1
        if count[0] == nth:
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)             # Python runs the handler here, mid-step
        return original(self, *args)
    monkeypatch.setattr(cls, "_update_all", update_all)
    # patched after the class was made: say its update is no longer the stock kernel
    monkeypatch.setattr(cls, "_plan_kernel", None)


@needs_main_thread
@pytest.mark.parametrize("cls", [Adam, SGD])
def test_ctrl_c_inside_an_optimizer_step_finishes_the_step(monkeypatch, cls):
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(s).astype(np.float32) for s in [(3, 3), (5,), (2, 2, 2)]]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
    twin = [p.copy() for p in params]
    opt = cls(0.1) if cls is Adam else cls(0.1, momentum=0.9)
    twin_opt = cls(0.1) if cls is Adam else cls(0.1, momentum=0.9)
    twin_opt.apply_gradients(zip(grads, twin))
    ctrl_c_during_update(monkeypatch, cls, 1)        # during the first step
    with pytest.raises(KeyboardInterrupt):
        opt.apply_gradients(zip(grads, params))
    assert opt.iterations == 1
    for got, want in zip(params, twin):              # every parameter got its update
        np.testing.assert_array_equal(got, want)
    for got, want in zip(opt.variables, twin_opt.variables):
        np.testing.assert_array_equal(got, want)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@needs_main_thread
def test_ctrl_c_inside_fits_update_applies_that_whole_step(monkeypatch):
    model = small_model()
    x, y = data()
    # during the update of step 6 (epoch 1, batch 1)
    ctrl_c_during_update(monkeypatch, Adam, 6)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    monkeypatch.undo()
    assert_same_weights(model, trained_until(1, 1))
    assert model.optimizer.iterations == 6
    assert model.history.epoch == [0]


@needs_main_thread
def test_interrupt_guard_defers_inside_blocks_only():
    """keyboard_interrupt_guard (fit's one handler for all steps): a SIGINT
    inside a deferred block is raised when the block ends, one outside is
    raised at once, and the previous handler is back afterwards."""
    from ccnn._interrupt import deferred_keyboard_interrupt, keyboard_interrupt_guard
    done = []
    with keyboard_interrupt_guard():
        with pytest.raises(KeyboardInterrupt):
            with deferred_keyboard_interrupt():
                signal.raise_signal(signal.SIGINT)
                time.sleep(0.01)
                done.append("block finished")
        assert done == ["block finished"]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.01)
            done.append("not reached")
        assert done == ["block finished"]
        with deferred_keyboard_interrupt():   # nothing held back from before
            pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------ atomic checkpoints
SAVER = textwrap.dedent(r"""
    # Saves a 2 MB model over and over through a deliberately slow file object,
    # so that a SIGKILL lands in the middle of a save.
    import sys, time
    import numpy as np
    from ccnn import Sequential
    from ccnn.layers import Dense

    path, first = sys.argv[1], int(sys.argv[2])
    model = Sequential([Dense(512, input_shape=(512,)), Dense(512), Dense(10)])
    real_savez = np.savez

    class Slow:
        def __init__(self, f):
            self.f = f
        def write(self, b):
            mv = memoryview(b).cast("B")
            for i in range(0, len(mv), 1 << 16):
                time.sleep(0.002)
                self.f.write(mv[i:i + (1 << 16)])
            return len(mv)
        def __getattr__(self, name):
            return getattr(self.f, name)

    np.savez = lambda file, *a, **kw: real_savez(Slow(file), *a, **kw)
    version = first
    while True:
        for w in model.weights:
            w.fill(version)
        print("saving", version, flush=True)
        model.save_weights(path)
        print("saved", version, flush=True)
        version += 1
""")


def test_checkpoint_survives_sigkill_mid_save(tmp_path):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    ckpt = tmp_path / "ckpt" / "model.weights.npz"
    ckpt.parent.mkdir()
    model = Sequential([Dense(512, input_shape=(512,)), Dense(512), Dense(10)])
    rand = random.Random(os.getpid())
    first, mid_save = 0, 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(ckpt), str(first)],
                                stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        lines = []
        try:
            while True:                      # two complete saves, then the third starts
                line = proc.stdout.readline()
                assert line, "the saver died"
                lines.append(line.split())
                if lines[-1] == ["saving", str(first + 2)]:
                    break
            time.sleep(rand.uniform(0, 0.06))  # a save takes > 64 ms
        finally:
            proc.kill()                      # SIGKILL: no cleanup of any kind
            rest = proc.communicate()[0]
        lines += [line.split() for line in rest.splitlines()]
        saved = [int(v) for what, v in lines if what == "saved"]
        in_flight = int(lines[-1][1]) if lines[-1][0] == "saving" else None
        mid_save += in_flight is not None

        model.load_weights(ckpt)             # the file is complete and loads
        values = {float(v) for w in model.weights for v in np.unique(w)}
        assert len(values) == 1, f"a mix of versions: {values}"
        assert values.pop() in {max(saved), in_flight}   # the last save, or the one cut off
        for f in ckpt.parent.iterdir():     # the only other files: hidden temporaries
            assert f == ckpt or (f.name.startswith("." + ckpt.name + ".")
                                 and f.name.endswith(".tmp")), f
        first = max(saved) + 10
    print(f"{mid_save}/3 kills landed inside a save")
    assert mid_save >= 1, "no kill landed inside a save"


def test_model_checkpoint_writes_atomically(tmp_path, monkeypatch):
    """A save that fails half-way (here: the disk 'fills up') leaves the previous
    checkpoint and no temporary file."""
    model = small_model()
    x, y = data()
    path = tmp_path / "best.weights.npz"
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


# ------------------------------------------------------------ weights files
def npz_with(tmp_path, name, members):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, payload in members.items():
            z.writestr(member, payload)
    return path


def npy_header(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_weights_file_members_are_checked_from_their_headers(tmp_path):
    model = Sequential([Dense(3, input_shape=(4,))])
    before = model.get_weights()
    bias = npy(np.zeros(3, np.float32))

    raw = npz_with(tmp_path, "raw.npz", {"layer0/kernel": b"hello", "layer0/bias.npy": bias})
    with pytest.raises(ValueError, match=r"raw.npz: not a ccnn weights file: its member "
                                         r"'layer0/kernel' is not a .npy array"):
        model.load_weights(raw)

    # a header announcing 32 GiB: refused from the header, nothing allocated or read
    huge = npz_with(tmp_path, "huge.npz", {"layer0/kernel.npy": npy_header((2 ** 33,)) + b"\0" * 64,
                                           "layer0/bias.npy": bias})
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"do not match this model.*layer0/kernel: file has "
                                         r"float32\[8589934592\]"):
        model.load_weights(huge)
    assert time.perf_counter() - t0 < 1

    objects = npz_with(tmp_path, "obj.npz", {"layer0/kernel.npy": npy_header((4, 3), "|O"),
                                             "layer0/bias.npy": bias})
    with pytest.raises(ValueError, match="pickled Python objects"):
        model.load_weights(objects)

    bad_header = npz_with(tmp_path, "hdr.npz", {"layer0/kernel.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': oops}",
                                                "layer0/bias.npy": bias})
    with pytest.raises(ValueError, match="hdr.npz: corrupt weights file"):
        model.load_weights(bad_header)
    for a, b in zip(model.get_weights(), before):   # nothing was changed
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ dataset files
def test_every_truncation_or_bit_flip_of_a_gz_dataset_file_is_caught(tmp_path):
    """Cut a gzipped IDX file at every byte, or flip any one bit: read_idx raises
    DatasetError naming the file -- never returns a partial or altered array."""
    import gzip
    import hashlib
    from ccnn.datasets import fashion_mnist as fm

    labels = np.arange(300, dtype=np.uint8) % 10
    raw = (0x801).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes()
    blob = gzip.compress(raw, mtime=0)
    sha = hashlib.sha256(raw).hexdigest()
    np.testing.assert_array_equal(fm.read_idx(blob, kind="labels", sha256=sha), labels)
    f = tmp_path / "labels-idx1-ubyte.gz"
    for cut in range(len(blob)):
        f.write_bytes(blob[:cut])
        with pytest.raises(fm.DatasetError, match="labels-idx1-ubyte.gz: ") as info:
            fm.read_idx(f, kind="labels", sha256=sha)
        assert info.value.path == f
    rand = random.Random(0)
    for _ in range(200):
        bad = bytearray(blob)
        bad[rand.randrange(len(bad))] ^= 1 << rand.randrange(8)
        try:
            got = fm.read_idx(bytes(bad), kind="labels", sha256=sha)
        except fm.DatasetError:
            continue
        np.testing.assert_array_equal(got, labels)  # a flip in an unused header field
