"""Control-task entry points: one color, several control tasks, the wavelet picks which runs.

A control wavelet names the task it starts, so one stream can drive several *entry points* of a
PE. The receiver here is a tiny accumulator machine with four entry points: SET, ADD and MUL
take the wavelet's 16-bit data as operand, STORE appends the accumulator to an output array.
The sender streams a "program" of control wavelets (entry point + operand) on one color.

The result is right only if each control wavelet starts the task it names, with its data, in
stream order.

Run: ``PYTHONPATH=src python examples/router_entry_points.py``
"""

from __future__ import annotations

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.program.control import control_payload

COLOR = 7
SET, ADD, MUL, STORE = 16, 17, 18, 19  # control task ids (the entry points)
NAMES = {"set": SET, "add": ADD, "mul": MUL, "store": STORE}
MAIN = 10


def sender(c, *, script: list[tuple[str, int]]) -> None:
    words = np.array([control_payload(task=NAMES[op], data=v) for op, v in script], np.uint32)
    prog = c.array("prog", "u32", len(words), init=words)

    def main(pe):
        pe.mov32(fabout_dsd(COLOR, len(words), "u32", control=True), mem1d_dsd(prog))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def machine(c, *, n_out: int) -> None:
    acc = c.array("acc", "u32", 1, export=True)
    out = c.array("out", "u32", n_out, export=True)
    n = c.array("n", "u32", 1, export=True)

    def op_set(pe, data):
        pe[acc][0] = data

    def op_add(pe, data):
        pe[acc][0] = (int(pe[acc][0]) + data) & 0xFFFFFFFF

    def op_mul(pe, data):
        pe[acc][0] = (int(pe[acc][0]) * data) & 0xFFFFFFFF

    def op_store(pe, data):
        k = int(pe[n][0])
        pe[out][k] = pe[acc][0]
        pe[n][0] = k + 1

    for fn, tid in ((op_set, SET), (op_add, ADD), (op_mul, MUL), (op_store, STORE)):
        c.bind_control_task(fn, tid)


def interpret(program: list[tuple[str, int]]) -> list[int]:
    """The reference: the same machine in plain Python (u32 arithmetic)."""
    acc, out = 0, []
    for op, v in program:
        if op == "set":
            acc = v
        elif op == "add":
            acc = (acc + v) & 0xFFFFFFFF
        elif op == "mul":
            acc = (acc * v) & 0xFFFFFFFF
        else:
            out.append(acc)
    return out


PROGRAM = [("set", 3), ("add", 4), ("store", 0), ("mul", 1000), ("store", 0), ("add", 65535),
           ("mul", 65535), ("store", 0), ("set", 0), ("store", 0)]


def main(program: list[tuple[str, int]] = PROGRAM) -> list[int]:
    want = interpret(program)
    lay = Layout(2, 1, arch="wse2", name="entry_points")
    lay.set_tile_code(0, 0, sender, script=program)
    lay.set_tile_code(1, 0, machine, n_out=max(1, len(want)))
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, COLOR, rx="WEST", tx="RAMP")
    eng = Engine(lay.compile())
    eng.run()
    got = eng.read_symbol(1, 0, "out")[: int(eng.read_symbol(1, 0, "n")[0])].tolist()
    assert got == want, f"got {got}, expected {want}"
    print(f"entry points: {len(program)} control wavelets drove 4 control tasks; stored {got}")
    return got


if __name__ == "__main__":
    main()
