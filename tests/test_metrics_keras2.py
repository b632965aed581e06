"""The metrics added second to ccnn.metrics -- RootMeanSquaredError,
MeanSquaredLogarithmicError, MeanAbsolutePercentageError, LogCoshError,
CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge, KLDivergence,
Poisson and the cross-entropies as metrics: several update_state calls with
sample weights against NumPy transcriptions of Keras's formulas
(tests/ref_losses.py) and against keras.metrics itself (KERAS_BACKEND=torch),
names, configs, bad arguments, and the names in a model's History."""
import os

import numpy as np
import pytest

from ccnn import Sequential
from ccnn import metrics as M
from ccnn.layers import Dense
from ccnn.utils import set_random_seed
import ref_losses as R


def batches(kind, seed=0, n_batches=3, n=17, k=4):
    """(y_true, y_pred, weight) batches for metrics of data `kind`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        u = rng.standard_normal((n, k))
        if kind == "real":
            t, p = rng.standard_normal((n, k)), u
        elif kind == "positive":
            t, p = rng.uniform(0, 3, (n, k)), rng.uniform(0.01, 3, (n, k))
        elif kind == "counts":
            t, p = rng.poisson(2.0, (n, k)).astype(np.float64), rng.uniform(0.1, 4, (n, k))
        elif kind == "binary":
            t, p = rng.integers(0, 2, (n, k)).astype(np.float64), u
        elif kind == "binary_probs":
            t, p = rng.integers(0, 2, (n, k)).astype(np.float64), rng.uniform(0.02, 0.98, (n, k))
        elif kind in ("onehot", "onehot_probs", "labels", "labels_probs"):
            labels = rng.integers(0, k, n)
            t = labels if kind.startswith("labels") else np.eye(k)[labels]
            p = np.exp(u) / np.exp(u).sum(1, keepdims=True) if kind.endswith("probs") else 3 * u
        elif kind == "soft":
            t, p = rng.dirichlet(np.ones(k), n), rng.dirichlet(np.ones(k), n)
        else:
            raise AssertionError(kind)
        out.append((t, p, rng.uniform(0, 2, n)))
    return out


def weighted_mean(rows, weights):
    rows, weights = np.concatenate(rows), np.concatenate(weights)
    return float(np.sum(rows * weights) / np.sum(weights))


# (ccnn class name, kwargs, per-sample reference, data kind, result transform)
CASES = [
    ("RootMeanSquaredError", {}, R.mean_squared_error, "real", np.sqrt),
    ("MeanSquaredLogarithmicError", {}, R.mean_squared_logarithmic_error, "positive", None),
    ("MeanAbsolutePercentageError", {}, R.mean_absolute_percentage_error, "real", None),
    ("LogCoshError", {}, R.log_cosh, "real", None),
    ("CosineSimilarity", {}, lambda t, p: -R.cosine_similarity(t, p), "real", None),
    ("Hinge", {}, R.hinge, "binary", None),
    ("SquaredHinge", {}, R.squared_hinge, "binary", None),
    ("CategoricalHinge", {}, R.categorical_hinge, "onehot", None),
    ("KLDivergence", {}, R.kl_divergence, "soft", None),
    ("Poisson", {}, R.poisson, "counts", None),
    ("BinaryCrossentropy", {}, R.binary_crossentropy, "binary_probs", None),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     lambda t, p: R.binary_crossentropy(t, p, True, 0.1), "binary", None),
    ("CategoricalCrossentropy", {}, R.categorical_crossentropy, "onehot_probs", None),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2},
     lambda t, p: R.categorical_crossentropy(t, p, True, 0.2), "onehot", None),
    ("SparseCategoricalCrossentropy", {}, R.sparse_categorical_crossentropy, "labels_probs",
     None),
    ("SparseCategoricalCrossentropy", {"from_logits": True},
     lambda t, p: R.sparse_categorical_crossentropy(t, p, True), "labels", None),
]
IDS = [f"{c[0]}-{c[1]}" for c in CASES]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_the_numpy_reference(case, weighted):
    name, kw, ref, kind, post = case
    bs = batches(kind)
    m = getattr(M, name)(**kw)
    t0 = [b[0].copy() for b in bs]
    for _ in range(2):                      # reset_state starts over
        m.reset_state()
        assert m.result() == 0.0
        for t, p, w in bs:
            m.update_state(t, p, sample_weight=w if weighted else None)
    weights = [w if weighted else np.ones(len(w)) for _, _, w in bs]
    want = weighted_mean([ref(t, p) for t, p, _ in bs], weights)
    assert m.result() == pytest.approx(post(want) if post else want, rel=1e-9, abs=1e-12)
    for (t, _, _), t1 in zip(bs, t0):
        np.testing.assert_array_equal(t, t1)


def test_defaults_names_and_directions():
    names = {M.RootMeanSquaredError: "root_mean_squared_error",
             M.MeanSquaredLogarithmicError: "mean_squared_logarithmic_error",
             M.MeanAbsolutePercentageError: "mean_absolute_percentage_error",
             M.LogCoshError: "logcosh", M.CosineSimilarity: "cosine_similarity",
             M.Hinge: "hinge", M.SquaredHinge: "squared_hinge",
             M.CategoricalHinge: "categorical_hinge", M.KLDivergence: "kl_divergence",
             M.Poisson: "poisson", M.BinaryCrossentropy: "binary_crossentropy",
             M.CategoricalCrossentropy: "categorical_crossentropy",
             M.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy"}
    for cls, name in names.items():
        assert cls().name == name
        assert cls()._direction == ("up" if cls is M.CosineSimilarity else "down"), cls
    for key in ("msle", "MSLE", "mape", "MAPE", "bce", "root_mean_squared_error", "poisson",
                "log_cosh_error", "LogCoshError", "kl_divergence", "squared_hinge"):
        assert isinstance(M.get(key), M.Metric), key
    m = M.get_metric("mape", (None, 3))
    assert isinstance(m, M.MeanAbsolutePercentageError) and m.name == "mape"


def test_config_round_trip():
    for m in [M.RootMeanSquaredError(name="r"), M.CosineSimilarity(axis=0),
              M.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
              M.CategoricalCrossentropy(label_smoothing=0.2, axis=-1),
              M.SparseCategoricalCrossentropy(from_logits=True), M.LogCoshError()]:
        assert type(m).from_config(m.get_config()).get_config() == m.get_config()
        assert M.deserialize(M.serialize(m)).get_config() == m.get_config()


@pytest.mark.parametrize("factory,exc,match", [
    (lambda: M.BinaryCrossentropy(label_smoothing=2.0), ValueError, "label_smoothing"),
    (lambda: M.CategoricalCrossentropy(from_logits="no"), TypeError, "from_logits"),
    (lambda: M.CategoricalCrossentropy(axis=1.5), TypeError, "axis"),
    (lambda: M.SparseCategoricalCrossentropy(ignore_class=0), ValueError, "ignore_class"),
    (lambda: M.SparseCategoricalCrossentropy(axis=0), ValueError, "axis"),
    (lambda: M.CosineSimilarity(axis="x"), TypeError, "axis"),
    (lambda: M.RootMeanSquaredError().update_state(np.zeros((2, 3)), np.zeros((2, 4))),
     ValueError, "y_true"),
    (lambda: M.Poisson().update_state(["a"], [1.0]), TypeError, "y_true"),
    (lambda: M.SparseCategoricalCrossentropy().update_state([5], np.eye(3)[:1]), ValueError,
     "y_true"),
    (lambda: M.LogCoshError().update_state(np.zeros((4, 2)), np.zeros((4, 2)),
                                           sample_weight=np.ones(3)), ValueError,
     "sample_weight"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", CASES + [("CosineSimilarity", {"axis": 0}, None, "real", None)],
                         ids=IDS + ["CosineSimilarity-axis0"])
def test_against_keras(case, weighted):
    keras = _keras()
    name, kw, _, kind, _ = case
    bs = batches(kind, seed=5, n=40)
    theirs = getattr(keras.metrics, name)(**kw)
    ours = getattr(M, name)(**kw)
    for t, p, w in bs:
        sw = None if not weighted else (w[:4] if kw.get("axis") == 0 else w)
        theirs.update_state(t, p.astype(np.float32), sample_weight=sw)
        ours.update_state(t, p.astype(np.float32), sample_weight=sw)
    want = keras.ops.convert_to_numpy(theirs.result())
    np.testing.assert_allclose(ours.result(), want, rtol=2e-5, atol=2e-6)
    cfg = {k: v for k, v in theirs.get_config().items() if k not in ("dtype", "name")}
    mine = {k: v for k, v in ours.get_config().items() if k not in ("dtype", "name")}
    if name == "CosineSimilarity" and kw.get("axis", -1) != -1:
        # Keras 3 leaves axis out of the config; ccnn keeps one other than -1
        assert mine.pop("axis") == kw["axis"]
    assert mine == cfg
    assert theirs.name == ours.name


def test_names_match_keras_get():
    keras = _keras()
    for key, cls in M.ALL_OBJECTS_DICT.items():
        assert type(keras.metrics.get(key)).__name__ == cls.__name__, key


def test_history_names_match_keras():
    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.uniform(0.5, 2, (32, 3)).astype(np.float32)
    metrics = ["mape", "msle", "poisson", "log_cosh_error",
               "root_mean_squared_error", "cosine_similarity", "squared_hinge",
               M.RootMeanSquaredError(), M.LogCoshError(), M.KLDivergence(name="kl")]
    kmetrics = [m if isinstance(m, str) else getattr(keras.metrics, type(m).__name__)(
        **m.get_config()) for m in metrics]
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softplus")])
    kmodel.compile("adam", "mse", metrics=kmetrics)
    khist = kmodel.fit(x, y, epochs=2, verbose=0, validation_split=0.25).history
    set_random_seed(0)
    model = Sequential([Dense(3, activation="softplus", input_shape=(4,))])
    model.compile("adam", "mse", metrics=metrics)
    hist = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25).history
    assert set(hist) == set(khist)
    # the values: the last epoch's metrics against the metric objects on the predictions
    model.set_weights(kmodel.get_weights())
    ours = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=32)
    theirs = kmodel.evaluate(x, y, verbose=0, return_dict=True, batch_size=32)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), key


# ------------------------------------------------------------ F-scores
def ref_fbeta(bs, beta, threshold, average, weighted):
    """Keras's FBetaScore from its formula: per-class weighted tp, fp, fn."""
    eps = 1e-7
    tp = fp = fn = sup = 0.0
    for t, p, w in bs:
        if threshold is None:
            q = ((p == p.max(axis=1, keepdims=True)) & (np.abs(p) > 1e-9)).astype(float)
        else:
            q = (p > threshold).astype(float)
        ww = w[:, None] if weighted else np.ones((len(t), 1))
        axis = None if average == "micro" else 0
        tp = tp + (q * t * ww).sum(axis=axis)
        fp = fp + (q * (1 - t) * ww).sum(axis=axis)
        fn = fn + ((1 - q) * t * ww).sum(axis=axis)
        sup = sup + (t * ww).sum(axis=axis)
    prec, rec = tp / (tp + fp + eps), tp / (tp + fn + eps)
    f = (1 + beta ** 2) * prec * rec / (beta ** 2 * prec + rec + eps)
    if average == "weighted":
        return np.sum(f * sup / (np.sum(sup) + eps))
    return f if average is None else np.mean(f)


