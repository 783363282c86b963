"""``stencil-7pt-spmv``: y = A x for a 7-point stencil matrix on an nx x ny x nz grid, one
z-column per PE (the SDK's 7-point stencil SpMV example, 5x5 PEs).

Mapping. The PE grid is nx x ny (W x H); PE (i, j) holds the column ``x[i, j, 0:nz]`` and the
seven coefficient vectors of its rows of A (``coef``: center, east, west, south, north, up
(z+1), down (z-1); ``7 * nz`` f32), so

    y[z] = c0 x[z] + cE x_E[z] + cW x_W[z] + cS x_S[z] + cN x_N[z] + cU x[z+1] + cD x[z-1]

with zero (Dirichlet) terms where a neighbour does not exist. The launched ``compute`` starts
one asynchronous send of x toward each neighbour and one asynchronous receive from each neighbour
into a halo buffer (``exchange_*`` colors of ``_patterns``: a color per direction and sender
parity, 8 in all; 2 microthreads per neighbour), then computes the local part ``c0 x`` and the
z terms while the halos arrive. The completion task of the last receive adds the four halo terms
(``fmuls`` + ``fadds`` each) and stops the timer.

Cost model (cycles), ``d`` = neighbours of the slowest PE (4 inside, fewer at the edges),
``v(n) = op_startup + ceil(n / simd_f32)``:

    local    = 2 d + v(nz) + 4 v(nz - 1)        (issuing 2d async ops, 1 cycle each; c0 x;
                                                 the two z terms)
    exchange = d * nz + 2*ramp + hop + 1        (every PE pushes d*nz wavelets through its
                                                 single up ramp; the neighbours' streams
                                                 share its down ramp)
    T = max(local + d * task_startup, exchange + task_startup) + 2 d v(nz)

(the d receive-completion tasks run once each; the last adds the halo terms). Exact when the local
part dominates (nz of about 6 and more), within 5 % when the exchange does.

FLOPs: 13 per point (7 multiplies, 6 adds; fewer at the boundary not discounted) x nx ny nz;
bytes: the f32 words of x, y and the 7 coefficient vectors, 4 * 9 nx ny nz.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    ASYNC_ISSUE_CYCLES,
    Kernel,
    Outcome,
    allclose_check,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)
from ._patterns import exchange_plan, exchange_routes

COEFS = ("center", "east", "west", "south", "north", "up", "down")
HALO_INDEX = {"east": 1, "west": 2, "south": 3, "north": 4}
RECV_TASKS = {"east": 24, "west": 25, "south": 26, "north": 27}
SEND_THREAD = {"east": 0, "west": 1, "south": 2, "north": 3}
RECV_THREAD = {"east": 4, "west": 5, "south": 6, "north": 7}


def stencil_program(c, *, nz: int, plan: tuple) -> None:
    """``plan``: ``(direction, send color, receive color)`` per neighbour (``exchange_plan``)."""
    x = c.array("x", "f32", nz, export=True)
    y = c.array("y", "f32", nz, export=True)
    coef = c.array("coef", "f32", 7 * nz, export=True)
    tmp = c.array("tmp", "f32", nz)
    pending = c.array("pending", "u32", 1)
    ts = declare_timer(c)
    halos = {d: c.array(f"halo_{d}", "f32", nz) for d, _s, _r in plan}

    def cf(k, n=nz, offset=0):
        return mem1d_dsd(coef, n, offset=k * nz + offset)

    def finish(pe):
        yd, td = mem1d_dsd(y), mem1d_dsd(tmp)
        for d, _s, _r in plan:
            pe.fmuls(td, cf(HALO_INDEX[d]), mem1d_dsd(halos[d]))
            pe.fadds(yd, yd, td)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    def compute(pe):
        stamp(pe, ts, 0)
        pe[pending][0] = len(plan)
        for d, send, recv in plan:
            pe.fmovs(fabout_dsd(send, nz), mem1d_dsd(x), async_=True, microthread=SEND_THREAD[d])
            pe.fmovs(
                mem1d_dsd(halos[d]),
                fabin_dsd(recv, nz),
                async_=True,
                microthread=RECV_THREAD[d],
                activate=RECV_TASKS[d],
            )
        yd = mem1d_dsd(y)
        pe.fmuls(yd, cf(0), mem1d_dsd(x))
        if nz > 1:
            t1 = mem1d_dsd(tmp, nz - 1)
            y_lo, y_hi = mem1d_dsd(y, nz - 1), mem1d_dsd(y, nz - 1, offset=1)
            x_lo, x_hi = mem1d_dsd(x, nz - 1), mem1d_dsd(x, nz - 1, offset=1)
            pe.fmuls(t1, cf(5, nz - 1), x_hi)  # up: y[z] += cU[z] x[z+1]
            pe.fadds(y_lo, y_lo, t1)
            pe.fmuls(t1, cf(6, nz - 1, 1), x_lo)  # down: y[z] += cD[z] x[z-1]
            pe.fadds(y_hi, y_hi, t1)
        if not plan:
            finish(pe)

    def received(pe):
        left = int(pe[pending][0]) - 1
        pe[pending][0] = left
        if left == 0:
            finish(pe)

    for d, _s, _r in plan:
        c.bind_local_task(_named(received, d), RECV_TASKS[d])
    c.export(compute)


def _named(fn, d):
    def task(pe):
        fn(pe)

    task.__name__ = f"received_{d}"
    return task


def build_layout(arch, W: int, H: int, nz: int) -> Layout:
    lay = Layout(W, H, arch=arch, name=f"stencil_7pt_{W}x{H}x{nz}")
    for j in range(H):
        for i in range(W):
            lay.set_tile_code(i, j, stencil_program, nz=nz, plan=exchange_plan(i, j, W, H))
    exchange_routes(lay, W, H)
    return lay


def stencil_reference(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """y = A x in float64. ``x``: (ny, nx, nz); ``coef``: (ny, nx, 7, nz) in COEFS order."""
    x = x.astype(np.float64)
    c = coef.astype(np.float64)
    y = c[:, :, 0] * x
    y[:, :-1] += c[:, :-1, 1] * x[:, 1:]  # east neighbour: x + 1
    y[:, 1:] += c[:, 1:, 2] * x[:, :-1]  # west
    y[:-1] += c[:-1, :, 3] * x[1:]  # south: y + 1
    y[1:] += c[1:, :, 4] * x[:-1]  # north
    y[:, :, :-1] += c[:, :, 5, :-1] * x[:, :, 1:]  # up: z + 1
    y[:, :, 1:] += c[:, :, 6, 1:] * x[:, :, :-1]  # down
    return y


def _max_neighbours(W: int, H: int) -> int:
    return min(W - 1, 2) + min(H - 1, 2)


@register
class Stencil7pt(Kernel):
    name = "stencil-7pt-spmv"
    summary = "y = A x, A a 7-point stencil; a z-column per PE, halos over N/S/E/W"
    size_names = ("nz",)
    default_grid = (5, 5)
    default_size = {"nz": 16}
    check = "allclose(y, A x [f64], rtol=1e-5, atol=1e-5*max|y|)"

    def pe_memory_bytes(self, grid, size):
        # x, y, tmp, 7 coefficient vectors, up to 4 halos; pending; timer
        return 4 * (14 * size["nz"] + 1) + 16

    def flops(self, grid, size):
        return 13.0 * grid[0] * grid[1] * size["nz"]

    def bytes(self, grid, size):
        return 4.0 * 9 * grid[0] * grid[1] * size["nz"]

    def model_cycles(self, arch, grid, size):
        W, H = grid
        nz = size["nz"]
        t = arch.timing
        d = _max_neighbours(W, H)
        v = vector_cycles(arch, nz, "f32")
        local = (
            2 * d * ASYNC_ISSUE_CYCLES
            + v
            + (4 * vector_cycles(arch, nz - 1, "f32") if nz > 1 else 0)
        )
        if d == 0:
            return local
        ts = t.task_startup_cycles
        exchange = d * nz + 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
        # the d receive-completion tasks run after the local part (the last one finishes)
        return max(local + d * ts, exchange + ts) + 2 * d * v

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        nz = size["nz"]
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, (H, W, nz)).astype(np.float32)
        coef = rng.uniform(-1, 1, (H, W, 7, nz)).astype(np.float32)
        coef[:, :, 0] += 6.0  # diagonally dominant, like a discrete Laplacian
        runner = open_runtime(build_layout(arch, W, H, nz).compile())
        h2d(runner, "x", x, 0, 0, W, H)
        h2d(runner, "coef", coef, 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        y = d2h(runner, "y", 0, 0, W, H, nz)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = stencil_reference(x, coef)
        ok, err = allclose_check(y, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
        return Outcome(ok, err, timing["cycles"], {"neighbours": _max_neighbours(W, H)})
