"""A Sequential (nested in another model or not) built at one image size
runs at another when every one of its layers accepts it, as in Keras 3,
where Sequential.call runs its layers and only each layer's InputSpec
checks the input (a functional model checks its inputs' shape; a symbolic
call at another shape is refused).  The reference for accept / refuse is
Keras 3 itself; for the numbers, the same model built for the new size with
the same weights.
"""
import os

import numpy as np
import pytest

import ccnn
import ccnn.layers as L

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

RNG = np.random.default_rng(0)
X28 = RNG.standard_normal((3, 28, 28, 1)).astype(np.float32)
X32 = RNG.standard_normal((3, 32, 32, 1)).astype(np.float32)
X28C3 = RNG.standard_normal((3, 28, 28, 3)).astype(np.float32)


def _block(lib):
    return lib.Sequential([lib.layers.Conv2D(4, 3, padding="same"),
                           lib.layers.GlobalAveragePooling2D()])


def _built_block(lib):
    b = _block(lib)
    b.build((None, 28, 28, 1))
    return b


def _used_at_28(lib):
    """a block first used inside a model run at 28x28, then in a new model."""
    b = _block(lib)
    lib.Sequential([b, lib.layers.Dense(2)]).predict(X28, verbose=0)
    return lib.Sequential([b, lib.layers.Dense(3)])


def _dense_block(lib):
    b = lib.Sequential([lib.layers.Flatten(), lib.layers.Dense(3, name="head")])
    b.build((None, 4, 4, 1))
    return b


def _functional_28(lib):
    i = lib.Input((28, 28, 1))
    return lib.Model(i, lib.layers.Dense(2)(lib.layers.GlobalAveragePooling2D()(
        lib.layers.Conv2D(4, 3)(i))))


# (name, model maker (lib -> model), input): Keras decides accept / refuse
CASES = [
    ("built_block_direct", _built_block, X32),
    ("built_block_nested",
     lambda lib: lib.Sequential([_built_block(lib), lib.layers.Dense(2)]), X32),
    ("used_at_28_new_model", _used_at_28, X32),
    ("input_28_sequential", lambda lib: lib.Sequential(
        [lib.Input((28, 28, 1)), _block(lib), lib.layers.Dense(2)]), X32),
    ("functional_28", _functional_28, X32),
    ("channels_changed",
     lambda lib: lib.Sequential([_built_block(lib), lib.layers.Dense(2)]), X28C3),
    ("dense_width_changed", lambda lib: lib.Sequential([_dense_block(lib), lib.layers.Dense(2)]),
     RNG.standard_normal((3, 5, 5, 1)).astype(np.float32)),
    ("dense_width_same", lambda lib: lib.Sequential([_dense_block(lib), lib.layers.Dense(2)]),
     RNG.standard_normal((3, 4, 4, 1)).astype(np.float32)),
]


def _run(model, x):
    try:
        return model.predict(x, verbose=0)
    except ValueError:
        return None


@pytest.mark.parametrize("name,make,x", CASES, ids=[c[0] for c in CASES])
def test_accepts_what_keras_accepts_with_keras_numbers(name, make, x):
    ccnn.utils.set_random_seed(1)
    m, k = make(ccnn), make(keras)
    want = _run(k, x)
    if want is not None:        # the same weights give Keras's numbers
        k.set_weights(m.get_weights())
        want = _run(k, x)
    got = _run(m, x)
    assert (got is None) == (want is None), (name, got is None, want is None)
    if want is not None:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dense_width_change_names_the_layer():
    m = ccnn.Sequential([_dense_block(ccnn), L.Dense(2)])
    x = np.zeros((2, 5, 5, 1), np.float32)
    with pytest.raises(ValueError, match=r"'head' \(Dense\).*\(None, 16\).*\(None, 25\)"):
        m.predict(x)
    with pytest.raises(ValueError, match=r"'head' \(Dense\)"):
        m(x)


def test_symbolic_call_at_another_size_is_refused_as_keras():
    for lib in (ccnn, keras):
        b = _built_block(lib)
        i = lib.Input((32, 32, 1))
        with pytest.raises(ValueError):
            lib.Model(i, lib.layers.Dense(2)(b(i)))


def _pair(dtype):
    """a model built at 28 (nested block) and the same built at 32, same weights."""
    ccnn.utils.set_random_seed(3)
    blocks = [ccnn.Sequential([L.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
                               L.MaxPooling2D(dtype=dtype), L.Conv2D(5, 3, dtype=dtype),
                               L.GlobalAveragePooling2D(dtype=dtype)]) for _ in range(2)]
    for b, size in zip(blocks, (28, 32)):
        b.build((None, size, size, 1))
    m = ccnn.Sequential([blocks[0], L.Dense(3, activation="softmax", dtype=dtype)])
    ref = ccnn.Sequential([blocks[1], L.Dense(3, activation="softmax", dtype=dtype)])
    ref.set_weights(m.get_weights())
    return m, ref


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_at_another_size_equals_the_model_built_for_it(dtype):
    m, ref = _pair(dtype)
    x32 = X32.astype(dtype)
    m.predict(X28.astype(dtype))                    # runs at 28 first
    want = ref.predict(x32)
    np.testing.assert_array_equal(m.predict(x32), want)
    np.testing.assert_array_equal(m(x32), want)
    from ccnn.models import inference
    inference.set_enabled(False)
    try:
        np.testing.assert_array_equal(m.predict(x32), want)
    finally:
        inference.set_enabled(True)
    assert m.input_shape == (None, 28, 28, 1)       # as Keras: the built shape stays


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_at_another_size_equals_the_model_built_for_it(dtype):
    m, ref = _pair(dtype)
    y = np.eye(3, dtype=dtype)[[0, 1, 2]]
    for model in (m, ref):
        model.compile(ccnn.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    h1 = m.fit(X32.astype(dtype), y, epochs=2, batch_size=2, verbose=0, shuffle=False)
    h2 = ref.fit(X32.astype(dtype), y, epochs=2, batch_size=2, verbose=0, shuffle=False)
    assert h1.history == h2.history
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = X32.astype(dtype)
    assert m.evaluate(x, y, verbose=0) == ref.evaluate(x, y, verbose=0)
