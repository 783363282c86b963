"""``mandelbrot``: escape-time counts of the Mandelbrot set, pixel rows pipelined through a row
of PEs (the SDK's Mandelbrot example, 4x4 PEs). Exact check against numpy in f32.

Mapping. The image has ``rows`` x ``cols`` pixels over re in [-2, 1], im in [-1.5, 1.5]; each of
the H rows of PEs is an independent pipeline that handles the image rows r = j, j + H, j + 2H...
(``nr = ceil(rows / H)`` per pipeline). The ``iters`` iterations are split between the W stages
of a pipeline (stage k does ``ik`` of them, the first ``iters mod W`` stages one more). A pixel
row travels as its state ``S = [zr | zi | count]`` (3 cols f32 wavelets) on two colors
alternating by stage parity (``ROW_COLORS``): stage 0 starts from z = 0, count = 0; each stage
receives S (synchronous fabin), runs its iterations over the whole row with vector ops and sends
S east (synchronous fabout); the last stage stores the counts. One iteration ``g`` over a row:

    zr2 = zr*zr; zi2 = zi*zi; zri = zr*zi; mag = zr2 + zi2               (fmuls x3, fadds)
    count = map(count == g and mag <= 4 ? count + 1 : count)             (@map: escape time)
    zr = zr2 - zi2 + cr; zi = zri + zri + ci                             (fsubs, fadds x3)

so ``count`` = the number of iterations before |z|^2 > 4 (at most ``iters``).

Cost model (cycles). With ``X = 3 cols`` (a transfer), ``C_k = ik * (8 v(cols) + cols)``
(stage k's compute: 8 vector ops, ``v(n) = op_startup + ceil(n / simd_f32)``, and one @map at
one element per cycle), ``L = 2*ramp + hop + 1`` (CE to CE) and ``B = oq + iq + 2 buffer +
2*ramp + hop`` (the wavelets that fit in the queues, router buffers and wires between two CEs:
17 on WSE-2), the stages form a synchronous pipeline, evaluated as a max-plus recurrence over
stages k and image rows r:

    recv_end(k, r)  = max(free(k) + X, send_start(k-1, r) + X + L)
    send_start(k,r) = recv_end(k, r) + C_k
    free(k-1)       = max(send_start(k-1, r) + X, free(k) + X - B)   (the sender is done)

with stage 0 starting each row with a clear of 3 cols and the last stage ending each row with a
store of cols. ``T = free(W-1)`` after the last row; O(W nr) to evaluate, the full wafer
included. In steady state a row leaves every ``~ 2X + max_k C_k`` cycles.

FLOPs: 7 per pixel per iteration (3 multiplies, 4 adds; the escape test is not counted);
bytes: 0 (no input array).
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    Outcome,
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
from ._patterns import chain_colors, row_chain_routes

ROW_COLORS = (0, 1)


def split_iterations(iters: int, W: int) -> list[int]:
    """Iterations done by each stage."""
    return [iters // W + (1 if k < iters % W else 0) for k in range(W)]


def mandelbrot_program(
    c, *, cols: int, nr: int, first_iter: int, ik: int, cin: int | None, cout: int | None
) -> None:
    S = c.array("S", "f32", 3 * cols)
    tmp = {n: c.array(n, "f32", cols) for n in ("zr2", "zi2", "zri", "mag")}
    cr = c.array("cr", "f32", cols, export=True)
    ci = c.array("ci", "f32", nr, export=True)
    last = cout is None
    if last:
        out = c.array("out", "f32", nr * cols, export=True)
    ts = declare_timer(c)
    zr = mem1d_dsd(S, cols)
    zi = mem1d_dsd(S, cols, offset=cols)
    cnt = mem1d_dsd(S, cols, offset=2 * cols)
    zr2, zi2, zri, mag = (mem1d_dsd(tmp[n]) for n in ("zr2", "zi2", "zri", "mag"))
    crd = mem1d_dsd(cr)

    def step(g):
        def fn(count, m):
            return count + 1.0 if (count == g and m <= 4.0) else count

        return fn

    steps = [step(float(first_iter + i)) for i in range(ik)]

    def compute(pe):
        stamp(pe, ts, 0)
        civ = pe[ci].tolist()
        for r in range(nr):
            if cin is None:
                pe.fmovs(mem1d_dsd(S), 0.0)
            else:
                pe.fmovs(mem1d_dsd(S), fabin_dsd(cin, 3 * cols))
            for i in range(ik):
                pe.fmuls(zr2, zr, zr)
                pe.fmuls(zi2, zi, zi)
                pe.fmuls(zri, zr, zi)
                pe.fadds(mag, zr2, zi2)
                pe.map(steps[i], cnt, cnt, mag)
                pe.fsubs(zr, zr2, zi2)
                pe.fadds(zr, zr, crd)
                pe.fadds(zi, zri, zri)
                pe.fadds(zi, zi, civ[r])
            if last:
                pe.fmovs(mem1d_dsd(out, cols, offset=r * cols), cnt)
            else:
                pe.fmovs(fabout_dsd(cout, 3 * cols), mem1d_dsd(S))
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


def build_layout(arch, W: int, H: int, cols: int, nr: int, iters: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"mandelbrot_{W}x{H}")
    split = split_iterations(iters, W)
    first = 0
    for k in range(W):
        cin, cout = chain_colors(k, W, ROW_COLORS)
        lay.set_region_code(
            k,
            0,
            1,
            H,
            mandelbrot_program,
            cols=cols,
            nr=nr,
            first_iter=first,
            ik=split[k],
            cin=cin,
            cout=cout,
        )
        first += split[k]
    row_chain_routes(lay, W, H, ROW_COLORS)
    return lay


def pixel_grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(cr[cols], ci[rows]) in f32: pixel centres over [-2, 1] x [-1.5, 1.5]."""
    cr = (-2.0 + 3.0 * (np.arange(cols) + 0.5) / cols).astype(np.float32)
    ci = (-1.5 + 3.0 * (np.arange(rows) + 0.5) / rows).astype(np.float32)
    return cr, ci


