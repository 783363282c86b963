"""Teardown, then re-route, then a second stream.

Three PEs in a row share one color. At first the middle PE's router delivers the color to its
own CE, so stream A (from the west PE) ends there. The sender then sends a control wavelet with
the TEARDOWN command: every router it passes forwards it along its current route and then puts
the color in *teardown* (stops routing it) and starts the PE's teardown task (reserved id 29).

* The sender's teardown task re-opens the color unchanged and sends stream B.
* The middle PE's teardown task re-routes the color (WEST -> EAST: pass through) and re-opens it.

Stream B may reach the middle router before its teardown task has run: it waits there (the
color is torn down), and once re-opened it flows on to the east PE. So the middle PE receives
exactly stream A and the east PE exactly stream B.

The result is right only if teardown, the teardown task and run-time re-routing work.

Run: ``PYTHONPATH=src python examples/router_teardown.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.program.control import TEARDOWN, control_payload

COLOR = 2
MAIN = 10


def sender(c, *, a: np.ndarray, b: np.ndarray) -> None:
    sa = c.array("a", "u32", len(a), init=a)
    sb = c.array("b", "u32", len(b), init=b)
    torn = c.array("torn", "u32", 1, export=True)

    def main(pe):
        pe.mov32(fabout_dsd(COLOR, len(a), "u32"), mem1d_dsd(sa))
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), control_payload(TEARDOWN))

    def on_teardown(pe):
        pe[torn][0] += 1
        assert pe.is_torn_down(COLOR)
        pe.exit_teardown(COLOR)
        pe.mov32(fabout_dsd(COLOR, len(b), "u32"), mem1d_dsd(sb))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)
    c.bind_teardown_task(on_teardown)


def logger(c, *, n: int, reroute: bool) -> None:
    log = c.array("log", "u32", n, export=True)
    count = c.array("count", "u32", 1, export=True)
    torn = c.array("torn", "u32", 1, export=True)

    def on_data(pe, value):
        k = int(pe[count][0])
        pe[log][k] = value
        pe[count][0] = k + 1

    c.bind_data_task(on_data, COLOR)
    if reroute:

        def on_teardown(pe):
            pe[torn][0] += 1
            pe.set_route(COLOR, rx="WEST", tx="EAST")  # from now on: pass the color through
            pe.exit_teardown(COLOR)

        c.bind_teardown_task(on_teardown)


def build(a: np.ndarray, b: np.ndarray) -> Layout:
    n = len(a) + len(b)
    lay = Layout(3, 1, arch="wse2", name="teardown")
    lay.set_tile_code(0, 0, sender, a=a, b=b)
    lay.set_tile_code(1, 0, logger, n=n, reroute=True)
    lay.set_tile_code(2, 0, logger, n=n, reroute=False)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, COLOR, rx="WEST", tx="RAMP")
    lay.set_route(2, 0, COLOR, rx="WEST", tx="RAMP")
    return lay


def main(na: int = 5, nb: int = 7) -> dict[str, list[int]]:
    a = np.arange(1, na + 1, dtype=np.uint32)
    b = np.arange(1, nb + 1, dtype=np.uint32) * 100
    eng = Engine(build(a, b).compile())
    eng.run()

    def log(x):
        return eng.read_symbol(x, 0, "log")[: int(eng.read_symbol(x, 0, "count")[0])].tolist()

    got = {"middle": log(1), "east": log(2)}
    assert got == {"middle": a.tolist(), "east": b.tolist()}, got
    assert [int(eng.read_symbol(x, 0, "torn")[0]) for x in range(3)] == [1, 1, 0]
    print(f"teardown: stream A {got['middle']} ended at the middle PE; after teardown and "
          f"re-route stream B {got['east']} reached the east PE")
    return got


if __name__ == "__main__":
    main()
