"""Issuing a streaming op into the kernel's op pool in one compiled call, and retiring it.

Taking a free row, choosing a microthread slot, writing the row and putting the op on the
kernel's active list are a dozen small numpy accesses from Python (about 10 us); done here they
cost one call. The row comes as a template whose memory and FIFO operands are relative to the
PE, so one template serves every PE that runs the same program (see ``PE._op``).
"""

from __future__ import annotations

import numba as nb

from ._layout_consts import (
    F_AA,
    F_AK,
    F_BA,
    F_BK,
    F_DA,
    F_DK,
    F_ISSUED,
    F_LEN,
    F_ON_DONE,
    F_PE,
    F_SLOT,
    F_START,
    K_FIFO,
    K_MEM,
    ON_RESUME,
    PR_ASYNC_WAIT,
    PR_SYNC_WAIT,
)
from ._memaccess import _u

ISSUE_POOL_FULL = -1  # no free row: grow the pool and call again
ISSUE_SLOT_BUSY = -2  # the requested slot still runs an op
ISSUE_NO_FREE_SLOT = -3  # every async slot is busy


@nb.njit(cache=True, nogil=True, boundscheck=False)
def issue_op(
    template, p, slot, auto_slots, cursor, startup, mem_base, fifo_first,
    ops, slot_op, op_free, op_free_n, act_o, act_o_n, in_o,
):  # fmt: skip
    """Start the op described by ``template`` on PE ``p`` at cycle ``cursor``: on ``slot``, or
    (``slot < 0``) on the first free of slots ``0 .. auto_slots - 1``. Returns the op's row, or
    an ``ISSUE_*`` code."""
    if slot < 0:
        for k in range(auto_slots):
            if slot_op[_u(p), _u(k)] < 0:
                slot = k
                break
        if slot < 0:
            return ISSUE_NO_FREE_SLOT
    elif slot_op[_u(p), _u(slot)] >= 0:
        return ISSUE_SLOT_BUSY
    if op_free_n[0] == 0:
        return ISSUE_POOL_FULL
    op_free_n[0] -= 1
    o = op_free[_u(op_free_n[0])]
    for k in range(template.shape[0]):
        ops[_u(o), _u(k)] = template[_u(k)]
    ops[_u(o), F_PE] = p
    ops[_u(o), F_SLOT] = slot
    ops[_u(o), F_START] = cursor + startup
    ops[_u(o), F_ISSUED] = cursor
    for kind, arg in ((F_DK, F_DA), (F_AK, F_AA), (F_BK, F_BA)):
        if ops[_u(o), _u(kind)] == K_MEM:
            ops[_u(o), _u(arg)] += mem_base
        elif ops[_u(o), _u(kind)] == K_FIFO:
            ops[_u(o), _u(arg)] += fifo_first
    slot_op[_u(p), _u(slot)] = o
    if in_o[_u(o)] == 0:
        in_o[_u(o)] = 1
        act_o[_u(act_o_n[0])] = o
        act_o_n[0] += 1
    return o


@nb.njit(cache=True, nogil=True, boundscheck=False, forceinline=True)
def retire_op(o, t, ops, slot_op, op_free, op_free_n, in_o, prof):
    """Op ``o`` processed its last element at cycle ``t``: free its slot and pool row, and
    charge the cycles it waited beyond one element per cycle to its PE's profile. (What it
    activates, unblocks or resumes is the caller's: the loop and the stream fast path differ.)"""
    p = ops[_u(o), F_PE]
    in_o[_u(o)] = 0
    slot_op[_u(p), _u(ops[_u(o), F_SLOT])] = -1
    waited = t - ops[_u(o), F_START] + 1 - ops[_u(o), F_LEN]
    if waited > 0:
        if ops[_u(o), F_ON_DONE] == ON_RESUME:
            prof[_u(p), PR_SYNC_WAIT] += waited
        else:
            prof[_u(p), PR_ASYNC_WAIT] += waited
    op_free[_u(op_free_n[0])] = o
    op_free_n[0] += 1
