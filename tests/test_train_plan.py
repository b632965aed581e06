"""The training plan (ccnn.models.train_plan): a training step as one C call.

The reference is the per-layer training step (the plan switched off), which
the rest of the suite checks against NumPy, torch and Keras.  The plan calls
the same kernels with the same arguments, so from identical weights,
optimizer and seeds every loss, output, weight, gradient, optimizer state
and moving statistic must be bit-identical (np.array_equal) after several
steps of train_on_batch and of fit.
"""
import operator
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import ccnn
from ccnn import losses, profiler, regularizers
from ccnn import activations
from ccnn.layers import (ELU, Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                         Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU,
                         MaxPooling2D, RandomTranslation, ReLU, Rescaling, Softmax,
                         SpatialDropout2D)
from ccnn.models import train_plan
from ccnn.models.trainer import Trainer

from _twin import _plan_on, assert_identical, compiled, data, run, twin  # noqa: F401 (autouse)

DTYPES = ("float32", "float64")


# ------------------------------------------------------------------ models

def book(dtype, dropout=True, input_shape=(28, 28, 1), bias=True):
    layers = [Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=input_shape,
                     use_bias=bias, dtype=dtype, bias_initializer="random_normal"),
              MaxPooling2D((2, 2), dtype=dtype), Flatten(dtype=dtype)]
    layers += [Dropout(0.5, dtype=dtype)] if dropout else []
    layers += [Dense(100, activation="relu", dtype=dtype, bias_initializer="random_normal"),
               Dense(10, activation="softmax", dtype=dtype)]
    return ccnn.Sequential(layers)


def modern(dtype, size=12, f1=4, f2=6):
    """ccnn.cli.build_modern_model's layers, fewer filters, a smaller input."""
    def block(filters):
        return [Conv2D(filters, 3, padding="same", use_bias=False, dtype=dtype),
                BatchNormalization(dtype=dtype, beta_initializer="random_normal",
                                   gamma_initializer="random_uniform"),
                Activation("relu", dtype=dtype)]
    return ccnn.Sequential([ccnn.Input((size, size, 1)),
                            RandomTranslation(0.1, 0.1, dtype=dtype),
                            *block(f1), *block(f1), MaxPooling2D(dtype=dtype),
                            *block(f2), *block(f2), MaxPooling2D(dtype=dtype),
                            Flatten(dtype=dtype), Dropout(0.5, dtype=dtype),
                            Dense(16, activation="relu", dtype=dtype),
                            Dense(10, activation="softmax", dtype=dtype)])


def strided(dtype):
    """conv with relu and bias (not first: it gives an input gradient), a conv
    without activation, ReLU(), a 3x3 / 2 'same' max pool, Dense without activation."""
    return ccnn.Sequential([
        Conv2D(3, 3, strides=2, activation="relu", input_shape=(11, 11, 2), dtype=dtype),
        Conv2D(4, 3, padding="same", dtype=dtype, bias_initializer="random_normal"),
        ReLU(dtype=dtype), MaxPooling2D(3, strides=2, padding="same", dtype=dtype),
        Flatten(dtype=dtype), Dense(8, dtype=dtype), Dense(5, activation="softmax",
                                                            dtype=dtype)])


def channels_first(dtype):
    return ccnn.Sequential([
        Conv2D(3, 3, padding="same", activation="relu", data_format="channels_first",
               input_shape=(2, 8, 8), dtype=dtype),
        MaxPooling2D(2, data_format="channels_first", dtype=dtype),
        BatchNormalization(axis=1, dtype=dtype), Activation("relu", dtype=dtype),
        Flatten(dtype=dtype), Dense(12, activation="relu", dtype=dtype),
        Dropout(0.3, seed=3, dtype=dtype), Dense(4, activation="softmax", dtype=dtype)])


def rgb_bn(dtype):
    """A 3-channel channels-last input (a transpose op first), BatchNormalization
    without gamma on images and without beta on a flat tensor."""
    return ccnn.Sequential([
        Conv2D(4, 3, use_bias=False, input_shape=(7, 6, 3), dtype=dtype),
        BatchNormalization(scale=False, dtype=dtype), ReLU(dtype=dtype),
        Flatten(dtype=dtype), Dense(9, dtype=dtype),
        BatchNormalization(center=False, momentum=0.7, epsilon=0.01, dtype=dtype),
        Activation("relu", dtype=dtype), Dense(3, activation="softmax", dtype=dtype)])


def mlp(dtype):
    return ccnn.Sequential([
        Dense(16, activation="relu", input_shape=(20,), dtype=dtype), Dropout(0.0, dtype=dtype),
        Dense(12, use_bias=False, dtype=dtype), Activation("linear", dtype=dtype),
        Dropout(0.25, dtype=dtype), Dense(6, activation="softmax", dtype=dtype)])


def leading(dtype):
    """Layers without weights before the first conv run in Python; the conv and
    the pool are then not fused (the fusion takes the first two layers only)."""
    return ccnn.Sequential([
        Rescaling(0.5, input_shape=(10, 10, 1), dtype=dtype),
        RandomTranslation(0.2, 0.2, dtype=dtype),
        Conv2D(5, 3, activation="relu", padding="same", dtype=dtype),
        MaxPooling2D(2, dtype=dtype), Flatten(dtype=dtype),
        Dense(4, activation="softmax", dtype=dtype)])


MODELS = {"book": book, "frozen_conv": lambda d: _frozen_conv(d),
          "frozen_bn": lambda d: _frozen_bn(d),
          "book_rgb": lambda d: book(d, input_shape=(12, 10, 3)),
          "book_nobias": lambda d: book(d, bias=False), "modern": modern,
          "strided": strided, "channels_first": channels_first, "rgb_bn": rgb_bn, "mlp": mlp,
          "leading": leading}


