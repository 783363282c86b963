"""A WSE-2 program moved to WSE-3: rejected with the rules it breaks, accepted after the fix.

WSE-3 changes how a program talks to the fabric (docs/router.md, "WSE-3 rules"):

* data tasks bind to *input queues* 0..7, each queue declared for one color
  (``c.input_queue(q, color)``, then ``c.bind_data_task_to_queue(fn, q)``);
* local task ids are 8..30 (0..7 belong to the queues' data tasks);
* an async op with a fabric operand names its microthread (``microthread=k``);
* an op reads at most one fabric input, and an output queue sends on one color
  (``c.output_queue(q, color)``).

``producer_wse2`` / ``consumer_wse2`` are written the WSE-2 way; compiled for ``arch="wse3"`` the
layout is refused with a message naming each rule, the PE and the fix. ``producer_wse3`` /
``consumer_wse3`` apply the fix and run on WSE-3 (and the result is checked).

Run: ``PYTHONPATH=src python examples/router_wse3_migration.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, LayoutError, fabout_dsd, mem1d_dsd

COLOR = 4


# -- WSE-2 style ------------------------------------------------------------------------------


def producer_wse2(c, *, values: np.ndarray) -> None:
    x = c.array("x", "u32", len(values), init=values)
    sent = c.array("sent", "u32", 1, export=True)

    def main(pe):
        pe.mov32(fabout_dsd(COLOR, len(values), "u32"), mem1d_dsd(x), async_=True, activate=done)

    def done(pe):
        pe[sent][0] = 1

    c.bind_local_task(main, 5)
    c.bind_local_task(done, 6)
    c.activate(5)


def consumer_wse2(c) -> None:
    total = c.array("total", "u32", 2, export=True)  # sum, count

    def recv(pe, value):
        pe[total][0] += value
        pe[total][1] += 1

    c.bind_data_task(recv, COLOR)


# -- the same program for WSE-3 -----------------------------------------------------------------


def producer_wse3(c, *, values: np.ndarray) -> None:
    x = c.array("x", "u32", len(values), init=values)
    sent = c.array("sent", "u32", 1, export=True)
    oq = c.output_queue(2, COLOR)  # output queue 2 sends on COLOR

    def main(pe):
        pe.mov32(fabout_dsd(COLOR, len(values), "u32", output_queue=oq), mem1d_dsd(x),
                 async_=True, activate=done, microthread=oq)

    def done(pe):
        pe[sent][0] = 1

    c.bind_local_task(main, 10)  # local task ids are 8..30 on WSE-3
    c.bind_local_task(done, 11)
    c.activate(10)


def consumer_wse3(c) -> None:
    total = c.array("total", "u32", 2, export=True)
    iq = c.input_queue(1, COLOR)  # input queue 1 receives COLOR

    def recv(pe, value):
        pe[total][0] += value
        pe[total][1] += 1

    c.bind_data_task_to_queue(recv, iq)


def build(arch: str, producer, consumer, values: np.ndarray) -> Layout:
    lay = Layout(2, 1, arch=arch, name="migration")
    lay.set_tile_code(0, 0, producer, values=values)
    lay.set_tile_code(1, 0, consumer)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, COLOR, rx="WEST", tx="RAMP")
    return lay


def run(lay: Layout) -> tuple[int, int, int]:
    eng = Engine(lay.compile())
    eng.run()
    s, n = (int(v) for v in eng.read_symbol(1, 0, "total"))
    return s, n, int(eng.read_symbol(0, 0, "sent")[0])


def main(n: int = 10) -> str:
    values = np.arange(1, n + 1, dtype=np.uint32) * 3
    want = (int(values.sum()), n, 1)
    assert run(build("wse2", producer_wse2, consumer_wse2, values)) == want  # fine on WSE-2
    try:
        build("wse3", producer_wse2, consumer_wse2, values).compile()
    except LayoutError as exc:
        message = str(exc)
    else:  # pragma: no cover
        raise AssertionError("the WSE-2 program was accepted on wse3")
    assert "rule 'data tasks bind to input queues'" in message, message
    got = run(build("wse3", producer_wse3, consumer_wse3, values))
    assert got == want, f"got {got}, expected {want}"
    print("wse3 migration: the WSE-2 program was refused:\n" + message)
    print(f"after the fix it runs on wse3: sum {got[0]} of {got[1]} wavelets == numpy")
    return message


if __name__ == "__main__":
    main()
