"""Keras 3's optimizers in ccnn (issue 14): Adam (+ amsgrad), AdamW, SGD,
RMSprop, Adagrad, Adadelta, Adamax, Nadam and the base-class weight_decay,
clipnorm, clipvalue, global_clipnorm -- each update one fused C pass.

Expected values come from tests/ref_optim.py (NumPy transcriptions of Keras's
source) and, with keras installed (KERAS_BACKEND=torch), from real Keras
optimizers run on keras.Variable's."""
import os
import pickle

import numpy as np
import pytest

import ccnn
from ccnn import optimizers as O
from ccnn.layers import Dense
from ref_optim import reference

CLASSES = {"sgd": O.SGD, "adam": O.Adam, "adamw": O.AdamW, "rmsprop": O.RMSprop,
           "adagrad": O.Adagrad, "adadelta": O.Adadelta, "adamax": O.Adamax, "nadam": O.Nadam}

# every optimizer with its own options, then the base-class options on each
OWN = [
    ("sgd", {}), ("sgd", dict(momentum=0.9)), ("sgd", dict(momentum=0.9, nesterov=True)),
    ("adam", {}), ("adam", dict(amsgrad=True)),
    ("adam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3)),
    ("adamw", {}), ("adamw", dict(weight_decay=0.1, amsgrad=True, learning_rate=0.01)),
    ("rmsprop", {}), ("rmsprop", dict(centered=True)), ("rmsprop", dict(momentum=0.9)),
    ("rmsprop", dict(momentum=0.5, centered=True, rho=0.8, learning_rate=0.01)),
    ("adagrad", {}), ("adagrad", dict(initial_accumulator_value=0.5, learning_rate=0.1)),
    ("adadelta", {}), ("adadelta", dict(learning_rate=1.0, rho=0.9, epsilon=1e-6)),
    ("adamax", {}), ("adamax", dict(learning_rate=0.02, beta_1=0.8, beta_2=0.95)),
    ("nadam", {}), ("nadam", dict(learning_rate=0.01, beta_1=0.85, beta_2=0.99)),
]
BASE_OPTIONS = [dict(weight_decay=0.05), dict(clipnorm=1.0), dict(clipvalue=0.3),
                dict(global_clipnorm=2.0), dict(clipnorm=50.0), dict(global_clipnorm=1e3),
                dict(weight_decay=0.02, clipvalue=0.5), dict(weight_decay=0.01, clipnorm=0.5)]
CASES = OWN + [(kind, {"learning_rate": 0.05, **base}) for kind in CLASSES
               for base in BASE_OPTIONS]
CASE_IDS = [f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items()) or 'defaults'}"
            for k, kw in CASES]

SHAPES = [(3, 4), (7,), (), (2, 3, 4, 5), (70_000,)]  # the last one runs multi-threaded


def problem(dtype=np.float64, steps=25, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads_seq = [[(rng.standard_normal(s) * rng.choice([0.1, 1, 3])).astype(dtype)
                  for s in shapes] for _ in range(steps)]
    return params, grads_seq


def run(opt, params, grads_seq):
    for grads in grads_seq:
        opt.apply_gradients(zip(grads, params))
    return params


@pytest.mark.parametrize("kind,kwargs", CASES, ids=CASE_IDS)
def test_matches_numpy_transcription_float64(kind, kwargs):
    params, grads_seq = problem()
    want = reference(kind, params, grads_seq, **kwargs)
    ids = [id(p) for p in params]
    opt = CLASSES[kind](**kwargs)
    got = run(opt, params, grads_seq)
    assert [id(p) for p in got] == ids and opt.iterations == 25   # updated in place
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    moved = sum(np.abs(g - p0).max() for g, p0 in zip(got, problem()[0]) if g.size)
    assert moved > 1e-4


@pytest.mark.parametrize("kind,kwargs", CASES, ids=CASE_IDS)
def test_float32_close_to_transcription(kind, kwargs):
    params, grads_seq = problem(np.float32)
    want = reference(kind, params, grads_seq, **kwargs)
    got = run(CLASSES[kind](**kwargs), params, grads_seq)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5)


