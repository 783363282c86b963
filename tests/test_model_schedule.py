"""The schedule model of reduction trees (waferscale.model.schedule): closed forms against the
recursion, the optimal tree against brute force, hand-derived values, errors.

The simulator's side (every tree runs at its schedule time) is in tests/test_collectives.py."""

from __future__ import annotations

import math

import pytest

from waferscale import arch, model
from waferscale.model import schedule as sched
from waferscale.model.pattern import check_parents

WSE2 = arch.preset("wse2")
GRID_P = (1, 2, 3, 4, 5, 7, 9, 10, 16, 17, 30, 64, 100, 256, 511)
GRID_B = (1, 2, 3, 7, 16, 64, 256, 1000)


def preorder_trees(P):
    """Every pre-order tree on P PEs (PE v's parent lies on the path from v - 1 to the root)."""

    def rec(v, path, parent):
        if v == P:
            yield tuple(parent)
            return
        for k in range(len(path)):
            yield from rec(v + 1, path[: k + 1] + [v], parent + [path[k]])

    yield from rec(1, [0], [-1])


def test_two_phase_by_hand():
    # P = 64: groups of g = 8, G = 8, s = 5, h = 1, c = s + h g = 13
    # X = 7 * 6 + 256 + 2 = 300 (a leader has its group), Y = 7 * 6 = 42 (the last leader)
    # T = 256 + max(300 + 6 * 13, 42 + 7 * 13) = 634; the paper's model says 588.1
    assert sched.two_phase_schedule(64, 256, WSE2) == 634
    assert model.reduce_cycles("two_phase", 64, 256, WSE2) == pytest.approx(588.111, abs=1e-3)
    # P = 16, B = 64: X = 3 * 6 + 64 + 2 = 84, c = 9, T = 64 + max(84 + 18, 18 + 27) = 166
    assert sched.two_phase_schedule(16, 64, WSE2) == 166
    # latency-bound: B = 1, P = 64: T = 1 + max(45 + 78, 42 + 91) = 134
    assert sched.two_phase_schedule(64, 1, WSE2) == 134


def test_star_by_hand():
    # the streams reach the root at s + h i; each but the last is followed by CONTROL_GAP
    assert sched.CONTROL_GAP == 2
    assert sched.star_schedule(16, 64, WSE2) == 64 + 5 + 1 + 14 * 66 == 994
    assert sched.star_schedule(4, 1, WSE2) == 1 + 5 + max(1 + 2 * 3, 3) == 13


@pytest.mark.parametrize("P", GRID_P)
def test_closed_forms_equal_the_recursion(P):
    for B in GRID_B:
        for alg, closed in (
            ("star", sched.star_schedule),
            ("two_phase", sched.two_phase_schedule),
            ("chain", lambda P, B, a: model.chain_reduce(P, B, a)),
        ):
            parent = model.reduce_tree(alg, P, B, WSE2).parent
            assert closed(P, B, WSE2) == sched.line_tree_schedule(parent, B, WSE2), (alg, P, B)
        for group in (2, 3, 5):
            parent = model.two_phase_parents(P, group)
            assert sched.two_phase_schedule(P, B, WSE2, group) == sched.line_tree_schedule(
                parent, B, WSE2
            ), (P, B, group)


@pytest.mark.parametrize("P", range(2, 9))
def test_optimal_tree_is_optimal_by_brute_force(P):
    for B in (1, 3, 8, 30, 200):
        best = min(sched.line_tree_schedule(t, B, WSE2) for t in preorder_trees(P))
        tree = sched.schedule_optimal_tree(P, B, WSE2)
        assert tree.cycles == best, (P, B)
        check_parents(tree.parent)  # a pre-order tree
        assert sched.line_tree_schedule(tree.parent, B, WSE2) == tree.cycles


@pytest.mark.parametrize("P", GRID_P)
def test_optimal_tree_beats_every_algorithm(P):
    for B in GRID_B:
        tree = sched.schedule_optimal_tree(P, B, WSE2)
        assert sched.line_tree_schedule(tree.parent, B, WSE2) == tree.cycles
        for alg in model.ALGORITHMS:
            parent = model.reduce_tree(alg, P, B, WSE2).parent
            assert tree.cycles <= sched.line_tree_schedule(parent, B, WSE2), (alg, P, B)


