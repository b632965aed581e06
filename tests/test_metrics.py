"""ccnn.metrics against plain NumPy transcriptions of Keras 3's formulas
(seeded random data, several batches, sample weights, edge cases), the
names and the 'accuracy' resolver, bad arguments, and -- when keras is
installed -- keras.metrics itself (KERAS_BACKEND=torch)."""

import os
import pickle

import numpy as np
import pytest

from ccnn import metrics as M

RNG_SEEDS = [0, 1, 2]


def batches(seed, n_batches=3, n=17, classes=5):
    """Random (y_prob, one-hot, labels, binary labels, scores, weights) batches."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        logits = rng.standard_normal((n, classes))
        prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        labels = rng.integers(0, classes, n)
        onehot = np.eye(classes)[labels]
        binary = rng.integers(0, 2, n).astype(np.float64)
        score = np.clip(0.35 * binary + 0.65 * rng.random(n), 0, 1)
        weight = rng.random(n) * 2
        out.append(dict(prob=prob, onehot=onehot, labels=labels, binary=binary, score=score,
                        weight=weight))
    return out


def weighted_mean(values, weights):
    values = np.concatenate(values)
    weights = np.concatenate(weights)
    return float(np.sum(values * weights) / np.sum(weights)) if np.sum(weights) else 0.0


# ------------------------------------------------------------ per-sample references
def ref_binary(y, p, threshold=0.5):
    return np.array([float(a == (b > threshold)) for a, b in zip(y, p)])


def ref_categorical(onehot, prob):
    return np.array([float(np.argmax(t) == np.argmax(q)) for t, q in zip(onehot, prob)])


def ref_sparse(labels, prob):
    return np.array([float(t == np.argmax(q)) for t, q in zip(labels, prob)])


def ref_top_k(labels, prob, k):
    # in the top k (ties with the k-th score count): fewer than k scores beat the target's
    return np.array([float(np.sum(q > q[t]) < k) for t, q in zip(labels, prob)])


def run(metric, batches_, y_key, p_key, weighted, y_fn=lambda y: y, p_fn=lambda p: p):
    metric.reset_state()
    for b in batches_:
        metric.update_state(y_fn(b[y_key]), p_fn(b[p_key]),
                            sample_weight=b["weight"] if weighted else None)
    return metric.result()


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_family(seed, weighted):
    bs = batches(seed)
    w = [b["weight"] if weighted else np.ones(len(b["labels"])) for b in bs]
    for threshold in (0.5, 0.3):
        want = weighted_mean([ref_binary(b["binary"], b["score"], threshold) for b in bs], w)
        m = M.BinaryAccuracy(threshold=threshold)
        assert run(m, bs, "binary", "score", weighted) == pytest.approx(want, abs=1e-12)
        # (N, 1) targets and predictions, and (N,) targets with (N, 1) predictions
        assert run(m, bs, "binary", "score", weighted, lambda y: y[:, None],
                   lambda p: p[:, None]) == pytest.approx(want, abs=1e-12)
        assert run(m, bs, "binary", "score", weighted,
                   p_fn=lambda p: p[:, None]) == pytest.approx(want, abs=1e-12)
    want = weighted_mean([ref_categorical(b["onehot"], b["prob"]) for b in bs], w)
    assert run(M.CategoricalAccuracy(), bs, "onehot", "prob", weighted) == \
        pytest.approx(want, abs=1e-12)
    want = weighted_mean([ref_sparse(b["labels"], b["prob"]) for b in bs], w)
    assert run(M.SparseCategoricalAccuracy(), bs, "labels", "prob", weighted) == \
        pytest.approx(want, abs=1e-12)
    assert run(M.SparseCategoricalAccuracy(), bs, "labels", "prob", weighted,
               lambda y: y[:, None]) == pytest.approx(want, abs=1e-12)
    for k in (1, 2, 4, 5, 7):
        want = weighted_mean([ref_top_k(b["labels"], b["prob"], k) for b in bs], w)
        assert run(M.TopKCategoricalAccuracy(k=k), bs, "onehot", "prob", weighted) == \
            pytest.approx(want, abs=1e-12)
        assert run(M.SparseTopKCategoricalAccuracy(k=k), bs, "labels", "prob", weighted) == \
            pytest.approx(want, abs=1e-12)
        # from_sorted_ids: y_pred holds class ids sorted by score
        assert run(M.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True), bs, "labels",
                   "prob", weighted, p_fn=lambda p: np.argsort(-p, axis=1)) == \
            pytest.approx(want, abs=1e-12)
    want = weighted_mean([(b["binary"] == (b["score"] > 0.5)) for b in bs], w)
    assert run(M.Accuracy(), bs, "binary", "score", weighted,
               p_fn=lambda p: (p > 0.5).astype(float)) == pytest.approx(want, abs=1e-12)


def test_top_k_ties_count_as_in_top_k():
    prob = np.array([[0.3, 0.3, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4]])
    m = M.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 0], prob)
    assert m.result() == 0.5


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_regression_and_mean(seed):
    rng = np.random.default_rng(seed)
    t = [rng.standard_normal((9, 4)) for _ in range(3)]
    p = [rng.standard_normal((9, 4)) for _ in range(3)]
    w = [rng.random(9) for _ in range(3)]
    mse = [np.array([np.mean((a - b) ** 2) for a, b in zip(ta, pa)]) for ta, pa in zip(t, p)]
    mae = [np.array([np.mean(np.abs(a - b)) for a, b in zip(ta, pa)]) for ta, pa in zip(t, p)]
    for cls, ref in ((M.MeanSquaredError, mse), (M.MeanAbsoluteError, mae)):
        m = cls()
        for ta, pa, wa in zip(t, p, w):
            m.update_state(ta, pa, sample_weight=wa[:, None])     # (N, 1) weights too
        assert m.result() == pytest.approx(weighted_mean(ref, w), rel=1e-12)
        m.reset_state()
        for ta, pa in zip(t, p):
            m.update_state(ta, pa)
        assert m.result() == pytest.approx(weighted_mean(ref, [np.ones(9)] * 3), rel=1e-12)
    mean = M.Mean()
    for ta, wa in zip(t, w):
        mean.update_state(ta, sample_weight=wa)   # (N, 4) values: averaged per sample first
    assert mean.result() == pytest.approx(
        weighted_mean([ta.mean(1) for ta in t], w), rel=1e-12)
    mean.reset_state()
    mean.update_state(3.0)
    mean.update_state([1.0, 2.0], sample_weight=[1.0, 3.0])
    assert mean.result() == pytest.approx((3 + 1 + 6) / 5)


# ------------------------------------------------------------ confusion metrics
def ref_counts(y, p, thresholds, w):
    """tp, fp, tn, fn per threshold: a prediction is positive when p > threshold."""
    out = {k: np.zeros(len(thresholds)) for k in ("tp", "fp", "tn", "fn")}
    for i, th in enumerate(thresholds):
        for yi, pi, wi in zip(y, p, w):
            pos, pred = yi != 0, pi > th
            key = ("t" if pos == pred else "f") + ("p" if pred else "n")
            out[key][i] += wi
    return out


def nonan(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))


def ref_auc(c, curve="ROC", summation="interpolation"):
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    if curve == "PR" and summation == "interpolation":
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = nonan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), nonan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return float(np.sum(nonan(slope * (dtp + intercept * np.log(ratio)),
                                  np.maximum(tp[1:] + fn[1:], 0))))
    recall = nonan(tp, tp + fn)
    x, y = (nonan(fp, fp + tn), recall) if curve == "ROC" else (recall, nonan(tp, tp + fp))
    h = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
         "majoring": np.maximum(y[:-1], y[1:])}[summation]
    return float(np.sum((x[:-1] - x[1:]) * h))


def auc_thresholds(n):
    return np.array([-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7])


def stacked(bs, key):
    return np.concatenate([b[key] for b in bs])


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall(seed, weighted):
    bs = batches(seed)
    y, p = stacked(bs, "binary"), stacked(bs, "score")
    w = stacked(bs, "weight") if weighted else np.ones_like(y)
    for thresholds in (None, 0.3, [0.2, 0.5, 0.9], [0.0, 0.5, 1.0]):
        th = [0.5] if thresholds is None else np.atleast_1d(thresholds)
        c = ref_counts(y, p, th, w)
        for cls, other in ((M.Precision, "fp"), (M.Recall, "fn")):
            got = run(cls(thresholds=thresholds), bs, "binary", "score", weighted)
            want = nonan(c["tp"], c["tp"] + c[other])
            np.testing.assert_allclose(got, want if len(th) > 1 else want[0], atol=1e-12)
    # class_id and top_k on multi-class probabilities vs one-hot targets
    onehot, prob = stacked(bs, "onehot"), stacked(bs, "prob")
    for class_id in (0, 3):
        c = ref_counts(onehot[:, class_id], prob[:, class_id], [0.5], w)
        got = run(M.Precision(class_id=class_id, thresholds=0.2), bs, "onehot", "prob",
                  weighted)
        c = ref_counts(onehot[:, class_id], prob[:, class_id], [0.2], w)
        assert got == pytest.approx(nonan(c["tp"], c["tp"] + c["fp"])[0], abs=1e-12)
    for k in (1, 2):
        # top_k: only each row's k highest scores can be positive (threshold -inf)
        top = np.argsort(-prob, axis=1, kind="stable")[:, :k]
        keep = np.zeros_like(prob, dtype=bool)
        np.put_along_axis(keep, top, True, axis=1)
        ww = np.repeat(w, prob.shape[1])
        c = ref_counts(onehot.ravel(), np.where(keep, 1.0, -1.0).ravel(), [0.0], ww)
        got = run(M.Precision(top_k=k), bs, "onehot", "prob", weighted)
        assert got == pytest.approx(nonan(c["tp"], c["tp"] + c["fp"])[0], abs=1e-12)
        got = run(M.Recall(top_k=k), bs, "onehot", "prob", weighted)
        assert got == pytest.approx(nonan(c["tp"], c["tp"] + c["fn"])[0], abs=1e-12)


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_auc(seed, weighted):
    bs = batches(seed, n=40)
    y, p = stacked(bs, "binary"), stacked(bs, "score")
    w = stacked(bs, "weight") if weighted else np.ones_like(y)
    for num, curve, summation in [(200, "ROC", "interpolation"), (50, "ROC", "minoring"),
                                  (50, "ROC", "majoring"), (200, "PR", "interpolation"),
                                  (30, "PR", "majoring"), (3, "ROC", "interpolation")]:
        c = ref_counts(y, np.clip(p, 0, 1), auc_thresholds(num), w)
        m = M.AUC(num_thresholds=num, curve=curve, summation_method=summation)
        got = run(m, bs, "binary", "score", weighted)
        assert got == pytest.approx(ref_auc(c, curve, summation), abs=1e-12), (num, curve)
    # explicit (unevenly spaced) thresholds
    th = [0.1, 0.15, 0.5, 0.55, 0.9]
    c = ref_counts(y, p, np.array([-1e-7] + th + [1 + 1e-7]), w)
    got = run(M.AUC(thresholds=th), bs, "binary", "score", weighted)
    assert got == pytest.approx(ref_auc(c), abs=1e-12)
    # from_logits: the scores go through a sigmoid first
    logit = lambda q: np.log(np.clip(q, 1e-9, 1)) - np.log(np.clip(1 - q, 1e-9, 1))  # noqa: E731
    got = run(M.AUC(from_logits=True), bs, "binary", "score", weighted, p_fn=logit)
    c = ref_counts(y, np.clip(p, 0, 1), auc_thresholds(200), w)
    assert got == pytest.approx(ref_auc(c), abs=1e-6)


def test_auc_approximates_the_exact_roc_auc():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4000)
    p = 1 / (1 + np.exp(-(rng.standard_normal(4000) + 1.2 * y)))
    pos, neg = p[y == 1], p[y == 0]
    exact = np.mean(pos[:, None] > neg[None, :])   # Mann-Whitney
    m = M.AUC()
    m.update_state(y, p)
    assert abs(m.result() - exact) < 2e-3


# ------------------------------------------------------------ edge cases
ALL = [M.BinaryAccuracy, M.CategoricalAccuracy, M.SparseCategoricalAccuracy,
       M.TopKCategoricalAccuracy, M.SparseTopKCategoricalAccuracy, M.MeanSquaredError,
       M.MeanAbsoluteError, M.AUC, M.Precision, M.Recall, M.Accuracy]


def _data_for(cls, n):
    rng = np.random.default_rng(0)
    prob = rng.random((n, 4))
    if cls in (M.CategoricalAccuracy, M.TopKCategoricalAccuracy):
        return np.eye(4)[rng.integers(0, 4, n)], prob
    if cls in (M.SparseCategoricalAccuracy, M.SparseTopKCategoricalAccuracy):
        return rng.integers(0, 4, n), prob
    if cls in (M.MeanSquaredError, M.MeanAbsoluteError):
        return rng.random((n, 4)), prob
    return rng.integers(0, 2, n).astype(float), prob[:, 0]


@pytest.mark.parametrize("cls", ALL)
def test_empty_batches_and_reset(cls):
    m = cls()
    assert m.result() == 0.0          # nothing seen yet: Keras's divide_no_nan gives 0
    y, p = _data_for(cls, 0)
    m.update_state(y, p)
    assert m.result() == 0.0
    y, p = _data_for(cls, 30)
    y0, p0 = y.copy(), p.copy()
    first = m(y, p)
    np.testing.assert_array_equal(y, y0)  # the caller's arrays are not modified
    np.testing.assert_array_equal(p, p0)
    m.update_state(y[:0], p[:0])          # an empty batch changes nothing
    assert m.result() == first
    m.reset_state()
    assert m.result() == 0.0
    assert m(y, p) == first
    again = pickle.loads(pickle.dumps(m))
    assert again.result() == first
    m.update_state(y, p, sample_weight=np.zeros(30))   # zero weights mask everything
    assert m.result() == pytest.approx(first)


def test_all_one_class():
    ones, zeros = np.ones(10), np.zeros(10)
    p = np.linspace(0.05, 0.95, 10)
    auc = M.AUC()
    auc.update_state(ones, p)     # no negatives: the false-positive rate is 0 everywhere
    assert auc.result() == 0.0
    auc = M.AUC()
    auc.update_state(zeros, p)    # no positives: the recall is 0 everywhere
    assert auc.result() == 0.0
    pr = M.Precision()
    pr.update_state(zeros, np.zeros(10))   # nothing predicted positive
    assert pr.result() == 0.0
    rc = M.Recall()
    rc.update_state(ones, p)
    assert rc.result() == pytest.approx(0.5)
    acc = M.BinaryAccuracy()
    acc.update_state(ones, p)
    assert acc.result() == pytest.approx(0.5)


# ------------------------------------------------------------ names, get, get_metric
def test_default_names_and_directions():
    names = {M.BinaryAccuracy: "binary_accuracy", M.CategoricalAccuracy: "categorical_accuracy",
             M.SparseCategoricalAccuracy: "sparse_categorical_accuracy",
             M.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
             M.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
             M.MeanSquaredError: "mean_squared_error",
             M.MeanAbsoluteError: "mean_absolute_error", M.AUC: "auc",
             M.Precision: "precision", M.Recall: "recall", M.Mean: "mean",
             M.Accuracy: "accuracy"}
    for cls, name in names.items():
        assert cls().name == name
    assert M.MeanSquaredError()._direction == M.MeanAbsoluteError()._direction == "down"
    assert M.AUC()._direction == M.BinaryAccuracy()._direction == "up"


def test_get():
    assert isinstance(M.get("mae"), M.MeanAbsoluteError)
    assert isinstance(M.get("MSE"), M.MeanSquaredError)
    assert isinstance(M.get("binary_accuracy"), M.BinaryAccuracy)
    assert isinstance(M.get("SparseTopKCategoricalAccuracy"), M.SparseTopKCategoricalAccuracy)
    assert isinstance(M.get("auc"), M.AUC) and isinstance(M.get(M.Precision), M.Precision)
    r = M.Recall(thresholds=[0.2, 0.4])
    assert M.get(r) is r
    assert M.get(None) is None
    assert M.get(M.binary_accuracy) is M.binary_accuracy
    back = M.get(M.serialize(M.TopKCategoricalAccuracy(k=3, name="top3")))
    assert isinstance(back, M.TopKCategoricalAccuracy) and back.k == 3 and back.name == "top3"
    with pytest.raises(ValueError, match="nope"):
        M.get("nope")
    with pytest.raises(ValueError, match="acc"):
        M.get("acc")   # as in Keras: 'acc' means something only to compile (get_metric)


@pytest.mark.parametrize("ident,pred,true,loss,cls", [
    ("accuracy", (None, 1), None, "binary_crossentropy", M.BinaryAccuracy),
    ("acc", (None, 1), (None, 1), None, M.BinaryAccuracy),
    ("accuracy", (None, 10), None, "sparse_categorical_crossentropy",
     M.SparseCategoricalAccuracy),
    ("accuracy", (None, 10), None, "categorical_crossentropy", M.CategoricalAccuracy),
    ("accuracy", (None, 10), (None,), "categorical_crossentropy", M.SparseCategoricalAccuracy),
    ("accuracy", (None, 10), (None, 1), None, M.SparseCategoricalAccuracy),
    ("Accuracy", (None, 10), (None, 10), None, M.CategoricalAccuracy),
    ("mae", (None, 3), None, None, M.MeanAbsoluteError),
    ("top_k_categorical_accuracy", (None, 10), None, None, M.TopKCategoricalAccuracy),
])
def test_get_metric_resolves_like_compile(ident, pred, true, loss, cls):
    m = M.get_metric(ident, pred, true, loss=loss)
    assert type(m) is cls and m.name == ident


def test_get_metric_with_loss_objects_and_functions():
    from ccnn import losses
    m = M.get_metric("acc", (None, 10), loss=losses.SparseCategoricalCrossentropy())
    assert type(m) is M.SparseCategoricalAccuracy and m.name == "acc"
    m = M.get_metric("acc", (None, 10), loss=losses.CategoricalCrossentropy())
    assert type(m) is M.CategoricalAccuracy

    def my_metric(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)
    m = M.get_metric(my_metric, (None, 2))
    assert isinstance(m, M.MeanMetricWrapper) and m.name == "my_metric"
    m.update_state(np.zeros((2, 2)), np.array([[1.0, 3.0], [2.0, 0.0]]))
    assert m.result() == 2.5
    with pytest.raises(ValueError, match="y_true_shape or the loss"):
        M.get_metric("accuracy", (None, 10))


def test_config_round_trip():
    for m in [M.BinaryAccuracy(threshold=0.3, name="b"), M.TopKCategoricalAccuracy(k=2),
              M.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True), M.Mean(name="m"),
              M.AUC(num_thresholds=50, curve="PR", summation_method="minoring"),
              M.AUC(thresholds=[0.2, 0.7], from_logits=True),
              M.Precision(thresholds=[0.1, 0.9], class_id=2), M.Recall(top_k=3),
              M.MeanSquaredError(dtype="float64")]:
        again = type(m).from_config(m.get_config())
        assert again.get_config() == m.get_config()
        assert M.deserialize(M.serialize(m)).get_config() == m.get_config()


@pytest.mark.parametrize("factory,exc,match", [
    (lambda: M.BinaryAccuracy(threshold="high"), TypeError, "threshold"),
    (lambda: M.TopKCategoricalAccuracy(k=0), ValueError, "k must be"),
    (lambda: M.SparseTopKCategoricalAccuracy(k=2.5), ValueError, "k must be"),
    (lambda: M.SparseTopKCategoricalAccuracy(from_sorted_ids="y"), TypeError, "from_sorted_ids"),
    (lambda: M.Precision(thresholds=1.5), ValueError, r"\[0, 1\]"),
    (lambda: M.Recall(thresholds=["a"]), TypeError, r"thresholds\[0\]"),
    (lambda: M.Precision(top_k=0), ValueError, "top_k"),
    (lambda: M.Recall(class_id=-1), ValueError, "class_id"),
    (lambda: M.AUC(num_thresholds=1), ValueError, "num_thresholds"),
    (lambda: M.AUC(curve="XY"), ValueError, "curve"),
    (lambda: M.AUC(summation_method="trapz"), ValueError, "summation method"),
    (lambda: M.AUC(multi_label=True), ValueError, "multi_label"),
    (lambda: M.AUC(from_logits=1), TypeError, "from_logits"),
    (lambda: M.Mean(name=3), TypeError, "name"),
    (lambda: M.Mean(dtype="int8"), ValueError, "dtype"),
    (lambda: M.MeanMetricWrapper(fn=3), TypeError, "fn"),
    (lambda: M.BinaryAccuracy().update_state(["a", "b"], [0.1, 0.2]), TypeError, "y_true"),
    (lambda: M.AUC().update_state([0, 1], None), TypeError, "y_pred"),
    (lambda: M.Mean().update_state([1.0, 2.0], sample_weight=[1.0, 2.0, 3.0]), ValueError,
     "sample_weight"),
    (lambda: M.Precision().update_state([0, 1], [0.1, 0.2], sample_weight=[1, 2, 3]),
     ValueError, "sample_weight"),
    (lambda: M.Precision(class_id=7).update_state(np.eye(3), np.eye(3)), ValueError,
     "class_id"),
    (lambda: M.MeanSquaredError().update_state(np.zeros((2, 3)), np.zeros((2, 4))),
     ValueError, "y_true"),
    (lambda: M.SparseTopKCategoricalAccuracy().update_state([5], np.eye(3)[:1]), ValueError,
     "y_true"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed; the NumPy "
                                               "transcriptions above stand for it")


KERAS_CASES = [
    ("BinaryAccuracy", {}, "binary", "score"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary", "score"),
    ("CategoricalAccuracy", {}, "onehot", "prob"),
    ("SparseCategoricalAccuracy", {}, "labels", "prob"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot", "prob"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "labels", "prob"),
    ("MeanSquaredError", {}, "onehot", "prob"),
    ("MeanAbsoluteError", {}, "onehot", "prob"),
    ("AUC", {}, "binary", "score"),
    ("AUC", {"curve": "PR"}, "binary", "score"),
    ("AUC", {"num_thresholds": 13, "summation_method": "majoring"}, "binary", "score"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.45, 0.8]}, "binary", "score"),
    ("Precision", {}, "binary", "score"),
    ("Precision", {"thresholds": [0.2, 0.6]}, "binary", "score"),
    ("Precision", {"class_id": 1}, "onehot", "prob"),
    ("Recall", {"top_k": 2}, "onehot", "prob"),
    ("Recall", {"thresholds": 0.4}, "binary", "score"),
]


@pytest.mark.parametrize("name,kwargs,y_key,p_key", KERAS_CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_against_keras(name, kwargs, y_key, p_key, weighted):
    keras = _keras()
    bs = batches(7, n=50)
    theirs = getattr(keras.metrics, name)(**kwargs)
    ours = getattr(M, name)(**kwargs)
    for b in bs:
        sw = b["weight"] if weighted else None
        theirs.update_state(b[y_key], b[p_key].astype(np.float32), sample_weight=sw)
        ours.update_state(b[y_key], b[p_key].astype(np.float32), sample_weight=sw)
    want = keras.ops.convert_to_numpy(theirs.result())
    np.testing.assert_allclose(ours.result(), want, rtol=1e-5, atol=1e-6)
    # (keras numbers repeated default names: auc, auc_1, ...; ccnn does not)
    cfg = {k: v for k, v in theirs.get_config().items() if k not in ("dtype", "name")}
    assert {k: v for k, v in ours.get_config().items() if k not in ("dtype", "name")} == cfg
    assert theirs.name.startswith(ours.name)


def test_names_match_keras_get():
    keras = _keras()
    for key, cls in M.ALL_OBJECTS_DICT.items():
        assert type(keras.metrics.get(key)).__name__ == cls.__name__, key


@pytest.mark.parametrize("pred,true", [((8, 1), (8, 1)), ((8, 1), (8,)), ((8, 5), (8,)),
                                       ((8, 5), (8, 1)), ((8, 5), (8, 5))])
def test_accuracy_resolution_matches_keras_compile(pred, true):
    _keras()
    from keras.src.trainers.compile_utils import get_metric
    theirs = get_metric("accuracy", np.zeros(true), np.zeros(pred))
    ours = M.get_metric("accuracy", pred, true)
    assert type(ours).__name__ == type(theirs).__name__ and ours.name == theirs.name


def test_update_state_and_result_are_abstract_and_reset_state_zeroes_variables():
    # a subclass missing update_state or result cannot be made (abc), as a
    # Keras subclass missing them cannot be used
    class NoResult(M.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

    class NoUpdate(M.Metric):
        def result(self):
            return 0.0

    for cls in (NoResult, NoUpdate):
        with pytest.raises(TypeError, match="abstract"):
            cls()
    assert M.Metric.__abstractmethods__ == frozenset({"update_state", "result"})
    # every ccnn metric class implements both
    for name in M.__all__:
        obj = getattr(M, name)
        if isinstance(obj, type) and issubclass(obj, M.Metric) and obj is not M.Metric:
            assert not getattr(obj, "__abstractmethods__", None), name

    # Keras's subclass pattern: add_variable state, zeroed by the default
    # reset_state, with the variables of a metric held as an attribute
    class TruePositives(M.Metric):
        def __init__(self, name="true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
            self.per_class = self.add_variable(shape=(3,), name="per_class")
            self.seen = M.Mean(name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = (np.asarray(y_true) == 1) & (np.asarray(y_pred) >= 0.5)
            self.tp += hit.sum()
            self.per_class += hit.sum(axis=0)
            self.seen.update_state(np.ones(len(hit)))

        def result(self):
            return float(self.tp)

    m = TruePositives()
    t = np.array([[1, 0, 1], [1, 1, 0]])
    p = np.array([[0.9, 0.1, 0.7], [0.2, 0.8, 0.1]])
    assert m(t, p) == 3.0
    np.testing.assert_array_equal(m.per_class, [1, 1, 1])
    assert [v.shape for v in m.variables] == [(), (3,)]
    m.reset_state()
    assert m.result() == 0.0 and not m.per_class.any() and m.seen.count == 0
    assert m(t, p) == 3.0                     # the same arrays go on counting
    with pytest.raises(ValueError, match="initializer"):
        m.add_variable(shape=(2,), initializer="ones")
    with pytest.raises(ValueError, match="shape"):
        m.add_variable(shape=(-1,))
