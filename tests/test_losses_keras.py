"""Keras 3's losses in ccnn.losses (issue 14): every class, function and name
against the NumPy references of tests/ref_losses.py (float32 and float64,
every reduction, sample weights), their gradients against float64 central
differences, the fused sigmoid + binary cross-entropy kernel
(F.binary_cross_entropy_with_logits) against PyTorch, every loss against
real keras (KERAS_BACKEND=torch), models trained with them (the sigmoid head
fused with binary_crossentropy, metrics=['accuracy'] as Keras 3 resolves
it) and the argument checks."""
import os
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ccnn
import ccnn.functional as F
from ccnn import Sequential
from ccnn import losses as L
from ccnn import metrics as M
from ccnn.layers import Dense
from ccnn.layers.fused import SigmoidBinaryCrossentropy, SoftmaxCrossEntropy
from ccnn.models.fusion import LossHead, make_plan
from ccnn.optimizers import SGD, Adam
from ccnn.utils import set_random_seed
from _gilcheck import increments_during
import ref_losses as R

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def assert_close_scaled(got, want, z, rtol):
    """|got - want| <= rtol (|want| + |z|): for float32, max(z, 0) - z t loses
    about eps |z| to cancellation (PyTorch's formula too), whatever the kernel."""
    got, want, z = (np.asarray(a, dtype=np.float64) for a in (got, want, z))
    bound = rtol * (np.abs(want) + np.broadcast_to(np.abs(z).max() if want.ndim == 0 else
                                                   np.abs(z), want.shape) + 1e-6)
    assert np.all(np.abs(got - want) <= bound), np.max(np.abs(got - want) / bound)


def tol(dtype):
    return dict(rtol=3e-5, atol=3e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------ the cases
# (ccnn class, constructor kwargs, reference, kind of data)
SPECS = [
    (L.MeanSquaredError, {}, R.mean_squared_error, "real"),
    (L.MeanAbsoluteError, {}, R.mean_absolute_error, "real"),
    (L.Huber, {}, R.huber, "real"),
    (L.Huber, {"delta": 0.3}, R.huber, "real"),
    (L.KLDivergence, {}, R.kl_divergence, "soft"),
    (L.Hinge, {}, R.hinge, "pm1"),
    (L.Hinge, {}, R.hinge, "binary"),
    (L.CategoricalHinge, {}, R.categorical_hinge, "onehot"),
    (L.BinaryCrossentropy, {}, R.binary_crossentropy, "binary_probs"),
    (L.BinaryCrossentropy, {"label_smoothing": 0.2}, R.binary_crossentropy, "binary_probs"),
    (L.BinaryCrossentropy, {"from_logits": True}, R.binary_crossentropy, "binary_logits"),
    (L.BinaryCrossentropy, {"from_logits": True, "label_smoothing": 0.1},
     R.binary_crossentropy, "soft_logits"),
    (L.CategoricalCrossentropy, {}, R.categorical_crossentropy, "onehot_probs"),
    (L.CategoricalCrossentropy, {"label_smoothing": 0.1}, R.categorical_crossentropy,
     "onehot_probs"),
    (L.CategoricalCrossentropy, {"from_logits": True, "label_smoothing": 0.2},
     R.categorical_crossentropy, "onehot_logits"),
]
SPEC_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}-{kind}"
            for cls, kw, _, kind in SPECS]
FUNCTIONS = {L.MeanSquaredError: L.mean_squared_error, L.MeanAbsoluteError: L.mean_absolute_error,
             L.Huber: L.huber, L.KLDivergence: L.kl_divergence, L.Hinge: L.hinge,
             L.CategoricalHinge: L.categorical_hinge,
             L.BinaryCrossentropy: L.binary_crossentropy,
             L.CategoricalCrossentropy: L.categorical_crossentropy}
SHAPES = [(6, 3), (5, 1), (2, 3, 4)]


def make(kind, shape, rng):
    """(y_true, y_pred) of `shape` for a loss of data `kind` (float64)."""
    if kind.startswith("onehot") and shape[-1] == 1:
        shape = shape[:-1] + (2,)
    u = rng.standard_normal(shape)
    if kind == "real":
        return rng.standard_normal(shape), u
    if kind == "soft":
        return rng.uniform(0.05, 1.0, shape), rng.uniform(0.02, 0.98, shape)
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], shape), u
    if kind == "binary":
        return rng.choice([0.0, 1.0], shape), u
    if kind == "binary_probs":
        return rng.choice([0.0, 1.0], shape), rng.uniform(0.02, 0.98, shape)
    if kind == "binary_logits":
        return rng.choice([0.0, 1.0], shape), 3 * u
    if kind == "soft_logits":
        return rng.uniform(0, 1, shape), 3 * u
    onehot = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    if kind == "onehot":
        return onehot, u
    if kind == "onehot_probs":
        e = np.exp(u)
        return onehot, e / e.sum(axis=-1, keepdims=True)
    if kind == "onehot_logits":
        return onehot, 3 * u
    raise AssertionError(kind)


