"""``histogram``: a histogram of random integers by bucket sort to owner PEs, then a tally (the
SDK's histogram example, 8x8 PEs). Exact check against ``np.bincount``.

Mapping. Every PE of the W x H grid holds ``n`` values in ``0 .. W*H*bpp - 1`` and owns ``bpp``
consecutive buckets: value v belongs to PE ``p = v // bpp`` at ``(ox, oy) = (p mod W, p div W)``,
local bucket ``lb = v mod bpp``. A value travels as one wavelet whose high 16 bits (the index)
name the coordinate of the PE it is going to, in two phases, X then Y (low 16 bits: ``oy * bpp
+ lb`` in the row phase, ``lb`` in the column phase, so any grid fits while ``H * bpp <
65535``):

1. **Row phase.** The launched ``compute`` buckets its values (scalar work, ``BUCKET_CYCLES``
   per value): those for another column go east or west on the bus colors ``E1`` / ``W1``,
   those for this column straight to phase 2. ``E1`` runs along the whole row like a bus (the
   route at PE x accepts from WEST and RAMP and sends EAST and to its own RAMP), and a **range
   filter** on each router lets a data wavelet reach the CE only when its index is the PE's x:
   every wavelet lands at its owner column without any CE forwarding it (and runs on to the
   end of the row). ``W1`` mirrors it westward.
2. **Column phase.** The same with ``S2`` / ``N2`` along the columns (index = y).
3. **Tally** at the owner.

End of stream: after its values each PE sends one *sentinel* wavelet (value ``0xFFFF``) per PE
downstream on each bus, addressed to that PE like the data, so it passes that PE's filter. A
color keeps each sender's order, so when PE x has seen x sentinels on ``E1`` and W - 1 - x on
``W1`` its row phase is complete. (A control wavelet, the SDK's other sentinel, would pass every
filter and reach every PE downstream; an addressed data wavelet keeps one mechanism for both.)
The data tasks keep pace with the ramp (one cycle per wavelet): a row-phase arrival is stored
and routed when the row phase completes (``ROUTE_CYCLES`` each: tally it or queue it for the
column), a column-phase arrival is tallied by its data task (the increment is the task's
cycle); the PE stops its timer when its column phase completes. Every send is asynchronous (a
microthread), so the CE keeps serving its data tasks while its own streams wait for room:
synchronous sends could deadlock two PEs that send to each other. The host sizes each PE's
buffers from the data (``buffer_caps``: what will land there); the model's memory check assumes
uniformly random data (mean + 6 standard deviations).

Cost model (cycles, expected values for uniformly random data). A bus of P PEs carries every
wavelet to its end, so its last link is the busiest:

    bus(P)  = (n / P + 1) * P (P - 1) / 2          (values and sentinels crossing it)
    T = BUCKET_CYCLES n
        + bus(W) + 2*ramp + (W-1) hop + 1 + task_startup + ROUTE_CYCLES n (W - 1) / W
        + bus(H) + 2*ramp + (H-1) hop + 1 + task_startup

(a phase of a dimension with P = 1 costs nothing). It uses mean loads, so it mostly runs a few
percent below the simulator, whose busiest PEs receive more than the mean (within 10 % for 16
values per PE and more on the grids tested; with a handful of values the spread dominates).

FLOPs: none; bytes: 4 n W H (the values, read once).
"""

from __future__ import annotations

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

BUS = {"E1": 2, "W1": 3, "S2": 4, "N2": 5}
QUEUE = {"E1": 2, "W1": 3, "S2": 4, "N2": 5}  # WSE-3: input queues of the bus colors
THREAD = {"E1": 0, "W1": 1, "S2": 2, "N2": 3}
SENTINEL = 0xFFFF
"""The 16-bit value of an end-of-stream wavelet (data values are below it)."""


