"""``gemm-summa``: C = A B in f32 over a W x H grid by SUMMA (the SDK's GEMM with 2D collectives),
double-buffered: the broadcast of the next k-panel overlaps the multiply of the current one.

Mapping. C (M x N) is cut into H x W blocks of ``mb = ceil(M/H)`` x ``nb = ceil(N/W)``; PE (i, j)
(column i, row j) owns block C_ji. The inner dimension K is cut into ``S = max(W, H)`` panels of
``kb = ceil(K/S)`` (everything zero padded). A's panel s of block row j lives on PE (s mod W, j),
B's panel s of block column i on PE (i, s mod H), column-major. Step s = 0..S-1:

* the *owner column* ``s mod W`` floods its A panels (``mb x kb``) along every row, east and west,
  on color ``A_COLORS[s % 2]``; the *owner row* ``s mod H`` floods its B panels (``kb x nb``) up
  and down every column on ``B_COLORS[s % 2]``;
* every other PE receives them with asynchronous fabric-input ops into ``abuf{s % 2}`` /
  ``bbuf{s % 2}`` (two buffers per operand; microthreads 4 and 5; each completion activates its
  own task);
* once step s's panels are in (and step s - 1's multiply is done), a PE first starts step s + 1's
  transfers (its sends if it owns a panel of step s + 1, else its receives into the other
  buffers), then accumulates ``C_ji += A_panel B_panel`` with ``kb * nb`` fmacs of ``mb``
  elements while they stream. Step 0's transfers start before C is cleared.

The flood's routes depend on where the owner is, so every PE sets its own router for step s when
it starts step s's transfers (``pe.set_route``: the SDK's local tile reconfiguration). Steps
alternate between two colors per operand, and a PE starts step s's transfers only after it has
received all of step s - 1, hence of step s - 2, the color's previous use: every wavelet of step
s - 2 has passed its router. A wavelet of step s that reaches a router still routed for step
s - 2 is either routed the same way (both owners on the same side) or not accepted and waits
(never dropped) until that router re-routes; on one color and one path wavelets keep their order,
so a PE still receiving step s - 2 takes exactly its words before those of step s.

Cost model (cycles), ``v(n) = op_startup + ceil(n / simd_f32)``, ``G = kb nb v(mb)`` the local
product, ``n`` the operands that travel (``[W > 1] + [H > 1]``), ``w = a + b`` the words a PE
receives per step (``a = mb kb`` if W > 1, ``b = kb nb`` if H > 1; they share its down ramp):

    compute = G + n (1 + task_startup)             (n async issues, n completion tasks)
    comm_s  = w + 2 ramp + 1 + task_startup + hop d_s
    T = max(v(mb nb), w + 2 ramp) + sum_{s=1}^{S-1} max(compute, comm_s) + G
        + hop ((W - 1) + (H - 1)) + 2 - 3 n

``d_s`` is how far the owners move from step s - 1 to s (the larger of the owner column's and
the owner row's moves; 1, or W - 1 / H - 1 where they wrap). A step costs the larger of its
multiply and the next panels' trip (double buffering: ``max``, not the sum); the first term is
step 0's panels travelling while C is cleared, the wire term the wave of start times across the
grid. ``T = v(mb nb) + G`` on one PE. The constant ``2 - 3 n`` is fitted; within 6 % of the
simulator on WSE-1/2/3 for runs of 100 cycles or more (grids 1x2 to 8x8), within 10 % for the
few-dozen-cycle runs of 1- to 3-element blocks, where the operands' staggered arrivals are not
modelled. FLOPs ``2 M N K``; bytes ``4 (M K + K N + M N)``.
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
    line_role,
    local_gemm,
    local_gemm_cycles,
    pad,
    pe_order_product,
)

A_COLORS = (0, 1)
B_COLORS = (2, 3)
A_DONE, B_DONE = 10, 11
SEND_A = (0, 1)  # microthreads of the owner's sends, by step parity
SEND_B = (2, 3)
RECV_A, RECV_B = 4, 5


def summa_program(c, *, i: int, j: int, W: int, H: int, S: int, mb: int, kb: int, nb: int):
    """PE (i, j) of SUMMA: owns A panels s = i, i + W, ... and B panels s = j, j + H, ...;
    receives the others into two buffers per operand (double buffering)."""
    na, nbp = len(range(i, S, W)), len(range(j, S, H))
    A = c.array("A", "f32", na * mb * kb, export=True)
    B = c.array("B", "f32", nbp * kb * nb, export=True)
    C = c.array("C", "f32", mb * nb, export=True)
    abuf = [c.array(f"abuf{t}", "f32", mb * kb) for t in range(2)] if W > 1 else None
    bbuf = [c.array(f"bbuf{t}", "f32", kb * nb) for t in range(2)] if H > 1 else None
    state = c.array("state", "u32", 2)  # next step to multiply, its receives pending
    ts = declare_timer(c)
    C_cols = block_columns(C, mb, nb)
    A_own = [block_columns(A, mb, kb, base=t * mb * kb) for t in range(na)]
    A_buf = [block_columns(b, mb, kb) for b in abuf] if abuf is not None else None

    def issue(pe, s) -> int:
        """Start the panel transfers of step s (re-routing this router if its role changed);
        returns the number of receives started."""
        pending = 0
        panels = (  # A along the rows, then B down the columns
            ("row", W, i, A_COLORS, A, mb * kb, SEND_A, RECV_A, abuf, A_DONE),
            ("col", H, j, B_COLORS, B, kb * nb, SEND_B, RECV_B, bbuf, B_DONE),
        )
        for axis, n, pos, colors, own, size, sends, recv, bufs, done in panels:
            if n == 1:
                continue
            color = colors[s % 2]
            r = line_role(pos, s % n, n, axis)
            if s >= 2 and r != line_role(pos, (s - 2) % n, n, axis):
                pe.set_route(color, r[0], r[1])
            if s % n == pos:
                src = mem1d_dsd(own, size, offset=(s // n) * size)
                pe.fmovs(fabout_dsd(color, size), src, async_=True, microthread=sends[s % 2])
            else:
                pending += 1
                pe.fmovs(mem1d_dsd(bufs[s % 2]), fabin_dsd(color, size), async_=True,
                         microthread=recv, activate=done)
        return pending

    def multiply(pe, s):
        a_cols = A_own[s // W] if s % W == i else A_buf[s % 2]
        if s % H == j:
            b_sym, b_base = B, (s // H) * kb * nb
        else:
            b_sym, b_base = bbuf[s % 2], 0
        local_gemm(pe, C_cols, a_cols, b_sym, b_base, kb, nb)

    def run_from(pe, s):
        """Step s's panels are in: start step s + 1's transfers, multiply step s, and go on
        while the next step's panels need no waiting."""
        st = pe[state]
        while True:
            pending = issue(pe, s + 1) if s + 1 < S else 0
            multiply(pe, s)
            if s + 1 == S:
                stamp(pe, ts, 1)
                pe.unblock_cmd_stream()
                return
            s += 1
            if pending:
                st[0], st[1] = s, pending
                return

    def arrived(pe):
        st = pe[state]
        st[1] -= 1
        if st[1] == 0:
            run_from(pe, int(st[0]))

    def a_done(pe):
        arrived(pe)

    def b_done(pe):
        arrived(pe)

    def compute(pe):
        stamp(pe, ts, 0)
        pending = issue(pe, 0)  # step 0's panels travel while C is cleared
        pe.fmovs(mem1d_dsd(C), 0.0)
        st = pe[state]
        st[0], st[1] = 0, pending
        if pending == 0:
            run_from(pe, 0)

    c.bind_local_task(a_done, A_DONE)
    c.bind_local_task(b_done, B_DONE)
    c.export(compute)


