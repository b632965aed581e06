"""The inference plan of a functional Model (ccnn.models.inference_graph).

The reference is the per-layer forward (the plan switched off), which the
rest of the suite checks against NumPy, torch and Keras: the plan must be
bit-identical to it where it calls the same kernels (every graph here
without a BatchNormalization).  Where a BatchNormalization is folded into
its convolution the plan rounds differently: the tolerances are
tests/test_inference_plan.py's (per-layer: 1e-12 of the output's scale in
float64, 1e-5 in float32; a float64 NumPy transcription of the residual
model: relative 1e-10 in float64, 1e-4 in float32).
"""
import pickle

import numpy as np
import pytest

import ccnn
from ccnn import Input
from ccnn.cli import build_resnet_small
from ccnn.layers import (Activation, Add, Average, BatchNormalization, Concatenate, Conv2D,
                         Dense, Dropout, Flatten, GlobalAveragePooling2D, LayerNormalization,
                         Maximum, MaxPooling2D, Minimum, Multiply, ReLU, Subtract)
from ccnn.models import Model, inference
from reference import conv2d_ref, same_padding, softmax_ref
from test_inference_plan import (_plan_on, per_layer, plan_of,  # noqa: F401 (autouse)
                                 randomize_bn)

BATCHES = (1, 7, 32)


def no_plan(model, x):
    x = model._prepare_x(x)
    cache = model.__dict__.get("_inference_plans")
    return cache is None or cache.plans.get((x.shape, x.dtype.str)) is None


def resnet(dtype="float32", seed=0):
    """ccnn.cli.build_resnet_small (ccnn train --model resnet), in dtype."""
    ccnn.utils.set_random_seed(seed)
    m = build_resnet_small()
    if dtype != "float32":
        cfg = m.get_config()
        for layer in cfg["layers"]:
            layer["config"]["dtype"] = dtype
        ccnn.utils.set_random_seed(seed)
        m = Model.from_config(cfg)
        assert all(np.dtype(la.dtype) == np.float64 for la in m.layers)
    randomize_bn(m, np.random.default_rng(seed + 1))
    return m


def images(n, size=28, c=1, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, size, size, c)).astype(dtype)


# ------------------------------------------------------------ the residual model
RESNET_OPS = ["conv3x3+bn+relu", "conv3x3+bn+relu", "conv3x3+bn", "add+relu",
              "conv3x3+bn+relu", "conv3x3+bn", "conv1x1+bn", "add+relu",
              "conv3x3+bn+relu", "conv3x3+bn", "conv1x1+bn", "add+relu",
              "global_avg_pool", "dense", "softmax"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resnet_matches_per_layer(dtype):
    m = resnet(dtype)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for n in BATCHES:
        x = images(n, seed=n, dtype=dtype)
        got = m.predict_on_batch(x)
        plan = plan_of(m, x)
        assert plan.ops == RESNET_OPS
        want = per_layer(m, x)
        assert got.shape == want.shape == (n, 10) and got.dtype == want.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())
        np.testing.assert_array_equal(m(x), got)
        np.testing.assert_array_equal(m.predict(x, batch_size=n), got)
        np.testing.assert_array_equal(m.predict_on_batch(x), got)      # the fast path


def _numpy_forward(model, x):
    """The functional model in float64 NumPy, node by node (Conv2D 'same' /
    'valid', BatchNormalization, ReLU, Add, GlobalAveragePooling2D, Dense)."""
    vals = {id(model.inputs[0]): x.astype(np.float64).transpose(0, 3, 1, 2)}
    for node in model._nodes:
        if node.is_input:
            continue
        layer = node.layer
        ins = [vals[id(t)] for t in node.inputs]
        y = ins[0]
        name = type(layer).__name__
        if name == "RandomTranslation":
            pass
        elif name == "Conv2D":
            w = layer.params["kernel"].astype(np.float64)
            s = layer.strides[0]
            pad = ((0, 0), (0, 0)) if layer.padding == "valid" else (
                same_padding(y.shape[2], w.shape[2], s, 1), same_padding(y.shape[3], w.shape[3], s, 1))
            y = conv2d_ref(y, w, stride=(s, s), pad=pad)
        elif name == "BatchNormalization":
            g, b, mu, var = (a.astype(np.float64) for a in layer.get_weights())
            y = (y - mu[:, None, None]) / np.sqrt(var[:, None, None] + layer.epsilon) \
                * g[:, None, None] + b[:, None, None]
        elif name == "Activation":
            y = np.maximum(y, 0)
        elif name == "Add":
            y = ins[0] + ins[1]
        elif name == "GlobalAveragePooling2D":
            y = y.mean(axis=(2, 3))
        elif name == "Dense":
            y = softmax_ref(y @ layer.params["kernel"].astype(np.float64) + layer.params["bias"])
        else:
            raise AssertionError(name)
        vals[id(node.outputs[0])] = y
    return vals[id(model.outputs[0])]


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-4), ("float64", 1e-10)])
def test_resnet_against_numpy(dtype, rtol):
    m = resnet(dtype, seed=3)
    x = images(3, seed=5, dtype=dtype)
    got = m.predict_on_batch(x)
    plan_of(m, x)
    np.testing.assert_allclose(got, _numpy_forward(m, x), rtol=rtol, atol=rtol * 1e-2)


