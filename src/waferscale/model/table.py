"""Print the table of predicted reduce cycles that docs/model.md shows.

    python -m waferscale.model.table                  # WSE-2, the docs' grid
    python -m waferscale.model.table --arch wse3 --P 4 64 --B 1 4096
    python -m waferscale.model.table --timing         # wall time of Auto-Gen's DP at P = 512

Rows are (P, B); columns the model time of each reduce algorithm on a row of P PEs, the
pre-order lower bound, and the cheapest fixed algorithm (Auto-Gen excluded).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from waferscale import arch as arch_mod
from waferscale.model.bounds import _Tables, autogen_tree, lower_bound_cycles
from waferscale.model.select import ALGORITHMS, FIXED_ALGORITHMS, best_reduce, reduce_cycles

__all__ = ["main", "reduce_table", "time_autogen"]

DEFAULT_P = (4, 16, 64, 256, 512)
DEFAULT_B = (1, 16, 256, 4096)


def _fmt(x: float) -> str:
    return f"{x:.0f}" if x == int(x) else f"{x:.1f}"


def reduce_table(
    spec: arch_mod.ArchSpec, Ps: Sequence[int] = DEFAULT_P, Bs: Sequence[int] = DEFAULT_B
) -> str:
    """The table as markdown."""
    head = ["P", "B", *ALGORITHMS, "bound", "best fixed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * (len(head) - 1) + "---|"]
    for P in Ps:
        for B in Bs:
            cells = [str(P), str(B)]
            cells += [_fmt(reduce_cycles(a, P, B, spec)) for a in ALGORITHMS]
            cells.append(_fmt(lower_bound_cycles(P, B, spec)))
            cells.append(best_reduce(P, B, spec, FIXED_ALGORITHMS).algorithm)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_autogen(spec: arch_mod.ArchSpec, P: int = 512, Bs: Sequence[int] = DEFAULT_B) -> str:
    """Wall time of the energy DP for P PEs (first call in this process: includes loading or
    compiling the numba code) and of Auto-Gen for each B once the table exists."""
    _Tables.P = 0  # force a fresh table
    t0 = time.perf_counter()
    autogen_tree(P, Bs[0], spec)
    first = time.perf_counter() - t0
    _Tables.P = 0
    t0 = time.perf_counter()
    _Tables.get(P)
    table = time.perf_counter() - t0
    out = [
        f"P = {P}: first Auto-Gen call {first:.3f} s (numba load/compile + DP + search)",
        f"P = {P}: energy DP alone (compiled) {table:.3f} s",
    ]
    for B in Bs:
        t0 = time.perf_counter()
        tree = autogen_tree(P, B, spec)
        dt = time.perf_counter() - t0
        out.append(
            f"P = {P}, B = {B}: Auto-Gen search {dt * 1e3:.1f} ms -> {tree.predicted_cycles:.1f} "
            f"cycles (depth {tree.depth}, max children {tree.max_children})"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m waferscale.model.table", description=__doc__)
    parser.add_argument("--arch", default="wse2", help="arch preset name (default wse2)")
    parser.add_argument("--P", type=int, nargs="+", default=list(DEFAULT_P))
    parser.add_argument("--B", type=int, nargs="+", default=list(DEFAULT_B))
    parser.add_argument("--timing", action="store_true", help="time Auto-Gen's DP at max P")
    args = parser.parse_args(argv)
    spec = arch_mod.preset(args.arch)
    if args.timing:
        print(time_autogen(spec, max(args.P), args.B))
        return 0
    t = spec.timing
    print(
        f"Predicted reduce cycles on {spec.name} (T_R = {t.ramp_latency_cycles}, "
        f"hop latency {t.hop_latency_cycles}):\n"
    )
    print(reduce_table(spec, args.P, args.B))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
