#!/usr/bin/env python
"""Compare the fabric benchmarks of two source trees in one interleaved run.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_fabric.py /tmp/before . --only chain-1d --only gemv --rounds 3

Runs ``benchmarks/fabric.py --json --only NAME`` of each tree, alternating between the trees
round by round (so a slow spell of a shared machine hits both), and prints per workload the
best wall, kernel and Python seconds of each tree and the speed-up of the second over the first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKLOADS = ("chain-1d", "chain-2d", "gemv", "tasks", "wafer")


def run_once(tree: Path, name: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "fabric.py"), "--json", "--only", name],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="repository root of the reference tree")
    ap.add_argument("after", type=Path, help="repository root of the tree to compare")
    ap.add_argument("--only", action="append", choices=WORKLOADS, help="workload (repeatable)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tree (best is kept)")
    args = ap.parse_args(argv)
    trees = (args.before.resolve(), args.after.resolve())
    for name in args.only or WORKLOADS:
        rows: dict[Path, list[dict]] = {t: [] for t in trees}
        for _ in range(args.rounds):
            for t in trees:
                rows[t].append(run_once(t, name))
        best = {t: min(rows[t], key=lambda r: r["wall_s"]) for t in trees}
        for t in trees:
            r = best[t]
            print(
                f"{name:9s} {str(t):32s} wall {r['wall_s']:8.4f} s  kernel {r['kernel_s']:8.4f}"
                f"  python {r['python_s']:8.4f}  ok {r['ok']}"
            )
        b, a = (best[t]["wall_s"] for t in trees)
        print(f"{name:9s} speed-up {b / a:.2f}x (best of {args.rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
