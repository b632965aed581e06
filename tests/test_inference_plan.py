"""The inference plan (ccnn.models.inference): predict as one C call.

The reference for the plan is the per-layer forward (the plan switched off),
which the rest of the suite checks against NumPy, torch and Keras; the
plan's output must be bit-identical to it wherever it calls the same kernels
on the same batch.  A BatchNormalization folded into the convolution or
dense layer before it rounds differently: there the plan is compared with a
float64 NumPy transcription of the model (relative 1e-10 in float64, 1e-4
in float32) and with the per-layer output (float64 within 1e-12 relative to
the output's scale: the fold changes each product by a few ulps).
"""
import pickle

import numpy as np
import pytest

import ccnn
import ccnn.functional as F
from ccnn.layers import (ELU, Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense,
                         Dropout, Flatten, GaussianNoise, GlobalAveragePooling2D,
                         GlobalMaxPooling2D, LayerNormalization, LeakyReLU, MaxPooling2D,
                         RandomTranslation, ReLU, Softmax)
from ccnn.models import inference
from reference import conv2d_ref, max_pool2d_ref, softmax_ref

BATCHES = (1, 2, 7, 32, 100)


@pytest.fixture(autouse=True)
def _plan_on():
    inference.set_enabled(True)
    yield
    inference.set_enabled(True)


def per_layer(model, x, fn="predict_on_batch", **kw):
    inference.set_enabled(False)
    try:
        return getattr(model, fn)(x, **kw)
    finally:
        inference.set_enabled(True)


def plan_of(model, x):
    """The compiled plan predict uses for x (fails when there is none)."""
    x = model._prepare_x(x)
    plan = model.__dict__["_inference_plans"].plans.get((x.shape, x.dtype.str))
    assert plan is not None, "the model ran the per-layer path"
    return plan


def book_model(dtype="float32", seed=0):
    ccnn.utils.set_random_seed(seed)
    m = ccnn.Sequential()
    m.add(Conv2D(10, (3, 3), activation="relu", padding="same", input_shape=(28, 28, 1),
                 dtype=dtype, bias_initializer="random_normal"))
    m.add(MaxPooling2D((2, 2), dtype=dtype))
    m.add(Flatten(dtype=dtype))
    m.add(Dropout(0.5, dtype=dtype))
    m.add(Dense(100, activation="relu", dtype=dtype, bias_initializer="random_normal"))
    m.add(Dense(10, activation="softmax", dtype=dtype))
    m.build((None, 28, 28, 1))
    return m


def randomize_bn(model, rng):
    """Non-trivial gamma, beta and moving statistics in every BatchNormalization."""
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape)
                               if key in ("gamma", "moving_variance")
                               else rng.normal(0, 0.3, w.shape)
                               for key, w in layer.weight_arrays().items()])


def modern_model(dtype="float32", seed=0, size=28, filters=(32, 64), units=128):
    """The README's modern model (ccnn train --model modern), optionally smaller."""
    ccnn.utils.set_random_seed(seed)

    def block(f):
        return [Conv2D(f, 3, padding="same", use_bias=False, dtype=dtype),
                BatchNormalization(dtype=dtype), Activation("relu", dtype=dtype)]
    m = ccnn.Sequential([ccnn.Input((size, size, 1)), RandomTranslation(0.1, 0.1, dtype=dtype),
                         *block(filters[0]), *block(filters[0]), MaxPooling2D(dtype=dtype),
                         *block(filters[1]), *block(filters[1]), MaxPooling2D(dtype=dtype),
                         Flatten(dtype=dtype), Dropout(0.5, dtype=dtype),
                         Dense(units, activation="relu", dtype=dtype),
                         Dense(10, activation="softmax", dtype=dtype)])
    randomize_bn(m, np.random.default_rng(seed + 1))
    return m


def images(n, size=28, c=1, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, size, size, c)).astype(dtype)


