"""Where the cycles went: a per-PE breakdown, per-task totals and the hottest links of a run.

Every PE's CE spends each cycle of the run window ``[0, end)`` in exactly one of (``end`` is the
engine's clock, or the last cycle a CE was busy if a task's own clock ran ahead of the fabric's
- a task's cursor advances with its work while nothing else waits for it):

``busy``
    running a task: its start-up, its scalar work (``pe.spend``), memory-only vector ops, and
    the cycles in which a synchronous fabric op moved an element (or started up);
``stalled_fabric``
    inside a synchronous fabric op (or a FIFO op) waiting for input or for room downstream: the
    engine's sync-op wait counter (``profile_counters()`` column 2);
``stalled_memory``
    waiting for a memory bank. Always 0: the engine does not model bank conflicts (memory ops
    run at the SIMD width, see docs/engine.md);
``idle``
    no task running.

so ``busy + stalled_fabric + stalled_memory + idle == cycles`` for every PE. The time a task
occupies the CE comes from the trace's task spans (a task suspended in a synchronous op when the
run ended counts up to ``now``), so the profile needs a trace recorded from the engine's start
(``engine.start_trace`` right after construction, which ``waferscale profile`` and
:func:`~waferscale.tools.targets.run_target` do). Without one the breakdown falls back to the
counters alone and ``exact`` is False: the streaming cycles of synchronous ops are then counted
as idle.

Microthreads run beside the CE: their waits (``async_wait``, column 3 of the counters) and the
elements all ops processed (``op_elements``) are reported per PE but are not part of the sum.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..fabric._layout_consts import (
    CE_SUSPENDED,
    F_DONE,
    F_ISSUED,
    PR_ASYNC_WAIT,
    PR_OP_ELEMENTS,
    PR_SYNC_WAIT,
    PR_TASK_BUSY,
)

__all__ = ["LINK_NAMES", "Profile", "profile"]

LINK_NAMES = ("NORTH", "SOUTH", "EAST", "WEST", "RAMP down", "RAMP up")


@dataclass
class Profile:
    """The breakdown of one engine's run (arrays shaped (height, width))."""

    name: str
    width: int
    height: int
    cycles: int
    busy: np.ndarray
    stalled_fabric: np.ndarray
    stalled_memory: np.ndarray
    idle: np.ndarray
    async_wait: np.ndarray
    op_elements: np.ndarray
    task_runs: np.ndarray
    link_out: np.ndarray  # (height, width, 6) wavelets per direction (LINK_NAMES)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    exact: bool = True

    @property
    def pes(self) -> int:
        return self.width * self.height

    def totals(self) -> dict[str, Any]:
        pc = max(1, self.cycles * self.pes)
        out: dict[str, Any] = {"cycles": self.cycles, "pes": self.pes, "pe_cycles": pc}
        for key in ("busy", "stalled_fabric", "stalled_memory", "idle"):
            v = int(getattr(self, key).sum())
            out[key] = v
            out[f"{key}_fraction"] = v / pc
        out["async_wait"] = int(self.async_wait.sum())
        out["op_elements"] = int(self.op_elements.sum())
        out["task_runs"] = int(self.task_runs.sum())
        out["wavelet_hops"] = int(self.link_out[..., :4].sum())
        return out

    def hottest_links(self, top: int = 10) -> list[dict[str, Any]]:
        """The ``top`` busiest links (mesh directions and the ramps), busiest first, with
        ``utilisation`` = wavelets / cycles (a link carries at most one per cycle)."""
        flat = self.link_out.reshape(-1)
        k = min(top, int(np.count_nonzero(flat)))
        if k == 0:
            return []
        idx = np.argsort(-flat, kind="stable")[:k]
        out = []
        for i in idx.tolist():
            p, d = divmod(i, 6)
            n = int(flat[i])
            out.append({"x": p % self.width, "y": p // self.width, "link": LINK_NAMES[d],
                        "wavelets": n, "utilisation": n / max(1, self.cycles)})
        return out

    def pe_rows(self) -> list[dict[str, Any]]:
        rows = []
        for y in range(self.height):
            for x in range(self.width):
                rows.append({
                    "x": x, "y": y,
                    "busy": int(self.busy[y, x]),
                    "stalled_fabric": int(self.stalled_fabric[y, x]),
                    "stalled_memory": int(self.stalled_memory[y, x]),
                    "idle": int(self.idle[y, x]),
                    "async_wait": int(self.async_wait[y, x]),
                    "op_elements": int(self.op_elements[y, x]),
                    "task_runs": int(self.task_runs[y, x]),
                })
        return rows

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "cycles": self.cycles,
            "exact": self.exact,
            "stalled_memory_note": "bank conflicts are not modelled: always 0",
            "totals": self.totals(),
            "tasks": self.tasks,
            "hottest_links": self.hottest_links(top),
            "pes": self.pe_rows(),
        }

    def to_json(self, top: int = 10, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(top), **kwargs)

    def tables(self) -> dict[str, dict[str, np.ndarray]]:
        """``pes`` (one row per PE) and ``links`` (one row per PE and direction) as columns."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        pes = {"x": xs.ravel(), "y": ys.ravel()}
        for key in ("busy", "stalled_fabric", "stalled_memory", "idle", "async_wait",
                    "op_elements", "task_runs"):
            pes[key] = getattr(self, key).ravel()
        lo = self.link_out.reshape(-1, 6)
        links = {
            "x": np.repeat(xs.ravel(), 6),
            "y": np.repeat(ys.ravel(), 6),
            "link": np.tile(np.array(LINK_NAMES, dtype=object), self.pes),
            "wavelets": lo.ravel(),
            "utilisation": lo.ravel() / max(1, self.cycles),
        }
        return {"pes": pes, "links": links}

    def rich_tables(self, top: int = 10) -> list[Any]:
        """Rich renderables: the overview, the PEs (busiest first), the tasks, the links."""
        from rich.table import Table

        t = self.totals()
        overview = Table(title=f"profile of {self.name}: {self.width} x {self.height} PEs, "
                         f"{self.cycles:,} cycles", title_justify="left")
        overview.add_column("CE cycles in")
        overview.add_column("PE-cycles", justify="right")
        overview.add_column("share", justify="right")
        for key, label in (("busy", "busy"), ("stalled_fabric", "stalled on fabric"),
                           ("stalled_memory", "stalled on memory (not modelled)"),
                           ("idle", "idle")):
            overview.add_row(label, f"{t[key]:,}", f"{t[key + '_fraction']:.1%}")
        overview.add_row("[dim]microthread waits (beside the CE)[/dim]",
                         f"[dim]{t['async_wait']:,}[/dim]", "")
        pes = Table(title=f"PEs (the {min(top, self.pes)} least idle)", title_justify="left")
        for col in ("PE", "busy", "stalled fabric", "idle", "async wait", "op elements",
                    "tasks"):
            pes.add_column(col, justify="right")
        order = np.argsort(self.idle.ravel(), kind="stable")[:top]
        for i in order.tolist():
            y, x = divmod(i, self.width)
            pes.add_row(f"({x}, {y})", f"{int(self.busy[y, x]):,}",
                        f"{int(self.stalled_fabric[y, x]):,}", f"{int(self.idle[y, x]):,}",
                        f"{int(self.async_wait[y, x]):,}", f"{int(self.op_elements[y, x]):,}",
                        f"{int(self.task_runs[y, x]):,}")
        tasks = Table(title="tasks", title_justify="left")
        for col in ("task", "id", "runs", "PEs", "cycles", "mean", "max"):
            tasks.add_column(col, justify="right" if col != "task" else "left")
        for row in self.tasks[:top]:
            tasks.add_row(row["name"], ",".join(map(str, row["task_ids"])), f"{row['runs']:,}",
                          f"{row['pes']:,}", f"{row['cycles']:,}", f"{row['mean']:.1f}",
                          f"{row['max']:,}")
        links = Table(title="hottest links", title_justify="left")
        for col in ("PE", "link", "wavelets", "utilisation"):
            links.add_column(col, justify="right")
        for row in self.hottest_links(top):
            links.add_row(f"({row['x']}, {row['y']})", row["link"], f"{row['wavelets']:,}",
                          f"{row['utilisation']:.1%}")
        return [overview, pes, tasks, links]


def profile(engine: Any, trace: Any = None) -> Profile:
    """The profile of ``engine`` over its run window (see the module docstring); ``trace``
    defaults to the trace the engine is recording (``engine.trace``), if any."""
    trace = trace if trace is not None else engine.trace
    w, h = engine.width, engine.height
    n = w * h
    now = _window_end(engine, trace)
    prof = engine.profile_counters()
    sync_wait = prof[:, PR_SYNC_WAIT].astype(np.int64)
    task_runs = np.zeros(n, np.int64)
    tasks: list[dict[str, Any]] = []
    if trace is not None:
        t = trace.tasks
        start = np.clip(t["start"], 0, now)
        end = np.clip(t["end"], 0, now)
        occupied = np.bincount(t["pe"], weights=end - start, minlength=n).astype(np.int64)
        task_runs = np.bincount(t["pe"], minlength=n).astype(np.int64)
        extra_busy, extra_wait = _open_tasks(engine, trace, now)
        occupied += extra_busy + extra_wait
        stalled = sync_wait + extra_wait
        busy = occupied - stalled
        tasks = _task_totals(t)
        exact = True
    else:
        busy = prof[:, PR_TASK_BUSY].astype(np.int64)
        stalled = sync_wait
        exact = False
    # A CE's last task can end after the fabric went quiet; never count more than the window.
    busy = np.minimum(np.maximum(busy, 0), now)
    stalled = np.minimum(stalled, now - busy)
    idle = now - busy - stalled
    shape = (h, w)
    return Profile(
        name=engine.compiled.layout.name,
        width=w,
        height=h,
        cycles=now,
        busy=busy.reshape(shape),
        stalled_fabric=stalled.reshape(shape),
        stalled_memory=np.zeros(shape, np.int64),
        idle=idle.reshape(shape),
        async_wait=prof[:, PR_ASYNC_WAIT].reshape(shape).astype(np.int64),
        op_elements=prof[:, PR_OP_ELEMENTS].reshape(shape).astype(np.int64),
        task_runs=task_runs.reshape(shape),
        link_out=engine.state.link_out.reshape(h, w, 6).copy(),
        tasks=tasks,
        exact=exact,
    )


def _window_end(engine: Any, trace: Any) -> int:
    """The end of the run window: the engine's clock, or later where a CE's last task ran
    ahead of it (a task's clock is its own cursor; nothing may have waited for it)."""
    end = max(engine.now, int(engine.state.ce_busy.max(initial=0)))
    if trace is not None and len(trace.tasks["end"]):
        end = max(end, int(trace.tasks["end"].max()))
    return end


def _open_tasks(engine: Any, trace: Any, now: int) -> tuple[np.ndarray, np.ndarray]:
    """Busy and waiting cycles of tasks still suspended in a synchronous op at ``now`` (a
    stalled run): from their pick (the last ``task`` event of the PE) to now."""
    s = engine.state
    n = engine.width * engine.height
    busy = np.zeros(n, np.int64)
    wait = np.zeros(n, np.int64)
    suspended = np.nonzero(s.ce_state == CE_SUSPENDED)[0]
    if len(suspended) == 0:
        return busy, wait
    from ..fabric._layout_consts import EV_TASK

    ev = trace.events
    picks = ev["kind"] == EV_TASK
    for p in suspended.tolist():
        mine = ev["cycle"][picks & (ev["pe"] == p)]
        if len(mine) == 0:
            continue
        start = int(mine.max())
        o = int(s.slot_op[p, s.slots - 1])
        if o >= 0:
            issued, done = int(s.ops[o, F_ISSUED]), int(s.ops[o, F_DONE])
            busy[p] = max(0, issued - start) + done
            wait[p] = max(0, now - issued - done)
        else:
            busy[p] = now - start
    return busy, wait


def _task_totals(t: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    dur = (t["end"] - t["start"]).tolist()
    for p, tid, name, d in zip(t["pe"].tolist(), t["task_id"].tolist(), t["name"].tolist(), dur,
                               strict=True):
        r = rows.setdefault(str(name), {"name": str(name), "task_ids": set(), "runs": 0,
                                        "pes": set(), "cycles": 0, "max": 0})
        r["task_ids"].add(tid)
        r["runs"] += 1
        r["pes"].add(p)
        r["cycles"] += d
        r["max"] = max(r["max"], d)
    out = []
    for r in sorted(rows.values(), key=lambda r: -r["cycles"]):
        out.append({"name": r["name"], "task_ids": sorted(r["task_ids"]), "runs": r["runs"],
                    "pes": len(r["pes"]), "cycles": r["cycles"],
                    "mean": r["cycles"] / r["runs"], "max": r["max"]})
    return out
