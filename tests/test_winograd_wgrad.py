"""Winograd F(2x2, 3x3) weight gradient (csrc/kernels/conv2d_winograd.c,
conv2d_winograd_wgrad): dW[k,c] = G^T [sum_t (A dY_t A^T) (.) (B^T d_t B)] G.
Against the NumPy reference over seeded shapes (odd / even sizes, paddings
0..2, channels off the vector widths), float64 central differences, the
thread count (1 vs 2 bit for bit), the GEMM micro-kernels, non-finite values
(recomputed by the direct tiles) and the auto dispatch of the layer.

The private binding forces the algorithm (algo="winograd" runs this kernel
for the weight pass); the auto weight pass takes it where
_conv2d.winograd_eligible(..., "weight") says so."""

from __future__ import annotations

import numpy as np
import pytest

import ccnn
import reference as ref
from _testutils import DTYPES, abs_scale, assert_close, central_differences, kernel_env
from ccnn import _conv2d
from ccnn import functional as F

ONE = (1, 1)


def random_config(seed):
    """A geometry the Winograd weight gradient supports: 3x3, stride 1,
    dilation 1; batch 1..5, c and k around (not on) multiples of 8, odd and
    even h, w (partial last tiles), asymmetric padding 0..2."""
    rng = np.random.default_rng(2000 + seed)
    n = int(rng.integers(1, 6))
    c = int(rng.choice([1, 3, 7, 9, 15, 17, 33]))
    k = int(rng.choice([1, 5, 6, 11, 17, 31, 34]))
    h, w = (int(v) for v in rng.integers(1, 19, size=2))
    pads = tuple(int(v) for v in rng.integers(0, 3, size=4))
    h = max(h, 3 - pads[0] - pads[1])
    w = max(w, 3 - pads[2] - pads[3])
    return n, c, k, h, w, pads


CONFIGS = [random_config(s) for s in range(30)]


def make(cfg, dtype, seed):
    n, c, k, h, w, pads = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    p, q = h + pads[0] + pads[1] - 2, w + pads[2] + pads[3] - 2
    gy = rng.standard_normal((n, k, p, q)).astype(dtype)
    return x, wt, gy


def ref_pad(pads):
    return ((pads[0], pads[1]), (pads[2], pads[3]))


def wgrad(gy, x, w, pads, algo="winograd", nthreads=2, bias=False):
    _, dw, db = _conv2d.conv2d_backward(gy, x, w, ONE, ONE, pads, False, True, bias, nthreads,
                                        algo=algo)
    return (dw, db) if bias else dw


def numpy_wgrad(gy, x, pads):
    """dW[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] * xpad[n, c, p + r, q + s] (float64)."""
    p, q = gy.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), ref_pad(pads)[0], ref_pad(pads)[1]))
    out = np.empty((gy.shape[1], x.shape[1], 3, 3))
    for r in range(3):
        for s in range(3):
            out[:, :, r, s] = np.einsum("nkpq,ncpq->kc", gy.astype(np.float64),
                                        xp[:, :, r:r + p, s:s + q])
    return out


def test_configs_cover_the_cases():
    assert {0, 1} <= {cfg[3] % 2 for cfg in CONFIGS}
    assert {0, 1} <= {cfg[4] % 2 for cfg in CONFIGS}
    assert {0, 1, 2} <= {v for cfg in CONFIGS for v in cfg[5]}
    assert any(cfg[5][0] != cfg[5][1] or cfg[5][2] != cfg[5][3] for cfg in CONFIGS)
    assert {1, 5} <= {cfg[0] for cfg in CONFIGS}
    assert all(cfg[1] % 8 and cfg[2] % 8 for cfg in CONFIGS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(len(CONFIGS)))
def test_matches_numpy_reference(seed, dtype):
    cfg = CONFIGS[seed]
    x, w, gy = make(cfg, dtype, seed)
    pads, pad = cfg[5], ref_pad(cfg[5])
    dw, db = wgrad(gy, x, w, pads, bias=True)
    assert dw.dtype == dtype
    scale = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)
    assert_close(dw, numpy_wgrad(gy, x, pads), dtype, scale[1])
    assert_close(dw, ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)[1], dtype, scale[1])
    assert_close(db, gy.astype(np.float64).sum(axis=(0, 2, 3)), dtype, scale[2])
    # against the direct tiles it stands in for
    assert_close(dw, wgrad(gy, x, w, pads, "gemm"), dtype, scale[1])


