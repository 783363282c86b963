"""Reduction trees embedded in the mesh: routes, switch positions and steps.

A tree is given as messages: PE ``v`` sends its partial result to its parent along a segment of
a :class:`~._geometry.Line` (from index ``a`` down to index ``b < a``), on a color slot. Every
node receives its children's streams one after the other, in the given order, adding each to
its vector; the last child's stream is combined and forwarded to the parent element by element
(one pipeline stage). The root keeps the result.

**Routes.** On each color a router plays at most one *own* role - it sends (RAMP -> up) or it
receives (down -> RAMP) - and afterwards, if messages of other PEs pass it on that color, it
forwards them (down -> up). That is one or two switch positions. Pass-through streams always
come after the router's own role: a router only accepts from ``down`` once it has advanced to
the forwarding position, so a stream from further out waits (back-pressure) until the PEs
nearer the root are done with that color.

**Who advances the switches.** A PE whose router must move from *send* to *forward*, or whose
parent's router must move from *receive* to *forward* after it (it is the parent's last child on
that color), ends its stream with one CE-filtered control wavelet. Sending routers run their
switch in ``pop_on_advance`` mode and read command slot 0, which is ADVANCE: the sender's router
advances and pops it, so every later router in pop mode reads NOP. The other routers read the
command in bits 22..23: ADVANCE from a parent's last child, NOP from its other children. The
wavelet ends at the parent's router, which applies that command (receive -> forward after the
last child); routers between them are in their last position already, where it changes
nothing. (A sending router with nothing to forward has one position and no pop mode: it leaves
slot 0 in place, and a later router in pop mode, already in its last position, pops it to no
effect.) This relies on routers applying the command of a CE-filtered control wavelet that ends
at them. It is the paper's "the last child of a tree node sends a control wavelet to switch its
parent's input" (Luczynski et al., HPDC 2024), done with switch positions.

Two colors alternating with the sender's depth make any pre-order tree on a line work: a node
receives on one color and sends on the other, so it can stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import ArchSpec
from ..model import Pattern, Transfer
from ..model.schedule import Stream, schedule_cycles
from ._errors import CollectiveError
from ._geometry import Line
from ._plan import Plan, Step

__all__ = ["Message", "embed_tree", "line_tree_messages", "tree_pattern", "tree_schedule"]


@dataclass(frozen=True, eq=False)
class Message:
    """PE ``src`` sends ``n`` elements (from its buffer offset ``src_off``) to PE ``dst`` along
    ``line`` from index ``a`` to index ``b`` on color slot ``slot``; in a gather they land at
    ``dst_off`` of the receiver's buffer."""

    src: tuple[int, int]
    dst: tuple[int, int]
    line: Line
    a: int
    b: int
    slot: int
    name: str = ""
    n: int = 0
    src_off: int = 0
    dst_off: int = 0

    @property
    def hops(self) -> int:
        return abs(self.a - self.b)


class TreeError(CollectiveError):
    """A tree whose messages cannot share the colors they were given (a bug in the caller)."""


def embed_tree(
    plan: Plan,
    messages: list[Message],
    children: dict[tuple[int, int], list[Message]],
    nodes: list[tuple[int, int]],
    gather: bool = False,
) -> int:
    """Add the routes and steps of a tree to ``plan``; returns the hops travelled by its
    control wavelets (one per message that sends one).

    ``children[v]`` lists the messages node ``v`` receives, in the order it receives them;
    ``nodes`` every PE of the tree (any order); each PE sends at most one message. A reduction
    (``gather=False``) combines each child's ``n`` elements into ``buf[src_off:]`` and streams
    the last child's into its own message; a gather stores each child's message at its
    ``dst_off`` and then sends its own (a block it has assembled)."""
    out_msg: dict[tuple[int, int], Message] = {}
    for m in messages:
        if m.src in out_msg:
            raise TreeError(f"PE {m.src} sends twice")
        out_msg[m.src] = m
    # own roles and pass-through per (pe, slot)
    send_at: dict[tuple[int, int, int], Message] = {}
    recv_at: dict[tuple[int, int, int], list[Message]] = {}
    pass_at: dict[tuple[int, int, int], tuple[str, str]] = {}
    for m in messages:
        L = m.line
        key = (*m.src, m.slot)
        if key in recv_at:
            raise TreeError(f"PE {m.src} sends and receives on color slot {m.slot}")
        send_at[key] = m
        for k in range(m.b + 1, m.a):
            pe = L.pes[k]
            d = (L.down(k), L.up(k))
            old = pass_at.setdefault((*pe, m.slot), d)
            if old != d:
                raise TreeError(f"two streams cross PE {pe} on color slot {m.slot}")
    for v, msgs in children.items():
        for m in msgs:
            key = (*v, m.slot)
            if key in send_at:
                raise TreeError(f"PE {v} sends and receives on color slot {m.slot}")
            recv_at.setdefault(key, []).append(m)
    # routes
    keys = set(send_at) | set(recv_at) | set(pass_at)
    for key in sorted(keys):
        x, y, slot = key
        if key in send_at:
            m = send_at[key]
            plan.add_position((x, y), slot, "RAMP", m.line.up(m.a))
            if key in pass_at:
                plan.pop.add(key)
        elif key in recv_at:
            m = recv_at[key][0]
            plan.add_position((x, y), slot, m.line.down(m.b), "RAMP")
        if key in pass_at:
            rx, tx = pass_at[key]
            plan.add_position((x, y), slot, rx, tx)
    # steps
    ctrl_hops = 0
    for v in nodes:
        kids = children.get(v, [])
        mine = out_msg.get(v)
        if gather:
            for m in kids:
                plan.add_step(v, Step("recv", m.n, m.dst_off, cin=m.slot, combine="store"))
        else:
            for m in kids[:-1]:
                plan.add_step(v, Step("recv", m.n, m.src_off, cin=m.slot))
        ctrl = None
        if mine is not None:
            need_own = (*v, mine.slot) in pass_at
            siblings = recv_at[(*mine.dst, mine.slot)]
            need_parent = siblings[-1] is mine and (*mine.dst, mine.slot) in pass_at
            if need_parent:
                ctrl = "advance"
            elif need_own:
                ctrl = "nop"
        if kids and not gather:
            last = kids[-1]
            if mine is None:
                plan.add_step(v, Step("recv", last.n, last.src_off, cin=last.slot))
            else:
                plan.add_step(v, Step("fwd", mine.n, mine.src_off, cin=last.slot, cout=mine.slot))
        elif mine is not None:
            plan.add_step(v, Step("send", mine.n, mine.src_off, cout=mine.slot))
        if ctrl is not None:
            plan.add_step(v, Step("ctrl", cout=mine.slot, combine=ctrl))
            ctrl_hops += mine.hops
    return ctrl_hops


