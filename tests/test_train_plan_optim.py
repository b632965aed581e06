"""The training plan with the optimizer's update in the same C call (issue 18).

The reference is the per-layer step followed by optimizer.apply_gradients
(the plan switched off), which the rest of the suite checks against NumPy,
torch and Keras.  The plan's update calls the same optim.c step kernel with
the same arguments, so every loss, output, weight, optimizer state array and
iteration count must be bit-identical (np.array_equal) after several steps
of train_on_batch and of fit; the kernel timer shows which updates ran in
the plan's call (no _optim call) and which fell back to apply_gradients.
"""
import signal

import numpy as np
import pytest

import ccnn
from ccnn import distribution, optimizers, profiler
from ccnn import functional as F
from ccnn.models import train_plan
from ccnn.optimizers import schedules

from _twin import _plan_on, assert_identical, run  # noqa: F401 (autouse)
from test_train_plan import book, modern

DTYPES = ("float32", "float64")


def _schedule():
    return schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)


# each a fresh optimizer: (name, factory)
FUSED = {
    "adam": lambda: optimizers.Adam(),
    "adam_schedule": lambda: optimizers.Adam(_schedule(), beta_1=0.8, beta_2=0.95,
                                             epsilon=1e-3),
    "adam_amsgrad_clipvalue": lambda: optimizers.Adam(amsgrad=True, clipvalue=0.01),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd_momentum": lambda: optimizers.SGD(_schedule(), momentum=0.9),
    "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True,
                                           weight_decay=0.01),
    "rmsprop": lambda: optimizers.RMSprop(momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adamax": lambda: optimizers.Adamax(_schedule()),
}
FALLBACK = {
    "nadam": lambda: optimizers.Nadam(),
    "clipnorm": lambda: optimizers.Adam(clipnorm=0.1),
    "global_clipnorm": lambda: optimizers.SGD(0.1, momentum=0.9, global_clipnorm=0.1),
}


def timed_twin(factory, builder=book, dtype="float32", **kw):
    """run() with the plan (kernel calls counted) and without it."""
    with profiler.kernel_timer() as kt:
        a = run(builder, dtype, True, optimizer=factory(), **kw)
    b = run(builder, dtype, False, optimizer=factory(), **kw)
    assert b["used"] == 0
    optim_calls = sum(n for k, (n, _) in kt.by_kernel.items()       # the update kernels
                      if k.startswith("_optim.") and k.endswith("_step"))
    return a, b, optim_calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(FUSED))
def test_the_fused_update_is_bit_identical(name, dtype):
    a, b, optim_calls = timed_twin(FUSED[name], dtype=dtype)
    assert a["used"] == 3 + 2 * 3
    # only the first step (it makes the optimizer's state) calls apply_gradients
    assert optim_calls == 1
    assert a["model"].optimizer.iterations == 9
    assert_identical(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["adam_schedule", "sgd_nesterov"])
def test_the_fused_update_at_each_thread_count(name, threads):
    for dtype in DTYPES:
        a, b, optim_calls = timed_twin(FUSED[name], modern, dtype, threads=threads)
        assert a["used"] == 9 and optim_calls == 1
        assert_identical(a, b)


@pytest.mark.parametrize("name", list(FALLBACK))
def test_what_the_plan_cannot_do_stays_apply_gradients(name):
    a, b, optim_calls = timed_twin(FALLBACK[name])
    assert a["used"] == 9 and optim_calls == 9
    assert_identical(a, b)


def test_a_patched_update_path_stays_apply_gradients():
    class Mine(optimizers.Adam):
        def _step(self, *args):           # the same update, but Python the plan cannot see
            return super()._step(*args)
    a, b, optim_calls = timed_twin(Mine)
    assert optim_calls == 9
    assert_identical(a, b)


@pytest.mark.parametrize("method", ["apply_gradients", "_update_all", "_decays", "_flat_state",
                                    "_kernel_args", "_plan_slots"])
