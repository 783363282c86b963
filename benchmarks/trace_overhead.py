#!/usr/bin/env python
"""What the trace hooks cost when tracing is off: the fabric benchmark's chain reduce (a row of
512 PEs, 256 f32 each, synchronous receive-add-send stages: ``B + 6 (P - 1)`` = 3322 cycles) run
by this tree's engine (hooks present, tracing disabled) and by the engine of the commit before
the hooks (default ``8802e5b``), checked out into a temporary git worktree. The program is
defined here, with the API both trees share, so both engines run the same thing.

    python benchmarks/trace_overhead.py                 # 7 rounds x 10 runs, P=512, B=256
    python benchmarks/trace_overhead.py --rounds 9 --repeat 20
    python benchmarks/trace_overhead.py --traced        # also: this tree with tracing ON
    python benchmarks/trace_overhead.py --json          # one JSON object at the end

Every measurement is a fresh child process (``PYTHONPATH`` pointing at one tree's ``src``) that
warms the numba kernel up on a tiny instance, then times ``Engine.run`` of the workload
``--repeat`` times and reports its best. The variants are interleaved round by round (A, B, A,
B, ...), so that load from other processes on a shared machine hits both alike; the figures
are the best of all rounds per variant and their ratio (and the medians, for the spread), in
wall time and in the child's CPU time (``time.process_time``: on a busy shared machine the
steadier of the two, since time spent waiting for a core is not counted). The
worktrees are removed at the end (``--keep`` keeps them; ``--worktree PATH`` reuses one).

The working tree also carries every engine change made after the hooks; ``--hooks 57ab6a6``
(the commit that added them, on top of 8802e5b) measures the hooks alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

P, B, repeat, traced = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
COLORS = (0, 1)


def chain(c, *, B, cin, cout):
    # one stage of the chain reduce: receive, add its own vector, send on (synchronous ops)
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


def build(P, B):
    lay = Layout(P, 1, name=f"chain_{P}_{B}")
    for x in range(P):
        cin = COLORS[(x - 1) % 2] if x else None
        cout = COLORS[x % 2] if x < P - 1 else None
        lay.set_tile_code(x, 0, chain, B=B, cin=cin, cout=cout)
        if cout is not None:
            lay.set_route(x, 0, cout, rx="RAMP", tx="EAST")
        if cin is not None:
            lay.set_route(x, 0, cin, rx="WEST", tx="RAMP")
    return lay.compile()


Engine(build(4, 4)).run()  # numba: compile, or load from the on-disk cache
compiled = build(P, B)
walls, cpus, cycles, ok = [], [], None, True
for _ in range(repeat):
    eng = Engine(compiled)
    if traced:
        eng.start_trace()
    c0, t0 = time.process_time(), time.perf_counter()
    res = eng.run()
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
    cycles = res.stats["cycle"]
    ok = ok and bool((eng.read_symbol(P - 1, 0, "a") == P).all())
    if traced:
        eng.stop_trace()
print(json.dumps({"walls": walls, "cpus": cpus, "cycles": cycles, "ok": ok}))
"""


