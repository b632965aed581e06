"""The READMEs' Python examples run as written.

Every ```python block of README.md and README.ko.md is in BLOCKS below: run
by a test of this file, run by the named test of another file (next to the
feature it shows), or excluded with the reason.  test_every_block_is_accounted_for
fails when a block is added, removed or changed so that it no longer matches
its entry, so no example can go untested unnoticed."""

import ast
import os
import re

import numpy as np
import pytest

HERE = os.path.dirname(__file__)
README = os.path.join(HERE, "..", "README.md")
README_KO = os.path.join(HERE, "..", "README.ko.md")


def python_blocks(path, section=None):
    """The ```python blocks of the README at `path` (of its `## section` only,
    when given); skips the test when the README is not shipped with this copy
    of the tests (the wheel round trip copies tests/ and examples/ only)."""
    if not os.path.exists(path):
        pytest.skip(f"{os.path.basename(path)} is not shipped with this copy of the tests")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if section is not None:
        assert f"\n## {section}" in text, f"no section {section!r} in {path}"
        text = text.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, f"no python block in {os.path.basename(path)} {section or ''}"
    return blocks


# (README, a string only that block holds, who runs it)
BLOCKS = [
    ("README.md", "F.correlate([1, 3, 2, 2, 0, 2, 3]", "test_functional_api_example_runs"),
    ("README.md", "model.save_weights(\"book.weights.npz\")", "test_book_model_blocks_run"),
    ("README.md", "schedules.CosineDecay(1e-3", "test_book_model_blocks_run"),
    ("README.md", "class_weight={6: 2.0}", "test_book_model_blocks_run"),
    ("README.md", "CategoricalFocalCrossentropy(alpha=0.25",
     "tests/test_metrics_keras2.py::test_readme_example_runs"),
    ("README.md", "# the skip connection", "tests/test_functional_model.py::test_readme_section_runs"),
    ("README.md", "feature_model = ccnn.Model(", "tests/test_functional_model.py::test_readme_section_runs"),
    ("README.md", "data_augmentation = ccnn.Sequential(",
     "tests/test_nested_models.py::test_the_readme_example_runs"),
    ("README.md", "ort.InferenceSession(\"m.onnx\"", "test_onnx_export_block_runs"),
    ("README.md", "again = ccnn.models.load_model(\"m.ccnn\")",
     "tests/test_save_model.py::test_readme_example_runs"),
    ("README.md", "load_model(\"from_keras.keras\")", "test_keras_files_block_runs"),
    ("README.md", "vis.plot_weight_histograms(model)", "test_pictures_example_runs"),
    ("README.md", "inc = ccnn.get_include()", "test_downstream_setup_block_matches_the_example"),
    ("README.md", "model = build_resnet_small()", "test_resnet_predict_block_runs"),
    ("README.md", "print(train_plan.calls())", "tests/test_train_plan.py::test_the_readme_example_runs"),
    ("README.md", "print(train_plan.calls() - before)",
     "tests/test_train_graph.py::test_the_readme_example_runs"),
    ("README.md", "steps_per_execution=10)", "tests/test_steps_per_execution.py::test_the_readme_example_runs"),
    ("README.md", "# mpiexec -n 2 python train.py",
     "tests/test_distribution.py::test_readme_scale_out_example_runs"),
    ("README.ko.md", "F.correlate([1, 3, 2, 2, 0, 2, 3]", "test_korean_readme_blocks_run"),
    ("README.ko.md", "vis.plot_misclassified(", "test_korean_readme_blocks_run"),
]

# Not run, and why.  The setup.py of the "Embedding" section is
# examples/downstream/setup.py abridged (its Cython module only): running it
# compiles an extension, which tests/test_embedding.py does with the full file;
# test_downstream_setup_block_matches_the_example checks that the two agree.
EXCLUDED = {"inc = ccnn.get_include()": "a setup.py: builds a C extension "
            "(tests/test_embedding.py builds examples/downstream/setup.py)"}


def test_every_block_is_accounted_for():
    """Each block of both READMEs matches exactly one entry of BLOCKS and each
    entry one block; an entry naming another file's test names a test that
    exists there and reads this README's blocks."""
    for readme in (README, README_KO):
        name = os.path.basename(readme)
        blocks = python_blocks(readme)
        entries = [e for e in BLOCKS if e[0] == name]
        for i, block in enumerate(blocks):
            hits = [e for e in entries if e[1] in block]
            assert len(hits) == 1, f"{name} python block {i} matches {len(hits)} entries " \
                f"of BLOCKS (add it, with the test that runs it):\n{block[:300]}"
        for e in entries:
            assert sum(e[1] in b for b in blocks) == 1, f"{e} matches no single block of {name}"
    here = open(__file__, encoding="utf-8").read()
    for _, marker, runner in BLOCKS:
        if "::" in runner:
            path, test = runner.split("::")
            with open(os.path.join(HERE, os.path.basename(path)), encoding="utf-8") as f:
                src = f.read()
            assert f"def {test}(" in src and "README" in src, runner
        else:
            assert f"def {runner}(" in here, runner
    assert set(EXCLUDED) <= {e[1] for e in BLOCKS}


