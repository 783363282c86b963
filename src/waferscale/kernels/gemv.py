"""``gemv``: y = A x + b in f32 over a W x H grid (the SDK's GEMV tutorial series, row-broadcast
version).

Mapping. A (M x N) is cut into H x W blocks of ``mb = ceil(M/H)`` rows and ``nb = ceil(N/W)``
columns (zero padded); PE (i, j) (column i, row j) holds block ``A[j*mb:(j+1)*mb,
i*nb:(i+1)*nb]`` column-major, so the local product is ``nb`` memory ops ``fmacs(y, y, A[:, k],
x[k])``. The host copies segment i of x into PE (i, 0); row 0 floods it down column i on color
``X_COLOR`` (routers of rows 1..H-2 multicast to RAMP and SOUTH). Column 0 starts from y = b,
the others from 0. The partial y blocks are chain-reduced west to east along each row on two
colors alternating by column parity (``ROW_COLORS``): PE i receives on one, adds its own block
and sends on the other. The last column holds y.

Cost model (cycles, WSE-2 defaults: hop 1, ramp 2; CE op = 1 element per cycle per SIMD lane):

    T = x_in + mb (y init) + nb * ceil(mb / simd_f32) + mb + (2*ramp + hop + 1) * (W - 1)

``x_in`` = 0 when H = 1, else ``nb + 1 + 2*ramp + (H - 1)*hop`` (the bottom row receives the last
element of its x segment that long after the launch). FLOPs: 2 M N (+ M for b); bytes: the f32
words of A, x, b and y moved between memory and the CE once (4 (M N + N + 2 M)).
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
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
)
from ._patterns import chain_colors, chain_step, column_flood_routes, row_chain_routes

X_COLOR = 2
ROW_COLORS = (0, 1)
X_THREAD = 1  # microthread of row 0's asynchronous x send


def gemv_program(
    c, *, mb: int, nb: int, x_role: str | None, row_in: int | None, row_out: int | None, first: bool
) -> None:
    """One PE of the row-broadcast GEMV. ``x_role``: 'src' (row 0, sends x down), 'dst'
    (rows 1.., receives x), None (a one-row grid)."""
    A = c.array("A", "f32", mb * nb, export=True)
    x = c.array("x", "f32", nb, export=True)
    b = c.array("b", "f32", mb, export=True)
    y = c.array("y", "f32", mb, export=True)
    ts = declare_timer(c)
    cols = [mem1d_dsd(A, mb, offset=k * mb) for k in range(nb)]
    ydsd = mem1d_dsd(y)

    def compute(pe):
        stamp(pe, ts, 0)
        row_gemv(pe, x, cols, ydsd, mem1d_dsd(b) if first else 0.0, x_role, row_in, row_out)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def row_gemv(pe, x, cols, ydsd, y0, x_role: str | None, row_in, row_out) -> None:
    """One PE's share of the row-broadcast GEMV (also the first half of ``residual``): pass
    its x segment down the column (row 0 sends it, overlapped with the compute; the others
    receive it), ``y = y0 + A_blk x_blk`` column by column, then the row chain of partial sums
    west to east."""
    nb, mb = len(cols), ydsd.length
    if x_role == "src":
        pe.fmovs(fabout_dsd(X_COLOR, nb), mem1d_dsd(x), async_=True, microthread=X_THREAD)
    elif x_role == "dst":
        pe.fmovs(mem1d_dsd(x), fabin_dsd(X_COLOR, nb))
    pe.fmovs(ydsd, y0)
    xv = pe[x].tolist()
    for k in range(nb):
        pe.fmacs(ydsd, ydsd, cols[k], xv[k])
    chain_step(pe, "fadds", ydsd, mb, row_in, row_out)


def build_layout(arch, W: int, H: int, mb: int, nb: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"gemv_{W}x{H}_{mb}x{nb}")
    for i in range(W):
        row_in, row_out = chain_colors(i, W, ROW_COLORS)
        for role, y0, h in (("src", 0, 1), ("dst", 1, H - 1)):
            if h <= 0:
                continue
            lay.set_region_code(
                i,
                y0,
                1,
                h,
                gemv_program,
                mb=mb,
                nb=nb,
                x_role=role if H > 1 else None,
                row_in=row_in,
                row_out=row_out,
                first=i == 0,
            )
    row_chain_routes(lay, W, H, ROW_COLORS)
    if H > 1:
        column_flood_routes(lay, W, H, X_COLOR)
    return lay


def blocks(M: int, N: int, W: int, H: int) -> tuple[int, int]:
    return ceil_div(M, H), ceil_div(N, W)


def pe_order_reference(A: np.ndarray, x: np.ndarray, b: np.ndarray, W: int, H: int) -> np.ndarray:
    """A x + b in float32 in the PEs' order (unfused multiply then add per column k, then the
    row chain from column 0 eastward, column 0 starting from b). Padded shapes."""
    Mp, Np = A.shape
    mb, nb = Mp // H, Np // W
    A4 = A.reshape(H, mb, W, nb)
    xw = x.reshape(W, nb)
    part = np.zeros((H, W, mb), np.float32)
    part[:, 0] = b.reshape(H, mb)
    for k in range(nb):
        part = part + (A4[:, :, :, k].transpose(0, 2, 1) * xw[None, :, k, None])
    s = part[:, 0]
    for i in range(1, W):
        s = part[:, i] + s
    return s.reshape(Mp)


@register
class Gemv(Kernel):
    name = "gemv"
    summary = (
        "y = A x + b (f32): x flooded down the columns, local fmacs, partial sums "
        "chain-reduced along the rows"
    )
    size_names = ("M", "N")
    default_grid = (4, 3)
    default_size = {"M": 24, "N": 32}
    square_sizes = True
    check = "allclose(y, A x + b [f64], rtol=1e-5, atol=1e-5*max|y|)"

    def pe_memory_bytes(self, grid, size):
        mb, nb = blocks(size["M"], size["N"], *grid)
        return 4 * (mb * nb + nb + 2 * mb) + 16

    def flops(self, grid, size):
        return 2.0 * size["M"] * size["N"] + size["M"]

    def bytes(self, grid, size):
        M, N = size["M"], size["N"]
        return 4.0 * (M * N + N + 2 * M)

    def model_cycles(self, arch, grid, size):
        W, H = grid
        mb, nb = blocks(size["M"], size["N"], W, H)
        t = arch.timing
        simd = arch.pe.simd_width_f32
        op = t.op_startup_cycles
        stage = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
        # the last element of x leaves row 0's output queue nb cycles after the launch, then
        # ramps up, crosses H - 1 hops and ramps down into the bottom row's receive op
        x_in = 0 if H == 1 else nb + 1 + 2 * t.ramp_latency_cycles + (H - 1) * t.hop_latency_cycles
        compute = op + ceil_div(mb, simd) + nb * (op + ceil_div(mb, simd))
        chain = 0 if W == 1 else mb + stage * (W - 1)
        return x_in + compute + chain

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        M, N = size["M"], size["N"]
        mb, nb = blocks(M, N, W, H)
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

        compiled = build_layout(arch, W, H, mb, nb).compile()
        runner = open_runtime(compiled)
        # per PE (row j, column i): its block, column-major
        blk = Ap.reshape(H, mb, W, nb).transpose(0, 2, 3, 1)
        h2d(runner, "A", blk, 0, 0, W, H)
        h2d(runner, "x", xp.reshape(1, W, nb), 0, 0, W, 1)
        h2d(runner, "b", bp.reshape(H, 1, mb), 0, 0, 1, H)
        runner.launch("compute", nonblock=False)
        y = d2h(runner, "y", W - 1, 0, 1, H, mb).reshape(H * mb)
        timing = read_cycles(runner, W, H)
        runner.stop()

        ref = A.astype(np.float64) @ x.astype(np.float64) + b
        got = y[:M]
        ok, err = allclose_check(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
        extras = {"mb": mb, "nb": nb}
        if not arch.numerics.fused_multiply_add:
            hw = pe_order_reference(Ap, xp, bp, W, H)[:M]
            extras["bit_exact_pe_order"] = bool(
                np.array_equal(got.view(np.uint32), hw.view(np.uint32))
            )
        return Outcome(ok, err, timing["cycles"], extras)