# ------------------------------------------------------------------ bit-identity

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_bit_identical_to_the_per_layer_step(name, dtype):
    a, b = twin(MODELS[name], dtype)
    assert a["used"] == 3 + 2 * 3          # 3 train_on_batch, 2 epochs of 3 batches
    assert_identical(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_targets_and_label_smoothing(dtype):
    for loss in ("categorical_crossentropy",
                 losses.CategoricalCrossentropy(label_smoothing=0.1)):
        a, b = twin(book, dtype, loss=loss, sparse=False)
        assert a["used"] == 9
        assert_identical(a, b)


def test_mean_with_sample_weight_reduction_and_sgd():
    loss = losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")
    a, b = twin(modern, "float32", loss=loss, optimizer="sgd")
    assert a["used"] == 9
    assert_identical(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_bit_identical_at_each_thread_count(threads):
    a, b = twin(modern, "float32", threads=threads)
    assert a["used"] == 9
    assert_identical(a, b)


def test_the_book_model_of_ccnn_train():
    from ccnn.cli import build_model, build_modern_model
    for builder in (build_model, build_modern_model):
        a, b = twin(lambda dtype: builder(), "float32", fit_n=20)
        assert a["used"] == 3 + 2 * 2
        assert_identical(a, b)


def test_a_step_is_one_kernel_call_of_the_profiler():
    m, x, y = compiled(book, 8)
    with profiler.kernel_timer() as kt:
        m.train_on_batch(x, y)
    assert kt.by_kernel["_plan.plan_train"][0] == 1
    assert not any(k.startswith(("_conv2d", "_dense", "_pool", "_loss")) for k in kt.by_kernel)


# ------------------------------------------------------------------ fallbacks

def _frozen_bn(dtype):
    m = modern(dtype)
    assert type(m.layers[2]) is BatchNormalization
    m.layers[2].trainable = False       # inference mode (Keras 3)
    return m


def _frozen_conv(dtype):
    m = modern(dtype)
    m.layers[1].trainable = False       # its gradient is computed, not applied
    return m


def _regularized(dtype):
    return ccnn.Sequential([Dense(8, activation="relu", input_shape=(20,), dtype=dtype,
                                  kernel_regularizer=regularizers.L2(0.01)),
                            Dense(3, activation="softmax", dtype=dtype)])


def _activity(dtype):
    return ccnn.Sequential([Dense(8, activation="relu", input_shape=(20,), dtype=dtype,
                                  activity_regularizer="l2"),
                            Dense(3, activation="softmax", dtype=dtype)])


FALLBACKS = {
    "weight regularizer": (_regularized, {}),
    "activity regularizer": (_activity, {}),
    "spatial dropout of another data format": (lambda d: ccnn.Sequential([
        Conv2D(3, 3, input_shape=(2, 8, 8), data_format="channels_first", dtype=d),
        SpatialDropout2D(0.5, dtype=d),
        Flatten(dtype=d), Dense(4, activation="softmax", dtype=d)]), {}),
    "hidden softmax activation": (lambda d: ccnn.Sequential([
        Dense(4, activation="softmax", input_shape=(20,), dtype=d),
        Dense(3, activation="softmax", dtype=d)]), {}),
    "relu with arguments": (lambda d: ccnn.Sequential([
        Dense(4, input_shape=(20,), dtype=d), ReLU(max_value=0.5, dtype=d),
        Dense(3, activation="softmax", dtype=d)]), {}),
    "binary cross-entropy of another dtype": (lambda d: ccnn.Sequential([
        Dense(4, activation="relu", input_shape=(20,), dtype=d), Dense(3, dtype=d)]),
        {"loss": losses.BinaryCrossentropy(from_logits=True, dtype="float64"),
         "sparse": False}),
    "activation('softmax') head": (lambda d: ccnn.Sequential([
        Dense(4, input_shape=(20,), dtype=d), Activation("softmax", dtype=d)]), {}),
    "mse": (mlp, {"loss": "mse", "sparse": False}),
    "sum reduction": (mlp, {"loss": losses.SparseCategoricalCrossentropy(reduction="sum")}),
    "from_logits sum reduction": (lambda d: ccnn.Sequential([Dense(6, input_shape=(20,),
                                                                   dtype=d)]),
                                  {"loss": losses.SparseCategoricalCrossentropy(
                                      from_logits=True, reduction="sum")}),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_unsupported_models_run_the_per_layer_path(name):
    builder, kw = FALLBACKS[name]
    a, b = twin(builder, "float32", **kw)
    assert a["used"] == 0
    assert_identical(a, b)


def test_sample_and_class_weights_run_the_per_layer_path():
    m, x, y = compiled(book, 16)
    before = train_plan.calls()
    m.train_on_batch(x, y, sample_weight=np.ones(16))
    m.train_on_batch(x, y, class_weight={0: 2.0})
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, sample_weight=np.linspace(0, 1, 16))
    assert train_plan.calls() == before
    m.train_on_batch(x, y)
    assert train_plan.calls() == before + 1


def test_switched_off_and_the_functional_model():
    m, x, y = compiled(book, 16, step=False)
    train_plan.set_enabled(False)
    assert not train_plan.is_enabled()
    before = train_plan.calls()
    m.train_on_batch(x, y)
    assert train_plan.calls() == before
    train_plan.set_enabled(True)
    inp = ccnn.Input((20,))
    fm = ccnn.Model(inp, Dense(3, activation="softmax")(Dense(5, activation="relu")(inp)))
    fm.compile("adam", "sparse_categorical_crossentropy")
    fm.train_on_batch(np.ones((4, 20), np.float32), np.array([0, 1, 2, 0]))
    assert train_plan.calls() == before + 1     # its graph's plan (train_graph)
    train_plan.set_enabled(False)
    fm.train_on_batch(np.ones((4, 20), np.float32), np.array([0, 1, 2, 0]))
    assert train_plan.calls() == before + 1
    train_plan.set_enabled(True)
    with pytest.raises(TypeError):
        train_plan.set_enabled(1)


def test_the_environment_variable_switches_it_off(tmp_path):
    code = ("from ccnn.models import train_plan, inference; "
            "print(train_plan.is_enabled(), inference.is_enabled())")
    env = dict(os.environ, CCNN_TRAIN_PLAN="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.split()   # not the source tree
    assert out == ["False", "True"]


def test_a_patched_step_keeps_its_python(monkeypatch):
    """A subclass or a test that replaces _loss_and_backward sees its calls."""
    seen = []
    backward = Trainer._loss_and_backward

    def spy(self, out, y, sw=None):
        seen.append(1)
        return backward(self, out, y) if sw is None else backward(self, out, y, sw)
    monkeypatch.setattr(ccnn.Sequential, "_loss_and_backward", spy)
    m, x, y = compiled(book, 8, step=False)
    before = train_plan.calls()
    m.train_on_batch(x, y)
    assert seen == [1] and train_plan.calls() == before


# ------------------------------------------------------------------ input, recompiles

def test_bad_input_is_rejected_before_anything_runs():
    m, x, y = compiled(book, 8)                          # the plan is compiled
    weights = [w.copy() for w in m.get_weights()]
    before = train_plan.calls()
    with pytest.raises(ValueError, match="incompatible"):
        m.train_on_batch(x[:, :27], y)
    with pytest.raises(ValueError):
        m.train_on_batch(x, np.full(8, 10))             # a label out of range
    with pytest.raises(ValueError):
        m.train_on_batch(x, y[:7])
    with pytest.raises(ValueError):
        m.train_on_batch(x, np.eye(10)[y])              # one-hot for a sparse loss
    with pytest.raises(TypeError):
        m.train_on_batch(x.astype(str), y)
    assert train_plan.calls() == before
    assert all(np.array_equal(p, q) for p, q in zip(weights, m.get_weights()))
    # a batch of another size compiles its own plan
    m.train_on_batch(x[:5], y[:5])
    assert train_plan.calls() == before + 1


def test_the_binding_checks_the_buffers():
    m, x, y = compiled(book, 8)
    plan = next(iter(m.__dict__["_train_plans"].plans.values()))
    from ccnn import _plan
    args = (plan.code, plan.reals, plan.ptrs)
    good = (x, plan.out, y)
    for bad in ((x[:4], plan.out, y), (x, plan.out[:4], y), (x, plan.out, y[:4]),
                (x.astype(np.float64), plan.out, y), (x, plan.out, y.astype(np.int32)),
                (x, plan.out.astype(np.float64), y)):
        with pytest.raises(ValueError):
            _plan.plan_train(*args, *bad, *plan.nbytes, 1)
    _plan.plan_train(*args, *good, *plan.nbytes, 1)


def _replace_weights(model):
    for layer in model.layers:
        for k in layer.params:
            layer.params[k] = layer.params[k].copy()


def test_replaced_weights_and_changed_layers_recompile():
    def job(plan):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(1)
        m = book("float64")
        m.compile("adam", "sparse_categorical_crossentropy")
        x, y = data(m, 8)
        m.train_on_batch(x, y)
        first = m.__dict__.get("_train_plans")
        first = first and dict(first.plans)
        _replace_weights(m)
        m.set_weights([w * 0.5 for w in m.get_weights()])
        m.train_on_batch(x, y)
        if plan:
            now = m.__dict__["_train_plans"].plans
            assert all(now[k] is not first[k] for k in now)
        m.pop()
        m.add(Dense(10, activation="softmax", dtype="float64"))
        m.compile("adam", "sparse_categorical_crossentropy")
        m.train_on_batch(x, y)
        m.train_on_batch(x, y)
        train_plan.set_enabled(True)
        return m
    before = train_plan.calls()
    a = job(True)
    assert train_plan.calls() == before + 4
    b = job(False)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_pickled_and_cloned_models_train_through_their_own_plan():
    m, x, y = compiled(modern, 8)
    m2 = pickle.loads(pickle.dumps(m))
    assert not m2.__dict__["_train_plans"].plans
    ccnn.utils.set_random_seed(3)
    m.train_on_batch(x, y)
    ccnn.utils.set_random_seed(3)
    before = train_plan.calls()
    m2.train_on_batch(x, y)
    assert train_plan.calls() == before + 1
    assert all(np.array_equal(p, q) for p, q in zip(m.get_weights(), m2.get_weights()))


def test_the_plan_gradients_are_compute_gradients_ones():
    """The grads a plan step leaves in the layers (before the update) are
    compute_gradients' (the per-layer backward) for the same weights."""
    ccnn.utils.set_random_seed(0)
    m = book("float64", dropout=False)
    m.compile("sgd", "sparse_categorical_crossentropy")
    ccnn.utils.set_random_seed(0)
    ref = book("float64", dropout=False)
    ref.compile("sgd", "sparse_categorical_crossentropy")
    x, y = data(m, 8)
    _, want = ref.compute_gradients(x, y)
    before = train_plan.calls()
    m.train_on_batch(x, y)
    assert train_plan.calls() == before + 1
    got = [layer.grads[k] for layer in m.layers for k in layer.params]
    assert len(got) == len(want) == 6
    assert all(np.array_equal(p, q) for p, q in zip(got, want))


# ------------------------------------------------------------------ distribution

def test_data_parallel_is_bit_identical_with_the_plan(tmp_path):
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("mpiexec is not run under the sanitizers' LD_PRELOAD (.ci/sanitize.sh); "
                    "the ordinary suite runs this test")
    pytest.importorskip("mpi4py")
    from test_distribution import run_mpi
    for plan in (True, False):
        run_mpi(tmp_path, f'''
            from ccnn.models import train_plan
            train_plan.set_enabled({plan})
            x, y = data(96)
            utils.set_random_seed(7)
            m = book(dropout=True)
            with DataParallel() as dp:
                h = m.fit(x, y, batch_size=32, epochs=2, verbose=0)
            assert (train_plan.calls() > 0) == {plan}, train_plan.calls()
            np.savez(f"w{{dp.rank}}_{int(plan)}.npz", *m.weights)
        ''')
    for rank in (0, 1):
        on = list(np.load(tmp_path / f"w{rank}_1.npz").values())
        off = list(np.load(tmp_path / f"w{rank}_0.npz").values())
        assert all(np.array_equal(p, q) for p, q in zip(on, off))


def test_freezing_and_unfreezing_a_batchnorm():
    def job(plan):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(2)
        m = modern("float32")
        m.compile("adam", "sparse_categorical_crossentropy")
        x, y = data(m, 8)
        counts = []
        for trainable in (True, False, True):
            m.layers[2].trainable = trainable
            before = train_plan.calls()
            m.train_on_batch(x, y)
            counts.append(train_plan.calls() - before)
        train_plan.set_enabled(True)
        return m, counts
    a, used = job(True)
    b, _ = job(False)
    assert used == [1, 1, 1]
    plans = list(a.__dict__["_train_plans"].plans.values())
    assert len(plans) == 2 and sorted(p.ops[1] for p in plans) == ["batchnorm(frozen)",
                                                                   "batchnorm+relu"]
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_the_readme_example_runs(capsys):
    from test_readme import README, python_blocks, run_block
    blocks = [b for b in python_blocks(README, "Performance")
              if "train_plan" in b and "fashion_mnist" in b]
    assert len(blocks) == 1
    before = train_plan.calls()
    scope = run_block(blocks[0], "README.md")
    n = min(2048, len(scope["x"]))
    assert train_plan.calls() - before == -(-n // 32)
    assert capsys.readouterr().out.strip() == str(train_plan.calls())


def test_leading_layers_that_break_their_output_shape_finish_per_layer():
    """A leading layer whose output is not its output_shape (a user's layer):
    the step goes on per layer, as without the plan."""
    class Odd(Rescaling):
        def forward(self, x, training=False):
            y = super().forward(x, training)
            return y.astype(np.float64) if training else y

    def build(dtype):
        return ccnn.Sequential([Flatten(input_shape=(6, 6, 1)), Odd(1.0),
                                Dense(3, activation="softmax")])
    a, b = twin(build, "float32", steps=2)
    assert a["used"] == 0
    assert_identical(a, b)


@pytest.mark.parametrize("name", ["book", "modern", "rgb_bn"])
def test_a_last_batch_of_one(name):
    a, b = twin(MODELS[name], "float64", fit_n=33)       # batches of 16, 16 and 1
    assert a["used"] == 3 + 2 * 3
    assert_identical(a, b)
    assert len(a["model"].__dict__["_train_plans"].plans) == 2


# ------------------------------------------------------------------ issue 18: more layers

POINTWISE = sorted(activations._POINTWISE) + ["swish"]


def pointwise_model(kind):
    """Conv2D and Dense with activation=kind (act_epilogue's fused forward),
    Activation(kind) on a channels-last image (NCHW memory) and on a flat tensor;
    small weights (random_normal), so that exponential stays finite."""
    def build(dtype):
        w = {"kernel_initializer": "random_normal", "dtype": dtype}
        return ccnn.Sequential([
            Conv2D(3, 3, activation=kind, input_shape=(9, 8, 2),
                   bias_initializer="random_normal", **w),
            Activation(kind, dtype=dtype),
            Conv2D(4, 3, strides=2, padding="same", activation=kind, use_bias=False, **w),
            Flatten(dtype=dtype), Dense(7, activation=kind, **w),
            Activation(kind, dtype=dtype), Dense(6, activation=kind, use_bias=False, **w),
            Dense(3, activation="softmax", **w)])
    return build


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", POINTWISE)
def test_every_pointwise_activation_is_bit_identical(kind, dtype):
    a, b = twin(pointwise_model(kind), dtype)
    assert a["used"] == 9
    assert_identical(a, b)
    name = activations.canonical(kind)
    (plan, *_) = a["model"].__dict__["_train_plans"].plans.values()
    assert plan.ops[:4] == ["nhwc->nchw", "conv+" + name, name, "conv+" + name]


def activation_layers(dtype):
    """LeakyReLU / ELU layers (their own alpha), channels-first and -last."""
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(2, 9, 9), data_format="channels_first", dtype=dtype),
        LeakyReLU(dtype=dtype), ELU(0.7, dtype=dtype),
        Conv2D(4, 3, data_format="channels_first", dtype=dtype),
        LeakyReLU(negative_slope=0.05, dtype=dtype), Flatten(dtype=dtype),
        Dense(8, dtype=dtype), ELU(dtype=dtype), Activation("leaky_relu", dtype=dtype),
        Dense(3, activation="softmax", dtype=dtype)])


def pools(dtype):
    """AveragePooling2D (valid and 'same': the padding not counted),
    GlobalAveragePooling2D without keepdims."""
    return ccnn.Sequential([
        Conv2D(4, 3, input_shape=(11, 10, 2), dtype=dtype, bias_initializer="random_normal"),
        AveragePooling2D(2, dtype=dtype),
        Conv2D(5, 3, padding="same", activation="relu", dtype=dtype),
        AveragePooling2D(3, strides=2, padding="same", dtype=dtype),
        GlobalAveragePooling2D(dtype=dtype), Dense(3, activation="softmax", dtype=dtype)])


def global_pools(dtype):
    """GlobalMaxPooling2D and GlobalAveragePooling2D with keepdims (then
    Flatten), channels-first and -last, and GlobalMaxPooling2D without."""
    return ccnn.Sequential([
        Conv2D(4, 3, input_shape=(9, 9, 3), dtype=dtype, bias_initializer="random_normal"),
        GlobalMaxPooling2D(keepdims=True, dtype=dtype), Flatten(dtype=dtype),
        Dense(4, activation="softmax", dtype=dtype)]) if dtype == "float32" else \
        ccnn.Sequential([
            Conv2D(4, 3, input_shape=(3, 9, 9), data_format="channels_first", dtype=dtype),
            GlobalAveragePooling2D(data_format="channels_first", keepdims=True, dtype=dtype),
            Flatten(dtype=dtype), Dense(4, activation="softmax", dtype=dtype)])


def global_max(dtype):
    return ccnn.Sequential([
        Conv2D(4, 3, input_shape=(7, 8, 2), activation="tanh", dtype=dtype),
        AveragePooling2D((2, 3), strides=(1, 2), dtype=dtype),
        GlobalMaxPooling2D(dtype=dtype), Dropout(0.2, dtype=dtype),
        Dense(4, activation="softmax", dtype=dtype)])


def image_dropout(dtype):
    """Dropout on images whose memory order is their logical order:
    channels-first, a one-channel channels-last image, a 1x1 image."""
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(2, 8, 8), data_format="channels_first", dtype=dtype),
        Dropout(0.5, dtype=dtype),
        Conv2D(1, 3, data_format="channels_first", dtype=dtype),
        Dropout(0.3, seed=4, dtype=dtype), Flatten(dtype=dtype),
        Dense(5, activation="softmax", dtype=dtype)])