def test_mixed_dtypes_share_one_global_norm_and_nadam_product():
    """float32 and float64 params in one call: one global norm over both, Nadam's
    u_product advanced once per step."""
    for kind, kw in [("adam", dict(global_clipnorm=1.0)), ("nadam", {}),
                     ("rmsprop", dict(global_clipnorm=0.5, weight_decay=0.1))]:
        params, grads_seq = problem(steps=10)
        params[1] = params[1].astype(np.float32)
        for gs in grads_seq:
            gs[1] = gs[1].astype(np.float32)
        want = reference(kind, params, grads_seq, **kw)
        got = run(CLASSES[kind](**kw), params, grads_seq)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5 if g.dtype == np.float32 else 1e-9,
                                       atol=1e-6)


def test_schedule_learning_rate_in_weight_decay_and_update():
    sched = O.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    params, grads_seq = problem(steps=12)
    want = reference("adamw", params, grads_seq, weight_decay=0.05,
                     lr_schedule=lambda it: 0.1 * 0.5 ** (it / 3))
    got = run(O.AdamW(sched, weight_decay=0.05), params, grads_seq)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_exclude_from_weight_decay():
    params, grads_seq = problem(steps=5)
    opt = O.SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[params[0]])
    want_plain = reference("sgd", params[:1], [g[:1] for g in grads_seq], learning_rate=0.1)
    want_decay = reference("sgd", params[1:], [g[1:] for g in grads_seq], learning_rate=0.1,
                           weight_decay=0.5)
    got = run(opt, params, grads_seq)
    for g, w in zip(got, want_plain + want_decay):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="before"):
        opt.exclude_from_weight_decay(var_list=[params[1]])
    with pytest.raises(ValueError, match="var_names"):
        O.SGD().exclude_from_weight_decay(var_names=["bias"])


def test_zero_gradient_and_nan_with_clipping():
    """A zero gradient under clipnorm / global_clipnorm stays zero (no 0/0);
    a NaN gradient under global_clipnorm makes every update NaN, as in Keras."""
    for kw in (dict(clipnorm=1.0), dict(global_clipnorm=1.0)):
        p = np.ones(4)
        O.SGD(0.1, **kw).apply_gradients([(np.zeros(4), p)])
        np.testing.assert_array_equal(p, 1.0)
    a, b = np.ones(3), np.ones(3)
    O.SGD(0.1, global_clipnorm=1.0).apply_gradients([(np.array([np.nan, 0, 0]), a),
                                                      (np.ones(3), b)])
    assert np.isnan(a).all() and np.isnan(b).all()


def test_read_only_grads_are_clipped_without_being_written():
    g = np.full((4, 3), 2.0)
    g.flags.writeable = False
    for kw in (dict(clipnorm=1.0), dict(global_clipnorm=1.0), dict(clipvalue=0.5)):
        p = np.ones((4, 3))
        O.SGD(0.1, **kw).apply_gradients([(g, p)])
        want = 1 - 0.1 * (0.5 if "clipvalue" in kw else 2.0 / np.sqrt(48))
        np.testing.assert_allclose(p, want, rtol=1e-12)
        np.testing.assert_array_equal(g, 2.0)


def test_threads_do_not_change_results():
    results = []
    old = ccnn.get_num_threads()
    try:
        for n in (1, 2):
            ccnn.set_num_threads(n)
            out = []
            for kind in CLASSES:
                params, grads_seq = problem(np.float32, steps=3, shapes=[(200_000,), (5,)])
                out += run(CLASSES[kind](clipnorm=1.0), params, grads_seq)
            results.append(out)
    finally:
        ccnn.set_num_threads(old)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_sum_squares_kernel():
    from ccnn import _optim
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        arrays = [rng.standard_normal(n).astype(dtype) for n in (0, 1, 17, 100_000)]
        got = _optim.sum_squares(arrays, 2)
        want = [np.sum(a.astype(np.float64) ** 2) for a in arrays]
        np.testing.assert_allclose(got, want, rtol=1e-12)