def check_commented_values(block, scope):
    """Lines `F.correlate(...)  # [values]` give the values their comment shows."""
    checked = 0
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        if code.startswith(("F.correlate(", "F.convolve(")) and "[" in comment:
            want = ast.literal_eval(comment[comment.index("["):].strip())
            np.testing.assert_array_equal(eval(code, scope), want, err_msg=line)
            checked += 1
    return checked


def run_block(block, name, scope=None):
    """Execute block in scope (a new one by default: a block that goes on
    from an earlier one runs in that block's scope)."""
    scope = {} if scope is None else scope
    exec(compile(block, name, "exec"), scope)
    return scope


def test_functional_api_example_runs(capsys):
    block = python_blocks(README, "The functional API")[0]
    scope = run_block(block, "README.md")
    assert scope["h"].shape == (8, 100)
    assert scope["gx"].shape == scope["x"].shape
    assert scope["p"].shape == (8, 10, 14, 14) and scope["y"].shape == (8, 10, 28, 28)
    assert check_commented_values(block, scope) == 2
    assert "gemm micro-kernel" in capsys.readouterr().out     # show_config()


def test_pictures_example_runs():
    from _testutils import require_optional
    require_optional("matplotlib", "the plot extra").use("Agg")
    blocks = python_blocks(README, "What the network learned: pictures, report, TensorBoard")
    scope = run_block(blocks[0], "README.md")
    assert len(scope["fig"].axes) == 4          # kernel and bias of the conv and the Dense
    assert scope["y_pred"].shape == (400,)


def test_korean_readme_is_linked_and_has_the_sections():
    if not (os.path.exists(README) and os.path.exists(README_KO)):
        pytest.skip("README.md / README.ko.md are not shipped with this copy of the tests")
    with open(README, encoding="utf-8") as f:
        head = f.read().split("\n## ", 1)[0]
    assert "(README.ko.md)" in head
    with open(README_KO, encoding="utf-8") as f:
        ko = f.read()
    sections = re.findall(r"^## (.+)$", ko, flags=re.M)
    for want in ("설치", "테스트", "함수형 API", "층과 모델"):
        assert any(want in s for s in sections), (want, sections)
    for term in ("합성곱", "교차 상관", "패딩", "스트라이드", "풀링", "드롭아웃", "fonts-nanum"):
        assert term in ko, term


def test_korean_readme_blocks_run(capsys):
    from _testutils import require_optional
    require_optional("matplotlib", "the plot extra").use("Agg")
    blocks = python_blocks(README_KO)
    scopes = [run_block(block, f"README.ko.md block {i}") for i, block in enumerate(blocks)]
    functional = next(s for s in scopes if "gx" in s)
    assert check_commented_values(blocks[0], functional) == 4
    assert functional["h"].shape == (8, 100) and functional["gx"].shape == functional["x"].shape
    model = next(s for s in scopes if "history" in s)
    assert model["accuracy"] > 0.5      # the book's model, a few epochs on the sample


