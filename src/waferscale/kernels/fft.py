"""FFT kernels (the SDK's FFT 1D / 2D / 3D examples): radix-2 Stockham FFTs with memory vector
ops on complex f32 data stored as interleaved (re, im) pairs (see ``_fft``), and for 2D/3D the
pencil decomposition - per-PE 1D FFTs along the axis a PE holds whole, then all-to-all
transposes over the fabric.

``fft-1d`` (default 1x1, N = 64): every PE transforms its own N-point vector (a grid is a batch).

``fft-2d`` (default 4x4, 32 x 32): an N0 x N1 array on W x H PEs (``P = W H``). PE (i, j) holds
the ``a0 = N0 / P`` rows ``i A0 + j a0 + u`` (``A0 = N0 / W``), each contiguous at ``u N1``, and
transforms them along axis 1. Then the transpose, as two all-to-alls: along each *column* of PEs
PE (i, l) gets columns ``l b1 ..`` (``b1 = N1 / H``) of the column's A0 rows, stored at ``(j a0 +
u) b1 + v``; along each *row* PE (m, l) gets columns ``l b1 + m c1 ..`` (``c1 = N1 / P``) of all
N0 rows, stored at ``n0 c1 + v``. PE (m, l) then transforms its c1 columns along axis 0 (complex
stride c1) and holds ``X[:, (l W + m) c1 : (l W + m + 1) c1]``. On a row (H = 1) or a column of
PEs one of the two all-to-alls is left out; these are the pencils of ``fft-3d`` with the middle
FFT left out and both exchanges splitting axis 1 (``plan_2d`` / ``runs_2d`` feed the same
``pencil_program``, ``LineExchange`` and ``line_routes``).

``fft-3d`` (default 4x4, 16 x 16 x 16): an N0 x N1 x N2 array on W x H PEs, pencils in three
orientations. PE (i, j) first holds the z-pencils of x-block i (``a0 = N0/W``) and y-block j
(``a1 = N1/H``) at ``(u a1 + v) N2 + w``; FFT along z; an all-to-all along each *column* of PEs
gives PE (i, l) z-block l (``b2 = N2/H``) of every y, stored at ``(u N1 + n1) b2 + w``; FFT along
y (stride b2); an all-to-all along each *row* gives PE (m, l) y-block m (``c1 = N1/W``) of every
x, stored at ``(n0 c1 + v) b2 + w``; FFT along x (stride c1 b2). PE (m, l) ends holding
``X[:, m c1 : (m+1) c1, l b2 : (l+1) b2]``. Every block of the transposes leaves as contiguous
runs of its source and lands as contiguous runs of its destination (the layouts are chosen so),
and the strided axis of each FFT is one strided DSD.

The all-to-all along a line (``_fft.line_steps``) is store and forward through the CEs: toward
higher positions PE k sends its own blocks (for k+1, k+2, ...) and then, for each block arriving
from k-1 (blocks of k-1, k-2, ..., each for k, k+1, ...), receives its own or forwards it with a
fabric-to-fabric op; the other direction mirrors it. Each direction is a chain of asynchronous
ops on its own microthread (0: toward higher, 1: toward lower positions), each completion
activating the direction's task (10, 11), which issues the next. Colors: 0/1 (east, by sender
parity), 2/3 (west), 4/5 (south), 6/7 (north): neighbour-to-neighbour routes only.

Why the CEs forward and not the routers: a route is fixed per router and color, so a block can
bypass the CEs between its source and its destination only on a color no other stream uses at
those routers. Direct routes for an all-to-all along a line of P need a color per source and
direction (``2 (P - 1)`` per axis: 12 for a 4x4 grid, 28 for lines of 8, against 21 routable
colors), or phases of run-time re-routing; one multicast stream per source with counter filters
keeping each PE's own words still needs a color per source, since two sources merged on one
color interleave in no fixed order. The gain is bounded: the busiest link carries ``P^2 / 4``
blocks each way either way, against about ``3 P^2 / 4`` blocks of ramp time at the middle PE
now (fill included), so at most about 3x on the transposes, less for small blocks.

Cost model (cycles). Local FFTs are counted exactly (``_fft.fft_cycles``: per stage the ops of the
chosen variant, ``v(n) = op_startup + ceil(n / simd_f32)`` each). An all-to-all of blocks of ``w``
words (``2 x`` complex) along a line of P costs

    X(P) = copy + max(down, up) + P (P - 2) max(0, w - trip) / 4 + trip (P - 1)
    trip = 2 ramp + hop + 1

with ``copy`` the PE's own block moved in memory, ``down`` / ``up`` the words through the busiest
PE's ramps (``exchange_cycles``; ``_fft.line_loads`` counts them for any block sizes): at the
middle of the line about ``P^2 / 2`` blocks cross each ramp, the CE forwarding what passes; and
the trip per PE of the pipeline. The fill term is fitted: the middle PE's ramps idle about ``P (P
- 2) / 4`` blocks while the pipeline fills (each PE sends its own blocks before it forwards) and
drains, less one trip per block, which the per-op latencies hide (measured for P = 2 to 16 and
blocks of 2 to 128 words: the exchange alone within 14 %, the kernels within 3 %).
So

    T_1d = fft(N)
    T_2d = a0 fft(N1) + [H > 1] X_col(H) + [W > 1] X_row(W) + c1 fft(N0)
    T_3d = a0 a1 fft(N2) + X_col(H) + a0 b2 fft(N1) + X_row(W) + c1 b2 fft(N0)

FLOPs: ``5 N log2 N`` per transform of N points (the usual convention); bytes ``16 N`` (complex
f32 in and out).
"""

