"""Queue flush (WSE-3): drop what is waiting in an input queue, then receive cleanly.

The sender puts three stale wavelets on a color the receiver does not read; they wait in the
receiver's input queue. Then it starts the receiver's control task ``FLUSH`` (a control wavelet
on a second color): the task flushes the input queue (``pe.flush_input_queue(color)`` returns
how many wavelets it dropped), acknowledges on a third color, and reads the real message. The
sender sends the message only after the acknowledgement, so nothing of it can be flushed.

The result is right only if the flush drops exactly the stale wavelets: otherwise the message
read would start with them.

Run: ``PYTHONPATH=src python examples/router_queue_flush.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.program.control import control_payload

DATA, CTRL, ACK = 4, 5, 6
MAIN, FLUSH = 10, 20
STALE = 3


def sender(c, *, message: np.ndarray) -> None:
    stale = c.array("stale", "u32", STALE, init=np.full(STALE, 0xDEAD, np.uint32))
    msg = c.array("msg", "u32", len(message), init=message)
    ack = c.array("ack", "u32", 1)

    def main(pe):
        pe.mov32(fabout_dsd(DATA, STALE, "u32"), mem1d_dsd(stale))
        pe.spend(20)  # let the stale wavelets land (they are one hop away)
        pe.mov32(fabout_dsd(CTRL, 1, "u32", control=True), control_payload(task=FLUSH))
        pe.mov32(mem1d_dsd(ack), fabin_dsd(ACK, 1, "u32"))  # wait for the acknowledgement
        pe.mov32(fabout_dsd(DATA, len(message), "u32"), mem1d_dsd(msg))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def receiver(c, *, n: int) -> None:
    got = c.array("got", "u32", n, export=True)
    dropped = c.array("dropped", "u32", 1, export=True)
    q = c.input_queue(0, DATA)

    def flush(pe):
        pe[dropped][0] = pe.flush_input_queue(DATA)
        pe.mov32(fabout_dsd(ACK, 1, "u32"), 1)
        pe.mov32(mem1d_dsd(got), fabin_dsd(DATA, n, "u32", input_queue=q))

    c.bind_control_task(flush, FLUSH)


def main(n: int = 6) -> np.ndarray:
    message = np.arange(1, n + 1, dtype=np.uint32) * 11
    lay = Layout(2, 1, arch="wse3", name="queue_flush")
    lay.set_tile_code(0, 0, sender, message=message)
    lay.set_tile_code(1, 0, receiver, n=n)
    for color in (DATA, CTRL):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, ACK, rx="RAMP", tx="WEST")
    lay.set_route(0, 0, ACK, rx="EAST", tx="RAMP")
    eng = Engine(lay.compile())
    eng.run()
    got = eng.read_symbol(1, 0, "got")
    dropped = int(eng.read_symbol(1, 0, "dropped")[0])
    assert dropped == STALE, f"flushed {dropped} wavelets, expected {STALE}"
    assert np.array_equal(got, message), f"got {got}, expected {message}"
    print(f"queue flush: dropped {dropped} stale wavelets, then received {got.tolist()}")
    return got


if __name__ == "__main__":
    main()
