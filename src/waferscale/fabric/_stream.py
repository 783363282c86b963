"""The stream fast path of the cycle loop (decision 0004).

When everything the machine is doing is streaming ops feeding each other through queues and
routes, every rule of the cycle loop is a maximum of earlier times: an element leaves a stage
at the first cycle at which it has arrived, the stage's previous element left at least a cycle
before, and the next buffer has room. :func:`stream_window` finds that stream graph, computes
the cycle of every element at every stage, stage by stage in data order instead of cycle by
cycle (max-plus, as ``schedule.chain_schedule`` does for one chain; sweeps repeat while a
queue's room binds), then the values op by op, and commits the machine's state
at the end of the window exactly as the loop would have left it: buffers, op progress, memory,
task activity (completions whose tasks are static and issue no streaming op are picked and
replayed in place), statistics, profile, link counters and round-robin pointers. The loop's
visit counter ``cycles_stepped`` counts what was actually stepped and differs.

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

import threading

import numba as nb
import numpy as np
from numba import typed, types

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
from ._memaccess import _u, borrowed, read_mem, write_mem
from ._memops import _data_address, memory_op_at, prefetch_range
from ._numerics import apply_elem
from ._params import (
    P_AUTO_SLOTS,
    P_COLORS,
    P_HOP,
    P_ICAP,
    P_OCAP,
    P_OP_STARTUP,
    P_RAMP,
    P_RCAP,
    P_REPLAY,
    P_STREAM_WINDOW,
    P_TASK_STARTUP,
    P_TURN,
    P_WATCHDOG,
)
from ._script import (
    A_ACTIVATE,
    A_BLOCK,
    A_ISSUE,
    A_MEM_RUN,
    A_UNBLOCK,
    ACTION_WORDS,
    SCRIPT_HEADER,
    action_cycles,
    can_replay,
    run_static_task,
)

NEVER = np.int64(1) << np.int64(62)
_JIT = {"cache": True, "nogil": True, "boundscheck": False}
_INLINE = {**_JIT, "forceinline": True}

_THREAD = threading.local()


def thread_scratch() -> typed.List:
    """This thread's scratch for :func:`stream_window`: its tables (``SC_*``), int64 arrays
    grown by the compiled code to what a window needs. It is kept between runs and engines:
    fresh pages cost a fault each on first touch, which measured more than a whole window's
    scheduling on this VM."""
    scratch = getattr(_THREAD, "scratch", None)
    if scratch is None:
        scratch = typed.List.empty_list(types.int64[::1])
        for _ in range(N_SC):
            scratch.append(np.empty(0, np.int64))
        _THREAD.scratch = scratch
    return scratch


@nb.njit(**_JIT)
def _table(scratch, slot, rows, cols):
    """A (``rows``, ``cols``) view of scratch table ``slot``, grown if it is too small; borrowed
    (valid until the slot is taken again)."""
    if scratch[slot].shape[0] < rows * cols:
        scratch[slot] = np.empty(max(rows * cols, 2 * scratch[slot].shape[0]), np.int64)
    return borrowed(scratch[slot][: rows * cols].reshape((rows, cols)))  # scratch holds it


# an op's memory operands: (kind, address, stride, width) fields of sources a, b and the result
OPERAND_FIELDS = ((F_AK, F_AA, F_AS, F_AW), (F_BK, F_BA, F_BS, F_BW), (F_DK, F_DA, F_DS, F_DW))

# scratch tables (thread_scratch)
(SC_MOVERS, SC_BUFS, SC_INIT_DATA, SC_INIT_READY, SC_INIT_FROM, SC_CYCLES, SC_VALUES,
 SC_READY) = range(8)  # fmt: skip
N_SC = 8

# stream_window's result: what happened, and the cycle the loop goes on from
WINDOW_NONE, WINDOW_DONE, WINDOW_QUIET = 0, 1, 2
SR_STATUS, SR_CYCLE, SR_LAST_EVENT = 0, 1, 2
N_SR = 3

# buffer kinds (also the first index of the (kind, color, PE) -> buffer map)
BK_R, BK_I, BK_O = 0, 1, 2
# mover kinds
MK_OP, MK_RAMP_UP, MK_FORWARD = 0, 1, 2
# mover table columns
(M_KIND, M_PE, M_COLOR, M_OP, M_IN0, M_IN1, M_NOUT, M_OUT, M_NEVER, M_LOCAL, M_START,
 M_LIMIT) = (0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15)  # fmt: skip
N_M = 16  # M_OUT .. M_OUT + 4: up to five outputs (a router's four ports and its ramp)
# buffer table columns
(B_KIND, B_PE, B_COLOR, B_CAP, B_PROD, B_CONS, B_N0, B_FROM, B_PORT, B_DELTA, B_LOCAL,
 B_HEAD0) = range(12)  # fmt: skip
N_B = 12
# _time_mover's table of a mover's outputs (rows), a column per output
PO_ROW, PO_SHIFT, PO_LAT, PO_CONS, PO_DELTA, PO_PORT = range(6)
# how a mover's timing stopped: finished or blocked for good, or at the window's end
ST_NEVER, ST_BEYOND = 1, 2

MAX_PICKS = 16  # static tasks picked in place after one completion before the loop takes over
MIN_WINDOW = 8  # shorter windows are left to the loop
RETRY = 256  # cycles the loop steps after a look that found no schedule it can take
MAX_SWEEPS = 1 << 20  # a schedule that has not settled by then is a bug, not a slow case
PREFETCH_BYTES = 4096  # of what each memory operand of an op still touches, asked for early
SCRATCH_ENTRIES = 1 << 21  # (movers of the largest component) x (elements): 3 x 16 MB of scratch


@nb.njit(**_INLINE)
def _grown(a, rows):
    if rows <= a.shape[0]:
        return a
    b = np.full((max(rows, 2 * a.shape[0]), a.shape[1]), -1, a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(**_INLINE)
def _buffer(kind, c, p, bufs, nb_, smap, cap, head0):
    """The graph's buffer ``kind`` of (``c``, ``p``), created on first use. Returns (id, rows)."""
    b = smap[_u(kind), _u(c), _u(p)] - 1
    if b >= 0:
        return b, bufs, nb_
    bufs = _grown(bufs, nb_ + 1)
    b = nb_
    for col in range(N_B):  # a loop, not a slice: a view costs two reference-count calls
        bufs[_u(b), _u(col)] = -1
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


@nb.njit(**_INLINE)
def _mover(kind, p, c, o, movers, nm):
    movers = _grown(movers, nm + 1)
    m = nm
    for col in range(N_M):
        movers[_u(m), _u(col)] = -1
    movers[_u(m), M_KIND] = kind
    movers[_u(m), M_PE] = p
    movers[_u(m), M_COLOR] = c
    movers[_u(m), M_OP] = o
    movers[_u(m), M_NOUT] = 0
    movers[_u(m), M_NEVER] = 0
    movers[_u(m), M_START] = 0
    return m, movers, nm + 1