def test_a_subclass_overriding_the_update_path_has_no_plan_kernel(method):
    base = getattr(optimizers.Adam, method)
    Mine = type("Mine", (optimizers.Adam,), {method: lambda self, *a, **k: base(self, *a, **k)})
    assert optimizers.Adam._plan_kernel == 1 and Mine._plan_kernel is None
    a, b, optim_calls = timed_twin(Mine)
    assert optim_calls == 9                 # every update is the Python one
    assert_identical(a, b)


@pytest.mark.parametrize("method", ["apply_gradients", "_step", "_kernel_args"])
def test_a_method_replaced_on_the_instance_stays_apply_gradients(method):
    """An instance whose update-path method is replaced (e.g. wrapped for
    logging) keeps its Python update, as a subclass overriding it does."""
    def factory():
        opt = optimizers.Adam()
        bound = getattr(opt, method)
        setattr(opt, method, lambda *a, **k: bound(*a, **k))
        return opt
    a, b, optim_calls = timed_twin(factory)
    assert optim_calls == 9
    assert_identical(a, b)


def test_a_plan_kernel_without_kernel_args_is_refused_at_definition():
    with pytest.raises(TypeError, match="_kernel_args"):
        type("NoArgs", (optimizers.Nadam,), {"_plan_kernel": 1})


def test_a_subclass_keeping_the_update_path_keeps_the_plan_kernel():
    class Quiet(optimizers.SGD):            # only its defaults differ
        def __init__(self, learning_rate=0.05, momentum=0.9):
            super().__init__(learning_rate, momentum)

    class Declared(optimizers.Adam):        # overrides, and says the kernel still applies
        _plan_kernel = optimizers.Adam._plan_kernel

        def _step(self, *args):
            return super()._step(*args)
    for factory in (Quiet, Declared):
        assert factory._plan_kernel is not None
        a, b, optim_calls = timed_twin(factory)
        assert optim_calls == 1
        assert_identical(a, b)
    assert optimizers.Optimizer._plan_kernel is None and optimizers.Nadam._plan_kernel is None


def test_a_distribution_keeps_the_update_after_reduce_gradients(monkeypatch):
    """Under a distribution the gradients are reduced between the backward and
    the update: the plan runs the backward only, the grads where
    reduce_gradients reads them."""
    seen = []

    class Spy(distribution.Local):
        def reduce_gradients(self, pairs, loss):
            seen.append([(g.copy(), p) for g, p in pairs])
            return pairs, loss
    monkeypatch.setattr(distribution, "_current", [Spy()])
    a, b, optim_calls = timed_twin(FUSED["adam"])
    assert a["used"] == 9 and optim_calls == 9 and len(seen) == 18
    assert_identical(a, b)


