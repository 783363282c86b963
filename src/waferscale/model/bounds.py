"""The pre-order lower bound for reduce on a row, and Auto-Gen: the best pre-order tree.

A *pre-order* reduction tree on a row of P PEs (root = PE 0 at the west end) is one where every
subtree is a contiguous interval rooted at its west end. Under the timing model such a tree
costs (docs/model.md)

    T(tree) = max(B K, B E / (P - 1) + h (P - 1)) + (2 T_R + 1) D

with E its hop count (sum over PEs of the distance to the parent), K its largest number of
children (the root of contention), D its depth and h the hop latency: N = P - 1 links are used
and the longest root-ward path has P - 1 hops, for every pre-order tree.

**Lower bound** (Luczynski et al., HPDC 2024, arXiv 2404.15888). Let E*(r, d) be the least hop
count of a pre-order tree on r PEs of depth <= d:

    E*(r, d) = min(E*(r, d-1), min over 1 <= s < r of [E*(s, d-1) + E*(r-s, d) + (r-s)])
    E*(0, .) = E*(1, .) = 0,   E*(r, 0) = infinity for r >= 2

(the last child of the root sits at r - s and roots a subtree of s PEs and depth <= d - 1).
Dropping the contention term, every pre-order tree costs at least

    T*(P, B) = min over D of [B E*(P, D) / (P - 1) + h (P - 1) + D (2 T_R + 1)].

**Auto-Gen** returns the pre-order tree with the least model time, the contention term
included. The recurrence above (argmins kept; ties broken toward fewer children) gives one
energy-optimal tree per depth bound d; where its contention makes it miss the bound, trees with
at most k children per PE (k below that tree's) are searched with the same recurrence extended
by a child count, for every (k, d) that could still beat the best time found. The result is
exactly optimal over all pre-order trees (the tests check it against brute force for small P).
The DP runs in numba; the energy table for P PEs costs O(P^3) and is kept for reuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from waferscale.arch import ArchSpec
from waferscale.model._checks import (
    ModelError,
    check_arch,
    check_count,
    check_words,
    row_fits,
)
from waferscale.model.pattern import PE, Pattern, check_parents, tree_reduce_pattern
from waferscale.model.timing import stage_cycles

__all__ = ["ReductionTree", "autogen_tree", "lower_bound_cycles", "min_tree_energy"]

_INF = np.int64(1 << 62)
_JIT = {"cache": True, "nogil": True}


@nb.njit(**_JIT)
def _energy_dp(P):  # pragma: no cover - compiled; exercised through the Python wrappers
    """E*(r, d) for 0 <= r <= P, 0 <= d <= P-1, with the argmin s (0: inherit d-1), and for the
    tree kept: its largest child count, its depth and its root's child count."""
    dmax = max(P - 1, 0)
    E = np.full((P + 1, dmax + 1), _INF, np.int64)
    A = np.zeros((P + 1, dmax + 1), np.int32)
    RD = np.zeros((P + 1, dmax + 1), np.int32)
    MD = np.zeros((P + 1, dmax + 1), np.int32)
    DE = np.zeros((P + 1, dmax + 1), np.int32)
    for d in range(dmax + 1):
        E[0, d] = 0
        E[1, d] = 0
    for d in range(1, dmax + 1):
        for r in range(2, P + 1):
            if r <= d + 1:  # a chain fits: E = r - 1, the least any tree can have
                E[r, d] = r - 1
                A[r, d] = r - 1
                RD[r, d] = 1
                MD[r, d] = 1
                DE[r, d] = r - 1
                continue
            best = E[r, d - 1]
            arg = 0
            brd = RD[r, d - 1]
            bmd = MD[r, d - 1]
            bde = DE[r, d - 1]
            for s in range(1, r):
                a = E[s, d - 1]
                if a >= _INF:
                    continue
                v = a + E[r - s, d] + (r - s)
                if v > best:
                    continue
                rd = RD[r - s, d] + 1
                md = max(MD[s, d - 1], MD[r - s, d], rd)
                if v < best or md < bmd or (md == bmd and rd < brd):
                    best = v
                    arg = s
                    brd = rd
                    bmd = md
                    bde = max(DE[s, d - 1] + 1, DE[r - s, d])
            E[r, d] = best
            A[r, d] = arg
            RD[r, d] = brd
            MD[r, d] = bmd
            DE[r, d] = bde
    return E, A, MD, DE


