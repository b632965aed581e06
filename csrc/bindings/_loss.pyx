"""ccnn._loss -- thin binding over csrc/kernels/loss.c (softmax, fused softmax + cross-entropy).

Arguments arrive validated, C-contiguous, 2-D (n, classes) and of one dtype
(ccnn.losses does that; labels are int64 already checked to lie in
[0, classes)); this layer only allocates outputs and releases the GIL.
"""
import numpy as np
from cython cimport floating
from libc.stdint cimport int64_t
from ccnn.kernels cimport *
cimport ccnn.kernels_fused as ck     # NAME: the float or double kernel NAME_f32 / _f64


def softmax_forward(const floating[:, ::1] logits, int nthreads):
    """probs (n, classes)."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1]
    out = np.empty((n, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] p = out
    if n == 0 or c == 0:
        return out
    with nogil:
        ck.softmax_forward(&p[0, 0], &logits[0, 0], n, c, nthreads)
    return out


def softmax_backward(const floating[:, ::1] dout, const floating[:, ::1] probs, int nthreads):
    """dinp (n, classes) = probs * (dout - rowsum(dout * probs))."""
    cdef Py_ssize_t n = probs.shape[0], c = probs.shape[1]
    if dout.shape[0] != n or dout.shape[1] != c:
        raise ValueError("grad_out and probs differ in shape")
    out = np.empty((n, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] dx = out
    if n == 0 or c == 0:
        return out
    with nogil:
        ck.softmax_backward(&dx[0, 0], &dout[0, 0], &probs[0, 0], n, c, nthreads)
    return out


def softmax_xent_forward(const floating[:, ::1] logits, const int64_t[::1] labels, int nthreads):
    """(loss_per_row (n,), probs (n, classes)) for integer labels."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1]
    if labels.shape[0] != n:
        raise ValueError("labels and logits differ in length")
    dtype = np.float32 if floating is float else np.float64
    loss = np.empty(n, dtype=dtype)
    probs = np.empty((n, c), dtype=dtype)
    cdef floating[::1] l = loss
    cdef floating[:, ::1] p = probs
    if n == 0:
        return loss, probs
    with nogil:
        ck.softmax_xent_forward(&l[0], &p[0, 0], &logits[0, 0], &labels[0], n, c, nthreads)
    return loss, probs


def softmax_xent_backward(const floating[:, ::1] probs, const int64_t[::1] labels, int nthreads):
    """dlogits (n, classes) = (probs - onehot(labels)) / n."""
    cdef Py_ssize_t n = probs.shape[0], c = probs.shape[1]
    if labels.shape[0] != n:
        raise ValueError("labels and probs differ in length")
    out = np.empty((n, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] dz = out
    if n == 0:
        return out
    with nogil:
        ck.softmax_xent_backward(&dz[0, 0], &probs[0, 0], &labels[0], n, c, nthreads)
    return out


def softmax_xent_dense_forward(const floating[:, ::1] logits, const floating[:, ::1] targets,
                               int nthreads):
    """(loss_per_row (n,), probs (n, classes)) for one-hot or soft targets."""
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1]
    if targets.shape[0] != n or targets.shape[1] != c:
        raise ValueError("targets and logits differ in shape")
    dtype = np.float32 if floating is float else np.float64
    loss = np.empty(n, dtype=dtype)
    probs = np.empty((n, c), dtype=dtype)
    cdef floating[::1] l = loss
    cdef floating[:, ::1] p = probs
    if n == 0:
        return loss, probs
    with nogil:
        ck.softmax_xent_dense_forward(&l[0], &p[0, 0], &logits[0, 0], &targets[0, 0],
                                      n, c, nthreads)
    return loss, probs


def softmax_xent_dense_backward(const floating[:, ::1] probs, const floating[:, ::1] targets,
                                int nthreads):
    """dlogits (n, classes) = (probs * rowsum(targets) - targets) / n."""
    cdef Py_ssize_t n = probs.shape[0], c = probs.shape[1]
    if targets.shape[0] != n or targets.shape[1] != c:
        raise ValueError("targets and probs differ in shape")
    out = np.empty((n, c), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] dz = out
    if n == 0:
        return out
    with nogil:
        ck.softmax_xent_dense_backward(&dz[0, 0], &probs[0, 0], &targets[0, 0], n, c,
                                       nthreads)
    return out


