"""Communication patterns: transfers between PEs and the dependencies between them.

A :class:`Pattern` is a DAG of :class:`Transfer` s. A transfer moves ``words`` wavelets from a
source PE to one destination (unicast) or to several (multicast: routers copy a wavelet to
several outputs for free, so shared links carry it once). Its route is either computed
(dimension-ordered: first along the row (X), then along the column (Y)) or given as a list of
hops (``"N"``, ``"S"``, ``"E"``, ``"W"``). A transfer may depend on other transfers (``after``):
it starts once they have arrived, e.g. a PE forwards a partial sum after it received it.

Coordinates are (x, y) = (column, row) inside the program rectangle, (0, 0) at the north-west
corner: ``"E"`` is x + 1, ``"S"`` is y + 1, as in :mod:`waferscale.arch`.

The builders at the end make the patterns of the reduce algorithms on a row of P PEs (root at
the west end: Star, Chain, binary Tree, Two-Phase, any tree given by parent pointers), the flood
broadcasts (1D and 2D) and the ring allreduce, as described in docs/model.md.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from waferscale.model._checks import (
    PatternError,
    check_count,
    check_words,
    is_int,
    is_real,
)

__all__ = [
    "PE",
    "Pattern",
    "Transfer",
    "binary_tree_parents",
    "broadcast_2d_pattern",
    "chain_parents",
    "check_parents",
    "flood_broadcast_pattern",
    "ring_allreduce_pattern",
    "star_parents",
    "tree_reduce_pattern",
    "two_phase_parents",
]

PE = tuple[int, int]
"""A processing element, (x, y) = (column, row)."""

STEPS: dict[str, tuple[int, int]] = {"N": (0, -1), "S": (0, 1), "E": (1, 0), "W": (-1, 0)}
"""Hop letters and the (dx, dy) each one moves."""

DIRECTION_INDEX: dict[str, int] = {"N": 0, "S": 1, "E": 2, "W": 3}
"""Index of each direction, in the order of :data:`waferscale.arch.PORTS`."""

_HOP_NAMES = {"N": "N", "S": "S", "E": "E", "W": "W"}
_HOP_NAMES.update({"NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W"})


def _as_pe(value: Any) -> PE | None:
    """``value`` as an (x, y) pair of ints >= 0, or None when it is not one."""
    if type(value) is tuple and len(value) == 2:
        x, y = value
        if type(x) is int and type(y) is int:
            return value if x >= 0 and y >= 0 else None
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(is_int(v) and v >= 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    return None


def _looks_like_pe(value: Any) -> bool:
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int:
        return type(value[1]) is int
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fmt_pe(pe: Any) -> str:
    return f"({pe[0]}, {pe[1]})" if _as_pe(pe) is not None else repr(pe)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One message: ``words`` wavelets from ``src`` to ``dst`` (a PE, or a list of PEs).

    ``route``: ``None`` for X-then-Y routing; otherwise the hops as a string (``"WWS"``) or a
    list of direction names (``["W", "W", "S"]``; ``"WEST"`` etc. are accepted). A multicast
    transfer takes ``None`` or one route per destination, and its routes must form a tree (no PE
    entered over two different links). ``after``: transfers this one waits for, by index in the
    pattern or by name. ``name``: optional, unique within a pattern.

    Invalid transfers raise :class:`~waferscale.model.PatternError` naming the transfer, e.g.
    ``transfer (1, 0) -> (1, 0): source and destination are the same PE (1, 0)``.
    """

    src: PE
    dst: PE | tuple[PE, ...]
    words: float = 1
    route: str | tuple[str, ...] | None = None
    after: tuple[int | str, ...] = ()
    name: str | None = None
    _dsts: tuple[PE, ...] = field(init=False, repr=False, compare=False)
    _routes: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    _dst_array: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise self._fail(f"name: got {self.name!r}, expected a non-empty string")
        src = _as_pe(self.src)
        if src is None:
            raise self._fail(f"src: got {self.src!r}, expected a PE (x, y) of integers >= 0")
        set_(self, "src", src)
        multicast = not _looks_like_pe(self.dst)
        if multicast:
            raw = self.dst
            plain = isinstance(raw, (tuple, list)) and all(
                type(d) is tuple and len(d) == 2 and type(d[0]) is int and type(d[1]) is int
                for d in raw
            )
            array = self._destination_array(plain)
            set_(self, "dst", tuple(raw) if plain else tuple(map(tuple, array.tolist())))
            set_(self, "_dsts", self.dst)
            set_(self, "_dst_array", array)
        else:
            d = _as_pe(self.dst)
            if d is None:
                raise self._fail(
                    f"dst: got {self.dst!r}, expected a PE (x, y) of integers >= 0 or a "
                    "non-empty list of such PEs"
                )
            if d == src:
                raise self._fail(f"source and destination are the same PE {_fmt_pe(src)}")
            set_(self, "dst", d)
            set_(self, "_dsts", (d,))
            set_(self, "_dst_array", None)
        if not is_real(self.words) or self.words <= 0:
            raise self._fail(f"words: got {self.words!r}, expected a number > 0")
        set_(self, "words", int(self.words) if is_int(self.words) else float(self.words))
        if type(self.after) is not tuple or self.after:
            set_(self, "after", self._normal_after())
        set_(self, "_routes", self._normal_routes(multicast) if self.route is not None else None)
        if self._routes is not None:
            set_(self, "route", self._routes if multicast else self._routes[0])

    def _fail(self, message: str) -> PatternError:
        return PatternError(f"{self._label()}: {message}")

    def _destination_array(self, plain: bool) -> np.ndarray:
        """The multicast destinations as an (n, 2) int64 array, checked (vectorised).
        ``plain``: ``dst`` is known to be a sequence of (int, int) tuples."""
        raw = self.dst
        array = None
        if plain and len(raw) > 0:
            flat = itertools.chain.from_iterable(raw)
            array = np.fromiter(flat, dtype=np.int64, count=2 * len(raw)).reshape(-1, 2)
        elif isinstance(raw, (tuple, list, np.ndarray)) and len(raw) > 0:
            try:
                array = np.asarray(raw)
            except ValueError:  # ragged
                array = None
        ok = (
            array is not None
            and array.ndim == 2
            and array.shape[1] == 2
            and array.dtype.kind in "iu"
            and bool((array >= 0).all())
        )
        if not ok:
            raise self._fail(
                f"dst: got {_short(raw)}, expected a PE (x, y) of integers >= 0 or a non-empty "
                "list of such PEs"
            )
        array = array.astype(np.int64, copy=False)
        x, y = array[:, 0], array[:, 1]
        hit = np.flatnonzero((x == self.src[0]) & (y == self.src[1]))
        if len(hit):
            raise self._fail(f"source and destination are the same PE {_fmt_pe(self.src)}")
        ids = y * (int(x.max()) + 1) + x
        uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if len(uniq) < len(ids):
            twice = array[first[np.flatnonzero(counts > 1)[0]]]
            raise self._fail(f"destination {_fmt_pe(tuple(twice.tolist()))} is listed twice")
        return array

    # -- normalisation helpers ----------------------------------------------------------------

    def _label(self) -> str:
        if isinstance(self.name, str) and self.name:
            return f"transfer {self.name!r}"
        dst = self.dst
        if not _looks_like_pe(dst) and isinstance(dst, (tuple, list, np.ndarray)):
            shown = [
                _fmt_pe(tuple(d)) if isinstance(d, (tuple, list, np.ndarray)) else repr(d)
                for d in dst[:3]
            ]
            if len(dst) > 3:
                shown.append(f"... {len(dst) - 3} more")
            dst_text = "[" + ", ".join(shown) + "]"
        else:
            dst_text = _fmt_pe(dst)
        return f"transfer {_fmt_pe(self.src)} -> {dst_text}"

    def _normal_after(self) -> tuple[int | str, ...]:
        after = self.after
        if is_int(after) or isinstance(after, str):
            after = (after,)
        if not isinstance(after, Iterable):
            raise self._fail(f"after: got {after!r}, expected transfer indices or names")
        out: list[int | str] = []
        for ref in after:
            if is_int(ref) and ref >= 0:
                out.append(int(ref))
            elif isinstance(ref, str) and ref:
                out.append(ref)
            else:
                raise self._fail(f"after: got {ref!r}, expected a transfer index >= 0 or a name")
        return tuple(out)

    def _normal_routes(self, multicast: bool) -> tuple[str, ...]:
        label = self._label()
        if multicast:
            if isinstance(self.route, str) or not isinstance(self.route, (tuple, list)):
                raise PatternError(
                    f"{label}: route: got {self.route!r}, expected one route per destination "
                    "for a multicast transfer"
                )
            routes = list(self.route)
            if len(routes) != len(self._dsts):
                raise PatternError(
                    f"{label}: route: got {len(routes)} routes for {len(self._dsts)} "
                    "destinations, expected one route per destination"
                )
        else:
            routes = [self.route]
        letters = [self._route_letters(label, r) for r in routes]
        entered: dict[PE, PE] = {}
        for dst, hops in zip(self._dsts, letters, strict=True):
            x, y = self.src
            visited = {(x, y)}
            for i, hop in enumerate(hops):
                dx, dy = STEPS[hop]
                prev = (x, y)
                x, y = x + dx, y + dy
                if x < 0 or y < 0:
                    raise PatternError(
                        f"{label}: route {hops!r} leaves the grid at hop {i} (to ({x}, {y}))"
                    )
                if (x, y) in visited:
                    raise PatternError(f"{label}: route {hops!r} visits PE ({x}, {y}) twice")
                visited.add((x, y))
                if entered.setdefault((x, y), prev) != prev:
                    raise PatternError(
                        f"{label}: routes enter PE ({x}, {y}) over two different links "
                        "(a multicast must form a tree)"
                    )
            if (x, y) != dst:
                raise PatternError(
                    f"{label}: route {hops!r} ends at PE ({x}, {y}), not at the destination "
                    f"{_fmt_pe(dst)}"
                )
        return tuple(letters)

    @staticmethod
    def _route_letters(label: str, route: Any) -> str:
        hops = list(route) if isinstance(route, str) else route
        if not isinstance(hops, (tuple, list)):
            raise PatternError(
                f"{label}: route: got {route!r}, expected hops such as 'WWS' or ['W', 'W', 'S']"
            )
        out = []
        for i, hop in enumerate(hops):
            letter = _HOP_NAMES.get(hop) if isinstance(hop, str) else None
            if letter is None:
                raise PatternError(
                    f"{label}: route hop {i}: got {hop!r}, expected one of 'N', 'S', 'E', 'W'"
                )
            out.append(letter)
        return "".join(out)

    # -- views --------------------------------------------------------------------------------

    @property
    def dsts(self) -> tuple[PE, ...]:
        """The destinations, as a tuple (one element for a unicast transfer)."""
        return self._dsts

    @property
    def multicast(self) -> bool:
        """True when ``dst`` was given as a list of PEs."""
        return not _looks_like_pe(self.dst)

    @property
    def routes(self) -> tuple[str, ...] | None:
        """Explicit routes as hop strings, one per destination; None for X-then-Y routing."""
        return self._routes


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """A communication pattern: transfers and their dependencies (a DAG).

    ``Pattern([Transfer(...), ...], name="chain")``. Dependencies are resolved and checked on
    construction; a cycle raises ``PatternError("dependency cycle: transfer 0 -> transfer 1 ->
    transfer 0")``. The pattern is immutable; its spatial analysis is cached on it.
    """

    transfers: tuple[Transfer, ...] = ()
    name: str = ""
    _deps: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    _order: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _cache: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.transfers, Iterable) or isinstance(self.transfers, str):
            raise PatternError(f"transfers: got {self.transfers!r}, expected a list of Transfer")
        transfers = tuple(self.transfers)
        set_(self, "transfers", transfers)
        if not isinstance(self.name, str):
            raise PatternError(f"name: got {self.name!r}, expected a string")
        names: dict[str, int] = {}
        for i, t in enumerate(transfers):
            if not isinstance(t, Transfer):
                raise PatternError(f"transfer {i}: got {type(t).__name__}, expected a Transfer")
            if t.name is not None:
                if t.name in names:
                    raise PatternError(
                        f"{self.label(i)}: name {t.name!r} is also used by transfer {names[t.name]}"
                    )
                names[t.name] = i
        n = len(transfers)
        deps: list[tuple[int, ...]] = []
        for i, t in enumerate(transfers):
            resolved: list[int] = []
            for ref in t.after:
                if isinstance(ref, str):
                    if ref not in names:
                        raise PatternError(f"{self.label(i)}: depends on unknown transfer {ref!r}")
                    j = names[ref]
                else:
                    if ref >= n:
                        raise PatternError(
                            f"{self.label(i)}: depends on transfer {ref}, but the pattern has "
                            f"{n} transfers (indices 0..{n - 1})"
                        )
                    j = ref
                if j == i:
                    raise PatternError(f"{self.label(i)}: depends on itself")
                if j not in resolved:
                    resolved.append(j)
            deps.append(tuple(resolved))
        set_(self, "_deps", tuple(deps))
        set_(self, "_order", self._topological_order())
        set_(self, "_cache", {})

    def _topological_order(self) -> tuple[int, ...]:
        """Kahn's algorithm, smallest ready index first (deterministic)."""
        n = len(self.transfers)
        users: list[list[int]] = [[] for _ in range(n)]
        waiting = [len(d) for d in self._deps]
        for i, deps in enumerate(self._deps):
            for j in deps:
                users[j].append(i)
        ready = [i for i in range(n) if waiting[i] == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for k in users[i]:
                waiting[k] -= 1
                if waiting[k] == 0:
                    heapq.heappush(ready, k)
        if len(order) < n:
            raise PatternError("dependency cycle: " + " -> ".join(map(self.label, self._cycle())))
        return tuple(order)

    def _cycle(self) -> list[int]:
        """One dependency cycle, as transfer indices with the first repeated at the end."""
        state = [0] * len(self.transfers)  # 0 new, 1 on the stack, 2 done
        for start in range(len(self.transfers)):
            if state[start]:
                continue
            stack = [(start, iter(self._deps[start]))]
            path = [start]
            state[start] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                elif state[nxt] == 1:
                    cycle = path[path.index(nxt) :] + [nxt]
                    # report in the direction data flows: a dependency comes first
                    return cycle[::-1]
                elif state[nxt] == 0:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(self._deps[nxt])))
        raise AssertionError("no cycle found")  # pragma: no cover

    # -- views --------------------------------------------------------------------------------

    def label(self, i: int) -> str:
        """``transfer 3`` or ``transfer 3 ('name')``: how messages name transfer ``i``."""
        name = self.transfers[i].name
        return f"transfer {i}" + (f" ({name!r})" if name else "")

    def dependencies(self, i: int) -> tuple[int, ...]:
        """Indices of the transfers transfer ``i`` waits for."""
        return self._deps[i]

    @property
    def order(self) -> tuple[int, ...]:
        """A topological order of the transfer indices (dependencies first)."""
        return self._order

    def pes(self) -> set[PE]:
        """Every PE that sends or receives."""
        out: set[PE] = set()
        for t in self.transfers:
            out.add(t.src)
            out.update(t.dsts)
        return out

    def __len__(self) -> int:
        return len(self.transfers)

    def __iter__(self) -> Iterator[Transfer]:
        return iter(self.transfers)

    def __getitem__(self, i: int) -> Transfer:
        return self.transfers[i]


