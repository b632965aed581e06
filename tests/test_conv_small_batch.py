"""Convolutions of fewer images than WINO_SPLIT_ITEMS (2) / DIRECT_SPLIT_ITEMS (4):
the Winograd forward splits each image's tiles into blocks and the direct
forward (and its fused ReLU + 2x2 max pool) each image's output planes into
parts, from the shape only, so that one image keeps every thread busy
(csrc/kernels/conv2d_winograd.c, conv2d_direct.c).  The results must not
depend on the thread count (bit for bit) and must match the NumPy reference.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import ccnn
import reference as ref
from _testutils import DTYPES, abs_scale, assert_close, kernel_env
from ccnn import _conv2d
from ccnn import functional as F

THREADS = (1, 2, 3)


def _forward(x, w, b, stride, pads, nthreads, algo):
    return _conv2d.conv2d_forward(x, w, b, stride, (1, 1), pads, nthreads, algo=algo)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("c, k, h, w, pads", [(32, 32, 28, 28, (1, 1, 1, 1)),
                                              (32, 64, 14, 14, (1, 1, 1, 1)),
                                              (17, 33, 13, 15, (0, 2, 1, 0)),
                                              (8, 5, 41, 9, (2, 0, 0, 2))])
def test_winograd_split_threads_and_reference(dtype, n, c, k, h, w, pads):
    rng = np.random.default_rng(n * 100 + c + k + h)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    ys = [_forward(x, wt, b, (1, 1), pads, t, "winograd") for t in THREADS]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    pad = ((pads[0], pads[1]), (pads[2], pads[3]))
    assert_close(ys[0], ref.conv2d_ref(x, wt, b, (1, 1), pad), dtype,
                 abs_scale(ref.conv2d_ref, x, wt, b, (1, 1), pad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_split_nonfinite_image(dtype):
    """A non-finite image of a split batch takes the implicit GEMM (its NaN /
    inf where the definition puts them); the other image is unaffected."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 32, 20, 20)).astype(dtype)
    wt = rng.standard_normal((32, 32, 3, 3)).astype(dtype)
    x[1, 3, 5, 6] = np.inf
    x[1, 0, 0, 0] = np.nan
    pads = (1, 1, 1, 1)
    ys = [_forward(x, wt, None, (1, 1), pads, t, "winograd") for t in THREADS]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    gemm = _forward(x, wt, None, (1, 1), pads, 2, "gemm")
    np.testing.assert_array_equal(ys[0][1], gemm[1])
    assert np.isfinite(ys[0][0]).all()
    assert_close(ys[0][0], gemm[0], dtype,
                 abs_scale(ref.conv2d_ref, x[:1], wt, None, (1, 1), ((1, 1), (1, 1))))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("c, k, stride, pads", [(1, 10, (1, 1), (1, 1, 1, 1)),
                                                (1, 32, (1, 1), (1, 1, 1, 1)),
                                                (3, 7, (1, 1), (0, 2, 1, 0)),
                                                (2, 9, (2, 2), (1, 1, 1, 1)),
                                                (1, 6, (1, 2), (0, 0, 0, 0)),
                                                (2, 6, (1, 1), (1, 0, 0, 1))])
def test_direct_split_threads_and_reference(dtype, n, c, k, stride, pads):
    rng = np.random.default_rng(n * 10 + k)
    x = rng.standard_normal((n, c, 28, 28)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    ys = [_forward(x, wt, b, stride, pads, t, "direct") for t in THREADS]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    pad = ((pads[0], pads[1]), (pads[2], pads[3]))
    assert_close(ys[0], ref.conv2d_ref(x, wt, b, stride, pad), dtype,
                 abs_scale(ref.conv2d_ref, x, wt, b, stride, pad))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 6])
