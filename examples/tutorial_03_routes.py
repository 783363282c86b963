"""Tutorial 3: colors and routes - partial sums flow east along a row of PEs.

Step 3 of the GEMV tutorial series (docs/programming.md). The columns of A are split over a row
of P PEs: PE i holds the M x Nb block A[:, i*Nb:(i+1)*Nb] and the matching piece of x, and
computes the partial product A_i x_i. The partial vectors are then summed by a chain along the
row: PE 0 sends its vector east; every middle PE receives a vector from the west, adds its own
element by element and sends the sum east *in the same instruction* (fabric-in + memory ->
fabric-out); the last PE adds the incoming vector into its own y, which then holds y = A x + b.

Neighbouring PEs use two colors alternately (even PEs send on one, odd PEs on the other), so a
PE's input and output never share a color: a router holds one route per color, and a middle PE
must take its input from WEST to RAMP and its output from RAMP to EAST.

The chain is timed with per-PE timestamps and compared with the spatial model of a chain
reduce: B + (2*T_R + T_hop + 1)(P - 1) cycles for B-element vectors over P PEs, i.e.
B + 6(P - 1) with the WSE-2 defaults (ramp T_R = 2, hop 1).

Run:  PYTHONPATH=src .venv/bin/python examples/tutorial_03_routes.py
"""

from __future__ import annotations

import numpy as np

from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.runtime import MemcpyDataType, MemcpyOrder, SdkRuntime

P = 8  # PEs in the row
M, Nb = 32, 4  # A is M x (P * Nb); the chain moves B = M elements
COLORS = (1, 2)  # PE x sends on COLORS[x % 2] and receives on COLORS[(x - 1) % 2]


# -- device ---------------------------------------------------------------------------------------


def gemv_chain(c, *, M: int, Nb: int, recv_color: int | None, send_color: int | None):
    """Partial GEMV of an M x Nb column block, then one step of the chain east.
    ``recv_color`` is None on the first PE, ``send_color`` None on the last."""
    A = c.array("A", "f32", M * Nb, export=True)
    x = c.array("x", "f32", Nb, export=True)
    y = c.array("y", "f32", M, export=True, init=0.0)  # PE 0 receives b here
    ts = c.array("ts", "u32", 2, export=True)  # chain start / end cycle

    y_dsd = mem1d_dsd(y)

    def compute(pe):
        for j in range(Nb):  # y += A_i[:, j] * x_i[j]
            pe.fmacs(y_dsd, y_dsd, mem1d_dsd(A, M, offset=j, stride=Nb), pe[x][j])

        pe[ts][0] = pe.timestamp()
        if recv_color is None:  # first PE: send y east
            pe.fmovs(fabout_dsd(send_color, M), y_dsd)
        elif send_color is None:  # last PE: y = incoming + y
            pe.fadds(y_dsd, fabin_dsd(recv_color, M), y_dsd)
        else:  # middle PE: send (incoming + y) east, one element per cycle
            pe.fadds(fabout_dsd(send_color, M), fabin_dsd(recv_color, M), y_dsd)
        pe[ts][1] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.export(compute)


# -- layout ---------------------------------------------------------------------------------------


def layout(arch="wse2", P: int = P) -> Layout:
    lay = Layout(P, 1, arch=arch, name="tutorial_03")
    lay.color("partial_even", COLORS[0])
    lay.color("partial_odd", COLORS[1])
    for px in range(P):
        send = COLORS[px % 2] if px < P - 1 else None
        recv = COLORS[(px - 1) % 2] if px > 0 else None
        lay.set_tile_code(px, 0, gemv_chain, M=M, Nb=Nb, recv_color=recv, send_color=send)
        if send is not None:  # from my CE out to the east neighbour
            lay.set_route(px, 0, send, rx=["RAMP"], tx=["EAST"])
        if recv is not None:  # from the west neighbour down into my CE
            lay.set_route(px, 0, recv, rx=["WEST"], tx=["RAMP"])
    return lay


# -- host -----------------------------------------------------------------------------------------


def run(arch="wse2", P: int = P, seed: int = 3) -> dict:
    """Build, run and check the row GEMV; return the error, cycles and model cycles."""
    rng = np.random.default_rng(seed)
    N = P * Nb
    A = rng.standard_normal((M, N)).astype(np.float32)
    x = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)

    runner = SdkRuntime(layout(arch, P).compile())
    runner.load()
    runner.run()
    memcpy_dtype, row = MemcpyDataType.MEMCPY_32BIT, MemcpyOrder.ROW_MAJOR

    # PE i gets A[:, i*Nb:(i+1)*Nb] row-major: the (1, P, M*Nb) tensor.
    A_blocks = A.reshape(M, P, Nb).transpose(1, 0, 2).ravel()
    runner.memcpy_h2d(runner.get_id("A"), A_blocks, 0, 0, P, 1, M * Nb,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("x"), x, 0, 0, P, 1, Nb,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.memcpy_h2d(runner.get_id("y"), b, 0, 0, 1, 1, M,  # b into PE 0's y
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.launch("compute", nonblock=False)

    y = np.zeros(M, np.float32)
    runner.memcpy_d2h(y, runner.get_id("y"), P - 1, 0, 1, 1, M,  # the last PE holds y
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    ts = np.zeros(P * 2, np.uint32)
    runner.memcpy_d2h(ts, runner.get_id("ts"), 0, 0, P, 1, 2,
                      streaming=False, data_type=memcpy_dtype, order=row, nonblock=False)
    runner.stop()

    expected = A @ x + b
    err = float(np.abs(y - expected).max())
    np.testing.assert_allclose(y, expected, atol=0.01, rtol=0)

    ts = ts.reshape(P, 2).astype(np.int64)
    cycles = int(ts[:, 1].max() - ts[:, 0].min())
    t = runner.arch.timing
    per_stage = 2 * t.ramp_latency_cycles + t.hop_latency_cycles + 1
    model = M + per_stage * (P - 1)
    return {"max_abs_err": err, "cycles": cycles, "model_cycles": model, "per_stage": per_stage,
            "P": P, "B": M}


def main() -> dict:
    r = run()
    print(f"row of P={P} PEs, A is {M}x{P * Nb}, chain of B={M} partial sums")
    print(f"max |err|     = {r['max_abs_err']:.3g}  (vendor tolerance atol=0.01)")
    print(f"chain cycles  = {r['cycles']}  (max end - min start over the row)")
    print(f"model         = B + {r['per_stage']}(P - 1) = {M} + {r['per_stage']}*{P - 1} = "
          f"{r['model_cycles']}")
    assert r["cycles"] == r["model_cycles"], r
    return r


if __name__ == "__main__":
    main()
