"""GEMV ``y = A x`` (f32) with ``A`` tiled over a W x H grid of PEs.

PE (i, j) (column i, row j) holds the ``(M/H) x (N/W)`` block ``A[j*mb:(j+1)*mb,
i*nb:(i+1)*nb]`` stored column-major, so the local product is ``nb`` memory ops
``fmacs(y, y, A[:, k], x[k])``. The x segments live in row 0 and are flooded down each column
(routers of rows 1.. multicast to RAMP and SOUTH); the partial ``y`` blocks are chain-reduced
along each row (alternating colors) into the last column, which ends up holding ``y``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd, mem_scalar

from ..kernels._patterns import chain_colors, chain_step, column_flood_routes, row_chain_routes
from ._common import TS, Check, Workload, load_region, read_region, stamp
from .collectives import COL_TASK, DONE_TASK, MAIN_TASK, ROW_COLORS

X_COLOR = 2


def gemv_program(
    c,
    *,
    mb: int,
    nb: int,
    x_role: str | None,
    row_in=None,
    row_out=None,
    static: bool = True,
) -> None:
    """One PE of the GEMV. Its tasks are static (``static=False``: plain Python tasks, the same
    cycles and results): the ``fmacs`` scalars are read from ``x`` when each op issues."""
    A = c.array("A", "f32", mb * nb, export=True)
    xs = c.array("x", "f32", nb, export=True)
    y = c.array("y", "f32", mb, export=True, init=0.0)
    ts = c.array(TS, "u32", 2, export=True)
    cols = [mem1d_dsd(A, mb, offset=k * mb) for k in range(nb)]
    ydsd = mem1d_dsd(y)

    def main(pe):
        stamp(pe, ts, 0)
        if x_role == "src":  # row 0: send the x segment down the column, overlapped with compute
            pe.fmovs(fabout_dsd(X_COLOR, nb), mem1d_dsd(xs), async_=True)
        elif x_role == "dst":  # the others: receive it first, then compute
            pe.fmovs(mem1d_dsd(xs), fabin_dsd(X_COLOR, nb), async_=True, activate=compute)
            return
        compute(pe)

    def compute(pe):
        for k in range(nb):
            pe.fmacs(ydsd, ydsd, cols[k], mem_scalar(xs, k))
        if not chain_step(pe, "fadds", ydsd, mb, row_in, row_out, async_=True, activate=done):
            done(pe)

    def done(pe):
        stamp(pe, ts, 1)

    c.bind_local_task(compute, COL_TASK, static=static)
    c.bind_local_task(done, DONE_TASK, static=static)
    c.bind_local_task(main, MAIN_TASK, static=static)
    c.activate(MAIN_TASK)


def gemv_reference_hw_order(A: np.ndarray, x: np.ndarray, W: int, H: int) -> np.ndarray:
    """``A x`` in float32 in the order the PEs compute it (unfused multiply-add per column,
    then the row chain from column 0 eastward)."""
    M, N = A.shape
    mb, nb = M // H, N // W
    A4 = A.reshape(H, mb, W, nb)
    xw = x.reshape(W, nb)
    part = np.zeros((H, W, mb), np.float32)
    for k in range(nb):
        part = part + A4[:, :, :, k].transpose(0, 2, 1) * xw[None, :, k, None]
    s = part[:, 0]
    for i in range(1, W):
        s = s + part[:, i]
    return s.reshape(M)


def gemv(
    M: int, N: int, W: int, H: int, *, arch: Any = "wse2", seed: int = 0, static: bool = True
) -> Workload:
    """``y = A x`` for an ``M`` x ``N`` f32 matrix over ``W`` x ``H`` PEs (``H`` divides ``M``,
    ``W`` divides ``N``). ``y`` lands in the last column; FLOPs counted as ``2 M N``."""
    if M % H or N % W:
        raise ValueError(f"gemv: H={H} must divide M={M} and W={W} must divide N={N}")
    mb, nb = M // H, N // W
    t0 = time.perf_counter()
    lay = Layout(W, H, arch=arch, name=f"gemv_{M}x{N}_on_{W}x{H}")
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
                static=static,
            )
    row_chain_routes(lay, W, H, ROW_COLORS)
    if H > 1:
        column_flood_routes(lay, W, H, X_COLOR)
    compiled = lay.compile()
    build_s = time.perf_counter() - t0

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    # per PE (row j, column i): its block, column-major
    blocks = A.reshape(H, mb, W, nb).transpose(0, 2, 3, 1).reshape(H, W, nb * mb)

    def load(eng: Engine) -> None:
        load_region(eng, "A", blocks)
        load_region(eng, "x", x.reshape(1, W, nb))

    def check(eng: Engine) -> Check:
        got = read_region(eng, "y", W - 1, 0, 1, H).reshape(M)
        ref = A @ x
        err = float(np.abs(got.astype(np.float64) - ref).max())
        ok = bool(np.allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max())))
        detail: dict[str, Any] = {"max_rel_err": err / float(np.abs(ref).max())}
        if not compiled.arch.numerics.fused_multiply_add:
            hw = gemv_reference_hw_order(A, x, W, H)
            detail["bit_exact"] = bool(np.array_equal(got.view(np.uint32), hw.view(np.uint32)))
        return Check(ok, err, detail)

    return Workload(
        lay.name,
        W,
        H,
        compiled,
        load,
        check,
        flops=2.0 * M * N,
        build_s=build_s,
        params={"M": M, "N": N, "W": W, "H": H},
    )