@pytest.mark.parametrize("k", [3, 10, 13, 32])
def test_fused_relu_maxpool_split_threads_and_reference(dtype, n, k):
    rng = np.random.default_rng(n + k)
    x = rng.standard_normal((n, 1, 28, 28)).astype(dtype)
    wt = rng.standard_normal((k, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    old = ccnn.get_num_threads()
    try:
        got = []
        for t in THREADS:
            ccnn.set_num_threads(t)
            got.append(F.conv2d_relu_maxpool2d(x, wt, b, padding=1))
    finally:
        ccnn.set_num_threads(old)
    for y, idx in got[1:]:
        np.testing.assert_array_equal(y, got[0][0])
        np.testing.assert_array_equal(idx, got[0][1])
    conv = np.maximum(ref.conv2d_ref(x, wt, b, (1, 1), ((1, 1), (1, 1))), 0)
    assert_close(got[0][0], ref.max_pool2d_ref(conv, 2)[0], dtype,
                 abs_scale(ref.conv2d_ref, x, wt, b, (1, 1), ((1, 1), (1, 1))))


# ------------------------------------------------------------ the implicit GEMM's row bands
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("c, k, h, w, stride, pads", [(32, 32, 28, 28, (1, 1), (1, 1, 1, 1)),
                                                      (64, 64, 14, 14, (1, 1), (1, 1, 1, 1)),
                                                      (9, 13, 11, 17, (2, 1), (0, 2, 1, 0)),
                                                      (5, 7, 3, 40, (1, 2), (2, 0, 0, 2))])
def test_gemm_row_bands_threads_and_reference(dtype, n, c, k, h, w, stride, pads):
    """Fewer images than threads: the implicit-GEMM forward cuts each image's
    output rows into bands (conv2d_internal.h's gemm_split_parts, from the
    thread count); every element is summed as without the split, so the
    result is bit for bit the one of 1 thread, and of the same image in a
    batch of 8 (never split), and matches the NumPy reference."""
    rng = np.random.default_rng(n * 1000 + c + k + h + w)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    ys = [_forward(x, wt, b, stride, pads, t, "gemm") for t in THREADS + (7,)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    big = np.concatenate([x] + [rng.standard_normal((8 - n, c, h, w)).astype(dtype)])
    np.testing.assert_array_equal(_forward(big, wt, b, stride, pads, 2, "gemm")[:n], ys[0])
    relu = [_conv2d.conv2d_forward(x, wt, b, stride, (1, 1), pads, t, relu=True)
            for t in THREADS]
    for y in relu[1:]:
        np.testing.assert_array_equal(y, relu[0])
    pad = ((pads[0], pads[1]), (pads[2], pads[3]))
    want = ref.conv2d_ref(x, wt, b, stride, pad)
    scale = abs_scale(ref.conv2d_ref, x, wt, b, stride, pad)
    assert_close(ys[0], want, dtype, scale)
    assert_close(relu[0], np.maximum(want, 0), dtype, scale)


def test_winograd_needs_enough_tiles_per_call():
    """A call of too few tiles (n images x 49 for the modern model's 14x14
    layers) runs the implicit GEMM, which measured faster there: below 256
    tiles with the AVX-512 GEMM, below 64 with the AVX2 / generic kernels (one
    image); a single 28x28 image (196 tiles) keeps Winograd on those."""
    one = (1, 1)
    pads = (1, 1, 1, 1)
    wide = _conv2d.gemm_kernel_name().startswith("avx512")
    for n, narrow in ((1, False), (2, True), (4, True)):
        for shape in ((n, 64, 14, 14), (n, 32, 14, 14)):
            w = (64, shape[1], 3, 3)
            assert _conv2d.winograd_eligible(shape, w, one, one, pads) == (narrow and not wide)
            assert _conv2d.winograd_eligible(shape, w, one, one, pads, "data") \
                == (narrow and not wide)
    assert _conv2d.winograd_eligible((1, 32, 28, 28), (32, 32, 3, 3), one, one, pads) \
        == (not wide)


def test_winograd_tile_floor_environment_override():
    """CCNN_WINO_MIN_CALL_TILES sets the AVX2 / generic floor (0: one 14x14
    image takes Winograd again; 200: one 28x28 image does not); a value that
    is not a whole number >= 0 is ignored.  The AVX-512 floor stays 256."""
    one, pads = (1, 1), (1, 1, 1, 1)
    wide = _conv2d.gemm_kernel_name().startswith("avx512")
    small, big = ((1, 64, 14, 14), (64, 64, 3, 3)), ((1, 32, 28, 28), (32, 32, 3, 3))
    for value, want_small, want_big in (("0", True, True), ("200", False, False),
                                        ("-5", False, True), ("12x", False, True),
                                        ("", False, True)):
        with kernel_env(CCNN_WINO_MIN_CALL_TILES=value):
            assert _conv2d.winograd_eligible(*small, one, one, pads) == (want_small and not wide)
            assert _conv2d.winograd_eligible(*big, one, one, pads) == (want_big and not wide)
    for n in (8, 32):
        assert _conv2d.winograd_eligible((n, 64, 14, 14), (64, 64, 3, 3), one, one, pads)
        assert _conv2d.winograd_eligible((n, 64, 14, 14), (64, 64, 3, 3), one, one, pads,
                                         "data")


def test_kernel_knobs_are_read_once_until_reread_environment():
    """The kernels read their tuning knobs (here CCNN_WINO_MIN_CALL_TILES)
    from the environment once: a change to os.environ alone takes no effect
    until ccnn._runtime.reread_environment().  Every knob takes the same
    parse: digits only (a leading zero is fine, a sign or a space is not),
    capped at 2^40."""
    from ccnn import _runtime
    one, pads = (1, 1), (1, 1, 1, 1)
    wide = _conv2d.gemm_kernel_name().startswith("avx512")
    small, big = ((1, 64, 14, 14), (64, 64, 3, 3)), ((1, 32, 28, 28), (32, 32, 3, 3))
    name = "CCNN_WINO_MIN_CALL_TILES"
    old = os.environ.pop(name, None)
    try:
        _runtime.reread_environment()
        assert not _conv2d.winograd_eligible(*small, one, one, pads)     # floor 64 > 49 tiles
        os.environ[name] = "0"
        assert not _conv2d.winograd_eligible(*small, one, one, pads)     # still the floor read
        _runtime.reread_environment()
        assert _conv2d.winograd_eligible(*small, one, one, pads) == (not wide)
        del os.environ[name]
        assert _conv2d.winograd_eligible(*small, one, one, pads) == (not wide)
        _runtime.reread_environment()
        assert not _conv2d.winograd_eligible(*small, one, one, pads)
    finally:
        if old is not None:
            os.environ[name] = old
        _runtime.reread_environment()
    for value, want_small, want_big in (("049", True, True), ("+5", False, True),
                                        (" 5", False, True), ("9" * 30, False, False)):
        with kernel_env(CCNN_WINO_MIN_CALL_TILES=value):
            assert _conv2d.winograd_eligible(*small, one, one, pads) == (want_small and not wide)
            assert _conv2d.winograd_eligible(*big, one, one, pads) == (want_big and not wide)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_image_dense_threads_and_reference(dtype):
    """The modern model's head at one image (1 x 3136 x 128, now on every
    thread): the same bits on 1, 2 and 3 threads, and NumPy's product."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3136)).astype(dtype)
    wt = rng.standard_normal((3136, 128)).astype(dtype)
    b = rng.standard_normal(128).astype(dtype)
    old = ccnn.get_num_threads()
    try:
        ys = []
        for t in THREADS:
            ccnn.set_num_threads(t)
            ys.append(F.dense(x, wt, b, activation="relu"))
    finally:
        ccnn.set_num_threads(old)
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    want = np.maximum(x.astype(np.float64) @ wt.astype(np.float64) + b, 0)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(ys[0], want, rtol=tol, atol=tol * np.sqrt(3136))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_small_batch_dense_one_region(dtype, seed):
    """The small-batch dense forward (tiles and a last single row's whole
    tiles in one parallel region): row counts with and without a single last
    row, widths with and without a narrow last tile, enough work for every
    thread; the same bits on 1, 2 and 3 threads, NumPy's product, bias and
    ReLU (with bias None too)."""
    rng = np.random.default_rng(100 + seed)
    n = (1, 2, 5, 8, 9, 4)[seed]
    units = (128, 100, 130, 16, 70, 64)[seed]
    fan_in = int(rng.integers(600, 3200))
    x = rng.standard_normal((n, fan_in)).astype(dtype)
    wt = rng.standard_normal((fan_in, units)).astype(dtype)
    b = None if seed % 3 == 2 else rng.standard_normal(units).astype(dtype)
    act = None if seed % 2 else "relu"
    x0, w0 = x.copy(), wt.copy()
    old = ccnn.get_num_threads()
    try:
        ys = []
        for t in THREADS:
            ccnn.set_num_threads(t)
            ys.append(F.dense(x, wt, b, activation=act))
    finally:
        ccnn.set_num_threads(old)
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(wt, w0)
    want = x.astype(np.float64) @ wt.astype(np.float64) + (0 if b is None else b)
    if act == "relu":
        want = np.maximum(want, 0)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(ys[0], want, rtol=tol, atol=tol * np.sqrt(fan_in))