def ref_kwargs(kw):
    """The reference's keyword arguments (the formula's, without reduction)."""
    return {k: v for k, v in kw.items() if k in ("delta", "from_logits", "label_smoothing")}


# ------------------------------------------------- values against the reference
def check_reductions(cls, kw, t, p, want_rows, sw, tolerance):
    """cls(**kw, reduction=...)(y_true, y_pred, sample_weight) under every
    reduction, without and with the sample weights sw, against R.reduce of
    the reference's per-sample losses want_rows: a float, or the rows for
    'none' / None."""
    for reduction in REDUCTIONS:
        loss = cls(**kw, reduction=reduction)
        for weights in (None, sw):
            got = loss(t, p, sample_weight=weights)
            want = R.reduce(want_rows, weights, reduction)
            if reduction in (None, "none"):
                assert np.shape(got) == want_rows.shape
            else:
                assert isinstance(got, float)
            np.testing.assert_allclose(got, want, **tolerance)


def case_seed(cls, kind, shape):
    """A seed per case, stable across processes (str hashes are salted per process)."""
    return zlib.crc32(repr((cls.__name__, kind, shape)).encode())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_loss_matches_reference(spec, shape, dtype):
    cls, kw, ref, kind = spec
    rng = np.random.default_rng(case_seed(cls, kind, shape))
    t, p = (a.astype(dtype) for a in make(kind, shape, rng))
    want_rows = ref(t, p, **ref_kwargs(kw))
    # the function: one loss per sample, in y_pred's dtype
    rows = FUNCTIONS[cls](t, p, **ref_kwargs(kw))
    assert rows.shape == want_rows.shape and rows.dtype == dtype
    np.testing.assert_allclose(rows, want_rows, **tol(dtype))
    check_reductions(cls, kw, t, p, want_rows,
                     rng.uniform(0.0, 2.0, want_rows.shape).astype(dtype), tol(dtype))
    # the inputs are not modified
    t2, p2 = (a.astype(dtype) for a in make(kind, shape, np.random.default_rng(
        case_seed(cls, kind, shape))))
    np.testing.assert_array_equal(t, t2)
    np.testing.assert_array_equal(p, p2)


def test_keras_docstring_examples():
    # the values printed in keras/src/losses/losses.py's docstrings
    np.testing.assert_allclose(L.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]),
                               [0.916, 0.714], atol=1e-3)
    assert L.MeanSquaredError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]) == pytest.approx(0.02)
    assert L.MeanAbsoluteError()([1.0, 0.3, 1.0], [1.9, 0.3, 1.8]) == pytest.approx(0.5666667)
    np.testing.assert_allclose(L.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).mean(),
                               0.155, atol=1e-3)
    np.testing.assert_allclose(
        L.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]),
        [0.0513, 2.303], atol=1e-3)


def test_probabilities_are_clipped_like_keras():
    t = np.array([[1.0, 0.0, 1.0, 0.0]])
    p = np.array([[0.0, 1.0, 1e-12, 1.0 - 1e-12]])
    want = -np.log(1e-7)          # every element is clipped to eps / 1 - eps
    assert L.binary_crossentropy(t, p)[0] == pytest.approx(want, rel=1e-6)
    # the clip stops the gradient, as in TensorFlow and PyTorch
    np.testing.assert_array_equal(L.BinaryCrossentropy().gradient(p, t), 0.0)
    # KL divergence clips both to [eps, 1]
    assert L.kl_divergence([[0.0, 1.0]], [[0.5, 0.0]])[0] == pytest.approx(
        1e-7 * np.log(1e-7 / 0.5) + np.log(1 / 1e-7), rel=1e-9)


def test_categorical_crossentropy_axis_and_higher_rank():
    rng = np.random.default_rng(3)
    t, z = make("onehot_logits", (2, 3, 4), rng)
    for axis in (-1, 1, 0):
        tt, zz = np.moveaxis(t, -1, axis), np.moveaxis(z, -1, axis)
        got = L.categorical_crossentropy(tt, zz, from_logits=True, axis=axis)
        np.testing.assert_allclose(got, R.categorical_crossentropy(tt, zz, True, axis=axis),
                                   rtol=1e-12)
    t, p = make("binary_probs", (3, 4, 2), rng)
    for axis in (-1, 0, 1):
        np.testing.assert_allclose(L.BinaryCrossentropy(axis=axis).call(t, p),
                                   R.binary_crossentropy(t, p, axis=axis), rtol=1e-12)


def test_rank_one_targets_are_expanded_as_keras_does():
    # (n,) against (n, 1): squeeze_or_expand_to_same_rank
    t = np.array([0.0, 1.0, 1.0])
    p = np.array([[0.2], [0.7], [0.4]])
    np.testing.assert_allclose(L.binary_crossentropy(t, p),
                               R.binary_crossentropy(t[:, None], p))
    np.testing.assert_allclose(L.mean_squared_error(t, p), R.mean_squared_error(t[:, None], p))


