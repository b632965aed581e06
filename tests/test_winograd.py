"""Winograd F(2x2, 3x3) convolution (csrc/conv2d.c, forward_winograd): the
forward and the stride-1 input gradient against the NumPy references, against
the implicit-GEMM path it replaces, non-finite values (which take the GEMM
path) and independence from the thread count.

The private binding forces the algorithm (algo="winograd" / "gemm"); the
public API picks Winograd by shape (ccnn._conv2d.winograd_eligible)."""

from __future__ import annotations

import numpy as np
import pytest

import ccnn
import reference as ref
from _testutils import DTYPES, abs_scale, assert_close
from ccnn import _conv2d
from ccnn import functional as F

ONE = (1, 1)


def random_wino_config(seed):
    """A random geometry Winograd supports (3x3, stride 1, dilation 1), with
    channels around the thresholds (16: the input gradient's route; 32: the
    auto choice), odd and even sizes (partial last tiles) and asymmetric
    padding 0..2 (the input gradient's flipped forward needs <= 2)."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 10))
    c = int(rng.choice([1, 3, 15, 16, 17, 31, 32, 33, 40]))
    k = int(rng.choice([1, 5, 15, 16, 17, 31, 32, 33, 48]))
    h, w = (int(v) for v in rng.integers(1, 21, size=2))
    pads = tuple(int(v) for v in rng.integers(0, 3, size=4))   # top, bottom, left, right
    # the output must not be empty: h + pt + pb >= 3
    h = max(h, 3 - pads[0] - pads[1])
    w = max(w, 3 - pads[2] - pads[3])
    return n, c, k, h, w, pads


def make(cfg, dtype, seed, bias=True):
    n, c, k, h, w, pads = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype) if bias else None
    p, q = h + pads[0] + pads[1] - 2, w + pads[2] + pads[3] - 2
    gy = rng.standard_normal((n, k, p, q)).astype(dtype)
    return x, wt, b, gy


def ref_pad(pads):
    return ((pads[0], pads[1]), (pads[2], pads[3]))


def forward(x, w, b, pads, algo, nthreads=2):
    return _conv2d.conv2d_forward(x, w, b, ONE, ONE, pads, nthreads, algo=algo)


def input_grad(gy, x, w, pads, algo, nthreads=2):
    return _conv2d.conv2d_backward(gy, x, w, ONE, ONE, pads, True, False, False, nthreads,
                                   algo=algo)[0]


def data_supported(x, w, pads):
    return _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads, "data", forced=True)


CONFIGS = [random_wino_config(s) for s in range(36)]


def test_configs_cover_the_cases():
    """The random geometries include what the kernels must handle."""
    assert sum(cfg[3] % 2 for cfg in CONFIGS) and sum(1 - cfg[3] % 2 for cfg in CONFIGS)
    assert sum(cfg[4] % 2 for cfg in CONFIGS) and sum(1 - cfg[4] % 2 for cfg in CONFIGS)
    assert any(cfg[5][0] != cfg[5][1] or cfg[5][2] != cfg[5][3] for cfg in CONFIGS)
    assert {1, 9} & {cfg[0] for cfg in CONFIGS}
    assert sum(cfg[2] >= 16 for cfg in CONFIGS) >= 10      # input gradient through Winograd


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(len(CONFIGS)))
def test_forward_and_input_grad_match_reference(seed, dtype):
    cfg = CONFIGS[seed]
    x, w, b, gy = make(cfg, dtype, seed, bias=seed % 3 != 0)
    pads, pad = cfg[5], ref_pad(cfg[5])
    y = forward(x, w, b, pads, "winograd")
    assert_close(y, ref.conv2d_ref(x, w, b, ONE, pad, ONE), dtype,
                 abs_scale(ref.conv2d_ref, x, w, b, stride=ONE, pad=pad, dilation=ONE))
    # against the implicit GEMM it stands in for
    assert_close(y, forward(x, w, b, pads, "gemm"), dtype,
                 abs_scale(ref.conv2d_ref, x, w, b, stride=ONE, pad=pad, dilation=ONE))
    exp = ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)
    if data_supported(x, w, pads):
        dx = input_grad(gy, x, w, pads, "winograd")
        assert_close(dx, exp[0], dtype, scales[0])
        assert_close(dx, input_grad(gy, x, w, pads, "gemm"), dtype, scales[0])
    # the weight and bias gradients of the forced algorithm are the GEMM ones
    got = _conv2d.conv2d_backward(gy, x, w, ONE, ONE, pads, data_supported(x, w, pads),
                                  True, True, 2, algo="winograd")
    assert_close(got[1], exp[1], dtype, scales[1])
    assert_close(got[2], exp[2], dtype, scales[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,eligible", [((4, 32, 64, 28, 28, (1, 1, 1, 1)), True),  # "mid"
                                            ((2, 64, 64, 30, 31, (1, 0, 2, 1)), True),
                                            ((9, 48, 48, 21, 17, (0, 2, 0, 1)), True),
                                            ((20, 32, 32, 5, 6, (1, 1, 1, 1)), False)])
def test_auto_path_is_winograd(shape, eligible, dtype):
    """The public API takes Winograd on eligible shapes: bit for bit the
    forced kernel, close to the reference, forward (with and without the
    fused ReLU) and input gradient."""
    x, w, b, gy = make(shape, dtype, 7)
    pads, pad = shape[5], ref_pad(shape[5])
    kw = dict(stride=1, padding=(pad[0], pad[1]))
    assert _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads) == eligible
    y = F.conv2d(x, w, b, **kw)
    if eligible:
        np.testing.assert_array_equal(y, forward(x, w, b, pads, "winograd", ccnn.get_num_threads()))
    scale = abs_scale(ref.conv2d_ref, x, w, b, stride=ONE, pad=pad, dilation=ONE)
    expected = ref.conv2d_ref(x, w, b, ONE, pad, ONE)
    assert_close(y, expected, dtype, scale)
    yr = _conv2d.conv2d_forward(x, w, b, ONE, ONE, pads, 2, relu=True)
    assert_close(yr, np.maximum(expected, 0), dtype, scale)
    dx = F.conv2d_backward(gy, x, w, **kw)[0]
    exp = ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)
    assert_close(dx, exp[0], dtype, scales[0])
    if _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads, "data"):
        np.testing.assert_array_equal(dx, input_grad(gy, x, w, pads, "winograd",
                                                     ccnn.get_num_threads()))


def test_benchmark_shapes_are_eligible():
    assert _conv2d.winograd_eligible((32, 32, 28, 28), (64, 32, 3, 3), ONE, ONE, (1, 1, 1, 1))
    assert _conv2d.winograd_eligible((32, 32, 28, 28), (64, 32, 3, 3), ONE, ONE, (1, 1, 1, 1),
                                     "data")
    assert _conv2d.winograd_eligible((8, 64, 56, 56), (64, 64, 3, 3), ONE, ONE, (1, 1, 1, 1))
    assert _conv2d.winograd_eligible((8, 64, 56, 56), (64, 64, 3, 3), ONE, ONE, (1, 1, 1, 1),
                                     "data")
    # few channels, small images, other windows: the other algorithms
    assert not _conv2d.winograd_eligible((8, 16, 28, 28), (16, 16, 3, 3), ONE, ONE, (1, 1, 1, 1))
    assert not _conv2d.winograd_eligible((8, 64, 7, 7), (64, 64, 3, 3), ONE, ONE, (1, 1, 1, 1))
    assert not _conv2d.winograd_eligible((8, 64, 28, 28), (64, 64, 5, 5), ONE, ONE, (2, 2, 2, 2))
    assert not _conv2d.winograd_eligible((8, 64, 28, 28), (64, 64, 3, 3), (2, 2), ONE,
                                         (1, 1, 1, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_tile_blocks_and_groups(dtype, monkeypatch):
    """Several tile blocks per image (a small CCNN_WINO_BLOCK_BYTES) and
    groups of small images give the reference's results too."""
    for cfg in [(3, 16, 24, 37, 35, (1, 2, 0, 1)), (13, 17, 16, 4, 5, (1, 1, 0, 2))]:
        x, w, b, gy = make(cfg, dtype, 3)
        pads, pad = cfg[5], ref_pad(cfg[5])
        monkeypatch.setenv("CCNN_WINO_BLOCK_BYTES", "1")
        y1, dx1 = forward(x, w, b, pads, "winograd"), input_grad(gy, x, w, pads, "winograd")
        monkeypatch.delenv("CCNN_WINO_BLOCK_BYTES")
        y2, dx2 = forward(x, w, b, pads, "winograd"), input_grad(gy, x, w, pads, "winograd")
        scale = abs_scale(ref.conv2d_ref, x, w, b, stride=ONE, pad=pad, dilation=ONE)
        expected = ref.conv2d_ref(x, w, b, ONE, pad, ONE)
        assert_close(y1, expected, dtype, scale)
        assert_close(y2, expected, dtype, scale)
        exp = ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)[0]
        s = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)[0]
        assert_close(dx1, exp, dtype, s)
        assert_close(dx2, exp, dtype, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [(5, 32, 32, 16, 15, (1, 1, 1, 1)),
                                 (9, 16, 17, 9, 10, (0, 2, 1, 0)),
                                 (20, 32, 32, 5, 6, (1, 1, 1, 1))])
