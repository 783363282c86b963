"""Integer encodings shared by the compiled kernel and the Python driver.

Kept in one module so the numba kernel (which needs plain module-level ints) and the Python side
can never disagree about a port number or a field index.

Changing a value here: numba freezes these ints into the compiled code and its disk cache is
keyed on the source of the module that defines each function, not on this one: delete
``fabric/__pycache__/*.nbi`` and ``*.nbc`` so the kernel compiles again (touching the modules
was not enough in a test). A fresh checkout has no cache.
"""

from __future__ import annotations

from ..program.ports import (  # noqa: F401  (re-exported for the kernel)
    EAST,
    NORTH,
    OPPOSITE,
    PORT_DX,
    PORT_DY,
    PORT_NAMES,
    RAMP,
    SOUTH,
    WEST,
)

# DSD operand kinds as stored in the op pool.
K_NONE, K_MEM, K_FABIN, K_FABOUT, K_FIFO, K_SCALAR = 0, 1, 2, 3, 4, 5

# Op pool columns (ops[i, F_*]). Ordered by use, eight to a 64-byte line: what every visit of a
# streaming op reads first, then its sources, then its destination and completion.
F_PE = 0  # PE index
F_START = 1  # first cycle the op may make progress
F_DONE = 2  # elements processed so far
F_LEN = 3  # elements to process
F_TAIL = 4  # 1 + payload of a control wavelet sent after the data (0: none)
F_CODE = 5  # ElemOp code
F_FUSED = 6  # 1: fused multiply-add
F_CTRL = 7  # 1: the op's fabric output wavelets carry the control bit
F_AK, F_AA, F_AS, F_AW = 8, 9, 10, 11  # source 0: kind, address/color/fifo, stride (bytes), width
F_BK, F_BA, F_BS, F_BW = 12, 13, 14, 15  # source 1
F_DK, F_DA, F_DS, F_DW = 16, 17, 18, 19  # destination
F_SCALAR = 20  # raw 32-bit scalar operand (third operand of fmac)
F_SLOT = 21  # thread slot: 0..microthreads-1 async, microthreads = the CE's main thread
F_ON_DONE = 22  # ON_* below
F_TASK = 23  # task id activated / unblocked on completion
F_WAITING = 24  # 1 while parked on a queue/fifo wait list
F_ISSUED = 25  # cycle the op was issued (for stall reports)
N_OP_FIELDS = 32  # rows padded to four whole cache lines

ON_NONE, ON_ACTIVATE, ON_UNBLOCK, ON_RESUME = 0, 1, 2, 3

# FIFO table columns.
Q_BASE, Q_CAP, Q_WIDTH, Q_HEAD, Q_COUNT, Q_PE, Q_WAIT_POP, Q_WAIT_PUSH = 0, 1, 2, 3, 4, 5, 6, 7
N_FIFO_FIELDS = 8

# CE states.
CE_IDLE, CE_RUNNING, CE_SUSPENDED = 0, 1, 2

# Python work items handed back by the kernel.
W_TASK, W_RESUME = 0, 1

# Kernel exit codes.
EXIT_WORK, EXIT_QUIET, EXIT_LIMIT, EXIT_STALL, EXIT_TRACE = 0, 1, 2, 3, 4

# Statistics counters (stats[S_*]).
S_HOPS = 0  # router-to-router wavelet transfers (a multicast counts each copy)
S_RAMP_DOWN = 1
S_RAMP_UP = 2
S_TASKS = 3
S_ELEMS = 4  # vector-op elements processed by the kernel
S_CYCLES_STEPPED = 5  # cycles actually simulated (not skipped)
S_ROUTER_VISITS = 6
S_OP_VISITS = 7
S_HOST_IN = 8
S_HOST_OUT = 9
N_STATS = 10

from ..program.encoding import (  # noqa: E402, F401  (re-exported for the kernel)
    CTRL_CE_FILTER_BIT,
    CTRL_DATA_MASK,
    CTRL_NO_TASK,
    CTRL_OPCODE_SHIFT,
    CTRL_TASK_SHIFT,
    FILT_COUNTER,
    FILT_NONE,
    FILT_RANGE,
    FL_COUNT_CTRL,
    FL_COUNT_DATA,
    FL_COUNTER,
    FL_HI,
    FL_KIND,
    FL_LO,
    FL_MAX,
    FL_PASS,
    N_FILT_FIELDS,
    POP_ALWAYS,
    POP_NONE,
    POP_ON_ADVANCE,
    SW_ADVANCE,
    SW_NOP,
    SW_RESET,
    SW_TEARDOWN,
    TEARDOWN_TASK_ID,
)

# Trace events (the kernel's columnar event buffer, trace[i, TR_*]).
TR_CYCLE, TR_KIND, TR_PE, TR_COLOR, TR_PORT, TR_PAYLOAD, TR_CTRL = range(7)
N_TRACE_FIELDS = 7
EV_HOP, EV_RAMP_DOWN, EV_RAMP_UP, EV_HOST_IN, EV_HOST_OUT, EV_OP_DONE, EV_TASK, EV_DROP = range(8)
EVENT_NAMES = ("hop", "ramp_down", "ramp_up", "host_in", "host_out", "op_done", "task", "drop")
# trace_cfg[]: on (0/1), x0, y0, x1, y1 (inclusive region), first cycle, last cycle, width
TC_ON, TC_X0, TC_Y0, TC_X1, TC_Y1, TC_C0, TC_C1, TC_WIDTH = range(8)
N_TRACE_CFG = 8

# Per-PE profile counters (prof[p, PR_*]).
PR_TASK_BUSY = 0  # cycles the CE spent running tasks (added by the driver)
PR_OP_ELEMENTS = 1  # elements processed by streaming ops
PR_SYNC_WAIT = 2  # cycles synchronous ops (the CE) waited on the fabric or a FIFO
PR_ASYNC_WAIT = 3  # cycles async ops (microthreads) waited
N_PROF = 4
