"""Reduce algorithms by name, their model times, and the selector.

Algorithms (a row of P PEs, root at the west end; see docs/model.md): ``"star"``, ``"chain"``,
``"tree"`` (binary, recursive halving), ``"two_phase"`` (groups of floor(sqrt P)) and
``"autogen"`` (the best pre-order tree for (P, B) under the model).
"""

from __future__ import annotations

from typing import NamedTuple

from waferscale.arch import ArchSpec, preset
from waferscale.model._checks import ModelError, check_arch, check_count, check_words
from waferscale.model.bounds import ReductionTree, autogen_tree
from waferscale.model.pattern import (
    PE,
    Pattern,
    binary_tree_parents,
    chain_parents,
    star_parents,
    tree_reduce_pattern,
    two_phase_parents,
)

__all__ = [
    "ALGORITHMS",
    "FIXED_ALGORITHMS",
    "Choice",
    "best_reduce",
    "reduce_cycles",
    "reduce_pattern",
    "reduce_tree",
]

FIXED_ALGORITHMS: tuple[str, ...] = ("star", "chain", "tree", "two_phase")
"""The reduce algorithms with a fixed tree shape."""
ALGORITHMS: tuple[str, ...] = (*FIXED_ALGORITHMS, "autogen")
"""Every reduce algorithm, in the order ties are broken (simplest first)."""

_PARENTS = {
    "star": star_parents,
    "chain": chain_parents,
    "tree": binary_tree_parents,
    "two_phase": two_phase_parents,
}


class Choice(NamedTuple):
    """The selector's answer: an algorithm name and its predicted cycles."""

    algorithm: str
    cycles: float


def _algorithm(name: object) -> str:
    if name not in ALGORITHMS:
        raise ModelError(
            f"algorithm: got {name!r}, expected one of " + ", ".join(map(repr, ALGORITHMS))
        )
    return name  # type: ignore[return-value]


def reduce_tree(algorithm: str, P: int, B: int, arch: ArchSpec | None = None) -> ReductionTree:
    """The reduction tree of ``algorithm`` for (P, B), with its model time on ``arch``
    (default: the WSE-2 preset)."""
    algorithm = _algorithm(algorithm)
    arch = preset("wse2") if arch is None else check_arch(arch)
    if algorithm == "autogen":
        return autogen_tree(P, B, arch)
    P = check_count("P", P)
    B = check_words("B", B)
    return ReductionTree.from_parents(_PARENTS[algorithm](P), B, arch)


def reduce_pattern(
    algorithm: str, P: int, B: int, arch: ArchSpec | None = None, origin: PE = (0, 0)
) -> Pattern:
    """The communication pattern of a reduce of B words on a row of P PEs (PE i at
    ``origin + (i, 0)``, root PE 0). ``arch`` matters only for ``"autogen"``, whose tree depends
    on the timing parameters (default: the WSE-2 preset)."""
    algorithm = _algorithm(algorithm)
    if algorithm == "autogen":
        return reduce_tree(algorithm, P, B, arch).pattern(origin=origin, name=algorithm)
    P = check_count("P", P)
    B = check_words("B", B)
    return tree_reduce_pattern(_PARENTS[algorithm](P), B, origin=origin, name=algorithm)


def reduce_cycles(algorithm: str, P: int, B: int, arch: ArchSpec) -> float:
    """Predicted cycles of ``algorithm`` (equal to ``predict_cycles(reduce_pattern(...))``)."""
    return reduce_tree(algorithm, P, B, check_arch(arch)).predicted_cycles


def best_reduce(P: int, B: int, arch: ArchSpec, algorithms: tuple[str, ...] = ALGORITHMS) -> Choice:
    """The reduce algorithm with the least predicted cycles for (P, B) on ``arch``, among
    ``algorithms`` (ties go to the one listed first in :data:`ALGORITHMS`)."""
    arch = check_arch(arch)
    names = [_algorithm(a) for a in algorithms]
    if not names:
        raise ModelError("algorithms: got an empty list, expected at least one algorithm")
    ranked = sorted(names, key=ALGORITHMS.index)
    return min((Choice(a, reduce_cycles(a, P, B, arch)) for a in ranked), key=lambda c: c.cycles)