def test_threads_bit_identical(cfg, dtype, monkeypatch):
    x, w, b, gy = make(cfg, dtype, 11)
    pads = cfg[5]
    for block in (None, "1"):
        if block:
            monkeypatch.setenv("CCNN_WINO_BLOCK_BYTES", block)
        np.testing.assert_array_equal(forward(x, w, b, pads, "winograd", 1),
                                      forward(x, w, b, pads, "winograd", 2))
        np.testing.assert_array_equal(input_grad(gy, x, w, pads, "winograd", 1),
                                      input_grad(gy, x, w, pads, "winograd", 2))


def _assert_same_placement(got, expected, dtype, scale):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    assert_close(got, expected, dtype, scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ["winograd", "auto"])
def test_nonfinite_fall_back(dtype, algo):
    """An infinity in x, dy or the weight would come out of the transforms as
    NaN, spread to the neighbours: those images (and a non-finite weight)
    take the GEMM path, so NaN and inf sit where the definition puts them."""
    cfg = (6, 32, 64, 20, 21, (1, 1, 1, 1))   # c * k = 2048: eligible under every GEMM kernel
    x, w, b, gy = make(cfg, dtype, 5)
    pads, pad = cfg[5], ref_pad(cfg[5])
    assert _conv2d.winograd_eligible(x.shape, w.shape, ONE, ONE, pads)
    x[1, 0, 4, 5] = np.inf
    x[3, 2, 0, 0] = -np.inf
    x[3, 5, 10, 10] = np.nan
    gy[2, 1, 7, 7] = np.inf
    gy[4, 0, 19, 20] = -np.inf
    xf = np.where(np.isfinite(x), x, 0)
    gf = np.where(np.isfinite(gy), gy, 0)
    y = forward(x, w, b, pads, algo)
    expected = ref.conv2d_ref(x, w, b, ONE, pad, ONE)
    assert np.isinf(expected).any() and np.isnan(expected).any()
    _assert_same_placement(y, expected, dtype,
                           abs_scale(ref.conv2d_ref, xf, w, b, stride=ONE, pad=pad, dilation=ONE))
    dx = input_grad(gy, x, w, pads, algo)
    edx = ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)[0]
    assert np.isinf(edx).any()
    _assert_same_placement(dx, edx, dtype,
                           abs_scale(ref.conv2d_backward_ref, gf, x, w, stride=ONE, pad=pad,
                                     dilation=ONE)[0])
    # a non-finite weight: no output of its filter is finite (NaN where a tap
    # meets the padding, 0 * inf), as the definition has it
    for value in (np.inf, np.nan):
        w2 = w.copy()
        w2[3, 1, 0, 2] = value
        y2 = forward(xf.astype(dtype), w2, b, pads, algo)
        e2 = ref.conv2d_ref(xf, w2, b, ONE, pad, ONE)
        assert not np.isfinite(e2[:, 3]).any() and np.isnan(e2[:, 3]).any()
        _assert_same_placement(y2, e2, dtype,
                               abs_scale(ref.conv2d_ref, xf, np.where(np.isfinite(w2), w2, 0), b,
                                         stride=ONE, pad=pad, dilation=ONE))
        dx2 = input_grad(gf.astype(dtype), xf.astype(dtype), w2, pads, algo)
        edx2 = ref.conv2d_backward_ref(gf, xf, w2, ONE, pad, ONE)[0]
        _assert_same_placement(dx2, edx2, dtype,
                               abs_scale(ref.conv2d_backward_ref, gf, xf,
                                         np.where(np.isfinite(w2), w2, 0), stride=ONE, pad=pad,
                                         dilation=ONE)[0])