def histogram_program(
    c,
    *,
    n: int,
    bpp: int,
    W: int,
    H: int,
    px: int,
    py: int,
    cap_in: int,
    cap_s: int,
    cap_n: int,
    by_queue: bool = False,
) -> None:
    """One PE. ``cap_in``: row-phase arrivals it must hold; ``cap_s`` / ``cap_n``: values it
    sends south / north in the column phase (the host sizes them from the data)."""
    x, y = px, py
    vals = c.array("vals", "u32", n, export=True)
    counts = c.array("counts", "u32", bpp, export=True)
    # outgoing words per bus: the values, then one sentinel per PE downstream
    out = {
        "E1": c.array("out_E1", "u32", n + W),
        "W1": c.array("out_W1", "u32", n + W),
        "S2": c.array("out_S2", "u32", cap_s + H),
        "N2": c.array("out_N2", "u32", cap_n + H),
    }
    inbox = c.array("inbox", "u16", max(1, cap_in))  # row-phase arrivals for this column
    # [0..3]: sentinels seen per bus, [4..7]: words queued per bus,
    # [8]: column phase started, [9]: done, [10]: host waiting, [11]: inbox fill
    st = c.array("st", "u32", 12)
    ts = declare_timer(c)
    slot = {"E1": 0, "W1": 1, "S2": 2, "N2": 3}
    expect = {"E1": x, "W1": W - 1 - x, "S2": y, "N2": H - 1 - y}
    downstream = {
        "E1": range(x + 1, W),
        "W1": range(0, x),
        "S2": range(y + 1, H),
        "N2": range(0, y),
    }
    row_buses = ("E1", "W1") if W > 1 else ()
    col_buses = ("S2", "N2") if H > 1 else ()

    def queue(pe, key, word):
        s = pe[st]
        i = int(s[4 + slot[key]])
        pe[out[key]][i] = word
        s[4 + slot[key]] = i + 1

    def to_column(pe, oy, lb):
        """A value of this column: tally it (this row) or queue it for its row."""
        if oy == y:
            pe[counts][lb] += 1
        else:
            queue(pe, "S2" if oy > y else "N2", lb | (oy << 16))

    def send_bus(pe, key):
        for d in downstream[key]:  # end of stream, one per PE that waits for this PE's data
            queue(pe, key, SENTINEL | (d << 16))
        k = int(pe[st][4 + slot[key]])
        if k:
            pe.mov32(
                fabout_dsd(BUS[key], k, "u32"),
                mem1d_dsd(out[key], k),
                async_=True,
                microthread=THREAD[key],
            )

    def maybe_column_phase(pe):
        s = pe[st]
        if s[8] or any(s[slot[k]] < expect[k] for k in row_buses):
            return
        s[8] = 1
        k = int(s[11])
        pe.spend(ROUTE_CYCLES * k)
        for v in pe[inbox][:k].tolist():
            to_column(pe, v // bpp, v % bpp)
        for key in col_buses:
            send_bus(pe, key)
        maybe_done(pe)

    def maybe_done(pe):
        s = pe[st]
        if s[9] or not s[8] or any(s[slot[k]] < expect[k] for k in col_buses):
            return
        s[9] = 1
        stamp(pe, ts, 1)
        if s[10]:
            pe.unblock_cmd_stream()

    def compute(pe):
        stamp(pe, ts, 0)
        pe.spend(BUCKET_CYCLES * n)
        for v in pe[vals].tolist():
            owner, lb = divmod(v, bpp)
            oy, ox = divmod(owner, W)
            if ox == x:
                to_column(pe, oy, lb)
            else:  # travels as (oy * bpp + lb, ox)
                queue(pe, "E1" if ox > x else "W1", (oy * bpp + lb) | (ox << 16))
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
        row = key in ("E1", "W1")

        def arrive(pe, value, index):
            s = pe[st]
            if value == SENTINEL:
                s[slot[key]] += 1
                if row:
                    maybe_column_phase(pe)
                else:
                    maybe_done(pe)
            elif row:  # store only: the data task keeps pace with the ramp (1 per cycle)
                i = int(s[11])
                pe[inbox][i] = value
                s[11] = i + 1
            else:  # column phase: value = the local bucket; the increment is the task's cycle
                pe[counts][value] += 1

        arrive.__name__ = f"arrive_{key}"
        bind_data(
            c, arrive, BUS[key], queue=QUEUE[key], by_queue=by_queue, dtype="u16", with_index=True
        )

    for key in (*row_buses, *col_buses):
        make_task(key)
    c.export(compute)
    c.export(wait)


def buffer_caps(values: np.ndarray, W: int, H: int, bpp: int) -> np.ndarray:
    """Per PE (H, W, 3): row-phase arrivals, column-phase values sent south, sent north - what
    the PE's buffers must hold for these values (the host sizes the programs with them)."""
    owner = values.astype(np.int64) // bpp
    ox, oy = owner % W, owner // W
    src_x = np.broadcast_to(np.arange(W)[None, :, None], values.shape)
    src_y = np.broadcast_to(np.arange(H)[:, None, None], values.shape)
    caps = np.zeros((H, W, 3), np.int64)
    moved = ox != src_x  # these arrive at (ox, src_y) in the row phase
    np.add.at(caps[:, :, 0], (src_y[moved], ox[moved]), 1)
    south, north = oy > src_y, oy < src_y  # sent by (ox, src_y) in the column phase
    np.add.at(caps[:, :, 1], (src_y[south], ox[south]), 1)
    np.add.at(caps[:, :, 2], (src_y[north], ox[north]), 1)
    return caps


def _expected_cap(n: int) -> int:
    """A buffer size that uniformly random data exceed with negligible probability (mean n,
    plus 6 standard deviations) - used for the model's memory check."""
    return int(n + 6 * n**0.5 + 8)


def build_layout(arch, W: int, H: int, n: int, bpp: int, caps: np.ndarray) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"histogram_{W}x{H}")
    by_queue = binds_to_queue(arch)
    for j in range(H):
        for i in range(W):
            cin, cs, cn = (int(v) for v in caps[j, i])
            lay.set_tile_code(
                i,
                j,
                histogram_program,
                n=n,
                bpp=bpp,
                W=W,
                H=H,
                px=i,
                py=j,
                cap_in=cin,
                cap_s=cs,
                cap_n=cn,
                by_queue=by_queue,
            )
    if W > 1:
        for i in range(W):
            lay.set_region_route(
                i,
                0,
                1,
                H,
                BUS["E1"],
                rx=["RAMP"] + (["WEST"] if i else []),
                tx=["RAMP"] + (["EAST"] if i < W - 1 else []),
            )
            lay.set_region_route(
                i,
                0,
                1,
                H,
                BUS["W1"],
                rx=["RAMP"] + (["EAST"] if i < W - 1 else []),
                tx=["RAMP"] + (["WEST"] if i else []),
            )
            for key in ("E1", "W1"):
                lay.set_filter(i, 0, BUS[key], kind="range", min_index=i, max_index=i, h=H)
    if H > 1:
        for j in range(H):
            lay.set_region_route(
                0,
                j,
                W,
                1,
                BUS["S2"],
                rx=["RAMP"] + (["NORTH"] if j else []),
                tx=["RAMP"] + (["SOUTH"] if j < H - 1 else []),
            )
            lay.set_region_route(
                0,
                j,
                W,
                1,
                BUS["N2"],
                rx=["RAMP"] + (["SOUTH"] if j < H - 1 else []),
                tx=["RAMP"] + (["NORTH"] if j else []),
            )
            for key in ("S2", "N2"):
                lay.set_filter(0, j, BUS[key], kind="range", min_index=j, max_index=j, w=W)
    return lay


