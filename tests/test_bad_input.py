"""Bad input must raise ValueError / TypeError whose message names the argument.

Every case is a separate (parametrized) test so a failure pinpoints one
missing check.  ``names("x")`` is a regex matching the whole word ``x``.
"""

import numpy as np
import pytest

import ccnn.functional as F
import reference as ref
from _testutils import names

# ---------------------------------------------------------------- fixtures
X = np.ones((2, 3, 8, 8))
W = np.ones((4, 3, 3, 3))
B = np.ones(4)
GY = np.ones((2, 4, 6, 6))          # conv2d(X, W) output shape
PGY = np.ones((2, 3, 4, 4))          # max/avg_pool2d(X, 2) output shape
PIDX = ref.max_pool2d_ref(X, 2)[1]   # valid int64 indices for (X, kernel 2)

BIG = 2 ** 70    # does not fit in int64
HUGE = 2 ** 62   # fits in int64, but doubling / adding overflows


def conv(**kw):
    args = dict(x=X, weight=W, bias=B)
    args.update(kw)
    return F.conv2d(args.pop("x"), args.pop("weight"), args.pop("bias"), **args)


def conv_bwd(**kw):
    args = dict(grad_out=GY, x=X, weight=W)
    args.update(kw)
    return F.conv2d_backward(args.pop("grad_out"), args.pop("x"), args.pop("weight"), **args)


def maxpool(**kw):
    args = dict(x=X, kernel_size=2)
    args.update(kw)
    return F.max_pool2d(args.pop("x"), args.pop("kernel_size"), **args)


def avgpool(**kw):
    args = dict(x=X, kernel_size=2)
    args.update(kw)
    return F.avg_pool2d(args.pop("x"), args.pop("kernel_size"), **args)


def maxpool_bwd(**kw):
    args = dict(grad_out=PGY, x=X, kernel_size=2)
    args.update(kw)
    return F.max_pool2d_backward(args.pop("grad_out"), args.pop("x"), args.pop("kernel_size"),
                                 **args)


def avgpool_bwd(**kw):
    args = dict(grad_out=PGY, x=X, kernel_size=2)
    args.update(kw)
    return F.avg_pool2d_backward(args.pop("grad_out"), args.pop("x"), args.pop("kernel_size"),
                                 **args)


POOLS = [maxpool, avgpool, maxpool_bwd, avgpool_bwd]
POOL_IDS = ["max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward"]
CONVS = [conv, conv_bwd]
CONV_IDS = ["conv2d", "conv2d_backward"]


def test_baseline_inputs_are_valid():
    """Sanity: the unmodified fixtures are accepted (so failures below are real)."""
    assert conv().shape == GY.shape
    assert [g.shape for g in conv_bwd()] == [X.shape, W.shape, B.shape]
    for fn in POOLS:
        assert fn().shape in (PGY.shape, X.shape)
    assert maxpool_bwd(indices=PIDX).shape == X.shape


# ================================================================ conv2d
@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 2, 3, 8, 8), (8,), ()], ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_x_wrong_ndim(fn, shape):
    with pytest.raises(ValueError, match=names("x")):
        fn(x=np.ones(shape))