def test_forced_on_unsupported_shapes_raises():
    x = np.zeros((2, 16, 8, 8), np.float32)
    w3 = np.zeros((16, 16, 3, 3), np.float32)
    w5 = np.zeros((16, 16, 5, 5), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        _conv2d.conv2d_forward(x, w5, None, ONE, ONE, (2, 2, 2, 2), 1, algo="winograd")
    with pytest.raises(ValueError, match="winograd"):
        _conv2d.conv2d_forward(x, w3, None, (2, 2), ONE, (1, 1, 1, 1), 1, algo="winograd")
    with pytest.raises(ValueError, match="winograd"):
        _conv2d.conv2d_forward(x, w3, None, ONE, (2, 2), (2, 2, 2, 2), 1, algo="winograd")
    gy = np.zeros((2, 16, 12, 12), np.float32)
    with pytest.raises(ValueError, match="winograd"):   # padding 3 > 2: no flipped forward
        _conv2d.conv2d_backward(gy, x, w3, ONE, ONE, (3, 3, 3, 3), True, False, False, 1,
                                algo="winograd")
    x3 = np.zeros((2, 3, 8, 8), np.float32)
    gy3 = np.zeros((2, 16, 8, 8), np.float32)
    with pytest.raises(ValueError, match="winograd"):   # c < 16: the GEMM's col2im route
        _conv2d.conv2d_backward(gy3, x3, np.zeros((16, 3, 3, 3), np.float32), ONE, ONE,
                                (1, 1, 1, 1), True, False, False, 1, algo="winograd")
    with pytest.raises(ValueError, match="algo"):
        _conv2d.conv2d_forward(x, w3, None, ONE, ONE, (1, 1, 1, 1), 1, algo="fft")


def _eligible_in_subprocess(shape_x, shape_w, env, cwd):
    """winograd_eligible (forward, data) of a 3x3 "same" conv in a fresh
    interpreter with `env` added (the GEMM micro-kernel is chosen once), run
    in `cwd` (not the source tree, whose ccnn/ would shadow an installed one)."""
    import json
    import os
    import subprocess
    import sys
    code = ("import json, ccnn; from ccnn import _conv2d as C; a = ((1, 1), (1, 1), (1, 1, 1, 1)); "
            f"print(json.dumps([C.winograd_eligible({shape_x}, {shape_w}, *a, p) for p in "
            "('forward', 'data')] + [C.gemm_kernel_name()]))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True, cwd=cwd).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("isa", ["", "avx2"])
def test_small_ck_rule_follows_the_gemm_kernel(isa, tmp_path):
    """With fewer than 2048 filter pairs Winograd needs 100 tiles per image
    against the AVX2 GEMM micro-kernel, 400 against the AVX-512 one (the
    modern model's c = k = 32 at 28x28, 196 tiles, then takes the implicit
    GEMM); CCNN_WINO_SMALL_CK_TILES overrides the threshold; c * k >= 2048
    stays eligible."""
    env = {"CCNN_GEMM_ISA": isa} if isa else {}
    fwd, data, name = _eligible_in_subprocess((64, 32, 28, 28), (32, 32, 3, 3), env, tmp_path)
    wide = name.startswith("avx512")
    assert fwd == data == (not wide)
    assert _eligible_in_subprocess((64, 32, 28, 28), (32, 32, 3, 3),
                                   {**env, "CCNN_WINO_SMALL_CK_TILES": "100"}, tmp_path)[:2] == [True, True]
    assert _eligible_in_subprocess((8, 32, 56, 56), (32, 32, 3, 3), env, tmp_path)[:2] == [True, True]
    assert _eligible_in_subprocess((64, 32, 14, 14), (64, 32, 3, 3), env, tmp_path)[:2] == [True, True]
    assert _eligible_in_subprocess((64, 64, 14, 14), (64, 64, 3, 3), env, tmp_path)[:2] == [True, True]


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_ck_shape_auto_matches_reference(dtype):
    """The modern model's c = k = 32, 28x28 layer through the auto kernels
    (GEMM or Winograd, whichever the GEMM kernel makes it): close to the
    float64 reference, forward and both gradients."""
    cfg = (3, 32, 32, 28, 28, (1, 1, 1, 1))
    x, w, b, gy = make(cfg, dtype, 11)
    pads, pad = cfg[5], ref_pad(cfg[5])
    y = F.conv2d(x, w, b, stride=1, padding=(pad[0], pad[1]))
    scale = abs_scale(ref.conv2d_ref, x, w, b, stride=ONE, pad=pad, dilation=ONE)
    assert_close(y, ref.conv2d_ref(x, w, b, ONE, pad, ONE), dtype, scale)
    got = _conv2d.conv2d_backward(gy, x, w, ONE, ONE, pads, True, True, True, 2)
    exp = ref.conv2d_backward_ref(gy, x, w, ONE, pad, ONE)
    scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, stride=ONE, pad=pad, dilation=ONE)
    for i in range(3):
        assert_close(got[i], exp[i], dtype, scales[i])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 0, 2), (0, 2, 1, 0)])
