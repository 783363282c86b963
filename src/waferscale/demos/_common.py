"""Shared machinery of the demo workloads: a compiled layout plus its data, a run-and-check
driver, SDK-style timing from per-PE timestamps, and process memory."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from waferscale.fabric import Engine
from waferscale.program import CompiledLayout

TS = "ts"
"""Every demo program declares ``ts: [2]u32`` = (start, end) cycle stamps of the PE's work."""


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def stamp(pe: Any, ts: Any, i: int) -> None:
    """Store the PE's cycle counter in ``ts[i]`` (the SDK examples' start/end timestamps)."""
    pe.store_timestamp(ts, i)


def sdk_cycles(engine: Engine) -> tuple[int, int, int]:
    """``(max(end) - min(start), min(start), max(end))`` over every PE's ``ts`` stamps."""
    idx, _ = engine.region_indices(TS, 0, 0, engine.width, engine.height)
    ts = engine.state.mem32[idx.reshape(-1, 2)].astype(np.int64)
    start, end = int(ts[:, 0].min()), int(ts[:, 1].max())
    return end - start, start, end


def load_region(engine: Engine, name: str, values: np.ndarray, x: int = 0, y: int = 0) -> None:
    """Write ``values`` of shape (h, w, length) into array ``name`` of the PEs of a region."""
    h, w = values.shape[:2]
    idx, sym = engine.region_indices(name, x, y, w, h)
    engine.state.mem32.view(sym.dtype.np_dtype)[idx] = values.reshape(idx.shape)


def read_region(engine: Engine, name: str, x: int, y: int, w: int, h: int) -> np.ndarray:
    """Array ``name`` over a region, shape (h, w, length)."""
    idx, sym = engine.region_indices(name, x, y, w, h)
    return engine.state.mem32.view(sym.dtype.np_dtype)[idx]


@dataclass
class Check:
    """What a workload's checker found."""

    ok: bool
    max_abs_err: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Workload:
    """A compiled demo: ``run()`` loads the data into a fresh engine, runs it, checks the result
    against numpy and returns the measurements.

    ``build_s`` is the time spent building and compiling the layout; ``wall_s`` in the result
    counts ``Engine.run`` only: not the engine's construction nor loading the data
    (``setup_s``), nor ``Engine.prepare`` (``prepare_s``: recording the static tasks, done by
    the first run of the layout only)."""

    name: str
    width: int
    height: int
    compiled: CompiledLayout
    load: Callable[[Engine], None]
    check: Callable[[Engine], Check]
    model_cycles: int | None = None
    flops: float | None = None
    build_s: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    engine: Engine | None = None

    @property
    def pes(self) -> int:
        return self.width * self.height

    @property
    def arch(self):
        return self.compiled.arch

    def new_engine(self) -> Engine:
        """A fresh engine with the workload's data loaded."""
        eng = Engine(self.compiled)
        self.load(eng)
        return eng

    def run(self, *, max_cycles: int | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        eng = self.new_engine()
        setup_s = time.perf_counter() - t0
        self.engine = eng
        t0 = time.perf_counter()
        eng.prepare()  # the static tasks' records: made by the first engine of the layout
        prepare_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = eng.run(max_cycles=max_cycles)
        wall = time.perf_counter() - t0
        cycles, start, end = sdk_cycles(eng)
        chk = self.check(eng)
        stats = dict(res.stats)
        out: dict[str, Any] = {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "pes": self.pes,
            "cycles": cycles,
            "start_cycle": start,
            "end_cycle": end,
            "model_cycles": self.model_cycles,
            "reason": res.reason,
            "ok": bool(chk.ok),
            "max_abs_err": float(chk.max_abs_err),
            "stats": stats,
            "wall_s": wall,
            "setup_s": setup_s,
            "prepare_s": prepare_s,
            "build_s": self.build_s,
            "peak_rss_mb": peak_rss_mb(),
            "clock_hz": float(self.arch.clock_hz),
        }
        if self.flops is not None:
            out["flops"] = float(self.flops)
            seconds = cycles / float(self.arch.clock_hz)
            out["flop_per_s"] = self.flops / seconds if seconds > 0 else float("nan")
        out.update(chk.detail)
        return out
