"""The command line: python -m ccnn train / evaluate / info, in subprocesses.

The training data come from $CCNN_DATA when it is set (CI points it at the
real Fashion-MNIST files); otherwise the trainer must fall back to the
packaged sample, loudly -- downloads are disabled here so the test never
touches the network.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest



PICTURES = ("curves.png", "filters.png", "feature-maps.png", "confusion-matrix.png",
            "misclassified.png")


def env_for_cli(tmp_path):
    env = dict(os.environ)
    data = env.get("CCNN_DATA")
    if data:
        env["CCNN_DATA"] = os.path.abspath(data)  # CI gives it relative to the repo
    env["CCNN_CACHE_DIR"] = str(tmp_path / "cache")            # never the user's cache
    env["CCNN_FASHION_MNIST_URL"] = (tmp_path / "no-mirror").as_uri()  # never the network
    return env


def run(args, tmp_path, timeout=240):
    return subprocess.run([sys.executable, "-m", "ccnn", *args], cwd=tmp_path,
                          env=env_for_cli(tmp_path), capture_output=True, text=True,
                          timeout=timeout)


def using_full_data():
    data = os.environ.get("CCNN_DATA")
    return bool(data) and any((Path(data) / f"train-labels-idx1-ubyte{ext}").exists()
                              for ext in ("", ".gz"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "out"
    r = run(["train", "--epochs", "1", "--limit", "2000", "--out", str(out)], tmp)
    return r, out, tmp


def test_train_writes_weights_and_reports(trained_run):
    r, out, _ = trained_run
    assert r.returncode == 0, r.stderr
    assert (out / "weights.npz").is_file()
    assert (out / "history.json").is_file()
    assert "Total params: 197,210" in r.stdout
    n = 2000 if using_full_data() else 1600  # --limit 2000 of 60,000, or of the sample
    assert f"{n * 4 // 5} train / {n // 5} validation" in r.stdout
    # not a terminal: one plain line per epoch, with the epoch's numbers
    line = [s for s in r.stdout.splitlines() if s.startswith("Epoch 1/1")]
    assert len(line) == 1 and "loss:" in line[0] and "val_accuracy:" in line[0]
    val = float(re.search(r"validation accuracy: ([0-9.]+)", r.stdout).group(1))
    test = float(re.search(r"test accuracy: ([0-9.]+)", r.stdout).group(1))
    assert val > 0.6 and test > 0.6  # one epoch on 1,600 images
    for name in ("weights.npz", "model.json", "history.json", "report.html"):
        assert (out / name).is_file(), name
    if importlib.util.find_spec("matplotlib") is not None:  # the optional plot extra
        for name in PICTURES:
            assert (out / name).is_file(), name
            assert f"picture: {out / name}" in r.stdout
    else:
        assert "matplotlib is not installed" in r.stdout
    if using_full_data():
        assert "full Fashion-MNIST" in r.stdout and "10000 test" in r.stdout
    else:
        assert "USING THE PACKAGED SAMPLE" in r.stdout
        assert "WARNING" in r.stderr


def test_evaluate_saved_weights(trained_run):
    r, out, tmp = trained_run
    test = re.search(r"test accuracy: ([0-9.]+)", r.stdout).group(1)
    e = run(["evaluate", "--weights", str(out / "weights.npz")], tmp)
    assert e.returncode == 0, e.stderr
    assert f"test accuracy: {test}" in e.stdout  # the same model on the same test set
    rows = [s for s in e.stdout.splitlines() if re.match(r"\d [A-Z]", s)]
    assert len(rows) == 10 and rows[9].startswith("9 Ankle boot")
    counts = [list(map(int, s[18:].split()[:10])) for s in rows]
    n_test = 10000 if using_full_data() else 400
    assert sum(map(sum, counts)) == n_test


def test_evaluate_rejects_other_weights(tmp_path):
    import numpy as np
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"layer0/kernel": np.zeros((3, 1, 3, 3), np.float32)})
    e = run(["evaluate", "--weights", str(bad), "--sample"], tmp_path)
    assert e.returncode == 2
    assert "do not match this model" in e.stderr
    e = run(["evaluate", "--weights", str(tmp_path / "nope.npz"), "--sample"], tmp_path)
    assert e.returncode == 2 and "nope.npz" in e.stderr


def test_train_on_sample_flag(tmp_path):
    r = run(["train", "--sample", "--epochs", "1", "--limit", "300", "--batch-size", "64",
             "--optimizer", "sgd", "--learning-rate", "0.05", "--out", "o", "--verbose", "2",
             "--threads", "1"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "packaged sample" in r.stdout and "240 train / 60 validation / 400 test" in r.stdout
    assert (tmp_path / "o" / "weights.npz").is_file()


@pytest.mark.parametrize("model", ["book", "modern"])
def test_train_steps_per_execution_is_bit_identical(tmp_path, model):
    """--steps-per-execution N runs N steps per C call (one-hot labels with
    accuracy, as the CLI compiles): the weights and the history are those of
    N = 1 bit for bit, a partial last execution included (300 // 64)."""
    import numpy as np
    out = {}
    for n in ("1", "3"):
        r = run(["train", "--model", model, "--sample", "--epochs", "2", "--limit", "300",
                 "--batch-size", "64", "--out", f"o{n}", "--verbose", "2", "--threads", "1",
                 "--steps-per-execution", n], tmp_path, timeout=400)
        assert r.returncode == 0, r.stderr
        record = json.loads((tmp_path / f"o{n}" / "history.json").read_text())
        assert record["steps_per_execution"] == int(n)
        with np.load(tmp_path / f"o{n}" / "weights.npz") as f:
            out[n] = ({k: f[k] for k in f.files}, record["history"])
    (w1, h1), (w3, h3) = out["1"], out["3"]
    assert h1 == h3 and sorted(w1) == sorted(w3)
    for k in w1:
        assert w1[k].tobytes() == w3[k].tobytes(), k


def test_info_and_bad_arguments(tmp_path):
    r = run(["info"], tmp_path)
    assert r.returncode == 0 and "ccnn 0.1.0" in r.stdout and "simd path" in r.stdout
    for args, msg in ((["train", "--epochs", "0"], "positive integer"),
                      (["train", "--optimizer", "ftrl"], "invalid choice"),
                      (["evaluate"], "--weights"), ([], "required"),
                      (["train", "--learning-rate", "-1"], ">= 0"),
                      (["train", "--steps-per-execution", "0"], "positive integer")):
        r = run(args, tmp_path)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)