# ------------------------------------------------------------ state
@pytest.mark.parametrize("kind", list(CLASSES))
def test_state_survives_pickling(kind):
    params, grads_seq = problem(steps=12)
    want = reference(kind, params, grads_seq, learning_rate=0.05, clipnorm=2.0)
    opt = CLASSES[kind](learning_rate=0.05, clipnorm=2.0)
    run(opt, params, grads_seq[:5])
    params2, opt2 = pickle.loads(pickle.dumps((params, opt)))
    run(opt2, params2, grads_seq[5:])
    for g, w in zip(params2, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind,kwargs,names", [
    ("adam", {}, 2), ("adam", dict(amsgrad=True), 3), ("sgd", {}, 0),
    ("sgd", dict(momentum=0.5), 1), ("rmsprop", {}, 1),
    ("rmsprop", dict(momentum=0.5, centered=True), 3), ("adagrad", {}, 1),
    ("adadelta", {}, 2), ("adamax", {}, 2), ("nadam", {}, 2), ("adamw", {}, 2)])
def test_variables_count_like_keras(kind, kwargs, names):
    params, grads_seq = problem(steps=1, shapes=[(3,), (2, 2)])
    opt = CLASSES[kind](**kwargs)
    run(opt, params, grads_seq)
    assert len(opt.variables) == names * 2
    if kind == "adagrad":
        fresh = O.Adagrad(initial_accumulator_value=0.25)
        fresh.apply_gradients([(np.zeros(3), np.zeros(3))])
        np.testing.assert_array_equal(fresh.variables[0], 0.25)


# ------------------------------------------------------------ config, get, serialize
@pytest.mark.parametrize("kind", list(CLASSES))
def test_config_round_trip_and_defaults(kind):
    cls = CLASSES[kind]
    default = cls().get_config()
    from ref_optim import DEFAULTS
    for k, v in DEFAULTS[kind].items():
        assert default[k] == v, k
    for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        assert k in default
    opt = cls(learning_rate=0.02, clipvalue=0.5, weight_decay=0.01, name="mine")
    config = opt.get_config()
    again = cls.from_config(config)
    assert type(again) is cls and again.get_config() == config
    assert O.deserialize(O.serialize(opt)).get_config() == config
    assert type(O.get(O.serialize(opt))) is cls


def test_get_knows_every_keras_name():
    for name, cls in [("adam", O.Adam), ("sgd", O.SGD), ("rmsprop", O.RMSprop),
                      ("adagrad", O.Adagrad), ("adadelta", O.Adadelta), ("adamax", O.Adamax),
                      ("nadam", O.Nadam), ("adamw", O.AdamW), ("RMSprop", O.RMSprop),
                      ("AdamW", O.AdamW)]:
        assert type(O.get(name)) is cls
    with pytest.raises(ValueError, match="Unknown optimizer 'ftrl'"):
        O.get("ftrl")


def test_keras_names():
    names = {k: c().name for k, c in CLASSES.items()}
    assert names["adamw"] == "adam_w" and names["rmsprop"] == "rm_sprop"
    assert names["nadam"] == "nadam" and names["adam"] == "adam"


def test_from_config_accepts_keras_extra_keys_when_off():
    config = {**O.Adam().get_config(), "use_ema": False, "ema_momentum": 0.99,
              "ema_overwrite_frequency": None, "loss_scale_factor": None,
              "gradient_accumulation_steps": None}
    assert isinstance(O.Adam.from_config(config), O.Adam)
    with pytest.raises(ValueError, match="use_ema"):
        O.Adam.from_config({**config, "use_ema": True})


