"""Shared plumbing of the kernel library: the ``Kernel`` base class, ``KernelResult``, the
SDK-style timers, argument parsing (grids, sizes, arch) and the registry.

Every kernel is two faces of one algorithm (DESIGN.md, principle 2):

* ``Kernel.run(arch, grid, size, seed)`` builds the PE programs and the layout, drives them
  through the host runtime (:class:`waferscale.runtime.SdkRuntime`, like the vendor's
  ``run.py``), checks the result against numpy with the vendor's tolerance and times it the
  SDK's way: every PE stores a start and an end stamp of its cycle counter into the exported
  array ``ts``; ``cycles = max(end) - min(start)`` over the PEs; ``time_s = cycles /
  arch.clock_hz``.
* ``Kernel.model(arch, grid, size)`` predicts those cycles analytically, for any arch and any
  size (the full wafer included); ``tests/test_kernels*.py`` keep the two within 10 %.

FLOP/s and bytes/s divide each kernel's own count (``Kernel.flops`` / ``Kernel.bytes``, the
convention is written in each kernel's docstring and in docs/kernels.md) by ``time_s``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..arch import ArchSpec

__all__ = [
    "REGISTRY",
    "TS",
    "Kernel",
    "KernelError",
    "KernelResult",
    "Outcome",
    "declare_timer",
    "full_grid",
    "parse_grid",
    "read_cycles",
    "register",
    "resolve_arch",
    "stamp",
]

TS = "ts"
"""Every kernel program declares ``ts: [4]u32`` = (start lo, start hi, end lo, end hi): the PE's
48-bit cycle counter at the start and at the end of its work (the SDK examples' timers)."""

ASYNC_ISSUE_CYCLES = 1
"""Cycles the engine charges the issuing task for an asynchronous op (the op itself runs on a
microthread)."""

MAX_SIM_PES = 4096
"""Grids larger than this are refused by ``Kernel.run`` (use ``Kernel.model`` instead)."""


class KernelError(ValueError):
    """A kernel was given a grid, size or arch it cannot run with (the message says why)."""


# -- arch, grid, size -----------------------------------------------------------------------------


def resolve_arch(arch: ArchSpec | str) -> ArchSpec:
    """A preset name, a spec file path, or an :class:`ArchSpec`."""
    from pathlib import Path

    from .. import arch as _arch

    if isinstance(arch, ArchSpec):
        return arch
    if not isinstance(arch, str):
        raise KernelError(f"arch must be a preset name, a spec file or an ArchSpec, got {arch!r}")
    if arch.lower() in _arch.preset_names():
        return _arch.preset(arch.lower())
    if Path(arch).exists():
        return _arch.load(arch)
    raise KernelError(
        f"unknown arch {arch!r}: expected a preset ({', '.join(_arch.preset_names())}) or a spec "
        "file"
    )


def full_grid(arch: ArchSpec) -> tuple[int, int]:
    """The whole program rectangle of ``arch`` (columns, rows)."""
    return int(arch.grid.program_columns), int(arch.grid.program_rows)


def parse_grid(grid: Any, arch: ArchSpec | None = None) -> tuple[int, int] | None:
    """``None``, ``(W, H)``, ``"WxH"``, ``"W,H"``, an int (a square) or ``"full"`` (the whole
    program rectangle of ``arch``) -> ``(W, H)``."""
    if grid is None:
        return None
    if isinstance(grid, str):
        text = grid.strip().lower()
        if text in ("full", "wafer"):
            if arch is None:
                raise KernelError("grid 'full' needs an arch")
            return full_grid(arch)
        parts = re.split(r"[x,\s]+", text)
        try:
            vals = [int(p) for p in parts if p]
        except ValueError:
            raise KernelError(f"grid {grid!r}: expected WxH (e.g. 4x3) or 'full'") from None
    elif isinstance(grid, int | np.integer):
        vals = [int(grid), int(grid)]
    else:
        vals = [int(v) for v in grid]
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) <= 0:
        raise KernelError(f"grid {grid!r}: expected two positive integers W x H")
    return vals[0], vals[1]