@pytest.mark.parametrize("shape", [(3, 3, 3), (4, 3, 3, 3, 1), (9,)], ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_weight_wrong_ndim(fn, shape):
    with pytest.raises(ValueError, match=names("weight")):
        fn(weight=np.ones(shape))


@pytest.mark.parametrize("shape", [(4, 6, 6), (2, 4, 6, 6, 1)], ids=str)
def test_conv_backward_grad_out_wrong_ndim(shape):
    with pytest.raises(ValueError, match=names("grad_out")):
        conv_bwd(grad_out=np.ones(shape))


@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_channel_mismatch(fn):
    with pytest.raises(ValueError, match=names("x", "weight")):
        fn(weight=np.ones((4, 2, 3, 3)))


@pytest.mark.parametrize("stride", [0, -1, (1, 0), (-2, 1)], ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_stride_below_one(fn, stride):
    with pytest.raises(ValueError, match=names("stride")):
        fn(stride=stride)


@pytest.mark.parametrize("dilation", [0, -1, (1, 0), (0, 2)], ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_dilation_below_one(fn, dilation):
    with pytest.raises(ValueError, match=names("dilation")):
        fn(dilation=dilation)


@pytest.mark.parametrize("padding", [-1, (0, -1), (-1, 0), ((0, 0), (-1, 0)), ((-1, 2), (0, 0))],
                         ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_negative_padding(fn, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(padding=padding)


@pytest.mark.parametrize("padding", ["foo", "", "full"])
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_unknown_padding_string(fn, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(padding=padding)


@pytest.mark.parametrize("padding", [(1, 2, 3), (1,), ((1, 1), (1, 1), (1, 1)), ((1,), (1, 1)),
                                     ((1, 1, 1), (1, 1))], ids=str)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_padding_wrong_length(fn, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(padding=padding)


@pytest.mark.parametrize("stride", [(1, 2, 3), (1,)], ids=str)
def test_conv_stride_wrong_length(stride):
    with pytest.raises(ValueError, match=names("stride")):
        conv(stride=stride)


@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_kernel_larger_than_padded_input(fn):
    x = np.ones((2, 3, 3, 3))
    w = np.ones((4, 3, 5, 5))
    kw = dict(x=x, weight=w)
    if fn is conv_bwd:
        kw["grad_out"] = np.ones((2, 4, 1, 1))
    with pytest.raises(ValueError, match=names("x", "weight", "padding", "kernel")):
        fn(**kw)


@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_empty_output_from_dilation(fn):
    # effective kernel (3 - 1) * 4 + 1 = 9 > 8 = H
    kw = dict(dilation=4)
    if fn is conv_bwd:
        kw["grad_out"] = np.ones((2, 4, 1, 1))
    with pytest.raises(ValueError, match=names("x", "weight", "dilation", "padding")):
        fn(**kw)


@pytest.mark.parametrize("shape", [(2, 3, 0, 8), (2, 3, 8, 0)], ids=str)
def test_conv_empty_spatial_input(shape):
    with pytest.raises(ValueError, match=names("x", "weight", "padding")):
        conv(x=np.ones(shape))


@pytest.mark.parametrize("shape", [(5,), (3,), (4, 1), (1, 4), ()], ids=str)
def test_conv_bias_wrong_shape(shape):
    with pytest.raises(ValueError, match=names("bias")):
        conv(bias=np.ones(shape))


@pytest.mark.parametrize("shape", [(2, 4, 5, 6), (2, 4, 6, 7), (2, 3, 6, 6), (1, 4, 6, 6)],
                         ids=str)
def test_conv_backward_grad_out_wrong_shape(shape):
    with pytest.raises(ValueError, match=names("grad_out")):
        conv_bwd(grad_out=np.ones(shape))


@pytest.mark.parametrize("stride", [1.5, 2.0, np.float64(2.0), True, False, (1, 1.5), (True, 1),
                                    "2"], ids=repr)
def test_conv_non_int_stride(stride):
    with pytest.raises(TypeError, match=names("stride")):
        conv(stride=stride)


@pytest.mark.parametrize("dilation", [1.5, True, (1, 2.0)], ids=repr)
def test_conv_non_int_dilation(dilation):
    with pytest.raises(TypeError, match=names("dilation")):
        conv(dilation=dilation)


@pytest.mark.parametrize("padding", [1.5, True, (1, 0.5), ((0, 1.0), (0, 0))], ids=repr)
def test_conv_non_int_padding(padding):
    with pytest.raises(TypeError, match=names("padding")):
        conv(padding=padding)


def test_numpy_integer_parameters_accepted():
    """np.int64 etc. are integers (operator.index works), unlike bool or float."""
    y = conv(stride=np.int64(2), padding=np.int32(1), dilation=(np.int64(1), 1))
    np.testing.assert_array_equal(y, conv(stride=2, padding=1, dilation=1))
    np.testing.assert_array_equal(maxpool(kernel_size=np.int64(2), stride=np.int16(2)), maxpool())


# ---------------------------------------------------------------- overflow
@pytest.mark.parametrize("stride", [BIG, (1, BIG), -BIG], ids=repr)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_stride_overflow(fn, stride):
    with pytest.raises(ValueError, match=names("stride")):
        fn(stride=stride)


@pytest.mark.parametrize("padding", [HUGE, BIG, (0, HUGE), ((HUGE, HUGE), (0, 0)),
                                     ((0, 0), (1, 2 ** 63 - 1))], ids=repr)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_padding_overflow(fn, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(padding=padding)


@pytest.mark.parametrize("dilation", [HUGE, BIG, (1, 2 ** 63 - 1)], ids=repr)
@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_conv_dilation_overflow(fn, dilation):
    with pytest.raises(ValueError, match=names("dilation")):
        fn(dilation=dilation)


@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
@pytest.mark.parametrize("arg,value", [("kernel_size", HUGE), ("kernel_size", BIG),
                                       ("stride", BIG), ("stride", (1, BIG)),
                                       ("padding", HUGE), ("padding", BIG)], ids=repr)
def test_pool_overflow(fn, arg, value):
    with pytest.raises(ValueError, match=names(arg)):
        fn(**{arg: value})


# ================================================================ dtypes
BAD_DTYPES = [
    ("complex", lambda a: a.astype(np.complex128)),
    ("complex64", lambda a: a.astype(np.complex64)),
    ("object", lambda a: a.astype(object)),
    ("str", lambda a: np.full(a.shape, "a")),
    ("bytes", lambda a: np.full(a.shape, b"a")),
]


def _dtype_cases():
    return [
        ("conv2d", "x", lambda bad: F.conv2d(bad(X), W, B)),
        ("conv2d", "weight", lambda bad: F.conv2d(X, bad(W), B)),
        ("conv2d", "bias", lambda bad: F.conv2d(X, W, bad(B))),
        ("conv2d_backward", "grad_out", lambda bad: F.conv2d_backward(bad(GY), X, W)),
        ("conv2d_backward", "x", lambda bad: F.conv2d_backward(GY, bad(X), W)),
        ("conv2d_backward", "weight", lambda bad: F.conv2d_backward(GY, X, bad(W))),
        ("max_pool2d", "x", lambda bad: F.max_pool2d(bad(X), 2)),
        ("avg_pool2d", "x", lambda bad: F.avg_pool2d(bad(X), 2)),
        ("max_pool2d_backward", "grad_out", lambda bad: F.max_pool2d_backward(bad(PGY), X, 2)),
        ("max_pool2d_backward", "x", lambda bad: F.max_pool2d_backward(PGY, bad(X), 2)),
        ("avg_pool2d_backward", "grad_out", lambda bad: F.avg_pool2d_backward(bad(PGY), X, 2)),
        ("avg_pool2d_backward", "x", lambda bad: F.avg_pool2d_backward(PGY, bad(X), 2)),
        ("relu", "x", lambda bad: F.relu(bad(X))),
        ("relu_backward", "grad_out", lambda bad: F.relu_backward(bad(X), X)),
        ("relu_backward", "x", lambda bad: F.relu_backward(X, bad(X))),
        ("dropout", "x", lambda bad: F.dropout(bad(X), 0.5, seed=0)),
        ("dropout_backward", "grad_out",
         lambda bad: F.dropout_backward(bad(X), np.ones(X.shape, bool), 0.5)),
        ("correlate", "a", lambda bad: F.correlate(bad(np.ones(5)), np.ones(2))),
        ("correlate", "v", lambda bad: F.correlate(np.ones(5), bad(np.ones(2)))),
        ("convolve", "a", lambda bad: F.convolve(bad(np.ones((5, 5))), np.ones((2, 2)))),
        ("convolve", "v", lambda bad: F.convolve(np.ones(5), bad(np.ones(2)))),
    ]


@pytest.mark.parametrize("dtname,bad", BAD_DTYPES, ids=[d[0] for d in BAD_DTYPES])
@pytest.mark.parametrize("case", range(len(_dtype_cases())),
                         ids=[f"{c[0]}-{c[1]}" for c in _dtype_cases()])
def test_bad_dtype_raises_type_error(case, dtname, bad):
    _, argname, call = _dtype_cases()[case]
    with pytest.raises(TypeError, match=names(argname)):
        call(bad)


# ================================================================ pooling
@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 2, 3, 8, 8), (8, 8)], ids=str)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_x_wrong_ndim(fn, shape):
    with pytest.raises(ValueError, match=names("x")):
        fn(x=np.ones(shape))


@pytest.mark.parametrize("k", [0, -1, (2, 0), (0, 2), (-3, 3)], ids=str)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_kernel_size_below_one(fn, k):
    with pytest.raises(ValueError, match=names("kernel_size")):
        fn(kernel_size=k)


@pytest.mark.parametrize("stride", [0, -1, (1, 0)], ids=str)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_stride_below_one(fn, stride):
    with pytest.raises(ValueError, match=names("stride")):
        fn(stride=stride)


@pytest.mark.parametrize("padding", [-1, (0, -1)], ids=str)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_negative_padding(fn, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(padding=padding)


@pytest.mark.parametrize("k,padding", [(2, 2), (3, 2), (1, 1), ((3, 2), (1, 2)), ((2, 4), (2, 0))],
                         ids=str)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_padding_more_than_half_kernel(fn, k, padding):
    with pytest.raises(ValueError, match=names("padding")):
        fn(kernel_size=k, padding=padding)


@pytest.mark.parametrize("arg,value", [("kernel_size", (2, 2, 2)), ("kernel_size", (2,)),
                                       ("stride", (1, 1, 1)), ("padding", (0, 0, 0))],
                         ids=repr)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_tuple_wrong_length(fn, arg, value):
    with pytest.raises(ValueError, match=names(arg)):
        fn(**{arg: value})


@pytest.mark.parametrize("arg,value", [("kernel_size", 2.0), ("kernel_size", True),
                                       ("kernel_size", (2, 1.5)), ("stride", 1.5),
                                       ("stride", True), ("padding", 0.5), ("padding", False),
                                       ("kernel_size", "2")], ids=repr)
@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_non_int_parameters(fn, arg, value):
    with pytest.raises(TypeError, match=names(arg)):
        fn(**{arg: value})


@pytest.mark.parametrize("fn", POOLS, ids=POOL_IDS)
def test_pool_kernel_larger_than_input(fn):
    kw = dict(x=np.ones((1, 2, 3, 3)), kernel_size=5)
    if fn in (maxpool_bwd, avgpool_bwd):
        kw["grad_out"] = np.ones((1, 2, 1, 1))
    with pytest.raises(ValueError, match=names("x", "kernel_size", "kernel", "padding")):
        fn(**kw)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 3, 4), (2, 2, 4, 4), (1, 3, 4, 4),
                                   (2, 3, 16)], ids=str)
@pytest.mark.parametrize("fn", [maxpool_bwd, avgpool_bwd], ids=POOL_IDS[2:])
def test_pool_backward_grad_out_wrong_shape(fn, shape):
    with pytest.raises(ValueError, match=names("grad_out")):
        fn(grad_out=np.ones(shape))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3, 16), (2, 3, 4, 4, 1)], ids=str)