# ------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("factory,exc,match", [
    (lambda: O.Adam(clipnorm=1.0, global_clipnorm=1.0), ValueError, "Only one of"),
    (lambda: O.SGD(clipnorm=1.0, clipvalue=1.0), ValueError, "Only one of"),
    (lambda: O.RMSprop(clipvalue=1.0, global_clipnorm=2.0), ValueError, "Only one of"),
    (lambda: O.Adam(clipnorm=-1.0), ValueError, "clipnorm must be >= 0"),
    (lambda: O.Adam(clipvalue=-1.0), ValueError, "clipvalue must be >= 0"),
    (lambda: O.Adam(global_clipnorm=float("inf")), ValueError, "global_clipnorm must be finite"),
    (lambda: O.Adam(weight_decay=-0.1), ValueError, "weight_decay must be >= 0"),
    (lambda: O.Adam(clipnorm="1"), TypeError, "clipnorm"),
    (lambda: O.Adam(amsgrad="yes"), TypeError, "amsgrad"),
    (lambda: O.AdamW(weight_decay=None), ValueError, "weight_decay"),
    (lambda: O.RMSprop(rho=1.5), ValueError, "rho"),
    (lambda: O.RMSprop(momentum=-0.5), ValueError, "momentum"),
    (lambda: O.RMSprop(centered=1), TypeError, "centered"),
    (lambda: O.RMSprop(epsilon=-1.0), ValueError, "epsilon"),
    (lambda: O.Adagrad(initial_accumulator_value=-0.1), ValueError,
     "initial_accumulator_value"),
    (lambda: O.Adagrad(learning_rate=-1.0), ValueError, "learning_rate"),
    (lambda: O.Adadelta(rho=-0.1), ValueError, "rho"),
    (lambda: O.Adamax(beta_1=1.0), ValueError, "beta_1"),
    (lambda: O.Adamax(beta_2=1.5), ValueError, "beta_2"),
    (lambda: O.Nadam(beta_2=1.0), ValueError, "beta_2"),
    (lambda: O.Nadam(epsilon="small"), TypeError, "epsilon"),
    (lambda: O.Nadam(name=3), TypeError, "name"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


# ------------------------------------------------------------ training
def _tiny_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x @ rng.standard_normal(6) > 0).astype(np.int64)
    return x, y


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta",
                                  "adamax", "nadam"])
def test_fit_with_each_optimizer_string_decreases_loss(name):
    ccnn.utils.set_random_seed(4)
    x, y = _tiny_problem()
    model = ccnn.Sequential([Dense(8, activation="relu", input_shape=(6,)),
                             Dense(2, activation="softmax")])
    opt = O.get(name)
    if name in ("adagrad", "adadelta"):   # Keras's default rates move these too slowly
        opt.learning_rate = 0.5 if name == "adagrad" else 20.0
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0) < before
    assert type(model.optimizer) is type(O.get(name))


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed: ccnn's optimizers "
                                               "are not compared with Keras's")


# Keras's torch backend decays by p *= float32(1 - weight_decay * lr), with the
# learning rate a float32 variable: rates and decays here are powers of two, so
# that those float32 numbers are exact and the float64 comparison is tight
KERAS_CASES = [(k, kw) for k, kw in OWN if "weight_decay" not in kw and k != "adamw"] + [
    ("adamw", dict(learning_rate=0.0625, weight_decay=0.125)),
    ("adamw", dict(learning_rate=0.0625, weight_decay=0.125, amsgrad=True))] + [
    (kind, {"learning_rate": 0.0625, **base}) for kind in CLASSES if kind != "adamw"
    for base in (dict(weight_decay=0.0625, clipnorm=1.0), dict(clipvalue=0.3),
                 dict(global_clipnorm=2.0))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,kwargs", KERAS_CASES,
                         ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items()) or 'defaults'}"
                              for k, kw in KERAS_CASES])
def test_matches_real_keras(kind, kwargs, dtype):
    keras = _keras()
    names = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
             "adagrad": "Adagrad", "adadelta": "Adadelta", "adamax": "Adamax",
             "nadam": "Nadam"}
    kw = {k: float(v) if isinstance(v, float) else v for k, v in kwargs.items()}
    shapes = [(3, 4), (7,), (2, 3, 5)]
    params, grads_seq = problem(np.dtype(dtype).type, shapes=shapes)
    kvars = [keras.Variable(p.copy(), dtype=dtype) for p in params]
    kopt = getattr(keras.optimizers, names[kind])(**kw)
    for grads in grads_seq:
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g, dtype=dtype) for g in grads],
                                 kvars))
    got = run(CLASSES[kind](**kwargs), params, grads_seq)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    for g, kv in zip(got, kvars):
        np.testing.assert_allclose(g, keras.ops.convert_to_numpy(kv.value), **tol)


