"""ccnn.profiler.kernel_timer: counts the calls into the C kernels, and puts
every binding back as it was."""
import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import _conv2d, _optim, layers, profiler


def test_counts_the_kernel_calls_a_functional_op_makes():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    with profiler.kernel_timer() as t:
        y = F.conv2d(x, w, padding=1)
        F.conv2d(x, w, padding=1)
    assert y.shape == (2, 4, 8, 8)
    assert t.by_kernel["_conv2d.conv2d_forward"][0] == 2
    assert t.calls >= 2          # (and the queries it makes: workspace_bytes)
    assert 0 < t.kernel_seconds
    assert "_conv2d.conv2d_forward" in t.table() and "total" in t.table()


def test_a_training_step_is_mostly_accounted_for():
    model = ccnn.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
                             layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((4, 8, 8, 1), np.float32)
    y = np.zeros((4, 3), np.float32)
    import time
    with profiler.kernel_timer() as t:
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        wall = time.perf_counter() - t0
    assert t.by_kernel["_optim.adam_step"][0] == 1      # one fused update per step
    assert 0 < t.kernel_seconds <= wall


def test_bindings_are_restored_even_after_an_error():
    before = (_conv2d.conv2d_forward, _optim.adam_step)
    with pytest.raises(ZeroDivisionError):
        with profiler.kernel_timer():
            assert _conv2d.conv2d_forward is not before[0]       # wrapped while on
            1 / 0
    assert (_conv2d.conv2d_forward, _optim.adam_step) == before


def test_does_not_nest():
    with profiler.kernel_timer():
        with pytest.raises(RuntimeError, match="does not nest"):
            with profiler.kernel_timer():
                pass
    with profiler.kernel_timer() as t:      # usable again afterwards
        pass
    assert t.calls == 0 and t.kernel_seconds == 0


def test_the_bookkeeping_functions_are_not_counted_as_kernels():
    """The training loop's accuracy count and label check (profiler.SKIP) run
    unwrapped: a fit with sparse labels and accuracy counts neither."""
    from ccnn import _loss
    skipped = {"_loss.argmax_matches", "_loss.label_range"}
    assert profiler.SKIP == skipped
    before = (_loss.argmax_matches, _loss.label_range)
    model = ccnn.Sequential([layers.Flatten(input_shape=(4, 4, 1)), layers.Dense(3),
                             layers.Activation("softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((8, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    out = rng.random((8, 3)).astype(np.float32)
    with profiler.kernel_timer() as t:
        assert (_loss.argmax_matches, _loss.label_range) == before     # not wrapped
        assert _loss.argmax_matches(out, y) == np.count_nonzero(out.argmax(1) == y)
        assert _loss.label_range(y) == (y.min(), y.max())
        assert t.calls == 0 and t.kernel_seconds == 0
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert t.calls > 0 and not skipped & set(t.by_kernel), t.by_kernel
    assert t.kernel_seconds == sum(s for _, s in t.by_kernel.values())
