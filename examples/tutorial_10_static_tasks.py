"""Tutorial 10: static tasks - large runs without Python in the loop.

Step 10 of the tutorial series (docs/programming.md). A task written in Python costs some
microseconds of host time every time it runs; on a grid of tens of thousands of PEs that is
most of a simulation's time. In CSL every task is compiled code; here a local task can say it
is the same every run - ``bind_local_task(fn, id, static=True)`` - and the engine records its
builtin calls once per program (on two PEs, checked to match) and replays the record inside the
compiled cycle loop.

The program: a 2D chain reduce (every row toward its last column, then up that column), each PE
stamping its start and end cycles with ``pe.store_timestamp``. It runs twice, with plain and
with static tasks: the sums, every PE's time stamps, the cycle count and the engine's statistics
are identical; only the host time differs (printed, not asserted: it depends on the machine).

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_10_static_tasks.py
"""

from __future__ import annotations

import time

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

W, H, B = 48, 32, 16
ROW_COLORS, COL_COLORS = (0, 1), (2, 3)


# -- device ---------------------------------------------------------------------------------------


def chain_pe(c, *, static: bool, row_in, row_out, col_in, col_out):
    a = c.array("a", "f32", B, export=True)
    ts = c.array("ts", "u32", 2, export=True)

    def step(pe, cin, cout, then):
        """Add the stream from ``cin`` to ``a`` and pass it on to ``cout`` (async: ``then``
        runs when it is done). Returns False when this PE is not in that chain."""
        if cin is None and cout is None:
            return False
        if cin is None:
            pe.fmovs(fabout_dsd(cout, B), mem1d_dsd(a), async_=True, activate=then)
        elif cout is None:
            pe.fadds(mem1d_dsd(a), fabin_dsd(cin, B), mem1d_dsd(a), async_=True, activate=then)
        else:
            pe.fadds(fabout_dsd(cout, B), fabin_dsd(cin, B), mem1d_dsd(a), async_=True,
                     activate=then)  # fmt: skip
        return True

    def row(pe):
        pe.store_timestamp(ts, 0)  # not pe[ts][0] = ...: a static task does not touch memory
        if not step(pe, row_in, row_out, column):
            column(pe)

    def column(pe):
        if not step(pe, col_in, col_out, done):
            done(pe)

    def done(pe):
        pe.store_timestamp(ts, 1)

    c.bind_local_task(row, 8, static=static)
    c.bind_local_task(column, 9, static=static)
    c.bind_local_task(done, 10, static=static)
    c.activate(8)


def layout(static: bool) -> Layout:
    lay = Layout(W, H, name=f"tutorial_10_{'static' if static else 'python'}")
    for x in range(W):
        row_in = ROW_COLORS[(x - 1) % 2] if x > 0 else None
        row_out = ROW_COLORS[x % 2] if x < W - 1 else None
        if x < W - 1:
            lay.set_region_code(x, 0, 1, H, chain_pe, static=static, row_in=row_in,
                                row_out=row_out, col_in=None, col_out=None)  # fmt: skip
            lay.set_region_route(x, 0, 1, H, row_out, rx="RAMP", tx="EAST")
        if x > 0:
            lay.set_region_route(x, 0, 1, H, row_in, rx="WEST", tx="RAMP")
    for y in range(H):  # the last column: its row input, then the column chain northward
        col_out = COL_COLORS[y % 2] if y > 0 else None
        col_in = COL_COLORS[(y + 1) % 2] if y < H - 1 else None
        lay.set_tile_code(W - 1, y, chain_pe, static=static, row_in=ROW_COLORS[(W - 2) % 2],
                          row_out=None, col_in=col_in, col_out=col_out)  # fmt: skip
        if col_out is not None:
            lay.set_route(W - 1, y, col_out, rx="RAMP", tx="NORTH")
        if col_in is not None:
            lay.set_route(W - 1, y, col_in, rx="SOUTH", tx="RAMP")
    return lay


# -- host -----------------------------------------------------------------------------------------


def run(static: bool, data: np.ndarray) -> dict:
    eng = Engine(layout(static).compile())
    for y in range(H):
        for x in range(W):
            eng.view(eng.pe_index(x, y), eng.symbol(eng.pe_index(x, y), "a"))[:] = data[y, x]
    t0 = time.perf_counter()
    eng.run()
    host_s = time.perf_counter() - t0
    stamps = np.array([[eng.read_symbol(x, y, "ts") for x in range(W)] for y in range(H)])
    return {
        "sum": eng.read_symbol(W - 1, 0, "a"),
        "stamps": stamps,
        "cycles": eng.now,
        # all but the loop's visit counter: the stream fast path takes the static chain's
        # streams in windows instead of cycle by cycle
        "stats": {k: v for k, v in eng.stats().items() if k != "cycles_stepped"},
        "host_s": host_s,
    }


def main() -> dict:
    data = np.random.default_rng(10).standard_normal((H, W, B)).astype(np.float32)
    plain = run(False, data)
    static = run(True, data)

    # the order the PEs add in: along each row, then up the last column from the bottom
    rows = data[:, 0]
    for x in range(1, W):
        rows = rows + data[:, x]
    expected = rows[H - 1]
    for y in range(H - 2, -1, -1):
        expected = expected + rows[y]
    assert np.array_equal(static["sum"].view(np.uint32), expected.view(np.uint32))
    assert np.array_equal(plain["sum"].view(np.uint32), static["sum"].view(np.uint32))
    assert np.array_equal(plain["stamps"], static["stamps"])
    assert plain["cycles"] == static["cycles"] and plain["stats"] == static["stats"]
    stage = 6  # ramp down + add + ramp up + hop (WSE-2)
    assert int(static["stamps"][..., 1].max() - static["stamps"][..., 0].min()) == (
        2 * B + stage * (W - 1) + stage * (H - 1)
    )

    print(f"{W}x{H} PEs, {B} f32 each: {static['cycles']} cycles, {static['stats']['tasks']} tasks")
    print(f"host time: plain tasks {plain['host_s']:.3f} s, static tasks {static['host_s']:.3f} s")
    return {
        "cycles": static["cycles"],
        "tasks": static["stats"]["tasks"],
        "plain_s": plain["host_s"],
        "static_s": static["host_s"],
    }


if __name__ == "__main__":
    main()