# ------------------------------------------------------------ the GIL
def _step_calls():
    from ccnn import _optim
    n = 2_000_000
    p, g = [np.ones(n)], [np.full(n, 0.5)]
    s1, s2, s3 = [np.zeros(n)], [np.zeros(n)], [np.zeros(n)]
    gs, dc = np.ones(1), np.full(1, 1e-4)
    return {
        "sum_squares": lambda: _optim.sum_squares(g, 1),
        "adam_step": lambda: _optim.adam_step(p, s1, s2, s3, g, gs, 0.0, dc, 1e-3, 0.9, 0.999,
                                              1e-7, 1),
        "sgd_step": lambda: _optim.sgd_step(p, s1, g, gs, 0.0, dc, 1e-3, 0.9, True, 1),
        "rmsprop_step": lambda: _optim.rmsprop_step(p, s1, s2, s3, g, gs, 0.0, dc, 1e-3, 0.9,
                                                    0.5, 1e-7, 1),
        "adagrad_step": lambda: _optim.adagrad_step(p, s1, g, gs, 0.0, dc, 1e-3, 1e-7, 1),
        "adadelta_step": lambda: _optim.adadelta_step(p, s1, s2, g, gs, 0.0, dc, 1e-3, 0.95,
                                                      1e-7, 1),
        "adamax_step": lambda: _optim.adamax_step(p, s1, s2, g, gs, 0.0, dc, 1e-3, 0.9, 0.999,
                                                  1e-7, 0.1, 1),
        "nadam_step": lambda: _optim.nadam_step(p, s1, s2, g, gs, 0.0, dc, 1e-3, 0.9, 0.999,
                                                1e-7, 0.5, 0.5, 0.5, 0.5, 0.5, 1),
    }


@pytest.mark.parametrize("name", sorted(_step_calls()))
def test_step_kernels_release_the_gil(name):
    from _gilcheck import increments_during
    call = _step_calls()[name]
    call()
    assert any(increments_during(call, 3) > 0 for _ in range(10)), f"{name} held the GIL"


def test_step_bindings_refuse_mismatched_lists():
    from ccnn import _optim
    p, g = [np.zeros(3)], [np.zeros(3)]
    with pytest.raises(ValueError, match="length"):
        _optim.adagrad_step(p, [np.zeros(4)], g, None, 0.0, None, 0.1, 1e-7, 1)
    with pytest.raises(ValueError, match="dtype"):
        _optim.adagrad_step(p, [np.zeros(3, np.float32)], g, None, 0.0, None, 0.1, 1e-7, 1)
    with pytest.raises(ValueError, match="arrays for"):
        _optim.adagrad_step(p, [], g, None, 0.0, None, 0.1, 1e-7, 1)
    with pytest.raises(ValueError, match="per-array"):
        _optim.adagrad_step(p, [np.zeros(3)], g, np.ones(2), 0.0, None, 0.1, 1e-7, 1)
    with pytest.raises(ValueError, match="momentum"):
        _optim.sgd_step(p, None, g, None, 0.0, None, 0.1, 0.9, False, 1)


# ------------------------------------------------------------ get_state / set_state
@pytest.mark.parametrize("kind,kwargs", [("adam", dict(amsgrad=True)), ("nadam", {}),
                                         ("rmsprop", dict(momentum=0.5, centered=True)),
                                         ("sgd", dict(momentum=0.9)), ("sgd", {}),
                                         ("adagrad", {}), ("adadelta", {}), ("adamax", {}),
                                         ("adamw", {})])