# -- timers ---------------------------------------------------------------------------------------


def declare_timer(c: Any) -> Any:
    """Declare the exported ``ts: [4]u32`` timer array in a program (call in every program)."""
    return c.array(TS, "u32", 4, export=True)


def stamp(pe: Any, ts: Any, which: int) -> None:
    """Store the PE's 48-bit cycle counter into ``ts`` (``which`` 0 = start, 1 = end), as two
    32-bit words, like the SDK's ``timestamp.get_timestamp`` into a time buffer."""
    t = int(pe.timestamp())
    buf = pe[ts]
    buf[2 * which] = t & 0xFFFFFFFF
    buf[2 * which + 1] = t >> 32


def read_cycles(runner: Any, width: int, height: int, x: int = 0, y: int = 0) -> dict[str, int]:
    """Read every PE's timer with ``memcpy_d2h`` (as the vendor's run.py does) and return
    ``{"cycles": max(end) - min(start), "start": ..., "end": ...}`` over the region."""
    from ..runtime import MemcpyDataType, MemcpyOrder

    buf = np.zeros(width * height * 4, np.uint32)
    runner.memcpy_d2h(
        buf,
        runner.get_id(TS),
        x,
        y,
        width,
        height,
        4,
        streaming=False,
        data_type=MemcpyDataType.MEMCPY_32BIT,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock=False,
    )
    w = buf.reshape(-1, 4).astype(np.int64)
    start = w[:, 0] | (w[:, 1] << 32)
    end = w[:, 2] | (w[:, 3] << 32)
    s, e = int(start.min()), int(end.max())
    return {"cycles": e - s, "start": s, "end": e}


# -- results --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a kernel's simulator run returns to :meth:`Kernel.run`."""

    ok: bool
    max_abs_err: float
    cycles: int
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class KernelResult:
    """One run of a kernel on the simulator, checked and timed, with the model's prediction.

    ``cycles`` = max end - min start of the PEs' timers; ``time_s = cycles / clock_hz``;
    ``flops_per_s = flops / time_s`` and ``bytes_per_s = bytes / time_s`` with the kernel's
    counting convention (``flops`` and ``bytes``); ``model_cycles`` is ``Kernel.model`` for the
    same arch, grid and size; ``model_error = model_cycles / cycles - 1``."""

    kernel: str
    arch: str
    grid: tuple[int, int]
    size: dict[str, int]
    ok: bool
    max_abs_err: float
    cycles: int
    time_s: float
    flops_per_s: float
    model_cycles: int
    flops: float = 0.0
    bytes: float = 0.0
    bytes_per_s: float = 0.0
    check: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def model_error(self) -> float:
        return self.model_cycles / self.cycles - 1.0 if self.cycles else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grid"] = list(self.grid)
        d["model_error"] = self.model_error
        return _jsonable(d)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


# -- the kernel base class ------------------------------------------------------------------------


