"""The training plan of a functional model (ccnn.models.train_graph).

The reference is the per-layer training step of ccnn.models.Model (the plan
switched off; Model._forward / _backward, which the rest of the suite checks
against NumPy, torch and Keras).  The plan calls the same kernels and sums
each value's gradients in Model._backward's order, so from identical
weights, optimizer and seeds every loss, output, weight, gradient, optimizer
state and moving statistic must be bit-identical (np.array_equal) after
several train_on_batch steps and fit epochs.
"""
import numpy as np
import pytest

import ccnn
from ccnn.layers import (ELU, Activation, Add, BatchNormalization, Concatenate, Conv2D, Dense,
                         Flatten, GlobalAveragePooling2D, LeakyReLU, MaxPooling2D, Multiply,
                         RandomTranslation, ReLU, Subtract)
from ccnn.cli import build_resnet_small
from ccnn.models import train_plan

from _twin import _plan_on, assert_identical, data, run, twin  # noqa: F401 (autouse)

DTYPES = ("float32", "float64")


# ------------------------------------------------------------------ models

def resnet(dtype, size=8):
    """ccnn.cli.build_resnet_small's structure, fewer filters, a smaller input."""
    def conv_bn(x, filters, strides=1, relu=True):
        x = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, dtype=dtype)(x)
        x = BatchNormalization(dtype=dtype, beta_initializer="random_normal",
                               gamma_initializer="random_uniform")(x)
        return Activation("relu", dtype=dtype)(x) if relu else x

    def block(x, filters, strides=1):
        shortcut = x
        if strides != 1 or x.shape[-1] != filters:
            shortcut = Conv2D(filters, 1, strides=strides, use_bias=False, dtype=dtype)(x)
            shortcut = BatchNormalization(dtype=dtype)(shortcut)
        y = conv_bn(x, filters, strides)
        y = conv_bn(y, filters, relu=False)
        return Activation("relu", dtype=dtype)(Add(dtype=dtype)([y, shortcut]))

    inp = ccnn.Input((size, size, 1))
    x = RandomTranslation(0.1, 0.1, dtype=dtype)(inp)
    x = conv_bn(x, 4)
    x = block(x, 4)
    x = block(x, 6, strides=2)
    x = GlobalAveragePooling2D(dtype=dtype)(x)
    return ccnn.Model(inp, Dense(5, activation="softmax", dtype=dtype)(x))


def skip(dtype):
    """A value (h) read by a Dense and by the Add after it."""
    inp = ccnn.Input((7,))
    h = Dense(8, activation="relu", dtype=dtype, bias_initializer="random_normal")(inp)
    a = Add(dtype=dtype)([Dense(8, dtype=dtype)(h), h])
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(a))


def read_twice(dtype):
    """A value read by two layers with weights (its gradients summed), an Add
    of the same value twice, a BatchNormalization whose output two layers read."""
    inp = ccnn.Input((6, 6, 2))
    c = Conv2D(3, 3, padding="same", dtype=dtype, bias_initializer="random_normal")(inp)
    b = BatchNormalization(dtype=dtype, beta_initializer="random_normal")(c)
    r = ReLU(dtype=dtype)(b)
    p = Conv2D(3, 1, dtype=dtype)(b)
    q = Conv2D(3, 3, padding="same", activation="relu", dtype=dtype)(r)
    s = Add(dtype=dtype)([p, q])
    s = Add(dtype=dtype)([s, s])
    f = Flatten(dtype=dtype)(MaxPooling2D(dtype=dtype)(s))
    u = Dense(6, activation="relu", dtype=dtype)(f)
    v = Dense(6, activation="tanh", dtype=dtype)(f)
    return ccnn.Model(inp, Dense(4, activation="softmax", dtype=dtype)(Add(dtype=dtype)([u, v])))


def channels_first(dtype):
    inp = ccnn.Input((2, 6, 6))
    c = Conv2D(3, 3, padding="same", data_format="channels_first", dtype=dtype)(inp)
    d = Conv2D(3, 3, padding="same", activation="relu", data_format="channels_first",
               dtype=dtype)(c)
    s = Add(dtype=dtype)([c, d])
    g = GlobalAveragePooling2D(data_format="channels_first", dtype=dtype)(s)
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(g))


def subtract(dtype):
    """Subtract: its second input's gradient negated, summed with another."""
    inp = ccnn.Input((5,))
    h = Dense(4, activation="relu", dtype=dtype)(inp)
    g = Dense(4, dtype=dtype, bias_initializer="random_normal")(h)
    s = Subtract(dtype=dtype)([Dense(4, dtype=dtype)(h), g])
    s = Subtract(dtype=dtype)([g, s])
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(Add(dtype=dtype)([s, h])))


