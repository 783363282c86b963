"""Communication patterns: construction, builders, and errors that name the transfer."""

import pytest

from waferscale import model
from waferscale.model import ModelError, Pattern, PatternError, Transfer


def refused(make) -> str:
    with pytest.raises(PatternError) as info:
        make()
    return str(info.value)


# -- construction ------------------------------------------------------------------------------


def test_transfer_normalises_its_fields():
    t = Transfer(src=[1, 0], dst=(0, 0), words=4, route=["WEST"], after=3, name="a")
    assert t.src == (1, 0) and t.dst == (0, 0) and t.dsts == ((0, 0),)
    assert t.route == "W" and t.routes == ("W",) and t.after == (3,)
    assert not t.multicast
    m = Transfer((0, 0), [(1, 0), (2, 0)], 2)
    assert m.multicast and m.dsts == ((1, 0), (2, 0)) and m.routes is None


def test_pattern_resolves_names_and_orders_dependencies():
    p = Pattern(
        [
            Transfer((2, 0), (1, 0), after="first"),
            Transfer((3, 0), (2, 0), name="first"),
        ]
    )
    assert p.dependencies(0) == (1,)
    assert p.order == (1, 0)
    assert p.label(1) == "transfer 1 ('first')"
    assert len(p) == 2 and p[1].name == "first" and p.pes() == {(1, 0), (2, 0), (3, 0)}


def test_builders_give_the_documented_trees():
    assert model.star_parents(4) == (-1, 0, 0, 0)
    assert model.chain_parents(4) == (-1, 0, 1, 2)
    assert model.binary_tree_parents(8) == (-1, 0, 0, 2, 0, 4, 4, 6)
    assert model.two_phase_parents(10) == (-1, 0, 1, 0, 3, 4, 3, 6, 7, 6)  # s = 3
    p = model.reduce_pattern("tree", 4, 5)
    assert [(t.src, t.dst, t.words, t.after) for t in p] == [
        ((1, 0), (0, 0), 5, ()),
        ((2, 0), (0, 0), 5, (2,)),
        ((3, 0), (2, 0), 5, ()),
    ]
    shifted = model.reduce_pattern("chain", 3, 1, origin=(5, 2))
    assert [(t.src, t.dst) for t in shifted] == [((6, 2), (5, 2)), ((7, 2), (6, 2))]
    assert len(model.reduce_pattern("star", 1, 1)) == 0


@pytest.mark.parametrize("P", [1, 2, 3, 5, 16, 17, 100])
def test_fixed_algorithms_are_pre_order_trees(P):
    # Auto-Gen searches pre-order trees; the four fixed algorithms must be among them.
    for parents in (
        model.star_parents(P),
        model.chain_parents(P),
        model.binary_tree_parents(P),
        model.two_phase_parents(P),
    ):
        assert model.pattern.check_parents(parents, preorder=True) == parents


def test_ring_pattern_shape():
    p = model.ring_allreduce_pattern(3, 6)
    assert len(p) == 2 * 2 * 3
    assert p[5].src == (2, 0) and p[5].dst == (0, 0) and p[5].words == 2  # the closing link
    assert p[3].after == (2,)  # step 1, PE 0 waits for step 0's chunk from PE 2


# -- errors ------------------------------------------------------------------------------------


def test_transfer_from_a_pe_to_itself():
    assert refused(lambda: Transfer((1, 0), (1, 0))) == (
        "transfer (1, 0) -> (1, 0): source and destination are the same PE (1, 0)"
    )
    assert refused(lambda: Transfer((1, 0), [(2, 0), (1, 0)], name="m")) == (
        "transfer 'm': source and destination are the same PE (1, 0)"
    )


def test_dependency_cycle():
    assert (
        refused(
            lambda: Pattern([Transfer((0, 0), (1, 0), after=1), Transfer((1, 0), (0, 0), after=0)])
        )
        == "dependency cycle: transfer 0 -> transfer 1 -> transfer 0"
    )
    assert refused(
        lambda: Pattern(
            [
                Transfer((0, 0), (1, 0), after="c", name="a"),
                Transfer((1, 0), (2, 0), after="a", name="b"),
                Transfer((2, 0), (0, 0), after="b", name="c"),
            ]
        )
    ) == (
        "dependency cycle: transfer 0 ('a') -> transfer 1 ('b') -> transfer 2 ('c') -> "
        "transfer 0 ('a')"
    )


def test_bad_dependencies():
    t = Transfer((0, 0), (1, 0))
    assert refused(lambda: Pattern([t, Transfer((1, 0), (2, 0), after=5)])) == (
        "transfer 1: depends on transfer 5, but the pattern has 2 transfers (indices 0..1)"
    )
    assert refused(lambda: Pattern([t, Transfer((1, 0), (2, 0), after="x")])) == (
        "transfer 1: depends on unknown transfer 'x'"
    )
    assert refused(lambda: Pattern([Transfer((0, 0), (1, 0), after=0)])) == (
        "transfer 0: depends on itself"
    )
    assert refused(lambda: Pattern([Transfer((0, 0), (1, 0), name="a")] * 2)) == (
        "transfer 1 ('a'): name 'a' is also used by transfer 0"
    )
    assert refused(lambda: Transfer((0, 0), (1, 0), after=[-1])) == (
        "transfer (0, 0) -> (1, 0): after: got -1, expected a transfer index >= 0 or a name"
    )
    assert refused(lambda: Pattern([t, "x"])) == "transfer 1: got str, expected a Transfer"


