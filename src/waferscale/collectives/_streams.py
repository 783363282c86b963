"""Fixed point-to-point streams along a line: the routes of ring algorithms and floods.

Every (router, color slot) gets exactly one role for the whole collective - send (RAMP -> out),
receive (in -> RAMP), pass (in -> out) or a multicast - so these routes need no switches. A
conflict (one router asked for two roles on one slot) is a bug in the color assignment and
raises.
"""

from __future__ import annotations

from ._errors import CollectiveError
from ._geometry import Line
from ._plan import Plan

__all__ = ["StreamError", "add_stream", "flood_line", "install_roles"]


class StreamError(CollectiveError):
    """Two streams ask one router for two roles on one color (a bug in the color choice)."""


def _set(roles: dict, pe: tuple[int, int], slot: int, rx: str, tx: tuple[str, ...]) -> None:
    key = (pe[0], pe[1], slot)
    old = roles.get(key)
    if old is not None and old != (rx, tx):
        raise StreamError(f"PE {pe} has two roles on color slot {slot}: {old} and {(rx, tx)}")
    roles[key] = (rx, tx)


def add_stream(roles: dict, line: Line, a: int, b: int, slot: int) -> None:
    """A stream from line index ``a`` to line index ``b`` on ``slot``."""
    step = 1 if b > a else -1
    out = line.down if step == 1 else line.up
    inn = line.up if step == 1 else line.down
    _set(roles, line.pes[a], slot, "RAMP", (out(a),))
    for k in range(a + step, b, step):
        _set(roles, line.pes[k], slot, inn(k), (out(k),))
    _set(roles, line.pes[b], slot, inn(b), ("RAMP",))


def flood_line(roles: dict, line: Line, slot: int, extra: dict | None = None) -> None:
    """Index 0 multicasts along the line: every other router hands a copy to its CE and passes
    it on. ``extra[k]`` adds ports to router k's tx (e.g. a column below it)."""
    extra = extra or {}
    n = len(line)
    for k in range(n):
        tx: list[str] = [] if k == 0 else ["RAMP"]
        if k + 1 < n:
            tx.append(line.down(k))
        tx.extend(extra.get(k, ()))
        if not tx:
            continue
        _set(roles, line.pes[k], slot, "RAMP" if k == 0 else line.up(k), tuple(tx))


def install_roles(plan: Plan, roles: dict) -> None:
    for (x, y, slot), (rx, tx) in sorted(roles.items()):
        plan.add_position((x, y), slot, rx, tx)
