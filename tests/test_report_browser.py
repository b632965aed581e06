"""report.html in a real browser: Chromium (Debian's `chromium` package) driven
by Playwright's Python package.  Every picture decodes with a non-zero natural
size, the page logs no console error and fetches nothing from the network,
and the numbers it shows are history.json's.

Skipped, saying which is missing, where Playwright or Chromium is not
installed -- except with CCNN_REQUIRE_OPTIONAL=1 (CI), where that fails."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from _testutils import require_optional

require_optional("matplotlib", "the plot extra")
sync_api = require_optional("playwright.sync_api", "playwright, in the test extra")

CHROMIUM = os.environ.get("CCNN_CHROMIUM") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CCNN_REQUIRE_OPTIONAL") == "1":
        raise RuntimeError("CCNN_REQUIRE_OPTIONAL=1 but no chromium: apt-get install chromium")
    pytest.skip("no chromium executable (apt-get install chromium, or set CCNN_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    env = dict(os.environ, CCNN_CACHE_DIR=str(tmp / "cache"),
               CCNN_FASHION_MNIST_URL=(tmp / "no-mirror").as_uri())
    r = subprocess.run([sys.executable, "-m", "ccnn", "train", "--sample", "--epochs", "2",
                        "--limit", "400", "--out", "run", "--verbose", "0"], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    return tmp / "run"


@pytest.fixture(scope="module")
def page_state(run_dir):
    """What Chromium saw: console errors, page errors, requests, the images, the cells."""
    errors, requests = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto((run_dir / "report.html").as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.closest('figure').id, i.complete, "
                       "i.naturalWidth, i.naturalHeight])")
            cells = page.eval_on_selector_all(
                "[data-key]", "tds => tds.map(td => [td.dataset.key, td.dataset.value, "
                              "td.textContent])")
            title = page.title()
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        finally:
            browser.close()
    return {"errors": errors, "requests": requests, "images": images,
            "cells": {k: (v, text) for k, v, text in cells}, "title": title,
            "headings": headings}


def test_every_picture_decodes(page_state, run_dir):
    images = page_state["images"]
    assert [name for name, *_ in images] == ["curves.png", "filters.png", "feature-maps.png",
                                             "confusion-matrix.png", "misclassified.png"]
    for name, complete, width, height in images:
        assert complete and width > 0 and height > 0, name
        from matplotlib.image import imread   # the PNG on disk: the same size as decoded
        assert imread(run_dir / name).shape[:2] == (height, width), name


def test_no_console_errors_and_no_network(page_state, run_dir):
    assert page_state["errors"] == []
    assert page_state["requests"][0] == (run_dir / "report.html").as_uri()
    assert all(u.startswith(("file:", "data:")) for u in page_state["requests"])
    assert page_state["title"] == "ccnn training report"
    assert {"Final metrics", "Settings", "Pictures", "Model", "Timing"} <= \
        set(page_state["headings"])


def test_metrics_shown_are_history_json(page_state, run_dir):
    record = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
    cells = page_state["cells"]
    for key in ("val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        value, text = cells[key]
        assert float(value) == record[key], key
        assert text == f"{record[key]:.4f}", key
    for name, values in record["history"].items():
        for epoch, v in enumerate(values, 1):
            assert float(cells[f"{name}_{epoch}"][0]) == v
    cm = record["confusion_matrix"]
    for i in range(10):
        predicted = sum(row[i] for row in cm)
        if predicted:
            assert float(cells[f"precision_{i}"][0]) == pytest.approx(cm[i][i] / predicted)
        assert float(cells[f"recall_{i}"][0]) == pytest.approx(cm[i][i] / sum(cm[i]))
