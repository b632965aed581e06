"""The chapter-8 examples run end to end on a small subset (subprocesses)."""
import re
import subprocess
import sys
from pathlib import Path

from test_cli import env_for_cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, args, tmp_path):
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path,
                          env=env_for_cli(tmp_path), capture_output=True, text=True,
                          timeout=240)


def test_book_keras(tmp_path):
    r = run_example("book_keras.py", ["--limit", "1000", "--epochs", "1"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    # the book's print(x_train.shape): 80 % of 1,000, split per class
    assert any(re.fullmatch(r"\((79\d|80\d), 28, 28, 1\)", s) for s in out), out[:3]
    # both of the book's models: 197,210 parameters each (Dropout adds none)
    assert sum("Total params: 197,210" in s for s in out) == 2
    assert sum(s.startswith("dropout (Dropout)") for s in out) == 1
    accuracies = [float(s) for s in out if s.replace(".", "", 1).isdigit()]
    assert len(accuracies) == 2 and all(0.5 < a <= 1 for a in accuracies)


def test_book_convnet(tmp_path):
    r = run_example("book_convnet.py", ["--limit", "1000", "--epochs", "2",
                                        "--batch-size", "32"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch ") == 2
    losses = r.stdout.split("training losses:")[1].split("\n")[0].split()
    assert len(losses) == 2 and float(losses[1]) < float(losses[0])
    acc = float(r.stdout.split("validation accuracy:")[1].split()[0])
    assert acc > 0.6
