"""Alias of :mod:`waferscale.runtime` under the vendor's module name, so that scripts written
for ``cerebras.sdk.runtime.sdkruntimepybind`` only change the package prefix::

    from waferscale.runtime.sdkruntimepybind import SdkRuntime, MemcpyDataType, MemcpyOrder
"""

from . import (
    ColorId,
    CommandHandle,
    FunctionId,
    MemcpyDataType,
    MemcpyOrder,
    SdkRuntime,
    SdkRuntimeError,
    SymbolId,
    Task,
)

__all__ = [
    "ColorId",
    "CommandHandle",
    "FunctionId",
    "MemcpyDataType",
    "MemcpyOrder",
    "SdkRuntime",
    "SdkRuntimeError",
    "SymbolId",
    "Task",
]