def image_dropout_last(dtype):
    return ccnn.Sequential([
        Conv2D(1, 3, input_shape=(8, 8, 2), dtype=dtype), Dropout(0.5, dtype=dtype),
        Conv2D(4, 3, dtype=dtype), GlobalAveragePooling2D(keepdims=True, dtype=dtype),
        Dropout(0.4, dtype=dtype), Flatten(dtype=dtype),
        Dense(5, activation="softmax", dtype=dtype)])


def softmax_head(dtype):
    """A Softmax layer after a linear Dense: the fused softmax + cross-entropy."""
    return ccnn.Sequential([Conv2D(3, 3, input_shape=(6, 6, 1), dtype=dtype),
                            Flatten(dtype=dtype), Dense(12, activation="gelu", dtype=dtype),
                            Dense(4, dtype=dtype), Softmax(dtype=dtype)])


def logits_head(dtype):
    """A last linear Dense: the output is the logits (a from_logits loss)."""
    return ccnn.Sequential([Dense(10, activation="relu", input_shape=(20,), dtype=dtype),
                            Dropout(0.25, dtype=dtype), Dense(6, dtype=dtype)])


def image_dropout_nhwc(dtype):
    """Dropout on channels-last images of several channels and pixels: the
    mask is drawn in NHWC order (between two transposes in the plan)."""
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(8, 7, 2), dtype=dtype), Dropout(0.5, dtype=dtype),
        Conv2D(4, 3, activation="relu", dtype=dtype), MaxPooling2D(2, dtype=dtype),
        Dropout(0.25, dtype=dtype), Flatten(dtype=dtype),
        Dense(5, activation="softmax", dtype=dtype)])


