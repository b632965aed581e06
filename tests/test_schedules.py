"""ccnn.optimizers.schedules against NumPy transcriptions of Keras 3's
formulas (keras/src/optimizers/schedules/learning_rate_schedule.py), the
optimizers driven by a schedule, and -- when keras is installed -- against
keras.optimizers.schedules itself (KERAS_BACKEND=torch)."""

import os
import pickle

import numpy as np
import pytest

import ccnn
from ccnn.optimizers import SGD, Adam
from ccnn.optimizers import schedules as S

STEPS = np.concatenate([np.arange(0, 60, dtype=np.float64), [0.5, 9.99, 10.0, 10.01, 1e4]])


# ------------------------------------------------------------ NumPy transcriptions
def exponential_ref(step, lr, decay_steps, rate, staircase=False):
    p = step / decay_steps
    if staircase:
        p = np.floor(p)
    return lr * np.power(rate, p)


def piecewise_ref(step, boundaries, values):
    out = np.zeros_like(step)
    out += (step <= boundaries[0]) * values[0]
    out += (step > boundaries[-1]) * values[-1]
    for low, high, v in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
        out += ((step > low) & (step <= high)) * v
    return out


def polynomial_ref(step, lr, decay_steps, end=1e-4, power=1.0, cycle=False):
    decay = np.full_like(step, float(decay_steps))
    if cycle:
        decay = decay * np.where(step == 0, 1.0, np.ceil(step / decay_steps))
    else:
        step = np.minimum(step, decay)
    return (lr - end) * np.power(1 - step / decay, power) + end


def inverse_time_ref(step, lr, decay_steps, rate, staircase=False):
    p = step / decay_steps
    if staircase:
        p = np.floor(p)
    return lr / (1 + rate * p)


