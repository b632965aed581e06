"""Convolution and dense layers with an elementwise activation applied block by
block while the output is in cache (csrc/kernels/act_epilogue.c): the
pre-activation against the NumPy convolution / dense references, the output
against the NumPy activation references of tests/reference.py, for batches
that cross the block size, both dtypes and any thread count; and the layers
(Conv2D / Dense with activation='sigmoid', ...) that use them."""
from __future__ import annotations

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import activations, layers

import reference as ref
from _testutils import DTYPES, assert_close

KINDS = ["sigmoid", "tanh", "gelu", "silu", "elu", "leaky_relu", "hard_silu", "softplus"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_act_matches_the_references(seed, dtype):
    rng = np.random.default_rng(seed)
    name = KINDS[seed % len(KINDS)]
    kind, alpha = activations.pointwise_kind(name)
    n = [1, 7, 8, 9, 17, 3][seed % 6]              # across the 8-image blocks
    c, k, h = int(rng.integers(1, 5)), int(rng.integers(1, 7)), int(rng.integers(3, 10))
    x = rng.normal(size=(n, c, h, h + 1)).astype(dtype)
    w = rng.normal(size=(k, c, 3, 3)).astype(dtype)
    b = rng.normal(size=k).astype(dtype) if seed % 2 else None
    stride = (1 + seed % 2, 1)
    y, z = F.conv2d_act_unchecked(x, w, b, stride, (1, 1), (1, 1, 0, 1), kind, alpha)
    want_z = ref.conv2d_ref(x.astype(np.float64), w.astype(np.float64),
                            None if b is None else b.astype(np.float64), stride,
                            ((1, 1), (0, 1)))
    assert y.dtype == z.dtype == dtype and y.shape == z.shape == want_z.shape
    assert_close(z, want_z.astype(dtype), dtype, scale=np.abs(want_z).max() + 1)
    assert_close(y, ref.pointwise_ref(kind, z.astype(np.float64), alpha)[0].astype(dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 255, 256, 300, 600])
def test_dense_act_matches_the_references(n, dtype):
    rng = np.random.default_rng(n)
    name = KINDS[n % len(KINDS)]
    kind, alpha = activations.pointwise_kind(name)
    x = rng.normal(size=(n, 13)).astype(dtype)
    kernel = rng.normal(size=(13, 6)).astype(dtype)
    bias = rng.normal(size=6).astype(dtype)
    y, z = F.dense_act_unchecked(x, kernel, bias, kind, alpha)
    want_z = ref.dense_ref(x.astype(np.float64), kernel.astype(np.float64),
                           bias.astype(np.float64))
    assert_close(z, want_z.astype(dtype), dtype, scale=np.abs(want_z).max() + 1)
    assert_close(y, ref.pointwise_ref(kind, z.astype(np.float64), alpha)[0].astype(dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_same_on_any_thread_count_and_as_the_unfused_ops(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(19, 8, 14, 14)).astype(dtype)
    w = rng.normal(size=(16, 8, 3, 3)).astype(dtype)
    xd = rng.normal(size=(700, 40)).astype(dtype)
    k = rng.normal(size=(40, 30)).astype(dtype)
    before = ccnn.get_num_threads()
    runs = []
    try:
        for t in (1, 2):
            ccnn.set_num_threads(t)
            runs.append(F.conv2d_act_unchecked(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1),
                                               "gelu", 0.0)
                        + F.dense_act_unchecked(xd, k, None, "silu", 0.0))
    finally:
        ccnn.set_num_threads(before)
    for a, c in zip(*runs):
        np.testing.assert_array_equal(a, c)
    y, z = runs[0][:2]
    unfused = F.conv2d(x, w, padding=1)
    assert_close(z, unfused, dtype, scale=np.abs(unfused).max())
    np.testing.assert_array_equal(y, F.gelu(z))       # the same kernel on the same z


def test_a_bad_kind_is_refused_before_anything_runs():
    x = np.zeros((2, 1, 4, 4), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="activation kind"):
        ccnn._conv2d.conv2d_act_forward(x, w, None, (1, 1), (1, 1), (0, 0, 0, 0), 999, 0.0, 1)
    with pytest.raises(ValueError, match="activation kind"):
        ccnn._dense.dense_act_forward(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32),
                                      None, -1, 0.0, 1)


@pytest.mark.parametrize("name", ["sigmoid", "gelu", "selu"])
def test_layers_use_it_and_give_the_unfused_result(name):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 6, 6, 2)).astype("float32")
    conv = layers.Conv2D(4, 3, activation=name)
    y = conv(x)
    z = F.conv2d(conv._to_nchw(x), conv.params["kernel"], conv.params["bias"])
    np.testing.assert_allclose(y, conv._from_nchw(activations.forward(name, z, 1)), rtol=1e-5,
                               atol=1e-6)
    dense = layers.Dense(5, activation=name)
    flat = x.reshape(10, -1)
    np.testing.assert_allclose(dense(flat), activations.forward(
        name, F.dense(flat, dense.params["kernel"], dense.params["bias"]), -1),
        rtol=1e-5, atol=1e-6)