def spatial_dropout(dtype):
    """SpatialDropout2D channels-last (NCHW memory) and channels-first, with a
    seed of its own, rate 0 (the identity) and between two Dropouts (one
    generator, the layers' order)."""
    return ccnn.Sequential([
        Conv2D(4, 3, input_shape=(9, 8, 2), dtype=dtype), SpatialDropout2D(0.5, dtype=dtype),
        Conv2D(5, 3, activation="relu", dtype=dtype), Dropout(0.2, dtype=dtype),
        SpatialDropout2D(0.3, seed=11, dtype=dtype), SpatialDropout2D(0.0, dtype=dtype),
        Dropout(0.3, dtype=dtype), Flatten(dtype=dtype),
        Dense(5, activation="softmax", dtype=dtype)])


def spatial_dropout_cf(dtype):
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(2, 8, 8), data_format="channels_first", dtype=dtype),
        SpatialDropout2D(0.5, data_format="channels_first", dtype=dtype),
        Flatten(dtype=dtype), Dense(4, activation="softmax", dtype=dtype)])


MORE = {"activation_layers": activation_layers, "spatial_dropout": spatial_dropout,
        "spatial_dropout_cf": spatial_dropout_cf, "image_dropout_nhwc": image_dropout_nhwc, "pools": pools, "global_pools": global_pools,
        "global_max": global_max, "image_dropout": image_dropout,
        "image_dropout_last": image_dropout_last, "softmax_head": softmax_head}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MORE))
