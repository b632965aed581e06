"""Global pooling: the C kernels (through F.adaptive_*_pool2d) against the NumPy
reference in tests/reference.py, central differences, PyTorch's adaptive
pools, and the GlobalAveragePooling2D / GlobalMaxPooling2D layers against
Keras's semantics."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ccnn
import ccnn.functional as F
from ccnn import layers

import reference as ref
from _testutils import DTYPES, assert_close, central_differences, unchanged


def _case(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 9)),
             int(rng.integers(1, 12)), int(rng.integers(1, 12)))
    x = (rng.normal(size=shape) * rng.uniform(0.1, 10)).astype(dtype)
    if seed % 5 == 0:                        # ties: the first maximum wins
        x = np.round(x).astype(dtype)
    g = rng.normal(size=shape[:2] + (1, 1)).astype(dtype)
    return x, g, shape[0], shape[1]


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_average_matches_reference(seed, dtype):
    x, g, n, c = _case(seed, dtype)
    check = unchanged(x, g)
    y = F.adaptive_avg_pool2d(x)
    assert y.shape == (n, c, 1, 1) and y.dtype == dtype
    assert_close(y[:, :, 0, 0], ref.global_avg_pool2d_ref(x).astype(dtype), dtype,
                 scale=np.abs(x).max())
    dx = F.adaptive_avg_pool2d_backward(g, x)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_close(dx, ref.global_avg_pool2d_backward_ref(g, x.shape).astype(dtype), dtype)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(30))
def test_max_matches_reference(seed, dtype):
    x, g, n, c = _case(seed, dtype)
    check = unchanged(x, g)
    y, idx = F.adaptive_max_pool2d(x, return_indices=True)
    ry, ridx = ref.global_max_pool2d_ref(x)
    np.testing.assert_array_equal(y[:, :, 0, 0], ry.astype(dtype))   # a max is exact
    np.testing.assert_array_equal(idx[:, :, 0, 0], ridx)
    want = ref.global_max_pool2d_backward_ref(g, x).astype(dtype)
    np.testing.assert_array_equal(F.adaptive_max_pool2d_backward(g, x), want)
    np.testing.assert_array_equal(F.adaptive_max_pool2d_backward(g, x, indices=idx), want)
    check()


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_propagates_nan_like_max_pool(dtype):
    x = np.arange(2 * 3 * 4 * 4, dtype=dtype).reshape(2, 3, 4, 4)
    x[0, 1, 2, 1] = np.nan
    x[0, 1, 3, 0] = np.nan
    y, idx = F.adaptive_max_pool2d(x, return_indices=True)
    ry, ridx = ref.global_max_pool2d_ref(x)
    assert np.isnan(y[0, 1, 0, 0]) and idx[0, 1, 0, 0] == 2 * 4 + 1
    np.testing.assert_array_equal(idx[:, :, 0, 0], ridx)
    np.testing.assert_array_equal(y[:, :, 0, 0], ry.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_planes_and_thread_counts(dtype):
    """Many planes (threads split the rows) and long rows (SIMD sums)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 64, 37, 29)).astype(dtype)
    before = ccnn.get_num_threads()
    try:
        out = []
        for t in (1, 2):
            ccnn.set_num_threads(t)
            out.append((F.adaptive_avg_pool2d(x), F.adaptive_max_pool2d(x, return_indices=True)))
    finally:
        ccnn.set_num_threads(before)
    (a1, (m1, i1)), (a2, (m2, i2)) = out
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(i1, i2)
    assert_close(a1[:, :, 0, 0], ref.global_avg_pool2d_ref(x).astype(dtype), dtype)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=4, max_dims=4, max_side=9),
                  elements=st.floats(-1e6, 1e6)))
def test_min_le_mean_le_max_and_gradients_sum(x):
    """Per plane: min <= mean <= max, the max is one of the plane's values at
    its index, and both backwards pass the whole gradient through."""
    n, c = x.shape[:2]
    planes = x.reshape(n, c, -1)
    avg = F.adaptive_avg_pool2d(x)[:, :, 0, 0]
    mx, idx = F.adaptive_max_pool2d(x, return_indices=True)
    mx, idx = mx[:, :, 0, 0], idx[:, :, 0, 0]
    tol = 1e-12 * np.abs(planes).max(initial=1.0)
    assert (planes.min(axis=-1, initial=np.inf) - tol <= avg).all()
    assert (avg <= planes.max(axis=-1, initial=-np.inf) + tol).all()
    np.testing.assert_array_equal(np.take_along_axis(planes, idx[..., None], -1)[..., 0], mx)
    g = np.ones((n, c, 1, 1))
    for bwd in (F.adaptive_avg_pool2d_backward, F.adaptive_max_pool2d_backward):
        np.testing.assert_allclose(bwd(g, x).reshape(n, c, -1).sum(axis=-1), 1.0, rtol=1e-12)


