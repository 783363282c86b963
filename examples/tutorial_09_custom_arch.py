"""Tutorial 9: the same program on a custom machine.

Step 9 of the tutorial series (docs/programming.md). Every latency, width and size the simulator
uses comes from the architecture spec, so a program can be run unchanged on a machine that does
not exist - to ask "what if". Here: the chain reduce of tutorial 3 (B elements summed along a
row of P PEs), on

* the WSE-2 preset (router-to-CE ramp latency T_R = 2 cycles each way, hop 1 cycle);
* a custom mesh with T_R = 7, the figure of a vendor slide;
* a custom mesh with T_R = 7 and 2-cycle hops.

The spatial model of a chain reduce predicts B + (2 T_R + T_hop + 1)(P - 1) cycles: each stage
costs a ramp down, one cycle in the adder, a ramp up and a hop. The measured cycle counts move
exactly as the model says - the closed form written out here, and the analytic tier's
``waferscale.model.chain_reduce(P, B, arch)``, which answers without simulating.

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_09_custom_arch.py
"""

from __future__ import annotations

import numpy as np

from waferscale import arch as wsarch
from waferscale import model
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

P, B = 16, 64
COLORS = (1, 2)


# -- device ---------------------------------------------------------------------------------------


def chain(c, *, B: int, recv_color, send_color):
    a = c.array("a", "f32", B, export=True)
    ts = c.array("ts", "u32", 2, export=True)
    a_dsd = mem1d_dsd(a)

    def reduce(pe):
        pe[ts][0] = pe.timestamp()
        if recv_color is None:
            pe.fmovs(fabout_dsd(send_color, B), a_dsd)
        elif send_color is None:
            pe.fadds(a_dsd, fabin_dsd(recv_color, B), a_dsd)
        else:
            pe.fadds(fabout_dsd(send_color, B), fabin_dsd(recv_color, B), a_dsd)
        pe[ts][1] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.export(reduce)


# -- layout: the same for every machine -----------------------------------------------------------


def layout(arch) -> Layout:
    lay = Layout(P, 1, arch=arch, name="tutorial_09")
    for px in range(P):
        send = COLORS[px % 2] if px < P - 1 else None
        recv = COLORS[(px - 1) % 2] if px > 0 else None
        lay.set_tile_code(px, 0, chain, B=B, recv_color=recv, send_color=send)
        if send is not None:
            lay.set_route(px, 0, send, rx="RAMP", tx="EAST")
        if recv is not None:
            lay.set_route(px, 0, recv, rx="WEST", tx="RAMP")
    return lay


# -- host -----------------------------------------------------------------------------------------


def run_on(arch, data: np.ndarray) -> dict:
    runner = SdkRuntime(layout(arch).compile())
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR
    runner.memcpy_h2d(runner.get_id("a"), data.ravel(), 0, 0, P, 1, B,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.launch("reduce", nonblock=False)
    total = np.zeros(B, np.float32)
    runner.memcpy_d2h(total, runner.get_id("a"), P - 1, 0, 1, 1, B,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    ts = np.zeros(P * 2, np.uint32)
    runner.memcpy_d2h(ts, runner.get_id("ts"), 0, 0, P, 1, 2,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    ts = ts.reshape(P, 2).astype(np.int64)
    t = runner.arch.timing
    stage = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
    return {
        "arch": runner.arch.name,
        "estimate": model.chain_reduce(P, B, runner.arch),  # the analytic tier's answer
        "ramp": t.ramp_latency_cycles,
        "hop": t.hop_latency_cycles,
        "total": total,
        "cycles": int(ts[:, 1].max() - ts[:, 0].min()),
        "model_cycles": B + stage * (P - 1),
    }


def main() -> dict:
    rng = np.random.default_rng(9)
    data = rng.standard_normal((P, B)).astype(np.float32)
    expected = data[0].copy()  # the chain's order: ((a0 + a1) + a2) + ...
    for i in range(1, P):
        expected = expected + data[i]

    machines = [
        "wse2",
        wsarch.custom_mesh(P, 1, name="ramp7", **{"timing.ramp_latency_cycles": 7}),
        wsarch.custom_mesh(P, 1, name="ramp7-hop2", **{"timing.ramp_latency_cycles": 7,
                                                       "timing.hop_latency_cycles": 2}),
    ]
    results = [run_on(m, data) for m in machines]

    print(f"chain reduce of B={B} f32 over a row of P={P} PEs; "
          "model B + (2 T_R + T_hop + 1)(P - 1)")
    print(f"   {'machine':<12} {'T_R':>3} {'T_hop':>5} {'simulated':>9} {'formula':>7} "
          f"{'model.chain_reduce':>18}")
    for r in results:
        np.testing.assert_array_equal(r["total"], expected)  # same data, same order: exact
        assert r["cycles"] == r["model_cycles"] == r["estimate"], r
        print(f"   {r['arch']:<12} {r['ramp']:>3} {r['hop']:>5} {r['cycles']:>9} "
              f"{r['model_cycles']:>7} {r['estimate']:>18.0f}")
    base = results[0]["cycles"]
    slower = results[1]["cycles"] - base
    assert slower == 2 * (7 - 2) * (P - 1)  # two ramps per stage, 5 cycles more each
    print(f"T_R 2 -> 7 adds 2 x 5 x (P - 1) = {slower} cycles; the sums are bit-identical")
    return {"cycles": [r["cycles"] for r in results],
            "model_cycles": [r["model_cycles"] for r in results]}


if __name__ == "__main__":
    main()
