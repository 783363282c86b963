"""The fabric engine's driver: loads a compiled layout, runs the compiled cycle loop, and runs
Python tasks when the loop hands them back.

Tasks are plain Python calls made from the driver's loop. A task that issues a *synchronous*
fabric op must wait for the fabric; it is parked where it stands (its greenlet keeps its frame)
and the loop continues in a fresh greenlet, so a task that never blocks costs one function call.
See ``docs/decisions/0002-fabric-engine.md``. Static tasks (``bind_local_task(...,
static=True)``) are recorded when the first run starts and replayed by the cycle loop itself
(``docs/decisions/0003-static-tasks.md``).
"""

from __future__ import annotations

import gc
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import greenlet
import numpy as np

from ..program.code import Code, TaskDecl
from ..program.dsd import Symbol
from ..program.encoding import RPC_TASK_ID
from ..program.layout import CompiledLayout
from ..program.types import f32, u32
from . import _kernel
from . import trace as _trace
from ._kernel import P_REPLAY, P_STREAM
from ._layout_consts import (
    CE_IDLE,
    EXIT_LIMIT,
    EXIT_QUIET,
    EXIT_STALL,
    EXIT_TRACE,
    EXIT_WORK,
    N_FIFO_FIELDS,
    N_STATS,
    PR_TASK_BUSY,
    Q_BASE,
    Q_CAP,
    Q_PE,
    Q_WAIT_POP,
    Q_WAIT_PUSH,
    Q_WIDTH,
    S_CYCLES_STEPPED,
    S_ELEMS,
    S_HOPS,
    S_RAMP_DOWN,
    S_RAMP_UP,
    S_TASKS,
    W_RESUME,
)
from ._stream import thread_scratch
from .state import FabricState

F32_TYPE = f32
U32_TYPE = u32


_STALE = object()
_PARKED = object()
_RESPAWN = object()

# How a task's argument is made from the wavelet or control data (see _arg_kind).
_ARG_NONE, _ARG_U32, _ARG_F32, _ARG_CTRL, _ARG_OTHER = range(5)

STATIC_POOL_ROWS_MAX = 1 << 20
"""Most op-pool rows the engine reserves up front for static tasks starting at once."""


class TaskError(RuntimeError):
    """A Python task raised; the message names the PE, the task and the cycle."""


@dataclass
class RunResult:
    """How a call to :meth:`Engine.run` ended."""

    reason: str  # "quiet", "limit", "until"
    cycle: int
    wall_s: float
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class PrintRecord:
    cycle: int
    x: int
    y: int
    message: str


