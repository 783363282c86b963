#!/usr/bin/env python
"""Fabric-engine benchmarks: how fast the simulator steps a few representative workloads.

    python benchmarks/fabric.py                  # readable table, every workload
    python benchmarks/fabric.py --json           # one JSON object per line per workload
    python benchmarks/fabric.py --only gemv      # one workload (repeatable option)
    python benchmarks/fabric.py --quick          # reduced sizes, for smoke tests
    python benchmarks/fabric.py --repeat 3       # best of 3 runs (wall time)
    python benchmarks/fabric.py --plain-tasks    # the workloads' static tasks as plain Python

Each workload runs in its own child process (so its peak RSS is its own and a crash or a
timeout only loses that workload), after a warm-up run of a tiny instance of the same builder
(numba compiles, or loads from its on-disk cache, on first use). ``wall_s`` times
``Engine.run`` only: building the layout, loading the data and recording the static tasks
are reported apart (``build_s``, ``setup_s``, ``prepare_s``). The layout is built once per
workload and each repeat runs a fresh engine on it, as a user runs a compiled program again:
the static tasks are recorded by the first repeat only (``first_prepare_s``; decision 0003).
``kernel_s`` is the part of ``wall_s`` spent inside the compiled cycle loop; the rest
(``python_s``) is the Python driver and the Python tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

# name -> (description, full size, quick size, warm-up size); sizes are builder arguments
WORKLOADS: dict[str, tuple[str, str, tuple, tuple, tuple]] = {
    "chain-1d": (
        "chain reduce, a row of 512 PEs, 256 f32 each",
        "chain_reduce_1d",
        (512, 256),
        (64, 32),
        (4, 4),
    ),
    "chain-2d": (
        "chain reduce, 256x256 PEs, 256 f32 each (rows, then the last column)",
        "chain_reduce_2d",
        (256, 256, 256),
        (16, 16, 32),
        (3, 3, 4),
    ),
    "gemv": (
        "y = A x, A 2048x2048 f32 over 32x32 PEs",
        "gemv",
        (2048, 2048, 32, 32),
        (256, 256, 8, 8),
        (8, 8, 2, 2),
    ),
    "tasks": (
        "64x64 PEs, each receiving 1024 wavelets into a Python data task",
        "tasks_flood",
        (64, 64, 1024),
        (8, 8, 64),
        (2, 2, 2),
    ),
    "wafer": (
        "chain reduce on the WSE-2 program rectangle 750x994, 16 f32 per PE",
        "chain_reduce_2d",
        (750, 994, 16),
        (75, 99, 16),
        (3, 3, 4),
    ),
}


def _timed_kernel() -> dict[str, float]:
    """Wrap the engine's compiled cycle loop to account the time spent inside it."""
    from waferscale.fabric import _kernel

    acc = {"kernel_s": 0.0, "kernel_calls": 0}
    inner = _kernel.run_cycles

    def run_cycles(*args):
        t0 = time.perf_counter()
        try:
            return inner(*args)
        finally:
            acc["kernel_s"] += time.perf_counter() - t0
            acc["kernel_calls"] += 1

    _kernel.run_cycles = run_cycles
    return acc


# builders whose local tasks are static by default (decision 0003); --plain-tasks turns that off
STATIC_BUILDERS = {"chain_reduce_1d", "chain_reduce_2d", "gemv"}


