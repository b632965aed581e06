"""The README's functional-API example runs as written."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_functional_api_example_runs(capsys):
    if not os.path.exists(README):
        pytest.skip("README.md is not shipped with this copy of the tests")
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## The functional API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "no python block in the README's functional API section"
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    assert scope["h"].shape == (8, 100)
    assert scope["gx"].shape == scope["x"].shape