class Kernel:
    """A kernel of the library: a runnable PE program with a host driver, and its cost model.

    Subclasses set ``name``, ``summary``, ``size_names`` (the size parameters, in order),
    ``default_grid``, ``default_size``, ``check`` (how the result is checked), and implement
    ``simulate(arch, grid, size, seed) -> Outcome``, ``model_cycles(arch, grid, size) -> int``
    and ``flops`` / ``bytes`` (counting conventions). ``validate(arch, grid, size)`` may refuse a
    combination (raise :class:`KernelError`)."""

    name: str = ""
    summary: str = ""
    size_names: tuple[str, ...] = ()
    default_grid: tuple[int, int] = (1, 1)
    default_size: dict[str, int] = {}
    check: str = ""
    fixed_grid: tuple[int, int] | None = None  # a kernel that only runs on one grid shape

    # -- arguments --------------------------------------------------------------------------

    def grid_of(self, arch: ArchSpec, grid: Any) -> tuple[int, int]:
        g = parse_grid(grid, arch)
        if g is None:
            g = self.fixed_grid or self.default_grid
        W, H = g
        pc, pr = full_grid(arch)
        if pc < W or pr < H:
            raise KernelError(
                f"{self.name}: grid {W}x{H} does not fit the program rectangle of {arch.name} "
                f"({pc}x{pr})"
            )
        if self.fixed_grid is not None and g != self.fixed_grid:
            raise KernelError(
                f"{self.name} runs on a {self.fixed_grid[0]}x{self.fixed_grid[1]} "
                f"grid only, got {W}x{H}"
            )
        return W, H

    def size_of(self, size: Any) -> dict[str, int]:
        """Normalise ``size``: None (the default), an int (the first parameter; the others keep
        their defaults unless ``square`` sizes apply), a sequence (in ``size_names`` order), a
        mapping, or a string ``"64x32"`` / ``"M=64,N=32"`` / ``"64"``."""
        out = dict(self.default_size)
        if size is None:
            return out
        if isinstance(size, str):
            text = size.strip()
            if "=" in text:
                vals: dict[str, Any] = {}
                for part in re.split(r"[,\s]+", text):
                    if not part:
                        continue
                    k, _, v = part.partition("=")
                    vals[k.strip()] = v.strip()
                size = vals
            else:
                size = [p for p in re.split(r"[x,\s]+", text) if p]
        if isinstance(size, int | np.integer):
            size = [int(size)] * (len(self.size_names) if self.square_sizes else 1)
        if isinstance(size, Mapping):
            for k, v in size.items():
                if k not in self.size_names:
                    raise KernelError(
                        f"{self.name}: unknown size parameter {k!r}; parameters: "
                        f"{', '.join(self.size_names)}"
                    )
                out[k] = _as_int(self.name, k, v)
        else:
            seq = list(size)
            if len(seq) > len(self.size_names):
                raise KernelError(
                    f"{self.name}: {len(seq)} size values given, parameters are "
                    f"{', '.join(self.size_names)}"
                )
            if self.square_sizes and len(seq) == 1:
                seq = seq * len(self.size_names)
            for k, v in zip(self.size_names, seq, strict=False):
                out[k] = _as_int(self.name, k, v)
        for k, v in out.items():
            if v <= 0:
                raise KernelError(f"{self.name}: size {k}={v} must be positive")
        return out

    square_sizes: bool = False  # an int size sets every parameter (M = N = n)

    def validate(self, arch: ArchSpec, grid: tuple[int, int], size: dict[str, int]) -> None:
        """Refuse a combination the kernel cannot run or model (override)."""

    def pe_memory_bytes(self, grid: tuple[int, int], size: dict[str, int]) -> int:
        """Bytes of PE memory the largest program declares (override; 0: not checked)."""
        return 0

    def _args(self, arch, grid, size):
        spec = resolve_arch(arch)
        g = self.grid_of(spec, grid)
        s = self.size_of(size)
        self.validate(spec, g, s)
        need = int(self.pe_memory_bytes(g, s))
        have = spec.pe.sram_bytes - spec.pe.runtime_reserved_bytes
        if need > have:
            raise KernelError(
                f"{self.name}: a {g[0]}x{g[1]} grid with "
                f"{', '.join(f'{k}={v}' for k, v in s.items())} needs {need} B per PE, "
                f"{spec.name} leaves {have} B: use a larger grid or a smaller size"
            )
        return spec, g, s

    # -- the two faces ----------------------------------------------------------------------

    def run(
        self, arch: ArchSpec | str = "wse2", grid: Any = None, size: Any = None, seed: int = 0
    ) -> KernelResult:
        """Run on the simulator, check against numpy, time it (SDK convention) and compare with
        the model."""
        spec, g, s = self._args(arch, grid, size)
        if g[0] * g[1] > MAX_SIM_PES:
            raise KernelError(
                f"{self.name}: a {g[0]}x{g[1]} grid is too large to simulate here (limit "
                f"{MAX_SIM_PES} PEs); ask the model instead (Kernel.model / waferscale run "
                "--model)"
            )
        out = self.simulate(spec, g, s, int(seed))
        model = int(self.model_cycles(spec, g, s))
        time_s = out.cycles / float(spec.clock_hz)
        flops = float(self.flops(g, s))
        nbytes = float(self.bytes(g, s))
        return KernelResult(
            kernel=self.name,
            arch=spec.name,
            grid=g,
            size=s,
            ok=bool(out.ok),
            max_abs_err=float(out.max_abs_err),
            cycles=int(out.cycles),
            time_s=time_s,
            flops_per_s=flops / time_s if time_s > 0 else 0.0,
            model_cycles=model,
            flops=flops,
            bytes=nbytes,
            bytes_per_s=nbytes / time_s if time_s > 0 else 0.0,
            check=self.check,
            extras=dict(out.extras),
        )

    def model(self, arch: ArchSpec | str = "wse2", grid: Any = None, size: Any = None) -> int:
        """The analytic cost model: predicted ``max end - min start`` cycles."""
        spec, g, s = self._args(arch, grid, size)
        return int(self.model_cycles(spec, g, s))

    def estimate(
        self, arch: ArchSpec | str = "wse2", grid: Any = None, size: Any = None
    ) -> dict[str, Any]:
        """The model's prediction with its derived figures (time, FLOP/s, bytes/s)."""
        spec, g, s = self._args(arch, grid, size)
        cycles = int(self.model_cycles(spec, g, s))
        t = cycles / float(spec.clock_hz)
        flops, nbytes = float(self.flops(g, s)), float(self.bytes(g, s))
        return {
            "kernel": self.name,
            "arch": spec.name,
            "grid": list(g),
            "size": s,
            "model_cycles": cycles,
            "time_s": t,
            "flops": flops,
            "flops_per_s": flops / t if t > 0 else 0.0,
            "bytes": nbytes,
            "bytes_per_s": nbytes / t if t > 0 else 0.0,
        }

    # -- to implement -----------------------------------------------------------------------

    def simulate(
        self, arch: ArchSpec, grid: tuple[int, int], size: dict[str, int], seed: int
    ) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def model_cycles(
        self, arch: ArchSpec, grid: tuple[int, int], size: dict[str, int]
    ) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def flops(self, grid: tuple[int, int], size: dict[str, int]) -> float:
        return 0.0

    def bytes(self, grid: tuple[int, int], size: dict[str, int]) -> float:
        return 0.0

    def __repr__(self) -> str:
        return f"<kernel {self.name}: {self.summary}>"


