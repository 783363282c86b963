"""The fabric engine: a cycle-level simulator of the wafer (routers, queues, CEs, tasks)."""

from .engine import Engine, PrintRecord, RunResult, TaskError
from .pe import PE, OpError
from .stall import Finding, StallError, StallReport

__all__ = [
    "PE",
    "Engine",
    "Finding",
    "OpError",
    "PrintRecord",
    "RunResult",
    "StallError",
    "StallReport",
    "TaskError",
]