def sigmoid_bce_forward(const floating[::1] logits, const floating[::1] targets, int nthreads):
    """loss (n,) = max(z, 0) - z t + log1p(exp(-|z|)), elementwise (flat arrays)."""
    cdef Py_ssize_t n = logits.shape[0]
    if targets.shape[0] != n:
        raise ValueError("targets and logits differ in length")
    out = np.empty(n, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] l = out
    if n == 0:
        return out
    with nogil:
        ck.sigmoid_bce_forward(&l[0], &logits[0], &targets[0], n, nthreads)
    return out


def sigmoid_bce_backward(dloss, const floating[::1] logits, const floating[::1] targets,
                         double scale, int nthreads):
    """dlogits (n,) = (sigmoid(z) - t) * scale * dloss; dloss (n,) of the logits' dtype,
    or None for 1."""
    cdef Py_ssize_t n = logits.shape[0]
    if targets.shape[0] != n:
        raise ValueError("targets and logits differ in length")
    out = np.empty(n, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] dz = out
    cdef const floating[::1] dl
    cdef const floating *dlp = NULL
    if dloss is not None:
        dl = dloss
        if dl.shape[0] != n:
            raise ValueError("dloss and logits differ in length")
        if n:
            dlp = &dl[0]
    if n == 0:
        return out
    with nogil:
        ck.sigmoid_bce_backward(&dz[0], dlp, &logits[0], &targets[0], <floating>scale, n,
                                nthreads)
    return out


from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS,
                             PyBUF_FORMAT, PyBUF_ND)
from buffers cimport buffer_kind as _kind


def argmax_matches(out, labels):
    """How many rows of out (n, classes) have labels' entry as their argmax
    (np.count_nonzero(out.argmax(axis=-1) == labels)): out C-contiguous
    float32 or float64 with classes >= 1, labels C-contiguous int64 (n,);
    -1 for anything else (the caller asks NumPy)."""
    cdef Py_buffer ob
    cdef Py_buffer lb
    cdef Py_ssize_t hits = -1, n, c
    cdef char kind
    try:
        PyObject_GetBuffer(out, &ob, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND)
    except (TypeError, ValueError, BufferError):
        return -1
    try:
        try:
            PyObject_GetBuffer(labels, &lb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND)
        except (TypeError, ValueError, BufferError):
            return -1
        try:
            kind = _kind(&ob)
            if ob.ndim != 2 or lb.ndim != 1 or lb.itemsize != 8 \
                    or not (_kind(&lb) == b'q' or _kind(&lb) == b'l') \
                    or ob.shape[0] != lb.shape[0] or ob.shape[1] < 1:
                return -1
            n, c = ob.shape[0], ob.shape[1]
            if kind == b'f' and ob.itemsize == 4:
                with nogil:
                    hits = ck.argmax_matches(<const float *>ob.buf, <const int64_t *>lb.buf, n, c)
            elif kind == b'd' and ob.itemsize == 8:
                with nogil:
                    hits = ck.argmax_matches(<const double *>ob.buf, <const int64_t *>lb.buf, n, c)
        finally:
            PyBuffer_Release(&lb)
    finally:
        PyBuffer_Release(&ob)
    return hits


def label_range(labels):
    """(min, max) of labels, C-contiguous int64 (n,) with n >= 1, in one pass;
    None for anything else (the caller asks NumPy)."""
    cdef Py_buffer lb
    cdef Py_ssize_t i, n
    cdef int64_t lo, hi, v
    cdef const int64_t *p
    try:
        PyObject_GetBuffer(labels, &lb, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND)
    except (TypeError, ValueError, BufferError):
        return None
    try:
        if lb.ndim != 1 or lb.itemsize != 8 or lb.shape[0] < 1 \
                or not (_kind(&lb) == b'q' or _kind(&lb) == b'l'):
            return None
        n, p = lb.shape[0], <const int64_t *>lb.buf
        lo = hi = p[0]
        with nogil:
            for i in range(1, n):
                v = p[i]
                if v < lo:
                    lo = v
                elif v > hi:
                    hi = v
    finally:
        PyBuffer_Release(&lb)
    return lo, hi