def fscore_batches(seed=3, n=30, k=4):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        t = (rng.random((n, k)) < 0.4).astype(np.float64)
        p = np.clip(0.4 * t + 0.6 * rng.random((n, k)), 0, 1)
        p[0] = 0.0                   # a row of zeros: nothing positive without a threshold
        out.append((t, p, rng.uniform(0, 2, n)))
    return out


FSCORE_CASES = [("F1Score", {}), ("F1Score", {"average": "micro", "threshold": 0.5}),
                ("F1Score", {"average": "macro"}), ("F1Score", {"average": "weighted",
                                                                "threshold": 0.3}),
                ("FBetaScore", {"beta": 2.0}), ("FBetaScore", {"beta": 0.5, "average": "macro",
                                                               "threshold": 0.6}),
                ("FBetaScore", {"average": "weighted"})]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", FSCORE_CASES, ids=str)
def test_fscores_match_the_reference_and_keras(case, weighted):
    name, kw = case
    bs = fscore_batches()
    ours = getattr(M, name)(**kw)
    for t, p, w in bs:
        ours.update_state(t, p, sample_weight=w if weighted else None)
    want = ref_fbeta(bs, kw.get("beta", 1.0), kw.get("threshold"), kw.get("average"), weighted)
    np.testing.assert_allclose(ours.result(), want, rtol=1e-9, atol=1e-12)
    assert np.shape(ours.result()) == np.shape(want)
    keras = _keras()
    theirs = getattr(keras.metrics, name)(**kw)
    for t, p, w in bs:
        theirs.update_state(t, p.astype(np.float32), sample_weight=w if weighted else None)
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()),
                               rtol=2e-5, atol=2e-6)
    assert ours.get_config() == {k: v for k, v in theirs.get_config().items() if k != "dtype"} \
        | {"dtype": None}
    ours.reset_state()
    ours.update_state(*bs[0][:2])
    np.testing.assert_allclose(ours.result(), ref_fbeta(bs[:1], kw.get("beta", 1.0),
                                                        kw.get("threshold"), kw.get("average"),
                                                        False), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("factory,match", [
    (lambda: M.F1Score(average="mean"), "average"),
    (lambda: M.FBetaScore(beta=2), "beta"),
    (lambda: M.FBetaScore(beta=-1.0), "beta"),
    (lambda: M.F1Score(threshold=1), "threshold"),
    (lambda: M.F1Score(threshold=0.0), "threshold"),
    (lambda: M.F1Score().update_state(np.zeros(3), np.zeros(3)), "2D"),
    (lambda: M.F1Score().update_state(np.zeros((2, 3)), np.zeros((2, 4))), "y_true"),
    (lambda: M.F1Score().update_state(np.zeros((2, 3)), np.zeros((2, 3)),
                                      sample_weight=np.ones(3)), "sample_weight"),
])
def test_fscore_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_fscore_in_compile_names_like_keras():
    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    kmodel.compile("adam", "categorical_crossentropy",
                   metrics=[keras.metrics.F1Score(average="macro"),
                            keras.metrics.FBetaScore(beta=2.0, average="micro", name="f2")])
    khist = kmodel.fit(x, y, epochs=1, verbose=0).history
    set_random_seed(0)
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "categorical_crossentropy",
                  metrics=[M.F1Score(average="macro"),
                           M.FBetaScore(beta=2.0, average="micro", name="f2")])
    hist = model.fit(x, y, epochs=1, verbose=0).history
    assert set(hist) == set(khist)
    model.set_weights(kmodel.get_weights())
    ours = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=32)
    theirs = kmodel.evaluate(x, y, verbose=0, return_dict=True, batch_size=32)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), key


