"""A control task receiving data.

A control wavelet names a control task (payload bits 16..20) and carries 16 bits of data (bits
0..15). A control task bound with ``c.bind_control_task(fn, id)`` whose function takes two
arguments, ``fn(pe, data)``, receives them. Here the sender sends a few 16-bit words as control
wavelets, interleaved with ordinary data wavelets on the same color; the receiver's control
task logs the control data and its data task logs the data wavelets.

The result is right only if a control wavelet starts its task with its data and is never given
to the data task (nor a data wavelet to the control task).

Run: ``PYTHONPATH=src python examples/router_control_data.py``
"""

from __future__ import annotations

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd
from waferscale.program.control import control_payload, decode

COLOR = 6
RECV = 14  # control task id
MAIN = 10


def sender(c, *, items: list[tuple[str, int]]) -> None:
    def main(pe):
        for kind, value in items:
            if kind == "ctrl":
                pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True),
                         control_payload(task=RECV, data=value))
            else:
                pe.mov32(fabout_dsd(COLOR, 1, "u32"), value)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def receiver(c, *, n: int) -> None:
    ctrl_log = c.array("ctrl_log", "u16", n, export=True)
    data_log = c.array("data_log", "u32", n, export=True)
    counts = c.array("counts", "u32", 2, export=True)  # control, data

    def on_control(pe, data):
        k = int(pe[counts][0])
        pe[ctrl_log][k] = data
        pe[counts][0] = k + 1

    def on_data(pe, value):
        k = int(pe[counts][1])
        pe[data_log][k] = value
        pe[counts][1] = k + 1

    c.bind_control_task(on_control, RECV)
    c.bind_data_task(on_data, COLOR)


def build(items: list[tuple[str, int]]) -> Layout:
    lay = Layout(2, 1, arch="wse2", name="control_data")
    lay.set_tile_code(0, 0, sender, items=items)
    lay.set_tile_code(1, 0, receiver, n=len(items))
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, COLOR, rx="WEST", tx="RAMP")
    return lay


ITEMS = [("ctrl", 0xBEEF), ("data", 7), ("data", 8), ("ctrl", 1), ("data", 0x12345678),
         ("ctrl", 0xFFFF), ("ctrl", 0)]


def main(items: list[tuple[str, int]] = ITEMS) -> dict[str, list[int]]:
    eng = Engine(build(items).compile())
    eng.run()
    nc, nd = (int(v) for v in eng.read_symbol(1, 0, "counts"))
    got = {"ctrl": eng.read_symbol(1, 0, "ctrl_log")[:nc].tolist(),
           "data": eng.read_symbol(1, 0, "data_log")[:nd].tolist()}
    want = {k: [v for kind, v in items if kind == k] for k in ("ctrl", "data")}
    assert got == want, f"got {got}, expected {want}"
    p = control_payload(task=RECV, data=0xBEEF)
    assert decode(p) == {"data": 0xBEEF, "task": RECV, "ce_filter": False, "command": 0}
    print(f"control data: the control task received {[hex(v) for v in got['ctrl']]}; "
          f"the data task {got['data']}")
    return got


if __name__ == "__main__":
    main()
