"""``bandwidth-test``: host <-> device copy bandwidth (the SDK's bandwidth test, 5x5 PEs).

What runs. Every PE of the W x H grid owns ``n`` 32-bit words. The host

1. **streams** ``n`` words to every PE (``memcpy_h2d`` streaming on ``IN_COLOR``; the launched
   ``loopback`` receives them with one fabric-input op) and collects them back (``memcpy_d2h``
   streaming on ``OUT_COLOR``, the PE sends its buffer): the device-side cycles of this round
   trip are the kernel's ``cycles`` (PE timers around receive + send);
2. **copies** a second array in and out (``memcpy_h2d`` / ``memcpy_d2h`` copy mode into the
   exported ``buf``), and broadcasts one row and one column of it (``memcpy_h2d_rowbcast`` /
   ``_colbcast``), as the vendor's test does.

Every transfer is checked bit for bit. Host-side time is not simulated; it is modelled from
``arch.system``: ``host_time(words) = host_transaction_overhead_s + 32 words /
(runtime_host_channels * host_channel_bits_per_s)``, one transaction per memcpy. The kernel
reports both its own model and the runtime's ``handle.host_time_s`` (they must agree: part of
the check), and the bandwidths ``bytes / host_time`` of each direction in ``extras``.

Cost model (device cycles of the streamed round trip): the host injects one wavelet per cycle
into every PE's input queue and drains one per cycle from its output queue, so

    T = n + 1 + n          (receive n words, the first lands 1 cycle after the stream starts;
                            send n words)

FLOPs: none. Bytes: ``8 n W H`` (in and out); ``bytes_per_s`` is per device time (the fabric's
ingest rate); the host-side bandwidths are in ``extras``.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    Outcome,
    d2h,
    declare_timer,
    h2d,
    open_runtime,
    read_cycles,
    register,
    stamp,
)

IN_COLOR = 2
OUT_COLOR = 3


def loopback_program(c, *, n: int) -> None:
    c.array("buf", "u32", n, export=True)  # the copy-mode target
    sbuf = c.array("sbuf", "u32", n)
    ts = declare_timer(c)

    def loopback(pe):
        pe.unblock_cmd_stream()  # the host streams next
        stamp(pe, ts, 0)
        pe.mov32(mem1d_dsd(sbuf), fabin_dsd(IN_COLOR, n, "u32"))
        pe.mov32(fabout_dsd(OUT_COLOR, n, "u32"), mem1d_dsd(sbuf))
        stamp(pe, ts, 1)

    c.export(loopback)


def host_time(arch, words: int) -> float:
    """Modelled host-side seconds of one memcpy of ``words`` 32-bit words (``arch.system``)."""
    sysp = arch.system
    return sysp.host_transaction_overhead_s + 32.0 * words / (
        sysp.runtime_host_channels * sysp.host_channel_bits_per_s
    )


@register
class BandwidthTest(Kernel):
    name = "bandwidth-test"
    summary = "host <-> device copy and streaming bandwidth, row/column broadcast"
    size_names = ("n",)
    default_grid = (5, 5)
    default_size = {"n": 64}
    check = (
        "every word back bit for bit (stream, copy, row/column broadcast) and the "
        "runtime's host_time_s == the arch.system model"
    )

    def pe_memory_bytes(self, grid, size):
        return 8 * size["n"] + 16

    def bytes(self, grid, size):
        return 8.0 * size["n"] * grid[0] * grid[1]

    def model_cycles(self, arch, grid, size):
        n = size["n"]
        return 2 * n + 1

    def host_model(self, arch, grid, size) -> dict[str, float]:
        """The modelled host-side figures of one copy each way."""
        W, H = grid
        words = size["n"] * W * H
        t = host_time(arch, words)
        return {
            "host_time_h2d_s": t,
            "host_time_d2h_s": t,
            "h2d_bytes_per_s": 4.0 * words / t,
            "d2h_bytes_per_s": 4.0 * words / t,
        }

    def estimate(self, arch="wse2", grid=None, size=None):
        out = super().estimate(arch, grid, size)
        spec, g, s = self._args(arch, grid, size)
        out.update(self.host_model(spec, g, s))
        return out

    def simulate(self, arch, grid, size, seed):
        from ..runtime import MemcpyDataType, MemcpyOrder

        W, H = grid
        n = size["n"]
        rng = np.random.default_rng(seed)
        data = rng.integers(0, 1 << 32, (H, W, n), dtype=np.uint64).astype(np.uint32)
        lay = Layout(W, H, arch=arch, name=f"bandwidth_test_{W}x{H}_{n}")
        lay.set_region_code(0, 0, W, H, loopback_program, n=n)
        lay.color("h2d", IN_COLOR)
        lay.color("d2h", OUT_COLOR)
        runner = open_runtime(lay.compile())
        u32 = MemcpyDataType.MEMCPY_32BIT
        row = MemcpyOrder.ROW_MAJOR
        # 1. streamed round trip (device cycles)
        runner.launch("loopback", nonblock=False)
        h_in = runner.memcpy_h2d(
            runner.get_id("h2d"),
            data.reshape(-1),
            0,
            0,
            W,
            H,
            n,
            streaming=True,
            data_type=u32,
            order=row,
            nonblock=True,
        )
        back = np.zeros(W * H * n, np.uint32)
        h_out = runner.memcpy_d2h(
            back,
            runner.get_id("d2h"),
            0,
            0,
            W,
            H,
            n,
            streaming=True,
            data_type=u32,
            order=row,
            nonblock=False,
        )
        timing = read_cycles(runner, W, H)
        # 2. copy mode in and out, row and column broadcast
        copy = rng.integers(0, 1 << 32, (H, W, n), dtype=np.uint64).astype(np.uint32)
        c_in = h2d(runner, "buf", copy, 0, 0, W, H)
        copied = d2h(runner, "buf", 0, 0, W, H, n, np.uint32)
        c_out = runner.commands[-1]
        col = copy[:, :1, :].copy()  # one column: row j of the region gets col[j]
        runner.memcpy_h2d_rowbcast(
            runner.get_id("buf"),
            col.reshape(-1),
            0,
            0,
            W,
            H,
            n,
            streaming=False,
            data_type=u32,
            order=row,
            nonblock=False,
        )
        rowb = d2h(runner, "buf", 0, 0, W, H, n, np.uint32)
        line = copy[:1, :, :].copy()  # one row: column i of the region gets line[i]
        runner.memcpy_h2d_colbcast(
            runner.get_id("buf"),
            line.reshape(-1),
            0,
            0,
            W,
            H,
            n,
            streaming=False,
            data_type=u32,
            order=row,
            nonblock=False,
        )
        colb = d2h(runner, "buf", 0, 0, W, H, n, np.uint32)
        runner.stop()

        checks = {
            "stream_round_trip": np.array_equal(back.reshape(H, W, n), data),
            "copy_round_trip": np.array_equal(copied, copy),
            "row_broadcast": np.array_equal(rowb, np.broadcast_to(col, (H, W, n))),
            "column_broadcast": np.array_equal(colb, np.broadcast_to(line, (H, W, n))),
        }
        model = host_time(arch, W * H * n)
        handles = {"stream_h2d": h_in, "stream_d2h": h_out, "copy_h2d": c_in, "copy_d2h": c_out}
        times = {k: float(h.host_time_s) for k, h in handles.items()}
        agree = all(abs(t - model) <= 1e-12 * model for t in times.values())
        ok = all(checks.values()) and agree
        wrong = sum(not v for v in checks.values())
        extras = {
            **{f"ok_{k}": bool(v) for k, v in checks.items()},
            "host_time_model_s": model,
            **{f"host_time_{k}_s": v for k, v in times.items()},
            "h2d_bytes_per_s": 4.0 * W * H * n / times["copy_h2d"],
            "d2h_bytes_per_s": 4.0 * W * H * n / times["copy_d2h"],
            "stream_h2d_device_cycles": h_in.device_cycles,
            "stream_d2h_device_cycles": h_out.device_cycles,
        }
        return Outcome(ok, float(wrong), timing["cycles"], extras)
