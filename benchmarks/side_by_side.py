"""Plot and tabulate two training logs side by side: ccnn's and TensorFlow/Keras's.

    python benchmarks/side_by_side.py docs/runs/modern15-ccnn.txt docs/runs/modern15-tf.txt \\
        --labels ccnn "TensorFlow/Keras" --out docs/modern-vs-tf.png

Each log holds the lines `epoch N T s val_acc V` that examples/fashion_modern.py and
../shared/anchors/modern_tf.py print, their final `val V test T` line, and the
`/usr/bin/time -v` lines (wall clock, maximum resident set size) of the run.
Writes the figure (validation accuracy and seconds per epoch against the epoch)
and prints a Markdown table of the medians, the test accuracy and the peak RSS.
"""
from __future__ import annotations

import argparse
import re
import statistics
from typing import Dict, List


def parse(path: str) -> Dict[str, object]:
    epochs: List[int] = []
    seconds: List[float] = []
    val: List[float] = []
    out: Dict[str, object] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"epoch (\d+) ([\d.]+) s val_acc ([\d.]+)", line.strip())
            if m:
                epochs.append(int(m.group(1)))
                seconds.append(float(m.group(2)))
                val.append(float(m.group(3)))
                continue
            m = re.match(r"val ([\d.]+) test ([\d.]+)", line.strip())
            if m:
                out["test"] = float(m.group(2))
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", line)
            if m:
                out["rss_mb"] = int(m.group(1)) / 1024
    if not epochs:
        raise SystemExit(f"{path}: no 'epoch N T s val_acc V' lines")
    out.update(epochs=epochs, seconds=seconds, val=val)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs=2)
    ap.add_argument("--labels", nargs=2, default=["ccnn", "TensorFlow/Keras"])
    ap.add_argument("--out", default="docs/modern-vs-tf.png")
    args = ap.parse_args()
    runs = [parse(p) for p in args.logs]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run, label in zip(runs, args.labels):
        a1.plot(run["epochs"], run["val"], marker="o", label=label)
        a2.plot(run["epochs"], run["seconds"], marker="o", label=label)
    a1.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy")
    a2.set(xlabel="epoch", ylabel="seconds", title="Seconds per epoch (2 cores)", yscale="log")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)

    print("| | " + " | ".join(args.labels) + " |")
    print("|---|" + "---|" * len(runs))
    rows = [("median seconds per epoch", lambda r: f"{statistics.median(r['seconds']):.1f}"),
            ("validation accuracy, last epoch", lambda r: f"{r['val'][-1]:.4f}"),
            ("test accuracy", lambda r: f"{r.get('test', float('nan')):.4f}"),
            ("peak RSS (MB)", lambda r: f"{r.get('rss_mb', float('nan')):,.0f}")]
    for name, fmt in rows:
        print(f"| {name} | " + " | ".join(fmt(r) for r in runs) + " |")


if __name__ == "__main__":
    main()
