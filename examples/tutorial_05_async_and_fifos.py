"""Tutorial 5: asynchronous ops (``async_=True, activate=...``) and a FIFO between microthreads.

Step 5 of the tutorial series (docs/programming.md). Three PEs in a row form a pipeline:

    PE 0 (producer)  --color 5-->  PE 1 (relay)  --color 6-->  PE 2 (consumer)

* PE 0 sends its vector with an *async* move; the launched function returns at once and the
  op's completion activates the task ``done``, which signals the host.
* PE 1 runs two async ops at the same time, on two microthreads: one moves wavelets from the
  fabric into a FIFO, the other pops the FIFO, computes ``1 + 2 v`` and sends the result east.
  The FIFO (a circular buffer of 8 elements) decouples them: the vector (64 elements) is much
  longer than the FIFO.
* PE 2 adds the incoming vector into y (async) and, when the op completes, ``done`` signals.

Each completion task writes the cycle at which it ran into ``log``, so the host can see the
order of events.

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_05_async_and_fifos.py
"""

from __future__ import annotations

import numpy as np

from waferscale.program import Layout, fabin_dsd, fabout_dsd, fifo_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

N = 64  # elements streamed through the pipeline
FIFO_LEN = 8
C_IN, C_OUT = 5, 6  # PE 0 -> PE 1 and PE 1 -> PE 2
DONE, FILLED = 10, 11  # local task ids


# -- device ---------------------------------------------------------------------------------------


def producer(c, *, n: int):
    src = c.array("src", "f32", n, export=True)
    log = c.array("log", "u32", 2, export=True)

    def done(pe):
        log_ = pe[log]
        log_[1] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.bind_local_task(done, DONE)

    def compute(pe):
        pe[log][0] = pe.timestamp()
        pe.fmovs(fabout_dsd(C_IN, n), mem1d_dsd(src), async_=True, activate=done)
        # returns at once: the op runs on a microthread

    c.export(compute)


def relay(c, *, n: int, fifo_len: int):
    buf = c.array("fifo_buf", "f32", fifo_len)
    fifo = c.fifo(buf)  # the SDK's @allocate_fifo(fifo_buf)
    log = c.array("log", "u32", 3, export=True)

    def filled(pe):  # the fabric -> FIFO op is done
        pe[log][1] = pe.timestamp()

    def done(pe):  # the FIFO -> fabric op is done: all n elements went east
        pe[log][2] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.bind_local_task(filled, FILLED)
    c.bind_local_task(done, DONE)

    def compute(pe):
        pe[log][0] = pe.timestamp()
        # microthread A: fabric in -> FIFO (push)
        pe.fmovs(fifo_dsd(fifo, n), fabin_dsd(C_IN, n), async_=True, activate=filled)
        # microthread B: FIFO (pop) -> 1 + 2*v -> fabric out
        pe.fmacs(fabout_dsd(C_OUT, n), 1.0, fifo_dsd(fifo, n), 2.0, async_=True, activate=done)

    c.export(compute)


def consumer(c, *, n: int):
    y = c.array("y", "f32", n, export=True, init=0.0)
    log = c.array("log", "u32", 2, export=True)

    def done(pe):
        pe[log][1] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.bind_local_task(done, DONE)

    def compute(pe):
        pe[log][0] = pe.timestamp()
        pe.fadds(mem1d_dsd(y), mem1d_dsd(y), fabin_dsd(C_OUT, n), async_=True, activate=done)

    c.export(compute)


# -- layout ---------------------------------------------------------------------------------------


def layout() -> Layout:
    lay = Layout(3, 1, arch="wse2", name="tutorial_05")
    lay.set_tile_code(0, 0, producer, n=N)
    lay.set_tile_code(1, 0, relay, n=N, fifo_len=FIFO_LEN)
    lay.set_tile_code(2, 0, consumer, n=N)
    lay.set_route(0, 0, C_IN, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, C_IN, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, C_OUT, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, C_OUT, rx="WEST", tx="RAMP")
    return lay


# -- host -----------------------------------------------------------------------------------------


def main() -> dict:
    rng = np.random.default_rng(5)
    src = rng.standard_normal(N).astype(np.float32)
    y0 = rng.standard_normal(N).astype(np.float32)

    runner = SdkRuntime(layout().compile())
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    runner.memcpy_h2d(runner.get_id("src"), src, 0, 0, 1, 1, N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("y"), y0, 2, 0, 1, 1, N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    launch = runner.launch("compute", nonblock=False)

    y = np.zeros(N, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), 2, 0, 1, 1, N,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    logs = {name: runner.read_symbol(px, 0, "log")
            for px, name in ((0, "producer"), (1, "relay"), (2, "consumer"))}
    runner.stop()

    expected = y0 + (np.float32(1) + src * np.float32(2))  # the same f32 roundings
    err = float(np.abs(y - expected).max())
    np.testing.assert_array_equal(y, expected)  # exact: same operations, same order

    start = int(logs["producer"][0])
    t_prod = int(logs["producer"][1]) - start
    t_filled = int(logs["relay"][1]) - start
    t_relay = int(logs["relay"][2]) - start
    t_cons = int(logs["consumer"][1]) - start
    # The ops overlap: the producer's send takes N cycles, and each later stage ends only one
    # pipeline stage after the previous one (ramp down, the op, ramp up, a hop: 6 cycles on
    # WSE-2), not N cycles later - like a stage of tutorial 3's chain. The FIFO adds one cycle:
    # an element pushed at cycle t can be popped by the other microthread at t + 1, so the
    # relay's FIFO -> fabric op ends one cycle after its fabric -> FIFO op.
    t = runner.arch.timing
    stage = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
    got = (t_prod, t_filled, t_relay, t_cons)
    assert got == (N, N + stage, N + stage + 1, N + 2 * stage + 1), logs
    print(f"{N} elements through a {FIFO_LEN}-element FIFO; y = y0 + (1 + 2 src), exact")
    print("completion tasks ran at (cycles after the producer's launch):")
    print(f"   producer's send done       {t_prod:4d}")
    print(f"   relay: fabric -> FIFO done {t_filled:4d}  (task id {FILLED})")
    print(f"   relay: FIFO -> fabric done {t_relay:4d}  (task id {DONE}: one cycle later, the "
          "FIFO's latency)")
    print(f"   consumer's add done        {t_cons:4d}")
    print(f"each stage ends {stage} cycles after the one before it (+1 for the FIFO); launch: "
          f"{launch.device_cycles} cycles for {N} elements through 3 PEs")
    return {"max_abs_err": err, "cycles": launch.device_cycles, "consumer_done": t_cons}


if __name__ == "__main__":
    main()