def test_readme_example_runs(capsys):
    from test_readme import README, python_blocks, run_block
    blocks = [b for b in python_blocks(README, "Layers and the model")
              if "CategoricalFocalCrossentropy" in b]
    assert len(blocks) == 1
    run_block(blocks[0], "README.md")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(['log_cosh_error', 'loss', 'mape', 'root_mean_squared_error'])
    # the focal loss of the two rows, by Keras's formula
    z = np.array([[2.0, 0.1, -1.0], [0.3, 0.2, 0.1]])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    want = np.mean([0.25 * (1 - p[0, 0]) ** 2 * -np.log(p[0, 0]),
                    0.25 * (1 - p[1, 2]) ** 2 * -np.log(p[1, 2])])
    assert float(lines[1]) == pytest.approx(want, rel=1e-6)
    assert lines[2] == "0.556"


def test_per_class_fscores_in_compile_fit_evaluate_and_history_as_keras(capsys):
    """F1Score / FBetaScore(average=None) in compile: Keras keeps the
    per-class array in History, evaluate and train/test_on_batch, and shows
    its mean in the progress display."""
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]

    def compiled(lib):
        model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(3, activation="softmax")])
        model.compile(lib.optimizers.SGD(0.5), "categorical_crossentropy",
                      metrics=[lib.metrics.F1Score(), "accuracy",
                               lib.metrics.FBetaScore(beta=2.0, name="fb")])
        return model

    import ccnn
    kmodel, model = compiled(keras), compiled(ccnn)
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kw = dict(epochs=2, batch_size=16, shuffle=False, validation_data=(x, y))
    khist = kmodel.fit(x, y, verbose=0, **kw).history
    capsys.readouterr()
    hist = model.fit(x, y, verbose=2, **kw).history
    shown = capsys.readouterr().out
    assert set(hist) == set(khist)
    for key, want in khist.items():
        for ours, theirs in zip(hist[key], want):
            assert np.shape(ours) == np.shape(theirs), key
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-5)
    assert isinstance(hist["f1_score"][0], np.ndarray) and isinstance(hist["loss"][0], float)
    assert f"f1_score: {np.mean(hist['f1_score'][-1]):.4f}" in shown
    for ours, theirs in ((model.evaluate(x, y, verbose=0, return_dict=True),
                          kmodel.evaluate(x, y, verbose=0, return_dict=True)),
                         (model.test_on_batch(x, y, return_dict=True),
                          kmodel.test_on_batch(x, y, return_dict=True))):
        assert set(ours) == set(theirs)
        for key in theirs:
            np.testing.assert_allclose(ours[key], np.asarray(theirs[key]), rtol=1e-4,
                                       atol=1e-5, err_msg=key)
    ours = model.evaluate(x, y, verbose=0)
    theirs = kmodel.evaluate(x, y, verbose=0)
    assert [np.shape(v) for v in ours] == [np.shape(v) for v in theirs]
