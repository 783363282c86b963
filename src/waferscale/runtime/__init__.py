"""The host runtime: an ``SdkRuntime``-compatible API (load, run, memcpy, launch, stop).

``from waferscale.runtime import SdkRuntime, MemcpyDataType, MemcpyOrder`` - or, as in the
vendor's scripts, ``from waferscale.runtime.sdkruntimepybind import ...``. See docs/runtime.md.
"""

from ..fabric.stall import StallError, StallReport
from ._convert import MemcpyDataType, MemcpyOrder
from .sdkruntime import (
    ColorId,
    CommandHandle,
    FunctionId,
    LaunchArgumentError,
    MemcpyArrayError,
    RuntimeUsageError,
    SdkRuntime,
    SdkRuntimeError,
    SymbolId,
    SymbolNotExportedError,
    Task,
    UnknownNameError,
)

__all__ = [
    "ColorId",
    "CommandHandle",
    "FunctionId",
    "LaunchArgumentError",
    "MemcpyArrayError",
    "MemcpyDataType",
    "MemcpyOrder",
    "RuntimeUsageError",
    "SdkRuntime",
    "SdkRuntimeError",
    "StallError",
    "StallReport",
    "SymbolId",
    "SymbolNotExportedError",
    "Task",
    "UnknownNameError",
]