def cosine_ref(step, lr, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(s, start):
        c = 0.5 * (1 + np.cos(np.pi * s / decay_steps))
        return start * ((1 - alpha) * c + alpha)
    if warmup_target is None:
        return decay(np.minimum(step, decay_steps), lr)
    s = np.minimum(step, decay_steps + warmup_steps)
    warm = (warmup_target - lr) * (s / warmup_steps if warmup_steps else 0 * s) + lr
    return np.where(s < warmup_steps, warm, decay(s - warmup_steps, warmup_target))


CASES = [
    (S.ExponentialDecay, dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.9),
     lambda s: exponential_ref(s, 0.1, 7, 0.9)),
    (S.ExponentialDecay, dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5,
                              staircase=True),
     lambda s: exponential_ref(s, 0.1, 7, 0.5, True)),
    (S.PiecewiseConstantDecay, dict(boundaries=[5, 10, 30], values=[1.0, 0.5, 0.1, 0.01]),
     lambda s: piecewise_ref(s, [5, 10, 30], [1.0, 0.5, 0.1, 0.01])),
    (S.PiecewiseConstantDecay, dict(boundaries=[10], values=[0.3, 0.2]),
     lambda s: piecewise_ref(s, [10], [0.3, 0.2])),
    (S.PolynomialDecay, dict(initial_learning_rate=0.1, decay_steps=20),
     lambda s: polynomial_ref(s, 0.1, 20)),
    (S.PolynomialDecay, dict(initial_learning_rate=0.1, decay_steps=20, end_learning_rate=0.01,
                             power=0.5, cycle=True),
     lambda s: polynomial_ref(s, 0.1, 20, 0.01, 0.5, True)),
    (S.PolynomialDecay, dict(initial_learning_rate=0.1, decay_steps=15, power=2.0),
     lambda s: polynomial_ref(s, 0.1, 15, 1e-4, 2.0)),
    (S.InverseTimeDecay, dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5),
     lambda s: inverse_time_ref(s, 0.1, 4, 0.5)),
    (S.InverseTimeDecay, dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5,
                              staircase=True),
     lambda s: inverse_time_ref(s, 0.1, 4, 0.5, True)),
    (S.CosineDecay, dict(initial_learning_rate=0.1, decay_steps=40),
     lambda s: cosine_ref(s, 0.1, 40)),
    (S.CosineDecay, dict(initial_learning_rate=0.1, decay_steps=30, alpha=0.1),
     lambda s: cosine_ref(s, 0.1, 30, 0.1)),
    (S.CosineDecay, dict(initial_learning_rate=0.0, decay_steps=30, alpha=0.05,
                         warmup_target=0.2, warmup_steps=10),
     lambda s: cosine_ref(s, 0.0, 30, 0.05, 0.2, 10)),
    (S.CosineDecay, dict(initial_learning_rate=0.01, decay_steps=25, warmup_target=0.1),
     lambda s: cosine_ref(s, 0.01, 25, 0.0, 0.1, 0)),
]
IDS = [f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("cls,kwargs,ref", CASES, ids=IDS)
def test_formula_matches_numpy_transcription(cls, kwargs, ref):
    sched = cls(**kwargs)
    got = np.array([sched(s) for s in STEPS])
    assert all(isinstance(sched(s), float) for s in STEPS[:3])
    np.testing.assert_allclose(got, ref(STEPS), rtol=1e-9, atol=1e-15)
    # integer and numpy-integer steps give the same values
    assert sched(np.int64(3)) == sched(3) == sched(3.0)


@pytest.mark.parametrize("cls,kwargs,ref", CASES, ids=IDS)
def test_config_round_trip_and_pickle(cls, kwargs, ref):
    sched = cls(**kwargs)
    again = cls.from_config(sched.get_config())
    back = S.deserialize(S.serialize(sched))
    unpickled = pickle.loads(pickle.dumps(sched))
    for other in (again, back, unpickled):
        assert type(other) is cls and other.get_config() == sched.get_config()
        assert [other(s) for s in STEPS] == [sched(s) for s in STEPS]


def test_default_names_are_keras():
    assert S.ExponentialDecay(0.1, 1, 0.5).name == "ExponentialDecay"
    assert S.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"
    assert S.PolynomialDecay(0.1, 1).name == "PolynomialDecay"
    assert S.InverseTimeDecay(0.1, 1, 0.5).name == "InverseTimeDecay"
    assert S.CosineDecay(0.1, 1).name == "CosineDecay"


@pytest.mark.parametrize("factory,exc,match", [
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps"),
    (lambda: S.ExponentialDecay(0.1, -3, 0.5), ValueError, "decay_steps"),
    (lambda: S.ExponentialDecay("0.1", 10, 0.5), TypeError, "initial_learning_rate"),
    (lambda: S.ExponentialDecay(0.1, 10, None), TypeError, "decay_rate"),
    (lambda: S.ExponentialDecay(0.1, 10, 0.5, staircase="yes"), TypeError, "staircase"),
    (lambda: S.InverseTimeDecay(0.1, 0, 0.5), ValueError, "decay_steps"),
    (lambda: S.PolynomialDecay(0.1, 0), ValueError, "decay_steps"),
    (lambda: S.PolynomialDecay(0.1, 10, power="2"), TypeError, "power"),
    (lambda: S.PolynomialDecay(0.1, 10, cycle=1), TypeError, "cycle"),
    (lambda: S.CosineDecay(0.1, 0), ValueError, "decay_steps"),
    (lambda: S.CosineDecay(0.1, 10, alpha=float("nan")), ValueError, "alpha"),
    (lambda: S.CosineDecay(0.1, 10, warmup_target="x"), TypeError, "warmup_target"),
    (lambda: S.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1), ValueError,
     "warmup_steps"),
    (lambda: S.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), ValueError, "boundaries"),
    (lambda: S.PiecewiseConstantDecay([2, 1], [0.1, 0.2, 0.3]), ValueError, "boundaries"),
    (lambda: S.PiecewiseConstantDecay(5, [0.1, 0.2]), TypeError, "boundaries"),
    (lambda: S.PiecewiseConstantDecay([1], [0.1, "a"]), TypeError, r"values\[1\]"),
    (lambda: S.ExponentialDecay(0.1, 10, 0.5, name=3), TypeError, "name"),
    (lambda: S.deserialize({"class_name": "Nope", "config": {}}), ValueError, "Nope"),
    (lambda: S.deserialize("ExponentialDecay"), TypeError, "config"),
    (lambda: S.CosineDecay(0.1, 10)("3"), TypeError, "step"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


# ------------------------------------------------------------ optimizers with a schedule
def test_sgd_uses_schedule_at_iteration_count_before_each_update():
    sched = S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    opt = SGD(learning_rate=sched)
    w = np.zeros(4)
    rng = np.random.default_rng(0)
    want = w.copy()
    for k in range(30):
        assert opt.learning_rate == exponential_ref(np.float64(k), 0.1, 3, 0.5)
        g = rng.standard_normal(4)
        opt.apply_gradients([(g, w)])
        want -= exponential_ref(np.float64(k), 0.1, 3, 0.5) * g   # Keras: step k uses lr(k)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-15)
    assert opt.iterations == 30


def test_adam_with_schedule_matches_reference():
    sched = S.CosineDecay(1e-3, decay_steps=20, warmup_target=1e-2, warmup_steps=5)
    rng = np.random.default_rng(1)
    p = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(30)]
    opt = Adam(learning_rate=sched)
    for g in grads:
        opt.apply_gradients([(g, p)])
    q = np.random.default_rng(1).standard_normal((3, 5))  # the same start, in NumPy
    m = np.zeros_like(q)
    v = np.zeros_like(q)
    for t, g in enumerate(grads, start=1):
        lr = cosine_ref(np.float64(t - 1), 1e-3, 20, 0.0, 1e-2, 5)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        q = q - lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-13)


