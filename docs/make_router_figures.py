"""Write the pictures of docs/router.md to docs/figures/ (one per router feature).

Run: ``PYTHONPATH=src python docs/make_router_figures.py``
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from waferscale.fabric import Engine
from waferscale.program.resources import resource_report
from waferscale.viz import draw_budget, draw_payload, draw_routes

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
DPI = 100


def example(name: str):
    mod_name = f"router_{name}"
    if mod_name not in sys.modules:
        path = ROOT / "examples" / f"{mod_name}.py"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[mod_name]


def _hub(c, *, colors):
    """A PE receiving many colors, each with its own data task."""
    for color in colors:
        c.bind_data_task(lambda pe, v: None, color)


def _budget_layout():
    """Two PEs: one within budget, one receiving 9 colors on a machine with 8 input queues."""
    from waferscale.program import Layout

    lay = Layout(2, 1, arch="wse2", name="budget")
    lay.set_tile_code(0, 0, _hub, colors=(0, 1, 2))
    lay.set_tile_code(1, 0, _hub, colors=tuple(range(9)))
    for color in range(3):
        lay.set_route(0, 0, color, rx="RAMP", tx=["EAST", "RAMP"])
    return lay


def figures() -> dict[str, object]:
    """name -> matplotlib figure."""
    figs = {}
    sw = example("switches")
    figs["switches"] = draw_routes(sw.build(8, ring=True).compile(), [sw.COLOR], dpi=DPI,
                                   title="switches: the centre's 4 positions (ring mode)")
    ring = example("ring_token")
    figs["ring_token"] = draw_routes(ring.build(2).compile(), [ring.COLOR], dpi=DPI,
                                     title="token ring: position 0 sends, position 1 receives "
                                     "(framed: the current position)")
    pop = example("pop_modes")
    figs["pop_modes"] = draw_routes(pop.build("pop_on_advance").compile(), [pop.COLOR],
                                    positions="overlay", dpi=DPI, cell=1.0,
                                    title="command slots: routers x = 1..3 in pop mode")
    figs["payload"] = draw_payload(dpi=DPI)
    filt = example("range_filter")
    figs["filters"] = draw_routes(filt.build("range").compile(), [filt.COLOR], dpi=DPI, cell=1.1,
                                  title="range filters (F) on a multicast row")
    td = example("teardown")
    lay = td.build(np.arange(1, 4, dtype=np.uint32), np.arange(1, 4, dtype=np.uint32) * 100)
    compiled = lay.compile()
    figs["teardown_before"] = draw_routes(compiled, [td.COLOR], dpi=DPI, cell=1.1,
                                          title="teardown: routes at load time")
    eng = Engine(compiled)
    eng.run()
    figs["teardown_after"] = draw_routes(eng, [td.COLOR], dpi=DPI, cell=1.1,
                                         title="after TEARDOWN: the middle PE re-routed itself")
    swap = example("color_swap")
    data = np.ones((5, 4), np.float32)
    figs["color_swap"] = draw_routes(swap.build(data).compile(), [swap.SEND, swap.RECV],
                                     dpi=DPI, cell=1.1,
                                     title="color swap (S): sent on 2, arrives on 3")
    mt = example("microthreads")
    mt_lay, _, _ = mt.build()
    figs["wse3_queues"] = draw_routes(mt_lay.compile(), [mt.WEST_C, mt.EAST_C], dpi=DPI,
                                      cell=1.2, title="wse3: two streams into input queues 0 "
                                      "and 1 of PE (1, 0)")
    figs["budget"] = draw_budget(resource_report(_budget_layout()), dpi=DPI,
                                 title="resource use against the wse2 budget (red: over)")
    return figs


def main() -> list[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures().items():
        path = OUT / f"router_{name}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)
        print(f"{path.name}: {path.stat().st_size // 1024} KB")
    return written


if __name__ == "__main__":
    main()
