"""A newcomer's first five minutes (issue 11): the README's two commands are
what CI runs, an unbuilt source tree says what to do, and ccnn's warnings
point at the user's line."""
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import ccnn

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
SCRIPT = REPO / ".ci" / "readme_commands.py"


def need_checkout():
    if not (README.exists() and CI_RUN.exists() and SCRIPT.exists()):
        pytest.skip("README.md / .ci/ are not shipped with this copy of the tests")


def readme_command(which):
    r = subprocess.run([sys.executable, str(SCRIPT), which], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


# ------------------------------------------------------- README <-> CI


def test_readme_commands_are_the_fenced_blocks():
    need_checkout()
    text = README.read_text(encoding="utf-8")
    for which, heading in (("main", "Install and run the main job"), ("test", "Run the tests")):
        section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
        block = section.split("```bash\n", 1)[1].split("```", 1)[0].strip()
        assert readme_command(which) == block
    # the robust form: the console script, which does not put the clone's
    # root (the unbuilt source ccnn/) first on sys.path as `python -m` does
    assert readme_command("main") == "pip install . && ccnn train"
    assert readme_command("test") == 'pip install ".[test]" && pytest'


def test_ci_runs_exactly_the_readme_commands():
    need_checkout()
    run = CI_RUN.read_text(encoding="utf-8")
    code = [ln.strip() for ln in run.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    # the commands come out of the README and are executed as printed ...
    assert 'MAIN=$(python .ci/readme_commands.py main)' in code
    assert 'TESTS=$(python .ci/readme_commands.py test)' in code
    assert any(ln.startswith('eval "$MAIN"') for ln in code)
    assert 'eval "$TESTS"' in code
    # ... the main job is checked on its accuracy, in a fresh venv, and CI
    # installs or tests ccnn in no other way behind the README's back
    assert 'python .ci/readme_commands.py check "$SCRATCH/main.log" 0.91' in code
    assert any(ln.startswith("python3 -m venv") for ln in code)
    assert not [ln for ln in code if re.search(r"pip install .*\.|(^|\s)pytest(\s|$)", ln)]
    # the README's other mentions of the command use the same form
    text = README.read_text(encoding="utf-8")
    assert "python -m ccnn train" not in text.split("## The command line", 1)[1].split("\n## ")[0]


def test_accuracy_check_reads_the_last_line(tmp_path):
    need_checkout()
    log = tmp_path / "log"

    def check(text, need):
        log.write_text(text)
        return subprocess.run([sys.executable, str(SCRIPT), "check", str(log), str(need)],
                              capture_output=True, text=True).returncode

    assert check("validation accuracy: 0.9168\ntest accuracy: 0.9126 (loss 0.2613)\n", 0.91) == 0
    assert check("test accuracy: 0.9000 (loss 0.3)\n", 0.91) == 1
    assert check("Traceback (most recent call last):\n", 0.91) == 1


# ------------------------------------------------- unbuilt source tree


def fake_checkout(tmp_path, with_setup):
    """A copy of ccnn's Python files with no compiled module, laid out as a
    source checkout (setup.py and csrc/ beside ccnn/) or not."""
    src = Path(ccnn.__file__).parent
    root = tmp_path / "clone"
    shutil.copytree(src, root / "ccnn",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "include"))
    assert not list((root / "ccnn").glob("*.so"))
    if with_setup:
        (root / "setup.py").write_text("# stands for the checkout's setup.py\n")
        (root / "csrc").mkdir()
    return root


@pytest.mark.parametrize("how", [["-c", "import ccnn"], ["-m", "ccnn", "train"]])
def test_import_from_unbuilt_source_tree_says_what_to_do(tmp_path, how):
    root = fake_checkout(tmp_path, with_setup=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, *how], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "you are importing ccnn from its source directory" in r.stderr
    assert "no compiled extensions" in r.stderr and "pip install" in r.stderr
    assert "circular import" not in r.stderr.split("ImportError: you are importing")[-1]


def test_import_with_missing_extensions_outside_a_checkout(tmp_path):
    root = fake_checkout(tmp_path, with_setup=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", "import ccnn"], cwd=root, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "compiled extension modules could not be imported" in r.stderr
    assert "reinstall ccnn" in r.stderr


# ------------------------------------------------- warning locations


def recorded(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return w


def tiny_model():
    from ccnn import layers
    m = ccnn.Sequential([layers.Flatten(input_shape=(4, 4, 1)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_fit_nan_warning_points_at_the_fit_call():
    m = tiny_model()
    x = np.ones((8, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    y = np.zeros(8, np.int64)
    w = recorded(lambda: m.fit(x, y, epochs=1, batch_size=4, verbose=0))
    nan = [r for r in w if issubclass(r.category, RuntimeWarning)]
    assert nan, [str(r.message) for r in w]
    assert all(r.filename == __file__ for r in nan), [(r.filename, r.lineno) for r in nan]


@pytest.mark.parametrize("callback", ["EarlyStopping", "ModelCheckpoint"])
def test_callback_warnings_point_at_the_fit_call(tmp_path, callback):
    from ccnn import callbacks
    m = tiny_model()
    cb = (callbacks.EarlyStopping(monitor="no_such_metric") if callback == "EarlyStopping"
          else callbacks.ModelCheckpoint(str(tmp_path / "w.npz"), monitor="no_such_metric",
                                         save_best_only=True))
    x, y = np.zeros((8, 4, 4, 1), np.float32), np.zeros(8, np.int64)
    w = recorded(lambda: m.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb]))
    ours = [r for r in w if "no_such_metric" in str(r.message)]
    assert ours and all(r.filename == __file__ for r in ours), [(r.filename, r.lineno) for r in w]


def test_dataset_warnings_point_at_the_load_call(tmp_path, monkeypatch):
    from ccnn.datasets import fashion_mnist
    monkeypatch.setenv("CCNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CCNN_FASHION_MNIST_URL", (tmp_path / "no-mirror").as_uri())
    monkeypatch.delenv("CCNN_DATA", raising=False)
    w = recorded(lambda: fashion_mnist.load_data(path=str(tmp_path / "nowhere"),
                                                 fallback_to_sample=True))
    assert len(w) >= 2   # the path argument that failed, then the loud fallback
    assert all(r.filename == __file__ for r in w), [(r.filename, r.lineno) for r in w]
    assert any(issubclass(r.category, fashion_mnist.SampleFallbackWarning) for r in w)


def test_every_warning_in_the_package_goes_through_warn():
    """No bare warnings.warn with a fixed stacklevel left in ccnn/."""
    pkg = Path(ccnn.__file__).parent
    bare = [f"{p.relative_to(pkg)}:{i}" for p in pkg.rglob("*.py") if p.name != "_warnings.py"
            for i, ln in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if "warnings.warn(" in ln]
    assert not bare
