"""The READMEs' Python examples run as written: README.md's functional API and
pictures sections, and every Python block of README.ko.md."""

import os
import re

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


def run_block(block, name):
    scope: dict = {}
    exec(compile(block, name, "exec"), scope)
    return scope


def test_functional_api_example_runs(capsys):
    scope = run_block(python_blocks(README, "The functional API")[0], "README.md")
    assert scope["h"].shape == (8, 100)
    assert scope["gx"].shape == scope["x"].shape


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
    assert functional["h"].shape == (8, 100) and functional["gx"].shape == functional["x"].shape
    model = next(s for s in scopes if "history" in s)
    assert model["accuracy"] > 0.5      # the book's model, a few epochs on the sample