def _bus_load(n: int, P: int) -> float:
    """Expected wavelets on the busiest link of a bus (its last link): every PE p sends its
    values for the PEs beyond it (n (P-1-p) / P on average) and one sentinel per PE beyond it,
    and each wavelet runs to the end of the bus."""
    if P == 1:
        return 0.0
    return (n / P + 1.0) * P * (P - 1) / 2.0


@register
class Histogram(Kernel):
    name = "histogram"
    summary = (
        "bucket sort of integers to owner PEs over row and column buses with range "
        "filters, then a tally"
    )
    size_names = ("n", "bpp")
    default_grid = (8, 8)
    default_size = {"n": 16, "bpp": 4}
    check = "counts == np.bincount(values) (exact)"

    def validate(self, arch, grid, size):
        W, H = grid
        if H * size["bpp"] >= SENTINEL or W >= 1 << 16 or H >= 1 << 16:
            raise KernelError(
                f"{self.name}: H*bpp = {H * size['bpp']} must stay below "
                f"{SENTINEL} (a wavelet carries row * bpp + bucket in 16 bits)"
            )

    def pe_memory_bytes(self, grid, size):
        W, H = grid
        n, cap = size["n"], _expected_cap(size["n"])
        # vals, counts, out E1/W1, out S2/N2, inbox, state, timer
        return 4 * n + 4 * size["bpp"] + 8 * (n + W) + 8 * (cap + H) + 2 * cap + 48 + 16

    def bytes(self, grid, size):
        return 4.0 * size["n"] * grid[0] * grid[1]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        n = size["n"]
        t = arch.timing
        total = n * BUCKET_CYCLES
        for P, work in ((W, ROUTE_CYCLES), (H, 0)):  # the tally is the data task itself
            if P == 1:
                continue
            trip = 2 * t.ramp_latency_cycles + (P - 1) * t.hop_latency_cycles + 1
            total += _bus_load(n, P) + trip + t.task_startup_cycles
            if work:
                total += work * n * (P - 1) / P
        return int(round(total))

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        n, bpp = size["n"], size["bpp"]
        nb = W * H * bpp
        rng = np.random.default_rng(seed)
        values = rng.integers(0, nb, (H, W, n)).astype(np.uint32)
        caps = buffer_caps(values, W, H, bpp)
        runner = open_runtime(build_layout(arch, W, H, n, bpp, caps).compile())
        h2d(runner, "vals", values, 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        runner.launch("wait", nonblock=False)
        counts = d2h(runner, "counts", 0, 0, W, H, bpp, np.uint32).reshape(-1)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = np.bincount(values.reshape(-1).astype(np.int64), minlength=nb)
        diff = np.abs(counts.astype(np.int64) - ref)
        return Outcome(
            bool((diff == 0).all()),
            float(diff.max()),
            timing["cycles"],
            {"buckets": nb, "values": int(values.size)},
        )
