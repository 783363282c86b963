"""The README's commands and the docs stay in step with the code."""

import re
from pathlib import Path

from waferscale import arch

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.match(r"```\n(.*?)\n```", text, re.S)
    assert first_block, "README must open with a code block"
    assert first_block.group(1).splitlines() == [
        'python3.11 -m venv .venv && .venv/bin/pip install -e ".[dev]" '
        "&& .venv/bin/waferscale demo",
        ".venv/bin/python -m pytest",
    ]


def test_ci_runs_the_readme_test_command():
    text = (ROOT / ".ci" / "run").read_text()
    assert '.venv/bin/pip install -e ".[dev]"' in text
    assert ".venv/bin/python -m pytest" in text
    assert "5" in text  # pytest's "no tests ran" is a failure


def test_arch_doc_lists_every_field():
    text = (ROOT / "docs" / "arch.md").read_text()
    models = [
        arch.ArchSpec,
        arch.GridSpec,
        arch.PESpec,
        arch.RouterSpec,
        arch.TimingSpec,
        arch.NumericsSpec,
        arch.SystemSpec,
        arch.VendorFigures,
    ]
    missing = [f"{m.__name__}.{f}" for m in models for f in m.model_fields if f"`{f}`" not in text]
    assert not missing, f"docs/arch.md does not mention {missing}"


def test_docs_index_links():
    text = (ROOT / "docs" / "index.md").read_text()
    for page in ("arch.md", "engine.md", "programming.md", "0001-arch-spec-pydantic.md"):
        assert page in text


def test_readme_tour_runs(tmp_path, monkeypatch):
    """The Python tour in the README is a working program (it checks itself against numpy)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    tour = next(b for b in blocks if "SdkRuntime" in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(tour, "README.md", "exec"), {"__name__": "readme_tour"})
    assert (tmp_path / "out" / "gemv" / "out.json").exists()


def test_docs_index_links_exist():
    text = (ROOT / "docs" / "index.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / "docs" / target).exists(), f"docs/index.md links a missing page: {target}"
