"""``gemm-cannon``: C = A B in f32 on a p x p grid by Cannon's algorithm, its cyclic shifts laid
on an interleaved ring so that no shift travels more than two hops.

Mapping. The grid is square (W = H = p). Along every row and every column the *logical* ring
order is the physical order 0, 2, 4, ..., then back ..., 5, 3, 1 (``_gemm.ring_order``), so
logical neighbours - the wrap-around pair included - are at most two physical hops apart. PE
(x, y) has logical coordinates (r, q) = (position of x, position of y) in that order and owns the
block C_qr (``mb = ceil(M/p)`` x ``nb = ceil(N/p)``, K cut into p blocks of ``kb =
ceil(K/p)``; zero padded). The host loads the skewed operands: logical (r, q) starts with
A_{q, (q+r) mod p} and B_{(q+r) mod p, r} (the initial alignment of Cannon's algorithm). Step t =
0..p-1:

* unless it is the last step, every PE starts four asynchronous ops: send its A block to its
  logical west neighbour and its B block to its logical north neighbour, and receive the next
  ones from the east and the south into its second buffers (double buffering);
* meanwhile it accumulates ``C += A_cur B_cur`` with ``kb * nb`` fmacs of ``mb`` elements;
* each of the four completions activates its own task; the last one of the step starts step t+1
  with the buffers swapped.

Routes never change: every PE always sends to the same neighbour. Each row carries p streams
(ring position r + 1 -> r), each spanning at most three routers; streams that share a router get
different colors (interval coloring: 3 colors for the rows' A streams, 3 others for the
columns' B streams).

Cost model (cycles), ``v(n) = op_startup + ceil(n / simd_f32)``, ``G = kb nb v(mb)`` the local
product:

    T = v(mb nb) + (p - 1) max(4 + G + 4 task_startup, a + b + 2 ramp + 2 hop + 3 task_startup)
        + G

A step issues four async ops (1 cycle each), computes, and runs four completion tasks; the
shift meanwhile moves ``a = mb kb`` and ``b = kb nb`` words through one up ramp and one down ramp
over at most two hops (the ``3 task_startup`` of the shift term is fitted: the completion tasks
of the sends run while the receives are still streaming). The last step computes only. The
shifts hide under the compute once ``G`` exceeds ``a + b`` by a few cycles (blocks of 3 x 3 and
more), so the kernel then runs at the local product's speed: exact for compute-bound sizes,
within 8 % for 2 x 2 blocks on WSE-2 and WSE-3, +21 % for 1-element blocks (the shift
hides under 9 cycles of step overhead there). FLOPs ``2 M N K``; bytes ``4 (M K + K N + M N)``.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    ASYNC_ISSUE_CYCLES,
    Kernel,
    KernelError,
    Outcome,
    allclose_check,
    ceil_div,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._gemm import (
    block_columns,
    col_major_blocks,
    from_col_major_blocks,
    gemm_inputs,
    local_gemm,
    local_gemm_cycles,
    pad,
    ring_order,
    ring_streams,
    stream_colors,
    stream_routes,
)

A_PALETTE = (0, 1, 2)
B_PALETTE = (3, 4, 5)
SEND_A_DONE, SEND_B_DONE, RECV_A_DONE, RECV_B_DONE = 10, 11, 12, 13
SEND_A, SEND_B, RECV_A, RECV_B = 0, 1, 2, 3  # microthreads


def line_plan(p: int, palette: tuple[int, ...]):
    """Per physical position: (send color, receive color), and the routes per position and
    color, of the cyclic shift toward lower ring positions along a line of p."""
    streams = ring_streams(p)
    colors = stream_colors(streams, palette)
    send = {a: col for (a, _b), col in zip(streams, colors, strict=True)}
    recv = {b: col for (_a, b), col in zip(streams, colors, strict=True)}
    routes: dict[tuple[int, int], tuple[str, str]] = {}
    for (a, b), col in zip(streams, colors, strict=True):
        for pos, rt in stream_routes(a, b).items():
            routes[(pos, col)] = rt
    return send, recv, routes


def cannon_program(c, *, p: int, mb: int, kb: int, nb: int, a_out=None, a_in=None, b_out=None,
                   b_in=None):
    A = [c.array("A", "f32", mb * kb, export=True), c.array("A_next", "f32", mb * kb)]
    B = [c.array("B", "f32", kb * nb, export=True), c.array("B_next", "f32", kb * nb)]
    C = c.array("C", "f32", mb * nb, export=True)
    state = c.array("state", "u32", 2)  # step, events pending
    ts = declare_timer(c)
    C_cols = block_columns(C, mb, nb)
    A_cols = [block_columns(a, mb, kb) for a in A]

    def step(pe, t):
        st = pe[state]
        cur, nxt = t % 2, (t + 1) % 2
        shift = t < p - 1
        if shift:
            st[0], st[1] = t, 4
            pe.fmovs(fabout_dsd(a_out, mb * kb), mem1d_dsd(A[cur]), async_=True,
                     microthread=SEND_A, activate=SEND_A_DONE)
            pe.fmovs(fabout_dsd(b_out, kb * nb), mem1d_dsd(B[cur]), async_=True,
                     microthread=SEND_B, activate=SEND_B_DONE)
            pe.fmovs(mem1d_dsd(A[nxt]), fabin_dsd(a_in, mb * kb), async_=True,
                     microthread=RECV_A, activate=RECV_A_DONE)
            pe.fmovs(mem1d_dsd(B[nxt]), fabin_dsd(b_in, kb * nb), async_=True,
                     microthread=RECV_B, activate=RECV_B_DONE)
        local_gemm(pe, C_cols, A_cols[cur], B[cur], 0, kb, nb)
        if not shift:
            stamp(pe, ts, 1)
            pe.unblock_cmd_stream()

    def event(pe):
        st = pe[state]
        st[1] -= 1
        if st[1] == 0:
            step(pe, int(st[0]) + 1)

    def send_a_done(pe):
        event(pe)

    def send_b_done(pe):
        event(pe)

    def recv_a_done(pe):
        event(pe)

    def recv_b_done(pe):
        event(pe)

    def compute(pe):
        stamp(pe, ts, 0)
        pe.fmovs(mem1d_dsd(C), 0.0)
        step(pe, 0)

    for fn, tid in ((send_a_done, SEND_A_DONE), (send_b_done, SEND_B_DONE),
                    (recv_a_done, RECV_A_DONE), (recv_b_done, RECV_B_DONE)):
        c.bind_local_task(fn, tid)
    c.export(compute)


def build_layout(arch, p, mb, kb, nb) -> Layout:
    lay = Layout(p, p, arch=arch, name=f"gemm_cannon_{p}x{p}_{mb}x{kb}x{nb}")
    if p > 1:
        a_send, a_recv, a_routes = line_plan(p, A_PALETTE)
        b_send, b_recv, b_routes = line_plan(p, B_PALETTE)
    for y in range(p):
        for x in range(p):
            kw = {}
            if p > 1:
                kw = dict(a_out=a_send[x], a_in=a_recv[x], b_out=b_send[y], b_in=b_recv[y])
            lay.set_tile_code(x, y, cannon_program, p=p, mb=mb, kb=kb, nb=nb, **kw)
    if p > 1:
        side = {"row": {"lo": "WEST", "hi": "EAST"}, "col": {"lo": "NORTH", "hi": "SOUTH"}}

        def port(axis, name):
            return side[axis].get(name, name)

        for (x, col), (rx, tx) in a_routes.items():
            lay.set_region_route(x, 0, 1, p, col, rx=port("row", rx), tx=port("row", tx))
        for (y, col), (rx, tx) in b_routes.items():
            lay.set_region_route(0, y, p, 1, col, rx=port("col", rx), tx=port("col", tx))
    return lay


def cannon_blocks(grid, size):
    p = grid[0]
    return p, ceil_div(size["M"], p), ceil_div(size["K"], p), ceil_div(size["N"], p)


@register
class GemmCannon(Kernel):
    name = "gemm-cannon"
    summary = (
        "C = A B (f32) by Cannon's algorithm on a p x p grid: cyclic shifts on an interleaved "
        "ring (at most two hops), double-buffered under the fmacs"
    )
    size_names = ("M", "K", "N")
    default_grid = (4, 4)
    default_size = {"M": 32, "K": 32, "N": 32}
    square_sizes = True
    check = "allclose(C, A B [f64], rtol=1e-5, atol=1e-5*max|C|)"

    def validate(self, arch, grid, size):
        if grid[0] != grid[1]:
            raise KernelError(f"{self.name} runs on a square grid (p x p), got {grid[0]}x{grid[1]}")

    def pe_memory_bytes(self, grid, size):
        _p, mb, kb, nb = cannon_blocks(grid, size)
        return 4 * (2 * mb * kb + 2 * kb * nb + mb * nb) + 8 + 16

    def flops(self, grid, size):
        return 2.0 * size["M"] * size["N"] * size["K"]

    def bytes(self, grid, size):
        M, K, N = size["M"], size["K"], size["N"]
        return 4.0 * (M * K + K * N + M * N)

    def model_cycles(self, arch, grid, size):
        p, mb, kb, nb = cannon_blocks(grid, size)
        t = arch.timing
        clear = vector_cycles(arch, mb * nb)
        G = local_gemm_cycles(arch, mb, kb, nb)
        if p == 1:
            return clear + G
        ts = t.task_startup_cycles
        compute = 4 * ASYNC_ISSUE_CYCLES + G + 4 * ts  # issues, product, four completion tasks
        shift = (mb * kb + kb * nb + 2 * t.ramp_latency_cycles + 2 * t.hop_latency_cycles
                 + 3 * ts)
        per_step = max(compute, shift)
        return int(clear + (p - 1) * per_step + G)

    def simulate(self, arch, grid, size, seed):
        M, K, N = size["M"], size["K"], size["N"]
        p, mb, kb, nb = cannon_blocks(grid, size)
        A, B = gemm_inputs(M, K, N, seed)
        Ap, Bp = pad(A, p * mb, p * kb), pad(B, p * kb, p * nb)
        Ab = col_major_blocks(Ap, mb, kb)  # (p, p, mb*kb): [block row, block col]
        Bb = col_major_blocks(Bp, kb, nb)
        R = ring_order(p)
        pos = {x: r for r, x in enumerate(R)}
        # physical (y, x) <- skewed blocks of logical (r, q) = (pos[x], pos[y])
        A0 = np.zeros((p, p, mb * kb), np.float32)
        B0 = np.zeros((p, p, kb * nb), np.float32)
        for y in range(p):
            for x in range(p):
                r, q = pos[x], pos[y]
                A0[y, x] = Ab[q, (q + r) % p]
                B0[y, x] = Bb[(q + r) % p, r]

        compiled = build_layout(arch, p, mb, kb, nb).compile()
        runner = open_runtime(compiled)
        h2d(runner, "A", A0, 0, 0, p, p)
        h2d(runner, "B", B0, 0, 0, p, p)
        runner.launch("compute", nonblock=False)
        Cphys = d2h(runner, "C", 0, 0, p, p, mb * nb)
        timing = read_cycles(runner, p, p)
        runner.stop()

        Cb = np.zeros((p, p, mb * nb), np.float32)  # [block row q, block col r]
        for y in range(p):
            for x in range(p):
                Cb[pos[y], pos[x]] = Cphys[y, x]
        got = from_col_major_blocks(Cb, mb, nb)[:M, :N]
        ref = A.astype(np.float64) @ B.astype(np.float64)
        scale = float(np.abs(ref).max()) if ref.size else 1.0
        ok, err = allclose_check(got, ref, rtol=1e-5, atol=1e-5 * scale)
        extras = {"p": p, "mb": mb, "kb": kb, "nb": nb, "ring": R}
        if not arch.numerics.fused_multiply_add:
            hw = np.zeros((p * mb, p * nb), np.float32)
            for q in range(p):
                for r in range(p):
                    order = [((q + r + t) % p) * kb + k for t in range(p) for k in range(kb)]
                    blk = _pe_order_block(Ap[q * mb:(q + 1) * mb], Bp[:, r * nb:(r + 1) * nb],
                                          order)
                    hw[q * mb:(q + 1) * mb, r * nb:(r + 1) * nb] = blk
            extras["bit_exact_pe_order"] = bool(
                np.array_equal(got.view(np.uint32), hw[:M, :N].view(np.uint32)))
        return Outcome(ok, err, timing["cycles"], extras)


def _pe_order_block(A_rows, B_cols, order):
    from ._gemm import pe_order_product

    return pe_order_product(A_rows, B_cols, order)
