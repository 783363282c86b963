"""Ready-made workloads: builders that return a compiled layout with its data and a
run-and-check driver (:class:`Workload`). Used by ``benchmarks/fabric.py``, ``waferscale demo``
and the tests.

    >>> from waferscale.demos import chain_reduce_1d
    >>> r = chain_reduce_1d(8, 16).run()
    >>> r["ok"], r["cycles"]  # B + 6 (P - 1) on WSE-2
    (True, 58)
"""

from ._common import Check, Workload, peak_rss_mb, sdk_cycles
from .collectives import broadcast_1d, chain_reduce_1d, chain_reduce_2d, chain_reference
from .gemv import gemv
from .tasks import tasks_flood

__all__ = [
    "Check",
    "Workload",
    "broadcast_1d",
    "chain_reduce_1d",
    "chain_reduce_2d",
    "chain_reference",
    "gemv",
    "peak_rss_mb",
    "sdk_cycles",
    "tasks_flood",
]