# ------------------------------------------------------------ gradients
def _away_from_kinks(kind, cls, kw, t, p):
    """Whether every element is at least 1e-3 from a kink of the loss."""
    e = p - t
    if cls in (L.MeanAbsoluteError,):
        return np.abs(e).min() > 1e-3
    if cls is L.Huber:
        return np.abs(np.abs(e) - kw.get("delta", 1.0)).min() > 1e-3
    if cls is L.Hinge:
        s = np.where(t == 0, -1.0, t) if kind == "binary" else t
        return np.abs(1 - s * p).min() > 1e-3
    if cls is L.CategoricalHinge:
        negv = np.sort((1 - t) * p, axis=-1)
        margin = negv[..., -1] - (t * p).sum(-1) + 1
        return np.abs(margin).min() > 1e-3 and (negv[..., -1] - negv[..., -2]).min() > 1e-3
    return True


def check_gradient(loss, rows, t, p):
    """loss.gradient (float64) against the central differences of the mean of
    the reference's per-sample losses rows(t, p); value_and_gradient: that
    mean and the same gradient."""
    got = loss.gradient(p, t)
    want = R.central_difference(lambda x: rows(t, x).mean(), p)
    assert got.shape == p.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    value, g = loss.value_and_gradient(p, t)
    assert value == pytest.approx(rows(t, p).mean(), rel=1e-12)
    np.testing.assert_allclose(g, got, rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 1)])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_gradient_matches_central_differences(spec, shape):
    cls, kw, ref, kind = spec
    rng = np.random.default_rng(7)
    for _ in range(100):
        t, p = make(kind, shape, rng)
        if _away_from_kinks(kind, cls, kw, t, p):
            break
    check_gradient(cls(**kw), lambda tt, pp: ref(tt, pp, **ref_kwargs(kw)), t, p)


def check_gradient_dtypes(specs, make, dtype):
    """Every spec's loss gradient keeps y_pred's dtype."""
    rng = np.random.default_rng(0)
    for cls, kw, _, kind in specs:
        t, p = (a.astype(dtype) for a in make(kind, (4, 3), rng))
        assert cls(**kw).gradient(p, t).dtype == dtype, cls


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_keeps_the_dtype(dtype):
    check_gradient_dtypes(SPECS, make, dtype)


# ----------------------------------------- the fused kernel: F.binary_cross_entropy_with_logits
def _logits(rng, shape, dtype, extreme=False):
    z = 4 * rng.standard_normal(shape)
    if extreme:
        flat = z.reshape(-1)
        flat[::3] = 1e4
        flat[1::3] = -1e4
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4), (20000,)])
@pytest.mark.parametrize("extreme", [False, True])
def test_bce_with_logits_matches_reference(shape, dtype, extreme):
    rng = np.random.default_rng(sum(shape))
    z = _logits(rng, shape, dtype, extreme)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0, 2, shape[-1:]).astype(dtype)
    elem = R.bce_with_logits_elements(z, t)
    for weight in (None, w):
        we = elem if weight is None else elem * weight
        for reduction, want in (("none", we), ("sum", we.sum()), ("mean", we.mean())):
            got = F.binary_cross_entropy_with_logits(z, t, weight=weight, reduction=reduction)
            assert got.dtype == dtype and got.shape == np.shape(want)
            assert np.all(np.isfinite(got))
            scale = z if weight is None else z * weight
            if reduction != "none":
                scale = np.abs(scale).sum() / (z.size if reduction == "mean" else 1)
            assert_close_scaled(got, want, scale, 1e-6 if dtype == np.float32 else 1e-13)
            # backward: (sigmoid(z) - t) * weight * grad_out (/ count for the mean)
            g = (rng.standard_normal(shape).astype(dtype) if reduction == "none"
                 else np.asarray(1.5, dtype=dtype))
            dz = F.binary_cross_entropy_with_logits_backward(g, z, t, weight=weight,
                                                             reduction=reduction)
            wantd = (R.sigmoid(z) - t) * (1.0 if weight is None else weight) * g
            if reduction == "mean":
                wantd = wantd / z.size
            assert dz.dtype == dtype and dz.shape == z.shape and np.all(np.isfinite(dz))
            # s - t cancels: an absolute error of about eps * |weight * grad_out|
            np.testing.assert_allclose(dz, wantd, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                       atol=(1e-6 if dtype == np.float32 else 1e-14)
                                       / (z.size if reduction == "mean" else 1))


def test_bce_with_logits_gradient_central_differences():
    rng = np.random.default_rng(1)
    z, t = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    got = F.binary_cross_entropy_with_logits_backward(1.0, z, t)
    want = R.central_difference(lambda x: float(F.binary_cross_entropy_with_logits(x, t)), z)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)


