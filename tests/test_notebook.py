"""examples/chapter8.ipynb runs top to bottom (nbclient, a python3 ipykernel) on
the packaged sample, so it cannot go stale, and is stored without outputs."""
import os
import time
from pathlib import Path

import pytest

from _testutils import require_optional

nbformat = require_optional("nbformat", "in the test extra")
nbclient = require_optional("nbclient", "in the test extra")
require_optional("ipykernel", "in the test extra")
require_optional("matplotlib", "the plot extra")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "chapter8.ipynb"


@pytest.fixture(scope="module")
def notebook():
    if not NOTEBOOK.exists():
        pytest.skip("examples/chapter8.ipynb is not shipped with this copy of the tests")
    return nbformat.read(NOTEBOOK, as_version=4)


def test_stored_without_outputs(notebook):
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_chapter_order(notebook):
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"]
    order = ["cross-correlation", "padding and stride", "2-D cross-correlation", "pooling",
             "ReLU", "ConvolutionNetwork", "Keras-style", "filters, feature maps"]
    found = [next(i for i, h in enumerate(headings) if key in h) for key in order]
    assert found == sorted(found), headings


def test_notebook_runs(notebook, tmp_path):
    env_keep = {k: os.environ.get(k) for k in ("CCNN_CACHE_DIR", "MPLBACKEND")}
    os.environ["CCNN_CACHE_DIR"] = str(tmp_path / "cache")    # never the user's cache
    os.environ.pop("MPLBACKEND", None)                         # the kernel's inline backend
    try:
        client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
    finally:
        for k, v in env_keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [(i, o) for i, c in enumerate(notebook.cells) if c.cell_type == "code"
               for o in c.outputs]
    assert not [o for _, o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for _, o in outputs if o.output_type == "stream")
    assert "F.correlate valid:  [ 1. -1. -2.  0.  3.]" in text
    assert "Total params: 197,210" in text and "테스트 정확도:" in text
    pictures = [o for _, o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 5       # curves, filters, feature maps, confusion, misclassified
    print(f"notebook ran in {seconds:.1f} s")