def block_with(path, marker):
    hits = [b for b in python_blocks(path) if marker in b]
    assert len(hits) == 1, marker
    return hits[0]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The book's model block of "Layers and the model", run in a fresh
    directory on the packaged sample: the block's load_data(fallback_to_sample=True)
    falls back to it when the documented search path ($CCNN_DATA, the cache
    $CCNN_CACHE_DIR, $CCNN_FASHION_MNIST_URL's download) has no data -- 20
    epochs on 1,280 images instead of 48,000 (`ccnn train` trains the same model
    on the full data in CI)."""
    from ccnn.datasets import fashion_mnist
    here = tmp_path_factory.mktemp("readme_book")
    mp = pytest.MonkeyPatch()
    mp.chdir(here)
    mp.delenv("CCNN_DATA", raising=False)
    mp.setenv("CCNN_CACHE_DIR", str(here / "cache"))
    mp.setenv("CCNN_FASHION_MNIST_URL", (here / "nowhere").as_uri())
    try:
        with pytest.warns(fashion_mnist.SampleFallbackWarning):
            scope = run_block(block_with(README, 'model.save_weights("book.weights.npz")'),
                              "README.md")
        yield here, scope
    finally:
        mp.undo()


def test_book_model_blocks_run(book, monkeypatch):
    """The book's model, then the two blocks of "Metrics, learning-rate schedules
    and training callbacks" that go on with its model and data."""
    here, scope = book
    monkeypatch.chdir(here)
    assert len(scope["history"].history["val_accuracy"]) == 20
    assert scope["accuracy"] > 0.7
    assert scope["probs"].shape == (5, 10)
    np.testing.assert_allclose(scope["probs"].sum(axis=1), 1, rtol=1e-5)
    assert (here / "book.weights.npz").exists()

    run_block(block_with(README, "schedules.CosineDecay(1e-3"), "README.md", scope)
    assert set(scope["scores"]) == {"loss", "accuracy", "top3"}   # the comment's keys
    with open(here / "training.csv", encoding="utf-8") as f:
        rows = f.read().splitlines()
    assert rows[0].split(",")[:2] == ["epoch", "accuracy"] and len(rows) == 1 + 15

    run_block(block_with(README, "class_weight={6: 2.0}"), "README.md", scope)
    assert set(scope["model"].history.history) == {"loss", "accuracy", "weighted_accuracy"}


def test_onnx_export_block_runs(book, monkeypatch):
    """"ONNX export": the file its first sentence writes, then its block; the
    runtime gives what predict gives."""
    from _testutils import require_optional
    require_optional("onnx", "the onnx extra")
    require_optional("onnxruntime", "the ONNX export tests")
    here, scope = book
    monkeypatch.chdir(here)
    scope["model"].export("m.onnx", format="onnx")
    run_block(block_with(README, 'ort.InferenceSession("m.onnx"'), "README.md", scope)
    np.testing.assert_allclose(scope["probs"], scope["model"].predict(scope["x_test"][:8]),
                               rtol=1e-5, atol=1e-5)


def test_keras_files_block_runs(tmp_path, monkeypatch):
    """"Keras files": the block reads a .keras file that Keras wrote (the book's
    CNN, compiled with one-hot labels: the block's y_train_encoded) and writes
    two files that Keras reads and predicts the same from."""
    from _testutils import keras_or_skip, require_optional
    keras = keras_or_skip()
    require_optional("h5py", "the keras-files extra")
    import ccnn
    from ccnn.datasets import fashion_mnist
    monkeypatch.chdir(tmp_path)
    (x, y), _ = fashion_mnist.load_sample()
    x_train = (x[:256] / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    y_train_encoded = ccnn.utils.to_categorical(y[:256], 10)
    K = keras.layers
    keras.utils.set_random_seed(0)
    theirs = keras.Sequential([keras.Input((28, 28, 1)),
                               K.Conv2D(10, 3, activation="relu", padding="same"),
                               K.MaxPooling2D(2), K.Flatten(), K.Dense(10, activation="softmax")])
    theirs.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    theirs.fit(x_train, y_train_encoded, epochs=1, verbose=0)
    theirs.save("from_keras.keras")
    scope = {"ccnn": ccnn, "x_train": x_train, "y_train_encoded": y_train_encoded}
    run_block(block_with(README, 'load_model("from_keras.keras")'), "README.md", scope)
    ours = scope["model"].predict(x_train[:32], verbose=0)
    back = keras.saving.load_model("for_keras.keras")
    np.testing.assert_allclose(np.asarray(back.predict(x_train[:32], verbose=0)), ours,
                               rtol=1e-5, atol=1e-5)
    theirs.load_weights("m.weights.h5")
    np.testing.assert_allclose(np.asarray(theirs.predict(x_train[:32], verbose=0)), ours,
                               rtol=1e-5, atol=1e-5)


def test_resnet_predict_block_runs(capsys):
    run_block(block_with(README, "model = build_resnet_small()"), "README.md")
    assert capsys.readouterr().out.strip() == "(8, 10)"       # the comment's shape


def test_downstream_setup_block_matches_the_example():
    """The "Embedding" setup.py (excluded from running, see EXCLUDED) is
    examples/downstream/setup.py's Cython part: the same Extension, include
    directories and include_path."""
    block = block_with(README, "inc = ccnn.get_include()")
    real = os.path.join(HERE, "..", "examples", "downstream", "setup.py")
    if not os.path.exists(real):
        pytest.skip("examples/downstream is not shipped with this copy of the tests")
    with open(real, encoding="utf-8") as f:
        flat = " ".join(f.read().split())
    compile(block, "README.md", "exec")
    for part in ('Extension("ccnn_downstream._fused", ["ccnn_downstream/_fused.pyx"], '
                 'include_dirs=[inc])', "inc = ccnn.get_include()", "include_path=[inc]",
                 "from Cython.Build import cythonize", "from setuptools import Extension, setup"):
        assert part in " ".join(block.split()) and part in flat, part