def test_bce_with_logits_nan_stays_in_its_element_and_inputs_are_kept():
    z = np.array([0.5, np.nan, -2.0])
    t = np.array([1.0, 0.0, 0.0])
    zc, tc = z.copy(), t.copy()
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    assert np.isnan(loss[1]) and np.all(np.isfinite(loss[[0, 2]]))
    d = F.binary_cross_entropy_with_logits_backward(np.ones(3), z, t, reduction="none")
    assert np.isnan(d[1]) and np.all(np.isfinite(d[[0, 2]]))
    np.testing.assert_array_equal(z, zc)
    np.testing.assert_array_equal(t, tc)
    # non-contiguous views and integer targets
    z2 = np.arange(12.0).reshape(3, 4)[:, ::2] - 3
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z2, np.ones((3, 2), int),
                                                                  reduction="none"),
                               R.bce_with_logits_elements(z2, np.ones((3, 2))), rtol=1e-12)


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: no PyTorch cross-check")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_with_logits_matches_pytorch(dtype, reduction):
    torch = _torch()
    rng = np.random.default_rng(5)
    z = _logits(rng, (6, 5), dtype, extreme=True)
    z[0, :2] = [1e30, -1e30] if dtype == np.float32 else [1e300, -1e300]
    t = rng.uniform(0, 1, (6, 5)).astype(dtype)
    w = rng.uniform(0, 2, (5,)).astype(dtype)
    zt = torch.tensor(z, requires_grad=True)
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(t), weight=torch.tensor(w), reduction=reduction)
    g = (rng.standard_normal((6, 5)) if reduction == "none" else np.array(0.7)).astype(dtype)
    want.backward(torch.tensor(g))
    got = F.binary_cross_entropy_with_logits(z, t, weight=w, reduction=reduction)
    dz = F.binary_cross_entropy_with_logits_backward(g, z, t, weight=w, reduction=reduction)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(dz))
    scale = z * w
    if reduction != "none":
        scale = np.abs(scale).sum() / (z.size if reduction == "mean" else 1)
    assert_close_scaled(got, want.detach().numpy(), scale, rtol)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=rtol, atol=1e-7)


def test_bce_kernels_release_the_gil():
    from ccnn import _loss
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal(4_000_000), rng.uniform(0, 1, 4_000_000)
    for call in (lambda: _loss.sigmoid_bce_forward(z, t, 1),
                 lambda: _loss.sigmoid_bce_backward(None, z, t, 1.0, 1)):
        call()
        assert any(increments_during(call, 3) > 0 for _ in range(10))


def test_bce_kernels_thread_counts_agree():
    rng = np.random.default_rng(2)
    z, t = rng.standard_normal(300_000), rng.uniform(0, 1, 300_000)
    old = ccnn.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            ccnn.set_num_threads(n)
            outs.append((F.binary_cross_entropy_with_logits(z, t, reduction="none"),
                         F.binary_cross_entropy_with_logits_backward(1.0, z, t)))
    finally:
        ccnn.set_num_threads(old)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e30, 1e30), min_size=1, max_size=20),
       st.floats(0, 1))
def test_bce_with_logits_is_finite_and_nonnegative(zs, t):
    z = np.array(zs)
    tt = np.full_like(z, t)
    loss = F.binary_cross_entropy_with_logits(z, tt, reduction="none")
    d = F.binary_cross_entropy_with_logits_backward(np.ones_like(z), z, tt, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(loss >= -1e-12)
    assert np.all(np.abs(d) <= 1 + 1e-12)
    # for moderate logits it is Keras's BCE of sigmoid(z)
    small = np.abs(z) < 10
    np.testing.assert_allclose(loss[small], R.binary_crossentropy(
        tt[small, None], R.sigmoid(z[small])[:, None]), rtol=1e-6, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**31))
def test_binary_crossentropy_from_logits_equals_the_sigmoid_of_probabilities(n, k, seed):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-8, 8, (n, k))
    t = rng.uniform(0, 1, (n, k))
    np.testing.assert_allclose(L.binary_crossentropy(t, z, from_logits=True),
                               L.binary_crossentropy(t, R.sigmoid(z)), rtol=1e-6)


