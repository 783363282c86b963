"""``histogram``: a histogram of random integers by bucket sort to owner PEs, then a tally (the
SDK's histogram example, 8x8 PEs). Exact check against ``np.bincount``.

Mapping. Every PE of the W x H grid holds ``n`` values in ``0 .. W*H*bpp - 1`` and owns ``bpp``
consecutive buckets: bucket b belongs to PE ``p = b // bpp`` at ``(p mod W, p div W)``. A value
travels as one wavelet ``(value, destination)`` - the value in the low 16 bits, the coordinate
of the PE it is going to in the high 16 bits (the index) - in two phases, X then Y:

1. **Row phase.** The launched ``compute`` buckets its values (scalar work, ``BUCKET_CYCLES``
   per value): those for another column go east or west on ``E1`` / ``W1``, those for this
   column go straight to phase 2. ``E1`` runs the whole row like a bus (the route at PE x
   accepts from WEST and RAMP and sends EAST and to its own RAMP), and a **range filter** on
   each router lets a data wavelet reach the CE only when its index is the PE's x, so each
   wavelet lands at its owner column without any CE forwarding it. ``W1`` mirrors it westward.
2. **Column phase.** A PE that received a value for its own column keeps it (its row: tally)
   or queues it for ``S2`` / ``N2``, the same bus-with-filters along the column (index = y).
3. **Tally.** The data task of the owner adds 1 to the bucket (``TALLY_CYCLES``).

Termination: after its data each PE sends one *control* wavelet (a sentinel) on each bus color;
it runs a control task at every PE downstream (and at the sender, whose route loops back to its
own ramp). A wavelet's order is preserved along a color, so when PE x has seen the sentinels of
all x + 1 PEs west of it (itself included) on ``E1`` and of all W - x on ``W1``, its row phase is
complete and it starts its column phase; when the ``S2`` / ``N2`` sentinels are all in, its tally
is final and it stops its timer. Every send is asynchronous (a microthread), so the CE keeps
serving its data tasks while its own streams wait for room: synchronous sends could deadlock two
PEs that send to each other.

Cost model (cycles, expected values for uniformly random data). With ``ct = task_startup +
TALLY_CYCLES`` per wavelet a CE receives (forwarding or tallying),

    bucket = n * BUCKET_CYCLES
    row    = max(n * (W - 1) / W * ct, n * floor(W/2) * ceil(W/2) / W)     (CE time of the
             busiest PE, or the most-loaded link of E1/W1, one wavelet per cycle)
    col    = the same with H
    T = bucket + row + col + latency (sentinels crossing the row and the column: (W-1) hop +
        (H-1) hop + 4 (2*ramp + 1) + a few task startups)

The data-dependent spread (the busiest PE receives more than the mean) is not modelled; it is a
few percent at the sizes tested. FLOPs: none; bytes: 4 n W H (the values, read once).
"""

from __future__ import annotations

import math

import numpy as np

from ..program import Layout, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    KernelError,
    Outcome,
    bind_data,
    binds_to_queue,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
)

BUCKET_CYCLES = 4
"""Scalar cycles to bucket one value (owner = value / bpp, compare, store) - an assumption."""
ROUTE_CYCLES = 2
"""Scalar cycles to route one value received in the row phase (tally it or queue it for the
column phase) - an assumption."""
TALLY_CYCLES = 2
"""Scalar cycles to tally one value received in the column phase - an assumption."""

BUS = {"E1": 2, "W1": 3, "S2": 4, "N2": 5}
QUEUE = {"E1": 2, "W1": 3, "S2": 4, "N2": 5}  # WSE-3: input queues of the bus colors
THREAD = {"E1": 0, "W1": 1, "S2": 2, "N2": 3}
SENTINEL = 0xFFFF
"""The value of an end-of-stream wavelet (values are buckets, < 65535)."""


