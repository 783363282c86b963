"""Mapping pictures (waferscale.viz.mapping) and the axes-level route drawing they reuse."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.viz import draw_mapping, plot_routes
from waferscale.viz.mapping import link_traffic, pe_symbols


def _sender(c, *, n: int):
    a = c.array("a", "f32", n, init=1.0)
    c.array("scratch", "f32", 2)

    def main(pe):
        pe.fmovs(fabout_dsd(2, n), mem1d_dsd(a))

    c.bind_local_task(main, 8)
    c.activate(8)


def _receiver(c, *, n: int):
    b = c.array("b", "f32", n)

    def main(pe):
        pe.fmovs(mem1d_dsd(b), fabin_dsd(2, n))

    c.bind_local_task(main, 8)
    c.activate(8)


def _pair(n: int = 5) -> Layout:
    """PE (0, 0) sends n words east on color 2 to PE (1, 0); color 3 is routed but idle."""
    lay = Layout(2, 1, name="pair")
    lay.set_tile_code(0, 0, _sender, n=n)
    lay.set_tile_code(1, 0, _receiver, n=n)
    lay.set_route(0, 0, 2, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 2, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, 3, rx="RAMP", tx="WEST")
    lay.set_route(0, 0, 3, rx="EAST", tx="RAMP")
    return lay


def _legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def test_three_panels_name_colors_roles_and_traffic():
    eng = Engine(_pair().compile())
    eng.run()
    fig = draw_mapping(eng.compiled, colors={2: "the data", 3: "spare"},
                       roles={(0, 0): "sender", (1, 0): "receiver"}, traffic=eng, title="pair")
    holds, routes, traffic = fig.axes[:3]
    assert _legend_texts(holds) == ["sender", "receiver"]
    assert _legend_texts(routes) == ["color 2: the data", "color 3: spare"]
    assert traffic.get_title() == f"link traffic of a run ({eng.now:,} cycles)"
    # one arrow: the 5 wavelets over (0, 0)'s EAST link; ramp counts as text
    assert link_traffic(eng)[0, 0, 2] == 5
    arrows = [p for p in traffic.patches if type(p).__name__ == "FancyArrowPatch"]
    assert len(arrows) == 1
    assert "\u21935 \u21910" in [t.get_text() for t in traffic.texts]  # 5 down at PE (1, 0)
    plt.close(fig)


def test_default_labels_are_the_program_arrays_and_hidden_colors_are_named():
    compiled = _pair().compile()
    assert pe_symbols(compiled, 0, 0) == ["a[5]", "scratch[2]"]
    assert pe_symbols(compiled, 0, 0, skip=("scratch",)) == ["a[5]"]
    fig = draw_mapping(compiled, colors={2: "the data", 4: "a host stream"})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "a[5]\nscratch[2]" in texts and "b[5]" in texts
    assert len(fig.axes) == 2  # no traffic panel without a run
    footer = "\n".join(t.get_text() for t in fig.texts)
    assert "color 4: a host stream (no route in the layout)" in footer
    assert "routed but not drawn: color 3" in footer
    plt.close(fig)


def test_a_layout_without_routes_draws_only_what_the_pes_hold():
    def nothing(c):
        pass

    lay = Layout(3, 2, name="quiet")
    lay.set_region_code(0, 0, 3, 2, nothing)
    fig = draw_mapping(lay, labels=lambda x, y: f"({x}, {y})")
    assert len(fig.axes) == 1
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(
        f"({x}, {y})" for x in range(3) for y in range(2))
    plt.close(fig)


def test_bad_traffic_shapes_are_refused():
    lay = _pair()
    with pytest.raises(ValueError, match=r"traffic of shape \(3, 3\) for a 2x1 layout"):
        draw_mapping(lay, labels={}, traffic=np.zeros((3, 3, 6), np.int64))
    with pytest.raises(ValueError, match=r"must have shape \(height, width, 6\)"):
        link_traffic(np.zeros((2, 6)))


def test_plot_routes_draws_on_given_axes_with_given_hues():
    lay = _pair()
    fig, ax = plt.subplots()
    handles = plot_routes(ax, lay, [2], hues=["black"])
    assert [h.get_label() for h in handles] == ["color 2"]
    assert len(ax.patches) > 2  # the PE squares, the CE dots and the arrows
    with pytest.raises(ValueError, match="2 hues for 1 colors"):
        plot_routes(ax, lay, [2], hues=["black", "red"])
    plt.close(fig)
