"""The stream fast path (decision 0004) against the cycle loop on fabric.py's chain and GEMV
workloads: wall time of ``Engine.run`` (best of ``--repeat``, after a warm-up run), wavelet hops
per second, the ratio, and whether both runs ended equal (cycle, memory, stats but the visit
counters).

    PYTHONPATH=src .venv/bin/python benchmarks/stream_fast_path.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from waferscale.demos import chain_reduce_1d, chain_reduce_2d, gemv

VISIT_COUNTERS = ("cycles_stepped",)


def _timed(wl, fast: bool, repeat: int):
    best, eng = float("inf"), None
    for _ in range(repeat + 1):  # the first run warms up (compilation, recording)
        eng = wl.new_engine()
        eng.stream_fast_path = fast
        t0 = time.perf_counter()
        eng.run()
        best = min(best, time.perf_counter() - t0)
    return best, eng


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes (smoke test)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.quick:
        workloads = {"chain-1d": lambda: chain_reduce_1d(64, 32),
                     "chain-2d": lambda: chain_reduce_2d(16, 16, 32),
                     "gemv": lambda: gemv(256, 256, 8, 8)}  # fmt: skip
    else:
        workloads = {"chain-1d": lambda: chain_reduce_1d(512, 256),
                     "chain-2d": lambda: chain_reduce_2d(256, 256, 256),
                     "gemv": lambda: gemv(2048, 2048, 32, 32)}  # fmt: skip
    for name, make in workloads.items():
        wl = make()
        loop_s, slow = _timed(wl, False, args.repeat)
        fast_s, fast = _timed(wl, True, args.repeat)
        hops = slow.stats()["wavelet_hops"]
        same = (
            slow.now == fast.now
            and np.array_equal(slow.state.mem32, fast.state.mem32)
            and {k: v for k, v in slow.stats().items() if k not in VISIT_COUNTERS}
            == {k: v for k, v in fast.stats().items() if k not in VISIT_COUNTERS}
        )
        row = {"name": name, "cycles": slow.now, "hops": hops, "loop_s": round(loop_s, 4),
               "fast_s": round(fast_s, 4), "loop_hops_per_s": hops / loop_s,
               "fast_hops_per_s": hops / fast_s, "fast_over_loop": round(fast_s / loop_s, 2),
               "same": same, "ok": bool(wl.check(fast).ok),
               "stepped": [e.stats()["cycles_stepped"] for e in (slow, fast)]}  # fmt: skip
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