def test_resnet_is_one_kernel_call():
    m = resnet("float32")
    x = images(4)
    m.predict_on_batch(x)                     # compiles
    with ccnn.profiler.kernel_timer() as t:
        m.predict_on_batch(x)
    assert sum(c for c, _ in t.by_kernel.values()) <= 1, t.by_kernel
    calls = []
    plan = plan_of(m, x)
    run = plan.run
    plan.run = lambda *a: calls.append(1) or run(*a)
    m.predict_on_batch(x)
    m.predict(x)
    assert len(calls) == 2

    def boom(*args, **kw):
        raise AssertionError("the per-layer forward ran")
    m._forward = boom
    m.predict_on_batch(x)
    m.predict(x)
    m(x)


# ------------------------------------------------------------ small graphs
def _conv(f, d, **kw):
    return Conv2D(f, 3, padding="same", dtype=d, bias_initializer="random_normal", **kw)


def _merge_case(cls, k=2, **kw):
    def make(d):
        inp = Input((6, 5, 2), dtype=d)
        branches = [_conv(3, d, activation=a)(inp) for a in ("relu", None, "tanh")[:k]]
        out = cls(dtype=d, **kw)(branches)
        return inp, Dense(4, dtype=d)(Flatten(dtype=d)(out))
    return make


def _two_consumers(d):
    """A value read by three consumers, a skip over several layers, ReLU after Add."""
    inp = Input((8, 8, 3), dtype=d)
    a = _conv(4, d)(inp)
    b = _conv(4, d, activation="relu")(a)
    b = MaxPooling2D(1, dtype=d)(b)
    b = _conv(4, d)(b)
    b = Activation("tanh", dtype=d)(b)
    c = Activation("relu", dtype=d)(a)
    s = Add(dtype=d)([a, b, c])
    s = ReLU(dtype=d)(s)
    return inp, Dense(3, activation="softmax", dtype=d)(GlobalAveragePooling2D(dtype=d)(s))


def _merge_output(d):
    """A merge as the model's output, of two Dense branches of one value."""
    inp = Input((10,), dtype=d)
    h = Dense(12, activation="relu", dtype=d)(inp)
    return inp, Subtract(dtype=d)([Dense(5, dtype=d)(h), Dense(5, activation="sigmoid",
                                                                     dtype=d)(h)])


def _image_output(d):
    """An Add of channels-last images as the output (the plan transposes back)."""
    inp = Input((5, 4, 3), dtype=d)
    a = _conv(6, d)(inp)
    return inp, Maximum(dtype=d)([a, _conv(6, d, activation="relu")(a)])


def _input_in_merge(d):
    """The model's input itself in a merge (read twice, never written)."""
    inp = Input((6, 6, 1), dtype=d)
    y = _conv(1, d)(inp)
    return inp, Flatten(dtype=d)(Multiply(dtype=d)([inp, Add(dtype=d)([inp, y])]))


def _flat_merges(d):
    inp = Input((9,), dtype=d)
    a = Dense(7, dtype=d)(inp)
    b = Dense(7, activation="relu", dtype=d)(inp)
    m = Minimum(dtype=d)([a, b])
    c = Concatenate(dtype=d)([m, a, inp])
    return inp, Dense(4, activation="softmax", dtype=d)(Activation("relu", dtype=d)(
        Average(dtype=d)([Dense(5, dtype=d)(c), Dense(5, dtype=d)(c)])))


def _channels_first(d):
    inp = Input((2, 6, 6), dtype=d)
    a = _conv(3, d, data_format="channels_first")(inp)
    b = _conv(4, d, data_format="channels_first", activation="relu")(inp)
    c = Concatenate(axis=1, dtype=d)([a, b])
    e = Add(dtype=d)([_conv(7, d, data_format="channels_first")(c), c])
    return inp, Dense(3, dtype=d)(Flatten(dtype=d)(Activation("relu", dtype=d)(e)))


