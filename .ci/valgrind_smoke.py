"""A small case of every kernel family, for valgrind's memcheck:

    PYTHONMALLOC=malloc valgrind --tool=memcheck \\
        "$(python -c 'import sys; print(sys.executable)')" .ci/valgrind_smoke.py

(the interpreter itself, not a wrapper script such as pyenv's shim, which
valgrind would check instead).

conv2d forward + backward with both algorithms (direct, implicit GEMM),
float32 and float64, two OpenMP threads; max / average pooling forward +
backward; relu, dropout, softmax cross-entropy; then one training step of a
small model (Conv2D, MaxPooling2D, Dropout, Dense softmax, Adam).  Run it from
the repository root against the in-place build, or anywhere against an
installed ccnn.  (Not part of CI.)

CPython and NumPy themselves trip memcheck (uninitialised-value reports in
the interpreter's int objects, a few blocks lost by NumPy's module init):
`python -c "import numpy"` alone reports about 1,100 errors.  To see only
what is new, make a suppression file from such a baseline run
(--gen-suppressions=all) and pass it with --suppressions; what remains should
hold no frame in ccnn's extension modules.
"""
import numpy as np

import ccnn
import ccnn.functional as F
from ccnn import _conv2d, losses
from ccnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

ccnn.set_num_threads(2)
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    x = rng.standard_normal((2, 8, 9, 7)).astype(dtype)
    w = rng.standard_normal((6, 8, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    for algo in ("direct", "gemm"):
        for stride, dil, pads in (((1, 1), (1, 1), (1, 1, 1, 1)), ((2, 1), (1, 2), (0, 2, 1, 0))):
            y = _conv2d.conv2d_forward(x, w, b, stride, dil, pads, 2, algo=algo)
            _conv2d.conv2d_backward(np.ones_like(y), x, w, stride, dil, pads, True, True, True,
                                    2, algo=algo)
    y = F.conv2d(x, w, b, padding="same")
    F.conv2d_backward(y, x, w, padding="same")
    p, idx = F.max_pool2d(y, 3, stride=2, padding=1, ceil_mode=True, return_indices=True)
    F.max_pool2d_backward(p, y, 3, stride=2, padding=1, ceil_mode=True, indices=idx)
    p, idx = F.max_pool2d(y[:, :, :8, :6], 2, return_indices=True)    # the 2x2 fast path
    F.max_pool2d_backward(p, y[:, :, :8, :6], 2, indices=idx)
    a = F.avg_pool2d(y, 2, ceil_mode=True, count_include_pad=False)
    F.avg_pool2d_backward(a, y, 2, ceil_mode=True, count_include_pad=False)
    r = F.relu(y)
    F.relu_backward(r, y)
    d, mask = F.dropout(y, 0.5, seed=1)
    F.dropout_backward(d, mask, 0.5)
    F.correlate(x[0, 0], w[0, 0], "full")
    z = rng.standard_normal((5, 10)).astype(dtype)
    loss, probs = losses.sparse_softmax_cross_entropy(z, [1, 2, 3, 4, 5])
    losses.sparse_softmax_cross_entropy_backward(probs, [1, 2, 3, 4, 5])

ccnn.utils.set_random_seed(0)
model = ccnn.Sequential([Conv2D(4, (3, 3), activation="relu", padding="same",
                                input_shape=(8, 8, 1)),
                         MaxPooling2D((2, 2)), Flatten(), Dropout(0.25),
                         Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
loss, acc = model.train_on_batch(rng.random((16, 8, 8, 1)).astype(np.float32),
                                 rng.integers(0, 10, 16))
print(f"valgrind smoke: ok (one training step, loss {loss:.4f})")
