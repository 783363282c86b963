"""A token passed around a 3x3 ring by switch positions.

The eight border PEs of a 3x3 rectangle form a ring on one color. Every router holds two switch
positions for that color: position 0 "send" (RAMP -> next PE) and position 1 "receive" (previous
PE -> RAMP), in ring mode. The PE holding the token sends it, then a control wavelet with the
ADVANCE command: the control wavelet follows the token along the old position, and each router
it passes then moves to its next position. So the sender's router turns to "receive" and the
receiver's router turns to "send", and the receiver's CE can pass the token on (plus one). After
``laps`` trips the token has visited every PE ``laps`` times; each PE logs the values it saw.

The result is right only if switches work: without the position change no PE could send on a
color its router routes *towards* it; without ring mode the second ADVANCE of a router (at its
last position) would leave it at "receive" and the ring stalls.

Run: ``PYTHONPATH=src python examples/router_ring_token.py``
"""

from __future__ import annotations

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd
from waferscale.program.control import ADVANCE, control_payload

COLOR = 1
START = 10  # local task id of the first holder's start-up task
RING = [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 1)]  # clockwise


def _port(a: tuple[int, int], b: tuple[int, int]) -> str:
    """The port of PE ``a`` that faces its neighbour ``b`` (row 0 is north)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    return {(1, 0): "EAST", (-1, 0): "WEST", (0, 1): "SOUTH", (0, -1): "NORTH"}[(dx, dy)]


def ring_pe(c, *, first: bool, laps: int) -> None:
    """A ring member: logs each token it receives and passes ``token + 1`` on. The first
    holder starts the token (value 1) and keeps it after ``laps`` laps."""
    seen = c.array("seen", "u32", laps, export=True)
    n = c.array("n", "u32", 1, export=True)

    def pass_on(pe, value: int) -> None:
        pe.mov32(fabout_dsd(COLOR, 1, "u32"), value)
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), control_payload(ADVANCE))

    def on_token(pe, value):
        k = int(pe[n][0])
        pe[seen][k] = value
        pe[n][0] = k + 1
        if not (first and k + 1 == laps):
            pass_on(pe, value + 1)

    c.bind_data_task(on_token, COLOR)
    if first:

        def start(pe):
            pass_on(pe, 1)

        c.bind_local_task(start, START)
        c.activate(START)


def idle(c) -> None:
    pass


def build(laps: int = 2, *, ring: bool = True) -> Layout:
    lay = Layout(3, 3, arch="wse2", name="ring_token")
    lay.set_tile_code(1, 1, idle)
    for i, pe in enumerate(RING):
        prev, nxt = RING[i - 1], RING[(i + 1) % len(RING)]
        lay.set_tile_code(*pe, ring_pe, first=(i == 0), laps=laps)
        send = ("RAMP", _port(pe, nxt))
        receive = (_port(pe, prev), "RAMP")
        lay.set_switches(*pe, COLOR, [send, receive], ring=ring, current=0 if i == 0 else 1)
    return lay


def expected(laps: int) -> dict[tuple[int, int], list[int]]:
    """PE i of the ring (i >= 1) sees i, i + 8, ...; the first holder sees 8, 16, ..."""
    n = len(RING)
    return {pe: [i + n * lap if i else n * (lap + 1) for lap in range(laps)]
            for i, pe in enumerate(RING)}


def main(laps: int = 2, *, ring: bool = True) -> dict[tuple[int, int], list[int]]:
    eng = Engine(build(laps, ring=ring).compile())
    result = eng.run()
    seen = {pe: eng.read_symbol(*pe, "seen").tolist() for pe in RING}
    want = expected(laps)
    assert seen == want, f"ring token: got {seen}, expected {want}"
    assert all(int(eng.read_symbol(*pe, "n")[0]) == laps for pe in RING)
    print(f"ring token: {laps} laps around the 3x3 ring in {result.cycle} cycles; "
          f"the first holder saw {seen[RING[0]]}")
    return seen


if __name__ == "__main__":
    main()
