"""The ``waferscale`` command line.

    waferscale demo                      a first look at the machine
    waferscale arch list                 the presets
    waferscale arch show NAME [--json]   a preset or spec file, with derived figures
    waferscale arch validate FILE        check a spec file: "ok" or the problems, exit 1
    waferscale arch schema               JSON schema of spec files
    waferscale trace TARGET --out DIR    trace a kernel or example: Perfetto JSON, pictures
    waferscale profile TARGET [--json]   busy / stalled / idle per PE, tasks, hottest links
    waferscale routes TARGET --out DIR   route maps and the static route check
    waferscale debug TARGET              run, step, break and look inside (commands on stdin)
    waferscale collective OP ...         a collective: its model, or --simulate it

Every subcommand has ``--help``. ``main(argv)`` returns the exit status, so tests can call it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from waferscale import __version__

__all__ = ["main"]


def _console() -> Console:
    # Built per call so output follows whatever sys.stdout is now (tests capture it).
    return Console(file=sys.stdout, highlight=False)


def _resolve(name: str):  # -> ArchSpec
    """A preset name, or a path to a .yaml/.yml/.toml/.json spec file."""
    from waferscale import arch
    from waferscale.arch.io import SUFFIXES

    if name.lower() in arch.preset_names():
        return arch.preset(name)
    path = Path(name)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return arch.load(path)
    raise arch.SpecError.at(
        "NAME",
        name,
        "a preset (" + ", ".join(arch.preset_names()) + ") or a .yaml/.yml/.toml/.json file",
    )


# --------------------------------------------------------------------------------------------
# commands


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run a small program on a simulated WSE-2: y = A x (f32, 512 x 512) on a 16 x 16 region of
    PEs, checked against numpy, with the cycles it took on the machine and what that means."""
    import time

    from waferscale import arch
    from waferscale.arch.report import format_si

    t_start = time.perf_counter()
    spec = arch.preset("wse2")
    d = arch.derived(spec)
    M = N = 512
    W = H = 16
    as_json = bool(getattr(args, "json", False))
    out = _console()
    if not as_json:
        pes = next(c for c in d.comparisons() if c.quantity.startswith("PEs"))
        rel = pes.relative_difference
        g = spec.grid
        out.print(
            f"waferscale {__version__} - demo: y = A x ({M} x {N}, f32) on a {W} x {H} region of "
            f"a simulated {spec.name}",
            soft_wrap=True,
        )
        out.print(
            f"[dim]{spec.name}: fabric {g.columns} x {g.rows} = {d.fabric_pes:,} PEs (vendor "
            f"{pes.vendor:,}{'' if rel is None else f', {rel * 100:+.1f}%'}), program rectangle "
            f"{g.program_columns} x {g.program_rows}, {format_si(spec.clock_hz, 'Hz')}, peak "
            f"{format_si(d.peak_flops_f16, 'FLOP/s')} f16 / {format_si(d.peak_flops_f32, 'FLOP/s')}"
            " f32[/dim]",
            soft_wrap=True,
        )
        out.print(
            f"Each PE holds a {M // H} x {N // W} block of A; row 0 floods its x segment down its "
            "column, every PE multiply-adds its block, and the partial sums are chain-reduced "
            "along each row into the last column.\n"
        )

    from waferscale.demos import gemv

    wl = gemv(M, N, W, H, arch=spec)
    r = wl.run()
    seconds = r["cycles"] / spec.clock_hz
    flops = r["flops"] / seconds
    region_peak = W * H * d.flops_per_cycle_per_pe_f32 * spec.clock_hz
    total_wall = time.perf_counter() - t_start
    if as_json:
        keys = ("cycles", "ok", "max_abs_err", "max_rel_err", "bit_exact", "wall_s", "stats")
        print(
            json.dumps(
                {
                    "workload": "gemv",
                    "arch": spec.name,
                    "M": M,
                    "N": N,
                    "width": W,
                    "height": H,
                    **{k: r[k] for k in keys if k in r},
                    "seconds_at_clock": seconds,
                    "clock_hz": spec.clock_hz,
                    "flop_per_s": flops,
                    "region_peak_f32_flop_per_s": region_peak,
                    "total_wall_s": total_wall,
                },
                indent=2,
            )
        )
        return 0 if r["ok"] else 1

    from rich.table import Table

    table = Table(title="result", title_justify="left", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    check = "[green]matches numpy[/green]" if r["ok"] else "[red]DOES NOT match numpy[/red]"
    table.add_row("check (rtol 1e-5)", check)
    table.add_row(
        "max abs error vs numpy f32", f"{r['max_abs_err']:.3g} (relative {r['max_rel_err']:.2g})"
    )
    if "bit_exact" in r:
        table.add_row("bit-exact in the PEs' order", "yes" if r["bit_exact"] else "no")
    table.add_row("cycles (max end - min start)", f"{r['cycles']:,}")
    table.add_row(f"time at {format_si(spec.clock_hz, 'Hz')}", format_si(seconds, "s"))
    table.add_row(
        "achieved (2 M N / time)",
        f"{format_si(flops, 'FLOP/s')} = "
        f"{flops / region_peak:.0%} of {format_si(region_peak, 'FLOP/s')} f32 peak",
    )
    st = r["stats"]
    table.add_row("wavelet hops / tasks run", f"{st['wavelet_hops']:,} / {st['tasks']:,}")
    table.add_row("simulator wall time", f"{r['wall_s']:.2f} s (with setup {total_wall:.1f} s)")
    out.print(table)
    out.print("More: waferscale arch show wse2 - benchmarks/fabric.py - src/waferscale/demos/")
    return 0 if r["ok"] else 1


def _cmd_arch_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from waferscale import arch

    if args.json:
        rows = []
        for name in arch.preset_names():
            spec = arch.preset(name)
            rows.append(
                {
                    "name": name,
                    "columns": spec.grid.columns,
                    "rows": spec.grid.rows,
                    "description": spec.description,
                }
            )
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="arch presets", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("fabric", justify="right")
    table.add_column("program", justify="right")
    table.add_column("description")
    for name in arch.preset_names():
        spec = arch.preset(name)
        g = spec.grid
        table.add_row(
            name,
            f"{g.columns}x{g.rows}",
            f"{g.program_columns}x{g.program_rows}",
            spec.description,
        )
    _console().print(table)
    return 0


def _cmd_arch_show(args: argparse.Namespace) -> int:
    from waferscale.arch.io import dumps
    from waferscale.arch.report import (
        comparison_table,
        other_derived_table,
        spec_table,
        summary,
    )

    spec = _resolve(args.name)
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(summary(spec), indent=2))
    elif fmt in ("yaml", "toml"):
        sys.stdout.write(dumps(spec, fmt))
    else:
        out = _console()
        if spec.description:
            out.print(f"{spec.name}: {spec.description}")
        out.print(spec_table(spec))
        out.print(comparison_table(spec))
        out.print(other_derived_table(spec))
    return 0