# ------------------------------------------------------------ names, configs
NAMES = {
    "binary_crossentropy": L.BinaryCrossentropy, "BinaryCrossentropy": L.BinaryCrossentropy,
    "bce": L.BinaryCrossentropy, "BCE": L.BinaryCrossentropy,
    "mean_squared_error": L.MeanSquaredError, "mse": L.MeanSquaredError,
    "MSE": L.MeanSquaredError, "MeanSquaredError": L.MeanSquaredError,
    "mean_absolute_error": L.MeanAbsoluteError, "mae": L.MeanAbsoluteError,
    "MAE": L.MeanAbsoluteError, "MeanAbsoluteError": L.MeanAbsoluteError,
    "huber": L.Huber, "Huber": L.Huber,
    "kl_divergence": L.KLDivergence, "kld": L.KLDivergence, "KLD": L.KLDivergence,
    "KLDivergence": L.KLDivergence,
    "hinge": L.Hinge, "Hinge": L.Hinge,
    "categorical_hinge": L.CategoricalHinge, "CategoricalHinge": L.CategoricalHinge,
    "categorical_crossentropy": L.CategoricalCrossentropy,
    "CategoricalCrossentropy": L.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": L.SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": L.SparseCategoricalCrossentropy,
}


def test_get_names_functions_classes_and_configs():
    for name, cls in NAMES.items():
        assert type(L.get(name)) is cls, name
    for cls, fn in FUNCTIONS.items():
        assert type(L.get(fn)) is cls
        assert type(L.get(cls)) is cls
    loss = L.Huber(0.5, reduction="sum", name="h")
    assert L.get(loss) is loss
    for cls, kw, _, _ in SPECS:
        obj = cls(**kw, reduction="sum", name="x")
        clone = L.deserialize(L.serialize(obj))
        assert type(clone) is cls and clone.get_config() == obj.get_config()
        assert L.get(L.serialize(obj)).get_config() == obj.get_config()
    assert L.BinaryCrossentropy().get_config() == {
        "name": "binary_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "label_smoothing": 0.0, "axis": -1}
    assert L.Huber().name == "huber_loss" and L.KLDivergence().name == "kl_divergence"
    with pytest.raises(ValueError, match="Unknown loss 'dice'"):
        L.get("dice")


def test_bad_arguments_name_the_argument():
    cases = [
        (ValueError, "reduction", lambda: L.MeanSquaredError(reduction="average")),
        (ValueError, "reduction", lambda: L.BinaryCrossentropy(reduction="mean_over_batch")),
        (ValueError, "label_smoothing", lambda: L.BinaryCrossentropy(label_smoothing=1.5)),
        (TypeError, "label_smoothing", lambda: L.CategoricalCrossentropy(label_smoothing="0.1")),
        (TypeError, "from_logits", lambda: L.BinaryCrossentropy(from_logits="yes")),
        (TypeError, "axis", lambda: L.BinaryCrossentropy(axis=1.0)),
        (TypeError, "axis", lambda: L.CategoricalCrossentropy(axis=True)),
        (ValueError, "delta", lambda: L.Huber(delta=-1.0)),
        (TypeError, "delta", lambda: L.Huber(delta="1")),
        (ValueError, "dtype", lambda: L.Hinge(dtype="int8")),
        (TypeError, "name", lambda: L.KLDivergence(name=3)),
        (ValueError, "y_true", lambda: L.mean_squared_error(np.zeros((3, 2)), np.zeros((3, 4)))),
        (TypeError, "y_pred", lambda: L.huber(np.zeros(2), np.array(["a", "b"]))),
        (ValueError, "axis", lambda: L.binary_crossentropy(np.zeros((2, 2)), np.zeros((2, 2)),
                                                           axis=2)),
        (ValueError, "sample_weight", lambda: L.MeanSquaredError()(
            np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))),
        (ValueError, "reduction", lambda: F.binary_cross_entropy_with_logits(
            np.zeros(2), np.zeros(2), reduction="avg")),
        (ValueError, "target", lambda: F.binary_cross_entropy_with_logits(
            np.zeros(2), np.zeros(3))),
        (ValueError, "weight", lambda: F.binary_cross_entropy_with_logits(
            np.zeros((2, 3)), np.zeros((2, 3)), weight=np.ones(2))),
        (TypeError, "input", lambda: F.binary_cross_entropy_with_logits(
            np.zeros(2, complex), np.zeros(2))),
        (ValueError, "grad_out", lambda: F.binary_cross_entropy_with_logits_backward(
            np.ones(2), np.zeros(2), np.zeros(2))),
        (ValueError, "grad_out", lambda: F.binary_cross_entropy_with_logits_backward(
            np.ones(3), np.zeros(2), np.zeros(2), reduction="none")),
    ]
    for exc, word, call in cases:
        with pytest.raises(exc, match=word):
            call()


def test_compile_takes_every_name_and_rejects_unreduced_losses():
    model = Sequential([Dense(3, input_shape=(4,))])
    for name, cls in NAMES.items():
        model.compile(optimizer="sgd", loss=name)
        assert type(model.loss) is cls
    for reduction in (None, "none"):
        with pytest.raises(ValueError, match="reduction"):
            model.compile(loss=L.MeanSquaredError(reduction=reduction))
    with pytest.raises(ValueError, match="Unknown loss 'dice'"):
        model.compile(loss="dice")


# ------------------------------------------------------------ models
def _binary_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, :2].sum(axis=1) + 0.3 * rng.standard_normal(n) > 0).astype(np.float32)
    return x, y