@nb.njit(**_JIT)
def _static_chain(p, o, on, tid, t_active, t_blocked, t_local, code_of, prog_script, script,
                  replay_on, slot_op, ops, op_free_n, rows_taken, params):  # fmt: skip
    """Would the picker, after op ``o`` of PE ``p`` (its only op) completes with ``on`` for
    task ``tid``, only pick static tasks, which then run in place? Returns -1 if not; else the
    least number of cycles from the completion to the first cycle at which a streaming op they
    issue could move (``NEVER``: they issue none). One task of the chain may issue streaming
    ops, if its replay will find the slots (the completing op's freed) and the pool rows
    (``rows_taken`` counts those the window's earlier completions take)."""
    act = t_active[_u(p)]
    blk = t_blocked[_u(p)]
    if on == ON_ACTIVATE:
        act |= np.int64(1) << tid
    elif on == ON_UNBLOCK:
        blk &= ~(np.int64(1) << tid)
    elapsed = np.int64(0)  # a floor of the next pick, after the completion
    first_move = NEVER
    for _ in range(MAX_PICKS):
        ready = act & t_local[_u(p)] & ~blk
        if ready == 0:
            return first_move
        k = 0
        while ((ready >> k) & 1) == 0:
            k += 1
        act &= ~(np.int64(1) << k)
        sc = prog_script[_u(code_of[_u(p)]), _u(k)] if replay_on else -1
        if sc < 0:
            return -1
        issues = script[_u(sc + 1)]
        if issues != 0:
            if first_move != NEVER or op_free_n[0] - rows_taken[0] < issues:
                return -1
            slot = ops[_u(o), F_SLOT]
            slot_op[_u(p), _u(slot)] = -1  # as after the completion
            fits = can_replay(script, sc, p, slot_op, op_free_n, params[P_AUTO_SLOTS])
            slot_op[_u(p), _u(slot)] = o
            if not fits:
                return -1
        cursor = elapsed + params[P_TASK_STARTUP]
        n_actions = script[_u(sc)]
        a = 0
        while a < n_actions:
            w = sc + SCRIPT_HEADER + a * ACTION_WORDS
            kind = script[_u(w)]
            a += 1
            if kind == A_MEM_RUN:  # the run's memory ops only charge their cycles
                cursor += script[_u(w + 2)]
                a += script[_u(w + 3)]
            elif kind == A_ACTIVATE:
                act |= np.int64(1) << script[_u(w + 1)]
            elif kind == A_BLOCK:
                blk |= np.int64(1) << script[_u(w + 1)]
            elif kind == A_UNBLOCK:
                blk &= ~(np.int64(1) << script[_u(w + 1)])
            elif kind == A_ISSUE and cursor + params[P_OP_STARTUP] < first_move:
                first_move = cursor + params[P_OP_STARTUP]
            cursor += action_cycles(kind, script[_u(w + 1)], script[_u(w + 2)])
        if issues != 0:
            rows_taken[0] += issues
        elapsed = cursor if cursor > elapsed + 1 else elapsed + 1
    return -1


@nb.njit(**_JIT)
def _dep_state(st, m):
    """Why a mover depending on ``m`` cannot move now: ``m`` is absent or blocked for good
    (never), or stopped at the window's end (beyond)."""
    if m < 0:
        return ST_NEVER
    return ST_NEVER if st[_u(m)] == ST_NEVER else ST_BEYOND


@nb.njit(**_JIT)
def _memory_shared(live, n_live, ops, pe_ops):
    """Do two live ops of one PE touch the same bytes, one of them writing? Their order in time
    then decides the values, which the schedule (op by op) does not keep."""
    shared = np.empty(n_live, np.int64)  # the live ops of PEs running two or more, by PE
    n = 0
    for a in range(n_live):
        if pe_ops[_u(ops[_u(live[_u(a)]), F_PE])] >= 2:
            shared[_u(n)] = live[_u(a)]
            n += 1
    pes = np.empty(n, np.int64)
    for a in range(n):
        pes[_u(a)] = ops[_u(shared[_u(a)]), F_PE]
    by_pe = np.argsort(pes, kind="mergesort")
    for a in range(n):
        oa = shared[_u(by_pe[_u(a)])]
        if ops[_u(oa), F_DK] != K_MEM:
            continue
        wlo, whi = _span(ops, oa, 2)
        for z in (-1, 1):  # the same PE's ops sit next to it in PE order
            b = a + z
            while 0 <= b < n and pes[_u(by_pe[_u(b)])] == pes[_u(by_pe[_u(a)])]:
                ob = shared[_u(by_pe[_u(b)])]
                for operand in range(3):
                    if ops[_u(ob), _u(OPERAND_FIELDS[_u(operand)][0])] != K_MEM:
                        continue
                    lo, hi = _span(ops, ob, operand)
                    if lo < whi and wlo < hi:
                        return True
                b += z
    return False


@nb.njit(**_JIT)
def _span(ops, o, operand):
    """The bytes [lo, hi) an op's memory operand (``OPERAND_FIELDS`` row) still touches."""
    _, af, sf, wf = OPERAND_FIELDS[_u(operand)]
    first = ops[_u(o), _u(af)] + ops[_u(o), F_DONE] * ops[_u(o), _u(sf)]
    last = ops[_u(o), _u(af)] + (ops[_u(o), F_LEN] - 1) * ops[_u(o), _u(sf)]
    return min(first, last), max(first, last) + ops[_u(o), _u(wf)]


@nb.njit(**_JIT)
def _data_order(movers, bufs, nm, nb_):
    """The movers, each after the producers of what it reads (Kahn's order); shorter than
    ``nm`` when data goes round a loop."""
    indeg = np.zeros(nm, np.int64)
    succ_n = np.zeros(nm + 1, np.int64)
    for b in range(nb_):
        u = bufs[_u(b), B_PROD]
        v = bufs[_u(b), B_CONS]
        if u >= 0 and v >= 0:
            succ_n[_u(u + 1)] += 1
            indeg[_u(v)] += 1
    for m in range(nm):
        succ_n[_u(m + 1)] += succ_n[_u(m)]
    succ = np.empty(succ_n[_u(nm)], np.int64)
    fill = succ_n[:nm].copy()
    for b in range(nb_):
        u = bufs[_u(b), B_PROD]
        v = bufs[_u(b), B_CONS]
        if u >= 0 and v >= 0:
            succ[_u(fill[_u(u)])] = v
            fill[_u(u)] += 1
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
    return order[:tail]


