"""Model files are untrusted input: 10,000 damaged copies of a saved model
(fixed seed) -- truncated, bits flipped, zip members renamed or duplicated,
shapes and dtypes changed in the config -- each load ends in a ValueError
or OSError naming the problem, or (when the damage hit nothing that
matters, e.g. a zip timestamp) in the very same model.  Never another
exception, a crash or a silently different model.  (Bytes changed inside a
member and the zip rebuilt around them, CRC and all, make a valid file of
other weights: that may load, with the config's shapes and dtypes.)  The Keras 3 format goes
through the same mutations (fewer cases: h5py is slower to open)."""
import io
import warnings
import json
import os
import zipfile

import numpy as np
import pytest

import ccnn
from ccnn import layers
from ccnn.models import inference, load_model

N_NATIVE = 10_000
N_KERAS = 1_000


def _model():
    ccnn.utils.set_random_seed(0)
    inputs = ccnn.Input((6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(layers.Add()([x, layers.Conv2D(3, 1)(inputs)]))
    x = layers.GlobalAveragePooling2D()(x)
    model = ccnn.Model(inputs, layers.Dense(4, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((5, 6, 6, 2)).astype(np.float32),
                         rng.integers(0, 4, 5))
    return model


def _fingerprint(model, x):
    """The weights and the per-layer predict: a mutation that leaves the model
    the same may still change whether the inference plan compiles (a layer's
    dtype float64 in a float32 model), and the plan's folded
    BatchNormalization rounds differently (tests/test_inference_plan_graph.py)."""
    inference.set_enabled(False)
    try:
        return [np.array(w) for w in model.get_weights()] + [model.predict(x, verbose=0)]
    finally:
        inference.set_enabled(True)


def _members(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


def _rezip(members):
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        warnings.simplefilter("ignore")                 # "Duplicate name": on purpose
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _mutate_json(obj, rng):
    """A shape or a dtype somewhere in the JSON replaced by a wrong one."""
    spots = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("shape", "batch_shape", "units", "filters", "kernel_size", "dtype") or (isinstance(v, str) and v in ("float32", "<f4")):
                    spots.append((o, k))
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(obj)
    if not spots:
        return False
    parent, key = spots[rng.integers(len(spots))]
    parent[key] = [[7], [1, 2, 3], "float64", "<f8", "int64", 0, -1, 10 ** 9, None, "x",
                   [None], 3.5][rng.integers(12)]
    return True


def _mutants(raw, rng, n):
    """n damaged copies of the zip file `raw`."""
    members = _members(raw)
    names = [info.filename for info, _ in members]
    jsons = [i for i, nm in enumerate(names) if nm.endswith(".json")]
    for _ in range(n):
        kind = rng.integers(6)
        if kind == 0:                                   # truncated
            yield "truncate", raw[:rng.integers(len(raw))]
        elif kind == 1:                                 # bits flipped anywhere
            b = bytearray(raw)
            for _ in range(rng.integers(1, 6)):
                b[rng.integers(len(b))] ^= 1 << int(rng.integers(8))
            yield "flip", bytes(b)
        elif kind == 2:                                 # a member renamed
            i = rng.integers(len(members))
            new = [(nm, data) for (info, data), nm in zip(members, names)]
            new[i] = (["old_" + new[i][0], new[i][0] + ".bak"][rng.integers(2)], new[i][1])
            yield "rename", _rezip(new)
        elif kind == 3:                                 # a member duplicated
            i = rng.integers(len(members))
            new = [(nm, data) for (info, data), nm in zip(members, names)]
            other = new[rng.integers(len(new))][1]
            new.insert(rng.integers(len(new) + 1), (new[i][0], other))
            yield "duplicate", _rezip(new)
        elif kind == 4 and jsons:                       # a shape or dtype in the config
            i = jsons[rng.integers(len(jsons))]
            obj = json.loads(members[i][1])
            if not _mutate_json(obj, rng):
                continue
            new = [(nm, data) for (info, data), nm in zip(members, names)]
            new[i] = (names[i], json.dumps(obj).encode())
            yield "config", _rezip(new)
        else:                                           # a member's bytes, zip rebuilt
            i = rng.integers(len(members))
            data = bytearray(members[i][1])
            if data:
                if rng.integers(2):
                    data = data[:rng.integers(len(data))]
                else:
                    data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
            new = [(nm, d) for (info, d), nm in zip(members, names)]
            new[i] = (names[i], bytes(data))
            yield "member", _rezip(new)


def _check_all(tmp_path, suffix, n, seed, keras_file=False):
    model = _model()
    path = tmp_path / f"m{suffix}"
    model.save(path)
    raw = path.read_bytes()
    x = np.random.default_rng(1).standard_normal((3, 6, 6, 2)).astype(np.float32)
    want = _fingerprint(model, x)
    # the undamaged file loads as the model (else every mutant would fail for nothing)
    intact = _fingerprint(load_model(path), x)
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(intact, want))
    rng = np.random.default_rng(seed)
    target = tmp_path / f"fuzz{suffix}"
    outcomes = {}
    for kind, data in _mutants(raw, rng, n):
        target.write_bytes(data)
        try:
            loaded = load_model(target)
        except (ValueError, OSError) as e:
            assert str(e), kind                         # a message, not a bare error
            outcomes[kind, "error"] = outcomes.get((kind, "error"), 0) + 1
            continue
        got = _fingerprint(loaded, x)
        if kind == "member":
            # a member's bytes changed and the zip rebuilt around them (its CRC
            # recomputed) is a valid file of other weights: it may load, as
            # such, but only with the shapes and dtypes of the config
            assert [(a.shape, a.dtype) for a in got] == [(a.shape, a.dtype) for a in want]
            outcomes[kind, "other"] = outcomes.get((kind, "other"), 0) + 1
            continue
        same = len(got) == len(want) and all(
            a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
            for a, b in zip(got, want))
        if not same and kind == "config" and len(got) == len(want):
            # a layer's dtype changed to float64 in the config: a valid file of that
            # model, loaded as Keras loads it (the stored weights cast to the layer's
            # dtype), so: the same weights, wider where the config says so
            same = all(a.shape == b.shape and a.dtype.kind == "f" and
                       a.dtype.itemsize >= b.dtype.itemsize and
                       np.array_equal(a.astype(b.dtype), b) for a, b in zip(got[:-1], want[:-1]))
            if same:
                outcomes[kind, "widened"] = outcomes.get((kind, "widened"), 0) + 1
                continue
        assert same, f"a {kind} mutation loaded as a different model"
        outcomes[kind, "same"] = outcomes.get((kind, "same"), 0) + 1
    # every kind of damage was tried, and most of it was caught
    assert {k for k, _ in outcomes} >= {"truncate", "flip", "rename", "duplicate", "config",
                                        "member"}, outcomes
    # of the mutants that did not load as the very same model (a renamed or
    # duplicated member nobody reads, ...), most were refused; the rest are valid
    # files of other weights (member) or of a wider dtype (config)
    errors = sum(v for (k, r), v in outcomes.items() if r == "error")
    same = sum(v for (k, r), v in outcomes.items() if r == "same")
    assert errors > 0.85 * (sum(outcomes.values()) - same), outcomes
    assert (tmp_path / f"m{suffix}").read_bytes() == raw     # the original untouched


def test_fuzz_ccnn_model_files(tmp_path):
    _check_all(tmp_path, ".ccnn", N_NATIVE, seed=2026)


def test_fuzz_keras_model_files(tmp_path):
    pytest.importorskip("h5py", reason="h5py is not installed (pip install 'ccnn[keras-files]')")
    _check_all(tmp_path, ".keras", N_KERAS, seed=2027)


def test_a_config_asking_for_huge_weights_is_refused_before_allocating(tmp_path):
    """Dense(10**9) in a file's config: a ValueError, not a 4 GB allocation."""
    model = _model()
    model.save(tmp_path / "m.ccnn")
    members = [(info.filename, data) for info, data in _members((tmp_path / "m.ccnn")
                                                                 .read_bytes())]
    manifest = json.loads(dict(members)["manifest.json"])
    dense = [layer for layer in manifest["model"]["config"]["layers"]
             if layer["class_name"] == "Dense"][0]
    dense["config"]["units"] = 10 ** 9
    members = [(n, json.dumps(manifest).encode() if n == "manifest.json" else d)
               for n, d in members]
    (tmp_path / "huge.ccnn").write_bytes(_rezip(members))
    with pytest.raises(ValueError, match="more than the file's arrays hold"):
        load_model(tmp_path / "huge.ccnn")
