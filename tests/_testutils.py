"""Shared helpers for the ccnn tests: tolerances and random configurations."""

from __future__ import annotations

import contextlib
import os
import re

import numpy as np

import reference as ref

DTYPES = [np.float32, np.float64]

# (rtol, atol factor) -- atol is "factor * scale", where scale is a bound on
# the magnitude of the terms that were summed (so cancellation is tolerated).
TOL = {
    np.dtype(np.float64): (1e-10, 1e-12),
    np.dtype(np.float32): (1e-4, 1e-5),
}


def assert_close(got, expected, dtype, scale=None, err_msg=""):
    """Check type, dtype, shape and values (NaN == NaN) of a library result."""
    dtype = np.dtype(dtype)
    assert isinstance(got, np.ndarray), f"expected ndarray, got {type(got)!r}"
    assert got.dtype == dtype, f"dtype {got.dtype} != expected {dtype}"
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    if scale is None:
        finite = np.abs(expected[np.isfinite(expected)])
        scale = float(finite.max()) if finite.size else 1.0
    scale = max(float(scale), 1e-30)
    rtol, atol_f = TOL[dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol_f * scale,
                               equal_nan=True, err_msg=err_msg)


def abs_scale(fn, *args, **kw):
    """max(fn(|a1|, |a2|, ...)): a bound on the size of the summed terms.

    ndarray arguments are replaced by their absolute values (in float64);
    everything else (None, kernel sizes, strides...) is passed unchanged.
    """
    out = fn(*[np.abs(a.astype(np.float64)) if isinstance(a, np.ndarray) else a
               for a in args], **kw)
    if isinstance(out, tuple):
        return tuple(float(np.max(o)) if np.size(o) else 1.0 for o in out)
    return float(np.max(out)) if np.size(out) else 1.0


def names(*argnames):
    """Regex matching any of the given argument names as a whole word."""
    return r"\b(" + "|".join(re.escape(n) for n in argnames) + r")\b"


def unchanged(*arrays):
    """Snapshot arrays; call the returned function to assert none changed."""
    copies = [np.array(a, copy=True) for a in arrays]

    def check():
        for a, c in zip(arrays, copies):
            np.testing.assert_array_equal(a, c, err_msg="input was modified")
            assert a.dtype == c.dtype

    return check


# --------------------------------------------------------------------------
# random configurations
# --------------------------------------------------------------------------
def _int_or_pair(rng, lo, hi, p_pair=0.4):
    """Random int, or a random (h, w) pair with probability p_pair."""
    if rng.random() < p_pair:
        return (int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1)))
    return int(rng.integers(lo, hi + 1))


def _conv_padding(rng, kind, hi):
    """The padding spec of `kind`: amounts in [0, hi)."""
    if kind == "int":
        return int(rng.integers(0, hi))
    if kind == "pair":
        return (int(rng.integers(0, hi)), int(rng.integers(0, hi)))
    if kind == "asym":
        return tuple((int(rng.integers(0, hi)), int(rng.integers(0, hi))) for _ in range(2))
    return kind


def _conv_config(rng, N, C, K, H, W, R, S, stride, dilation, padding):
    """The configuration dict, or None when the output would be empty."""
    sh, sw = ref.pair(stride)
    dh, dw = ref.pair(dilation)
    pad = ref.conv_padding(padding, H, W, R, S, stride, dilation)
    P = ref.conv_out_size(H, R, sh, *pad[0], dh)
    Q = ref.conv_out_size(W, S, sw, *pad[1], dw)
    if P < 1 or Q < 1:
        return None
    return dict(N=N, C=C, K=K, H=H, W=W, R=R, S=S, stride=stride,
                padding=padding, dilation=dilation, pad=pad,
                bias=bool(rng.random() < 0.7), P=P, Q=Q)


def random_conv_config(seed):
    """A random, valid conv2d configuration (small enough for the references).

    Returns a dict with N, C, K, H, W, R, S, stride, padding (the spec passed
    to the library), dilation, pad (explicit ((t, b), (l, r))), bias (bool).
    """
    rng = np.random.default_rng(1000 + seed)
    kinds = ["int", "pair", "asym", "valid", "same"]
    while True:
        N = int(rng.integers(1, 4))
        C = int(rng.integers(1, 5))
        K = int(rng.integers(1, 5))
        H = int(rng.integers(1, 13))
        W = int(rng.integers(1, 13))
        R = int(rng.integers(1, 6))
        S = int(rng.integers(1, 6))
        stride = _int_or_pair(rng, 1, 4)
        dilation = 1 if rng.random() < 0.5 else _int_or_pair(rng, 1, 3)
        padding = _conv_padding(rng, kinds[seed % len(kinds)], 4)
        config = _conv_config(rng, N, C, K, H, W, R, S, stride, dilation, padding)
        if config is not None:
            return config


def random_conv_config_large(seed):
    """A random conv2d configuration with many output channels (K >= 6) and a
    long reduction (C*R*S >= 32): the shapes for which an optimised library
    typically switches from direct loops to an (implicit) GEMM."""
    rng = np.random.default_rng(3000 + seed)
    kinds = ["int", "asym", "same", "valid", "pair"]
    while True:
        N = int(rng.integers(1, 3))
        C = int(rng.integers(2, 9))
        K = int(rng.integers(6, 20))
        H = int(rng.integers(3, 15))
        W = int(rng.integers(3, 15))
        R = int(rng.integers(2, 6))
        S = int(rng.integers(2, 6))
        if C * R * S < 32:
            continue
        stride = _int_or_pair(rng, 1, 3)
        dilation = 1 if rng.random() < 0.6 else _int_or_pair(rng, 1, 2)
        padding = _conv_padding(rng, kinds[seed % len(kinds)], 3)
        config = _conv_config(rng, N, C, K, H, W, R, S, stride, dilation, padding)
        if config is not None:
            return config