@pytest.mark.parametrize("cfg", [(2, 3, 4, 6, 5, (1, 1, 1, 1)), (1, 5, 3, 5, 8, (0, 2, 1, 0)),
                                 (3, 2, 2, 7, 7, (2, 0, 0, 2))])
def test_weight_gradient_central_differences(cfg):
    """float64: the Winograd dW is the derivative of L = sum(conv2d(x, w) * gy)."""
    x, w, gy = make(cfg, np.float64, 4)
    pads = cfg[5]
    dw = wgrad(gy, x, w, pads)
    num = central_differences(
        lambda v: np.sum(_conv2d.conv2d_forward(x, v, None, ONE, ONE, pads, 1, algo="gemm") * gy),
        w)
    np.testing.assert_allclose(dw, num, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [(5, 33, 34, 16, 15, (1, 1, 1, 1)),
                                 (9, 17, 11, 9, 10, (0, 2, 1, 0)),
                                 (20, 32, 32, 6, 7, (1, 1, 1, 1)),
                                 (1, 40, 40, 30, 30, (1, 1, 1, 1))])
def test_threads_bit_identical(cfg, dtype, monkeypatch):
    """1 and 2 threads (and 3), with the default tile budget and blocks of
    16 tiles (a tiny CCNN_WINO_BLOCK_BYTES): the same bits; small blocks
    agree with the reference too."""
    x, w, gy = make(cfg, dtype, 11)
    pads, pad = cfg[5], ref_pad(cfg[5])
    scale = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)[1]
    for block in (None, "1"):
        if block:
            monkeypatch.setenv("CCNN_WINO_BLOCK_BYTES", block)
        one = wgrad(gy, x, w, pads, nthreads=1)
        np.testing.assert_array_equal(one, wgrad(gy, x, w, pads, nthreads=2))
        np.testing.assert_array_equal(one, wgrad(gy, x, w, pads, nthreads=3))
        assert_close(one, numpy_wgrad(gy, x, pads), dtype, scale)


def _placement(got, expected):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonfinite_inputs_keep_the_definitions_placement(dtype):
    """NaN / inf in x or dy would leave the transforms as NaN everywhere they
    reach; the result then comes from the direct tiles, as the definition
    places them (here: only some filters are hit)."""
    cfg = (4, 33, 34, 10, 11, (1, 1, 1, 1))
    x, w, gy = make(cfg, dtype, 5)
    pads = cfg[5]
    gy[1, 3] = 0
    gy[1, 3, 2, 2] = np.inf
    x2 = x.copy()
    x2[2, 5, 4, 4] = np.nan
    for xx, gg in ((x, gy), (x2, np.where(np.isfinite(gy), gy, 0).astype(dtype))):
        got = wgrad(gg, xx, w, pads)
        expected = ref.conv2d_backward_ref(gg, xx, w, ONE, ref_pad(pads), ONE)[1]
        assert np.isfinite(expected).any() and not np.isfinite(expected).all()
        _placement(got, expected)
        np.testing.assert_array_equal(got, wgrad(gg, xx, w, pads, "gemm"))


