"""``single-tile-matvec``: every PE computes its own y = A x with an N x N f32 matrix (the SDK's
single-tile matvec example: the wafer used as a memory-bandwidth machine).

Mapping. Every PE of the W x H grid holds its own A (column-major, ``N*N`` words), x and y; no
wavelet crosses the fabric. The host copies a different random A and x into each PE; the
launched ``compute`` runs ``iters`` times ``y = 0; y += A[:, k] * x[k] for k < N`` and stamps
its timer around the loop.

Cost model: every PE runs the same ops, so

    T = iters * (1 + N) * (op_startup + ceil(N / simd_f32))

(one ``fmovs`` to clear y and N ``fmacs`` per iteration), independent of the grid: the full
wafer takes as long as one PE. FLOPs: ``2 N^2`` per PE per iteration. Bytes: the memory traffic
of the vector ops, ``4 * (3 N^2 + N)`` per PE per iteration (each ``fmacs`` element reads y and A
and writes y; the clear writes y) - the SDK example's "memory bandwidth" figure.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, mem1d_dsd
from ._base import (
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


def matvec_program(c, *, N: int, iters: int) -> None:
    A = c.array("A", "f32", N * N, export=True)
    x = c.array("x", "f32", N, export=True)
    y = c.array("y", "f32", N, export=True)
    ts = declare_timer(c)
    cols = [mem1d_dsd(A, N, offset=k * N) for k in range(N)]
    ydsd = mem1d_dsd(y)

    def compute(pe):
        xv = pe[x].tolist()
        stamp(pe, ts, 0)
        for _ in range(iters):
            pe.fmovs(ydsd, 0.0)
            for k in range(N):
                pe.fmacs(ydsd, ydsd, cols[k], xv[k])
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(compute)


@register
class SingleTileMatvec(Kernel):
    name = "single-tile-matvec"
    summary = "every PE its own N x N f32 y = A x (the wafer as a memory-bandwidth machine)"
    size_names = ("N", "iters")
    default_grid = (4, 4)
    default_size = {"N": 16, "iters": 1}
    check = "allclose(y, A x [f64], rtol=1e-5, atol=1e-5*max|y|) on every PE"

    def pe_memory_bytes(self, grid, size):
        return 4 * (size["N"] ** 2 + 2 * size["N"]) + 16

    def flops(self, grid, size):
        return 2.0 * size["N"] ** 2 * grid[0] * grid[1] * size["iters"]

    def bytes(self, grid, size):
        N = size["N"]
        return 4.0 * (3 * N * N + N) * grid[0] * grid[1] * size["iters"]

    def model_cycles(self, arch, grid, size):
        N = size["N"]
        return size["iters"] * (1 + N) * vector_cycles(arch, N, "f32")

    def simulate(self, arch, grid, size, seed):
        W, H = grid
        N, iters = size["N"], size["iters"]
        rng = np.random.default_rng(seed)
        A = rng.uniform(-1, 1, (H, W, N, N)).astype(np.float32)
        x = rng.uniform(-1, 1, (H, W, N)).astype(np.float32)
        lay = Layout(W, H, arch=arch, name=f"single_tile_matvec_{N}")
        lay.set_region_code(0, 0, W, H, matvec_program, N=N, iters=iters)
        runner = open_runtime(lay.compile())
        h2d(runner, "A", A.transpose(0, 1, 3, 2), 0, 0, W, H)  # column-major per PE
        h2d(runner, "x", x, 0, 0, W, H)
        runner.launch("compute", nonblock=False)
        y = d2h(runner, "y", 0, 0, W, H, N)
        timing = read_cycles(runner, W, H)
        runner.stop()
        ref = np.einsum("hwij,hwj->hwi", A.astype(np.float64), x.astype(np.float64))
        ok, err = allclose_check(y, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
        return Outcome(ok, err, timing["cycles"], {"pes": W * H})
