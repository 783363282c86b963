"""Collectives on rows, columns and rectangles of PEs: each one a program that runs on the
fabric (standalone or inside your own PE programs) and an analytic cost from
:mod:`waferscale.model`.

>>> from waferscale import collectives as wc
>>> red = wc.Collective("reduce", 64, words=256, algorithm="two_phase")
>>> red.model_cycles()                  # its schedule (waferscale.model.schedule)
634.0
>>> round(red.generic_model_cycles(), 1)  # the paper's generic max(C, E/N + L) + s D
588.1
>>> wc.best("reduce", 64, 4096).algorithm
'chain'

Ops and algorithms (see docs/collectives.md):

- ``reduce``: ``star``, ``chain``, ``tree``, ``two_phase``, ``autogen`` (the tree with the
  least schedule time), ``autogen_paper`` (the paper's Auto-Gen tree) on a row or column;
  ``xy`` and ``snake`` on a rectangle;
- ``broadcast``: ``flood`` (1D and 2D);
- ``allreduce``: a reduce algorithm followed by a flood (``chain``, ..., ``xy``, ``snake``),
  ``ring`` and ``ring_dp`` (distance-preserving ring; on a rectangle along the snake);
- ``reduce_scatter``: ``ring``, ``ring_dp``; ``allgather``: ``ring``, ``ring_dp``,
  ``gather_broadcast`` (on a rectangle: ``ring_dp``, ``gather_broadcast``); ``scatter``,
  ``gather``: ``stream``.

Sources: Luczynski, Gianinazzi, Iff, Wilson, De Sensi, Hoefler, "Near-Optimal Wafer-Scale
Reduce" (HPDC 2024, arXiv 2404.15888); Gianinazzi et al., "The spatial computer" (arXiv
2205.04934).
"""

from ._algorithms import ALGORITHMS, OPS, algorithms
from ._errors import CollectiveError
from .core import Collective, Handle, Installed, SimResult, free_colors
from .select import Choice, best, lower_bound, pick_reduce

__all__ = [
    "ALGORITHMS",
    "OPS",
    "Choice",
    "Collective",
    "CollectiveError",
    "Handle",
    "Installed",
    "SimResult",
    "algorithms",
    "best",
    "collective",
    "free_colors",
    "lower_bound",
    "pick_reduce",
]


def collective(op: str, shape, words: int, algorithm: str = "auto", **kw) -> Collective:
    """Shorthand for :class:`Collective`."""
    return Collective(op, shape, words, algorithm, **kw)
