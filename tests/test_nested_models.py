"""Nested models (a Sequential or functional Model used as a layer, ccnn.models.nested)
against the same models in Keras 3 (torch backend): weight order and shapes,
predictions with the same weights, summary's parameter counts, one SGD step
with a frozen nested model; gradients against the flat equivalent model and
central differences; configs and files round trips; training mode inside."""
from __future__ import annotations

import numpy as np
import pytest

import ccnn
from ccnn import layers as L
from ccnn.models.nested import ModelLayer
from _testutils import central_differences, keras_or_skip


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def augmented_cnn(lib, frozen_rescale=False):
    """Keras's tutorial pattern: an augmentation Sequential called on the
    Input of a functional CNN."""
    Lb = lib.layers
    aug = lib.Sequential([Lb.RandomFlip("horizontal"), Lb.RandomRotation(0.1)], name="aug")
    inputs = lib.Input((8, 8, 1))
    x = aug(inputs)
    x = Lb.Rescaling(1 / 255)(x)
    x = Lb.Conv2D(4, 3, activation="relu")(x)
    x = Lb.MaxPooling2D()(x)
    x = Lb.Flatten()(x)
    outputs = Lb.Dense(3, activation="softmax")(x)
    return lib.Model(inputs, outputs, name="cnn")


def base_then_head(lib, dtype="float32"):
    """keras.Sequential([base_model, Dense]): a functional base with a
    BatchNormalization (states in the weight order) under a Dense head."""
    Lb = lib.layers
    inp = lib.Input((6,), dtype=dtype)
    h = Lb.Dense(5, activation="tanh", name="b_dense", dtype=dtype)(inp)
    h = Lb.BatchNormalization(name="b_bn", dtype=dtype)(h)
    base = lib.Model(inp, h, name="base")
    return lib.Sequential([base, Lb.Dense(3, name="head", dtype=dtype)], name="outer")


def block_graph(lib, dtype="float32"):
    """block = Sequential([...]); y = block(x) inside a functional graph."""
    Lb = lib.layers
    block = lib.Sequential([Lb.Dense(6, activation="relu", name="blk_d1", dtype=dtype),
                            Lb.Dense(4, name="blk_d2", dtype=dtype)], name="block")
    inp = lib.Input((5,), dtype=dtype)
    h = Lb.Dense(4, activation="tanh", name="pre", dtype=dtype)(inp)
    y = block(h)
    out = Lb.Dense(3, activation="softmax", name="out", dtype=dtype)(Lb.Add(dtype=dtype)([h, y]))
    return lib.Model(inp, out, name="graph"), block


def flat_graph(dtype="float32"):
    """block_graph with the block's layers inlined."""
    inp = ccnn.Input((5,), dtype=dtype)
    h = L.Dense(4, activation="tanh", name="pre", dtype=dtype)(inp)
    y = L.Dense(6, activation="relu", name="blk_d1", dtype=dtype)(h)
    y = L.Dense(4, name="blk_d2", dtype=dtype)(y)
    out = L.Dense(3, activation="softmax", name="out", dtype=dtype)(L.Add(dtype=dtype)([h, y]))
    return ccnn.Model(inp, out, name="flat")


