"""docs/kernels.md shows a mapping figure for every kernel, and docs/make_kernel_figures.py
draws them from the kernels themselves."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from waferscale.kernels import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "kernels.md"


@pytest.fixture(scope="module")
def figs():
    name = "make_kernel_figures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def sections() -> dict[str, str]:
    """Kernel name -> the text of the ``## `` section whose heading names it."""
    text = DOC.read_text()
    out = {}
    parts = re.split(r"^## (.+)\n", text, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        for name in heading.split(","):
            out[name.strip().strip("`")] = body
    return out


def test_every_kernel_section_shows_its_figure(figs):
    secs = sections()
    missing = [k for k in REGISTRY if k not in secs]
    assert not missing, f"docs/kernels.md has no section for {missing}"
    for name in REGISTRY:
        stem = figs.spec_for(name).stem
        target = f"figures/kernels_{stem}.png"
        shown = re.findall(r"!\[[^\]]*\]\((figures/kernels_[^)]+\.png)\)", secs[name])
        assert target in shown, f"the {name} section does not show {target}"
        assert (ROOT / "docs" / target).is_file(), f"{target} is missing: run the script"
        assert (ROOT / "docs" / target).stat().st_size < 100_000


def test_page_is_one_document():
    text = DOC.read_text()
    assert re.findall(r"^# ", text, flags=re.M) == ["# "], "one top-level heading only"
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads[0] == "Conventions" and heads[-1] == "Open ends"
    assert "to come" not in text


def test_every_kernel_has_exactly_one_spec(figs):
    covered = [k for s in figs.SPECS for k in s.kernels]
    assert sorted(covered) == sorted(REGISTRY)


def test_figure_legends_name_every_routed_color(figs):
    """A kernel whose colors change must update its figure's legend (no simulation here)."""
    for spec in figs.SPECS:
        figs.check_colors(spec, figs.spec_layout(spec))


def test_check_colors_refuses_a_stale_legend(figs):
    from dataclasses import replace

    spec = figs.spec_for("residual")
    stale = replace(spec, colors={c: m for c, m in spec.colors.items() if c != 3})
    with pytest.raises(ValueError, match=r"routes colors \[3\] that the figure's legend"):
        figs.check_colors(stale, figs.spec_layout(stale))


def test_kernel_figure_draws_a_small_kernel(figs, tmp_path):
    fig = figs.kernel_figure("residual")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["what each PE holds", "routes (at load time)",
                          titles[2]] and titles[2].startswith("link traffic of a run")
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[0] == "color 2: x flood, down every column"
    assert len(legend) == 5
    path = tmp_path / "residual.png"
    figs.save_png(fig, path)
    plt.close(fig)
    assert 5_000 < path.stat().st_size < 100_000