def mandelbrot_reference(cr: np.ndarray, ci: np.ndarray, iters: int) -> np.ndarray:
    """Escape-time counts in f32 with the PEs' operation order."""
    c_r = np.broadcast_to(cr[None, :], (len(ci), len(cr))).astype(np.float32)
    c_i = np.broadcast_to(ci[:, None], (len(ci), len(cr))).astype(np.float32)
    zr = np.zeros_like(c_r)
    zi = np.zeros_like(c_r)
    cnt = np.zeros_like(c_r)
    with np.errstate(over="ignore", invalid="ignore"):
        for g in range(iters):
            zr2, zi2, zri = zr * zr, zi * zi, zr * zi
            mag = zr2 + zi2
            cnt = np.where((cnt == g) & (mag <= 4.0), cnt + 1, cnt).astype(np.float32)
            zr = (zr2 - zi2) + c_r
            zi = (zri + zri) + c_i
    return cnt.astype(np.int64)


@register
class Mandelbrot(Kernel):
    name = "mandelbrot"
    summary = "Mandelbrot escape times, pixel rows pipelined through a row of PEs"
    size_names = ("rows", "cols", "iters")
    default_grid = (4, 4)
    default_size = {"rows": 16, "cols": 16, "iters": 16}
    check = "escape counts == numpy (f32, same operation order; exact)"

    def pe_memory_bytes(self, grid, size):
        cols, nr = size["cols"], ceil_div(size["rows"], grid[1])
        return 4 * (8 * cols + nr + nr * cols) + 16

    def flops(self, grid, size):
        return 7.0 * size["rows"] * size["cols"] * size["iters"]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        cols, iters = size["cols"], size["iters"]
        nr = ceil_div(size["rows"], H)
        t = arch.timing
        v = vector_cycles(arch, cols, "f32")
        vmap = t.op_startup_cycles + cols
        X = 3 * cols
        L = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
        comp = [ik * (8 * v + vmap) for ik in split_iterations(iters, W)]
        clear = vector_cycles(arch, 3 * cols, "f32")
        store = v
        if W == 1:
            return nr * (clear + comp[0] + store)
        B = (
            arch.pe.output_queue_depth
            + arch.pe.input_queue_depth
            + 2 * arch.router.buffer_depth
            + 2 * t.ramp_latency_cycles
            + t.hop_latency_cycles
        )
        return _pipeline(W, nr, X, L, B, comp, clear, store)

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        rows, cols, iters = size["rows"], size["cols"], size["iters"]
        nr = ceil_div(rows, H)
        cr, ci = pixel_grid(rows, cols)
        # pipeline j takes image rows j, j + H, ...; rows past the image are computed and dropped
        ci_pad = np.zeros(nr * H, np.float32)
        ci_pad[:rows] = ci
        ci_pe = ci_pad.reshape(nr, H).T  # [j, r] = ci of image row r*H + j
        runner = open_runtime(build_layout(arch, W, H, cols, nr, iters).compile())
        h2d(runner, "cr", np.broadcast_to(cr, (H, W, cols)).copy(), 0, 0, W, H)
        h2d(runner, "ci", np.repeat(ci_pe[:, None, :], W, axis=1), 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        out = d2h(runner, "out", W - 1, 0, 1, H, nr * cols).reshape(H, nr, cols)
        timing = read_cycles(runner, W, H)
        runner.stop()
        img = out.transpose(1, 0, 2).reshape(nr * H, cols)[:rows].astype(np.int64)
        ref = mandelbrot_reference(cr, ci, iters)
        wrong = int((img != ref).sum())
        return Outcome(
            wrong == 0,
            float(np.abs(img - ref).max()),
            timing["cycles"],
            {"pixels_wrong": wrong, "inside": int((ref == iters).sum())},
        )


def _pipeline(
    W: int, nr: int, X: int, L: int, B: int, comp: list[int], clear: int, store: int
) -> int:
    """End time of the synchronous pipeline (see the module doc). Per stage k and item r:
    the receive starts when the stage is free and ends ``X`` cycles later, or ``X + L`` after
    the upstream send started, whichever is later; the send ends ``X`` after it started, or
    ``X - B`` after the downstream receive started (``B`` wavelets fit in the queues and
    buffers between two CEs), whichever is later."""
    free = [0] * W  # when stage k finished its previous item (send or store)
    prev_delta = None
    for r in range(nr):
        before = list(free)
        send_start = free[0] + clear + comp[0]
        for k in range(1, W):
            recv_start = free[k]
            recv_end = max(recv_start + X, send_start + X + L)
            free[k - 1] = max(send_start + X, recv_start + X - B)
            send_start = recv_end + comp[k]
        free[W - 1] = send_start + store
        delta = [a - b for a, b in zip(free, before, strict=True)]
        if delta == prev_delta:  # periodic from here on: every row shifts the state by delta
            return free[W - 1] + (nr - 1 - r) * delta[W - 1]
        prev_delta = delta
    return free[W - 1]
