"""Every public layer, through both compiled plans (issue 18).

For each layer class ccnn.layers exports, a small model holding it is run
with the plans on and with them off (the per-layer path, which the rest of
the suite checks against NumPy, torch and Keras):

* inference: predict_on_batch, bit-identical (np.array_equal), except where
  the inference plan folds a BatchNormalization into the layer before it
  (documented: equal within a rounding tolerance);
* training: train_on_batch steps and a fit epoch, every loss, output,
  weight, gradient and optimizer slot bit-identical (test_train_plan's twin).

A layer the plans do not compile runs the per-layer path with the plan on,
so the comparison holds trivially; the sets COMPILED_* record which layers
each plan compiles, so a layer that stops being compiled (or starts) shows
here.  TABLE must name every public layer: a new layer joins this test.
"""
import inspect

import numpy as np
import pytest

import ccnn
import ccnn.layers as L
from ccnn.models import inference, train_plan

from test_inference_plan import randomize_bn
from _twin import assert_identical, twin

DTYPES = ("float32", "float64")


@pytest.fixture(autouse=True)
def _plans_on():
    inference.set_enabled(True)
    train_plan.set_enabled(True)
    yield
    inference.set_enabled(True)
    train_plan.set_enabled(True)


def conv(d):
    """A first conv, so that the layer under test has an input gradient to give."""
    return L.Conv2D(3, 3, padding="same", activation="relu", dtype=d)


IMG, SEQ, VEC = (8, 8, 2), (10, 3), (12,)

# layer class: (the layers after Input (dtype -> list), input shape without the batch)
TABLE = {
    "Conv2D": (lambda d: [L.Conv2D(4, 3, strides=2, activation="tanh", dtype=d)], IMG),
    "MaxPooling2D": (lambda d: [conv(d), L.MaxPooling2D(dtype=d)], IMG),
    "AveragePooling2D": (lambda d: [conv(d), L.AveragePooling2D(dtype=d)], IMG),
    "GlobalAveragePooling2D": (lambda d: [conv(d), L.GlobalAveragePooling2D(dtype=d)], IMG),
    "GlobalMaxPooling2D": (lambda d: [conv(d), L.GlobalMaxPooling2D(dtype=d)], IMG),
    "Flatten": (lambda d: [conv(d), L.Flatten(dtype=d)], IMG),
    "Dropout": (lambda d: [L.Dense(8, dtype=d), L.Dropout(0.4, dtype=d)], VEC),
    "Dense": (lambda d: [L.Dense(8, activation="relu", dtype=d)], VEC),
    "ReLU": (lambda d: [L.Dense(8, dtype=d), L.ReLU(dtype=d)], VEC),
    "LeakyReLU": (lambda d: [L.Dense(8, dtype=d), L.LeakyReLU(0.2, dtype=d)], VEC),
    "ELU": (lambda d: [L.Dense(8, dtype=d), L.ELU(dtype=d)], VEC),
    "Softmax": (lambda d: [L.Dense(3, dtype=d), L.Softmax(dtype=d)], VEC),
    "BatchNormalization": (lambda d: [L.Conv2D(3, 3, dtype=d), L.BatchNormalization(dtype=d)],
                           IMG),
    "RandomTranslation": (lambda d: [L.RandomTranslation(0.2, 0.2, dtype=d), conv(d)], IMG),
    "Activation": (lambda d: [L.Dense(8, dtype=d), L.Activation("tanh", dtype=d)], VEC),
    "Reshape": (lambda d: [L.Dense(8, dtype=d), L.Reshape((2, 4), dtype=d)], VEC),
    "Permute": (lambda d: [conv(d), L.Permute((2, 1, 3), dtype=d)], IMG),
    "ZeroPadding2D": (lambda d: [conv(d), L.ZeroPadding2D(1, dtype=d)], IMG),
    "ZeroPadding1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.ZeroPadding1D(1, dtype=d)], SEQ),
    "Cropping2D": (lambda d: [conv(d), L.Cropping2D(1, dtype=d)], IMG),
    "Cropping1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.Cropping1D(1, dtype=d)], SEQ),
    "UpSampling2D": (lambda d: [conv(d), L.UpSampling2D(2, dtype=d)], IMG),
    "UpSampling1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.UpSampling1D(2, dtype=d)], SEQ),
    "Conv1D": (lambda d: [L.Conv1D(4, 3, activation="relu", dtype=d)], SEQ),
    "MaxPooling1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.MaxPooling1D(2, dtype=d)], SEQ),
    "AveragePooling1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.AveragePooling1D(2, dtype=d)],
                         SEQ),
    "GlobalAveragePooling1D": (lambda d: [L.Conv1D(4, 3, dtype=d),
                                          L.GlobalAveragePooling1D(dtype=d)], SEQ),
    "GlobalMaxPooling1D": (lambda d: [L.Conv1D(4, 3, dtype=d), L.GlobalMaxPooling1D(dtype=d)],
                           SEQ),
    "PReLU": (lambda d: [L.Dense(8, dtype=d), L.PReLU(alpha_initializer="random_uniform",
                                                      dtype=d)], VEC),
    "LayerNormalization": (lambda d: [L.Dense(8, dtype=d), L.LayerNormalization(dtype=d)], VEC),
    "DepthwiseConv2D": (lambda d: [conv(d), L.DepthwiseConv2D(3, depth_multiplier=2, dtype=d)],
                        IMG),
    "SeparableConv2D": (lambda d: [conv(d), L.SeparableConv2D(4, 3, dtype=d)], IMG),
    "Conv2DTranspose": (lambda d: [conv(d), L.Conv2DTranspose(2, 3, strides=2, dtype=d)], IMG),
    "RandomFlip": (lambda d: [L.RandomFlip(dtype=d), conv(d)], IMG),
    "RandomRotation": (lambda d: [L.RandomRotation(0.1, dtype=d), conv(d)], IMG),
    "RandomZoom": (lambda d: [L.RandomZoom(0.2, dtype=d), conv(d)], IMG),
    # at inference Keras's RandomCrop returns its input whole, which a layer
    # that takes any height and width (Keras's InputSpec) then accepts
    "RandomCrop": (lambda d: [L.RandomCrop(6, 6, dtype=d), L.GlobalAveragePooling2D(dtype=d)],
                   IMG),
    "RandomContrast": (lambda d: [L.RandomContrast(0.3, value_range=(0, 1), dtype=d), conv(d)],
                       IMG),
    "Rescaling": (lambda d: [L.Rescaling(0.5, offset=-0.25, dtype=d), conv(d)], IMG),
    "Resizing": (lambda d: [L.Resizing(6, 7, dtype=d), conv(d)], IMG),
    "Normalization": (lambda d: [L.Normalization(mean=0.5, variance=0.1, dtype=d), conv(d)],
                      IMG),
    "SpatialDropout2D": (lambda d: [conv(d), L.SpatialDropout2D(0.4, dtype=d)], IMG),
    "GaussianNoise": (lambda d: [L.Dense(8, dtype=d), L.GaussianNoise(0.3, dtype=d)], VEC),
    "GaussianDropout": (lambda d: [L.Dense(8, dtype=d), L.GaussianDropout(0.3, dtype=d)], VEC),
}
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
NOT_LAYERS = ("Layer", "InputLayer")     # the base class; Input's layer (in every model here)

