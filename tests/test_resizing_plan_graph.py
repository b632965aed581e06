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

from test_resizing_plan import (RESIZES, _per_layer, _plan_on,  # noqa: F401 (autouse)
                                through_the_plan)


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
    # (a functional model's evaluate runs per layer, with or without a Resizing)
    plan, x = through_the_plan(monkeypatch, m, dtype, evaluates=False)
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


def test_other_batch_sizes_get_plans_of_their_own_and_the_input_is_kept():
    m = _model("float32", "channels_first", {"interpolation": "nearest"}, "gap", False)
    xs = [np.random.default_rng(k).random((k, 2, 11, 7)).astype(np.float32) for k in (4, 3)]
    kept = [x.copy() for x in xs]
    for x, k in zip(xs, kept):
        np.testing.assert_array_equal(m.predict(x, verbose=0), _per_layer(m, "predict", k))
        np.testing.assert_array_equal(x, k)
    plans = m.__dict__["_inference_plans"].plans.values()
    assert len(plans) == 2 and all(p is not None and len(p.lead) == 1 for p in plans)
