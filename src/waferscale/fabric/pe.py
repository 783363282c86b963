"""The PE handle passed to every task: the SDK's builtins under their SDK names.

``pe.fadds(dst, src0, src1)`` is the SDK's ``@fadds(dst, src0, src1)``; options the SDK writes as
``.{ .async = true, .activate = t }`` are keyword arguments ``async_=True, activate=t``.
Operands are DSDs (:mod:`waferscale.program.dsd`) or Python scalars.

Timing: a task starts ``timing.task_startup_cycles`` after it is picked. A vector op over memory
only costs ``timing.op_startup_cycles + ceil(length / simd_width)`` cycles and its result is
computed at issue (numpy, bit-exact through the same element functions as the kernel). An op with
a fabric or FIFO operand streams through the compiled kernel one element per cycle; a synchronous
one suspends the task until it completes; an asynchronous one runs on a microthread and then
activates or unblocks a task.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from ..program.control import ADVANCE, control_payload
from ..program.dsd import FabinDSD, FaboutDSD, FifoDSD, MemDSD, MemScalar, Symbol
from ..program.layout import port_mask
from ._issue import ISSUE_POOL_FULL, issue_op
from ._layout_consts import (
    CE_RUNNING,
    CE_SUSPENDED,
    F_AA,
    F_AK,
    F_AW,
    F_BA,
    F_BK,
    F_BW,
    F_CODE,
    F_CTRL,
    F_DA,
    F_DK,
    F_DW,
    F_FUSED,
    F_ISSUED,
    F_LEN,
    F_ON_DONE,
    F_PE,
    F_SCALAR,
    F_SLOT,
    F_START,
    F_TAIL,
    F_TASK,
    K_FABIN,
    K_FABOUT,
    K_FIFO,
    K_MEM,
    K_NONE,
    K_SCALAR,
    N_OP_FIELDS,
    ON_ACTIVATE,
    ON_NONE,
    ON_RESUME,
    ON_UNBLOCK,
)
from ._memops import MP_SCALAR, MP_SCALAR_AT, memory_op_packed, pack_memory
from ._numerics import ELEM_INFO, ElemOp
from .engine import mask64

_F32 = struct.Struct("<f")  # a Python float packed as f32 ...
_U32 = struct.Struct("<I")  # ... and its bits read back

# Operand classes as tuples: ``isinstance(d, A | B)`` builds a union object on every call.
_VECTOR_OPERANDS = (MemDSD, FabinDSD, FaboutDSD, FifoDSD)
_COUNTED_OPERANDS = (MemDSD, FifoDSD)
_FABRIC_OPERANDS = (FabinDSD, FaboutDSD)
_SCALAR_OPERANDS = (int, float, np.number)
_CACHED_OPERANDS = frozenset({MemDSD, FabinDSD, FaboutDSD, type(None)})
MAX_KNOWN_OPS = 4096
"""Entries in one program's cache of checked ops. A program that builds new DSD objects for
every op (identity keys that never recur) stops adding entries there; its ops take the
checking path, with the same results."""

STATIC_CONTROL = frozenset({"activate", "block", "unblock", "spend", "store_timestamp", "params"})
"""What a static task may use besides the vector builtins."""

_TYPED_MOVES = {"fmovs": "f32", "fmovh": "f16"}  # moves that check a float type
_NP_OF = {"float16": "f16", "float32": "f32", "int16": "i16", "uint16": "u16", "int32": "i32",
          "uint32": "u32"}


class OpError(ValueError):
    """A vector builtin was given operands it cannot take; the message names the PE and op."""


class StaticTaskView:
    """What a static task's function receives while the engine records it (see
    ``Code.bind_local_task(static=True)``): the PE's builtins that do the same thing every
    run. Anything else - reading memory, the clock, the PE's position, printing, router
    changes - raises an error naming it, because a replayed record could not repeat it."""

    __slots__ = ("_pe", "_task")

    def __init__(self, pe: PE, task: str):
        self._pe = pe
        self._task = task

    def __getattr__(self, name: str) -> Any:
        if name in STATIC_BUILTINS:
            return getattr(self._pe, name)
        raise OpError(
            f"{self._pe}: static task {self._task!r} uses pe.{name}: a static task may only "
            f"call {', '.join(sorted(STATIC_CONTROL))} and the vector builtins; bind it "
            "without static=True to use it"
        )

    def __getitem__(self, sym: Any) -> Any:
        raise OpError(
            f"{self._pe}: static task {self._task!r} reads memory "
            f"(pe[{getattr(sym, 'name', sym)!r}]): a static task "
            "cannot depend on memory; use a builtin (store_timestamp for time stamps) or bind "
            "it without static=True"
        )

    def __repr__(self) -> str:
        return repr(self._pe)


class PE:
    """One processing element as seen from a running task."""

    __slots__ = (
        "_engine", "_p", "x", "y", "_code", "_cursor", "_seg_start", "_views", "_known_ops",
        "_base", "_fifo_first", "_tasks", "_record",
    )  # fmt: skip

    def __init__(self, engine, p: int):
        self._engine = engine
        self._p = p
        self.x = p % engine.width
        self.y = p // engine.width
        self._code = engine.code_at(p)
        self._cursor = 0
        self._seg_start = 0  # cycle the CE's current stretch of task work began
        self._views: dict[Symbol | str, np.ndarray] = {}
        # ops this PE's program issued before, checked: synchronous memory-only ops by
        # (op, dst, src0, src1) identity, streaming ops by value (see _op)
        self._known_ops: dict[tuple, tuple] = engine.known_ops_of(self._code)
        self._base = int(engine.mem_base[p])  # byte address of this PE's memory in the arena
        self._fifo_first = int(engine.fifo_first[p])  # row of this PE's first FIFO
        self._tasks = engine.task_table_of(self._code)  # task id -> (function, argument kind)
        # While the engine records a static task on this handle: the builtins' actions, which
        # are recorded and not done (see Engine.prepare). None otherwise.
        self._record: list[tuple] | None = None

    def __repr__(self) -> str:
        return f"PE({self.x}, {self.y})"

    # -- params, memory, time --------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """The tile's compile-time params."""
        return self._code.params

    def __getitem__(self, sym: Symbol | str) -> np.ndarray:
        """A writable numpy view of one of this PE's arrays: ``pe[A][i] = 1.0``."""
        view = self._views.get(sym)
        if view is None:
            resolved = self._engine.symbol(self._p, sym) if isinstance(sym, str) else sym
            view = self._views[sym] = self._engine.view(self._p, resolved)
        return view

    def timestamp(self) -> int:
        """The PE's cycle counter (the SDK's ``time`` module), wrapped to the spec's width."""
        return self._cursor & ((1 << self._engine.arch.timing.cycle_counter_bits) - 1)

    def timestamp_words(self) -> tuple[int, int, int]:
        """The cycle counter as three 16-bit words, low first - what the SDK's time module
        stores into a ``[3]u16`` array."""
        t = self.timestamp()
        return (t & 0xFFFF, (t >> 16) & 0xFFFF, (t >> 32) & 0xFFFF)

    def print(self, *args: Any) -> None:
        """Print from the PE into the simulation log, stamped with the cycle."""
        from .engine import PrintRecord

        msg = " ".join(str(a) for a in args)
        self._engine.prints.append(PrintRecord(self._cursor, self.x, self.y, msg))

    def spend(self, cycles: int) -> None:
        """Account ``cycles`` of scalar work the task does between builtins."""
        self._cursor += int(cycles)
        if self._record is not None:
            self._record.append(("spend", int(cycles)))

    def store_timestamp(self, sym: Symbol | str, index: int = 0) -> None:
        """Store the cycle counter in memory: into element ``index`` of a ``u32`` / ``i32``
        array (the counter's low 32 bits), or as three 16-bit words from element ``index`` of a
        ``u16`` / ``i16`` array, low word first (what the SDK's ``get_timestamp`` writes). Unlike
        ``pe[sym][i] = pe.timestamp()``, static tasks may use it."""
        resolved = self._engine.symbol(self._p, sym) if isinstance(sym, str) else sym
        bits = resolved.dtype.width * 8
        words = 1 if bits == 32 else 3
        if resolved.dtype.name not in ("u32", "i32", "u16", "i16"):
            raise OpError(
                f"{self}: store_timestamp into {resolved.name!r} of type {resolved.dtype.name}: "
                "use a u32 array (one word) or a u16 array (three words)"
            )
        if not 0 <= int(index) <= resolved.length - words:
            raise OpError(
                f"{self}: store_timestamp at element {index} of {resolved.name!r} (length "
                f"{resolved.length}) needs {words} element(s) there"
            )
        if self._record is not None:
            kind = "stamp32" if bits == 32 else "stamp16x3"
            self._record.append((kind, resolved.offset + int(index) * resolved.dtype.width))
            return
        t = self._cursor & ((1 << self._engine.arch.timing.cycle_counter_bits) - 1)
        view = self._engine.view(self._p, resolved).view(np.uint32 if bits == 32 else np.uint16)
        if bits == 32:
            view[int(index)] = t & 0xFFFFFFFF
        else:
            view[int(index) : int(index) + 3] = (t & 0xFFFF, (t >> 16) & 0xFFFF, t >> 32)

    # -- task control ----------------------------------------------------------------------

    def _tid(self, task: Any) -> int:
        return self._code.task_id_of(task)

    def activate(self, task: Any) -> None:
        """The SDK's ``@activate(task_id)``."""
        tid = self._tid(task)
        if self._record is not None:
            self._record.append(("activate", tid))
        else:
            self._engine.activate(self._p, tid)

    def block(self, task: Any) -> None:
        """The SDK's ``@block(task_id)``."""
        s = self._engine.state
        tid = self._tid(task)
        if self._record is not None:
            self._record.append(("block", tid))
        else:
            s.t_blocked[self._p] |= mask64(1 << tid)

    def unblock(self, task: Any) -> None:
        """The SDK's ``@unblock(task_id)``."""
        s = self._engine.state
        tid = self._tid(task)
        if self._record is not None:
            self._record.append(("unblock", tid))
        else:
            s.t_blocked[self._p] &= ~mask64(1 << tid)
            s.wake_ce(self._p)

    # -- runtime router configuration (the SDK's tile-configuration operations) -------------

    def _color(self, color: int) -> int:
        nc = self._engine.arch.router.colors
        if not 0 <= int(color) < nc:
            raise OpError(f"{self}: color {color} outside 0..{nc - 1}")
        return int(color)

    def set_route(self, color: int, rx, tx, position: int = 0) -> None:
        """Reconfigure this PE's own router: ``color`` at switch ``position`` accepts from
        ``rx`` and sends to ``tx`` from now on."""
        s = self._engine.state
        c = self._color(color)
        if not 0 <= position < s.route_rx.shape[2]:
            raise OpError(
                f"{self}: switch position {position} outside 0..{s.route_rx.shape[2] - 1}"
            )
        s.route_rx[self._p, c, position] = port_mask(rx, "rx port")
        s.route_tx[self._p, c, position] = port_mask(tx, "tx port")
        s.wake_router(self._p)

    def set_switch_position(self, color: int, position: int) -> None:
        """Move ``color``'s switch of this PE's router to ``position``."""
        s = self._engine.state
        c = self._color(color)
        if not 0 <= position < int(s.sw_npos[self._p, c]):
            raise OpError(
                f"{self}: color {c} has {int(s.sw_npos[self._p, c])} switch positions, "
                f"not {position}"
            )
        s.route_pos[self._p, c] = position
        s.wake_router(self._p)

    def switch_position(self, color: int) -> int:
        """The current switch position of ``color`` at this PE's router."""
        return int(self._engine.state.route_pos[self._p, self._color(color)])

    def is_torn_down(self, color: int) -> bool:
        """Was ``color`` torn down at this PE's router by a control wavelet?"""
        return bool((int(self._engine.state.torn[self._p]) >> self._color(color)) & 1)

    def exit_teardown(self, color: int) -> None:
        """Re-open a torn-down color: the router routes it again (with its current routes)."""
        s = self._engine.state
        s.torn[self._p] &= ~mask64(1 << self._color(color))
        s.wake_router(self._p)

    def bind_input_queue(self, queue: int, color: int) -> None:
        """WSE-3: re-bind input queue ``queue`` - and the data task bound to it - to ``color``
        from now on (the SDK's run-time queue configuration). Wavelets already waiting stay
        with their old color; flush them first with :meth:`flush_input_queue` if needed."""
        s = self._engine.state
        new = self._color(color)
        decl = self._code.tasks.get(int(queue))
        if decl is None or decl.kind != "data" or decl.queue != int(queue):
            raise OpError(
                f"{self}: no data task is bound to input queue {queue}: bind one with "
                "Code.bind_data_task_to_queue(fn, queue) first"
            )
        p = self._p
        old = [c for c in range(s.colors) if int(s.t_color_task[p, c]) == int(queue)]
        for c in old:
            s.t_color_task[p, c] = -1
            s.t_dmask[p] &= ~mask64(1 << c)
        if int(s.t_color_task[p, new]) >= 0:
            raise OpError(
                f"{self}: color {new} already feeds data task {int(s.t_color_task[p, new])}"
            )
        s.t_color_task[p, new] = int(queue)
        s.t_dmask[p] |= mask64(1 << new)
        s.wake_ce(p)

    def flush_input_queue(self, color: int) -> int:
        """Drop every wavelet waiting in the input queue of ``color`` (WSE-3 queue flush);
        returns how many were dropped."""
        s = self._engine.state
        c = self._color(color)
        n = int(s.i_count[self._p, c])
        heads = (int(s.i_head[self._p, c]) + np.arange(n)) % s.caps.input_queue
        s.i_nctrl[self._p] -= int(s.i_ctrl[self._p, c, heads].astype(bool).sum())
        s.i_count[self._p, c] = 0
        s.i_mask[self._p] &= ~mask64(1 << c)
        return n

    def unblock_cmd_stream(self) -> None:
        """Signal the host that the launched function is done (memcpy's completion
        handshake); until then later host commands wait."""
        self._engine.unblock_cmd_stream(self._p, self._cursor)

    # -- vector builtins -----------------------------------------------------------------------

    def mov16(self, dst, src, **opts: Any) -> None:
        """16-bit move."""
        self._op("mov16", ElemOp.MOV16, dst, src, None, None, opts)

    def mov32(self, dst, src, **opts: Any) -> None:
        """32-bit move."""
        self._op("mov32", ElemOp.MOV32, dst, src, None, None, opts)

    def fmovs(self, dst, src, **opts: Any) -> None:
        """f32 move."""
        self._op("fmovs", ElemOp.MOV32, dst, src, None, None, opts)

    def fmovh(self, dst, src, **opts: Any) -> None:
        """f16 move."""
        self._op("fmovh", ElemOp.MOV16, dst, src, None, None, opts)

    def fadds(self, dst, a, b, **opts: Any) -> None:
        """f32 ``dst = a + b``."""
        self._op("fadds", ElemOp.FADDS, dst, a, b, None, opts)

    def fsubs(self, dst, a, b, **opts: Any) -> None:
        """f32 ``dst = a - b``."""
        self._op("fsubs", ElemOp.FSUBS, dst, a, b, None, opts)

    def fmuls(self, dst, a, b, **opts: Any) -> None:
        """f32 ``dst = a * b``."""
        self._op("fmuls", ElemOp.FMULS, dst, a, b, None, opts)

    def fmacs(self, dst, a, b, scalar, **opts: Any) -> None:
        """f32 ``dst = a + b * scalar``."""
        self._op("fmacs", ElemOp.FMACS, dst, a, b, scalar, opts)

    def fnegs(self, dst, a, **opts: Any) -> None:
        """f32 ``dst = -a``."""
        self._op("fnegs", ElemOp.FNEGS, dst, a, None, None, opts)

    def fabss(self, dst, a, **opts: Any) -> None:
        """f32 ``dst = |a|``."""
        self._op("fabss", ElemOp.FABSS, dst, a, None, None, opts)

    def fmaxs(self, dst, a, b, **opts: Any) -> None:
        """f32 ``dst = max(a, b)``."""
        self._op("fmaxs", ElemOp.FMAXS, dst, a, b, None, opts)

    def faddh(self, dst, a, b, **opts: Any) -> None:
        """f16 ``dst = a + b``."""
        self._op("faddh", ElemOp.FADDH, dst, a, b, None, opts)

    def fsubh(self, dst, a, b, **opts: Any) -> None:
        """f16 ``dst = a - b``."""
        self._op("fsubh", ElemOp.FSUBH, dst, a, b, None, opts)

    def fmulh(self, dst, a, b, **opts: Any) -> None:
        """f16 ``dst = a * b``."""
        self._op("fmulh", ElemOp.FMULH, dst, a, b, None, opts)

    def fmach(self, dst, a, b, scalar, **opts: Any) -> None:
        """f16 ``dst = a + b * scalar``."""
        self._op("fmach", ElemOp.FMACH, dst, a, b, scalar, opts)

    def fnegh(self, dst, a, **opts: Any) -> None:
        """f16 ``dst = -a``."""
        self._op("fnegh", ElemOp.FNEGH, dst, a, None, None, opts)

    def fabsh(self, dst, a, **opts: Any) -> None:
        """f16 ``dst = |a|``."""
        self._op("fabsh", ElemOp.FABSH, dst, a, None, None, opts)

    def fmaxh(self, dst, a, b, **opts: Any) -> None:
        """f16 ``dst = max(a, b)``."""
        self._op("fmaxh", ElemOp.FMAXH, dst, a, b, None, opts)

    def fh2s(self, dst, a, **opts: Any) -> None:
        """f16 -> f32 conversion."""
        self._op("fh2s", ElemOp.FH2S, dst, a, None, None, opts)

    def fs2h(self, dst, a, **opts: Any) -> None:
        """f32 -> f16 conversion (round to nearest even)."""
        self._op("fs2h", ElemOp.FS2H, dst, a, None, None, opts)

    def add16(self, dst, a, b, **opts: Any) -> None:
        """16-bit integer add, wrapping."""
        self._op("add16", ElemOp.ADD16, dst, a, b, None, opts)

    def sub16(self, dst, a, b, **opts: Any) -> None:
        """16-bit integer subtract, wrapping."""
        self._op("sub16", ElemOp.SUB16, dst, a, b, None, opts)

    def and16(self, dst, a, b, **opts: Any) -> None:
        """16-bit and."""
        self._op("and16", ElemOp.AND16, dst, a, b, None, opts)

    def or16(self, dst, a, b, **opts: Any) -> None:
        """16-bit or."""
        self._op("or16", ElemOp.OR16, dst, a, b, None, opts)

    def xor16(self, dst, a, b, **opts: Any) -> None:
        """16-bit xor."""
        self._op("xor16", ElemOp.XOR16, dst, a, b, None, opts)

    def sll16(self, dst, a, b, **opts: Any) -> None:
        """16-bit shift left (by ``b & 15``)."""
        self._op("sll16", ElemOp.SLL16, dst, a, b, None, opts)

    def slr16(self, dst, a, b, **opts: Any) -> None:
        """16-bit logical shift right."""
        self._op("slr16", ElemOp.SRL16, dst, a, b, None, opts)

    def sar16(self, dst, a, b, **opts: Any) -> None:
        """16-bit arithmetic shift right."""
        self._op("sar16", ElemOp.SRA16, dst, a, b, None, opts)

    def map(self, fn, dst: MemDSD, *srcs: MemDSD, **opts: Any) -> None:
        """The SDK's ``@map``: ``dst[i] = fn(src0[i], src1[i], ...)`` with a Python element
        function over memory DSDs (values in the DSDs' types, result cast to ``dst``'s type)."""
        if opts:
            raise OpError(f"{self}: map takes no options (got {sorted(opts)})")
        for d in (dst, *srcs):
            if not isinstance(d, MemDSD):
                raise OpError(f"{self}: map works on memory DSDs only, got {d!r}")
            if d.length != dst.length:
                raise OpError(f"{self}: map operands differ in length ({d.length} vs {dst.length})")
        args = [self._mem_values(s) for s in srcs]
        # index-driven, so that a map without sources (a fill: ``fn()``) covers dst too
        out = np.array([fn(*(a[i] for a in args)) for i in range(dst.length)],
                       dtype=dst.dtype.np_dtype)
        self._mem_store(dst, out)
        self._cursor += self._engine.arch.timing.op_startup_cycles + dst.length

    # -- implementation ------------------------------------------------------------------------

    def _mem_index(self, d: MemDSD) -> np.ndarray:
        w = d.dtype.width
        first = (int(self._engine.mem_base[self._p]) + d.symbol.offset) // w + d.offset
        return first + np.arange(d.length, dtype=np.int64) * d.stride

    def _raw(self, width: int) -> np.ndarray:
        s = self._engine.state
        return s.mem32 if width == 4 else s.mem16

    def _mem_values(self, d: MemDSD) -> np.ndarray:
        return self._engine.state.mem32.view(d.dtype.np_dtype)[self._mem_index(d)]

    def _mem_store(self, d: MemDSD, values: np.ndarray) -> None:
        self._engine.state.mem32.view(d.dtype.np_dtype)[self._mem_index(d)] = values

    def _check_type(self, name: str, role: str, d: Any, np_name: str) -> None:
        want = _TYPED_MOVES.get(name) or _NP_OF[np_name]
        got = d.dtype.name
        bits = 16 if want in ("f16", "i16", "u16") else 32
        if name in ("mov16", "mov32"):
            ok = d.dtype.width * 8 == bits
        elif want in ("f16", "f32"):
            ok = got == want
        else:
            ok = got[0] in "iu" and d.dtype.width * 8 == bits
        if not ok:
            raise OpError(
                f"{self}: {name} {role} holds {got} elements but {name} takes {want} "
                f"(operand {d!r}): declare the array or DSD with dtype={want!r}"
            )

    def _scalar_bits(self, value: Any, np_name: str) -> int:
        if type(value) is MemScalar:
            return self._mem_scalar_bits(value, np_name)
        if np_name == "float32":
            if type(value) is float and value == value:
                try:  # struct rounds to nearest even like numpy, ten times faster
                    return _U32.unpack(_F32.pack(value))[0]
                except OverflowError:
                    pass  # numpy rounds it to an infinity
            return int(np.float32(value).view(np.uint32))
        if np_name == "float16":
            return int(np.float16(value).view(np.uint16))
        return int(value) & (0xFFFF if np_name in ("int16", "uint16") else 0xFFFFFFFF)

    def _mem_scalar_bits(self, ms: MemScalar, np_name: str) -> int:
        """The raw word of a scalar read from memory (its type must be the op's)."""
        sym = ms.symbol
        if sym.dtype.name != _NP_OF.get(np_name):
            raise OpError(
                f"{self}: a scalar from {sym.name!r} ({sym.dtype.name}) where the op takes "
                f"{_NP_OF.get(np_name, np_name)}: declare the array with that type"
            )
        if self._record is not None:
            return 0  # a record keeps where the scalar is, not its value
        s = self._engine.state
        addr = self._base + ms.byte_offset
        return int(s.mem32[addr >> 2]) if sym.dtype.width == 4 else int(s.mem16[addr >> 1])

    def _record_memory_op(self, prm: np.ndarray, cycles: int, scalar: Any) -> None:
        """Record a memory-only op of a static task; a scalar read from memory is recorded as
        where to read it (``MP_SCALAR_AT``), its value left to the replay."""
        prm = prm.copy()
        if type(scalar) is MemScalar:
            prm[MP_SCALAR_AT] = (scalar.byte_offset << 3) | scalar.symbol.dtype.width
            prm[MP_SCALAR] = 0
        self._record.append(("mem", prm, cycles))

    def _op(self, name: str, code: int, dst, a, b, scalar, opts: dict[str, Any]) -> None:
        if not opts and self._engine.trace is None:
            # A synchronous memory-only op on the same DSD objects as before (a task's inner
            # loop): its operands were checked and its arguments packed the first time.
            known = self._known_ops.get((name, id(dst), id(a), id(b)))
            if known is not None and known[0] is dst and known[1] is a and known[2] is b:
                _d, _a, _b, prm, cycles, scalar_type = known
                if scalar_type is not None:
                    prm[MP_SCALAR] = self._scalar_bits(scalar, scalar_type)
                self._cursor += cycles
                if self._record is None:
                    memory_op_packed(prm, self._base)
                else:
                    self._record_memory_op(prm, cycles, scalar)
                return
        stream_key = None
        if (
            self._engine.trace is None
            and scalar is None
            and type(dst) in _CACHED_OPERANDS
            and type(a) in _CACHED_OPERANDS
            and type(b) in _CACHED_OPERANDS
        ):
            # A streaming op this program issued before: its checks and its row are known.
            # First by the operands' identity (DSDs a task reuses, fabric DSDs interned by
            # fabin_dsd / fabout_dsd): no DSD hashing; the entry holds the operands, so their
            # ids stay theirs. Then by value. Only DSD operands: numeric scalars compare equal
            # across bit patterns (0.0 == -0.0), FIFO operands are checked by identity.
            try:
                same_key = ("same", name, id(dst), id(a), id(b), *opts.items())
                known = self._known_ops.get(same_key)
            except TypeError:  # an unhashable option: the checks below will name it
                same_key = known = None
            if known is not None and known[0] is dst and known[1] is a and known[2] is b:
                self._issue(*known[3])
                return
            try:
                stream_key = ("stream", name, dst, a, b, *opts.items())
                known = self._known_ops.get(stream_key)
            except TypeError:
                stream_key = known = None
            if known is not None:
                if len(self._known_ops) < MAX_KNOWN_OPS:
                    self._known_ops[same_key] = (dst, a, b, known)
                self._issue(*known)
                return
        eng = self._engine
        arch = eng.arch
        info = ELEM_INFO[int(code)]
        async_ = bool(opts.pop("async_", False))
        activate = opts.pop("activate", None)
        unblock = opts.pop("unblock", None)
        microthread = opts.pop("microthread", None)
        if opts:
            raise OpError(
                f"{self}: {name} got unknown options {sorted(opts)}: allowed are async_, "
                "activate, unblock, microthread"
            )
        if (activate is not None or unblock is not None) and not async_:
            raise OpError(f"{self}: {name}: activate/unblock need async_=True")
        if info.arity == 3 and scalar is None:
            raise OpError(f"{self}: {name} needs a scalar multiplier")
        srcs = [("src0", a, info.src0_dtype)]
        if info.arity >= 2:
            srcs.append(("src1", b, info.src1_dtype))
        operands = [("dst", dst, info.dst_dtype), *srcs]
        length = None
        streaming = False
        fabin_colors = []
        for role, d, np_name in operands:
            if isinstance(d, _VECTOR_OPERANDS):
                self._check_type(name, role, d, np_name)
                n = d.length if isinstance(d, _COUNTED_OPERANDS) else d.extent
                if length is None:
                    length = n
                elif n != length:
                    raise OpError(
                        f"{self}: {name} operands differ in length: {role} has {n}, an earlier "
                        f"operand has {length}"
                    )
                if isinstance(d, FabinDSD):
                    if role == "dst":
                        raise OpError(f"{self}: {name} cannot write to a fabric-input DSD")
                    fabin_colors.append(d.color)
                    streaming = True
                elif isinstance(d, FaboutDSD):
                    if role != "dst":
                        raise OpError(f"{self}: {name} cannot read from a fabric-output DSD")
                    streaming = True
                elif isinstance(d, FifoDSD):
                    streaming = True
                if isinstance(d, _FABRIC_OPERANDS) and not 0 <= d.color < arch.router.colors:
                    raise OpError(
                        f"{self}: {name} {role} uses color {d.color}, outside 0.."
                        f"{arch.router.colors - 1}"
                    )
            elif role == "dst":
                raise OpError(f"{self}: {name} destination must be a DSD, got {d!r}")
            elif not isinstance(d, _SCALAR_OPERANDS):
                raise OpError(f"{self}: {name} {role} must be a DSD or a scalar, got {d!r}")
        if length is None:
            raise OpError(f"{self}: {name} has no vector operand")
        if len(fabin_colors) != len(set(fabin_colors)):
            raise OpError(f"{self}: {name} reads color {fabin_colors[0]} twice in one op")
        if arch.pe.explicit_microthreads:
            if len(fabin_colors) > 1:
                raise OpError(
                    f"{self}: {name} has {len(fabin_colors)} fabric inputs; on {arch.name} an op "
                    "takes at most one (WSE-3 rule): receive one operand into memory first"
                )
            if async_ and streaming and microthread is None:
                raise OpError(
                    f"{self}: async {name} on {arch.name} needs an explicit microthread id "
                    f"(WSE-3 rule): pass microthread=0..{arch.pe.microthreads - 1}"
                )
        scalar_bits = 0 if scalar is None else self._scalar_bits(scalar, info.src1_dtype)
        fused = arch.numerics.fused_multiply_add
        if eng.trace is not None and self._record is None:
            kinds = ",".join(
                type(d).__name__.replace("DSD", "").lower() if not isinstance(d, int | float)
                else "scalar"
                for _r, d, _n in operands
            )
            cost = (
                -1
                if streaming
                else arch.timing.op_startup_cycles + math.ceil(length / self._simd(info))
            )
            eng.trace.add_op(self._p, name, self._cursor, cost, f"{kinds} x{length}")
        if not streaming:
            prm = self._memory_op(code, dst, srcs, scalar_bits, fused, length, info)
            cycles = arch.timing.op_startup_cycles + math.ceil(length / self._simd(info))
            if async_:
                if self._record is not None:
                    raise OpError(
                        f"{self}: {name}: an asynchronous memory-only op cannot be part of a "
                        "static task; make it synchronous or bind the task without static=True"
                    )
                self._delay_op(cycles, activate, unblock, microthread)
                return
            self._cursor += cycles
            if self._record is not None:
                self._record_memory_op(prm, cycles, scalar)
            if (
                eng.trace is None
                and len(self._known_ops) < MAX_KNOWN_OPS
                and all(type(d) is MemDSD or d is None for d in (dst, a, b))
            ):
                scalar_type = None if scalar is None else info.src1_dtype
                self._known_ops[(name, id(dst), id(a), id(b))] = (
                    dst, a, b, prm, cycles, scalar_type,
                )
            return
        if self._record is not None and type(scalar) is MemScalar:
            raise OpError(
                f"{self}: {name}: a streaming op's scalar read from memory cannot be part of a "
                "static task (its value is fixed when the op is checked); pass a number or "
                "bind the task without static=True"
            )
        self._stream_op(name, code, dst, srcs, scalar_bits, fused, length, async_, activate,
                        unblock, microthread, stream_key)

    def _simd(self, info) -> int:
        pe = self._engine.arch.pe
        if info.dst_dtype == "float16" or info.src0_dtype == "float16":
            return pe.simd_width_f16
        if info.dst_bits == 16:
            return pe.simd_width_i16
        return pe.simd_width_f32

    def _memory_op(self, code, dst: MemDSD, srcs, scalar_bits, fused, length, info) -> np.ndarray:
        """Run a memory-only op now; return its packed arguments (``_memops.MP_*``)."""
        s = self._engine.state
        _dk, d_addr, d_stride, d_width = self._operand_fields(dst, info.dst_dtype, info.dst_bits)
        a = self._operand_fields(srcs[0][1], srcs[0][2], info.src0_bits)
        b = (
            self._operand_fields(srcs[1][1], srcs[1][2], info.src1_bits)
            if len(srcs) > 1
            else (K_NONE, 0, 0, 4)
        )
        base = self._base
        prm = np.array(
            [int(code), length, int(fused), scalar_bits, d_addr - base, d_stride, d_width,
             a[0], a[1] - base if a[0] == K_MEM else a[1], a[2], a[3],
             b[0], b[1] - base if b[0] == K_MEM else b[1], b[2], b[3], 0, 0, 0],
            np.int64,
        )  # fmt: skip
        pack_memory(prm, s.mem32)
        if self._record is None:
            memory_op_packed(prm, base)
        return prm

    def _operand_fields(self, d, np_name, info_bits) -> tuple[int, int, int, int]:
        eng = self._engine
        if isinstance(d, MemDSD):
            w = d.dtype.width
            addr = int(eng.mem_base[self._p]) + d.symbol.offset + d.offset * w
            return K_MEM, addr, d.stride * w, w
        if isinstance(d, FabinDSD):
            return K_FABIN, d.color, 0, 4
        if isinstance(d, FaboutDSD):
            return K_FABOUT, d.color, 0, 4
        if isinstance(d, FifoDSD):
            if self._code.fifos[d.fifo.index] is not d.fifo:
                raise OpError(f"{self}: FIFO {d.fifo.name!r} does not belong to this PE's program")
            return K_FIFO, int(eng.fifo_first[self._p]) + d.fifo.index, 0, d.dtype.width
        return K_SCALAR, self._scalar_bits(d, np_name), 0, info_bits // 8

    def _slot_request(self, microthread, dsds) -> int:
        """The microthread slot an async op asks for: ``microthread``, else the queue of its
        fabric operands (WSE-3), else -1 (the first free one)."""
        n = self._engine.arch.pe.microthreads
        if microthread is None:
            for d in dsds:
                q = getattr(d, "input_queue", None) if isinstance(d, FabinDSD) else getattr(
                    d, "output_queue", None)
                if q is not None:
                    microthread = q
                    break
        if microthread is None:
            return -1
        if not 0 <= int(microthread) < n:
            raise OpError(f"{self}: microthread/queue {microthread} outside 0..{n - 1}")
        return int(microthread)

    def _slot_error(self, slot: int) -> OpError:
        s = self._engine.state
        if slot >= 0:
            o = int(s.slot_op[self._p, slot])
            return OpError(
                f"{self}: microthread {slot} is still running an op issued at cycle "
                f"{int(s.ops[o, F_ISSUED])}: two async ops on one queue collide; wait for "
                "its completion (activate a task when it is done) or use another queue"
            )
        n = self._engine.arch.pe.microthreads
        return OpError(
            f"{self}: all {n} microthreads are busy: wait for an async op to finish before "
            "issuing another"
        )

    def _pick_slot(self, microthread, dsds) -> int:
        """A free slot for an async op that is not a streaming op (see ``_issue``)."""
        s = self._engine.state
        slot = self._slot_request(microthread, dsds)
        if slot < 0:
            for k in range(self._engine.arch.pe.microthreads):
                if s.slot_op[self._p, k] < 0:
                    return k
        elif s.slot_op[self._p, slot] < 0:
            return slot
        raise self._slot_error(slot)

    def _completion_fields(self, activate, unblock) -> tuple[int, int]:
        if activate is not None:
            return ON_ACTIVATE, self._tid(activate)
        if unblock is not None:
            return ON_UNBLOCK, self._tid(unblock)
        return ON_NONE, 0

    def _delay_op(self, cycles: int, activate, unblock, microthread) -> None:
        s = self._engine.state
        slot = self._pick_slot(microthread, ())
        o = s.alloc_op()
        s.ops[o, F_PE] = self._p
        s.ops[o, F_SLOT] = slot
        s.ops[o, F_CODE] = int(ElemOp.MOV32)
        s.ops[o, F_LEN] = max(1, cycles)
        s.ops[o, F_START] = self._cursor
        s.ops[o, F_ISSUED] = self._cursor
        s.ops[o, F_DK] = K_NONE
        s.ops[o, F_ON_DONE], s.ops[o, F_TASK] = self._completion_fields(activate, unblock)
        s.slot_op[self._p, slot] = o
        s.activate_op(o)
        self._cursor += 1

    def _stream_op(self, name, code, dst, srcs, scalar_bits, fused, length, async_, activate,
                   unblock, microthread, cache_key) -> None:
        eng = self._engine
        info = ELEM_INFO[int(code)]
        if length == 0:
            raise OpError(f"{self}: {name} with zero-length operands")
        if async_:
            slot = self._slot_request(microthread, [dst] + [d for _r, d, _n in srcs])
        else:
            slot = eng.state.slots - 1
        row = [0] * N_OP_FIELDS
        row[F_CODE] = int(code)
        row[F_LEN] = length
        row[F_SCALAR] = scalar_bits
        row[F_FUSED] = int(fused)
        row[F_DK : F_DW + 1] = self._operand_fields(dst, info.dst_dtype, info.dst_bits)
        row[F_AK : F_AW + 1] = self._operand_fields(srcs[0][1], srcs[0][2], info.src0_bits)
        if len(srcs) > 1:
            row[F_BK : F_BW + 1] = self._operand_fields(srcs[1][1], srcs[1][2], info.src1_bits)
        for kind, arg in ((F_DK, F_DA), (F_AK, F_AA), (F_BK, F_BA)):
            # relative to this PE: the template serves every PE running the program
            if row[kind] == K_MEM:
                row[arg] -= self._base
            elif row[kind] == K_FIFO:
                row[arg] -= self._fifo_first
        if isinstance(dst, FaboutDSD):
            row[F_CTRL] = int(dst.control)
            if dst.advance_switch:
                row[F_TAIL] = 1 + control_payload(ADVANCE, ce_filter=True)
                row[F_LEN] = length + 1
        if async_:
            row[F_ON_DONE], row[F_TASK] = self._completion_fields(activate, unblock)
        else:
            row[F_ON_DONE] = ON_RESUME
        template = np.array(row, np.int64)
        if cache_key is not None and len(self._known_ops) < MAX_KNOWN_OPS:
            self._known_ops[cache_key] = (template, slot, async_)
        self._issue(template, slot, async_)

    def _issue(self, template: np.ndarray, slot: int, async_: bool) -> None:
        """Start a streaming op (checked, as a PE-relative template) at the task's cycle; a
        synchronous one parks the task until the op completes."""
        eng = self._engine
        s = eng.state
        if self._record is not None:
            if not async_:
                raise OpError(
                    f"{self}: a synchronous streaming op cannot be part of a static task (it "
                    "waits for the fabric); make it asynchronous or bind the task without "
                    "static=True"
                )
            self._cursor += 1
            self._record.append(("issue", template, slot))
            return
        while True:
            o = issue_op(
                template, self._p, slot, eng.arch.pe.microthreads, self._cursor,
                eng.op_startup_cycles, self._base, self._fifo_first, *s.issue_arrays(),
            )  # fmt: skip
            if o != ISSUE_POOL_FULL:
                break
            s._grow_ops()
        if o < 0:
            raise self._slot_error(slot)
        if async_:
            self._cursor += 1
            return
        s.ce_state[self._p] = CE_SUSPENDED
        eng.park_current_task(self._p)
        s.ce_state[self._p] = CE_RUNNING


VECTOR_BUILTINS = frozenset(
    ({e.name.lower() for e in ElemOp} | {"fmovs", "fmovh", "sar16", "slr16"}) & set(vars(PE))
)
"""The PE's vector builtin methods (``map`` is not one: it calls a Python function)."""
STATIC_BUILTINS = STATIC_CONTROL | VECTOR_BUILTINS
