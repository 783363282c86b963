#!/usr/bin/env python
"""Kernel-library benchmarks: every kernel of ``waferscale.kernels.REGISTRY`` on the simulator,
at the largest size that simulates within a time limit.

    python benchmarks/kernels.py --json            # one JSON object per line per kernel
    python benchmarks/kernels.py                   # a readable table
    python benchmarks/kernels.py --quick --json    # default sizes only (one run each)
    python benchmarks/kernels.py --only gemm-summa --only fft-3d --limit 30 --budget 90

Search. Starting from the kernel's default size on its default grid, every size parameter is
doubled; when the kernel refuses a doubled size (it no longer fits a PE's memory, or breaks a
rule such as a power of two) the grid is doubled with it (both ways, else one way; at most 4096
PEs, the simulator's limit), so the search goes on at a constant size per PE. It stops when a run
would take longer than ``--limit`` seconds (default 60) of wall time, when neither doubling is
accepted, or when the kernel's search budget (``--budget``, default 150 s) is spent. Each trial
runs in its own child process with a timeout (a trial that runs out of time only ends the
search: the previous size is the answer), after an untimed warm-up run at the default size in
the same process (numba loads its kernel from the on-disk cache). A trial that the growth seen
so far predicts to take longer than the limit is not started.

Each output line: ``name``, ``arch``, ``grid``, ``size``, ``cycles`` (simulated, SDK timers:
max end - min start), ``model_cycles``, ``model_error``, ``wall_s`` (the whole ``Kernel.run``:
layout, compile, host runtime, simulation and check), ``engine_s`` (``Engine.run`` only),
``wavelet_hops`` (the engine's router-to-router transfer count, ``Engine.stats()``),
``wavelet_hops_per_s`` (= wavelet_hops / engine_s), ``ok`` (the kernel's check), and the
search: ``trials`` (sizes tried with their wall times) and ``stop`` (why the search ended).
Exit status 1 if a kernel fails its check or its default size crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


# -- one trial (in a child process) --------------------------------------------------------------


def _instrument():
    """Count the wall time of every ``Engine.run`` and remember every engine created."""
    from waferscale.fabric import engine as eng_mod

    record: dict[str, Any] = {"engines": [], "engine_s": 0.0}
    orig = eng_mod.Engine.run

    def run(self, *a, **kw):
        if not any(e is self for e in record["engines"]):
            record["engines"].append(self)
        t0 = time.perf_counter()
        try:
            return orig(self, *a, **kw)
        finally:
            record["engine_s"] += time.perf_counter() - t0

    eng_mod.Engine.run = run
    return record


def trial(name: str, arch: str, grid: list[int] | None, size: dict[str, int] | None,
          warm: bool) -> dict[str, Any]:
    from waferscale.kernels import REGISTRY

    k = REGISTRY[name]
    if warm:
        k.run(arch)  # the default size: loads numba's cached kernel, imports everything
    record = _instrument()
    t0 = time.perf_counter()
    r = k.run(arch, tuple(grid) if grid else None, size)
    wall = time.perf_counter() - t0
    hops = sum(int(e.stats()["wavelet_hops"]) for e in record["engines"])
    es = record["engine_s"]
    return {
        "name": name,
        "arch": r.arch,
        "grid": list(r.grid),
        "size": r.size,
        "cycles": r.cycles,
        "model_cycles": r.model_cycles,
        "model_error": round(r.model_error, 4),
        "wall_s": round(wall, 3),
        "engine_s": round(es, 3),
        "wavelet_hops": hops,
        "wavelet_hops_per_s": round(hops / es, 1) if es > 0 else 0.0,
        "ok": bool(r.ok),
    }


def run_child(name: str, arch: str, size: dict[str, int] | None, timeout: float,
              warm: bool = True, grid: list[int] | None = None) -> dict[str, Any]:
    """A trial in a child process; ``{"error": ...}`` on a refusal, crash or timeout."""
    cmd = [sys.executable, __file__, "--trial", name, "--arch", arch,
           "--size-json", json.dumps(size) if size else "",
           "--grid-json", json.dumps(grid) if grid else ""]
    if not warm:
        cmd.append("--no-warm")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "elapsed_s": round(time.perf_counter() - t0, 1)}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:300], "elapsed_s": round(time.perf_counter() - t0, 1)}
    out = json.loads(lines[-1])
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return out


# -- the search ------------------------------------------------------------------------------------


def doubled(size: dict[str, int]) -> dict[str, int]:
    return {k: 2 * v for k, v in size.items()}


def next_step(k, arch: str, grid: tuple[int, int], size: dict[str, int]):
    """The next (grid, size) to try: the size doubled on the same grid, else (it does not fit or
    breaks a rule) the size doubled on a grid doubled in both directions, then in one; None when
    nothing is accepted. Returns (grid, size, refusal of the plain doubling)."""
    from waferscale.kernels import KernelError

    nxt = doubled(size)
    try:
        k.model(arch, grid, nxt)
        return grid, nxt, None
    except KernelError as exc:
        why = str(exc)
    if k.fixed_grid is None:
        W, H = grid
        for g in ((2 * W, 2 * H), (2 * W, H), (W, 2 * H)):
            if g[0] * g[1] > 4096:
                continue
            try:
                k.model(arch, g, nxt)
                return g, nxt, why
            except KernelError:
                continue
    return None, None, why


def search(name: str, arch: str, limit: float, budget: float, log) -> dict[str, Any]:
    from waferscale.arch import preset
    from waferscale.kernels import REGISTRY

    k = REGISTRY[name]
    size = dict(k.default_size)
    grid = k.grid_of(preset(arch), None)
    t_start = time.perf_counter()
    best = run_child(name, arch, size, timeout=max(limit, 60.0) + 120.0)
    trials = [{"grid": list(grid), "size": size, "wall_s": best.get("wall_s"),
               "error": best.get("error")}]
    if "error" in best:
        return {"name": name, "arch": arch, "size": size, "ok": False, "error": best["error"],
                "trials": trials, "stop": "the default size failed"}
    walls = [best["wall_s"]]
    stop = "budget"
    while True:
        g, nxt, why = next_step(k, arch, grid, size)
        if nxt is None:
            stop = f"refused: {why}"[:200]
            break
        # doubling every size parameter (and the grid) multiplies the work by up to 2^(#params)
        growth = max(2.0, walls[-1] / walls[-2]) if len(walls) > 1 else 4.0
        if g != grid:
            growth *= 4.0
        predicted = walls[-1] * growth
        left = budget - (time.perf_counter() - t_start)
        if predicted > limit:
            stop = (f"next ({g[0]}x{g[1]}, {nxt}) predicted to take {predicted:.0f} s > "
                    f"{limit:.0f} s")
            break
        if predicted > left:
            stop = f"budget: next size predicted {predicted:.0f} s, {left:.0f} s left"
            break
        log(f"  {name}: trying {g[0]}x{g[1]} {nxt} (predicted {predicted:.1f} s)")
        res = run_child(name, arch, nxt, timeout=min(limit, left) + 30.0, grid=list(g))
        trials.append({"grid": list(g), "size": nxt, "wall_s": res.get("wall_s"),
                       "error": res.get("error")})
        if "error" in res:
            stop = f"{res['error']} at {g[0]}x{g[1]} {nxt}"
            break
        if res["wall_s"] > limit:
            stop = f"{g[0]}x{g[1]} {nxt} took {res['wall_s']:.0f} s > {limit:.0f} s"
            break
        if not res["ok"]:
            best = res
            stop = f"check failed at {g[0]}x{g[1]} {nxt}"
            break
        best, size, grid = res, nxt, g
        walls.append(res["wall_s"])
    best.pop("elapsed_s", None)
    best["trials"] = trials
    best["stop"] = stop
    best["search_s"] = round(time.perf_counter() - t_start, 1)
    return best


# -- main ------------------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]]) -> str:
    head = f"{'kernel':24} {'grid':>7} {'size':28} {'cycles':>10} {'model':>10} {'err':>7} " \
           f"{'wall s':>7} {'hops/s':>9} ok"
    out = [head, "-" * len(head)]
    for r in rows:
        if "error" in r and "cycles" not in r:
            out.append(f"{r['name']:24} error: {r['error']}")
            continue
        g = "x".join(map(str, r["grid"]))
        s = ",".join(f"{k}={v}" for k, v in r["size"].items())
        out.append(f"{r['name']:24} {g:>7} {s:28} {r['cycles']:>10,} {r['model_cycles']:>10,} "
                   f"{100 * r['model_error']:>+6.1f}% {r['wall_s']:>7.2f} "
                   f"{r['wavelet_hops_per_s']:>9.2e} {'yes' if r['ok'] else 'NO'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--quick", action="store_true", help="default sizes only, one run each")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="a kernel (repeatable); default: every kernel of the registry")
    ap.add_argument("--arch", default="wse2")
    ap.add_argument("--limit", type=float, default=60.0,
                    help="wall-time limit of one run, seconds (default 60)")
    ap.add_argument("--budget", type=float, default=150.0,
                    help="search time per kernel, seconds (default 150)")
    ap.add_argument("--trial", help=argparse.SUPPRESS)
    ap.add_argument("--size-json", default="", help=argparse.SUPPRESS)
    ap.add_argument("--grid-json", default="", help=argparse.SUPPRESS)
    ap.add_argument("--no-warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.trial:  # child process
        size = json.loads(args.size_json) if args.size_json else None
        grid = json.loads(args.grid_json) if args.grid_json else None
        print(json.dumps(trial(args.trial, args.arch, grid, size, not args.no_warm)))
        return 0

    from waferscale.kernels import REGISTRY

    names = args.only or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"unknown kernels: {unknown}; kernels: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rows, bad = [], 0
    for name in names:
        if args.quick:
            row = run_child(name, args.arch, None, timeout=600.0, warm=False)
            row.pop("elapsed_s", None)
            row.setdefault("name", name)
        else:
            log(f"{name}: searching")
            row = search(name, args.arch, args.limit, args.budget, log)
        bad += int(not row.get("ok", False))
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(_table(rows))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