@nb.njit(**_JIT)
def _capped_dp(P, dmax, K):  # pragma: no cover - compiled
    """Least hop count of a pre-order tree on r PEs, depth <= d, every PE <= K children.

    R[j, r, d]: the root has <= j children (the others <= K); S the argmin s (0: fewer)."""
    R = np.full((K + 1, P + 1, dmax + 1), _INF, np.int64)
    S = np.zeros((K + 1, P + 1, dmax + 1), np.int32)
    for j in range(K + 1):
        for d in range(dmax + 1):
            R[j, 0, d] = 0
            R[j, 1, d] = 0
    for d in range(1, dmax + 1):
        for j in range(1, K + 1):
            for r in range(2, P + 1):
                best = R[j - 1, r, d]
                arg = 0
                for s in range(1, r):
                    a = R[K, s, d - 1]
                    b = R[j - 1, r - s, d]
                    if a >= _INF or b >= _INF:
                        continue
                    v = a + b + (r - s)
                    if v < best:
                        best = v
                        arg = s
                R[j, r, d] = best
                S[j, r, d] = arg
    return R[K], S


class _Tables:
    """The energy table for the largest P asked so far (rows r <= P serve any smaller P)."""

    P = 0
    E = A = MD = DE = None

    @classmethod
    def get(cls, P: int) -> _Tables:
        if P > cls.P:
            cls.E, cls.A, cls.MD, cls.DE = _energy_dp(max(P, 2))
            cls.P = max(P, 2)
        return cls


def _free_tree(P: int, d: int) -> list[int]:
    """Reconstruct the energy-optimal tree on P PEs of depth <= d as parent pointers."""
    A = _Tables.get(P).A
    parent = [-1] * P
    stack = [(0, P, d)]
    while stack:
        off, r, d = stack.pop()
        while r > 1:
            s = int(A[r, d])
            if s == 0:
                d -= 1
                continue
            child = off + r - s
            parent[child] = off
            stack.append((child, s, d - 1))
            r -= s
    return parent


def _capped_tree(P: int, d: int, K: int, S: np.ndarray) -> list[int]:
    parent = [-1] * P
    stack = [(0, P, d, K)]
    while stack:
        off, r, d, j = stack.pop()
        while r > 1:
            s = int(S[j, r, d])
            if s == 0:
                j -= 1
                continue
            child = off + r - s
            parent[child] = off
            stack.append((child, s, d - 1, K))
            r -= s
            j -= 1
    return parent


def min_tree_energy(P: int, D: int) -> int | float:
    """E*(P, D): the least hop count of a pre-order reduction tree on P PEs of depth <= D
    (``math.inf`` when no such tree exists, i.e. D = 0 < P - 1)."""
    P = check_count("P", P)
    D = check_count("D", D, 0)
    if P == 1:
        return 0
    if D == 0:
        return math.inf
    return int(_Tables.get(P).E[P, min(D, P - 1)])


def _params(
    P: int, B: int, arch: ArchSpec, axis: str = "columns"
) -> tuple[int, int, ArchSpec, int, int]:
    arch = check_arch(arch)
    P = check_count("P", P)
    B = check_words("B", B)
    if axis not in ("columns", "rows"):
        raise ModelError(f"axis: got {axis!r}, expected 'columns' (a row) or 'rows' (a column)")
    row_fits("P", P, arch, axis=axis)
    return P, B, arch, arch.timing.hop_latency_cycles, stage_cycles(arch)


