"""Memory: nothing leaks.

Every kernel (forward and backward) and a whole training step run thousands
of times, after a warm-up, without growing the process: a call allocates its
outputs (freed with them) and reuses the per-thread C workspaces
(csrc/kernels/gemm.c, ccnn_workspace), nothing more.  Threads that call the kernels
and exit -- Python threads, and the OpenMP team each one starts -- leave
nothing behind either: their workspaces are freed when they end.

Resident memory is read from /proc/self/statm (Linux only).  Each kernel's
output is a few KiB, so leaking it -- or anything of that size -- on every
call would grow the process by far more than the bound.
"""

import gc
import os
import threading

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import Sequential
from ccnn import losses as L
from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from ccnn.optimizers import SGD, Adam

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="reads resident memory from /proc/self/statm")

CALLS = 2000
WARMUP = 200
BOUND = 1 << 20           # bytes of resident growth allowed over CALLS calls (after warm-up)
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@pytest.fixture(autouse=True)
def one_thread():
    """Most tests run the kernels on one OpenMP thread: quick and steady even on a
    busy machine (test_openmp_team_calls and the thread test use two)."""
    old = ccnn.get_num_threads()
    ccnn.set_num_threads(1)
    yield
    ccnn.set_num_threads(old)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def growth(fn, calls=CALLS, warmup=WARMUP):
    """Resident bytes gained over `calls` calls of fn, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    gc.collect()
    before = rss()
    for _ in range(calls):
        fn()
    gc.collect()
    return rss() - before


rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)       # direct conv2d
W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
XG = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)      # implicit-GEMM conv2d
WG = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
P = rng.standard_normal((2, 4, 16, 16)).astype(np.float64)        # pooling, relu, dropout
Z = rng.standard_normal((64, 10)).astype(np.float32)              # loss
LABELS = rng.integers(0, 10, 64)
ONEHOT = np.eye(10, dtype=np.float32)[LABELS]
A2, V2 = rng.standard_normal((16, 16)), rng.standard_normal((3, 3))


def conv_direct():
    y = F.conv2d(X, W, padding=1)
    F.conv2d_backward(y, X, W, padding=1)


def conv_gemm():
    y = F.conv2d(XG, WG, padding="same", stride=1)
    F.conv2d_backward(y, XG, WG, padding="same")


def max_pool():
    y, idx = F.max_pool2d(P, 2, return_indices=True)
    F.max_pool2d_backward(y, P, 2, indices=idx)
    y = F.max_pool2d(P, 3, stride=2, padding=1, ceil_mode=True)
    F.max_pool2d_backward(y, P, 3, stride=2, padding=1, ceil_mode=True)


def avg_pool():
    y = F.avg_pool2d(P, 3, stride=2, padding=1, count_include_pad=False)
    F.avg_pool2d_backward(y, P, 3, stride=2, padding=1, count_include_pad=False)


def relu_dropout():
    y = F.relu(P)
    F.relu_backward(y, P)
    d, mask = F.dropout(P, 0.5, seed=1)
    F.dropout_backward(d, mask, 0.5)


def correlate():
    F.correlate(A2, V2, "full")
    F.convolve(A2, V2, "same")
    F.correlate(A2[0], V2[0], "valid")


def loss():
    _, p = L.sparse_softmax_cross_entropy(Z, LABELS)
    L.sparse_softmax_cross_entropy_backward(p, LABELS)
    _, p = L.softmax_cross_entropy(Z, ONEHOT)
    L.softmax_cross_entropy_backward(p, ONEHOT)
    L.softmax_backward(Z, L.softmax(Z))


def optimizer_updates():
    PARAMS = [np.zeros((3, 3, 8), np.float32), np.zeros(500)]
    adam, sgd = Adam(), SGD(0.01, momentum=0.9, nesterov=True)
    grads = [np.ones_like(p) for p in PARAMS]

    def step():
        adam.apply_gradients(zip(grads, PARAMS))
        sgd.apply_gradients(zip(grads, PARAMS))
    return step


KERNELS = {"conv2d_direct": conv_direct, "conv2d_gemm": conv_gemm, "max_pool2d": max_pool,
           "avg_pool2d": avg_pool, "relu_dropout": relu_dropout, "correlate": correlate,
           "softmax_xent": loss, "adam_sgd": optimizer_updates()}


@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_calls_do_not_grow_memory(name):
    grown = growth(KERNELS[name])
    print(f"\n{name}: {grown / 1024:.0f} KiB over {CALLS} calls")
    assert grown < BOUND, (f"{name}: resident memory grew by {grown / 1024:.0f} KiB over "
                           f"{CALLS} calls ({grown / CALLS:.0f} bytes per call)")


@pytest.mark.parametrize("name", ["conv2d_direct", "conv2d_gemm"])
def test_openmp_team_calls_do_not_grow_memory(name):
    """The same with two OpenMP threads: the team's workers reuse their workspaces."""
    ccnn.set_num_threads(2)
    grown = growth(KERNELS[name], calls=150, warmup=20)   # slow when the cores are busy
    print(f"\n{name}, 2 threads: {grown / 1024:.0f} KiB over 150 calls")
    assert grown < BOUND, f"{name}: {grown / 1024:.0f} KiB over 150 calls on two threads"


def small_model(optimizer):
    ccnn.utils.set_random_seed(0)
    model = Sequential([Conv2D(4, (3, 3), activation="relu", padding="same",
                               input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dropout(0.25),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_steps_do_not_grow_memory(optimizer):
    model = small_model(optimizer)
    x = rng.random((16, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    grown = growth(lambda: model.train_on_batch(x, y))
    print(f"\ntrain_on_batch ({optimizer}): {grown / 1024:.0f} KiB over {CALLS} steps")
    assert grown < BOUND, f"{grown / 1024:.0f} KiB over {CALLS} training steps"


def test_fit_epochs_do_not_grow_memory():
    model = small_model("adam")
    x = rng.random((64, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    grown = growth(lambda: model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                                     validation_split=0.25), calls=200, warmup=20)
    print(f"\nfit: {grown / 1024:.0f} KiB over 200 epochs")
    assert grown < BOUND, f"{grown / 1024:.0f} KiB over 200 fit() calls"


def test_threads_that_exit_leave_nothing_behind():
    """Each thread that runs a kernel gets its own workspaces (and, with two
    OpenMP threads, a team of its own whose workers get theirs); all of it is
    freed when the thread exits.  (Before that fix every such thread leaked
    its workspaces: about 130 KiB resident, 2 MiB of address space.)"""
    ccnn.set_num_threads(2)

    def churn(count):
        for _ in range(count):
            t = threading.Thread(target=conv_gemm)
            t.start()
            t.join()
    churn(20)  # warm-up: glibc's per-thread arenas, libgomp's pools
    gc.collect()
    before = rss()
    churn(100)
    gc.collect()
    grown = rss() - before
    print(f"\n100 threads: {grown / 1024:.0f} KiB")
    assert grown < 4 * BOUND, f"100 short-lived threads grew the process by {grown / 1024:.0f} KiB"