def test_nonfinite_at_every_edge_is_seen(dtype, pads):
    """The forward's finiteness check of each group of images before its
    transforms (conv2d_winograd_forward) covers every element: a single NaN
    or infinity on any edge or corner of the last channel of any image,
    whatever the padding (odd sizes: partial last tiles), sends that image's
    group to the GEMM path -- its output is the implicit GEMM's, NaN and inf
    where the definition puts them -- and the input gradient's flipped
    forward sees one in dy alike (a check that missed an edge would let the
    transforms spread NaN to the whole tile)."""
    n, c, k, h, w = 4, 32, 32, 15, 13
    cfg = (n, c, k, h, w, pads)
    x0, wt, b, gy0 = make(cfg, dtype, 11)
    pad = ref_pad(pads)
    assert _conv2d.winograd_eligible(x0.shape, wt.shape, ONE, ONE, pads, forced=True)
    for img, (i, j), value in [(0, (0, 0), np.nan), (3, (0, w - 1), np.inf),
                               (1, (h - 1, 0), -np.inf), (2, (h - 1, w - 1), np.nan),
                               (3, (h // 2, w - 1), np.inf), (0, (h - 1, w // 2), np.nan)]:
        x = x0.copy()
        x[img, c - 1, i, j] = value
        y = forward(x, wt, b, pads, "winograd")
        expected = ref.conv2d_ref(x, wt, b, ONE, pad, ONE)
        assert not np.isfinite(expected[img]).all()
        xf = np.where(np.isfinite(x), x, 0)
        _assert_same_placement(y, expected, dtype,
                               abs_scale(ref.conv2d_ref, xf, wt, b, stride=ONE, pad=pad,
                                         dilation=ONE))
        # that image's group took the implicit GEMM's path, bit for bit
        np.testing.assert_array_equal(y[img], forward(x, wt, b, pads, "gemm")[img])
    if data_supported(x0, wt, pads):
        p, q = gy0.shape[2:]
        for img, (i, j) in [(0, (0, 0)), (3, (p - 1, q - 1)), (1, (0, q - 1)), (2, (p - 1, 0))]:
            gy = gy0.copy()
            gy[img, k - 1, i, j] = np.inf
            dx = input_grad(gy, x0, wt, pads, "winograd")
            edx = ref.conv2d_backward_ref(gy, x0, wt, ONE, pad, ONE)[0]
            assert np.isinf(edx[img]).any()
            gf = np.where(np.isfinite(gy), gy, 0)
            _assert_same_placement(dx, edx, dtype,
                                   abs_scale(ref.conv2d_backward_ref, gf, x0, wt, stride=ONE,
                                             pad=pad, dilation=ONE)[0])
