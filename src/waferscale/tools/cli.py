"""The tools' subcommands of ``waferscale``: ``trace``, ``profile``, ``routes``, ``debug``.

``waferscale.cli`` wires them (``add_tool_parsers``); the work is done here. Imports stay lazy:
building the parser must not load matplotlib or run anything.

    waferscale trace TARGET --out DIR     trace.json (Perfetto), pictures, tables, profile.json
    waferscale profile TARGET [--json]    where the cycles went, per PE, task and link
    waferscale routes TARGET --out DIR    route maps of every layout, and the static check
    waferscale debug TARGET               a command loop (commands from stdin; 'help')

TARGET is a kernel of the library (``waferscale run --list``), an example file with ``main()``
or the name of a file in ``examples/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_tool_parsers", "cmd_debug", "cmd_profile", "cmd_routes", "cmd_trace"]


def _target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET",
                   help="a kernel name, an example file (with main()) or an example name")
    p.add_argument("--arch", default=None, help="kernels: a preset or spec file (default wse2)")
    p.add_argument("--grid", default=None, metavar="WxH", help="kernels: the PE grid")
    p.add_argument("--size", default=None, metavar="SIZE", help="kernels: size parameters")
    p.add_argument("--seed", type=int, default=0, help="kernels: random seed of the inputs")


def add_tool_parsers(commands: Any, handlers: dict[str, Callable[[argparse.Namespace], int]]
                     ) -> None:
    """Add the ``trace``, ``profile``, ``routes`` and ``debug`` subcommands to ``commands``
    (an argparse subparsers object); ``handlers`` maps each name to its function."""
    p = commands.add_parser(
        "trace", help="run a kernel or example with tracing: Perfetto JSON, pictures, tables",
        description="Run TARGET with every engine traced and write DIR/trace.json (Chrome "
        "trace-event format: open it in ui.perfetto.dev), DIR/*.png (link utilisation, PE "
        "busy/stalled/idle, a timeline of a row, the route map, a stall picture if it "
        "stalled), DIR/animation.gif for small rectangles, DIR/profile.json and the tables "
        "(DIR/tables/*.csv, and .parquet when pyarrow is installed).",
    )
    _target_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--engine", type=int, default=None, metavar="K",
                   help="which engine of the target to write (default: the largest run)")
    p.add_argument("--window", default=None, metavar="X0,Y0,X1,Y1",
                   help="trace only the PEs of this rectangle (inclusive corners)")
    p.add_argument("--cycles", default=None, metavar="FIRST:LAST",
                   help="trace only these cycles")
    p.add_argument("--capacity", type=int, default=1 << 16,
                   help="events buffered in the engine between flushes")
    p.add_argument("--row", type=int, default=None, help="row of the timeline (default 0)")
    p.add_argument("--no-pictures", action="store_true", help="write no pictures")
    p.add_argument("--no-tables", action="store_true", help="write no tables")
    p.set_defaults(func=handlers["trace"])

    p = commands.add_parser(
        "profile", help="where the cycles went: busy, idle, stalled per PE; tasks; links",
        description="Run TARGET and print, for the engine that ran the most, every PE's cycles "
        "split into busy, stalled on the fabric, stalled on memory (0: not modelled) and idle, "
        "the tasks' totals and the hottest links.",
    )
    _target_arguments(p)
    p.add_argument("--engine", type=int, default=None, metavar="K",
                   help="which engine of the target (default: the largest run)")
    p.add_argument("--top", type=int, default=10, help="rows per table (default 10)")
    p.add_argument("--json", action="store_true", help="print the whole profile as JSON")
    p.set_defaults(func=handlers["profile"])

    p = commands.add_parser(
        "routes", help="draw the route maps of a target's layouts and check them",
        description="Compile TARGET's layouts (a kernel is not run; an example's main() is), "
        "draw each one's route map into DIR and run the static route checker. Exit status 1 "
        "if the checker finds an error.",
    )
    _target_arguments(p)
    p.add_argument("--out", default=None, metavar="DIR", help="output folder for the maps")
    p.add_argument("--colors", default=None, metavar="C,C,...", help="colors to draw")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=handlers["routes"])

    p = commands.add_parser(
        "debug", help="debug a kernel or example: run, step, break, look inside",
        description="Run TARGET under the debugger. Commands come from the terminal, or from "
        "stdin when it is not one (piped input: one command per line). Type 'help' for them.",
    )
    _target_arguments(p)
    p.add_argument("--commands", default=None, metavar="FILE",
                   help="read the commands from FILE instead of stdin")
    p.set_defaults(func=handlers["debug"])


# -- helpers ------------------------------------------------------------------------------------


def _err(text: str) -> int:
    print(text, file=sys.stderr)
    return 2


def _kernel_kwargs(args: argparse.Namespace, target: Any) -> dict[str, Any]:
    kw = {"arch": args.arch, "grid": args.grid, "size": args.size, "seed": args.seed}
    if target.kind != "kernel":
        given = [k for k in ("arch", "grid", "size") if kw[k] is not None]
        if given:
            print(f"note: {', '.join('--' + g for g in given)} apply to kernels only; "
                  f"{target.name} is an example", file=sys.stderr)
        return {}
    return kw


def _resolve(args: argparse.Namespace):
    from .targets import resolve_target

    target = resolve_target(args.target)
    return target, _kernel_kwargs(args, target)


def _window(args: argparse.Namespace):
    from ..fabric.trace import TraceWindow

    w = TraceWindow()
    if args.window:
        try:
            x0, y0, x1, y1 = (int(v) for v in args.window.split(","))
        except ValueError:
            raise ValueError(f"--window {args.window!r}: expected X0,Y0,X1,Y1") from None
        w.x0, w.y0, w.x1, w.y1 = x0, y0, x1, y1
    if args.cycles:
        try:
            a, b = args.cycles.split(":")
            w.first_cycle = int(a) if a else 0
            w.last_cycle = int(b) if b else None
        except ValueError:
            raise ValueError(f"--cycles {args.cycles!r}: expected FIRST:LAST") from None
    return w


def _run(args: argparse.Namespace, **kwargs: Any):
    """Resolve and run the target with progress on stderr; (run, record) or an exit code."""
    from rich.console import Console

    from ..kernels import KernelError
    from .targets import TargetError, run_target

    try:
        target, kw = _resolve(args)
        run = run_target(target, progress=Console(file=sys.stderr), **kwargs, **kw)
    except (TargetError, KernelError, ValueError) as err:
        return _err(f"waferscale {args.command_name}: {err}")
    if isinstance(run.error, (KernelError, TargetError)):
        return _err(f"waferscale {args.command_name}: {run.error}")
    if not run.records:
        msg = f"{target.name} created no engine"
        if run.error is not None:
            msg += f" (it raised {type(run.error).__name__}: {run.error})"
        return _err(f"waferscale {args.command_name}: {msg}")
    try:
        rec = run.pick(args.engine)
    except TargetError as err:
        return _err(f"waferscale {args.command_name}: {err}")
    return run, rec


def _error_note(run: Any) -> str | None:
    if run.error is None:
        return None
    text = str(run.error).splitlines()[0] if str(run.error) else ""
    return f"the target raised {type(run.error).__name__}: {text}"


# -- commands -----------------------------------------------------------------------------------


def cmd_trace(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .export import trace_tables, write_chrome_trace, write_tables
    from .profiler import profile

    args.command_name = "trace"
    try:
        window = _window(args)
    except ValueError as err:
        return _err(f"waferscale trace: {err}")
    got = _run(args, trace=True, window=window, capacity=args.capacity)
    if isinstance(got, int):
        return got
    run, rec = got
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    eng, trace = rec.engine, rec.trace
    written = [write_chrome_trace(out / "trace.json", trace, engine=eng)]
    prof = profile(eng, trace)
    (out / "profile.json").write_text(prof.to_json(indent=1))
    written.append(out / "profile.json")
    if not args.no_tables:
        written += write_tables(out / "tables", trace_tables(trace, prof))
    notes: list[str] = []
    if not args.no_pictures:
        written += _pictures(out, run, rec, prof, window, args.row, notes)
    con = Console(file=sys.stdout, highlight=False)
    counts = trace.counts()
    con.print(f"{run.target.name}: engine #{rec.index} of {len(run.records)} "
              f"({rec.name}, {eng.width}x{eng.height} PEs, {eng.now:,} cycles)")
    con.print("events: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v),
              soft_wrap=True)
    for note in notes:
        con.print(f"[dim]{note}[/dim]", soft_wrap=True)
    for path in written:
        con.print(f"  wrote {path}", soft_wrap=True)
    con.print(f"open {out / 'trace.json'} in https://ui.perfetto.dev (1 us shown = 1 cycle)")
    note = _error_note(run)
    if note:
        con.print(f"[red]{note}[/red]", soft_wrap=True)
        return 1
    return 0


def _pictures(out: Path, run: Any, rec: Any, prof: Any, window: Any, row: int | None,
              notes: list[str]) -> list[Path]:
    import matplotlib.pyplot as plt

    from ..viz.animation import MAX_PES as ANIM_PES
    from ..viz.animation import animate_wavelets
    from ..viz.heatmaps import draw_link_heatmaps, draw_pe_heatmaps
    from ..viz.routes import MAX_PES as ROUTE_PES
    from ..viz.routes import draw_routes
    from ..viz.stall import draw_stall
    from ..viz.timeline import MAX_LANES as TIMELINE_PES
    from ..viz.timeline import draw_timeline

    eng, trace = rec.engine, rec.trace
    written = []

    def save(name: str, draw: Callable[[Path], Any]) -> None:
        path = out / name
        fig = draw(path)
        if fig is not None and hasattr(fig, "savefig"):
            plt.close(fig)
        written.append(path)

    save("links.png", lambda p: draw_link_heatmaps(eng, p))
    save("pes.png", lambda p: draw_pe_heatmaps(prof, p))
    y = window.y0 if row is None else row
    tx1 = min(eng.width - 1 if window.x1 is None else window.x1, window.x0 + TIMELINE_PES - 1)
    save("timeline.png", lambda p: draw_timeline(
        trace, p, row=y, x0=window.x0, x1=tx1, microthreads=eng.arch.pe.microthreads,
        title=f"{rec.name}: row {y}" + (f", PEs {window.x0}..{tx1}" if tx1 < eng.width - 1
                                        or window.x0 else "")))
    x0, y0 = window.x0, window.y0
    x1 = eng.width - 1 if window.x1 is None else window.x1
    y1 = eng.height - 1 if window.y1 is None else window.y1
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w * h <= ROUTE_PES:
        try:
            save("routes.png", lambda p: draw_routes(eng.compiled, path=p, region=(x0, y0, w, h),
                                                     dpi=100 if w * h <= 16 else 64))
        except ValueError as err:  # no route in the region
            notes.append(f"no route map: {err}")
    else:
        notes.append(f"no route map: {w}x{h} PEs (at most {ROUTE_PES}); pass --window")
    if w * h <= ANIM_PES:
        written.append(animate_wavelets(trace, out / "animation.gif", region=(x0, y0, w, h),
                                        title=rec.name))
    else:
        notes.append(f"no animation: {w}x{h} PEs (at most {ANIM_PES}); pass --window")
    if rec.stall is not None:
        save("stall.png", lambda p: draw_stall(rec.stall, eng, p))
    return written


def cmd_profile(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .profiler import profile

    args.command_name = "profile"
    got = _run(args, trace=True)
    if isinstance(got, int):
        return got
    run, rec = got
    prof = profile(rec.engine, rec.trace)
    if args.json:
        d = prof.to_dict(args.top)
        d["target"] = run.target.name
        d["engine"] = rec.index
        d["engines"] = len(run.records)
        d["error"] = _error_note(run)
        print(json.dumps(d, indent=1))
        return 0 if run.error is None else 1
    con = Console(file=sys.stdout, highlight=False)
    if len(run.records) > 1:
        con.print(f"[dim]{run.target.name} created {len(run.records)} engines; this is #"
                  f"{rec.index} (--engine K picks another)[/dim]")
    for table in prof.rich_tables(args.top):
        con.print(table)
    note = _error_note(run)
    if note:
        con.print(f"[red]{note}[/red]", soft_wrap=True)
        return 1
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..kernels import KernelError
    from ..program.layout import LayoutError
    from .routecheck import check_routes, format_findings
    from .targets import TargetError, target_layouts

    try:
        target, kw = _resolve(args)
        layouts = target_layouts(target, **kw)
    except (TargetError, KernelError, LayoutError, ValueError) as err:
        return _err(f"waferscale routes: {err}")
    except Exception as err:  # noqa: BLE001 - an example failing after it compiled
        return _err(f"waferscale routes: {args.target} raised {type(err).__name__}: {err}")
    seen: dict[str, Any] = {}
    for cl in layouts:
        seen.setdefault(cl.layout.name, cl)
    if not seen:
        return _err(f"waferscale routes: {target.name} compiled no layout")
    colors = [int(c) for c in args.colors.split(",")] if args.colors else None
    con = Console(file=sys.stdout, highlight=False)
    errors = 0
    report = []
    for k, (name, cl) in enumerate(seen.items()):
        findings = check_routes(cl)
        errors += sum(f.severity == "error" for f in findings)
        report.append({"layout": name, "findings": [
            {"kind": f.kind, "severity": f.severity, "x": f.pe[0], "y": f.pe[1],
             "color": f.color, "position": f.position, "detail": f.detail} for f in findings]})
        if args.json:
            continue
        lay = cl.layout
        con.print(f"layout {name!r} ({lay.width}x{lay.height} PEs): " +
                  ("no findings" if not findings else f"{len(findings)} finding(s)"))
        if findings:
            con.print(format_findings(findings), soft_wrap=True, markup=False)
        if args.out:
            path = _draw_route_map(Path(args.out), k, len(seen), cl, colors, con)
            if path is not None:
                con.print(f"  wrote {path}")
    if args.json:
        print(json.dumps(report, indent=1))
    return 1 if errors else 0


def _draw_route_map(out: Path, k: int, n: int, cl: Any, colors: Any, con: Any) -> Path | None:
    import matplotlib.pyplot as plt

    from ..viz.routes import MAX_PES, draw_routes

    out.mkdir(parents=True, exist_ok=True)
    lay = cl.layout
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in lay.name)
    path = out / ("routes.png" if n == 1 else f"routes_{k}_{safe}.png")
    region = None
    if lay.width * lay.height > MAX_PES:
        side = int(MAX_PES**0.5)
        region = (0, 0, min(lay.width, side), min(lay.height, side))
        con.print(f"  [dim]{lay.width}x{lay.height} PEs: drawing the corner {region[2]}x"
                  f"{region[3]}[/dim]")
    w, h = (region[2], region[3]) if region else (lay.width, lay.height)
    try:
        fig = draw_routes(cl, colors, path, region=region, dpi=100 if w * h <= 16 else 64)
    except ValueError as err:
        con.print(f"  [dim]no map: {err}[/dim]")
        return None
    plt.close(fig)
    return path


def cmd_debug(args: argparse.Namespace) -> int:
    from ..kernels import KernelError
    from .debugger import DebugSession, command_loop, interactive_lines
    from .targets import TargetError

    try:
        target, kw = _resolve(args)
    except (TargetError, KernelError) as err:
        return _err(f"waferscale debug: {err}")
    session = DebugSession(target, **kw)
    if args.commands:
        lines: Any = Path(args.commands).read_text().splitlines()
        echo = True
    elif sys.stdin.isatty():
        lines, echo = interactive_lines(), False
        print(f"debugging {target.name} ('help' lists the commands)")
    else:
        lines, echo = sys.stdin, True
    failures = command_loop(session, lines, echo=echo)
    return 1 if failures else 0
