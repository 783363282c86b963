"""The stream fast path of the cycle loop (decision 0004).

When everything the machine is doing is streaming ops feeding each other through queues and
routes, every rule of the cycle loop is a maximum of earlier times: an element leaves a stage
at the first cycle at which it has arrived, the stage's previous element left at least a cycle
before, and the next buffer has room. :func:`stream_window` finds that stream graph, computes
the cycle of every element at every stage element by element instead of cycle by cycle
(max-plus, as ``schedule.chain_schedule`` does for one chain), and commits the machine's state
at the end of the window exactly as the loop would have left it: buffers, op progress, memory,
task activity (completions whose tasks are static and issue no streaming op are picked and
replayed in place), statistics, profile, link counters and round-robin pointers. The loop's
visit counters (``cycles_stepped``, ``router_visits``, ``op_visits``) count what was actually
done and differ.

Stages (movers) and buffers:

- op (phase 2 of a cycle): sources from input queues ``I``, memory or a scalar; result to an
  output queue ``O`` or memory;
- ramp-up (phase 3, after its router's forward): ``O`` -> router buffer ``R`` of the same PE;
- router forward (phase 3): ``R`` -> neighbours' ``R`` and/or the PE's ``I`` (multicast: all
  at once, when all have room).

Room: a push of a buffer's element ``j`` needs its element ``n0 + j - cap`` popped; a pop in the
same cycle counts if the consumer's phase runs before the producer's check (``I`` and ``R`` fed
by a ramp-up: yes; ``O`` and ``R`` fed by a hop: no, the latter since step 1 of the decision made
the loop's router room rule independent of the order in which it visits routers).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._issue import retire_op
from ._layout_consts import (
    CE_IDLE,
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
    K_FABIN,
    K_FABOUT,
    K_MEM,
    K_NONE,
    K_SCALAR,
    ON_ACTIVATE,
    ON_NONE,
    ON_RESUME,
    ON_UNBLOCK,
    PR_OP_ELEMENTS,
    RAMP,
    S_ELEMS,
    S_HOPS,
    S_RAMP_DOWN,
    S_RAMP_UP,
)
from ._memaccess import _u, read_mem, write_mem
from ._numerics import apply_elem
from ._params import (
    P_COLORS,
    P_HOP,
    P_ICAP,
    P_OCAP,
    P_RAMP,
    P_RCAP,
    P_REPLAY,
    P_STREAM_WINDOW,
    P_TURN,
    P_WATCHDOG,
)
from ._script import A_ACTIVATE, A_BLOCK, A_UNBLOCK, ACTION_WORDS, SCRIPT_HEADER, run_static_task

NEVER = np.int64(1) << np.int64(62)
_JIT = {"cache": True, "nogil": True, "boundscheck": False}

# stream_window's result: what happened, and the cycle the loop goes on from
WINDOW_NONE, WINDOW_DONE, WINDOW_QUIET = 0, 1, 2
SR_STATUS, SR_CYCLE, SR_LAST_EVENT = 0, 1, 2
N_SR = 3

# buffer kinds (also the first index of the (kind, color, PE) -> buffer map)
BK_R, BK_I, BK_O = 0, 1, 2
# mover kinds
MK_OP, MK_RAMP_UP, MK_FORWARD = 0, 1, 2
# mover table columns
(M_KIND, M_PE, M_COLOR, M_OP, M_IN0, M_IN1, M_NOUT, M_OUT, M_NEVER, M_COMP, M_LOCAL, M_START,
 M_LIMIT) = (0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16)  # fmt: skip
N_M = 17  # M_OUT .. M_OUT + 4: up to five outputs (a router's four ports and its ramp)
# buffer table columns
(B_KIND, B_PE, B_COLOR, B_CAP, B_PROD, B_CONS, B_N0, B_FROM, B_PORT, B_DELTA, B_LOCAL,
 B_HEAD0) = range(12)  # fmt: skip
N_B = 12
# mover states while scheduling: moving, finished or blocked for good, stopped at the window end
ST_MOVING, ST_NEVER, ST_BEYOND = 0, 1, 2

MAX_PICKS = 16  # static tasks picked in place after one completion before the loop takes over
MIN_WINDOW = 8  # shorter windows are left to the loop


@nb.njit(**_JIT)
def _grown(a, rows):
    if rows <= a.shape[0]:
        return a
    b = np.full((max(rows, 2 * a.shape[0]), a.shape[1]), -1, a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(**_JIT)
def _buffer(kind, c, p, bufs, nb_, smap, cap, head0):
    """The graph's buffer ``kind`` of (``c``, ``p``), created on first use. Returns (id, rows)."""
    b = smap[_u(kind), _u(c), _u(p)] - 1
    if b >= 0:
        return b, bufs, nb_
    bufs = _grown(bufs, nb_ + 1)
    b = nb_
    bufs[_u(b), :] = -1
    bufs[_u(b), B_KIND] = kind
    bufs[_u(b), B_PE] = p
    bufs[_u(b), B_COLOR] = c
    bufs[_u(b), B_CAP] = cap
    bufs[_u(b), B_HEAD0] = head0
    bufs[_u(b), B_N0] = 0
    bufs[_u(b), B_FROM] = RAMP
    bufs[_u(b), B_PORT] = RAMP
    bufs[_u(b), B_DELTA] = 1 if kind == BK_O else 0
    smap[_u(kind), _u(c), _u(p)] = b + 1
    return b, bufs, nb_ + 1


@nb.njit(**_JIT)
def _forget(bufs, nb_, smap):
    """Clear the window's buffers from the (kind, color, PE) map: it is all zero between
    windows."""
    for b in range(nb_):
        smap[_u(bufs[_u(b), B_KIND]), _u(bufs[_u(b), B_COLOR]), _u(bufs[_u(b), B_PE])] = 0


