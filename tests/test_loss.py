"""ccnn.losses: the fused softmax + cross-entropy kernels (csrc/kernels/loss.c) against
plain NumPy, Keras's non-fused definitions, and argument checks."""

import numpy as np
import pytest

from ccnn import losses as L

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


# ------------------------------------------------------------ references
def softmax_ref(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def lse_ref(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def xent_sparse_ref(z, y):
    return lse_ref(z) - np.asarray(z, np.float64)[np.arange(len(y)), y]


def xent_dense_ref(z, t):
    z = np.asarray(z, np.float64)
    return (t * (lse_ref(z)[:, None] - z)).sum(axis=1)


def onehot(y, c):
    out = np.zeros((len(y), c))
    out[np.arange(len(y)), y] = 1
    return out


def data(n, c, dtype, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c)) * scale).astype(dtype), rng.integers(0, c, n)


# ------------------------------------------------------------ forward / backward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 10), (32, 10), (7, 3), (300, 200)])
def test_sparse_forward_backward(n, c, dtype):
    z, y = data(n, c, dtype, n * c)
    z0 = z.copy()
    loss, probs = L.sparse_softmax_cross_entropy(z, y)
    np.testing.assert_array_equal(z, z0)  # input untouched
    assert loss.dtype == dtype and probs.dtype == dtype and loss.shape == (n,)
    np.testing.assert_allclose(loss, xent_sparse_ref(z, y), **TOL[dtype])
    np.testing.assert_allclose(probs, softmax_ref(z), **TOL[dtype])
    d = L.sparse_softmax_cross_entropy_backward(probs, y)
    assert d.dtype == dtype
    np.testing.assert_allclose(d, (softmax_ref(z) - onehot(y, c)) / n, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_targets_match_sparse_and_soft_reference(dtype):
    z, y = data(40, 10, dtype, 1)
    t = onehot(y, 10).astype(dtype)
    loss, probs = L.softmax_cross_entropy(z, t)
    np.testing.assert_allclose(loss, L.sparse_softmax_cross_entropy(z, y)[0], **TOL[dtype])
    np.testing.assert_allclose(L.softmax_cross_entropy_backward(probs, t),
                               L.sparse_softmax_cross_entropy_backward(probs, y), **TOL[dtype])
    # soft targets (label smoothing) and rows not summing to 1
    rng = np.random.default_rng(2)
    soft = rng.random((40, 10)).astype(dtype)
    loss, probs = L.softmax_cross_entropy(z, soft)
    np.testing.assert_allclose(loss, xent_dense_ref(z, soft), **TOL[dtype])
    want = (softmax_ref(z) * soft.sum(axis=1, keepdims=True) - soft) / 40
    np.testing.assert_allclose(L.softmax_cross_entropy_backward(probs, soft), want, **TOL[dtype])


def test_gradient_matches_central_differences():
    z, y = data(5, 4, np.float64, 3)
    _, probs = L.sparse_softmax_cross_entropy(z, y)
    d = L.sparse_softmax_cross_entropy_backward(probs, y)
    h = 1e-6
    num = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        num[idx] = (L.sparse_softmax_cross_entropy(zp, y)[0].mean()
                    - L.sparse_softmax_cross_entropy(zm, y)[0].mean()) / (2 * h)
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_stay_finite(dtype):
    z = np.array([[1000, -1000, 0], [-1000, -1000, -1000], [1000, 1000, -1000],
                  [88.0, 89.0, 90.0], [-800, 0, 800]], dtype=dtype)
    y = np.array([1, 0, 0, 2, 0])
    loss, probs = L.sparse_softmax_cross_entropy(z, y)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(probs))
    np.testing.assert_allclose(loss, [2000, np.log(3), np.log(2), xent_sparse_ref(z, y)[3], 1600],
                               rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    d = L.sparse_softmax_cross_entropy_backward(probs, y)
    assert np.all(np.isfinite(d))
    t = onehot(y, 3).astype(dtype)
    loss2, probs2 = L.softmax_cross_entropy(z, t)
    np.testing.assert_allclose(loss2, loss, rtol=1e-6)
    assert np.all(np.isfinite(L.softmax_cross_entropy_backward(probs2, t)))
    assert np.all(np.isfinite(L.softmax(z)))


def test_nan_propagates_to_its_row_only():
    z = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]])
    loss, probs = L.sparse_softmax_cross_entropy(z, [1, 1])
    assert np.isnan(loss[0]) and np.all(np.isnan(probs[0]))
    assert np.isfinite(loss[1]) and np.all(np.isfinite(probs[1]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_backward(dtype):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, 3, 5)).astype(dtype)
    p = L.softmax(z)
    assert p.dtype == dtype and p.shape == z.shape
    np.testing.assert_allclose(p.reshape(-1, 5), softmax_ref(z.reshape(-1, 5)), **TOL[dtype])
    g = rng.standard_normal(z.shape).astype(dtype)
    dx = L.softmax_backward(g, p)
    p64 = p.astype(np.float64)
    want = p64 * (g - (g * p64).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(dx, want, **TOL[dtype])


def test_parallel_rows_match_serial():
    """A batch big enough to use several threads gives the same numbers."""
    import ccnn
    z, y = data(5000, 10, np.float32, 9)
    old = ccnn.get_num_threads()
    try:
        ccnn.set_num_threads(1)
        a = L.sparse_softmax_cross_entropy(z, y)
        ccnn.set_num_threads(2)
        b = L.sparse_softmax_cross_entropy(z, y)
    finally:
        ccnn.set_num_threads(old)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ------------------------------------------------------------ Keras non-fused definitions
def test_keras_probability_losses_clip_like_keras():
    p = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    t = np.array([[1.0, 0, 0], [0, 0, 1], [0, 0, 1]])
    eps = 1e-7
    want = -(t * np.log(np.clip(p / p.sum(1, keepdims=True), eps, 1 - eps))).sum(1)
    np.testing.assert_allclose(L.categorical_crossentropy(t, p), want, rtol=1e-12)
    np.testing.assert_allclose(L.sparse_categorical_crossentropy([0, 2, 2], p), want,
                               rtol=1e-12)
    assert L.CategoricalCrossentropy()(t, p) == pytest.approx(want.mean())
    z = np.log(p + 1e-3)
    np.testing.assert_allclose(L.categorical_crossentropy(t, z, from_logits=True),
                               xent_dense_ref(z, t), rtol=1e-12)


def test_non_fused_gradient_matches_central_differences():
    rng = np.random.default_rng(5)
    p = rng.random((4, 3)) + 0.1
    t = onehot([0, 2, 1, 1], 3)
    _, dp = L.CategoricalCrossentropy().from_probs(p, t)
    h = 1e-6
    num = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        pp, pm = p.copy(), p.copy()
        pp[idx] += h
        pm[idx] -= h
        num[idx] = (L.categorical_crossentropy(t, pp).mean()
                    - L.categorical_crossentropy(t, pm).mean()) / (2 * h)
    np.testing.assert_allclose(dp, num, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------ bad input
def test_labels_out_of_range_and_wrong_kind():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"out of range.*label 4.*\[0, 3\]"):
        L.sparse_softmax_cross_entropy(z, [0, 1, 4])
    with pytest.raises(ValueError, match="out of range.*-1"):
        L.sparse_softmax_cross_entropy(z, [0, -1, 2])
    with pytest.raises(ValueError, match="one-hot"):
        L.sparse_softmax_cross_entropy(z, np.eye(4)[[0, 1, 2]])
    with pytest.raises(ValueError, match="whole-number"):
        L.sparse_softmax_cross_entropy(z, [0.5, 1, 2])
    with pytest.raises(TypeError, match="integer class indices"):
        L.sparse_softmax_cross_entropy(z, np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="3 samples"):
        L.sparse_softmax_cross_entropy(z, [0, 1])
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        L.softmax_cross_entropy(z, [0, 1, 2])
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        L.softmax_cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="2-D"):
        L.sparse_softmax_cross_entropy(np.zeros(4), [0])
    with pytest.raises(TypeError):
        L.sparse_softmax_cross_entropy(np.zeros((1, 2), dtype=complex), [0])