def _binary_model(activation="sigmoid", units=1):
    set_random_seed(0)
    return Sequential([Dense(16, activation="relu", input_shape=(6,)),
                       Dense(units, activation=activation)])


def test_sigmoid_head_trains_with_binary_crossentropy_and_accuracy():
    x, y = _binary_data()
    model = _binary_model()
    model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    assert isinstance(model._execution_plan().head, SigmoidBinaryCrossentropy)
    assert isinstance(model._compiled_metrics()[0], M.BinaryAccuracy)
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history
    assert set(hist) == {"loss", "accuracy"}         # Keras 3's names (checked below)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, y, verbose=0)
    p = model.predict(x)
    assert loss == pytest.approx(R.binary_crossentropy(y[:, None], p).mean(), rel=1e-4)
    assert acc == pytest.approx(np.mean((p[:, 0] > 0.5) == y), abs=1e-6)


def test_linear_head_with_from_logits_trains():
    x, y = _binary_data()
    model = _binary_model(activation=None)
    model.compile(optimizer=Adam(0.01), loss=L.BinaryCrossentropy(from_logits=True),
                  metrics=["binary_accuracy"])
    assert isinstance(model._execution_plan().head, LossHead)
    hist = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    z = model.predict(x)
    assert hist["binary_accuracy"][-1] > 0.9
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(
        R.binary_crossentropy(y[:, None], z, from_logits=True).mean(), rel=1e-4)


def test_the_fused_sigmoid_head_stays_finite_where_probabilities_saturate():
    model = Sequential([Dense(2, activation="sigmoid", input_shape=(3,), dtype="float64")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.layers[0].params["kernel"][:] = [[500.0, -500.0], [0, 0], [0, 0]]
    x = np.array([[1.0, 0, 0], [-1.0, 0, 0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0]])
    loss, grads = model.compute_gradients(x, y)
    # from the logits +-500: exactly the reference, not Keras's clipped 16.1
    z = x[:, :1] * [[500.0, -500.0]]
    want = R.bce_with_logits_elements(z, y).mean()
    assert loss == pytest.approx(want, rel=1e-12) and np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads)
    dz = (R.sigmoid(z) - y) / y.size
    np.testing.assert_allclose(grads[0], x.T @ dz, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["binary_crossentropy",
                                  L.BinaryCrossentropy(label_smoothing=0.1)])
def test_fused_and_unfused_sigmoid_plans_agree(dtype, loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 4)).astype(dtype)
    y = (rng.random((10, 3)) > 0.5).astype(dtype)
    results = []
    for fused in (True, False):
        set_random_seed(1)
        model = Sequential([Dense(5, activation="tanh", input_shape=(4,), dtype=dtype),
                            Dense(3, activation="sigmoid", dtype=dtype)])
        model.compile(optimizer="sgd", loss=loss)
        if not fused:
            model._plan = make_plan(model.layers, model.loss, fusions=())
            model._execution_plan = lambda m=model: m._plan
        assert isinstance(model._execution_plan().head,
                          SigmoidBinaryCrossentropy if fused else LossHead)
        results.append(model.compute_gradients(x, y))
    (l1, g1), (l2, g2) = results
    r = 1e-5 if dtype == "float32" else 1e-12
    assert l1 == pytest.approx(l2, rel=r)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=r * 10, atol=r)


def test_softmax_head_is_not_fused_with_non_crossentropy_losses():
    for loss in ("mse", "kld", "categorical_hinge", "binary_crossentropy"):
        model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
        model.compile(loss=loss)
        assert isinstance(model._execution_plan().head, LossHead), loss
    model = Sequential([Dense(3, activation="sigmoid", input_shape=(4,))])
    model.compile(loss="categorical_crossentropy")
    assert isinstance(model._execution_plan().head, LossHead)
    model.compile(loss=L.CategoricalCrossentropy(label_smoothing=0.1))
    model2 = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model2.compile(loss=L.CategoricalCrossentropy(label_smoothing=0.1))
    assert isinstance(model2._execution_plan().head, SoftmaxCrossEntropy)


# (loss, output activation, kind of targets) for the model-level checks
MODEL_CASES = [
    ("mse", None, "real"), ("mae", None, "real"), (L.Huber(0.5), None, "real"),
    ("kld", "softmax", "soft"), ("hinge", None, "pm1"), ("categorical_hinge", None, "onehot"),
    ("binary_crossentropy", "sigmoid", "binary"), (L.BinaryCrossentropy(from_logits=True),
                                                   None, "binary"),
    (L.CategoricalCrossentropy(label_smoothing=0.1), "softmax", "onehot"),
]
REF_OF = {"mse": (R.mean_squared_error, {}), "mae": (R.mean_absolute_error, {}),
          "kld": (R.kl_divergence, {}), "hinge": (R.hinge, {}),
          "categorical_hinge": (R.categorical_hinge, {}),
          "binary_crossentropy": (R.binary_crossentropy, {})}