@nb.njit(**_JIT)
def _mover(kind, p, c, o, movers, nm):
    movers = _grown(movers, nm + 1)
    m = nm
    movers[_u(m), :] = -1
    movers[_u(m), M_KIND] = kind
    movers[_u(m), M_PE] = p
    movers[_u(m), M_COLOR] = c
    movers[_u(m), M_OP] = o
    movers[_u(m), M_NOUT] = 0
    movers[_u(m), M_NEVER] = 0
    movers[_u(m), M_START] = 0
    return m, movers, nm + 1


@nb.njit(**_JIT)
def _chain_stays_static(p, on, tid, t_active, t_blocked, t_local, code_of, prog_script, script,
                        replay_on):  # fmt: skip
    """Would the picker, after an op of PE ``p`` completes with ``on`` for task ``tid``, only
    pick static tasks whose records issue no streaming op (so they run in place)?"""
    act = t_active[_u(p)]
    blk = t_blocked[_u(p)]
    if on == ON_ACTIVATE:
        act |= np.int64(1) << tid
    elif on == ON_UNBLOCK:
        blk &= ~(np.int64(1) << tid)
    for _ in range(MAX_PICKS):
        ready = act & t_local[_u(p)] & ~blk
        if ready == 0:
            return True
        k = 0
        while ((ready >> k) & 1) == 0:
            k += 1
        act &= ~(np.int64(1) << k)
        sc = prog_script[_u(code_of[_u(p)]), _u(k)] if replay_on else -1
        if sc < 0 or script[_u(sc + 1)] != 0:
            return False
        for a in range(script[_u(sc)]):
            w = sc + SCRIPT_HEADER + a * ACTION_WORDS
            if script[_u(w)] == A_ACTIVATE:
                act |= np.int64(1) << script[_u(w + 1)]
            elif script[_u(w)] == A_BLOCK:
                blk |= np.int64(1) << script[_u(w + 1)]
            elif script[_u(w)] == A_UNBLOCK:
                blk &= ~(np.int64(1) << script[_u(w + 1)])
    return False


@nb.njit(**_JIT)
def _dep_state(st, m):
    """Why a mover depending on ``m`` cannot move now: ``m`` is absent or blocked for good
    (never), or stopped at the window's end (beyond)."""
    if m < 0:
        return ST_NEVER
    return ST_NEVER if st[_u(m)] == ST_NEVER else ST_BEYOND


