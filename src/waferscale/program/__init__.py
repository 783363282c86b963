"""The Python programming model: PE programs (``Code``), DSDs, element types and layouts."""

from .code import Code, ProgramError, TaskDecl, build_code
from .dsd import (
    FabinDSD,
    FaboutDSD,
    FifoDecl,
    FifoDSD,
    MemDSD,
    Symbol,
    fabin_dsd,
    fabout_dsd,
    fifo_dsd,
    increment_dsd_offset,
    mem1d_dsd,
    set_dsd_base_addr,
    set_dsd_length,
    set_dsd_stride,
)
from .layout import CompiledLayout, Layout, LayoutError, load_compiled
from .types import DTYPES, DType, f16, f32, i16, i32, u16, u32

__all__ = [
    "DTYPES",
    "Code",
    "CompiledLayout",
    "DType",
    "FabinDSD",
    "FaboutDSD",
    "FifoDSD",
    "FifoDecl",
    "Layout",
    "LayoutError",
    "MemDSD",
    "ProgramError",
    "Symbol",
    "TaskDecl",
    "build_code",
    "f16",
    "f32",
    "fabin_dsd",
    "fabout_dsd",
    "fifo_dsd",
    "i16",
    "i32",
    "increment_dsd_offset",
    "load_compiled",
    "mem1d_dsd",
    "set_dsd_base_addr",
    "set_dsd_length",
    "set_dsd_stride",
    "u16",
    "u32",
]
