"""``cholesky``: A = L L^T in f32, right-looking, on the lower-triangle tiles of a T x T grid,
the row broadcasts' routes flipped by switches (the SDK's Cholesky example).

Mapping. A (n x n, symmetric positive definite) is cut into T x T tiles of ``b = ceil(n/T)``
(padded with the identity, which keeps it SPD); PE (j, i) - column j, row i, i >= j - holds tile
A_ij column-major; the PEs above the diagonal are idle. Step k of the right-looking algorithm:

* the diagonal PE (k, k) factors its tile (POTRF: per column a scalar square root and
  reciprocal - ``SQRT_CYCLES`` + ``RECIP_CYCLES`` of scalar work, an assumption - then fmuls and
  fmacs) and sends L_kk down column k on color ``C``;
* every PE (k, i) below receives it and solves L_ik = A_ik L_kk^-T (TRSM: per column fmacs with
  the previous columns and one fmuls by a reciprocal), then sends L_ik east along row i on color
  ``R``, followed by one control wavelet;
* every PE (j, i) with k < j < i receives L_ik from the west (R) and L_jk from the north (C) and
  updates A_ij -= L_ik L_jk^T (b^2 fmacs of b); the diagonal PE (i, i) receives L_ik, forwards it
  down its column on C (it is L_jk for the PEs below) and updates A_ii -= L_ik L_ik^T (lower
  triangle only).

Routes. Color ``C`` never changes: the diagonal PE (j, j) sends RAMP -> SOUTH, the PEs below take
NORTH -> RAMP (+ SOUTH). Color ``R`` changes role along each row as k advances: PE (j, i), 0 < j <
i, *receives* L_ik for k < j (WEST -> RAMP + EAST, switch position 0) and *sends* L_ij at step j
(RAMP -> EAST, position 1). The flip is done by the fabric: after its data, the sender of step k
sends a CE-filtered control wavelet with the command slots [NOP, ADVANCE] and every router of the
row is in ``always_pop`` mode, so the sender's own router consumes the NOP, the next router - PE
(k+1, i), the sender of step k+1 - advances to its sending position, and the routers further east
read NOPs. A wavelet that PE (k+1, i) sends before its router has flipped waits at the router.
PE (0, i) only sends; the diagonal only receives (WEST -> RAMP). Two colors in all.

Each off-diagonal step receives its two tiles with asynchronous fabric-input ops (microthreads 0,
1) whose completions activate their own tasks (10, 11); the diagonal uses synchronous ops.

Cost model. A max-plus recurrence over the tiles, step by step (vectorised over the grid with
numpy): for each PE and step, the arrival of the tiles it waits for (sender's time + ``2 ramp + 1
+ hop * distance`` + ``b^2`` words, the two tiles of an update sharing the down ramp) and its own
work, with the op counts of the program:

    GEMM update  b^2 v(b)          SYRK  sum_c b v(b - c)
    TRSM         b(b-1)/2 v(b) + b (v(b) + RECIP_CYCLES)
    POTRF        sum_c [SQRT_CYCLES + RECIP_CYCLES + v(b-c-1) + sum_{c' > c} v(b - c')]

so ``T`` is the finishing time of the last PE (within 2.5 % of the simulator on WSE-2 and WSE-3
from 2x2 to 8x8 tiles of 2 to 16). It is evaluated in T numpy steps over O(T^2) tiles, so it
reaches the full wafer in seconds. FLOPs ``n^3 / 3``; bytes ``4 n^2`` (the lower triangle in and
out).
"""

from __future__ import annotations

import math

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ..program.control import ADVANCE, NOP, command_slots_payload
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

R_COLOR, C_COLOR = 0, 1
R_DONE, C_DONE = 10, 11
RECV_R, RECV_C = 0, 1  # microthreads
SQRT_CYCLES = 16  # scalar square root of the math library (assumption)
RECIP_CYCLES = 8  # scalar reciprocal (assumption)
FLIP = command_slots_payload([NOP, ADVANCE], ce_filter=True)


def _cols(sym, b, start=0):
    """Column DSDs of a b x b column-major tile from row ``start`` down."""
    return [mem1d_dsd(sym, b - start, offset=c * b + start) for c in range(b)]


