"""Event traces of a simulation: what the kernel moved, which tasks ran, which ops were issued.

Tracing is off by default and costs one branch per transfer when off. When on, the kernel writes
events into a columnar buffer (``FabricState.trace``) and returns to the driver to flush it when
it is half full; the driver adds task spans and op issues. Everything is kept as numpy columns,
never as one Python object per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._layout_consts import (
    EVENT_NAMES,
    N_TRACE_FIELDS,
    TC_C0,
    TC_C1,
    TC_ON,
    TC_WIDTH,
    TC_X0,
    TC_X1,
    TC_Y0,
    TC_Y1,
)

EVENT_COLUMNS = ("cycle", "kind", "pe", "color", "port", "payload", "ctrl")


@dataclass
class TraceWindow:
    """Which events to keep: a region of PEs (inclusive corners) and a cycle window."""

    x0: int = 0
    y0: int = 0
    x1: int | None = None
    y1: int | None = None
    first_cycle: int = 0
    last_cycle: int | None = None


@dataclass
class Trace:
    """The recorded events of one engine, as columns."""

    width: int
    height: int
    window: TraceWindow = field(default_factory=TraceWindow)
    dropped: int = 0
    _chunks: list[np.ndarray] = field(default_factory=list)
    _tasks: list[tuple[int, int, str, int, int]] = field(default_factory=list)
    _ops: list[tuple[int, str, int, int, str]] = field(default_factory=list)

    def add_chunk(self, rows: np.ndarray) -> None:
        if len(rows):
            self._chunks.append(rows.copy())

    def covers(self, pe: int, cycle: int) -> bool:
        """Is (PE, cycle) inside the trace window?"""
        w = self.window
        x, y = pe % self.width, pe // self.width
        return (
            w.x0 <= x <= (self.width - 1 if w.x1 is None else w.x1)
            and w.y0 <= y <= (self.height - 1 if w.y1 is None else w.y1)
            and w.first_cycle <= cycle <= (cycle if w.last_cycle is None else w.last_cycle)
        )

    def add_task(self, pe: int, task_id: int, name: str, start: int, end: int) -> None:
        if self.covers(pe, start):
            self._tasks.append((pe, task_id, name, start, end))

    def add_op(self, pe: int, op: str, cycle: int, cycles: int, operands: str) -> None:
        if self.covers(pe, cycle):
            self._ops.append((pe, op, cycle, cycles, operands))

    @property
    def events(self) -> dict[str, np.ndarray]:
        """Kernel events (hops, ramps, host streams, op completions, task picks, drops) as
        columns: cycle, kind (index into EVENT_NAMES), pe, color, port, payload, ctrl."""
        rows = (
            np.concatenate(self._chunks)
            if self._chunks
            else np.zeros((0, N_TRACE_FIELDS), np.int64)
        )
        return {name: rows[:, i] for i, name in enumerate(EVENT_COLUMNS)}

    @property
    def tasks(self) -> dict[str, np.ndarray]:
        """Task runs: pe, task_id, name, start, end (cycles)."""
        cols = list(zip(*self._tasks, strict=True)) if self._tasks else [(), (), (), (), ()]
        return {
            "pe": np.array(cols[0], np.int64),
            "task_id": np.array(cols[1], np.int64),
            "name": np.array(cols[2], dtype=object),
            "start": np.array(cols[3], np.int64),
            "end": np.array(cols[4], np.int64),
        }

    @property
    def ops(self) -> dict[str, np.ndarray]:
        """Vector ops as issued by tasks: pe, op, cycle, cycles (memory-only ops; -1 for
        streaming ops, whose completion is an op_done event), operands."""
        cols = list(zip(*self._ops, strict=True)) if self._ops else [(), (), (), (), ()]
        return {
            "pe": np.array(cols[0], np.int64),
            "op": np.array(cols[1], dtype=object),
            "cycle": np.array(cols[2], np.int64),
            "cycles": np.array(cols[3], np.int64),
            "operands": np.array(cols[4], dtype=object),
        }

    def counts(self) -> dict[str, int]:
        kinds = self.events["kind"]
        out = {name: int((kinds == i).sum()) for i, name in enumerate(EVENT_NAMES)}
        out["task_runs"] = len(self._tasks)
        out["op_issues"] = len(self._ops)
        out["dropped"] = self.dropped
        return out


def configure(state, window: TraceWindow | None, capacity: int) -> None:
    """Switch the kernel's event buffer on for ``window`` (or off with ``None``)."""
    cfg = state.trace_cfg
    if window is None:
        cfg[TC_ON] = 0
        return
    cfg[TC_ON] = 1
    cfg[TC_X0], cfg[TC_Y0] = window.x0, window.y0
    cfg[TC_X1] = state.width - 1 if window.x1 is None else window.x1
    cfg[TC_Y1] = state.height - 1 if window.y1 is None else window.y1
    cfg[TC_C0] = window.first_cycle
    cfg[TC_C1] = (1 << 62) if window.last_cycle is None else window.last_cycle
    cfg[TC_WIDTH] = state.width
    if state.trace.shape[0] != capacity:
        state.trace = np.zeros((capacity, N_TRACE_FIELDS), np.int64)
    state.trace_n[:] = 0


def flush(state, trace: Trace) -> None:
    """Move the kernel's buffered events into ``trace``."""
    n = int(state.trace_n[0])
    trace.add_chunk(state.trace[:n])
    trace.dropped += int(state.trace_n[1])
    state.trace_n[:] = 0
