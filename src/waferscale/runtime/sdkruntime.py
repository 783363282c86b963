"""The host runtime: an ``SdkRuntime``-compatible API over the fabric engine.

Same names, argument order and enums as the vendor's ``cerebras.sdk.runtime.sdkruntimepybind``::

    runner = SdkRuntime("out")                   # a compiled directory or a CompiledLayout
    A = runner.get_id("A")
    runner.load(); runner.run()
    runner.memcpy_h2d(A, a, 0, 0, 2, 2, 16, streaming=False,
                      data_type=MemcpyDataType.MEMCPY_32BIT, order=MemcpyOrder.ROW_MAJOR,
                      nonblock=False)
    runner.launch("compute", 3, nonblock=False)
    runner.memcpy_d2h(out, runner.get_id("y"), 0, 0, 2, 2, 4, streaming=False, ...)
    runner.stop()

Host commands run on one command stream, in issue order (see ``docs/runtime.md``):

* every command waits until every PE's command stream is unblocked (a launched function calls
  ``pe.unblock_cmd_stream()``: the completion handshake);
* copy-mode memcpy and launch also wait until every earlier command is done;
* streaming memcpy waits until earlier copy/launch commands are done and earlier streams of the
  same direction and color are done, so streams in and out can overlap (as on the vendor's
  runtime, where a streaming h2d and d2h pair must run concurrently).

The engine only advances inside blocking calls (a blocking command, ``task_wait``,
``is_task_done``, ``stop``, ``run_cycles``). A command that can never finish raises
:class:`~waferscale.fabric.stall.StallError` with a report instead of hanging.
"""

from __future__ import annotations

import difflib
import inspect
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fabric import engine as _engine_mod
from ..fabric.stall import StallError, stall_report
from ..program.code import Code
from ..program.layout import CompiledLayout, Layout, load_compiled
from ..program.types import DType
from ._convert import (
    HostArrayError,
    MemcpyDataType,
    MemcpyOrder,
    as_data_type,
    as_order,
    check_host_array,
    host_to_tensor,
    host_words,
    tensor_to_host,
    words_to_host,
)

Engine = _engine_mod.Engine

SYMBOL_ID_BASE = 1000
"""Ids ``get_id`` gives exported symbols start here (then exported functions), so that a
color number passed where a symbol id is expected is caught."""


# -- errors -----------------------------------------------------------------------------------


class SdkRuntimeError(Exception):
    """Base class of the runtime's usage errors."""


class RuntimeUsageError(SdkRuntimeError, ValueError):
    """A host call with a bad argument (region, size, elem_per_pe, color, state...)."""


class UnknownNameError(SdkRuntimeError, LookupError):
    """``get_id`` / ``launch`` / ``read_symbol`` of a name the program does not have."""


class LaunchArgumentError(SdkRuntimeError, TypeError):
    """``launch`` / ``call`` with the wrong number or types of arguments."""


class SymbolNotExportedError(RuntimeUsageError):
    """memcpy into or out of an array that the program does not export."""


class MemcpyArrayError(RuntimeUsageError, HostArrayError):
    """A host array of the wrong size, dtype or writability."""


# -- ids --------------------------------------------------------------------------------------


class SymbolId(int):
    """What ``get_id`` returns for an exported symbol: an int id that also knows its name."""

    name: str
    kind = "symbol"

    def __new__(cls, value: int, name: str):
        obj = super().__new__(cls, value)
        obj.name = name
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)}, {self.name!r})"


class FunctionId(SymbolId):
    """What ``get_id`` returns for an exported function (``launch`` accepts it)."""

    kind = "function"


class ColorId(SymbolId):
    """What ``get_id`` returns for a named color: equal to the color number."""

    kind = "color"


# -- handles ----------------------------------------------------------------------------------


class CommandHandle:
    """A host command on the command stream (the vendor's ``Task``): returned by every memcpy
    and launch; wait for it with ``runner.task_wait(handle)``.

    Timing: ``issued_cycle`` (device cycle when the host issued it), ``start_cycle`` (when its
    turn on the command stream came), ``end_cycle`` (when it finished); ``device_cycles`` is
    ``end_cycle - start_cycle``. ``host_time_s`` is a model of the host-side cost on the real
    machine (``arch.system``: per-transaction overhead + bytes over the runtime's host channels);
    the simulator does not charge it to the device.
    """

    def __init__(
        self, runtime: SdkRuntime, index: int, kind: str, description: str, nonblock: bool
    ):
        self._runtime = runtime
        self.index = index
        self.kind = kind
        self.description = description
        self.nonblock = nonblock
        self.issued_cycle = runtime._now()
        self.start_cycle: int | None = None
        self.end_cycle: int | None = None
        self.host_time_s = 0.0
        self.done = False

    @property
    def started(self) -> bool:
        return self.start_cycle is not None

    @property
    def device_cycles(self) -> int | None:
        if self.start_cycle is None or self.end_cycle is None:
            return None
        return self.end_cycle - self.start_cycle

    def __repr__(self) -> str:
        state = "done" if self.done else ("running" if self.started else "queued")
        return f"<command #{self.index} {self.description} ({state})>"

    # Internals, specialised per kind.
    def _start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _poll(self) -> bool:
        return self.done

    def _finish(self) -> None:
        pass

    def _waiting_on(self) -> str:
        return "to finish"


Task = CommandHandle
"""The vendor's name for a command handle."""


class _CopyCmd(CommandHandle):
    def __init__(self, rt, index, kind, description, nonblock, action: Callable[[], None]):
        super().__init__(rt, index, kind, description, nonblock)
        self._action = action

    def _start(self) -> None:
        self._action()
        self.done = True