def test_closed_stdout_is_quiet(tmp_path):
    """`ccnn info | head -1`: a reader that has gone away ends the command
    with status 1 and no traceback."""
    r_fd, w_fd = os.pipe()
    os.close(r_fd)                      # the reader is gone before the first write
    try:
        p = subprocess.run([sys.executable, "-m", "ccnn", "info"], cwd=tmp_path,
                           env=env_for_cli(tmp_path), stdout=w_fd, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(w_fd)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


@pytest.mark.skipif(shutil.which("ccnn") is None, reason="console script not installed")
def test_console_script(tmp_path):
    r = subprocess.run(["ccnn", "info"], capture_output=True, text=True,
                       env=env_for_cli(tmp_path), timeout=60)
    assert r.returncode == 0 and "ccnn 0.1.0" in r.stdout


def test_plain_import_reaches_datasets_lazily(tmp_path):
    code = ("import sys, ccnn\n"
            "assert 'ccnn.datasets' not in sys.modules and 'ccnn.models' not in sys.modules\n"
            "assert ccnn.datasets.fashion_mnist.class_names[9] == 'Ankle boot'\n"
            "from ccnn import Sequential\n"
            "assert Sequential is ccnn.models.Sequential\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env_for_cli(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_train_record_and_report(trained_run):
    import json
    r, out, tmp = trained_run
    record = json.loads((out / "history.json").read_text(encoding="utf-8"))
    test_acc = float(re.search(r"test accuracy: ([0-9.]+)", r.stdout).group(1))
    assert round(record["test_accuracy"], 4) == test_acc
    cm = record["confusion_matrix"]
    n_test = 10000 if using_full_data() else 400
    assert len(cm) == 10 and sum(map(sum, cm)) == n_test
    # the diagonal of the test confusion matrix is the test accuracy
    assert sum(cm[i][i] for i in range(10)) / n_test == pytest.approx(record["test_accuracy"])
    assert any("Total params: 197,210" in line for line in record["summary"])
    assert record["class_names"][9] == "Ankle boot"
    assert json.loads((out / "model.json").read_text())["layers"][0]["class_name"] == "Conv2D"
    page = (out / "report.html").read_text(encoding="utf-8")
    for key in ("val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        shown = re.search(rf'data-key="{key}" data-value="([^"]+)">([^<]+)<', page)
        assert float(shown.group(1)) == record[key] and shown.group(2) == f"{record[key]:.4f}"
    assert "http://" not in page and "https://" not in page and "<script" not in page
    if importlib.util.find_spec("matplotlib") is not None:
        assert page.count('src="data:image/png;base64,') == len(PICTURES)


def test_report_rebuilds_the_page(trained_run):
    r, out, tmp = trained_run
    original = (out / "report.html").read_bytes()
    (out / "report.html").unlink()
    rb = run(["report", str(out)], tmp)
    assert rb.returncode == 0, rb.stderr
    assert f"report: {out / 'report.html'}" in rb.stdout
    assert (out / "report.html").read_bytes() == original   # from the run's files alone
    missing = run(["report", str(tmp / "no-such-run")], tmp)
    assert missing.returncode == 2 and "history.json not found" in missing.stderr
    (tmp / "broken").mkdir()
    (tmp / "broken" / "history.json").write_text("{not json")
    broken = run(["report", str(tmp / "broken")], tmp)
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr


def test_evaluate_draws_confusion_and_misclassified(trained_run):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    r, out, tmp = trained_run
    e = run(["evaluate", "--weights", str(out / "weights.npz"), "--out", "ev",
             "--class-names", "ko"], tmp)
    assert e.returncode == 0, e.stderr
    for name in ("confusion-matrix.png", "misclassified.png"):
        assert (tmp / "ev" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"picture: {os.path.join('ev', name)}" in e.stdout
    assert not (tmp / "ev" / "filters.png").exists()


def test_train_without_matplotlib_says_what_was_skipped(tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib blocked by the test')\n")
    env = env_for_cli(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker.parent),
                                                      env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-m", "ccnn", "train", "--sample", "--epochs", "1",
                        "--limit", "200", "--out", "o", "--verbose", "0"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert ("matplotlib is not installed, so these pictures were not drawn: "
            + ", ".join(PICTURES)) in r.stdout
    out = tmp_path / "o"
    assert not any((out / name).exists() for name in PICTURES)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Not drawn: " + ", ".join(PICTURES) in page and "matplotlib is not installed" in page
    assert "<img" not in page


def test_train_modern_model_and_evaluate_it(tmp_path):
    """--model modern trains the Conv-BatchNorm-ReLU network (its own split:
    the first 80 % train), and evaluate rebuilds it from the run's model.json."""
    r = run(["train", "--model", "modern", "--epochs", "1", "--limit", "600", "--out", "m",
             "--verbose", "2"], tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr
    assert "Total params: 468,394" in r.stdout and "Non-trainable params: 384" in r.stdout
    assert "480 train / 120 validation" in r.stdout
    assert "batch_normalization_3 (BatchNormalization)" in r.stdout
    record = json.loads((tmp_path / "m" / "history.json").read_text())
    assert record["model"] == "modern" and record["batch_size"] == 64 and record["epochs"] == 1
    assert record["optimizer"]["learning_rate"]["class_name"] == "CosineDecay"
    test = re.search(r"test accuracy: ([0-9.]+)", r.stdout).group(1)
    e = run(["evaluate", "--weights", str(tmp_path / "m" / "weights.npz"), "--limit", "10000"],
            tmp_path)
    assert e.returncode == 0, e.stderr
    assert f"test accuracy: {test}" in e.stdout


def test_train_resnet_model_and_evaluate_it(tmp_path):
    """--model resnet trains ccnn.cli.build_resnet_small (examples/resnet_small.py's
    functional network) with Adam, cosine decay from 2e-3, batch 128, and
    evaluate rebuilds the functional model from the run's model.json."""
    r = run(["train", "--model", "resnet", "--sample", "--epochs", "1", "--limit", "300",
             "--out", "r", "--verbose", "0"], tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr
    assert "Total params: 309,418" in r.stdout and "240 train / 60 validation" in r.stdout
    assert "add_2 (Add)" in r.stdout
    record = json.loads((tmp_path / "r" / "history.json").read_text())
    assert record["model"] == "resnet" and record["batch_size"] == 128
    lr = record["optimizer"]["learning_rate"]
    assert lr["class_name"] == "CosineDecay"
    assert lr["config"]["initial_learning_rate"] == pytest.approx(2e-3)
    test = re.search(r"test accuracy: ([0-9.]+)", r.stdout).group(1)
    e = run(["evaluate", "--weights", str(tmp_path / "r" / "weights.npz"), "--sample"],
            tmp_path)
    assert e.returncode == 0, e.stderr
    assert f"test accuracy: {test}" in e.stdout