def one_dense_model(loss, activation, reduction):
    """A float64 Dense(3) of 4 inputs compiled with `loss` at `reduction`."""
    lossfn = L.get(loss)
    lossfn = type(lossfn).from_config({**lossfn.get_config(), "reduction": reduction})
    set_random_seed(3)
    model = Sequential([Dense(3, activation=activation, input_shape=(4,), dtype="float64")])
    model.compile(optimizer="sgd", loss=lossfn)
    return model


def check_model_gradient(model, x, y, sw):
    """The one-Dense float64 model's loss and kernel gradient of the batch
    (x, y, sample weights sw) against evaluate's loss and its central
    differences."""
    kernel = model.layers[0].params["kernel"]

    def batch_loss(w):
        kernel[...] = w
        return model.evaluate(x, y, sample_weight=sw, batch_size=len(x), verbose=0)

    w0 = kernel.copy()
    want = R.central_difference(batch_loss, w0)
    kernel[...] = w0
    xp, yp, swp = model._prepare_xy(x, y, sw, None)
    out = model._forward(xp, training=True)
    got_loss = model._loss_and_backward(out, yp, swp)
    assert got_loss == pytest.approx(batch_loss(w0), rel=1e-12)
    np.testing.assert_allclose(model.layers[0].grads["kernel"], want, rtol=1e-6, atol=1e-9)


def _model_data(kind, n=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    if kind == "real":
        y = rng.standard_normal((n, k))
    elif kind == "soft":
        y = rng.dirichlet(np.ones(k), n)
    elif kind == "pm1":
        y = rng.choice([-1.0, 1.0], (n, k))
    elif kind == "binary":
        y = rng.choice([0.0, 1.0], (n, k))
    else:
        y = np.eye(k)[rng.integers(0, k, n)]
    return x, y, rng.uniform(0.2, 2.0, n)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: str(c[0]))
def test_model_gradients_match_central_differences(case, reduction):
    loss, activation, kind = case
    x, y, sw = _model_data(kind)
    model = one_dense_model(loss, activation, reduction)
    check_model_gradient(model, x, y, sw)


@pytest.mark.parametrize("case", [c for c in MODEL_CASES if isinstance(c[0], str)],
                         ids=lambda c: c[0])
def test_model_loss_matches_the_reference(case):
    loss, activation, kind = case
    x, y, sw = _model_data(kind, seed=1)
    set_random_seed(4)
    model = Sequential([Dense(3, activation=activation, input_shape=(4,), dtype="float64")])
    model.compile(loss=loss)
    ref, kw = REF_OF[loss]
    rows = ref(y, model.predict(x), **kw)
    assert model.evaluate(x, y, verbose=0, batch_size=len(x)) == pytest.approx(rows.mean(),
                                                                               rel=1e-10)
    assert model.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=len(x)) == \
        pytest.approx(R.reduce(rows, sw), rel=1e-10)


def test_accuracy_resolves_as_keras_3_does():
    # Keras 3's compile_utils.get_metric: by the output's shape, named 'accuracy'
    bce = L.BinaryCrossentropy()
    m1 = M.get_metric("accuracy", (None, 1), loss=bce)
    m3 = M.get_metric("accuracy", (None, 3), loss=bce)
    assert type(m1) is M.BinaryAccuracy and m1.name == "accuracy"
    assert type(m3) is M.CategoricalAccuracy and m3.name == "accuracy"
    assert type(M.get_metric("acc", (None, 1), loss="mse")) is M.BinaryAccuracy


# ------------------------------------------------------------ real keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: no Keras cross-check")


def _to_numpy(v):
    return np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)


def check_class_matches_keras(keras, cls, kw, t, p, sw, atol):
    """cls(**kw) under every reduction, without and with the sample weights
    sw, against the Keras class of its name; returns that class."""
    kcls = getattr(keras.losses, cls.__name__)
    for reduction in REDUCTIONS:
        mine, theirs = cls(**kw, reduction=reduction), kcls(**kw, reduction=reduction)
        for weights in (None, sw):
            np.testing.assert_allclose(mine(t, p, sample_weight=weights),
                                       _to_numpy(theirs(t, p, sample_weight=weights)),
                                       rtol=2e-5, atol=atol)
    return kcls


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_loss_class_matches_keras(spec):
    keras = _keras()
    cls, kw, _, kind = spec
    rng = np.random.default_rng(11)
    t, p = (a.astype(np.float32) for a in make(kind, (6, 3), rng))
    sw = rng.uniform(0, 2, 6).astype(np.float32)
    kcls = check_class_matches_keras(keras, cls, kw, t, p, sw, atol=2e-6)
    config = cls(**kw).get_config()
    kconfig = kcls(**kw).get_config()
    if cls is L.Huber:
        config.pop("delta")           # Keras 3 leaves it out of Huber's config
    assert config == {k: v for k, v in kconfig.items() if k != "dtype"}