def _residual_no_bn(d):
    """Residual blocks without BatchNormalization: bit-identical end to end."""
    inp = Input((8, 8, 1), dtype=d)
    x = _conv(4, d, activation="relu")(inp)
    for f, s in ((4, 1), (6, 2)):
        y = Conv2D(f, 3, strides=s, padding="same", activation="relu", dtype=d)(x)
        y = Conv2D(f, 3, padding="same", dtype=d)(y)
        sc = x if s == 1 else Conv2D(f, 1, strides=s, dtype=d)(x)
        x = Activation("relu", dtype=d)(Add(dtype=d)([y, sc]))
    x = Dropout(0.5, dtype=d)(x)
    return inp, Dense(5, activation="softmax", dtype=d)(GlobalAveragePooling2D(dtype=d)(x))


def _skip_through_identity(d):
    """A conv read by a skip and, through a Dropout, by a BatchNormalization:
    the BN must not fold into the conv (whose output the skip reads)."""
    inp = Input((6, 6, 2), dtype=d)
    a = _conv(3, d)(inp)
    b = BatchNormalization(dtype=d)(Dropout(0.3, dtype=d)(a))
    c = ReLU(dtype=d)(Dropout(0.1, dtype=d)(a))      # nor a ReLU fuse into it
    return inp, Flatten(dtype=d)(Add(dtype=d)([a, b, c]))


GRAPHS = {
    "skip_through_identity": _skip_through_identity,
    "add": _merge_case(Add), "add3": _merge_case(Add, 3), "subtract": _merge_case(Subtract),
    "multiply": _merge_case(Multiply, 3), "average": _merge_case(Average),
    "average3": _merge_case(Average, 3), "maximum": _merge_case(Maximum, 3),
    "minimum": _merge_case(Minimum), "concatenate": _merge_case(Concatenate, 3),
    "two_consumers": _two_consumers, "merge_output": _merge_output,
    "image_output": _image_output, "input_in_merge": _input_in_merge,
    "flat_merges": _flat_merges, "channels_first": _channels_first,
    "residual_no_bn": _residual_no_bn,
}


def _graph(name, dtype, seed=0):
    ccnn.utils.set_random_seed(seed)
    inp, out = GRAPHS[name](dtype)
    return Model(inp, out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graphs_bit_identical(name, dtype):
    m = _graph(name, dtype)
    shape = m.inputs[0].shape[1:]
    for n in BATCHES:
        x = np.random.default_rng(n).normal(size=(n,) + shape).astype(dtype)
        got = m.predict_on_batch(x)
        plan = plan_of(m, x)
        want = per_layer(m, x)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=str(plan.ops))
        np.testing.assert_array_equal(m(x), want)
        np.testing.assert_array_equal(m.predict(x, batch_size=5), per_layer(m, x, "predict",
                                                                            batch_size=5))


def test_fusions_only_where_one_consumer():
    m = _graph("two_consumers", "float32")
    x = np.zeros((2, 8, 8, 3), np.float32)
    m.predict_on_batch(x)
    # a (read by three) fuses nothing: its relu is an op of its own; the tanh of a
    # one-consumer conv and the ReLU after the (two-step) Add fuse
    assert plan_of(m, x).ops == ["nhwc->nchw", "conv3x3", "conv3x3+relu", "maxpool",
                                 "conv3x3+tanh", "relu", "add", "add+relu", "global_avg_pool",
                                 "dense", "softmax"]
    m = _graph("residual_no_bn", "float64")
    x = np.zeros((2, 8, 8, 1))
    m.predict_on_batch(x)
    assert plan_of(m, x).ops.count("add+relu") == 2


def test_no_fusion_into_a_value_read_through_an_identity_layer():
    m = _graph("skip_through_identity", "float64")
    rng = np.random.default_rng(4)
    for layer in m.layers:
        if isinstance(layer, BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    x = rng.normal(size=(3, 6, 6, 2))
    got = m.predict_on_batch(x)
    assert plan_of(m, x).ops[:4] == ["nhwc->nchw", "conv3x3", "batchnorm", "relu"]
    np.testing.assert_array_equal(got, per_layer(m, x))


def test_buffers_are_reused():
    """Liveness: the residual model's 15 ops need 3 buffers of the largest value."""
    m = resnet("float32")
    x = images(2)
    m.predict_on_batch(x)
    plan = plan_of(m, x)
    big = 2 * 32 * 28 * 28
    bufs = [a for a in plan.keep if a.dtype == np.float32 and a.size == big]
    assert len(bufs) == 3


def test_maximum_minimum_propagate_nan_as_numpy():
    d = "float64"
    inp = Input((6,), dtype=d)
    a = Dense(6, dtype=d)(inp)
    m = Model(inp, Maximum(dtype=d)([a, Minimum(dtype=d)([inp, a])]))
    x = np.random.default_rng(0).normal(size=(4, 6))
    x[0, 1] = x[2, 4] = np.nan
    x[1, :] = np.inf
    got = m.predict_on_batch(x)
    plan_of(m, x)
    w, b = m.layers[1].get_weights()
    with np.errstate(invalid="ignore"):
        h = x @ w + b
    want = np.maximum(h, np.minimum(x, h))             # NumPy: the reference
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, per_layer(m, x))