def idle_program(c):
    ts = declare_timer(c)

    def compute(pe):
        stamp(pe, ts, 0)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def diagonal_program(c, *, i: int, T: int, b: int):
    """PE (i, i): SYRK updates with the tiles of row i (forwarding each down the column), then
    POTRF and the send of L_ii down the column."""
    A = c.array("A", "f32", b * b, export=True)
    Lrow = c.array("Lrow", "f32", b * b) if i > 0 else None
    ts = declare_timer(c)
    below = i < T - 1

    def compute(pe):
        stamp(pe, ts, 0)
        for _k in range(i):  # SYRK: A -= L_ik L_ik^T (lower triangle)
            pe.fmovs(mem1d_dsd(Lrow), fabin_dsd(R_COLOR, b * b))
            if below:
                pe.fmovs(fabout_dsd(C_COLOR, b * b), mem1d_dsd(Lrow))
            lv = pe[Lrow].tolist()
            for col in range(b):
                a_c = mem1d_dsd(A, b - col, offset=col * b + col)
                for m in range(b):
                    pe.fmacs(a_c, a_c, mem1d_dsd(Lrow, b - col, offset=m * b + col),
                             -lv[m * b + col])
        potrf(pe, A, b)
        if below:
            pe.fmovs(fabout_dsd(C_COLOR, b * b), mem1d_dsd(A))
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def potrf(pe, A, b):
    """In-place lower Cholesky of the b x b column-major tile (right-looking by columns)."""
    a = pe[A]
    for col in range(b):
        d = np.float32(a[col * b + col])
        pe.spend(SQRT_CYCLES + RECIP_CYCLES)
        lcc = np.float32(math.sqrt(d)) if d > 0 else np.float32("nan")
        inv = np.float32(1.0) / lcc
        a[col * b + col] = lcc
        if col + 1 < b:
            rest = mem1d_dsd(A, b - col - 1, offset=col * b + col + 1)
            pe.fmuls(rest, rest, inv)
            vals = pe[A][col * b + col + 1 : col * b + b].tolist()
            for c2 in range(col + 1, b):
                tgt = mem1d_dsd(A, b - c2, offset=c2 * b + c2)
                src = mem1d_dsd(A, b - c2, offset=col * b + c2)
                pe.fmacs(tgt, tgt, src, -vals[c2 - col - 1])


def panel_program(c, *, j: int, i: int, T: int, b: int):
    """PE (j, i), i > j: j GEMM updates, then TRSM with L_jj and the send of L_ij east."""
    A = c.array("A", "f32", b * b, export=True)
    Lrow = c.array("Lrow", "f32", b * b) if j > 0 else None
    Lcol = c.array("Lcol", "f32", b * b)
    state = c.array("state", "u32", 2)  # step, receives pending
    ts = declare_timer(c)
    A_cols = _cols(A, b)
    R_cols = _cols(Lrow, b) if Lrow is not None else None

    def start(pe, k):
        st = pe[state]
        st[0] = k
        if k < j:
            st[1] = 2
            pe.fmovs(mem1d_dsd(Lrow), fabin_dsd(R_COLOR, b * b), async_=True,
                     microthread=RECV_R, activate=R_DONE)
        else:
            st[1] = 1
        pe.fmovs(mem1d_dsd(Lcol), fabin_dsd(C_COLOR, b * b), async_=True, microthread=RECV_C,
                 activate=C_DONE)

    def arrived(pe):
        st = pe[state]
        st[1] -= 1
        if st[1]:
            return
        k = int(st[0])
        lc = pe[Lcol].tolist()
        if k < j:  # A -= L_ik L_jk^T
            for col in range(b):
                for m in range(b):
                    pe.fmacs(A_cols[col], A_cols[col], R_cols[m], -lc[m * b + col])
            start(pe, k + 1)
            return
        # TRSM: A <- A L_jj^-T, column by column
        for col in range(b):
            for m in range(col):
                pe.fmacs(A_cols[col], A_cols[col], A_cols[m], -lc[m * b + col])
            pe.spend(RECIP_CYCLES)
            pe.fmuls(A_cols[col], A_cols[col], np.float32(1.0) / np.float32(lc[col * b + col]))
        pe.fmovs(fabout_dsd(R_COLOR, b * b), mem1d_dsd(A))
        pe.mov32(fabout_dsd(R_COLOR, 1, "u32", control=True), FLIP)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    def r_done(pe):
        arrived(pe)

    def c_done(pe):
        arrived(pe)

    def compute(pe):
        stamp(pe, ts, 0)
        start(pe, 0)

    c.bind_local_task(r_done, R_DONE)
    c.bind_local_task(c_done, C_DONE)
    c.export(compute)


