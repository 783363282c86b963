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

from waferscale.fabric import Engine, StallError
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
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


def chain_stage(c, *, B: int, cin: int | None, cout: int | None):
    """One stage of a chain reduce with synchronous ops: receive, add its vector, send on."""
    a = c.array("a", "f32", B, init=1.0)

    def main(pe):
        mem = mem1d_dsd(a)
        if cin is None:
            pe.fmovs(fabout_dsd(cout, B), mem)
        elif cout is None:
            pe.fadds(mem, fabin_dsd(cin, B), mem)
        else:
            pe.fadds(fabout_dsd(cout, B), fabin_dsd(cin, B), mem)

    c.bind_local_task(main, 8)
    c.activate(8)


def chain(P: int, B: int, *, broken_at: int | None = None) -> Layout:
    """A row of P PEs reducing toward the east; ``broken_at``: that PE forgets to accept its
    input (a planted bug for the stall picture)."""
    lay = Layout(P, 1, name=f"chain_{P}x{B}" + ("_broken" if broken_at is not None else ""))
    for x in range(P):
        cin = x % 2 ^ 1 if x else None
        cout = x % 2 if x < P - 1 else None
        lay.set_tile_code(x, 0, chain_stage, B=B, cin=cin, cout=cout)
        if cout is not None:
            lay.set_route(x, 0, cout, rx="RAMP", tx="EAST")
        if cin is not None:
            lay.set_route(x, 0, cin, rx="NORTH" if x == broken_at else "WEST", tx="RAMP")
    return lay


def save(fig, name: str) -> None:
    path = OUT / name
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    # a chain reduce: the timeline's staircase of waits, the profile
    eng = Engine(chain(8, 32).compile())
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
    broken = chain(6, 16, broken_at=3)
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
