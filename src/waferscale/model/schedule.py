"""The schedule model of a reduction tree: what a tree costs when every node receives its
children one after the other, as the collectives of :mod:`waferscale.collectives` run it.

The paper's timing model (:func:`waferscale.model.predict`, ``T = max(C, E/N + L) + s D``) is
generic: it applies to any communication pattern and lets the wire latency ``L`` hide under the
contention ``C``. A tree on the fabric does something more specific, and this module follows
it step by step (``s = 2 T_R + 1``, ``h`` the hop latency):

- a leaf starts its stream at cycle 0; its first word reaches its parent's CE ``s + h d``
  cycles later (``d`` hops: ramp up, the wire, ramp down, one cycle of the op);
- a node receives its children in turn, nearest first, one word per cycle; the last child's
  stream it combines and forwards element by element, so its own stream starts when that
  reception starts (a *gather* node sends its block after its last reception ends);
- a child's stream cannot overtake the child before it (they share a color and the earlier
  child's router only turns to *forward* when its stream is done), so each child starts when
  the previous one has ended, or when its first word arrives, whichever is later;
- a stream that ends with a control wavelet (every child but the last turns its own router
  that way) delays the next stream on its color by :data:`CONTROL_GAP` cycles: one link cycle
  for the wavelet and one because the switch it moves applies from the next cycle
  (docs/router.md);
- a child on *another* color (in an X-Y reduce, the column child of a PE that also has row
  children) is not held back by the routers: its first words enter the receiver's input queue
  while the receiver is still taking an earlier child, and the two colors share the ramp
  round-robin. It steals up to :func:`queue_words` ramp cycles (the input queue and the ramp's
  latency slots) from the reception in progress, which that many cycles later.

Per node: ``t_1 = A_1``; ``t_i = max(t_(i-1) + n_(i-1) + gap_(i-1), A_i)`` (plus stolen
cycles), where ``A_i = R(c_i) + s + h d_i`` is the arrival of child ``c_i`` and ``R(c)`` the
cycle at which ``c`` starts its stream (0 for a leaf, ``t_k`` for a node that forwards its last
child). The root's time is ``t_k + n_k``. This is a critical path through the tree; the paper's
contention and link terms appear in it only where they occur (one PE's receptions add, the
wire latency of a chain adds), which is why it can be larger than the paper's model (Two-Phase)
or smaller (a binary tree, whose short messages overlap better than ``E/N`` assumes).

Closed forms: :func:`star_schedule`, :func:`two_phase_schedule` (the chain's is
:func:`waferscale.model.chain_reduce`: the schedule gives it exactly). Any pre-order tree on a
row: :func:`line_tree_schedule`. :func:`schedule_optimal_tree`: the pre-order tree with the
least schedule time for (P, B), by dynamic programming in O(P^2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from waferscale.arch import ArchSpec
from waferscale.model._checks import ModelError, check_arch, check_count, check_words
from waferscale.model.pattern import check_parents
from waferscale.model.timing import stage_cycles

__all__ = [
    "CONTROL_GAP",
    "MAX_OPTIMAL_P",
    "ScheduledTree",
    "Stream",
    "line_streams",
    "line_tree_schedule",
    "queue_words",
    "receive_in_turn",
    "schedule_cycles",
    "schedule_optimal_tree",
    "star_schedule",
    "two_phase_schedule",
]

CONTROL_GAP = 2
"""Cycles between the last word of a stream that ends with a control wavelet and the first word
of the next stream on its color: the control wavelet's own link cycle, and one more because the
router it turns takes its new position from the next cycle."""


def queue_words(arch: ArchSpec) -> int:
    """Words of a stream on another color that can enter a busy PE's input queue: the queue's
    depth plus the ramp's latency slots (the engine sizes every buffer as its depth plus the
    latency of the stage that feeds it)."""
    arch = check_arch(arch)
    return arch.pe.input_queue_depth + arch.timing.ramp_latency_cycles


class Stream(NamedTuple):
    """One message of a tree as its receiver sees it."""

    src: Hashable
    """The sending node (its own children are looked up under this key)."""
    latency: float
    """Wire cycles from sender to receiver: hop latency x hops (+ turn penalties)."""
    words: int
    slot: int = 0
    """The color (slot) it arrives on."""
    control: bool = False
    """Does it end with a control wavelet (which holds back the next stream on its slot)?"""


class _Arrival(NamedTuple):
    time: float
    words: int
    slot: int
    control: bool


def receive_in_turn(
    arrivals: Sequence[tuple[float, int, int, bool]], arch: ArchSpec
) -> tuple[float, float]:
    """One node taking its children's streams in the given order: ``arrivals`` lists (cycle at
    which the first word could enter the CE, words, slot, ends with a control wavelet). Returns
    (cycle the last reception starts, cycle it ends)."""
    arr = [_Arrival(*a) for a in arrivals]
    if not arr:
        return 0.0, 0.0
    q = queue_words(arch)
    free = 0.0
    avail: dict[int, float] = {}
    queued = [0] * len(arr)  # words of a stream already in the input queue
    start = end = 0.0
    for i, a in enumerate(arr):
        start = max(free, a.time, avail.get(a.slot, 0.0))
        length = float(a.words)
        # the first pending stream of every other slot streams into the input queue meanwhile:
        # for free while the ramp is idle, then sharing it with this reception
        seen: set[int] = {a.slot}
        for j in range(i + 1, len(arr)):
            b = arr[j]
            if b.slot in seen:
                continue
            seen.add(b.slot)
            room = min(q, b.words) - queued[j]
            idle = max(0, math.floor(start - max(b.time, free)))
            queued[j] += min(room, idle)
            room -= min(room, idle)
            if room <= 0:
                continue
            remaining = a.words - max(0.0, b.time - start)
            steal = max(0, min(room, math.ceil(remaining)))
            queued[j] += steal
            length += steal
        end = start + length
        free = end
        avail[a.slot] = end + (CONTROL_GAP if a.control else 0)
    return start, end


def schedule_cycles(
    children: Mapping[Hashable, Sequence[Stream]],
    root: Hashable,
    arch: ArchSpec,
    *,
    forward: bool = True,
) -> float:
    """The schedule time of a tree: ``children[v]`` lists the streams node ``v`` receives, in
    the order it receives them. ``forward``: a node forwards its last child's stream combined
    with its own vector (a reduce); otherwise it sends its own block after its last reception
    (a gather)."""
    arch = check_arch(arch)
    s = stage_cycles(arch)
    ready: dict[Hashable, float] = {}
    stack: list[tuple[Hashable, bool]] = [(root, False)]
    while stack:
        v, done = stack.pop()
        if v in ready:  # a subtree shared by several parents (identical rows of an X-Y)
            continue
        kids = children.get(v, ())
        if not done:
            stack.append((v, True))
            stack.extend((m.src, False) for m in kids if m.src not in ready)
            continue
        arrivals = [(ready[m.src] + s + m.latency, m.words, m.slot, m.control) for m in kids]
        start, end = receive_in_turn(arrivals, arch)
        if v == root:
            return end
        ready[v] = start if (forward and kids) else end
    raise AssertionError("unreachable")  # pragma: no cover


Latency = Callable[[int, int], float]
"""Wire cycles of a message from line index ``v`` to line index ``p``."""


def line_streams(
    parent: Sequence[int], B: int, arch: ArchSpec, latency: Latency | None = None
) -> dict[int, list[Stream]]:
    """The streams of a pre-order tree on a line (``parent[v] < v``): PE v sends B words to
    ``parent[v]`` on color slot depth(v) mod 2, taking ``latency(v, parent[v])`` wire cycles
    (default: hop latency x ``v - parent[v]``); every child but the last ends with a control
    wavelet (the next child's stream passes its router, which must turn to *forward*)."""
    arch = check_arch(arch)
    h = arch.timing.hop_latency_cycles
    depth = [0] * len(parent)
    children: dict[int, list[Stream]] = {}
    for v in range(1, len(parent)):
        p = parent[v]
        depth[v] = depth[p] + 1
        wire = h * (v - p) if latency is None else latency(v, p)
        children.setdefault(p, []).append(Stream(v, wire, B, depth[v] % 2, True))
    for lst in children.values():
        lst[-1] = lst[-1]._replace(control=False)
    return children


def line_tree_schedule(
    parent: Sequence[int], B: int, arch: ArchSpec, latency: Latency | None = None
) -> float:
    """The schedule time of a pre-order reduction tree on a line given by parent pointers
    (``parent[0] == -1``; see the module docstring and :func:`line_streams`)."""
    arch = check_arch(arch)
    parent = check_parents(parent, preorder=True)
    B = check_words("B", B)
    if len(parent) == 1:
        return 0.0
    return schedule_cycles(line_streams(parent, B, arch, latency), 0, arch)


def _line(P: int, B: int, arch: ArchSpec) -> tuple[int, int, ArchSpec, int, int]:
    """Checked (P, B, arch) of a line of P PEs (a row, a column or a path through a rectangle:
    any length), with the hop latency and the stage cycles."""
    arch = check_arch(arch)
    P = check_count("P", P)
    B = check_words("B", B)
    return P, B, arch, arch.timing.hop_latency_cycles, stage_cycles(arch)


def star_schedule(P: int, B: int, arch: ArchSpec) -> float:
    """Star on a line of P PEs: the root takes the P - 1 streams in turn, each but the last
    followed by a control wavelet: ``B + s + max(h + (P - 2)(B + g), h (P - 1))`` with ``g`` =
    :data:`CONTROL_GAP` (the second term only when a stream is shorter than a hop)."""
    P, B, arch, h, s = _line(P, B, arch)
    if P == 1:
        return 0.0
    return float(B + s + max(h + (P - 2) * (B + CONTROL_GAP), h * (P - 1)))


def two_phase_schedule(P: int, B: int, arch: ArchSpec, group: int | None = None) -> float:
    """Two-Phase on a line of P PEs (groups of ``g = floor(sqrt P)``, or ``group``; G groups,
    the last one of ``r`` PEs): every leader but the last takes its group's chain, then the next
    leader's stream; the last leader forwards its group's chain. With ``s`` the stage, ``h``
    the hop latency and ``c = s + h g`` one step of the leaders' chain:

        X = (g - 1)(s + h) + B + CONTROL_GAP      (a leader is done with its group)
        Y = (r - 1)(s + h)                        (the last leader starts its stream)
        T = B + max(X + (G - 2) c, Y + (G - 1) c)

    The leaders' contention (2B) and the latency of both chains add: the next leader's stream
    only flows once the leader has taken its group's B words, and then it must still travel
    the leaders' chain. A single group (or groups of one) is a chain."""
    P, B, arch, h, s = _line(P, B, arch)
    g = math.isqrt(P) if group is None else check_count("group", group)
    G = -(-P // g)
    if P == 1:
        return 0.0
    if g == 1 or G == 1:  # a chain: B + (s + h)(P - 1), as chain_reduce
        return float(B + (s + h) * (P - 1))
    r = P - (G - 1) * g
    c = s + h * g
    X = (g - 1) * (s + h) + B + CONTROL_GAP
    Y = (r - 1) * (s + h)
    return float(B + max(X + (G - 2) * c, Y + (G - 1) * c))


# --------------------------------------------------------------------------------------------
# the schedule-optimal pre-order tree


@dataclass(frozen=True)
class ScheduledTree:
    """A pre-order reduction tree on a row of P PEs and its schedule time for B words."""

    P: int
    B: int
    parent: tuple[int, ...]
    cycles: float


_OPT_CACHE: dict[tuple, ScheduledTree] = {}
MAX_OPTIMAL_P = 16384
"""The longest line :func:`schedule_optimal_tree` searches (about a second at this length)."""


def schedule_optimal_tree(P: int, B: int, arch: ArchSpec) -> ScheduledTree:
    """The pre-order reduction tree on a line of P PEs with the least schedule time
    (:func:`line_tree_schedule`) for (P, B) on ``arch``, exact, by dynamic programming
    (O(P^2) time; lines of at most :data:`MAX_OPTIMAL_P` PEs).

    Let ``R(r)`` be the earliest cycle at which the root of a subtree of r PEs can start its
    stream, and ``F(o)`` the earliest cycle at which a node can start receiving a child at
    offset ``o`` after it has taken children covering offsets 1 .. o-1 (``F(1) = 0``). A child
    subtree of r PEs at offset o arrives at ``R(r) + s + h o``:

        F(o') = min over 1 <= o < o' of  max(F(o), R(o' - o) + s + h o) + B + CONTROL_GAP
        R(r)  = min over 1 <= o < r  of  max(F(o), R(r - o) + s + h o),      R(1) = 0
        T(P)  = min over 1 <= o < P  of  max(F(o), R(P - o) + s + h o) + B

    (the last child at offset o roots the remaining r - o PEs; the children before it are a
    best prefix, and both minimisations are monotone, so optimal parts make an optimal whole).
    Ties go to the smallest o: fewer, larger children."""
    P, B, arch, h, s = _line(P, B, arch)
    if P > MAX_OPTIMAL_P:
        raise ModelError(
            f"P: got {P}, expected at most {MAX_OPTIMAL_P} for the schedule-optimal tree (its "
            "search takes O(P^2) time); use a fixed tree (chain, two_phase, ...) on longer lines"
        )
    key = (P, B, h, s, CONTROL_GAP)
    hit = _OPT_CACHE.get(key)
    if hit is not None:
        return hit
    if P == 1:
        tree = ScheduledTree(1, B, (-1,), 0.0)
        _OPT_CACHE[key] = tree
        return tree
    R = np.zeros(P + 1)
    F = np.zeros(P + 1)
    argR = np.zeros(P + 1, np.int64)
    argF = np.zeros(P + 1, np.int64)
    F[1] = 0.0
    for r in range(2, P + 1):
        o = np.arange(1, r)
        arrive = R[r - o] + s + h * o
        cand = np.maximum(F[1:r], arrive)
        k = int(np.argmin(cand))
        R[r] = cand[k]
        argR[r] = k + 1
        fc = cand + B + CONTROL_GAP
        k = int(np.argmin(fc))
        F[r] = fc[k]
        argF[r] = k + 1
    # the root: like R(P) but its last reception ends B later
    o = np.arange(1, P)
    cand = np.maximum(F[1:P], R[P - o] + s + h * o)
    k = int(np.argmin(cand))
    cycles = float(cand[k] + B)
    parent = [-1] * P
    # (node, size of its interval, offset bound of the children still to place, last-o)
    stack = [(0, P, k + 1)]
    while stack:
        v, size, last = stack.pop()
        # the last child sits at offset `last` and roots size - last PEs
        child = v + last
        parent[child] = v
        if size - last > 1:
            stack.append((child, size - last, int(argR[size - last])))
        o = last
        while o > 1:  # the prefix of children covering offsets 1 .. o-1
            prev = int(argF[o])
            c = v + prev
            parent[c] = v
            if o - prev > 1:
                stack.append((c, o - prev, int(argR[o - prev])))
            o = prev
    tree = ScheduledTree(P, B, tuple(parent), cycles)
    if len(_OPT_CACHE) > 4096:
        _OPT_CACHE.clear()
    _OPT_CACHE[key] = tree
    return tree
