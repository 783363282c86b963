"""The CS-2 timing model and the closed forms it gives.

Luczynski et al., "Near-Optimal Wafer-Scale Reduce" (HPDC 2024, arXiv 2404.15888) model the
runtime of a communication pattern on a Cerebras CS-2, in cycles, as

    T = max(C, E/N + L) + (2 T_R + 1) D

with the spatial quantities of :mod:`waferscale.model.spatial` and T_R the ramp latency. Every
parameter comes from the arch spec: ``T_R = arch.timing.ramp_latency_cycles``; L is weighted by
``arch.timing.hop_latency_cycles`` (1 on WSE-2, where the paper's form is recovered) and, an
extension the paper does not have, each turn of a route adds ``arch.timing.turn_penalty_cycles``
(0 on WSE-2). ``E/N`` is 0 for a pattern without links.

The closed forms below are what the model gives for the patterns of
:mod:`waferscale.model.pattern` (derivations in docs/model.md); with one PE nothing moves and
every form is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from waferscale.arch import ArchSpec
from waferscale.model._checks import ModelError, check_arch, check_count, check_words, row_fits
from waferscale.model.pattern import Pattern
from waferscale.model.spatial import SpatialQuantities, analyse, longest_chain

__all__ = [
    "Prediction",
    "broadcast_2d",
    "chain_reduce",
    "flood_broadcast_1d",
    "predict",
    "predict_cycles",
    "reduce_then_broadcast_allreduce",
    "ring_allreduce",
    "stage_cycles",
    "star_reduce",
]


@dataclass(frozen=True)
class Prediction:
    """A model prediction and its terms: ``cycles = max(contention, link_term + wire) +
    stages``."""

    cycles: float
    contention: int | float
    """C: the busiest PE's wavelets (one per cycle through its ramp)."""
    link_term: float
    """E/N: the average link load."""
    wire: int | float
    """L in cycles: hop latency x hops (+ turn penalties) along the longest chain."""
    stages: int
    """(2 T_R + 1) x D: ramp down, add, ramp up per processor stage on the critical chain."""
    quantities: SpatialQuantities

    @property
    def bound_by(self) -> str:
        """``"contention"`` when C is the larger term of the max, else ``"links"``."""
        return "contention" if self.contention > self.link_term + self.wire else "links"


def stage_cycles(arch: ArchSpec) -> int:
    """2 T_R + 1: the cost of one processor stage (ramp down, one cycle, ramp up)."""
    return 2 * check_arch(arch).timing.ramp_latency_cycles + 1


def _check_fits(pattern: Pattern, arch: ArchSpec, extent: tuple[int, int]) -> None:
    columns, rows = arch.grid.program_columns, arch.grid.program_rows
    if extent[0] >= columns or extent[1] >= rows:
        raise ModelError(
            f"pattern {pattern.name!r} does not fit the program rectangle of {arch.name!r} "
            f"({columns} columns x {rows} rows): it reaches x = {extent[0]}, y = {extent[1]}"
        )


def predict(pattern: Pattern, arch: ArchSpec) -> Prediction:
    """The CS-2 timing model applied to ``pattern`` on ``arch``, with its terms."""
    arch = check_arch(arch)
    an = analyse(pattern)
    _check_fits(pattern, arch, an.extent)
    q = an.quantities
    timing = arch.timing
    wire = longest_chain(pattern, timing.hop_latency_cycles, timing.turn_penalty_cycles)
    link_term = q.E / q.N if q.N else 0.0
    stages = stage_cycles(arch) * q.D
    cycles = float(max(q.C, link_term + wire) + stages)
    return Prediction(cycles, q.C, float(link_term), wire, stages, q)


def predict_cycles(pattern: Pattern | Sequence[Pattern], arch: ArchSpec) -> float:
    """Predicted cycles of ``pattern``; a list of patterns is run as phases, back to back
    (each phase starts when the previous one has finished), so their times add."""
    if isinstance(pattern, Pattern):
        return predict(pattern, arch).cycles
    if isinstance(pattern, Sequence) and not isinstance(pattern, str):
        return float(sum(predict(p, arch).cycles for p in pattern))
    raise ModelError(
        f"pattern: got {type(pattern).__name__}, expected a Pattern or a list of Patterns"
    )


