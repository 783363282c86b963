"""Data structure descriptors (DSDs): whole-vector operands of the vector builtins.

Mirrors the SDK's ``mem1d_dsd``, ``fabin_dsd``, ``fabout_dsd`` and FIFOs. DSDs are immutable
values; the SDK's DSD-editing builtins (``increment_dsd_offset``, ``set_dsd_length``, ...) return
a new DSD.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .types import DType, dtype_of


@dataclass(frozen=True, eq=False)
class Symbol:
    """An array in PE memory, declared by a program with ``Code.array``. Compared and hashed
    by identity: each declaration is its own array (and a task's ``pe[sym]`` is a plain dict
    lookup)."""

    name: str
    dtype: DType
    length: int
    offset: int  # byte offset inside the PE's memory image
    export: bool = False

    @property
    def nbytes(self) -> int:
        return self.length * self.dtype.width

    def __repr__(self) -> str:
        return f"Symbol({self.name}: [{self.length}]{self.dtype.name} @ {self.offset})"


@dataclass(frozen=True)
class MemDSD:
    """``mem1d_dsd``: ``length`` elements of ``symbol`` starting at element ``offset``, every
    ``stride`` elements (stride may be negative or zero)."""

    symbol: Symbol
    length: int
    offset: int = 0
    stride: int = 1

    @property
    def dtype(self) -> DType:
        return self.symbol.dtype

    def check_bounds(self) -> None:
        if self.length < 0:
            raise ValueError(f"mem1d_dsd over {self.symbol.name!r}: length {self.length} < 0")
        if self.length == 0:
            return
        last = self.offset + (self.length - 1) * self.stride
        lo, hi = min(self.offset, last), max(self.offset, last)
        if lo < 0 or hi >= self.symbol.length:
            raise IndexError(
                f"mem1d_dsd over {self.symbol.name!r} (length {self.symbol.length}) reaches "
                f"elements {lo}..{hi} (offset {self.offset}, length {self.length}, "
                f"stride {self.stride}): keep every element inside 0..{self.symbol.length - 1}"
            )


@dataclass(frozen=True)
class FabinDSD:
    """``fabin_dsd``: ``extent`` wavelets arriving on ``color`` into the CE's input queue."""

    color: int
    extent: int
    dtype: DType
    input_queue: int | None = None


@dataclass(frozen=True)
class FaboutDSD:
    """``fabout_dsd``: ``extent`` wavelets sent on ``color`` from the CE's output queue.
    ``control=True`` sends them as control wavelets; ``advance_switch=True`` sends, after the
    data, one control wavelet that advances the switch of every router it passes (and is not
    delivered to any CE)."""

    color: int
    extent: int
    dtype: DType
    output_queue: int | None = None
    control: bool = False
    advance_switch: bool = False


@dataclass(frozen=True)
class FifoDecl:
    """A FIFO (circular buffer) over an array, declared by ``Code.fifo``; usable as a source
    (pop) or destination (push) of a vector op."""

    name: str
    buffer: Symbol
    index: int  # position among the program's FIFOs

    @property
    def dtype(self) -> DType:
        return self.buffer.dtype


@dataclass(frozen=True)
class FifoDSD:
    """A FIFO operand moving ``length`` elements."""

    fifo: FifoDecl
    length: int

    @property
    def dtype(self) -> DType:
        return self.fifo.dtype


DSD = MemDSD | FabinDSD | FaboutDSD | FifoDSD


@dataclass(frozen=True)
class MemScalar:
    """The scalar operand of ``fmacs`` / ``fmach`` read from element ``index`` of ``symbol``
    when the op issues - the SDK's ``@fmacs(y, y, A, x[i])``. Unlike a Python number taken
    from ``pe[x][i]``, it keeps the task static (see ``Code.bind_local_task``)."""

    symbol: Symbol
    index: int

    @property
    def byte_offset(self) -> int:
        """Where the scalar is in the PE's memory image (bytes)."""
        return self.symbol.offset + self.index * self.symbol.dtype.width


