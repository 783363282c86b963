"""A stream ended by a sentinel: a control wavelet that starts a control task.

The receiver does not know how long the stream is. A data task adds up every wavelet of the
color; after the data the sender sends one control wavelet on the same color naming the
receiver's control task ``DONE`` (payload bits 16..20). It arrives behind the data (one color
is one FIFO), so when ``DONE`` runs every data wavelet has been counted: it stores the count and
raises a flag. This is the SDK's sentinel pattern.

The result is right only if control wavelets start their task and are never handed to the data
task (that would count one wavelet too many).

Run: ``PYTHONPATH=src python examples/router_sentinel.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.program.control import control_payload

COLOR = 5
DONE = 12  # control task id at the receiver
MAIN = 10


def sender(c, *, values: np.ndarray) -> None:
    buf = c.array("buf", "f32", len(values), init=values)

    def main(pe):
        pe.fmovs(fabout_dsd(COLOR, len(values), "f32"), mem1d_dsd(buf))
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), control_payload(task=DONE))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def relay(c) -> None:
    pass


def receiver(c) -> None:
    acc = c.array("acc", "f32", 1, export=True)
    count = c.array("count", "u32", 1, export=True)
    done = c.array("done", "u32", 2, export=True)  # flag, count when the sentinel arrived

    def on_data(pe, value):
        pe[acc][0] = np.float32(pe[acc][0] + np.float32(value))
        pe[count][0] += 1

    def on_sentinel(pe):
        pe[done][:] = (1, pe[count][0])

    c.bind_data_task(on_data, COLOR, dtype="f32")
    c.bind_control_task(on_sentinel, DONE)


def build(values: np.ndarray) -> Layout:
    """Sender at (0, 0), a relay at (1, 0), the receiver at (2, 0)."""
    lay = Layout(3, 1, arch="wse2", name="sentinel")
    lay.set_tile_code(0, 0, sender, values=values)
    lay.set_tile_code(1, 0, relay)
    lay.set_tile_code(2, 0, receiver)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, COLOR, rx="WEST", tx="EAST")
    lay.set_route(2, 0, COLOR, rx="WEST", tx="RAMP")
    return lay


def main(n: int = 13, seed: int = 0) -> tuple[int, float]:
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    eng = Engine(build(values).compile())
    eng.run()
    want = np.float32(0)
    for v in values:  # the receiver adds in arrival order, in f32
        want = np.float32(want + v)
    done = eng.read_symbol(2, 0, "done").tolist()
    got = eng.read_symbol(2, 0, "acc")[0]
    assert done == [1, n], f"sentinel ran with {done} (flag, count), expected [1, {n}]"
    assert got == want, f"sum {got} != {want}"
    print(f"sentinel: the control task ended a stream of {n} wavelets; sum {got:.6f} == numpy")
    return n, float(got)


if __name__ == "__main__":
    main()
