"""Switches: four route positions and ring mode.

The centre PE of a 3x3 rectangle owns a color whose router holds four switch positions: RAMP ->
NORTH, RAMP -> EAST, RAMP -> SOUTH, RAMP -> WEST. It sends eight values, each followed by an
ADVANCE control wavelet (``fabout_dsd(..., advance_switch=True)``): the value goes out on the
current position, then the switch moves on. In ring mode the position wraps from 3 to 0, so
the four neighbours receive values round-robin: north 0 and 4, east 1 and 5, and so on. Without
ring mode the switch stays at its last position and the west neighbour gets the rest.

The ADVANCE wavelet is *CE-filtered* (payload bit 21): it travels with the data but no CE
receives it.

The result is right only if switch positions, ADVANCE and ring mode work.

Run: ``PYTHONPATH=src python examples/router_switches.py``
"""

from __future__ import annotations

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd

COLOR = 8
MAIN = 10
CENTRE = (1, 1)
NEIGHBOURS = {"NORTH": (1, 0), "EAST": (2, 1), "SOUTH": (1, 2), "WEST": (0, 1)}
FACING = {"NORTH": "SOUTH", "EAST": "WEST", "SOUTH": "NORTH", "WEST": "EAST"}


def centre(c, *, n: int) -> None:
    def main(pe):
        for v in range(n):
            pe.mov32(fabout_dsd(COLOR, 1, "u32", advance_switch=True), v)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def neighbour(c, *, n: int) -> None:
    log = c.array("log", "u32", n, export=True)
    count = c.array("count", "u32", 1, export=True)

    def on_data(pe, value):
        k = int(pe[count][0])
        pe[log][k] = value
        pe[count][0] = k + 1

    c.bind_data_task(on_data, COLOR)


def idle(c) -> None:
    pass


def build(n: int = 8, *, ring: bool = True) -> Layout:
    lay = Layout(3, 3, arch="wse2", name="switches")
    lay.set_region_code(0, 0, 3, 3, idle)
    lay.set_tile_code(*CENTRE, centre, n=n)
    lay.set_switches(*CENTRE, COLOR, [("RAMP", d) for d in NEIGHBOURS], ring=ring)
    for d, (x, y) in NEIGHBOURS.items():
        lay.set_tile_code(x, y, neighbour, n=n)
        lay.set_route(x, y, COLOR, rx=FACING[d], tx="RAMP")
    return lay


def expected(n: int, ring: bool) -> dict[str, list[int]]:
    dirs = list(NEIGHBOURS)
    out: dict[str, list[int]] = {d: [] for d in dirs}
    for v in range(n):
        out[dirs[v % 4 if ring else min(v, 3)]].append(v)
    return out


def main(n: int = 8, *, ring: bool = True) -> dict[str, list[int]]:
    eng = Engine(build(n, ring=ring).compile())
    eng.run()
    got = {}
    for d, (x, y) in NEIGHBOURS.items():
        got[d] = eng.read_symbol(x, y, "log")[: int(eng.read_symbol(x, y, "count")[0])].tolist()
    want = expected(n, ring)
    assert got == want, f"got {got}, expected {want}"
    print(f"switches ({'ring' if ring else 'no ring'}): " +
          ", ".join(f"{d.lower()} {v}" for d, v in got.items()))
    return got


if __name__ == "__main__":
    main()
    main(ring=False)
