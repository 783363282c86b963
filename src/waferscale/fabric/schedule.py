"""The engine's timing rules for a stream, as a recursion over its elements instead of cycles.

Where a stream's every stage has a single upstream and no other traffic, each rule of the cycle
loop (``_kernel.run_cycles``) becomes a maximum of a few earlier times (max-plus algebra): an
element leaves a stage at the first cycle at which it has arrived there, the stage's previous
element has left at least one cycle before, and the buffer it goes to has room. For one stage of
a chain reduce at PE ``k`` (op ``fabin + mem -> fabout``, the east hop, the next PE's ramp down;
``ramp``/``hop`` latencies; ``ocap``/``rcap``/``icap`` the buffer sizes of
:func:`waferscale.fabric.state.capacities`), element ``i`` moves at

=========  ============  ====================================================================
stage      phase         cycle
=========  ============  ====================================================================
op         2 (ops)       ``e[i] = max(start, e[i-1] + 1, g[i] + ramp, u[i - ocap] + 1)``
ramp-up    3 (routers)   ``u[i] = max(e[i] + 1, u[i-1] + 1, f[i - rcap])``
hop        3 (routers)   ``f[i] = max(u[i] + ramp, f[i-1] + 1, g'[i - rcap] + 1)``
ramp-down  3 (routers)   ``g'[i] = max(f[i] + hop, g'[i-1] + 1, e'[i - icap])``
=========  ============  ====================================================================

(``g``: the element's ramp-down into PE ``k``; primes: PE ``k + 1``'s.) The room terms follow
the loop's phase order: the op (phase 2) fills the output queue before the ramp-up (phase 3)
empties it, so a slot freed at cycle ``t`` serves the op at ``t + 1``; the router forwards
before it ramps up, and the ramp-down (phase 3) fills an input queue after the op (phase 2) took
from it, so those slots serve in the same cycle. Between two routers the visit order decides:
the recursion takes the later cycle and reports in ``order_dependent`` whether that choice was
ever made, because then the engine's cycle count depends on which router it visited first.

Each element costs a few integer maxima per stage, against a visit of every stage every cycle
in the loop: ``benchmarks/maxplus_chain.py`` computes the chain-1d and chain-2d workloads this
way, equal to the engine PE by PE, at 3-8e7 hops per second. It is the basis of the stream fast
path planned for the engine (decision 0004); today it is also an exact model of a chain reduce
for any latencies and buffer depths (``tests/test_stream_schedule.py`` holds it to the engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from waferscale.fabric.state import capacities

__all__ = ["ChainSchedule", "chain_schedule", "op_start_cycle"]


@dataclass(frozen=True)
class ChainSchedule:
    """A chain reduce over a row of PEs, element by element, as the engine runs it."""

    completion: np.ndarray
    """Per PE (west to east), the cycle at which its op processes its last element (the op
    completes in that cycle; a task it activates is picked in the same cycle)."""
    sums: np.ndarray | None
    """The f32 sums the last PE stores, added in chain order (``None`` without data)."""
    hops: int
    """Router-to-router transfers (the engine's ``wavelet_hops``)."""
    order_dependent: bool
    """True if a hop ever found its next buffer freed in the same cycle: the engine's answer then
    depends on the order in which it visits the two routers, and may be a cycle earlier."""

    @property
    def cycles(self) -> int:
        """The cycle at which the last PE's op completes."""
        return int(self.completion[-1])


def op_start_cycle(arch, picked: int = 0) -> int:
    """The first cycle at which an op may process an element when the task that issues it first
    thing is picked at cycle ``picked``: ``task_startup_cycles + op_startup_cycles`` later, and
    at least one cycle later (the picker runs after the ops within a cycle)."""
    t = arch.timing
    return picked + max(1, t.task_startup_cycles + t.op_startup_cycles)


def chain_schedule(
    arch,
    P: int,
    B: int,
    *,
    data: np.ndarray | None = None,
    start: int | np.ndarray | None = None,
) -> ChainSchedule:
    """The schedule of a chain reduce of ``B`` words over ``P`` PEs on ``arch`` (the layout of
    :func:`waferscale.demos.chain_reduce_1d`: PE 0 sends its vector east, each next PE adds its
    own and forwards, the last one keeps the sum).

    ``data`` (``P`` x ``B`` float32) gives the sums too. ``start``: the first cycle at which the
    PEs' ops may process an element (one for all, or one per PE); by default
    :func:`op_start_cycle` of a task picked at cycle 0.
    """
    if not isinstance(P, int | np.integer) or P < 2:
        raise ValueError(f"chain_schedule: P={P!r}; a chain needs at least 2 PEs")
    if not isinstance(B, int | np.integer) or B < 1:
        raise ValueError(f"chain_schedule: B={B!r}; give at least one word per PE")
    t = arch.timing
    if start is None:
        start = op_start_cycle(arch)
    starts = np.broadcast_to(np.asarray(start, dtype=np.int64), (P,)).copy()
    if data is None:
        values = np.zeros((1, 1), np.float32)
    else:
        values = np.asarray(data)
        if values.shape != (P, B) or values.dtype != np.float32:
            raise ValueError(
                f"chain_schedule: data has shape {values.shape} and dtype {values.dtype}; "
                f"give float32 of shape (P, B) = ({P}, {B})"
            )
    caps = capacities(arch)
    completion = np.zeros(P, np.int64)
    sums = np.zeros(B, np.float32)
    hops, tie = _chain(
        int(P), int(B), values, data is not None, starts,
        max(1, t.hop_latency_cycles), max(1, t.ramp_latency_cycles),
        caps.output_queue, caps.router, caps.input_queue, completion, sums,
    )  # fmt: skip
    return ChainSchedule(completion, sums if data is not None else None, int(hops), bool(tie))


@nb.njit(cache=True)
def _chain(P, B, data, with_data, starts, hop, ramp, ocap, rcap, icap, completion, sums):
    # one row per element, one column per PE: the inner loop walks PEs contiguously
    e = np.zeros((B, P), np.int64)  # op at PE k
    u = np.zeros((B, P), np.int64)  # ramp-up at PE k
    f = np.zeros((B, P), np.int64)  # hop from PE k east
    g = np.zeros((B, P), np.int64)  # ramp-down into PE k (k >= 1)
    tie = False
    hops = 0
    for i in range(B):
        v = np.float32(0.0)
        for k in range(P):
            t = starts[k]
            if i > 0 and e[i - 1, k] + 1 > t:
                t = e[i - 1, k] + 1
            if k > 0 and g[i, k] + ramp > t:
                t = g[i, k] + ramp
            if k < P - 1 and i >= ocap and u[i - ocap, k] + 1 > t:
                t = u[i - ocap, k] + 1
            e[i, k] = t
            if with_data:
                v = data[k, i] if k == 0 else np.float32(v + data[k, i])
            if k == P - 1:
                sums[i] = v
                break
            t = e[i, k] + 1
            if i > 0 and u[i - 1, k] + 1 > t:
                t = u[i - 1, k] + 1
            if i >= rcap and f[i - rcap, k] > t:
                t = f[i - rcap, k]
            u[i, k] = t
            t = u[i, k] + ramp
            if i > 0 and f[i - 1, k] + 1 > t:
                t = f[i - 1, k] + 1
            if i >= rcap and g[i - rcap, k + 1] >= t:
                tie = tie or g[i - rcap, k + 1] == t
                t = g[i - rcap, k + 1] + 1
            f[i, k] = t
            hops += 1
            t = f[i, k] + hop
            if i > 0 and g[i - 1, k + 1] + 1 > t:
                t = g[i - 1, k + 1] + 1
            if i >= icap and e[i - icap, k + 1] > t:
                t = e[i - icap, k + 1]
            g[i, k + 1] = t
    for k in range(P):
        completion[k] = e[B - 1, k]
    return hops, tie