def test_state_saved_to_npz_resumes_exactly(tmp_path, kind, kwargs):
    """10 steps, state to an .npz file, a new optimizer on copies of the params
    resumes from it: the same as 25 steps straight through."""
    from ccnn.models.saving import load_npz_checked, save_npz_atomic
    params, grads_seq = problem(steps=25, shapes=[(3, 4), (5,), (2, 3, 2)])
    want = reference(kind, params, grads_seq, **{"learning_rate": 0.05, **kwargs})
    opt = CLASSES[kind](**{"learning_rate": 0.05, **kwargs})
    run(opt, params, grads_seq[:10])
    save_npz_atomic(tmp_path / "opt.npz", opt.get_state(params))
    copies = [p.copy() for p in params]
    fresh = CLASSES[kind](**kwargs)                     # learning rate comes from the file
    fresh.set_state(load_npz_checked(tmp_path / "opt.npz"), copies)
    assert fresh.iterations == 10 and fresh.learning_rate == 0.05
    run(fresh, copies, grads_seq[10:])
    for g, w in zip(copies, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_set_state_checks_everything_first():
    params, grads_seq = problem(steps=2, shapes=[(3,), (2, 2)])
    opt = O.Adam()
    run(opt, params, grads_seq)
    state = opt.get_state()
    assert sorted(state) == ["0/m", "0/v", "1/m", "1/v", "iterations", "learning_rate"]
    fresh = O.Adam()
    with pytest.raises(ValueError, match=r"state\['1/m'\] is float64\[2, 2\] but params\[1\]"):
        fresh.set_state(state, [np.zeros(3), np.zeros((4,))])
    with pytest.raises(ValueError, match="only 1 params"):
        fresh.set_state(state, [np.zeros(3)])
    with pytest.raises(ValueError, match="not a state of this RMSprop"):
        O.RMSprop().set_state(state, params)
    bad = dict(state)
    del bad["1/v"]
    with pytest.raises(ValueError, match="needs"):
        fresh.set_state(bad, params)
    with pytest.raises(TypeError, match="get_state"):
        fresh.set_state({"0/m": np.zeros(3)}, params)
    assert fresh.iterations == 0 and fresh.variables == []    # nothing changed


@pytest.mark.parametrize("name", ["adam", "nadam", "rmsprop", "sgd"])
def test_save_weights_with_the_optimizer_resumes_training_exactly(tmp_path, name):
    """save_weights(include_optimizer=True), then load_weights into a new model
    compiled with the same optimizer: N more steps give bit-identical weights."""
    import ccnn
    from ccnn import layers as L
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, 64)

    def build():
        model = ccnn.Sequential([ccnn.Input((6, 6, 1)), L.Conv2D(4, 3, activation="relu"),
                                 L.BatchNormalization(), L.Flatten(),
                                 L.Dense(3, activation="softmax")])
        model.compile(ccnn.optimizers.get({"sgd": {"class_name": "SGD",
                                                   "config": {"momentum": 0.9}}}.get(name,
                                                                                      name)),
                      "sparse_categorical_crossentropy")
        return model
    ccnn.utils.set_random_seed(1)
    a = build()
    a.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "w.npz"
    a.save_weights(path, include_optimizer=True)
    b = build()
    b.load_weights(path)
    assert b.optimizer.iterations == a.optimizer.iterations == 8
    for model in (a, b):
        ccnn.utils.set_random_seed(7)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # a file without the optimizer's state leaves a fresh optimizer fresh
    c = build()
    a.save_weights(tmp_path / "plain.npz")
    c.load_weights(tmp_path / "plain.npz")
    assert c.optimizer.iterations == 0


def test_optimizer_state_in_a_weights_file_is_checked(tmp_path):
    import ccnn
    from ccnn import layers as L
    model = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="compiled"):
        model.save_weights(tmp_path / "x.npz", include_optimizer=True)
    model.compile("adam", "mse")
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 3), "float32"), verbose=0)
    model.save_weights(tmp_path / "w.npz", include_optimizer=True)
    other = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3)])
    other.compile("rmsprop", "mse")                 # different slots: refused, nothing changed
    before = other.get_weights()
    with pytest.raises(ValueError, match="not a state of this RMSprop"):
        other.load_weights(tmp_path / "w.npz")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = ccnn.Sequential([ccnn.Input((4,)), L.Dense(3)])
    with pytest.warns(UserWarning, match="optimizer state"):
        fresh.load_weights(tmp_path / "w.npz")       # not compiled: the weights still load
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