def mem_scalar(symbol: Symbol, index: int) -> MemScalar:
    """Element ``index`` of ``symbol`` as an op's scalar operand, read when the op issues."""
    if not isinstance(symbol, Symbol):
        raise TypeError(f"mem_scalar needs an array declared with Code.array, got {symbol!r}")
    if not 0 <= int(index) < symbol.length:
        raise IndexError(
            f"mem_scalar: element {index} of {symbol.name!r} is outside 0..{symbol.length - 1}"
        )
    return MemScalar(symbol, int(index))


def mem1d_dsd(
    symbol: Symbol, length: int | None = None, offset: int = 0, stride: int = 1
) -> MemDSD:
    """A 1D memory DSD (the SDK's ``tensor_access = |i|{length} -> A[offset + i*stride]``)."""
    if not isinstance(symbol, Symbol):
        raise TypeError(f"mem1d_dsd needs an array declared with Code.array, got {symbol!r}")
    d = MemDSD(symbol, symbol.length if length is None else int(length), int(offset), int(stride))
    d.check_bounds()
    return d


# Fabric DSDs are immutable values that tasks build again on every run (a chain step makes two
# per call): the constructors hand out one shared object per argument list, which saves the
# dataclass construction and lets the engine's op cache match them by identity.
_INTERNED: dict[tuple, FabinDSD | FaboutDSD] = {}
_INTERNED_MAX = 1 << 16


def _interned(key: tuple, make) -> FabinDSD | FaboutDSD:
    try:
        d = _INTERNED.get(key)
    except TypeError:  # an unhashable argument: build it (and let the constructor judge it)
        return make()
    if d is None:
        d = make()
        if len(_INTERNED) >= _INTERNED_MAX:
            _INTERNED.clear()
        _INTERNED[key] = d
    return d


def fabin_dsd(color: int, extent: int, dtype: DType | str = "f32", input_queue: int | None = None):
    """A fabric-input DSD reading ``extent`` wavelets of ``color``."""
    return _interned(
        ("in", color, extent, dtype, input_queue),
        lambda: FabinDSD(int(color), int(extent), dtype_of(dtype), input_queue),
    )


def fabout_dsd(
    color: int,
    extent: int,
    dtype: DType | str = "f32",
    output_queue: int | None = None,
    *,
    control: bool = False,
    advance_switch: bool = False,
):
    """A fabric-output DSD sending ``extent`` wavelets on ``color`` (see :class:`FaboutDSD`)."""
    return _interned(
        ("out", color, extent, dtype, output_queue, control, advance_switch),
        lambda: FaboutDSD(
            int(color), int(extent), dtype_of(dtype), output_queue, bool(control),
            bool(advance_switch),
        ),
    )  # fmt: skip


def fifo_dsd(fifo: FifoDecl, length: int) -> FifoDSD:
    """Use a FIFO as an operand moving ``length`` elements."""
    return FifoDSD(fifo, int(length))


def increment_dsd_offset(dsd: MemDSD, delta: int) -> MemDSD:
    """The SDK's ``increment_dsd_offset`` (in elements)."""
    d = replace(dsd, offset=dsd.offset + int(delta))
    d.check_bounds()
    return d


def set_dsd_length(dsd, length: int):
    """The SDK's ``set_dsd_length``: works on memory (length) and fabric (extent) DSDs."""
    if isinstance(dsd, MemDSD):
        d = replace(dsd, length=int(length))
        d.check_bounds()
        return d
    if isinstance(dsd, FabinDSD | FaboutDSD):
        return replace(dsd, extent=int(length))
    if isinstance(dsd, FifoDSD):
        return replace(dsd, length=int(length))
    raise TypeError(f"set_dsd_length: not a DSD: {dsd!r}")


def set_dsd_stride(dsd: MemDSD, stride: int) -> MemDSD:
    """The SDK's ``set_dsd_stride``."""
    d = replace(dsd, stride=int(stride))
    d.check_bounds()
    return d


def set_dsd_base_addr(dsd: MemDSD, symbol: Symbol, offset: int = 0) -> MemDSD:
    """The SDK's ``set_dsd_base_addr``: the same access pattern over another array."""
    d = replace(dsd, symbol=symbol, offset=int(offset))
    d.check_bounds()
    return d
