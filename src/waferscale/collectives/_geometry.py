"""Where a collective sits: a region of the program rectangle, the corner its root occupies,
and the *lines* (ordered sequences of PEs with the ports between consecutive ones) its
algorithms run along.

Every algorithm is written once, in logical coordinates whose origin is the root: ``i`` counts
columns away from the root's column, ``j`` rows away from the root's row. A root at another
corner mirrors the layout: the same logical plan, with EAST/WEST (and NORTH/SOUTH) swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..program.ports import PORT_DX, PORT_DY, PORT_NAMES
from ._errors import CollectiveError

__all__ = ["CORNERS", "GeometryError", "Line", "Region", "parse_corner", "parse_shape"]

CORNERS = ("nw", "ne", "sw", "se")
_ALIASES = {
    "w": "nw",
    "west": "nw",
    "e": "ne",
    "east": "ne",
    "n": "nw",
    "north": "nw",
    "s": "sw",
    "south": "sw",
    "northwest": "nw",
    "northeast": "ne",
    "southwest": "sw",
    "southeast": "se",
}


class GeometryError(CollectiveError):
    """A region, shape or corner a collective cannot use (the message says which and why)."""


def parse_corner(root: str) -> str:
    """'nw', 'ne', 'sw', 'se' (also 'west', 'east', 'north', 'south' for rows/columns)."""
    key = str(root).strip().lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in CORNERS:
        raise GeometryError(
            f"root {root!r}: expected a corner ({', '.join(CORNERS)}) or 'west'/'east'/"
            "'north'/'south'"
        )
    return key


def parse_shape(shape) -> tuple[int, int]:
    """``P`` (a row of P PEs), ``(w, h)`` or ``"WxH"`` -> ``(w, h)``."""
    if isinstance(shape, str):
        parts = shape.lower().replace(",", "x").split("x")
        try:
            vals = [int(p) for p in parts if p.strip()]
        except ValueError:
            raise GeometryError(f"shape {shape!r}: expected WxH, e.g. 16x1") from None
    elif isinstance(shape, int):
        vals = [shape, 1]
    else:
        vals = [int(v) for v in shape]
    if len(vals) == 1:
        vals = [vals[0], 1]
    if len(vals) != 2 or min(vals) < 1:
        raise GeometryError(f"shape {shape!r}: expected two positive integers (width, height)")
    return vals[0], vals[1]


def _step_port(a: tuple[int, int], b: tuple[int, int]) -> str:
    dx, dy = b[0] - a[0], b[1] - a[1]
    for k in range(4):
        if (PORT_DX[k], PORT_DY[k]) == (dx, dy):
            return PORT_NAMES[k]
    raise GeometryError(f"PEs {a} and {b} are not neighbours")


@dataclass(frozen=True)
class Line:
    """PEs ``pes[0], pes[1], ...`` where consecutive PEs are mesh neighbours; ``pes[0]`` is the
    root end. ``up[k]`` is the port of PE k facing PE k-1 (toward the root), ``down[k]`` the
    port facing PE k+1."""

    pes: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        for a, b in zip(self.pes, self.pes[1:], strict=False):
            _step_port(a, b)

    def __len__(self) -> int:
        return len(self.pes)

    def up(self, k: int) -> str | None:
        return _step_port(self.pes[k], self.pes[k - 1]) if k > 0 else None

    def down(self, k: int) -> str | None:
        return _step_port(self.pes[k], self.pes[k + 1]) if k + 1 < len(self.pes) else None

    def model_route(self, src: int, dst: int) -> str | None:
        """The route to give :class:`waferscale.model.Transfer`: ``None`` (the model's
        dimension-ordered route) where the path runs along one row or column, else the hops."""
        path = self.pes[min(src, dst) : max(src, dst) + 1]
        if len({p[0] for p in path}) == 1 or len({p[1] for p in path}) == 1:
            return None
        return self.route(src, dst)

    def route(self, src: int, dst: int) -> str:
        """The hops of a message from PE ``src`` to PE ``dst`` along the line (letters N, S, E,
        W), as :class:`waferscale.model.Transfer` takes them."""
        step = -1 if dst < src else 1
        return "".join(
            _step_port(self.pes[k], self.pes[k + step])[0] for k in range(src, dst, step)
        )


@dataclass(frozen=True)
class Region:
    """A ``w`` x ``h`` rectangle at (x0, y0) with the root in corner ``root``."""

    x0: int
    y0: int
    w: int
    h: int
    root: str = "nw"

    @property
    def flip_x(self) -> bool:
        return self.root in ("ne", "se")

    @property
    def flip_y(self) -> bool:
        return self.root in ("sw", "se")

    def pe(self, i: int, j: int) -> tuple[int, int]:
        """Physical (x, y) of logical (i, j): i columns and j rows away from the root."""
        if not (0 <= i < self.w and 0 <= j < self.h):
            raise GeometryError(f"logical PE ({i}, {j}) outside the {self.w}x{self.h} region")
        x = self.x0 + (self.w - 1 - i if self.flip_x else i)
        y = self.y0 + (self.h - 1 - j if self.flip_y else j)
        return x, y

    def logical(self, x: int, y: int) -> tuple[int, int]:
        i = x - self.x0
        j = y - self.y0
        return (self.w - 1 - i if self.flip_x else i), (self.h - 1 - j if self.flip_y else j)

    def contains(self, x: int, y: int) -> bool:
        return self.x0 <= x < self.x0 + self.w and self.y0 <= y < self.y0 + self.h

    def all_pes(self) -> list[tuple[int, int]]:
        return [
            (x, y)
            for y in range(self.y0, self.y0 + self.h)
            for x in range(self.x0, self.x0 + self.w)
        ]

    def row(self, j: int = 0) -> Line:
        """Logical row j, from the root's column outward."""
        return Line(tuple(self.pe(i, j) for i in range(self.w)))

    def column(self, i: int = 0) -> Line:
        """Logical column i, from the root's row outward."""
        return Line(tuple(self.pe(i, j) for j in range(self.h)))

    def line(self) -> Line:
        """The region as one line: its row if h == 1, its column if w == 1."""
        if self.h == 1:
            return self.row(0)
        if self.w == 1:
            return self.column(0)
        raise GeometryError(
            f"a 1D collective needs a row or a column, got a {self.w}x{self.h} region"
        )

    def snake(self) -> Line:
        """A boustrophedon path from the root: logical row 0 outward, row 1 back, ..."""
        pes = []
        for j in range(self.h):
            cols = range(self.w) if j % 2 == 0 else range(self.w - 1, -1, -1)
            pes.extend(self.pe(i, j) for i in cols)
        return Line(tuple(pes))


def as_pes(values: Sequence) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in values]