# ------------------------------------------------------------ the book model
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", BATCHES)
def test_book_model_bit_identical(dtype, n):
    m = book_model(dtype, seed=n)
    x = images(n, seed=n, dtype=dtype)
    got = m.predict_on_batch(x)
    assert plan_of(m, x).ops == ["conv3x3+relu+maxpool2", "nchw->nhwc", "dense+relu", "dense",
                                 "softmax"]
    want = per_layer(m, x)
    assert got.dtype == np.dtype(dtype) and got.shape == (n, 10)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(m(x), want)


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_book_model_predict_batches(batch_size):
    m = book_model()
    x = images(75, seed=3)
    np.testing.assert_array_equal(m.predict(x, batch_size=batch_size),
                                  per_layer(m, x, "predict", batch_size=batch_size))


def test_book_model_against_numpy():
    """The plan against a float64 NumPy transcription of the book model."""
    m = book_model("float64", seed=5)
    x = images(7, seed=5, dtype=np.float64)
    conv, dense1, dense2 = m.layers[0], m.layers[4], m.layers[5]
    k = conv.params["kernel"]
    y = np.maximum(conv2d_ref(x.transpose(0, 3, 1, 2), k, conv.params["bias"],
                              pad=((1, 1), (1, 1))), 0)
    y = max_pool2d_ref(y, 2)[0].transpose(0, 2, 3, 1).reshape(7, -1)   # Keras's (h, w, c)
    y = np.maximum(y @ dense1.params["kernel"] + dense1.params["bias"], 0)
    want = softmax_ref(y @ dense2.params["kernel"] + dense2.params["bias"])
    np.testing.assert_allclose(m.predict_on_batch(x), want, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------ the modern model
@pytest.mark.parametrize("dtype,rtol", [("float32", 2e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("n", BATCHES)
def test_modern_model_bn_folded(dtype, rtol, n):
    """BN folded into the convolutions: the per-layer output within rounding.
    (Softmax probabilities: the tolerance is relative to their scale, 1.)"""
    m = modern_model(dtype, seed=n)
    x = images(n, seed=n, dtype=dtype)
    got = m.predict_on_batch(x)
    assert plan_of(m, x).ops == ["conv3x3+bn+relu", "conv3x3+bn+relu", "maxpool",
                                 "conv3x3+bn+relu", "conv3x3+bn+relu", "maxpool",
                                 "nchw->nhwc", "dense+relu", "dense", "softmax"]
    want = per_layer(m, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol)
    assert np.array_equal(got.argmax(1), want.argmax(1)) or n > 32


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-4), ("float64", 1e-10)])
def test_modern_model_against_numpy(dtype, rtol):
    """A small modern model (12x12 images, 4 / 8 filters) against NumPy in float64."""
    m = modern_model(dtype, seed=11, size=12, filters=(4, 8), units=16)
    x = images(5, size=12, seed=11, dtype=dtype)
    y = x.astype(np.float64).transpose(0, 3, 1, 2)
    layers = [la for la in m.layers]
    for layer in layers:
        if isinstance(layer, Conv2D):
            y = conv2d_ref(y, layer.params["kernel"].astype(np.float64), pad=((1, 1), (1, 1)))
        elif isinstance(layer, BatchNormalization):
            g, b, mu, var = (w.astype(np.float64) for w in layer.get_weights())
            y = (y - mu[:, None, None]) / np.sqrt(var[:, None, None] + layer.epsilon) \
                * g[:, None, None] + b[:, None, None]
        elif isinstance(layer, Activation):
            y = np.maximum(y, 0)
        elif isinstance(layer, MaxPooling2D):
            y = max_pool2d_ref(y, 2)[0]
        elif isinstance(layer, Flatten):
            y = y.transpose(0, 2, 3, 1).reshape(len(y), -1)
        elif isinstance(layer, Dense):
            y = y @ layer.params["kernel"].astype(np.float64) + layer.params["bias"]
            y = np.maximum(y, 0) if layer.activation == "relu" else softmax_ref(y)
    np.testing.assert_allclose(m.predict_on_batch(x), y, rtol=rtol, atol=rtol * 1e-2)
    plan_of(m, x)


# ------------------------------------------------------------ every supported layer
def _model(layers, shape, dtype):
    m = ccnn.Sequential([ccnn.Input(shape)] + layers)
    randomize_bn(m, np.random.default_rng(0))
    return m


CASES = {   # name: (layers(dtype), input shape (no batch), folds a BN)
    "conv_strided_dilated": (lambda d: [
        Conv2D(6, 3, strides=2, padding="same", activation="tanh", dtype=d),
        Conv2D(5, (2, 3), dilation_rate=2, activation="relu", dtype=d),
        Flatten(dtype=d), Dense(7, activation="sigmoid", dtype=d)], (15, 13, 3), False),
    "conv_pointwise": (lambda d: [
        Conv2D(8, 3, activation="gelu", dtype=d), Conv2D(4, 1, activation="silu", dtype=d),
        GlobalAveragePooling2D(dtype=d), Dense(3, dtype=d)], (9, 9, 2), False),
    "channels_first": (lambda d: [
        Conv2D(6, 3, padding="same", activation="relu", data_format="channels_first",
               dtype=d),
        MaxPooling2D(2, data_format="channels_first", dtype=d),
        Conv2D(4, 3, data_format="channels_first", dtype=d), ReLU(dtype=d),
        Flatten(dtype=d), Dense(5, activation="softmax", dtype=d)], (2, 12, 12), False),
    "channels_first_flatten_cf": (lambda d: [
        Conv2D(3, 3, data_format="channels_first", dtype=d),
        Flatten(data_format="channels_first", dtype=d), Dense(4, dtype=d)], (2, 7, 8), False),
    "pools": (lambda d: [
        Conv2D(4, 3, activation="relu", dtype=d),
        MaxPooling2D(3, strides=2, padding="same", dtype=d),
        AveragePooling2D(2, padding="same", dtype=d),
        AveragePooling2D((2, 1), strides=1, dtype=d),
        GlobalMaxPooling2D(keepdims=True, dtype=d), Flatten(dtype=d),
        Dense(6, activation="elu", dtype=d), Softmax(dtype=d)], (14, 11, 1), False),
    "relu_then_pool_unfused": (lambda d: [
        Conv2D(5, 3, padding="same", dtype=d), Activation("relu", dtype=d),
        MaxPooling2D(dtype=d), Conv2D(3, 3, activation="relu", dtype=d),
        MaxPooling2D(dtype=d), GlobalAveragePooling2D(keepdims=True, dtype=d)],
        (12, 12, 3), False),
    "image_output": (lambda d: [
        Conv2D(3, 3, padding="same", activation="relu", dtype=d), MaxPooling2D(dtype=d),
        Conv2D(4, 2, dtype=d)], (9, 8, 2), False),
    "image_output_channels_first": (lambda d: [
        AveragePooling2D(2, data_format="channels_first", dtype=d),
        Conv2D(2, 3, activation="selu", data_format="channels_first", dtype=d)],
        (3, 10, 10), False),
    "standalone_bn": (lambda d: [
        Conv2D(4, 3, activation="relu", dtype=d), BatchNormalization(dtype=d),
        MaxPooling2D(dtype=d), BatchNormalization(dtype=d), Flatten(dtype=d),
        Dense(6, activation="relu", dtype=d), BatchNormalization(dtype=d),
        Activation("softmax", dtype=d)], (10, 10, 2), False),
    "mlp_identity_layers": (lambda d: [
        GaussianNoise(0.3, dtype=d), Dense(33, dtype=d), Activation("tanh", dtype=d),
        Dropout(0.2, dtype=d), Dense(17, activation="relu", dtype=d),
        Activation("sigmoid", dtype=d)], (40,), False),
    "dense_bn_fold": (lambda d: [
        Flatten(dtype=d), Dense(20, dtype=d), BatchNormalization(dtype=d), ReLU(dtype=d),
        Dense(5, use_bias=False, dtype=d), BatchNormalization(center=False, dtype=d),
        Activation("softmax", dtype=d)], (6, 6, 1), True),
    "conv_bias_bn_pool_fused": (lambda d: [
        Conv2D(6, 3, padding="same", dtype=d), BatchNormalization(scale=False, dtype=d),
        ReLU(dtype=d), MaxPooling2D(dtype=d), Flatten(dtype=d), Dense(4, dtype=d)],
        (8, 8, 1), True),
    "leaky_relu_elu_layers": (lambda d: [
        Conv2D(4, 3, dtype=d), LeakyReLU(negative_slope=0.1, dtype=d), ELU(0.6, dtype=d),
        MaxPooling2D(dtype=d), LeakyReLU(dtype=d), Flatten(dtype=d), Dense(6, dtype=d),
        ELU(dtype=d), Dense(3, dtype=d)], (9, 8, 2), False),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_match_per_layer(case, dtype):
    make, shape, folds = CASES[case]
    m = _model(make(dtype), shape, dtype)
    for n in (1, 3, 33):
        x = np.random.default_rng(n).normal(size=(n,) + shape).astype(dtype)
        got = m.predict_on_batch(x)
        plan_of(m, x)
        want = per_layer(m, x)
        assert got.shape == want.shape and got.dtype == want.dtype
        if not folds:
            np.testing.assert_array_equal(got, want, err_msg=str(plan_of(m, x).ops))
        else:
            scale = np.abs(want).max()
            tol = 1e-12 if dtype == "float64" else 1e-5
            np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


def test_leaky_relu_and_elu_layers_fuse_into_their_producer():
    m = _model(CASES["leaky_relu_elu_layers"][0]("float32"), (9, 8, 2), "float32")
    x = np.zeros((2, 9, 8, 2), np.float32)
    m.predict_on_batch(x)
    assert plan_of(m, x).ops == ["nhwc->nchw", "conv3x3+leaky_relu", "elu", "maxpool",
                                 "leaky_relu", "nchw->nhwc", "dense+elu", "dense"]


def test_bn_fold_is_one_op():
    m = _model(CASES["conv_bias_bn_pool_fused"][0]("float64"), (8, 8, 1), "float64")
    x = np.ones((2, 8, 8, 1))
    m.predict_on_batch(x)
    assert plan_of(m, x).ops == ["conv3x3+bn+relu+maxpool2", "nchw->nhwc", "dense"]


# ------------------------------------------------------------ invalidation
def test_weights_changed_in_place_are_seen():
    m = modern_model("float64", seed=2, size=12, filters=(4, 8), units=16)
    x = images(3, size=12, dtype=np.float64)
    before = m.predict_on_batch(x)
    plan = plan_of(m, x)
    rng = np.random.default_rng(9)
    for layer in m.layers:          # set_weights copies into the same arrays
        if layer.weight_arrays():
            layer.set_weights([w + rng.normal(0, 0.1, w.shape) for w in layer.get_weights()])
    m.layers[2].states["moving_mean"] += 0.5                  # and in place by hand
    got = m.predict_on_batch(x)
    assert plan_of(m, x) is plan
    assert not np.allclose(got, before)
    np.testing.assert_allclose(got, per_layer(m, x), rtol=0, atol=1e-12)


def test_replaced_arrays_and_layers_recompile():
    m = book_model("float64")
    x = images(2, dtype=np.float64)
    m.predict_on_batch(x)
    plan = plan_of(m, x)
    m.layers[4].params["kernel"] = m.layers[4].params["kernel"] * 2.0     # a new array
    got = m.predict_on_batch(x)
    assert plan_of(m, x) is not plan
    np.testing.assert_array_equal(got, per_layer(m, x))
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    m.fit(x, np.array([1, 2]), epochs=2, verbose=0)       # training changes weights in place
    np.testing.assert_array_equal(m.predict_on_batch(x), per_layer(m, x))
    m.pop()                                      # a new layer list: a new plan
    got = m.predict(x)
    assert got.shape == (2, 100)
    np.testing.assert_array_equal(got, per_layer(m, x, "predict"))


def test_unsupported_layer_falls_back():
    m = _model([Flatten(), Dense(8), LayerNormalization(), Dense(3)], (4, 4, 1), "float32")
    x = np.random.default_rng(0).random((5, 4, 4, 1)).astype(np.float32)
    got = m.predict(x)
    assert m.__dict__["_inference_plans"].plans[(x.shape, x.dtype.str)] is None
    np.testing.assert_array_equal(got, per_layer(m, x, "predict"))


def test_switch_off(monkeypatch):
    m = book_model()
    x = images(4)

    def boom(*args):
        raise AssertionError("the plan ran")
    monkeypatch.setattr(F, "plan_forward_unchecked", boom)
    monkeypatch.setattr(F, "plan_run_unchecked", boom)
    inference.set_enabled(False)
    m.predict(x)
    m.predict(x)          # the fast path of a known shape too
    m.predict_on_batch(x)
    m(x)
    inference.set_enabled(True)
    for run in (m.predict, m.predict_on_batch, m):
        with pytest.raises(AssertionError, match="the plan ran"):
            run(x)
    with pytest.raises(TypeError):
        inference.set_enabled(1)


def test_environment_switch(tmp_path):
    import subprocess
    import sys
    code = "from ccnn.models import inference; print(inference.is_enabled())"
    for value, want in (("0", "False"), ("1", "True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**__import__("os").environ, "CCNN_INFERENCE_PLAN": value},
                             check=True, cwd=tmp_path)   # not the source tree
        assert out.stdout.strip() == want


def test_input_not_modified_and_pickle():
    m = _model([Activation("relu"), Dense(4), Softmax()], (6,), "float32")
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    x0 = x.copy()
    got = m.predict_on_batch(x)
    np.testing.assert_array_equal(x, x0)
    plan_of(m, x)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict_on_batch(x), got)


def test_thread_count_does_not_change_the_result():
    m = modern_model(seed=4, size=16, filters=(8, 16), units=32)
    x = images(9, size=16, seed=4)
    old = ccnn.get_num_threads()
    try:
        ccnn.set_num_threads(1)
        one = m.predict_on_batch(x)
        ccnn.set_num_threads(2)
        two = m.predict_on_batch(x)
    finally:
        ccnn.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


# ------------------------------------------------------------ the small-batch dense
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_batch_dense_against_numpy(dtype):
    """dense_forward's small-batch path (n <= 32): tiles of 1-4 rows, narrow
    last column tiles, relu with NaN, against NumPy in float64."""
    rng = np.random.default_rng(1)
    for n, fan_in, units in [(1, 1960, 100), (2, 7, 1), (3, 40, 3), (1, 20, 2), (3, 50, 17), (5, 33, 16),
                             (32, 100, 10), (31, 9, 40), (33, 20, 21)]:
        x = rng.normal(size=(n, fan_in)).astype(dtype)
        w = rng.normal(size=(fan_in, units)).astype(dtype)
        b = rng.normal(size=units).astype(dtype)
        x[0, 0] = np.nan if n > 2 else x[0, 0]
        want = x.astype(np.float64) @ w + b
        tol = 1e-4 if dtype == np.float32 else 1e-12
        got = F.dense(x, w, b)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(fan_in))
        relu = F.dense(x, w, b, activation="relu")
        np.testing.assert_allclose(relu, np.where(want < 0, 0, want), rtol=tol,
                                   atol=tol * np.sqrt(fan_in))
        assert np.isnan(relu[0]).all() == np.isnan(want[0]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mid_batch_dense_large_weight_against_numpy(dtype):
    """13..32 rows against a weight of more than 65536 elements: the packed
    GEMM where the AVX-512 kernels run (the small-batch path elsewhere),
    relu with NaN, against NumPy in float64."""
    rng = np.random.default_rng(2)
    for n, fan_in, units in [(13, 700, 100), (16, 3136, 128), (32, 1000, 70), (24, 257, 300)]:
        x = rng.normal(size=(n, fan_in)).astype(dtype)
        w = rng.normal(size=(fan_in, units)).astype(dtype)
        b = rng.normal(size=units).astype(dtype)
        x[1, 3] = np.nan
        want = x.astype(np.float64) @ w + b
        tol = 1e-4 if dtype == np.float32 else 1e-12
        for act in (None, "relu"):
            got = F.dense(x, w, b, activation=act)
            ref = want if act is None else np.where(want < 0, 0, want)
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(fan_in))
            assert np.isnan(got[1]).all() and not np.isnan(np.delete(got, 1, axis=0)).any()


# ------------------------------------------------------------ predict's fast path
# (Sequential.predict / predict_on_batch / __call__ run a compiled, current
# plan without Trainer's checks: inference.predict_fast)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_path_bit_identical_to_per_layer(dtype):
    m = book_model(dtype, seed=3)
    x = images(23, seed=3, dtype=dtype)
    want = per_layer(m, x, "predict", batch_size=5)
    for _ in range(3):       # the first call compiles; the later ones take the fast path
        got = m.predict(x, batch_size=5)
        assert got.dtype == np.dtype(dtype) and got.shape == (23, 10)
        np.testing.assert_array_equal(got, want)
    assert inference.predict_fast(m, x, 5) is not None
    one = x[:1]
    want1 = per_layer(m, one)
    for _ in range(2):
        np.testing.assert_array_equal(m.predict_on_batch(one), want1)
        np.testing.assert_array_equal(m(one), want1)
        np.testing.assert_array_equal(m.predict(one), want1)
    # a strided view, and a batch that is one of the compiled shapes
    view = x[::2][:5]
    np.testing.assert_array_equal(m.predict(view, batch_size=5), per_layer(m, view))
    out = m.predict_on_batch(one)
    assert out is not m.predict_on_batch(one)      # a new array every call


def test_fast_path_keeps_the_checks():
    m = book_model()
    x = images(6)
    m.predict(x, batch_size=4)
    m.predict(x, batch_size=4)
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="batch_size"):
            m.predict(x, batch_size=bad)
    with pytest.raises(TypeError):
        m.predict(x.astype(np.complex64), batch_size=4)
    with pytest.raises(ValueError):
        m.predict_on_batch(images(2, size=27))
    with pytest.raises(ValueError):
        m.predict_on_batch(x[:0])
    # other dtypes and the (N, H, W) form go through _prepare_x, as before
    np.testing.assert_array_equal(m.predict(x.astype(np.float64), batch_size=4),
                                  per_layer(m, x, "predict", batch_size=4))
    np.testing.assert_array_equal(m.predict_on_batch(x[..., 0]), per_layer(m, x))


