"""Color swap crossing a row (WSE-2).

A chain reduction along a row: PE x receives the partial sum from the west, adds its own vector
and sends the result east. A router cannot both accept one color from the west and from its own
CE without mixing the streams, so such chains usually alternate two colors by PE parity. With
*color swap* every PE runs the same program instead: it receives on color 3 and sends on color
2, and its router swaps color 2 to 3 on the way east (colors differing in the lowest bit swap on
the row axis). The last PE keeps the total.

The result is right only if color swap works: without it the wavelets would reach the next
router on color 2, which that router accepts only from its CE, and the chain would stall.

Run: ``PYTHONPATH=src python examples/router_color_swap.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

SEND, RECV = 2, 3  # RECV == SEND ^ 1
MAIN = 10


def chain_pe(c, *, role: str, values: np.ndarray) -> None:
    a = c.array("a", "f32", len(values), init=values, export=True)
    n = len(values)

    def main(pe):
        if role == "first":
            pe.fmovs(fabout_dsd(SEND, n), mem1d_dsd(a))
        elif role == "middle":
            pe.fadds(fabout_dsd(SEND, n), fabin_dsd(RECV, n), mem1d_dsd(a))
        else:
            pe.fadds(mem1d_dsd(a), fabin_dsd(RECV, n), mem1d_dsd(a))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def build(data: np.ndarray, *, swap: bool = True) -> Layout:
    p = data.shape[0]
    lay = Layout(p, 1, arch="wse2", name="color_swap")
    for x in range(p):
        role = "first" if x == 0 else "last" if x == p - 1 else "middle"
        lay.set_tile_code(x, 0, chain_pe, role=role, values=data[x])
        if x < p - 1:
            lay.set_route(x, 0, SEND, rx="RAMP", tx="EAST")
            if swap:
                lay.set_color_swap(x, 0, SEND)
        if x > 0:
            lay.set_route(x, 0, RECV, rx="WEST", tx="RAMP")
    return lay


def main(p: int = 5, n: int = 8, seed: int = 1) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((p, n)).astype(np.float32)
    eng = Engine(build(data).compile())
    eng.run()
    want = data[0].copy()
    for x in range(1, p):
        want = (want + data[x]).astype(np.float32)  # incoming + own, in f32, west to east
    got = eng.read_symbol(p - 1, 0, "a")
    assert np.array_equal(got, want), f"got {got}, expected {want}"
    print(f"color swap: a {p}-PE row reduced {n} f32 values per PE on colors {SEND}/{RECV} "
          f"with one program; max |got - numpy| = {np.abs(got - want).max()}")
    return got


if __name__ == "__main__":
    main()
