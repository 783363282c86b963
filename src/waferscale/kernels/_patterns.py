"""Communication patterns shared by several kernels: their routes (layout side) and their
per-PE steps (program side).

* **Column flood**: row 0 sends a vector on ``color``; routers of rows 1..H-2 multicast it to
  their CE and south, the last row takes it in. Costs ``B + 1 + 2*ramp + (H-1)*hop`` cycles to
  the bottom row's last element.
* **Chain** along a row (west to east) or a column (south to north): the first PE sends its
  vector, each next PE combines the stream with its own vector (element by element, as the
  wavelets pass) and sends the result on; the last PE keeps it. Consecutive PEs use two colors
  alternating by parity so that a PE's input and output colors differ. ``B + (2*ramp + hop +
  1)(P - 1)`` cycles.
* **Neighbour exchange** (N/S/E/W): every PE sends a vector to each neighbour it has. The color
  of a stream is chosen by its direction and by the parity of its *sender's* coordinate along
  that direction, so that a router never sees two streams of one color from two sides: eight
  colors in all (``EXCHANGE_COLORS``).
"""

from __future__ import annotations

from typing import Any

from ..program import fabin_dsd, fabout_dsd

DIRECTIONS = ("east", "west", "south", "north")
PORT = {"east": "EAST", "west": "WEST", "south": "SOUTH", "north": "NORTH"}
OPPOSITE = {"east": "WEST", "west": "EAST", "south": "NORTH", "north": "SOUTH"}
STEP = {"east": (1, 0), "west": (-1, 0), "south": (0, 1), "north": (0, -1)}


def chain_colors(k: int, n: int, colors: tuple[int, int]) -> tuple[int | None, int | None]:
    """(input color, output color) of position ``k`` in a chain of ``n`` PEs."""
    cin = colors[(k - 1) % 2] if k > 0 else None
    cout = colors[k % 2] if k < n - 1 else None
    return cin, cout


def row_chain_routes(lay: Any, W: int, H: int, colors: tuple[int, int], x0: int = 0) -> None:
    """Routes of a west-to-east chain along every row of the ``W`` x ``H`` region at ``x0``."""
    for i in range(W):
        cin, cout = chain_colors(i, W, colors)
        if cout is not None:
            lay.set_region_route(x0 + i, 0, 1, H, cout, rx="RAMP", tx="EAST")
        if cin is not None:
            lay.set_region_route(x0 + i, 0, 1, H, cin, rx="WEST", tx="RAMP")


def column_chain_routes(lay: Any, x: int, H: int, colors: tuple[int, int]) -> None:
    """Routes of a south-to-north chain along column ``x`` (position k = H - 1 - y)."""
    for y in range(H):
        cin, cout = chain_colors(H - 1 - y, H, colors)
        if cout is not None:
            lay.set_route(x, y, cout, rx="RAMP", tx="NORTH")
        if cin is not None:
            lay.set_route(x, y, cin, rx="SOUTH", tx="RAMP")


def column_flood_routes(lay: Any, W: int, H: int, color: int) -> None:
    """Row 0 floods ``color`` down every column of a ``W`` x ``H`` grid (H > 1)."""
    lay.set_region_route(0, 0, W, 1, color, rx="RAMP", tx="SOUTH")
    if H > 2:
        lay.set_region_route(0, 1, W, H - 2, color, rx="NORTH", tx=["RAMP", "SOUTH"])
    lay.set_region_route(0, H - 1, W, 1, color, rx="NORTH", tx="RAMP")


def chain_step(
    pe: Any,
    op: str,
    mem: Any,
    length: int,
    cin: int | None,
    cout: int | None,
    dtype: str = "f32",
    **opts: Any,
) -> bool:
    """One PE's part of a chain combining with ``op`` (a two-operand builtin name such as
    'fadds', 'fmaxs', 'faddh'): first PE sends ``mem``; middle PEs send ``incoming op mem``;
    the last stores ``incoming op mem`` into ``mem``. ``opts`` go to the builtin (e.g.
    ``async_=True, activate=task``). Returns False when the PE takes no part (no op issued)."""
    if cin is None and cout is None:
        return False
    if cin is None:
        mov = "fmovh" if dtype == "f16" else ("fmovs" if dtype == "f32" else "mov32")
        getattr(pe, mov)(fabout_dsd(cout, length, dtype), mem, **opts)
    elif cout is None:
        getattr(pe, op)(mem, fabin_dsd(cin, length, dtype), mem, **opts)
    else:
        getattr(pe, op)(
            fabout_dsd(cout, length, dtype), fabin_dsd(cin, length, dtype), mem, **opts
        )
    return True


# -- neighbour exchange -------------------------------------------------------------------------

EXCHANGE_COLORS = {
    ("east", 0): 8,
    ("east", 1): 9,
    ("west", 0): 10,
    ("west", 1): 11,
    ("south", 0): 12,
    ("south", 1): 13,
    ("north", 0): 14,
    ("north", 1): 15,
}


def exchange_color(direction: str, x: int, y: int) -> int:
    """Color of the stream the PE at (x, y) sends toward ``direction``."""
    along = x if direction in ("east", "west") else y
    return EXCHANGE_COLORS[(direction, along % 2)]


def neighbours(x: int, y: int, W: int, H: int) -> dict[str, tuple[int, int]]:
    """The neighbours a PE has, by direction."""
    out = {}
    for d, (dx, dy) in STEP.items():
        nx, ny = x + dx, y + dy
        if 0 <= nx < W and 0 <= ny < H:
            out[d] = (nx, ny)
    return out


def exchange_plan(x: int, y: int, W: int, H: int) -> tuple[tuple[str, int, int], ...]:
    """What PE (x, y) sends and receives: ``(direction, send color, receive color)`` for every
    neighbour in ``direction``; the receive color is the color that neighbour sends toward
    this PE."""
    back = {"east": "west", "west": "east", "south": "north", "north": "south"}
    plan = []
    for d, (nx, ny) in neighbours(x, y, W, H).items():
        plan.append((d, exchange_color(d, x, y), exchange_color(back[d], nx, ny)))
    return tuple(plan)


def exchange_routes(lay: Any, W: int, H: int) -> None:
    """Routes of the neighbour exchange: each sender's router sends its stream to the port of
    its direction; the receiver's router takes it from the opposite port to its CE."""
    for y in range(H):
        for x in range(W):
            for d, (nx, ny) in neighbours(x, y, W, H).items():
                c = exchange_color(d, x, y)
                lay.set_route(x, y, c, rx="RAMP", tx=PORT[d])
                lay.set_route(nx, ny, c, rx=OPPOSITE[d], tx="RAMP")