def test_max_pool_backward_indices_wrong_shape(shape):
    with pytest.raises(ValueError, match=names("indices")):
        maxpool_bwd(indices=np.zeros(shape, dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128, object], ids=str)
def test_max_pool_backward_indices_wrong_dtype(dtype):
    with pytest.raises((TypeError, ValueError), match=names("indices")):
        maxpool_bwd(indices=PIDX.astype(dtype))


@pytest.mark.parametrize("value", [-1, 64, 10 ** 6])
def test_max_pool_backward_indices_out_of_range(value):
    """Indices must point inside the H*W plane (guards against out-of-bounds writes)."""
    idx = PIDX.copy()
    idx[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match=names("indices")):
        maxpool_bwd(indices=idx)


# ================================================================ relu / dropout
@pytest.mark.parametrize("shape", [(2, 3, 8), (2, 3, 8, 8, 1), (8, 8)], ids=str)
def test_relu_backward_grad_out_wrong_shape(shape):
    with pytest.raises(ValueError, match=names("grad_out")):
        F.relu_backward(np.ones(shape), X)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, -1, float("nan"), float("inf")], ids=repr)
def test_dropout_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=names("rate")):
        F.dropout(X, rate, seed=0)


@pytest.mark.parametrize("rate", [1.0, -0.5, float("nan")], ids=repr)
def test_dropout_backward_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=names("rate")):
        F.dropout_backward(X, np.ones(X.shape, bool), rate)


