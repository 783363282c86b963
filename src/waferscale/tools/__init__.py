"""Tools around the simulator: traces out of it, where the cycles went, a debugger, and a static
route checker (docs/tools.md). The pictures are in :mod:`waferscale.viz`.

==========================  =================================================================
``run_target``              run a kernel or example with its engines captured and traced
``chrome_trace``            a trace as Perfetto / Chrome trace-event JSON (``write_...``)
``validate_chrome_trace``   check such JSON against the trace-event format
``trace_tables``            a trace (and a profile) as tables; ``write_tables``: CSV, Parquet
``profile``                 busy / stalled / idle cycles per PE, tasks, hottest links
``Debugger``                pause, step, break, look inside an engine; ``DebugSession`` for a
                            kernel or example; ``command_loop`` for scripted commands
``check_routes``            static route checker: off-rectangle, not-accepted, dead-end, loop,
                            conflicting inputs, data-task races, missing consumers
==========================  =================================================================

Names are imported on first use, so ``import waferscale.tools`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "run_target": "targets",
    "resolve_target": "targets",
    "target_layouts": "targets",
    "capture_engines": "targets",
    "capture_layouts": "targets",
    "chrome_trace": "export",
    "write_chrome_trace": "export",
    "validate_chrome_trace": "export",
    "trace_tables": "export",
    "write_tables": "export",
    "profile": "profiler",
    "Profile": "profiler",
    "Debugger": "debugger",
    "DebugSession": "debugger",
    "Stop": "debugger",
    "command_loop": "debugger",
    "check_routes": "routecheck",
    "Finding": "routecheck",
    "format_findings": "routecheck",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'waferscale.tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