def test_schedule_learning_rate_is_not_settable_but_float_is():
    opt = Adam(learning_rate=S.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    opt.learning_rate = S.InverseTimeDecay(0.2, 10, 1.0)   # a schedule replaces a schedule
    assert opt.learning_rate == 0.2
    opt = SGD(0.1)
    opt.learning_rate = 0.05
    assert opt.learning_rate == 0.05
    opt.learning_rate = S.PiecewiseConstantDecay([0], [0.3, 0.2])  # as Keras allows
    assert opt.learning_rate == 0.3


def test_optimizer_config_round_trip_with_schedule():
    opt = SGD(learning_rate=S.PolynomialDecay(0.1, 10, cycle=True), momentum=0.9)
    cfg = opt.get_config()
    assert cfg["learning_rate"] == {"class_name": "PolynomialDecay",
                                    "config": opt._learning_rate.get_config()}
    again = SGD.from_config(cfg)
    assert again.get_config() == cfg
    assert isinstance(again._learning_rate, S.PolynomialDecay)
    assert Adam.from_config(Adam(0.01).get_config()).get_config() == Adam(0.01).get_config()
    assert pickle.loads(pickle.dumps(opt)).get_config() == cfg
    # Keras's serialized form (with module / registered_name) is read too
    keras_form = {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                  "config": {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.9,
                             "staircase": False, "name": "ExponentialDecay"},
                  "registered_name": None}
    opt = Adam.from_config({"name": "adam", "learning_rate": keras_form})
    assert opt.learning_rate == 0.1


def test_schedule_giving_a_negative_rate_is_refused_before_any_update():
    opt = SGD(learning_rate=S.PiecewiseConstantDecay([1], [0.1, -1.0]))
    w = np.zeros(2)
    opt.apply_gradients([(np.ones(2), w)])
    opt.apply_gradients([(np.ones(2), w)])
    before = w.copy()
    with pytest.raises(ValueError, match="learning rate schedule"):
        opt.apply_gradients([(np.ones(2), w)])
    np.testing.assert_array_equal(w, before)
    assert opt.iterations == 2


def _tiny_model(optimizer):
    from ccnn.layers import Dense
    model = ccnn.models.Sequential([Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_follows_the_schedule():
    """The rate each update of fit uses is the schedule at that step: the
    optimizer's learning_rate seen just before each batch, and the steps
    the optimizer counted, over 3 epochs of 4 batches."""
    from ccnn.callbacks import Callback
    ccnn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    sched = S.CosineDecay(0.05, decay_steps=8, alpha=0.1, warmup_target=0.1, warmup_steps=3)
    seen = []

    class Record(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(self.model.optimizer.learning_rate)

    model = _tiny_model(SGD(learning_rate=sched))
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[Record()])
    assert model.optimizer.iterations == 12
    np.testing.assert_allclose(seen, cosine_ref(np.arange(12.0), 0.05, 8, 0.1, 0.1, 3),
                               rtol=1e-12)


# ------------------------------------------------------------ the real Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="keras is not installed; the NumPy "
                                               "transcriptions above stand for it")


@pytest.mark.parametrize("cls,kwargs,ref", CASES, ids=IDS)
def test_against_keras(cls, kwargs, ref):
    keras = _keras()
    theirs = getattr(keras.optimizers.schedules, cls.__name__)(**kwargs)
    ours = cls(**kwargs)
    assert ours.get_config() == theirs.get_config()
    for s in STEPS:
        want = float(keras.ops.convert_to_numpy(theirs(float(s))))
        np.testing.assert_allclose(ours(s), want, rtol=2e-6, atol=2e-8,  # keras: float32
                                   err_msg=f"step {s}")


def test_fit_updates_with_the_scheduled_rate():
    """The effect: fit with SGD(schedule) gives the weights of train_on_batch
    steps made by hand with the NumPy transcription's rate of each step."""
    from ccnn.layers import Dense
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 5))
    y = rng.integers(0, 3, 24)

    def fresh(opt):
        ccnn.utils.set_random_seed(1)
        model = ccnn.models.Sequential([Dense(3, activation="softmax")])
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        model.build((None, 5))
        return model

    sched = S.PolynomialDecay(0.5, decay_steps=5, end_learning_rate=0.01, power=2.0, cycle=True)
    a = fresh(SGD(learning_rate=sched))
    a.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    b = fresh(SGD(learning_rate=0.5))
    for k in range(12):
        b.optimizer.learning_rate = float(polynomial_ref(np.float64(k), 0.5, 5, 0.01, 2.0, True))
        lo = (k % 3) * 8
        b.train_on_batch(x[lo:lo + 8], y[lo:lo + 8])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)
    c = fresh(SGD(learning_rate=0.5))
    c.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    assert not np.allclose(a.get_weights()[0], c.get_weights()[0])