def test_gradients_match_central_differences():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 4, 5))
    w = rng.normal(size=(2, 3, 1, 1))
    for fwd, bwd in [(F.adaptive_avg_pool2d, F.adaptive_avg_pool2d_backward),
                     (F.adaptive_max_pool2d, F.adaptive_max_pool2d_backward)]:
        num = central_differences(lambda a: float((fwd(a) * w).sum()), x)
        np.testing.assert_allclose(bwd(w, x), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_pytorch(dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed: no cross-check")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 7, 9, 6)).astype(dtype)
    g = rng.normal(size=(3, 7, 1, 1)).astype(dtype)
    for ours, bwd, theirs in [
            (F.adaptive_avg_pool2d, F.adaptive_avg_pool2d_backward,
             torch.nn.functional.adaptive_avg_pool2d),
            (F.adaptive_max_pool2d, F.adaptive_max_pool2d_backward,
             torch.nn.functional.adaptive_max_pool2d)]:
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt, 1)
        yt.backward(torch.tensor(g))
        assert_close(ours(x), yt.detach().numpy(), dtype)
        assert_close(bwd(g, x), xt.grad.numpy(), dtype)
    _, idx = F.adaptive_max_pool2d(x, return_indices=True)
    _, tidx = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), 1, return_indices=True)
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("bad, exc, words", [
    (dict(x=np.zeros((2, 3, 4))), ValueError, "x"),
    (dict(x=np.zeros((2, 3, 0, 4))), ValueError, "x"),
    (dict(x=np.zeros((2, 3, 4, 4)), output_size=2), ValueError, "output_size"),
    (dict(x=np.zeros((2, 3, 4, 4), dtype=complex)), TypeError, "x"),
    (dict(x="abc"), TypeError, "x"),
])
def test_bad_arguments(bad, exc, words):
    for f in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        with pytest.raises(exc, match=words):
            f(**bad)


def test_bad_backward_arguments():
    x = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="grad_out"):
        F.adaptive_avg_pool2d_backward(np.zeros((2, 3)), x)
    with pytest.raises(ValueError, match="grad_out"):
        F.adaptive_max_pool2d_backward(np.zeros((2, 4, 1, 1)), x)
    g = np.zeros((2, 3, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H \* W\)"):
        F.adaptive_max_pool2d_backward(g, x, indices=np.full((2, 3, 1, 1), 16))
    with pytest.raises(ValueError, match="indices"):
        F.adaptive_max_pool2d_backward(g, x, indices=np.full((2, 3, 1, 1), -1))
    with pytest.raises(TypeError, match="indices"):
        F.adaptive_max_pool2d_backward(g, x, indices=np.zeros((2, 3, 1, 1)))


# ------------------------------------------------------------------ layers

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


LAYERS = ["GlobalAveragePooling2D", "GlobalMaxPooling2D"]


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_layer_matches_keras(name, data_format, keepdims):
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5, 6, 3)).astype("float32")
    ours = getattr(layers, name)(data_format=data_format, keepdims=keepdims)
    theirs = getattr(keras.layers, name)(data_format=data_format, keepdims=keepdims)
    y = ours(x)
    want = keras.ops.convert_to_numpy(theirs(x))
    assert y.shape == want.shape
    assert ours.compute_output_shape((None,) + x.shape[1:]) == \
        tuple(theirs.compute_output_shape((None,) + x.shape[1:]))
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_layer_backward_matches_reference(name, data_format, keepdims):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 4, 2))
    layer = getattr(layers, name)(data_format=data_format, keepdims=keepdims, dtype="float64")
    y = layer(x, training=True)
    g = rng.normal(size=y.shape)
    num = central_differences(lambda a: float((layer(a, training=True) * g).sum()), x)
    layer(x, training=True)
    np.testing.assert_allclose(layer.backward(g), num, rtol=1e-6, atol=1e-8)


def test_defaults_config_and_registry():
    for name in LAYERS:
        cls = getattr(layers, name)
        layer = cls()
        assert (layer.data_format, layer.keepdims) == ("channels_last", False)
        assert layer.count_params() == 0
        custom = cls(data_format="channels_first", keepdims=True, name="gp")
        again = cls.from_config(custom.get_config())
        assert again.get_config() == custom.get_config()
        assert again.get_config()["keepdims"] is True
        assert layers.get(name) is cls


@pytest.mark.parametrize("kwargs, words", [
    (dict(keepdims="yes"), "keepdims"),
    (dict(data_format="nhwc"), "data_format"),
])
def test_bad_layer_arguments_at_construction(kwargs, words):
    for name in LAYERS:
        with pytest.raises((TypeError, ValueError), match=words):
            getattr(layers, name)(**kwargs)


def test_model_with_global_pooling_trains_and_summarizes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(int)
    model = ccnn.Sequential([ccnn.Input((8, 8, 1)), layers.Conv2D(8, 3, activation="relu"),
                             layers.GlobalMaxPooling2D(keepdims=True),
                             layers.GlobalAveragePooling2D(), layers.Dense(2,
                                                                           activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < first[0]
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 1, 1, 8)" in text and "(None, 8)" in text
    again = ccnn.Sequential.from_config(model.get_config())
    assert [type(l).__name__ for l in again.layers] == [type(l).__name__ for l in model.layers]