@pytest.mark.parametrize("seed", ["abc", 1.5, object(), b"1"], ids=repr)
def test_dropout_seed_wrong_type(seed):
    with pytest.raises(TypeError, match=names("seed")):
        F.dropout(X, 0.5, seed=seed)


@pytest.mark.parametrize("shape", [(2, 3, 8), (8, 8, 3, 2)], ids=str)
def test_dropout_backward_mask_wrong_shape(shape):
    with pytest.raises(ValueError, match=names("mask")):
        F.dropout_backward(X, np.ones(shape, bool), 0.5)


# ================================================================ correlate
CORR = [F.correlate, F.convolve]


@pytest.mark.parametrize("fn", CORR, ids=["correlate", "convolve"])
@pytest.mark.parametrize("ashape,vshape", [((5,), (2, 2)), ((5, 5), (2,)), ((3, 3, 3), (2, 2, 2)),
                                           ((5,), (2, 2, 2)), ((), ()), ((5,), ())], ids=str)
def test_correlate_bad_ndim(fn, ashape, vshape):
    with pytest.raises(ValueError, match=names("a", "v")):
        fn(np.ones(ashape), np.ones(vshape), "full")


@pytest.mark.parametrize("fn", CORR, ids=["correlate", "convolve"])
@pytest.mark.parametrize("ashape,vshape", [((0,), (2,)), ((5,), (0,)), ((0, 3), (2, 2)),
                                           ((4, 4), (2, 0))], ids=str)
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_correlate_empty(fn, ashape, vshape, mode):
    with pytest.raises(ValueError, match=names("a", "v")):
        fn(np.ones(ashape), np.ones(vshape), mode)


