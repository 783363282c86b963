"""A range filter keeping every 4th wavelet.

PE (0, 0) streams 16 wavelets of 16-bit data east along a row; each wavelet carries its value in
the low half and a *lane* 0..3 (its position modulo 4) as its index in the high half. The
routers of PEs 1..4 multicast the stream to their CE and onward; each of them has a range filter
on the color that lets only index ``k - 1`` down the ramp. So PE k receives wavelets
``k - 1, k + 3, k + 7, ...``: every 4th wavelet, and a different quarter on each PE.

``kind="counter"`` does the same with counter filters instead (pass 1 of every 4 counted data
wavelets, each PE's counter started at a different phase), the SDK's other filter kind.

The result is right only if filters work: without them every PE receives all 16 wavelets.

Run: ``PYTHONPATH=src python examples/router_range_filter.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd, mem1d_dsd

COLOR = 3
N = 16
RECEIVERS = 4
MAIN = 10


def sender(c, *, n: int) -> None:
    values = np.arange(100, 100 + n, dtype=np.uint32)
    lanes = np.arange(n, dtype=np.uint32) % 4
    words = c.array("words", "u32", n, init=values | (lanes << 16))  # (value, index) wavelets

    def main(pe):
        pe.mov32(fabout_dsd(COLOR, n, "u32"), mem1d_dsd(words))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def receiver(c, *, n: int) -> None:
    got = c.array("got", "u16", n, export=True)
    idx = c.array("idx", "u16", n, export=True)
    count = c.array("count", "u32", 1, export=True)

    def on_wavelet(pe, value, index):
        k = int(pe[count][0])
        pe[got][k], pe[idx][k] = value, index
        pe[count][0] = k + 1

    c.bind_data_task(on_wavelet, COLOR, dtype="u16", with_index=True)


def build(kind: str = "range", *, n: int = N) -> Layout:
    lay = Layout(RECEIVERS + 1, 1, arch="wse2", name="range_filter")
    lay.set_tile_code(0, 0, sender, n=n)
    lay.set_region_code(1, 0, RECEIVERS, 1, receiver, n=n)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_region_route(1, 0, RECEIVERS - 1, 1, COLOR, rx="WEST", tx=["RAMP", "EAST"])
    lay.set_route(RECEIVERS, 0, COLOR, rx="WEST", tx="RAMP")
    for k in range(1, RECEIVERS + 1):
        lane = k - 1
        if kind == "range":
            lay.set_filter(k, 0, COLOR, kind="range", min_index=lane, max_index=lane)
        else:  # pass 1 of every 4 data wavelets; the counter of PE k starts at -lane mod 4
            lay.set_filter(k, 0, COLOR, kind="counter", pass_count=1, max_counter=3,
                           init_counter=(4 - lane) % 4)
    return lay


def main(kind: str = "range", *, n: int = N) -> dict[int, list[int]]:
    eng = Engine(build(kind, n=n).compile())
    eng.run()
    got = {}
    for k in range(1, RECEIVERS + 1):
        m = int(eng.read_symbol(k, 0, "count")[0])
        got[k] = eng.read_symbol(k, 0, "got")[:m].tolist()
        want = (100 + np.arange(k - 1, n, 4)).tolist()
        assert got[k] == want, f"PE ({k}, 0) received {got[k]}, expected {want}"
        assert (eng.read_symbol(k, 0, "idx")[:m] == k - 1).all()
    print(f"{kind} filter: each of {RECEIVERS} PEs kept every 4th of {n} wavelets: "
          + ", ".join(f"PE {k} {v}" for k, v in got.items()))
    return got


if __name__ == "__main__":
    main()
