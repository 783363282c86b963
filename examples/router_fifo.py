"""FIFOs: a small circular buffer between a fabric input and a fabric output.

The middle PE of a row forwards a stream, negated, with two asynchronous ops running at once: one
moves wavelets from the fabric into a FIFO of 4 slots (``c.fifo``), the other pops the FIFO,
negates and sends east. The stream (24 values) is much longer than the FIFO, so it wraps around
and both ops wait for each other (FIFO full / empty) as they go - the SDK's FIFO tutorial.

The result is right only if the FIFO keeps order across wrap-around and back-pressure.

Run: ``PYTHONPATH=src python examples/router_fifo.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, fifo_dsd, mem1d_dsd

IN, OUT = 1, 2
MAIN = 10


def source(c, *, values: np.ndarray) -> None:
    buf = c.array("buf", "f32", len(values), init=values)

    def main(pe):
        pe.fmovs(fabout_dsd(IN, len(values)), mem1d_dsd(buf))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def negate_through_fifo(c, *, n: int, depth: int) -> None:
    fifo = c.fifo(c.array("fifo_buf", "f32", depth))

    def main(pe):
        pe.fmovs(fifo_dsd(fifo, n), fabin_dsd(IN, n), async_=True)
        pe.fnegs(fabout_dsd(OUT, n), fifo_dsd(fifo, n), async_=True)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def sink(c, *, n: int) -> None:
    out = c.array("out", "f32", n, export=True)

    def main(pe):
        pe.fmovs(mem1d_dsd(out), fabin_dsd(OUT, n))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def main(n: int = 24, depth: int = 4, seed: int = 2) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    lay = Layout(3, 1, arch="wse2", name="fifo")
    lay.set_tile_code(0, 0, source, values=values)
    lay.set_tile_code(1, 0, negate_through_fifo, n=n, depth=depth)
    lay.set_tile_code(2, 0, sink, n=n)
    lay.set_route(0, 0, IN, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, IN, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, OUT, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, OUT, rx="WEST", tx="RAMP")
    eng = Engine(lay.compile())
    r = eng.run()
    got = eng.read_symbol(2, 0, "out")
    assert np.array_equal(got, -values), f"got {got}, expected {-values}"
    print(f"fifo: {n} values passed a {depth}-slot FIFO, negated, in {r.cycle} cycles")
    return got


if __name__ == "__main__":
    main()