def histogram_program(c, *, n: int, bpp: int, W: int, H: int, px: int, py: int,
                      by_queue: bool = False) -> None:
    x, y = px, py
    vals = c.array("vals", "u16", n, export=True)
    counts = c.array("counts", "u32", bpp, export=True)
    # outgoing words per bus: the values, then one sentinel per PE downstream
    out = {k: c.array(f"out_{k}", "u32", n + W) for k in ("E1", "W1")}
    fwd = {k: c.array(f"fwd_{k}", "u32", n * W + H) for k in ("S2", "N2")}
    inbox = c.array("inbox", "u16", max(1, n * W))  # row-phase arrivals for this column
    inbox2 = c.array("inbox2", "u16", max(1, n * W * H))  # column-phase arrivals (to tally)
    # [0..3]: sentinels seen per bus, [4..7]: words queued per bus,
    # [8]: column phase started, [9]: done, [10]: host waiting, [11], [12]: inbox fills
    st = c.array("st", "u32", 13)
    ts = declare_timer(c)
    slot = {"E1": 0, "W1": 1, "S2": 2, "N2": 3}
    expect = {"E1": x, "W1": W - 1 - x, "S2": y, "N2": H - 1 - y}
    downstream = {"E1": range(x + 1, W), "W1": range(0, x), "S2": range(y + 1, H),
                  "N2": range(0, y)}
    first_bucket = (y * W + x) * bpp
    row_buses = ("E1", "W1") if W > 1 else ()
    col_buses = ("S2", "N2") if H > 1 else ()

    def queue(pe, key, word):
        s = pe[st]
        i = int(s[4 + slot[key]])
        pe[out[key] if key in out else fwd[key]][i] = word
        s[4 + slot[key]] = i + 1

    def to_column(pe, value):
        oy = (value // bpp) // W
        if oy == y:
            pe[counts][value - first_bucket] += 1
        elif oy > y:
            queue(pe, "S2", value | (oy << 16))
        else:
            queue(pe, "N2", value | (oy << 16))

    def send_bus(pe, key):
        for d in downstream[key]:  # end of stream, one per PE that waits for this PE's data
            queue(pe, key, SENTINEL | (d << 16))
        k = int(pe[st][4 + slot[key]])
        if k:
            buf = out[key] if key in out else fwd[key]
            pe.mov32(fabout_dsd(BUS[key], k, "u32"), mem1d_dsd(buf, k), async_=True,
                     microthread=THREAD[key])

    def maybe_column_phase(pe):
        s = pe[st]
        if s[8] or any(s[slot[k]] < expect[k] for k in row_buses):
            return
        s[8] = 1
        k = int(s[11])
        pe.spend(ROUTE_CYCLES * k)
        for v in pe[inbox][:k].tolist():
            to_column(pe, v)
        for key in col_buses:
            send_bus(pe, key)
        maybe_done(pe)

    def maybe_done(pe):
        s = pe[st]
        if s[9] or not s[8] or any(s[slot[k]] < expect[k] for k in col_buses):
            return
        s[9] = 1
        k = int(s[12])
        pe.spend(TALLY_CYCLES * k)
        for v in pe[inbox2][:k].tolist():
            pe[counts][v - first_bucket] += 1
        stamp(pe, ts, 1)
        if s[10]:
            pe.unblock_cmd_stream()

    def compute(pe):
        stamp(pe, ts, 0)
        values = pe[vals].tolist()
        pe.spend(BUCKET_CYCLES * n)
        for v in values:
            ox = (v // bpp) % W
            if ox == x:
                to_column(pe, v)
            elif ox > x:
                queue(pe, "E1", v | (ox << 16))
            else:
                queue(pe, "W1", v | (ox << 16))
        for key in row_buses:
            send_bus(pe, key)
        maybe_column_phase(pe)
        pe.unblock_cmd_stream()  # the host's next command ("wait") returns when the tally is done

    def wait(pe):
        s = pe[st]
        if s[9]:
            pe.unblock_cmd_stream()
        else:
            s[10] = 1

    def make_task(key):
        box, fill = (inbox, 11) if key in ("E1", "W1") else (inbox2, 12)

        def arrive(pe, value, index):
            s = pe[st]
            if value == SENTINEL:
                s[slot[key]] += 1
                if key in ("E1", "W1"):
                    maybe_column_phase(pe)
                else:
                    maybe_done(pe)
            else:  # store only: the data task keeps pace with the ramp (1 wavelet per cycle)
                i = int(s[fill])
                pe[box][i] = value
                s[fill] = i + 1

        arrive.__name__ = f"arrive_{key}"
        bind_data(c, arrive, BUS[key], queue=QUEUE[key], by_queue=by_queue, dtype="u16",
                  with_index=True)

    for key in (*row_buses, *col_buses):
        make_task(key)
    c.export(compute)
    c.export(wait)


def build_layout(arch, W: int, H: int, n: int, bpp: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"histogram_{W}x{H}")
    by_queue = binds_to_queue(arch)
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(i, j, histogram_program, n=n, bpp=bpp, W=W, H=H, px=i, py=j,
                              by_queue=by_queue)
    if W > 1:
        for i in range(W):
            lay.set_region_route(i, 0, 1, H, BUS["E1"], rx=["RAMP"] + (["WEST"] if i else []),
                                 tx=["RAMP"] + (["EAST"] if i < W - 1 else []))
            lay.set_region_route(i, 0, 1, H, BUS["W1"],
                                 rx=["RAMP"] + (["EAST"] if i < W - 1 else []),
                                 tx=["RAMP"] + (["WEST"] if i else []))
            for key in ("E1", "W1"):
                lay.set_filter(i, 0, BUS[key], kind="range", min_index=i, max_index=i, h=H)
    if H > 1:
        for j in range(H):
            lay.set_region_route(0, j, W, 1, BUS["S2"], rx=["RAMP"] + (["NORTH"] if j else []),
                                 tx=["RAMP"] + (["SOUTH"] if j < H - 1 else []))
            lay.set_region_route(0, j, W, 1, BUS["N2"],
                                 rx=["RAMP"] + (["SOUTH"] if j < H - 1 else []),
                                 tx=["RAMP"] + (["NORTH"] if j else []))
            for key in ("S2", "N2"):
                lay.set_filter(0, j, BUS[key], kind="range", min_index=j, max_index=j, w=W)
    return lay


def _phase(n: int, P: int, ct: int) -> float:
    if P == 1:
        return 0.0
    ce = n * (P - 1) / P * ct
    link = n * (P // 2) * math.ceil(P / 2) / P
    return max(ce, link)


@register
class Histogram(Kernel):
    name = "histogram"
    summary = ("bucket sort of integers to owner PEs over row and column buses with range "
               "filters, then a tally")
    size_names = ("n", "bpp")
    default_grid = (8, 8)
    default_size = {"n": 16, "bpp": 4}
    check = "counts == np.bincount(values) (exact)"

    def validate(self, arch, grid, size):
        W, H = grid
        if W * H * size["bpp"] >= SENTINEL:
            raise KernelError(f"{self.name}: W*H*bpp = {W * H * size['bpp']} buckets exceed the "
                              "16-bit values a wavelet carries")
        n = size["n"]
        need = (2 * n + 4 * size["bpp"] + 8 * (n + W) + 8 * (n * W + H) + 2 * n * W
                + 2 * n * W * H + 96)
        have = arch.pe.sram_bytes - arch.pe.runtime_reserved_bytes
        if need > have:
            raise KernelError(f"{self.name}: n={size['n']} on {W} columns needs {need} B per "
                              f"PE, {arch.name} leaves {have} B")

    def bytes(self, grid, size):
        return 4.0 * size["n"] * grid[0] * grid[1]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        n = size["n"]
        t = arch.timing
        ct = t.task_startup_cycles + TALLY_CYCLES
        trip = 2 * t.ramp_latency_cycles + 1
        lat = 0
        for P in (W, H):
            if P > 1:
                lat += (P - 1) * t.hop_latency_cycles + 2 * trip
        return int(round(n * BUCKET_CYCLES + _phase(n, W, ct) + _phase(n, H, ct) + lat))

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        n, bpp = size["n"], size["bpp"]
        nb = W * H * bpp
        rng = np.random.default_rng(seed)
        values = rng.integers(0, nb, (H, W, n)).astype(np.uint16)
        runner = open_runtime(build_layout(arch, W, H, n, bpp).compile())
        h2d(runner, "vals", values, 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        runner.launch("wait", nonblock=False)
        counts = d2h(runner, "counts", 0, 0, W, H, bpp, np.uint32).reshape(-1)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = np.bincount(values.reshape(-1).astype(np.int64), minlength=nb)
        diff = np.abs(counts.astype(np.int64) - ref)
        return Outcome(bool((diff == 0).all()), float(diff.max()), timing["cycles"],
                       {"buckets": nb, "values": int(values.size)})