from __future__ import annotations

import numpy as np

from ..program import Layout
from ._base import (
    Kernel,
    KernelError,
    Outcome,
    allclose_check,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
)
from ._fft import (
    FFTPlan,
    LineExchange,
    fft_cycles,
    fft_temporaries,
    line_steps,
    local_copy,
    local_copy_cycles,
    log2_exact,
    pe_order_fft,
    stages,
)

ROW_COLORS = (0, 1, 2, 3)  # east (by sender parity), west
COL_COLORS = (4, 5, 6, 7)  # south, north
FWD_TASK, BWD_TASK = 10, 11
FWD_THREAD, BWD_THREAD = 0, 1


# -- the pencil program --------------------------------------------------------------------------


def line_colors(k: int, P: int, colors: tuple[int, int, int, int]):
    """(fwd out, fwd in, bwd out, bwd in) of position k on a line of P."""
    f, b = colors[:2], colors[2:]
    return (
        f[k % 2] if k < P - 1 else None,
        f[(k - 1) % 2] if k > 0 else None,
        b[k % 2] if k > 0 else None,
        b[(k + 1) % 2] if k < P - 1 else None,
    )


def line_routes(lay, axis: str, P: int, colors, fixed: int, span: int):
    """Neighbour routes of the all-to-all along rows (``axis='row'``: positions are x) or
    columns, for every line of the grid (``span`` lines)."""
    lo, hi = ("WEST", "EAST") if axis == "row" else ("NORTH", "SOUTH")

    def route(k, col, rx, tx):
        if axis == "row":
            lay.set_region_route(k, 0, 1, span, col, rx=rx, tx=tx)
        else:
            lay.set_region_route(0, k, span, 1, col, rx=rx, tx=tx)

    for k in range(P - 1):
        route(k, colors[k % 2], "RAMP", hi)
        route(k + 1, colors[k % 2], lo, "RAMP")
    for k in range(1, P):
        route(k, colors[2 + k % 2], "RAMP", lo)
        route(k - 1, colors[2 + k % 2], hi, "RAMP")


