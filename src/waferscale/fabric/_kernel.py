"""The compiled cycle loop of the fabric engine.

Everything that happens per wavelet or per vector element lives here, over structure-of-arrays
state owned by :class:`waferscale.fabric.state.FabricState`. Python is re-entered only when a CE
must run a Python task (or resume one), when the fabric goes quiet, at a cycle limit, or when the
watchdog fires. See ``docs/decisions/0002-fabric-engine.md`` for the design and the timing model.

Transfers: an item moved at cycle ``t`` over a stage of latency ``L`` becomes visible to the next
stage at ``t + L``; buffers count items in flight toward them (the wire's pipeline registers are
part of the buffer's capacity, see ``FabricState``). Within a cycle the phases run in the order:
host injection, vector ops, routers (forward, then ramp-up), host drains, task picker.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._layout_consts import (
    CE_IDLE,
    CE_RUNNING,
    CTRL_CE_FILTER_BIT,
    CTRL_NO_TASK,
    CTRL_OPCODE_SHIFT,
    CTRL_TASK_SHIFT,
    EV_DROP,
    EV_HOP,
    EV_HOST_IN,
    EV_HOST_OUT,
    EV_OP_DONE,
    EV_RAMP_DOWN,
    EV_RAMP_UP,
    EV_TASK,
    EXIT_LIMIT,
    EXIT_QUIET,
    EXIT_STALL,
    EXIT_TRACE,
    EXIT_WORK,
    F_AA,
    F_AK,
    F_AS,
    F_AW,
    F_BA,
    F_BK,
    F_BS,
    F_BW,
    F_CODE,
    F_CTRL,
    F_DA,
    F_DK,
    F_DONE,
    F_DS,
    F_DW,
    F_FUSED,
    F_LEN,
    F_ON_DONE,
    F_PE,
    F_SCALAR,
    F_SLOT,
    F_START,
    F_TAIL,
    F_TASK,
    F_WAITING,
    FILT_RANGE,
    FL_COUNT_CTRL,
    FL_COUNT_DATA,
    FL_COUNTER,
    FL_HI,
    FL_KIND,
    FL_LO,
    FL_MAX,
    FL_PASS,
    K_FABIN,
    K_FABOUT,
    K_FIFO,
    K_MEM,
    K_SCALAR,
    ON_ACTIVATE,
    ON_RESUME,
    ON_UNBLOCK,
    POP_ALWAYS,
    POP_NONE,
    PR_ASYNC_WAIT,
    PR_OP_ELEMENTS,
    PR_SYNC_WAIT,
    Q_BASE,
    Q_CAP,
    Q_COUNT,
    Q_HEAD,
    Q_WAIT_POP,
    Q_WAIT_PUSH,
    Q_WIDTH,
    RAMP,
    S_CYCLES_STEPPED,
    S_ELEMS,
    S_HOPS,
    S_HOST_IN,
    S_HOST_OUT,
    S_OP_VISITS,
    S_RAMP_DOWN,
    S_RAMP_UP,
    S_ROUTER_VISITS,
    S_TASKS,
    SW_ADVANCE,
    SW_RESET,
    SW_TEARDOWN,
    TC_C0,
    TC_C1,
    TC_ON,
    TC_WIDTH,
    TC_X0,
    TC_X1,
    TC_Y0,
    TC_Y1,
    TEARDOWN_TASK_ID,
    W_RESUME,
    W_TASK,
)
from ._numerics import apply_elem

NEVER = np.int64(1) << np.int64(62)

# params[] layout (filled by FabricState.params()).
P_HOP, P_RAMP, P_RCAP, P_ICAP, P_OCAP, P_WATCHDOG, P_COLORS, P_WORK_MAX = 0, 1, 2, 3, 4, 5, 6, 7
P_TURN = 8
N_PARAMS = 9

# clock[] layout.
C_NOW, C_LAST_PROGRESS, C_STALL_SINCE = 0, 1, 2

# Host port records (inj[] / drn[] rows).
H_PE, H_COLOR, H_POS, H_END, H_ACTIVE = 0, 1, 2, 3, 4
N_HOST_FIELDS = 5

_JIT = {"cache": True, "nogil": True, "boundscheck": False}
_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


def _debruijn_table():
    table = np.zeros(64, np.int64)
    for i in range(64):
        table[(((1 << i) * _DEBRUIJN_K) & 0xFFFFFFFFFFFFFFFF) >> 58] = i
    return table


_DEBRUIJN_K = 0x03F79D71B4CB0A89
_DEBRUIJN = _debruijn_table()


@nb.njit(**_INLINE)
def _ctz(low):
    """Index of the single set bit of ``low`` (a power of two), by de Bruijn multiplication."""
    return _DEBRUIJN[((low * _DEBRUIJN_K) >> 58) & 63]


@nb.njit(**_INLINE)
def _wrap(i, cap):
    """``i % cap`` for ``0 <= i < 2 * cap`` without a division."""
    return i - cap if i >= cap else i


@nb.njit(**_INLINE)
def _switch_command(
    p, c, payload, sw_pop, route_pos, sw_npos, sw_ring, torn, t_active, act_c, act_c_n, in_c,
    pend, pend_n,
):  # fmt: skip
    """Apply a control wavelet's switch command to PE ``p``'s router for color ``c``; return
    the payload it forwards (its command slots shifted when the router pops).

    A new switch position is queued in ``pend`` and applied after the router pass, so every
    router sees the positions of the start of the cycle whatever the order of the pass (a
    router sees at most one command per color per cycle)."""
    out = payload
    mode = sw_pop[c, p]
    if mode == POP_NONE:
        cmd = (payload >> CTRL_OPCODE_SHIFT) & 3
    else:
        cmd = payload & 3
        if mode == POP_ALWAYS or cmd == SW_ADVANCE:
            out = (payload & np.uint32(0xFFFF0000)) | ((payload & 0xFFFF) >> 2)
    pos = route_pos[c, p]
    nxt = pos
    if cmd == SW_ADVANCE:
        nxt = pos + 1
        if nxt >= sw_npos[c, p]:
            nxt = 0 if sw_ring[c, p] != 0 else pos
    elif cmd == SW_RESET:
        nxt = 0
    elif cmd == SW_TEARDOWN:
        torn[p] |= np.int64(1) << c
        t_active[p] |= np.int64(1) << TEARDOWN_TASK_ID
        _list_add(act_c, act_c_n, in_c, p)
    if nxt != pos:
        k = pend_n[0]
        pend[k, 0] = c
        pend[k, 1] = p
        pend[k, 2] = nxt
        pend_n[0] = k + 1
    return out


@nb.njit(**_JIT)
def _grown(pend):
    bigger = np.empty((pend.shape[0] * 2, 3), np.int64)
    bigger[: pend.shape[0]] = pend
    return bigger


@nb.njit(**_INLINE)
def _trace_event(trace, trace_n, trace_cfg, t, kind, p, c, port, payload, ctrl):
    """Record one event if tracing is on and (cycle, PE) fall in the window; count drops."""
    if t < trace_cfg[TC_C0] or t > trace_cfg[TC_C1]:
        return
    x = p % trace_cfg[TC_WIDTH]
    y = p // trace_cfg[TC_WIDTH]
    if x < trace_cfg[TC_X0] or x > trace_cfg[TC_X1] or y < trace_cfg[TC_Y0] or y > trace_cfg[TC_Y1]:
        return
    n = trace_n[0]
    if n >= trace.shape[0]:
        trace_n[1] += 1
        return
    trace[n, 0] = t
    trace[n, 1] = kind
    trace[n, 2] = p
    trace[n, 3] = c
    trace[n, 4] = port
    trace[n, 5] = payload
    trace[n, 6] = ctrl
    trace_n[0] = n + 1


@nb.njit(**_INLINE)
def _compact_tail(lst, n_now, n_start, w):
    """After a pass that kept ``w`` of its first ``n_start`` entries (compacted to the front),
    move the entries appended during the pass down behind them. Entries appended during a pass
    are visited from the next cycle on, so the list never holds more than twice its distinct
    members (capacity 2x)."""
    tail = n_now - n_start
    for k in range(tail):
        lst[w + k] = lst[n_start + k]
    return w + tail


@nb.njit(**_INLINE)
def _filter_pass(filt, p, c, payload):
    """Does a data wavelet pass the filter on the ramp of color ``c`` at PE ``p``?"""
    if filt[c, p, FL_KIND] == FILT_RANGE:
        index = (np.int64(payload) >> 16) & 0xFFFF
        return filt[c, p, FL_LO] <= index <= filt[c, p, FL_HI]
    # counter filter: the counter runs 0..max and wraps; the first FL_PASS values pass
    return filt[c, p, FL_COUNTER] < filt[c, p, FL_PASS]


@nb.njit(**_INLINE)
def _filter_count(filt, p, c, ctrl):
    if filt[c, p, FL_KIND] == FILT_RANGE:
        return
    counts = filt[c, p, FL_COUNT_CTRL] if ctrl != 0 else filt[c, p, FL_COUNT_DATA]
    if counts != 0:
        n = filt[c, p, FL_COUNTER] + 1
        filt[c, p, FL_COUNTER] = 0 if n > filt[c, p, FL_MAX] else n


@nb.njit(**_INLINE)
def _list_add(lst, n, flag, p):
    if flag[p] == 0:
        flag[p] = 1
        lst[n[0]] = p
        n[0] += 1


@nb.njit(**_INLINE)
def _pop(head, count, mask, c, p, cap):
    """Take the head item off FIFO (``c``, ``p``) of a queue kind; clear the PE's mask bit for
    ``c`` when it empties."""
    head[c, p] = _wrap(head[c, p] + 1, cap)
    count[c, p] -= 1
    if count[c, p] == 0:
        mask[p] &= ~(np.int64(1) << c)


@nb.njit(**_INLINE)
def _read_mem(mem32, mem16, addr, width):
    if width == 4:
        return np.uint32(mem32[addr >> 2])
    return np.uint32(mem16[addr >> 1])


@nb.njit(**_INLINE)
def _write_mem(mem32, mem16, addr, width, value):
    if width == 4:
        mem32[addr >> 2] = value
    else:
        mem16[addr >> 1] = np.uint16(value & 0xFFFF)


@nb.njit(**_INLINE)
def _wake_op(o, ops, act_o, act_o_n, in_o):
    if o >= 0 and ops[o, F_WAITING] == 1:
        ops[o, F_WAITING] = 0
        _list_add(act_o, act_o_n, in_o, o)


@nb.njit(**_JIT)
def run_cycles(
    nbr,
    route_rx,
    route_tx,
    route_pos,
    sw_npos,
    sw_ring,
    sw_pop,
    torn,
    swap,
    filt_mask,
    filt,
    r_data,
    r_ctrl,
    r_ready,
    r_from,
    r_head,
    r_count,
    r_mask,
    rr,
    i_data,
    i_ctrl,
    i_ready,
    i_head,
    i_count,
    i_mask,
    i_wait,
    i_nctrl,
    ctrl_data,
    o_data,
    o_ctrl,
    o_ready,
    o_head,
    o_count,
    o_mask,
    o_wait,
    o_host,
    t_active,
    t_blocked,
    t_local,
    t_color_task,
    t_dmask,
    ce_state,
    ce_busy,
    ops,
    slot_op,
    op_free,
    op_free_n,
    fifos,
    mem32,
    mem16,
    act_r,
    act_r_n,
    in_r,
    act_o,
    act_o_n,
    in_o,
    act_c,
    act_c_n,
    in_c,
    inj,
    inj_data,
    drn,
    drn_data,
    work,
    work_n,
    link_out,
    prof,
    trace,
    trace_n,
    trace_cfg,
    stats,
    params,
    clock,
    t_limit,
):
    hop = params[P_HOP]
    ramp = params[P_RAMP]
    rcap = params[P_RCAP]
    icap = params[P_ICAP]
    ocap = params[P_OCAP]
    watchdog = params[P_WATCHDOG]
    ncol = params[P_COLORS]
    work_max = params[P_WORK_MAX]
    turn = params[P_TURN]
    tracing = trace_cfg[TC_ON] != 0
    t = clock[C_NOW]
    last_progress = clock[C_LAST_PROGRESS]
    work_n[0] = 0
    pend = np.empty((64, 3), np.int64)  # switch positions to apply after the router pass
    pend_n = np.zeros(1, np.int64)

    while True:
        if t >= t_limit:
            clock[C_NOW] = t
            clock[C_LAST_PROGRESS] = last_progress
            return EXIT_LIMIT
        progress = False
        host_done = False
        next_time = NEVER
        stats[S_CYCLES_STEPPED] += 1

        # ---- 1. host injection (memcpy streaming h2d) --------------------------------------
        for k in range(inj.shape[0]):
            if inj[k, H_ACTIVE] == 0:
                continue
            p = inj[k, H_PE]
            c = inj[k, H_COLOR]
            if i_count[c, p] < icap:
                idx = _wrap(i_head[c, p] + i_count[c, p], icap)
                i_data[c, p, idx] = inj_data[inj[k, H_POS]]
                i_ctrl[c, p, idx] = 0
                i_ready[c, p, idx] = t + 1
                i_count[c, p] += 1
                i_mask[p] |= np.int64(1) << c
                inj[k, H_POS] += 1
                stats[S_HOST_IN] += 1
                if tracing:
                    _trace_event(
                        trace, trace_n, trace_cfg, t, EV_HOST_IN, p, c, RAMP, i_data[c, p, idx], 0
                    )
                progress = True
                if inj[k, H_POS] >= inj[k, H_END]:
                    inj[k, H_ACTIVE] = 0
                    host_done = True
                _wake_op(i_wait[c, p] - 1, ops, act_o, act_o_n, in_o)
                i_wait[c, p] = 0
                if (t_dmask[p] >> c) & 1:
                    _list_add(act_c, act_c_n, in_c, p)

        # ---- 2. vector ops streaming through queues and FIFOs --------------------------------
        w = 0
        i = 0
        n_start = act_o_n[0]
        while i < n_start:
            o = act_o[i]
            i += 1
            stats[S_OP_VISITS] += 1
            keep = True
            p = ops[o, F_PE]
            if ops[o, F_START] > t:
                if ops[o, F_START] < next_time:
                    next_time = ops[o, F_START]
                act_o[w] = o
                w += 1
                continue
            done = ops[o, F_DONE]
            blocked = False
            not_yet = NEVER
            tail = ops[o, F_TAIL] != 0 and done == ops[o, F_LEN] - 1
            # source 0 (sources 0 and 1 are spelled out twice on purpose: a shared helper
            # returning a (value, state, time) tuple measured 2x slower in this loop)
            a = np.uint32(0)
            ak = 0 if tail else ops[o, F_AK]
            if ak == K_FABIN:
                c = ops[o, F_AA]
                if i_count[c, p] == 0:
                    blocked = True
                    if i_wait[c, p] == 0:
                        i_wait[c, p] = o + 1
                        ops[o, F_WAITING] = 1
                        keep = False
                else:
                    h = i_head[c, p]
                    if i_ready[c, p, h] > t:
                        not_yet = i_ready[c, p, h]
                    elif i_ctrl[c, p, h] != 0:
                        not_yet = t + 1  # the CE takes the control wavelet off the queue first
                    else:
                        a = i_data[c, p, h]
            elif ak == K_MEM:
                a = _read_mem(mem32, mem16, ops[o, F_AA] + done * ops[o, F_AS], ops[o, F_AW])
            elif ak == K_FIFO:
                f = ops[o, F_AA]
                if fifos[f, Q_COUNT] == 0:
                    blocked = True
                    if fifos[f, Q_WAIT_POP] < 0:
                        fifos[f, Q_WAIT_POP] = o
                        ops[o, F_WAITING] = 1
                        keep = False
                else:
                    a = _read_mem(
                        mem32,
                        mem16,
                        fifos[f, Q_BASE] + fifos[f, Q_HEAD] * fifos[f, Q_WIDTH],
                        fifos[f, Q_WIDTH],
                    )
            elif ak == K_SCALAR:
                a = np.uint32(ops[o, F_AA] & 0xFFFFFFFF)
            # source 1
            b = np.uint32(0)
            bk = 0 if tail else ops[o, F_BK]
            if not blocked and not_yet == NEVER:
                if bk == K_FABIN:
                    c = ops[o, F_BA]
                    if i_count[c, p] == 0:
                        blocked = True
                        if i_wait[c, p] == 0:
                            i_wait[c, p] = o + 1
                            ops[o, F_WAITING] = 1
                            keep = False
                    else:
                        h = i_head[c, p]
                        if i_ready[c, p, h] > t:
                            not_yet = i_ready[c, p, h]
                        elif i_ctrl[c, p, h] != 0:
                            not_yet = t + 1
                        else:
                            b = i_data[c, p, h]
                elif bk == K_MEM:
                    b = _read_mem(mem32, mem16, ops[o, F_BA] + done * ops[o, F_BS], ops[o, F_BW])
                elif bk == K_FIFO:
                    f = ops[o, F_BA]
                    if fifos[f, Q_COUNT] == 0:
                        blocked = True
                        if fifos[f, Q_WAIT_POP] < 0:
                            fifos[f, Q_WAIT_POP] = o
                            ops[o, F_WAITING] = 1
                            keep = False
                    else:
                        b = _read_mem(
                            mem32,
                            mem16,
                            fifos[f, Q_BASE] + fifos[f, Q_HEAD] * fifos[f, Q_WIDTH],
                            fifos[f, Q_WIDTH],
                        )
                elif bk == K_SCALAR:
                    b = np.uint32(ops[o, F_BA] & 0xFFFFFFFF)
            # destination space
            dk = ops[o, F_DK]
            if not blocked and not_yet == NEVER:
                if dk == K_FABOUT:
                    c = ops[o, F_DA]
                    if o_count[c, p] >= ocap:
                        blocked = True
                        if o_wait[c, p] == 0:
                            o_wait[c, p] = o + 1
                            ops[o, F_WAITING] = 1
                            keep = False
                elif dk == K_FIFO:
                    f = ops[o, F_DA]
                    if fifos[f, Q_COUNT] >= fifos[f, Q_CAP]:
                        blocked = True
                        if fifos[f, Q_WAIT_PUSH] < 0:
                            fifos[f, Q_WAIT_PUSH] = o
                            ops[o, F_WAITING] = 1
                            keep = False
            if blocked or not_yet != NEVER:
                if not_yet < next_time:
                    next_time = not_yet
                if keep:
                    act_o[w] = o
                    w += 1
                else:
                    in_o[o] = 0
                continue
            # commit: consume the inputs
            if ak == K_FABIN:
                c = ops[o, F_AA]
                _pop(i_head, i_count, i_mask, c, p, icap)
            elif ak == K_FIFO:
                f = ops[o, F_AA]
                fifos[f, Q_HEAD] = _wrap(fifos[f, Q_HEAD] + 1, fifos[f, Q_CAP])
                fifos[f, Q_COUNT] -= 1
                _wake_op(fifos[f, Q_WAIT_PUSH], ops, act_o, act_o_n, in_o)
                fifos[f, Q_WAIT_PUSH] = -1
            if bk == K_FABIN:
                c = ops[o, F_BA]
                _pop(i_head, i_count, i_mask, c, p, icap)
            elif bk == K_FIFO:
                f = ops[o, F_BA]
                fifos[f, Q_HEAD] = _wrap(fifos[f, Q_HEAD] + 1, fifos[f, Q_CAP])
                fifos[f, Q_COUNT] -= 1
                _wake_op(fifos[f, Q_WAIT_PUSH], ops, act_o, act_o_n, in_o)
                fifos[f, Q_WAIT_PUSH] = -1
            if tail:
                r = np.uint32((ops[o, F_TAIL] - 1) & 0xFFFFFFFF)
            else:
                r = apply_elem(
                    ops[o, F_CODE],
                    a,
                    b,
                    np.uint32(ops[o, F_SCALAR] & 0xFFFFFFFF),
                    ops[o, F_FUSED] != 0,
                )
            if dk == K_FABOUT:
                c = ops[o, F_DA]
                idx = _wrap(o_head[c, p] + o_count[c, p], ocap)
                o_data[c, p, idx] = r
                o_ctrl[c, p, idx] = 1 if (tail or ops[o, F_CTRL] != 0) else 0
                o_ready[c, p, idx] = t + 1
                o_count[c, p] += 1
                o_mask[p] |= np.int64(1) << c
                if ((o_host[p] >> c) & 1) == 0:
                    _list_add(act_r, act_r_n, in_r, p)
            elif dk == K_MEM:
                _write_mem(mem32, mem16, ops[o, F_DA] + done * ops[o, F_DS], ops[o, F_DW], r)
            elif dk == K_FIFO:
                f = ops[o, F_DA]
                pos = _wrap(fifos[f, Q_HEAD] + fifos[f, Q_COUNT], fifos[f, Q_CAP])
                _write_mem(
                    mem32, mem16, fifos[f, Q_BASE] + pos * fifos[f, Q_WIDTH], fifos[f, Q_WIDTH], r
                )
                fifos[f, Q_COUNT] += 1
                _wake_op(fifos[f, Q_WAIT_POP], ops, act_o, act_o_n, in_o)
                fifos[f, Q_WAIT_POP] = -1
            done += 1
            ops[o, F_DONE] = done
            stats[S_ELEMS] += 1
            prof[p, PR_OP_ELEMENTS] += 1
            progress = True
            if done < ops[o, F_LEN]:
                act_o[w] = o
                w += 1
                continue
            # completion
            in_o[o] = 0
            slot_op[p, ops[o, F_SLOT]] = -1
            waited = t - ops[o, F_START] + 1 - ops[o, F_LEN]
            if waited > 0:
                if ops[o, F_ON_DONE] == ON_RESUME:
                    prof[p, PR_SYNC_WAIT] += waited
                else:
                    prof[p, PR_ASYNC_WAIT] += waited
            if tracing:
                _trace_event(
                    trace, trace_n, trace_cfg, t, EV_OP_DONE, p, 0, ops[o, F_SLOT], ops[o, F_CODE],
                    ops[o, F_LEN],
                )  # fmt: skip
            on = ops[o, F_ON_DONE]
            if on == ON_ACTIVATE:
                t_active[p] |= np.int64(1) << ops[o, F_TASK]
                _list_add(act_c, act_c_n, in_c, p)
            elif on == ON_UNBLOCK:
                t_blocked[p] &= ~(np.int64(1) << ops[o, F_TASK])
                _list_add(act_c, act_c_n, in_c, p)
            elif on == ON_RESUME:
                n = work_n[0]
                work[n, 0] = W_RESUME
                work[n, 1] = p
                work[n, 2] = o
                work[n, 3] = 0
                work[n, 4] = 0
                work_n[0] = n + 1
            op_free[op_free_n[0]] = o
            op_free_n[0] += 1
        act_o_n[0] = _compact_tail(act_o, act_o_n[0], n_start, w)

        # ---- 3. routers ------------------------------------------------------------------------
        w = 0
        i = 0
        n_start = act_r_n[0]
        while i < n_start:
            p = act_r[i]
            i += 1
            stats[S_ROUTER_VISITS] += 1
            used = 0
            first_grant = -1
            mask = r_mask[p]
            start = rr[p]
            if mask != 0:
                hi = mask & ~((np.int64(1) << start) - 1)
                lo = mask ^ hi
                m = hi
                second = False
                while True:
                    if m == 0:
                        if second or lo == 0:
                            break
                        m = lo
                        second = True
                        continue
                    low = m & (-m)
                    m ^= low
                    c = _ctz(low)
                    h = r_head[c, p]
                    if r_ready[c, p, h] > t:
                        if r_ready[c, p, h] < next_time:
                            next_time = r_ready[c, p, h]
                        continue
                    if (torn[p] >> c) & 1:
                        continue
                    pos = route_pos[c, p]
                    tx = np.int64(route_tx[c, p, pos])
                    if tx == 0:
                        continue
                    payload = r_data[c, p, h]
                    ctrl = r_ctrl[c, p, h]
                    came_from = r_from[c, p, h]
                    filtered = (filt_mask[p] >> c) & 1
                    if (tx >> RAMP) & 1:
                        if ctrl != 0:
                            if (payload >> CTRL_CE_FILTER_BIT) & 1:
                                tx &= ~(np.int64(1) << RAMP)
                        elif filtered and not _filter_pass(filt, p, c, payload):
                            tx &= ~(np.int64(1) << RAMP)
                        if tx == 0:
                            # Filtered away and routed nowhere else: the wavelet ends here.
                            if tracing:
                                _trace_event(
                                    trace, trace_n, trace_cfg, t, EV_DROP, p, c, RAMP, payload,
                                    ctrl,
                                )  # fmt: skip
                            _pop(r_head, r_count, r_mask, c, p, rcap)
                            if filtered:
                                _filter_count(filt, p, c, ctrl)
                            if ctrl != 0:
                                if pend_n[0] == pend.shape[0]:
                                    pend = _grown(pend)
                                _switch_command(
                                    p, c, payload, sw_pop, route_pos, sw_npos, sw_ring, torn,
                                    t_active, act_c, act_c_n, in_c, pend, pend_n,
                                )  # fmt: skip
                            progress = True
                            continue
                    if (tx & used) != 0:
                        continue
                    swapped = (swap[p] >> c) & 1
                    ok = True
                    pm = tx
                    while pm != 0:
                        bit = pm & (-pm)
                        pm ^= bit
                        port = _ctz(bit)
                        if port == RAMP:
                            if i_count[c, p] >= icap:
                                ok = False
                                break
                        else:
                            q = nbr[p, port]
                            if q < 0:
                                ok = False
                                break
                            oc = c ^ 1 if swapped and port >= 2 else c
                            # N<->S and E<->W are 0<->1 and 2<->3: the opposite port is port ^ 1
                            rx = route_rx[oc, q, route_pos[oc, q]]
                            if ((rx >> (port ^ 1)) & 1) == 0 or r_count[oc, q] >= rcap:
                                ok = False
                                break
                    if not ok:
                        continue
                    _pop(r_head, r_count, r_mask, c, p, rcap)
                    used |= tx
                    if first_grant < 0:
                        first_grant = c
                    progress = True
                    if filtered:
                        _filter_count(filt, p, c, ctrl)
                    out = payload
                    if ctrl != 0:
                        # The copies go where the switch pointed before the command.
                        if pend_n[0] == pend.shape[0]:
                            pend = _grown(pend)
                        out = _switch_command(
                            p, c, payload, sw_pop, route_pos, sw_npos, sw_ring, torn, t_active,
                            act_c, act_c_n, in_c, pend, pend_n,
                        )  # fmt: skip
                    pm = tx
                    while pm != 0:
                        bit = pm & (-pm)
                        pm ^= bit
                        port = _ctz(bit)
                        if port == RAMP:
                            idx = _wrap(i_head[c, p] + i_count[c, p], icap)
                            i_data[c, p, idx] = out
                            i_ctrl[c, p, idx] = ctrl
                            i_ready[c, p, idx] = t + ramp
                            i_count[c, p] += 1
                            i_mask[p] |= np.int64(1) << c
                            stats[S_RAMP_DOWN] += 1
                            link_out[p, RAMP] += 1
                            if tracing:
                                _trace_event(
                                    trace, trace_n, trace_cfg, t, EV_RAMP_DOWN, p, c, RAMP, out,
                                    ctrl,
                                )  # fmt: skip
                            _wake_op(i_wait[c, p] - 1, ops, act_o, act_o_n, in_o)
                            i_wait[c, p] = 0
                            if ctrl != 0:
                                i_nctrl[p] += 1
                                _list_add(act_c, act_c_n, in_c, p)
                            elif (t_dmask[p] >> c) & 1:
                                _list_add(act_c, act_c_n, in_c, p)
                        else:
                            q = nbr[p, port]
                            oc = c ^ 1 if swapped and port >= 2 else c
                            idx = _wrap(r_head[oc, q] + r_count[oc, q], rcap)
                            r_data[oc, q, idx] = out
                            r_ctrl[oc, q, idx] = ctrl
                            # A wavelet that turns (leaves other than straight on) pays the penalty.
                            if came_from < RAMP and port != (came_from ^ 1):
                                r_ready[oc, q, idx] = t + hop + turn
                            else:
                                r_ready[oc, q, idx] = t + hop
                            r_from[oc, q, idx] = port ^ 1
                            r_count[oc, q] += 1
                            r_mask[q] |= np.int64(1) << oc
                            stats[S_HOPS] += 1
                            link_out[p, port] += 1
                            if tracing:
                                _trace_event(
                                    trace, trace_n, trace_cfg, t, EV_HOP, p, c, port, out, ctrl
                                )
                            _list_add(act_r, act_r_n, in_r, q)
                if first_grant >= 0:
                    rr[p] = first_grant + 1 if first_grant + 1 < ncol else 0
            # ramp-up: one wavelet per cycle from the CE's output queues into the router
            omask = o_mask[p] & ~o_host[p]
            if omask != 0:
                start = rr[p]
                hi = omask & ~((np.int64(1) << start) - 1)
                lo = omask ^ hi
                m = hi
                second = False
                while True:
                    if m == 0:
                        if second or lo == 0:
                            break
                        m = lo
                        second = True
                        continue
                    low = m & (-m)
                    m ^= low
                    c = _ctz(low)
                    h = o_head[c, p]
                    if o_ready[c, p, h] > t:
                        if o_ready[c, p, h] < next_time:
                            next_time = o_ready[c, p, h]
                        continue
                    rx = route_rx[c, p, route_pos[c, p]]
                    if ((rx >> RAMP) & 1) == 0 or r_count[c, p] >= rcap:
                        continue
                    idx = _wrap(r_head[c, p] + r_count[c, p], rcap)
                    r_data[c, p, idx] = o_data[c, p, h]
                    r_ctrl[c, p, idx] = o_ctrl[c, p, h]
                    r_ready[c, p, idx] = t + ramp
                    r_from[c, p, idx] = RAMP
                    r_count[c, p] += 1
                    r_mask[p] |= np.int64(1) << c
                    _pop(o_head, o_count, o_mask, c, p, ocap)
                    stats[S_RAMP_UP] += 1
                    link_out[p, 5] += 1
                    if tracing:
                        _trace_event(
                            trace, trace_n, trace_cfg, t, EV_RAMP_UP, p, c, RAMP,
                            r_data[c, p, idx], r_ctrl[c, p, idx],
                        )  # fmt: skip
                    progress = True
                    _wake_op(o_wait[c, p] - 1, ops, act_o, act_o_n, in_o)
                    o_wait[c, p] = 0
                    break
            if r_mask[p] != 0 or (o_mask[p] & ~o_host[p]) != 0:
                act_r[w] = p
                w += 1
            else:
                in_r[p] = 0
        act_r_n[0] = _compact_tail(act_r, act_r_n[0], n_start, w)
        for k in range(pend_n[0]):
            route_pos[pend[k, 0], pend[k, 1]] = pend[k, 2]
        pend_n[0] = 0

        # ---- 4. host drains (memcpy streaming d2h) ---------------------------------------------
        for k in range(drn.shape[0]):
            if drn[k, H_ACTIVE] == 0:
                continue
            p = drn[k, H_PE]
            c = drn[k, H_COLOR]
            if o_count[c, p] == 0:
                continue
            h = o_head[c, p]
            if o_ready[c, p, h] > t:
                if o_ready[c, p, h] < next_time:
                    next_time = o_ready[c, p, h]
                continue
            drn_data[drn[k, H_POS]] = o_data[c, p, h]
            drn[k, H_POS] += 1
            _pop(o_head, o_count, o_mask, c, p, ocap)
            stats[S_HOST_OUT] += 1
            if tracing:
                _trace_event(
                    trace, trace_n, trace_cfg, t, EV_HOST_OUT, p, c, RAMP,
                    drn_data[drn[k, H_POS] - 1], 0,
                )  # fmt: skip
            progress = True
            _wake_op(o_wait[c, p] - 1, ops, act_o, act_o_n, in_o)
            o_wait[c, p] = 0
            if drn[k, H_POS] >= drn[k, H_END]:
                drn[k, H_ACTIVE] = 0
                host_done = True

        # ---- 5. task picker ----------------------------------------------------------------------
        w = 0
        i = 0
        n_start = act_c_n[0]
        while i < n_start:
            p = act_c[i]
            i += 1
            future = NEVER
            if i_nctrl[p] > 0:
                # Control wavelets at the head of an input queue start their task (payload bits
                # 16..20) and hand it their low 16 bits, whatever the CE is doing.
                cm = i_mask[p]
                for c in range(ncol):
                    if ((cm >> c) & 1) == 0:
                        continue
                    while i_count[c, p] > 0:
                        h = i_head[c, p]
                        if i_ctrl[c, p, h] == 0:
                            break
                        if i_ready[c, p, h] > t:
                            if i_ready[c, p, h] < future:
                                future = i_ready[c, p, h]
                            break
                        pl = np.int64(i_data[c, p, h])
                        ctid = (pl >> CTRL_TASK_SHIFT) & 31
                        if ctid != CTRL_NO_TASK and (t_active[p] >> ctid) & 1:
                            # Its task still has an earlier activation to run: leave this one
                            # queued so each control wavelet starts one run with its own data.
                            break
                        _pop(i_head, i_count, i_mask, c, p, icap)
                        i_nctrl[p] -= 1
                        if ctid != CTRL_NO_TASK:
                            t_active[p] |= np.int64(1) << ctid
                            ctrl_data[p, ctid] = pl & 0xFFFF
                        _wake_op(i_wait[c, p] - 1, ops, act_o, act_o_n, in_o)
                        i_wait[c, p] = 0
                        progress = True
            if ce_state[p] != CE_IDLE:
                if future < NEVER:
                    if future < next_time:
                        next_time = future
                    act_c[w] = p
                    w += 1
                else:
                    in_c[p] = 0
                continue
            ready = t_active[p] & t_local[p]
            data_colors = t_dmask[p] & i_mask[p]
            if data_colors != 0:
                for c in range(ncol):
                    if ((data_colors >> c) & 1) == 0:
                        continue
                    tid = t_color_task[c, p]
                    if i_ctrl[c, p, i_head[c, p]] != 0:
                        continue
                    if i_ready[c, p, i_head[c, p]] <= t:
                        ready |= np.int64(1) << tid
                    elif i_ready[c, p, i_head[c, p]] < future:
                        future = i_ready[c, p, i_head[c, p]]
            ready &= ~t_blocked[p]
            if ready == 0:
                if future < NEVER:
                    if future < next_time:
                        next_time = future
                    act_c[w] = p
                    w += 1
                else:
                    in_c[p] = 0
                continue
            if ce_busy[p] > t:
                if ce_busy[p] < next_time:
                    next_time = ce_busy[p]
                act_c[w] = p
                w += 1
                continue
            if work_n[0] >= work_max:
                act_c[w] = p
                w += 1
                continue
            tid = 0
            while ((ready >> tid) & 1) == 0:
                tid += 1
            bit = np.int64(1) << tid
            payload = np.int64(0)
            ctrl = 0
            if (t_local[p] & bit) != 0:
                t_active[p] &= ~bit
            else:
                for c in range(ncol):
                    if ((t_dmask[p] >> c) & 1) != 0 and t_color_task[c, p] == tid:
                        h = i_head[c, p]
                        payload = np.int64(i_data[c, p, h])
                        ctrl = i_ctrl[c, p, h]
                        _pop(i_head, i_count, i_mask, c, p, icap)
                        break
            n = work_n[0]
            work[n, 0] = W_TASK
            work[n, 1] = p
            work[n, 2] = tid
            work[n, 3] = payload
            work[n, 4] = ctrl
            work_n[0] = n + 1
            ce_state[p] = CE_RUNNING
            stats[S_TASKS] += 1
            if tracing:
                _trace_event(trace, trace_n, trace_cfg, t, EV_TASK, p, 0, 0, tid, payload)
            progress = True
            in_c[p] = 0
        act_c_n[0] = _compact_tail(act_c, act_c_n[0], n_start, w)

        # ---- end of cycle ----------------------------------------------------------------------
        if progress:
            last_progress = t
        if work_n[0] > 0 or host_done:
            clock[C_NOW] = t + 1
            clock[C_LAST_PROGRESS] = last_progress
            return EXIT_WORK
        if tracing and trace_n[0] * 2 >= trace.shape[0]:
            clock[C_NOW] = t + 1
            clock[C_LAST_PROGRESS] = last_progress
            return EXIT_TRACE
        pending = act_r_n[0] + act_o_n[0] + act_c_n[0]
        for k in range(inj.shape[0]):
            pending += inj[k, H_ACTIVE]
        for k in range(drn.shape[0]):
            pending += drn[k, H_ACTIVE]
        if pending == 0:
            clock[C_NOW] = t + 1
            clock[C_LAST_PROGRESS] = last_progress
            return EXIT_QUIET
        if progress:
            t += 1
            continue
        if next_time == NEVER:
            # Everything pending is blocked and nothing is in flight or scheduled: the state
            # can never change again. Report it as the watchdog would.
            t = max(t + 1, last_progress + watchdog)
        elif next_time > t + 1:
            # Nothing moves before a scheduled event (a wavelet in flight, a busy CE, an op's
            # start): waiting for it is not a stall. Skip the idle cycles.
            t = next_time if next_time < t_limit else t_limit
            last_progress = t - 1
            continue
        else:
            t += 1
        if t - last_progress >= watchdog:
            clock[C_NOW] = t
            clock[C_LAST_PROGRESS] = last_progress
            clock[C_STALL_SINCE] = last_progress
            return EXIT_STALL