# --------------------------------------------------------------------------------------------
# Builders: trees on a row of P PEs, root at the west end (x0), PE i at (x0 + i, y0).


def _origin(origin: Any) -> PE:
    pe = _as_pe(origin)
    if pe is None:
        raise PatternError(f"origin: got {origin!r}, expected a PE (x, y) of integers >= 0")
    return pe


def star_parents(P: int) -> tuple[int, ...]:
    """Star: every PE sends straight to the root."""
    P = check_count("P", P)
    return (-1,) + (0,) * (P - 1)


def chain_parents(P: int) -> tuple[int, ...]:
    """Chain: PE i sends its partial sum to PE i - 1."""
    P = check_count("P", P)
    return (-1,) + tuple(range(P - 1))


def binary_tree_parents(P: int) -> tuple[int, ...]:
    """Tree (recursive halving): in round k, PE i with i mod 2^k = 2^(k-1) sends to
    i - 2^(k-1); the parent of i is i with its lowest set bit cleared."""
    P = check_count("P", P)
    return (-1,) + tuple(i & (i - 1) for i in range(1, P))


def two_phase_parents(P: int, group: int | None = None) -> tuple[int, ...]:
    """Two-Phase: groups of ``s = floor(sqrt(P))`` (or ``group``) consecutive PEs chain-reduce
    to their leftmost PE (the leader); the leaders chain-reduce with hops of length ``s``."""
    P = check_count("P", P)
    s = math.isqrt(P) if group is None else check_count("group", group)
    return (-1,) + tuple(i - s if i % s == 0 else i - 1 for i in range(1, P))