def test_fit_stops_at_a_non_finite_batch_as_before():
    """terminate_on_nan: the plan's check refuses the update of a NaN batch;
    the weights, the state and the count stay those of the last finite step."""
    res = []
    for plan in (True, False):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(3)
        m = book("float32")
        m.compile(optimizers.Adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((64, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, 64)
        m.train_on_batch(x[:16], y[:16])
        x[40] = np.nan                                   # the third batch of 16
        with pytest.warns(RuntimeWarning, match="step 3/4"):
            h = m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        res.append((m.get_weights(), m.optimizer.iterations,
                    [v.copy() for v in m.optimizer.variables], h.history))
    (wa, ia, va, ha), (wb, ib, vb, hb) = res
    assert ia == ib == 3
    assert np.isnan(ha["loss"][0]) and np.isnan(hb["loss"][0])
    assert all(np.array_equal(p, q) for p, q in zip(wa + va, wb + vb))


def test_the_check_is_off_without_terminate_on_nan():
    ccnn.utils.set_random_seed(3)
    m = book("float32", dropout=False)
    m.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x = np.full((8, 28, 28, 1), np.inf, np.float32)
    y = np.zeros(8, np.int64)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y)            # fused: applied without a check, as apply_gradients
    assert m.optimizer.iterations == 2
    assert not np.isfinite(m.layers[-1].params["kernel"]).all()


def test_a_bad_learning_rate_raises_as_before():
    """A schedule giving NaN at the second step: apply_gradients's ValueError,
    after the forward and backward, nothing updated."""
    class Bad(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.01 if step < 3 else float("nan")

        def get_config(self):
            return {}
    m = book("float32")
    m.compile(optimizers.Adam(Bad()), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    y = np.arange(8)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y)        # the third, fused
    before = m.get_weights()
    with pytest.raises(ValueError, match="learning rate schedule"):
        m.train_on_batch(x, y)
    assert m.optimizer.iterations == 3
    assert all(np.array_equal(p, q) for p, q in zip(before, m.get_weights()))


def test_ctrl_c_during_the_call_leaves_the_whole_step_done(monkeypatch):
    """A SIGINT that arrives during the one call raises KeyboardInterrupt once
    the step -- update and iteration count included -- is complete."""
    ccnn.utils.set_random_seed(3)
    m = book("float32")
    m.compile(optimizers.Adam(), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    y = np.arange(8)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y)
    real = F.plan_train_unchecked

    def interrupted(*args):
        signal.raise_signal(signal.SIGINT)
        return real(*args)
    monkeypatch.setattr(F, "plan_train_unchecked", interrupted)
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(KeyboardInterrupt):
        m.train_on_batch(x, y)
    assert m.optimizer.iterations == 3
    assert not any(np.array_equal(p, q) for p, q in zip(before, m.get_weights()))


def test_the_binding_checks_the_optimizer_record():
    ccnn.utils.set_random_seed(0)
    m = book("float32", dropout=False)
    m.compile(optimizers.Adam(), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    y = np.arange(8)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y)
    plan = next(p for p in m._train_plans.plans.values() if p is not None)
    rec = plan.opt_rec
    assert rec is not None
    args = (plan.code, plan.reals, plan.ptrs, x, plan.out, y, plan.nbytes)
    with pytest.raises(ValueError, match="optimizer record"):
        F.plan_train_unchecked(*args, rec.code[:-1], rec.reals)
    with pytest.raises(ValueError, match="optimizer record"):
        F.plan_train_unchecked(*args, rec.code, rec.reals[:3])
    bad = rec.code.copy()
    bad[train_plan.TO_KIND] = 99
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match="refused"):
        F.plan_train_unchecked(*args, bad, rec.reals)
    assert all(np.array_equal(p, q) for p, q in zip(before, m.get_weights()))


def _optimizer_kinds():
    """plan_train.h's enum of optimizer kinds ({CCNN_TO_ADAM: 1, ...}), read from
    the C header itself, not through the binding: the copy the package installs
    under ccnn.get_include() (the tests also run against an installed wheel,
    without the source tree)."""
    import os
    import re
    import ccnn
    path = os.path.join(ccnn.get_include(), "ccnn", "plan_train.h")
    with open(path) as f:
        block = next(b for b in re.findall(r"enum\s*\{([^}]*)\}", f.read()) if "CCNN_TO_ADAM" in b)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"(\w+)\s*=\s*(\d+)", block)}


def test_every_plan_kernel_is_the_c_enum_value():
    """Each optimizer's _plan_kernel is plan_train.h's CCNN_TO_<NAME>, taken from
    the compiled binding (ccnn._optim.PLAN_<NAME>), so the two cannot drift."""
    from ccnn import _optim
    kinds = _optimizer_kinds()
    names = {"Adam": "ADAM", "AdamW": "ADAM", "SGD": "SGD", "RMSprop": "RMSPROP",
             "Adagrad": "ADAGRAD", "Adadelta": "ADADELTA", "Adamax": "ADAMAX"}
    assert set(kinds) == {"CCNN_TO_" + n for n in names.values()}
    for cls, name in names.items():
        assert getattr(_optim, "PLAN_" + name) == kinds["CCNN_TO_" + name], name
        assert getattr(optimizers, cls)._plan_kernel == kinds["CCNN_TO_" + name], cls
    # every optimizer with a plan kernel is one of those (AdamW: Adam's update)
    planned = {c.__name__: c._plan_kernel for c in vars(optimizers).values()
               if isinstance(c, type) and issubclass(c, optimizers.Optimizer)
               and c._plan_kernel is not None}
    assert planned == {cls: kinds["CCNN_TO_" + n] for cls, n in names.items()}
