"""Write the pictures of docs/tools.md to docs/figures/ (tools_*.png, tools_flow.gif).

Run: ``PYTHONPATH=src python docs/make_tools_figures.py``

Every picture is drawn from a fresh simulation with the tools the page describes, so the page
shows what the current engine and tools produce.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import matplotlib.pyplot as plt

from waferscale.demos.collectives import sync_chain_row
from waferscale.fabric import Engine, StallError
from waferscale.tools.profiler import profile
from waferscale.tools.routecheck import check_routes, format_findings
from waferscale.tools.targets import run_target
from waferscale.viz import draw_routes
from waferscale.viz.animation import animate_wavelets
from waferscale.viz.heatmaps import draw_link_heatmaps, draw_pe_heatmaps
from waferscale.viz.stall import draw_stall
from waferscale.viz.timeline import draw_timeline

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
DPI = 100


def save(fig, name: str) -> None:
    path = OUT / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    # a chain reduce: the timeline's staircase of waits, the profile
    eng = Engine(sync_chain_row(8, 32).compile())
    trace = eng.start_trace()
    eng.run()
    trace = eng.stop_trace()
    save(draw_timeline(trace, microthreads=eng.arch.pe.microthreads,
                       title="chain reduce, 8 PEs x 32 f32: one task per PE, each waiting "
                       "for its west neighbour"), "tools_timeline.png")
    save(draw_pe_heatmaps(profile(eng, trace)), "tools_pes_chain.png")

    # a kernel of the library: gemv (x flooded down the columns, y chained along the rows)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_target("gemv")
    rec = run.pick()
    save(draw_link_heatmaps(rec.engine), "tools_links.png")
    save(draw_link_heatmaps(rec.engine, trace=rec.trace, color=2,
                            title="gemv: color 2 only (x flooded down the columns)"),
         "tools_links_color2.png")
    save(draw_pe_heatmaps(profile(rec.engine, rec.trace)), "tools_pes.png")
    save(draw_routes(rec.engine.compiled), "tools_routes.png")
    path = animate_wavelets(rec.trace, OUT / "tools_flow.gif", frames=40, title="gemv 4x3")
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")

    # a stall: PE (3, 0) accepts its input from the wrong side
    broken = sync_chain_row(6, 16, broken_at=3)
    print(format_findings(check_routes(broken)))
    eng = Engine(broken.compile())
    try:
        eng.run()
    except StallError as err:
        save(draw_stall(err.report, eng), "tools_stall.png")
    else:  # pragma: no cover - the planted bug must stall
        raise AssertionError("the broken chain should stall")


if __name__ == "__main__":
    main()
