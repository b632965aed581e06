"""compile(loss_weights=...) of a one-output model (a float, or a list /
tuple of one, or a dict keyed by the output's name, scales the loss and its
gradient) and compile() without a loss (predict runs; fit, evaluate,
train_on_batch and test_on_batch raise), as Keras 3.  The reference is
Keras 3 itself, with the same weights."""
import os

import numpy as np
import pytest

import ccnn
from ccnn.models import train_plan

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 5)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 16)]
SW = RNG.random(16).astype(np.float32)


def _model(lib, kind, name="head"):
    if kind == "sequential":
        return lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, activation="relu"),
                               lib.layers.Dense(3, activation="softmax", name=name)])
    i = lib.Input((5,))
    h = lib.layers.Dense(4, activation="relu")(i)
    return lib.Model(i, lib.layers.Dense(3, activation="softmax", name=name)(h))


def _pair(kind):
    ccnn.utils.set_random_seed(0)
    m, k = _model(ccnn, kind), _model(keras, kind)
    k.set_weights(m.get_weights())
    return m, k


def _error(call):
    try:
        call()
    except ValueError as e:
        return str(e)
    return None


KINDS = ["sequential", "functional"]
CALLS = {
    "fit": lambda m: m.fit(X, Y, verbose=0),
    "evaluate": lambda m: m.evaluate(X, Y, verbose=0),
    "evaluate_no_y": lambda m: m.evaluate(X, verbose=0),
    "train_on_batch": lambda m: m.train_on_batch(X, Y),
    "test_on_batch": lambda m: m.test_on_batch(X, Y),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metrics", [None, ["accuracy"]])
def test_compile_without_a_loss_as_keras(kind, metrics):
    m, k = _pair(kind)
    m.compile(metrics=metrics)
    k.compile(metrics=metrics)
    np.testing.assert_allclose(m.predict(X), k.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    for name, call in CALLS.items():
        want, got = _error(lambda: call(k)), _error(lambda: call(m))
        assert want is not None and got == want, name
    before = [w.copy() for w in m.get_weights()]
    for w, b in zip(m.get_weights(), before):      # nothing trained
        np.testing.assert_array_equal(w, b)
    m.compile("sgd", "categorical_crossentropy")     # compiled again with a loss: trains
    assert np.isfinite(m.fit(X, Y, verbose=0).history["loss"][0])


WEIGHTS = [0.5, [0.25], (2.5,), {"head": 0.75}, 1.0, None]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lw", WEIGHTS, ids=[repr(w) for w in WEIGHTS])
def test_loss_weights_scale_the_loss_as_keras(kind, lw):
    m, k = _pair(kind)
    for model in (m, k):
        model.compile(keras.optimizers.SGD(0.1) if model is k else ccnn.optimizers.SGD(0.1),
                      "categorical_crossentropy", metrics=["accuracy"], loss_weights=lw)
    want = k.evaluate(X, Y, verbose=0, return_dict=True)
    got = m.evaluate(X, Y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want) == ["accuracy", "loss"]
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-5)
    want = k.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    got = m.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    hk = k.fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    before = train_plan.calls()
    hm = m.fit(X, Y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert train_plan.calls() == before + 12        # every step through the training plan
    assert sorted(hm) == sorted(hk) == ["accuracy", "loss"]
    assert m.metrics_names == ["loss", "accuracy"]      # as without loss_weights
    np.testing.assert_allclose(hm["loss"], hk["loss"], rtol=1e-4)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_loss_weight_is_a_learning_rate_factor_for_sgd(dtype):
    """SGD on w * loss is SGD at w * lr on the loss; the logged loss is w times."""
    runs = []
    for lw, lr in ((0.5, 0.2), (None, 0.1)):
        ccnn.utils.set_random_seed(1)
        m = ccnn.Sequential([ccnn.Input((5,), dtype=dtype), ccnn.layers.Dense(3, dtype=dtype)])
        m.compile(ccnn.optimizers.SGD(lr), "mse", loss_weights=lw)
        h = m.fit(X.astype(dtype), Y.astype(dtype), epochs=2, batch_size=4, shuffle=False,
                  verbose=0).history
        runs.append((h["loss"], m.get_weights()))
    np.testing.assert_allclose(runs[0][0], 0.5 * np.array(runs[1][0]), rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


BAD = [2, "a", True, [0.5, 1.0], {"other": 0.5}, [float("nan")], ["x"]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lw", BAD, ids=[repr(w) for w in BAD])
def test_bad_loss_weights_are_refused(kind, lw):
    m, k = _pair(kind)
    with pytest.raises((ValueError, TypeError)):
        m.compile("sgd", "categorical_crossentropy", loss_weights=lw)
    if isinstance(lw, (int, str)) and not isinstance(lw, list):     # Keras refuses at compile
        with pytest.raises(ValueError, match="Expected `loss_weights` argument to be a float"):
            k.compile("sgd", "categorical_crossentropy", loss_weights=lw)


# ---- the compile config: saved and loaded, ccnn's files and Keras's
@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("fmt", [".keras", ".ccnn"])
def test_a_model_compiled_without_a_loss_saves_and_loads(tmp_path, kind, fmt):
    m = _model(ccnn, kind)
    m.compile(optimizer="adam")
    assert m.get_compile_config()["loss"] is None
    path = str(tmp_path / ("m" + fmt))
    m.save(path)
    back = ccnn.models.load_model(path)
    assert back.compiled and back.loss is None
    np.testing.assert_array_equal(back.predict(X, verbose=0), m.predict(X, verbose=0))
    with pytest.raises(ValueError, match="No loss to compute"):
        back.fit(X, Y, verbose=0)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("fmt", [".keras", ".ccnn"])
def test_a_one_output_loss_weight_is_saved_and_loaded(tmp_path, kind, fmt):
    m = _model(ccnn, kind)
    m.compile(optimizer="sgd", loss="categorical_crossentropy", loss_weights=0.25)
    assert m.get_compile_config()["loss_weights"] == 0.25
    path = str(tmp_path / ("m" + fmt))
    m.save(path)
    back = ccnn.models.load_model(path)
    assert back.get_compile_config()["loss_weights"] == 0.25
    assert back.evaluate(X, Y, verbose=0) == pytest.approx(m.evaluate(X, Y, verbose=0),
                                                           rel=1e-6)


def test_keras_files_compiled_without_a_loss_or_with_a_loss_weight_load(tmp_path):
    k = _model(keras, "sequential")
    k.compile(optimizer="adam", loss="categorical_crossentropy", loss_weights=0.5)
    k.save(str(tmp_path / "w.keras"))
    m = ccnn.models.load_model(str(tmp_path / "w.keras"))
    assert m.get_compile_config()["loss_weights"] == 0.5
    assert m.evaluate(X, Y, verbose=0) == pytest.approx(k.evaluate(X, Y, verbose=0), rel=1e-5)
    k2 = _model(keras, "sequential")
    k2.compile(optimizer="adam")
    k2.save(str(tmp_path / "n.keras"))
    m2 = ccnn.models.load_model(str(tmp_path / "n.keras"))
    assert m2.compiled and m2.loss is None
    np.testing.assert_allclose(m2.predict(X, verbose=0), k2.predict(X, verbose=0), rtol=1e-5,
                               atol=1e-6)


# ---- the one-output weight as read (falsy values, the class default, one finite check)
@pytest.mark.parametrize("lw, want", [(None, 1.0), (False, 1.0), ("", 1.0), (0, 0.0),
                                      (0.0, 0.0), (np.float64(0.0), 0.0), (0.5, 0.5),
                                      ([2.0], 2.0), ({"head": 3.0}, 3.0)])
def test_single_loss_weight_reads_falsy_values_as_keras_skips_them(lw, want):
    from ccnn.models.trainer import single_loss_weight
    got = single_loss_weight(lw, "head")
    assert type(got) is float and got == want


@pytest.mark.parametrize("w", [float("inf"), float("nan"), True, "x", None])
def test_one_finite_check_for_both_model_kinds(w):
    from ccnn.models.trainer import finite_loss_weight, single_loss_weight
    with pytest.raises(TypeError, match="loss_weights must be finite numbers"):
        finite_loss_weight(w)
    with pytest.raises(TypeError, match="loss_weights must be finite numbers"):
        single_loss_weight([w], "head")
    m = _model(ccnn, "functional")
    with pytest.raises(TypeError, match="loss_weights must be finite numbers"):
        m.compile("sgd", "categorical_crossentropy", loss_weights=[w])


def test_an_uncompiled_model_reads_the_class_default_weight():
    for kind in KINDS:
        m = _model(ccnn, kind)
        assert "_loss_weight" not in m.__dict__ and m._loss_weight == 1.0
        assert m.get_compile_config() is None or m.get_compile_config()["loss_weights"] is None
        m.compile("sgd", "mse", loss_weights=0.0 if kind == "sequential" else None)
        assert m.evaluate(X, Y, verbose=0) == (0.0 if kind == "sequential" else
                                               pytest.approx(np.mean((m.predict(X, verbose=0)
                                                                      - Y) ** 2), rel=1e-5))