@nb.njit(**_JIT)
def stream_window(
    t, t_limit, nbr, route_rx, route_tx, route_pos, torn, swap, filt_mask,
    r_data, r_ctrl, r_ready, r_from, r_head, r_count, r_mask, rr,
    i_data, i_ctrl, i_ready, i_head, i_count, i_mask, i_wait, i_nctrl,
    o_data, o_ctrl, o_ready, o_head, o_count, o_mask, o_wait, o_host,
    t_active, t_blocked, t_local, t_dmask, ce_state, ce_busy,
    ops, slot_op, op_free, op_free_n, mem32, mem16,
    act_r, act_r_n, in_r, act_o, act_o_n, in_o, act_c, act_c_n, in_c,
    link_out, prof, stats, code_of, prog_script, script, tpl, mprm, mem_base, fifo_first,
    params, smap, res,
):  # fmt: skip
    """Run the machine from cycle ``t`` as a stream schedule if it can be; see the module
    docstring. Fills ``res`` (``SR_*``): ``WINDOW_NONE`` and the cycle to look again from;
    ``WINDOW_DONE`` and the cycle the loop goes on from; ``WINDOW_QUIET`` and the cycle at
    which the loop, stepping, would have found nothing left to do."""
    res[SR_STATUS] = WINDOW_NONE
    res[SR_CYCLE] = t + MIN_WINDOW
    res[SR_LAST_EVENT] = -1
    n = nbr.shape[0]
    hop = params[P_HOP]
    ramp = params[P_RAMP]
    turn = params[P_TURN]
    rcap = params[P_RCAP]
    icap = params[P_ICAP]
    ocap = params[P_OCAP]
    ncol = params[P_COLORS]
    bound = t + params[P_STREAM_WINDOW]
    if bound > t + params[P_WATCHDOG] - 2:
        bound = t + params[P_WATCHDOG] - 2
    if bound > t_limit:
        bound = t_limit

    # ---- live ops: all must be streams the schedule knows ---
    live = np.empty(64, np.int64)
    n_live = 0
    pe_ops = np.zeros(n, np.int32)
    for o in range(ops.shape[0]):
        p = ops[_u(o), F_PE]
        s = ops[_u(o), F_SLOT]
        if p < 0 or p >= n or s < 0 or s >= slot_op.shape[1] or slot_op[_u(p), _u(s)] != o:
            continue
        if ops[_u(o), F_TAIL] != 0 or ops[_u(o), F_CTRL] != 0:
            return
        for kf in (F_AK, F_BK):
            k = ops[_u(o), _u(kf)]
            if k != K_NONE and k != K_FABIN and k != K_MEM and k != K_SCALAR:
                return
        dk = ops[_u(o), F_DK]
        if dk != K_FABOUT and dk != K_MEM:
            return
        if dk == K_FABOUT and (o_host[_u(p)] >> ops[_u(o), F_DA]) & 1:
            return
        if n_live == live.shape[0]:
            bigger = np.empty(2 * n_live, np.int64)
            bigger[:n_live] = live
            live = bigger
        live[_u(n_live)] = o
        n_live += 1
        pe_ops[_u(p)] += 1
    if n_live == 0:
        return

    # ---- window end: before any completion the schedule cannot handle in place ---
    replay_on = params[P_REPLAY] != 0
    for k in range(n_live):
        o = live[_u(k)]
        p = ops[_u(o), F_PE]
        on = ops[_u(o), F_ON_DONE]
        handled = on == ON_NONE
        alone = pe_ops[_u(p)] == 1 and ce_state[_u(p)] == CE_IDLE and t_dmask[_u(p)] == 0
        if on in (ON_ACTIVATE, ON_UNBLOCK) and alone and i_nctrl[_u(p)] == 0:
            handled = _chain_stays_static(
                p, on, ops[_u(o), F_TASK], t_active, t_blocked, t_local, code_of, prog_script,
                script, replay_on,
            )  # fmt: skip
        if not handled or on == ON_RESUME:
            start = ops[_u(o), F_START] if ops[_u(o), F_START] > t else t
            earliest = start + ops[_u(o), F_LEN] - ops[_u(o), F_DONE] - 1
            if earliest < bound:
                bound = earliest
    if bound - t < MIN_WINDOW:
        res[SR_CYCLE] = bound + 1 if bound > t else t + 1
        return

    # ---- the stream graph ---
    movers = np.full((max(16, 4 * n_live), N_M), -1, np.int64)
    bufs = np.full((max(16, 4 * n_live), N_B), -1, np.int64)
    nm = 0
    nb_ = 0
    ok = True
    for k in range(n_live):
        o = live[_u(k)]
        p = ops[_u(o), F_PE]
        m, movers, nm = _mover(MK_OP, p, -1, o, movers, nm)
        movers[_u(m), M_START] = ops[_u(o), F_START] if ops[_u(o), F_START] > t else t
        movers[_u(m), M_LIMIT] = ops[_u(o), F_LEN] - ops[_u(o), F_DONE]
        for src, kf, af in ((0, F_AK, F_AA), (1, F_BK, F_BA)):
            if ops[_u(o), _u(kf)] == K_FABIN:
                c = ops[_u(o), _u(af)]
                if (t_dmask[_u(p)] >> c) & 1:
                    ok = False
                b, bufs, nb_ = _buffer(BK_I, c, p, bufs, nb_, smap, icap, i_head[_u(c), _u(p)])
                if bufs[_u(b), B_CONS] >= 0:
                    ok = False  # two ops (or both sources of one) read one queue
                bufs[_u(b), B_CONS] = m
                movers[_u(m), _u(M_IN0 + src)] = b
        if ops[_u(o), F_DK] == K_FABOUT:
            c = ops[_u(o), F_DA]
            b, bufs, nb_ = _buffer(BK_O, c, p, bufs, nb_, smap, ocap, o_head[_u(c), _u(p)])
            if bufs[_u(b), B_PROD] >= 0:
                ok = False
            bufs[_u(b), B_PROD] = m
            movers[_u(m), M_NOUT] = 1
            movers[_u(m), M_OUT] = b
    # routers and output queues holding wavelets are part of the graph too
    for k in range(act_r_n[0]):
        p = act_r[_u(k)]
        for c in range(ncol):
            if (r_mask[_u(p)] >> c) & 1:
                b, bufs, nb_ = _buffer(BK_R, c, p, bufs, nb_, smap, rcap, r_head[_u(c), _u(p)])
            if ((o_mask[_u(p)] & ~o_host[_u(p)]) >> c) & 1:
                b, bufs, nb_ = _buffer(BK_O, c, p, bufs, nb_, smap, ocap, o_head[_u(c), _u(p)])
    # follow every O and R buffer to its consumer, creating what it feeds (a worklist in order)
    b = 0
    while ok and b < nb_:
        kind = bufs[_u(b), B_KIND]
        p = bufs[_u(b), B_PE]
        c = bufs[_u(b), B_COLOR]
        if kind == BK_O:
            m, movers, nm = _mover(MK_RAMP_UP, p, c, -1, movers, nm)
            movers[_u(m), M_IN0] = b
            bufs[_u(b), B_CONS] = m
            rx = route_rx[_u(c), _u(p), _u(route_pos[_u(c), _u(p)])]
            if ((rx >> RAMP) & 1) == 0:
                movers[_u(m), M_NEVER] = 1
            else:
                r, bufs, nb_ = _buffer(BK_R, c, p, bufs, nb_, smap, rcap, r_head[_u(c), _u(p)])
                if bufs[_u(r), B_PROD] >= 0:
                    ok = False
                bufs[_u(r), B_PROD] = m
                bufs[_u(r), B_FROM] = RAMP
                bufs[_u(r), B_DELTA] = 0
                movers[_u(m), M_NOUT] = 1
                movers[_u(m), M_OUT] = r
        elif kind == BK_R:
            m, movers, nm = _mover(MK_FORWARD, p, c, -1, movers, nm)
            movers[_u(m), M_IN0] = b
            bufs[_u(b), B_CONS] = m
            if ((filt_mask[_u(p)] | swap[_u(p)]) >> c) & 1:
                ok = False
                break
            tx = np.int64(route_tx[_u(c), _u(p), _u(route_pos[_u(c), _u(p)])])
            if tx == 0 or (torn[_u(p)] >> c) & 1:
                movers[_u(m), M_NEVER] = 1
            for port in range(5):
                if ((tx >> port) & 1) == 0 or movers[_u(m), M_NEVER] != 0:
                    continue
                if port == RAMP:
                    if (t_dmask[_u(p)] >> c) & 1:
                        ok = False  # a data task takes these wavelets: the picker decides
                    d, bufs, nb_ = _buffer(BK_I, c, p, bufs, nb_, smap, icap, i_head[_u(c), _u(p)])
                    bufs[_u(d), B_DELTA] = 0
                else:
                    q = nbr[_u(p), _u(port)]
                    if (
                        q < 0
                        or ((route_rx[_u(c), _u(q), _u(route_pos[_u(c), _u(q)])] >> (port ^ 1)) & 1)
                        == 0
                    ):
                        movers[_u(m), M_NEVER] = 1
                        continue
                    d, bufs, nb_ = _buffer(BK_R, c, q, bufs, nb_, smap, rcap, r_head[_u(c), _u(q)])
                    bufs[_u(d), B_FROM] = port ^ 1
                    bufs[_u(d), B_DELTA] = 1
                if bufs[_u(d), B_PROD] >= 0:
                    ok = False
                bufs[_u(d), B_PROD] = m
                bufs[_u(d), B_PORT] = port
                movers[_u(m), _u(M_OUT + movers[_u(m), M_NOUT])] = d
                movers[_u(m), M_NOUT] += 1
        b += 1
    # each router output port and each ramp-up carries one color of the graph; no control
    # wavelets in the graph's buffers (they would steer switches and start tasks)
    if ok:
        owner = np.zeros((n, 6), np.int16)
        for m in range(nm):
            kind = movers[_u(m), M_KIND]
            p = movers[_u(m), M_PE]
            c = movers[_u(m), M_COLOR]
            if kind == MK_RAMP_UP:
                if owner[_u(p), 5] != 0 and owner[_u(p), 5] != c + 1:
                    ok = False
                owner[_u(p), 5] = c + 1
            elif kind == MK_FORWARD:
                for j in range(movers[_u(m), M_NOUT]):
                    port = bufs[_u(movers[_u(m), _u(M_OUT + j)]), B_PORT]
                    if owner[_u(p), _u(port)] != 0 and owner[_u(p), _u(port)] != c + 1:
                        ok = False
                    owner[_u(p), _u(port)] = c + 1
    initial = max(rcap, max(icap, ocap))
    init_data = np.zeros((nb_, initial), np.uint32)
    init_rdy = np.zeros((nb_, initial), np.int64)
    init_from = np.zeros((nb_, initial), np.int64)
    for b in range(nb_):
        kind = bufs[_u(b), B_KIND]
        p = bufs[_u(b), B_PE]
        c = bufs[_u(b), B_COLOR]
        cap = bufs[_u(b), B_CAP]
        h = bufs[_u(b), B_HEAD0]
        if kind == BK_R:
            cnt = r_count[_u(c), _u(p)]
        elif kind == BK_I:
            cnt = i_count[_u(c), _u(p)]
        else:
            cnt = o_count[_u(c), _u(p)]
        bufs[_u(b), B_N0] = cnt
        for e in range(cnt):
            pos = h + e
            if pos >= cap:
                pos -= cap
            if kind == BK_R:
                ctrl = r_ctrl[_u(c), _u(p), _u(pos)]
                init_data[_u(b), _u(e)] = r_data[_u(c), _u(p), _u(pos)]
                init_rdy[_u(b), _u(e)] = r_ready[_u(c), _u(p), _u(pos)]
                init_from[_u(b), _u(e)] = r_from[_u(c), _u(p), _u(pos)]
            elif kind == BK_I:
                ctrl = i_ctrl[_u(c), _u(p), _u(pos)]
                init_data[_u(b), _u(e)] = i_data[_u(c), _u(p), _u(pos)]
                init_rdy[_u(b), _u(e)] = i_ready[_u(c), _u(p), _u(pos)]
            else:
                ctrl = o_ctrl[_u(c), _u(p), _u(pos)]
                init_data[_u(b), _u(e)] = o_data[_u(c), _u(p), _u(pos)]
                init_rdy[_u(b), _u(e)] = o_ready[_u(c), _u(p), _u(pos)]
            if ctrl != 0:
                ok = False
    if not ok:
        _forget(bufs, nb_, smap)
        res[SR_CYCLE] = t + params[P_STREAM_WINDOW]  # the loop steps a while before a new look
        return

    # ---- components (union-find) and an order within an element ---
    parent = np.arange(nm)
    for b in range(nb_):
        u = bufs[_u(b), B_PROD]
        v = bufs[_u(b), B_CONS]
        if u < 0 or v < 0:
            continue
        while parent[_u(u)] != u:
            parent[_u(u)] = parent[_u(parent[_u(u)])]
            u = parent[_u(u)]
        while parent[_u(v)] != v:
            parent[_u(v)] = parent[_u(parent[_u(v)])]
            v = parent[_u(v)]
        if u != v:
            parent[_u(max(u, v))] = min(u, v)
    for m in range(nm):
        r = m
        while parent[_u(r)] != r:
            r = parent[_u(r)]
        parent[_u(m)] = r
    # Within one element index, a consumer needs its producer first when the buffer starts
    # empty, and a producer needs its consumer first when the buffer starts full.
    indeg = np.zeros(nm, np.int64)
    succ_n = np.zeros(nm + 1, np.int64)
    for b in range(nb_):
        u = bufs[_u(b), B_PROD]
        v = bufs[_u(b), B_CONS]
        if u < 0 or v < 0:
            continue
        if bufs[_u(b), B_N0] == 0:
            succ_n[_u(u + 1)] += 1
            indeg[_u(v)] += 1
        if bufs[_u(b), B_N0] >= bufs[_u(b), B_CAP]:
            succ_n[_u(v + 1)] += 1
            indeg[_u(u)] += 1
    for m in range(nm):
        succ_n[_u(m + 1)] += succ_n[_u(m)]
    succ = np.empty(succ_n[_u(nm)], np.int64)
    fill = succ_n[:nm].copy()
    for b in range(nb_):
        u = bufs[_u(b), B_PROD]
        v = bufs[_u(b), B_CONS]
        if u < 0 or v < 0:
            continue
        if bufs[_u(b), B_N0] == 0:
            succ[_u(fill[_u(u)])] = v
            fill[_u(u)] += 1
        if bufs[_u(b), B_N0] >= bufs[_u(b), B_CAP]:
            succ[_u(fill[_u(v)])] = u
            fill[_u(v)] += 1
    order = np.empty(nm, np.int64)
    head = 0
    tail = 0
    for m in range(nm):
        if indeg[_u(m)] == 0:
            order[_u(tail)] = m
            tail += 1
    while head < tail:
        m = order[_u(head)]
        head += 1
        for j in range(succ_n[_u(m)], succ_n[_u(m + 1)]):
            v = succ[_u(j)]
            indeg[_u(v)] -= 1
            if indeg[_u(v)] == 0:
                order[_u(tail)] = v
                tail += 1
    if tail < nm:
        _forget(bufs, nb_, smap)
        return  # a cycle of full and empty buffers: let the loop step
    # group the order by component (stable), and number movers and buffers within it
    comp_size = np.zeros(nm + 1, np.int64)
    for m in range(nm):
        comp_size[_u(parent[_u(m)] + 1)] += 1
    for m in range(nm):
        comp_size[_u(m + 1)] += comp_size[_u(m)]
    grouped = np.empty(nm, np.int64)
    gfill = comp_size[:nm].copy()
    for j in range(nm):
        m = order[_u(j)]
        r = parent[_u(m)]
        movers[_u(m), M_LOCAL] = gfill[_u(r)] - comp_size[_u(r)]
        movers[_u(m), M_COMP] = r
        grouped[_u(gfill[_u(r)])] = m
        gfill[_u(r)] += 1
    comp_bufs = np.zeros(nm + 1, np.int64)
    buf_comp = np.empty(nb_, np.int64)
    for b in range(nb_):
        u = bufs[_u(b), B_PROD] if bufs[_u(b), B_PROD] >= 0 else bufs[_u(b), B_CONS]
        buf_comp[_u(b)] = parent[_u(u)] if u >= 0 else -1
        if u >= 0:
            comp_bufs[_u(parent[_u(u)] + 1)] += 1
    for m in range(nm):
        comp_bufs[_u(m + 1)] += comp_bufs[_u(m)]
    buf_order = np.empty(nb_, np.int64)
    bfill = comp_bufs[:nm].copy()
    for b in range(nb_):
        r = buf_comp[_u(b)]
        if r < 0:
            continue
        bufs[_u(b), B_LOCAL] = bfill[_u(r)] - comp_bufs[_u(r)]
        buf_order[_u(bfill[_u(r)])] = b
        bfill[_u(r)] += 1
    # a router's round-robin pointer is rebuilt from its forwards: they must be in one component
    pe_comp = np.full(n, -1, np.int64)
    for m in range(nm):
        if movers[_u(m), M_KIND] != MK_FORWARD:
            continue
        p = movers[_u(m), M_PE]
        if pe_comp[_u(p)] >= 0 and pe_comp[_u(p)] != parent[_u(m)]:
            _forget(bufs, nb_, smap)
            return
        pe_comp[_u(p)] = parent[_u(m)]

    # ---- schedule each component, element by element, and commit it ---
    width = bound - t
    max_m = 0
    max_b = 0
    for r in range(nm):
        if comp_size[_u(r + 1)] - comp_size[_u(r)] > max_m:
            max_m = comp_size[_u(r + 1)] - comp_size[_u(r)]
        if comp_bufs[_u(r + 1)] - comp_bufs[_u(r)] > max_b:
            max_b = comp_bufs[_u(r + 1)] - comp_bufs[_u(r)]
    xs = np.empty((width, max_m), np.int64)  # cycle of each element at each mover
    ds = np.empty((width, max_m), np.uint32)  # value each mover passed on
    rdy = np.empty((width, max(1, max_b)), np.int64)  # when each pushed element is ready
    cnt = np.zeros(nm, np.int64)
    last = np.zeros(nm, np.int64)
    st = np.zeros(nm, np.int64)
    done_t = np.full(nm, -1, np.int64)  # an op's completion cycle
    beyond = False
    last_event = np.int64(-1)
    for r in range(nm):
        lo = comp_size[_u(r)]
        hi = comp_size[_u(r + 1)]
        if hi == lo:
            continue
        for j in range(lo, hi):
            m = grouped[_u(j)]
            last[_u(m)] = (movers[_u(m), M_START] if movers[_u(m), M_KIND] == MK_OP else t) - 1
            st[_u(m)] = ST_NEVER if movers[_u(m), M_NEVER] != 0 else ST_MOVING
        for k in range(width):
            moving = 0
            for j in range(lo, hi):
                m = grouped[_u(j)]
                if st[_u(m)] != ST_MOVING:
                    continue
                if movers[_u(m), M_LIMIT] >= 0 and k >= movers[_u(m), M_LIMIT]:
                    st[_u(m)] = ST_NEVER
                    continue
                x = last[_u(m)] + 1
                kind = movers[_u(m), M_KIND]
                o = movers[_u(m), M_OP]
                va = np.uint32(0)
                vb = np.uint32(0)
                frm = RAMP
                blocked = ST_MOVING
                # sources
                for src in range(2):
                    b = movers[_u(m), _u(M_IN0 + src)]
                    if b < 0:
                        if kind == MK_OP:
                            kf = F_AK if src == 0 else F_BK
                            if ops[_u(o), _u(kf)] == K_MEM:
                                if src == 0:
                                    va = read_mem(
                                        mem32,
                                        mem16,
                                        ops[_u(o), F_AA]
                                        + (ops[_u(o), F_DONE] + k) * ops[_u(o), F_AS],
                                        ops[_u(o), F_AW],
                                    )
                                else:
                                    vb = read_mem(
                                        mem32,
                                        mem16,
                                        ops[_u(o), F_BA]
                                        + (ops[_u(o), F_DONE] + k) * ops[_u(o), F_BS],
                                        ops[_u(o), F_BW],
                                    )
                            elif ops[_u(o), _u(kf)] == K_SCALAR:
                                if src == 0:
                                    va = np.uint32(ops[_u(o), F_AA] & 0xFFFFFFFF)
                                else:
                                    vb = np.uint32(ops[_u(o), F_BA] & 0xFFFFFFFF)
                        continue
                    n0 = bufs[_u(b), B_N0]
                    if k < n0:
                        ready = init_rdy[_u(b), _u(k)]
                        v = init_data[_u(b), _u(k)]
                        f = init_from[_u(b), _u(k)]
                    else:
                        pm = bufs[_u(b), B_PROD]
                        jj = k - n0
                        if pm < 0 or cnt[_u(pm)] <= jj:
                            blocked = _dep_state(st, pm)
                            break
                        ready = rdy[_u(jj), _u(bufs[_u(b), B_LOCAL])]
                        v = ds[_u(jj), _u(movers[_u(pm), M_LOCAL])]
                        f = bufs[_u(b), B_FROM]
                    if ready > x:
                        x = ready
                    if src == 0:
                        va = v
                        frm = f
                    else:
                        vb = v
                if blocked == ST_MOVING:
                    # room in every output
                    for jo in range(movers[_u(m), M_NOUT]):
                        b = movers[_u(m), _u(M_OUT + jo)]
                        e = bufs[_u(b), B_N0] + k - bufs[_u(b), B_CAP]
                        if e < 0:
                            continue
                        cm = bufs[_u(b), B_CONS]
                        if cm < 0 or cnt[_u(cm)] <= e:
                            blocked = _dep_state(st, cm)
                            break
                        y = xs[_u(e), _u(movers[_u(cm), M_LOCAL])] + bufs[_u(b), B_DELTA]
                        if y > x:
                            x = y
                if blocked == ST_MOVING and x >= bound:
                    blocked = ST_BEYOND
                if blocked != ST_MOVING:
                    st[_u(m)] = blocked
                    if blocked == ST_BEYOND:
                        beyond = True
                    continue
                moving += 1
                lm = movers[_u(m), M_LOCAL]
                xs[_u(k), _u(lm)] = x
                cnt[_u(m)] = k + 1
                last[_u(m)] = x
                if x > last_event:
                    last_event = x
                if kind == MK_OP:
                    val = apply_elem(
                        ops[_u(o), F_CODE], va, vb, np.uint32(ops[_u(o), F_SCALAR] & 0xFFFFFFFF),
                        ops[_u(o), F_FUSED] != 0,
                    )  # fmt: skip
                    if ops[_u(o), F_DK] == K_MEM:
                        at = ops[_u(o), F_DA] + (ops[_u(o), F_DONE] + k) * ops[_u(o), F_DS]
                        write_mem(mem32, mem16, at, ops[_u(o), F_DW], val)
                    else:
                        ds[_u(k), _u(lm)] = val
                        rdy[_u(k), _u(bufs[_u(movers[_u(m), M_OUT]), B_LOCAL])] = x + 1
                    if k + 1 == movers[_u(m), M_LIMIT]:
                        done_t[_u(m)] = x
                elif kind == MK_RAMP_UP:
                    ds[_u(k), _u(lm)] = va
                    rdy[_u(k), _u(bufs[_u(movers[_u(m), M_OUT]), B_LOCAL])] = x + ramp
                else:
                    ds[_u(k), _u(lm)] = va
                    for jo in range(movers[_u(m), M_NOUT]):
                        b = movers[_u(m), _u(M_OUT + jo)]
                        port = bufs[_u(b), B_PORT]
                        if port == RAMP:
                            lat = ramp
                        elif frm < RAMP and port != (frm ^ 1):
                            lat = hop + turn
                        else:
                            lat = hop
                        rdy[_u(k), _u(bufs[_u(b), B_LOCAL])] = x + lat
            if moving == 0:
                break
        for j in range(lo, hi):
            if st[_u(grouped[_u(j)])] == ST_MOVING:
                beyond = True  # ran to the window's width
        _commit_component(
            r, lo, hi, grouped, comp_bufs, buf_order, movers, bufs, xs, ds, rdy, cnt,
            init_data, init_rdy, init_from, r_data, r_ctrl, r_ready, r_from, r_head, r_count,
            r_mask, rr, i_data, i_ctrl, i_ready, i_head, i_count, i_mask, i_wait, o_data,
            o_ctrl, o_ready, o_head, o_count, o_mask, o_wait, ops, link_out, prof, stats, ncol,
        )  # fmt: skip
    _forget(bufs, nb_, smap)

    if last_event < 0:
        res[SR_CYCLE] = bound
        return  # nothing moves before the window's end: the loop skips there itself

    # ---- completions, in time order, and the tasks they start ---
    n_done = 0
    for m in range(nm):
        if done_t[_u(m)] >= 0:
            n_done += 1
    finished = np.empty(n_done, np.int64)
    key = np.empty(n_done, np.int64)
    j = 0
    for m in range(nm):
        if done_t[_u(m)] >= 0:
            finished[_u(j)] = m
            key[_u(j)] = done_t[_u(m)] * (ops.shape[0] + 1) + movers[_u(m), M_OP]
            j += 1
    by_time = np.argsort(key)
    finished_sorted = np.empty(n_done, np.int64)
    for j in range(n_done):
        finished_sorted[_u(j)] = finished[_u(by_time[_u(j)])]
    finished = finished_sorted
    woken = np.empty(n_done, np.int64)
    dropped = np.empty(n_done, np.int64)
    n_woken = 0
    for j in range(n_done):
        m = finished[_u(j)]
        o = movers[_u(m), M_OP]
        p = ops[_u(o), F_PE]
        tc = done_t[_u(m)]
        retire_op(o, tc, ops, slot_op, op_free, op_free_n, in_o, prof)
        on = ops[_u(o), F_ON_DONE]
        if on == ON_NONE:
            continue
        if on == ON_ACTIVATE:
            t_active[_u(p)] |= np.int64(1) << ops[_u(o), F_TASK]
        else:
            t_blocked[_u(p)] &= ~(np.int64(1) << ops[_u(o), F_TASK])
        # the picker sees it this cycle; it picks each ready task once the CE is free, and
        # drops the PE from its list at the first visit that finds nothing ready
        s = tc
        woken[_u(n_woken)] = p
        dropped[_u(n_woken)] = NEVER
        n_woken += 1
        for _ in range(MAX_PICKS + 1):
            ready = t_active[_u(p)] & t_local[_u(p)] & ~t_blocked[_u(p)]
            if ready == 0:
                dropped[_u(n_woken - 1)] = s
                break
            if ce_busy[_u(p)] > s:
                s = ce_busy[_u(p)]
            if s >= bound:
                break
            tid = 0
            while ((ready >> tid) & 1) == 0:
                tid += 1
            t_active[_u(p)] &= ~(np.int64(1) << tid)
            sc = prog_script[_u(code_of[_u(p)]), _u(tid)]
            run_static_task(
                script, sc, p, s, tpl, mprm, mem32, mem16, mem_base, fifo_first, ops, slot_op,
                op_free, op_free_n, act_o, act_o_n, in_o, t_active, t_blocked, prof, ce_busy,
                stats, params,
            )  # fmt: skip
            if s > last_event:
                last_event = s
            s += 1

    # ---- the loop's lists, as the loop would hold them at the window's end ---
    w = 0
    for k in range(act_o_n[0]):
        o = act_o[_u(k)]
        if in_o[_u(o)] != 0:
            act_o[_u(w)] = o
            w += 1
    for k in range(n_live):
        o = live[_u(k)]
        p = ops[_u(o), F_PE]
        if slot_op[_u(p), _u(ops[_u(o), F_SLOT])] != o:
            continue  # completed
        ops[_u(o), F_WAITING] = 0
        if in_o[_u(o)] == 0:
            in_o[_u(o)] = 1
            act_o[_u(w)] = o
            w += 1
    act_o_n[0] = w
    for b in range(nb_):
        c = bufs[_u(b), B_COLOR]
        p = bufs[_u(b), B_PE]
        if bufs[_u(b), B_KIND] == BK_I:
            i_wait[_u(c), _u(p)] = 0
        elif bufs[_u(b), B_KIND] == BK_O:
            o_wait[_u(c), _u(p)] = 0
    w = 0
    for k in range(act_r_n[0]):
        p = act_r[_u(k)]
        if r_mask[_u(p)] != 0 or (o_mask[_u(p)] & ~o_host[_u(p)]) != 0:
            act_r[_u(w)] = p
            w += 1
        else:
            in_r[_u(p)] = 0
    for b in range(nb_):
        p = bufs[_u(b), B_PE]
        if in_r[_u(p)] == 0 and (r_mask[_u(p)] != 0 or (o_mask[_u(p)] & ~o_host[_u(p)]) != 0):
            in_r[_u(p)] = 1
            act_r[_u(w)] = p
            w += 1
    act_r_n[0] = w
    # The loop goes on at the window's end, or just after the last event when nothing else
    # will move (then it sees the stall, or the quiet, itself).
    end = bound
    last_drop = np.int64(-1)
    for k in range(n_woken):
        if dropped[_u(k)] == NEVER:
            beyond = True
        elif dropped[_u(k)] > last_drop:
            last_drop = dropped[_u(k)]
    if not beyond:
        end = last_event + 1
        if act_o_n[0] == 0 and act_r_n[0] == 0:
            # Nothing left: the loop would stop at the end of the cycle of the last event or
            # of the picker's last visit.
            res[SR_STATUS] = WINDOW_QUIET
            res[SR_CYCLE] = (last_drop if last_drop > last_event else last_event) + 1
            res[SR_LAST_EVENT] = last_event
            return
    for k in range(n_woken):
        p = woken[_u(k)]
        if dropped[_u(k)] >= end and in_c[_u(p)] == 0:
            in_c[_u(p)] = 1
            act_c[_u(act_c_n[0])] = p
            act_c_n[0] += 1
    res[SR_STATUS] = WINDOW_DONE
    res[SR_CYCLE] = end
    res[SR_LAST_EVENT] = last_event


