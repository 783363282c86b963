"""The collectives' algorithms: for a region they build the plan (routes + per-PE steps), the
model's communication pattern(s) and a numpy reference that adds in the hardware's order.

Buffer conventions (``B`` = ``words``; PEs of a region are indexed by their position ``k`` on
the collective's line - the distance from the root end for a row or a column - or, in 2D, by
``k = j * w + i`` with (i, j) the logical position counted from the root's corner):

==============  ============  ================================================================
op              buffer        meaning
==============  ============  ================================================================
reduce          B             in: every PE's vector; out: the root's buffer holds the reduction
broadcast       B             in: the root's buffer; out: every PE's buffer
allreduce       B             in: every PE's vector; out: the reduction on every PE
reduce_scatter  B             out: PE k holds slice k (elements k*B//P .. (k+1)*B//P) reduced
scatter         P * B         in: the root's buffer; out: PE k's slot k (elements k*B ..)
gather          P * B         in: PE k's slot k; out: the root's buffer
allgather       P * B         in: PE k's slot k; out: every PE's buffer
==============  ============  ================================================================

Elements outside a PE's "out" part are scratch: partial results are left there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import model
from ..arch import ArchSpec
from ..model import Pattern, Transfer
from ..model import schedule as sched
from ..model.schedule import line_streams, line_tree_schedule, receive_in_turn, schedule_cycles
from ._errors import CollectiveError
from ._geometry import Line, Region
from ._plan import Plan, Step
from ._streams import add_stream, flood_line, install_roles
from ._tree import Message, embed_tree, line_tree_messages, tree_pattern, tree_schedule

__all__ = ["ALGORITHMS", "Built", "OPS", "build"]

OPS = ("reduce", "broadcast", "allreduce", "reduce_scatter", "scatter", "gather", "allgather")
REDUCE_1D = (*model.FIXED_ALGORITHMS, "autogen", "autogen_paper")
"""star, chain, tree, two_phase; autogen: the pre-order tree with the least schedule time
(:func:`waferscale.model.schedule_optimal_tree`); autogen_paper: the paper's Auto-Gen tree, the
least time under the paper's model (:func:`waferscale.model.autogen_tree`)."""


class AlgorithmError(CollectiveError):
    """An algorithm that does not exist for this op or region shape."""


@dataclass(eq=False)
class Built:
    """One collective laid out on one region. The plan is built on first use (modelling a
    collective needs only its patterns)."""

    make_plan: Callable[[], tuple[Plan, int, int]]
    """-> (plan, control hops, control wavelets)"""
    buffer_words: int
    phases: Callable[[], list[Pattern]]
    """the model's patterns, run back to back, with words per unit of ``B``: every term of the
    model but the wire latency and the stages scales with B"""
    reference: Callable[[np.ndarray, str], tuple[np.ndarray, np.ndarray]]
    """(data shaped (h, w, buffer) physical, reduce op) -> (expected values, mask of the
    elements the collective defines)"""
    closed_form: Callable[[], float] | None = None
    """the algorithm's own cost (what :meth:`Collective.model_cycles` gives): the schedule of
    a tree, or a closed form; None: the paper's model of the patterns"""
    generic: Callable[[], float] | None = None
    """the paper's generic model ``max(C, E/N + L) + s D`` of the patterns, in closed form
    where one exists (cheaper than building the patterns)"""
    drawing: dict[str, Any] = field(default_factory=dict)
    """what the route pictures draw: lists of (src, dst, path, slot) per phase"""
    tree: Callable[[], tuple[list[Message], dict]] | None = None
    """for a tree collective: its messages and each node's children (in receiving order)"""
    _made: tuple[Plan, int, int] | None = None

    def _make(self) -> tuple[Plan, int, int]:
        if self._made is None:
            plan, hops, n = self.make_plan()
            self._made = (plan.compact(), hops, n)
        return self._made

    @property
    def plan(self) -> Plan:
        return self._make()[0]

    @property
    def ctrl_hops(self) -> int:
        """Hops travelled by the control wavelets that move switches (not in the model)."""
        return self._make()[1]

    @property
    def ctrl_wavelets(self) -> int:
        return self._make()[2]


# -------------------------------------------------------------------------------------------
# helpers