def run_child(name: str, quick: bool, repeat: int, plain_tasks: bool = False) -> dict[str, Any]:
    import functools

    from waferscale import demos

    desc, builder, full, small, warm = WORKLOADS[name]
    build = getattr(demos, builder)
    if plain_tasks and builder in STATIC_BUILDERS:
        build = functools.partial(build, static=False)
    acc = _timed_kernel()
    build(*warm).run()  # numba: compile or load from cache
    size = small if quick else full
    best: dict[str, Any] | None = None
    walls, prepares = [], []
    wl = build(*size)
    for _ in range(repeat):
        acc["kernel_s"], acc["kernel_calls"] = 0.0, 0
        r = wl.run()
        wl.engine = None  # the next repeat's engine does not share memory with this one
        r["kernel_s"], r["kernel_calls"] = acc["kernel_s"], acc["kernel_calls"]
        walls.append(r["wall_s"])
        prepares.append(r["prepare_s"])
        if best is None or r["wall_s"] < best["wall_s"]:
            best = r
    del wl
    assert best is not None
    r = best
    st = r["stats"]
    wall = r["wall_s"]
    cycles = st["cycle"]
    return {
        "name": name,
        "pes": r["pes"],
        "simulated_cycles": cycles,
        "wall_s": round(wall, 4),
        "pe_cycles_per_s": r["pes"] * cycles / wall if wall > 0 else None,
        "wavelet_hops_per_s": st["wavelet_hops"] / wall if wall > 0 else None,
        "tasks_per_s": st["tasks"] / wall if wall > 0 else None,
        "peak_rss_mb": round(r["peak_rss_mb"], 1),
        "ok": r["ok"],
        # extras
        "task_style": "static" if builder in STATIC_BUILDERS and not plain_tasks else "python",
        "size": list(size),
        "sdk_cycles": r["cycles"],
        "model_cycles": r["model_cycles"],
        "max_abs_err": r["max_abs_err"],
        "kernel_s": round(r["kernel_s"], 4),
        "python_s": round(wall - r["kernel_s"], 4),
        "kernel_calls": r["kernel_calls"],
        "build_s": round(r["build_s"], 4),
        "setup_s": round(r["setup_s"], 4),
        "prepare_s": round(r["prepare_s"], 4),
        "first_prepare_s": round(prepares[0], 4),
        "wall_s_all": [round(w, 4) for w in walls],
        "stats": st,
        **({"flop_per_s_simulated": r["flop_per_s"]} if "flop_per_s" in r else {}),
    }


def run_parent(
    name: str, quick: bool, repeat: int, timeout: float | None, plain_tasks: bool = False
) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--repeat", str(repeat)]
    if quick:
        cmd.append("--quick")
    if plain_tasks:
        cmd.append("--plain-tasks")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"name": name, "ok": False, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "name": name,
        "ok": False,
        "error": f"exit {proc.returncode} after "
        f"{time.perf_counter() - t0:.0f} s: " + " | ".join(tail),
    }


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{v / div:.2f} {suf}{unit}"
        return f"{v:.3g} {unit}".rstrip()
    return f"{v:,}"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="waferscale fabric benchmarks (wall = Engine.run only)", title_justify="left")
    for col, just in (
        ("workload", "left"),
        ("PEs", "right"),
        ("cycles", "right"),
        ("wall", "right"),
        ("kernel", "right"),
        ("PE-cycles/s", "right"),
        ("hops/s", "right"),
        ("tasks/s", "right"),
        ("peak RSS", "right"),
        ("ok", "center"),
    ):
        t.add_column(col, justify=just)
    for r in rows:
        if "error" in r:
            t.add_row(r["name"], *["-"] * 8, f"[red]{r['error']}[/red]")
            continue
        t.add_row(
            r["name"],
            _fmt(r["pes"]),
            _fmt(r["simulated_cycles"]),
            f"{r['wall_s']:.3f} s",
            f"{r['kernel_s']:.3f} s",
            _fmt(r["pe_cycles_per_s"]),
            _fmt(r["wavelet_hops_per_s"]),
            _fmt(r["tasks_per_s"]),
            f"{r['peak_rss_mb']:.0f} MB",
            "[green]yes[/green]" if r["ok"] else "[red]NO[/red]",
        )
    c = Console(width=max(132, Console().width))
    c.print(t)
    c.print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument(
        "--only",
        action="append",
        choices=list(WORKLOADS),
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}",
    )
    ap.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per workload; best wall kept")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per workload")
    ap.add_argument(
        "--plain-tasks",
        action="store_true",
        help="run the chain and GEMV workloads' static tasks as plain Python tasks",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        row = run_child(args.child, args.quick, max(1, args.repeat), args.plain_tasks)
        print(json.dumps(row), flush=True)
        return 0
    rows = []
    for name in args.only or list(WORKLOADS):
        r = run_parent(name, args.quick, max(1, args.repeat), args.timeout, args.plain_tasks)
        rows.append(r)
        if args.json:
            print(json.dumps(r), flush=True)
    if not args.json:
        print_table(rows)
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