@nb.njit(**_JIT)
def _time_component(lo, hi, grouped, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st, bound,
                    timing, per_out):  # fmt: skip
    """The cycle of every element at every mover of one component, up to ``bound``: whether
    some mover stopped at the window's end.

    The schedule is the least solution of the loop's rules (each a maximum of earlier times).
    A first sweep in data order takes every buffer as always having room; while some push finds
    no room that way, it sweeps backwards and forwards again with the room rule (Gauss-Seidel).
    Every sweep only raises times from below the solution, so the first forward sweep after
    which every push has room is the solution."""
    # the caller holds them: the sweeps' callees need not count references
    grouped, movers, bufs = borrowed(grouped), borrowed(movers), borrowed(bufs)
    init_rdy, init_from, xs = borrowed(init_rdy), borrowed(init_from), borrowed(xs)
    rdy, cnt, st, per_out = borrowed(rdy), borrowed(cnt), borrowed(st), borrowed(per_out)
    kept = _sweep(lo, hi, grouped, False, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st,
                  bound, timing, per_out)  # fmt: skip
    sweeps = 1
    while not kept:
        if sweeps > MAX_SWEEPS:
            raise RuntimeError("stream fast path: the schedule did not settle (a bug)")
        for j in range(hi - 1, lo - 1, -1):
            _time_mover(grouped[_u(j)], True, movers, bufs, init_rdy, init_from, xs, rdy, cnt,
                        st, bound, timing, per_out)  # fmt: skip
        kept = _sweep(lo, hi, grouped, True, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st,
                      bound, timing, per_out)  # fmt: skip
        sweeps += 2
    for j in range(lo, hi):  # noqa: SIM110 (numba compiles no generators)
        if st[_u(grouped[_u(j)])] == ST_BEYOND:
            return True
    return False


@nb.njit(**_INLINE)
def _least_latency(pm, b, movers, bufs, hop, ramp):
    """The fewest cycles between mover ``pm`` pushing an element into buffer ``b`` and the
    element being ready there (a turn may add to a hop)."""
    if movers[_u(pm), M_KIND] == MK_OP:
        return 1
    if movers[_u(pm), M_KIND] == MK_RAMP_UP or bufs[_u(b), B_PORT] == RAMP:
        return ramp
    return hop


@nb.njit(**_JIT)
def _completion_floor(m, movers, bufs, init_rdy, t, hop, ramp, walked, budget, stack):
    """A cycle at or before which op mover ``m`` cannot complete, and the walk's running step
    count: its last element's path back through its producers, each element no earlier than
    its mover's start plus its index, plus the least latency of every step after (queues
    always with room: a floor, which ends the window early at worst). Past ``budget`` steps
    (paths that join and fork again) it falls back to the op's own start plus its length.
    ``stack`` (rows of mover, element, latency after it) is the caller's, returned grown if
    the walk needed more rows."""
    k_last = movers[_u(m), M_LIMIT] - 1
    floor = movers[_u(m), M_START] + k_last
    stack[0, 0] = m
    stack[0, 1] = k_last
    stack[0, 2] = 0
    depth = 1
    while depth > 0:
        depth -= 1
        v = stack[_u(depth), 0]
        k = stack[_u(depth), 1]
        after = stack[_u(depth), 2]
        walked += 1
        if movers[_u(v), M_NEVER] != 0:
            return NEVER, walked, stack  # a mover on the way never moves
        if walked > budget:
            return movers[_u(m), M_START] + k_last, walked, stack
        start = movers[_u(v), M_START] if movers[_u(v), M_KIND] == MK_OP else t
        if start + k + after > floor:
            floor = start + k + after
        for src in range(2):
            b = movers[_u(v), _u(M_IN0 + src)]
            if b < 0:
                continue
            n0 = bufs[_u(b), B_N0]
            if k < n0:
                if init_rdy[_u(b), _u(k)] + after > floor:
                    floor = init_rdy[_u(b), _u(k)] + after
                continue
            pm = bufs[_u(b), B_PROD]
            if pm < 0:
                return NEVER, walked, stack  # the element never comes
            lat = _least_latency(pm, b, movers, bufs, hop, ramp)
            if depth == stack.shape[0]:
                bigger = np.empty((2 * depth, 3), np.int64)
                bigger[:depth] = stack
                stack = bigger
            stack[_u(depth), 0] = pm
            stack[_u(depth), 1] = k - n0
            stack[_u(depth), 2] = after + lat
            depth += 1
    return floor, walked, stack


@nb.njit(**_JIT)
def _earliest_moves(order, nm, movers, bufs, init_rdy, t, hop, ramp):
    """A cycle before which each mover cannot move (its first element): its start, and each
    input's first element ready at the least latency after its producer's earliest move."""
    em = np.full(nm, NEVER, np.int64)
    for j in range(nm):
        m = order[_u(j)]
        if movers[_u(m), M_NEVER] != 0:
            continue
        x = movers[_u(m), M_START] if movers[_u(m), M_KIND] == MK_OP else t
        for src in range(2):
            b = movers[_u(m), _u(M_IN0 + src)]
            if b < 0:
                continue
            if bufs[_u(b), B_N0] > 0:
                ready = init_rdy[_u(b), 0]
            else:
                pm = bufs[_u(b), B_PROD]
                if pm < 0 or em[_u(pm)] >= NEVER:
                    x = NEVER
                    break
                ready = em[_u(pm)] + _least_latency(pm, b, movers, bufs, hop, ramp)
            if ready > x:
                x = ready
        em[_u(m)] = x
    return em


@nb.njit(**_JIT)
def _shared_cut(order, nm, movers, bufs, init_rdy, parent, t, hop, ramp):
    """The cycle before which at most one user moves on each shared thing: a ramp-up (users:
    colors), a router output port (colors) and a router's round-robin pointer (components).
    Up to it the users of each never meet, so arbitration between them never decides and
    each component's commit leaves the pointer as the loop would."""
    em = _earliest_moves(order, nm, movers, bufs, init_rdy, t, hop, ramp)
    n_claims = 0
    for m in range(nm):
        if movers[_u(m), M_KIND] == MK_RAMP_UP:
            n_claims += 1
        elif movers[_u(m), M_KIND] == MK_FORWARD:
            n_claims += 1 + movers[_u(m), M_NOUT]
    what = np.empty(n_claims, np.int64)  # PE * 8 + (port, 5: ramp-up, 6: pointer)
    user = np.empty(n_claims, np.int64)
    when = np.empty(n_claims, np.int64)
    k = 0
    for m in range(nm):
        kind = movers[_u(m), M_KIND]
        p = movers[_u(m), M_PE]
        if kind == MK_RAMP_UP:
            what[_u(k)], user[_u(k)], when[_u(k)] = p * 8 + 5, movers[_u(m), M_COLOR], em[_u(m)]
            k += 1
        elif kind == MK_FORWARD:
            what[_u(k)], user[_u(k)], when[_u(k)] = p * 8 + 6, parent[_u(m)], em[_u(m)]
            k += 1
            for j in range(movers[_u(m), M_NOUT]):
                port = bufs[_u(movers[_u(m), _u(M_OUT + j)]), B_PORT]
                what[_u(k)], user[_u(k)] = p * 8 + port, movers[_u(m), M_COLOR]
                when[_u(k)] = em[_u(m)]
                k += 1
    by = np.argsort(what, kind="mergesort")
    cut = NEVER
    a = 0
    while a < n_claims:
        z = a
        while z < n_claims and what[_u(by[_u(z)])] == what[_u(by[_u(a)])]:
            z += 1
        first = by[_u(a)]  # the earliest claim, then the earliest of another user
        for g in range(a + 1, z):
            if when[_u(by[_u(g)])] < when[_u(first)]:
                first = by[_u(g)]
        second = NEVER
        for g in range(a, z):
            c = by[_u(g)]
            if user[_u(c)] != user[_u(first)] and when[_u(c)] < second:
                second = when[_u(c)]
        if second < cut:
            cut = second
        a = z
    return cut


