"""The fused training-mode BatchNormalization + ReLU kernels (batchnorm.c's
batchnorm_relu_forward / _backward, the training plan's BN_RELU op): against
the NumPy reference (tests/ref_norm.py), against central differences, and bit
for bit against the layers' kernels called one after the other."""
from __future__ import annotations

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn import _activation, _norm

import ref_norm as ref
from _testutils import DTYPES, assert_close, central_differences, unchanged
from test_normalization import _case   # a random (outer, C, inner) shape

EPS = 1e-3


def _inputs(rng, shape, dtype, affine=True):
    c = shape[1]
    x = (rng.normal(size=shape) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)).astype(dtype)
    gamma = rng.normal(size=c).astype(dtype) if affine else None
    beta = rng.normal(size=c).astype(dtype) if affine else None
    dout = rng.normal(size=shape).astype(dtype)
    return x, gamma, beta, dout


def _threads():
    return ccnn.get_num_threads()


def _separate(x, gamma, beta, dout, nt):
    """The layers' kernels one after the other: stats, invstd, normalize, ReLU;
    ReLU's backward (the ReLU's input for the mask), BN's backward."""
    dtype = x.dtype.type
    mean, var = _norm.batchnorm_stats(x, nt)
    invstd = F._invstd(var, EPS, dtype)
    z = _norm.batchnorm_forward(x, mean, invstd, gamma, beta, nt)
    y = _activation.relu_forward(z.reshape(-1), nt).reshape(z.shape)
    dz = _activation.relu_backward(dout.reshape(-1), z.reshape(-1), nt).reshape(z.shape)
    dx, dg, db = _norm.batchnorm_backward(dz, x, mean, invstd, gamma, True, True, True, True,
                                          nt)
    return y, mean, var, invstd, dx, dg, db


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(20))
def test_matches_the_reference(seed, dtype):
    rng, shape = _case(seed)
    x, gamma, beta, dout = _inputs(rng, shape, dtype, affine=seed % 4 != 3)
    check = unchanged(x, dout, *(a for a in (gamma, beta) if a is not None))
    out, mean, var, invstd = _norm.batchnorm_relu_forward(x, gamma, beta, EPS, _threads())
    rmean, rvar = ref.stats(x)
    assert_close(mean, rmean.astype(dtype), dtype, scale=np.abs(x).max())
    assert_close(var, rvar.astype(dtype), dtype, scale=np.abs(x).max() ** 2)
    assert_close(invstd, (1 / np.sqrt(rvar + EPS)).astype(dtype), dtype,
                 scale=1 / np.sqrt(rvar.min() + EPS))
    z = ref.forward(x, rmean, rvar, EPS, gamma, beta)
    assert_close(out, np.maximum(z, 0).astype(dtype), dtype, scale=np.abs(z).max() + 1)

    dx, dg, db = _norm.batchnorm_relu_backward(dout, out, x, mean, invstd, gamma, True,
                                               _threads())
    # the reference's mask from its own pre-activation, away from the kink
    dz = np.where(z > 0, dout.astype(np.float64), 0.0)
    rdx, rdg, rdb = ref.backward(dz, x, rmean, rvar, EPS, gamma, True)
    g = 1.0 if gamma is None else np.abs(gamma).max()
    near = np.abs(z) < 1e-3 * (np.abs(z).max() + 1)      # a mask that rounding may flip
    if not near.any():
        scale = np.abs(dout).max() * g / np.sqrt(rvar.min() + EPS) * 4
        assert_close(dx, rdx.astype(dtype), dtype, scale=scale)
        assert_close(dg, rdg.astype(dtype), dtype, scale=np.abs(rdg).max() + shape[0] * shape[2])
        assert_close(db, rdb.astype(dtype), dtype, scale=np.abs(dz).sum(axis=(0, 2)).max())
    check()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5, 1), (4096, 16, 1), (7, 3, 17), (64, 32, 784),
                                   (16, 64, 196), (2, 4, 4097 * 2)])
