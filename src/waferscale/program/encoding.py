"""Integer encodings of control wavelets and router filters, shared with the engine."""

# Control wavelets (payload layout, see docs/router.md; [?] inferred from public examples).
CTRL_DATA_MASK = 0xFFFF  # bits 0..15: data for a control task, or 8 two-bit command slots
CTRL_TASK_SHIFT = 16  # bits 16..20: task id to activate at the receiving CE
CTRL_NO_TASK = 31  # "null" task id
CTRL_CE_FILTER_BIT = 21  # do not deliver to the CE
CTRL_OPCODE_SHIFT = 22  # bits 22..23: the switch command for routers without pop mode
SW_NOP, SW_ADVANCE, SW_RESET, SW_TEARDOWN = 0, 1, 2, 3
POP_NONE, POP_ON_ADVANCE, POP_ALWAYS = 0, 1, 2
TEARDOWN_TASK_ID = 29  # reserved: runs when a color of the PE's router is torn down

# Filters (filt[p, c, FL_*]).
FILT_NONE, FILT_RANGE, FILT_COUNTER = 0, 1, 2
FL_KIND, FL_LO, FL_HI, FL_COUNTER, FL_MAX, FL_PASS, FL_COUNT_DATA, FL_COUNT_CTRL = range(8)
N_FILT_FIELDS = 8
RPC_TASK_ID = 31  # reserved: runs functions the host launches

RESERVED_TASK_IDS = {
    TEARDOWN_TASK_ID: "the teardown task; bind it with Code.bind_teardown_task",
    RPC_TASK_ID: "host-launched functions",
}
