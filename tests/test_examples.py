"""Every example in examples/ runs and checks itself.

Each ``examples/*.py`` (tutorials, router examples, ...) defines ``main()`` that builds its
program, runs it and asserts its own result (against numpy or a closed form). This test imports
each file by path and calls ``main()``; an example that fails its own check fails here. The
tutorials (``tutorial_*.py``, docs/programming.md) also return a dict of the numbers they
checked. Files whose name starts with ``_`` are helpers, not examples.

An example that needs more than 20 s goes into ``SLOW`` (run those with ``pytest -m slow``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SLOW: set[str] = set()  # file names of examples that take more than 20 s


def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def _param(path: Path):
    marks = [pytest.mark.slow] if path.name in SLOW else []
    return pytest.param(path, id=path.name, marks=marks)


def _load(path: Path, monkeypatch):
    """Import ``path`` as a fresh module (examples may import their siblings)."""
    monkeypatch.syspath_prepend(str(path.parent))
    name = f"_waferscale_example_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_examples_exist():
    names = [p.name for p in _example_files()]
    assert any(n.startswith("tutorial_") for n in names), names


@pytest.mark.parametrize("path", [_param(p) for p in _example_files()])
def test_example_runs(path: Path, monkeypatch):
    module = _load(path, monkeypatch)
    main = getattr(module, "main", None)
    assert callable(main), f"{path.name} has no main(): every example defines main()"
    result = main()
    if path.name.startswith("tutorial_"):
        assert isinstance(result, dict), (
            f"{path.name}: main() returned {type(result).__name__}; a tutorial returns a dict "
            "of the numbers it checked"
        )


def test_programming_guide_links_every_tutorial():
    """docs/programming.md walks through every tutorial and links only examples that exist."""
    text = (EXAMPLES.parent / "docs" / "programming.md").read_text()
    linked = set(re.findall(r"examples/([A-Za-z0-9_]+\.py)", text))
    tutorials = {p.name for p in _example_files() if p.name.startswith("tutorial_")}
    assert tutorials <= linked, f"not in docs/programming.md: {sorted(tutorials - linked)}"
    missing = {n for n in linked if not (EXAMPLES / n).exists()}
    assert not missing, f"docs/programming.md links missing examples: {sorted(missing)}"
