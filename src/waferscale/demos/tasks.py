"""Python data tasks under load: every PE receives ``n`` wavelets into a data task.

In each row, PE x sends ``n`` u32 words (an async ``mov32`` to a fabric-output DSD) to PE x+1 on
a color alternating with x's parity; the last PE of the row sends its words back west to PE 0
on a third color that passes through the row. Every PE's data task adds each payload (mod 2**32)
and counts the wavelets; the last one stamps the PE's end time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd, mem1d_dsd

from ._common import TS, Check, Workload, load_region, read_region, stamp
from .collectives import MAIN_TASK

EAST_COLORS = (0, 1)
WRAP_COLOR = 2


def flood_program(c, *, n: int, cin: int, cout: int) -> None:
    src = c.array("src", "u32", n, export=True)
    acc = c.array("acc", "u32", 2, export=True)  # [sum mod 2**32, count]
    ts = c.array(TS, "u32", 2, export=True)

    def main(pe):
        stamp(pe, ts, 0)
        pe.mov32(fabout_dsd(cout, n, "u32"), mem1d_dsd(src), async_=True)

    def recv(pe, value):
        a = pe[acc]
        a[0] = (int(a[0]) + value) & 0xFFFFFFFF
        a[1] += 1
        if a[1] == n:
            stamp(pe, ts, 1)

    c.bind_local_task(main, MAIN_TASK)
    c.activate(MAIN_TASK)
    c.bind_data_task(recv, cin, dtype="u32")


def tasks_flood(W: int, H: int, n: int, *, arch: Any = "wse2", seed: int = 0) -> Workload:
    """Every PE of a ``W`` x ``H`` rectangle (``W >= 2``) receives ``n`` wavelets into a Python
    data task: ``W * H * n`` task runs."""
    if W < 2:
        raise ValueError(f"tasks_flood needs W >= 2, got {W}")
    t0 = time.perf_counter()
    lay = Layout(W, H, arch=arch, name=f"tasks_flood_{W}x{H}_n{n}")
    for x in range(W):
        cin = EAST_COLORS[(x - 1) % 2] if x > 0 else WRAP_COLOR
        cout = EAST_COLORS[x % 2] if x < W - 1 else WRAP_COLOR
        lay.set_region_code(x, 0, 1, H, flood_program, n=n, cin=cin, cout=cout)
        if x < W - 1:
            lay.set_region_route(x, 0, 1, H, cout, rx="RAMP", tx="EAST")
        if x > 0:
            lay.set_region_route(x, 0, 1, H, cin, rx="WEST", tx="RAMP")
    lay.set_region_route(W - 1, 0, 1, H, WRAP_COLOR, rx="RAMP", tx="WEST")
    if W > 2:
        lay.set_region_route(1, 0, W - 2, H, WRAP_COLOR, rx="EAST", tx="WEST")
    lay.set_region_route(0, 0, 1, H, WRAP_COLOR, rx="EAST", tx="RAMP")
    compiled = lay.compile()
    build_s = time.perf_counter() - t0

    data = np.random.default_rng(seed).integers(0, 1 << 32, (H, W, n), dtype=np.uint64)
    sums = (data.sum(axis=2) & 0xFFFFFFFF).astype(np.uint32)
    expect = np.roll(sums, 1, axis=1)  # PE x hears from x-1; PE 0 from W-1

    def load(eng: Engine) -> None:
        load_region(eng, "src", data.astype(np.uint32))

    def check(eng: Engine) -> Check:
        acc = read_region(eng, "acc", 0, 0, W, H)
        ok = bool(np.array_equal(acc[..., 0], expect) and (acc[..., 1] == n).all())
        err = float(np.abs(acc[..., 0].astype(np.int64) - expect.astype(np.int64)).max())
        return Check(ok, err, {"tasks_expected": W * H * (n + 1)})

    return Workload(
        lay.name,
        W,
        H,
        compiled,
        load,
        check,
        model_cycles=None,
        build_s=build_s,
        params={"W": W, "H": H, "n": n},
    )