def lower_bound_cycles(P: int, B: int, arch: ArchSpec, axis: str = "columns") -> float:
    """T*(P, B): min over D of ``B E*(P, D) / (P - 1) + h (P - 1) + D (2 T_R + 1)``, a lower
    bound on the model time of every pre-order reduction tree (0 for P = 1). ``axis``:
    ``"columns"`` for a row of P PEs, ``"rows"`` for a column (P is checked against that side
    of the program rectangle)."""
    P, B, arch, h, s = _params(P, B, arch, axis)
    if P == 1:
        return 0.0
    d = np.arange(1, P)
    energy = _Tables.get(P).E[P, 1:P]
    return float(((B * energy) / (P - 1) + h * (P - 1) + s * d).min())


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReductionTree:
    """A reduction tree on a row of P PEs (root PE 0) and its model time for B words."""

    P: int
    B: int
    parent: tuple[int, ...]
    """``parent[v]`` is the PE that v sends to; ``parent[0] == -1``."""
    children: tuple[tuple[int, ...], ...]
    """``children[v]``: the PEs that send to v, west to east."""
    depth: int
    """D: messages on the longest root-ward chain."""
    hops: int
    """Sum over PEs of the hop distance to the parent."""
    energy: int
    """E = B x hops (words x hops), as :func:`~waferscale.model.spatial_quantities` gives."""
    max_children: int
    """The most children of one PE (contention C = B x max_children)."""
    predicted_cycles: float
    """The model time on the arch it was built for."""
    lower_bound_cycles: float
    """T*(P, B) on the same arch."""

    @classmethod
    def from_parents(cls, parent, B: int, arch: ArchSpec, axis: str = "columns") -> ReductionTree:
        """Model time of any pre-order tree given by parent pointers (``parent[0] == -1``) on
        a row (``axis="columns"``) or a column (``"rows"``)."""
        parent = check_parents(parent, preorder=True)
        P, B, arch, h, s = _params(len(parent), B, arch, axis)
        children: list[list[int]] = [[] for _ in range(P)]
        depth = [0] * P
        hops = 0
        for v in range(1, P):  # pre-order: parent[v] < v
            children[parent[v]].append(v)
            depth[v] = depth[parent[v]] + 1
            hops += v - parent[v]
        K = max((len(c) for c in children), default=0)
        D = max(depth)
        links = (B * hops) / (P - 1) + h * (P - 1) if P > 1 else 0.0
        cycles = float(max(B * K, links) + s * D) if P > 1 else 0.0
        return cls(
            P=P,
            B=B,
            parent=parent,
            children=tuple(tuple(c) for c in children),
            depth=D,
            hops=hops,
            energy=B * hops,
            max_children=K,
            predicted_cycles=cycles,
            lower_bound_cycles=lower_bound_cycles(P, B, arch, axis),
        )

    def pattern(self, origin: PE = (0, 0), name: str = "autogen") -> Pattern:
        """The tree's reduce pattern (PE v at ``origin + (v, 0)``)."""
        return tree_reduce_pattern(self.parent, self.B, origin=origin, name=name)


def autogen_tree(P: int, B: int, arch: ArchSpec, axis: str = "columns") -> ReductionTree:
    """Auto-Gen: the pre-order reduction tree with the least model time for (P, B) on ``arch``
    (exact; see the module docstring for the search), on a row (``axis="columns"``) or a
    column (``"rows"``)."""
    P, B, arch, h, s = _params(P, B, arch, axis)
    if P == 1:
        return ReductionTree.from_parents((-1,), B, arch, axis)
    t = _Tables.get(P)
    d = np.arange(1, P)
    energy = t.E[P, 1:P]
    K = t.MD[P, 1:P].astype(np.int64)
    links = (B * energy) / (P - 1) + h * (P - 1)
    bound = links + s * d
    cycles = np.maximum(B * K, links) + s * t.DE[P, 1:P]
    i = int(np.argmin(cycles))
    best, choice = float(cycles[i]), _free_tree(P, int(d[i]))
    # Depths whose energy-optimal tree loses to its contention but whose bound is below the
    # best time: search trees with fewer children per PE there.
    caps: dict[int, list[int]] = {}
    for k in np.flatnonzero((bound < best) & (cycles > bound)):
        depth = int(d[k])
        for cap in range(2, int(K[k])):
            if B * cap + s * depth >= best:
                break
            caps.setdefault(cap, []).append(depth)
    for cap in sorted(caps):
        depths = [x for x in caps[cap] if B * cap + s * x < best]
        if not depths:
            continue
        R, S = _capped_dp(P, max(depths), cap)
        for depth in depths:
            e = int(R[P, depth])
            if e >= _INF:
                continue
            if max(B * cap, (B * e) / (P - 1) + h * (P - 1)) + s * depth < best:
                parent = _capped_tree(P, depth, cap, S)
                tree = ReductionTree.from_parents(parent, B, arch, axis)
                if tree.predicted_cycles < best:
                    best, choice = tree.predicted_cycles, parent
    return ReductionTree.from_parents(choice, B, arch, axis)