def build_layout(arch, T: int, b: int) -> Layout:
    lay = Layout(T, T, arch=arch, name=f"cholesky_{T}x{T}_{b}")
    for i in range(T):
        for j in range(T):
            if j > i:
                lay.set_tile_code(j, i, idle_program)
            elif j == i:
                lay.set_tile_code(j, i, diagonal_program, i=i, T=T, b=b)
            else:
                lay.set_tile_code(j, i, panel_program, j=j, i=i, T=T, b=b)
    for i in range(1, T):  # row i: R from (0, i) east to the diagonal
        lay.set_switches(0, i, R_COLOR, [("RAMP", "EAST")], pop_mode="always_pop")
        if i > 1:
            lay.set_switches(1, i, R_COLOR, [("WEST", ["RAMP", "EAST"]), ("RAMP", "EAST")],
                             pop_mode="always_pop", w=i - 1)
        lay.set_route(i, i, R_COLOR, rx="WEST", tx="RAMP")
    for j in range(T - 1):  # column j: C from the diagonal south
        lay.set_route(j, j, C_COLOR, rx="RAMP", tx="SOUTH")
        if T - j > 2:
            lay.set_region_route(j, j + 1, 1, T - j - 2, C_COLOR, rx="NORTH",
                                 tx=["RAMP", "SOUTH"])
        lay.set_route(j, T - 1, C_COLOR, rx="NORTH", tx="RAMP")
    return lay


# -- the model ------------------------------------------------------------------------------------


def work_cycles(arch, b: int) -> dict[str, int]:
    v = lambda n: vector_cycles(arch, n) if n > 0 else 0  # noqa: E731
    gemm = b * b * v(b)
    syrk = sum(b * v(b - c) for c in range(b))
    trsm = sum(c * v(b) for c in range(b)) + b * (v(b) + RECIP_CYCLES)
    potrf = sum(SQRT_CYCLES + RECIP_CYCLES + v(b - c - 1) + sum(v(b - c2) for c2 in range(c + 1, b))
                for c in range(b))
    return {"gemm": gemm, "syrk": syrk, "trsm": trsm, "potrf": potrf}


def model_recurrence(arch, T: int, b: int) -> int:
    """Finishing time of the last PE (see the module docstring)."""
    t = arch.timing
    w = b * b
    lat = 2 * t.ramp_latency_cycles + 1
    hop = t.hop_latency_cycles
    ts = t.task_startup_cycles
    work = work_cycles(arch, b)
    idx = np.arange(T)
    # sendR[i, k]: when PE (k, i) starts sending L_ik east; sendC[j, k]: when the diagonal
    # (j, j) starts sending L_jk (k <= j) down its column
    sendR = np.zeros((T, T), np.int64)
    sendC = np.zeros((T, T), np.int64)
    free = np.zeros((T, T), np.int64)  # free[i, j]: PE (j, i) done with its previous step
    end = np.zeros((T, T), np.int64)
    lower_all = np.tri(T, k=-1, dtype=bool)  # [i, j]: i > j
    for k in range(T):
        # the diagonal (k, k): its SYRK with L_k,k-1 was done in step k - 1; POTRF now
        d = free[k, k] + work["potrf"]
        sendC[k, k] = d
        end[k, k] = d + (w if k < T - 1 else 0)
        if k == T - 1:
            break
        rows = idx[k + 1 :]
        # PEs (k, i), i > k: receive L_kk, TRSM, send L_ik east
        arr = sendC[k, k] + lat + hop * (rows - k) + w
        ready = np.maximum(free[rows, k] + 2 * ASYNC_ISSUE_CYCLES, arr) + ts
        sendR[rows, k] = ready + work["trsm"]
        end[rows, k] = sendR[rows, k] + w + 1
        # the diagonals (j, j), j > k: receive L_jk, forward it down, SYRK
        arr = sendR[rows, k] + lat + hop * (rows - k) + w
        got = np.maximum(free[rows, rows], arr)
        sendC[rows, k] = got
        fwd = np.where(rows < T - 1, w, 0)
        free[rows, rows] = got + fwd + work["syrk"]
        # PEs (j, i), k < j < i: receive L_ik (from the west) and L_jk (from the north), GEMM;
        # evaluated on the trailing block [i, j] of free (the strictly lower part is kept)
        if T - k - 1 > 1:
            blk = free[k + 1 :, k + 1 :]
            r_arr = (sendR[k + 1 :, k] + lat)[:, None] + hop * (rows - k)[None, :]
            c_arr = (sendC[k + 1 :, k] + lat)[None, :] + hop * (rows[:, None] - rows[None, :])
            issue = blk + 2 * ASYNC_ISSUE_CYCLES
            first = np.maximum(np.minimum(r_arr, c_arr), issue)
            done = np.maximum(np.maximum(np.maximum(r_arr, issue) + w,
                                         np.maximum(c_arr, issue) + w), first + 2 * w)
            lower = lower_all[: T - k - 1, : T - k - 1]
            np.copyto(blk, done + ts + work["gemm"], where=lower)
    return int(end.max())


