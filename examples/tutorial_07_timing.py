"""Tutorial 7: timing a kernel the way the SDK's examples do.

Step 7 of the tutorial series (docs/programming.md). Every PE reads its 48-bit cycle counter
(``pe.timestamp()``, the SDK's ``time`` module) when its work starts and when it ends, and
stores each stamp as three 16-bit words, as the vendor's examples do. The host copies the stamps
out (a 16-bit memcpy), rebuilds the 48-bit values and reports

    cycles = max(end) - min(start)  over all PEs,   time = cycles / arch.clock_hz.

The kernel is a 2D GEMV on a W x H rectangle: PE (i, j) holds the block (j, i) of A and the
piece i of x, computes its partial product, and each row sums its partials with the chain of
tutorial 3, toward the last column (which ends with the rows of y). Because every PE does the
same local work and starts at the same cycle, the cycle count has a closed form:

    Nb * ceil(Mb / simd_f32)      local fmacs (Nb columns of Mb elements)
  + Mb + 6 (W - 1)                the chain along a row (tutorial 3)

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_07_timing.py
"""

from __future__ import annotations

import math

import numpy as np

from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

W, H = 4, 3
Mb, Nb = 16, 8  # block of A per PE; A is (H * Mb) x (W * Nb)
COLORS = (1, 2)


# -- device ---------------------------------------------------------------------------------------


def gemv_2d(c, *, Mb: int, Nb: int, recv_color, send_color):
    A = c.array("A", "f32", Mb * Nb, export=True)  # the block, row-major
    x = c.array("x", "f32", Nb, export=True)
    y = c.array("y", "f32", Mb, export=True, init=0.0)
    ts = c.array("ts", "u16", 6, export=True)  # start and end: three 16-bit words each

    y_dsd = mem1d_dsd(y)

    def stamp(pe, at: int):
        t = pe.timestamp()
        pe[ts][at : at + 3] = (t & 0xFFFF, (t >> 16) & 0xFFFF, (t >> 32) & 0xFFFF)

    def compute(pe):
        stamp(pe, 0)
        for j in range(Nb):
            pe.fmacs(y_dsd, y_dsd, mem1d_dsd(A, Mb, offset=j, stride=Nb), pe[x][j])
        if recv_color is None:
            pe.fmovs(fabout_dsd(send_color, Mb), y_dsd)
        elif send_color is None:
            pe.fadds(y_dsd, fabin_dsd(recv_color, Mb), y_dsd)
        else:
            pe.fadds(fabout_dsd(send_color, Mb), fabin_dsd(recv_color, Mb), y_dsd)
        stamp(pe, 3)
        pe.unblock_cmd_stream()

    c.export(compute)


# -- layout ---------------------------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(W, H, arch="wse2", name="tutorial_07")
    for px in range(W):
        send = COLORS[px % 2] if px < W - 1 else None
        recv = COLORS[(px - 1) % 2] if px > 0 else None
        # one program per column, the same on every row: set_region_code over the column
        lay.set_region_code(px, 0, 1, H, gemv_2d, Mb=Mb, Nb=Nb, recv_color=recv,
                            send_color=send)
        if send is not None:
            lay.set_region_route(px, 0, 1, H, send, rx="RAMP", tx="EAST")
        if recv is not None:
            lay.set_region_route(px, 0, 1, H, recv, rx="WEST", tx="RAMP")
    return lay


# -- host -----------------------------------------------------------------------------------------


def make_u48(words: np.ndarray) -> np.ndarray:
    """Three 16-bit words (low first) -> one 48-bit value, along the last axis."""
    w = words.astype(np.int64)
    return w[..., 0] | (w[..., 1] << 16) | (w[..., 2] << 32)


def main() -> dict:
    rng = np.random.default_rng(7)
    M, N = H * Mb, W * Nb
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)

    runner = SdkRuntime(layout().compile())
    runner.load()
    runner.run()
    arch = runner.arch
    f32, u16 = MemcpyDataType.MEMCPY_32BIT, MemcpyDataType.MEMCPY_16BIT
    row = MemcpyOrder.ROW_MAJOR

    # PE (i, j) gets block (j, i) of A: the (H, W, Mb*Nb) tensor.
    A_blocks = A.reshape(H, Mb, W, Nb).transpose(0, 2, 1, 3).ravel()
    runner.memcpy_h2d(runner.get_id("A"), A_blocks, 0, 0, W, H, Mb * Nb,
                      streaming=False, data_type=f32, order=row, nonblock=False)
    # x piece i to every PE of column i: a column broadcast (one row of data, replicated down).
    runner.memcpy_h2d_colbcast(runner.get_id("x"), x, 0, 0, W, H, Nb,
                               streaming=False, data_type=f32, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("y"), b, 0, 0, 1, H, Mb,  # b into column 0's y
                      streaming=False, data_type=f32, order=row, nonblock=False)
    launch = runner.launch("compute", nonblock=False)

    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), W - 1, 0, 1, H, Mb,
                      streaming=False, data_type=f32, order=row, nonblock=False)
    ts_words = np.zeros(W * H * 6, np.uint32)  # 16-bit values travel one per 32-bit word
    runner.memcpy_d2h(ts_words, runner.get_id("ts"), 0, 0, W, H, 6,
                      streaming=False, data_type=u16, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)

    ts = ts_words.reshape(H, W, 2, 3)
    start, end = make_u48(ts[:, :, 0]), make_u48(ts[:, :, 1])
    cycles = int(end.max() - start.min())
    seconds = cycles / arch.clock_hz  # = arch.cycles_to_seconds(cycles)
    t = arch.timing
    local = Nb * (t.op_startup_cycles + math.ceil(Mb / arch.pe.simd_width_f32))
    chain = Mb + (2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1) * (W - 1)
    model = local + chain
    assert cycles == model, (cycles, model)
    # the launch command ends when the last PE signals; it also counts the task's start-up
    assert launch.device_cycles == cycles + t.task_startup_cycles, launch.device_cycles

    flops = 2 * M * N
    print(f"GEMV {M}x{N} on {W}x{H} PEs; max |err| = {err:.3g}")
    print("end - start per PE (cycles):")
    for j in range(H):
        print("   " + " ".join(f"{int(end[j, i] - start[j, i]):4d}" for i in range(W)))
    print(f"cycles = max(end) - min(start) = {cycles}  (model: {local} local + {chain} chain "
          f"= {model})")
    print(f"time   = {cycles} / {arch.clock_hz / 1e6:.0f} MHz = {seconds * 1e6:.3f} us "
          f"-> {flops / seconds / 1e9:.2f} GFLOP/s on {W * H} PEs")
    print(f"the launch command itself: {launch.device_cycles} cycles "
          f"(adds the task start-up of {t.task_startup_cycles})")
    return {"max_abs_err": err, "cycles": cycles, "model_cycles": model, "seconds": seconds}


if __name__ == "__main__":
    main()