class _NoConfig(S.LearningRateSchedule):
    """Keras's minimum: __call__ only (get_config is for serialization)."""

    def __call__(self, step):
        return 0.1 if step < 1 else float("nan")


class _BadConfig(_NoConfig):
    def get_config(self):
        raise TypeError("not today")


class _Config(_NoConfig):
    def get_config(self):
        return {"rate": 0.1}


@pytest.mark.parametrize("schedule,shown", [
    (_NoConfig(), "_NoConfig gave nan at step 1"),
    (_BadConfig(), "_BadConfig gave nan at step 1"),
    (_Config(), "_Config(rate=0.1) gave nan at step 1"),
])
def test_a_bad_rate_names_its_schedule(schedule, shown):
    """apply_gradients' error names the schedule (its repr, or its class name
    when it has no get_config) and leaves the weights as they were."""
    opt = SGD(schedule)
    w = np.ones(3)
    opt.apply_gradients([(np.ones(3), w)])
    np.testing.assert_array_equal(w, np.full(3, 0.9))
    with pytest.raises(ValueError) as info:
        opt.apply_gradients([(np.ones(3), w)])
    assert str(info.value) == (f"the learning rate schedule {shown}; "
                               f"it must be finite and >= 0")
    np.testing.assert_array_equal(w, np.full(3, 0.9))
    assert opt.iterations == 1


def test_the_repr_of_a_schedule_without_get_config_is_its_class_name():
    assert repr(_NoConfig()) == "_NoConfig"
    with pytest.raises(TypeError, match="not today"):
        repr(_BadConfig())
    assert repr(S.ExponentialDecay(0.1, 10, 0.5)) == (
        "ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, "
        "staircase=False, name='ExponentialDecay')")


def test_a_bad_rate_stops_a_training_step_before_it_changes_the_model():
    """The same error from a model's step (the training plan's fused update)."""
    from ccnn.layers import Dense
    from ccnn.models import train_plan
    ccnn.utils.set_random_seed(0)
    model = ccnn.models.Sequential([Dense(4, activation="relu", input_shape=(5,)),
                                    Dense(3, activation="softmax")])
    model.compile(SGD(_NoConfig()), "sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((8, 5)), np.arange(8) % 3
    before = train_plan.calls()
    model.train_on_batch(x, y)
    assert train_plan.calls() - before == 1
    weights = model.get_weights()
    with pytest.raises(ValueError, match="^the learning rate schedule _NoConfig gave nan at "
                                         "step 1; it must be finite and >= 0$"):
        model.train_on_batch(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model.optimizer.iterations == 1