def test_fast_path_sees_new_weights_and_layers():
    m = book_model()
    x = images(3)
    m.predict_on_batch(x)
    m.layers[-2].params["kernel"][:] *= 0.5            # in place
    np.testing.assert_array_equal(m.predict_on_batch(x), per_layer(m, x))
    m.set_weights([w * 1.5 for w in m.get_weights()])
    np.testing.assert_array_equal(m.predict_on_batch(x), per_layer(m, x))
    m.layers[-2].params["kernel"] = m.layers[-2].params["kernel"] * 2.0   # replaced
    np.testing.assert_array_equal(m.predict_on_batch(x), per_layer(m, x))
    m.pop()
    got = m.predict_on_batch(x)
    assert got.shape == (3, 100)
    np.testing.assert_array_equal(got, per_layer(m, x))


def test_fast_path_training_call_and_callbacks():
    m = book_model()
    x = images(4)
    m.predict_on_batch(x)
    seen = []
    cb = ccnn.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs: seen.append(b))
    np.testing.assert_array_equal(m.predict(x, batch_size=3, callbacks=[cb]),
                                  per_layer(m, x, "predict", batch_size=3))
    assert seen == [0, 1]
    assert m(x, training=True).shape == (4, 10)        # dropout on: the per-layer path


def test_plan_runner_checks_its_buffers():
    m = book_model()
    x = images(2)
    m.predict_on_batch(x)
    plan = plan_of(m, x)
    out = np.empty(plan.out_shape, np.float32)
    F.plan_run_unchecked(plan.runner, x, out)
    np.testing.assert_array_equal(out, per_layer(m, x))
    for bad_x, bad_out in ((images(3), out), (x.astype(np.float64), out),
                           (x, np.empty((2, 11), np.float32)), (x, out.astype(np.float64)),
                           (x, np.empty((10, 2), np.float32).T), (x[::-1], out)):
        with pytest.raises((ValueError, BufferError)):
            F.plan_run_unchecked(plan.runner, bad_x, bad_out)
    ro = np.empty_like(out)
    ro.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        F.plan_run_unchecked(plan.runner, x, ro)
    with pytest.raises((ValueError, BufferError, TypeError)):
        F.plan_run_unchecked(plan.runner, [1.0], out)


