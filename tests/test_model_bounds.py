"""The pre-order lower bound and Auto-Gen, against brute force and the fixed algorithms."""

import time
from functools import cache

import pytest

from waferscale import arch, model
from waferscale.model import ModelError, autogen_tree, lower_bound_cycles, min_tree_energy
from waferscale.model.bounds import _Tables

WSE2 = arch.preset("wse2")
ODD = arch.custom_mesh(600, 8, timing__ramp_latency_cycles=7, timing__hop_latency_cycles=2)
FIXED = model.FIXED_ALGORITHMS


@cache
def preorder_trees(P: int) -> list[tuple[tuple[int, ...], int, int, int]]:
    """Every pre-order tree on P PEs as (parents, hops, depth, max children), by brute force."""

    def build(a, b):  # trees on [a, b) rooted at a, as lists of (child, parent)
        if b - a == 1:
            yield []
            return

        def parts(start):  # split start..b-1 into the subtrees of a's children
            if start == b:
                yield []
                return
            for end in range(start + 1, b + 1):
                for sub in build(start, end):
                    for rest in parts(end):
                        yield [(start, a), *sub, *rest]

        yield from parts(a + 1)

    out = []
    for edges in build(0, P):
        parent = [-1] * P
        for v, p in edges:
            parent[v] = p
        depth = [0] * P
        children = [0] * P
        for v in range(1, P):
            depth[v] = depth[parent[v]] + 1
            children[parent[v]] += 1
        hops = sum(v - parent[v] for v in range(1, P))
        out.append((tuple(parent), hops, max(depth), max(children)))
    return out


def model_time(P, B, spec, hops, depth, kids):
    h, s = spec.timing.hop_latency_cycles, 2 * spec.timing.ramp_latency_cycles + 1
    return max(B * kids, (B * hops) / (P - 1) + h * (P - 1)) + s * depth


def test_brute_force_counts_catalan():
    assert [len(preorder_trees(P)) for P in range(1, 9)] == [1, 1, 2, 5, 14, 42, 132, 429]


@pytest.mark.parametrize("P", range(1, 10))
def test_min_energy_recurrence_matches_brute_force(P):
    trees = preorder_trees(P)
    for D in range(0, P + 2):
        fits = [hops for _, hops, depth, _ in trees if depth <= D]
        assert min_tree_energy(P, D) == (min(fits) if fits else float("inf")), (P, D)


@pytest.mark.parametrize("spec", [WSE2, ODD], ids=lambda a: a.name)
@pytest.mark.parametrize("P", range(2, 10))
def test_autogen_is_the_best_pre_order_tree(P, spec):
    trees = preorder_trees(P)
    for B in (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 64, 200, 5000):
        best = min(model_time(P, B, spec, *t[1:]) for t in trees)
        tree = autogen_tree(P, B, spec)
        assert tree.predicted_cycles == best, (P, B)
        bound = min(
            (B * hops) / (P - 1)
            + spec.timing.hop_latency_cycles * (P - 1)
            + (2 * spec.timing.ramp_latency_cycles + 1) * depth
            for _, hops, depth, _ in trees
        )
        assert lower_bound_cycles(P, B, spec) == pytest.approx(bound, rel=1e-12)
        assert tree.lower_bound_cycles <= tree.predicted_cycles


def test_autogen_tree_fields_and_pattern():
    tree = autogen_tree(64, 16, WSE2)
    assert tree.parent[0] == -1 and len(tree.parent) == 64
    assert all(v in tree.children[tree.parent[v]] for v in range(1, 64))
    assert tree.energy == 16 * tree.hops
    pattern = tree.pattern()
    q = model.spatial_quantities(pattern)
    assert (tree.energy, tree.depth, 16 * tree.max_children) == (q.E, q.D, q.C)
    assert model.predict_cycles(pattern, WSE2) == tree.predicted_cycles
    assert model.predict_cycles(model.reduce_pattern("autogen", 64, 16, WSE2), WSE2) == (
        tree.predicted_cycles
    )


GRID = [(P, B) for P in (4, 16, 64, 256) for B in (1, 4, 64, 1024)]


@pytest.mark.parametrize("spec", [WSE2, ODD], ids=lambda a: a.name)
def test_bound_below_every_algorithm_and_autogen_below_fixed(spec):
    for P, B in GRID:
        bound = lower_bound_cycles(P, B, spec)
        auto = model.reduce_cycles("autogen", P, B, spec)
        assert bound <= auto
        for algorithm in FIXED:
            fixed = model.reduce_cycles(algorithm, P, B, spec)
            assert auto <= fixed, (P, B, algorithm)
            assert bound <= fixed


