"""WSE-3 microthreads: two fabric streams received at once, each on its own microthread.

On WSE-3 an asynchronous op with a fabric operand runs on the microthread it names
(``microthread=k``, 0..7). The middle PE of a row receives one stream from the west and one
from the east at the same time: two async ``mov32`` ops, on microthreads 1 and 2, each reading
one fabric input (one input per op on WSE-3) from its own declared input queue. Each activates
a task when done; the second of them adds the two vectors.

Two async ops on one microthread collide: the second is refused at run time with an error
naming the PE and the first op (``main(same_microthread=True)`` shows it).

The result is right only if both streams were received concurrently and completely.

Run: ``PYTHONPATH=src python examples/router_microthreads.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

WEST_C, EAST_C = 4, 5
MAIN, DONE = 10, 11


def source(c, *, color: int, values: np.ndarray) -> None:
    buf = c.array("buf", "u32", len(values), init=values)
    q = c.output_queue(0, color)

    def main(pe):
        pe.mov32(fabout_dsd(color, len(values), "u32", output_queue=q), mem1d_dsd(buf),
                 async_=True, microthread=0)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def joiner(c, *, n: int, threads: tuple[int, int]) -> None:
    a = c.array("a", "u32", n)
    b = c.array("b", "u32", n)
    total = c.array("total", "u32", n, export=True)
    finished = c.array("finished", "u32", 1, export=True)
    qa = c.input_queue(0, WEST_C)
    qb = c.input_queue(1, EAST_C)
    ta, tb = threads

    def main(pe):
        pe.mov32(mem1d_dsd(a), fabin_dsd(WEST_C, n, "u32", input_queue=qa), async_=True,
                 microthread=ta, activate=DONE)
        pe.mov32(mem1d_dsd(b), fabin_dsd(EAST_C, n, "u32", input_queue=qb), async_=True,
                 microthread=tb, activate=DONE)

    def done(pe):
        pe[finished][0] += 1
        if pe[finished][0] == 2:
            pe[total][:] = pe[a] + pe[b]

    c.bind_local_task(main, MAIN)
    c.bind_local_task(done, DONE)
    c.activate(MAIN)


def build(n: int = 16, *, same_microthread: bool = False) -> tuple[Layout, np.ndarray, np.ndarray]:
    xa = np.arange(n, dtype=np.uint32)
    xb = np.arange(n, dtype=np.uint32) * 1000
    lay = Layout(3, 1, arch="wse3", name="microthreads")
    lay.set_tile_code(0, 0, source, color=WEST_C, values=xa)
    lay.set_tile_code(2, 0, source, color=EAST_C, values=xb)
    lay.set_tile_code(1, 0, joiner, n=n, threads=(1, 1) if same_microthread else (1, 2))
    lay.set_route(0, 0, WEST_C, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, EAST_C, rx="RAMP", tx="WEST")
    lay.set_route(1, 0, WEST_C, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, EAST_C, rx="EAST", tx="RAMP")
    return lay, xa, xb


def main(n: int = 16, *, same_microthread: bool = False) -> np.ndarray:
    lay, xa, xb = build(n, same_microthread=same_microthread)
    eng = Engine(lay.compile())
    r = eng.run()
    got = eng.read_symbol(1, 0, "total")
    assert int(eng.read_symbol(1, 0, "finished")[0]) == 2
    assert np.array_equal(got, xa + xb), f"got {got}, expected {xa + xb}"
    print(f"microthreads: two {n}-wavelet streams received at once on microthreads 1 and 2 "
          f"(wse3), joined in {r.cycle} cycles")
    return got


if __name__ == "__main__":
    main()