# ------------------------------------------------------------ the weight caches
def gemm_model(dtype, seed=0):
    """Convolutions on the implicit GEMM at 10x10 (too few tiles for
    Winograd): 32 -> 40 filters without BN (40: a part panel), 40 -> 100
    with BN (100 > the GEMM's 96-row block; 360 > its 256-deep block), then
    a Dense with a folded BN."""
    ccnn.utils.set_random_seed(seed)
    m = ccnn.Sequential([
        ccnn.Input((10, 10, 32)),
        Conv2D(40, 3, padding="same", activation="relu", dtype=dtype,
               bias_initializer="random_normal"),
        Conv2D(100, 3, padding="same", use_bias=False, dtype=dtype),
        BatchNormalization(dtype=dtype), Activation("relu", dtype=dtype),
        Flatten(dtype=dtype), Dense(12, dtype=dtype, bias_initializer="random_normal"),
        BatchNormalization(dtype=dtype), Dense(5, dtype=dtype)])
    randomize_bn(m, np.random.default_rng(seed + 1))
    return m


def weight_caches(plan):
    """The int64 weight caches (plan.h) of a plan's ops, by op index."""
    by_ptr = {a.ctypes.data: a for a in plan.keep}
    return {i: by_ptr[int(plan.ptrs[j])] for i, j in enumerate(plan.code[:, inference.F_CACHE])
            if j >= 0}