def check_parents(parent: Sequence[int], preorder: bool = True) -> tuple[int, ...]:
    """Validate a reduction tree on a row given as parent pointers (``parent[0] == -1``).

    With ``preorder``, every subtree must be a contiguous interval rooted at its west end (the
    trees the lower bound and Auto-Gen range over).
    """
    if not isinstance(parent, Sequence) or isinstance(parent, str) or len(parent) == 0:
        raise PatternError(
            f"parent: got {parent!r:.60}, expected a non-empty list with parent[0] == -1"
        )
    P = len(parent)
    out = []
    for v, p in enumerate(parent):
        if v == 0:
            if p != -1 or not is_int(p):
                raise PatternError(f"parent[0]: got {p!r}, expected -1 (PE 0 is the root)")
        elif not is_int(p) or not 0 <= p < P or p == v:
            raise PatternError(
                f"parent[{v}]: got {p!r}, expected the index of another PE in 0..{P - 1}"
            )
        out.append(int(p))
    if preorder:
        # PEs 0..P-1 are numbered in pre-order with every subtree an interval rooted at its
        # west end iff each PE's parent lies on the path from the PE just west of it to the
        # root: keep that path as a stack.
        path = [0]
        for v in range(1, P):
            p = out[v]
            while path and path[-1] != p:
                path.pop()
            if not path:
                raise PatternError(
                    f"parent[{v}]: got {p}, expected PE {v - 1} or one of its ancestors "
                    "(a pre-order tree: every subtree an interval rooted at its west end)"
                )
            path.append(v)
    else:
        for v in range(1, P):
            u, steps = v, 0
            while u != 0:
                u, steps = out[u], steps + 1
                if steps > P:
                    raise PatternError(f"parent: PE {v} does not reach the root (a cycle)")
    return tuple(out)