def pencil_program(c, *, L: int, phases: tuple, sizes: tuple):
    """Phases: ("fft", N, bases, e) or ("xchg", steps, colors, copy_send, copy_recv). Data start
    in ``D0``; every FFT ping-pongs with the other buffer, every exchange moves to it."""
    D = [c.array("D0", "f32", 2 * L, export=True), c.array("D1", "f32", 2 * L, export=True)]
    ts = declare_timer(c)
    state = c.array("state", "u32", 4)  # phase to resume, fwd index, bwd index, pending
    half = max(max(sizes) // 2, 1)
    tmp = fft_temporaries(c, half)
    plans = {N: FFTPlan(c, N, tmp, tag=f"_{N}") for N in sorted(set(sizes))}
    # where the data are before each phase
    cur = 0
    where = []
    for ph in phases:
        where.append(cur)
        if ph[0] == "fft":
            cur ^= len(stages(ph[1])) % 2
        else:
            cur ^= 1
    exchanges = {}
    for n, ph in enumerate(phases):
        if ph[0] == "xchg":
            src = D[where[n]]
            exchanges[n] = LineExchange(ph[1], ph[2], (FWD_TASK, BWD_TASK),
                                        (FWD_THREAD, BWD_THREAD), src, D[where[n] ^ 1])

    def run(pe, n):
        st = pe[state]
        while n < len(phases):
            ph = phases[n]
            if ph[0] == "fft":
                _k, N, bases, e = ph
                src, dst = D[where[n]], D[where[n] ^ 1]
                for base in bases:
                    plans[N].run(pe, src, dst, base, e)
                n += 1
                continue
            ex = exchanges[n]
            local_copy(pe, ex.src, ex.dst, ph[3], ph[4])
            st[0], st[1], st[2], st[3] = n + 1, 0, 0, 2
            for direction in (0, 1):
                if not ex.issue(pe, direction, 0):
                    st[3] -= 1
            if st[3]:
                return
            n += 1
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    def advance(pe, direction):
        st = pe[state]
        ex = exchanges[int(st[0]) - 1]
        st[1 + direction] += 1
        if not ex.issue(pe, direction, int(st[1 + direction])):
            st[3] -= 1
            if st[3] == 0:
                run(pe, int(st[0]))

    def fwd_step(pe):
        advance(pe, 0)

    def bwd_step(pe):
        advance(pe, 1)

    def compute(pe):
        stamp(pe, ts, 0)
        run(pe, 0)

    if exchanges:
        c.bind_local_task(fwd_step, FWD_TASK)
        c.bind_local_task(bwd_step, BWD_TASK)
    c.export(compute)


# -- decompositions -------------------------------------------------------------------------------


def _xchg(k: int, P: int, colors, send_runs, recv_runs):
    def block_len(s, d):
        return sum(n for _o, n in send_runs(s, d))

    fwd, bwd = line_steps(k, P, send_runs, recv_runs, block_len)
    return ("xchg", (tuple(fwd), tuple(bwd)), line_colors(k, P, colors),
            tuple(send_runs(k, k)), tuple(recv_runs(k, k)))


def blocks_2d(W: int, H: int, N0: int, N1: int) -> tuple[int, int, int, int]:
    """(a0, A0, b1, c1) of fft-2d on W x H PEs: rows per PE at the start (``N0 / WH``), rows per
    column of PEs (``N0 / W``), columns per row of PEs (``N1 / H``), columns per PE at the end
    (``N1 / WH``)."""
    P = W * H
    return N0 // P, N0 // W, N1 // H, N1 // P


def runs_2d(W: int, H: int, N0: int, N1: int):
    """The two exchanges of fft-2d: ((column send, recv), (row send, recv)). PE (i, j) starts
    with rows ``i A0 + j a0 + u`` at ``u N1``; the column exchange sends PE (i, l) columns ``l
    b1 ..`` of them, stored at ``(j a0 + u) b1 + v``; the row exchange sends PE (m, l) columns
    ``l b1 + m c1 ..`` of its A0 rows, stored at ``(i A0 + r) c1 + v`` = ``n0 c1 + v``."""
    a0, A0, b1, c1 = blocks_2d(W, H, N0, N1)

    def col_send(j, dst):
        return [(u * N1 + dst * b1, b1) for u in range(a0)]

    def col_recv(j, dst):
        return [(j * a0 * b1, a0 * b1)]

    def row_send(i, m):
        return [(r * b1 + m * c1, c1) for r in range(A0)]

    def row_recv(i, m):
        return [(i * A0 * c1, A0 * c1)]

    return (col_send, col_recv), (row_send, row_recv)


def plan_2d(W: int, H: int, N0: int, N1: int):
    """Per PE (i, j): its phases (an exchange along a line of one PE is left out)."""
    a0, _A0, _b1, c1 = blocks_2d(W, H, N0, N1)
    (col_send, col_recv), (row_send, row_recv) = runs_2d(W, H, N0, N1)
    phases = {}
    for j in range(H):
        for i in range(W):
            ph = [("fft", N1, tuple(u * N1 for u in range(a0)), 1)]
            if H > 1:
                ph.append(_xchg(j, H, COL_COLORS, col_send, col_recv))
            if W > 1:
                ph.append(_xchg(i, W, ROW_COLORS, row_send, row_recv))
            ph.append(("fft", N0, tuple(range(c1)), c1))
            phases[(i, j)] = tuple(ph)
    return phases


def runs_3d(W: int, H: int, N0: int, N1: int, N2: int):
    """The two exchanges of fft-3d: ((column send, recv), (row send, recv))."""
    a0, a1, b2, c1 = N0 // W, N1 // H, N2 // H, N1 // W

    def col_send(j, m):
        return [((u * a1 + v) * N2 + m * b2, b2) for u in range(a0) for v in range(a1)]

    def col_recv(j, m):
        return [((u * N1 + j * a1) * b2, a1 * b2) for u in range(a0)]

    def row_send(i, m):
        return [((u * N1 + m * c1) * b2, c1 * b2) for u in range(a0)]

    def row_recv(i, m):
        return [(i * a0 * c1 * b2, a0 * c1 * b2)]

    return (col_send, col_recv), (row_send, row_recv)


def plan_3d(W: int, H: int, N0: int, N1: int, N2: int):
    """Per PE (i, j): its phases."""
    a0, a1, b2, c1 = N0 // W, N1 // H, N2 // H, N1 // W
    (col_send, col_recv), (row_send, row_recv) = runs_3d(W, H, N0, N1, N2)
    phases = {}
    for j in range(H):
        for i in range(W):
            phases[(i, j)] = (
                ("fft", N2, tuple((u * a1 + v) * N2 for u in range(a0) for v in range(a1)), 1),
                _xchg(j, H, COL_COLORS, col_send, col_recv),
                ("fft", N1, tuple(u * N1 * b2 + w for u in range(a0) for w in range(b2)), b2),
                _xchg(i, W, ROW_COLORS, row_send, row_recv),
                ("fft", N0, tuple(v * b2 + w for v in range(c1) for w in range(b2)), c1 * b2),
            )
    return phases


def exchange_cycles(arch, P: int, send_runs, recv_runs) -> int:
    """Model of one all-to-all along a line of P (see the module docstring). Every block has
    the same length here, so the ramp loads have a closed form: PE k's down ramp takes the
    blocks from the k sources on one side for the P - k destinations at or beyond it, and from
    the P - 1 - k sources on the other side for the k + 1 destinations at or before it (its up
    ramp the same count)."""
    t = arch.timing
    copy = local_copy_cycles(arch, send_runs(0, 0), recv_runs(0, 0))
    if P == 1:
        return copy
    w = 2 * sum(n for _o, n in send_runs(0, 1))  # words per block
    blocks = max(k * (P - k) + (P - 1 - k) * (k + 1) for k in range(P))
    trip = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
    fill = (P * (P - 2) * max(0, w - trip)) // 4
    return copy + blocks * w + fill + trip * (P - 1)


# -- the kernels ----------------------------------------------------------------------------------


def _complex_input(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(np.complex64)


def _as_words(z: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(z, np.complex64).view(np.float32)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a, np.complex64)
    b = np.ascontiguousarray(b, np.complex64)
    return bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


def _fft_check(got: np.ndarray, ref: np.ndarray):
    scale = float(np.abs(ref).max()) if ref.size else 1.0
    g = np.concatenate([got.real.ravel(), got.imag.ravel()])
    r = np.concatenate([ref.real.ravel(), ref.imag.ravel()])
    return allclose_check(g, r, rtol=1e-4, atol=1e-4 * scale)


class _FFTBase(Kernel):
    check = "allclose(X, numpy.fft [complex128], rtol=1e-4, atol=1e-4*max|X|)"
    square_sizes = True

    def _pow2(self, size):
        for k, v in size.items():
            if v < 2:
                raise KernelError(
                    f"{self.name}: size {k}={v}: a radix-2 FFT needs 2 points or more"
                )
            if log2_exact(v) is None:
                raise KernelError(f"{self.name}: size {k}={v} must be a power of two (radix 2)")

    @staticmethod
    def _fft_flops(N):
        return 5.0 * N * np.log2(N) if N > 1 else 0.0


@register
class FFT1D(_FFTBase):
    name = "fft-1d"
    summary = "radix-2 Stockham FFT of N complex f32 points on one PE (every PE of a grid its own)"
    size_names = ("N",)
    default_grid = (1, 1)
    default_size = {"N": 64}

    def validate(self, arch, grid, size):
        self._pow2(size)

    def pe_memory_bytes(self, grid, size):
        N = size["N"]
        return 4 * (4 * N + 2 * max(N // 2, 1) + 4 * max(N // 2, 1)) + 32

    def flops(self, grid, size):
        return self._fft_flops(size["N"]) * grid[0] * grid[1]

    def bytes(self, grid, size):
        return 16.0 * size["N"] * grid[0] * grid[1]

    def model_cycles(self, arch, grid, size):
        return fft_cycles(arch, size["N"])

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        N = size["N"]
        x = _complex_input((H, W, N), seed)
        lay = Layout(W, H, arch=arch, name=f"fft1d_{W}x{H}_{N}")
        lay.set_region_code(0, 0, W, H, pencil_program, L=N, phases=(("fft", N, (0,), 1),),
                            sizes=(N,))
        runner = open_runtime(lay.compile())
        h2d(runner, "D0", _as_words(x).reshape(H, W, 2 * N), 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        out = "D0" if len(stages(N)) % 2 == 0 else "D1"
        got = d2h(runner, out, 0, 0, W, H, 2 * N).view(np.complex64).reshape(H, W, N)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = np.fft.fft(x.astype(np.complex128), axis=-1)
        ok, err = _fft_check(got, ref)
        extras = {"stages": len(stages(N)), "bit_exact_pe_order": _same_bits(got, pe_order_fft(x))}
        return Outcome(ok, err, timing["cycles"], extras)


@register
class FFT2D(_FFTBase):
    name = "fft-2d"
    summary = ("2D FFT of N0 x N1 complex f32 on W x H PEs: row FFTs, a transpose (all-to-all "
               "along the columns, then the rows of PEs), column FFTs (pencils)")
    size_names = ("N0", "N1")
    default_grid = (4, 4)
    default_size = {"N0": 32, "N1": 32}

    def validate(self, arch, grid, size):
        self._pow2(size)
        W, H = grid
        for k in ("N0", "N1"):
            if size[k] % (W * H):
                raise KernelError(
                    f"{self.name}: {k}={size[k]} must be a multiple of W*H={W * H} (grid {W}x{H}: "
                    "every PE holds whole rows, then whole columns)"
                )

    def pe_memory_bytes(self, grid, size):
        L = size["N0"] * size["N1"] // (grid[0] * grid[1])
        half = max(max(size["N0"], size["N1"]) // 2, 1)
        tw = sum(max(n // 2, 1) for n in {size["N0"], size["N1"]})
        return 4 * (4 * L + 4 * half + 2 * tw + 4) + 16

    def flops(self, grid, size):
        N0, N1 = size["N0"], size["N1"]
        return N0 * self._fft_flops(N1) + N1 * self._fft_flops(N0)

    def bytes(self, grid, size):
        return 16.0 * size["N0"] * size["N1"]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        N0, N1 = size["N0"], size["N1"]
        a0, _A0, _b1, c1 = blocks_2d(W, H, N0, N1)
        (cs, cr), (rs, rr) = runs_2d(W, H, N0, N1)
        total = a0 * fft_cycles(arch, N1) + c1 * fft_cycles(arch, N0)
        if H > 1:
            total += exchange_cycles(arch, H, cs, cr)
        if W > 1:
            total += exchange_cycles(arch, W, rs, rr)
        return total

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        N0, N1 = size["N0"], size["N1"]
        a0, A0, b1, c1 = blocks_2d(W, H, N0, N1)
        L = a0 * N1
        x = _complex_input((N0, N1), seed)
        phases = plan_2d(W, H, N0, N1)
        lay = Layout(W, H, arch=arch, name=f"fft2d_{W}x{H}_{N0}x{N1}")
        for j in range(H):
            for i in range(W):
                lay.set_tile_code(i, j, pencil_program, L=L, phases=phases[(i, j)],
                                  sizes=(N0, N1))
        if H > 1:
            line_routes(lay, "col", H, COL_COLORS, 0, W)
        if W > 1:
            line_routes(lay, "row", W, ROW_COLORS, 0, H)
        runner = open_runtime(lay.compile())
        # PE (i, j): rows i A0 + j a0 + u at u N1
        blocks = x.reshape(W, H, L).transpose(1, 0, 2)
        h2d(runner, "D0", _as_words(blocks).reshape(H, W, 2 * L), 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        flips = (len(stages(N1)) + (H > 1) + (W > 1) + len(stages(N0))) % 2
        out = d2h(runner, f"D{flips}", 0, 0, W, H, 2 * L).view(np.complex64)
        timing = read_cycles(runner, W, H)
        runner.stop()
        # PE (m, l): X[n0, (l W + m) c1 + v] at n0 c1 + v
        got = out.reshape(H, W, N0, c1).transpose(2, 0, 1, 3).reshape(N0, N1)
        ref = np.fft.fft2(x.astype(np.complex128))
        ok, err = _fft_check(got, ref)
        hw = pe_order_fft(pe_order_fft(x).T).T
        extras = {"a0": a0, "A0": A0, "b1": b1, "c1": c1, "bit_exact_pe_order": _same_bits(got, hw)}
        return Outcome(ok, err, timing["cycles"], extras)


@register
class FFT3D(_FFTBase):
    name = "fft-3d"
    summary = ("3D FFT of N0 x N1 x N2 complex f32 on W x H PEs: z-pencils, a column "
               "all-to-all, y-pencils, a row all-to-all, x-pencils")
    size_names = ("N0", "N1", "N2")
    default_grid = (4, 4)
    default_size = {"N0": 16, "N1": 16, "N2": 16}

    def validate(self, arch, grid, size):
        self._pow2(size)
        W, H = grid
        for k, d, what in (("N0", W, "W"), ("N1", H, "H"), ("N2", H, "H"), ("N1", W, "W")):
            if size[k] % d:
                raise KernelError(f"{self.name}: {k}={size[k]} must be a multiple of {what}={d}")

    def pe_memory_bytes(self, grid, size):
        W, H = grid
        L = size["N0"] * size["N1"] * size["N2"] // (W * H)
        ns = {size["N0"], size["N1"], size["N2"]}
        half = max(max(ns) // 2, 1)
        tw = sum(max(n // 2, 1) for n in ns)
        return 4 * (4 * L + 4 * half + 2 * tw + 4) + 16

    def flops(self, grid, size):
        N0, N1, N2 = size["N0"], size["N1"], size["N2"]
        return (N0 * N1 * self._fft_flops(N2) + N0 * N2 * self._fft_flops(N1)
                + N1 * N2 * self._fft_flops(N0))

    def bytes(self, grid, size):
        return 16.0 * size["N0"] * size["N1"] * size["N2"]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        N0, N1, N2 = size["N0"], size["N1"], size["N2"]
        a0, a1, b2, c1 = N0 // W, N1 // H, N2 // H, N1 // W
        (cs, cr), (rs, rr) = runs_3d(W, H, N0, N1, N2)
        return (a0 * a1 * fft_cycles(arch, N2) + exchange_cycles(arch, H, cs, cr)
                + a0 * b2 * fft_cycles(arch, N1) + exchange_cycles(arch, W, rs, rr)
                + c1 * b2 * fft_cycles(arch, N0))

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        N0, N1, N2 = size["N0"], size["N1"], size["N2"]
        a0, a1, b2, c1 = N0 // W, N1 // H, N2 // H, N1 // W
        L = a0 * a1 * N2
        x = _complex_input((N0, N1, N2), seed)
        phases = plan_3d(W, H, N0, N1, N2)
        lay = Layout(W, H, arch=arch, name=f"fft3d_{W}x{H}_{N0}x{N1}x{N2}")
        for j in range(H):
            for i in range(W):
                lay.set_tile_code(i, j, pencil_program, L=L, phases=phases[(i, j)],
                                  sizes=(N0, N1, N2))
        line_routes(lay, "col", H, COL_COLORS, 0, W)
        line_routes(lay, "row", W, ROW_COLORS, 0, H)
        runner = open_runtime(lay.compile())
        # PE (i, j): x[i a0 + u, j a1 + v, w] at (u a1 + v) N2 + w
        blocks = x.reshape(W, a0, H, a1, N2).transpose(2, 0, 1, 3, 4).reshape(H, W, L)
        h2d(runner, "D0", _as_words(blocks).reshape(H, W, 2 * L), 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        flips = (len(stages(N2)) + len(stages(N1)) + len(stages(N0)) + 2) % 2
        out = d2h(runner, f"D{flips}", 0, 0, W, H, 2 * L).view(np.complex64)
        timing = read_cycles(runner, W, H)
        runner.stop()
        # PE (m, l): X[n0, m c1 + v, l b2 + w] at (n0 c1 + v) b2 + w
        got = out.reshape(H, W, N0, c1, b2).transpose(2, 1, 3, 0, 4).reshape(N0, N1, N2)
        ref = np.fft.fftn(x.astype(np.complex128))
        ok, err = _fft_check(got, ref)
        hw = pe_order_fft(x)
        hw = np.moveaxis(pe_order_fft(np.moveaxis(hw, 1, -1)), -1, 1)
        hw = np.moveaxis(pe_order_fft(np.moveaxis(hw, 0, -1)), -1, 0)
        extras = {"a0": a0, "a1": a1, "b2": b2, "c1": c1,
                  "bit_exact_pe_order": _same_bits(got, hw)}
        return Outcome(ok, err, timing["cycles"], extras)