def test_reduce_cycles_equal_the_model_of_the_patterns():
    for P, B in GRID:
        for algorithm in model.ALGORITHMS:
            pattern = model.reduce_pattern(algorithm, P, B, WSE2)
            assert model.reduce_cycles(algorithm, P, B, WSE2) == model.predict_cycles(
                pattern, WSE2
            ), (P, B, algorithm)


@pytest.mark.parametrize(
    ("P", "B", "expected"),
    [
        (4, 1, "star"),  # Star: only tiny B
        (16, 1, "star"),
        (64, 1, "tree"),  # Tree: small B
        (512, 16, "tree"),
        (16, 16, "two_phase"),  # Two-Phase: the middle
        (256, 256, "two_phase"),
        (512, 256, "two_phase"),
        (16, 256, "chain"),  # Chain: B >> T_R * P
        (64, 4096, "chain"),
        (512, 4096, "chain"),
    ],
)
def test_regimes_of_the_fixed_algorithms(P, B, expected):
    assert model.best_reduce(P, B, WSE2, FIXED).algorithm == expected


def test_two_phase_is_the_best_single_fixed_algorithm():
    grid = [(P, B) for P in (4, 16, 64, 256, 512) for B in (1, 16, 256, 4096)]
    worst = {
        a: max(
            model.reduce_cycles(a, P, B, WSE2) / model.reduce_cycles("autogen", P, B, WSE2)
            for P, B in grid
        )
        for a in FIXED
    }
    assert min(worst, key=worst.get) == "two_phase"


def test_best_reduce():
    choice = model.best_reduce(256, 64, WSE2)
    assert choice == ("autogen", model.reduce_cycles("autogen", 256, 64, WSE2))
    assert model.best_reduce(2, 8, WSE2).algorithm == "star"  # every tree is the same: first
    with pytest.raises(ModelError) as info:
        model.best_reduce(4, 4, WSE2, algorithms=())
    assert str(info.value) == "algorithms: got an empty list, expected at least one algorithm"


def test_errors():
    with pytest.raises(ModelError) as info:
        autogen_tree(0, 4, WSE2)
    assert str(info.value) == "P: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        lower_bound_cycles(4, 0, WSE2)
    assert str(info.value) == "B: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        min_tree_energy(4, -1)
    assert str(info.value) == "D: got -1, expected an integer >= 0"
    assert autogen_tree(1, 4, WSE2).predicted_cycles == 0.0
    assert lower_bound_cycles(1, 4, WSE2) == 0.0


def test_record_dp_time_for_512(record_property, capsys):
    """Records (does not assert) the wall time of Auto-Gen's DP at P = 512."""
    autogen_tree(4, 1, WSE2)  # numba code loaded
    _Tables.P = 0
    t0 = time.perf_counter()
    tree = autogen_tree(512, 256, WSE2)
    seconds = time.perf_counter() - t0
    record_property("autogen_P512_seconds", round(seconds, 3))
    with capsys.disabled():
        print(f"\n[model] Auto-Gen P=512 B=256 (energy DP + search): {seconds:.3f} s")
    assert tree.predicted_cycles == pytest.approx(1162.47, abs=0.01)
    assert tree.predicted_cycles == tree.lower_bound_cycles


@pytest.mark.parametrize("P", range(2, 9))
def test_child_capped_recurrence_matches_brute_force(P):
    from waferscale.model.bounds import _capped_dp

    trees = preorder_trees(P)
    for K in range(1, P):
        R, _ = _capped_dp(P, P - 1, K)
        for D in range(1, P):
            fits = [hops for _, hops, depth, kids in trees if depth <= D and kids <= K]
            assert R[P, D] == (min(fits) if fits else 1 << 62), (P, K, D)


def test_autogen_searches_fewer_children_where_contention_binds():
    # With slow ramps (T_R = 7, the vendor slide's figure) the energy-optimal tree of every
    # depth loses to its own contention at P = 13, B = 10..12; the optimum has fewer children.
    # Check the pruned search against an exhaustive one over every cap K and depth D.
    from waferscale.model.bounds import _capped_dp

    spec = arch.custom_mesh(64, 4, timing__ramp_latency_cycles=7)
    P, s = 13, 15
    tables = [_capped_dp(P, P - 1, K)[0] for K in range(1, P)]
    for B in range(8, 15):
        exhaustive = min(
            max(B * K, (B * int(R[P, D])) / (P - 1) + (P - 1)) + s * D
            for K, R in enumerate(tables, start=1)
            for D in range(1, P)
            if R[P, D] < 1 << 62
        )
        assert autogen_tree(P, B, spec).predicted_cycles == exhaustive, B
    t = _Tables.get(P)
    best_energy_tree = min(
        max(11 * int(t.MD[P, D]), (11 * int(t.E[P, D])) / 12 + 12) + s * int(t.DE[P, D])
        for D in range(1, P)
    )
    assert autogen_tree(P, 11, spec).predicted_cycles == 72.25 < best_energy_tree == 74.0