def test_optimal_tree_beats_the_papers_bound():
    # the paper's bound is a bound on its model (E/N + L: the link load and the wire latency
    # add); a tree's streams overlap them, and the best tree runs below that bound
    for P, B, cycles in ((64, 256, 557), (256, 64, 414), (512, 256, 1047)):
        tree = sched.schedule_optimal_tree(P, B, WSE2)
        assert tree.cycles == cycles
        assert tree.cycles < model.lower_bound_cycles(P, B, WSE2)
    # for long vectors the chain is optimal in both
    assert sched.schedule_optimal_tree(64, 4096, WSE2).parent == model.chain_parents(64)


def test_receive_in_turn():
    # one node, two children on one color: the second waits for the first and its control
    # wavelet (CONTROL_GAP), or for its own arrival
    assert sched.receive_in_turn([(6, 10, 0, True), (7, 10, 0, False)], WSE2) == (18, 28)
    assert sched.receive_in_turn([(6, 10, 0, True), (40, 10, 0, False)], WSE2) == (40, 50)
    # a child on another color enters the input queue meanwhile (4 + 2 words on WSE-2) and
    # the reception in progress takes that much longer: an X-Y corner of 3 x 2, B = 20
    assert sched.queue_words(WSE2) == 6
    assert sched.receive_in_turn([(12, 20, 1, False), (18, 20, 3, False)], WSE2) == (38, 58)
    # ... no more than the reception has left when it arrives (B = 8: 2 words left)
    assert sched.receive_in_turn([(12, 8, 1, False), (18, 8, 3, False)], WSE2) == (22, 30)
    # ... and for free while the ramp is idle
    assert sched.receive_in_turn([(30, 8, 1, False), (18, 8, 3, False)], WSE2) == (38, 46)
    assert sched.receive_in_turn([], WSE2) == (0.0, 0.0)


def test_schedule_of_a_gather_node_sends_after_its_receptions():
    S = sched.Stream
    kids = {0: [S(1, 1, 8, 0, True), S(2, 2, 8, 0, False)], 1: [S(3, 1, 8, 1, False)]}
    # node 1: its child arrives at 0 + 5 + 1 = 6, ends 14; it forwards from 6 (reduce) or
    # sends after 14 (gather); node 2 (a leaf) arrives at 5 + 2 = 7
    reduce = sched.schedule_cycles(kids, 0, WSE2)
    gather = sched.schedule_cycles(kids, 0, WSE2, forward=False)
    assert reduce == max(max(12, 7 + 0) + 8 + 2, 7) + 8 == 30
    assert gather == max(max(20, 7) + 8 + 2, 7) + 8 == 38


def test_errors_name_the_problem():
    with pytest.raises(model.ModelError, match="P: got 0"):
        sched.star_schedule(0, 4, WSE2)
    with pytest.raises(model.ModelError, match="B: got -1"):
        sched.two_phase_schedule(8, -1, WSE2)
    with pytest.raises(model.ModelError, match="arch: got str"):
        sched.line_tree_schedule((-1, 0), 4, "wse2")
    with pytest.raises(model.PatternError, match=r"parent\[2\]: got 3"):
        sched.line_tree_schedule((-1, 0, 3, 1), 4, WSE2)
    with pytest.raises(model.ModelError, match="at most 16384"):
        sched.schedule_optimal_tree(sched.MAX_OPTIMAL_P + 1, 4, WSE2)
    with pytest.raises(model.ModelError, match="axis: got 'diagonal'"):
        model.lower_bound_cycles(8, 4, WSE2, axis="diagonal")
    # a column may be longer than a row: 994 rows on WSE-2
    with pytest.raises(model.ModelError, match="at most 750"):
        model.lower_bound_cycles(994, 4, WSE2)
    assert model.lower_bound_cycles(994, 4, WSE2, axis="rows") > 0
    assert model.autogen_tree(994, 4, WSE2, axis="rows").P == 994


def test_lines_of_any_length_and_one_pe():
    assert sched.star_schedule(1, 8, WSE2) == sched.two_phase_schedule(1, 8, WSE2) == 0
    assert sched.line_tree_schedule((-1,), 8, WSE2) == 0
    assert sched.schedule_optimal_tree(1, 8, WSE2).parent == (-1,)
    # a snake through 40 x 30 PEs is one line of 1200
    P = 1200
    assert sched.two_phase_schedule(P, 64, WSE2) == sched.line_tree_schedule(
        model.two_phase_parents(P), 64, WSE2
    )
    assert math.isfinite(sched.schedule_optimal_tree(P, 64, WSE2).cycles)
