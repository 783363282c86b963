"""Static tasks' records and their replay inside the compiled code.

A static task is recorded once per program (``FabricState.add_script``) and replayed by the
cycle loop's picker and by the stream fast path, which charge the cycles the Python path would.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._issue import issue_op
from ._layout_consts import PR_TASK_BUSY, S_TASKS
from ._memaccess import _u
from ._memops import _data_address, memory_op_row, memory_run_at, row_scalar
from ._params import P_AUTO_SLOTS, P_OP_STARTUP, P_TASK_STARTUP, P_TS_BITS

# A static task's record (``FabricState.add_script``): at ``prog_script[program, task]`` the
# number of actions and of streaming ops, then 4 words per action (kind and 3 arguments).
# A_MEM_RUN (first row, their cycles, count) comes before ``count`` A_MEM actions that form an
# accumulation run (``_memops.joins_run``); it charges nothing itself, and a replay that does
# the run in one call skips the actions, charging their cycles at once.
(A_MEM, A_ISSUE, A_ACTIVATE, A_BLOCK, A_UNBLOCK, A_SPEND, A_STAMP32, A_STAMP16X3,
 A_MEM_RUN) = range(1, 10)  # fmt: skip
SCRIPT_HEADER = 2
ACTION_WORDS = 4

_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


@nb.njit(**_INLINE)
def action_cycles(kind, x, y):
    """The cycles a record's action charges the task: a memory op its cycles, a streaming op
    one for its issue, ``spend`` its count; the rest none."""
    if kind == A_MEM:
        return y
    if kind == A_ISSUE:
        return 1
    if kind == A_SPEND:
        return x
    return 0


@nb.njit(**_INLINE)
def can_replay(script, sc, p, slot_op, op_free_n, auto_slots):
    """Would every streaming op of the record at ``sc`` find a pool row and a slot on PE
    ``p`` now? (If not, the task runs in Python, which grows the pool or reports the slot.)"""
    if op_free_n[0] < script[_u(sc + 1)]:
        return False
    if script[_u(sc + 1)] == 0:
        return True  # memory ops and task control only: nothing to take
    taken = np.int64(0)
    for k in range(script[_u(sc)]):
        a = sc + SCRIPT_HEADER + k * ACTION_WORDS
        if script[_u(a)] != A_ISSUE:
            continue
        slot = script[_u(a + 2)]
        if slot < 0:
            for q in range(auto_slots):
                if slot_op[_u(p), _u(q)] < 0 and ((taken >> q) & 1) == 0:
                    slot = q
                    break
            if slot < 0:
                return False
        elif slot_op[_u(p), _u(slot)] >= 0 or ((taken >> slot) & 1) != 0:
            return False
        taken |= np.int64(1) << slot
    return True


@nb.njit(**_INLINE)
def replay_script(
    script, sc, p, t, tpl, mprm, mem32, mem16, mem_base, fifo_first, ops, slot_op, op_free,
    op_free_n, act_o, act_o_n, in_o, t_active, t_blocked, params,
):  # fmt: skip
    """Run a static task's record on PE ``p`` started at cycle ``t``, charging the cycles the
    Python path charges (task startup, each memory op's cycles, 1 per streaming op issued,
    ``spend``); returns the cycle the task ends."""
    cursor = t + params[P_TASK_STARTUP]
    base = mem_base[_u(p)]
    ts_mask = (np.int64(1) << params[P_TS_BITS]) - 1
    n_actions = script[_u(sc)]
    k = 0
    while k < n_actions:
        a = sc + SCRIPT_HEADER + k * ACTION_WORDS
        kind = script[_u(a)]
        x = script[_u(a + 1)]
        y = script[_u(a + 2)]
        k += 1
        if kind == A_MEM:
            scalar = row_scalar(mem32, mem16, mprm, x, base)
            memory_op_row(_data_address(mem32), mem32.size, mprm, x, base, scalar)
        elif kind == A_MEM_RUN:
            count = script[_u(a + 3)]
            if memory_run_at(_data_address(mem32), mem32.size, mprm, x, count, base):
                cursor += y
                k += count
        elif kind == A_ISSUE:
            issue_op(
                tpl[_u(x)], p, y, params[P_AUTO_SLOTS], cursor, params[P_OP_STARTUP], base,
                fifo_first[_u(p)], ops, slot_op, op_free, op_free_n, act_o, act_o_n, in_o,
            )  # fmt: skip
        elif kind == A_ACTIVATE:
            t_active[_u(p)] |= np.int64(1) << x
        elif kind == A_BLOCK:
            t_blocked[_u(p)] |= np.int64(1) << x
        elif kind == A_UNBLOCK:
            t_blocked[_u(p)] &= ~(np.int64(1) << x)
        elif kind == A_STAMP32:
            mem32[_u((base + x) >> 2)] = np.uint32((cursor & ts_mask) & 0xFFFFFFFF)
        elif kind == A_STAMP16X3:
            stamp = cursor & ts_mask
            for w in range(3):
                mem16[_u(((base + x) >> 1) + w)] = np.uint16((stamp >> (16 * w)) & 0xFFFF)
        cursor += action_cycles(kind, x, y)
    return cursor


@nb.njit(**_INLINE)
def run_static_task(
    script, sc, p, t, tpl, mprm, mem32, mem16, mem_base, fifo_first, ops, slot_op, op_free,
    op_free_n, act_o, act_o_n, in_o, t_active, t_blocked, prof, ce_busy, stats, params,
):  # fmt: skip
    """The picker's run of a static task picked at cycle ``t`` on PE ``p``: replay its record,
    charge the CE's busy cycles, keep the CE busy until it ends (at least the pick's cycle)."""
    end = replay_script(
        script, sc, p, t, tpl, mprm, mem32, mem16, mem_base, fifo_first, ops, slot_op, op_free,
        op_free_n, act_o, act_o_n, in_o, t_active, t_blocked, params,
    )  # fmt: skip
    prof[_u(p), PR_TASK_BUSY] += end - t
    ce_busy[_u(p)] = end if end > t + 1 else t + 1
    stats[S_TASKS] += 1
    return end