class _LaunchCmd(CommandHandle):
    def __init__(self, rt, index, description, nonblock, name: str, args: tuple):
        super().__init__(rt, index, "launch", description, nonblock)
        self.name = name
        self.args = args
        self.pes = np.zeros(0, np.int64)

    def _start(self) -> None:
        eng = self._runtime.engine
        pes = self._runtime._pes_with_function(self.name)
        eng.launch(self.name, self.args, pes)
        self.pes = pes

    def _poll(self) -> bool:
        # Launches start only when no PE is blocked, so the blocked PEs are this launch's.
        return self._runtime._blocked_count() == 0

    def _finish(self) -> None:
        if len(self.pes):
            self.model_end = int(self._runtime.engine.cmd_unblocked_at[self.pes].max())

    def _waiting_on(self) -> str:
        blocked = self.pes[np.asarray(self._runtime.engine.cmd_blocked)[self.pes]]
        return (
            f"{self.name!r} to call pe.unblock_cmd_stream() on {len(blocked)} PE(s)"
            if len(blocked)
            else "to finish"
        )


class _StreamCmd(CommandHandle):
    """A streaming memcpy: one host-port record per PE (columns pe, color, pos, end, active)."""

    def __init__(
        self,
        rt,
        index,
        kind,
        description,
        nonblock,
        color: int,
        pes: np.ndarray,
        data: np.ndarray,
        per_pe: int,
        inbound: bool,
    ):
        super().__init__(rt, index, kind, description, nonblock)
        self.inbound = inbound
        self.color = color
        self.pes = pes
        self.data = data  # uint32 payloads, per_pe per PE in PE order
        k = len(pes)
        rows = np.zeros((k, 5), np.int64)
        rows[:, 0] = pes
        rows[:, 1] = color
        rows[:, 2] = np.arange(k, dtype=np.int64) * per_pe
        rows[:, 3] = rows[:, 2] + per_pe
        rows[:, 4] = 1
        self.rows = rows  # positions relative to self.data
        self.slot: tuple[int, int, np.ndarray, int] | None = None  # r0, r1, row ids, data0
        self.on_done: Callable[[], None] | None = None

    def _start(self) -> None:
        rt = self._runtime
        if not self.inbound:
            s = rt.engine.state
            s.o_host[self.pes] |= np.int64(1) << np.int64(self.color)
        rt._streams.append(self)
        rt._install_streams()

    def _poll(self) -> bool:
        if self.slot is None:
            return not self.rows[:, 4].any()
        s = self._runtime.engine.state
        table = s.inj if self.inbound else s.drn
        r0, r1, _ids, _d0 = self.slot
        return not table[r0:r1, 4].any()

    def _finish(self) -> None:
        rt = self._runtime
        rt._install_streams(drop=self)
        if not self.inbound:
            s = rt.engine.state
            bit = np.int64(1) << np.int64(self.color)
            s.o_host[self.pes] &= ~bit
            for p in self.pes[s.o_count[self.pes, self.color] > 0].tolist():
                s.wake_router(int(p))
        if self.on_done is not None:
            self.on_done()

    def _waiting_on(self) -> str:
        left = int((self.rows[:, 3] - self.rows[:, 2]).sum())
        if self.slot is not None:
            s = self._runtime.engine.state
            table = s.inj if self.inbound else s.drn
            r0, r1, _ids, _d0 = self.slot
            left = int((table[r0:r1, 3] - table[r0:r1, 2]).sum())
        verb = "to deliver" if self.inbound else "to receive"
        return f"{verb} {left} more wavelet(s) on color {self.color}"


# -- the runtime --------------------------------------------------------------------------------