def rows(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def keras_trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_augmentation_sequential_in_a_functional_cnn_matches_keras(keras):
    ccnn.utils.set_random_seed(0)
    model = augmented_cnn(ccnn)
    km = augmented_cnn(keras)
    assert [type(layer).__name__ for layer in model.layers] == \
        [type(layer).__name__ for layer in km.layers]
    assert isinstance(model.layers[1], ccnn.Sequential) and model.layers[1].name == "aug"
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    km.set_weights(model.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (5, 8, 8, 1)).astype(np.float32)
    want = np.asarray(km.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)
    assert model.count_params() == km.count_params()
    aug_row = [r for r in rows(model) if r.startswith("aug (Sequential)")]
    assert len(aug_row) == 1 and "(None, 8, 8, 1)" in aug_row[0]


def test_a_functional_base_in_a_sequential_matches_keras_weight_order(keras):
    ccnn.utils.set_random_seed(0)
    model = base_then_head(ccnn)
    km = base_then_head(keras)
    assert model.built            # built from the base's input shape, as Keras
    assert [tuple(w.shape) for w in km.get_weights()] == \
        [w.shape for w in model.get_weights()]
    weights = [np.random.default_rng(i).uniform(0.5, 1.5, w.shape).astype(np.float32)
               for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    km.set_weights(weights)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.asarray(km.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
    assert [layer.name for layer in model.layers] == ["base", "head"]
    assert model.count_params() == km.count_params()
    assert model.layers[0].count_params() == km.layers[0].count_params()
    lines = rows(model)
    assert any(r.startswith("base (Functional)") and r.rstrip().endswith(
        f"{km.layers[0].count_params():,}") for r in lines)


def test_a_block_called_in_a_graph_matches_keras(keras):
    ccnn.utils.set_random_seed(0)
    model, block = block_graph(ccnn)
    km, _ = block_graph(keras)
    assert [type(layer).__name__ for layer in model.layers] == \
        [type(layer).__name__ for layer in km.layers]
    assert [layer.name for layer in model.layers][1:3] == ["pre", "block"]
    assert model.layers[-1].name == km.layers[-1].name == "out"
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    km.set_weights(model.get_weights())
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.asarray(km.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    # the block still works on its own, with the same weights
    np.testing.assert_array_equal(block.layers[0].get_weights()[0], model.get_weights()[2])


def test_nested_gradients_equal_the_flat_models_and_central_differences():
    ccnn.utils.set_random_seed(0)
    model, _ = block_graph(ccnn, "float64")
    flat = flat_graph("float64")
    flat.set_weights(model.get_weights())
    for m in (model, flat):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 5))
    y = np.eye(3)[rng.integers(0, 3, 7)]
    loss, grads = model.compute_gradients(x, y)
    loss_f, grads_f = flat.compute_gradients(x, y)
    assert loss == loss_f
    assert len(grads) == len(grads_f) == len(model.weights)
    for g, gf in zip(grads, grads_f):
        np.testing.assert_array_equal(g, gf)
    # the nested block's first kernel by central differences
    kernel = model.get_layer("block").layers[0].params["kernel"]
    k0 = kernel.copy()

    def f(v):
        np.copyto(kernel, v)
        return model.compute_gradients(x, y)[0]
    num = central_differences(f, k0)
    np.copyto(kernel, k0)
    idx = [id(p) for p in model.weights].index(id(kernel))
    np.testing.assert_allclose(grads[idx], num, rtol=1e-6, atol=1e-8)


def test_nested_sequential_in_sequential_gradients_equal_the_flat_model():
    ccnn.utils.set_random_seed(0)
    inner = ccnn.Sequential([L.Dense(6, activation="relu"), L.Dense(4)], name="inner")
    model = ccnn.Sequential([ccnn.Input((5,)), L.Rescaling(0.5), inner,
                             L.Dense(3, activation="softmax")])
    flat = ccnn.Sequential([ccnn.Input((5,)), L.Rescaling(0.5), L.Dense(6, activation="relu"),
                            L.Dense(4), L.Dense(3, activation="softmax")])
    flat.set_weights(model.get_weights())
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    for m in (model, flat):
        m.compile(optimizer=ccnn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    _, g = model.compute_gradients(x, y)
    _, gf = flat.compute_gradients(x, y)
    for a, b in zip(g, gf):
        np.testing.assert_array_equal(a, b)
    for _ in range(3):      # fit's step (compiled plan for the flat model, fallback nested)
        model.train_on_batch(x, y)
        flat.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), flat.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x), flat.predict(x), rtol=1e-5, atol=1e-6)