def child(src: Path, P: int, B: int, repeat: int, traced: bool, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(P), str(B), str(repeat), "1" if traced else "0"],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=str(src.parent),
    )
    if out.returncode != 0:
        raise RuntimeError(f"child in {src} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="8802e5b", help="commit without the hooks (8802e5b)")
    ap.add_argument("--hooks", default=None, metavar="REV",
                    help="measure this commit (in a second worktree) as the side with the "
                    "hooks instead of the working tree, e.g. 57ab6a6, the commit that added "
                    "them: isolates the hooks from later engine changes")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--repeat", type=int, default=10, help="runs per child process (best)")
    ap.add_argument("--P", type=int, default=512, help="PEs in the row (default 512)")
    ap.add_argument("--B", type=int, default=256, help="f32 words per PE (default 256)")
    ap.add_argument("--traced", action="store_true", help="also time this tree tracing")
    ap.add_argument("--worktree", default=None, help="use / create the worktree here")
    ap.add_argument("--keep", action="store_true", help="keep the worktree afterwards")
    ap.add_argument("--timeout", type=float, default=900.0, help="per child, seconds")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    tree = Path(args.worktree) if args.worktree else Path(
        tempfile.gettempdir()) / f"ws_nohooks_{os.getpid()}"
    created: list[Path] = []

    def worktree(path: Path, rev: str) -> Path:
        if not (path / "src" / "waferscale").is_dir():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path),
                            rev], check=True, capture_output=True, text=True)
            created.append(path)
        return path / "src"

    hooks_src, hooks_name = ROOT / "src", "working tree"
    if args.hooks:
        hooks_src = worktree(Path(tempfile.gettempdir()) / f"ws_hooks_{os.getpid()}", args.hooks)
        hooks_name = args.hooks
    variants = {f"hooks, tracing off ({hooks_name})": (hooks_src, False),
                f"no hooks ({args.base})": (worktree(tree, args.base), False)}
    if args.traced:
        variants[f"hooks, tracing on ({hooks_name})"] = (hooks_src, True)
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    walls: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    cycles: dict[str, int] = {}
    try:
        for name, (src, traced) in variants.items():  # warm the numba caches of both trees
            log(f"warm-up: {name} ...")
            child(src, 4, 4, 1, traced, args.timeout)
        for r in range(args.rounds):
            for name, (src, traced) in variants.items():
                res = child(src, args.P, args.B, args.repeat, traced, args.timeout)
                if not res["ok"]:
                    raise RuntimeError(f"{name}: the chain reduce result is wrong")
                walls[name].append(min(res["walls"]))
                cpus[name].append(min(res["cpus"]))
                cycles[name] = res["cycles"]
                log(f"round {r + 1}/{args.rounds}  {name:<36} {min(res['walls']):.4f} s wall"
                    f"  {min(res['cpus']):.4f} s CPU")
    finally:
        for path in created if not args.keep else []:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                           check=False, capture_output=True)
    names = list(variants)
    a, b = names[0], names[1]
    best = {k: min(v) for k, v in walls.items()}
    med = {k: statistics.median(v) for k, v in walls.items()}
    best_cpu = {k: min(v) for k, v in cpus.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpus.items()}
    result = {
        "workload": f"chain reduce, synchronous stages, P={args.P} PEs, B={args.B} f32",
        "simulated_cycles": cycles,
        "rounds": args.rounds,
        "repeat": args.repeat,
        "best_s": best,
        "median_s": med,
        "best_cpu_s": best_cpu,
        "median_cpu_s": med_cpu,
        "ratio_best": best[a] / best[b],
        "ratio_median": med[a] / med[b],
        "ratio_best_cpu": best_cpu[a] / best_cpu[b],
        "ratio_median_cpu": med_cpu[a] / med_cpu[b],
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
                   f"{platform.python_implementation()} {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python benchmarks/trace_overhead.py " + " ".join(argv or sys.argv[1:]),
    }
    if args.traced:
        result["ratio_traced_best"] = best[names[2]] / best[b]
        result["ratio_traced_best_cpu"] = best_cpu[names[2]] / best_cpu[b]
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print()
    print(f"{result['workload']}, {cycles[a]:,} simulated cycles, best of {args.rounds} "
          f"interleaved rounds (x{args.repeat} runs each)")
    print(f"  {'':<36} {'wall: best':>11} {'median':>8}   {'CPU: best':>10} {'median':>8}")
    for k in names:
        print(f"  {k:<36} {best[k]:>10.4f}s {med[k]:>7.4f}s   {best_cpu[k]:>9.4f}s "
              f"{med_cpu[k]:>7.4f}s")
    print(f"  {'ratio hooks (off) / no hooks':<36} {result['ratio_best']:>11.3f} "
          f"{result['ratio_median']:>8.3f}   {result['ratio_best_cpu']:>10.3f} "
          f"{result['ratio_median_cpu']:>8.3f}")
    if args.traced:
        print(f"  {'ratio tracing on / no hooks':<36} {result['ratio_traced_best']:>11.3f} "
              f"{'':>8}   {result['ratio_traced_best_cpu']:>10.3f}")
    print(f"  {result['machine']}, {result['date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
