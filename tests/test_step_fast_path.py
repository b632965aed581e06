"""The training step's fast paths (issue 18) give exactly the results of the
regular path: the fused head's loss without a second label check
(SoftmaxCrossEntropy.loss_checked), the optimizer's one-call update for
gradients of one dtype and its quick pair check, the regularization loops
skipping layers without regularizers, the callback list skipping hooks that
are Callback's no-ops.  The reference run turns each of them off."""

import numpy as np
import pytest

import ccnn
from ccnn import layers
from ccnn.callbacks import Callback
from ccnn.layers.fused import _LossFromLogits
from ccnn.models import trainer
from ccnn.optimizers import Adam, base_optimizer


def book_model(dtype, seed=0):
    m = ccnn.Sequential([
        layers.Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1),
                      dtype=dtype),
        layers.MaxPooling2D((2, 2), dtype=dtype), layers.Flatten(dtype=dtype),
        layers.Dropout(0.5, seed=7, dtype=dtype), layers.Dense(100, activation="relu", dtype=dtype),
        layers.Dense(10, activation="softmax", dtype=dtype)])
    rng = np.random.default_rng(seed)
    m.set_weights([rng.uniform(-0.2, 0.2, w.shape).astype(dtype) for w in m.get_weights()])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def update_all_regular(self, pairs, nthreads):
    """Optimizer._update_all's loop over the dtypes, as before the one-dtype path."""
    grads = [g for g, _ in pairs]
    params = [p for _, p in pairs]
    gscale = self._grad_scales(grads, nthreads)
    decay = self._decays(params)
    clipvalue = self.clipvalue or 0.0
    for dtype in (np.float32, np.float64):
        idx = [i for i, p in enumerate(params) if p.dtype == dtype]
        if idx:
            flat, state = self._flat_state([params[i] for i in idx])
            self._step(flat, state, [grads[i].reshape(-1) for i in idx],
                       None if gscale is None else gscale[idx], clipvalue,
                       None if decay is None else decay[idx], nthreads)


def train(dtype, x, y, regular, monkeypatch):
    with monkeypatch.context() as mp:
        if regular:
            mp.setattr(_LossFromLogits, "loss_checked",
                       lambda self, out, yb: self.loss(out, yb))
            mp.setattr(base_optimizer, "_FLOATS", ())       # the quick pair check never fits
            mp.setattr(base_optimizer.Optimizer, "_update_all", update_all_regular)
            mp.setattr(Adam, "_plan_kernel", None)      # the update stays apply_gradients
            mp.setattr(trainer, "_regularized", list)
        m = book_model(dtype)
        losses = [m.train_on_batch(x[:32], y[:32]) for _ in range(3)]
        hist = m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return m.get_weights(), losses, hist.history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_step_equals_regular_step(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.random((64, 28, 28, 1)).astype(dtype)
    y = rng.integers(0, 10, 64)
    w_fast, l_fast, h_fast = train(dtype, x, y, False, monkeypatch)
    w_reg, l_reg, h_reg = train(dtype, x, y, True, monkeypatch)
    assert l_fast == l_reg
    assert h_fast == h_reg
    for a, b in zip(w_fast, w_reg):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)


def test_loss_checked_equals_loss():
    """The head's loss_checked against loss for sparse labels (the fast
    branch) and for one-hot targets (the fallback)."""
    for loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        m = book_model("float32")
        m.compile(optimizer="adam", loss=loss)
        rng = np.random.default_rng(3)
        x = rng.random((8, 28, 28, 1)).astype("float32")
        y = rng.integers(0, 10, 8)
        yy = m._prepare_y(y if loss.startswith("sparse") else np.eye(10)[y], 8)
        out = m._forward(x, training=False)
        head = m._execution_plan().head
        a, da = head.loss_checked(out, yy)
        da = da.copy()
        b, db = head.loss(out, yy)
        assert a == b
        np.testing.assert_array_equal(da, db)


def test_labels_still_checked_before_the_step():
    m = book_model("float32")
    x = np.zeros((4, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        m.train_on_batch(x, np.array([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="out of range"):
        m.fit(x, np.array([0, -1, 2, 3]), verbose=0)


def test_regularizers_still_applied():
    """A layer with a weight regularizer is in _regularized; the step adds its
    penalty (the loss differs from the same model without it)."""
    base = book_model("float64")
    reg = book_model("float64")
    reg.layers[-2].regularizers["kernel"] = ccnn.regularizers.L2(0.1)
    assert trainer._regularized(reg.layers) == [reg.layers[-2]]
    assert trainer._regularized(base.layers) == []
    x = np.random.default_rng(0).random((8, 28, 28, 1))
    y = np.arange(8)
    assert reg.train_on_batch(x, y)[0] > base.train_on_batch(x, y)[0]


def test_callback_hooks_called_only_when_overridden():
    calls = []

    class Batches(Callback):
        def on_train_batch_end(self, batch, logs=None):
            calls.append((batch, sorted(logs)))

    m = book_model("float32")
    x = np.zeros((8, 28, 28, 1), np.float32)
    m.fit(x, np.arange(8), batch_size=4, verbose=0, callbacks=[Batches(), Callback()])
    assert calls == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
