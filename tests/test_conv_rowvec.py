"""The AVX-512 row-vector direct forward (csrc/kernels/conv2d_rowvec.c) against
a NumPy transcription of the definition, on the shapes it takes (stride 1,
dilation 1, rows filling 3/4 of their vectors) and, with CCNN_CONV_ROWVEC=0,
the paths it replaces.  On a CPU without AVX-512 every case runs the other
paths, and the comparison still holds."""
import os
import subprocess
import sys

import numpy as np
import pytest

from ccnn import functional as F


def reference(x, w, b, pad):
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    p, q = xp.shape[2] - r + 1, xp.shape[3] - s + 1
    out = np.zeros((n, k, p, q))
    for i in range(r):
        for j in range(s):
            out += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + p, j:j + q],
                             w[:, :, i, j].astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None]


SHAPES = [  # n, c, h, w, k, r, pad
    (1, 32, 28, 28, 32, 3, 1), (3, 64, 14, 14, 64, 3, 1), (2, 1, 28, 28, 32, 3, 1),
    (5, 32, 14, 14, 64, 3, 1), (1, 7, 9, 30, 13, 5, 2), (2, 16, 12, 12, 25, 3, 0),
    (4, 8, 7, 7, 40, 3, 1), (1, 4, 6, 16, 1, 3, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(shape, dtype):
    n, c, h, wd, k, r, pad = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((k, c, r, r)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    x0, w0 = x.copy(), w.copy()
    y = F.conv2d(x, w, b, padding=pad)
    want = reference(x, w, b, (pad,) * 4)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol * np.abs(want).max())
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_switch_off_runs_the_other_paths():
    code = ("import numpy as np; from ccnn import functional as F;"
            "r = np.random.default_rng(0); x = r.standard_normal((2, 32, 28, 28)).astype('f4');"
            "w = r.standard_normal((32, 32, 3, 3)).astype('f4');"
            "np.save(__import__('sys').argv[1], F.conv2d(x, w, None, padding=1))")
    outs = []
    for flag in ("1", "0"):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rowvec_{os.getpid()}_{flag}.npy")
        env = dict(os.environ, CCNN_CONV_ROWVEC=flag)
        subprocess.run([sys.executable, "-c", code, path], check=True, env=env)
        outs.append(np.load(path, allow_pickle=False))
        os.remove(path)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4)
