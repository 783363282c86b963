"""Collectives on a row or a rectangle of PEs: chain reduce (1D and 2D) and flooding broadcast.

Chain reduce: each PE adds its vector to the partial sum streaming past and forwards it, element
by element, so a row of P PEs costs ``B + (2*T_R + hop + 1) * (P - 1)`` cycles (spatial-model
section 2). Consecutive PEs use two colors alternating by parity, so a PE's input and output
colors differ. The 2D version reduces every row toward the last column, then the last column
toward its top PE (x = W-1, y = 0).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

from ..kernels._patterns import chain_colors, chain_step, row_chain_routes
from ._common import TS, Check, Workload, load_region, read_region, stamp

MAIN_TASK = 8
COL_TASK = 9
DONE_TASK = 10
ROW_COLORS = (0, 1)
COL_COLORS = (2, 3)
BCAST_COLOR = 4


def _stage_cycles(arch) -> int:
    """Cycles one chain stage adds: ramp down + 1 (the add) + ramp up + one hop."""
    t = arch.timing
    return 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1


def chain_program(
    c, *, B: int, row_in=None, row_out=None, col_in=None, col_out=None, static: bool = True
) -> None:
    """A PE of a (2D) chain reduce: the row phase, then (last column only) the column phase.
    Async ops chained by their completion tasks, the SDK's usual style: no task waits. The
    tasks are static (``static=False``: plain Python tasks, the same cycles and results)."""
    a = c.array("a", "f32", B, export=True)
    ts = c.array(TS, "u32", 2, export=True)
    mem = mem1d_dsd(a, B)

    def main(pe):
        stamp(pe, ts, 0)
        if not chain_step(pe, "fadds", mem, B, row_in, row_out, async_=True, activate=col):
            col(pe)

    def col(pe):
        if not chain_step(pe, "fadds", mem, B, col_in, col_out, async_=True, activate=done):
            done(pe)

    def done(pe):
        stamp(pe, ts, 1)

    c.bind_local_task(main, MAIN_TASK, static=static)
    c.bind_local_task(col, COL_TASK, static=static)
    c.bind_local_task(done, DONE_TASK, static=static)
    c.activate(MAIN_TASK)


def sync_chain_stage(c, *, B: int, cin: int | None, cout: int | None) -> None:
    """One stage of a chain reduce with synchronous ops and no timers (the smallest program
    whose traces and pictures show every kind of event): receive, add its vector of ones,
    send on."""
    a = c.array("a", "f32", B, init=1.0)

    def main(pe):
        chain_step(pe, "fadds", mem1d_dsd(a), B, cin, cout)

    c.bind_local_task(main, MAIN_TASK)
    c.activate(MAIN_TASK)


def sync_chain_row(P: int, B: int, *, broken_at: int | None = None) -> Layout:
    """A row of ``P`` PEs chain-reducing ``B`` words toward the east (``sync_chain_stage``);
    ``broken_at``: that PE listens on the wrong port (a planted bug for stall pictures)."""
    name = f"chain_{P}x{B}" + ("_broken" if broken_at is not None else "")
    lay = Layout(P, 1, name=name)
    for x in range(P):
        cin, cout = chain_colors(x, P, ROW_COLORS)
        lay.set_tile_code(x, 0, sync_chain_stage, B=B, cin=cin, cout=cout)
        if cout is not None:
            lay.set_route(x, 0, cout, rx="RAMP", tx="EAST")
        if cin is not None:
            lay.set_route(x, 0, cin, rx="NORTH" if x == broken_at else "WEST", tx="RAMP")
    return lay


def chain_reference(data: np.ndarray) -> np.ndarray:
    """The chain's result in float32, in the order the PEs add: along each row from x = 0 (each
    PE computes incoming + own), then up the last column from the bottom. ``data``: (H, W, B)."""
    data = np.asarray(data, np.float32)
    rows = data[:, 0].copy()
    for x in range(1, data.shape[1]):
        rows = rows + data[:, x]
    total = rows[-1].copy()
    for y in range(data.shape[0] - 2, -1, -1):
        total = total + rows[y]
    return total


def chain_reduce_2d(
    W: int,
    H: int,
    B: int,
    *,
    arch: Any = "wse2",
    seed: int = 0,
    name: str | None = None,
    static: bool = True,
) -> Workload:
    """f32 sum of a length-``B`` vector per PE over a ``W`` x ``H`` rectangle: a chain along every
    row toward the last column, then a chain up the last column to PE (W-1, 0)."""
    t0 = time.perf_counter()
    lay = Layout(W, H, arch=arch, name=name or f"chain_reduce_{W}x{H}_B{B}")
    for x in range(W - 1):
        row_in, row_out = chain_colors(x, W, ROW_COLORS)
        lay.set_region_code(
            x, 0, 1, H, chain_program, B=B, row_in=row_in, row_out=row_out, static=static
        )
    row_chain_routes(lay, W, H, ROW_COLORS)
    x = W - 1
    row_in, _ = chain_colors(x, W, ROW_COLORS)
    for y in range(H):
        col_out = COL_COLORS[y % 2] if y > 0 else None
        col_in = COL_COLORS[(y + 1) % 2] if y < H - 1 else None
        lay.set_tile_code(
            x, y, chain_program, B=B, row_in=row_in, col_in=col_in, col_out=col_out, static=static
        )
        if col_out is not None:
            lay.set_route(x, y, col_out, rx="RAMP", tx="NORTH")
        if col_in is not None:
            lay.set_route(x, y, col_in, rx="SOUTH", tx="RAMP")
    compiled = lay.compile()
    build_s = time.perf_counter() - t0

    data = np.random.default_rng(seed).standard_normal((H, W, B)).astype(np.float32)

    def load(eng: Engine) -> None:
        load_region(eng, "a", data)

    def check(eng: Engine) -> Check:
        got = eng.read_symbol(W - 1, 0, "a")
        ref = chain_reference(data)
        err = float(np.abs(got.astype(np.float64) - ref).max()) if B else 0.0
        exact = bool(np.array_equal(got.view(np.uint32), ref.view(np.uint32)))
        return Check(exact, err, {"bit_exact": exact})

    stage = _stage_cycles(compiled.arch)
    if H == 1:
        model = B + stage * (W - 1)
    elif W == 1:
        model = B + stage * (H - 1)
    else:  # rows, then the column once every row is done (the two phases do not overlap)
        model = 2 * B + stage * (W - 1) + stage * (H - 1)
    return Workload(
        lay.name,
        W,
        H,
        compiled,
        load,
        check,
        model_cycles=model,
        build_s=build_s,
        params={"W": W, "H": H, "B": B},
    )


def chain_reduce_1d(P: int, B: int, **kw: Any) -> Workload:
    """Chain reduce over a row of ``P`` PEs toward the last one (the model's chain:
    ``B + 6 (P - 1)`` cycles on WSE-2)."""
    kw.setdefault("name", f"chain_reduce_1d_P{P}_B{B}")
    return chain_reduce_2d(P, 1, B, **kw)


def broadcast_program(c, *, B: int, role: str) -> None:
    a = c.array("a", "f32", B, export=True)
    ts = c.array(TS, "u32", 2, export=True)

    def main(pe):
        stamp(pe, ts, 0)
        if role == "src":
            pe.fmovs(fabout_dsd(BCAST_COLOR, B), mem1d_dsd(a))
        else:
            pe.fmovs(mem1d_dsd(a), fabin_dsd(BCAST_COLOR, B))
        stamp(pe, ts, 1)

    c.bind_local_task(main, MAIN_TASK)
    c.activate(MAIN_TASK)


def broadcast_1d(P: int, B: int, *, arch: Any = "wse2", seed: int = 0) -> Workload:
    """Flood ``B`` f32 words from PE 0 along a row of ``P`` PEs: every router after the first
    multicasts to its CE (RAMP) and EAST (the last one RAMP only). Model: ``B + P + 2 T_R``."""
    if P < 2:
        raise ValueError(f"broadcast_1d needs P >= 2, got {P}")
    t0 = time.perf_counter()
    lay = Layout(P, 1, arch=arch, name=f"broadcast_1d_P{P}_B{B}")
    lay.set_tile_code(0, 0, broadcast_program, B=B, role="src")
    lay.set_route(0, 0, BCAST_COLOR, rx="RAMP", tx="EAST")
    lay.set_region_code(1, 0, P - 1, 1, broadcast_program, B=B, role="dst")
    if P > 2:
        lay.set_region_route(1, 0, P - 2, 1, BCAST_COLOR, rx="WEST", tx=["RAMP", "EAST"])
    lay.set_route(P - 1, 0, BCAST_COLOR, rx="WEST", tx="RAMP")
    compiled = lay.compile()
    build_s = time.perf_counter() - t0
    data = np.random.default_rng(seed).standard_normal(B).astype(np.float32)

    def load(eng: Engine) -> None:
        load_region(eng, "a", data.reshape(1, 1, B))

    def check(eng: Engine) -> Check:
        got = read_region(eng, "a", 0, 0, P, 1)[0]
        err = float(np.abs(got - data[None]).max())
        return Check(
            bool(
                np.array_equal(
                    got.view(np.uint32), np.broadcast_to(data.view(np.uint32), got.shape)
                )
            ),
            err,
        )

    ramp = compiled.arch.timing.ramp_latency_cycles
    return Workload(
        lay.name,
        P,
        1,
        compiled,
        load,
        check,
        model_cycles=B + P + 2 * ramp,
        build_s=build_s,
        params={"P": P, "B": B},
    )