@nb.njit(**_JIT)
def _commit_component(
    r, lo, hi, grouped, comp_bufs, buf_order, movers, bufs, xs, ds, rdy, cnt,
    init_data, init_rdy, init_from, r_data, r_ctrl, r_ready, r_from, r_head, r_count,
    r_mask, rr, i_data, i_ctrl, i_ready, i_head, i_count, i_mask, i_wait, o_data,
    o_ctrl, o_ready, o_head, o_count, o_mask, o_wait, ops, link_out, prof, stats, ncol,
):  # fmt: skip
    """Write one scheduled component back: what each buffer holds, each op's progress, the
    counters, and the round-robin pointer of each router that forwarded."""
    for j in range(comp_bufs[_u(r)], comp_bufs[_u(r + 1)]):
        b = buf_order[_u(j)]
        kind = bufs[_u(b), B_KIND]
        p = bufs[_u(b), B_PE]
        c = bufs[_u(b), B_COLOR]
        cap = bufs[_u(b), B_CAP]
        n0 = bufs[_u(b), B_N0]
        pm = bufs[_u(b), B_PROD]
        cm = bufs[_u(b), B_CONS]
        pushed = cnt[_u(pm)] if pm >= 0 else 0
        popped = cnt[_u(cm)] if cm >= 0 else 0
        if pushed == 0 and popped == 0:
            continue
        h0 = bufs[_u(b), B_HEAD0]
        total = n0 + pushed
        for e in range(max(popped, n0), total):
            pos = h0 + e
            pos = pos % cap
            jj = e - n0
            v = ds[_u(jj), _u(movers[_u(pm), M_LOCAL])]
            ready = rdy[_u(jj), _u(bufs[_u(b), B_LOCAL])]
            if kind == BK_R:
                r_data[_u(c), _u(p), _u(pos)] = v
                r_ctrl[_u(c), _u(p), _u(pos)] = 0
                r_ready[_u(c), _u(p), _u(pos)] = ready
                r_from[_u(c), _u(p), _u(pos)] = bufs[_u(b), B_FROM]
            elif kind == BK_I:
                i_data[_u(c), _u(p), _u(pos)] = v
                i_ctrl[_u(c), _u(p), _u(pos)] = 0
                i_ready[_u(c), _u(p), _u(pos)] = ready
            else:
                o_data[_u(c), _u(p), _u(pos)] = v
                o_ctrl[_u(c), _u(p), _u(pos)] = 0
                o_ready[_u(c), _u(p), _u(pos)] = ready
        left = total - popped
        head = (h0 + popped) % cap
        bit = np.int64(1) << c
        if kind == BK_R:
            r_head[_u(c), _u(p)] = head
            r_count[_u(c), _u(p)] = left
            r_mask[_u(p)] = (r_mask[_u(p)] | bit) if left > 0 else (r_mask[_u(p)] & ~bit)
        elif kind == BK_I:
            i_head[_u(c), _u(p)] = head
            i_count[_u(c), _u(p)] = left
            i_mask[_u(p)] = (i_mask[_u(p)] | bit) if left > 0 else (i_mask[_u(p)] & ~bit)
        else:
            o_head[_u(c), _u(p)] = head
            o_count[_u(c), _u(p)] = left
            o_mask[_u(p)] = (o_mask[_u(p)] | bit) if left > 0 else (o_mask[_u(p)] & ~bit)
    for j in range(lo, hi):
        m = grouped[_u(j)]
        k = cnt[_u(m)]
        if k == 0:
            continue
        p = movers[_u(m), M_PE]
        kind = movers[_u(m), M_KIND]
        if kind == MK_OP:
            o = movers[_u(m), M_OP]
            ops[_u(o), F_DONE] += k
            stats[S_ELEMS] += k
            prof[_u(p), PR_OP_ELEMENTS] += k
        elif kind == MK_RAMP_UP:
            stats[S_RAMP_UP] += k
            link_out[_u(p), 5] += k
        else:
            for jo in range(movers[_u(m), M_NOUT]):
                port = bufs[_u(movers[_u(m), _u(M_OUT + jo)]), B_PORT]
                link_out[_u(p), _u(port)] += k
                if port == RAMP:
                    stats[S_RAMP_DOWN] += k
                else:
                    stats[S_HOPS] += k
    # round-robin pointers: replay the grants of each router's forwards in cycle order
    fwd = np.empty(hi - lo, np.int64)
    pes = np.empty(hi - lo, np.int64)
    nf = 0
    for j in range(lo, hi):
        m = grouped[_u(j)]
        if movers[_u(m), M_KIND] == MK_FORWARD and cnt[_u(m)] > 0:
            fwd[_u(nf)] = m
            pes[_u(nf)] = movers[_u(m), M_PE]
            nf += 1
    by_pe = np.argsort(pes[:nf], kind="mergesort")
    a = 0
    while a < nf:
        z = a
        while z < nf and pes[_u(by_pe[_u(z)])] == pes[_u(by_pe[_u(a)])]:
            z += 1
        group = np.empty(z - a, np.int64)
        for g in range(z - a):
            group[_u(g)] = fwd[_u(by_pe[_u(a + g)])]
        _replay_round_robin(group, movers, xs, cnt, rr, pes[_u(by_pe[_u(a)])], ncol)
        a = z


