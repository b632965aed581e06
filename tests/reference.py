"""Plain NumPy reference implementations used by the ccnn test-suite.

These functions are written for *clarity*, not speed: each one follows the
textbook formula as literally as is practical, so a reader can check the
maths by eye.  They never call into ``ccnn``; the tests compare the C kernels
against them.

Conventions
-----------
* Images are NCHW: ``x[n, c, h, w]``; convolution weights are KCRS:
  ``w[k, c, r, s]`` (K output channels, C input channels, R x S kernel).
* All references compute in float64 and return float64 arrays (indices are
  int64).  Callers compare with a tolerance suited to the library's dtype.
* "Convolution" in deep learning is really *cross-correlation* (the kernel is
  not flipped); ``conv2d_ref`` follows that convention.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "pair",
    "same_padding",
    "conv_padding",
    "conv_out_size",
    "conv2d_ref",
    "conv2d_backward_ref",
    "pool_out_size",
    "max_pool2d_ref",
    "max_pool2d_backward_ref",
    "avg_pool2d_ref",
    "avg_pool2d_backward_ref",
    "relu_ref",
    "relu_backward_ref",
    "dropout_ref",
    "dense_ref",
    "dense_backward_ref",
    "correlate_ref",
    "convolve_ref",
    "softmax_ref",
    "softmax_xent_ref",
    "softmax_xent_backward_ref",
    "adam_step_ref",
    "sgd_step_ref",
]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
# NaN/inf inputs are legitimate test data: silence numpy's "invalid value"
# warnings inside the references (the results still follow IEEE rules).
def _quiet(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(invalid="ignore", over="ignore"):
            return fn(*args, **kwargs)
    return wrapper


def pair(v):
    """Return ``(v, v)`` for an int, or ``tuple(v)`` for a pair."""
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    a, b = v
    return (int(a), int(b))


def same_padding(H, R, stride, dilation):
    """TF/Keras "same" padding along one axis.

    out   = ceil(H / stride)
    total = max((out - 1) * stride + (R - 1) * dilation + 1 - H, 0)
    top   = total // 2          (the smaller half goes first)
    bottom = total - top

    Returns ``(top, bottom)``.
    """
    out = -(-H // stride)  # ceil division for positive ints
    total = max((out - 1) * stride + (R - 1) * dilation + 1 - H, 0)
    top = total // 2
    return (top, total - top)


def conv_padding(padding, H, W, R, S, stride, dilation):
    """Turn any accepted ``padding`` spec into ``((top, bottom), (left, right))``.

    Accepted specs: int, (ph, pw), ((top, bottom), (left, right)), "valid",
    "same" (see :func:`same_padding`).
    """
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            return (same_padding(H, R, sh, dh), same_padding(W, S, sw, dw))
        raise ValueError(padding)
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return ((p, p), (p, p))
    ph, pw = padding
    if isinstance(ph, (int, np.integer)):
        return ((int(ph), int(ph)), (int(pw), int(pw)))
    return (pair(ph), pair(pw))


def conv_out_size(H, R, stride, pad_before, pad_after, dilation):
    """Output length of a convolution along one axis.

    P = (H + top + bottom - dilation * (R - 1) - 1) // stride + 1
    """
    return (H + pad_before + pad_after - dilation * (R - 1) - 1) // stride + 1


# --------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------
@_quiet
def conv2d_ref(x, w, b=None, stride=(1, 1), pad=((0, 0), (0, 0)), dilation=(1, 1)):
    """2-D cross-correlation (the deep-learning "convolution").

    y[n, k, p, q] = b[k] + sum_{c, r, s} w[k, c, r, s]
                                        * xpad[n, c, p*sh + r*dh, q*sw + s*dw]

    where ``xpad`` is ``x`` zero-padded by ``pad = ((top, bottom), (left, right))``.
    Output size: P = (H + top + bottom - dh*(R-1) - 1)//sh + 1 (same for Q).

    Implementation: for every kernel tap (r, s) we take the strided slice of
    ``xpad`` that this tap touches for all output positions at once, and
    contract it with ``w[:, :, r, s]`` over the channel axis.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    (pt, pb), (pl, pr) = pad
    N, C, H, W = x.shape
    K, C2, R, S = w.shape
    assert C == C2
    P = conv_out_size(H, R, sh, pt, pb, dh)
    Q = conv_out_size(W, S, sw, pl, pr, dw)
    assert P >= 1 and Q >= 1

    xpad = np.zeros((N, C, H + pt + pb, W + pl + pr))
    xpad[:, :, pt:pt + H, pl:pl + W] = x

    y = np.zeros((N, K, P, Q))
    for r in range(R):
        for s in range(S):
            # rows p*sh + r*dh for p = 0..P-1, columns q*sw + s*dw for q = 0..Q-1
            patch = xpad[:, :, r * dh: r * dh + (P - 1) * sh + 1: sh,
                               s * dw: s * dw + (Q - 1) * sw + 1: sw]
            y += np.einsum("ncpq,kc->nkpq", patch, w[:, :, r, s])
    if b is not None:
        y += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return y


