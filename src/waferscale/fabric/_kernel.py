"""The compiled cycle loop of the fabric engine.

Everything that happens per wavelet or per vector element lives here, over structure-of-arrays
state owned by :class:`waferscale.fabric.state.FabricState`. Python is re-entered only when a CE
must run a Python task (or resume one), when the fabric goes quiet, at a cycle limit, or when the
watchdog fires. See ``docs/decisions/0002-fabric-engine.md`` for the design and the timing model.

Transfers: an item moved at cycle ``t`` over a stage of latency ``L`` becomes visible to the next
stage at ``t + L``; buffers count items in flight toward them (the wire's pipeline registers are
part of the buffer's capacity, see ``FabricState``). Within a cycle the phases run in the order:
host injection, vector ops, routers (forward, then ramp-up), host drains, task picker.

Every array index that is not a constant goes through ``_u`` (unsigned): numba adds a
negative-index wraparound (compare, add, select) to each signed index, and this loop makes
hundreds of indexed accesses per hop; unsigned indices measured 15-35% less kernel time
(decision 0002, "Revision 2"). ``tests/test_kernel_source.py`` keeps the rule.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._issue import retire_op
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
    PR_OP_ELEMENTS,
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
from ._memaccess import _u, borrowed, read_mem, write_mem
from ._numerics import apply_elem, trailing_zeros
from ._params import (  # noqa: F401  (N_PARAMS and the rest re-exported for FabricState)
    N_PARAMS,
    P_AUTO_SLOTS,
    P_COLORS,
    P_HOP,
    P_ICAP,
    P_OCAP,
    P_OP_STARTUP,
    P_RAMP,
    P_RCAP,
    P_REPLAY,
    P_STREAM,
    P_STREAM_WINDOW,
    P_TASK_STARTUP,
    P_TS_BITS,
    P_TURN,
    P_WATCHDOG,
    P_WORK_MAX,
)
from ._script import (  # noqa: F401  (the record layout re-exported for FabricState)
    A_ACTIVATE,
    A_BLOCK,
    A_ISSUE,
    A_MEM,
    A_MEM_RUN,
    A_SPEND,
    A_STAMP16X3,
    A_STAMP32,
    A_UNBLOCK,
    ACTION_WORDS,
    can_replay,
    run_static_task,
)
from ._stream import SR_CYCLE, SR_LAST_EVENT, SR_STATUS, WINDOW_NONE, WINDOW_QUIET, stream_window

NEVER = np.int64(1) << np.int64(62)



# clock[] layout.
C_NOW, C_LAST_PROGRESS, C_STALL_SINCE = 0, 1, 2

# Host port records (inj[] / drn[] rows).
H_PE, H_COLOR, H_POS, H_END, H_ACTIVE = 0, 1, 2, 3, 4
N_HOST_FIELDS = 5

_JIT = {"cache": True, "nogil": True, "boundscheck": False}
_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


@nb.njit(**_INLINE)
def _ctz(low):
    """Index of the single set bit of ``low`` (a power of two)."""
    return trailing_zeros(low)


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
    mode = sw_pop[_u(c), _u(p)]
    if mode == POP_NONE:
        cmd = (payload >> CTRL_OPCODE_SHIFT) & 3
    else:
        cmd = payload & 3
        if mode == POP_ALWAYS or cmd == SW_ADVANCE:
            out = (payload & np.uint32(0xFFFF0000)) | ((payload & 0xFFFF) >> 2)
    pos = route_pos[_u(c), _u(p)]
    nxt = pos
    if cmd == SW_ADVANCE:
        nxt = pos + 1
        if nxt >= sw_npos[_u(c), _u(p)]:
            nxt = 0 if sw_ring[_u(c), _u(p)] != 0 else pos
    elif cmd == SW_RESET:
        nxt = 0
    elif cmd == SW_TEARDOWN:
        torn[_u(p)] |= np.int64(1) << c
        t_active[_u(p)] |= np.int64(1) << TEARDOWN_TASK_ID
        _list_add(act_c, act_c_n, in_c, p)
    if nxt != pos:
        k = pend_n[0]
        pend[_u(k), 0] = c
        pend[_u(k), 1] = p
        pend[_u(k), 2] = nxt
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
    trace[_u(n), 0] = t
    trace[_u(n), 1] = kind
    trace[_u(n), 2] = p
    trace[_u(n), 3] = c
    trace[_u(n), 4] = port
    trace[_u(n), 5] = payload
    trace[_u(n), 6] = ctrl
    trace_n[0] = n + 1


@nb.njit(**_INLINE)
def _compact_tail(lst, n_now, n_start, w):
    """After a pass that kept ``w`` of its first ``n_start`` entries (compacted to the front),
    move the entries appended during the pass down behind them. Entries appended during a pass
    are visited from the next cycle on, so the list never holds more than twice its distinct
    members (capacity 2x)."""
    tail = n_now - n_start
    for k in range(tail):
        lst[_u(w + k)] = lst[_u(n_start + k)]
    return w + tail


@nb.njit(**_INLINE)
def _filter_pass(filt, p, c, payload):
    """Does a data wavelet pass the filter on the ramp of color ``c`` at PE ``p``?"""
    if filt[_u(c), _u(p), FL_KIND] == FILT_RANGE:
        index = (np.int64(payload) >> 16) & 0xFFFF
        return filt[_u(c), _u(p), FL_LO] <= index <= filt[_u(c), _u(p), FL_HI]
    # counter filter: the counter runs 0..max and wraps; the first FL_PASS values pass
    return filt[_u(c), _u(p), FL_COUNTER] < filt[_u(c), _u(p), FL_PASS]


@nb.njit(**_INLINE)
def _filter_count(filt, p, c, ctrl):
    if filt[_u(c), _u(p), FL_KIND] == FILT_RANGE:
        return
    counts = filt[_u(c), _u(p), FL_COUNT_CTRL] if ctrl != 0 else filt[_u(c), _u(p), FL_COUNT_DATA]
    if counts != 0:
        n = filt[_u(c), _u(p), FL_COUNTER] + 1
        filt[_u(c), _u(p), FL_COUNTER] = 0 if n > filt[_u(c), _u(p), FL_MAX] else n


@nb.njit(**_INLINE)
def _host_streams(inj, drn):
    """How many host memcpy streams (injections and drains) are still running."""
    n = 0
    for k in range(inj.shape[0]):
        n += inj[_u(k), H_ACTIVE]
    for k in range(drn.shape[0]):
        n += drn[_u(k), H_ACTIVE]
    return n


@nb.njit(**_INLINE)
def _list_add(lst, n, flag, p):
    if flag[_u(p)] == 0:
        flag[_u(p)] = 1
        lst[_u(n[0])] = p
        n[0] += 1


@nb.njit(**_INLINE)
def _pop(head, count, mask, c, p, cap):
    """Take the head item off FIFO (``c``, ``p``) of a queue kind; clear the PE's mask bit for
    ``c`` when it empties."""
    head[_u(c), _u(p)] = _wrap(head[_u(c), _u(p)] + 1, cap)
    count[_u(c), _u(p)] -= 1
    if count[_u(c), _u(p)] == 0:
        mask[_u(p)] &= ~(np.int64(1) << c)


@nb.njit(**_INLINE)
def _wake_op(o, ops, act_o, act_o_n, in_o):
    if o >= 0 and ops[_u(o), F_WAITING] == 1:
        ops[_u(o), F_WAITING] = 0
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
    r_popt,
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
    code_of,
    prog_script,
    script,
    tpl,
    mprm,
    mem_base,
    fifo_first,
    stream_map,
    stream_res,
    params,
    clock,
    stream_scratch,
    t_limit,
):
    # Python holds every array for the whole call: the helpers need not count references
    # (an atomic increment and decrement per array per inlined helper call otherwise)
    nbr, route_rx, route_tx = borrowed(nbr), borrowed(route_rx), borrowed(route_tx)
    route_pos, sw_npos, sw_ring = borrowed(route_pos), borrowed(sw_npos), borrowed(sw_ring)
    sw_pop, torn, swap = borrowed(sw_pop), borrowed(torn), borrowed(swap)
    filt_mask, filt, r_data = borrowed(filt_mask), borrowed(filt), borrowed(r_data)
    r_ctrl, r_ready, r_from = borrowed(r_ctrl), borrowed(r_ready), borrowed(r_from)
    r_head, r_count, r_popt = borrowed(r_head), borrowed(r_count), borrowed(r_popt)
    r_mask, rr, i_data, i_ctrl = borrowed(r_mask), borrowed(rr), borrowed(i_data), borrowed(i_ctrl)
    i_ready, i_head, i_count = borrowed(i_ready), borrowed(i_head), borrowed(i_count)
    i_mask, i_wait, i_nctrl = borrowed(i_mask), borrowed(i_wait), borrowed(i_nctrl)
    ctrl_data, o_data, o_ctrl = borrowed(ctrl_data), borrowed(o_data), borrowed(o_ctrl)
    o_ready, o_head, o_count = borrowed(o_ready), borrowed(o_head), borrowed(o_count)
    o_mask, o_wait, o_host = borrowed(o_mask), borrowed(o_wait), borrowed(o_host)
    t_active, t_blocked, t_local = borrowed(t_active), borrowed(t_blocked), borrowed(t_local)
    t_color_task, t_dmask, ce_state = borrowed(t_color_task), borrowed(t_dmask), borrowed(ce_state)
    ce_busy, ops, slot_op = borrowed(ce_busy), borrowed(ops), borrowed(slot_op)
    op_free, op_free_n, fifos = borrowed(op_free), borrowed(op_free_n), borrowed(fifos)
    mem32, mem16, act_r = borrowed(mem32), borrowed(mem16), borrowed(act_r)
    act_r_n, in_r, act_o = borrowed(act_r_n), borrowed(in_r), borrowed(act_o)
    act_o_n, in_o, act_c = borrowed(act_o_n), borrowed(in_o), borrowed(act_c)
    act_c_n, in_c, inj = borrowed(act_c_n), borrowed(in_c), borrowed(inj)
    inj_data, drn, drn_data = borrowed(inj_data), borrowed(drn), borrowed(drn_data)
    work, work_n, link_out = borrowed(work), borrowed(work_n), borrowed(link_out)
    prof, trace, trace_n = borrowed(prof), borrowed(trace), borrowed(trace_n)
    trace_cfg, stats, code_of = borrowed(trace_cfg), borrowed(stats), borrowed(code_of)
    prog_script, script, tpl = borrowed(prog_script), borrowed(script), borrowed(tpl)
    mprm, mem_base, fifo_first = borrowed(mprm), borrowed(mem_base), borrowed(fifo_first)
    stream_map, stream_res, params = borrowed(stream_map), borrowed(stream_res), borrowed(params)
    clock = borrowed(clock)
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
    stream_on = params[P_STREAM] != 0 and not tracing
    stream_next = t

    while True:
        if t >= t_limit:
            clock[C_NOW] = t
            clock[C_LAST_PROGRESS] = last_progress
            return EXIT_LIMIT
        looking = stream_on and t >= stream_next and act_c_n[0] == 0 and act_o_n[0] > 0
        if looking and _host_streams(inj, drn) == 0:
            stream_window(
                t, t_limit, nbr, route_rx, route_tx, route_pos, torn, swap, filt_mask,
                r_data, r_ctrl, r_ready, r_from, r_head, r_count, r_mask, rr,
                i_data, i_ctrl, i_ready, i_head, i_count, i_mask, i_wait, i_nctrl,
                o_data, o_ctrl, o_ready, o_head, o_count, o_mask, o_wait, o_host,
                t_active, t_blocked, t_local, t_dmask, ce_state, ce_busy,
                ops, slot_op, op_free, op_free_n, mem32, mem16,
                act_r, act_r_n, in_r, act_o, act_o_n, in_o, act_c, act_c_n, in_c,
                link_out, prof, stats, code_of, prog_script, script, tpl, mprm, mem_base,
                fifo_first, params, stream_map, stream_res, stream_scratch,
            )  # fmt: skip
            status = stream_res[SR_STATUS]
            if status == WINDOW_NONE:
                stream_next = stream_res[SR_CYCLE]
            else:
                if stream_res[SR_LAST_EVENT] > last_progress:
                    last_progress = stream_res[SR_LAST_EVENT]
                t = stream_res[SR_CYCLE]
                if status == WINDOW_QUIET:
                    clock[C_NOW] = t
                    clock[C_LAST_PROGRESS] = last_progress
                    return EXIT_QUIET
                stream_next = t
                continue
        progress = False
        host_done = False
        next_time = NEVER
        stats[S_CYCLES_STEPPED] += 1

        # ---- 1. host injection (memcpy streaming h2d) --------------------------------------
        for k in range(inj.shape[0]):
            if inj[_u(k), H_ACTIVE] == 0:
                continue
            p = inj[_u(k), H_PE]
            c = inj[_u(k), H_COLOR]
            if i_count[_u(c), _u(p)] < icap:
                idx = _wrap(i_head[_u(c), _u(p)] + i_count[_u(c), _u(p)], icap)
                i_data[_u(c), _u(p), _u(idx)] = inj_data[_u(inj[_u(k), H_POS])]
                i_ctrl[_u(c), _u(p), _u(idx)] = 0
                i_ready[_u(c), _u(p), _u(idx)] = t + 1
                i_count[_u(c), _u(p)] += 1
                i_mask[_u(p)] |= np.int64(1) << c
                inj[_u(k), H_POS] += 1
                stats[S_HOST_IN] += 1
                if tracing:
                    _trace_event(
                        trace,
                        trace_n,
                        trace_cfg,
                        t,
                        EV_HOST_IN,
                        p,
                        c,
                        RAMP,
                        i_data[_u(c), _u(p), _u(idx)],
                        0,
                    )
                progress = True
                if inj[_u(k), H_POS] >= inj[_u(k), H_END]:
                    inj[_u(k), H_ACTIVE] = 0
                    host_done = True
                _wake_op(i_wait[_u(c), _u(p)] - 1, ops, act_o, act_o_n, in_o)
                i_wait[_u(c), _u(p)] = 0
                if (t_dmask[_u(p)] >> c) & 1:
                    _list_add(act_c, act_c_n, in_c, p)

        # ---- 2. vector ops streaming through queues and FIFOs --------------------------------
        w = 0
        i = 0
        n_start = act_o_n[0]
        while i < n_start:
            o = act_o[_u(i)]
            i += 1
            stats[S_OP_VISITS] += 1
            keep = True
            p = ops[_u(o), F_PE]
            if ops[_u(o), F_START] > t:
                if ops[_u(o), F_START] < next_time:
                    next_time = ops[_u(o), F_START]
                act_o[_u(w)] = o
                w += 1
                continue
            done = ops[_u(o), F_DONE]
            blocked = False
            not_yet = NEVER
            tail = ops[_u(o), F_TAIL] != 0 and done == ops[_u(o), F_LEN] - 1
            # source 0 (sources 0 and 1 are spelled out twice on purpose: a shared helper
            # returning a (value, state, time) tuple measured 2x slower in this loop)
            a = np.uint32(0)
            ak = 0 if tail else ops[_u(o), F_AK]
            if ak == K_FABIN:
                c = ops[_u(o), F_AA]
                if i_count[_u(c), _u(p)] == 0:
                    blocked = True
                    if i_wait[_u(c), _u(p)] == 0:
                        i_wait[_u(c), _u(p)] = o + 1
                        ops[_u(o), F_WAITING] = 1
                        keep = False
                else:
                    h = i_head[_u(c), _u(p)]
                    if i_ready[_u(c), _u(p), _u(h)] > t:
                        not_yet = i_ready[_u(c), _u(p), _u(h)]
                    elif i_ctrl[_u(c), _u(p), _u(h)] != 0:
                        not_yet = t + 1  # the CE takes the control wavelet off the queue first
                    else:
                        a = i_data[_u(c), _u(p), _u(h)]
            elif ak == K_MEM:
                a = read_mem(
                    mem32, mem16, ops[_u(o), F_AA] + done * ops[_u(o), F_AS], ops[_u(o), F_AW]
                )
            elif ak == K_FIFO:
                f = ops[_u(o), F_AA]
                if fifos[_u(f), Q_COUNT] == 0:
                    blocked = True
                    if fifos[_u(f), Q_WAIT_POP] < 0:
                        fifos[_u(f), Q_WAIT_POP] = o
                        ops[_u(o), F_WAITING] = 1
                        keep = False
                else:
                    a = read_mem(
                        mem32,
                        mem16,
                        fifos[_u(f), Q_BASE] + fifos[_u(f), Q_HEAD] * fifos[_u(f), Q_WIDTH],
                        fifos[_u(f), Q_WIDTH],
                    )
            elif ak == K_SCALAR:
                a = np.uint32(ops[_u(o), F_AA] & 0xFFFFFFFF)
            # source 1
            b = np.uint32(0)
            bk = 0 if tail else ops[_u(o), F_BK]
            if not blocked and not_yet == NEVER:
                if bk == K_FABIN:
                    c = ops[_u(o), F_BA]
                    if i_count[_u(c), _u(p)] == 0:
                        blocked = True
                        if i_wait[_u(c), _u(p)] == 0:
                            i_wait[_u(c), _u(p)] = o + 1
                            ops[_u(o), F_WAITING] = 1
                            keep = False
                    else:
                        h = i_head[_u(c), _u(p)]
                        if i_ready[_u(c), _u(p), _u(h)] > t:
                            not_yet = i_ready[_u(c), _u(p), _u(h)]
                        elif i_ctrl[_u(c), _u(p), _u(h)] != 0:
                            not_yet = t + 1
                        else:
                            b = i_data[_u(c), _u(p), _u(h)]
                elif bk == K_MEM:
                    b = read_mem(
                        mem32, mem16, ops[_u(o), F_BA] + done * ops[_u(o), F_BS], ops[_u(o), F_BW]
                    )
                elif bk == K_FIFO:
                    f = ops[_u(o), F_BA]
                    if fifos[_u(f), Q_COUNT] == 0:
                        blocked = True
                        if fifos[_u(f), Q_WAIT_POP] < 0:
                            fifos[_u(f), Q_WAIT_POP] = o
                            ops[_u(o), F_WAITING] = 1
                            keep = False
                    else:
                        b = read_mem(
                            mem32,
                            mem16,
                            fifos[_u(f), Q_BASE] + fifos[_u(f), Q_HEAD] * fifos[_u(f), Q_WIDTH],
                            fifos[_u(f), Q_WIDTH],
                        )
                elif bk == K_SCALAR:
                    b = np.uint32(ops[_u(o), F_BA] & 0xFFFFFFFF)
            # destination space
            dk = ops[_u(o), F_DK]
            if not blocked and not_yet == NEVER:
                if dk == K_FABOUT:
                    c = ops[_u(o), F_DA]
                    if o_count[_u(c), _u(p)] >= ocap:
                        blocked = True
                        if o_wait[_u(c), _u(p)] == 0:
                            o_wait[_u(c), _u(p)] = o + 1
                            ops[_u(o), F_WAITING] = 1
                            keep = False
                elif dk == K_FIFO:
                    f = ops[_u(o), F_DA]
                    if fifos[_u(f), Q_COUNT] >= fifos[_u(f), Q_CAP]:
                        blocked = True
                        if fifos[_u(f), Q_WAIT_PUSH] < 0:
                            fifos[_u(f), Q_WAIT_PUSH] = o
                            ops[_u(o), F_WAITING] = 1
                            keep = False
            if blocked or not_yet != NEVER:
                if not_yet < next_time:
                    next_time = not_yet
                if keep:
                    act_o[_u(w)] = o
                    w += 1
                else:
                    in_o[_u(o)] = 0
                continue
            # commit: consume the inputs
            if ak == K_FABIN:
                c = ops[_u(o), F_AA]
                _pop(i_head, i_count, i_mask, c, p, icap)
            elif ak == K_FIFO:
                f = ops[_u(o), F_AA]
                fifos[_u(f), Q_HEAD] = _wrap(fifos[_u(f), Q_HEAD] + 1, fifos[_u(f), Q_CAP])
                fifos[_u(f), Q_COUNT] -= 1
                _wake_op(fifos[_u(f), Q_WAIT_PUSH], ops, act_o, act_o_n, in_o)
                fifos[_u(f), Q_WAIT_PUSH] = -1
            if bk == K_FABIN:
                c = ops[_u(o), F_BA]
                _pop(i_head, i_count, i_mask, c, p, icap)
            elif bk == K_FIFO:
                f = ops[_u(o), F_BA]
                fifos[_u(f), Q_HEAD] = _wrap(fifos[_u(f), Q_HEAD] + 1, fifos[_u(f), Q_CAP])
                fifos[_u(f), Q_COUNT] -= 1
                _wake_op(fifos[_u(f), Q_WAIT_PUSH], ops, act_o, act_o_n, in_o)
                fifos[_u(f), Q_WAIT_PUSH] = -1
            if tail:
                r = np.uint32((ops[_u(o), F_TAIL] - 1) & 0xFFFFFFFF)
            else:
                r = apply_elem(
                    ops[_u(o), F_CODE],
                    a,
                    b,
                    np.uint32(ops[_u(o), F_SCALAR] & 0xFFFFFFFF),
                    ops[_u(o), F_FUSED] != 0,
                )
            if dk == K_FABOUT:
                c = ops[_u(o), F_DA]
                idx = _wrap(o_head[_u(c), _u(p)] + o_count[_u(c), _u(p)], ocap)
                o_data[_u(c), _u(p), _u(idx)] = r
                o_ctrl[_u(c), _u(p), _u(idx)] = 1 if (tail or ops[_u(o), F_CTRL] != 0) else 0
                o_ready[_u(c), _u(p), _u(idx)] = t + 1
                o_count[_u(c), _u(p)] += 1
                o_mask[_u(p)] |= np.int64(1) << c
                if ((o_host[_u(p)] >> c) & 1) == 0:
                    _list_add(act_r, act_r_n, in_r, p)
            elif dk == K_MEM:
                write_mem(
                    mem32, mem16, ops[_u(o), F_DA] + done * ops[_u(o), F_DS], ops[_u(o), F_DW], r
                )
            elif dk == K_FIFO:
                f = ops[_u(o), F_DA]
                pos = _wrap(fifos[_u(f), Q_HEAD] + fifos[_u(f), Q_COUNT], fifos[_u(f), Q_CAP])
                write_mem(
                    mem32,
                    mem16,
                    fifos[_u(f), Q_BASE] + pos * fifos[_u(f), Q_WIDTH],
                    fifos[_u(f), Q_WIDTH],
                    r,
                )
                fifos[_u(f), Q_COUNT] += 1
                _wake_op(fifos[_u(f), Q_WAIT_POP], ops, act_o, act_o_n, in_o)
                fifos[_u(f), Q_WAIT_POP] = -1
            done += 1
            ops[_u(o), F_DONE] = done
            stats[S_ELEMS] += 1
            prof[_u(p), PR_OP_ELEMENTS] += 1
            progress = True
            if done < ops[_u(o), F_LEN]:
                act_o[_u(w)] = o
                w += 1
                continue
            # completion
            retire_op(o, t, ops, slot_op, op_free, op_free_n, in_o, prof)
            if tracing:
                _trace_event(
                    trace, trace_n, trace_cfg, t, EV_OP_DONE, p, 0, ops[_u(o), F_SLOT],
                    ops[_u(o), F_CODE], ops[_u(o), F_LEN],
                )  # fmt: skip
            on = ops[_u(o), F_ON_DONE]
            if on == ON_ACTIVATE:
                t_active[_u(p)] |= np.int64(1) << ops[_u(o), F_TASK]
                _list_add(act_c, act_c_n, in_c, p)
            elif on == ON_UNBLOCK:
                t_blocked[_u(p)] &= ~(np.int64(1) << ops[_u(o), F_TASK])
                _list_add(act_c, act_c_n, in_c, p)
            elif on == ON_RESUME:
                n = work_n[0]
                work[_u(n), 0] = W_RESUME
                work[_u(n), 1] = p
                work[_u(n), 2] = o
                work[_u(n), 3] = 0
                work[_u(n), 4] = 0
                work_n[0] = n + 1
        act_o_n[0] = _compact_tail(act_o, act_o_n[0], n_start, w)

        # ---- 3. routers ------------------------------------------------------------------------
        w = 0
        i = 0
        n_start = act_r_n[0]
        while i < n_start:
            p = act_r[_u(i)]
            i += 1
            stats[S_ROUTER_VISITS] += 1
            used = 0
            first_grant = -1
            mask = r_mask[_u(p)]
            start = rr[_u(p)]
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
                    h = r_head[_u(c), _u(p)]
                    if r_ready[_u(c), _u(p), _u(h)] > t:
                        if r_ready[_u(c), _u(p), _u(h)] < next_time:
                            next_time = r_ready[_u(c), _u(p), _u(h)]
                        continue
                    if (torn[_u(p)] >> c) & 1:
                        continue
                    pos = route_pos[_u(c), _u(p)]
                    tx = np.int64(route_tx[_u(c), _u(p), _u(pos)])
                    if tx == 0:
                        continue
                    payload = r_data[_u(c), _u(p), _u(h)]
                    ctrl = r_ctrl[_u(c), _u(p), _u(h)]
                    came_from = r_from[_u(c), _u(p), _u(h)]
                    filtered = (filt_mask[_u(p)] >> c) & 1
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
                            r_popt[_u(c), _u(p)] = (t & 0x3FFFFFFF) + 1
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
                    swapped = (swap[_u(p)] >> c) & 1
                    ok = True
                    pm = tx
                    while pm != 0:
                        bit = pm & (-pm)
                        pm ^= bit
                        port = _ctz(bit)
                        if port == RAMP:
                            if i_count[_u(c), _u(p)] >= icap:
                                ok = False
                                break
                        else:
                            q = nbr[_u(p), _u(port)]
                            if q < 0:
                                ok = False
                                break
                            oc = c ^ 1 if swapped and port >= 2 else c
                            # N<->S and E<->W are 0<->1 and 2<->3: the opposite port is port ^ 1
                            rx = route_rx[_u(oc), _u(q), _u(route_pos[_u(oc), _u(q)])]
                            # A slot freed this cycle is taken from the next one on, whichever
                            # router the pass visits first (decision 0004, step 1).
                            held = r_count[_u(oc), _u(q)]
                            if r_popt[_u(oc), _u(q)] == (t & 0x3FFFFFFF) + 1:
                                held += 1
                            if ((rx >> (port ^ 1)) & 1) == 0 or held >= rcap:
                                ok = False
                                break
                    if not ok:
                        continue
                    _pop(r_head, r_count, r_mask, c, p, rcap)
                    r_popt[_u(c), _u(p)] = (t & 0x3FFFFFFF) + 1
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
                            idx = _wrap(i_head[_u(c), _u(p)] + i_count[_u(c), _u(p)], icap)
                            i_data[_u(c), _u(p), _u(idx)] = out
                            i_ctrl[_u(c), _u(p), _u(idx)] = ctrl
                            i_ready[_u(c), _u(p), _u(idx)] = t + ramp
                            i_count[_u(c), _u(p)] += 1
                            i_mask[_u(p)] |= np.int64(1) << c
                            stats[S_RAMP_DOWN] += 1
                            link_out[_u(p), RAMP] += 1
                            if tracing:
                                _trace_event(
                                    trace, trace_n, trace_cfg, t, EV_RAMP_DOWN, p, c, RAMP, out,
                                    ctrl,
                                )  # fmt: skip
                            _wake_op(i_wait[_u(c), _u(p)] - 1, ops, act_o, act_o_n, in_o)
                            i_wait[_u(c), _u(p)] = 0
                            if ctrl != 0:
                                i_nctrl[_u(p)] += 1
                                _list_add(act_c, act_c_n, in_c, p)
                            elif (t_dmask[_u(p)] >> c) & 1:
                                _list_add(act_c, act_c_n, in_c, p)
                        else:
                            q = nbr[_u(p), _u(port)]
                            oc = c ^ 1 if swapped and port >= 2 else c
                            idx = _wrap(r_head[_u(oc), _u(q)] + r_count[_u(oc), _u(q)], rcap)
                            r_data[_u(oc), _u(q), _u(idx)] = out
                            r_ctrl[_u(oc), _u(q), _u(idx)] = ctrl
                            # A wavelet that turns (leaves other than straight on) pays the penalty.
                            if came_from < RAMP and port != (came_from ^ 1):
                                r_ready[_u(oc), _u(q), _u(idx)] = t + hop + turn
                            else:
                                r_ready[_u(oc), _u(q), _u(idx)] = t + hop
                            r_from[_u(oc), _u(q), _u(idx)] = port ^ 1
                            r_count[_u(oc), _u(q)] += 1
                            r_mask[_u(q)] |= np.int64(1) << oc
                            stats[S_HOPS] += 1
                            link_out[_u(p), _u(port)] += 1
                            if tracing:
                                _trace_event(
                                    trace, trace_n, trace_cfg, t, EV_HOP, p, c, port, out, ctrl
                                )
                            _list_add(act_r, act_r_n, in_r, q)
                if first_grant >= 0:
                    rr[_u(p)] = first_grant + 1 if first_grant + 1 < ncol else 0
            # ramp-up: one wavelet per cycle from the CE's output queues into the router
            omask = o_mask[_u(p)] & ~o_host[_u(p)]
            if omask != 0:
                start = rr[_u(p)]
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
                    h = o_head[_u(c), _u(p)]
                    if o_ready[_u(c), _u(p), _u(h)] > t:
                        if o_ready[_u(c), _u(p), _u(h)] < next_time:
                            next_time = o_ready[_u(c), _u(p), _u(h)]
                        continue
                    rx = route_rx[_u(c), _u(p), _u(route_pos[_u(c), _u(p)])]
                    if ((rx >> RAMP) & 1) == 0 or r_count[_u(c), _u(p)] >= rcap:
                        continue
                    idx = _wrap(r_head[_u(c), _u(p)] + r_count[_u(c), _u(p)], rcap)
                    r_data[_u(c), _u(p), _u(idx)] = o_data[_u(c), _u(p), _u(h)]
                    r_ctrl[_u(c), _u(p), _u(idx)] = o_ctrl[_u(c), _u(p), _u(h)]
                    r_ready[_u(c), _u(p), _u(idx)] = t + ramp
                    r_from[_u(c), _u(p), _u(idx)] = RAMP
                    r_count[_u(c), _u(p)] += 1
                    r_mask[_u(p)] |= np.int64(1) << c
                    _pop(o_head, o_count, o_mask, c, p, ocap)
                    stats[S_RAMP_UP] += 1
                    link_out[_u(p), 5] += 1
                    if tracing:
                        _trace_event(
                            trace, trace_n, trace_cfg, t, EV_RAMP_UP, p, c, RAMP,
                            r_data[_u(c), _u(p), _u(idx)], r_ctrl[_u(c), _u(p), _u(idx)],
                        )  # fmt: skip
                    progress = True
                    _wake_op(o_wait[_u(c), _u(p)] - 1, ops, act_o, act_o_n, in_o)
                    o_wait[_u(c), _u(p)] = 0
                    break
            if r_mask[_u(p)] != 0 or (o_mask[_u(p)] & ~o_host[_u(p)]) != 0:
                act_r[_u(w)] = p
                w += 1
            else:
                in_r[_u(p)] = 0
        act_r_n[0] = _compact_tail(act_r, act_r_n[0], n_start, w)
        for k in range(pend_n[0]):
            route_pos[_u(pend[_u(k), 0]), _u(pend[_u(k), 1])] = pend[_u(k), 2]
        pend_n[0] = 0

        # ---- 4. host drains (memcpy streaming d2h) ---------------------------------------------
        for k in range(drn.shape[0]):
            if drn[_u(k), H_ACTIVE] == 0:
                continue
            p = drn[_u(k), H_PE]
            c = drn[_u(k), H_COLOR]
            if o_count[_u(c), _u(p)] == 0:
                continue
            h = o_head[_u(c), _u(p)]
            if o_ready[_u(c), _u(p), _u(h)] > t:
                if o_ready[_u(c), _u(p), _u(h)] < next_time:
                    next_time = o_ready[_u(c), _u(p), _u(h)]
                continue
            drn_data[_u(drn[_u(k), H_POS])] = o_data[_u(c), _u(p), _u(h)]
            drn[_u(k), H_POS] += 1
            _pop(o_head, o_count, o_mask, c, p, ocap)
            stats[S_HOST_OUT] += 1
            if tracing:
                _trace_event(
                    trace, trace_n, trace_cfg, t, EV_HOST_OUT, p, c, RAMP,
                    drn_data[_u(drn[_u(k), H_POS] - 1)], 0,
                )  # fmt: skip
            progress = True
            _wake_op(o_wait[_u(c), _u(p)] - 1, ops, act_o, act_o_n, in_o)
            o_wait[_u(c), _u(p)] = 0
            if drn[_u(k), H_POS] >= drn[_u(k), H_END]:
                drn[_u(k), H_ACTIVE] = 0
                host_done = True

        # ---- 5. task picker ----------------------------------------------------------------------
        w = 0
        i = 0
        n_start = act_c_n[0]
        while i < n_start:
            p = act_c[_u(i)]
            i += 1
            future = NEVER
            if i_nctrl[_u(p)] > 0:
                # Control wavelets at the head of an input queue start their task (payload bits
                # 16..20) and hand it their low 16 bits, whatever the CE is doing.
                cm = i_mask[_u(p)]
                for c in range(ncol):
                    if ((cm >> c) & 1) == 0:
                        continue
                    while i_count[_u(c), _u(p)] > 0:
                        h = i_head[_u(c), _u(p)]
                        if i_ctrl[_u(c), _u(p), _u(h)] == 0:
                            break
                        if i_ready[_u(c), _u(p), _u(h)] > t:
                            if i_ready[_u(c), _u(p), _u(h)] < future:
                                future = i_ready[_u(c), _u(p), _u(h)]
                            break
                        pl = np.int64(i_data[_u(c), _u(p), _u(h)])
                        ctid = (pl >> CTRL_TASK_SHIFT) & 31
                        if ctid != CTRL_NO_TASK and (t_active[_u(p)] >> ctid) & 1:
                            # Its task still has an earlier activation to run: leave this one
                            # queued so each control wavelet starts one run with its own data.
                            break
                        _pop(i_head, i_count, i_mask, c, p, icap)
                        i_nctrl[_u(p)] -= 1
                        if ctid != CTRL_NO_TASK:
                            t_active[_u(p)] |= np.int64(1) << ctid
                            ctrl_data[_u(p), _u(ctid)] = pl & 0xFFFF
                        _wake_op(i_wait[_u(c), _u(p)] - 1, ops, act_o, act_o_n, in_o)
                        i_wait[_u(c), _u(p)] = 0
                        progress = True
            if ce_state[_u(p)] != CE_IDLE:
                if future < NEVER:
                    if future < next_time:
                        next_time = future
                    act_c[_u(w)] = p
                    w += 1
                else:
                    in_c[_u(p)] = 0
                continue
            ready = t_active[_u(p)] & t_local[_u(p)]
            data_colors = t_dmask[_u(p)] & i_mask[_u(p)]
            if data_colors != 0:
                for c in range(ncol):
                    if ((data_colors >> c) & 1) == 0:
                        continue
                    tid = t_color_task[_u(c), _u(p)]
                    if i_ctrl[_u(c), _u(p), _u(i_head[_u(c), _u(p)])] != 0:
                        continue
                    if i_ready[_u(c), _u(p), _u(i_head[_u(c), _u(p)])] <= t:
                        ready |= np.int64(1) << tid
                    elif i_ready[_u(c), _u(p), _u(i_head[_u(c), _u(p)])] < future:
                        future = i_ready[_u(c), _u(p), _u(i_head[_u(c), _u(p)])]
            ready &= ~t_blocked[_u(p)]
            if ready == 0:
                if future < NEVER:
                    if future < next_time:
                        next_time = future
                    act_c[_u(w)] = p
                    w += 1
                else:
                    in_c[_u(p)] = 0
                continue
            if ce_busy[_u(p)] > t:
                if ce_busy[_u(p)] < next_time:
                    next_time = ce_busy[_u(p)]
                act_c[_u(w)] = p
                w += 1
                continue
            if work_n[0] >= work_max:
                act_c[_u(w)] = p
                w += 1
                continue
            tid = 0
            while ((ready >> tid) & 1) == 0:
                tid += 1
            bit = np.int64(1) << tid
            payload = np.int64(0)
            ctrl = 0
            if (t_local[_u(p)] & bit) != 0:
                t_active[_u(p)] &= ~bit
                sc = prog_script[_u(code_of[_u(p)]), _u(tid)] if params[P_REPLAY] != 0 else -1
                if sc >= 0 and can_replay(
                    script, sc, p, slot_op, op_free_n, params[P_AUTO_SLOTS]
                ):
                    run_static_task(
                        script, sc, p, t, tpl, mprm, mem32, mem16, mem_base, fifo_first, ops,
                        slot_op, op_free, op_free_n, act_o, act_o_n, in_o, t_active, t_blocked,
                        prof, ce_busy, stats, params,
                    )  # fmt: skip
                    progress = True
                    act_c[_u(w)] = p  # the picker looks again once the CE is free
                    w += 1
                    continue
            else:
                for c in range(ncol):
                    if ((t_dmask[_u(p)] >> c) & 1) != 0 and t_color_task[_u(c), _u(p)] == tid:
                        h = i_head[_u(c), _u(p)]
                        payload = np.int64(i_data[_u(c), _u(p), _u(h)])
                        ctrl = i_ctrl[_u(c), _u(p), _u(h)]
                        _pop(i_head, i_count, i_mask, c, p, icap)
                        break
            n = work_n[0]
            work[_u(n), 0] = W_TASK
            work[_u(n), 1] = p
            work[_u(n), 2] = tid
            work[_u(n), 3] = payload
            work[_u(n), 4] = ctrl
            work_n[0] = n + 1
            ce_state[_u(p)] = CE_RUNNING
            stats[S_TASKS] += 1
            if tracing:
                _trace_event(trace, trace_n, trace_cfg, t, EV_TASK, p, 0, 0, tid, payload)
            progress = True
            in_c[_u(p)] = 0
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
        pending = act_r_n[0] + act_o_n[0] + act_c_n[0] + _host_streams(inj, drn)
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
