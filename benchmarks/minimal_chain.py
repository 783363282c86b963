#!/usr/bin/env python
"""A floor for the cycle-stepped engine: the chain-1d workload with nothing general in it.

    python benchmarks/minimal_chain.py            # 512 PEs, 256 f32 each (fabric.py's chain-1d)
    python benchmarks/minimal_chain.py 64 32

Each PE's vector streams through the same stages as in the engine - op element, output queue,
ramp-up, router buffer, hop, ramp-down into the next PE's input queue - through bounded FIFOs
with ready times (WSE-2 latencies: ramp 2, hop 1; queue depth 6), stepped cycle by cycle. What
it leaves out is everything that makes the engine general: routes and switches, colors sharing
links and their arbitration, multicast, filters, control wavelets, tasks, microthreads, FIFOs,
active lists, statistics. It takes the model's cycles (B + 6(P-1), plus the cycle in which the
last element lands) and sums exactly; its time per hop is what any design of this kind pays at
least, so it says how much of the engine's cost is generality (docs/engine.md, "Speed").
"""

from __future__ import annotations

import sys
import time

import numba as nb
import numpy as np


@nb.njit(cache=True)
def chain_reduce(P: int, B: int, ramp: int, hop: int, depth: int):
    """Sum ``B`` ones per PE along a row of ``P`` PEs; returns (cycles, hops, the sums)."""
    shape = (P, depth)
    i_ready, i_data = np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    o_ready, o_data = np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    r_ready, r_data = np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    i_head, i_count = np.zeros(P, np.int64), np.zeros(P, np.int64)
    o_head, o_count = np.zeros(P, np.int64), np.zeros(P, np.int64)
    r_head, r_count = np.zeros(P, np.int64), np.zeros(P, np.int64)
    mem = np.ones((P, B), np.float32)
    done = np.zeros(P, np.int64)
    hops = 0
    t = 0
    finished = 0
    while finished < P:
        finished = 0
        for p in range(P):
            k = done[p]
            if k == B:
                finished += 1
            elif p == 0:  # the first PE sends its vector
                if o_count[p] < depth:
                    slot = (o_head[p] + o_count[p]) % depth
                    o_data[p, slot], o_ready[p, slot] = mem[p, k], t + 1
                    o_count[p] += 1
                    done[p] = k + 1
            elif (
                i_count[p] > 0 and i_ready[p, i_head[p]] <= t and (p == P - 1 or o_count[p] < depth)
            ):
                v = i_data[p, i_head[p]] + mem[p, k]
                i_head[p] = (i_head[p] + 1) % depth
                i_count[p] -= 1
                if p == P - 1:
                    mem[p, k] = v
                else:
                    slot = (o_head[p] + o_count[p]) % depth
                    o_data[p, slot], o_ready[p, slot] = v, t + 1
                    o_count[p] += 1
                done[p] = k + 1
            # the router: its buffer's head goes east, down the next PE's ramp
            if r_count[p] > 0 and r_ready[p, r_head[p]] <= t and i_count[p + 1] < depth:
                q = p + 1
                slot = (i_head[q] + i_count[q]) % depth
                i_data[q, slot], i_ready[q, slot] = r_data[p, r_head[p]], t + hop + ramp
                i_count[q] += 1
                r_head[p] = (r_head[p] + 1) % depth
                r_count[p] -= 1
                hops += 1
            # the ramp up: the output queue's head into the router buffer
            if o_count[p] > 0 and o_ready[p, o_head[p]] <= t and r_count[p] < depth:
                slot = (r_head[p] + r_count[p]) % depth
                r_data[p, slot], r_ready[p, slot] = o_data[p, o_head[p]], t + ramp
                r_count[p] += 1
                o_head[p] = (o_head[p] + 1) % depth
                o_count[p] -= 1
        t += 1
    return t, hops, mem[P - 1]


def main(argv: list[str]) -> int:
    P, B = (int(v) for v in argv[:2]) if len(argv) >= 2 else (512, 256)
    chain_reduce(4, 4, 2, 1, 6)  # compile, or load from the on-disk cache
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        cycles, hops, sums = chain_reduce(P, B, 2, 1, 6)
        best = min(best, time.thread_time() - t0)
    assert np.all(sums == P), "the sums must be exact"
    assert cycles == B + 6 * (P - 1) + 1, (cycles, B + 6 * (P - 1) + 1)
    print(
        f"P={P} B={B}: {cycles} cycles, {hops} hops, {best * 1e3:.2f} ms CPU (best of 5), "
        f"{best / max(hops, 1) * 1e9:.1f} ns per hop = {hops / best:.3g} hops/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
