"""The timing model reproduces the closed forms of spatial-model.md section 2."""

import math

import pytest

from waferscale import arch, model
from waferscale.model import ModelError, predict, predict_cycles

WSE2 = arch.preset("wse2")
# slow ramps, two cycles per hop and a turn penalty: every parameter must come from the spec
ODD = arch.custom_mesh(
    64,
    64,
    timing__ramp_latency_cycles=7,
    timing__hop_latency_cycles=2,
    timing__turn_penalty_cycles=20,
)
ARCHES = [WSE2, ODD, arch.preset("wse3")]
PS = [2, 3, 4, 5, 8, 13, 16, 31, 64]
BS = [1, 2, 3, 5, 16, 100]


def test_wse2_parameters_give_the_papers_numbers():
    # T_R = 2 on WSE-2, so 2 T_R + 1 = 5 and chain reduce is B + 6 (P - 1)
    assert model.chain_reduce(16, 100, WSE2) == 100 + 6 * 15
    assert model.star_reduce(16, 100, WSE2) == 100 * 15 + 5
    assert model.flood_broadcast_1d(16, 100, WSE2) == 100 + 16 + 4
    assert model.broadcast_2d(8, 4, 100, WSE2) == 100 + 8 + 4 - 2 + 5
    assert model.ring_allreduce(16, 160, WSE2) == 2 * 15 * 10 + 4 * 16 - 6 + 2 * 15 * 5


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_chain_reduce_exact(spec):
    for P in PS:
        for B in BS:
            assert predict_cycles(model.reduce_pattern("chain", P, B), spec) == model.chain_reduce(
                P, B, spec
            )


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_star_reduce_relation(spec):
    # The paper's closed form assumes the root's contention dominates. The model gives
    # max(B(P-1), BP/2 + h(P-1)) + 2T_R + 1: equal to the closed form iff B(P-2) >= 2h(P-1),
    # else larger by h(P-1) - B(P-2)/2.
    h = spec.timing.hop_latency_cycles
    for P in PS:
        for B in BS:
            got = predict_cycles(model.reduce_pattern("star", P, B), spec)
            closed = model.star_reduce(P, B, spec)
            assert got - closed == max(0, h * (P - 1) - B * (P - 2) / 2)
            dominates = 2 * h * (P - 1) <= B * (P - 2)
            assert (got == closed) == dominates
    # at WSE-2's h = 1 the closed form is exact for B >= 3 when P >= 4
    assert all(
        predict_cycles(model.reduce_pattern("star", P, B), WSE2) == model.star_reduce(P, B, WSE2)
        for P in range(4, 40)
        for B in (3, 4, 50)
    )


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_flood_broadcast_exact(spec):
    for P in PS:
        for B in BS:
            got = predict_cycles(model.flood_broadcast_pattern(P, B), spec)
            assert got == model.flood_broadcast_1d(P, B, spec)


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_broadcast_2d_exact(spec):
    for M in (1, 2, 3, 7, 16):
        for N in (1, 2, 5, 12):
            for B in (1, 9, 64):
                got = predict_cycles(model.broadcast_2d_pattern(M, N, B), spec)
                assert got == model.broadcast_2d(M, N, B, spec), (M, N, B)


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_ring_allreduce_exact(spec):
    for P in (2, 3, 4, 5, 8, 12):
        for k in (1, 3, 10):
            B = k * P  # integral chunks: every quantity is an exact integer
            got = predict_cycles(model.ring_allreduce_pattern(P, B), spec)
            assert got == model.ring_allreduce(P, B, spec), (P, B)
        for B in (1, 7, 100):  # fractional chunks B/P: equal up to float rounding
            got = predict_cycles(model.ring_allreduce_pattern(P, B), spec)
            assert math.isclose(got, model.ring_allreduce(P, B, spec), rel_tol=1e-12)


@pytest.mark.parametrize("spec", ARCHES, ids=lambda a: a.name)
def test_reduce_then_broadcast_is_two_phases(spec):
    for P in (2, 5, 16):
        for B in (1, 40):
            bcast = model.flood_broadcast_pattern(P, B)
            for algorithm in model.ALGORITHMS:
                reduce = model.reduce_pattern(algorithm, P, B, spec)
                got = predict_cycles([reduce, bcast], spec)
                assert got == model.reduce_then_broadcast_allreduce(P, B, spec, algorithm)
                assert got == predict_cycles(reduce, spec) + predict_cycles(bcast, spec)


def test_one_pe_moves_nothing():
    for f in (
        model.chain_reduce,
        model.star_reduce,
        model.flood_broadcast_1d,
        model.ring_allreduce,
        model.reduce_then_broadcast_allreduce,
    ):
        assert f(1, 8, WSE2) == 0.0
    assert model.broadcast_2d(1, 1, 8, WSE2) == 0.0
    for algorithm in model.ALGORITHMS:
        assert predict_cycles(model.reduce_pattern(algorithm, 1, 8), WSE2) == 0.0


def test_prediction_terms():
    p = model.reduce_pattern("star", 8, 10)
    got = predict(p, WSE2)
    assert got.contention == 70 and got.link_term == 10 * 28 / 7 and got.wire == 7
    assert got.stages == 5 and got.cycles == 75.0 and got.bound_by == "contention"
    assert predict(model.reduce_pattern("chain", 8, 10), WSE2).bound_by == "links"
    assert predict(p, ODD).wire == 14  # two cycles per hop


def test_turn_penalty_applies_to_turning_routes():
    p = model.Pattern([model.Transfer((0, 0), (3, 2), 1)])
    assert predict(p, ODD).wire == 2 * 5 + 20
    assert predict(p, WSE2).wire == 5


def test_errors():
    with pytest.raises(ModelError) as info:
        model.chain_reduce(0, 4, WSE2)
    assert str(info.value) == "P: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        model.star_reduce(4, 0, WSE2)
    assert str(info.value) == "B: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        model.ring_allreduce(4, 2.5, WSE2)
    assert str(info.value) == "B: got 2.5, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        model.chain_reduce(4, 4, "wse2")
    assert str(info.value).startswith("arch: got str 'wse2', expected an ArchSpec")
    with pytest.raises(ModelError) as info:
        model.chain_reduce(751, 4, WSE2)
    assert str(info.value) == (
        "P: got 751, expected at most 750 (the program rectangle of 'wse2' has 750 columns x "
        "994 rows)"
    )
    with pytest.raises(ModelError) as info:
        predict_cycles(model.reduce_pattern("chain", 65, 1), ODD)
    assert str(info.value) == (
        "pattern 'chain' does not fit the program rectangle of 'wse2-mesh-64x64' (64 columns x "
        "64 rows): it reaches x = 64, y = 0"
    )
    with pytest.raises(ModelError) as info:
        predict_cycles("chain", WSE2)
    assert str(info.value) == "pattern: got str, expected a Pattern or a list of Patterns"
