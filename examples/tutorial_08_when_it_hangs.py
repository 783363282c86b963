"""Tutorial 8: when it hangs - reading a stall report.

Step 8 of the tutorial series (docs/programming.md). On the hardware (and in the vendor's
simulator) a mistake in the handshake between host and device shows up as a host script that
never returns. Here the simulator notices that nothing can move any more and raises
``StallError``; ``err.report`` says what is stuck, where, and the likely cause. Two classic
mistakes:

1. A launched function that forgets ``pe.unblock_cmd_stream()``: the launch never completes,
   and every later host command would wait behind it.
2. A one-PE pipeline (fabric in -> add -> fabric out) fed by a *blocking* streaming h2d whose
   results are collected by a d2h issued *after* it: the results have nowhere to go, the output
   queue fills, the add stops, the input queue fills, and the h2d can never finish. It works
   for a few wavelets (as many as the queues hold) and stalls beyond - the SDK documents this
   as a stall past ~14 wavelets. The fix: issue the h2d with ``nonblock=True``.

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_08_when_it_hangs.py
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import StallError
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

IN, OUT = 2, 3  # streaming colors of the pipeline
PIPE_TASK = 8

# -- mistake 1: no completion signal --------------------------------------------------------------


def forgetful(c, *, n: int):
    a = c.array("a", "f32", n, export=True)

    def double(pe):
        pe.fadds(mem1d_dsd(a), mem1d_dsd(a), mem1d_dsd(a))
        # forgot: pe.unblock_cmd_stream()

    c.export(double)


def missing_completion_signal() -> StallError:
    lay = Layout(2, 1, arch="wse2", name="tutorial_08_forgetful")
    lay.set_region_code(0, 0, 2, 1, forgetful, n=4)
    runner = SdkRuntime(lay.compile())
    runner.load()
    runner.run()
    try:
        runner.launch("double", nonblock=False)
    except StallError as err:
        return err
    finally:
        runner.stop()  # safe after a failure: it does not wait again
    raise AssertionError("the launch should have stalled")


# -- mistake 2: stream order ----------------------------------------------------------------------


def pipeline(c, *, n: int):
    """Adds 1.0 to every wavelet of color IN and sends it on color OUT, from start-up."""
    ones = c.array("ones", "f32", n, init=1.0)

    def main(pe):
        pe.fadds(fabout_dsd(OUT, n), fabin_dsd(IN, n), mem1d_dsd(ones))

    c.bind_local_task(main, PIPE_TASK)
    c.activate(PIPE_TASK)


def run_pipeline(n: int, *, h2d_nonblock: bool) -> np.ndarray:
    """Stream n values through the pipeline; raises StallError if it stalls."""
    lay = Layout(1, 1, arch="wse2", name="tutorial_08_pipeline")
    lay.set_tile_code(0, 0, pipeline, n=n)
    runner = SdkRuntime(lay.compile())
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    out = np.zeros(n, np.float32)
    try:
        runner.memcpy_h2d(IN, np.arange(n, dtype=np.float32), 0, 0, 1, 1, n,
                          streaming=True, data_type=memcpy_dtype, order=row,
                          nonblock=h2d_nonblock)
        runner.memcpy_d2h(out, OUT, 0, 0, 1, 1, n,
                          streaming=True, data_type=memcpy_dtype, order=row, nonblock=False)
    finally:
        runner.stop()
    return out


def largest_blocking_pipeline(limit: int = 32) -> int:
    """The largest n for which the wrong order (blocking h2d, then d2h) still completes."""
    for n in range(1, limit + 1):
        try:
            run_pipeline(n, h2d_nonblock=False)
        except StallError:
            return n - 1
    raise AssertionError(f"the blocking order never stalled up to n = {limit}")


# -- main -----------------------------------------------------------------------------------------


def main() -> dict:
    print("=== 1. a launched function that never calls pe.unblock_cmd_stream() ===")
    err = missing_completion_signal()
    report = err.report
    print(report)
    blocked = report.by_kind("cmd-stream-blocked")
    assert report.reason == "quiet", report.reason  # the fabric went quiet, the host waits
    assert sorted(f.pe for f in blocked) == [(0, 0), (1, 0)], blocked
    assert report.causes[0].startswith("missing completion signal"), report.causes

    print()
    print("=== 2. blocking streaming h2d into a pipeline whose output nobody collects yet ===")
    n = 64
    try:
        run_pipeline(n, h2d_nonblock=False)
        raise AssertionError("the pipeline should have stalled")
    except StallError as stall:
        report2 = stall.report
    print(report2)
    assert report2.reason == "watchdog", report2.reason
    assert any(c.startswith("stream order") for c in report2.causes), report2.causes
    assert report2.by_kind("host-stream-in"), report2.findings
    waiting = report2.by_kind("op-waiting")
    assert waiting and "output queue of color 3 (full)" in waiting[0].detail, waiting

    fits = largest_blocking_pipeline()
    print(f"\nthe blocking order works up to {fits} wavelets (what the queues between host, "
          f"router and CE hold) and stalls from {fits + 1} on")

    out = run_pipeline(n, h2d_nonblock=True)
    np.testing.assert_array_equal(out, np.arange(n, dtype=np.float32) + 1)
    print(f"with memcpy_h2d(..., nonblock=True) the {n}-wavelet pipeline completes: "
          f"out[:4] = {out[:4]}")
    return {"stall_1": report.causes[0], "stall_2": report2.causes[0],
            "largest_blocking_stream": fits}


if __name__ == "__main__":
    main()