def test_bad_fields():
    assert refused(lambda: Transfer((0, -1), (1, 0))) == (
        "transfer (0, -1) -> (1, 0): src: got (0, -1), expected a PE (x, y) of integers >= 0"
    )
    assert refused(lambda: Transfer((0, 0), [])) == (
        "transfer (0, 0) -> []: dst: got [], expected a PE (x, y) of integers >= 0 or a "
        "non-empty list of such PEs"
    )
    assert refused(lambda: Transfer((0, 0), (1, 0), words=0)) == (
        "transfer (0, 0) -> (1, 0): words: got 0, expected a number > 0"
    )
    assert refused(lambda: Transfer((0, 0), (1, 0), words=True)) == (
        "transfer (0, 0) -> (1, 0): words: got True, expected a number > 0"
    )
    assert refused(lambda: Transfer((0, 0), [(1, 0), (1, 0)])) == (
        "transfer (0, 0) -> [(1, 0), (1, 0)]: destination (1, 0) is listed twice"
    )


def test_bad_routes():
    assert refused(lambda: Transfer((0, 0), (1, 1), route="EX")) == (
        "transfer (0, 0) -> (1, 1): route hop 1: got 'X', expected one of 'N', 'S', 'E', 'W'"
    )
    assert refused(lambda: Transfer((0, 0), (1, 1), route="E")) == (
        "transfer (0, 0) -> (1, 1): route 'E' ends at PE (1, 0), not at the destination (1, 1)"
    )
    assert refused(lambda: Transfer((0, 0), (1, 0), route="WEE")) == (
        "transfer (0, 0) -> (1, 0): route 'WEE' leaves the grid at hop 0 (to (-1, 0))"
    )
    assert refused(lambda: Transfer((0, 0), (0, 1), route="SENWS")) == (
        "transfer (0, 0) -> (0, 1): route 'SENWS' visits PE (0, 0) twice"
    )
    assert refused(lambda: Transfer((0, 0), [(1, 1), (2, 1)], route=["ES", "SEE"])) == (
        "transfer (0, 0) -> [(1, 1), (2, 1)]: routes enter PE (1, 1) over two different links "
        "(a multicast must form a tree)"
    )
    assert refused(lambda: Transfer((0, 0), [(1, 1), (2, 1)], route=["ES"])) == (
        "transfer (0, 0) -> [(1, 1), (2, 1)]: route: got 1 routes for 2 destinations, expected "
        "one route per destination"
    )


def test_bad_trees():
    with pytest.raises(PatternError) as info:
        model.tree_reduce_pattern((-1, 0, 0, 1), 1)  # PE 3's parent is PE 1: not an interval
    assert str(info.value) == (
        "parent[3]: got 1, expected PE 2 or one of its ancestors (a pre-order tree: every "
        "subtree an interval rooted at its west end)"
    )
    with pytest.raises(PatternError) as info:
        model.tree_reduce_pattern((0, 0), 1)
    assert str(info.value) == "parent[0]: got 0, expected -1 (PE 0 is the root)"
    with pytest.raises(PatternError) as info:
        model.tree_reduce_pattern((-1, 2, 1), 1, preorder=False)
    assert str(info.value) == "parent: PE 1 does not reach the root (a cycle)"
    # a tree that is fine without the pre-order requirement
    assert len(model.tree_reduce_pattern((-1, 0, 0, 1), 1, preorder=False)) == 3


def test_bad_counts():
    with pytest.raises(ModelError) as info:
        model.reduce_pattern("chain", 0, 4)
    assert str(info.value) == "P: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        model.reduce_pattern("chain", 4, 0)
    assert str(info.value) == "B: got 0, expected an integer >= 1"
    with pytest.raises(ModelError) as info:
        model.reduce_pattern("ring", 4, 1)
    assert str(info.value) == (
        "algorithm: got 'ring', expected one of 'star', 'chain', 'tree', 'two_phase', 'autogen'"
    )


def test_multicast_destinations_as_an_array_and_long_labels():
    import numpy as np

    t = Transfer((0, 0), np.array([[1, 0], [2, 0]]), 3)
    assert t.dst == ((1, 0), (2, 0)) and t.multicast
    many = [(i, 0) for i in range(1, 5)] + [(0, 0)]
    assert refused(lambda: Transfer((0, 0), many)) == (
        "transfer (0, 0) -> [(1, 0), (2, 0), (3, 0), ... 2 more]: source and destination are "
        "the same PE (0, 0)"
    )
    assert refused(lambda: Transfer((0, 0), [5, "x"])) == (
        "transfer (0, 0) -> [5, 'x']: dst: got [5, 'x'], expected a PE (x, y) of integers >= 0 "
        "or a non-empty list of such PEs"
    )
