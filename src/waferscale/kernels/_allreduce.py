"""A small allreduce of one f32 word (a dot product's partial sums) over a W x H grid, for the
kernels that need a scalar on every PE (the Krylov solvers).

Reduce-then-broadcast, built from the ``_patterns`` chains (the near-optimal-reduce paper's
X-Y reduce with chains on both axes, then its 2D flood):

1. **row chain** west to east along every row (``ROW_COLORS``, alternating by column parity):
   the row's sum lands in column ``W - 1``;
2. **column chain** south to north along column ``W - 1`` (``COL_COLORS``): the grid's sum lands
   in the root ``(W - 1, 0)``;
3. **flood** from the root on ``BCAST_COLOR``: the root sends one wavelet west along row 0 and
   south down its column; every router of row 0 multicasts it to its CE, west and south, every
   router below row 0 to its CE and south.

Every op is synchronous and one word long. Summation order (reproduced by
:func:`allreduce_reference`): along a row ``((a_0 + a_1) + a_2) + ...``, then up the last column
``((s_{H-1} + s_{H-2}) + ...) + s_0``.

Cost (cycles from the moment every PE issues its first op, WSE-2: ``trip = 2 ramp + hop + 1 = 6``,
verified exactly by ``tests/test_kernels_solvers.py``):

    reduce  = [W > 1] (1 + trip (W - 1)) + [H > 1] (1 + trip (H - 1))
    flood   = [P > 1] (1 + 2 ramp + hop (W - 1 + H - 1) + turn [W > 1 and H > 1] + 1)

where the flood reaches PE (0, H - 1) last (``turn`` = ``timing.turn_penalty_cycles``, one turn
from the row into the column).
"""

from __future__ import annotations

import numpy as np

from ..program import fabin_dsd, fabout_dsd
from ._patterns import chain_colors, chain_step, column_chain_routes, row_chain_routes

ROW_COLORS = (0, 1)
COL_COLORS = (2, 3)
BCAST_COLOR = 4
ALLREDUCE_COLORS = ROW_COLORS + COL_COLORS + (BCAST_COLOR,)


def allreduce_roles(x: int, y: int, W: int, H: int) -> dict:
    """What PE (x, y) does in the allreduce: its chain colors and its flood role."""
    row_in, row_out = chain_colors(x, W, ROW_COLORS)
    col_in = col_out = None
    if x == W - 1:
        col_in, col_out = chain_colors(H - 1 - y, H, COL_COLORS)
    if W * H == 1:
        flood = None
    elif (x, y) == (W - 1, 0):
        flood = "src"
    else:
        flood = "dst"
    return {
        "row_in": row_in,
        "row_out": row_out,
        "col_in": col_in,
        "col_out": col_out,
        "flood": flood,
    }


def allreduce_routes(lay, W: int, H: int) -> None:
    """Routes of the two chains and of the flood from the root (W - 1, 0)."""
    row_chain_routes(lay, W, H, ROW_COLORS)
    column_chain_routes(lay, W - 1, H, COL_COLORS)
    if W * H == 1:
        return
    c = BCAST_COLOR
    root_tx = (["WEST"] if W > 1 else []) + (["SOUTH"] if H > 1 else [])
    lay.set_route(W - 1, 0, c, rx="RAMP", tx=root_tx)
    for x in range(W - 1):  # row 0, west of the root
        tx = ["RAMP"] + (["WEST"] if x > 0 else []) + (["SOUTH"] if H > 1 else [])
        lay.set_route(x, 0, c, rx="EAST", tx=tx)
    for y in range(1, H):
        tx = ["RAMP"] + (["SOUTH"] if y < H - 1 else [])
        lay.set_region_route(0, y, W, 1, c, rx="NORTH", tx=tx)


def allreduce_step(pe, mem, roles: dict) -> None:
    """PE's part of the allreduce of the one-word memory DSD ``mem`` (synchronous ops): on
    return ``mem`` holds the grid's sum on every PE."""
    chain_step(pe, "fadds", mem, 1, roles["row_in"], roles["row_out"])
    if roles["col_in"] is not None or roles["col_out"] is not None:
        chain_step(pe, "fadds", mem, 1, roles["col_in"], roles["col_out"])
    if roles["flood"] == "src":
        pe.fmovs(fabout_dsd(BCAST_COLOR, 1), mem)
    elif roles["flood"] == "dst":
        pe.fmovs(mem, fabin_dsd(BCAST_COLOR, 1))


def allreduce_cycles(arch, W: int, H: int) -> int:
    """Cycles from every PE's first allreduce op to the last PE's receipt of the sum."""
    t = arch.timing
    ramp, hop = t.ramp_latency_cycles, t.hop_latency_cycles
    trip = 2 * ramp + hop + 1
    total = 0
    if W > 1:
        total += 1 + trip * (W - 1)
    if H > 1:
        total += 1 + trip * (H - 1)
    if W * H > 1:
        turn = t.turn_penalty_cycles if W > 1 and H > 1 else 0
        total += 1 + 2 * ramp + hop * (W - 1 + H - 1) + turn + 1
    return total


def allreduce_reference(parts: np.ndarray) -> np.float32:
    """The allreduce's sum of ``parts`` (H, W) float32 in the PEs' order."""
    p = np.asarray(parts, np.float32)
    H, W = p.shape
    s = p[:, 0].copy()
    for x in range(1, W):
        s = s + p[:, x]
    c = s[H - 1]
    for y in range(H - 2, -1, -1):
        c = np.float32(c + s[y])
    return np.float32(c)