def _cmd_arch_validate(args: argparse.Namespace) -> int:
    from waferscale import arch

    arch.load(args.file)
    print("ok")
    return 0


def _cmd_arch_schema(args: argparse.Namespace) -> int:
    from waferscale import arch

    print(json.dumps(arch.ArchSpec.model_json_schema(), indent=2))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    """Run a kernel of the library on the simulator: checked against numpy, timed the SDK's way
    (max end - min start of the PEs' cycle counters), beside its analytic model. With --model,
    print the model's prediction only (any size, the full wafer included: --grid full)."""
    from rich.markup import escape

    from waferscale.arch.report import format_si
    from waferscale.kernels import REGISTRY, KernelError

    if args.list:
        for name in REGISTRY:
            print(name)
        return 0
    if not args.kernel:
        print("waferscale run: name a kernel (waferscale run --list shows them)", file=sys.stderr)
        return 2
    kernel = REGISTRY.get(args.kernel)
    if kernel is None:
        import difflib

        close = difflib.get_close_matches(args.kernel, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"waferscale run: unknown kernel {args.kernel!r}{hint}; kernels: "
              f"{', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    arch = _resolve(args.arch)
    try:
        if args.model:
            est = kernel.estimate(arch, args.grid, args.size)
            if args.json:
                print(json.dumps(est, indent=2))
                return 0
            W, H = est["grid"]
            size = ", ".join(f"{k}={v}" for k, v in est["size"].items())
            out = _console()
            out.print(f"{kernel.name} on {arch.name}, {W} x {H} PEs, {size} (model only)")
            out.print(f"model cycles  {est['model_cycles']:,}")
            out.print(f"time          {format_si(est['time_s'], 's')} at "
                      f"{format_si(arch.clock_hz, 'Hz')}")
            if est["flops"]:
                out.print(f"FLOP/s        {format_si(est['flops_per_s'], 'FLOP/s')}")
            if est["bytes"]:
                out.print(f"bytes/s       {format_si(est['bytes_per_s'], 'B/s')}")
            return 0
        result = kernel.run(arch, args.grid, args.size, seed=args.seed)
    except KernelError as err:
        print(f"waferscale run: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0 if result.ok else 1
    W, H = result.grid
    size = ", ".join(f"{k}={v}" for k, v in result.size.items())
    out = _console()
    out.print(f"{kernel.name} on {arch.name}, {W} x {H} PEs, {size}")
    verdict = "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"
    out.print(f"check         {verdict}  ({escape(result.check)})", soft_wrap=True)
    out.print(f"max error     {result.max_abs_err:.3g}")
    out.print(f"cycles        {result.cycles:,}  (max end - min start over the PEs)")
    out.print(f"time          {format_si(result.time_s, 's')} at {format_si(arch.clock_hz, 'Hz')}")
    if result.flops:
        out.print(f"FLOP/s        {format_si(result.flops_per_s, 'FLOP/s')}")
    if result.bytes:
        out.print(f"bytes/s       {format_si(result.bytes_per_s, 'B/s')}")
    out.print(f"model cycles  {result.model_cycles:,}  ({result.model_error:+.1%} vs simulator)")
    for k, v in result.extras.items():
        out.print(f"[dim]{escape(f'{k:<13} {v}')}[/dim]", soft_wrap=True)
    return 0 if result.ok else 1


def _cmd_trace(args: argparse.Namespace) -> int:
    """Trace a kernel or example: Perfetto JSON, pictures, tables (waferscale.tools)."""
    from waferscale.tools.cli import cmd_trace

    return cmd_trace(args)


def _cmd_profile(args: argparse.Namespace) -> int:
    """Profile a kernel or example: busy / stalled / idle per PE, tasks, links."""
    from waferscale.tools.cli import cmd_profile

    return cmd_profile(args)


def _cmd_routes(args: argparse.Namespace) -> int:
    """Route maps of a kernel's or example's layouts, and the static route check."""
    from waferscale.tools.cli import cmd_routes

    return cmd_routes(args)


def _cmd_debug(args: argparse.Namespace) -> int:
    """Debug a kernel or example with commands from the terminal or stdin."""
    from waferscale.tools.cli import cmd_debug

    return cmd_debug(args)


def _cmd_collective(args: argparse.Namespace) -> int:
    """A collective of waferscale.collectives on a row, column or rectangle: its algorithm (or
    the model's choice, --algorithm auto), model cycles, lower bound and spatial quantities;
    with --simulate also the simulator's cycles, the check against numpy and the quantities
    measured from the fabric's link counters."""
    from waferscale import collectives as wc

    try:
        arch = _resolve(args.arch)
        coll = wc.Collective(args.op, args.shape, args.words, args.algorithm,
                             reduce_op=args.reduce_op, dtype=args.dtype, root=args.root,
                             arch=arch)
        out: dict = {
            "op": coll.op, "algorithm": coll.name.split("/", 1)[1],
            "shape": f"{coll.shape[0]}x{coll.shape[1]}", "words": coll.words,
            "dtype": coll.dtype, "reduce_op": coll.reduce_op, "root": coll.root,
            "arch": arch.name,
            # counting colors builds the routes of every PE: skip it on huge regions
            "colors": coll.colors_needed if coll.P <= 65536 else None,
            "model_cycles": coll.model_cycles(),
            "lower_bound_cycles": coll.lower_bound_cycles(),
            "model_quantities": coll.model_quantities(),
        }
        if args.algorithm == "auto":
            out["candidates"] = wc.best(coll.op, coll.shape, coll.words, arch,
                                        root=coll.root).candidates
        if args.simulate:
            r = coll.simulate(seed=args.seed)
            out.update(sim_cycles=r.cycles, ok=r.ok, bit_exact=r.bit_exact,
                       max_abs_err=r.max_abs_err, model_error=r.model_error,
                       measured=r.measured, wall_s=r.wall_s)
    except (ValueError, KeyError) as err:
        print(f"waferscale collective: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=2, default=float))
        return 0 if out.get("ok", True) else 1
    con = _console()
    colors = f", {out['colors']} color(s)" if out["colors"] is not None else ""
    con.print(f"{coll.name} on {out['shape']} of {arch.name}, {coll.words} {coll.dtype} "
              f"{coll.reduce_op}, root {coll.root}{colors}")
    if "candidates" in out:
        con.print("model cycles by algorithm: " + ", ".join(
            f"{a} {c:,.1f}" for a, c in out["candidates"].items()))
    lb = out["lower_bound_cycles"]
    con.print(f"model cycles  {out['model_cycles']:,.1f}"
              + (f"   lower bound {lb:,.1f} (ratio {out['model_cycles'] / lb:.2f})" if lb else ""))
    for k, q in enumerate(out["model_quantities"]):
        con.print(f"[dim]model phase {k}: " + ", ".join(f"{n}={v:g}" for n, v in q.items())
                  + "[/dim]")
    if args.simulate:
        verdict = "[green]ok[/green]" if out["ok"] else "[red]WRONG[/red]"
        con.print(f"simulated     {out['sim_cycles']:,} cycles ({out['model_error']:+.1%} vs "
                  f"model), result {verdict}, bit-exact {out['bit_exact']}")
        con.print("[dim]measured: " + ", ".join(f"{n}={v}" for n, v in out["measured"].items())
                  + f"; {out['wall_s']:.2f} s of simulation[/dim]")
    return 0 if out.get("ok", True) else 1


# --------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waferscale",
        description="Simulator and SDK for Cerebras-style wafer-scale engines.",
    )
    parser.add_argument("--version", action="version", version=f"waferscale {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="a first look: GEMV on a 16x16 region of a simulated WSE-2, checked against numpy",
        description=_cmd_demo.__doc__,
    )
    demo.add_argument("--json", action="store_true", help="print the result as JSON")
    demo.set_defaults(func=_cmd_demo)

    arch_parser = commands.add_parser(
        "arch",
        help="machine specs: list, show, validate",
        description="Machine specs: presets (wse1, wse2, wse3) and spec files (YAML/TOML/JSON).",
    )
    arch_parser.set_defaults(func=lambda _args: _help(arch_parser))
    arch_cmds = arch_parser.add_subparsers(title="arch commands", metavar="ARCH_COMMAND")

    p = arch_cmds.add_parser("list", help="list the presets", description="List the presets.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_arch_list)

    p = arch_cmds.add_parser(
        "show",
        help="show a spec and its derived figures",
        description="Show a preset or spec file: every field, the aggregates derived from the "
        "per-PE figures beside the vendor's claims, and other derived figures.",
    )
    p.add_argument("name", metavar="NAME", help="a preset name or a .yaml/.yml/.toml/.json file")
    p.add_argument(
        "--json", action="store_true", help="print a JSON summary (same as --format json)"
    )
    p.add_argument(
        "--format",
        choices=("table", "json", "yaml", "toml"),
        default="table",
        help="output format; yaml/toml print the spec as a file you can edit and load",
    )
    p.set_defaults(func=_cmd_arch_show)

    p = arch_cmds.add_parser(
        "validate",
        help="check a spec file",
        description="Validate a spec file: prints 'ok' (exit 0) or one line per problem (exit 1).",
    )
    p.add_argument("file", metavar="FILE", help="a .yaml/.yml/.toml/.json spec file")
    p.set_defaults(func=_cmd_arch_validate)

    p = arch_cmds.add_parser(
        "schema",
        help="print the JSON schema of spec files",
        description="Print the JSON schema of a spec file (for editors and other tools).",
    )
    p.set_defaults(func=_cmd_arch_schema)

    p = commands.add_parser(
        "run",
        help="run a kernel of the library (or --model: predict it)",
        description=_cmd_run.__doc__,
    )
    p.add_argument("kernel", metavar="KERNEL", nargs="?", help="a kernel name (see --list)")
    p.add_argument("--list", action="store_true", help="list the kernels, one per line")
    p.add_argument("--arch", default="wse2", help="a preset or a spec file (default wse2)")
    p.add_argument("--grid", default=None, metavar="WxH",
                   help="PE grid, e.g. 4x3, or 'full' (the whole program rectangle)")
    p.add_argument("--size", default=None, metavar="SIZE",
                   help="the kernel's size parameters: '64x32' in order or 'M=64,N=32'")
    p.add_argument("--seed", type=int, default=0, help="random seed of the input data")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--model", action="store_true",
                   help="print the analytic model's prediction only (no simulation)")
    p.set_defaults(func=_cmd_run)

    p = commands.add_parser(
        "collective",
        help="a collective (reduce, broadcast, allreduce, ...): model it or --simulate it",
        description=_cmd_collective.__doc__,
    )
    p.add_argument("op", metavar="OP", help="reduce, broadcast, allreduce, reduce_scatter, "
                   "scatter, gather or allgather")
    p.add_argument("--algorithm", default="auto",
                   help="e.g. chain, two_phase, autogen, ring, xy, snake (default: auto, the "
                   "model's choice)")
    p.add_argument("--shape", default="16x1", metavar="WxH", help="PEs, e.g. 64x1 or 16x16")
    p.add_argument("--words", type=int, default=64, metavar="B", help="words per PE")
    p.add_argument("--reduce-op", default="sum", choices=("sum", "max"))
    p.add_argument("--dtype", default="f32", choices=("f32", "f16"))
    p.add_argument("--root", default="nw", help="corner of the root: nw, ne, sw, se")
    p.add_argument("--arch", default="wse2", help="a preset or a spec file (default wse2)")
    p.add_argument("--simulate", action="store_true", help="also run it on the simulator")
    p.add_argument("--seed", type=int, default=0, help="random seed of the input data")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_collective)

    from waferscale.tools.cli import add_tool_parsers

    add_tool_parsers(commands, {"trace": _cmd_trace, "profile": _cmd_profile,
                                "routes": _cmd_routes, "debug": _cmd_debug})

    parser.set_defaults(func=lambda _args: _help(parser))
    return parser


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from waferscale.arch.errors import SpecError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SpecError as err:
        print(str(err), file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `waferscale arch show wse2 --json | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