def _as_int(name: str, key: str, v: Any) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise KernelError(f"{name}: size {key}={v!r} is not an integer") from None
    if not f.is_integer():
        raise KernelError(f"{name}: size {key}={v!r} is not an integer")
    return int(f)


# -- registry -------------------------------------------------------------------------------------

REGISTRY: dict[str, Kernel] = {}
"""Kernel name -> Kernel object, in the order the kernels were registered."""


def register(cls: type[Kernel]) -> type[Kernel]:
    """Class decorator: instantiate and add to :data:`REGISTRY` under ``cls.name``."""
    k = cls()
    if not k.name or k.name in REGISTRY:
        raise ValueError(f"kernel name {k.name!r} is empty or registered twice")
    REGISTRY[k.name] = k
    return cls


def ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def vector_cycles(arch: ArchSpec, length: int, dtype: str = "f32") -> int:
    """Cycles of one memory-only vector op over ``length`` elements (engine timing:
    ``op_startup_cycles + ceil(length / simd_width)``)."""
    pe = arch.pe
    simd = {
        "f32": pe.simd_width_f32,
        "f16": pe.simd_width_f16,
        "i16": pe.simd_width_i16,
        "u16": pe.simd_width_i16,
        "i32": pe.simd_width_f32,
        "u32": pe.simd_width_f32,
    }[dtype]
    return int(arch.timing.op_startup_cycles) + math.ceil(length / simd)