# ------------------------------------------------------------ fallbacks
def test_unsupported_graphs_fall_back():
    d = "float32"
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype(d)
    inp = Input((4, 4, 2))
    cases = {
        # broadcasting: (4, 4, 2) + (4, 4, 1)
        "broadcast": Model(inp, Add()([inp, Conv2D(1, 1)(inp)])),
        # along the height axis
        "concat_axis": Model(inp, Concatenate(axis=1)([inp, Conv2D(2, 1)(inp)])),
        "layer": Model(inp, LayerNormalization()(Conv2D(2, 1)(inp))),
    }
    for name, m in cases.items():
        got = m.predict_on_batch(x)
        assert no_plan(m, x), name
        np.testing.assert_array_equal(got, per_layer(m, x), err_msg=name)
    # two outputs, two inputs: no plan is compiled at all
    two_out = Model(inp, [Conv2D(2, 1)(inp), Conv2D(3, 1)(inp)])
    got = two_out.predict(x)
    assert "_inference_plans" not in two_out.__dict__
    for g, w in zip(got, per_layer(two_out, x, "predict")):
        np.testing.assert_array_equal(g, w)
    in2 = Input((4, 4, 2))
    two_in = Model([inp, in2], Add()([inp, in2]))
    got = two_in.predict_on_batch([x, x])
    assert "_inference_plans" not in two_in.__dict__
    np.testing.assert_array_equal(got, x + x)


def test_switch_off(monkeypatch):
    m = _graph("add", "float32")
    x = np.ones((2, 6, 5, 2), np.float32)
    m.predict_on_batch(x)
    plan = plan_of(m, x)

    def boom(*args):
        raise AssertionError("the plan ran")
    monkeypatch.setattr(plan, "run", boom)
    inference.set_enabled(False)
    m.predict_on_batch(x)
    m.predict(x)
    m(x)


# ------------------------------------------------------------ staleness
def test_weights_changed_in_place_are_seen():
    m = resnet("float64", seed=2)
    x = images(3, dtype=np.float64)
    before = m.predict_on_batch(x)
    plan = plan_of(m, x)
    rng = np.random.default_rng(9)
    for layer in m.layers:            # set_weights copies into the same arrays
        if layer.weight_arrays():
            layer.set_weights([w + rng.normal(0, 0.1, w.shape) for w in layer.get_weights()])
    bn = next(la for la in m.layers if isinstance(la, BatchNormalization))
    bn.states["moving_mean"] += 0.5
    got = m.predict_on_batch(x)
    assert plan_of(m, x) is plan
    assert not np.allclose(got, before)
    np.testing.assert_allclose(got, per_layer(m, x), rtol=0, atol=1e-12)


def test_replaced_arrays_recompile_and_training_is_seen():
    m = _graph("residual_no_bn", "float64")
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 1))
    m.predict_on_batch(x)
    plan = plan_of(m, x)
    conv = next(la for la in m.layers if isinstance(la, Conv2D))
    conv.params["kernel"] = conv.params["kernel"] * 2.0            # a new array
    got = m.predict_on_batch(x)
    assert plan_of(m, x) is not plan
    np.testing.assert_array_equal(got, per_layer(m, x))
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    m.fit(x, np.array([1, 2, 3, 4]), epochs=2, verbose=0)
    np.testing.assert_array_equal(m.predict_on_batch(x), per_layer(m, x))
    np.testing.assert_array_equal(m.predict(x), per_layer(m, x, "predict"))


def test_pickled_model_recompiles():
    m = _graph("two_consumers", "float32")
    x = np.random.default_rng(2).normal(size=(3, 8, 8, 3)).astype(np.float32)
    got = m.predict_on_batch(x)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict_on_batch(x), got)
    plan_of(m2, x)
    assert plan_of(m2, x) is not plan_of(m, x)


def test_input_not_modified_and_training_call_is_per_layer():
    m = _graph("input_in_merge", "float64")
    x = np.random.default_rng(3).normal(size=(5, 6, 6, 1))
    x0 = x.copy()
    m.predict_on_batch(x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(m(x, training=True), per_layer(m, x))
    np.testing.assert_array_equal(x, x0)