@nb.njit(**_JIT)
def _sweep(lo, hi, grouped, room, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st, bound,
           timing, per_out):  # fmt: skip
    """Time the component's movers in data order; did every push find room? (Each mover
    checks the buffers it reads right after its producers and itself are timed, while their
    rows are still in cache.)"""
    kept = True
    for j in range(lo, hi):
        m = grouped[_u(j)]
        _time_mover(m, room, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st, bound, timing,
                    per_out)  # fmt: skip
        if kept:
            kept = _room_kept(m, movers, bufs, xs, cnt)
    return kept


@nb.njit(**_INLINE)
def _room_kept(m, movers, bufs, xs, cnt):
    """Did every push into the queues mover ``m`` reads find room: element ``n0 + k - cap`` of
    the queue popped by ``m`` (by the push's cycle, or the cycle before where ``m``'s phase
    runs after the producer's)?"""
    for src in range(2):
        b = movers[_u(m), _u(M_IN0 + src)]
        if b < 0 or bufs[_u(b), B_PROD] < 0:
            continue
        pm = bufs[_u(b), B_PROD]
        shift = bufs[_u(b), B_N0] - bufs[_u(b), B_CAP]
        delta = bufs[_u(b), B_DELTA]
        first = -shift if shift < 0 else 0
        if first >= cnt[_u(pm)]:
            continue
        if cnt[_u(m)] < cnt[_u(pm)] + shift:
            return False
        # rows of xs by number: a row's view would cost two reference-count calls
        popped_row = movers[_u(m), M_LOCAL]
        pushed_row = movers[_u(pm), M_LOCAL]
        late = np.int64(-1)  # a maximum without an early exit: the compiler vectorises it
        for k in range(first, cnt[_u(pm)]):
            late = max(late, xs[_u(popped_row), _u(k + shift)] + delta
                       - xs[_u(pushed_row), _u(k)])  # fmt: skip
        if late > 0:
            return False
    return True


@nb.njit(**_INLINE)
def _time_mover(m, room, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st, bound, timing,
                per_out):  # fmt: skip
    """Time mover ``m``'s elements from what its producers did (and, with ``room``, from
    what its consumers did: without, a push only waits for a consumer that never moves)."""
    hop, ramp, turn, t, kcap = timing
    if movers[_u(m), M_NEVER] != 0:
        cnt[_u(m)] = 0
        st[_u(m)] = ST_NEVER
        return
    lm = movers[_u(m), M_LOCAL]
    kind = movers[_u(m), M_KIND]
    limit = movers[_u(m), M_LIMIT] if kind == MK_OP else NEVER
    x = (movers[_u(m), M_START] if kind == MK_OP else t) - 1
    b0 = movers[_u(m), M_IN0]
    b1 = movers[_u(m), M_IN1]
    n00 = bufs[_u(b0), B_N0] if b0 >= 0 else 0
    n01 = bufs[_u(b1), B_N0] if b1 >= 0 else 0
    p0 = bufs[_u(b0), B_PROD] if b0 >= 0 else -1
    p1 = bufs[_u(b1), B_PROD] if b1 >= 0 else -1
    have0 = NEVER if b0 < 0 else n00 + (cnt[_u(p0)] if p0 >= 0 else 0)
    have1 = NEVER if b1 < 0 else n01 + (cnt[_u(p1)] if p1 >= 0 else 0)
    l0 = bufs[_u(b0), B_LOCAL] if b0 >= 0 else 0
    l1 = bufs[_u(b1), B_LOCAL] if b1 >= 0 else 0
    from0 = bufs[_u(b0), B_FROM] if b0 >= 0 else RAMP
    nout = movers[_u(m), M_NOUT]
    # per_out: per output, its row, room shift, latency, consumer, delta and port (PO_*)
    checked = 0
    for jo in range(nout):
        b = movers[_u(m), _u(M_OUT + jo)]
        per_out[PO_ROW, _u(jo)] = bufs[_u(b), B_LOCAL]
        per_out[PO_SHIFT, _u(jo)] = bufs[_u(b), B_N0] - bufs[_u(b), B_CAP]
        per_out[PO_CONS, _u(jo)] = bufs[_u(b), B_CONS]
        per_out[PO_DELTA, _u(jo)] = bufs[_u(b), B_DELTA]
        per_out[PO_PORT, _u(jo)] = bufs[_u(b), B_PORT]
        cm = per_out[PO_CONS, _u(jo)]
        if room or cm < 0 or movers[_u(cm), M_NEVER] != 0:
            checked += 1
        else:
            per_out[PO_SHIFT, _u(jo)] = -NEVER  # optimistic: room everywhere
        if kind == MK_OP:
            per_out[PO_LAT, _u(jo)] = 1
        elif kind == MK_RAMP_UP:
            per_out[PO_LAT, _u(jo)] = ramp
        else:
            per_out[PO_LAT, _u(jo)] = _forward_latency(per_out[PO_PORT, _u(jo)], from0, hop,
                                                        ramp, turn)  # fmt: skip
    state = ST_BEYOND
    # One input read and no room to look at, past the elements the input held at the start:
    # the common case, in a loop of its own (a few cycles an element).
    simple = (b0 < 0 or b1 < 0) and checked == 0
    first_simple = max(n00, n01) if simple else NEVER
    k = 0
    while k < kcap and k < first_simple:
        if k >= limit:
            state = ST_NEVER
            break
        if k >= have0:
            state = _dep_state(st, p0)
            break
        if k >= have1:
            state = _dep_state(st, p1)
            break
        x += 1
        if b0 >= 0:
            y = init_rdy[_u(b0), _u(k)] if k < n00 else rdy[_u(l0), _u(k - n00)]
            if y > x:
                x = y
        if b1 >= 0:
            y = init_rdy[_u(b1), _u(k)] if k < n01 else rdy[_u(l1), _u(k - n01)]
            if y > x:
                x = y
        if checked > 0:
            stop = -1
            for jo in range(nout):
                e = k + per_out[PO_SHIFT, _u(jo)]
                if e < 0:
                    continue
                cm = per_out[PO_CONS, _u(jo)]
                if cm < 0 or cnt[_u(cm)] <= e:
                    stop = _dep_state(st, cm)
                    break
                y = xs[_u(movers[_u(cm), M_LOCAL]), _u(e)] + per_out[PO_DELTA, _u(jo)]
                if y > x:
                    x = y
            if stop >= 0:
                state = stop
                break
        if x >= bound:
            state = ST_BEYOND
            break
        xs[_u(lm), _u(k)] = x
        if kind == MK_FORWARD and k < n00:
            f = init_from[_u(b0), _u(k)]
            for jo in range(nout):
                rdy[_u(per_out[PO_ROW, _u(jo)]), _u(k)] = x + _forward_latency(
                    per_out[PO_PORT, _u(jo)], f, hop, ramp, turn
                )
        else:
            for jo in range(nout):
                rdy[_u(per_out[PO_ROW, _u(jo)]), _u(k)] = x + per_out[PO_LAT, _u(jo)]
        k += 1
    if k == first_simple:
        k, x, state = _time_simple(k, x, m, limit, b0, b1, l0, l1, n00, n01, have0, have1, p0,
                                   p1, nout, per_out, lm, xs, rdy, st, bound, kcap)  # fmt: skip
    cnt[_u(m)] = k
    st[_u(m)] = state


