"""``residual``: the infinity norm of r = b - A x in f32 (the SDK's residual example, 2x2 PEs).

Mapping (any W x H grid, default 2x2). A is cut into blocks as in ``gemv``: PE (i, j) holds block
(j, i) column-major (``mb = ceil(M/H)`` x ``nb = ceil(N/W)``, zero padded). The host copies
segment i of x into PE (i, 0), which floods it down column i on ``X_COLOR``; b goes to the last
column. Every PE computes its partial ``A_ji x_i`` with ``nb`` fmacs; the partial sums are
chain-reduced west to east along each row (``ROW_COLORS``, alternating by column parity). The
last column then computes ``r = b - y`` (fsubs), ``|r|`` (fabss) and its local maximum by a
pairwise tree of fmaxs over halves of a zero-padded buffer of ``p = 2^ceil(log2 mb)`` elements.
Finally the local maxima are chain-reduced with fmaxs up the last column (``COL_COLORS``, one
wavelet per stage) into PE (W-1, 0), which holds ``|b - A x|_inf`` in ``nrm``.

Cost model (cycles): the gemv part (see ``gemv``: x flood, y clear, nb fmacs, row chain), then

    2 * ceil(mb / simd) (fsubs, fabss) + sum_{h = p/2, p/4, .., 1} ceil(h / simd)
    + 1 + (2*ramp + hop + 1)(H - 1)       (the column chain of one element)

FLOPs: 2 M N (A x) + M (b - y) + M (max) ; bytes: 4 (M N + N + M) (A, x, b read once).
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, mem1d_dsd
from ._base import (
    Kernel,
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
from ._patterns import (
    chain_colors,
    chain_step,
    column_chain_routes,
    column_flood_routes,
    row_chain_routes,
)
from .gemv import ROW_COLORS, X_COLOR, row_gemv

COL_COLORS = (3, 4)  # the max-chain down the last column; x and the row chain as in gemv


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def residual_program(
    c,
    *,
    mb: int,
    nb: int,
    x_role: str | None,
    row_in: int | None,
    row_out: int | None,
    col_in: int | None,
    col_out: int | None,
    last: bool,
) -> None:
    A = c.array("A", "f32", mb * nb, export=True)
    x = c.array("x", "f32", nb, export=True)
    y = c.array("y", "f32", mb, export=True)
    ts = declare_timer(c)
    if last:
        p = _pow2(mb)
        b = c.array("b", "f32", mb, export=True)
        r = c.array("r", "f32", p, export=True, init=0.0)
        nrm = c.array("nrm", "f32", 1, export=True)
    cols = [mem1d_dsd(A, mb, offset=k * mb) for k in range(nb)]
    ydsd = mem1d_dsd(y)

    def compute(pe):
        stamp(pe, ts, 0)
        row_gemv(pe, x, cols, ydsd, 0.0, x_role, row_in, row_out)
        if last:
            rd = mem1d_dsd(r, mb)
            pe.fsubs(rd, mem1d_dsd(b), ydsd)  # r = b - A x
            pe.fabss(rd, rd)
            h = p // 2
            while h >= 1:  # pairwise max of halves: r[0] = max |r|
                pe.fmaxs(mem1d_dsd(r, h), mem1d_dsd(r, h), mem1d_dsd(r, h, offset=h))
                h //= 2
            pe.fmovs(mem1d_dsd(nrm), mem1d_dsd(r, 1))
            chain_step(pe, "fmaxs", mem1d_dsd(nrm), 1, col_in, col_out)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def build_layout(arch, W: int, H: int, mb: int, nb: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"residual_{W}x{H}_{mb}x{nb}")
    for i in range(W):
        row_in, row_out = chain_colors(i, W, ROW_COLORS)
        for j in range(H):
            last = i == W - 1
            col_in, col_out = chain_colors(H - 1 - j, H, COL_COLORS) if last else (None, None)
            x_role = None if H == 1 else ("src" if j == 0 else "dst")
            lay.set_tile_code(
                i,
                j,
                residual_program,
                mb=mb,
                nb=nb,
                x_role=x_role,
                row_in=row_in,
                row_out=row_out,
                col_in=col_in,
                col_out=col_out,
                last=last,
            )
    row_chain_routes(lay, W, H, ROW_COLORS)
    column_chain_routes(lay, W - 1, H, COL_COLORS)
    if H > 1:
        column_flood_routes(lay, W, H, X_COLOR)
    return lay


@register
class Residual(Kernel):
    name = "residual"
    summary = "|b - A x|_inf (f32): gemv, then b - y, |.|, local max and a max-chain"
    size_names = ("M", "N")
    default_grid = (2, 2)
    default_size = {"M": 16, "N": 16}
    square_sizes = True
    check = "allclose(|b - A x|_inf, numpy f64 |b - A x|_inf, rtol=1e-5)"

    def pe_memory_bytes(self, grid, size):
        mb, nb = ceil_div(size["M"], grid[1]), ceil_div(size["N"], grid[0])
        return 4 * (mb * nb + nb + 2 * mb + _pow2(mb) + 1) + 16

    def flops(self, grid, size):
        M, N = size["M"], size["N"]
        return 2.0 * M * N + 2.0 * M

    def bytes(self, grid, size):
        M, N = size["M"], size["N"]
        return 4.0 * (M * N + N + M)

    def model_cycles(self, arch, grid, size):
        W, H = grid
        mb, nb = ceil_div(size["M"], H), ceil_div(size["N"], W)
        t = arch.timing
        stage = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
        vc = vector_cycles(arch, mb, "f32")
        x_in = 0 if H == 1 else nb + 1 + 2 * t.ramp_latency_cycles + (H - 1) * t.hop_latency_cycles
        gemv = x_in + (1 + nb) * vc + (0 if W == 1 else mb + stage * (W - 1))
        p = _pow2(mb)
        tree = 0
        h = p // 2
        while h >= 1:
            tree += vector_cycles(arch, h, "f32")
            h //= 2
        norm = 2 * vc + tree + vector_cycles(arch, 1, "f32")
        col = 0 if H == 1 else 1 + stage * (H - 1)
        return gemv + norm + col

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, N = size["M"], size["N"]
        mb, nb = ceil_div(M, H), ceil_div(N, W)
        rng = np.random.default_rng(seed)
        A = rng.uniform(-1, 1, (M, N)).astype(np.float32)
        x = rng.uniform(-1, 1, N).astype(np.float32)
        b = rng.uniform(-1, 1, M).astype(np.float32)
        Ap = np.zeros((H * mb, W * nb), np.float32)
        Ap[:M, :N] = A
        xp = np.zeros(W * nb, np.float32)
        xp[:N] = x
        bp = np.zeros(H * mb, np.float32)
        bp[:M] = b

        runner = open_runtime(build_layout(arch, W, H, mb, nb).compile())
        h2d(runner, "A", Ap.reshape(H, mb, W, nb).transpose(0, 2, 3, 1), 0, 0, W, H)
        h2d(runner, "x", xp.reshape(1, W, nb), 0, 0, W, 1)
        h2d(runner, "b", bp.reshape(H, 1, mb), W - 1, 0, 1, H)
        runner.launch("compute", nonblock=False)
        nrm = float(d2h(runner, "nrm", W - 1, 0, 1, 1, 1)[0, 0, 0])
        timing = read_cycles(runner, W, H)
        runner.stop()

        r_ref = b.astype(np.float64) - A.astype(np.float64) @ x.astype(np.float64)
        nrm_ref = float(np.abs(r_ref).max())
        ok, err = allclose_check(np.array([nrm]), np.array([nrm_ref]), rtol=1e-5)
        return Outcome(
            ok, err, timing["cycles"], {"nrm": nrm, "nrm_ref": nrm_ref, "mb": mb, "nb": nb}
        )
