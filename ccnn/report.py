"""ccnn.report -- the pictures and the report.html of a training run (`ccnn train`, `ccnn report`).

A run directory holds history.json (settings, per-epoch numbers, final
metrics, the test set's confusion matrix, the model summary, timings),
weights.npz, model.json and the pictures; report.html is rebuilt from those
files alone: one self-contained page, the pictures embedded as data: URIs, no
script and nothing fetched from the network.
"""
from __future__ import annotations

import base64
import html
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._fileio import atomic_write

#: file name -> caption, in the order the report shows them
PICTURES: Tuple[Tuple[str, str], ...] = (
    ("curves.png", "Loss and accuracy per epoch"),
    ("filters.png", "The 3x3 filters the convolution learned (red positive, blue negative)"),
    ("feature-maps.png", "One test image of each class and the feature maps the convolution "
                         "makes of it"),
    ("confusion-matrix.png", "Confusion matrix on the test set"),
    ("misclassified.png", "Test images the model gets wrong"),
)

#: the final metrics of history.json, in the order the report lists them
METRICS = ("val_loss", "val_accuracy", "test_loss", "test_accuracy")


def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` atomically (_fileio.AtomicFile): a reader sees the
    old file or the complete new one."""
    with atomic_write(path) as f:
        f.write(data)


def write_json(path: str, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def save_figure(fig: Any, path: str) -> None:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_atomic(path, buf.getvalue())


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw_pictures(out: str, model: Any, x_test: np.ndarray, y_test: np.ndarray,
                  y_pred: np.ndarray, history: Optional[Dict[str, List[float]]] = None,
                  class_names: Any = "en",
                  which: Optional[Sequence[str]] = None
                  ) -> Tuple[List[str], List[str]]:
    """Draw the pictures named in `which` into `out` -> (written paths,
    skipped file names); everything is skipped when matplotlib is missing.
    Default: every picture of PICTURES."""
    which = [name for name, _ in PICTURES] if which is None else list(which)
    if not have_matplotlib():
        return [], list(which)
    from . import visualization as vis

    def feature_maps() -> Any:
        names, _ = vis.class_names_for(class_names, int(y_test.max()) + 1)
        classes = [c for c in range(len(names)) if np.any(y_test == c)]
        first = [int(np.flatnonzero(y_test == c)[0]) for c in classes]
        return vis.plot_feature_maps(model, x_test[first], labels=[names[c] for c in classes])

    draw = {"curves.png": lambda: vis.plot_history(history),
            "filters.png": lambda: vis.plot_filters(model),
            "feature-maps.png": feature_maps,
            "confusion-matrix.png": lambda: vis.plot_confusion_matrix(y_test, y_pred,
                                                                      class_names),
            "misclassified.png": lambda: vis.plot_misclassified(x_test, y_test, y_pred,
                                                                class_names, n=24)}
    written = []
    for name in which:
        path = os.path.join(out, name)
        save_figure(draw[name](), path)
        written.append(path)
    return written, []


def precision_recall(cm: np.ndarray) -> List[Tuple[float, float, int]]:
    """(precision, recall, support) of each class from a confusion matrix
    (rows: true, columns: predicted); NaN where a class was never predicted / seen."""
    cm = np.asarray(cm, dtype=np.int64)
    rows = []
    for i in range(len(cm)):
        predicted, support = int(cm[:, i].sum()), int(cm[i].sum())
        rows.append((cm[i, i] / predicted if predicted else float("nan"),
                     cm[i, i] / support if support else float("nan"), support))
    return rows


# ---------------------------------------------------------------- report.html

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
.note { background: #fff4d6; padding: 0.6em 1em; border-left: 4px solid #e0a800; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, key: str = "") -> str:
    """A table cell of a number: 4 decimals shown, the exact value in data-value."""
    attr = f' data-key="{_e(key)}"' if key else ""
    if isinstance(value, float):
        shown = "n/a" if value != value else f"{value:.4f}"
        return f'<td class="num"{attr} data-value="{value!r}">{shown}</td>'
    return f'<td class="num"{attr} data-value="{_e(value)}">{_e(value)}</td>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], table_id: str) -> str:
    """rows hold ready <td> cells."""
    out = [f'<table id="{table_id}"><thead><tr>'
           + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(row) + "</tr>" for row in rows]
    return "\n".join(out + ["</tbody></table>"])


def _settings_rows(record: Dict[str, Any]) -> List[List[str]]:
    opt = record.get("optimizer") or {}
    opt_text = ", ".join(f"{k}={v}" for k, v in opt.items()) if isinstance(opt, dict) else opt
    items = [("data", record.get("data")), ("training images", record.get("train_images")),
             ("validation images", record.get("val_images")),
             ("test images", record.get("test_images")), ("epochs", record.get("epochs")),
             ("batch size", record.get("batch_size")), ("optimizer", opt_text),
             ("seed", record.get("seed")), ("threads", record.get("threads")),
             ("ccnn version", record.get("ccnn_version"))]
    return [[f"<th>{_e(k)}</th>", f"<td>{_e(v)}</td>"] for k, v in items if v is not None]


def build_html(record: Dict[str, Any], run_dir: str) -> str:
    """The report page of the run in `run_dir` whose history.json is `record`."""
    hist: Dict[str, List[float]] = record.get("history", {})
    title = "ccnn training report"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{title}</title><style>{_CSS}</style></head><body>",
             f"<h1>{title}</h1>",
             f"<p>The book's CNN (chapter 8 of <i>Do it! 딥러닝 입문</i>) trained on "
             f"{_e(record.get('data', '?'))}. Rebuild this page with "
             f"<code>ccnn report {_e(os.path.basename(os.path.abspath(run_dir)))}</code>.</p>"]
    if "sample" in str(record.get("data", "")):
        parts.append('<p class="note">Trained on the small packaged sample, not the full data '
                     'set: the accuracies are not comparable to the book\'s.</p>')

    parts.append("<h2>Final metrics</h2>")
    parts.append(_table(["metric", "value"],
                        [[f"<th>{_e(k)}</th>", _num(float(record[k]), k)]
                         for k in METRICS if k in record], "metrics"))

    parts.append("<h2>Settings</h2>")
    parts.append(_table(["setting", "value"], _settings_rows(record), "settings"))

    cm = record.get("confusion_matrix")
    if cm:
        names = record.get("class_names") or [str(i) for i in range(len(cm))]
        rows = [[f"<th>{i} {_e(names[i])}</th>", _num(float(p), f"precision_{i}"),
                 _num(float(r), f"recall_{i}"), _num(int(s))]
                for i, (p, r, s) in enumerate(precision_recall(np.asarray(cm)))]
        parts.append("<h2>Per-class precision and recall (test set)</h2>")
        parts.append(_table(["class", "precision", "recall", "images"], rows, "per-class"))

    parts.append("<h2>Pictures</h2>")
    skipped = []
    for name, caption in PICTURES:
        path = os.path.join(run_dir, name)
        if not os.path.isfile(path):
            skipped.append(name)
            continue
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        parts.append(f'<figure id="{_e(name)}"><img alt="{_e(caption)}" '
                     f'src="data:image/png;base64,{data}"><figcaption>{_e(name)}: '
                     f"{_e(caption)}</figcaption></figure>")
    if skipped:
        why = record.get("pictures_skipped_because") or "the files are not in the run directory"
        parts.append(f'<p class="note" id="skipped">Not drawn: {_e(", ".join(skipped))} '
                     f"({_e(why)}).</p>")

    if hist:
        keys = list(hist)
        rows = [[_num(i + 1)] + [_num(float(hist[k][i]), f"{k}_{i + 1}") for k in keys]
                for i in range(max(len(v) for v in hist.values()))]
        parts.append("<h2>Per epoch</h2>")
        parts.append(_table(["epoch"] + keys, rows, "history"))

    summary = record.get("summary")
    if summary:
        parts.append("<h2>Model</h2>")
        parts.append(f"<pre id=\"summary\">{_e(chr(10).join(summary))}</pre>")

    timing = [("training", record.get("train_seconds")),
              ("per epoch", record["train_seconds"] / max(1, len(hist.get("loss", [])))
               if "train_seconds" in record else None),
              ("evaluation", record.get("evaluate_seconds")),
              ("pictures", record.get("picture_seconds"))]
    parts.append("<h2>Timing</h2>")
    parts.append(_table(["step", "seconds"], [[f"<th>{_e(k)}</th>", _num(float(v))]
                                              for k, v in timing if v is not None], "timing"))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(run_dir: str) -> str:
    """(Re)build run_dir/report.html from the run's files; returns its path."""
    path = os.path.join(run_dir, "history.json")
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: is {run_dir!r} a directory written by "
                                f"`ccnn train`?") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(record, dict) or not isinstance(record.get("history", {}), dict):
        raise ValueError(f"{path} is not a history.json written by `ccnn train`")
    out = os.path.join(run_dir, "report.html")
    write_atomic(out, build_html(record, run_dir).encode("utf-8"))
    return out
