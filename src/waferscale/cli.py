"""The ``waferscale`` command line.

    waferscale demo                      a first look at the machine
    waferscale arch list                 the presets
    waferscale arch show NAME [--json]   a preset or spec file, with derived figures
    waferscale arch validate FILE        check a spec file: "ok" or the problems, exit 1
    waferscale arch schema               JSON schema of spec files

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
    """Show what the package knows about a WSE-2 (to become a real simulator run)."""
    from waferscale import arch
    from waferscale.arch.report import comparison_table, other_derived_table, summary_table

    spec = arch.preset("wse2")
    out = _console()
    out.print(f"waferscale {__version__} - demo: the {spec.name} machine spec\n")
    out.print(summary_table(spec))
    out.print(comparison_table(spec))
    out.print(other_derived_table(spec))
    out.print(
        "Derived figures count every fabric PE at the spec's clock; see docs/arch.md for the "
        "conventions. More: waferscale arch show wse2"
    )
    return 0


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
        help="a first look: the WSE-2 spec and what it implies",
        description=_cmd_demo.__doc__,
    )
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