# --------------------------------------------------------------------------------------------
# Closed forms (spatial-model.md section 2); h = hop latency, s = 2 T_R + 1.


def _row(P: int, B: int, arch: ArchSpec) -> tuple[int, int, ArchSpec]:
    arch = check_arch(arch)
    P = check_count("P", P)
    B = check_words("B", B)
    row_fits("P", P, arch)
    return P, B, arch


def chain_reduce(P: int, B: int, arch: ArchSpec) -> float:
    """Chain reduce on a row: ``B + (h + 2 T_R + 1)(P - 1)``, i.e. ``B + (2 T_R + 2)(P - 1)``
    at one cycle per hop. The model gives it exactly."""
    P, B, arch = _row(P, B, arch)
    if P == 1:
        return 0.0
    return float(B + (arch.timing.hop_latency_cycles + stage_cycles(arch)) * (P - 1))


def star_reduce(P: int, B: int, arch: ArchSpec) -> float:
    """Star reduce as the paper states it: ``B (P - 1) + 2 T_R + 1``.

    The model gives ``max(B (P - 1), B P / 2 + h (P - 1)) + 2 T_R + 1``: the closed form
    assumes the root's contention dominates, which holds iff ``B (P - 2) >= 2 h (P - 1)`` (e.g.
    B >= 3 for P >= 4 at h = 1); otherwise the model is larger by
    ``h (P - 1) - B (P - 2) / 2``.
    """
    P, B, arch = _row(P, B, arch)
    if P == 1:
        return 0.0
    return float(B * (P - 1) + stage_cycles(arch))


def flood_broadcast_1d(P: int, B: int, arch: ArchSpec) -> float:
    """1D broadcast by flooding: ``B + h (P - 1) + 2 T_R + 1`` (= ``B + P + 2 T_R`` at h = 1).
    The model gives it exactly."""
    P, B, arch = _row(P, B, arch)
    if P == 1:
        return 0.0
    return float(B + arch.timing.hop_latency_cycles * (P - 1) + stage_cycles(arch))


def broadcast_2d(M: int, N: int, B: int, arch: ArchSpec) -> float:
    """2D broadcast from a corner of M columns x N rows: ``B + h (M + N - 2) + 2 T_R + 1``
    (plus one turn penalty when both M, N > 1; 0 on WSE-2). The model gives it exactly."""
    arch = check_arch(arch)
    M = check_count("M", M)
    N = check_count("N", N)
    B = check_words("B", B)
    row_fits("M", M, arch)
    row_fits("N", N, arch, axis="rows")
    if M * N == 1:
        return 0.0
    turn = arch.timing.turn_penalty_cycles if M > 1 and N > 1 else 0
    return float(B + arch.timing.hop_latency_cycles * (M + N - 2) + turn + stage_cycles(arch))


def ring_allreduce(P: int, B: int, arch: ArchSpec) -> float:
    """Ring allreduce (reduce-scatter + allgather, chunks of B/P) on a row, the ring closed by a
    link back west: ``2 (P - 1) B / P + h (4 P - 6) + 2 (P - 1)(2 T_R + 1)``. The model gives it
    exactly."""
    P, B, arch = _row(P, B, arch)
    if P == 1:
        return 0.0
    h = arch.timing.hop_latency_cycles
    return float(2 * (P - 1) * B / P + h * (4 * P - 6) + 2 * (P - 1) * stage_cycles(arch))


def reduce_then_broadcast_allreduce(
    P: int, B: int, arch: ArchSpec, reduce: str = "autogen"
) -> float:
    """Allreduce as a reduce to PE 0 followed by a flood broadcast, two phases back to back:
    ``T_reduce(P, B) + B + h (P - 1) + 2 T_R + 1``; ``reduce`` names the reduce algorithm
    (``"star"``, ``"chain"``, ``"tree"``, ``"two_phase"`` or ``"autogen"``, the default)."""
    from waferscale.model.select import reduce_cycles

    P, B, arch = _row(P, B, arch)
    return reduce_cycles(reduce, P, B, arch) + flood_broadcast_1d(P, B, arch)