def test_more_layers_are_bit_identical(name, dtype):
    a, b = twin(MORE[name], dtype)
    assert a["used"] == 9
    assert_identical(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,sparse", [
    (losses.SparseCategoricalCrossentropy(from_logits=True), True),
    (losses.CategoricalCrossentropy(from_logits=True), False),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), False),
    (losses.SparseCategoricalCrossentropy(from_logits=True,
                                          reduction="mean_with_sample_weight"), True)])
def test_a_from_logits_loss_is_bit_identical(loss, sparse, dtype):
    a, b = twin(logits_head, dtype, loss=loss, sparse=sparse)
    assert a["used"] == 9
    assert_identical(a, b)
    plans = a["model"].__dict__["_train_plans"].plans.values()
    assert len(plans) == 2          # batches of 16 and the last of 8
    assert all(p.ops == ["dense+relu", "dropout", "dense", "cross_entropy(from_logits)"]
               for p in plans)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_layer_head_with_one_hot_targets(dtype):
    a, b = twin(softmax_head, dtype, loss="categorical_crossentropy", sparse=False)
    assert a["used"] == 9
    assert_identical(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_more_layers_at_each_thread_count(threads):
    for builder in (pointwise_model("gelu"), pools, image_dropout):
        a, b = twin(builder, "float32", threads=threads)
        assert a["used"] == 9
        assert_identical(a, b)


def bce_model(dtype):
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(7, 7, 2), activation="elu", dtype=dtype), Flatten(dtype=dtype),
        Dense(9, activation="relu", dtype=dtype), Dropout(0.3, dtype=dtype),
        Dense(4, activation="sigmoid", dtype=dtype, bias_initializer="random_normal")])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["binary_crossentropy",
                                  losses.BinaryCrossentropy(label_smoothing=0.1),
                                  losses.BinaryCrossentropy(reduction="mean_with_sample_weight")])