@pytest.mark.parametrize("fn", CORR, ids=["correlate", "convolve"])
@pytest.mark.parametrize("mode", ["foo", "", "FULL ", "circular"])
def test_correlate_unknown_mode(fn, mode):
    with pytest.raises(ValueError, match=names("mode")):
        fn(np.ones(5), np.ones(2), mode)


@pytest.mark.parametrize("fn", CORR, ids=["correlate", "convolve"])
def test_correlate_mode_wrong_type(fn):
    with pytest.raises((TypeError, ValueError), match=names("mode")):
        fn(np.ones(5), np.ones(2), 1)


# ================================================================ limits
# Sizes whose output -- or the kernels' scratch memory -- could never be
# allocated are refused with a ValueError before anything is allocated
# (tracemalloc sees numpy's allocations: the peak stays tiny).
ONE = np.ones((1, 1, 1, 1), np.float32)
C20 = np.ones((1, 2 ** 20, 1, 1), np.float32)     # 4 MiB


def refused_before_allocating(fn, match):
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes were allocated before the error"


A_ROW, A_COL = np.ones((1, 2 ** 20)), np.ones((2 ** 20, 1))   # 8 MiB each
K16 = np.ones((2 ** 14, 1, 1, 1), np.float32)


@pytest.mark.parametrize("case", [
    # an output of 2**40 elements (4 TiB) from a 1x1 image and huge padding
    lambda: F.conv2d(ONE, ONE, padding=2 ** 19),
    # 2**40 again, from two 8 MiB inputs
    lambda: F.correlate(A_ROW, A_COL, "full"),
    lambda: F.convolve(A_COL, A_ROW, "full"),
    # 2**14 filters over a 2**14 x 2**14 padded 1x1 image: 16 TiB
    lambda: F.conv2d(ONE, K16, padding=2 ** 13),
], ids=["conv2d", "correlate2d", "convolve2d", "conv2d_many_filters"])
def test_output_too_large_for_memory(case):
    refused_before_allocating(case, r"would need .* more than this machine's memory")