def test_a_frozen_nested_model_trains_as_keras(keras):
    """trainable=False on the base (transfer learning): its layers are frozen,
    the head trains; one SGD step equals Keras's."""
    def build(lib):
        Lb = lib.layers
        inp = lib.Input((6,))
        base = lib.Model(inp, Lb.Dense(5, activation="tanh", name="b_dense")(inp), name="base")
        return lib.Sequential([base, Lb.Dense(3, activation="softmax", name="head")],
                              name="tl"), base
    ccnn.utils.set_random_seed(0)
    model, base = build(ccnn)
    km, kbase = build(keras)
    km.set_weights(model.get_weights())
    base.trainable = False
    kbase.trainable = False
    assert all(not layer.trainable for layer in base.layers)
    head = model.layers[1]
    assert [id(w) for w in model.trainable_weights] == [id(p) for p in head.params.values()]
    lines = rows(model)
    assert f"Trainable params: {keras_trainable_count(km):,}" in lines
    assert f"Non-trainable params: {km.count_params() - keras_trainable_count(km):,}" in lines
    model.compile(optimizer=ccnn.optimizers.SGD(0.5), loss="categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    before = model.get_weights()
    model.train_on_batch(x, y)
    km.train_on_batch(x, y)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])
    for a, b in zip(after, km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    base.trainable = True
    assert all(layer.trainable for layer in base.layers)
    assert len(model.trainable_weights) == 4


def test_a_frozen_inner_layer_of_a_trainable_nested_model_stays_frozen():
    ccnn.utils.set_random_seed(0)
    inner = ccnn.Sequential([L.Dense(4, name="d1"), L.Dense(4, name="d2")], name="inner")
    model = ccnn.Sequential([ccnn.Input((3,)), inner, L.Dense(2)])
    inner.layers[0].trainable = False
    model.compile(optimizer=ccnn.optimizers.SGD(0.1), loss="mse")
    before = model.get_weights()
    model.train_on_batch(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.array_equal(after[2], before[2])


def test_training_mode_reaches_the_nested_models_layers():
    """Dropout inside a nested model: active with training=True (the same
    draws as the flat model's), the identity in inference."""
    x = np.ones((4, 10), np.float32)
    nested = ccnn.Sequential([ccnn.Input((10,)), ccnn.Sequential([L.Dropout(0.5)])])
    flat = ccnn.Sequential([ccnn.Input((10,)), L.Dropout(0.5)])
    ccnn.utils.set_random_seed(3)
    got = nested(x, training=True)
    ccnn.utils.set_random_seed(3)
    want = flat(x, training=True)
    np.testing.assert_array_equal(got, want)
    assert (got == 0).any()
    np.testing.assert_array_equal(nested(x), x)


def test_config_and_files_round_trip(tmp_path):
    ccnn.utils.set_random_seed(0)
    model, _ = block_graph(ccnn)
    seq = base_then_head(ccnn)
    x5 = np.random.default_rng(7).standard_normal((3, 5)).astype(np.float32)
    x6 = np.random.default_rng(8).standard_normal((3, 6)).astype(np.float32)
    for m, x in ((model, x5), (seq, x6)):
        m.layers[-1].trainable = True
        clone = type(m).from_config(m.get_config())
        assert [type(layer).__name__ for layer in clone.layers] == \
            [type(layer).__name__ for layer in m.layers]
        clone.set_weights(m.get_weights())
        np.testing.assert_allclose(clone.predict(x), m.predict(x), rtol=1e-6)
        for name in ("m.keras", "m.ccnn"):
            if name == "m.ccnn":        # (a compiled functional .keras file does not load
                m.compile(optimizer="adam", loss="mse")      # yet, nested or not)
            path = tmp_path / name
            m.save(path)
            loaded = ccnn.models.load_model(path)
            assert any(isinstance(layer, ModelLayer) for layer in loaded.layers)
            np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
        path = tmp_path / "w.npz"
        m.save_weights(path)
        other = type(m).from_config(m.get_config())
        other.load_weights(path)
        np.testing.assert_array_equal(other.predict(x), m.predict(x))


def test_a_frozen_nested_model_stays_frozen_through_its_config():
    ccnn.utils.set_random_seed(0)
    seq = base_then_head(ccnn)
    seq.layers[0].trainable = False
    clone = ccnn.Sequential.from_config(seq.get_config())
    assert clone.layers[0].trainable is False
    assert all(not layer.trainable for layer in clone.layers[0].layers)


def test_keras_files_with_nested_models_load(keras, tmp_path):
    ccnn.utils.set_random_seed(0)
    km, _ = block_graph(keras)
    path = tmp_path / "k.keras"
    km.save(path)
    model = ccnn.models.load_model(path)
    assert isinstance(model.get_layer("block"), ccnn.Sequential)
    x = np.random.default_rng(9).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.asarray(km.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    # and ccnn's .keras file of it loads in Keras
    out = tmp_path / "c.keras"
    model.save(out)
    back = keras.models.load_model(out)
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)), model.predict(x),
                               rtol=1e-5, atol=1e-6)