@nb.njit(**_JIT)
def _replay_round_robin(ms, movers, xs, cnt, rr, p, ncol):
    """The round-robin pointer of PE ``p``'s router after the forwards ``ms`` of the window:
    at each cycle with a grant it moves past the first color granted, scanning from where it
    was."""
    nms = ms.shape[0]
    pos = np.zeros(nms, np.int64)
    ptr = rr[_u(p)]
    while True:
        tmin = NEVER
        for a in range(nms):
            m = ms[_u(a)]
            if pos[_u(a)] < cnt[_u(m)]:
                x = xs[_u(pos[_u(a)]), _u(movers[_u(m), M_LOCAL])]
                if x < tmin:
                    tmin = x
        if tmin == NEVER:
            break
        first = -1
        lowest = -1
        for a in range(nms):
            m = ms[_u(a)]
            if pos[_u(a)] < cnt[_u(m)] and xs[_u(pos[_u(a)]), _u(movers[_u(m), M_LOCAL])] == tmin:
                c = movers[_u(m), M_COLOR]
                pos[_u(a)] += 1
                if c >= ptr and (first < 0 or c < first):
                    first = c
                if lowest < 0 or c < lowest:
                    lowest = c
        granted = first if first >= 0 else lowest
        ptr = granted + 1 if granted + 1 < ncol else 0
    rr[_u(p)] = ptr