def pointwise(dtype):
    """Pointwise activations as graph ops: a value read by two of them."""
    inp = ccnn.Input((5,))
    h = Dense(4, dtype=dtype, bias_initializer="random_normal")(inp)
    a = LeakyReLU(0.2, dtype=dtype)(h)
    b = Activation("sigmoid", dtype=dtype)(h)
    s = ELU(dtype=dtype)(Add(dtype=dtype)([Dense(4, dtype=dtype)(a), b]))
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(s))


MODELS = {"resnet": resnet, "skip": skip, "read_twice": read_twice,
          "channels_first": channels_first, "subtract": subtract,
          "pointwise": pointwise}


# ------------------------------------------------------------------ bit-identity

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_bit_identical_to_the_per_layer_step(name, dtype):
    a, b = twin(MODELS[name], dtype)
    assert a["used"] == 3 + 2 * 3        # every step through the plan
    assert_identical(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_bit_identical_at_each_thread_count(threads):
    a, b = twin(resnet, "float32", threads=threads)
    assert a["used"] == 9
    assert_identical(a, b)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_other_optimizers(optimizer):
    a, b = twin(read_twice, "float64", optimizer=optimizer)
    assert a["used"] == 9
    assert_identical(a, b)


def _steps_both_ways(build, seed, n, steps, loss="sparse_categorical_crossentropy",
                     one_hot=False):
    """`steps` train_on_batch steps of a fresh model, plan on then off: the
    losses and weights must be identical, every plan step through the plan."""
    out = []
    for plan in (True, False):
        train_plan.set_enabled(plan)
        ccnn.utils.set_random_seed(seed)
        m = build()
        m.compile("adam", loss)
        x, y = data(m, n, sparse=not one_hot)
        before = train_plan.calls()
        losses = [m.train_on_batch(x, y) for _ in range(steps)]
        out.append((m, losses, train_plan.calls() - before))
    (ma, la, ua), (mb, lb, ub) = out
    assert (ua, ub) == (steps, 0) and la == lb
    for p, q in zip(ma.get_weights(), mb.get_weights()):
        assert np.array_equal(p, q)


def test_one_hot_targets():
    _steps_both_ways(lambda: skip("float32"), 3, 16, 3, "categorical_crossentropy",
                     one_hot=True)


def test_the_resnet_small_of_ccnn_train():
    _steps_both_ways(build_resnet_small, 1, 8, 2)


# ------------------------------------------------------------------ fallbacks

def _multiply(dtype):
    inp = ccnn.Input((5,))
    h = Dense(4, dtype=dtype)(inp)
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(
        Multiply(dtype=dtype)([h, Dense(4, dtype=dtype)(inp)])))


def _three(dtype):
    inp = ccnn.Input((5,))
    hs = [Dense(4, dtype=dtype)(inp) for _ in range(3)]
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(Add(dtype=dtype)(hs)))


def _shared(dtype):
    inp = ccnn.Input((4,))
    d = Dense(4, activation="relu", dtype=dtype)
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(d(d(inp))))


def _concat(dtype):
    inp = ccnn.Input((5,))
    return ccnn.Model(inp, Dense(3, activation="softmax", dtype=dtype)(Concatenate(
        dtype=dtype)([Dense(4, dtype=dtype)(inp), Dense(2, dtype=dtype)(inp)])))


def _add_output(dtype):
    inp = ccnn.Input((5,))
    return ccnn.Model(inp, Add(dtype=dtype)([Dense(3, dtype=dtype)(inp),
                                             Dense(3, dtype=dtype)(inp)]))


@pytest.mark.parametrize("builder, loss", [
    (_multiply, "sparse_categorical_crossentropy"),
    (_three, "sparse_categorical_crossentropy"),
    (_shared, "sparse_categorical_crossentropy"),
    (_concat, "sparse_categorical_crossentropy"),
    (_add_output, ccnn.losses.SparseCategoricalCrossentropy(from_logits=True))])
def test_unsupported_graphs_run_the_per_layer_path(builder, loss):
    a = run(builder, "float32", True, loss=loss)
    b = run(builder, "float32", False, loss=loss)
    assert a["used"] == b["used"] == 0
    assert_identical(a, b)


def test_the_readme_example_runs(capsys):
    from test_readme import README, python_blocks, run_block
    blocks = [b for b in python_blocks(README, "Performance")
              if "train_plan" in b and "Add()" in b]
    assert len(blocks) == 1
    run_block(blocks[0], "README.md")
    assert capsys.readouterr().out.strip() == "1"