def tree_reduce_pattern(
    parent: Sequence[int],
    B: int,
    origin: PE = (0, 0),
    name: str = "tree",
    preorder: bool = True,
) -> Pattern:
    """The reduce pattern of a tree on a row: PE v sends its B-word partial sum to
    ``parent[v]`` after it received every child's; transfer ``v - 1`` is PE v's message."""
    parent = check_parents(parent, preorder=preorder)
    B = check_words("B", B)
    x0, y0 = _origin(origin)
    P = len(parent)
    children: list[list[int]] = [[] for _ in range(P)]
    for v in range(1, P):
        children[parent[v]].append(v)
    transfers = [
        Transfer(
            src=(x0 + v, y0),
            dst=(x0 + parent[v], y0),
            words=B,
            after=tuple(c - 1 for c in children[v]),
        )
        for v in range(1, P)
    ]
    return Pattern(transfers, name=name)


def flood_broadcast_pattern(P: int, B: int, origin: PE = (0, 0)) -> Pattern:
    """1D broadcast by flooding: the root (west end) multicasts B words along the row."""
    P = check_count("P", P)
    B = check_words("B", B)
    x0, y0 = _origin(origin)
    if P == 1:
        return Pattern((), name="flood_broadcast_1d")
    dsts = [(x0 + i, y0) for i in range(1, P)]
    return Pattern((Transfer(src=(x0, y0), dst=dsts, words=B),), name="flood_broadcast_1d")


