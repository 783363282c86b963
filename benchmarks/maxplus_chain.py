#!/usr/bin/env python
"""The engine's chain reduce computed as a schedule instead of stepped: what a stream fast path
could reach (decision 0004).

    python benchmarks/maxplus_chain.py          # chain-1d (512 x 256), chain-2d (256^2 x 256)
    python benchmarks/maxplus_chain.py --check  # also run the engine, compare PE by PE

The fabric.py workloads' timing and sums from :func:`waferscale.fabric.schedule.chain_schedule`
(the engine's rules as a max-plus recursion over the stream's elements, one row at a time), timed
(best of ``--rounds``). ``--check`` runs the same data on the engine and compares every PE's
``done`` stamp and the result, bit for bit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def chain_2d(data: np.ndarray, arch) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Every row toward its last PE, then the last column toward its top PE, as the demo does:
    returns (the result, every PE's ``done`` stamp, hops, whether any answer was order-dependent).
    Each row is scheduled on its own, as an engine fast path would have to (the rows' data
    differ; their timing happens not to)."""
    from waferscale.fabric.schedule import chain_schedule, op_start_cycle

    startup = arch.timing.task_startup_cycles
    H, W, B = data.shape
    stamps = np.zeros((H, W), np.int64)
    column = np.zeros((H, B), np.float32)
    row_done = np.zeros(H, np.int64)
    hops = 0
    tie = False
    for y in range(H):
        row = chain_schedule(arch, W, B, data=data[y])
        column[y] = row.sums
        hops += row.hops
        tie |= row.order_dependent
        stamps[y] = row.completion + startup  # ``done`` is picked when the op completes
        row_done[y] = row.cycles
    if H == 1:
        return column[0], stamps, hops, tie
    # the last column's PEs start the column chain (bottom to top) once their row is done
    assert (row_done == row_done[0]).all(), "every row ends at the same cycle in this workload"
    col = chain_schedule(
        arch, H, B, data=column[::-1].copy(),
        start=op_start_cycle(arch, int(row_done[0])),
    )  # fmt: skip
    stamps[:, W - 1] = col.completion[::-1] + startup
    return col.sums, stamps, hops + col.hops, tie or col.order_dependent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the engine, PE by PE")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from waferscale.arch import preset
    from waferscale.demos import chain_reduce_2d
    from waferscale.demos._common import TS, load_region, read_region

    arch = preset("wse2")
    for name, (W, H, B) in {"chain-1d": (512, 1, 256), "chain-2d": (256, 256, 256)}.items():
        data = np.random.default_rng(0).standard_normal((H, W, B)).astype(np.float32)
        chain_2d(data[:1, :4, :4], arch)  # compile or load
        best = None
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            got, stamps, hops, tie = chain_2d(data, arch)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        line = (
            f"{name}: {W}x{H} PEs, B={B}: last stamp {stamps.max()}, {hops:,} hops in "
            f"{best * 1e3:.1f} ms = {hops / best:.2e} hops/s (best of {args.rounds}); "
            f"visit-order tie: {tie}"
        )
        if args.check:
            eng = chain_reduce_2d(W, H, B).new_engine()
            load_region(eng, "a", data)
            eng.run()
            ts = read_region(eng, TS, 0, 0, W, H).astype(np.int64)
            ref = eng.read_symbol(W - 1, 0, "a")
            same_stamps = bool(np.array_equal(ts[:, :, 1], stamps))
            same_sum = bool(np.array_equal(ref.view(np.uint32), got.view(np.uint32)))
            line += f"; engine: stamps equal {same_stamps}, result bit-equal {same_sum}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
