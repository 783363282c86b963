"""Collectives inside user programs, their colors and task ids, models, errors and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from waferscale import arch, model
from waferscale import collectives as wc
from waferscale.cli import main
from waferscale.collectives._tree import tree_schedule
from waferscale.fabric import Engine
from waferscale.model import schedule as sched
from waferscale.program import Layout, mem1d_dsd

WSE2 = arch.preset("wse2")


def _load(eng, name, values, w, h):
    idx, sym = eng.region_indices(name, 0, 0, w, h)
    eng.state.mem32.view(sym.dtype.np_dtype)[idx] = values


def _read(eng, name, w, h):
    idx, sym = eng.region_indices(name, 0, 0, w, h)
    return eng.state.mem32.view(sym.dtype.np_dtype)[idx].copy()


def test_allreduce_inside_a_user_program():
    """A user program squares its vector, then allreduces it, with its own task ids and a
    color of its own in use: the collective takes the free colors and the task it is given."""
    W, H, B = 5, 3, 24
    red = wc.Collective("allreduce", (W, H), B, "xy")
    lay = Layout(W, H)
    lay.set_region_route(0, 0, W, H, 0, rx="RAMP", tx="RAMP")  # the user's own color 0
    inst = red.install(lay)
    assert 0 not in inst.colors and len(inst.colors) == red.colors_needed <= 5

    def prog(c, *, inst):
        v = c.array("v", "f32", B, export=True)
        h = inst.declare(c, v, task_id=20)

        def main_task(pe):
            pe.fmuls(mem1d_dsd(v), mem1d_dsd(v), mem1d_dsd(v))  # v = v * v
            h.run(pe)

        c.bind_local_task(main_task, 8)
        c.activate(8)

    lay.set_region_code(0, 0, W, H, prog, inst=inst)
    eng = Engine(lay.compile())
    data = np.random.default_rng(3).standard_normal((H, W, B)).astype(np.float32)
    _load(eng, "v", data, W, H)
    eng.run()
    got = _read(eng, "v", W, H)
    want = (data * data).sum(axis=(0, 1), dtype=np.float64)
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-5, atol=1e-5)
    assert set(lay.color_names.values()) >= set(inst.colors)


def test_ring_runs_as_tasks_and_activates_then():
    P, B = 6, 300
    ring = wc.Collective("allreduce", P, B, "ring_dp")
    lay = Layout(P, 1)
    inst = ring.install(lay, colors=[3, 5, 7])
    assert inst.colors == (3, 5, 7)

    def prog(c, *, inst):
        v = c.array("v", "f32", B, export=True)
        flag = c.array("flag", "u32", 1, export=True)

        def done(pe):
            pe[flag][0] = 1

        c.bind_local_task(done, 12)
        h = inst.declare(c, v, then=12)
        assert not h.blocking

        def start(pe):
            h.start(pe)

        c.bind_local_task(start, 8)
        c.activate(8)

    lay.set_region_code(0, 0, P, 1, prog, inst=inst)
    eng = Engine(lay.compile())
    data = np.random.default_rng(1).standard_normal((1, P, B)).astype(np.float32)
    _load(eng, "v", data, P, 1)
    eng.run()
    assert _read(eng, "flag", P, 1).ravel().tolist() == [1] * P
    np.testing.assert_allclose(
        _read(eng, "v", P, 1)[0], np.broadcast_to(data[0].sum(0), (P, B)), rtol=1e-5, atol=1e-5
    )


def test_two_collectives_share_a_layout():
    lay = Layout(8, 1)
    a = wc.Collective("reduce", 4, 8, "chain").install(lay, (0, 0))
    b = wc.Collective("reduce", 4, 8, "chain", root="east").install(lay, (4, 0))
    c = wc.Collective("broadcast", 8, 8, "flood").install(lay)
    assert not set(c.colors) & (set(a.colors) | set(b.colors))
    assert set(a.colors) == set(b.colors)  # disjoint regions may reuse colors


def test_colors_and_positions_per_algorithm():
    for op in wc.OPS:
        for algorithm in wc.ALGORITHMS[op]["1d"]:
            for P in (2, 9, 64):
                coll = wc.Collective(op, P, 64, algorithm)
                assert coll.colors_needed <= 3, coll
                assert coll.built().plan.max_positions() <= WSE2.router.switch_positions
        for algorithm in wc.ALGORITHMS[op]["2d"]:
            coll = wc.Collective(op, (7, 5), 16, algorithm)
            assert coll.colors_needed <= 5, coll


def test_errors_name_the_problem():
    with pytest.raises(wc.CollectiveError, match="expected one of"):
        wc.Collective("reduce", 8, 4, "bogus")
    with pytest.raises(wc.CollectiveError, match="op 'sort'"):
        wc.Collective("sort", 8, 4)
    with pytest.raises(wc.CollectiveError, match="'ring', expected one of ring_dp"):
        wc.Collective("reduce_scatter", (4, 4), 4, "ring")  # the simple ring is 1D only
    with pytest.raises(wc.CollectiveError, match="expected at most 16384"):
        wc.Collective("reduce", (200, 100), 4, "snake", line="autogen").model_cycles()
    red = wc.Collective("reduce", 4, 8, "chain")
    lay = Layout(4, 1)
    with pytest.raises(wc.CollectiveError, match="needs 2 colors"):
        red.install(lay, colors=[1])
    with pytest.raises(wc.CollectiveError, match="leaves"):
        red.install(Layout(3, 1))
    inst = red.install(lay)

    def prog(c):
        inst.declare(c, c.array("v", "f16", 8))

    lay.set_region_code(0, 0, 4, 1, prog)
    with pytest.raises(wc.CollectiveError, match="f16"):
        lay.compile()


def test_model_matches_the_model_package():
    # the generic model is the paper's (waferscale.model); the cost of a reduce is the schedule
    # of its tree (waferscale.model.schedule)
    for alg in model.ALGORITHMS:  # the paper's five: its Auto-Gen is our autogen_paper
        name = "autogen_paper" if alg == "autogen" else alg
        for P, B in ((16, 16), (64, 256)):
            c = wc.Collective("reduce", P, B, name)
            assert c.generic_model_cycles() == pytest.approx(model.reduce_cycles(alg, P, B, WSE2))
            assert c.generic_model_cycles() == pytest.approx(c._pattern_cycles())
            parent = model.reduce_tree(alg, P, B, WSE2).parent
            assert c.model_cycles() == sched.line_tree_schedule(parent, B, WSE2)
    assert wc.Collective("reduce", 64, 256, "two_phase").model_cycles() == 634  # not 588.1
    assert wc.Collective("reduce", 64, 256, "autogen").model_cycles() == 557
    assert sched.schedule_optimal_tree(64, 256, WSE2).cycles == 557
    ring = wc.Collective("allreduce", 32, 64, "ring")
    assert ring.generic_model_cycles() == model.ring_allreduce(32, 64, WSE2)
    # the ring's schedule: 2 (P - 1) steps of (B/P + s + tau) plus the wire of its walk (the
    # closing link twice: 2 (P - 1) + 2 (P - 2) hops) and the two final task starts
    assert ring.model_cycles() == 62 * (2 + 5 + 1) + (62 + 60) + 2
    for op, shape, B in (("allreduce", 9, 12), ("reduce_scatter", (3, 4), 7), ("allgather", 5, 3)):
        for algorithm in wc.algorithms(op, wc.Collective(op, shape, B, "auto").shape):
            if algorithm.startswith("ring"):
                c = wc.Collective(op, shape, B, algorithm)
                assert c.generic_model_cycles() == pytest.approx(c._pattern_cycles())
    assert wc.Collective("allreduce", 32, 64, "chain").model_cycles() == (
        model.reduce_then_broadcast_allreduce(32, 64, WSE2, reduce="chain")
    )
    assert wc.Collective("broadcast", (9, 7), 5).model_cycles() == model.broadcast_2d(9, 7, 5, WSE2)
    # a column as tall as the wafer (994 rows > 750 columns): every model, the bound, the choice
    tall = wc.Collective("reduce", (1, 994), 16, "auto")
    choice = wc.best("reduce", (1, 994), 16)
    assert tall.algorithm == choice.algorithm and tall.model_cycles() == choice.cycles
    assert (
        choice.cycles
        <= 1.05 * choice.candidates["autogen"]
        == 1.05 * min(choice.candidates.values())
    )
    assert tall.lower_bound_cycles() == model.lower_bound_cycles(994, 16, WSE2, axis="rows")
    assert wc.Collective("broadcast", (1, 994), 16).model_cycles() == 16 + 993 + 5
    # a mirrored layout costs the same
    for root in ("ne", "sw", "se"):
        assert (
            wc.Collective("reduce", (6, 5), 32, "xy", root=root).model_cycles()
            == wc.Collective("reduce", (6, 5), 32, "xy").model_cycles()
        )
    # the snake is a chain of w * h PEs
    assert wc.Collective("reduce", (6, 5), 32, "snake").model_cycles() == 32 + 6 * 29
    # X-Y: generic = the paper's two phases; cost = the schedule of the whole tree, which the
    # tree built from the messages (every PE of the region) gives too
    xy = wc.Collective("reduce", (40, 30), 64, "xy", row="two_phase", col="autogen_paper")
    assert xy.generic_model_cycles() == pytest.approx(
        model.reduce_cycles("two_phase", 40, 64, WSE2)
        + model.reduce_cycles("autogen", 30, 64, WSE2)
    )
    assert xy.generic_model_cycles() == pytest.approx(xy._pattern_cycles())
    b = xy.built()
    _msgs, kids = b.tree()
    assert xy.model_cycles() == tree_schedule(kids, (0, 0), WSE2)


def test_full_wafer_model():
    c = wc.Collective("allreduce", (512, 512), 256, "xy", row="two_phase", col="chain")
    assert c.model_cycles() > c.lower_bound_cycles() > 0
    assert wc.Collective("broadcast", (750, 994), 16).model_cycles() == model.broadcast_2d(
        750, 994, 16, WSE2
    )


def test_cli_collective(capsys):
    assert (
        main(
            [
                "collective",
                "reduce",
                "--algorithm",
                "two_phase",
                "--shape",
                "9x1",
                "--words",
                "16",
                "--simulate",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["sim_cycles"] > 0 and out["algorithm"] == "two_phase"
    assert out["measured"]["E_data"] == out["model_quantities"][0]["E"]
    assert main(["collective", "allreduce", "--shape", "4x4", "--words", "8"]) == 0
    text = capsys.readouterr().out
    assert "model cycles" in text and "xy" in text
    assert main(["collective", "reduce", "--algorithm", "nope"]) == 2


def test_sub_rectangle_with_a_mirrored_root():
    """A reduce on a 4 x 3 region at (2, 1) of a larger layout, root in its south-east corner;
    the other PEs run nothing."""
    W, H, w, h, B = 8, 5, 4, 3, 16
    red = wc.Collective("reduce", (w, h), B, "xy", root="se", row="two_phase", col="chain")
    lay = Layout(W, H)
    inst = red.install(lay, at=(2, 1))

    def prog(c, *, inst):
        v = c.array("v", "f32", B, export=True)
        h_ = inst.declare(c, v)

        def main_task(pe):
            h_.run(pe)

        c.bind_local_task(main_task, 8)
        c.activate(8)

    def idle(c):
        c.array("v", "f32", B, export=True)

    lay.set_region_code(0, 0, W, H, idle)
    lay.set_region_code(2, 1, w, h, prog, inst=inst)
    eng = Engine(lay.compile())
    data = np.random.default_rng(5).standard_normal((H, W, B)).astype(np.float32)
    _load(eng, "v", data, W, H)
    eng.run()
    got = eng.read_symbol(2 + w - 1, 1 + h - 1, "v")
    np.testing.assert_allclose(got, data[1:4, 2:6].sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)
    untouched = _read(eng, "v", W, H)
    assert np.array_equal(untouched[0], data[0])  # outside the region nothing moved
