"""Tutorial 6: memcpy streaming - x streams into a data task, y streams out of a fabout op.

Step 6 of the GEMV tutorial series (docs/programming.md). A and b are copied in as before
(copy mode), but x is *streamed*: the host sends it as wavelets on the color ``x_in``; every PE
of the 2x2 region binds a data task to that color which, for the j-th wavelet, does
``y += A[:, j] * x_j``. After the last one the task adds b and sends y to the host through a
fabric-output DSD on the color ``y_out``; the host collects it with a streaming
``memcpy_d2h``.

The host issues the streaming h2d with ``nonblock=True`` and then the blocking d2h, so both
streams are open at once: the device may start sending y while the host is still sending x
(tutorial 8 shows what happens otherwise).

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_06_memcpy_streaming.py
"""

from __future__ import annotations

import numpy as np

from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

W, H = 2, 2
Mb, N = 6, 16  # each PE: an Mb x N block of rows of A; A is (W * H * Mb) x N
X_IN, Y_OUT = 2, 3  # streaming colors


# -- device ---------------------------------------------------------------------------------------


def gemv_streamed(c, *, Mb: int, N: int):
    A = c.array("A", "f32", Mb * N, export=True)
    b = c.array("b", "f32", Mb, export=True)
    y = c.array("y", "f32", Mb, init=0.0)
    j = c.array("j", "u32", 1, init=0)  # how many x values arrived

    y_dsd = mem1d_dsd(y)

    def recv_x(pe, xj):
        k = int(pe[j][0])
        pe.fmacs(y_dsd, y_dsd, mem1d_dsd(A, Mb, offset=k, stride=N), xj)
        pe[j][0] = k + 1
        if k + 1 == N:
            pe.fadds(y_dsd, y_dsd, mem1d_dsd(b))
            pe.fmovs(fabout_dsd(Y_OUT, Mb), y_dsd)  # to the host, on color y_out

    c.bind_data_task(recv_x, X_IN, dtype="f32")


# -- layout ---------------------------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(W, H, arch="wse2", name="tutorial_06")
    lay.set_region_code(0, 0, W, H, gemv_streamed, Mb=Mb, N=N)
    lay.color("x_in", X_IN)  # host streams go straight to / from each PE's CE queues:
    lay.color("y_out", Y_OUT)  # no routes are needed for them
    return lay


# -- host -----------------------------------------------------------------------------------------


def main() -> dict:
    rng = np.random.default_rng(6)
    M = W * H * Mb
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)

    runner = SdkRuntime(layout().compile())
    x_in, y_out = runner.get_id("x_in"), runner.get_id("y_out")
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    runner.memcpy_h2d(runner.get_id("A"), A.ravel(), 0, 0, W, H, Mb * N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("b"), b, 0, 0, W, H, Mb,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)

    # x to every PE: streaming, non-blocking ...
    h2d = runner.memcpy_h2d(x_in, np.tile(x, W * H), 0, 0, W, H, N,
                            streaming=True, data_type=memcpy_dtype, order=row, nonblock=True)
    # ... while the host collects y, Mb wavelets from every PE.
    y = np.zeros(M, np.float32)
    d2h = runner.memcpy_d2h(y, y_out, 0, 0, W, H, Mb,
                            streaming=True, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)
    assert h2d.done and d2h.done
    print(f"{W}x{H} PEs; x streamed in ({N} wavelets per PE), y streamed out ({Mb} per PE)")
    print(f"h2d stream: cycles {h2d.start_cycle}..{h2d.end_cycle}; "
          f"d2h stream: cycles {d2h.start_cycle}..{d2h.end_cycle}")
    print(f"max |err| = {err:.3g}  (vendor tolerance atol=0.01)")
    print(f"modelled host time of the two streams: "
          f"{(h2d.host_time_s + d2h.host_time_s) * 1e6:.0f} us (per-transaction overhead "
          "dominates)")
    return {"max_abs_err": err, "h2d_cycles": h2d.device_cycles, "d2h_cycles": d2h.device_cycles}


if __name__ == "__main__":
    main()