def test_sigmoid_binary_cross_entropy_head(loss, dtype):
    """Dense(sigmoid) + BinaryCrossentropy: the loss and d(loss)/d(logits) from
    the Dense's pre-activation (multi-label targets in [0, 1])."""
    a, b = twin(bce_model, dtype, loss=loss, sparse=False)
    assert a["used"] == 9
    assert_identical(a, b)
    plans = list(a["model"].__dict__["_train_plans"].plans.values())
    assert plans[0].ops == ["nhwc->nchw", "conv+elu", "nchw->nhwc", "dense+relu", "dropout",
                            "dense+sigmoid", "sigmoid+binary_cross_entropy"]


def test_sigmoid_head_with_one_output_and_labels_of_shape_n():
    def build(dtype):
        return ccnn.Sequential([Dense(5, activation="tanh", input_shape=(20,), dtype=dtype),
                                Dense(1, activation="sigmoid", dtype=dtype)])
    for plan in (True, False):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(1)
        m = build("float64")
        m.compile("sgd", "binary_crossentropy")
        x = np.random.default_rng(0).random((12, 20))
        y = (x[:, 0] > 0.5).astype(np.float64)             # (n,), not (n, 1)
        before = train_plan.calls()
        losses_ = [m.train_on_batch(x, y) for _ in range(3)]
        assert train_plan.calls() - before == (3 if plan else 0)
        if plan:
            want_w, want_l = m.get_weights(), losses_
    train_plan.set_enabled(True)
    assert losses_ == want_l
    assert all(np.array_equal(p, q) for p, q in zip(want_w, m.get_weights()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_cross_entropy_from_logits(smoothing, dtype):
    def build(d):
        return ccnn.Sequential([Dense(6, activation="silu", input_shape=(20,), dtype=d),
                                Dropout(0.2, dtype=d), Dense(3, dtype=d)])
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    a, b = twin(build, dtype, loss=loss, sparse=False)
    assert a["used"] == 9
    assert_identical(a, b)
    plans = list(a["model"].__dict__["_train_plans"].plans.values())
    assert plans[0].ops == ["dense+silu", "dropout", "dense", "binary_cross_entropy(from_logits)"]


# ------------------------------------------------- BatchNormalization + ReLU

def bn_chain(dtype):
    """BatchNormalization + ReLU() and + Activation('relu') on images (channels
    in runs) and on a Dense output (channels in rows)."""
    return ccnn.Sequential([
        Conv2D(3, 3, input_shape=(6, 5, 3), dtype=dtype),
        BatchNormalization(dtype=dtype, beta_initializer="random_normal"), ReLU(dtype=dtype),
        Conv2D(4, 3, padding="same", use_bias=False, dtype=dtype),
        BatchNormalization(dtype=dtype), Activation("relu", dtype=dtype),
        Flatten(dtype=dtype), Dense(7, dtype=dtype), BatchNormalization(dtype=dtype),
        ReLU(dtype=dtype), Dense(3, activation="softmax", dtype=dtype)])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_relu_fused_is_bit_identical(dtype, threads):
    for builder in (bn_chain, rgb_bn, channels_first):
        a, b = twin(builder, dtype, threads=threads)
        assert a["used"] == 9
        assert_identical(a, b)


def test_the_full_modern_model_fuses_bit_identically():
    """build_modern_model's 32 / 64 channels: the threaded channel loops."""
    from ccnn.cli import build_modern_model
    for threads in (1, 2):
        a, b = twin(lambda dtype: build_modern_model(), "float32", fit_n=20, threads=threads)
        assert a["used"] == 3 + 2 * 2
        assert_identical(a, b)


# ------------------------------------------------- the compiled ops

BUILDERS = {**MODELS, **MORE, "bn_chain": bn_chain}


@pytest.mark.parametrize("name,ops", [
    ("book", ["conv+relu+maxpool2", "nchw->nhwc", "dropout", "dense+relu", "dense",
              "softmax+cross_entropy"]),
    ("book_rgb", ["nhwc->nchw", "conv+relu+maxpool2", "nchw->nhwc", "dropout", "dense+relu",
                  "dense", "softmax+cross_entropy"]),
    ("modern", ["conv", "batchnorm+relu"] * 2 + ["maxpool"] + ["conv", "batchnorm+relu"] * 2
     + ["maxpool", "nchw->nhwc", "dropout", "dense+relu", "dense", "softmax+cross_entropy"]),
    ("leading", ["conv+relu", "maxpool", "nchw->nhwc", "dense", "softmax+cross_entropy"]),
    # more layers
    ("pools", ["nhwc->nchw", "conv", "avgpool", "conv+relu", "avgpool", "global_avgpool",
               "dense", "softmax+cross_entropy"]),
    ("global_max", ["nhwc->nchw", "conv+tanh", "avgpool", "global_maxpool", "dropout", "dense",
                    "softmax+cross_entropy"]),
    ("image_dropout", ["conv", "dropout", "conv", "dropout", "dense",
                       "softmax+cross_entropy"]),
    ("activation_layers", ["conv", "leaky_relu", "elu", "conv", "leaky_relu", "dense", "elu",
                           "leaky_relu", "dense", "softmax+cross_entropy"]),
    ("softmax_head", ["conv", "nchw->nhwc", "dense+gelu", "dense", "softmax+cross_entropy"]),
    ("spatial_dropout", ["nhwc->nchw", "conv", "spatial_dropout", "conv+relu", "nchw->nhwc",
                         "dropout", "nhwc->nchw", "spatial_dropout", "nchw->nhwc", "dropout",
                         "dense", "softmax+cross_entropy"]),
    ("image_dropout_nhwc", ["nhwc->nchw", "conv", "nchw->nhwc", "dropout", "nhwc->nchw",
                            "conv+relu", "maxpool", "nchw->nhwc", "dropout", "dense",
                            "softmax+cross_entropy"]),
    # BatchNormalization + ReLU
    ("bn_chain", ["nhwc->nchw", "conv", "batchnorm+relu", "conv", "batchnorm+relu",
                  "nchw->nhwc", "dense", "batchnorm+relu", "dense", "softmax+cross_entropy"]),
    ("rgb_bn", ["nhwc->nchw", "conv", "batchnorm+relu", "nchw->nhwc", "dense",
                "batchnorm+relu", "dense", "softmax+cross_entropy"]),
    ("channels_first", ["conv+relu+maxpool2", "batchnorm+relu", "dense+relu", "dropout",
                        "dense", "softmax+cross_entropy"]),
])
def test_the_compiled_ops(name, ops):
    """The plan's ops, and the leading layers it leaves to Python (the
    RandomTranslation of modern; Rescaling and RandomTranslation of leading)."""
    m, x, y = compiled(BUILDERS[name], 4)
    (plan,) = m.__dict__["_train_plans"].plans.values()
    assert plan.ops == ops
    assert len(plan.lead) == {"leading": 2, "modern": 1}.get(name, 0)


# ------------------------------------------------------------------ the step's Python (issue 18)

def test_a_held_dropout_mask_is_never_overwritten():
    """The plan hands each step's mask buffer to the layer without a copy and
    writes the next step's into another: a mask someone holds (or a view of
    it) keeps its values, each step's mask is the per-layer path's, and a
    mask nobody holds is reused (two buffers in turn, no allocation a step)."""
    def steps(plan_on, hold):
        train_plan.set_enabled(plan_on)
        ccnn.utils.set_random_seed(3)
        m = book("float32")
        m.compile("adam", "sparse_categorical_crossentropy")
        x, y = data(m, 8)
        drop = m.layers[3]
        held, masks, ids = [], [], []
        for i in range(6):
            m.train_on_batch(x, y)
            masks.append(drop.mask.copy())
            ids.append(id(drop.mask))
            if i in hold:
                held.append(drop.mask if i % 2 else drop.mask[2:])    # the array, a view
        train_plan.set_enabled(True)
        return masks, held, ids
    ref, _, _ = steps(False, ())
    masks, held, _ = steps(True, (1, 2))
    for a, b in zip(ref, masks):
        assert a.dtype == b.dtype == np.bool_ and np.array_equal(a, b)
    assert np.array_equal(held[0], ref[1]) and np.array_equal(held[1], ref[2][2:])
    assert len({m.tobytes() for m in ref}) == len(ref)        # the masks do change
    _, _, ids = steps(True, ())
    assert len(set(ids[2:])) == 2                           # after the first, two in turn


@pytest.mark.parametrize("bitgen", ["PCG64", "SFC64", "MT19937"])
def test_dropout_seeds_from_any_generator_are_the_per_layer_ones(bitgen):
    """The plan draws a Dropout's seed with random_raw for the bit generators
    whose raw output is 64 bits (integers(0, 2**64, uint64) is that output)
    and with integers otherwise (MT19937's raw output is 32 bits)."""
    def run_with(plan_on):
        train_plan.set_enabled(plan_on)
        ccnn.utils.set_random_seed(0)
        m = book("float32")
        m.compile("adam", "sparse_categorical_crossentropy")
        m.layers[3].rng = np.random.Generator(getattr(np.random, bitgen)(7))
        x, y = data(m, 8)
        before = train_plan.calls()
        losses_ = [m.train_on_batch(x, y) for _ in range(3)]
        used = train_plan.calls() - before
        train_plan.set_enabled(True)
        return losses_, m.get_weights(), m.layers[3].mask, used, m.layers[3].rng.integers(1 << 30)
    a, b = run_with(True), run_with(False)
    assert a[3] == 3 and b[3] == 0
    assert a[0] == b[0] and np.array_equal(a[2], b[2]) and a[4] == b[4]
    assert all(np.array_equal(p, q) for p, q in zip(a[1], b[1]))


def test_a_bad_label_leaves_everything_as_it_was():
    """A label out of range raises the per-layer path's ValueError before the
    plan runs: weights, optimizer state, iteration count, the generator the
    Dropout draws from and the metrics are untouched."""
    ccnn.utils.set_random_seed(0)
    m = book("float32")
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(m, 8)
    m.train_on_batch(x, y)
    weights = [w.copy() for w in m.get_weights()]
    state = [v.copy() for v in m.optimizer.variables]
    rng_state = ccnn.utils.get_rng().bit_generator.state
    acc = m._compiled_metrics()[0]
    total, count = acc.total, acc.count
    before, iterations = train_plan.calls(), m.optimizer.iterations
    for bad in (10, -1):
        yb = y.copy()
        yb[5] = bad
        with pytest.raises(ValueError, match=f"y out of range: found label {bad}, but the model "
                                             r"has 10 classes, so labels must lie in \[0, 9\]"):
            m.train_on_batch(x, yb)
    assert train_plan.calls() == before and m.optimizer.iterations == iterations
    assert all(np.array_equal(p, q) for p, q in zip(weights, m.get_weights()))
    assert all(np.array_equal(p, q) for p, q in zip(state, m.optimizer.variables))
    assert ccnn.utils.get_rng().bit_generator.state == rng_state
    assert (acc.total, acc.count) == (total, count)


def test_the_leading_layers_check_is_one_helper_for_both_plans(monkeypatch):
    """_Builder.plan_input: the plan's input after the leading layers (run in
    Python), Unsupported for a leading layer of another dtype or an unknown
    output shape; the Sequential and the functional plans both ask it."""
    from ccnn.models import train_graph
    from ccnn.models.plan_chain import Unsupported
    builder = train_plan._Builder
    seq = leading("float32")
    seq.build((None, 10, 10, 1))
    lead = seq.layers[:2]
    assert builder.plan_input(lead, (4, 10, 10, 1), np.float32) == (4, 10, 10, 1)
    assert builder.plan_input([], (4, 7), "float64") == (4, 7)
    flat = Flatten()
    flat.build((None, 10, 10, 1))
    assert builder.plan_input(lead + [flat], (4, 10, 10, 1), "float32") == (4, 100)
    with pytest.raises(Unsupported, match="dtype"):
        builder.plan_input(lead, (4, 10, 10, 1), np.float64)
    with pytest.raises(Unsupported, match="output shape"):
        builder.plan_input([Rescaling(0.5)], (4, 10, 10, 1), "float32")
    inp = ccnn.Input((10, 10, 1))
    x = Rescaling(0.5)(inp)
    graph = ccnn.Model(inp, Dense(3, activation="softmax")(Flatten()(Conv2D(2, 3)(x))))
    graph.compile(loss="sparse_categorical_crossentropy")
    seq.compile(loss="sparse_categorical_crossentropy")
    asked = []

    def refuse(leading_layers, x_shape, dtype):
        asked.append([type(layer).__name__ for layer in leading_layers])
        raise Unsupported("refused")
    monkeypatch.setattr(builder, "plan_input", staticmethod(refuse))
    steps = seq._execution_plan().steps
    with pytest.raises(Unsupported, match="refused"):
        train_plan.compile_plan(steps, seq.loss, (4, 10, 10, 1), "float32")
    with pytest.raises(Unsupported, match="refused"):
        train_graph.compile_graph_plan(graph, (4, 10, 10, 1), "float32")
    assert asked == [["Rescaling", "RandomTranslation"], ["Rescaling"]]


def test_is_model_marks_the_nested_models_and_finds_their_regularizers():
    from ccnn.layers import Layer
    from ccnn.models.nested import ModelLayer
    inner = _regularized("float32")
    plain = ccnn.Sequential([Dense(8, input_shape=(20,)), Dense(3)])
    assert Layer.is_model is False and ModelLayer.is_model is True
    assert inner.is_model is True and ccnn.Model.is_model is True
    assert not any(layer.is_model for layer in inner.layers)
    assert train_plan._uses_regularizers([Dense(3), inner])           # inside the nested model
    assert not train_plan._uses_regularizers([Dense(3), plain])
    assert not hasattr(train_plan, "_nested_types")


def _two_steps(builder, dtype, plan):
    """Two train_on_batch steps of a fresh model (seeded); with the plan, its
    gradient buffers (the layers' grads after a plan step) filled with NaN
    between them: the kernels must write every element of the second step's."""
    train_plan.set_enabled(plan)
    ccnn.utils.set_random_seed(5)
    m = builder(dtype)
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(m, 16)
    before = train_plan.calls()
    losses = [m.train_on_batch(x, y)]
    poisoned = [g for layer in m.layers for g in layer.grads.values()] if plan else []
    for g in poisoned:
        g.fill(np.nan)
    losses.append(m.train_on_batch(x, y))
    train_plan.set_enabled(True)
    # the buffers poisoned are those the second step wrote
    assert all(map(operator.is_, poisoned, (g for layer in m.layers
                                             for g in layer.grads.values())))
    return (losses, [{k: g.copy() for k, g in layer.grads.items()} for layer in m.layers],
            m.get_weights(), train_plan.calls() - before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_every_weight_gradient_is_written_by_the_step(name, dtype):
    """No zero-fill of the weight and bias gradients is needed: stale (NaN)
    values in the plan's buffers do not reach the next step's results."""
    la, ga, wa, used = _two_steps(MODELS[name], dtype, True)
    lb, gb, wb, unused = _two_steps(MODELS[name], dtype, False)
    assert used == 2 and unused == 0
    assert la == lb
    assert any(gb)
    for a, b in zip(ga, gb):
        assert a.keys() == b.keys()
        for k in b:
            assert np.isfinite(b[k]).all()
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
    for a, b in zip(wa, wb):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_a_float64_model_built_at_its_first_batch_takes_the_plan(fmt):
    """No Input and no input_shape: the model is built (and its dtype read from
    its layers) at fit's first batch of float64 data; the plan runs every step
    and ends with the per-layer path's bits."""
    shape = (8, 8, 2) if fmt == "channels_last" else (2, 8, 8)
    rng = np.random.default_rng(3)
    x, y = rng.random((24,) + shape), rng.integers(0, 5, 24)
    results = []
    for plan in (True, False):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(4)
        m = ccnn.Sequential([Conv2D(3, 3, activation="relu", data_format=fmt, dtype="float64"),
                             MaxPooling2D(2, data_format=fmt, dtype="float64"),
                             Flatten(dtype="float64"), Dense(5, dtype="float64")])
        m.compile(optimizer="adam",
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
        calls = train_plan.calls()
        h = m.fit(x, y, batch_size=8, epochs=2, verbose=0)
        results.append((train_plan.calls() - calls, h.history["loss"], m.get_weights()))
    (used, loss_a, w_a), (unused, loss_b, w_b) = results
    assert used == 6 and unused == 0
    assert loss_a == loss_b
    assert all(a.dtype == np.float64 and np.array_equal(a, b) for a, b in zip(w_a, w_b))