@nb.njit(**_INLINE)
def _time_simple(k, x, m, limit, b0, b1, l0, l1, n00, n01, have0, have1, p0, p1, nout, per_out,
                 lm, xs, rdy, st, bound, kcap):  # fmt: skip
    """:func:`_time_mover`'s loop for a mover with one input queue (or none), no room to look
    at and no element left from the window's start. Its outputs (several for a multicast) are
    its cycles shifted by each one's latency, filled after the loop."""
    end = min(kcap, limit)
    fed = b0 >= 0 or b1 >= 0
    if b0 >= 0:
        end = min(end, have0)
        pin, n0, in_row = p0, n00, l0
    elif b1 >= 0:
        end = min(end, have1)
        pin, n0, in_row = p1, n01, l1
    else:
        pin, n0, in_row = np.int64(-1), np.int64(0), np.int64(0)
    k0 = k
    state = np.int64(-1)
    # An input ready at least a cycle apart (a mover's elements always are, but for the first
    # ones of a forward whose latency changes with where each came from) lets every element
    # go at once: x_k = max(y_k, x + 1 + k - k0), then the cycles past ``bound`` cut off (they
    # rise, so they are a tail). Vectorised, against a serial max-plus chain per element.
    steady = True
    if fed:
        gap = NEVER
        for e in range(k + 1, end):
            gap = min(gap, rdy[_u(in_row), _u(e - n0)] - rdy[_u(in_row), _u(e - 1 - n0)])
        steady = gap >= 1
    if steady and k < end:
        first = x + 1 - k
        below = np.int64(0)
        for e in range(k, end):
            v = first + e
            if fed:
                v = max(v, rdy[_u(in_row), _u(e - n0)])
            xs[_u(lm), _u(e)] = v
            below += 1 if v < bound else 0
        if k + below < end:
            state = ST_BEYOND
        k += below
        x = xs[_u(lm), _u(k - 1)] if k > k0 else x
    while k < end and state < 0:
        x += 1
        if fed:
            y = rdy[_u(in_row), _u(k - n0)]
            if y > x:
                x = y
        if x >= bound:
            state = ST_BEYOND
            break
        xs[_u(lm), _u(k)] = x
        k += 1
    for jo in range(nout):  # each output: the cycles shifted by its latency (vectorised)
        row_out = per_out[PO_ROW, _u(jo)]
        lat = per_out[PO_LAT, _u(jo)]
        for e in range(k0, k):
            rdy[_u(row_out), _u(e)] = xs[_u(lm), _u(e)] + lat
    if state >= 0:
        return k, x, state
    if k >= limit:
        return k, x, ST_NEVER
    if k >= kcap:
        return k, x, ST_BEYOND
    return k, x, _dep_state(st, pin)


@nb.njit(**_INLINE)
def _forward_latency(port, frm, hop, ramp, turn):
    """Cycles from a router's forward to the element being ready in the next buffer: the ramp
    down, a hop, or a hop and a turn when it leaves by another side than it came in."""
    if port == RAMP:
        return ramp
    if frm < RAMP and port != (frm ^ 1):
        return hop + turn
    return hop


@nb.njit(**_JIT)
def _carry_values(lo, hi, grouped, movers, bufs, ops, init_data, ds, cnt, mem32, mem16, work):
    """The values the component's movers carried in the window, in data order: each op reads
    its sources and writes its destination (memory, or its row of ``ds``); a ramp-up or
    forward passes on what it read. An op's elements are the memory-op kernel's
    (:func:`memory_op_at`) on its sources gathered into ``work`` (three rows of u32 words: a,
    b, result), unless it writes memory that a memory source reads at another index (then
    element by element in order: a shifted copy propagates)."""
    kcap = work.shape[0] // 3
    # the PE memory the ops read or write, asked for at once: their cache misses overlap
    # rather than each op waiting for its own
    mem_at = _data_address(mem32)
    for j in range(lo, hi):
        m = grouped[_u(j)]
        if movers[_u(m), M_KIND] != MK_OP or cnt[_u(m)] == 0:
            continue
        o = movers[_u(m), M_OP]
        for operand in range(3):
            if ops[_u(o), _u(OPERAND_FIELDS[_u(operand)][0])] != K_MEM:
                continue
            first, end = _span(ops, o, operand)
            prefetch_range(mem_at + first, mem_at + min(end, first + PREFETCH_BYTES))
    for j in range(lo, hi):
        m = grouped[_u(j)]
        n_moved = cnt[_u(m)]
        if n_moved == 0:
            continue
        lm = movers[_u(m), M_LOCAL]
        if movers[_u(m), M_KIND] != MK_OP:
            b = movers[_u(m), M_IN0]
            n0 = min(bufs[_u(b), B_N0], n_moved)
            for k in range(n0):
                ds[_u(lm), _u(k)] = init_data[_u(b), _u(k)]
            pm_row = movers[_u(bufs[_u(b), B_PROD]), M_LOCAL] if n_moved > n0 else 0
            for k in range(n0, n_moved):
                ds[_u(lm), _u(k)] = ds[_u(pm_row), _u(k - n0)]
            continue
        o = movers[_u(m), M_OP]
        code = ops[_u(o), F_CODE]
        scalar = ops[_u(o), F_SCALAR]
        fused = ops[_u(o), F_FUSED] != 0
        done = ops[_u(o), F_DONE]
        d_at = ops[_u(o), F_DA] + done * ops[_u(o), F_DS]
        d_step = ops[_u(o), F_DS]
        d_w = ops[_u(o), F_DW] if ops[_u(o), F_DK] == K_MEM else 0
        if d_w > 0 and _reads_own_writes(ops, o):
            _carry_in_order(m, n_moved, code, scalar, fused, done, d_at, d_step, d_w,
                            movers, bufs, ops, init_data, ds, mem32, mem16)  # fmt: skip
            continue
        a_kind, a_arg = _gather(m, 0, done, n_moved, movers, bufs, ops, init_data, ds, mem32,
                                mem16, work, 0)  # fmt: skip
        b_kind, b_arg = _gather(m, 1, done, n_moved, movers, bufs, ops, init_data, ds, mem32,
                                mem16, work, kcap)  # fmt: skip
        memory_op_at(
            _data_address(work), work.shape[0], code, n_moved, fused, scalar, 8 * kcap, 4, 4,
            a_kind, a_arg, 4, 4, b_kind, b_arg, 4, 4,
        )  # fmt: skip
        if d_w > 0:
            for k in range(n_moved):
                write_mem(mem32, mem16, d_at + k * d_step, d_w, work[_u(2 * kcap + k)])
        else:
            for k in range(n_moved):
                ds[_u(lm), _u(k)] = work[_u(2 * kcap + k)]


