"""The analytic model tier: spatial-model quantities, the CS-2 timing model, closed forms,
the pre-order lower bound for reduce and Auto-Gen, and the schedule model of reduction trees
(:mod:`waferscale.model.schedule`: what a tree costs when its nodes take their children in
turn, as the collectives run it).

>>> from waferscale import arch, model
>>> wse2 = arch.preset("wse2")
>>> p = model.reduce_pattern("chain", 4, 16)
>>> q = model.spatial_quantities(p)
>>> (q.E, q.L, q.D, q.C, q.N)
(48, 3, 3, 16, 3)
>>> model.predict_cycles(p, wse2) == model.chain_reduce(4, 16, wse2) == 16 + 6 * 3
True
>>> model.best_reduce(64, 4096, wse2, algorithms=model.FIXED_ALGORITHMS).algorithm
'chain'
>>> model.two_phase_schedule(64, 256, wse2)  # as it runs; the paper's formula: 588.1
634.0

Sources: Gianinazzi et al., "The spatial computer" (arXiv 2205.04934); Luczynski et al.,
"Near-Optimal Wafer-Scale Reduce" (HPDC 2024, arXiv 2404.15888). See docs/model.md.
"""

from waferscale.model import schedule
from waferscale.model._checks import ModelError, PatternError
from waferscale.model.bounds import (
    ReductionTree,
    autogen_tree,
    lower_bound_cycles,
    min_tree_energy,
)
from waferscale.model.pattern import (
    Pattern,
    Transfer,
    binary_tree_parents,
    broadcast_2d_pattern,
    chain_parents,
    flood_broadcast_pattern,
    ring_allreduce_pattern,
    star_parents,
    tree_reduce_pattern,
    two_phase_parents,
)
from waferscale.model.schedule import (
    ScheduledTree,
    line_tree_schedule,
    schedule_optimal_tree,
    star_schedule,
    two_phase_schedule,
)
from waferscale.model.select import (
    ALGORITHMS,
    FIXED_ALGORITHMS,
    Choice,
    best_reduce,
    reduce_cycles,
    reduce_pattern,
    reduce_tree,
)
from waferscale.model.spatial import SpatialQuantities, spatial_quantities
from waferscale.model.timing import (
    Prediction,
    broadcast_2d,
    chain_reduce,
    flood_broadcast_1d,
    predict,
    predict_cycles,
    reduce_then_broadcast_allreduce,
    ring_allreduce,
    star_reduce,
)

__all__ = [
    "ALGORITHMS",
    "FIXED_ALGORITHMS",
    "Choice",
    "ModelError",
    "Pattern",
    "PatternError",
    "Prediction",
    "ReductionTree",
    "ScheduledTree",
    "SpatialQuantities",
    "Transfer",
    "autogen_tree",
    "best_reduce",
    "binary_tree_parents",
    "broadcast_2d",
    "broadcast_2d_pattern",
    "chain_parents",
    "chain_reduce",
    "flood_broadcast_1d",
    "flood_broadcast_pattern",
    "line_tree_schedule",
    "lower_bound_cycles",
    "min_tree_energy",
    "predict",
    "predict_cycles",
    "reduce_cycles",
    "reduce_pattern",
    "reduce_then_broadcast_allreduce",
    "reduce_tree",
    "ring_allreduce",
    "ring_allreduce_pattern",
    "schedule",
    "schedule_optimal_tree",
    "spatial_quantities",
    "star_parents",
    "star_reduce",
    "star_schedule",
    "tree_reduce_pattern",
    "two_phase_parents",
    "two_phase_schedule",
]
