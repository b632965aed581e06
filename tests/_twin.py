"""The twin runs of the training-plan tests (test_train_plan, test_train_graph,
test_train_plan_optim): one model trained with the plan and one without, from
the same seeds, and the check that the two are bit-identical."""
import numpy as np
import pytest

import ccnn
from ccnn.layers import Dropout, SpatialDropout2D
from ccnn.models import train_plan


@pytest.fixture(autouse=True)
def _plan_on():
    """The plan on, the thread count restored, around each test (import it
    into a test module to use it there)."""
    train_plan.set_enabled(True)
    threads = ccnn.get_num_threads()
    yield
    train_plan.set_enabled(True)
    ccnn.set_num_threads(threads)


def data(model, n, sparse=True, seed=0):
    rng = np.random.default_rng(seed)
    shape = model.layers[0].input_shape or model.input_shape
    x = rng.random((n,) + tuple(shape[1:])).astype(np.float32)
    classes = model.layers[-1].output_shape[-1]
    y = rng.integers(0, classes, n)
    return x, (y if sparse else np.eye(classes, dtype=np.float32)[y])


def run(builder, dtype, plan, loss="sparse_categorical_crossentropy", sparse=True,
        optimizer="adam", steps=3, fit_n=40, threads=None, seed=5, loss_weights=None,
        **fit_kw):
    """Train a fresh model (seeded, compiled with loss_weights) for `steps`
    train_on_batch steps and two fit epochs; everything the comparison
    needs, and how many plan steps ran."""
    train_plan.set_enabled(plan)
    if threads is not None:
        ccnn.set_num_threads(threads)
    ccnn.utils.set_random_seed(seed)
    m = builder(dtype)
    m.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], loss_weights=loss_weights)
    outs = []
    owner = next(c for c in type(m).__mro__ if "_update_metrics" in vars(c))
    update = owner._update_metrics

    def record(self, objs, out, y, sw=None):
        outs.append(np.array(out, copy=True))
        return update(self, objs, out, y, sw)
    before = train_plan.calls()
    x, y = data(m, fit_n, sparse)
    owner._update_metrics = record
    try:
        results = [m.train_on_batch(x[:16], y[:16]) for _ in range(steps)]
        grads = [{k: g.copy() for k, g in layer.grads.items()} for layer in m.layers]
        h = m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True, **fit_kw)
    finally:
        owner._update_metrics = update
    used = train_plan.calls() - before
    train_plan.set_enabled(True)
    return {"model": m, "results": results, "history": h.history, "outs": outs,
            "grads": grads, "used": used,
            "final_grads": [{k: g.copy() for k, g in layer.grads.items()} for layer in m.layers],
            "x": x}


def assert_identical(a, b):
    assert a["results"] == b["results"]
    assert a["history"] == b["history"]
    assert len(a["outs"]) == len(b["outs"]) > 0
    for p, q in zip(a["outs"], b["outs"]):
        assert p.dtype == q.dtype and np.array_equal(p, q)
    ma, mb = a["model"], b["model"]
    for la, lb in zip(ma.layers, mb.layers):
        if type(lb) in (Dropout, SpatialDropout2D):   # the last mask, as its forward leaves it
            assert (la.mask is None) == (lb.mask is None)
            assert lb.mask is None or (la.mask.dtype == lb.mask.dtype == np.bool_
                                       and np.array_equal(la.mask, lb.mask))
        for d in ("params", "states"):
            da, db = getattr(la, d), getattr(lb, d)
            assert da.keys() == db.keys()
            for k in da:
                assert da[k].dtype == db[k].dtype and np.array_equal(da[k], db[k]), (la.name, k)
    for ga, gb in zip(a["grads"] + a["final_grads"], b["grads"] + b["final_grads"]):
        assert ga.keys() == gb.keys()
        for k in ga:
            assert ga[k].dtype == gb[k].dtype and np.array_equal(ga[k], gb[k]), k
    assert ma.optimizer.iterations == mb.optimizer.iterations
    va, vb = ma.optimizer.variables, mb.optimizer.variables
    assert len(va) == len(vb) and (len(va) > 0 or ma.optimizer.name == "SGD")
    assert all(np.array_equal(p, q) for p, q in zip(va, vb))
    pa, pb = ma.predict(a["x"], verbose=0), mb.predict(b["x"], verbose=0)
    assert np.array_equal(pa, pb)


def twin(builder, dtype, **kw):
    """run() with the plan and without; the second must not use it."""
    a = run(builder, dtype, True, **kw)
    b = run(builder, dtype, False, **kw)
    assert b["used"] == 0
    return a, b


def compiled(builder, n, step=True):
    """A model of builder("float32") (seed 0) compiled with Adam and sparse
    categorical cross-entropy, and n samples of its data; with step, after one
    train_on_batch of them (which compiles its plan)."""
    ccnn.utils.set_random_seed(0)
    m = builder("float32")
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(m, n)
    if step:
        m.train_on_batch(x, y)
    return m, x, y
