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

**Who advances the switches.** A PE whose router must move from *send* to *forward* ends its
stream with an ADVANCE control wavelet. When it is its parent's last child on that color and
the parent's router must also move on (from *receive* to *forward*), the wavelet is not
CE-filtered: the parent's router delivers it to the parent's CE (which drops it) and advances.
Otherwise the wavelet is CE-filtered and dies at the parent's router, which stays in *receive*
for the next child. Routers between them are already in their last position, where an ADVANCE
is a no-op (no ring mode). This is the paper's "the last child of a tree node sends a control
wavelet to switch its parent's input" with switch positions (Luczynski et al., HPDC 2024).

Two colors alternating with the sender's depth make any pre-order tree on a line work: a node
receives on one color and sends on the other, so it can stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Pattern, Transfer
from ._geometry import Line
from ._plan import Plan, Step

__all__ = ["Message", "embed_tree", "line_tree_messages", "tree_pattern"]


@dataclass(frozen=True)
class Message:
    """PE ``src`` sends to PE ``dst`` along ``line`` from index ``a`` to index ``b`` (a > b) on
    color slot ``slot``."""

    src: tuple[int, int]
    dst: tuple[int, int]
    line: Line
    a: int
    b: int
    slot: int
    name: str = ""


class TreeError(ValueError):
    pass


def embed_tree(
    plan: Plan,
    messages: list[Message],
    children: dict[tuple[int, int], list[Message]],
    nodes: list[tuple[int, int]],
    n: int,
    off: int = 0,
) -> None:
    """Add the routes and steps of a reduction tree to ``plan``.

    ``children[v]`` lists the messages node ``v`` receives, in the order it receives them;
    ``nodes`` every PE of the tree (any order); each PE sends at most one message (``None`` for
    the root). Every message carries ``n`` elements at buffer offset ``off``."""
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
        elif key in recv_at:
            m = recv_at[key][0]
            plan.add_position((x, y), slot, m.line.down(m.b), "RAMP")
        if key in pass_at:
            rx, tx = pass_at[key]
            plan.add_position((x, y), slot, rx, tx)
    # steps
    for v in nodes:
        kids = children.get(v, [])
        mine = out_msg.get(v)
        for m in kids[:-1]:
            plan.add_step(v, Step("recv", n, off, cin=m.slot))
        tail = None
        ctrl = False
        if mine is not None:
            need_own = (*v, mine.slot) in pass_at
            siblings = recv_at[(*mine.dst, mine.slot)]
            need_parent = siblings[-1] is mine and (*mine.dst, mine.slot) in pass_at
            if need_parent:
                ctrl = True
            elif need_own:
                tail = "filtered"
        if kids:
            last = kids[-1]
            if mine is None:
                plan.add_step(v, Step("recv", n, off, cin=last.slot))
            else:
                plan.add_step(v, Step("fwd", n, off, cin=last.slot, cout=mine.slot, tail=tail))
        elif mine is not None:
            plan.add_step(v, Step("send", n, off, cout=mine.slot, tail=tail))
        if ctrl:
            plan.add_step(v, Step("ctrl", cout=mine.slot))


def depths(parent: list[int] | tuple[int, ...]) -> list[int]:
    d = [0] * len(parent)
    for v in range(1, len(parent)):  # pre-order: parent[v] < v
        d[v] = d[parent[v]] + 1
    return d


def line_tree_messages(
    line: Line, parent, slots: tuple[int, int], prefix: str = ""
) -> tuple[list[Message], dict[tuple[int, int], list[Message]]]:
    """The messages of a pre-order tree on ``line`` (``parent[k]`` < k, root 0): PE k sends on
    ``slots[depth(k) % 2]``; children are received west to east (nearest first)."""
    d = depths(parent)
    msgs = []
    kids: dict[tuple[int, int], list[Message]] = {}
    for k in range(1, len(parent)):
        p = parent[k]
        m = Message(line.pes[k], line.pes[p], line, k, p, slots[d[k] % 2], f"{prefix}{k}")
        msgs.append(m)
        kids.setdefault(line.pes[p], []).append(m)
    return msgs, kids


def tree_pattern(
    messages: list[Message],
    children: dict[tuple[int, int], list[Message]],
    words: int,
    name: str,
) -> Pattern:
    """The model's pattern of an embedded tree: each message waits for its sender's children."""
    transfers = []
    for m in messages:
        transfers.append(
            Transfer(
                src=m.src,
                dst=m.dst,
                words=words,
                route=m.line.route(m.a, m.b),
                after=tuple(c.name for c in children.get(m.src, [])),
                name=m.name,
            )
        )
    return Pattern(transfers, name=name)
