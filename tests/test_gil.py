"""The kernels release the GIL, and concurrent calls from many Python threads
give the results of the same calls made one after the other.

The GIL checks count instead of timing (see _gilcheck.py): another Python
thread keeps incrementing a counter; with the interpreter's forced switching
switched off, the counter can move during a call only if the call releases
the GIL itself.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import _activation, _conv2d, _correlate, _loss, _optim, _pool
from _gilcheck import increments_during, releases_gil


@pytest.fixture
def one_thread():
    """Kernels on one OpenMP thread, leaving the other core to the counter."""
    old = ccnn.get_num_threads()
    ccnn.set_num_threads(1)
    yield
    ccnn.set_num_threads(old)


def _rng():
    return np.random.default_rng(1234)


def test_method_tells_a_held_gil_apart(one_thread):
    """Pure Python holds the GIL: the counter does not move, however long it runs."""
    def python_loop():
        s = 0
        for i in range(300_000):
            s += i
        return s

    assert increments_during(python_loop, repeats=3) == 0
    values = np.random.default_rng(0).random(500_000).tolist()
    assert increments_during(lambda: sorted(values), repeats=2) == 0  # C code holding it
    # and releases_gil, however often it repeats them, never takes them for releasing it
    assert not releases_gil(python_loop) and not releases_gil(lambda: sorted(values))


def test_conv2d_releases_the_gil(one_thread):
    """The counter thread keeps counting while a long conv2d runs."""
    rng = _rng()
    x = rng.standard_normal((16, 32, 28, 28), dtype=np.float32)
    w = rng.standard_normal((64, 32, 3, 3), dtype=np.float32)
    b = rng.standard_normal(64, dtype=np.float32)
    y = F.conv2d(x, w, b, padding=1)  # warm up (workspace allocation)
    assert _advances(lambda: F.conv2d(x, w, b, padding=1))
    g = rng.standard_normal(y.shape, dtype=np.float32)
    assert _advances(lambda: F.conv2d_backward(g, x, w, padding=1))


# The bindings themselves (no argument checks, no copies, no numpy work that
# could release the GIL in their place): each call is mostly its kernel.
def _binding_calls():
    rng = _rng()
    x4 = rng.standard_normal((16, 16, 64, 64))                       # float64
    pads = (1, 1, 1, 1)
    y, idx = _pool.max_pool2d_forward(x4, (3, 3), (1, 1), pads, False, True, 1)
    flat = rng.standard_normal(4_000_000)
    logits = rng.standard_normal((200_000, 10))
    labels = rng.integers(0, 10, 200_000).astype(np.int64)
    probs = _loss.softmax_forward(logits, 1)
    mask = (rng.random(flat.size) > 0.5).astype(np.uint8)
    p, m, v, grad = (rng.standard_normal(2_000_000) for _ in range(4))
    a2, v2 = rng.standard_normal((600, 600)), rng.standard_normal((15, 15))
    w4 = rng.standard_normal((16, 16, 3, 3))
    return {
        "conv2d_forward direct": lambda: _conv2d.conv2d_forward(
            x4[:4], w4, None, (1, 1), (1, 1), pads, 1, "direct"),
        "conv2d_forward gemm": lambda: _conv2d.conv2d_forward(
            x4[:4], w4, None, (1, 1), (1, 1), pads, 1, "gemm"),
        "max_pool2d_forward": lambda: _pool.max_pool2d_forward(
            x4, (3, 3), (1, 1), pads, False, True, 1),
        "max_pool2d_backward": lambda: _pool.max_pool2d_backward(
            y, idx, x4.shape, (3, 3), (1, 1), pads, False, 1),
        "avg_pool2d_forward": lambda: _pool.avg_pool2d_forward(
            x4, (3, 3), (1, 1), pads, False, True, 1),
        "avg_pool2d_backward": lambda: _pool.avg_pool2d_backward(
            y, x4.shape, (3, 3), (1, 1), pads, False, True, 1),
        "relu_forward": lambda: _activation.relu_forward(flat, 1),
        "relu_backward": lambda: _activation.relu_backward(flat, flat, 1),
        "dropout_apply": lambda: _activation.dropout_apply(flat, mask, 2.0, 1),
        "correlate2d": lambda: _correlate.correlate2d(a2, v2, (614, 614), (0, 0), True, 1),
        "softmax_forward": lambda: _loss.softmax_forward(logits, 1),
        "softmax_backward": lambda: _loss.softmax_backward(probs, probs, 1),
        "softmax_xent_forward": lambda: _loss.softmax_xent_forward(logits, labels, 1),
        "softmax_xent_backward": lambda: _loss.softmax_xent_backward(probs, labels, 1),
        "softmax_xent_dense_forward": lambda: _loss.softmax_xent_dense_forward(logits, probs, 1),
        "softmax_xent_dense_backward": lambda: _loss.softmax_xent_dense_backward(
            probs, probs, 1),
        "adam_update": lambda: _optim.adam_update(p, m, v, grad, 1e-3, 0.9, 0.999, 1e-7, 1),
        "sgd_update": lambda: _optim.sgd_update(p, m, grad, 1e-3, 0.9, True, 1),
    }


@pytest.fixture(scope="module")
def binding_calls():
    return _binding_calls()


def _advances(call):
    """Does the counter move while `call` runs?  _gilcheck.releases_gil repeats
    the call until it does, or until the calls have lasted many times the
    counter's own period as measured under the current load (a short call on
    a busy machine is not taken for a held GIL); a call that holds the GIL
    never lets the counter move, however often it is repeated."""
    return releases_gil(call)


@pytest.mark.parametrize("name", sorted(
    ["conv2d_forward direct", "conv2d_forward gemm", "max_pool2d_forward",
     "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward", "relu_forward",
     "relu_backward", "dropout_apply", "correlate2d", "softmax_forward", "softmax_backward",
     "softmax_xent_forward", "softmax_xent_backward", "softmax_xent_dense_forward",
     "softmax_xent_dense_backward", "adam_update", "sgd_update"]))
def test_every_kernel_releases_the_gil(binding_calls, name):
    call = binding_calls[name]
    call()  # warm up
    assert _advances(call), f"{name} held the GIL"


# ------------------------------------------------------------ thread safety
def _workload(seed, dtype):
    """Every kind of kernel call, on inputs of its own; returns the results."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 6, 17, 15)).astype(dtype)
    out = {}
    for k in (4, 16):  # typically the direct and the GEMM conv paths
        w = rng.standard_normal((k, 6, 3, 3)).astype(dtype)
        b = rng.standard_normal(k).astype(dtype)
        for kw in (dict(padding="same"), dict(stride=2, padding=((1, 2), (0, 1))),
                   dict(dilation=2, padding=2)):
            y = F.conv2d(x, w, b, **kw)
            gy = rng.standard_normal(y.shape).astype(dtype)
            out[f"conv{k}{kw}"] = y
            out[f"conv_grads{k}{kw}"] = F.conv2d_backward(gy, x, w, **kw)
    y, idx = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True)
    gy = rng.standard_normal(y.shape).astype(dtype)
    out["maxpool"] = (y, idx, F.max_pool2d_backward(gy, x, 3, stride=2, padding=1,
                                                      ceil_mode=True, indices=idx))
    out["avgpool"] = (F.avg_pool2d(x, 2), F.avg_pool2d_backward(
        rng.standard_normal((3, 6, 8, 7)).astype(dtype), x, 2))
    big = rng.standard_normal(70_000).astype(dtype)
    out["relu"] = (F.relu(big), F.relu_backward(big[::-1], big))
    out["dropout"] = F.dropout(big, 0.25, seed=seed)
    out["correlate"] = (F.correlate(x[0, 0], x[1, 1], "same"), F.convolve(big[:300], big[:7]))
    logits = rng.standard_normal((64, 10)).astype(dtype)
    labels = rng.integers(0, 10, 64)
    loss, probs = ccnn.losses.sparse_softmax_cross_entropy(logits, labels)
    out["xent"] = (loss, probs, ccnn.losses.sparse_softmax_cross_entropy_backward(probs, labels))
    params = [rng.standard_normal((50, 40)).astype(dtype), rng.standard_normal(40).astype(dtype)]
    opt = ccnn.optimizers.Adam(0.01)
    for _ in range(3):
        opt.apply_gradients([(rng.standard_normal(p.shape), p) for p in params])
    out["adam"] = params
    return out


