"""Results must not depend on the number of threads; the thread API validates input."""

import numpy as np
import pytest

import ccnn
import ccnn.functional as F


@pytest.fixture
def restore_threads():
    old = ccnn.get_num_threads()
    yield old
    ccnn.set_num_threads(old)
    assert ccnn.get_num_threads() == old


def run_all(n_threads, dtype):
    ccnn.set_num_threads(n_threads)
    assert ccnn.get_num_threads() == n_threads
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8, 20, 20)).astype(dtype)
    w = rng.standard_normal((16, 8, 3, 3)).astype(dtype)
    b = rng.standard_normal(16).astype(dtype)
    out = {}
    for name, kw in [("plain", dict()), ("strided", dict(stride=2, padding="same")),
                     ("dilated", dict(padding=((1, 2), (0, 3)), dilation=(2, 1)))]:
        y = F.conv2d(x, w, b, **kw)
        gy = rng.standard_normal(y.shape).astype(dtype)
        out["conv_" + name] = y
        gx, gw, gb = F.conv2d_backward(gy, x, w, **kw)
        out["conv_gx_" + name], out["conv_gw_" + name], out["conv_gb_" + name] = gx, gw, gb
    pkw = dict(stride=2, padding=1, ceil_mode=True)
    y, idx = F.max_pool2d(x, 3, return_indices=True, **pkw)
    gy = rng.standard_normal(y.shape).astype(dtype)
    out["max"], out["max_idx"] = y, idx
    out["max_gx"] = F.max_pool2d_backward(gy, x, 3, **pkw)
    out["max_gx_idx"] = F.max_pool2d_backward(gy, x, 3, indices=idx, **pkw)
    for cip in (True, False):
        out[f"avg_{cip}"] = F.avg_pool2d(x, 3, count_include_pad=cip, **pkw)
        out[f"avg_gx_{cip}"] = F.avg_pool2d_backward(gy, x, 3, count_include_pad=cip, **pkw)
    # a few-channel conv (K < 6: typically a different algorithm than K = 16)
    w3 = rng.standard_normal((3, 8, 3, 3)).astype(dtype)
    y3 = F.conv2d(x, w3, padding=1)
    out["conv_small_k"] = y3
    out["conv_small_k_grads"] = np.concatenate(
        [g.ravel() for g in F.conv2d_backward(rng.standard_normal(y3.shape).astype(dtype),
                                              x, w3, padding=1)])
    # few input channels, many filters (the GEMM weight gradient split by image
    # groups, with more images than groups and not a multiple of them)
    x5 = rng.standard_normal((11, 3, 12, 12)).astype(dtype)
    w5 = rng.standard_normal((32, 3, 5, 5)).astype(dtype)
    y5 = F.conv2d(x5, w5, padding=2)
    out["conv_cifar_like_grads"] = np.concatenate(
        [g.ravel() for g in F.conv2d_backward(rng.standard_normal(y5.shape).astype(dtype),
                                              x5, w5, padding=2)])
    # element-wise ops: big enough (~300k elements) to be worth splitting
    big = rng.standard_normal((3, 16, 80, 80)).astype(dtype)
    out["relu"] = F.relu(big)
    out["relu_gx"] = F.relu_backward(big[::-1].copy(), big)
    out["dropout_y"], out["dropout_mask"] = F.dropout(big, 0.3, seed=11)
    out["dropout_gx"] = F.dropout_backward(big, out["dropout_mask"], 0.3)
    a = rng.standard_normal((120, 110)).astype(dtype)
    v = rng.standard_normal((7, 6)).astype(dtype)
    for mode in ("full", "valid", "same"):
        out["correlate_" + mode] = F.correlate(a, v, mode)
        out["convolve_" + mode] = F.convolve(a, v, mode)
    out["correlate_1d"] = F.correlate(a.ravel(), v.ravel(), "full")
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_vs_two_threads_identical(restore_threads, dtype):
    r1 = run_all(1, dtype)
    r2 = run_all(2, dtype)
    r1b = run_all(1, dtype)
    for key in r1:
        np.testing.assert_array_equal(r1[key], r1b[key], err_msg=f"{key}: not deterministic")
        np.testing.assert_array_equal(r1[key], r2[key], err_msg=f"{key}: 1 vs 2 threads")