def check_against_per_layer(m, x, dtype):
    got = m.predict_on_batch(x)
    want = per_layer(m, x)
    scale = max(1.0, float(np.abs(want).max()))     # the fold rounds differently
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=(1e-12 if dtype == "float64" else 2e-5) * scale)
    # the conv without BN is bit for bit the per-layer conv
    inference.set_enabled(False)
    try:
        first = m.layers[0](x)
    finally:
        inference.set_enabled(True)
    head = ccnn.Sequential([ccnn.Input(x.shape[1:]), m.layers[0]])
    np.testing.assert_array_equal(head.predict_on_batch(x), first)
    return got


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [1, 3])
def test_packed_weights_follow_every_change(dtype, threads, n):
    """The plan caches each conv's packed (BN-folded) weight and each fold:
    after in-place writes, set_weights and training, predict still matches
    the per-layer path -- and the caches are in use."""
    old = ccnn.get_num_threads()
    ccnn.set_num_threads(threads)
    try:
        m = gemm_model(dtype, seed=n)
        x = images(n, size=10, c=32, seed=n, dtype=dtype)
        first = check_against_per_layer(m, x, dtype)
        plan = plan_of(m, x)
        caches = weight_caches(plan)
        assert plan.ops == ["nhwc->nchw", "conv3x3+relu", "conv3x3+bn+relu", "nchw->nhwc",
                            "dense+bn", "dense"]
        assert sorted(caches) == [1, 2, 4]                 # two convs, the dense with BN
        assert caches[1][2] == 1 and caches[2][2] == 1     # both convs run packed
        conv0, conv1, bn1 = m.layers[0], m.layers[1], m.layers[2]
        rng = np.random.default_rng(n)
        edits = [lambda: conv0.params["kernel"].__setitem__((39, 31, 2, 2), 0.75),   # last element
                 lambda: conv0.params["kernel"].__setitem__((0, 0, 0, 0), -0.5),     # first
                 lambda: conv0.params["bias"].__setitem__(7, 3.0),
                 lambda: conv1.params["kernel"].__setitem__((99, 39, 2, 2), 1.5),
                 lambda: conv1.params["kernel"].__setitem__((50, 20, 1, 0), -1.5),
                 lambda: bn1.states["moving_mean"].__setitem__(99, 2.0),
                 lambda: bn1.states["moving_variance"].__setitem__(0, 4.0),
                 lambda: bn1.params["gamma"].__setitem__(60, -1.0),
                 lambda: bn1.params["beta"].__setitem__(1, 0.5),
                 lambda: m.layers[6].params["gamma"].__setitem__(11, 3.0),
                 lambda: m.layers[5].params["bias"].__setitem__(11, 2.0),
                 lambda: m.layers[5].params["kernel"].__setitem__((slice(None), -1), 0.5)]
        prev = first
        for i, edit in enumerate(edits):
            edit()
            got = check_against_per_layer(m, x, dtype)
            assert not np.array_equal(got, prev), i
            prev = got
        saved = [layer.get_weights() for layer in m.layers]
        for layer in m.layers:                   # set_weights copies into the same arrays
            if layer.weight_arrays():
                layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype(dtype)
                                   for w in layer.get_weights()])
        check_against_per_layer(m, x, dtype)
        for layer, ws in zip(m.layers, saved):   # back to the earlier weights
            if ws:
                layer.set_weights(ws)
        np.testing.assert_array_equal(m.predict_on_batch(x), prev)
        m.compile(optimizer="adam", loss="mse")
        m.fit(x, np.zeros((n, 5), dtype=dtype), epochs=1, verbose=0)   # optimizer steps
        got = check_against_per_layer(m, x, dtype)
        assert not np.array_equal(got, prev)
        assert plan_of(m, x) is plan
    finally:
        ccnn.set_num_threads(old)


def test_weight_cache_too_small_is_refused():
    m = gemm_model("float32")
    x = images(1, size=10, c=32)
    m.predict_on_batch(x)
    plan = plan_of(m, x)
    cache = weight_caches(plan)[2]
    cache[0], cache[1:] = 64, 0              # a plan whose cache cannot hold the copies
    with pytest.raises(ValueError, match="refused"):
        plan.run(x)


def test_chain_builder_is_abstract_and_both_plans_supply_transpose():
    import inspect

    from ccnn.models import plan_chain, train_plan

    class NoTranspose(plan_chain.ChainBuilder):
        pass

    with pytest.raises(TypeError, match="transpose"):
        NoTranspose()
    assert plan_chain.ChainBuilder.__abstractmethods__ == frozenset({"transpose"})
    for builder in (inference._Builder, train_plan._Builder):
        assert not inspect.isabstract(builder), builder.__module__
