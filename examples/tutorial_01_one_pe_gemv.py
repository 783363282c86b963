"""Tutorial 1: y = A x + b on one PE.

The first step of the GEMV tutorial series (docs/programming.md, step 1): one PE holds A, x and
b in its memory, an exported function computes y, and a host script in the style of the SDK's
``run.py`` copies the data in (memcpy copy mode), launches the function and copies y out.

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_01_one_pe_gemv.py
"""

from __future__ import annotations

import math

import numpy as np

from waferscale.program import Layout, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

M, N = 4, 6  # A is M x N


# -- device: the PE program (the CSL file) --------------------------------------------------------


def gemv(c, *, M: int, N: int):
    """One PE: ``y = A x + b`` with A stored row-major (A[i, j] at i*N + j)."""
    A = c.array("A", "f32", M * N, export=True)
    x = c.array("x", "f32", N, export=True)
    b = c.array("b", "f32", M, export=True)
    y = c.array("y", "f32", M, export=True)

    y_dsd = mem1d_dsd(y)  # the whole of y, M elements

    def compute(pe):
        pe.fmovs(y_dsd, mem1d_dsd(b))  # y = b
        for j in range(N):  # y += A[:, j] * x[j]: column j is M elements at stride N
            A_col = mem1d_dsd(A, M, offset=j, stride=N)
            pe.fmacs(y_dsd, y_dsd, A_col, pe[x][j])
        pe.unblock_cmd_stream()  # tell the host this function is done

    c.export(compute)


# -- layout (the layout file) ---------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(1, 1, arch="wse2", name="tutorial_01")
    lay.set_tile_code(0, 0, gemv, M=M, N=N)
    return lay


# -- host (run.py) --------------------------------------------------------------------------------


def main() -> dict:
    rng = np.random.default_rng(1)
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)

    runner = SdkRuntime(layout().compile())
    sym_A, sym_x, sym_b, sym_y = (runner.get_id(n) for n in ("A", "x", "b", "y"))
    runner.load()
    runner.run()

    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    runner.memcpy_h2d(sym_A, A.ravel(), 0, 0, 1, 1, M * N, streaming=False,
                      data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(sym_x, x, 0, 0, 1, 1, N, streaming=False,
                      data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(sym_b, b, 0, 0, 1, 1, M, streaming=False,
                      data_type=memcpy_dtype, order=row, nonblock=False)
    launch = runner.launch("compute", nonblock=False)

    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(y, sym_y, 0, 0, 1, 1, M, streaming=False,
                      data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)  # the vendor's GEMV check

    # Timing: the task starts (task_startup_cycles), then N + 1 memory ops of M elements, each
    # op_startup_cycles + ceil(M / simd_width_f32) cycles. Python statements cost nothing.
    arch = runner.arch
    per_op = arch.timing.op_startup_cycles + math.ceil(M / arch.pe.simd_width_f32)
    model = arch.timing.task_startup_cycles + (N + 1) * per_op
    assert launch.device_cycles == model, (launch.device_cycles, model)
    print(f"y          = {y}")
    print(f"numpy      = {expected}")
    print(f"max |err|  = {err:.3g}  (vendor tolerance atol=0.01)")
    print(f"launch took {launch.device_cycles} device cycles = task start-up "
          f"{arch.timing.task_startup_cycles} + (1 move + {N} fmacs) x {per_op} cycles "
          f"({M} f32 elements at SIMD width {arch.pe.simd_width_f32})")
    return {"max_abs_err": err, "launch_cycles": launch.device_cycles}


if __name__ == "__main__":
    main()