def check_name_matches_keras(name, data, atol):
    """The loss of Keras name `name` on data (y_true, y_pred; as float32)
    against keras.losses.get(name)'s per-sample losses."""
    keras = _keras()
    t, p = (a.astype(np.float32) for a in data)
    theirs = keras.losses.get(name)
    want = _to_numpy(theirs.call(t, p) if isinstance(theirs, keras.losses.Loss)
                     else theirs(t, p))
    np.testing.assert_allclose(L.get(name).call(t, p), want, rtol=2e-5, atol=atol)


CLASS_KIND = {L.MeanSquaredError: "real", L.MeanAbsoluteError: "real", L.Huber: "real",
              L.KLDivergence: "soft", L.Hinge: "binary", L.CategoricalHinge: "onehot",
              L.BinaryCrossentropy: "binary_probs", L.CategoricalCrossentropy: "onehot_probs"}


@pytest.mark.parametrize("name", [n for n, c in NAMES.items()
                                  if c is not L.SparseCategoricalCrossentropy])
def test_every_loss_name_matches_keras(name):
    check_name_matches_keras(name, make(CLASS_KIND[NAMES[name]], (5, 4),
                                        np.random.default_rng(12)), atol=2e-6)


def test_sparse_categorical_crossentropy_matches_keras():
    keras = _keras()
    rng = np.random.default_rng(13)
    labels = rng.integers(0, 4, 6)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    sw = rng.uniform(0, 2, 6).astype(np.float32)
    for from_logits in (False, True):
        p = z if from_logits else np.exp(z) / np.exp(z).sum(1, keepdims=True)
        for reduction in REDUCTIONS:
            mine = L.SparseCategoricalCrossentropy(from_logits, reduction=reduction)
            theirs = keras.losses.SparseCategoricalCrossentropy(from_logits, reduction=reduction)
            np.testing.assert_allclose(mine(labels, p, sw), _to_numpy(theirs(labels, p, sw)),
                                       rtol=2e-5, atol=2e-6)
    assert L.SparseCategoricalCrossentropy().get_config() == {
        k: v for k, v in keras.losses.SparseCategoricalCrossentropy().get_config().items()
        if k != "dtype"}
    with pytest.raises(ValueError, match="ignore_class"):
        L.SparseCategoricalCrossentropy(ignore_class=255)


def step_matches_keras(keras, loss, activation, x, y, sw, lr=0.1, loss_atol=1e-6,
                       atol=2e-6):
    """One SGD(lr) step of Dense(3, activation) with `loss` from the same
    weights, data and sample weights, reductions 'sum_over_batch_size' and
    'sum': the same loss and new weights as Keras's (test_losses_keras2 too)."""
    for reduction in ("sum_over_batch_size", "sum"):
        mine = L.get(loss)
        config = {**mine.get_config(), "reduction": reduction}
        mine = type(mine).from_config(config)
        kloss = getattr(keras.losses, type(mine).__name__)(**config)
        set_random_seed(5)
        model = Sequential([Dense(3, activation=activation, input_shape=(4,))])
        model.compile(optimizer=SGD(lr), loss=mine)
        kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation)])
        kmodel.compile(optimizer=keras.optimizers.SGD(lr), loss=kloss)
        model.build((None, 4))
        kmodel.set_weights(model.get_weights())
        a = model.train_on_batch(x, y, sample_weight=sw)
        b = kmodel.train_on_batch(x, y, sample_weight=sw)
        assert a == pytest.approx(float(b), rel=2e-5, abs=loss_atol)
        for w, kw_ in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(w, kw_, rtol=2e-5, atol=atol)


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: str(c[0]))
def test_one_training_step_matches_keras(case):
    """Same weights, data, sample weights and SGD step: the same loss and the
    same new weights as a Keras model (the reduction 'sum' too)."""
    loss, activation, kind = case
    x, y, sw = (a.astype(np.float32) for a in _model_data(kind, seed=2))
    step_matches_keras(_keras(), loss, activation, x, y, sw)


def test_accuracy_names_match_keras():
    keras = _keras()
    x, y = _binary_data(64)
    for units in (1, 3):
        yy = y[:, None] if units == 1 else np.repeat(y[:, None], 3, axis=1)
        kmodel = keras.Sequential([keras.Input((6,)),
                                   keras.layers.Dense(units, activation="sigmoid")])
        kmodel.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        khist = kmodel.fit(x, yy, epochs=1, verbose=0).history
        kinner = [type(m).__name__ for m in kmodel.metrics[1].metrics]
        model = _binary_model(units=units)
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, yy, epochs=1, verbose=0).history
        assert set(hist) == set(khist)
        assert [type(m).__name__ for m in model._compiled_metrics()] == kinner
