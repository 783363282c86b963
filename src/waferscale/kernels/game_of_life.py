"""``game-of-life``: Conway's game of life, one cell per PE (the SDK's game-of-life example,
12x12 PEs). Exact check against numpy.

Mapping. PE (i, j) is cell (i, j) of a W x H board with dead cells beyond its edges; ``state``
(u16, 0 or 1) is loaded by the host. One generation is two exchanges over the neighbour-exchange
colors of ``_patterns`` (a color per direction and sender parity):

1. send ``state`` east and west, receive ``left`` and ``right``;
   ``row3 = left + state + right`` (add16);
2. send ``row3`` north and south, receive ``up3`` and ``down3`` (the three cells above and
   below - the diagonal neighbours arrive without diagonal links);
3. ``count = left + right + up3 + down3``; the rule in four 16-bit ops, no branches:
   ``alive' = ((count | state) ^ 3) - 1 >> 15`` (= 1 exactly when ``count | state == 3``, i.e.
   count 3, or count 2 and alive).

Every op has a single element; the sends and receives are synchronous one-wavelet fabric ops.

Cost model (cycles). A phase along a dimension of n PEs is a one-wavelet exchange: sends one
cycle apart, a CE-to-CE trip ``trip = 2*ramp + hop + 1`` and the receives (one wavelet per cycle
down the ramp). While the PEs run in lockstep (the first generations) a phase costs ``first(n) =
trip + min(n - 1, 3)`` (7, 8, 9 on WSE-2 for n = 2, 3, >= 4); the edge PEs, which have fewer
neighbours, then pull the others ahead until every phase costs ``steady(n) = trip + 1, 1.5, 2``
(n = 2, 3, >= 4). The relaxation takes about n generations, so

    T = G * (9 + sum_dims steady(n)) + sum_dims (first(n) - steady(n)) * min(G, n)

(9 one-cycle 16-bit ops per generation; a dimension with n = 1 has no phase). WSE-2, 12 x 12:
25 G + 2 min(G, 12). Counts: no FLOPs (integer program), bytes 0.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    Outcome,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._patterns import exchange_plan, exchange_routes


def life_program(c, *, generations: int, plan: tuple) -> None:
    state = c.array("state", "u16", 1, export=True)
    names = ("left", "right", "up3", "down3", "row3", "count", "t")
    arr = {n: c.array(n, "u16", 1, init=0) for n in names}
    ts = declare_timer(c)
    d = {n: mem1d_dsd(a) for n, a in arr.items()}
    sd = mem1d_dsd(state)
    by_dir = {dirn: (send, recv) for dirn, send, recv in plan}
    into = {"west": "left", "east": "right", "north": "up3", "south": "down3"}

    def exchange(pe, value, dirs):
        for dirn in dirs:
            if dirn in by_dir:
                pe.mov16(fabout_dsd(by_dir[dirn][0], 1, "u16"), value)
        for dirn in dirs:
            if dirn in by_dir:
                pe.mov16(d[into[dirn]], fabin_dsd(by_dir[dirn][1], 1, "u16"))

    def compute(pe):
        stamp(pe, ts, 0)
        for _ in range(generations):
            exchange(pe, sd, ("east", "west"))
            pe.add16(d["row3"], d["left"], sd)
            pe.add16(d["row3"], d["row3"], d["right"])
            exchange(pe, d["row3"], ("north", "south"))
            pe.add16(d["count"], d["left"], d["right"])
            pe.add16(d["count"], d["count"], d["up3"])
            pe.add16(d["count"], d["count"], d["down3"])
            pe.or16(d["t"], d["count"], sd)  # alive' = (count | state) == 3
            pe.xor16(d["t"], d["t"], 3)
            pe.sub16(d["t"], d["t"], 1)
            pe.slr16(sd, d["t"], 15)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def build_layout(arch, W: int, H: int, generations: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"game_of_life_{W}x{H}")
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(
                i, j, life_program, generations=generations, plan=exchange_plan(i, j, W, H)
            )
    exchange_routes(lay, W, H)
    return lay


def life_reference(board: np.ndarray, generations: int) -> np.ndarray:
    """``generations`` steps of the game of life on ``board`` (H, W) with dead borders."""
    b = board.astype(np.int64)
    for _ in range(generations):
        p = np.pad(b, 1)
        n = sum(
            p[1 + dy : 1 + dy + b.shape[0], 1 + dx : 1 + dx + b.shape[1]]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0)
        )
        b = ((n == 3) | ((b == 1) & (n == 2))).astype(np.int64)
    return b


@register
class GameOfLife(Kernel):
    name = "game-of-life"
    summary = "Conway's game of life, one cell per PE, neighbours over N/S/E/W"
    size_names = ("generations",)
    default_grid = (12, 12)
    default_size = {"generations": 8}
    check = "board == numpy game of life (exact)"

    def flops(self, grid, size):
        return 0.0

    def model_cycles(self, arch, grid, size):
        W, H = grid
        G = size["generations"]
        t = arch.timing
        trip = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
        ops = 9 * vector_cycles(arch, 1, "u16")
        total = 0.0
        for n in (W, H):
            if n == 1:
                continue
            first = trip + min(n - 1, 3)  # lockstep phase: 7, 8, 9 (+ trip - 6)
            steady = trip + {2: 1.0, 3: 1.5}.get(n, 2.0)
            total += G * steady + (first - steady) * min(G, n)
        return int(round(total + G * ops))

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        G = size["generations"]
        rng = np.random.default_rng(seed)
        board = (rng.random((H, W)) < 0.35).astype(np.uint16)
        runner = open_runtime(build_layout(arch, W, H, G).compile())
        h2d(runner, "state", board.reshape(H, W, 1), 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        got = d2h(runner, "state", 0, 0, W, H, 1, np.uint16).reshape(H, W)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = life_reference(board, G)
        diff = int((got.astype(np.int64) != ref).sum())
        return Outcome(
            diff == 0, float(diff), timing["cycles"], {"alive": int(ref.sum()), "cells_wrong": diff}
        )
