"""ccnn._loss.argmax_matches (the training loop's accuracy count) and
label_range (the labels' check) against
NumPy's np.count_nonzero(out.argmax(axis=-1) == labels): ties, NaN and
infinities, both dtypes; -1 for what it does not take."""
import numpy as np
import pytest

from ccnn import _loss


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    for trial in range(600):
        n, c = int(rng.integers(0, 40)), int(rng.integers(1, 12))
        out = rng.integers(-3, 3, (n, c)).astype(dtype)          # many ties
        for value, every in ((np.nan, 2), (np.inf, 3), (-np.inf, 5)):
            if trial % every == 0:
                out[rng.random((n, c)) < 0.1] = value
        y = rng.integers(0, c, n)
        want = int(np.count_nonzero(out.argmax(axis=-1) == y))
        assert _loss.argmax_matches(out, y) == want


def test_all_nan_row_and_first_maximum():
    out = np.array([[np.nan, np.nan], [1.0, 1.0], [0.0, np.nan], [2.0, 3.0]])
    assert _loss.argmax_matches(out, np.array([0, 0, 1, 1])) == 4
    assert _loss.argmax_matches(out, np.array([1, 1, 0, 0])) == 0


@pytest.mark.parametrize("out, labels", [
    (np.zeros((3, 2))[:, :1], np.zeros(3, np.int64)),        # not C-contiguous
    (np.zeros((3, 2), np.float16), np.zeros(3, np.int64)),   # another dtype
    (np.zeros((3, 2)), np.zeros(3, np.int32)),
    (np.zeros((3, 0)), np.zeros(3, np.int64)),               # no classes
    (np.zeros((3, 2)), np.zeros(4, np.int64)),               # lengths differ
    (np.zeros((3, 2, 2)), np.zeros(3, np.int64)),
    (np.zeros((3, 2)), np.zeros((3, 1), np.int64)),
    ([[1.0]], np.zeros(1, np.int64)),                         # not a buffer
])
def test_refuses_with_minus_one(out, labels):
    assert _loss.argmax_matches(out, labels) == -1


def test_label_range_matches_numpy():
    rng = np.random.default_rng(1)
    for n in list(range(1, 20)) + [1000]:
        y = rng.integers(-2**62, 2**62, n)
        assert _loss.label_range(y) == (int(y.min()), int(y.max()))
    y = np.array([3, 3, 3])
    assert _loss.label_range(y) == (3, 3)


@pytest.mark.parametrize("labels", [np.zeros(0, np.int64), np.zeros(3, np.int32),
                                    np.zeros(6, np.int64)[::2], np.zeros((3, 1), np.int64),
                                    [1, 2]])
def test_label_range_refuses_with_none(labels):
    assert _loss.label_range(labels) is None
