"""A model that starts with layers.Resizing predicts and evaluates through
the inference plan: the plan has no resize op, so the leading Resizing runs
per layer before the plan's ops (as the training plan's leading steps), and
the outputs are bit-identical to the per-layer path's."""
import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn.layers import (Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D,
                         RandomFlip, Resizing)
from ccnn.models import inference


@pytest.fixture(autouse=True)
def _plan_on():
    inference.set_enabled(True)
    yield
    inference.set_enabled(True)


def _per_layer(model, fn, *args, **kw):
    inference.set_enabled(False)
    try:
        return getattr(model, fn)(*args, **kw)
    finally:
        inference.set_enabled(True)


def _model(dtype, fmt, resize, head="flatten"):
    ccnn.utils.set_random_seed(0)
    shape = (11, 7, 2) if fmt == "channels_last" else (2, 11, 7)
    pool = [MaxPooling2D(2, data_format=fmt, dtype=dtype), Flatten(data_format=fmt, dtype=dtype)] \
        if head == "flatten" else [GlobalAveragePooling2D(data_format=fmt, dtype=dtype)]
    return ccnn.Sequential([ccnn.Input(shape, dtype=dtype), RandomFlip(dtype=dtype),
                            Resizing(8, 9, data_format=fmt, dtype=dtype, **resize),
                            Conv2D(3, 3, padding="same", activation="relu", data_format=fmt,
                                   dtype=dtype)] + pool +
                           [Dense(4, activation="softmax", dtype=dtype)])


RESIZES = {"bilinear": {}, "nearest": {"interpolation": "nearest"},
           "crop": {"crop_to_aspect_ratio": True},
           "pad": {"pad_to_aspect_ratio": True, "fill_value": 0.5, "interpolation": "nearest"}}


class _Spy:
    def __init__(self, monkeypatch):
        self.calls = 0
        for name in ("plan_forward_unchecked", "plan_run_unchecked"):
            real = getattr(F, name)

            def spy(*args, _real=real):
                self.calls += 1
                return _real(*args)
            monkeypatch.setattr(F, name, spy)


@pytest.mark.parametrize("resize", sorted(RESIZES))
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_match_the_per_layer_path(monkeypatch, dtype, fmt, resize):
    m = _model(dtype, fmt, RESIZES[resize], "flatten" if resize != "pad" else "gap")
    plan, x = through_the_plan(monkeypatch, m, dtype)
    assert plan.in_shape == (5,) + m.layers[1].output_shape[1:]


def through_the_plan(monkeypatch, m, dtype, evaluates=True):
    """m's predict (each path) and (evaluates) evaluate through its inference
    plan, each bit-identical to the per-layer path's; (the plan, x)."""
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
    spy.calls = 0
    assert m.evaluate(x, y, batch_size=2, verbose=0) == want_eval
    assert spy.calls == (3 if evaluates else 0)
    plan = m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)]
    assert [type(layer) for layer in plan.lead] == [Resizing]
    return plan, x


def test_resizing_after_a_layer_with_an_op_runs_per_layer():
    m = ccnn.Sequential([ccnn.Input((6, 6, 1)), Conv2D(2, 3), Resizing(5, 5), Flatten(),
                         Dense(2)])
    x = np.random.default_rng(0).random((3, 6, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(x), _per_layer(m, "predict", x))
    assert m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)] is None


def test_the_input_is_not_modified():
    m = _model("float32", "channels_last", {})
    x = np.random.default_rng(2).random((4, 11, 7, 2)).astype(np.float32)
    before = x.copy()
    m.predict(x)
    m.predict(x)
    np.testing.assert_array_equal(x, before)