class Engine:
    """A cycle-level simulation of one compiled layout."""

    # PE handles made since the last full garbage collection. Engines and their handles form
    # reference cycles, and Engine.run pauses the cyclic collector, so a large engine dropped
    # by its user can outlive the start of the next run; a new engine collects it first.
    _handles_made = 0
    _COLLECT_AFTER_HANDLES = 100_000

    def __init__(self, compiled: CompiledLayout, *, work_max: int | None = None):
        if Engine._handles_made > Engine._COLLECT_AFTER_HANDLES and gc.isenabled():
            gc.collect()
            Engine._handles_made = 0
        self.compiled = compiled
        lay = compiled.layout
        self.arch = compiled.arch
        self.width = lay.width
        self.height = lay.height
        n = self.width * self.height
        self.codes: list[Code] = compiled.codes
        self.code_of = lay.code_index.ravel().astype(np.int64)

        words = np.array([c.memory_bytes // 4 for c in self.codes], np.int64)
        per_pe = words[self.code_of]
        self.mem_base = np.zeros(n, np.int64)  # byte address of each PE's memory
        np.cumsum(per_pe[:-1] * 4, out=self.mem_base[1:])
        total_words = int(per_pe.sum())
        self.state = s = FabricState(
            self.arch, self.width, self.height, total_words, work_max or max(64, n)
        )
        s.route_rx[:] = lay.rx.reshape(n, s.colors, -1)
        s.route_tx[:] = lay.tx.reshape(n, s.colors, -1)
        s.sw_npos[:] = lay.sw_npos.reshape(n, s.colors)
        s.sw_ring[:] = lay.sw_ring.reshape(n, s.colors)
        s.sw_pop[:] = lay.sw_pop.reshape(n, s.colors)
        s.route_pos[:] = lay.sw_current.reshape(n, s.colors)
        for c in np.nonzero(lay.swap.reshape(n, s.colors).any(axis=0))[0]:
            s.swap[lay.swap.reshape(n, s.colors)[:, c] != 0] |= np.int64(1) << np.int64(c)
        for (fx, fy, fc), row in lay.filters.items():
            fp = fy * self.width + fx
            s.filt[fp, fc] = row
            s.filt_mask[fp] |= np.int64(1) << np.int64(fc)

        self._pes_of_code = [np.nonzero(self.code_of == i)[0] for i in range(len(self.codes))]
        self._load_tasks()
        self._load_memory()
        self._load_fifos()
        s.set_programs(self.code_of, len(self.codes), self.mem_base, self.fifo_first)
        self._static_recorded = False  # static tasks are recorded when the first run starts
        #: Run stretches where the machine only streams as schedules (decision 0004): the
        #: same cycles, memory, statistics, profile and link counters as stepping them (the
        #: visit counter ``cycles_stepped`` differs). Set False to step every cycle.
        self.stream_fast_path = True

        self._typed_views: dict[np.dtype, np.ndarray] = {}
        self.cmd_blocked = np.zeros(n, bool)  # launched function not yet complete
        self.cmd_blocked_count = 0
        self.cmd_unblocked_at = np.zeros(n, np.int64)  # cycle of each PE's last completion
        self._rpc: dict[int, list[tuple[Callable[..., Any], tuple]]] = {}
        self._rpc_name: dict[int, str] = {}
        self._pe_cache: dict[int, Any] = {}
        from .pe import PE  # here: pe.py imports this module

        self._pe_class = PE
        self._known_ops: dict[int, dict[tuple, tuple]] = {}  # by id(code), see PE._op
        self._task_tables: dict[int, dict[int, tuple[Callable[..., Any], int]]] = {}
        self.prints: list[PrintRecord] = []
        self._parked: dict[int, greenlet.greenlet] = {}
        self._loop_greenlet: greenlet.greenlet | None = None
        self._work: list[list[int]] = []
        self._work_f32: list[float] | None = None
        self._work_payloads = np.zeros(0, np.int64)
        self._work_i = 0
        # PE handles whose task finished since the last flush (a PE runs one task at a time,
        # so its handle still holds that task's end cycle and busy stretch at the flush)
        self._finished: list[Any] = []
        self._now = 0
        self._task_startup = self.arch.timing.task_startup_cycles
        self.op_startup_cycles = self.arch.timing.op_startup_cycles
        self.trace: _trace.Trace | None = None
        self._task_breaks: list[tuple[str | int, int | None]] = []
        self._skip_break: tuple[int, int] | None = None
        self.break_at: tuple[int, int, str] | None = None  # (pe, task id, name) of the last break
        self._until: Callable[[], bool] | None = None
        self.host_waiting_for: str | None = None

    # -- loading -----------------------------------------------------------------------------

    def _load_tasks(self) -> None:
        s = self.state
        for ci, code in enumerate(self.codes):
            pes = self._pes_of_code[ci]
            local = 0
            for tid, decl in code.tasks.items():
                if decl.kind == "data":
                    s.t_color_task[pes, decl.color] = tid
                    s.t_dmask[pes] |= np.int64(1) << np.int64(decl.color)
                else:
                    local |= 1 << tid
            local |= 1 << RPC_TASK_ID
            s.t_local[pes] = mask64(local)
            s.t_blocked[pes] = mask64(sum(1 << t for t in code.blocked_at_start))
            active = mask64(sum(1 << t for t in code.activated_at_start))
            if active:
                s.t_active[pes] = active
                s.wake_ces(pes)

    def _load_memory(self) -> None:
        for ci, code in enumerate(self.codes):
            pes = self._pes_of_code[ci]
            for name, values in code.inits.items():
                sym = code.symbols[name]
                view = self._typed(sym.dtype.np_dtype)
                first = (self.mem_base[pes] + sym.offset) // sym.dtype.width
                idx = first[:, None] + np.arange(sym.length)[None, :]
                view[idx] = values[None, :]

    def _load_fifos(self) -> None:
        s = self.state
        self.fifo_first = np.zeros(self.width * self.height, np.int64)
        rows = []
        base_index = s.fifos.shape[0]
        for ci, code in enumerate(self.codes):
            if not code.fifos:
                continue
            pes = self._pes_of_code[ci]
            k = len(code.fifos)
            block = np.zeros((len(pes), k, N_FIFO_FIELDS), np.int64)
            for decl in code.fifos:
                row = block[:, decl.index]
                row[:, Q_BASE] = self.mem_base[pes] + decl.buffer.offset
                row[:, Q_CAP] = decl.buffer.length
                row[:, Q_WIDTH] = decl.buffer.dtype.width
                row[:, Q_PE] = pes
                row[:, Q_WAIT_POP] = -1
                row[:, Q_WAIT_PUSH] = -1
            self.fifo_first[pes] = base_index + sum(len(r) for r in rows) + np.arange(len(pes)) * k
            rows.append(block.reshape(-1, N_FIFO_FIELDS))
        if rows:
            s.add_fifos(np.concatenate(rows))

    # -- memory access -----------------------------------------------------------------------

    def _typed(self, np_dtype: np.dtype) -> np.ndarray:
        return self.state.mem32.view(np_dtype)

    def pe_index(self, x: int, y: int) -> int:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(
                f"PE ({x}, {y}) is outside the {self.width}x{self.height} program rectangle"
            )
        return y * self.width + x

    def code_at(self, p: int) -> Code:
        return self.codes[self.code_of[p]]

    def symbol(self, p: int, name: str) -> Symbol:
        code = self.code_at(p)
        sym = code.symbols.get(name)
        if sym is None:
            x, y = p % self.width, p // self.width
            raise KeyError(
                f"PE ({x}, {y}) runs program {code.program!r}, which has no array {name!r} "
                f"(it has: {', '.join(code.symbols) or 'none'})"
            )
        return sym

    def view(self, p: int, sym: Symbol) -> np.ndarray:
        """A writable numpy view of array ``sym`` in PE ``p``'s memory."""
        w = sym.dtype.width
        first = (int(self.mem_base[p]) + sym.offset) // w
        typed = self._typed_views.get(sym.dtype.np_dtype)
        if typed is None:
            typed = self._typed_views[sym.dtype.np_dtype] = self._typed(sym.dtype.np_dtype)
        return typed[first : first + sym.length]

    def read_symbol(self, x: int, y: int, name: str) -> np.ndarray:
        """A copy of array ``name`` on PE (x, y) - for debugging, like the SDK's read_symbol."""
        p = self.pe_index(x, y)
        return self.view(p, self.symbol(p, name)).copy()

    def region_indices(
        self, name: str, x: int, y: int, w: int, h: int
    ) -> tuple[np.ndarray, Symbol]:
        """Flat element indices (into the typed arena view) of ``name`` over a region, shaped
        (h, w, length); every PE of the region must have the same array."""
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise IndexError(
                f"region at ({x}, {y}) of size {w}x{h} leaves the {self.width}x{self.height} "
                "program rectangle"
            )
        ys, xs = np.mgrid[y : y + h, x : x + w]
        pes = (ys * self.width + xs).ravel()
        codes = np.unique(self.code_of[pes])
        syms = [self.codes[c].symbols.get(name) for c in codes]
        for c, sym in zip(codes, syms, strict=True):
            if sym is None:
                bad = pes[self.code_of[pes] == c][0]
                raise KeyError(
                    f"PE ({bad % self.width}, {bad // self.width}) runs program "
                    f"{self.codes[c].program!r}, which has no array {name!r}"
                )
        first = syms[0]
        for sym in syms[1:]:
            if (sym.dtype, sym.length) != (first.dtype, first.length):
                raise TypeError(
                    f"array {name!r} differs between the programs of the region "
                    f"({first.dtype.name}[{first.length}] vs {sym.dtype.name}[{sym.length}])"
                )
        offsets = np.array([s.offset for s in syms], np.int64)
        lut = np.zeros(int(codes.max()) + 1, np.int64)
        lut[codes] = offsets
        base = (self.mem_base[pes] + lut[self.code_of[pes]]) // first.dtype.width
        idx = base[:, None] + np.arange(first.length)[None, :]
        return idx.reshape(h, w, first.length), first

    # -- PE handles ----------------------------------------------------------------------------

    def known_ops_of(self, code: Any) -> dict[tuple, tuple]:
        """The cache of checked ops shared by the PEs running ``code`` (see ``PE._op``)."""
        ops = self._known_ops.get(id(code))
        if ops is None:
            ops = self._known_ops[id(code)] = {}
        return ops

    def pe(self, p: int):
        h = self._pe_cache.get(p)
        if h is None:
            h = self._pe_cache[p] = self._pe_class(self, p)
            Engine._handles_made += 1
        return h

    # -- host-side controls ------------------------------------------------------------------

    @property
    def now(self) -> int:
        return int(self.state.clock[0])

    def activate(self, p: int, task_id: int) -> None:
        s = self.state
        s.t_active[p] |= np.int64(1) << np.int64(task_id)
        s.wake_ce(p)

    def launch(self, name: str, args: tuple, pes: np.ndarray | None = None) -> int:
        """Start exported function ``name`` on PEs ``pes`` (default: every PE whose program
        exports it) - the runtime's RPC. Each PE's command stream stays blocked until its
        function calls ``pe.unblock_cmd_stream()``. Returns the number of PEs started."""
        pes = np.arange(self.width * self.height) if pes is None else np.asarray(pes, np.int64)
        started = []
        for ci, code in enumerate(self.codes):
            fn = code.functions.get(name)
            if fn is None:
                continue
            mine = pes[self.code_of[pes] == ci]
            for p in mine.tolist():
                self._rpc.setdefault(p, []).append((fn, args))
                self._rpc_name[p] = name
            started.append(mine)
        if not started or sum(len(m) for m in started) == 0:
            known = sorted({f for c in self.codes for f in c.functions})
            raise KeyError(
                f"no PE exports a function named {name!r}; exported functions: "
                f"{', '.join(known) or 'none'}"
            )
        all_pes = np.concatenate(started)
        newly = all_pes[~self.cmd_blocked[all_pes]]
        self.cmd_blocked[all_pes] = True
        self.cmd_blocked_count += len(newly)
        s = self.state
        s.t_active[all_pes] |= np.int64(1) << np.int64(RPC_TASK_ID)
        s.wake_ces(all_pes)
        return len(all_pes)

    def unblock_cmd_stream(self, p: int, cycle: int) -> None:
        """PE ``p``'s launched function signalled completion at ``cycle``."""
        if self.cmd_blocked[p]:
            self.cmd_blocked[p] = False
            self.cmd_blocked_count -= 1
        self.cmd_unblocked_at[p] = cycle

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        *,
        until: Callable[[], bool] | None = None,
        max_cycles: int | None = None,
        waiting_for: str | None = None,
        idle_ok: bool = False,
    ) -> RunResult:
        """Advance the simulation until ``until()`` holds, the fabric is quiet, or
        ``max_cycles`` more cycles have passed. Raises :class:`StallError` (with a report) when
        the watchdog fires, or when the fabric goes quiet while ``until`` still waits."""
        from .stall import StallError, stall_report

        t0 = time.perf_counter()
        limit = self.now + max_cycles if max_cycles is not None else (1 << 62)
        self._until = until
        self._limit = limit
        self._now = self.now
        self.host_waiting_for = waiting_for
        if until is not None and until():
            return RunResult("until", self.now, 0.0, self.stats())
        host = greenlet.getcurrent()
        self._host_greenlet = host
        code = _RESPAWN
        # The cyclic garbage collector is paused while the device runs: tasks allocate
        # little that forms cycles, and its passes over the PE handles and task tables cost
        # 10-20% of a task-heavy run (measured). It runs again, and catches up, afterwards.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self.prepare()
            while code is _RESPAWN:
                # New loop greenlets are started here, from the shallow host stack: a greenlet
                # inherits the recursion depth of the one that starts it.
                self._loop_greenlet = greenlet.greenlet(self._loop, parent=host)
                code = self._loop_greenlet.switch()
        finally:
            if collecting:
                gc.enable()
        wall = time.perf_counter() - t0
        if code == "until":
            return RunResult("until", self.now, wall, self.stats())
        if code == "break":
            return RunResult("break", self.now, wall, self.stats())
        if code == EXIT_STALL:
            raise StallError(stall_report(self, "watchdog"))
        if code == EXIT_QUIET:
            # The fabric is quiet; the CEs may still be busy with their last tasks' work.
            s = self.state
            s.clock[0] = max(self.now, int(s.ce_busy.max(initial=0)))
            if (self._parked and not idle_ok) or (until is not None and not until()):
                # A task suspended in a synchronous op can never resume now.
                raise StallError(stall_report(self, "quiet"))
            return RunResult("quiet", self.now, wall, self.stats())
        return RunResult("limit", self.now, wall, self.stats())

    def _loop(self):
        s = self.state
        while True:
            if self._work_i < len(self._work):
                code = self._run_work()
                if code is not None:
                    return code
            self._flush_finished()
            if self._until is not None and self._until():
                return "until"
            s.params[P_REPLAY] = self.trace is None and not self._task_breaks
            s.params[P_STREAM] = self.stream_fast_path and self.trace is None
            code = _kernel.run_cycles(*s.kernel_args(), thread_scratch(), self._limit)
            self._now = int(s.clock[0])
            if self.trace is not None:
                _trace.flush(s, self.trace)
            if code == EXIT_TRACE:
                continue
            if code == EXIT_WORK:
                work = s.work[: int(s.work_n[0])]
                self._work = work.tolist()
                self._work_payloads = work[:, 3].copy()
                self._work_f32 = None  # made when a task of the batch takes an f32
                self._work_i = 0
                continue
            if code == EXIT_LIMIT:
                return EXIT_LIMIT
            return code

    def _run_work(self):
        """Run the batch of task starts and resumptions the kernel handed over, in its order.
        Returns a loop exit code, or None when the batch is done.

        Plain task starts (no breakpoints, no trace, not an RPC) take an inlined path with the
        (function, argument kind) from the program's task table: this loop is where the
        ``tasks`` benchmark spends its time."""
        work = self._work
        n = len(work)
        my_loop = self._loop_greenlet
        handles = self._pe_cache
        finished = self._finished
        start = self._now - 1
        cursor = start + self._task_startup
        plain = self.trace is None and not self._task_breaks
        i = self._work_i
        while i < n:
            item = work[i]
            i += 1
            self._work_i = i
            p = item[1]
            pe = handles.get(p)
            if pe is None:
                pe = self.pe(p)
            if item[0] == W_RESUME:
                g = self._parked.pop(p)
                pe._cursor = self._now
                pe._seg_start = self._now
                g.switch()
            else:
                tid = item[2]
                entry = pe._tasks.get(tid) if plain else None
                if entry is None:  # an RPC, a breakpoint or a trace: the general path
                    if self._task_breaks and self._hits_break(p, tid):
                        self._work_i = i - 1  # the task runs when the run continues
                        return "break"
                    self._run_task(p, tid, item[3], self._payload_f32(i - 1))
                else:
                    fn, arg_kind = entry
                    pe._cursor = cursor
                    pe._seg_start = start
                    try:
                        if arg_kind == _ARG_U32:
                            fn(pe, item[3])
                        elif arg_kind == _ARG_F32:
                            fn(pe, self._payload_f32(i - 1))
                        elif arg_kind == _ARG_NONE:
                            fn(pe)
                        elif arg_kind == _ARG_CTRL:
                            fn(pe, int(self.state.ctrl_data[p, tid]))
                        else:
                            fn(pe, *_payload_args(pe._code.tasks[tid], item[3]))
                    except Exception as exc:
                        self._task_failed(exc, pe, tid, fn)
                    finished.append(pe)
            if self._loop_greenlet is not my_loop:
                # This loop frame belongs to a task that blocked and has now finished: hand
                # control back to the loop that resumed it.
                greenlet.getcurrent().parent = self._loop_greenlet
                return _STALE
        return None

    def _payload_f32(self, k: int) -> float:
        """Item ``k``'s payload of the current work batch as an f32 (the batch is converted
        once, on first use)."""
        if self._work_f32 is None:
            self._work_f32 = self._work_payloads.astype(np.uint32).view(np.float32).tolist()
        return self._work_f32[k]

    def prepare(self) -> None:
        """Get the loaded programs ready to run (``run`` calls it first): hand the cycle loop
        the records of the static tasks (``Code.bind_local_task(static=True)``), which it
        replays from then on, and make the op pool large enough for every PE to start its
        static tasks at once (a replay that finds the pool or a slot short runs the task as
        plain Python instead, with the same effects). The records are made once per compiled
        layout (a compile-like step, kept in ``CompiledLayout.static_records``); later engines
        of the same layout reuse them."""
        if self._static_recorded:
            return
        self._static_recorded = True
        s = self.state
        cache = self.compiled.static_records
        rows_needed = 0
        for ci, code in enumerate(self.codes):
            pes = self._pes_of_code[ci]
            if len(pes) == 0:
                continue
            most_issues = 0
            for tid, decl in sorted(code.tasks.items()):
                if not decl.static:
                    continue
                record = cache.get((ci, tid))
                if record is None:
                    record = cache[ci, tid] = self._record_static_task(tid, decl, pes)
                most_issues = max(most_issues, s.add_script(ci, tid, record))
            rows_needed += most_issues * len(pes)
        # Bounded (256 MB of op rows): past that, replays that find the pool short run as
        # Python, which grows it only as far as the ops really in flight need.
        while int(s.op_free_n[0]) < min(rows_needed, STATIC_POOL_ROWS_MAX):
            s._grow_ops()

    def _record_static_task(self, tid: int, decl: Any, pes: np.ndarray) -> list[tuple]:
        """Record static task ``decl`` on the first and the last PE of its program without
        running it, and check that the two records match."""
        from .pe import PE, OpError, StaticTaskView

        records = []
        for p in (int(pes[0]), int(pes[-1])):
            pe = PE(self, p)
            pe._record = []
            try:
                decl.fn(StaticTaskView(pe, decl.name))
            except (TaskError, OpError):
                raise
            except Exception as exc:
                raise TaskError(
                    f"static task {decl.name!r} (id {tid}) on {pe} raised while the "
                    f"engine recorded it (as the first run starts): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            records.append((pe._record, pe))
        (first, pe0), (second, pe1) = records
        difference = _record_difference(first, second)
        if difference is not None:
            raise TaskError(
                f"static task {decl.name!r} (id {tid}) did not do the same on "
                f"{pe0} and {pe1}: {difference}. A static task must make the same "
                "builtin calls every run on every PE of its program; bind it "
                "without static=True"
            )
        return first

    def task_table_of(self, code: Code) -> dict[int, tuple[Callable[..., Any], int]]:
        """Task id -> (function, how its argument is made) for the PEs running ``code``."""
        table = self._task_tables.get(id(code))
        if table is None:
            table = self._task_tables[id(code)] = {
                tid: (decl.fn, _arg_kind(decl))
                for tid, decl in code.tasks.items()
                if tid != RPC_TASK_ID  # host-launched functions go the general path
            }
        return table

    def _task_failed(self, exc: BaseException, pe: Any, tid: int, fn: Callable[..., Any]) -> None:
        """Re-raise what a task raised: engine errors as they are, anything else as a
        :class:`TaskError` naming the task, the PE and the cycle."""
        from .pe import OpError

        if isinstance(exc, (TaskError, OpError)):
            raise exc
        decl = pe._code.tasks.get(tid) if tid != RPC_TASK_ID else None
        name = decl.name if decl else getattr(fn, "__name__", "?")
        raise TaskError(
            f"task {name!r} (id {tid}) on PE ({pe.x}, {pe.y}) raised at cycle {pe._cursor}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc

    def _run_task(self, p: int, tid: int, payload: int, payload_f32: float) -> None:
        """Start one task: the general path (RPCs, breakpoints, tracing) of ``_run_work``."""
        start = self._now - 1
        decl = None
        pe = self.pe(p)
        if tid == RPC_TASK_ID:
            fn, call_args = self._rpc[p].pop(0)
        else:
            decl = pe._code.tasks[tid]
            fn, arg_kind = pe._tasks[tid]
            if arg_kind == _ARG_NONE:
                call_args = ()
            elif arg_kind == _ARG_CTRL:
                call_args = (int(self.state.ctrl_data[p, tid]),)
            elif arg_kind == _ARG_F32:
                call_args = (payload_f32,)
            else:
                call_args = _payload_args(decl, payload)
        pe._cursor = start + self._task_startup
        pe._seg_start = start
        try:
            fn(pe, *call_args)
        except Exception as exc:
            self._task_failed(exc, pe, tid, fn)
        self._finished.append(pe)
        if self.trace is not None:
            name = decl.name if decl else self._rpc_name.get(p, "?")
            self.trace.add_task(p, tid, name, start, pe._cursor)

    def _flush_finished(self) -> None:
        """Return the CEs whose tasks finished in this batch to the picker (vectorised)."""
        finished = self._finished
        if not finished:
            return
        s = self.state
        if len(finished) == 1:
            pe = finished[0]
            finished.clear()
            s.prof[pe._p, PR_TASK_BUSY] += pe._cursor - pe._seg_start
            s.ce_busy[pe._p] = max(pe._cursor, self._now)
            s.ce_state[pe._p] = CE_IDLE
            s.wake_ce(pe._p)
            return
        n = len(finished)
        ps = np.fromiter([pe._p for pe in finished], np.int64, n)
        cs = np.fromiter([pe._cursor for pe in finished], np.int64, n)
        starts = np.fromiter([pe._seg_start for pe in finished], np.int64, n)
        # Cleared in place, never rebound: a task resumed in an older loop frame records its
        # finish through that frame's reference to this list.
        finished.clear()
        # a PE runs one task at a time: each appears once, so plain fancy indexing adds right
        s.prof[ps, PR_TASK_BUSY] += cs - starts
        s.ce_busy[ps] = np.maximum(cs, self._now)
        s.ce_state[ps] = CE_IDLE
        s.wake_ces(ps, distinct=True)

    def park_current_task(self, p: int) -> None:
        """Called by a synchronous fabric op: suspend the running task until its op completes."""
        me = greenlet.getcurrent()
        self._parked[p] = me
        pe = self.pe(p)
        self.state.prof[p, PR_TASK_BUSY] += pe._cursor - pe._seg_start
        if me is self._loop_greenlet:
            self._host_greenlet.switch(_RESPAWN)
        else:
            self._loop_greenlet.switch(_PARKED)

    # -- statistics ----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        st = self.state.stats
        names = {
            S_HOPS: "wavelet_hops",
            S_RAMP_DOWN: "ramp_down",
            S_RAMP_UP: "ramp_up",
            S_TASKS: "tasks",
            S_ELEMS: "op_elements",
            S_CYCLES_STEPPED: "cycles_stepped",
        }
        out = {v: int(st[k]) for k, v in names.items()}
        out["cycle"] = self.now
        assert len(st) == N_STATS
        return out

    def advance_to(self, cycle: int) -> None:
        """Let the device run until ``cycle`` (idle time passes if nothing is pending); tasks
        waiting on the fabric stay waiting (the host may feed them later)."""
        if cycle > self.now:
            self.run(max_cycles=cycle - self.now, idle_ok=True)
        if cycle > self.now:
            self.state.clock[0] = cycle

    def break_on_task(self, task: str | int, pe: tuple[int, int] | None = None) -> None:
        """Pause ``run()`` (reason ``"break"``) just before a task runs: ``task`` is a task
        name or id, ``pe`` an (x, y) or any PE. The task runs when the run continues."""
        self._task_breaks.append((task, None if pe is None else self.pe_index(*pe)))

    def clear_breaks(self) -> None:
        self._task_breaks.clear()

    def _hits_break(self, p: int, tid: int) -> bool:
        if self._skip_break == (p, tid):
            self._skip_break = None  # resuming from this very break
            return False
        if tid == RPC_TASK_ID:
            name = self._rpc_name.get(p, "")
        else:
            decl = self.code_at(p).tasks.get(tid)
            name = decl.name if decl else ""
        for task, where in self._task_breaks:
            if task in (tid, name) and (where is None or where == p):
                self.break_at = (p, tid, name)
                self._skip_break = (p, tid)
                return True
        return False

    def start_trace(
        self, window: _trace.TraceWindow | None = None, capacity: int = 1 << 16
    ) -> _trace.Trace:
        """Record events from now on (all PEs and cycles unless ``window`` narrows it);
        returns the :class:`~waferscale.fabric.trace.Trace` that fills as the engine runs."""
        window = window or _trace.TraceWindow()
        self.trace = _trace.Trace(self.width, self.height, window)
        _trace.configure(self.state, window, capacity)
        return self.trace

    def stop_trace(self) -> _trace.Trace | None:
        """Stop recording; returns what was recorded."""
        trace = self.trace
        if trace is not None:
            _trace.flush(self.state, trace)
        _trace.configure(self.state, None, 0)
        self.trace = None
        return trace

    def profile_counters(self) -> np.ndarray:
        """Per-PE counters (PE x [task busy cycles, op elements, sync-op wait cycles, async-op
        wait cycles]); see waferscale.fabric._layout_consts PR_*."""
        return self.state.prof.copy()

    def traffic(self) -> dict[str, Any]:
        """What actually flowed so far: ``link_out`` (PE x [N, S, E, W, RAMP-down, RAMP-up]
        wavelet counts) and the spatial-model quantities measurable from it: ``E`` (mesh hops),
        ``N`` (directed mesh links used), ``C`` (most wavelets one PE's CE received or sent),
        ``max_link_load`` (most wavelets over one directed mesh link)."""
        lo = self.state.link_out
        mesh = lo[:, :4]
        return {
            "link_out": lo.copy(),
            "E": int(mesh.sum()),
            "N": int(np.count_nonzero(mesh)),
            "C": int(max(lo[:, 4].max(initial=0), lo[:, 5].max(initial=0))),
            "max_link_load": int(mesh.max(initial=0)),
        }



def mask64(bits: int) -> np.int64:
    """A Python int of up to 64 bits as the int64 the kernel's task masks hold."""
    return np.int64(bits - (1 << 64) if bits >= 1 << 63 else bits)


def bits_to_f32(word: int) -> float:
    return struct.unpack("<f", struct.pack("<I", word & 0xFFFFFFFF))[0]


def bits_to_f16(half: int) -> float:
    return struct.unpack("<e", struct.pack("<H", half & 0xFFFF))[0]


def _arg_kind(decl: TaskDecl) -> int:
    """How a task's argument is made (``_ARG_*``)."""
    if decl.kind != "data":
        return _ARG_CTRL if decl.takes_data else _ARG_NONE
    if decl.dtype is F32_TYPE:
        return _ARG_F32
    if decl.dtype is U32_TYPE:
        return _ARG_U32
    return _ARG_OTHER


def _record_difference(a: list[tuple], b: list[tuple]) -> str | None:
    """Where two records of a static task differ (None if they are the same)."""
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        same = len(x) == len(y) and all(
            np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v
            for u, v in zip(x, y, strict=True)
        )
        if not same:
            if x[0] != y[0]:
                return f"builtin call {k + 1} was {x[0]} the first time, {y[0]} the second"
            return f"builtin call {k + 1} ({x[0]}) had other arguments the second time"
    if len(a) != len(b):
        return f"{len(a)} builtin calls the first time, {len(b)} the second"
    return None


def _payload_args(decl: TaskDecl, payload: int) -> tuple:
    dt = decl.dtype
    if dt is None or dt.name == "u32":
        return (payload,)
    if dt.name == "f32":
        return (bits_to_f32(payload),)
    if dt.name == "i32":
        return (payload - (1 << 32) if payload & 0x80000000 else payload,)
    lo = payload & 0xFFFF
    hi = (payload >> 16) & 0xFFFF
    if dt.name == "f16":
        value: Any = bits_to_f16(lo)
    elif dt.name == "i16":
        value = lo - (1 << 16) if lo & 0x8000 else lo
    else:
        value = lo
    return (value, hi) if decl.with_index else (value,)