def _assert_same(a, b, path="result"):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{path}[{i}]")
    elif a is None:
        assert b is None
    else:
        np.testing.assert_array_equal(a, b, err_msg=path)


@pytest.mark.parametrize("kernel_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concurrent_calls_match_serial_ones(kernel_threads, dtype):
    """16 jobs on 8 Python threads, all started together, each job with its own
    inputs: every result equals the one computed alone (bit for bit)."""
    old = ccnn.get_num_threads()
    ccnn.set_num_threads(kernel_threads)
    try:
        seeds = list(range(16))
        expected = {s: _workload(s, dtype) for s in seeds}
        barrier = threading.Barrier(8)

        def job(seed):
            if seed < 8:
                barrier.wait()
            return seed, _workload(seed, dtype)

        for _ in range(2):
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = dict(pool.map(job, seeds))
            for s in seeds:
                _assert_same(results[s], expected[s], f"seed {s}")
    finally:
        ccnn.set_num_threads(old)


def test_model_predicts_concurrently():
    """One trained model, predict() called from several threads at once."""
    from ccnn.layers import Conv2D, Dense, Flatten, MaxPooling2D

    ccnn.utils.set_random_seed(5)
    model = ccnn.Sequential([Conv2D(4, 3, activation="relu", padding="same",
                                    input_shape=(12, 12, 1)), MaxPooling2D(),
                             Flatten(), Dense(10, activation="softmax")])
    x = np.random.default_rng(6).random((64, 12, 12, 1)).astype(np.float32)
    batches = [x[i::4] for i in range(4)]
    want_parts = [model.predict(b) for b in batches]
    # Layers keep their last batch on self (for backward), so concurrent
    # training of one model is not supported; a server predicts with one
    # deep copy of the model per thread, as here.
    import copy
    models = [copy.deepcopy(model) for _ in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda mb: mb[0].predict(mb[1]), zip(models, batches)))
    for g, w in zip(got, want_parts):
        np.testing.assert_array_equal(g, w)