def test_get():
    assert isinstance(L.get("categorical_crossentropy"), L.CategoricalCrossentropy)
    assert isinstance(L.get("sparse_categorical_crossentropy"), L.SparseCategoricalCrossentropy)
    loss = L.SparseCategoricalCrossentropy()
    assert L.get(loss) is loss
    with pytest.raises(ValueError, match="Unknown loss 'dice'"):
        L.get("dice")


def test_a_numpy_loss_without_its_hooks_cannot_be_made():
    """_NumPyLoss's _value and _grad are abstract: a subclass must define both."""
    class Half(L._NumPyLoss):
        def __init__(self):
            super().__init__("half", "sum_over_batch_size", None)

    class NoGrad(Half):
        _value = staticmethod(lambda t, p: 0.5 * ((p - t) ** 2).sum(axis=-1))

    class NoValue(Half):
        _grad = staticmethod(lambda t, p: p - t)

    for cls, missing in [(Half, "_grad, _value"), (NoGrad, "_grad"), (NoValue, "_value")]:
        with pytest.raises(TypeError, match=f"abstract methods? {missing}$"):
            cls()

    class Both(NoGrad, NoValue):
        pass
    t = np.array([[0.0, 1.0], [2.0, 0.0]])
    p = np.array([[1.0, 1.0], [0.0, 3.0]])
    loss = Both()
    np.testing.assert_allclose(loss(t, p), (0.5 + 6.5) / 2)
    np.testing.assert_allclose(loss.gradient(p, t), (p - t) / 2)