class SdkRuntime:
    """Host runtime of one compiled program (the vendor's ``SdkRuntime``).

    ``bindir`` is a directory written by ``Layout.compile(out_dir)``, a ``CompiledLayout`` or a
    ``Layout`` (compiled here). The vendor's keyword arguments (``cmaddr``,
    ``suppress_simfab_trace``, ``msg_level``, ...) are accepted and ignored. Simulator options:

    * ``max_cycles``: a blocking call that has not finished after this many device cycles raises
      :class:`StallError` (default ``None``: rely on the engine's watchdog and quiet detection).
    * ``poll_cycles``: how far ``is_task_done`` advances the device per call (default 1000).
    * ``work_max``: passed to :class:`~waferscale.fabric.engine.Engine`.
    """

    def __init__(
        self,
        bindir: str | Path | CompiledLayout | Layout,
        cmaddr: str | None = None,
        suppress_simfab_trace: bool = True,
        *,
        max_cycles: int | None = None,
        poll_cycles: int = 1000,
        work_max: int | None = None,
        **kwargs: Any,
    ):
        if isinstance(bindir, Layout):
            bindir = bindir.compile()
        if isinstance(bindir, CompiledLayout):
            self.compiled = bindir
        elif isinstance(bindir, str | Path):
            self.compiled = load_compiled(bindir)
        else:
            raise RuntimeUsageError(
                f"SdkRuntime needs a compiled directory, a CompiledLayout or a Layout, got "
                f"{type(bindir).__name__}"
            )
        self.cmaddr = cmaddr
        self.suppress_simfab_trace = suppress_simfab_trace
        self.options = dict(kwargs)
        self.max_cycles = max_cycles
        self.poll_cycles = int(poll_cycles)
        self._work_max = work_max
        lay = self.compiled.layout
        self.width = lay.width
        self.height = lay.height
        self.arch = self.compiled.arch
        self._engine: Engine | None = None
        self._state = "created"  # created -> loaded -> running -> stopped
        self._pending: deque[CommandHandle] = deque()
        self._active: list[CommandHandle] = []
        self._streams: list[_StreamCmd] = []
        self._failure: Exception | None = None  # the last error a blocking call raised
        self._end_all = 0  # latest end cycle of any finished command
        self._end_sync = 0  # latest end cycle of a finished copy or launch
        self.commands: list[CommandHandle] = []

        exported = self.compiled.exported_symbols()
        self._symbol_names = list(exported)
        self._function_names = self.compiled.exported_functions()
        self._ids: dict[str, SymbolId] = {}
        for i, name in enumerate(self._symbol_names):
            self._ids[name] = SymbolId(SYMBOL_ID_BASE + i, name)
        base = SYMBOL_ID_BASE + len(self._symbol_names)
        for j, name in enumerate(self._function_names):
            self._ids.setdefault(name, FunctionId(base + j, name))
        self._by_id = {int(v): v for v in self._ids.values()}
        self._functions_of: dict[str, list[tuple[Code, Callable[..., Any]]]] = {}
        for code in self.compiled.codes:
            for name, fn in code.functions.items():
                self._functions_of.setdefault(name, []).append((code, fn))
        self._pes_of_fn: dict[str, np.ndarray] = {}

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        """Build the simulated machine from the compiled layout (the vendor's load)."""
        if self._state != "created":
            raise RuntimeUsageError(f"load() was already called (runtime is {self._state})")
        eng = Engine(self.compiled, work_max=self._work_max)
        self._engine = eng
        self._state = "loaded"

    def run(self) -> None:
        """Start the device: from here host commands are accepted. The simulation advances
        while the host waits (blocking commands, ``task_wait``, ``stop``, ``run_cycles``);
        tasks the programs activate at start run then."""
        if self._state == "created":
            raise RuntimeUsageError("run() before load(): call runner.load() first")
        if self._state != "loaded":
            raise RuntimeUsageError(f"run() was already called (runtime is {self._state})")
        self._state = "running"

    def stop(self) -> None:
        """Wait for every queued command to finish, then close the command stream. After a
        host command failed (a StallError or a task error), stop() does not wait again: it
        drops the unfinished commands and closes, so it is safe in a ``finally:`` block."""
        if self._state == "running" and self._failure is None:
            try:
                while self._pending or self._active:
                    last = (self._pending or self._active)[-1]
                    self._wait(last)
            finally:
                self._state = "stopped"
        self._state = "stopped"

    def __enter__(self) -> SdkRuntime:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None and self._state == "running":
            self.stop()

    @property
    def engine(self) -> Engine:
        """The simulator (:class:`waferscale.fabric.engine.Engine`), for advanced use."""
        if self._engine is None:
            raise RuntimeUsageError("the engine exists after load(): call runner.load() first")
        return self._engine

    @property
    def now(self) -> int:
        """The current device cycle."""
        return self._now()

    def _now(self) -> int:
        return self._engine.now if self._engine is not None else 0

    def _need_running(self, what: str) -> None:
        if self._state == "created":
            raise RuntimeUsageError(f"{what}: call runner.load() and runner.run() first")
        if self._state == "loaded":
            raise RuntimeUsageError(f"{what}: call runner.run() first")
        if self._state == "stopped":
            raise RuntimeUsageError(f"{what}: the runtime was stopped (runner.stop())")

    # -- names ------------------------------------------------------------------------------

    def get_id(self, name: str) -> SymbolId:
        """The id of an exported symbol (for memcpy), of an exported function (for launch), or
        a named color (``Layout.color(name, c)``; the id equals ``c``, for streaming memcpy).
        Symbols win over functions, functions over colors."""
        if not isinstance(name, str):
            raise UnknownNameError(f"get_id takes a name (str), got {name!r}")
        if name in self._ids:
            return self._ids[name]
        colors = self.compiled.layout.color_names
        if name in colors:
            return ColorId(colors[name], name)
        hint = ""
        for code in self.compiled.codes:
            if name in code.symbols:
                hint = (
                    f" Program {code.program!r} declares an array {name!r} but does not export "
                    f"it: declare it with c.array({name!r}, ..., export=True)."
                )
                break
        raise UnknownNameError(
            f"get_id({name!r}): no exported symbol, exported function or named color is called "
            f"{name!r}{_did_you_mean(name, [*self._ids, *colors])}. Exported symbols: "
            f"{_list(self._symbol_names)}; functions: {_list(self._function_names)}; colors: "
            f"{_list(colors)}.{hint}"
        )

    # -- memcpy -----------------------------------------------------------------------------

    def memcpy_h2d(
        self,
        dest,
        src,
        px: int,
        py: int,
        w: int,
        h: int,
        elem_per_pe: int,
        streaming: bool = False,
        data_type=MemcpyDataType.MEMCPY_32BIT,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock: bool = False,
    ) -> CommandHandle:
        """Host -> device. Copy mode (``streaming=False``): write ``elem_per_pe`` elements of
        exported symbol ``dest`` on every PE of the region. Streaming mode: deliver them as
        wavelets of color ``dest`` into each PE's input queue."""
        return self._h2d(
            "memcpy_h2d",
            dest,
            src,
            px,
            py,
            w,
            h,
            elem_per_pe,
            streaming,
            data_type,
            order,
            nonblock,
            None,
        )

    def memcpy_h2d_rowbcast(
        self,
        dest,
        src,
        px: int,
        py: int,
        w: int,
        h: int,
        elem_per_pe: int,
        streaming: bool = False,
        data_type=MemcpyDataType.MEMCPY_32BIT,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock: bool = False,
    ) -> CommandHandle:
        """Row broadcast: ``src`` holds one column of the region, ``h * elem_per_pe`` elements
        (the (h, 1, elem_per_pe) tensor); every PE of row ``j`` receives entry ``j``."""
        return self._h2d(
            "memcpy_h2d_rowbcast",
            dest,
            src,
            px,
            py,
            w,
            h,
            elem_per_pe,
            streaming,
            data_type,
            order,
            nonblock,
            "row",
        )

    def memcpy_h2d_colbcast(
        self,
        dest,
        src,
        px: int,
        py: int,
        w: int,
        h: int,
        elem_per_pe: int,
        streaming: bool = False,
        data_type=MemcpyDataType.MEMCPY_32BIT,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock: bool = False,
    ) -> CommandHandle:
        """Column broadcast: ``src`` holds one row of the region, ``w * elem_per_pe`` elements
        (the (1, w, elem_per_pe) tensor); every PE of column ``i`` receives entry ``i``."""
        return self._h2d(
            "memcpy_h2d_colbcast",
            dest,
            src,
            px,
            py,
            w,
            h,
            elem_per_pe,
            streaming,
            data_type,
            order,
            nonblock,
            "col",
        )

    def memcpy_d2h(
        self,
        dest,
        src,
        px: int,
        py: int,
        w: int,
        h: int,
        elem_per_pe: int,
        streaming: bool = False,
        data_type=MemcpyDataType.MEMCPY_32BIT,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock: bool = False,
    ) -> CommandHandle:
        """Device -> host into array ``dest``. Copy mode: read ``elem_per_pe`` elements of
        exported symbol ``src`` on every PE of the region. Streaming mode: collect
        ``elem_per_pe`` wavelets per PE that the PEs send on color ``src``."""
        what = "memcpy_d2h"
        self._need_running(what)
        data_type = _enum(what, as_data_type, data_type)
        order = _enum(what, as_order, order)
        px, py, w, h, e = self._region(what, px, py, w, h, elem_per_pe)
        tensor = (h, w, e)
        arr = _host(what, dest, h * w * e, tensor, data_type, writable=True)
        region = f"({px}, {py}) {w}x{h}"
        index = len(self.commands)
        if streaming:
            color = self._color(what, src)
            pes = _region_pes(self.width, px, py, w, h)
            desc = f"{what} streaming from color {color} over {region}, {e} per PE"
            cmd = _StreamCmd(
                self,
                index,
                what,
                desc,
                nonblock,
                color,
                pes,
                np.zeros(h * w * e, np.uint32),
                e,
                inbound=False,
            )

            def deliver(cmd=cmd):
                vals = words_to_host(cmd.data.reshape(tensor), arr.dtype, data_type)
                tensor_to_host(vals, arr, order)

            cmd.on_done = deliver
        else:
            name = self._symbol(what, src, streaming)
            sym = self._check_symbol_region(what, name, px, py, w, h, e, data_type)

            def action():
                idx, _ = self.engine.region_indices(name, px, py, w, h)
                raw = self.engine.state.mem32 if sym.dtype.width == 4 else self.engine.state.mem16
                vals = words_to_host(raw[idx[:, :, :e]], arr.dtype, data_type)
                tensor_to_host(vals, arr, order)

            desc = f"{what} of {name!r} over {region}, {e} per PE"
            cmd = _CopyCmd(self, index, what, desc, nonblock, action)
        cmd.host_time_s = self._host_time(h * w * e)
        return self._issue(cmd)

    def _h2d(
        self,
        what,
        dest,
        src,
        px,
        py,
        w,
        h,
        elem_per_pe,
        streaming,
        data_type,
        order,
        nonblock,
        bcast,
    ) -> CommandHandle:
        self._need_running(what)
        data_type = _enum(what, as_data_type, data_type)
        order = _enum(what, as_order, order)
        px, py, w, h, e = self._region(what, px, py, w, h, elem_per_pe)
        host_shape = {None: (h, w, e), "row": (h, 1, e), "col": (1, w, e)}[bcast]
        n_host = host_shape[0] * host_shape[1] * host_shape[2]
        arr = _host(what, src, n_host, host_shape, data_type)
        words = host_words(host_to_tensor(arr, host_shape, order), data_type)
        words = np.broadcast_to(words, (h, w, e))
        region = f"({px}, {py}) {w}x{h}"
        index = len(self.commands)
        if streaming:
            color = self._color(what, dest)
            pes = _region_pes(self.width, px, py, w, h)
            payload = np.ascontiguousarray(words, dtype=np.uint32).reshape(-1)
            desc = f"{what} streaming to color {color} over {region}, {e} per PE"
            cmd: CommandHandle = _StreamCmd(
                self, index, what, desc, nonblock, color, pes, payload, e, inbound=True
            )
        else:
            name = self._symbol(what, dest, streaming)
            sym = self._check_symbol_region(what, name, px, py, w, h, e, data_type)
            values = np.array(words)  # a private copy: the host may reuse its array

            def action():
                idx, _ = self.engine.region_indices(name, px, py, w, h)
                raw = self.engine.state.mem32 if sym.dtype.width == 4 else self.engine.state.mem16
                raw[idx[:, :, :e]] = values

            desc = f"{what} of {name!r} over {region}, {e} per PE"
            cmd = _CopyCmd(self, index, what, desc, nonblock, action)
        cmd.host_time_s = self._host_time(n_host)
        return self._issue(cmd)

    # -- launch -----------------------------------------------------------------------------

    def launch(self, name, *args, nonblock: bool = False) -> CommandHandle:
        """Run exported function ``name`` with scalar ``args`` on every PE whose program exports
        it. It is done when every such PE called ``pe.unblock_cmd_stream()``; a blocking launch
        waits for that."""
        return self._launch("launch", name, args, nonblock, words=False)

    def call(
        self, name, args: Sequence[Any] | np.ndarray = (), nonblock: bool = False
    ) -> CommandHandle:
        """The vendor's lower-level launch: ``args`` is a sequence of scalars (or a uint32
        array of packed words: a word meant for a float parameter is reinterpreted as f32)."""
        if not isinstance(args, Sequence | np.ndarray) or isinstance(args, str):
            raise LaunchArgumentError(
                f"call({name!r}, args): args must be a list/tuple/array of scalars, got "
                f"{args!r}: use call({name!r}, [{args!r}]) or launch({name!r}, {args!r})"
            )
        words = isinstance(args, np.ndarray) and args.dtype == np.uint32
        return self._launch(
            "call",
            name,
            tuple(np.asarray(args).ravel().tolist())
            if isinstance(args, np.ndarray)
            else tuple(args),
            nonblock,
            words,
        )

    def _launch(self, what, name, args, nonblock, words) -> CommandHandle:
        self._need_running(what)
        if isinstance(name, SymbolId) and not isinstance(name, FunctionId):
            raise UnknownNameError(
                f"{what}({name!r}): {name.name!r} is a {name.kind}, not an exported function; "
                f"exported functions: {_list(self._function_names)}"
            )
        if isinstance(name, int) and not isinstance(name, str):
            fid = self._by_id.get(int(name))
            if not isinstance(fid, FunctionId):
                raise UnknownNameError(
                    f"{what}({name!r}): not the id of an exported function; exported functions: "
                    f"{_list(self._function_names)}"
                )
            name = fid.name
        if not isinstance(name, str) or name not in self._functions_of:
            raise UnknownNameError(
                f"{what}({name!r}): no program exports a function named {name!r}"
                f"{_did_you_mean(str(name), self._function_names)}; exported functions: "
                f"{_list(self._function_names)} (export one with c.export(fn))"
            )
        checked = None
        for _code, fn in self._functions_of[name]:
            checked = _check_args(what, name, fn, args, words)
        desc = f"{what} {name}({', '.join(repr(a) for a in checked)})"
        cmd = _LaunchCmd(self, len(self.commands), desc, nonblock, name, checked)
        cmd.kind = what
        cmd.host_time_s = self.arch.system.host_transaction_overhead_s
        return self._issue(cmd)

    def _pes_with_function(self, name: str) -> np.ndarray:
        pes = self._pes_of_fn.get(name)
        if pes is None:
            eng = self.engine
            codes = [i for i, c in enumerate(eng.codes) if name in c.functions]
            pes = np.nonzero(np.isin(eng.code_of, codes))[0].astype(np.int64)
            self._pes_of_fn[name] = pes
        return pes

    # -- handles ----------------------------------------------------------------------------

    def task_wait(self, handle: CommandHandle) -> None:
        """Run the device until command ``handle`` (and everything issued before it) is done."""
        self._check_handle("task_wait", handle)
        self._wait(handle)

    def is_task_done(self, handle: CommandHandle) -> bool:
        """Whether ``handle`` is done; if not, advance the device by up to ``poll_cycles``
        cycles first (so a polling loop makes progress). Raises :class:`StallError` when the
        command can never finish."""
        self._check_handle("is_task_done", handle)
        if not handle.done and self._state == "running":
            self._advance(handle, self.poll_cycles)
        return handle.done

    def _check_handle(self, what: str, handle) -> None:
        if not isinstance(handle, CommandHandle) or handle._runtime is not self:
            raise RuntimeUsageError(
                f"{what}: {handle!r} is not a command handle of this runtime (memcpy_* and "
                "launch return one)"
            )

    # -- debugging --------------------------------------------------------------------------

    def read_symbol(self, x: int, y: int, name: str, dtype: Any = None) -> np.ndarray:
        """A copy of array ``name`` (exported or not) on PE (x, y), in its element type (or
        viewed as ``dtype``): for debugging; does not advance the device."""
        eng = self.engine
        p = self._pe("read_symbol", x, y)
        code = eng.code_at(p)
        sym = code.symbols.get(name)
        if sym is None:
            raise UnknownNameError(
                f"read_symbol: PE ({x}, {y}) runs program {code.program!r}, which has no array "
                f"{name!r}{_did_you_mean(name, list(code.symbols))} (it has: "
                f"{_list(code.symbols)})"
            )
        out = eng.view(p, sym).copy()
        return out.view(dtype) if dtype is not None else out

    def dump_symbols(self, x: int, y: int) -> dict[str, np.ndarray]:
        """Every array of PE (x, y) by name (copies): a core dump for debugging."""
        eng = self.engine
        p = self._pe("dump_symbols", x, y)
        return {n: eng.view(p, s).copy() for n, s in eng.code_at(p).symbols.items()}

    def run_cycles(self, cycles: int | None = None):
        """Advance the device by ``cycles`` cycles, or until the fabric is quiet (``None``),
        without issuing a command (a simulator extension). Returns the engine's RunResult."""
        self._need_running("run_cycles")
        self._pump()
        return self.engine.run(max_cycles=cycles, waiting_for=None)

    # -- command stream ---------------------------------------------------------------------

    def _issue(self, cmd: CommandHandle) -> CommandHandle:
        self.commands.append(cmd)
        self._pending.append(cmd)
        self._pump()
        if not cmd.nonblock:
            self._wait(cmd)
        return cmd

    def _blocked_count(self) -> int:
        """How many PEs have not unblocked the command stream."""
        return self.engine.cmd_blocked_count

    def _may_start(self, cmd: CommandHandle) -> bool:
        if self._blocked_count():
            return False
        if not isinstance(cmd, _StreamCmd):
            return not self._active
        for other in self._active:
            if not isinstance(other, _StreamCmd):
                return False
            if other.inbound == cmd.inbound and other.color == cmd.color:
                return False
        return True

    def _pump(self) -> bool:
        """Retire finished commands and start queued ones whose turn came. Returns whether
        anything changed."""
        changed = False
        for cmd in list(self._active):
            if cmd._poll():
                self._retire(cmd)
                changed = True
        while self._pending and self._may_start(self._pending[0]):
            cmd = self._pending.popleft()
            after = self._end_all if not isinstance(cmd, _StreamCmd) else self._end_sync
            cmd.start_cycle = max(self._now(), after)
            if isinstance(cmd, _LaunchCmd):
                # A launch is a barrier: it starts when the previous commands ended on the
                # device, not when the host noticed; let the device run up to that cycle.
                self.engine.advance_to(cmd.start_cycle)
            self._active.append(cmd)
            cmd._start()
            changed = True
            if cmd._poll():
                self._retire(cmd)
        return changed

    def _retire(self, cmd: CommandHandle) -> None:
        self._active.remove(cmd)
        cmd._finish()
        end = max(self._now(), cmd.start_cycle or 0)
        if isinstance(cmd, _CopyCmd):
            end = cmd.start_cycle or 0  # copy mode takes no device cycles
        elif getattr(cmd, "model_end", None) is not None:
            end = max(cmd.start_cycle or 0, cmd.model_end)
        cmd.end_cycle = end
        cmd.done = True
        self._end_all = max(self._end_all, end)
        if not isinstance(cmd, _StreamCmd):
            self._end_sync = max(self._end_sync, end)

    def _waiting_text(self, cmd: CommandHandle) -> str:
        text = f"{cmd.description} (command #{cmd.index}, issued at cycle {cmd.issued_cycle})"
        if cmd.started:
            return f"{text}: waiting for it {cmd._waiting_on()}"
        eng = self.engine
        if self._blocked_count():
            n = self._blocked_count()
            names = sorted(
                {
                    eng._rpc_name.get(int(p), "?")
                    for p in np.nonzero(eng.cmd_blocked)[0][:64].tolist()
                }
            )
            return (
                f"{text}: not started, the command stream is blocked until launched "
                f"function(s) {', '.join(map(repr, names))} call pe.unblock_cmd_stream() "
                f"({n} PE(s) have not)"
            )
        ahead = [c for c in self._active if c is not cmd]
        if ahead:
            return (
                f"{text}: not started, waiting for earlier command "
                f"#{ahead[0].index} {ahead[0].description} {ahead[0]._waiting_on()}"
            )
        return f"{text}: not started"

    def _wait(self, cmd: CommandHandle) -> None:
        self._advance(cmd, None)
        if not cmd.done:  # pragma: no cover - _advance raises instead
            raise AssertionError(f"{cmd!r} not done")

    def _advance(self, cmd: CommandHandle, budget: int | None) -> None:
        """Run the engine until ``cmd`` is done (``budget``: at most that many cycles)."""
        try:
            self._advance_inner(cmd, budget)
        except Exception as exc:
            self._failure = exc
            raise

    def _advance_inner(self, cmd: CommandHandle, budget: int | None) -> None:
        eng = self.engine
        poll_end = None if budget is None else eng.now + budget
        hard_end = None if self.max_cycles is None else eng.now + self.max_cycles
        while True:
            self._pump()
            if cmd.done:
                return
            if hard_end is not None and eng.now >= hard_end:
                eng.host_waiting_for = self._waiting_text(cmd)
                raise StallError(stall_report(eng, "limit"))
            if poll_end is not None and eng.now >= poll_end:
                return  # a polling slice ran out: not an error
            ends = [t for t in (poll_end, hard_end) if t is not None]
            left = min(ends) - eng.now if ends else None
            # until() returns True whenever the command stream changed (a command started or
            # finished), so that run() never reports "quiet" for a fabric the pump just woke.
            try:
                eng.run(
                    until=lambda: self._pump() or cmd.done,
                    waiting_for=self._waiting_text(cmd),
                    max_cycles=left,
                )
            except StallError as exc:
                # Rebuild the report with what the host waits for *now* (the text given to
                # run() was written before the fabric moved).
                eng.host_waiting_for = self._waiting_text(cmd)
                raise StallError(stall_report(eng, exc.report.reason)) from None

    # -- stream records ---------------------------------------------------------------------

    def _install_streams(self, drop: _StreamCmd | None = None) -> None:
        """Rebuild the engine's host-port tables from the active streams (only their active
        rows), after copying the kernel's progress back into each stream."""
        s = self.engine.state
        for inbound in (True, False):
            table = s.inj if inbound else s.drn
            buf = s.inj_data if inbound else s.drn_data
            for cmd in self._streams:
                if cmd.inbound != inbound or cmd.slot is None:
                    continue
                r0, r1, ids, d0 = cmd.slot
                cmd.rows[ids, 2] = table[r0:r1, 2] - d0
                cmd.rows[ids, 4] = table[r0:r1, 4]
                if not inbound:
                    cmd.data[:] = buf[d0 : d0 + len(cmd.data)]
                cmd.slot = None
        if drop is not None and drop in self._streams:
            self._streams.remove(drop)
        for inbound in (True, False):
            rows, datas = [], []
            r = d = 0
            for cmd in self._streams:
                if cmd.inbound != inbound:
                    continue
                ids = np.nonzero(cmd.rows[:, 4])[0]
                part = cmd.rows[ids].copy()
                part[:, 2:4] += d
                cmd.slot = (r, r + len(ids), ids, d)
                rows.append(part)
                datas.append(cmd.data)
                r += len(ids)
                d += len(cmd.data)
            table = np.concatenate(rows) if rows else np.zeros((0, 5), np.int64)
            buf = np.concatenate(datas).astype(np.uint32) if datas else np.zeros(1, np.uint32)
            if len(buf) == 0:
                buf = np.zeros(1, np.uint32)
            if inbound:
                s.inj, s.inj_data = np.ascontiguousarray(table), buf
            else:
                s.drn, s.drn_data = np.ascontiguousarray(table), buf

    # -- validation -------------------------------------------------------------------------

    def _pe(self, what: str, x, y) -> int:
        if not _is_int(x) or not _is_int(y):
            raise RuntimeUsageError(f"{what}: PE coordinates must be integers, got ({x!r}, {y!r})")
        x, y = int(x), int(y)
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise RuntimeUsageError(
                f"{what}: PE ({x}, {y}) is outside the {self.width}x{self.height} program "
                f"rectangle (x 0..{self.width - 1}, y 0..{self.height - 1})"
            )
        return y * self.width + x

    def _region(self, what, px, py, w, h, e) -> tuple[int, int, int, int, int]:
        for label, v in (("px", px), ("py", py), ("w", w), ("h", h), ("elem_per_pe", e)):
            if not _is_int(v):
                raise RuntimeUsageError(f"{what}: {label} must be an integer, got {v!r}")
        px, py, w, h, e = int(px), int(py), int(w), int(h), int(e)
        if w <= 0 or h <= 0:
            raise RuntimeUsageError(f"{what}: the region size w x h = {w}x{h} must be positive")
        if e <= 0:
            raise RuntimeUsageError(f"{what}: elem_per_pe = {e} must be positive")
        if px < 0 or py < 0 or px + w > self.width or py + h > self.height:
            bad_x = px if px < 0 else (px + w - 1 if px + w > self.width else px)
            bad_y = py if py < 0 else (py + h - 1 if py + h > self.height else py)
            raise RuntimeUsageError(
                f"{what}: the region at (px, py) = ({px}, {py}) of size {w}x{h} reaches PE "
                f"({bad_x}, {bad_y}), outside the {self.width}x{self.height} program rectangle "
                f"(x 0..{self.width - 1}, y 0..{self.height - 1}): keep px + w <= {self.width} "
                f"and py + h <= {self.height}"
            )
        return px, py, w, h, e

    def _symbol(self, what: str, ref, streaming: bool) -> str:
        """Resolve a copy-mode memcpy target to a symbol name."""
        if isinstance(ref, ColorId):
            raise RuntimeUsageError(
                f"{what}: {ref.name!r} is a color (id {int(ref)}); copy mode needs an exported "
                "symbol: pass streaming=True to stream on this color"
            )
        if isinstance(ref, FunctionId):
            raise RuntimeUsageError(
                f"{what}: {ref.name!r} is an exported function, not a symbol: use launch() to "
                "run it"
            )
        if isinstance(ref, SymbolId):
            return ref.name
        if isinstance(ref, str):
            return ref
        if _is_int(ref):
            sid = self._by_id.get(int(ref))
            if isinstance(sid, SymbolId) and sid.kind == "symbol":
                return sid.name
            raise RuntimeUsageError(
                f"{what}: {int(ref)} is not a symbol id (get_id returns symbol ids from "
                f"{SYMBOL_ID_BASE}: exported symbols {_list(self._symbol_names)}); to stream on "
                f"color {int(ref)} pass streaming=True"
            )
        raise RuntimeUsageError(
            f"{what}: the symbol must be an id from get_id() or a name, got {ref!r}"
        )

    def _color(self, what: str, ref) -> int:
        """Resolve a streaming target to a color number."""
        colors = self.compiled.layout.color_names
        if isinstance(ref, SymbolId) and not isinstance(ref, ColorId):
            raise RuntimeUsageError(
                f"{what}: streaming=True needs a color, but {ref.name!r} is an exported "
                f"{ref.kind}: pass streaming=False to copy into the symbol, or a color (a number "
                f"or a name from Layout.color; named colors: {_list(colors)})"
            )
        if isinstance(ref, str):
            if ref not in colors:
                raise UnknownNameError(
                    f"{what}: no color is named {ref!r}{_did_you_mean(ref, list(colors))}; named "
                    f"colors: {_list(colors)} (name one with Layout.color(name, c))"
                )
            return int(colors[ref])
        if not _is_int(ref):
            raise RuntimeUsageError(f"{what}: streaming needs a color (int or name), got {ref!r}")
        c = int(ref)
        n = self.arch.router.colors
        if not 0 <= c < n:
            raise RuntimeUsageError(
                f"{what}: color {c} is out of range: colors are 0..{n - 1} on {self.arch.name}"
            )
        return c

    def _check_symbol_region(self, what, name, px, py, w, h, e, data_type):
        """Every PE of the region must export ``name`` with the same type and room for ``e``
        elements, of the width ``data_type`` says."""
        eng = self.engine
        pes = _region_pes(self.width, px, py, w, h)
        codes, where = np.unique(eng.code_of[pes], return_index=True)
        first = None
        for ci, wi in zip(codes.tolist(), where.tolist(), strict=True):
            code = eng.codes[ci]
            p = int(pes[wi])
            at = f"PE ({p % self.width}, {p // self.width})"
            sym = code.symbols.get(name)
            if sym is None:
                known = [n for n, s in code.symbols.items() if s.export]
                raise SymbolNotExportedError(
                    f"{what}: {at} runs program {code.program!r}, which has no symbol {name!r}"
                    f"{_did_you_mean(name, known)} (it exports: {_list(known)}): choose a region "
                    f"whose PEs all declare {name!r}"
                )
            if not sym.export:
                raise SymbolNotExportedError(
                    f"{what}: symbol {name!r} on {at} (program {code.program!r}) is not "
                    f"exported: declare it with c.array({name!r}, {sym.dtype.name!r}, "
                    f"{sym.length}, export=True)"
                )
            if first is None:
                first = sym
            elif (sym.dtype, sym.length) != (first.dtype, first.length):
                raise RuntimeUsageError(
                    f"{what}: symbol {name!r} differs between the programs of the region "
                    f"({first.dtype.name}[{first.length}] vs {sym.dtype.name}[{sym.length}] on "
                    f"{at}): copy each part with its own memcpy"
                )
        assert first is not None
        if e > first.length:
            raise RuntimeUsageError(
                f"{what}: elem_per_pe = {e} but symbol {name!r} holds {first.length} "
                f"{first.dtype.name} elements per PE: use elem_per_pe <= {first.length}"
            )
        width = 16 if data_type == MemcpyDataType.MEMCPY_16BIT else 32
        if first.dtype.width * 8 != width:
            right = "MEMCPY_16BIT" if first.dtype.width == 2 else "MEMCPY_32BIT"
            raise RuntimeUsageError(
                f"{what}: symbol {name!r} holds {first.dtype.name} ({first.dtype.width * 8}-bit) "
                f"elements but data_type is MEMCPY_{width}BIT: use "
                f"data_type=MemcpyDataType.{right}"
            )
        return first

    def _host_time(self, words: int) -> float:
        sysp = self.arch.system
        bits_per_s = sysp.runtime_host_channels * sysp.host_channel_bits_per_s
        return sysp.host_transaction_overhead_s + words * 32 / bits_per_s