@pytest.mark.parametrize("fn", CONVS, ids=CONV_IDS)
def test_workspace_too_large_for_memory(fn):
    """A 3x3 output, but the direct kernels' zero-framed image would span the
    whole padded extent (stride and padding near 2**31): 2**64 bytes, whose
    size_t computation used to wrap around."""
    kw = dict(x=ONE, weight=ONE, stride=2 ** 31 - 1, padding=2 ** 31 - 1)
    if fn is conv_bwd:
        kw["grad_out"] = np.ones((1, 1, 3, 3), np.float32)
    else:
        kw["bias"] = None
    refused_before_allocating(lambda: fn(**kw), r"of workspace\), more than")


def test_workspace_size_overflow_used_to_overrun_the_heap():
    """1M channels of a 1x1 image, stride and padding ~2**22: a 2x2 output from 4 MiB
    of input, but c * hp * wp * 4 = 2**66 bytes of workspace.  Before the check this
    wrapped to a tiny allocation and the kernel wrote far past it (a segfault)."""
    sh = 2 ** 22 - 1
    refused_before_allocating(lambda: F.conv2d(C20, C20, stride=sh, padding=(sh + 1) // 2),
                              r"conv2d output of shape \(1, 1, 2, 2\).*EiB of workspace")


def test_c_level_check_refuses_the_wrapping_workspace():
    """The C dims check (csrc/kernels/conv2d.c) refuses it too, for callers of the
    kernels that skip ccnn.functional (the private binding here; ccnn.kernels'
    conv2d_dims_init for other packages)."""
    from ccnn import _conv2d
    sh = 2 ** 22 - 1
    pad = (sh + 1) // 2
    with pytest.raises(ValueError, match=r"invalid conv2d geometry \(code 3\)"):
        _conv2d.conv2d_forward(C20, C20, None, (sh, sh), (1, 1), (pad, pad, pad, pad), 1)
    with pytest.raises(ValueError, match=r"invalid conv2d geometry \(code 3\)"):
        _conv2d.conv2d_backward(np.ones((1, 1, 2, 2), np.float32), C20, C20, (sh, sh), (1, 1),
                                (pad, pad, pad, pad), True, True, True, 1)


def test_largest_pooling_window_works():
    """Sizes at the 2**31 - 1 limit that fit in memory are computed, not refused:
    a window of 2**31 - 1 rows and columns, padded by 2**30 - 1 on each side,
    over a 1x1 image."""
    k, pad = 2 ** 31 - 1, 2 ** 30 - 1
    x = np.full((1, 2, 1, 1), 3.0)
    np.testing.assert_array_equal(F.max_pool2d(x, k, padding=pad), x)
    np.testing.assert_array_equal(F.avg_pool2d(x, k, padding=pad, count_include_pad=False), x)
    np.testing.assert_allclose(F.avg_pool2d(x, k, padding=pad), x / float(2 ** 31 - 1) ** 2)
    g = F.max_pool2d_backward(np.ones((1, 2, 1, 1)), x, k, padding=pad)
    np.testing.assert_array_equal(g, np.ones_like(x))


def test_largest_stride_and_dilation_work():
    """A stride or dilation of 2**31 - 1 (the limit) over a 1x1 image is a
    plain 1x1 convolution: computed, not refused, and no workspace sized by
    the stride.  (hypothesis found an in-progress direct kernel whose
    workspace slack grew with the stride: 16 * (2**31 - 1) floats.)"""
    big = 2 ** 31 - 1
    x = np.full((2, 3, 1, 1), 2.0, np.float32)
    w = np.ones((4, 3, 1, 1), np.float32)
    for kw in (dict(stride=big), dict(stride=(1, big)), dict(dilation=big),
               dict(stride=big, dilation=big, padding="same")):
        y = F.conv2d(x, w, **kw)
        np.testing.assert_array_equal(y, np.full((2, 4, 1, 1), 6.0, np.float32))
        gx, gw, gb = F.conv2d_backward(np.ones_like(y), x, w, **kw)
        np.testing.assert_array_equal(gx, np.full_like(x, 4.0))
        np.testing.assert_array_equal(gw, np.full_like(w, 4.0))
        np.testing.assert_array_equal(gb, np.full(4, 2.0, np.float32))