# -- host-side helpers (thin wrappers over SdkRuntime, vendor argument order) --------------------


def open_runtime(compiled: Any, **kwargs: Any) -> Any:
    """``SdkRuntime(compiled)``, loaded and running."""
    from ..runtime import SdkRuntime

    runner = SdkRuntime(compiled, **kwargs)
    runner.load()
    runner.run()
    return runner


def h2d(
    runner: Any, name: str, values: np.ndarray, x: int, y: int, w: int, h: int, **kwargs: Any
) -> Any:
    """Copy-mode ``memcpy_h2d`` of ``values`` (shape (h, w, n) or flat) into symbol ``name``
    of the region; 16-bit symbols travel as MEMCPY_16BIT."""
    from ..runtime import MemcpyDataType, MemcpyOrder

    arr = np.ascontiguousarray(values)
    n = arr.size // (w * h)
    wide = arr.dtype.itemsize == 4
    dt = MemcpyDataType.MEMCPY_32BIT if wide else MemcpyDataType.MEMCPY_16BIT
    return runner.memcpy_h2d(
        runner.get_id(name),
        arr.reshape(-1),
        x,
        y,
        w,
        h,
        n,
        streaming=False,
        data_type=dt,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock=False,
        **kwargs,
    )


def d2h(
    runner: Any, name: str, x: int, y: int, w: int, h: int, n: int, dtype: Any = np.float32
) -> np.ndarray:
    """Copy-mode ``memcpy_d2h`` of ``n`` elements of symbol ``name`` per PE of the region;
    returns shape (h, w, n)."""
    from ..runtime import MemcpyDataType, MemcpyOrder

    dt = np.dtype(dtype)
    if dt.itemsize == 4:
        buf = np.zeros(h * w * n, dt)
        mdt = MemcpyDataType.MEMCPY_32BIT
    else:  # 16-bit data come back one per 32-bit word
        buf = np.zeros(h * w * n, np.uint32)
        mdt = MemcpyDataType.MEMCPY_16BIT
    runner.memcpy_d2h(
        buf,
        runner.get_id(name),
        x,
        y,
        w,
        h,
        n,
        streaming=False,
        data_type=mdt,
        order=MemcpyOrder.ROW_MAJOR,
        nonblock=False,
    )
    if dt.itemsize != 4:
        buf = (buf & 0xFFFF).astype(np.uint16).view(dt)
    return buf.reshape(h, w, n)


def allclose_check(
    got: np.ndarray, ref: np.ndarray, *, rtol: float = 0.0, atol: float = 0.0
) -> tuple[bool, float]:
    """(np.allclose(got, ref, rtol, atol), max |got - ref|) with ``ref`` in float64."""
    g = np.asarray(got, np.float64)
    r = np.asarray(ref, np.float64)
    err = float(np.abs(g - r).max()) if g.size else 0.0
    return bool(np.allclose(g, r, rtol=rtol, atol=atol)), err


def binds_to_queue(arch: ArchSpec) -> bool:
    """Do data tasks bind to input queues on ``arch`` (WSE-3) rather than to colors?"""
    return arch.pe.data_tasks_bind_to == "queue"


def bind_data(
    c: Any, fn: Callable[..., Any], color: int, *, queue: int, by_queue: bool, **kwargs: Any
) -> None:
    """Bind data task ``fn`` to ``color``: directly (WSE-1/2: the task id is the color) or
    through input queue ``queue`` declared for the color (WSE-3)."""
    if by_queue:
        c.input_queue(queue, color)
        c.bind_data_task_to_queue(fn, queue, **kwargs)
    else:
        c.bind_data_task(fn, color, **kwargs)