def test_more_threads_than_work(restore_threads):
    x = np.random.default_rng(1).standard_normal((1, 1, 3, 3))
    w = np.ones((1, 1, 2, 2))
    ccnn.set_num_threads(1)
    y1 = F.conv2d(x, w)
    ccnn.set_num_threads(8)
    assert ccnn.get_num_threads() == 8
    np.testing.assert_array_equal(F.conv2d(x, w), y1)


def test_get_returns_what_was_set(restore_threads):
    for n in (1, 2, 3, 1):
        ccnn.set_num_threads(n)
        assert ccnn.get_num_threads() == n
        assert isinstance(ccnn.get_num_threads(), int)


def test_default_is_positive_int():
    n = ccnn.get_num_threads()
    assert isinstance(n, int) and n >= 1


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_set_nonpositive_raises_value_error(restore_threads, bad):
    ccnn.set_num_threads(2)
    with pytest.raises(ValueError):
        ccnn.set_num_threads(bad)
    assert ccnn.get_num_threads() == 2  # unchanged after a failed call


@pytest.mark.parametrize("bad", [1.5, 2.0, "2", None, [2]])
def test_set_non_int_raises_type_error(restore_threads, bad):
    ccnn.set_num_threads(2)
    with pytest.raises(TypeError):
        ccnn.set_num_threads(bad)
    assert ccnn.get_num_threads() == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_threads_match_reference(restore_threads, dtype):
    """The multi-threaded paths (only taken for enough work) are also correct."""
    import reference as ref
    from _testutils import abs_scale, assert_close

    ccnn.set_num_threads(2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 20, 20)).astype(dtype)
    for K in (3, 16):
        w = rng.standard_normal((K, 8, 3, 3)).astype(dtype)
        b = rng.standard_normal(K).astype(dtype)
        pad = ((1, 2), (0, 1))
        y = F.conv2d(x, w, b, stride=(2, 1), padding=pad)
        args = dict(stride=(2, 1), pad=pad, dilation=(1, 1))
        assert_close(y, ref.conv2d_ref(x, w, b, **args), dtype,
                     abs_scale(ref.conv2d_ref, x, w, b, **args))
        gy = rng.standard_normal(y.shape).astype(dtype)
        got = F.conv2d_backward(gy, x, w, stride=(2, 1), padding=pad)
        exp = ref.conv2d_backward_ref(gy, x, w, **args)
        scales = abs_scale(ref.conv2d_backward_ref, gy, x, w, **args)
        for g, e, s in zip(got, exp, scales):
            assert_close(g, e, dtype, s)
    y, idx = F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True)
    ey, eidx = ref.max_pool2d_ref(x, 3, 2, 1, True)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(idx, eidx)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(gy, x, 3, stride=2, padding=1, ceil_mode=True),
                 ref.max_pool2d_backward_ref(gy, x, 3, 2, 1, True), dtype)
    ya = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert_close(ya, ref.avg_pool2d_ref(x, 3, 2, 1, True, False), dtype)
    assert_close(F.avg_pool2d_backward(gy, x, 3, stride=2, padding=1, ceil_mode=True,
                                       count_include_pad=False),
                 ref.avg_pool2d_backward_ref(gy, x, 3, 2, 1, True, False), dtype)
    big = rng.standard_normal((300_000,)).astype(dtype)
    np.testing.assert_array_equal(F.relu(big), ref.relu_ref(big))
    np.testing.assert_array_equal(F.relu_backward(big[::-1], big),
                                  ref.relu_backward_ref(big[::-1], big))


def test_huge_thread_count_rejected_or_usable(restore_threads):
    """A thread count the kernels cannot take must be refused up front
    (ValueError), not accepted and then break every later call."""
    try:
        ccnn.set_num_threads(2 ** 31)
    except ValueError:
        return
    np.testing.assert_array_equal(F.relu(np.array([-1.0, 2.0])), [0.0, 2.0])