#: the layers under test each plan compiles (the training plan's merges: train_graph's)
COMPILED_INFERENCE = set(MERGES) | {
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "Flatten", "Dropout", "Dense", "ReLU", "LeakyReLU", "ELU", "Softmax",
    "BatchNormalization", "RandomTranslation", "Activation", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout",
    # identity at inference (Keras): left out of the plan
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomCrop",
    # leading: its forward runs before the plan's call (tests/test_resizing_plan.py)
    "Resizing"}
COMPILED_TRAINING = {
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "Flatten", "Dropout", "Dense", "ReLU", "LeakyReLU", "ELU", "Softmax",
    "BatchNormalization", "Activation", "SpatialDropout2D",
    # leading layers without weights: their forward runs before the plan's call
    "RandomTranslation", "Rescaling", "Resizing", "Normalization", "RandomFlip",
    "RandomRotation",
    "RandomZoom", "RandomCrop", "RandomContrast",
    # a functional model's graph (ccnn.models.train_graph)
    "Add", "Subtract"}


def sequential(name, dtype):
    make, shape = TABLE[name]
    m = ccnn.Sequential([ccnn.Input(shape), *make(dtype)])
    if name == "Softmax":           # the training plan's head: not followed by another
        return m
    if len(m.output_shape) > 2:
        m.add(L.Flatten(dtype=dtype))
    m.add(L.Dense(3, activation="softmax", dtype=dtype))
    return m


def merged(name, dtype):
    a = ccnn.Input(VEC, dtype=dtype)
    left = L.Dense(6, activation="relu", dtype=dtype)(a)
    right = L.Dense(6, dtype=dtype)(a)
    out = getattr(L, name)(dtype=dtype)([left, right])
    return ccnn.models.Model(a, L.Dense(3, activation="softmax", dtype=dtype)(out))


def build(name, dtype):
    return merged(name, dtype) if name in MERGES else sequential(name, dtype)


def test_the_table_names_every_public_layer():
    # each class once, by its own name (Keras's aliases, MaxPool2D..., are the same classes)
    public = {getattr(L, n).__name__ for n in L.__all__ if inspect.isclass(getattr(L, n))
              and issubclass(getattr(L, n), L.Layer)}
    assert public - set(NOT_LAYERS) == set(TABLE) | set(MERGES)
    assert COMPILED_INFERENCE <= set(TABLE) | set(MERGES) and COMPILED_TRAINING <= set(TABLE) | set(MERGES)


def _plan_used(m, x):
    cache = m.__dict__.get("_inference_plans")
    if cache is None:
        return False
    x = m._prepare_x(x)
    return cache.plans.get((x.shape, x.dtype.str)) is not None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(TABLE) + list(MERGES))
def test_inference_plan_matches_the_per_layer_path(name, dtype):
    ccnn.utils.set_random_seed(3)
    m = build(name, dtype)
    randomize_bn(m, np.random.default_rng(1))     # non-trivial statistics for the BN's fold
    shape = m.input_shape[1:]
    for n in (1, 5):
        x = np.random.default_rng(n).random((n,) + tuple(shape)).astype(dtype)
        x_copy = x.copy()
        got = m.predict_on_batch(x)
        used = _plan_used(m, x)
        inference.set_enabled(False)
        try:
            want = m.predict_on_batch(x)
        finally:
            inference.set_enabled(True)
        assert np.array_equal(x, x_copy)
        assert used == (name in COMPILED_INFERENCE), f"{name}: plan used {used}"
        assert got.dtype == want.dtype == np.dtype(dtype) and got.shape == want.shape
        if name == "BatchNormalization":        # folded into the conv: rounding differs
            tol = 1e-12 if dtype == "float64" else 2e-6
            np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(TABLE) + list(MERGES))
def test_training_plan_matches_the_per_layer_step(name, dtype):
    a, b = twin(lambda d: build(name, d), dtype)
    assert (a["used"] > 0) == (name in COMPILED_TRAINING), f"{name}: {a['used']} plan steps"
    assert_identical(a, b)
