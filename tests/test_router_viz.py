"""Route maps and budget charts (waferscale.viz) and the docs' figure script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from test_router_features import example
from waferscale.fabric import Engine
from waferscale.program import Layout
from waferscale.program.resources import resource_report
from waferscale.viz import draw_budget, draw_payload, draw_routes

ROOT = Path(__file__).resolve().parents[1]


def _arrows(fig):
    return sum(len(ax.patches) for ax in fig.axes)


def test_switch_positions_get_a_panel_each(tmp_path):
    mod = example("switches")
    path = tmp_path / "sw.png"
    fig = draw_routes(mod.build(8).compile(), [mod.COLOR], path=path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"switch position {k}" for k in range(4)]
    assert path.stat().st_size < 150_000
    overlay = draw_routes(mod.build(8).compile(), [mod.COLOR], positions="overlay")
    assert len(overlay.axes) == 1
    labels = [t.get_text() for t in overlay.legends[0].get_texts()]
    assert labels == ["color 8", "position 0", "position 1", "position 2", "position 3"]


def test_multicast_draws_one_arrow_per_output_port():
    def nothing(c):
        pass

    lay = Layout(3, 1)
    lay.set_region_code(0, 0, 3, 1, nothing)
    lay.set_route(1, 0, 2, rx="WEST", tx=["EAST", "RAMP"])
    one = _arrows(draw_routes(lay, [2]))
    lay.set_route(1, 0, 2, rx="WEST", tx=["EAST"])
    assert one - _arrows(draw_routes(lay, [2])) == 1
    with pytest.raises(ValueError, match="no color to draw"):
        draw_routes(lay, [], None)


def test_engine_state_is_drawn_after_a_run():
    mod = example("teardown")
    lay = mod.build(np.arange(1, 3, dtype=np.uint32), np.arange(1, 3, dtype=np.uint32))
    eng = Engine(lay.compile())
    before = draw_routes(eng, [mod.COLOR])
    eng.run()
    after = draw_routes(eng, [mod.COLOR])
    assert before.texts[0].get_text().endswith("at cycle 0")
    assert _arrows(before) == _arrows(after)  # RAMP in -> EAST out: same number of arrows
    assert eng.state.route_tx[1, mod.COLOR, 0] == 1 << 2  # EAST only, after the re-route


def test_region_limits():
    def nothing(c):
        pass

    lay = Layout(40, 30)
    lay.set_region_code(0, 0, 40, 30, nothing)
    lay.set_region_route(0, 0, 39, 30, 1, rx="RAMP", tx="EAST")
    with pytest.raises(ValueError, match=r"1200 PEs is too many to draw \(at most 1024\)"):
        draw_routes(lay, [1])
    fig = draw_routes(lay, [1], region=(10, 10, 4, 3))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["10", "11", "12", "13"]
    with pytest.raises(ValueError, match="leaves the 40x30 rectangle"):
        draw_routes(lay, [1], region=(38, 0, 4, 1))


def test_payload_and_budget_pictures(tmp_path):
    draw_payload(tmp_path / "p.png")
    rows = resource_report(example("ring_token").build(1), pes=[(0, 0)])
    fig = draw_budget(rows, tmp_path / "b.png")
    assert len(fig.axes[0].patches) == len(rows)
    with pytest.raises(ValueError, match="no rows"):
        draw_budget([])


def test_docs_figure_script_writes_small_pngs(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_router_figures",
                                                  ROOT / "docs" / "make_router_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "OUT", tmp_path)
    written = mod.main()
    assert len(written) >= 9
    assert all(p.stat().st_size < 150_000 for p in written)
    text = (ROOT / "docs" / "router.md").read_text()
    for p in written:
        assert f"figures/{p.name}" in text, f"docs/router.md does not show {p.name}"