def test_bit_identical_to_the_layers_kernels(shape, dtype, threads):
    rng = np.random.default_rng(sum(shape) + threads)
    x, gamma, beta, dout = _inputs(rng, shape, dtype)
    x.reshape(-1)[::7] = 0              # ties at the ReLU's kink come from real data too
    y, mean, var, invstd, dx, dg, db = _separate(x, gamma, beta, dout, threads)
    out, m2, v2, s2 = _norm.batchnorm_relu_forward(x, gamma, beta, EPS, threads)
    for a, b in ((out, y), (m2, mean), (v2, var), (s2, invstd)):
        assert np.array_equal(a, b)
    got = _norm.batchnorm_relu_backward(dout, out, x, mean, invstd, gamma, True, threads)
    for a, b in zip(got, (dx, dg, db)):
        assert np.array_equal(a, b)
    # without dx (a first layer): the same dgamma and dbeta
    none, dg2, db2 = _norm.batchnorm_relu_backward(dout, out, x, mean, invstd, gamma, False,
                                                   threads)
    assert none is None and np.array_equal(dg2, dg) and np.array_equal(db2, db)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_counts_agree_bit_for_bit_on_images(dtype):
    """inner > 1: threads take whole channels, so the thread count changes nothing."""
    rng = np.random.default_rng(11)
    x, gamma, beta, dout = _inputs(rng, (8, 6, 300), dtype)
    res = []
    for nt in (1, 2, 3):
        out, mean, var, invstd = _norm.batchnorm_relu_forward(x, gamma, beta, EPS, nt)
        res.append((out, mean, var, invstd)
                   + _norm.batchnorm_relu_backward(dout, out, x, mean, invstd, gamma, True, nt))
    for other in res[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(res[0], other))


@pytest.mark.parametrize("inner", [1, 6])
def test_gradients_match_central_differences(inner):
    rng = np.random.default_rng(5 + inner)
    shape = (5, 3, inner) if inner > 1 else (12, 3, 1)
    x = rng.normal(size=shape) * 2 + 0.3
    gamma, beta = rng.normal(size=3), rng.normal(size=3) * 0.3
    g = rng.normal(size=shape)

    def loss(x_, w_, b_):
        return float((_norm.batchnorm_relu_forward(x_, w_, b_, EPS, 1)[0] * g).sum())

    out, mean, _, invstd = _norm.batchnorm_relu_forward(x, gamma, beta, EPS, 1)
    z = ref.forward(x, *ref.stats(x), EPS, gamma, beta)
    assert np.abs(z).min() > 1e-4          # no element at the ReLU's kink
    dx, dg, db = _norm.batchnorm_relu_backward(g, out, x, mean, invstd, gamma, True, 1)
    np.testing.assert_allclose(dx, central_differences(lambda a: loss(a, gamma, beta), x),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dg, central_differences(lambda a: loss(x, a, beta), gamma),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(db, central_differences(lambda a: loss(x, gamma, a), beta),
                               rtol=1e-5, atol=1e-7)


def test_no_values():
    """outer or inner 0: NaN statistics (a mean of nothing), zero gradients."""
    x = np.zeros((0, 3, 4), np.float32)
    out, mean, var, invstd = _norm.batchnorm_relu_forward(x, None, None, EPS, 2)
    assert out.shape == (0, 3, 4) and np.isnan(mean).all() and np.isnan(var).all() \
        and np.isnan(invstd).all()
    dx, dg, db = _norm.batchnorm_relu_backward(x, x, x, mean, invstd, None, True, 2)
    assert dx.shape == (0, 3, 4) and not dg.any() and not db.any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_non_finite_and_signed_zero_gradients_as_the_layers_kernels(dtype, threads):
    """The fused backward forms ReLU's gradient dout * (y > 0) where it uses it
    (no stored copy): NaN and inf in dout, -0.0, and outputs at the kink give
    the same bits as relu_backward followed by batchnorm_backward."""
    rng = np.random.default_rng(23 + threads)
    shape = (6, 5, 130)
    x, gamma, beta, dout = _inputs(rng, shape, dtype)
    x.reshape(-1)[::5] = 0
    dout[0, 1, ::9] = np.nan            # channel 1: every gradient NaN
    dout[2, 3, ::11] = np.inf           # channel 3: inf (NaN where masked off: inf * 0)
    dout[1, 4, :] = -0.0                # channel 4 partly signed zeros
    y, mean, _, invstd, dx, dg, db = _separate(x, gamma, beta, dout, threads)
    out = _norm.batchnorm_relu_forward(x, gamma, beta, EPS, threads)[0]
    got = _norm.batchnorm_relu_backward(dout, out, x, mean, invstd, gamma, True, threads)
    for a, b in zip(got, (dx, dg, db)):
        assert np.array_equal(a, b, equal_nan=True)
        assert np.array_equal(np.signbit(a), np.signbit(b))
    assert np.isnan(got[0][:, 1]).all() and np.isfinite(got[0][:, 0]).all()
