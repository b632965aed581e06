"""The batched transpose (csrc/kernels/layout.c) that moves images between NCHW and
NHWC, against its element-by-element reference, and the layers that use it."""

import numpy as np
import pytest

import ccnn
from ccnn import _layout
from ccnn import functional as F
from ccnn.layers import Flatten
import reference as ref
from _testutils import DTYPES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_transpose_batched_matches_reference(seed, dtype):
    rng = np.random.default_rng(seed)
    # shapes around the 32-element tiles, and big enough to use two threads
    n = int(rng.integers(1, 6))
    a, b = (int(v) for v in rng.integers(1, 80, size=2))
    if seed % 5 == 0:
        a, b = int(rng.integers(1, 12)), int(rng.integers(200, 3000))
    x = rng.standard_normal((n, a, b)).astype(dtype)
    before = x.copy()
    expected = ref.transpose_batched_ref(x)
    for nt in (1, 2, 3):
        got = _layout.transpose_batched(x, nt)
        assert got.dtype == x.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(x, before)       # the input is not touched


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_batched_empty_and_nan(dtype):
    for shape in [(0, 3, 4), (2, 0, 5), (2, 5, 0)]:
        got = _layout.transpose_batched(np.zeros(shape, dtype), 2)
        assert got.shape == (shape[0], shape[2], shape[1])
    x = np.array([[[np.nan, np.inf], [-np.inf, -0.0]]], dtype)
    got = _layout.transpose_batched(x, 1)
    np.testing.assert_array_equal(got, x.transpose(0, 2, 1))
    assert np.signbit(got[0, 1, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_layout_helpers(dtype):
    rng = np.random.default_rng(3)
    nchw = rng.standard_normal((3, 5, 7, 6)).astype(dtype)
    nhwc = F.channels_last(nchw)
    assert nhwc.flags.c_contiguous
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))
    back = F.channels_first(nhwc)
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, nchw)
    # a strided (sliced) input takes NumPy's copy and gives the same values
    sl = nhwc[:, ::2]
    np.testing.assert_array_equal(F.channels_first(sl), sl.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_of_a_channels_last_view(data_format):
    """Flatten of a conv/pool result (an NHWC view of NCHW data) keeps Keras's
    (H, W, C) order, and its backward returns the input's shape."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 3, 5, 6)).astype(np.float32)   # NCHW
    view = base.transpose(0, 2, 3, 1)                              # NHWC view
    layer = Flatten()
    y = layer(view)
    np.testing.assert_array_equal(y, view.reshape(4, -1))
    assert layer.backward(y).shape == view.shape
    if data_format == "channels_first":
        layer = Flatten(data_format="channels_first")
        y = layer(base)
        np.testing.assert_array_equal(y, np.moveaxis(base, 1, -1).reshape(4, -1))
        np.testing.assert_array_equal(layer.backward(y), base)


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_conv_pool_flatten_dense_matches_references(dtype):
    """A Conv2D -> MaxPooling2D -> Flatten -> Dense model (the book's layout,
    whose Flatten meets an NHWC view of the pooled NCHW result) gives the
    composition of the NumPy references, flattened in Keras's (H, W, C) order."""
    rng = np.random.default_rng(1)
    x = rng.random((6, 12, 10, 2)).astype(dtype)
    m = ccnn.Sequential([
        ccnn.layers.Conv2D(4, 3, activation="relu", padding="same", input_shape=(12, 10, 2),
                           dtype=dtype),
        ccnn.layers.MaxPooling2D(2, dtype=dtype), ccnn.layers.Flatten(dtype=dtype),
        ccnn.layers.Dense(5, dtype=dtype)])
    m.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    kernel, bias, dense_w, dense_b = m.get_weights()
    assert kernel.shape == (3, 3, 2, 4)                          # Keras's (R, S, C, K)
    z = ref.conv2d_ref(x.transpose(0, 3, 1, 2), kernel.transpose(3, 2, 0, 1), bias,
                       pad=((1, 1), (1, 1)))
    pooled = ref.max_pool2d_ref(ref.relu_ref(z), 2)[0]             # (N, K, 6, 5)
    flat = pooled.transpose(0, 2, 3, 1).reshape(6, -1)             # (H, W, C) order
    expected = ref.dense_ref(flat, dense_w, dense_b)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(m.predict(x), expected, rtol=tol, atol=tol)


def test_channel_moves_check_their_input():
    for move in (F.channels_last, F.channels_first):
        with pytest.raises(ValueError, match="x must be a 4-D array"):
            move(np.zeros((2, 3, 4)))
        with pytest.raises(TypeError, match="x must be real"):
            move(np.zeros((1, 2, 3, 4), np.complex64))
        x = np.arange(24).reshape(1, 2, 3, 4)           # ints are read as float64
        before = x.copy()
        got = move(x)
        assert got.dtype == np.float64 and got.flags.c_contiguous
        want = x.transpose(0, 2, 3, 1) if move is F.channels_last else x.transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(x, before)
