"""Run-time reconfiguration of a PE's own queues (WSE-3): re-binding an input queue."""

import pytest

from waferscale.fabric import Engine, OpError, StallError
from waferscale.program import Layout, fabout_dsd, mem1d_dsd


def _sender(c):
    a = c.array("a", "u32", 2, init=[5, 7])

    def main(pe):
        pe.mov32(fabout_dsd(3, 1, "u32", output_queue=0), mem1d_dsd(a, 1), async_=True,
                 microthread=0, activate=8)

    def second(pe):
        pe.mov32(fabout_dsd(4, 1, "u32", output_queue=1), mem1d_dsd(a, 1, offset=1),
                 async_=True, microthread=1)

    c.output_queue(0, 3)
    c.output_queue(1, 4)
    c.bind_local_task(main, 9)
    c.bind_local_task(second, 8)
    c.activate(9)


def _receiver(c, *, rebind: bool):
    got = c.array("got", "u32", 2, export=True)
    n = c.array("n", "u32", 1)

    def recv(pe, v):
        pe[got][int(pe[n][0])] = v
        pe[n][0] += 1
        if rebind:
            pe.bind_input_queue(0, 4)  # from now on queue 0 (and this task) takes color 4

    c.input_queue(0, 3)
    c.bind_data_task_to_queue(recv, 0)


def _layout(rebind: bool) -> Layout:
    lay = Layout(2, 1, arch="wse3")
    lay.set_tile_code(0, 0, _sender)
    lay.set_tile_code(1, 0, _receiver, rebind=rebind)
    for col in (3, 4):
        lay.set_route(0, 0, col, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, col, rx="WEST", tx="RAMP")
    return lay


def test_rebound_queue_receives_the_new_color():
    eng = Engine(_layout(rebind=True).compile())
    assert eng.run().reason == "quiet"
    assert eng.read_symbol(1, 0, "got").tolist() == [5, 7]


def test_without_rebinding_the_new_color_has_no_consumer():
    eng = Engine(_layout(rebind=False).compile())
    with pytest.raises(StallError) as err:
        eng.run(until=lambda: int(eng.read_symbol(1, 0, "got")[1]) == 7)
    kinds = {f.kind for f in err.value.report.findings}
    assert "no-consumer" in kinds
    assert eng.read_symbol(1, 0, "got").tolist() == [5, 0]


def test_rebinding_a_queue_without_a_data_task_is_refused():
    def prog(c):
        def main(pe):
            pe.bind_input_queue(2, 4)

        c.bind_local_task(main, 9)
        c.activate(9)

    lay = Layout(1, 1, arch="wse3")
    lay.set_tile_code(0, 0, prog)
    with pytest.raises(OpError, match=r"no data task is bound to input queue 2"):
        Engine(lay.compile()).run()
