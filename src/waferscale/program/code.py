"""PE programs: what one tile's code declares (the Python face of a CSL file).

A program is a Python function ``def my_program(c: Code, **params)`` whose body plays the role of
a CSL file's top level: it declares arrays (``c.array``), FIFOs, tasks and exported functions.
Task bodies are nested functions taking the PE handle ``pe`` first; they run on the simulator and
call the vector builtins on ``pe`` (``pe.fadds(...)``, ``pe.activate(...)``, ...).

The layout calls the program once per distinct set of params and shares the result between all
tiles that use it, so a uniform program on the full wafer is built once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dsd import FifoDecl, Symbol
from .encoding import TEARDOWN_TASK_ID
from .types import DType, dtype_of


class ProgramError(ValueError):
    """A PE program declares something invalid (message names the program and the item)."""


@dataclass
class TaskDecl:
    """A task bound to an id: ``kind`` is 'data', 'local' or 'control'."""

    fn: Callable[..., Any]
    kind: str  # 'data', 'local', 'control' or 'teardown'
    task_id: int
    color: int | None = None  # data tasks: the color whose wavelets start it
    dtype: DType | None = None  # data tasks: how the 32-bit payload is presented
    with_index: bool = False  # 16-bit data tasks: (value, index) arguments
    takes_data: bool = False  # control tasks: fn(pe, data) with the wavelet's low 16 bits
    queue: int | None = None  # WSE-3 data tasks bound with bind_data_task_to_queue
    static: bool = False  # local tasks: the same builtin calls every run (see bind_local_task)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


@dataclass
class Code:
    """The declarations of one PE program instance (one program function + one param set)."""

    program: str
    params: dict[str, Any]
    symbols: dict[str, Symbol] = field(default_factory=dict)
    inits: dict[str, np.ndarray] = field(default_factory=dict)
    fifos: list[FifoDecl] = field(default_factory=list)
    tasks: dict[int, TaskDecl] = field(default_factory=dict)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    blocked_at_start: set[int] = field(default_factory=set)
    activated_at_start: set[int] = field(default_factory=set)
    # WSE-3 queue declarations, in declaration order: (queue id, color). A queue declared twice
    # with two colors is kept as two entries so that compilation can name the rule it breaks.
    input_queue_decls: list[tuple[int, int]] = field(default_factory=list)
    output_queue_decls: list[tuple[int, int]] = field(default_factory=list)
    _next_offset: int = 0

    # -- memory ------------------------------------------------------------------------------

    def array(
        self,
        name: str,
        dtype: DType | str,
        length: int,
        *,
        export: bool = False,
        init: Any = None,
    ) -> Symbol:
        """Declare ``var name: [length]dtype`` (``export=True`` makes it a host-visible symbol,
        the SDK's ``@export_symbol``). ``init`` is a scalar or an array of ``length`` values."""
        dt = dtype_of(dtype)
        if not isinstance(length, int | np.integer) or int(length) <= 0:
            raise ProgramError(
                f"program {self.program!r}: array {name!r} needs a positive integer length, "
                f"got {length!r}"
            )
        if name in self.symbols:
            raise ProgramError(f"program {self.program!r}: array {name!r} is declared twice")
        length = int(length)
        offset = (self._next_offset + 3) & ~3  # 32-bit alignment for every array
        sym = Symbol(name, dt, length, offset, export)
        self._next_offset = offset + sym.nbytes
        self.symbols[name] = sym
        if init is not None:
            values = np.broadcast_to(np.asarray(init, dtype=dt.np_dtype), (length,)).copy()
            self.inits[name] = values
        return sym

    def fifo(self, buffer: Symbol, name: str | None = None) -> FifoDecl:
        """The SDK's ``@allocate_fifo(buffer)``: a circular buffer over an array."""
        if buffer.name not in self.symbols or self.symbols[buffer.name] is not buffer:
            raise ProgramError(
                f"program {self.program!r}: fifo buffer {buffer!r} is not an array of this program"
            )
        decl = FifoDecl(name or f"fifo_{buffer.name}", buffer, len(self.fifos))
        self.fifos.append(decl)
        return decl

    @property
    def memory_bytes(self) -> int:
        return (self._next_offset + 3) & ~3

    # -- tasks -------------------------------------------------------------------------------

    def _bind(self, decl: TaskDecl) -> None:
        if decl.task_id in self.tasks:
            other = self.tasks[decl.task_id]
            raise ProgramError(
                f"program {self.program!r}: task id {decl.task_id} is bound twice "
                f"({other.kind} task {other.name!r} and {decl.kind} task {decl.name!r}); "
                "give each task its own id"
            )
        self.tasks[decl.task_id] = decl

    def bind_data_task(
        self,
        fn: Callable[..., Any],
        color: int,
        *,
        dtype: DType | str = "u32",
        with_index: bool = False,
        task_id: int | None = None,
    ) -> Callable[..., Any]:
        """Bind ``fn(pe, value)`` to the wavelets of ``color`` (the SDK's ``@bind_data_task``).
        ``dtype`` says how the payload is presented (u32/i32/f32: the whole word; u16/i16/f16:
        the low half); ``with_index=True`` passes ``fn(pe, value, index)`` with the high half.
        On WSE-2 the data task id is the color; ``task_id`` overrides that (WSE-3: an input
        queue id)."""
        tid = int(color) if task_id is None else int(task_id)
        self._bind(TaskDecl(fn, "data", tid, int(color), dtype_of(dtype), with_index))
        return fn

    def bind_data_task_to_queue(
        self,
        fn: Callable[..., Any],
        queue: int,
        *,
        dtype: DType | str = "u32",
        with_index: bool = False,
    ) -> Callable[..., Any]:
        """WSE-3: bind ``fn(pe, value)`` to input queue ``queue`` (the SDK's
        ``@bind_data_task(task, input_queue)``); the task id is the queue id and the color is
        the one declared with :meth:`input_queue` (before or after this call)."""
        q = int(queue)
        decl = TaskDecl(fn, "data", q, self.input_queues.get(q), dtype_of(dtype), with_index,
                        queue=q)
        self._bind(decl)
        return fn

    # -- WSE-3 queues ------------------------------------------------------------------------

    def input_queue(self, queue: int, color: int) -> int:
        """Declare that input queue ``queue`` receives ``color`` (the SDK's WSE-3
        ``@initialize_queue(@get_input_queue(q), .{ .color = color })``). Returns ``queue``."""
        q, col = int(queue), int(color)
        self.input_queue_decls.append((q, col))
        for decl in self.tasks.values():
            if decl.kind == "data" and decl.queue == q and decl.color is None:
                decl.color = col
        return q

    def output_queue(self, queue: int, color: int) -> int:
        """Declare that output queue ``queue`` sends on ``color`` (WSE-3: an output queue is
        bound to one color). Returns ``queue``."""
        self.output_queue_decls.append((int(queue), int(color)))
        return int(queue)

    @property
    def input_queues(self) -> dict[int, int]:
        """Declared input queues: queue id -> color (the first declaration wins)."""
        out: dict[int, int] = {}
        for q, col in self.input_queue_decls:
            out.setdefault(q, col)
        return out

    @property
    def output_queues(self) -> dict[int, int]:
        """Declared output queues: queue id -> color (the first declaration wins)."""
        out: dict[int, int] = {}
        for q, col in self.output_queue_decls:
            out.setdefault(q, col)
        return out

    def bind_local_task(
        self, fn: Callable[..., Any], task_id: int, *, static: bool = False
    ) -> Callable[..., Any]:
        """Bind ``fn(pe)`` to a local task id, started by ``pe.activate(id)``.

        ``static=True`` declares that the task makes the same builtin calls with the same
        arguments every time it runs, on every PE running this program - like CSL code over
        comptime-known DSDs: synchronous memory-only and asynchronous streaming vector ops,
        ``activate`` / ``block`` / ``unblock``, ``spend`` and ``store_timestamp``, nothing that
        reads memory, the clock or the PE's position. The engine records its runs on two PEs,
        checks that they match, and from then on replays the record inside the compiled cycle
        loop without calling Python (same cycles, same results). A static task that uses
        anything else raises an error naming it."""
        self._bind(TaskDecl(fn, "local", int(task_id), static=bool(static)))
        return fn

    def bind_control_task(self, fn: Callable[..., Any], task_id: int) -> Callable[..., Any]:
        """Bind a control task: started by a control wavelet whose payload names ``task_id``
        (bits 16..20). ``fn(pe)``, or ``fn(pe, data)`` to receive the wavelet's low 16 bits."""
        takes_data = len(inspect.signature(fn).parameters) >= 2
        self._bind(TaskDecl(fn, "control", int(task_id), takes_data=takes_data))
        return fn

    def bind_teardown_task(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Run ``fn(pe)`` when a control wavelet tears down a color of this PE's router (the
        SDK's teardown handler). It may re-route (``pe.set_route``) and must re-open each torn
        color with ``pe.exit_teardown(color)``. Uses the reserved task id 29."""
        self._bind(TaskDecl(fn, "teardown", TEARDOWN_TASK_ID))
        return fn

    def data_task(
        self, color: int, **kw: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`bind_data_task`."""
        return lambda fn: self.bind_data_task(fn, color, **kw)

    def local_task(
        self, task_id: int, *, static: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`bind_local_task`."""
        return lambda fn: self.bind_local_task(fn, task_id, static=static)

    def control_task(self, task_id: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`bind_control_task`."""
        return lambda fn: self.bind_control_task(fn, task_id)

    def block(self, task: int | Callable[..., Any]) -> None:
        """Start with a task blocked (the SDK's comptime ``@block``): an id or a bound task."""
        self.blocked_at_start.add(self.task_id_of(task))

    def activate(self, task: int | Callable[..., Any]) -> None:
        """Start with a task activated (it runs as soon as the program is loaded)."""
        self.activated_at_start.add(self.task_id_of(task))

    def export(self, fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
        """Export a host-callable function (the SDK's ``@export_symbol(fn)``); the host starts
        it with ``SdkRuntime.launch(name, *args)``. It must call ``pe.unblock_cmd_stream()``."""
        key = name or fn.__name__
        if key in self.functions or key in self.symbols:
            raise ProgramError(f"program {self.program!r}: {key!r} is exported twice")
        self.functions[key] = fn
        return fn

    def task_id_of(self, fn_or_id: Any) -> int:
        if isinstance(fn_or_id, int | np.integer):
            return int(fn_or_id)
        for tid, decl in self.tasks.items():
            if decl.fn is fn_or_id:
                return tid
        raise ProgramError(
            f"program {self.program!r}: {getattr(fn_or_id, '__name__', fn_or_id)!r} is not a "
            "bound task: bind it with bind_local_task/bind_data_task/bind_control_task first"
        )


def build_code(program: Callable[..., Any], params: dict[str, Any]) -> Code:
    """Run a program function with its params and return its declarations."""
    name = getattr(program, "__qualname__", repr(program))
    code = Code(name, dict(params))
    # Check the params against the signature first: a TypeError raised inside the program's
    # body (an unknown dtype, a bug) is the program's own error, not a params mismatch.
    try:
        sig = inspect.signature(program)
    except (TypeError, ValueError):  # no signature to check (a builtin or C callable)
        sig = None
    if sig is not None:
        try:
            sig.bind(code, **params)
        except TypeError as exc:
            raise ProgramError(
                f"program {name!r} called with params {sorted(params)}: {exc}"
            ) from exc
    program(code, **params)
    return code