def random_pool_config(seed):
    """A random, valid pooling configuration (PyTorch rules).

    Returns a dict with N, C, H, W, kernel_size, stride (None = kernel),
    padding (<= kernel//2), ceil_mode, count_include_pad, ties (bool: use few
    distinct values so max-pool ties happen).
    """
    rng = np.random.default_rng(5000 + seed)
    while True:
        N = int(rng.integers(1, 4))
        C = int(rng.integers(1, 5))
        H = int(rng.integers(1, 13))
        W = int(rng.integers(1, 13))
        k = _int_or_pair(rng, 1, 5)
        kh, kw = ref.pair(k)
        u = rng.random()
        if u < 0.25:
            stride = None
        else:
            stride = _int_or_pair(rng, 1, 6)  # may exceed the kernel
        if rng.random() < 0.5:
            padding = int(rng.integers(0, min(kh, kw) // 2 + 1))
        else:
            padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
        ph, pw = ref.pair(padding)
        if H + 2 * ph < kh or W + 2 * pw < kw:
            continue
        return dict(N=N, C=C, H=H, W=W, kernel_size=k, stride=stride, padding=padding,
                    ceil_mode=bool(seed % 2), count_include_pad=bool(rng.random() < 0.5),
                    ties=bool(seed % 3 == 0))


def pool_kwargs(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], ceil_mode=cfg["ceil_mode"])


def pool_ref_args(cfg):
    """(k, stride, pad, ceil_mode) in the order the references take them."""
    return (cfg["kernel_size"], cfg["stride"], cfg["padding"], cfg["ceil_mode"])


LAYOUTS = ["fortran", "strided", "reversed", "transposed", "readonly"]


def layout_variant(a, layout):
    """Return an array equal to ``a`` but with an unusual memory layout.

    fortran    -- column-major copy
    strided    -- every other element of a twice-as-large buffer
    reversed   -- negative strides on every axis
    transposed -- last two axes swapped in memory (just "strided" for 1-D)
    readonly   -- a C-contiguous copy with ``flags.writeable = False``
    """
    a = np.asarray(a)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided" or (layout == "transposed" and a.ndim < 2):
        big = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype)
        sl = tuple(slice(None, None, 2) for _ in a.shape)
        big[sl] = a
        return big[sl]
    if layout == "reversed":
        rev = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[rev])[rev]
    if layout == "transposed":
        return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, -1, -2)), -1, -2)
    if layout == "readonly":
        ro = a.copy()
        ro.flags.writeable = False
        return ro
    raise ValueError(layout)


def require_optional(module, what):
    """Import an optional test dependency, or skip the calling test module
    saying what is missing -- unless CCNN_REQUIRE_OPTIONAL=1 (CI sets it:
    the test extra installs them all), where a missing one fails instead."""
    import importlib
    import os

    import pytest
    if os.environ.get("CCNN_REQUIRE_OPTIONAL") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} ({what}) is not installed")


def central_differences(f, x, h=1e-6):
    """d f / d x by central differences, entry by entry (f: float64 array -> float)."""
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        a, b = x.copy(), x.copy()
        a[i] += h
        b[i] -= h
        num[i] = (f(a) - f(b)) / (2 * h)
    return num


def keras_or_skip():
    """keras on the torch backend for a cross-check, or skip saying it is missing
    (a failure under CCNN_REQUIRE_OPTIONAL=1, as require_optional)."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return require_optional("keras", "the Keras cross-checks")


def check_layer_gradients(layer, x, dout, weight=None):
    """A float64 layer's input gradient -- and params[weight]'s, when named --
    against central differences of sum(layer(x) * dout)."""
    import numpy as np
    num = central_differences(lambda a: float((layer(a, training=True) * dout).sum()), x)
    numw = None
    if weight is not None:
        p = layer.params[weight]
        p0 = p.copy()

        def f(a):
            np.copyto(p, a)
            return float((layer(x, training=True) * dout).sum())
        numw = central_differences(f, p0)
        np.copyto(p, p0)
    layer(x, training=True)
    np.testing.assert_allclose(layer.backward(dout), num, rtol=1e-6, atol=1e-8)
    if weight is not None:
        np.testing.assert_allclose(layer.grads[weight], numw, rtol=1e-6, atol=1e-8)


@contextlib.contextmanager
def kernel_env(**values):
    """The kernels' tuning knobs (CCNN_WINO_WGRAD=..., etc.) set in os.environ
    for the block and read again (the kernels read each once), then the
    previous environment back and read again."""
    from ccnn import _runtime
    old = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update(values)
        _runtime.reread_environment()
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _runtime.reread_environment()


def assert_writes_every_element(call, dtype):
    """call() returns arrays its binding allocates uninitialised (np.empty)
    for the kernel to fill: each must be written in full.  The same sizes are
    first allocated full of NaN and freed (the allocator hands that memory
    back), so an element a kernel skipped would show as a NaN or a stale
    value.  Returns call()'s first result."""
    first = call()
    for _ in range(3):
        junk = [np.full(a.shape, np.nan, dtype=dtype) for a in first]
        del junk
        again = call()
        for a, b in zip(first, again):
            assert not np.isnan(b).any()
            np.testing.assert_array_equal(a, b)
    return first