def broadcast_2d_pattern(M: int, N: int, B: int, origin: PE = (0, 0)) -> Pattern:
    """2D broadcast on M columns x N rows from the north-west corner: a row flood whose routers
    also multicast down their columns (one X-then-Y multicast to every other PE)."""
    M = check_count("M", M)
    N = check_count("N", N)
    B = check_words("B", B)
    x0, y0 = _origin(origin)
    xs = list(range(x0, x0 + M)) * N
    ys = [y for y in range(y0, y0 + N) for _ in range(M)]
    dsts = list(zip(xs, ys, strict=True))[1:]  # all but the corner itself
    if not dsts:
        return Pattern((), name="broadcast_2d")
    return Pattern((Transfer(src=(x0, y0), dst=dsts, words=B),), name="broadcast_2d")


def ring_allreduce_pattern(P: int, B: int, origin: PE = (0, 0)) -> Pattern:
    """Ring allreduce on a row: reduce-scatter then allgather, 2(P - 1) steps of chunks of
    B/P words. The ring is 0 -> 1 -> ... -> P-1 -> 0; the closing link runs west along the row
    (P - 1 hops). In each step every PE sends to its successor, after it received the previous
    step's chunk from its predecessor."""
    P = check_count("P", P)
    B = check_words("B", B)
    x0, y0 = _origin(origin)
    if P == 1:
        return Pattern((), name="ring_allreduce")
    chunk: float = B // P if B % P == 0 else B / P
    transfers = []
    steps = 2 * (P - 1)
    for k in range(steps):
        for i in range(P):
            pred = (i - 1) % P
            after = (P * (k - 1) + pred,) if k > 0 else ()
            transfers.append(
                Transfer(
                    src=(x0 + i, y0),
                    dst=(x0 + (i + 1) % P, y0),
                    words=chunk,
                    after=after,
                )
            )
    return Pattern(transfers, name="ring_allreduce")
