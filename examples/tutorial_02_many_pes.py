"""Tutorial 2: the same GEMV over a w x h rectangle of PEs.

Step 2 of the GEMV tutorial series (docs/programming.md): the rows of A are split into
``w * h`` blocks of ``Mb`` rows; PE (i, j) gets block ``j * w + i``, every PE gets the whole of x,
and each PE computes its block of y = A x + b on its own (no communication yet).

Two things are new:

* the layout gives each tile its own compile-time params (``block=...``), in a loop, like a
  layout file's ``for`` loop around ``@set_tile_code(x, y, "pe.csl", .{ .block = ... })``;
* a PE can also ask where it is at run time (``pe.x``, ``pe.y``), like the SDK's
  ``layout_module`` coordinates.

One memcpy moves the data of every PE of the region: the host array is the (h, w, elems)
tensor in row-major order, so a row-major A, cut into blocks of consecutive rows, is already in
the right order.

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_02_many_pes.py
"""

from __future__ import annotations

import numpy as np

from waferscale.program import Layout, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

W, H = 3, 2  # the program rectangle: W columns (x) by H rows (y)
Mb, N = 4, 5  # each PE holds an Mb x N block of A; A is (W * H * Mb) x N


# -- device ---------------------------------------------------------------------------------------


def gemv_block(c, *, Mb: int, N: int, block: int):
    """One PE: ``y = A x + b`` for its Mb x N block of rows; records where it is."""
    A = c.array("A", "f32", Mb * N, export=True)
    x = c.array("x", "f32", N, export=True)
    b = c.array("b", "f32", Mb, export=True)
    y = c.array("y", "f32", Mb, export=True)
    where = c.array("where", "u32", 3, export=True)  # (pe.x, pe.y, block)

    y_dsd = mem1d_dsd(y)

    def compute(pe):
        pe[where][:] = (pe.x, pe.y, block)  # `block` is this tile's compile-time param
        pe.fmovs(y_dsd, mem1d_dsd(b))
        for j in range(N):
            pe.fmacs(y_dsd, y_dsd, mem1d_dsd(A, Mb, offset=j, stride=N), pe[x][j])
        pe.unblock_cmd_stream()

    c.export(compute)


# -- layout ---------------------------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(W, H, arch="wse2", name="tutorial_02")
    for py in range(H):
        for px in range(W):
            lay.set_tile_code(px, py, gemv_block, Mb=Mb, N=N, block=py * W + px)
    return lay


# -- host -----------------------------------------------------------------------------------------


def main() -> dict:
    rng = np.random.default_rng(2)
    M = W * H * Mb
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)

    compiled = layout().compile()
    runner = SdkRuntime(compiled)
    runner.load()
    runner.run()

    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    # A: the (H, W, Mb*N) tensor; block r = j*W + i is rows r*Mb..r*Mb+Mb-1 of A.
    runner.memcpy_h2d(runner.get_id("A"), A.ravel(), 0, 0, W, H, Mb * N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    # x: the same N values on every PE. A row broadcast sends one entry per row of PEs
    # (the (H, 1, N) tensor) and replicates it along the row: H copies of x instead of W*H.
    runner.memcpy_h2d_rowbcast(runner.get_id("x"), np.tile(x, H), 0, 0, W, H, N,
                               streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("b"), b, 0, 0, W, H, Mb,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.launch("compute", nonblock=False)

    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), 0, 0, W, H, Mb,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    where = np.zeros(W * H * 3, np.uint32)
    runner.memcpy_d2h(where, runner.get_id("where"), 0, 0, W, H, 3,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)

    where = where.reshape(H, W, 3)
    for py in range(H):
        for px in range(W):
            assert tuple(where[py, px]) == (px, py, py * W + px), where[py, px]

    print(f"{W}x{H} PEs, A is {M}x{N}: each PE computes {Mb} rows of y")
    print(f"programs built: {len(compiled.codes)} (one per distinct param set)")
    print("what each PE recorded as (pe.x, pe.y, block):")
    for py in range(H):
        print("   " + "  ".join(str(tuple(int(v) for v in where[py, px])) for px in range(W)))
    print(f"max |err| = {err:.3g}  (vendor tolerance atol=0.01)")
    return {"max_abs_err": err, "pes": W * H, "programs": len(compiled.codes)}


if __name__ == "__main__":
    main()
