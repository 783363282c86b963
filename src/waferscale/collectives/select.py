"""Choosing an algorithm by the model, and the lower bounds the benchmark compares with."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import model
from ..arch import ArchSpec, preset
from ._geometry import parse_shape

__all__ = ["Choice", "best", "lower_bound", "pick_reduce"]

TOLERANCE = 0.05
"""Algorithms whose model times lie within this fraction of the best one are ties; a tie goes
to the simplest (the first in the op's list of algorithms): a simpler tree is easier to read
and to embed next to other code, and the few cycles the model cannot see (see
docs/collectives.md) make smaller differences meaningless."""


class Choice(NamedTuple):
    algorithm: str
    cycles: float
    candidates: dict[str, float]


def _arch(arch: ArchSpec | str) -> ArchSpec:
    return preset(arch) if isinstance(arch, str) else arch


def pick_reduce(
    P: int,
    B: int,
    arch: ArchSpec | str = "wse2",
    tolerance: float = TOLERANCE,
    axis: str = "columns",
) -> str:
    """The 1D reduce algorithm for a line of P PEs (the rule of :func:`best`, by the same cost:
    the schedule of each algorithm's tree). ``axis``: ``"columns"`` for a row, ``"rows"`` for a
    column."""
    from ._algorithms import REDUCE_1D, _reduce_parent, line_reduce_cost

    arch = _arch(arch)
    times = {
        a: line_reduce_cost(a, _reduce_parent(a, P, B, arch, axis), B, arch) for a in REDUCE_1D
    }
    low = min(times.values())
    return next(a for a in REDUCE_1D if times[a] <= low * (1 + tolerance))


def best(
    op: str,
    shape: Any,
    words: int,
    arch: ArchSpec | str = "wse2",
    *,
    root: str = "nw",
    tolerance: float = TOLERANCE,
    algorithms: tuple[str, ...] | None = None,
) -> Choice:
    """The algorithm with the least model time for ``op`` on ``shape`` with ``words`` (ties
    within ``tolerance`` go to the simplest). Returns the choice, its cycles and every
    candidate's cycles."""
    from ._algorithms import algorithms as known
    from .core import Collective

    arch = _arch(arch)
    shape = parse_shape(shape)
    names = algorithms or known(op, shape)
    times = {a: Collective(op, shape, words, a, root=root, arch=arch).model_cycles() for a in names}
    low = min(times.values())
    pick = next(a for a in names if times[a] <= low * (1 + tolerance))
    return Choice(pick, times[pick], times)


def lower_bound(op: str, shape: Any, words: int, arch: ArchSpec | str = "wse2") -> float | None:
    """A lower bound on the model time of ``op`` (see docs/collectives.md for each):

    - reduce on a line: the paper's bound over pre-order trees (``model.lower_bound_cycles``);
    - reduce on a rectangle, broadcast, allreduce: ``B + h (w + h - 2) + 2 T_R + 1``, the flood
      time (every algorithm here sends whole vectors: each used link carries >= B words, the
      farthest PE is w + h - 2 hops from the root, and at least one stage);
    - scatter, gather, allgather: ``(P - 1) B + 2 T_R + 1`` (one PE's ramp moves (P-1) B
      words);
    - reduce_scatter: ``B / P + h (w + h - 2) + 2 T_R + 1`` (PE k needs a word from the PE
      farthest from it, w + h - 2 hops away: P - 1 on a line)."""
    arch = _arch(arch)
    w, h = parse_shape(shape)
    P = w * h
    B = words
    if P == 1:
        return 0.0
    s = 2 * arch.timing.ramp_latency_cycles + 1
    hop = arch.timing.hop_latency_cycles
    if op == "reduce" and (w == 1 or h == 1):
        return model.lower_bound_cycles(P, B, arch, "columns" if h == 1 else "rows")
    if op in ("reduce", "broadcast", "allreduce"):
        return model.broadcast_2d(w, h, B, arch)
    if op in ("scatter", "gather", "allgather"):
        return float((P - 1) * B + s)
    if op == "reduce_scatter":
        return B / P + hop * (w + h - 2) + s
    return None