def _wgrad_in_subprocess(env, cwd):
    """The forced Winograd weight gradient of a fixed problem in a fresh
    interpreter with `env` added (the GEMM micro-kernel is chosen once),
    against the float64 NumPy einsum; returns (max relative error, kernel name)."""
    import json
    import os
    import subprocess
    import sys
    code = (
        "import json, numpy as np; from ccnn import _conv2d as C\n"
        "rng = np.random.default_rng(3)\n"
        "x = rng.standard_normal((3, 19, 13, 12)).astype(np.float32)\n"
        "w = rng.standard_normal((21, 19, 3, 3)).astype(np.float32)\n"
        "gy = rng.standard_normal((3, 21, 13, 12)).astype(np.float32)\n"
        "a = ((1, 1), (1, 1), (1, 1, 1, 1))\n"
        "dw = C.conv2d_backward(gy, x, w, *a, False, True, False, 2, 'winograd')[1]\n"
        "xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))\n"
        "e = np.stack([np.stack([np.einsum('nkpq,ncpq->kc', gy.astype(np.float64), "
        "xp[:, :, r:r + 13, s:s + 12]) for s in range(3)], -1) for r in range(3)], -2)\n"
        "print(json.dumps([float(np.abs(dw - e).max() / np.abs(e).max()), C.gemm_kernel_name()]))\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True, cwd=cwd).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("isa", ["", "avx2", "generic"])
def test_gemm_kernels(isa, tmp_path):
    """Every GEMM micro-kernel family (CCNN_GEMM_ISA) gives the reference."""
    import os
    import sys
    env = {"CCNN_GEMM_ISA": isa} if isa else {}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    err, name = _wgrad_in_subprocess(env, tmp_path)
    if isa == "generic":
        assert name.startswith("generic")
    assert err < 1e-5


def test_forced_on_unsupported_shapes_raises():
    x = np.zeros((2, 16, 8, 8), np.float32)
    w5 = np.zeros((16, 16, 5, 5), np.float32)
    gy5 = np.zeros((2, 16, 8, 8), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        _conv2d.conv2d_backward(gy5, x, w5, ONE, ONE, (2, 2, 2, 2), False, True, False, 1,
                                algo="winograd")
    w3 = np.zeros((16, 16, 3, 3), np.float32)
    gy2 = np.zeros((2, 16, 4, 4), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        _conv2d.conv2d_backward(gy2, x, w3, (2, 2), ONE, (1, 1, 1, 1), False, True, False, 1,
                                algo="winograd")
    assert not _conv2d.winograd_eligible(x.shape, w5.shape, ONE, ONE, (2, 2, 2, 2), "weight",
                                         forced=True)
    assert _conv2d.winograd_eligible(x.shape, w3.shape, ONE, ONE, (1, 1, 1, 1), "weight",
                                     forced=True)


def test_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float64)
    w = np.ones((4, 3, 3, 3))
    gy = np.zeros((0, 4, 5, 5))
    dw = wgrad(gy, x, w, (1, 1, 1, 1))
    np.testing.assert_array_equal(dw, np.zeros_like(w))


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [(4, 32, 32, 28, 28, (1, 1, 1, 1)),
                                 (3, 32, 64, 14, 14, (1, 1, 1, 1)),
                                 (2, 64, 64, 14, 14, (1, 1, 1, 1))])
def test_layer_backward_through_auto_dispatch(cfg, dtype, activation):
    """The modern model's conv shapes through the public layer: Conv2D's
    backward (plain, and with the fused ReLU's masked gradient) takes the auto
    weight pass -- bit for bit the forced Winograd kernel where
    winograd_eligible(..., "weight") says so -- and matches the reference."""
    x, w, gy = make(cfg, dtype, 9)
    pads = cfg[5]
    n, c, k, h, wd, _ = cfg
    layer = ccnn.layers.Conv2D(k, 3, padding="same", activation=activation,
                               data_format="channels_first", dtype=np.dtype(dtype).name)
    layer.build(x.shape)
    layer.params["kernel"][...] = w
    y = layer.forward(x, training=True)
    layer.backward(gy)
    dw = layer.grads["kernel"]
    dz = gy * (y > 0) if activation else gy            # the gradient reaching the conv
    dz = np.ascontiguousarray(dz, dtype=dtype)
    scale = abs_scale(ref.conv2d_backward_ref, dz, x, w, stride=ONE, pad=ref_pad(pads),
                      dilation=ONE)[1]
    assert_close(dw, numpy_wgrad(dz, x, pads), dtype, scale)
    if _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads, "weight"):
        np.testing.assert_array_equal(dw, wgrad(dz, x, w, pads, "winograd",
                                                ccnn.get_num_threads()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_auto_choice_and_its_switch(dtype):
    """The modern model's layers take the Winograd weight gradient under the
    AVX2 GEMM kernel (the direct tiles under AVX-512's); CCNN_WINO_WGRAD=0
    gives conv2d_wgrad.c's result bit for bit."""
    cfg = (3, 32, 64, 14, 14, (1, 1, 1, 1))
    x, w, gy = make(cfg, dtype, 2)
    pads = cfg[5]
    wide = _conv2d.gemm_kernel_name().startswith("avx512")
    assert _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads, "weight") == (not wide)
    assert not _conv2d.winograd_eligible((3, 16, 14, 14), (16, 16, 3, 3), ONE, ONE, pads, "weight")
    auto = wgrad(gy, x, w, pads, "auto")
    np.testing.assert_array_equal(auto, wgrad(gy, x, w, pads, "gemm" if wide else "winograd"))
    with kernel_env(CCNN_WINO_WGRAD="0"):
        assert not _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads, "weight")
        np.testing.assert_array_equal(wgrad(gy, x, w, pads, "auto"),
                                      wgrad(gy, x, w, pads, "gemm"))