def depths(parent: list[int] | tuple[int, ...]) -> list[int]:
    d = [0] * len(parent)
    for v in range(1, len(parent)):  # pre-order: parent[v] < v
        d[v] = d[parent[v]] + 1
    return d


def line_tree_messages(
    line: Line, parent, slots: tuple[int, int], n: int, prefix: str = "", off: int = 0
) -> tuple[list[Message], dict[tuple[int, int], list[Message]]]:
    """The messages of a pre-order tree on ``line`` (``parent[k]`` < k, root 0): PE k sends
    ``n`` elements on ``slots[depth(k) % 2]``; children are received nearest first."""
    d = depths(parent)
    msgs = []
    kids: dict[tuple[int, int], list[Message]] = {}
    for k in range(1, len(parent)):
        p = parent[k]
        m = Message(
            line.pes[k], line.pes[p], line, k, p, slots[d[k] % 2], f"{prefix}{k}", n, off, off
        )
        msgs.append(m)
        kids.setdefault(line.pes[p], []).append(m)
    return msgs, kids


def tree_pattern(
    messages: list[Message],
    children: dict[tuple[int, int], list[Message]],
    name: str,
    unit: int = 1,
) -> Pattern:
    """The model's pattern of an embedded tree: each message waits for its sender's children.
    Words are counted in units of ``unit`` elements."""
    transfers = []
    for m in messages:
        transfers.append(
            Transfer(
                src=m.src,
                dst=m.dst,
                words=m.n / unit if m.n % unit else m.n // unit,
                route=m.line.model_route(m.a, m.b),
                after=tuple(c.name for c in children.get(m.src, [])),
                name=m.name,
            )
        )
    return Pattern(transfers, name=name)


def _wire(m: Message, arch: ArchSpec) -> float:
    """Wire cycles of a message along its line: hops, and turns where the arch charges them."""
    t = arch.timing
    if not t.turn_penalty_cycles:
        return t.hop_latency_cycles * m.hops
    hops = m.line.route(m.a, m.b)
    turns = sum(1 for x, y in zip(hops, hops[1:], strict=False) if x != y)
    return t.hop_latency_cycles * len(hops) + t.turn_penalty_cycles * turns


def tree_schedule(
    children: dict[tuple[int, int], list[Message]],
    root: tuple[int, int],
    arch: ArchSpec,
    gather: bool = False,
) -> float:
    """The schedule time of an embedded tree (:func:`waferscale.model.schedule_cycles`): each
    node takes its children in the order of ``children``; a child followed by another one on
    the same color slot ends with a control wavelet (the later stream passes its router, which
    must turn to *forward*: :func:`embed_tree` sends it). A reduction node forwards its last
    child's stream; a gather node (``gather``) sends its block after its last reception."""
    streams: dict = {}
    for v, msgs in children.items():
        lst = []
        for i, m in enumerate(msgs):
            later = any(o.slot == m.slot for o in msgs[i + 1 :])
            lst.append(Stream(m.src, _wire(m, arch), m.n, m.slot, later))
        streams[v] = lst
    return schedule_cycles(streams, root, arch, forward=not gather)
