"""Control wavelets: the payload layout and helpers to build one.

A control wavelet is a wavelet with the control bit set. Routers act on it as it passes (switch
commands); a CE that receives it starts the control task it names. The layout of the 32-bit
payload (a [?] choice inferred from the vendor's public tutorials, see docs/router.md):

    bits  0..15  data handed to the control task, or 8 two-bit command slots (slot 0 lowest)
                 read by routers in pop mode
    bits 16..20  id of the task to activate at the receiving CE (31: none)
    bit  21      CE filter: do not deliver this wavelet to any CE
    bits 22..23  the switch command for routers not in pop mode

Commands: NOP 0, ADVANCE 1 (move to the next switch position), RESET 2 (back to position 0),
TEARDOWN 3 (stop routing the color until the PE's teardown task re-opens it). A router in pop
mode reads slot 0 and, on ADVANCE (``pop_on_advance``) or always (``always_pop``), shifts the
slots so the next router sees the next command.
"""

from __future__ import annotations

from collections.abc import Sequence

NOP, ADVANCE, RESET, TEARDOWN = 0, 1, 2, 3
NO_TASK = 31
_NAMES = {"nop": NOP, "advance": ADVANCE, "reset": RESET, "teardown": TEARDOWN}


def _opcode(op: int | str) -> int:
    if isinstance(op, str):
        if op.lower() not in _NAMES:
            raise ValueError(f"unknown switch command {op!r}: expected one of {', '.join(_NAMES)}")
        return _NAMES[op.lower()]
    if op not in (NOP, ADVANCE, RESET, TEARDOWN):
        raise ValueError(f"unknown switch command {op!r}: expected 0..3 or a name")
    return int(op)


def _task(task: int | None) -> int:
    if task is None:
        return NO_TASK
    if not 0 <= int(task) < NO_TASK:
        raise ValueError(f"control wavelets can start tasks 0..30, got {task}")
    return int(task)


def control_payload(
    command: int | str = NOP, *, task: int | None = None, data: int = 0, ce_filter: bool = False
) -> int:
    """A control wavelet for routers without pop mode: every router it passes applies
    ``command`` to its switch for the color; a CE that receives it starts ``task`` with
    ``data`` (16 bits)."""
    if not 0 <= int(data) <= 0xFFFF:
        raise ValueError(f"control data must fit 16 bits, got {data}")
    return (
        int(data)
        | (_task(task) << 16)
        | (int(bool(ce_filter)) << 21)
        | (_opcode(command) << 22)
    )


def command_slots_payload(
    commands: Sequence[int | str], *, task: int | None = None, ce_filter: bool = False
) -> int:
    """A control wavelet for routers in pop mode: slot i holds the command for the i-th router
    that pops it (at most 8)."""
    if len(commands) > 8:
        raise ValueError(f"a control wavelet holds at most 8 command slots, got {len(commands)}")
    slots = 0
    for i, op in enumerate(commands):
        slots |= _opcode(op) << (2 * i)
    return slots | (_task(task) << 16) | (int(bool(ce_filter)) << 21)


def decode(payload: int) -> dict[str, int | bool]:
    """The fields of a control payload (for traces and tests)."""
    return {
        "data": payload & 0xFFFF,
        "task": (payload >> 16) & 31,
        "ce_filter": bool((payload >> 21) & 1),
        "command": (payload >> 22) & 3,
    }