def test_bad_nesting_is_a_clear_error():
    inner = ccnn.Sequential([L.Dense(2)], name="inner")
    with pytest.raises(ValueError, match="itself"):
        inner.add(inner)
    outer = ccnn.Sequential([inner], name="outer2")
    with pytest.raises(ValueError, match="itself"):
        inner.add(outer)
    a, b = ccnn.Input((3,)), ccnn.Input((3,))
    two_in = ccnn.Model([a, b], L.Add()([a, b]))
    with pytest.raises(ValueError, match="several inputs"):
        two_in([ccnn.Input((3,)), ccnn.Input((3,))])


def test_the_readme_example_runs(capsys):
    from test_readme import README, python_blocks, run_block
    scope = run_block(python_blocks(README, "Functional models")[-1], "README.md")
    base, model = scope["base"], scope["model"]
    assert model.layers[0] is base and not any(layer.trainable for layer in base.layers)
    assert "base (Functional)" in capsys.readouterr().out
    assert base.count_params() == 80


def test_a_nested_model_shared_between_nodes_trains_as_its_shared_layers():
    """A siamese tower: one nested Sequential called on two inputs has the
    gradients of its layers called on both (the shared-layer path)."""
    ccnn.utils.set_random_seed(0)
    tower = ccnn.Sequential([L.Dense(4, activation="tanh", dtype="float64", name="t1"),
                             L.Dropout(0.3, dtype="float64", name="tdrop"),
                             L.Dense(3, dtype="float64", name="t2")], name="tower")
    a, b = ccnn.Input((5,), dtype="float64"), ccnn.Input((5,), dtype="float64")
    head = L.Dense(2, activation="softmax", dtype="float64", name="siamese_head")
    model = ccnn.Model([a, b], head(L.Concatenate(dtype="float64")([tower(a), tower(b)])))
    d1, drop, d2 = tower.layers
    fa, fb = ccnn.Input((5,), dtype="float64"), ccnn.Input((5,), dtype="float64")
    flat = ccnn.Model([fa, fb], head(L.Concatenate(dtype="float64")(
        [d2(drop(d1(fa))), d2(drop(d1(fb)))])))
    rng = np.random.default_rng(10)
    x = [rng.standard_normal((6, 5)), rng.standard_normal((6, 5))]
    y = np.eye(2)[rng.integers(0, 2, 6)]
    for m in (model, flat):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    ccnn.utils.set_random_seed(1)
    loss, grads = model.compute_gradients(x, y)
    ccnn.utils.set_random_seed(1)
    loss_f, grads_f = flat.compute_gradients(x, y)
    assert loss == loss_f
    by_id = dict(zip([id(p) for p in flat.weights], grads_f))
    for p, g in zip(model.weights, grads):
        np.testing.assert_array_equal(g, by_id[id(p)])
    kernel = d1.params["kernel"]
    k0 = kernel.copy()

    def f(v):
        np.copyto(kernel, v)
        return model.compute_gradients(x, y, training=False)[0]
    num = central_differences(f, k0)
    np.copyto(kernel, k0)
    g = model.compute_gradients(x, y, training=False)[1]
    np.testing.assert_allclose(g[[id(p) for p in model.weights].index(id(kernel))], num,
                               rtol=1e-6, atol=1e-8)