# -- the kernel -----------------------------------------------------------------------------------


def spd_matrix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    M = rng.uniform(-1, 1, (n, n))
    return (M @ M.T / max(n, 1) + np.eye(n)).astype(np.float32)


@register
class Cholesky(Kernel):
    name = "cholesky"
    summary = (
        "A = L L^T (f32), right-looking on the lower-triangle tiles of a T x T grid; the row "
        "broadcasts' routes flipped by switches and control wavelets"
    )
    size_names = ("n",)
    default_grid = (4, 4)
    default_size = {"n": 32}
    check = "allclose(L, numpy.linalg.cholesky(A) [f64], rtol=1e-5, atol=1e-5*max|L|)"

    def validate(self, arch, grid, size):
        if grid[0] != grid[1]:
            raise KernelError(f"{self.name} runs on a square grid (T x T tiles), got "
                              f"{grid[0]}x{grid[1]}")
        if arch.router.switch_positions < 2:
            raise KernelError(f"{self.name} needs 2 switch positions per color")

    def pe_memory_bytes(self, grid, size):
        b = ceil_div(size["n"], grid[0])
        return 4 * 3 * b * b + 8 + 16

    def flops(self, grid, size):
        return size["n"] ** 3 / 3.0

    def bytes(self, grid, size):
        return 4.0 * size["n"] ** 2

    def model_cycles(self, arch, grid, size):
        T = grid[0]
        return model_recurrence(arch, T, ceil_div(size["n"], T))

    def simulate(self, arch, grid, size, seed):
        T = grid[0]
        n = size["n"]
        b = ceil_div(n, T)
        A = spd_matrix(n, seed)
        Ap = np.eye(T * b, dtype=np.float32)
        Ap[:n, :n] = A
        tiles = Ap.reshape(T, b, T, b).transpose(0, 2, 3, 1).reshape(T, T, b * b)  # [i, j]
        runner = open_runtime(build_layout(arch, T, b).compile())
        for i in range(T):  # row i holds tiles j <= i
            h2d(runner, "A", tiles[i, : i + 1].reshape(1, i + 1, b * b), 0, i, i + 1, 1)
        runner.launch("compute", nonblock=False)
        pos = runner.engine.state.route_pos[:, R_COLOR]  # [PE, color]
        flipped = all(int(pos[i * T + j]) == 1 for i in range(T) for j in range(1, i))
        L = np.zeros((T * b, T * b), np.float32)
        for i in range(T):
            got = d2h(runner, "A", 0, i, i + 1, 1, b * b).reshape(i + 1, b, b)
            for j in range(i + 1):
                L[i * b:(i + 1) * b, j * b:(j + 1) * b] = got[j].T  # column-major -> rows
        timing = read_cycles(runner, T, T)
        runner.stop()
        L = np.tril(L)[:n, :n]
        ref = np.linalg.cholesky(A.astype(np.float64))
        scale = float(np.abs(ref).max()) if ref.size else 1.0
        ok, err = allclose_check(L, ref, rtol=1e-5, atol=1e-5 * scale)
        resid = float(np.abs(L.astype(np.float64) @ L.T.astype(np.float64) - A).max())
        extras = {"tile": b, "residual_max": resid, "switches_flipped": flipped}
        return Outcome(ok, err, timing["cycles"], extras)