def _combine(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    return a + b if op == "sum" else np.maximum(a, b)


def _idx(region: Region, pe: tuple[int, int]) -> tuple[int, int]:
    return pe[1] - region.y0, pe[0] - region.x0


def _eval_tree(
    data: np.ndarray, region: Region, children: dict, root, op: str, sl: slice
) -> np.ndarray:
    """The reduction of a tree in the order its nodes combine: own vector, then each child."""
    acc: dict = {}
    stack = [(root, False)]
    while stack:
        v, done = stack.pop()
        kids = children.get(v, [])
        if done:
            a = data[_idx(region, v)][sl].copy()
            for m in kids:
                a = _combine(a, acc.pop(m.src), op)
            acc[v] = a
        else:
            stack.append((v, True))
            stack.extend((m.src, False) for m in reversed(kids))
    return acc[root]


def _mask_like(data: np.ndarray) -> np.ndarray:
    return np.zeros(data.shape, bool)


def _tree_drawing(msgs: list[Message]) -> list[tuple]:
    return [
        (
            m.src,
            m.dst,
            m.line.pes[m.b : m.a + 1][::-1] if m.a > m.b else m.line.pes[m.a : m.b + 1],
            m.slot,
        )
        for m in msgs
    ]


_FIXED_PARENTS = {
    "star": model.star_parents,
    "chain": model.chain_parents,
    "tree": model.binary_tree_parents,
    "two_phase": model.two_phase_parents,
}


def _reduce_parent(
    alg: str, P: int, B: int, arch: ArchSpec, axis: str = "columns"
) -> tuple[int, ...]:
    """The tree of a 1D reduce algorithm on a line of P PEs. ``axis``: the side of the program
    rectangle the line runs along (the paper's Auto-Gen checks P against it; the other trees
    take any length: a snake may be longer than a wafer row)."""
    if alg not in REDUCE_1D:
        raise AlgorithmError(f"reduce algorithm {alg!r}: expected one of {', '.join(REDUCE_1D)}")
    if alg in _FIXED_PARENTS:
        return _FIXED_PARENTS[alg](P)
    if alg == "autogen":
        if P > sched.MAX_OPTIMAL_P:
            raise AlgorithmError(
                f"autogen on a line of {P} PEs: expected at most {sched.MAX_OPTIMAL_P} (the "
                "search for the best tree takes O(P^2) time); use a fixed tree (chain, "
                "two_phase, ...) on longer lines"
            )
        return sched.schedule_optimal_tree(P, B, arch).parent
    return model.autogen_tree(P, B, arch, axis).parent


def line_reduce_cost(alg: str, parent, B: int, arch: ArchSpec, latency=None) -> float:
    """The cost of a 1D reduce: the schedule of its tree (:mod:`waferscale.model.schedule`),
    by its closed form for Star and Two-Phase on a straight line. ``latency(v, p)``: wire
    cycles of a message (default: hop latency x hops)."""
    P = len(parent)
    if latency is None and alg == "star":
        return sched.star_schedule(P, B, arch)
    if latency is None and alg == "two_phase":
        return sched.two_phase_schedule(P, B, arch)
    return line_tree_schedule(parent, B, arch, latency)


# -------------------------------------------------------------------------------------------
# reduce


def _ctrl_count(plan: Plan) -> int:
    return sum(
        1 for steps in plan.steps.values() for s in steps if s.kind == "ctrl" or s.tail is not None
    )


def _tree_built(
    region: Region,
    make_msgs,
    nodes,
    root,
    B: int,
    name: str,
    gather: bool = False,
    phase_of=None,
) -> Built:
    """A tree collective; ``make_msgs() -> (messages, children)`` runs on first use (a
    512 x 512 X-Y tree has 262,143 messages, and its model has a closed form). With
    ``phase_of(message) -> int`` the model sees one pattern per phase, run back to back."""
    cache: list = []

    def get():
        if not cache:
            cache.append(make_msgs())
        return cache[0]

    def make_plan():
        msgs, kids = get()
        plan = Plan()
        hops = embed_tree(plan, msgs, kids, nodes() if callable(nodes) else nodes, gather=gather)
        return plan, hops, _ctrl_count(plan)

    def phases() -> list[Pattern]:
        msgs, kids = get()
        if not msgs:
            return []
        if phase_of is None:
            return [tree_pattern(msgs, kids, name, unit=B)]
        out = []
        for k in sorted({phase_of(m) for m in msgs}):
            mine = [m for m in msgs if phase_of(m) == k]
            sub = {v: [c for c in lst if phase_of(c) == k] for v, lst in kids.items()}
            out.append(tree_pattern(mine, sub, f"{name}[{k}]", unit=B))
        return out

    def reference(data: np.ndarray, op: str):
        _msgs, kids = get()
        out = np.zeros_like(data)
        mask = _mask_like(data)
        r = _idx(region, root)
        out[r][:B] = _eval_tree(data, region, kids, root, op, slice(0, B))
        mask[r][:B] = True
        return out, mask

    return Built(
        make_plan,
        B,
        phases,
        reference,
        drawing={"messages": lambda: _tree_drawing(get()[0])},
        tree=get,
    )


def _axis(region: Region) -> str:
    """The side of the program rectangle a 1D region runs along."""
    return "columns" if region.h == 1 else "rows"


def reduce_1d(region: Region, B: int, arch: ArchSpec, alg: str) -> Built:
    line = region.line()
    parent = _reduce_parent(alg, len(line), B, arch, _axis(region))
    b = _tree_built(
        region,
        lambda: line_tree_messages(line, parent, (0, 1), B),
        list(line.pes),
        line.pes[0],
        B,
        alg,
    )
    b.closed_form = lambda: line_reduce_cost(alg, parent, B, arch)
    b.generic = lambda: line_tree_model(parent, B, arch)
    b.drawing["parent"] = parent
    return b


def reduce_xy(region: Region, B: int, arch: ArchSpec, row: str, col: str) -> Built:
    """X-Y reduce: every row reduces toward the root's column with ``row``; that column then
    reduces toward the root with ``col``. A PE of the root's column receives its row children
    first, then its column children, and streams the last one up. Modelled as two phases (rows,
    then the column): a column PE only starts on its column children once its row is done."""
    w, h = region.w, region.h
    rp = _reduce_parent(row, w, B, arch) if w > 1 else None
    cp = _reduce_parent(col, h, B, arch) if h > 1 else None

    def make_msgs():
        msgs: list[Message] = []
        kids: dict = {}
        if rp is not None:
            for j in range(h):
                m, k = line_tree_messages(region.row(j), rp, (0, 1), B, prefix=f"r{j}.")
                msgs += m
                kids.update(k)
        if cp is not None:
            slots = (2, 3) if w > 1 else (0, 1)
            m, k = line_tree_messages(region.column(0), cp, slots, B, prefix="c")
            msgs += m
            for v, lst in k.items():
                kids.setdefault(v, []).extend(lst)
        return msgs, kids

    # the model's two phases: the rows, then the column ("c" messages)
    return _tree_built(
        region,
        make_msgs,
        region.all_pes,
        region.pe(0, 0),
        B,
        f"xy({row},{col})",
        phase_of=lambda m: int(m.name.startswith("c")),
    )


def reduce_snake(region: Region, B: int, arch: ArchSpec, alg: str) -> Built:
    """A reduction tree along the boustrophedon path from the root (Chain by default: the
    snake reduce). Its cost is the schedule of that tree along the path (turns included where
    the arch has a turn penalty); the chain's is ``B + (s + h)(w h - 1)``."""
    P = region.w * region.h
    parent = _reduce_parent(alg, P, B, arch) if alg != "chain" else None

    def make_msgs():
        line = region.snake()
        return line_tree_messages(line, parent or model.chain_parents(P), (0, 1), B)

    b = _tree_built(region, make_msgs, region.all_pes, region.pe(0, 0), B, f"snake({alg})")
    t = arch.timing
    s = 2 * t.ramp_latency_cycles + 1
    if parent is None:  # the chain: one-hop messages, no turns
        b.closed_form = lambda: float(B + (t.hop_latency_cycles + s) * (P - 1))
        b.generic = b.closed_form
        return b
    latency = None
    if t.turn_penalty_cycles:
        line = region.snake()

        def latency(v: int, p: int) -> float:
            hops = line.route(v, p)
            turns = sum(1 for x, y in zip(hops, hops[1:], strict=False) if x != y)
            return t.hop_latency_cycles * len(hops) + t.turn_penalty_cycles * turns

    b.closed_form = lambda: line_reduce_cost(alg, parent, B, arch, latency)
    return b


# -------------------------------------------------------------------------------------------
# broadcast


def _bcast_reference(region: Region, root, n: int):
    def reference(data: np.ndarray, op: str):
        out = np.zeros_like(data)
        out[..., :n] = data[_idx(region, root)][:n]
        mask = _mask_like(data)
        mask[..., :n] = True
        return out, mask

    return reference


def broadcast(region: Region, B: int, arch: ArchSpec, n: int | None = None, slot: int = 0) -> Built:
    """Flooding: the root sends once; every router of its row hands a copy to its CE, passes
    it on along the row and (2D) down its column, whose routers do the same (multicast is free
    in the routers)."""
    n = B if n is None else n
    w, h = region.w, region.h
    cache: dict = {}

    def make_roles() -> dict:
        if cache:
            return cache
        roles = cache
        row = region.row(0) if w > 1 or h == 1 else region.column(0)
        if w > 1 and h > 1:
            extra = {i: (region.column(i).down(0),) for i in range(w)}
            flood_line(roles, row, slot, extra)
            for i in range(w):
                col = region.column(i)
                for j in range(1, h):
                    tx = ("RAMP",) + ((col.down(j),) if j + 1 < h else ())
                    roles[(*col.pes[j], slot)] = (col.up(j), tx)
        elif w * h > 1:
            flood_line(roles, region.line(), slot)
        return roles

    root = region.pe(0, 0)

    def make_plan():
        plan = Plan()
        install_roles(plan, make_roles())
        if w * h > 1:
            plan.add_step(root, Step("send", n, 0, cout=slot))
            for pe in region.all_pes():
                if pe != root:
                    plan.add_step(pe, Step("recv", n, 0, cin=slot, combine="store"))
        return plan, 0, 0

    def phases() -> list[Pattern]:
        if w * h == 1:
            return []
        dsts = [pe for pe in region.all_pes() if pe != root]
        return [Pattern((Transfer(src=root, dst=dsts, words=n // B),), name="broadcast")]

    def closed_form() -> float:  # a row (w x 1) or a column (1 x h) too
        return model.broadcast_2d(w, h, n, arch)

    return Built(
        make_plan,
        n,
        phases,
        _bcast_reference(region, root, n),
        closed_form=closed_form,
        generic=closed_form,
        drawing={"flood": lambda: sorted(make_roles().items())},
    )


# -------------------------------------------------------------------------------------------
# allreduce as reduce + broadcast


def then(first: Built, second: Built, reference) -> Built:
    def make_plan():
        return (
            first.plan.then(second.plan),
            first.ctrl_hops + second.ctrl_hops,
            first.ctrl_wavelets + second.ctrl_wavelets,
        )

    def phases() -> list[Pattern]:
        return first.phases() + second.phases()

    def both(a: Callable[[], float] | None, b: Callable[[], float] | None):
        if a is None or b is None:
            return None
        return lambda: a() + b()

    return Built(
        make_plan,
        max(first.buffer_words, second.buffer_words),
        phases,
        reference,
        closed_form=both(first.closed_form, second.closed_form),
        generic=both(first.generic, second.generic),
        drawing={"phases": [first.drawing, second.drawing]},
    )


def allreduce_tree(region: Region, B: int, arch: ArchSpec, red: Built) -> Built:
    bc = broadcast(region, B, arch)

    def reference(data: np.ndarray, op: str):
        out, _ = red.reference(data, op)
        res = out[_idx(region, region.pe(0, 0))][:B]
        out = np.zeros_like(data)
        out[..., :B] = res
        mask = _mask_like(data)
        mask[..., :B] = True
        return out, mask

    return then(red, bc, reference)


# -------------------------------------------------------------------------------------------
# rings


def ring_order(P: int, embedding: str) -> list[int]:
    """Ring positions -> line indices. ``simple``: 0, 1, ..., P-1 (closed by a link back over
    the whole line); ``dp`` (distance-preserving): the even indices outward, the odd ones back,
    so every ring link spans at most two hops."""
    if embedding == "simple":
        return list(range(P))
    return list(range(0, P, 2)) + list(range(P - 1 - (P % 2 == 1), 0, -2)) if P > 1 else [0]


def ring_slot(P: int, embedding: str, a: int, b: int, r: int) -> int:
    """Color slot of the ring link from line index ``a`` to ``b`` (ring position r -> r+1).

    simple: the forward links alternate slots 0 and 1, the closing link uses slot 2.
    dp: links leaving the even index 2m outward use slot m mod 3, links leaving 2m+1 (or the
    turning link of an odd P, from 2m) back toward the root use (m + 1) mod 3 - at every router
    the three links it serves (in, out, passing) then have three different slots."""
    if embedding == "simple":
        return 2 if r == P - 1 else r % 2
    return (a // 2) % 3 if b > a else (a // 2 + 1) % 3


def _slices(B: int, P: int) -> list[tuple[int, int]]:
    bounds = [k * B // P for k in range(P + 1)]
    return [(bounds[k], bounds[k + 1] - bounds[k]) for k in range(P)]


def _ring_links(line: Line, order: list[int], arch: ArchSpec) -> tuple[np.ndarray, int, int]:
    """Per ring link (position r -> r + 1, routed along ``line``): its wire cycles (hops, and
    turns where the arch charges them); with the ring's total hops and the number of directed
    mesh links its routes use."""
    P = len(order)
    t = arch.timing
    wire = np.zeros(P)
    hops = 0
    links: set[tuple[int, int]] = set()
    for r in range(P):
        a, b = order[r], order[(r + 1) % P]
        hops += abs(a - b)
        step = 1 if b > a else -1
        links.update((k, step) for k in range(a, b, step))
        wire[r] = t.hop_latency_cycles * abs(a - b)
        if t.turn_penalty_cycles:
            route = line.route(a, b)
            wire[r] += t.turn_penalty_cycles * sum(
                1 for x, y in zip(route, route[1:], strict=False) if x != y
            )
    return wire, hops, len(links)


def _ring_windows(wire: np.ndarray, steps: int) -> np.ndarray:
    """Wire cycles of ``steps`` consecutive ring links starting at each link (a chain of
    dependent transfers walks the ring)."""
    P = len(wire)
    laps, rest = divmod(steps, P)
    out = np.full(P, laps * float(wire.sum()))
    if rest:
        run = np.concatenate([[0.0], np.concatenate([wire, wire]).cumsum()])
        out += run[rest : rest + P] - run[:P]
    return out


def _ring_chain(wire: np.ndarray, steps: int) -> float:
    """The most wire cycles of ``steps`` consecutive ring links."""
    return float(_ring_windows(wire, steps).max())


def ring_model(line: Line, order: list[int], steps: int, words: float, arch: ArchSpec) -> float:
    """The paper's generic model of a ring on ``line`` (ring position r -> r + 1 is line index
    ``order[r]`` -> ``order[r + 1]``, routed along the line), in closed form: ``steps`` steps in
    which every PE sends ``words`` to its successor after it received the previous step's
    block. ``C = steps x words`` (each PE sends and receives that much), ``E = C x`` the ring's
    hops, ``N`` the directed links its routes use, ``L`` the most wire cycles of ``steps``
    consecutive ring links (the dependent chain that walks the ring), ``D = steps``:
    ``max(C, E/N + L) + (2 T_R + 1) D``. Equal to :func:`waferscale.model.predict` of the
    ring's pattern, without building its ``steps x P`` transfers."""
    if len(order) == 1:
        return 0.0
    wire, hops, links = _ring_links(line, order, arch)
    C = steps * words
    s = 2 * arch.timing.ramp_latency_cycles + 1
    return float(max(C, C * hops / links + _ring_chain(wire, steps)) + s * steps)


def ring_schedule(
    line: Line, order: list[int], steps: int, blocks: list[int], first: int, arch: ArchSpec
) -> float:
    """The ring as it runs (the asynchronous executor of :mod:`._plan`). A block travels
    ``steps`` consecutive ring links; at each a PE receives it (``n`` words), the receive's
    completion starts the PE's task ``tau = task_startup_cycles`` later, which sends the block
    on, and the successor's receive takes the words as they come, the first ``s + wire``
    cycles after the send (``s = 2 T_R + 1``). A step costs ``n + s + tau + wire``; at the end
    the last receive's task and the ``then`` task start (``2 tau``):

        T = max over blocks of [steps (n + s + tau) + W] + 2 tau

    ``blocks[q]``: the words of the block that ring position q owns, which starts on the link
    leaving position ``q + first`` (reduce-scatter: the block ends its walk at its owner;
    allgather: it starts there); ``W`` the wire cycles of its links. Empty blocks (B < P) do
    not travel. The paper's model (:func:`ring_model`) has the longest chain of any ``steps``
    links without the task start-ups, with the per-step words averaged over the links
    (``E/N``)."""
    P = len(order)
    if P == 1:
        return 0.0
    wire, _hops, _links = _ring_links(line, order, arch)
    windows = _ring_windows(wire, steps)
    tau = arch.timing.task_startup_cycles
    s = 2 * arch.timing.ramp_latency_cycles + 1
    return float(
        max(steps * (n + s + tau) + windows[(q + first) % P] for q, n in enumerate(blocks) if n)
        + 2 * tau
    )


def ring(region: Region, B: int, arch: ArchSpec, kind: str, embedding: str) -> Built:
    """Ring reduce-scatter (``rs``), allgather (``ag``) or allreduce (``ar`` = rs + ag).

    Reduce-scatter: P - 1 steps; in step s the PE at ring position r combines the slice it
    receives with its own and streams it on (one pipeline stage, like a chain), so every slice
    makes one chain around the ring. Allgather: P - 1 steps of store, then forward. On a
    rectangle the ring runs along the snake (the boustrophedon path from the root): the
    distance-preserving embedding keeps every ring link within two hops of that path. PE k
    (``k = j w + i`` in 2D) owns slice k (reduce-scatter) or slot k (allgather) wherever the
    path puts it."""
    line = region.line() if region.w == 1 or region.h == 1 else region.snake()
    P = len(line)
    order = ring_order(P, embedding)
    k_of = _k_of(region)
    ks = [k_of(pe) for pe in line.pes]  # line index -> the PE's k
    if kind == "ag":
        chunks = [(k * B, B) for k in ks]
        buffer = P * B
    else:
        slices = _slices(B, P)
        chunks = [slices[k] for k in ks]
        buffer = B
    roles: dict = {}
    slot_of = []
    for r in range(P):
        a, b = order[r], order[(r + 1) % P]
        s = ring_slot(P, embedding, a, b, r)
        slot_of.append(s)
        if P > 1:
            add_stream(roles, line, a, b, s)

    def f(r: int) -> int:
        return order[r % P]

    def make_plan():
        plan = Plan()
        install_roles(plan, roles)
        if P > 1:
            for r in range(P):
                out, inn = slot_of[r], slot_of[(r - 1) % P]
                recvs: list[tuple[int, str]] = []  # (chunk, combine)
                sends: list[tuple[int, int]] = []  # (chunk, index of the recv it waits for)
                if kind in ("rs", "ar"):
                    sends.append((f(r - 1), -1))
                    for s in range(1, P - 1):
                        recvs.append((f(r - s - 1), "op"))
                        sends.append((f(r - s - 1), len(recvs) - 1))
                    recvs.append((f(r), "op"))
                if kind in ("ag", "ar"):
                    sends.append((f(r), len(recvs) - 1 if kind == "ar" else -1))
                    for s in range(1, P - 1):
                        recvs.append((f(r - s), "store"))
                        sends.append((f(r - s), len(recvs) - 1))
                    recvs.append((f(r + 1), "store"))
                # drop empty blocks (B < P): a send waits for the same block's recv
                keep = [chunks[c][1] > 0 for c, _ in recvs]
                new_index = list(np.cumsum(keep) - 1)
                pe = line.pes[order[r]]
                for (c, comb), k in zip(recvs, keep, strict=True):
                    if k:
                        off, n = chunks[c]
                        plan.add_step(pe, Step("arecv", n, off, cin=inn, combine=comb))
                for c, dep in sends:
                    off, n = chunks[c]
                    if n:
                        plan.add_step(
                            pe,
                            Step(
                                "asend",
                                n,
                                off,
                                cout=out,
                                dep=int(new_index[dep]) if dep >= 0 else -1,
                            ),
                        )
        return plan, 0, 0

    def phases() -> list[Pattern]:
        if P == 1:
            return []
        steps = {"rs": P - 1, "ag": P - 1, "ar": 2 * (P - 1)}[kind]
        words: float = 1 if kind == "ag" else 1 / P
        ts = []
        for k in range(steps):
            for r in range(P):
                a, b = order[r], order[(r + 1) % P]
                after = (P * (k - 1) + (r - 1) % P,) if k > 0 else ()
                ts.append(
                    Transfer(
                        src=line.pes[a],
                        dst=line.pes[b],
                        words=words,
                        route=line.model_route(a, b),
                        after=after,
                    )
                )
        return [Pattern(ts, name=f"ring_{kind}_{embedding}")]

    steps = {"rs": P - 1, "ag": P - 1, "ar": 2 * (P - 1)}[kind]

    def closed() -> float:
        blocks = [chunks[order[q]][1] for q in range(P)]
        return ring_schedule(line, order, steps, blocks, 0 if kind == "ag" else 1, arch)

    def generic() -> float:
        return ring_model(line, order, steps, B if kind == "ag" else B / P, arch)

    def reference(data: np.ndarray, op: str):
        out = np.zeros_like(data)
        mask = _mask_like(data)
        if kind == "ag":
            for q in range(P):
                off, n = chunks[order[q]]
                src = data[_idx(region, line.pes[order[q]])][off : off + n]
                out[..., off : off + n] = src
                mask[..., off : off + n] = True
            return out, mask
        res = np.zeros(B, data.dtype)
        for q in range(P):  # the slice that ends at ring position q started at q + 1
            off, n = chunks[f(q)]
            sl = slice(off, off + n)
            acc = data[_idx(region, line.pes[f(q + 1)])][sl].copy()
            for t in range(2, P + 1):
                acc = _combine(acc, data[_idx(region, line.pes[f(q + t)])][sl], op)
            res[sl] = acc
            if kind == "rs":
                i = _idx(region, line.pes[f(q)])
                out[i][sl] = acc
                mask[i][sl] = True
        if kind == "ar":
            out[..., :B] = res
            mask[..., :B] = True
        return out, mask

    edges = [(line.pes[order[r]], line.pes[order[(r + 1) % P]], slot_of[r]) for r in range(P)]
    return Built(
        make_plan,
        buffer,
        phases,
        reference,
        closed_form=closed,
        generic=generic,
        drawing={"ring": edges, "line": line.pes},
    )


# -------------------------------------------------------------------------------------------
# scatter and gather


def _scatter_line(plan: Plan, line: Line, n: int, offs: list[int], slot: int) -> int:
    """The root (index 0) streams block k to line PE k, nearest first; each block but the last
    ends with a CE-filtered ADVANCE, which PE k's router applies where it drops it: it turns
    from "to my CE" to "pass on". Returns the control hops."""
    P = len(line)
    root = line.pes[0]
    if P == 1:
        return 0
    plan.add_position(root, slot, "RAMP", line.down(0))
    hops = 0
    for k in range(1, P):
        pe = line.pes[k]
        plan.add_position(pe, slot, line.up(k), "RAMP")
        if k + 1 < P:
            plan.add_position(pe, slot, line.up(k), line.down(k))
        tail = "filtered" if k + 1 < P else None
        plan.add_step(root, Step("send", n, offs[k], cout=slot, tail=tail))
        plan.add_step(pe, Step("recv", n, offs[k], cin=slot, combine="store"))
        hops += k if tail else 0
    return hops


def _slot_reference(region: Region, k_of, B: int, where: str):
    def reference(data: np.ndarray, op: str):
        out = np.zeros_like(data)
        mask = _mask_like(data)
        root = _idx(region, region.pe(0, 0))
        for pe in region.all_pes():
            k = k_of(pe)
            sl = slice(k * B, (k + 1) * B)
            if where == "scatter":
                out[_idx(region, pe)][sl] = data[root][sl]
                mask[_idx(region, pe)][sl] = True
            elif where == "gather":
                out[root][sl] = data[_idx(region, pe)][sl]
                mask[root][sl] = True
            else:  # allgather
                out[..., sl] = data[_idx(region, pe)][sl]
                mask[..., sl] = True
        return out, mask

    return reference


def _k_of(region: Region):
    def k_of(pe: tuple[int, int]) -> int:
        i, j = region.logical(*pe)
        return j * region.w + i

    return k_of


def _scatter_line_receptions(P: int, n: int, arch: ArchSpec) -> list[tuple[int, int, int, bool]]:
    """The blocks of a line scatter as their receivers see them: block k (n words) can reach
    PE k ``s + h k`` cycles after the root starts; it follows block k - 1 on the one color,
    behind its control wavelet (which turns PE k-1's router to *pass on*)."""
    s = 2 * arch.timing.ramp_latency_cycles + 1
    h = arch.timing.hop_latency_cycles
    return [(s + h * k, n, 0, k + 1 < P) for k in range(1, P)]


def scatter_schedule(w: int, h: int, B: int, arch: ArchSpec) -> float:
    """The scatter's schedule (:mod:`waferscale.model.schedule`). On a line the blocks pass
    each PE in turn, as the streams of a Star reach its root: block k starts at PE k at
    ``max(end of block k-1 + CONTROL_GAP, s + h k)`` - so a line scatter costs what a Star
    reduce of its block size costs. On a rectangle the root's column gets its row blocks
    (``w B`` words) that way, then every PE of the column scatters its row: the last one, which
    gets its row block last, ends last (the root's own row starts as soon as its column blocks
    have left it)."""
    if w == 1 or h == 1:
        return receive_in_turn(_scatter_line_receptions(w * h, B, arch), arch)[1]
    column_end = receive_in_turn(_scatter_line_receptions(h, w * B, arch), arch)[1]
    return column_end + receive_in_turn(_scatter_line_receptions(w, B, arch), arch)[1]


def scatter(region: Region, B: int, arch: ArchSpec) -> Built:
    """1D: the root streams the blocks out along the line. 2D: the root scatters row blocks
    (w * B words) down its column, then every PE of that column scatters its block along its
    row (two colors)."""
    w, h = region.w, region.h
    P = w * h
    transfers = []

    def make_plan():
        plan = Plan()
        if w == 1 or h == 1:
            hops = _scatter_line(plan, region.line(), B, [k * B for k in range(P)], 0)
        else:
            hops = _scatter_line(plan, region.column(0), w * B, [j * w * B for j in range(h)], 0)
            for j in range(h):
                hops += _scatter_line(
                    plan, region.row(j), B, [(j * w + i) * B for i in range(w)], 1
                )
        return plan, hops, _ctrl_count(plan)

    if w == 1 or h == 1:
        line = region.line()
        root = line.pes[0]
        transfers = [
            Transfer(src=root, dst=line.pes[k], words=1, name=f"s{k}") for k in range(1, P)
        ]
    else:
        col = region.column(0)
        for j in range(h):
            row = region.row(j)
            if j:
                transfers.append(Transfer(src=col.pes[0], dst=col.pes[j], words=w, name=f"c{j}"))
            for i in range(1, w):
                transfers.append(
                    Transfer(src=row.pes[0], dst=row.pes[i], words=1, after=(f"c{j}",) if j else ())
                )

    def phases() -> list[Pattern]:
        return [Pattern(transfers, name="scatter")] if transfers else []

    return Built(
        make_plan,
        P * B,
        phases,
        _slot_reference(region, _k_of(region), B, "scatter"),
        closed_form=lambda: scatter_schedule(w, h, B, arch),
        drawing={"scatter": True},
    )


def gather(region: Region, B: int, arch: ArchSpec) -> Built:
    """1D: every PE streams its block to the root, nearest first (Star's routes: a router
    passes the blocks from further out once its own has left). 2D: every row gathers into the
    root's column, then that column gathers the row blocks into the root."""
    w, h = region.w, region.h
    k_of = _k_of(region)
    msgs: list[Message] = []
    kids: dict = {}

    def star(line: Line, slot: int, n_of, prefix: str):
        for k in range(1, len(line)):
            pe = line.pes[k]
            n, off = n_of(pe)
            m = Message(pe, line.pes[0], line, k, 0, slot, f"{prefix}{k}", n, off, off)
            msgs.append(m)
            kids.setdefault(line.pes[0], []).append(m)

    if w == 1 or h == 1:
        star(region.line(), 0, lambda pe: (B, k_of(pe) * B), "g")
    else:
        for j in range(h):
            star(region.row(j), 0, lambda pe: (B, k_of(pe) * B), f"r{j}.")
        star(region.column(0), 1, lambda pe: (w * B, k_of(pe) * B), "c")
    b = _tree_built(
        region, lambda: (msgs, kids), region.all_pes, region.pe(0, 0), B, "gather", gather=True
    )
    b.closed_form = lambda: tree_schedule(kids, region.pe(0, 0), arch, gather=True)
    b.buffer_words = w * h * B
    b.reference = _slot_reference(region, k_of, B, "gather")
    return b


def allgather_gb(region: Region, B: int, arch: ArchSpec) -> Built:
    """Gather to the root, then broadcast the P * B words."""
    P = region.w * region.h
    g = gather(region, B, arch)
    bc = broadcast(region, B, arch, n=P * B)
    return then(g, bc, _slot_reference(region, _k_of(region), B, "allgather"))


# -------------------------------------------------------------------------------------------
# registry


def _one_d(region: Region, what: str) -> None:
    if region.w > 1 and region.h > 1:
        raise AlgorithmError(
            f"{what} runs on a row or a column, not on a {region.w}x{region.h} region"
        )


def _tree_terms(parent) -> tuple[int, int, int, int]:
    """hops, children of the root, most children of another node, depth of a line tree."""
    P = len(parent)
    kids = [0] * P
    depth = [0] * P
    hops = 0
    for v in range(1, P):
        kids[parent[v]] += 1
        depth[v] = depth[parent[v]] + 1
        hops += v - parent[v]
    return hops, kids[0], max(kids[1:], default=0), max(depth)


def line_tree_model(parent, B: int, arch: ArchSpec) -> float:
    """The timing model of a pre-order tree on a straight line of any length (docs/model.md
    section 5): ``max(B K, B hops / (P - 1) + h (P - 1)) + (2 T_R + 1) D``."""
    P = len(parent)
    if P == 1:
        return 0.0
    hops, k0, kr, depth = _tree_terms(parent)
    hop = arch.timing.hop_latency_cycles
    s = 2 * arch.timing.ramp_latency_cycles + 1
    return float(max(B * max(k0, kr), B * hops / (P - 1) + hop * (P - 1)) + s * depth)


def xy_model(B: int, arch: ArchSpec, row, col) -> float:
    """The X-Y reduce in the paper's generic model: its two phases back to back, the rows (all
    alike, on disjoint links: one row's time), then the root's column."""
    return line_tree_model(row, B, arch) + line_tree_model(col, B, arch)


def xy_schedule(B: int, arch: ArchSpec, row, col) -> float:
    """The X-Y reduce's schedule (:mod:`waferscale.model.schedule`): every PE of the root's
    column takes its row children (slots 0, 1), then its column children (slots 2, 3); the
    first column child's stream enters the PE's input queue while the row streams come in.
    The rows are alike, so one row tree (nodes ``("r", k)``) serves every column PE."""
    kids: dict = {}
    rows = line_streams(row, B, arch) if len(row) > 1 else {}
    for k, lst in rows.items():
        if k:
            kids[("r", k)] = [m._replace(src=("r", m.src)) for m in lst]
    first = [m._replace(src=("r", m.src)) for m in rows.get(0, [])]
    cols = line_streams(col, B, arch) if len(col) > 1 else {}
    for j in range(len(col)):
        up = [m._replace(src=("c", m.src), slot=m.slot + 2) for m in cols.get(j, [])]
        kids[("c", j)] = first + up
    return schedule_cycles(kids, ("c", 0), arch)


def _two_d_reduce(region: Region, B: int, arch: ArchSpec, alg: str, opts: dict) -> Built:
    if alg == "snake":
        return reduce_snake(region, B, arch, opts.get("line", "chain"))
    row, col = opts.get("row", "chain"), opts.get("col", "chain")
    b = reduce_xy(region, B, arch, row, col)
    rp = _reduce_parent(row, region.w, B, arch) if region.w > 1 else (-1,)
    cp = _reduce_parent(col, region.h, B, arch, "rows") if region.h > 1 else (-1,)
    b.closed_form = lambda: xy_schedule(B, arch, rp, cp)
    b.generic = lambda: xy_model(B, arch, rp, cp)
    return b


def build(
    op: str, algorithm: str, region: Region, B: int, arch: ArchSpec, opts: dict | None = None
) -> Built:
    """Lay out one collective. ``opts``: ``row``/``col`` (X-Y reduce per axis), ``line``
    (the tree along the snake), ``reduce`` (the reduce of a reduce-then-broadcast)."""
    return _build(op, algorithm, region, B, arch, dict(opts or {}))


def _build(op: str, algorithm: str, region: Region, B: int, arch: ArchSpec, opts: dict) -> Built:
    if op == "reduce":
        if algorithm in ("xy", "snake"):
            return _two_d_reduce(region, B, arch, algorithm, opts)
        _one_d(region, f"reduce algorithm {algorithm!r}")
        return reduce_1d(region, B, arch, algorithm)
    if op == "broadcast":
        if algorithm != "flood":
            raise AlgorithmError(f"broadcast algorithm {algorithm!r}: expected 'flood'")
        return broadcast(region, B, arch)
    if op == "allreduce":
        if algorithm in ("ring", "ring_dp"):
            if algorithm == "ring":
                _one_d(region, "a ring allreduce with the simple embedding (use ring_dp)")
            return ring(region, B, arch, "ar", "simple" if algorithm == "ring" else "dp")
        if algorithm in ("xy", "snake"):
            red = _two_d_reduce(region, B, arch, algorithm, opts)
        else:
            _one_d(region, f"allreduce algorithm {algorithm!r}")
            red = reduce_1d(region, B, arch, algorithm)
        return allreduce_tree(region, B, arch, red)
    if op == "reduce_scatter":
        if algorithm not in ("ring", "ring_dp"):
            raise AlgorithmError(
                f"reduce_scatter algorithm {algorithm!r}: expected 'ring' or 'ring_dp'"
            )
        if algorithm == "ring":
            _one_d(region, "a ring reduce_scatter with the simple embedding (use ring_dp)")
        return ring(region, B, arch, "rs", "simple" if algorithm == "ring" else "dp")
    if op == "allgather":
        if algorithm in ("ring", "ring_dp"):
            if algorithm == "ring":
                _one_d(region, "a ring allgather with the simple embedding (use ring_dp)")
            return ring(region, B, arch, "ag", "simple" if algorithm == "ring" else "dp")
        if algorithm == "gather_broadcast":
            return allgather_gb(region, B, arch)
        raise AlgorithmError(
            f"allgather algorithm {algorithm!r}: expected 'ring', 'ring_dp' or 'gather_broadcast'"
        )
    if op == "scatter":
        if algorithm != "stream":
            raise AlgorithmError(f"scatter algorithm {algorithm!r}: expected 'stream'")
        return scatter(region, B, arch)
    if op == "gather":
        if algorithm != "stream":
            raise AlgorithmError(f"gather algorithm {algorithm!r}: expected 'stream'")
        return gather(region, B, arch)
    raise AlgorithmError(f"op {op!r}: expected one of {', '.join(OPS)}")


ALGORITHMS: dict[str, dict[str, tuple[str, ...]]] = {
    # op: {"1d": ..., "2d": ...}
    "reduce": {"1d": REDUCE_1D, "2d": ("xy", "snake")},
    "broadcast": {"1d": ("flood",), "2d": ("flood",)},
    "allreduce": {"1d": (*REDUCE_1D, "ring", "ring_dp"), "2d": ("xy", "snake", "ring_dp")},
    "reduce_scatter": {"1d": ("ring", "ring_dp"), "2d": ("ring_dp",)},
    "scatter": {"1d": ("stream",), "2d": ("stream",)},
    "gather": {"1d": ("stream",), "2d": ("stream",)},
    "allgather": {
        "1d": ("ring", "ring_dp", "gather_broadcast"),
        "2d": ("ring_dp", "gather_broadcast"),
    },
}
"""Algorithms per op, for rows/columns ("1d") and rectangles ("2d"). A 1D allreduce named
after a reduce algorithm is that reduce followed by a flood broadcast."""


def algorithms(op: str, shape: tuple[int, int]) -> tuple[str, ...]:
    if op not in ALGORITHMS:
        raise AlgorithmError(f"op {op!r}: expected one of {', '.join(OPS)}")
    return ALGORITHMS[op]["2d" if shape[0] > 1 and shape[1] > 1 else "1d"]