def test_a_seeded_layer_in_a_nested_model_keeps_its_generator_in_ccnn_files(tmp_path):
    aug = ccnn.Sequential([L.RandomFlip("horizontal", seed=5)], name="aug")
    model = ccnn.Sequential([ccnn.Input((4, 4, 1)), aug, L.Flatten(), L.Dense(2)])
    x = np.random.default_rng(11).standard_normal((8, 4, 4, 1)).astype(np.float32)
    model(x, training=True)                   # the generator moves on
    model.save(tmp_path / "m.ccnn")
    loaded = ccnn.models.load_model(tmp_path / "m.ccnn")
    np.testing.assert_array_equal(loaded(x, training=True), model(x, training=True))


def test_a_frozen_base_with_batchnorm_runs_it_in_inference_mode_as_keras(keras):
    """Transfer learning's frozen base: its BatchNormalization uses (and keeps)
    the moving statistics in training, as Keras 3's; the head's SGD step and
    the training-mode outputs equal Keras's."""
    ccnn.utils.set_random_seed(0)
    model = base_then_head(ccnn)
    km = base_then_head(keras)
    weights = [np.random.default_rng(i).uniform(0.5, 1.5, w.shape).astype(np.float32)
               for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    km.set_weights(weights)
    model.layers[0].trainable = False
    km.layers[0].trainable = False
    x = np.random.default_rng(12).standard_normal((8, 6)).astype(np.float32)
    y = np.random.default_rng(13).standard_normal((8, 3)).astype(np.float32)
    np.testing.assert_allclose(model(x, training=True),
                               np.asarray(km(x, training=True).detach()), rtol=1e-5, atol=1e-5)
    model.compile(optimizer=ccnn.optimizers.SGD(0.1), loss="mse")
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(x, y)
    km.train_on_batch(x, y)
    for a, b, w in zip(model.get_weights(), km.get_weights(), weights):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.get_weights()[4], weights[4])    # moving mean kept


def test_model_input_and_output_are_its_tensors_as_keras():
    inp = ccnn.Input((3,))
    out = L.Dense(2)(inp)
    model = ccnn.Model(inp, out)
    assert model.input is inp and model.output is out
    seq = ccnn.Sequential([ccnn.Input((3,)), L.Dense(2)])
    assert seq.input is seq.inputs[0] and seq.output is seq.outputs[0]
    assert seq.output.shape == (None, 2)


