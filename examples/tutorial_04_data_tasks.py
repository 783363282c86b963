"""Tutorial 4: streaming wavelets into a data task - 16-bit values with an index.

Step 4 of the GEMV tutorial series (docs/programming.md). x is sparse: only ``nnz`` of its N
entries are non-zero. PE 0 sends them east as wavelets, one per entry, each carrying an f16
value in its low 16 bits and the entry's index j in its high 16 bits. PE 1 holds A and b and
binds a *data task* to the color: the task runs once per arriving wavelet, receives
``(value, index)`` and does ``y += A[:, index] * value``. After the last wavelet it adds b and
signals the host.

Also shown:

* a data task that starts *blocked* (``c.block``) and is unblocked by the launched function:
  wavelets that arrive earlier wait in the PE's input queue;
* the completion signal ``pe.unblock_cmd_stream()`` given by a later task than the launched
  function (here: the data task, on its last wavelet).

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_04_data_tasks.py
"""

from __future__ import annotations

import math

import numpy as np

from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

M, N = 8, 64  # A is M x N
NNZ = 10  # non-zeros of x
X_COLOR = 4  # the color of the (value, index) wavelets


# -- device ---------------------------------------------------------------------------------------


def sender(c, *, nnz: int):
    """PE 0: sends ``nnz`` packed (index << 16 | f16 bits) words east."""
    packed = c.array("packed", "u32", nnz, export=True)

    def compute(pe):
        pe.mov32(fabout_dsd(X_COLOR, nnz, "u32"), mem1d_dsd(packed))
        pe.unblock_cmd_stream()

    c.export(compute)


def receiver(c, *, M: int, N: int, nnz: int):
    """PE 1: a data task on X_COLOR accumulates y += A[:, j] * x_j for each (x_j, j)."""
    A = c.array("A", "f32", M * N, export=True)  # row-major
    b = c.array("b", "f32", M, export=True)
    y = c.array("y", "f32", M, export=True, init=0.0)
    seen = c.array("seen", "u32", 1, export=True, init=0)

    y_dsd = mem1d_dsd(y)

    def recv_x(pe, value, index):
        # value: the low 16 bits as f16 (a Python float); index: the high 16 bits (an int)
        pe.fmacs(y_dsd, y_dsd, mem1d_dsd(A, M, offset=index, stride=N), value)
        pe[seen][0] += 1
        if pe[seen][0] == nnz:  # the last one: y += b, and tell the host we are done
            pe.fadds(y_dsd, y_dsd, mem1d_dsd(b))
            pe.unblock_cmd_stream()

    c.bind_data_task(recv_x, X_COLOR, dtype="f16", with_index=True)
    c.block(X_COLOR)  # blocked until the host launches compute (WSE-2: data task id = color)

    def compute(pe):
        pe.unblock(recv_x)  # no unblock_cmd_stream here: recv_x gives it

    c.export(compute)


# -- layout ---------------------------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(2, 1, arch="wse2", name="tutorial_04")
    lay.color("x_sparse", X_COLOR)
    lay.set_tile_code(0, 0, sender, nnz=NNZ)
    lay.set_tile_code(1, 0, receiver, M=M, N=N, nnz=NNZ)
    lay.set_route(0, 0, X_COLOR, rx=["RAMP"], tx=["EAST"])
    lay.set_route(1, 0, X_COLOR, rx=["WEST"], tx=["RAMP"])
    return lay


# -- host -----------------------------------------------------------------------------------------


def pack_value_index(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """16-bit data on the fabric: value in the low half, index in the high half."""
    lo = values.astype(np.float16).view(np.uint16).astype(np.uint32)
    return (indices.astype(np.uint32) << 16) | lo


def main() -> dict:
    rng = np.random.default_rng(4)
    A = rng.standard_normal((M, N)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    idx = np.sort(rng.choice(N, NNZ, replace=False))
    vals = rng.standard_normal(NNZ).astype(np.float16)  # x travels as f16
    x = np.zeros(N, np.float32)
    x[idx] = vals

    runner = SdkRuntime(layout().compile())
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    runner.memcpy_h2d(runner.get_id("packed"), pack_value_index(vals, idx), 0, 0, 1, 1, NNZ,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("A"), A.ravel(), 1, 0, 1, 1, M * N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("b"), b, 1, 0, 1, 1, M,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    launch = runner.launch("compute", nonblock=False)

    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), 1, 0, 1, 1, M,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    seen = np.zeros(1, np.uint32)
    runner.memcpy_d2h(seen, runner.get_id("seen"), 1, 0, 1, 1, 1,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)
    assert int(seen[0]) == NNZ, seen

    # Timing: the first wavelet reaches PE 1's input queue after the sender's task start-up,
    # one cycle in the move, a ramp up, a hop and a ramp down. From then on the data task is
    # the bottleneck: per wavelet a task start-up plus one fmacs of M elements; then the add
    # of b.
    arch = runner.arch
    t = arch.timing
    per_op = t.op_startup_cycles + math.ceil(M / arch.pe.simd_width_f32)
    first = t.task_startup_cycles + 1 + 2 * t.ramp_latency_cycles + t.hop_latency_cycles
    model = first + NNZ * (t.task_startup_cycles + per_op) + per_op
    assert launch.device_cycles == model, (launch.device_cycles, model)

    print(f"x has {NNZ} non-zeros out of {N}; first wavelets (hex: index | f16 value):")
    for w in pack_value_index(vals, idx)[:3]:
        print(f"   0x{int(w):08x}  -> index {int(w) >> 16:2d}, value "
              f"{float(np.uint16(w & 0xFFFF).view(np.float16)):+.4f}")
    print(f"data task ran {int(seen[0])} times")
    print(f"max |err| = {err:.3g}  (vendor tolerance atol=0.01)")
    print(f"launch to last wavelet processed: {launch.device_cycles} cycles = {first} to the "
          f"first arrival + {NNZ} x {t.task_startup_cycles + per_op} per data task + "
          f"{per_op} for y += b")
    return {"max_abs_err": err, "wavelets": int(seen[0]), "cycles": launch.device_cycles}


if __name__ == "__main__":
    main()