def build_layout(arch, W, H, S, mb, kb, nb) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"gemm_summa_{W}x{H}_{mb}x{kb}x{nb}")
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(i, j, summa_program, i=i, j=j, W=W, H=H, S=S, mb=mb, kb=kb, nb=nb)
            for s in range(min(S, 2)):  # the routes of steps 0 and 1; later steps re-route
                if W > 1:
                    rx, tx = line_role(i, s % W, W, "row")
                    lay.set_route(i, j, A_COLORS[s], rx=rx, tx=tx)
                if H > 1:
                    rx, tx = line_role(j, s % H, H, "col")
                    lay.set_route(i, j, B_COLORS[s], rx=rx, tx=tx)
    return lay


def _owner_walk(s: int, W: int, H: int) -> int:
    """How far the owners move from step s - 1 to step s: the larger of the owner column's and
    the owner row's moves (the A and B panels travel at once)."""
    return max(abs(s % W - (s - 1) % W), abs(s % H - (s - 1) % H))


def summa_blocks(grid, size):
    W, H = grid
    S = max(W, H)
    return S, ceil_div(size["M"], H), ceil_div(size["K"], S), ceil_div(size["N"], W)


@register
class GemmSumma(Kernel):
    name = "gemm-summa"
    summary = (
        "C = A B (f32) by SUMMA: per step the owner column floods its A panel along the rows, "
        "the owner row its B panel down the columns, every PE accumulates with fmacs while the "
        "next panels travel (double buffering)"
    )
    size_names = ("M", "K", "N")
    default_grid = (4, 4)
    default_size = {"M": 32, "K": 32, "N": 32}
    square_sizes = True
    check = "allclose(C, A B [f64], rtol=1e-5, atol=1e-5*max|C|)"

    def pe_memory_bytes(self, grid, size):
        W, H = grid
        S, mb, kb, nb = summa_blocks(grid, size)
        na, nbp = ceil_div(S, W), ceil_div(S, H)
        words = na * mb * kb + nbp * kb * nb + mb * nb
        words += 2 * ((mb * kb if W > 1 else 0) + (kb * nb if H > 1 else 0))  # two buffers
        return 4 * words + 8 + 16

    def flops(self, grid, size):
        return 2.0 * size["M"] * size["N"] * size["K"]

    def bytes(self, grid, size):
        M, K, N = size["M"], size["K"], size["N"]
        return 4.0 * (M * K + K * N + M * N)

    def model_cycles(self, arch, grid, size):
        W, H = grid
        S, mb, kb, nb = summa_blocks(grid, size)
        t = arch.timing
        R, hop, ts = t.ramp_latency_cycles, t.hop_latency_cycles, t.task_startup_cycles
        clear = vector_cycles(arch, mb * nb)
        G = local_gemm_cycles(arch, mb, kb, nb)
        if W == 1 and H == 1:  # nothing to receive: the local product only
            return clear + G
        n = int(W > 1) + int(H > 1)  # operands that travel
        words = (mb * kb if W > 1 else 0) + (kb * nb if H > 1 else 0)
        compute = G + n * (ASYNC_ISSUE_CYCLES + ts)  # issues, product, completion tasks
        comm = words + 2 * R + 1 + ts  # the panels through one down ramp, their completion
        first = max(clear, words + 2 * R)  # step 0's panels travel while C is cleared
        steps = sum(max(compute, comm + hop * _owner_walk(s, W, H)) for s in range(1, S))
        return int(first + steps + G + hop * ((W - 1) + (H - 1)) + 2 - 3 * n)

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, K, N = size["M"], size["K"], size["N"]
        S, mb, kb, nb = summa_blocks(grid, size)
        A, B = gemm_inputs(M, K, N, seed)
        Ap, Bp = pad(A, H * mb, S * kb), pad(B, S * kb, W * nb)
        Ab = col_major_blocks(Ap, mb, kb)  # (H, S, mb*kb)
        Bb = col_major_blocks(Bp, kb, nb)  # (S, W, kb*nb)

        compiled = build_layout(arch, W, H, S, mb, kb, nb).compile()
        runner = open_runtime(compiled)
        # every PE's panels in a row-major (H, W, n) tensor per symbol; columns / rows own
        # different numbers of panels when S is not a multiple of W (H): load per column (row)
        for i in range(W):
            own = list(range(i, S, W))
            h2d(runner, "A", Ab[:, own, :].reshape(H, 1, -1), i, 0, 1, H)
        for j in range(H):
            own = list(range(j, S, H))
            h2d(runner, "B", Bb[own, :, :].transpose(1, 0, 2).reshape(1, W, -1), 0, j, W, 1)
        runner.launch("compute", nonblock=False)
        Cb = d2h(runner, "C", 0, 0, W, H, mb * nb)
        timing = read_cycles(runner, W, H)
        runner.stop()

        got = from_col_major_blocks(Cb, mb, nb)[:M, :N]
        ref = A.astype(np.float64) @ B.astype(np.float64)
        scale = float(np.abs(ref).max()) if ref.size else 1.0
        ok, err = allclose_check(got, ref, rtol=1e-5, atol=1e-5 * scale)
        extras = {"steps": S, "mb": mb, "kb": kb, "nb": nb}
        if not arch.numerics.fused_multiply_add:
            hw = pe_order_product(Ap, Bp, range(S * kb))[:M, :N]
            extras["bit_exact_pe_order"] = bool(np.array_equal(got.view(np.uint32),
                                                               hw.view(np.uint32)))
        return Outcome(ok, err, timing["cycles"], extras)

    def validate(self, arch, grid, size):
        if arch.router.colors - len(arch.router.reserved_colors) < 4:
            raise KernelError(f"{self.name} needs 4 routable colors")