@nb.njit(**_INLINE)
def _reads_own_writes(ops, o):
    """Does op ``o`` write memory that one of its memory sources reads at another element?"""
    wlo, whi = _span(ops, o, 2)
    for operand in range(2):
        kf, af, sf, _ = OPERAND_FIELDS[_u(operand)]
        if ops[_u(o), _u(kf)] != K_MEM:
            continue
        lo, hi = _span(ops, o, operand)
        same = ops[_u(o), _u(af)] == ops[_u(o), F_DA] and ops[_u(o), _u(sf)] == ops[_u(o), F_DS]
        if lo < whi and wlo < hi and not same:
            return True
    return False


@nb.njit(**_INLINE)
def _gather(m, src, done, n_moved, movers, bufs, ops, init_data, ds, mem32, mem16, work, at):
    """Source ``src`` of op mover ``m`` for :func:`memory_op_at` on ``work``: a queue's or
    memory's words copied to ``work[at:]`` (kind memory, byte address ``4 * at``), or the
    scalar (kind scalar, its value)."""
    buf, n0, row, first, step, width = _source(m, src, done, movers, bufs, ops)
    if buf >= 0:
        k0 = min(n0, n_moved)
        for k in range(k0):
            work[_u(at + k)] = init_data[_u(buf), _u(k)]
        for k in range(k0, n_moved):
            work[_u(at + k)] = ds[_u(row), _u(k - n0)]
        return K_MEM, 4 * at
    if width > 0:
        for k in range(n_moved):
            work[_u(at + k)] = read_mem(mem32, mem16, first + k * step, width)
        return K_MEM, 4 * at
    return K_SCALAR, first


@nb.njit(**_JIT)
def _carry_in_order(m, n_moved, code, scalar, fused, done, d_at, d_step, d_w, movers, bufs,
                    ops, init_data, ds, mem32, mem16):  # fmt: skip
    """:func:`_carry_values` for one op (its memory destination from byte ``d_at``, step
    ``d_step``, width ``d_w``), element by element in order."""
    c = np.uint32(scalar & 0xFFFFFFFF)
    va = np.int64(0)
    vb = np.int64(0)
    a_buf, a_n0, a_row, a_at, a_step, a_w = _source(m, 0, done, movers, bufs, ops)
    b_buf, b_n0, b_row, b_at, b_step, b_w = _source(m, 1, done, movers, bufs, ops)
    if a_buf < 0 and a_w == 0:
        va = a_at & 0xFFFFFFFF
    if b_buf < 0 and b_w == 0:
        vb = b_at & 0xFFFFFFFF
    for k in range(n_moved):
        if a_buf >= 0:
            va = init_data[_u(a_buf), _u(k)] if k < a_n0 else ds[_u(a_row), _u(k - a_n0)]
        elif a_w > 0:
            va = np.int64(read_mem(mem32, mem16, a_at + k * a_step, a_w))
        if b_buf >= 0:
            vb = init_data[_u(b_buf), _u(k)] if k < b_n0 else ds[_u(b_row), _u(k - b_n0)]
        elif b_w > 0:
            vb = np.int64(read_mem(mem32, mem16, b_at + k * b_step, b_w))
        val = apply_elem(code, va, vb, c, fused)
        write_mem(mem32, mem16, d_at + k * d_step, d_w, val)