# -- helpers ------------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _list(names) -> str:
    names = list(names)
    return ", ".join(names) if names else "none"


def _did_you_mean(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _enum(what, conv, value):
    try:
        return conv(value)
    except HostArrayError as exc:
        raise RuntimeUsageError(f"{what}: {exc}") from None


def _host(what, arr, size, tensor, data_type, writable=False) -> np.ndarray:
    try:
        return check_host_array(what, arr, size, tensor, data_type, writable=writable)
    except HostArrayError as exc:
        raise MemcpyArrayError(str(exc)) from None


def _region_pes(width: int, px: int, py: int, w: int, h: int) -> np.ndarray:
    ys, xs = np.mgrid[py : py + h, px : px + w]
    return (ys * width + xs).ravel().astype(np.int64)


_INT_RANGES = {
    "int": (-(1 << 31), (1 << 32) - 1),
    "i32": (-(1 << 31), (1 << 31) - 1),
    "u32": (0, (1 << 32) - 1),
    "i16": (-(1 << 15), (1 << 15) - 1),
    "u16": (0, (1 << 16) - 1),
}


def _param_kind(annotation) -> str | None:
    """'int', 'float', 'bool', a DType name, or None (unannotated / unknown)."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, DType):
        return annotation.name
    if annotation in (int, float, bool):
        return annotation.__name__
    if isinstance(annotation, str):
        a = annotation.strip().strip("'\"")
        if a in ("int", "float", "bool", "f32", "f16", "i32", "u32", "i16", "u16"):
            return a
        if a.startswith(("np.", "numpy.")):
            a = a.split(".", 1)[1]
        return {
            "float32": "f32",
            "float16": "f16",
            "int32": "i32",
            "uint32": "u32",
            "int16": "i16",
            "uint16": "u16",
        }.get(a)
    if isinstance(annotation, type) and issubclass(annotation, np.generic):
        return {
            np.float32: "f32",
            np.float16: "f16",
            np.int32: "i32",
            np.uint32: "u32",
            np.int16: "i16",
            np.uint16: "u16",
        }.get(annotation)
    return None


def _check_args(what: str, name: str, fn: Callable[..., Any], args: tuple, words: bool) -> tuple:
    """Check ``args`` against ``fn(pe, ...)``'s signature; return them as Python scalars in the
    form the device sees (floats rounded to f32, ints checked to fit 32 bits)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return tuple(args)
    params = list(sig.parameters.values())[1:]  # after pe
    var = any(p.kind == p.VAR_POSITIONAL for p in params)
    fixed = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in fixed if p.default is p.empty]
    shown = ", ".join(p.name for p in fixed) or "no arguments"
    sig_text = f"{name}(pe{''.join(', ' + p.name for p in fixed)})"
    if len(args) < len(required) or (not var and len(args) > len(fixed)):
        want = (
            f"{len(required)}"
            if len(required) == len(fixed) or var
            else f"{len(required)} to {len(fixed)}"
        )
        if var:
            want = f"at least {len(required)}"
        raise LaunchArgumentError(
            f"{what}({name!r}): {sig_text} takes {want} argument(s) ({shown}) after pe, got "
            f"{len(args)}: pass them as {what}({name!r}, "
            f"{', '.join(p.name for p in fixed) or '...'})"
        )
    out = []
    for i, value in enumerate(args):
        p = fixed[i] if i < len(fixed) else None
        pname = p.name if p is not None else f"*{i}"
        kind = _param_kind(p.annotation) if p is not None else None
        label = f"{what}({name!r}): argument {pname!r} (#{i + 1})"
        if isinstance(value, np.generic):
            value = value.item()
        if words and kind in ("float", "f32") and isinstance(value, int):
            value = float(np.uint32(value & 0xFFFFFFFF).view(np.float32))
        if words and kind == "f16" and isinstance(value, int):
            value = float(np.uint16(value & 0xFFFF).view(np.float16))
        if words and kind in ("i32", "i16") and isinstance(value, int):
            bits = 32 if kind == "i32" else 16
            value &= (1 << bits) - 1
            value -= (1 << bits) if value >> (bits - 1) else 0
        if not isinstance(value, int | float | bool):
            raise LaunchArgumentError(
                f"{label} must be a scalar (int, float or bool), got {type(value).__name__} "
                f"{value!r}: host-launched functions take scalar arguments only; move arrays "
                "with memcpy_h2d"
            )
        if kind in ("float", "f32", "f16"):
            if isinstance(value, bool):
                raise LaunchArgumentError(f"{label} is annotated {kind}, got bool {value!r}")
            value = float(np.float16(value) if kind == "f16" else np.float32(value))
        elif kind == "bool":
            if not isinstance(value, bool | int) or isinstance(value, float):
                raise LaunchArgumentError(f"{label} is annotated bool, got {value!r}")
            value = bool(value)
        elif kind is not None:  # an integer kind
            if isinstance(value, float):
                raise LaunchArgumentError(
                    f"{label} is annotated {kind}, got float {value!r}: pass an int (e.g. "
                    f"{int(value)!r}) or annotate the parameter float"
                )
            lo, hi = _INT_RANGES.get(kind, _INT_RANGES["int"])
            if not lo <= int(value) <= hi:
                raise LaunchArgumentError(
                    f"{label} = {value} does not fit {kind} ({lo}..{hi}): arguments travel as "
                    "32-bit words"
                )
            value = int(value)
        else:  # unannotated: any 32-bit scalar
            if isinstance(value, float):
                value = float(np.float32(value))
            elif not isinstance(value, bool):
                lo, hi = _INT_RANGES["int"]
                if not lo <= value <= hi:
                    raise LaunchArgumentError(
                        f"{label} = {value} does not fit 32 bits: arguments travel as 32-bit words"
                    )
        out.append(value)
    return tuple(out)
