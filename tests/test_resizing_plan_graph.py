"""A functional model whose first layer after the Input is layers.Resizing
predicts and evaluates through its graph's inference plan, as a Sequential
one does (test_resizing_plan): the leading Resizing (identity layers before
it or not) runs per layer before the plan's ops (Plan.lead), and the outputs
are bit-identical to the per-layer path's."""
import numpy as np
import pytest

import ccnn
from ccnn.layers import (Add, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D,
                         RandomFlip, Resizing)
from ccnn.models import inference

from test_resizing_plan import RESIZES, _per_layer, _plan_on, _Spy  # noqa: F401 (autouse)


def _model(dtype, fmt, resize, head="flatten", flip=True):
    ccnn.utils.set_random_seed(0)
    shape = (11, 7, 2) if fmt == "channels_last" else (2, 11, 7)
    i = ccnn.Input(shape, dtype=dtype)
    h = RandomFlip(dtype=dtype)(i) if flip else i
    h = Resizing(8, 9, data_format=fmt, dtype=dtype, **resize)(h)
    a = Conv2D(3, 3, padding="same", activation="relu", data_format=fmt, dtype=dtype)(h)
    b = Conv2D(3, 3, padding="same", data_format=fmt, dtype=dtype)(a)
    h = Add(dtype=dtype)([a, b])                 # a graph, not a chain
    if head == "flatten":
        h = Flatten(data_format=fmt, dtype=dtype)(MaxPooling2D(2, data_format=fmt,
                                                               dtype=dtype)(h))
    else:
        h = GlobalAveragePooling2D(data_format=fmt, dtype=dtype)(h)
    return ccnn.Model(i, Dense(4, activation="softmax", dtype=dtype)(h))


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("resize", sorted(RESIZES))
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_match_the_per_layer_path(monkeypatch, dtype, fmt, resize, flip):
    m = _model(dtype, fmt, RESIZES[resize], "flatten" if resize != "pad" else "gap", flip)
    rng = np.random.default_rng(1)
    x = rng.random((5,) + m.input_shape[1:]).astype(dtype)
    y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 5)]
    m.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    want = _per_layer(m, "predict", x, batch_size=2)
    want_eval = _per_layer(m, "evaluate", x, y, batch_size=2, verbose=0)
    spy = _Spy(monkeypatch)
    got = m.predict(x, batch_size=2)
    assert spy.calls == 3                         # batches of 2, 2, 1: through the plan
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(m.predict(x, batch_size=2), want)     # the fast path
    np.testing.assert_array_equal(m.predict_on_batch(x), _per_layer(m, "predict_on_batch", x))
    np.testing.assert_array_equal(m(x), want)
    assert m.evaluate(x, y, batch_size=2, verbose=0) == want_eval
    plan = m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)]
    assert [type(layer) for layer in plan.lead] == [Resizing]
    resized = next(la for la in m.layers if type(la) is Resizing)
    assert plan.in_shape == (5,) + tuple(resized.output_shape[1:])


def _xs(shape=(3, 6, 6, 1)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def test_a_resizing_whose_output_is_read_twice_leads_the_plan():
    i = ccnn.Input((6, 6, 1))
    r = Resizing(5, 5)(i)
    m = ccnn.Model(i, Dense(2)(Flatten()(Add()([Conv2D(1, 1)(r), r]))))   # r read twice
    x = _xs()
    np.testing.assert_array_equal(m.predict(x), _per_layer(m, "predict", x))
    plan = m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)]
    assert [type(layer) for layer in plan.lead] == [Resizing]


def test_an_input_read_beside_the_resizing_or_a_resizing_after_an_op_runs_per_layer():
    i = ccnn.Input((6, 6, 1))
    m = ccnn.Model(i, Add()([Flatten()(Resizing(6, 6)(i)), Flatten()(i)]))
    x = _xs()
    np.testing.assert_array_equal(m.predict(x), _per_layer(m, "predict", x))
    assert m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)] is None
    i = ccnn.Input((6, 6, 1))
    m = ccnn.Model(i, Dense(2)(Flatten()(Resizing(5, 5)(Conv2D(2, 3)(i)))))
    np.testing.assert_array_equal(m.predict(x), _per_layer(m, "predict", x))
    assert m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)] is None


def test_the_input_is_not_modified_and_other_sizes_recompile():
    m = _model("float32", "channels_last", {})
    x = np.random.default_rng(2).random((4, 11, 7, 2)).astype(np.float32)
    before = x.copy()
    m.predict(x)
    m.predict(x)
    np.testing.assert_array_equal(x, before)
    x2 = np.random.default_rng(3).random((4, 11, 7, 2)).astype(np.float32)[:3]
    np.testing.assert_array_equal(m.predict(x2), _per_layer(m, "predict", x2))
    assert len(m.__dict__["_inference_plans"].plans) == 2
