"""Collectives on the simulator: results against numpy (bit for bit: the references add in the
order the PEs do), simulated cycles against the model, the selector against the lower bound.

See docs/collectives.md for the tables these tests pin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale import arch, model
from waferscale import collectives as wc

WSE2 = arch.preset("wse2")

# ---------------------------------------------------------------------------------------------
# results equal numpy's, on random data, shapes, roots, types


ONE_D = [(op, a) for op in wc.OPS for a in wc.ALGORITHMS[op]["1d"]]
TWO_D = [(op, a) for op in wc.OPS for a in wc.ALGORITHMS[op]["2d"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(ONE_D),
    P=st.integers(1, 9),
    B=st.integers(1, 40),
    column=st.booleans(),
    root=st.sampled_from(["nw", "ne", "sw", "se"]),
    typ=st.sampled_from([("f32", "sum"), ("f32", "max"), ("f16", "sum")]),
    seed=st.integers(0, 2**16),
)
def test_1d_results_equal_numpy(which, P, B, column, root, typ, seed):
    op, algorithm = which
    shape = (1, P) if column else (P, 1)
    coll = wc.Collective(op, shape, B, algorithm, root=root, dtype=typ[0], reduce_op=typ[1])
    r = coll.simulate(seed=seed)
    assert r.ok and r.bit_exact, (coll, r.max_abs_err)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(TWO_D),
    w=st.integers(2, 5),
    h=st.integers(2, 4),
    B=st.integers(1, 24),
    root=st.sampled_from(["nw", "ne", "sw", "se"]),
    typ=st.sampled_from([("f32", "sum"), ("f32", "max"), ("f16", "sum")]),
    axes=st.sampled_from(wc.ALGORITHMS["reduce"]["1d"]),
    seed=st.integers(0, 2**16),
)
def test_2d_results_equal_numpy(which, w, h, B, root, typ, axes, seed):
    op, algorithm = which
    opts = {"row": axes, "col": "chain"} if algorithm == "xy" else {}
    if algorithm == "snake":
        opts = {"line": axes}
    coll = wc.Collective(
        op, (w, h), B, algorithm, root=root, dtype=typ[0], reduce_op=typ[1], **opts
    )
    r = coll.simulate(seed=seed)
    assert r.ok and r.bit_exact, (coll, r.max_abs_err)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    op=st.sampled_from(["reduce_scatter", "allgather", "allreduce"]),
    w=st.integers(1, 5),
    h=st.integers(2, 4),
    B=st.integers(1, 30),
    root=st.sampled_from(["nw", "ne", "sw", "se"]),
    typ=st.sampled_from([("f32", "sum"), ("f32", "max"), ("f16", "sum")]),
    seed=st.integers(0, 2**16),
)
def test_rings_on_rectangles_equal_numpy(op, w, h, B, root, typ, seed):
    # the distance-preserving ring along the snake from the root's corner: PE k = j w + i owns
    # slice k (reduce-scatter) or slot k (allgather) wherever the snake puts it
    coll = wc.Collective(op, (w, h), B, "ring_dp", root=root, dtype=typ[0], reduce_op=typ[1])
    r = coll.simulate(seed=seed)
    assert r.ok and r.bit_exact, (coll, r.max_abs_err)
    assert coll.colors_needed <= 3


def test_reduce_scatter_on_a_rectangle_by_hand():
    # 3 x 2, root in the south-east corner: PE k = j * 3 + i, (i, j) counted from that corner,
    # holds elements k*B//6 .. (k+1)*B//6 of the sum
    w, h, B = 3, 2, 12
    coll = wc.Collective("reduce_scatter", (w, h), B, "ring_dp", root="se")
    data = np.arange(h * w * B, dtype=np.float32).reshape(h, w, B)
    r = coll.simulate(data=data)
    assert r.ok and r.bit_exact
    total = data.sum(axis=(0, 1))
    for y in range(h):
        for x in range(w):
            k = (h - 1 - y) * w + (w - 1 - x)
            want, mask = coll.built().reference(data, "sum")
            assert mask[y, x].sum() == 2 and np.array_equal(
                want[y, x][mask[y, x]], total[2 * k : 2 * k + 2]
            )


def test_large_blocks_in_a_ring_do_not_deadlock():
    # every PE of a ring sends before it receives: blocks far larger than the buffers between
    # two PEs need the asynchronous executor
    for algorithm in ("ring", "ring_dp"):
        r = wc.Collective("allreduce", 5, 1000, algorithm).simulate()
        assert r.ok and r.bit_exact


# ---------------------------------------------------------------------------------------------
# simulated cycles against each algorithm's model (docs/collectives.md, "Model against
# simulator"); a table of the numbers is printed (pytest -s) and shown when a test fails


def _gaps(cases) -> list[tuple]:
    """Simulate (op, algorithm, shape, B) cases: rows (..., model, generic model, sim, gap)."""
    rows = []
    for op, algorithm, shape, B in cases:
        r = wc.Collective(op, shape, B, algorithm).simulate()
        assert r.ok, (op, algorithm, shape, B)
        rows.append((op, algorithm, shape, B, r.model_cycles, r.generic_model_cycles, r.cycles))
    text = "\n".join(
        f"{op:9s} {a:13s} {str(sh):>8s} B={B:<5d} model {m:8.1f}  paper {g:8.1f}  sim {c:6d}"
        f"  gap {100 * (c - m) / m:+5.1f}%  (paper {100 * (c - g) / g:+5.1f}%)"
        for op, a, sh, B, m, g, c in rows
    )
    print("\n" + text)
    return [(*row, (row[6] - row[4]) / row[4], text) for row in rows]


FOLLOW = (("reduce", "chain"), ("reduce", "two_phase"), ("broadcast", "flood"))


def _check_follow(P: int, words: tuple[int, ...]) -> None:
    rows = _gaps([(op, a, P, B) for op, a in FOLLOW for B in words])
    assert all(abs(r[7]) <= 0.05 for r in rows), rows[0][-1]


@pytest.mark.parametrize("P", [4, 16, 64, 256])
def test_chain_two_phase_broadcast_within_5_percent_of_their_model(P):
    _check_follow(P, (64, 256, 1024))


@pytest.mark.slow
@pytest.mark.parametrize("P", [4, 16, 64, 256, 512])
def test_chain_two_phase_broadcast_within_5_percent_of_their_model_full_sweep(P):
    _check_follow(P, (64, 256, 1024, 4096))


def test_two_phase_runs_at_its_schedule_not_at_the_papers_model():
    # the two points the paper's form max(2B, E/N + L) + 5D missed by 5.1% and 7.8%: the
    # leaders' 2B and the latency of both chains add (model.schedule.two_phase_schedule)
    for P, B, schedule, paper in ((16, 64, 166, 158.0), (64, 256, 634, 588.111)):
        r = wc.Collective("reduce", P, B, "two_phase").simulate()
        assert r.cycles == r.model_cycles == schedule
        assert r.generic_model_cycles == pytest.approx(paper, abs=1e-3)


def test_chain_and_flood_are_exact():
    # B + 6 (P - 1) and B + P + 2 T_R on WSE-2, to the cycle; a 2D flood likewise
    assert wc.Collective("reduce", 100, 300, "chain").simulate().cycles == 300 + 6 * 99
    assert wc.Collective("broadcast", 100, 300, "flood").simulate().cycles == 300 + 100 + 4
    r = wc.Collective("broadcast", (7, 5), 64, "flood").simulate()
    assert r.cycles == r.model_cycles == model.broadcast_2d(7, 5, 64, WSE2)


@pytest.mark.parametrize("P", [4, 16, 64])
def test_every_reduce_tree_runs_at_its_schedule(P):
    # Star, Tree and both Auto-Gen trees over the sweep's B: the schedule (children in turn)
    # within 2%; the paper's generic model misses the Star by up to +93% and the paper's
    # Auto-Gen tree by up to +49%
    cases = [
        ("reduce", a, P, B)
        for a in ("star", "tree", "autogen", "autogen_paper")
        for B in (1, 4, 16, 64, 256, 1024)
    ]
    rows = _gaps(cases)
    assert all(abs(r[7]) <= 0.02 for r in rows), rows[0][-1]
    # the schedule-optimal Auto-Gen runs exactly at its model time
    assert all(r[6] == r[4] for r in rows if r[1] == "autogen"), rows[0][-1]


@pytest.mark.slow
@pytest.mark.parametrize("P", [256, 512])
def test_every_reduce_tree_runs_at_its_schedule_long_rows(P):
    cases = [
        ("reduce", a, P, B)
        for a in ("tree", "autogen", "autogen_paper")
        for B in (1, 4, 16, 64, 256, 1024)
    ]
    rows = _gaps(cases)
    assert all(abs(r[7]) <= 0.02 for r in rows), rows[0][-1]


def test_two_d_trees_gathers_scatters_and_rings_run_at_their_model():
    cases = [
        ("reduce", "xy", (16, 16), 64),  # autogen rows and column
        ("reduce", "xy", (6, 5), 40),
        ("allreduce", "xy", (8, 8), 256),
        ("reduce", "snake", (5, 4), 16),
        ("gather", "stream", (4, 4), 8),
        ("scatter", "stream", (4, 4), 8),
        ("scatter", "stream", 9, 3),
        ("allgather", "gather_broadcast", (3, 5), 8),
        ("reduce_scatter", "ring_dp", (8, 8), 256),
        ("allgather", "ring_dp", (4, 3), 16),
        ("allreduce", "ring", 16, 256),
        ("allreduce", "ring_dp", (4, 4), 64),
    ]
    rows = _gaps(cases)
    assert all(abs(r[7]) <= 0.02 for r in rows), rows[0][-1]


def test_measured_quantities_match_the_pattern():
    for op, shape, B, algorithm in (
        ("reduce", 16, 32, "two_phase"),
        ("reduce", 16, 8, "tree"),
        ("reduce", (5, 4), 16, "xy"),
        ("broadcast", (5, 4), 8, "flood"),
        ("allgather", 6, 4, "ring_dp"),
        ("allreduce", (4, 3), 8, "xy"),
        ("reduce_scatter", (4, 3), 24, "ring_dp"),
        ("allgather", (3, 3), 5, "ring_dp"),
    ):
        r = wc.Collective(op, shape, B, algorithm).simulate()
        q, m = r.model, r.measured
        # the data's hops are the model's E; control wavelets (switch advances) come on top
        assert m["E_data"] == pytest.approx(q["E"])  # B / P words per block: float sums
        assert m["E"] == pytest.approx(q["E"] + m["control_hops"])
        assert m["N"] == q["N"]  # phases use disjoint links: their N add
        assert q["C"] <= m["C"] <= sum(p["C"] for p in q["phases"]) + m["control_wavelets"]


# ---------------------------------------------------------------------------------------------
# the selector against the lower bound


@pytest.mark.parametrize("P", [4, 16, 64, 256, 512])
def test_selected_reduce_within_1_4_of_the_bound_in_the_model(P):
    for B in (1, 4, 16, 64, 256, 1024, 4096):
        c = wc.best("reduce", P, B, WSE2)
        assert c.cycles <= 1.4 * model.lower_bound_cycles(P, B, WSE2)
        bc = wc.best("broadcast", P, B, WSE2)
        assert bc.cycles <= 1.4 * wc.lower_bound("broadcast", P, B, WSE2)


def _selected_within_1_4_simulated(P: int) -> None:
    worst = 0.0
    for B in (1, 4, 16, 64, 256, 1024, 4096):
        choice = wc.best("reduce", P, B, WSE2)
        r = wc.Collective("reduce", P, B, choice.algorithm).simulate()
        assert r.ok
        ratio = r.cycles / model.lower_bound_cycles(P, B, WSE2)
        worst = max(worst, ratio)
        assert ratio <= 1.4, (P, B, choice, r.cycles)
    print(f"P = {P}: worst simulated / lower bound {worst:.3f}")


@pytest.mark.parametrize("P", [4, 16, 64])
def test_selected_reduce_within_1_4_of_the_bound_simulated(P):
    _selected_within_1_4_simulated(P)


@pytest.mark.slow
@pytest.mark.parametrize("P", [256, 512])
def test_selected_reduce_within_1_4_of_the_bound_simulated_long_rows(P):
    _selected_within_1_4_simulated(P)


def test_lower_bounds_hold_in_simulation():
    # every op's bound below every algorithm's simulated cycles - except the reduce on a line,
    # whose bound (the paper's T*) bounds the paper's model, not the fabric: the schedule-optimal
    # Auto-Gen runs below it (docs/collectives.md)
    for shape in ((6, 1), (3, 4)):
        for op in wc.OPS:
            for algorithm in wc.algorithms(op, shape):
                r = wc.Collective(op, shape, 12, algorithm).simulate()
                bound = wc.lower_bound(op, shape, 12, WSE2)
                if op == "reduce" and shape[1] == 1:
                    assert bound == model.lower_bound_cycles(6, 12, WSE2)
                    continue
                assert r.ok and r.cycles >= bound, (op, shape, algorithm, r.cycles, bound)
    r = wc.Collective("reduce", 256, 64, "autogen").simulate()
    assert r.cycles == 414 < 0.87 * wc.lower_bound("reduce", 256, 64, WSE2)


def test_best_follows_the_regimes():
    assert wc.best("reduce", 64, 4096).algorithm == "chain"
    assert wc.best("reduce", 64, 1).algorithm in ("tree", "autogen")
    assert wc.best("reduce", 256, 256).algorithm in ("two_phase", "autogen")
    assert wc.best("reduce", (64, 64), 256).algorithm == "xy"
    c = wc.best("allreduce", 64, 4096)
    assert set(c.candidates) == set(wc.algorithms("allreduce", (64, 1)))
    assert c.cycles == min(c.candidates.values()) or c.cycles <= 1.05 * min(c.candidates.values())
