"""Command slots and pop modes: one control wavelet, a different command per router.

A control wavelet for routers in *pop mode* carries up to eight 2-bit command slots in its low
16 bits (``command_slots_payload``). A router in pop mode executes slot 0 and, depending on its
mode, shifts the slots right by 2 bits before forwarding, so the next router reads the next
command:

* ``always_pop``: every router consumes one slot;
* ``pop_on_advance``: a router consumes its slot only when it is an ADVANCE; after a NOP the
  next router reads the same NOP again.

Four PEs east of a sender each have two switch positions: position 0 passes the color through
(WEST -> EAST), position 1 also delivers it to the CE (WEST -> RAMP + EAST). The last PE always
receives. The sender sends the command wavelet ``[ADVANCE, NOP, ADVANCE]`` and then one data
wavelet; the PEs whose router advanced receive a copy of it.

Run: ``PYTHONPATH=src python examples/router_pop_modes.py``
"""

from __future__ import annotations

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd
from waferscale.program.control import command_slots_payload

COLOR = 9
MAIN = 10
MARK = 99
SLOTS = ["advance", "nop", "advance"]
HOPS = 3  # routers in pop mode, at x = 1..3; x = 4 is the sink


def sender(c, *, slots: list[str]) -> None:
    def main(pe):
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), command_slots_payload(slots))
        pe.mov32(fabout_dsd(COLOR, 1, "u32"), MARK)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def receiver(c) -> None:
    got = c.array("got", "u32", 1, export=True)

    def on_data(pe, value):
        pe[got][0] = value

    c.bind_data_task(on_data, COLOR)


def build(pop_mode: str, slots: list[str] = SLOTS) -> Layout:
    lay = Layout(HOPS + 2, 1, arch="wse2", name="pop_modes")
    lay.set_tile_code(0, 0, sender, slots=slots)
    lay.set_region_code(1, 0, HOPS + 1, 1, receiver)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_switches(1, 0, COLOR, [("WEST", "EAST"), ("WEST", ["RAMP", "EAST"])],
                     pop_mode=pop_mode, w=HOPS)
    lay.set_route(HOPS + 1, 0, COLOR, rx="WEST", tx="RAMP")
    return lay


def expected(pop_mode: str, slots: list[str] = SLOTS) -> list[int]:
    """Which of the routers x = 1..HOPS advance (1) or not (0)."""
    rest, out = list(slots), []
    for _ in range(HOPS):
        cmd = rest[0] if rest else "nop"
        out.append(int(cmd == "advance"))
        if pop_mode == "always_pop" or cmd == "advance":
            rest = rest[1:]
    return out


def main(pop_mode: str = "always_pop", slots: list[str] = SLOTS) -> list[int]:
    eng = Engine(build(pop_mode, slots).compile())
    eng.run()
    advanced = [int(eng.read_symbol(x, 0, "got")[0] == MARK) for x in range(1, HOPS + 1)]
    want = expected(pop_mode, slots)
    assert advanced == want, f"{pop_mode}: routers advanced {advanced}, expected {want}"
    assert int(eng.read_symbol(HOPS + 1, 0, "got")[0]) == MARK
    print(f"{pop_mode}: slots {slots} advanced the routers at x = "
          f"{[x for x, a in zip(range(1, HOPS + 1), advanced, strict=True) if a]}")
    return advanced


if __name__ == "__main__":
    main("always_pop")
    main("pop_on_advance")