@_quiet
def conv2d_backward_ref(gy, x, w, stride=(1, 1), pad=((0, 0), (0, 0)), dilation=(1, 1)):
    """Gradients of ``L = sum(gy * conv2d(x, w, b))``.

    Differentiating the forward formula term by term:

    gb[k]          = sum_{n, p, q} gy[n, k, p, q]
    gw[k, c, r, s] = sum_{n, p, q} gy[n, k, p, q] * xpad[n, c, p*sh + r*dh, q*sw + s*dw]
    gxpad[n, c, p*sh + r*dh, q*sw + s*dw] += sum_k gy[n, k, p, q] * w[k, c, r, s]

    ``gx`` is ``gxpad`` with the padding cropped away (gradients that land in
    the padding belong to constant zeros and are discarded).

    This is written independently of the forward code: it *scatters* each
    output gradient back to the padded-input positions it came from, one
    kernel tap at a time, and then crops.
    """
    gy = np.asarray(gy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    (pt, pb), (pl, pr) = pad
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    _, _, P, Q = gy.shape

    xpad = np.zeros((N, C, H + pt + pb, W + pl + pr))
    xpad[:, :, pt:pt + H, pl:pl + W] = x
    gxpad = np.zeros_like(xpad)
    gw = np.zeros((K, C, R, S))

    for r in range(R):
        for s in range(S):
            # The padded-input positions touched by tap (r, s) for all (p, q):
            # rows p*sh + r*dh and columns q*sw + s*dw.  Within one tap these
            # positions are all distinct, so a sliced "+=" is a correct scatter.
            rows = slice(r * dh, r * dh + (P - 1) * sh + 1, sh)
            cols = slice(s * dw, s * dw + (Q - 1) * sw + 1, sw)
            # scatter: gxpad[n, c, rows, cols] += sum_k gy[n, k, p, q] * w[k, c, r, s]
            gxpad[:, :, rows, cols] += np.einsum("nkpq,kc->ncpq", gy, w[:, :, r, s])
            # gw[k, c, r, s] = sum_{n, p, q} gy[n, k, p, q] * xpad[n, c, rows, cols]
            gw[:, :, r, s] = np.einsum("nkpq,ncpq->kc", gy, xpad[:, :, rows, cols])

    gx = gxpad[:, :, pt:pt + H, pl:pl + W].copy()
    gb = gy.sum(axis=(0, 2, 3))
    return gx, gw, gb


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------
def pool_out_size(H, k, s, p, ceil_mode):
    """PyTorch pooling output length along one axis.

    out = floor_or_ceil((H + 2p - k) / s) + 1
    In ceil mode the last window must start inside the input or the left
    padding:  if (out - 1) * s >= H + p: out -= 1
    """
    num = H + 2 * p - k
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= H + p:
        out -= 1
    return out


def _pool_out_shape(H, W, k, stride, pad, ceil_mode):
    """(P, Q): pool_out_size along each axis."""
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(stride), pair(pad)
    return pool_out_size(H, kh, sh, ph, ceil_mode), pool_out_size(W, kw, sw, pw, ceil_mode)


def _pool_windows(H, W, k, stride, pad, ceil_mode):
    """Yield ``(oh, ow, hstart, hend, wstart, wend, pool_size)`` for every window.

    hstart = oh*s - p ; hend = min(hstart + k, H + p)
    pool_size = (hend - hstart) * (wend - wstart)   (before clipping)
    then hstart, hend are clipped to [0, H]  (same for w).
    """
    kh, kw = pair(k)
    sh, sw = pair(stride)
    ph, pw = pair(pad)
    P, Q = _pool_out_shape(H, W, k, stride, pad, ceil_mode)
    for oh in range(P):
        for ow in range(Q):
            hs = oh * sh - ph
            ws = ow * sw - pw
            he = min(hs + kh, H + ph)
            we = min(ws + kw, W + pw)
            pool_size = (he - hs) * (we - ws)
            hs, ws = max(hs, 0), max(ws, 0)
            he, we = min(he, H), min(we, W)
            yield oh, ow, hs, he, ws, we, pool_size


@_quiet
def max_pool2d_ref(x, k, stride=None, pad=0, ceil_mode=False):
    """Max pooling with PyTorch semantics; returns ``(y, indices)``.

    y[n, c, oh, ow] = max of x[n, c, h, w] over the in-bounds part of the
    window (padding acts as -inf, so it never wins).
    indices are int64 flat offsets ``h * W + w`` into the unpadded plane.
    Ties: the first maximum in row-major window order wins.
    NaN: a NaN anywhere in the window makes the output NaN, and the index is
    that of the first NaN (row-major).
    """
    x = np.asarray(x, dtype=np.float64)
    if stride is None:
        stride = k
    N, C, H, W = x.shape
    P, Q = _pool_out_shape(H, W, k, stride, pad, ceil_mode)
    y = np.empty((N, C, P, Q))
    idx = np.empty((N, C, P, Q), dtype=np.int64)
    for oh, ow, hs, he, ws, we, _ in _pool_windows(H, W, k, stride, pad, ceil_mode):
        width = we - ws
        win = x[:, :, hs:he, ws:we].reshape(N, C, (he - hs) * width)  # row-major window
        is_nan = np.isnan(win)
        any_nan = is_nan.any(axis=-1)
        first_nan = np.argmax(is_nan, axis=-1)          # first True
        first_max = np.argmax(np.where(is_nan, -np.inf, win), axis=-1)  # first max
        local = np.where(any_nan, first_nan, first_max)
        h = hs + local // width
        w = ws + local % width
        idx[:, :, oh, ow] = h * W + w
        y[:, :, oh, ow] = np.take_along_axis(win, local[..., None], axis=-1)[..., 0]
    return y, idx


@_quiet
def max_pool2d_backward_ref(gy, x, k, stride=None, pad=0, ceil_mode=False):
    """Route every ``gy[n, c, oh, ow]`` to the argmax input position.

    gx[n, c].flat[indices[n, c, oh, ow]] += gy[n, c, oh, ow]
    (overlapping windows that share an argmax accumulate).
    """
    gy = np.asarray(gy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    _, idx = max_pool2d_ref(x, k, stride, pad, ceil_mode)
    gx = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            np.add.at(gx[n, c], idx[n, c].ravel(), gy[n, c].ravel())
    return gx.reshape(N, C, H, W)


@_quiet
def global_avg_pool2d_ref(x):
    """y[n, c] = the mean of the plane x[n, c] (a double loop over the plane)."""
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    y = np.zeros((N, C))
    for h in range(H):
        for w in range(W):
            y += x[:, :, h, w]
    return y / (H * W)


def global_avg_pool2d_backward_ref(gy, x_shape):
    """Every position of plane (n, c) receives gy[n, c] / (H * W)."""
    N, C, H, W = x_shape
    gy = np.asarray(gy, dtype=np.float64).reshape(N, C, 1, 1)
    return np.broadcast_to(gy / (H * W), x_shape).copy()


def global_max_pool2d_ref(x):
    """(y, idx) of max pooling with one window covering the whole plane."""
    N, C, H, W = np.shape(x)
    y, idx = max_pool2d_ref(x, (H, W))
    return y.reshape(N, C), idx.reshape(N, C)


def global_max_pool2d_backward_ref(gy, x):
    N, C, H, W = np.shape(x)
    return max_pool2d_backward_ref(np.reshape(gy, (N, C, 1, 1)), x, (H, W))


def _avg_divisor(hs, he, ws, we, pool_size, count_include_pad):
    """PyTorch divisor: the (pre-clip) window area, or the in-bounds count."""
    if count_include_pad:
        return pool_size
    return (he - hs) * (we - ws)


@_quiet
def avg_pool2d_ref(x, k, stride=None, pad=0, ceil_mode=False, count_include_pad=True):
    """Average pooling with PyTorch's divisor rule.

    hstart = oh*s - p ; hend = min(hstart + k, H + p)
    pool_size = (hend - hstart) * (wend - wstart)       (before clipping)
    clip hstart >= 0, hend <= H (same for w)
    divisor = pool_size if count_include_pad else (#in-bounds elements)
    y = (sum of the in-bounds x) / divisor
    """
    x = np.asarray(x, dtype=np.float64)
    if stride is None:
        stride = k
    N, C, H, W = x.shape
    P, Q = _pool_out_shape(H, W, k, stride, pad, ceil_mode)
    y = np.empty((N, C, P, Q))
    for oh, ow, hs, he, ws, we, pool_size in _pool_windows(H, W, k, stride, pad, ceil_mode):
        div = _avg_divisor(hs, he, ws, we, pool_size, count_include_pad)
        y[:, :, oh, ow] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / div
    return y


@_quiet
def avg_pool2d_backward_ref(gy, x, k, stride=None, pad=0, ceil_mode=False,
                            count_include_pad=True):
    """Spread ``gy / divisor`` uniformly over the in-bounds window elements.

    gx[n, c, hs:he, ws:we] += gy[n, c, oh, ow] / divisor
    (only the shape of ``x`` matters: average pooling is linear.)
    """
    gy = np.asarray(gy, dtype=np.float64)
    if stride is None:
        stride = k
    N, C, H, W = np.shape(x)
    gx = np.zeros((N, C, H, W))
    for oh, ow, hs, he, ws, we, pool_size in _pool_windows(H, W, k, stride, pad, ceil_mode):
        div = _avg_divisor(hs, he, ws, we, pool_size, count_include_pad)
        gx[:, :, hs:he, ws:we] += (gy[:, :, oh, ow] / div)[:, :, None, None]
    return gx


# --------------------------------------------------------------------------
# activations / dropout
# --------------------------------------------------------------------------
def transpose_batched_ref(x):
    """out[n, j, i] = x[n, i, j], element by element (the NCHW <-> NHWC move)."""
    n, a, b = x.shape
    out = np.empty((n, b, a), dtype=x.dtype)
    for k in range(n):
        for i in range(a):
            for j in range(b):
                out[k, j, i] = x[k, i, j]
    return out


def relu_ref(x):
    """relu(x) = max(x, 0); NaN propagates (np.maximum returns the NaN)."""
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


@_quiet
def relu_backward_ref(gy, x):
    """d relu / dx = 1 where x > 0 else 0, so gx = gy * (x > 0)."""
    return np.asarray(gy, dtype=np.float64) * (np.asarray(x) > 0)


@_quiet
def dense_ref(x, kernel, bias=None):
    """y[n, j] = bias[j] + sum_i x[n, i] * kernel[i, j], one output at a time."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    N, I = x.shape
    J = kernel.shape[1]
    y = np.zeros((N, J))
    for n in range(N):
        for j in range(J):
            y[n, j] = np.dot(x[n, :], kernel[:, j]) + (bias[j] if bias is not None else 0.0)
    return y


@_quiet
def dense_backward_ref(gy, x, kernel):
    """(gx, gkernel, gbias) of dense: gx = gy @ kernel^T, gkernel = x^T @ gy,
    gbias = gy summed over the batch -- written as the sums they are."""
    gy = np.asarray(gy, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    gx = np.einsum("nj,ij->ni", gy, kernel)
    gk = np.einsum("ni,nj->ij", x, gy)
    return gx, gk, gy.sum(axis=0)


@_quiet
def dropout_ref(x, mask, rate):
    """Inverted dropout: y = x * mask / (1 - rate)  (mask True = kept)."""
    return np.asarray(x, dtype=np.float64) * mask / (1.0 - rate)


# --------------------------------------------------------------------------
# correlate / convolve (1-D like numpy, 2-D like scipy.signal *2d, fill=0)
# --------------------------------------------------------------------------
def _full_correlate(a, v, multiply_fill):
    """Full cross-correlation of an M-array with an N-array (1-D or 2-D).

    Zero-pad ``a`` by N-1 on both sides of every axis and slide ``v`` over it:
        full[i] = sum_j apad[i + j] * v[j],   i = 0 .. M + N - 2
    (per axis for 2-D).  full[i] pairs v[0] with a[i - (N - 1)].

    multiply_fill=True multiplies the zero fill like real data (scipy's
    boundary="fill": 0 * NaN = NaN); False sums only the products where ``v``
    overlaps ``a`` (numpy.correlate).  The two differ only for non-finite v.
    """
    a = np.asarray(a, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    padw = [(n - 1, n - 1) for n in v.shape]
    apad = np.pad(a, padw)
    inside = np.pad(np.ones(a.shape, dtype=bool), padw)  # True where apad is real data
    out_shape = tuple(m + n - 1 for m, n in zip(a.shape, v.shape))
    full = np.zeros(out_shape)
    for i in np.ndindex(*out_shape):
        window = tuple(slice(ii, ii + n) for ii, n in zip(i, v.shape))
        use = np.ones(v.shape, dtype=bool) if multiply_fill else inside[window]
        full[i] = np.sum(apad[window][use] * v[use])
    return full


def _crop(full, starts, lengths):
    return full[tuple(slice(s, s + L) for s, L in zip(starts, lengths))].copy()


def _valid_window(a_shape, v_shape):
    """'valid' = the positions where the smaller input lies fully inside the larger.

    length = |M - N| + 1, starting at min(M, N) - 1 in the full result.
    """
    starts = [min(m, n) - 1 for m, n in zip(a_shape, v_shape)]
    lengths = [abs(m - n) + 1 for m, n in zip(a_shape, v_shape)]
    return starts, lengths


@_quiet
def correlate_ref(a, v, mode="valid"):
    """Cross-correlation: ``numpy.correlate`` (1-D) / ``scipy.signal.correlate2d`` (2-D).

    full[k] = sum_j a[k + j - (N - 1)] * v[j]   (out-of-range a is 0)

    Non-finite values: numpy (1-D) only multiplies overlapping elements, while
    scipy's boundary="fill" (2-D "full"/"same") multiplies the zero fill too,
    so a NaN/inf in v reaches every 2-D output but only the overlapping 1-D
    outputs.  (2-D "valid" never touches the fill: scipy swaps the inputs so
    the smaller one slides inside the larger.)

    Modes slice ``full``:
      * "full":  everything (length M + N - 1).
      * "valid": length |M - N| + 1 starting at min(M, N) - 1.
      * "same":
          - 1-D (numpy): length max(M, N).  numpy always correlates the longer
            array against the shorter one; if ``len(a) < len(v)`` it computes
            ``correlate(v, a)`` and reverses it (``corr(a,v)[k] = corr(v,a)[-k]``).
            With a longer first the window starts at (N - 1) // 2.
          - 2-D (scipy): shape of ``a``, starting at N // 2 along each axis.
    """
    a = np.asarray(a, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    assert a.ndim == v.ndim and a.ndim in (1, 2)
    if a.ndim == 1 and len(a) < len(v):
        return correlate_ref(v, a, mode)[::-1].copy()
    full = _full_correlate(a, v, multiply_fill=(a.ndim == 2 and mode != "valid"))
    if mode == "full":
        return full
    if mode == "valid":
        return _crop(full, *_valid_window(a.shape, v.shape))
    if mode == "same":
        if a.ndim == 1:
            return _crop(full, [(len(v) - 1) // 2], [len(a)])
        return _crop(full, [n // 2 for n in v.shape], a.shape)
    raise ValueError(mode)


@_quiet
def convolve_ref(a, v, mode="full"):
    """Convolution: ``numpy.convolve`` (1-D) / ``scipy.signal.convolve2d`` (2-D).

    conv(a, v)[k] = sum_j a[k - j] * v[j]  =  correlation of a with flipped v,
    so full = _full_correlate(a, v[::-1]) (flip every axis).

    Modes slice ``full``:
      * "full":  everything.
      * "valid": length |M - N| + 1 starting at min(M, N) - 1.
      * "same":
          - 1-D (numpy): length max(M, N), starting at (min(M, N) - 1) // 2
            (convolution is commutative, numpy puts the longer array first).
          - 2-D (scipy): shape of ``a``, starting at (N - 1) // 2 along each axis.
    """
    a = np.asarray(a, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    assert a.ndim == v.ndim and a.ndim in (1, 2)
    full = _full_correlate(a, np.flip(v), multiply_fill=(a.ndim == 2 and mode != "valid"))
    if mode == "full":
        return full
    if mode == "valid":
        return _crop(full, *_valid_window(a.shape, v.shape))
    if mode == "same":
        if a.ndim == 1:
            m, L = min(len(a), len(v)), max(len(a), len(v))
            return _crop(full, [(m - 1) // 2], [L])
        return _crop(full, [(n - 1) // 2 for n in v.shape], a.shape)
    raise ValueError(mode)


# --------------------------------------------------------------------------
# softmax + cross-entropy (rows of an (N, classes) array)
# --------------------------------------------------------------------------
@_quiet
def softmax_ref(z):
    """p[i, j] = exp(z[i, j] - max_j z[i]) / sum_j exp(z[i, j] - max_j z[i])."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@_quiet
def softmax_xent_ref(z, targets):
    """(loss per row, probs).  targets: integer labels (N,) or dense (N, classes).

    loss[i] = sum_j t[i, j] * (logsumexp(z[i]) - z[i, j])     (= -log p[i, y_i]
    for one-hot rows), with logsumexp(z) = max z + log sum exp(z - max z).
    """
    z = np.asarray(z, dtype=np.float64)
    t = np.asarray(targets)
    if t.ndim == 1:
        dense = np.zeros_like(z)
        dense[np.arange(len(t)), t] = 1.0
        t = dense
    t = t.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    # only the classes with a non-zero target contribute (0 * inf would be NaN)
    terms = np.where(t != 0, t * (lse - z), 0.0)
    return terms.sum(axis=-1), softmax_ref(z)


@_quiet
def softmax_xent_backward_ref(probs, targets):
    """d(mean loss)/d(logits) = (p * rowsum(t) - t) / N  (= (p - onehot) / N)."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(targets)
    if t.ndim == 1:
        dense = np.zeros_like(p)
        dense[np.arange(len(t)), t] = 1.0
        t = dense
    t = t.astype(np.float64)
    return (p * t.sum(axis=-1, keepdims=True) - t) / max(p.shape[0], 1)


# --------------------------------------------------------------------------
# optimizer steps (Keras's formulas, one step, float64)
# --------------------------------------------------------------------------
def adam_step_ref(p, m, v, g, t, lr, b1, b2, eps):
    """Step t (1-based) of Adam; returns the new (p, m, v).

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    """
    p, m, v, g = (np.asarray(a, dtype=np.float64) for a in (p, m, v, g))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return p - alpha * m / (np.sqrt(v) + eps), m, v


def sgd_step_ref(p, vel, g, lr, momentum, nesterov):
    """One SGD step; returns the new (p, velocity).

    momentum 0: p -= lr g.  Else vel = momentum vel - lr g, and
    p += vel (classic) or p += momentum vel - lr g (Nesterov).
    """
    p, vel, g = (np.asarray(a, dtype=np.float64) for a in (p, vel, g))
    if momentum == 0:
        return p - lr * g, vel
    vel = momentum * vel - lr * g
    if nesterov:
        return p + momentum * vel - lr * g, vel
    return p + vel, vel


# ---- elementwise activations: (f, f') in float64, written from the formulas
_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sig(x):
    return 1 / (1 + np.exp(-x))


def pointwise_ref(name, x, alpha=0.0):
    """(f(x), f'(x)) of the activation `name`, float64."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "relu6":
            return np.clip(x, 0, 6), ((x > 0) & (x < 6)).astype(float)
        if name == "leaky_relu":
            return np.where(x > 0, x, alpha * x), np.where(x > 0, 1.0, alpha)
        if name == "elu":
            return np.where(x > 0, x, alpha * np.expm1(x)), np.where(x > 0, 1.0, alpha * np.exp(x))
        if name == "selu":
            return (_SELU_S * np.where(x > 0, x, _SELU_A * np.expm1(x)),
                    _SELU_S * np.where(x > 0, 1.0, _SELU_A * np.exp(x)))
        if name == "gelu":
            cdf = 0.5 * (1 + _erf(x / np.sqrt(2)))
            return x * cdf, cdf + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
        if name == "gelu_tanh":
            k, c = np.sqrt(2 / np.pi), 0.044715
            t = np.tanh(k * (x + c * x ** 3))
            return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)
        if name == "sigmoid":
            return _sig(x), _sig(x) * (1 - _sig(x))
        if name == "hard_sigmoid":
            return np.clip(x + 3, 0, 6) / 6, ((x > -3) & (x < 3)) / 6.0
        if name == "silu":
            return x * _sig(x), _sig(x) * (1 + x * (1 - _sig(x)))
        if name == "hard_silu":
            return (x * np.clip(x + 3, 0, 6) / 6,
                    np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6)))
        if name == "tanh":
            return np.tanh(x), 1 - np.tanh(x) ** 2
        if name == "softplus":
            return np.logaddexp(0, x), _sig(x)
        if name == "softsign":
            return x / (1 + np.abs(x)), 1 / (1 + np.abs(x)) ** 2
        if name == "exponential":
            return np.exp(x), np.exp(x)
    raise ValueError(name)
