"""compile(loss_weights=w) of a one-output Sequential model trains through the
training plan: the fused loss head's gradient is scaled by w in C
(plan_train.c's tp_loss_scale, the op's TR_SCALE real) and the step's loss by
w, as the per-layer path (Trainer._reduced) scales them.  The reference is
the per-layer path (the plan switched off): bit-identical, as in
test_train_plan; Keras's semantics of the weighted loss are checked against
Keras itself in test_compile_loss_weights."""
import numpy as np
import pytest

import ccnn
from ccnn.models import train_plan

from _twin import _plan_on, assert_identical, run, twin  # noqa: F401 (autouse)
from test_train_plan import bce_model, book, logits_head

DTYPES = ("float32", "float64")
HEADS = {
    "softmax+cross_entropy": (book, {}),
    "cross_entropy(from_logits)": (logits_head, {"loss": ccnn.losses.SparseCategoricalCrossentropy(
        from_logits=True)}),
    "sigmoid+binary_cross_entropy": (bce_model, {"loss": "binary_crossentropy",
                                                 "sparse": False}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [0.5, 2.0, 0.3])
@pytest.mark.parametrize("head", list(HEADS))
def test_a_weighted_loss_trains_through_the_plan_bit_identically(head, weight, dtype):
    builder, kw = HEADS[head]
    a, b = twin(builder, dtype, loss_weights=weight, **kw)
    assert a["used"] == 9                      # every step ran as the plan (the spy)
    assert_identical(a, b)
    plans = a["model"].__dict__["_train_plans"].plans.values()
    assert plans and all(p.loss_weight == weight and p.ops[-1] == head for p in plans)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_the_reported_loss_is_the_weighted_loss(weight, dtype):
    """The first step's loss (before any update) is w times the unweighted
    one, exactly for a power of two; History's losses are the per-layer path's."""
    plain = run(book, dtype, True, steps=1)
    weighted = run(book, dtype, True, steps=1, loss_weights=weight)
    assert weighted["used"] == plain["used"] == 7
    assert weighted["results"][0][0] == weight * plain["results"][0][0]
    assert weighted["results"][0][1] == plain["results"][0][1]       # accuracy: unweighted


def _book64(weight):
    """book("float64") compiled with SGD and the loss weight, and a batch of 8."""
    ccnn.utils.set_random_seed(0)
    m = book("float64")
    m.compile("sgd", "sparse_categorical_crossentropy", loss_weights=weight)
    return m, np.random.default_rng(1).random((8, 28, 28, 1)), np.arange(8) % 10


def test_a_recompile_with_another_weight_recompiles_the_plan():
    m, x, y = _book64(0.5)
    before = train_plan.calls()
    m.train_on_batch(x, y)
    (p,) = m.__dict__["_train_plans"].plans.values()
    assert p.loss_weight == 0.5
    m.compile("sgd", "sparse_categorical_crossentropy", loss_weights=2.0)
    m.train_on_batch(x, y)
    (q,) = m.__dict__["_train_plans"].plans.values()
    assert q is not p and q.loss_weight == 2.0
    assert train_plan.calls() == before + 2


def test_a_weight_of_zero_trains_nothing_through_the_plan():
    m, x, y = _book64(0.0)
    w0 = [w.copy() for w in m.get_weights()]
    before = train_plan.calls()
    assert m.train_on_batch(x, y) == 0.0
    assert train_plan.calls() == before + 1
    for a, b in zip(m.get_weights(), w0):
        np.testing.assert_array_equal(a, b)


# ---- a functional model of one output: its graph's plan (train_graph)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [0.5, 2.0, 0.3])
@pytest.mark.parametrize("name", ["skip", "resnet"])
def test_a_weighted_functional_model_trains_through_its_graph_plan(name, weight, dtype):
    from test_train_graph import resnet, skip
    a, b = twin({"skip": skip, "resnet": resnet}[name], dtype, loss_weights=weight)
    assert a["used"] == 9
    assert_identical(a, b)
    plans = a["model"].__dict__["_train_plans"].plans.values()
    assert plans and all(p.loss_weight == weight for p in plans)


def test_a_functional_model_of_several_outputs_keeps_the_per_layer_path():
    inp = ccnn.Input((5,))
    h = ccnn.layers.Dense(4, activation="relu")(inp)
    m = ccnn.Model(inp, [ccnn.layers.Dense(3, activation="softmax")(h),
                         ccnn.layers.Dense(2, activation="softmax")(h)])
    m.compile("sgd", "sparse_categorical_crossentropy", loss_weights=[0.5, 2.0])
    before = train_plan.calls()
    x = np.ones((4, 5), np.float32)
    m.train_on_batch(x, [np.array([0, 1, 2, 0]), np.array([0, 1, 1, 0])])
    assert train_plan.calls() == before


def test_a_data_parallel_fit_with_a_loss_weight_gives_the_per_layer_bits(tmp_path):
    """Two ranks: the plan's reducer path (the weighted head's gradients
    all-reduced) against the per-layer path, weights and History bit-identical
    on each rank, and the plan ran."""
    pytest.importorskip("mpi4py")
    from test_distribution import run_mpi
    run_mpi(tmp_path, '''
        import hashlib
        from ccnn.models import train_plan
        def fit(plan):
            train_plan.set_enabled(plan)
            x, y = data(70, "float32")
            utils.set_random_seed(5)
            m = book("float32", optimizer="sgd")   # (its MaxPooling2D: float32)
            m.compile("sgd", "sparse_categorical_crossentropy", loss_weights=0.3)
            before = train_plan.calls()
            with DataParallel():
                h = m.fit(x, y, batch_size=16, epochs=2, verbose=0)
            return ([hashlib.sha256(w.tobytes()).hexdigest() for w in m.get_weights()],
                    h.history, train_plan.calls() - before)
        (wa, ha, used), (wb, hb, unused) = fit(True), fit(False)
        assert wa == wb and ha == hb, (ha, hb)
        assert used > 0 and unused == 0, (used, unused)
    ''')