def test_a_nested_model_without_weights_leads_the_compiled_training_plan():
    """A nested augmentation / preprocessing model runs before the training
    plan (one of its leading layers): the plan is used, the steps equal the
    flat model's."""
    def build(nested):
        pre = [ccnn.Sequential([L.Rescaling(0.5)], name="pre")] if nested else \
            [L.Rescaling(0.5)]
        return ccnn.Sequential([ccnn.Input((6, 6, 1)), *pre, L.Conv2D(2, 3, activation="relu"),
                                L.Flatten(), L.Dense(3, activation="softmax")])
    ccnn.utils.set_random_seed(0)
    model, flat = build(True), build(False)
    flat.set_weights(model.get_weights())
    rng = np.random.default_rng(14)
    x = rng.standard_normal((8, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    for m in (model, flat):
        m.compile(optimizer=ccnn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        for _ in range(3):
            m.train_on_batch(x, y)
    plans = model.__dict__.get("_train_plans")
    assert plans is not None and any(p for p in plans.plans.values())
    for a, b in zip(model.get_weights(), flat.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_walk_gives_the_trainable_layers_pairs_counts_and_nested_models():
    """nested.trainable_leaves: trainable layers, nested models walked into,
    frozen ones left out; trainable_pairs / params / count come from it;
    models_in lists a model and its nested models."""
    from ccnn.models import nested
    ccnn.utils.set_random_seed(0)
    deep = ccnn.Sequential([L.Dense(3, name="x1"), L.BatchNormalization(name="bn")], name="deep")
    inner = ccnn.Sequential([L.Dense(4, name="d1"), deep, L.Dense(4, name="d2")], name="inner")
    frozen = ccnn.Sequential([L.Dense(2, name="f1")], name="frozen")
    model = ccnn.Sequential([ccnn.Input((3,)), inner, frozen, L.Dense(2, name="top")])
    inner.layers[0].trainable = False
    frozen.trainable = False
    names = [layer.name for layer in nested.trainable_leaves(model.layers)]
    assert names == ["x1", "bn", "d2", "top"]
    want = [p for layer in (deep.layers[0], deep.layers[1], inner.layers[2], model.layers[2])
            for p in layer.params.values()]
    assert [id(p) for _, p in nested.trainable_params(model.layers)] == [id(p) for p in want]
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32))
    assert [id(p) for _, p in nested.trainable_pairs(model.layers)] == [id(p) for p in want]
    assert nested.trainable_count(model.layers) == sum(p.size for p in want)
    assert [id(p) for p in model.trainable_weights] == [id(p) for p in want]
    assert [m.name for m in nested.models_in(model)] == [model.name, "inner", "deep", "frozen"]
    with pytest.raises(ValueError, match="itself"):
        deep.add(model)


def test_summary_names_nested_models_as_keras(keras):
    """A nested Sequential is (Sequential), a nested functional model
    (Functional) in summary, in a Sequential and in a functional model."""
    import re

    def build(lib, outer):
        Lb = lib.layers
        seq = lib.Sequential([lib.Input((5,)), Lb.Dense(4)], name="inner_seq")
        i = lib.Input((4,))
        fn = lib.Model(i, Lb.Dense(2)(i), name="inner_fn")
        if outer == "sequential":
            return lib.Sequential([lib.Input((5,)), seq, fn])
        x = lib.Input((5,))
        return lib.Model(x, fn(seq(x)))

    for outer in ("sequential", "functional"):
        text = []
        build(keras, outer).summary(print_fn=lambda s, **kw: text.append(s))
        want = dict(re.findall(r"(inner_\w+) \((\w+)\)", "\n".join(text)))
        got = dict(re.findall(r"(inner_\w+) \((\w+)\)", "\n".join(rows(build(ccnn, outer)))))
        assert want == {"inner_seq": "Sequential", "inner_fn": "Functional"}
        assert got == want, outer


@pytest.mark.parametrize("outer", ["sequential", "functional"])
def test_activity_regularizers_inside_a_nested_model_add_to_the_loss_as_keras(keras, outer):
    """The activity regularization of a nested model's layers is in the
    loss evaluate reports and the one train_on_batch minimizes, as Keras's."""
    def build(lib):
        Lb = lib.layers
        inner = lib.Sequential([
            Lb.Dense(4, activation="tanh", activity_regularizer=lib.regularizers.L2(0.1),
                     name="d_in"),
            Lb.Dense(3, activity_regularizer=lib.regularizers.L1(0.05), name="d_in2")],
            name="inner")
        if outer == "sequential":
            return lib.Sequential([lib.Input((5,)), inner, Lb.Dense(2, name="head")])
        x = lib.Input((5,))
        return lib.Model(x, Lb.Dense(2, name="head")(inner(x)))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    km, model = build(keras), build(ccnn)
    weights = [rng.uniform(-1, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    km.set_weights(weights)
    model.set_weights(weights)
    for m, opt in ((km, keras.optimizers.SGD(0.1)), (model, ccnn.optimizers.SGD(0.1))):
        m.compile(opt, "mse")
    want = km.evaluate(x, y, verbose=0, batch_size=8)
    mse = float(np.mean((np.asarray(km.predict(x, verbose=0)) - y) ** 2))
    assert want - mse > 0.1                 # the regularization is in Keras's loss
    assert model.evaluate(x, y, verbose=0, batch_size=8) == pytest.approx(want, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)),
                                                      rel=1e-5)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