@nb.njit(**_INLINE)
def _source(m, src, done, movers, bufs, ops):
    """Where an op mover's source ``src`` (0: a, 1: b) comes from in the window: (buffer, its
    first count, its producer's row, -1, 0, 0) for a queue; (-1, 0, 0, byte address of the
    first element, stride, width) for memory; (-1, 0, 0, the value, 0, 0) for a scalar."""
    b = movers[_u(m), _u(M_IN0 + src)]
    if b >= 0:
        pm = bufs[_u(b), B_PROD]
        row = movers[_u(pm), M_LOCAL] if pm >= 0 else 0
        return b, bufs[_u(b), B_N0], row, np.int64(-1), np.int64(0), np.int64(0)
    o = movers[_u(m), M_OP]
    kf, af, sf, wf = OPERAND_FIELDS[_u(src)]
    kind = ops[_u(o), _u(kf)]
    at = ops[_u(o), _u(af)]
    if kind == K_MEM:
        step = ops[_u(o), _u(sf)]
        return np.int64(-1), np.int64(0), np.int64(0), at + done * step, step, ops[_u(o), _u(wf)]
    value = at if kind == K_SCALAR else np.int64(0)
    return np.int64(-1), np.int64(0), np.int64(0), value, np.int64(0), np.int64(0)


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
    params, smap, res, scratch,
):  # fmt: skip
    """Run the machine from cycle ``t`` as a stream schedule if it can be; see the module
    docstring. Fills ``res`` (``SR_*``): ``WINDOW_NONE`` and the cycle to look again from;
    ``WINDOW_DONE`` and the cycle the loop goes on from; ``WINDOW_QUIET`` and the cycle at
    which the loop, stepping, would have found nothing left to do."""
    # the caller holds every array for the whole call: the callees need not count references
    nbr, route_rx, route_tx = borrowed(nbr), borrowed(route_rx), borrowed(route_tx)
    route_pos, torn, swap = borrowed(route_pos), borrowed(torn), borrowed(swap)
    filt_mask, r_data, r_ctrl = borrowed(filt_mask), borrowed(r_data), borrowed(r_ctrl)
    r_ready, r_from, r_head = borrowed(r_ready), borrowed(r_from), borrowed(r_head)
    r_count, r_mask, rr = borrowed(r_count), borrowed(r_mask), borrowed(rr)
    i_data, i_ctrl, i_ready = borrowed(i_data), borrowed(i_ctrl), borrowed(i_ready)
    i_head, i_count, i_mask = borrowed(i_head), borrowed(i_count), borrowed(i_mask)
    i_wait, i_nctrl, o_data = borrowed(i_wait), borrowed(i_nctrl), borrowed(o_data)
    o_ctrl, o_ready, o_head = borrowed(o_ctrl), borrowed(o_ready), borrowed(o_head)
    o_count, o_mask, o_wait = borrowed(o_count), borrowed(o_mask), borrowed(o_wait)
    o_host, t_active, t_blocked = borrowed(o_host), borrowed(t_active), borrowed(t_blocked)
    t_local, t_dmask, ce_state = borrowed(t_local), borrowed(t_dmask), borrowed(ce_state)
    ce_busy, ops, slot_op = borrowed(ce_busy), borrowed(ops), borrowed(slot_op)
    op_free, op_free_n, mem32 = borrowed(op_free), borrowed(op_free_n), borrowed(mem32)
    mem16, act_r, act_r_n = borrowed(mem16), borrowed(act_r), borrowed(act_r_n)
    in_r, act_o, act_o_n, in_o = borrowed(in_r), borrowed(act_o), borrowed(act_o_n), borrowed(in_o)
    act_c, act_c_n, in_c = borrowed(act_c), borrowed(act_c_n), borrowed(in_c)
    link_out, prof, stats = borrowed(link_out), borrowed(prof), borrowed(stats)
    code_of, prog_script, script = borrowed(code_of), borrowed(prog_script), borrowed(script)
    tpl, mprm, mem_base = borrowed(tpl), borrowed(mprm), borrowed(mem_base)
    fifo_first, params, smap = borrowed(fifo_first), borrowed(params), borrowed(smap)
    res = borrowed(res)
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

    if _memory_shared(live, n_live, ops, pe_ops):
        res[SR_CYCLE] = t + RETRY
        return

    # ---- completions the schedule cannot handle in place end the window before them ---
    # (Streaming ops that the tasks run in place issue are not in the graph: the window ends
    # before the first of them could move.)
    replay_on = params[P_REPLAY] != 0
    unhandled = np.zeros(n_live, np.int64)
    soonest = NEVER
    rows_taken = np.zeros(1, np.int64)
    issue_after = np.full(n_live, -1, np.int64)  # completion -> first move of what it issues
    for k in range(n_live):
        o = live[_u(k)]
        p = ops[_u(o), F_PE]
        on = ops[_u(o), F_ON_DONE]
        start = ops[_u(o), F_START] if ops[_u(o), F_START] > t else t
        earliest = start + ops[_u(o), F_LEN] - ops[_u(o), F_DONE] - 1
        handled = on == ON_NONE
        alone = pe_ops[_u(p)] == 1 and ce_state[_u(p)] == CE_IDLE and t_dmask[_u(p)] == 0
        if on in (ON_ACTIVATE, ON_UNBLOCK) and alone and i_nctrl[_u(p)] == 0:
            after = _static_chain(
                p, o, on, ops[_u(o), F_TASK], t_active, t_blocked, t_local, code_of,
                prog_script, script, replay_on, slot_op, ops, op_free_n, rows_taken, params,
            )  # fmt: skip
            handled = after >= 0
            if handled and after < NEVER:
                issue_after[_u(k)] = after
        if not handled or on == ON_RESUME:
            unhandled[_u(k)] = 1
            if earliest < soonest:
                soonest = earliest
    if soonest - t < MIN_WINDOW:
        res[SR_CYCLE] = soonest + 1 if soonest > t else t + 1
        return

    # ---- the stream graph ---
    movers = _table(scratch, SC_MOVERS, max(16, 4 * n_live), N_M)
    bufs = _table(scratch, SC_BUFS, max(16, 4 * n_live), N_B)
    nm = 0
    nb_ = 0
    ok = True
    for k in range(n_live):  # the ops' movers come first: mover k is live op k
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
    # A router output port or a ramp-up that two colors of the graph use, and a router whose
    # forwards are in two components (its round-robin pointer is rebuilt per component), are
    # shared: the window then ends before the second of them can move (``_shared_cut``).
    shared = False
    if ok:
        owner = np.zeros((n, 6), np.int16)
        for m in range(nm):
            kind = movers[_u(m), M_KIND]
            p = movers[_u(m), M_PE]
            c = movers[_u(m), M_COLOR]
            if kind == MK_RAMP_UP:
                if owner[_u(p), 5] != 0 and owner[_u(p), 5] != c + 1:
                    shared = True
                owner[_u(p), 5] = c + 1
            elif kind == MK_FORWARD:
                for j in range(movers[_u(m), M_NOUT]):
                    port = bufs[_u(movers[_u(m), _u(M_OUT + j)]), B_PORT]
                    if owner[_u(p), _u(port)] != 0 and owner[_u(p), _u(port)] != c + 1:
                        shared = True
                    owner[_u(p), _u(port)] = c + 1
    # the tables may have grown: keep them for the next window
    if movers.size > scratch[SC_MOVERS].size:
        scratch[SC_MOVERS] = movers.reshape(-1)
    if bufs.size > scratch[SC_BUFS].size:
        scratch[SC_BUFS] = bufs.reshape(-1)
    # (Not borrowed here: a table that grew but is no larger than the slot is held by this
    # function alone.)
    # what the buffers hold at the start; no control wavelets (they would steer switches and
    # start tasks)
    initial = max(rcap, max(icap, ocap))
    init_data = _table(scratch, SC_INIT_DATA, nb_, initial)  # what each buffer held, as u32
    init_rdy = _table(scratch, SC_INIT_READY, nb_, initial)
    init_from = _table(scratch, SC_INIT_FROM, nb_, initial)
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
        res[SR_CYCLE] = t + RETRY  # the loop steps a while before a new look
        return

    # ---- components (union-find) and the order of data within each ---
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
    order = _data_order(movers, bufs, nm, nb_)
    if order.shape[0] < nm:
        _forget(bufs, nb_, smap)
        return  # data going round a loop of buffers: let the loop step
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
    # a router's round-robin pointer is rebuilt from its forwards: in one component, or shared
    pe_comp = np.full(n, -1, np.int64)
    for m in range(nm):
        if movers[_u(m), M_KIND] != MK_FORWARD:
            continue
        p = movers[_u(m), M_PE]
        if pe_comp[_u(p)] >= 0 and pe_comp[_u(p)] != parent[_u(m)]:
            shared = True
        pe_comp[_u(p)] = parent[_u(m)]
    for m in range(nm):  # -1 again: it becomes _commit_component's scratch (per_pe)
        if movers[_u(m), M_KIND] == MK_FORWARD:
            pe_comp[_u(movers[_u(m), M_PE])] = -1
    if shared:
        cut = _shared_cut(order, nm, movers, bufs, init_rdy, parent, t, hop, ramp)
        if cut - t < MIN_WINDOW:
            _forget(bufs, nb_, smap)
            res[SR_CYCLE] = t + RETRY  # they move together soon: the loop arbitrates
            return
        if cut < bound:
            bound = cut

    # ---- the window ends before the first completion the schedule cannot handle ---
    # (and before the streams that tasks it starts in place issue could move)
    walked = 0
    stack = np.empty((64, 3), np.int64)
    for k in range(n_live):  # mover k is live op k
        if unhandled[_u(k)] == 0 and issue_after[_u(k)] < 0:
            continue
        floor, walked, stack = _completion_floor(k, movers, bufs, init_rdy, t, hop, ramp, walked,
                                                 4 * nm + 64, stack)  # fmt: skip
        if unhandled[_u(k)] != 0 and floor < bound:
            bound = floor  # the loop steps that cycle itself
        if issue_after[_u(k)] >= 0 and floor < NEVER and floor + issue_after[_u(k)] < bound:
            bound = floor + issue_after[_u(k)]
    if bound - t < MIN_WINDOW:
        _forget(bufs, nb_, smap)
        res[SR_CYCLE] = bound + 1
        return

    # ---- scratch: a row per mover (buffer) of a component, a column per element ---
    # A mover moves at most one element a cycle, and no more than its op's length and what
    # the buffers held at the start let through, so ``kcap`` columns always suffice.
    max_m = 0
    max_b = 1
    for r in range(nm):
        if comp_size[_u(r + 1)] - comp_size[_u(r)] > max_m:
            max_m = comp_size[_u(r + 1)] - comp_size[_u(r)]
        if comp_bufs[_u(r + 1)] - comp_bufs[_u(r)] > max_b:
            max_b = comp_bufs[_u(r + 1)] - comp_bufs[_u(r)]
    through = 1
    for b in range(nb_):
        through += bufs[_u(b), B_N0]
    longest = 0
    for k in range(n_live):
        o = live[_u(k)]
        if ops[_u(o), F_LEN] - ops[_u(o), F_DONE] > longest:
            longest = ops[_u(o), F_LEN] - ops[_u(o), F_DONE]
    kcap = min(bound - t, longest + through)
    if kcap * max(max_m, max_b) > SCRATCH_ENTRIES:
        kcap = SCRATCH_ENTRIES // max(max_m, max_b)
        if kcap < MIN_WINDOW:
            _forget(bufs, nb_, smap)
            res[SR_CYCLE] = t + RETRY
            return
        bound = min(bound, t + kcap)
    xs = _table(scratch, SC_CYCLES, max_m, kcap)  # cycle of each element at each mover
    ds = _table(scratch, SC_VALUES, max_m, kcap)  # value each mover passed on (u32)
    rdy = _table(scratch, SC_READY, max_b, kcap)  # when each pushed element is ready
    cnt = np.zeros(nm, np.int64)
    st = np.zeros(nm, np.int64)
    timing = (hop, ramp, turn, t, kcap)
    per_out = np.empty((6, 5), np.int64)  # _time_mover's table of a mover's outputs
    work = np.empty(3 * kcap, np.uint32)  # _carry_values' operands and results
    fwd_next = np.empty(nm, np.int64)  # _commit_component's forwards, linked per PE
    fwd_pes = np.empty(max_m, np.int64)  # and the PEs that forwarded

    # ---- schedule each component, compute what it carries, and commit it ---
    beyond = False
    last_event = np.int64(-1)
    done_t = np.full(nm, -1, np.int64)  # an op's completion cycle
    for r in range(nm):
        lo = comp_size[_u(r)]
        hi = comp_size[_u(r + 1)]
        if hi == lo:
            continue
        if _time_component(lo, hi, grouped, movers, bufs, init_rdy, init_from, xs, rdy, cnt, st,
                           bound, timing, per_out):  # fmt: skip
            beyond = True
        for j in range(lo, hi):
            m = grouped[_u(j)]
            k = cnt[_u(m)]
            if k == 0:
                continue
            x = xs[_u(movers[_u(m), M_LOCAL]), _u(k - 1)]
            if x > last_event:
                last_event = x
            if movers[_u(m), M_KIND] == MK_OP and k == movers[_u(m), M_LIMIT]:
                done_t[_u(m)] = x
        _carry_values(lo, hi, grouped, movers, bufs, ops, init_data, ds, cnt, mem32, mem16,
                      work)
        _commit_component(
            r, lo, hi, grouped, comp_bufs, buf_order, movers, bufs, xs, ds, rdy, cnt, r_data,
            r_ctrl, r_ready, r_from, r_head, r_count, r_mask, rr, i_data, i_ctrl, i_ready, i_head,
            i_count, i_mask, o_data, o_ctrl, o_ready, o_head, o_count, o_mask, ops, link_out,
            prof, stats, ncol, pe_comp, fwd_next, fwd_pes,
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
    # (Once each: an op row retired in the window and taken again by an op a task issued in
    # place is in the list twice.)
    w = 0
    for k in range(act_o_n[0]):
        o = act_o[_u(k)]
        if in_o[_u(o)] == 1:
            in_o[_u(o)] = 2
            act_o[_u(w)] = o
            w += 1
    for k in range(w):
        in_o[_u(act_o[_u(k)])] = 1
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
    r, lo, hi, grouped, comp_bufs, buf_order, movers, bufs, xs, ds, rdy, cnt, r_data, r_ctrl,
    r_ready, r_from, r_head, r_count, r_mask, rr, i_data, i_ctrl, i_ready, i_head, i_count,
    i_mask, o_data, o_ctrl, o_ready, o_head, o_count, o_mask, ops, link_out, prof, stats, ncol,
    per_pe, fwd_next, fwd_pes,
):  # fmt: skip
    """Write one scheduled component back: what each buffer holds, each op's progress, the
    counters, and the round-robin pointer of each router that forwarded. (``per_pe``: -1 for
    every PE, and so again on return; ``fwd_next`` and ``fwd_pes``: scratch of the window's
    movers and of a component's.)"""
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
            v = np.uint32(ds[_u(movers[_u(pm), M_LOCAL]), _u(jj)])
            ready = rdy[_u(bufs[_u(b), B_LOCAL]), _u(jj)]
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
    # round-robin pointers: replay the grants of each router's forwards in cycle order (the
    # forwards of one PE linked through ``fwd_next`` from ``per_pe``, not sorted: what follows
    # does not depend on their order)
    n_pes = 0
    for j in range(lo, hi):
        m = grouped[_u(j)]
        if movers[_u(m), M_KIND] == MK_FORWARD and cnt[_u(m)] > 0:
            p = movers[_u(m), M_PE]
            if per_pe[_u(p)] < 0:
                fwd_pes[_u(n_pes)] = p
                n_pes += 1
            fwd_next[_u(m)] = per_pe[_u(p)]
            per_pe[_u(p)] = m
    for i in range(n_pes):
        p = fwd_pes[_u(i)]
        # The pointer ends past the color of the last grant; only a tie in the last granting
        # cycle needs the grants before it.
        last_t = np.int64(-1)
        last_c = np.int64(-1)
        tie = False
        size = 0
        m = per_pe[_u(p)]
        while m >= 0:
            x = xs[_u(movers[_u(m), M_LOCAL]), _u(cnt[_u(m)] - 1)]
            if x > last_t:
                last_t, last_c, tie = x, movers[_u(m), M_COLOR], False
            elif x == last_t:
                tie = True
            size += 1
            m = fwd_next[_u(m)]
        if tie:
            group = np.empty(size, np.int64)
            m = per_pe[_u(p)]
            for g in range(size):
                group[_u(g)] = m
                m = fwd_next[_u(m)]
            _replay_round_robin(group, movers, xs, cnt, rr, p, ncol)
        else:
            rr[_u(p)] = last_c + 1 if last_c + 1 < ncol else 0
        per_pe[_u(p)] = -1


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
                x = xs[_u(movers[_u(m), M_LOCAL]), _u(pos[_u(a)])]
                if x < tmin:
                    tmin = x
        if tmin == NEVER:
            break
        first = -1
        lowest = -1
        for a in range(nms):
            m = ms[_u(a)]
            if pos[_u(a)] < cnt[_u(m)] and xs[_u(movers[_u(m), M_LOCAL]), _u(pos[_u(a)])] == tmin:
                c = movers[_u(m), M_COLOR]
                pos[_u(a)] += 1
                if c >= ptr and (first < 0 or c < first):
                    first = c
                if lowest < 0 or c < lowest:
                    lowest = c
        granted = first if first >= 0 else lowest
        ptr = granted + 1 if granted + 1 < ncol else 0
    rr[_u(p)] = ptr
