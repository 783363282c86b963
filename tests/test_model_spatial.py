"""Spatial-model quantities of small patterns, checked by hand."""

import pytest

from waferscale import model
from waferscale.model import Pattern, SpatialQuantities, Transfer, spatial_quantities


def q(**kw) -> SpatialQuantities:
    return SpatialQuantities(**kw)


@pytest.mark.parametrize("B", [1, 7])
def test_p2_every_algorithm_is_one_hop(B):
    for algorithm in model.ALGORITHMS:
        got = spatial_quantities(model.reduce_pattern(algorithm, 2, B))
        assert got == q(E=B, L=1, maximum=1, max_link_load=B, D=1, C=B, N=1), algorithm


def test_p3_star_and_chain():
    B = 5
    # star: 1->0 (1 hop), 2->0 (2 hops); both cross the link leaving PE 1 westward
    assert spatial_quantities(model.reduce_pattern("star", 3, B)) == q(
        E=3 * B, L=2, maximum=2, max_link_load=2 * B, D=1, C=2 * B, N=2
    )
    # chain: 2->1, then 1->0
    assert spatial_quantities(model.reduce_pattern("chain", 3, B)) == q(
        E=2 * B, L=2, maximum=1, max_link_load=B, D=2, C=B, N=2
    )


def test_p4_tree_and_multicast():
    B = 3
    # tree: 1->0, 3->2, then 2->0 (2 hops). Link 1->0 carries two messages.
    assert spatial_quantities(model.reduce_pattern("tree", 4, B)) == q(
        E=4 * B, L=3, maximum=2, max_link_load=2 * B, D=2, C=2 * B, N=3
    )
    # flood broadcast: one multicast, each link once
    assert spatial_quantities(model.flood_broadcast_pattern(4, B)) == q(
        E=3 * B, L=3, maximum=3, max_link_load=B, D=1, C=B, N=3
    )
    # 2 x 2 broadcast: east along row 0, south down columns 0 and 1
    assert spatial_quantities(model.broadcast_2d_pattern(2, 2, B)) == q(
        E=3 * B, L=2, maximum=2, max_link_load=B, D=1, C=B, N=3
    )


def test_contention_counts_sends_too():
    # one PE sends to three others: it sends 3 x 4 words, each receiver gets 4
    p = Pattern([Transfer((1, 1), d, 4) for d in [(0, 1), (2, 1), (1, 0)]])
    got = spatial_quantities(p)
    assert got.C == 12 and got.N == 3 and got.E == 12 and got.D == 1


def test_explicit_routes_and_xy_routes_use_different_links():
    xy = Pattern([Transfer((0, 0), (1, 1), 2), Transfer((0, 0), (1, 1), 2)])
    assert spatial_quantities(xy).N == 2 and spatial_quantities(xy).max_link_load == 4
    mixed = Pattern([Transfer((0, 0), (1, 1), 2), Transfer((0, 0), (1, 1), 2, route="SE")])
    got = spatial_quantities(mixed)
    assert got.N == 4 and got.max_link_load == 2 and got.E == 8


def test_multicast_routes_share_their_prefix():
    t = Transfer((0, 0), [(2, 0), (2, 1)], 5, route=["EE", "EES"])
    assert spatial_quantities(Pattern([t])) == q(
        E=15, L=3, maximum=3, max_link_load=5, D=1, C=5, N=3
    )


def test_chain_through_a_multicast_counts_hops_to_the_forwarding_pe():
    # (1, 0) hears the multicast after 1 hop and forwards 3 hops south: L = 4, not 3 + 3
    p = Pattern(
        [
            Transfer((0, 0), [(1, 0), (3, 0)], 1),
            Transfer((1, 0), (1, 3), 1, after=0),
        ]
    )
    got = spatial_quantities(p)
    assert got.L == 4 and got.D == 2 and got.maximum == 3
    # a dependency on a transfer that does not deliver to the waiting PE counts its longest hop
    p = Pattern([Transfer((0, 0), [(1, 0), (3, 0)], 1), Transfer((5, 0), (5, 3), 1, after=0)])
    assert spatial_quantities(p).L == 6


def test_empty_pattern():
    assert spatial_quantities(Pattern([])) == q(E=0, L=0, maximum=0, max_link_load=0, D=0, C=0, N=0)


def test_fractional_words():
    got = spatial_quantities(Pattern([Transfer((0, 0), (2, 0), 1.5)]))
    assert got.E == 3.0 and isinstance(got.E, float) and got.C == 1.5


def test_quantities_of_chain_and_star_for_any_p():
    for P in (5, 16, 33):
        B = 4
        chain = spatial_quantities(model.reduce_pattern("chain", P, B))
        expected = (B * (P - 1), P - 1, P - 1, B, P - 1)
        assert expected == (chain.E, chain.L, chain.D, chain.C, chain.N)
        star = spatial_quantities(model.reduce_pattern("star", P, B))
        assert (star.E, star.L, star.D, star.C, star.N) == (
            B * P * (P - 1) // 2,
            P - 1,
            1,
            B * (P - 1),
            P - 1,
        )
        assert star.max_link_load == B * (P - 1)
