"""Traces out of the simulator: Chrome / Perfetto trace-event JSON, and tables (CSV, Parquet).

**Trace-event JSON** (``chrome_trace`` / ``write_chrome_trace``) follows the Trace Event Format
that the Perfetto UI (ui.perfetto.dev) and ``chrome://tracing`` load. One process is the
simulated rectangle; each PE has a thread named ``PE (x, y)`` (its CE: task spans, the events of
its main thread) and, when it used them, a thread per microthread ``PE (x, y) mt k`` and a
thread ``PE (x, y) router`` (wavelet events). Events:

============  =====  ============================================================================
category      phase  what
============  =====  ============================================================================
``task_run``  ``X``  a task run from the cycle it was picked to the cycle it ended (``trace.tasks``)
``op``        ``i``  a vector op issued by a task (``trace.ops``; memory ops carry their cycles)
``op_done``   ``i``  a streaming op (or async memory op) completing, on its thread
``task``      ``i``  the picker choosing a task (a kernel event), on the CE thread
``hop``...    ``i``  the other kernel events: ``hop``, ``ramp_down``, ``ramp_up``, ``host_in``,
                     ``host_out``, ``drop``, on the router thread
============  =====  ============================================================================

so the file holds exactly one event per recorded task run (``counts()["task_runs"]``), op issue
(``"op_issues"``) and kernel event (one category per ``EVENT_NAMES`` kind), plus ``M``
metadata events naming the process and threads. Time: by default 1 cycle is shown as 1 us
(``ts`` = cycle); ``clock_hz=...`` converts cycles to real microseconds instead.

**Tables** (``trace_tables``): ``events`` (one row per kernel event), ``tasks``, ``ops``; with a
profile also ``pes`` and ``links``. ``write_tables(dir)`` writes CSV, and Parquet files as well
when ``pyarrow`` is importable (an optional extra; never required).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..fabric._layout_consts import EV_OP_DONE, EV_TASK, EVENT_NAMES
from ..program.ports import PORT_NAMES

__all__ = [
    "chrome_trace",
    "trace_tables",
    "validate_chrome_trace",
    "write_chrome_trace",
    "write_tables",
]

_ROUTER_KINDS = {i for i, n in enumerate(EVENT_NAMES) if n not in ("op_done", "task")}


def _op_name(code: int) -> str:
    from ..fabric._numerics import ELEM_INFO

    try:
        return ELEM_INFO[int(code)].op.name.lower()
    except (IndexError, AttributeError):
        return f"op{int(code)}"


def chrome_trace(
    trace: Any,
    *,
    name: str = "waferscale",
    microthreads: int | None = None,
    clock_hz: float | None = None,
    engine: Any = None,
) -> dict[str, Any]:
    """The trace as a trace-event JSON object (``{"traceEvents": [...], ...}``).

    ``trace``: a :class:`~waferscale.fabric.trace.Trace`. ``microthreads``: the arch's count
    (the main thread's slot number in op-done events; taken from ``engine`` if given, else 8).
    ``clock_hz``: show real time (cycles / clock) instead of 1 cycle = 1 us."""
    if engine is not None:
        microthreads = engine.arch.pe.microthreads
        name = engine.compiled.layout.name
    main_slot = 8 if microthreads is None else int(microthreads)
    width = trace.width
    scale = 1.0 if clock_hz is None else 1e6 / float(clock_hz)
    lanes = main_slot + 2  # per PE: CE thread, microthreads, router thread
    pid = 1

    def tid(p: int, lane: int) -> int:
        return int(p) * lanes + lane  # lane 0 = CE, 1..main_slot = microthreads, last = router

    used: set[int] = set()
    events: list[dict[str, Any]] = []
    tasks = trace.tasks
    for p, task_id, tname, start, end in zip(
        tasks["pe"].tolist(), tasks["task_id"].tolist(), tasks["name"].tolist(),
        tasks["start"].tolist(), tasks["end"].tolist(), strict=True,
    ):
        t = tid(p, 0)
        used.add(t)
        events.append({
            "name": str(tname), "cat": "task_run", "ph": "X", "ts": start * scale,
            "dur": max(0, end - start) * scale, "pid": pid, "tid": t,
            "args": {"task_id": task_id, "start_cycle": start, "end_cycle": end},
        })
    ops = trace.ops
    for p, op, cycle, cycles, operands in zip(
        ops["pe"].tolist(), ops["op"].tolist(), ops["cycle"].tolist(), ops["cycles"].tolist(),
        ops["operands"].tolist(), strict=True,
    ):
        t = tid(p, 0)
        used.add(t)
        args: dict[str, Any] = {"cycle": cycle, "operands": str(operands)}
        if cycles >= 0:
            args["cycles"] = cycles
        events.append({"name": str(op), "cat": "op", "ph": "i", "s": "t", "ts": cycle * scale,
                       "pid": pid, "tid": t, "args": args})
    ev = trace.events
    for cycle, kind, p, color, port, payload, ctrl in zip(
        *(ev[k].tolist() for k in ("cycle", "kind", "pe", "color", "port", "payload", "ctrl")),
        strict=True,
    ):
        kname = EVENT_NAMES[kind]
        if kind == EV_OP_DONE:
            lane = 0 if port >= main_slot else 1 + port
            t = tid(p, lane)
            e = {"name": f"{_op_name(payload)} done", "cat": kname, "ph": "i", "s": "t",
                 "ts": cycle * scale, "pid": pid, "tid": t,
                 "args": {"cycle": cycle, "elements": ctrl,
                          "thread": "main" if lane == 0 else f"microthread {port}"}}
        elif kind == EV_TASK:
            t = tid(p, 0)
            e = {"name": f"pick task {payload}", "cat": kname, "ph": "i", "s": "t",
                 "ts": cycle * scale, "pid": pid, "tid": t,
                 "args": {"cycle": cycle, "task_id": payload, "wavelet": f"0x{ctrl:08x}"}}
        else:
            t = tid(p, lanes - 1)
            e = {"name": f"{kname} c{color}", "cat": kname, "ph": "i", "s": "t",
                 "ts": cycle * scale, "pid": pid, "tid": t,
                 "args": {"cycle": cycle, "color": color, "port": PORT_NAMES[port],
                          "payload": f"0x{payload & 0xFFFFFFFF:08x}", "control": bool(ctrl)}}
        used.add(t)
        events.append(e)
    meta: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}},
    ]
    for t in sorted(used):
        p, lane = divmod(t, lanes)
        x, y = p % width, p // width
        label = f"PE ({x}, {y})"
        if lane == lanes - 1:
            label += " router"
        elif lane > 0:
            label += f" mt {lane - 1}"
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": t,
                     "args": {"name": label}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": t,
                     "args": {"sort_index": t}})
    return {
        "traceEvents": meta + events,
        "otherData": {
            "generator": "waferscale.tools.export",
            "layout": name,
            "time_unit": "1 us = 1 cycle" if clock_hz is None else f"us at {clock_hz:g} Hz",
            "width": trace.width,
            "height": trace.height,
            "dropped_events": int(trace.dropped),
        },
    }


def write_chrome_trace(path: str | Path, trace: Any, **kwargs: Any) -> Path:
    """Write :func:`chrome_trace` to ``path`` (compact JSON); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        json.dump(chrome_trace(trace, **kwargs), fh, separators=(",", ":"))
    return path


_NUM = (int, float)
_PHASE_KEYS: dict[str, dict[str, tuple]] = {
    # keys every event of the phase must have, with their types (beyond name/ph/pid/tid)
    "X": {"ts": _NUM, "dur": _NUM},
    "B": {"ts": _NUM},
    "E": {"ts": _NUM},
    "i": {"ts": _NUM},
    "I": {"ts": _NUM},
    "C": {"ts": _NUM, "args": (dict,)},
    "M": {"args": (dict,)},
}
_META_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index",
               "process_labels"}


def validate_chrome_trace(obj: Any) -> list[str]:
    """Problems of a trace-event JSON object against the Trace Event Format (required keys and
    their types per phase); an empty list when it is valid."""
    problems: list[str] = []
    if not isinstance(obj, dict) or not isinstance(obj.get("traceEvents"), list):
        return ["the top level must be an object with a 'traceEvents' list"]
    for i, e in enumerate(obj["traceEvents"]):
        where = f"event {i}"
        if not isinstance(e, dict):
            problems.append(f"{where}: not an object")
            continue
        ph = e.get("ph")
        if ph not in _PHASE_KEYS:
            problems.append(f"{where}: phase {ph!r} is not one of {sorted(_PHASE_KEYS)}")
            continue
        if not isinstance(e.get("name"), str):
            problems.append(f"{where}: 'name' must be a string")
        for key in ("pid", "tid"):
            if not isinstance(e.get(key), int) or isinstance(e.get(key), bool):
                problems.append(f"{where}: {key!r} must be an integer")
        for key, types in _PHASE_KEYS[ph].items():
            v = e.get(key)
            if not isinstance(v, types) or isinstance(v, bool):
                problems.append(f"{where} ({ph}): {key!r} missing or not {types[0].__name__}")
        if ph == "X" and isinstance(e.get("dur"), _NUM) and e["dur"] < 0:
            problems.append(f"{where}: negative duration")
        if ph in ("i", "I") and e.get("s", "t") not in ("g", "p", "t"):
            problems.append(f"{where}: instant scope 's' must be 'g', 'p' or 't'")
        if ph == "C" and isinstance(e.get("args"), dict) and not all(
            isinstance(v, _NUM) for v in e["args"].values()
        ):
            problems.append(f"{where}: counter values must be numbers")
        if ph == "M":
            if e.get("name") not in _META_NAMES:
                problems.append(f"{where}: unknown metadata event {e.get('name')!r}")
            elif e["name"].endswith("_name") and not isinstance(e["args"].get("name"), str):
                problems.append(f"{where}: {e['name']} needs args.name (a string)")
            elif e["name"].endswith("sort_index") and not isinstance(
                e["args"].get("sort_index"), int
            ):
                problems.append(f"{where}: {e['name']} needs args.sort_index (an integer)")
        if "args" in e and not isinstance(e["args"], dict):
            problems.append(f"{where}: 'args' must be an object")
    return problems


# -- tables -----------------------------------------------------------------------------------


def trace_tables(trace: Any, profile: Any = None) -> dict[str, dict[str, np.ndarray]]:
    """The trace as named tables of columns (numpy arrays): ``events``, ``tasks``, ``ops``, and
    with a :class:`~waferscale.tools.profiler.Profile` also ``pes`` and ``links``."""
    w = trace.width
    ev = trace.events
    names = np.array(EVENT_NAMES, dtype=object)
    ports = np.array(PORT_NAMES + ("?",) * 16, dtype=object)
    router = np.isin(ev["kind"], list(_ROUTER_KINDS))
    tables: dict[str, dict[str, np.ndarray]] = {
        "events": {
            "cycle": ev["cycle"],
            "kind": names[ev["kind"]] if len(ev["kind"]) else np.zeros(0, object),
            "x": ev["pe"] % w,
            "y": ev["pe"] // w,
            "color": np.where(router, ev["color"], -1),
            "port": np.where(router, ports[np.clip(ev["port"], 0, 20)], ""),
            "payload": ev["payload"] & 0xFFFFFFFF,
            "ctrl": ev["ctrl"],
        }
    }
    t = trace.tasks
    tables["tasks"] = {
        "x": t["pe"] % w, "y": t["pe"] // w, "task_id": t["task_id"], "name": t["name"],
        "start": t["start"], "end": t["end"], "cycles": t["end"] - t["start"],
    }
    o = trace.ops
    tables["ops"] = {
        "x": o["pe"] % w, "y": o["pe"] // w, "op": o["op"], "cycle": o["cycle"],
        "cycles": o["cycles"], "operands": o["operands"],
    }
    if profile is not None:
        tables.update(profile.tables())
    return tables


def write_tables(
    directory: str | Path, tables: dict[str, dict[str, np.ndarray]], *, parquet: bool = True
) -> list[Path]:
    """Write each table as ``NAME.csv`` (and ``NAME.parquet`` when ``parquet`` and pyarrow is
    importable); returns the files written."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    pa = pq = None
    if parquet:
        try:
            import pyarrow as pa  # type: ignore[import-not-found]
            import pyarrow.parquet as pq  # type: ignore[import-not-found]
        except ImportError:
            pa = pq = None
    for name, cols in tables.items():
        keys = list(cols)
        path = out_dir / f"{name}.csv"
        with path.open("w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(keys)
            wr.writerows(zip(*(cols[k].tolist() for k in keys), strict=True))
        written.append(path)
        if pa is not None and pq is not None:
            table = pa.table({k: (cols[k].astype(str) if cols[k].dtype == object else cols[k])
                              for k in keys})
            ppath = out_dir / f"{name}.parquet"
            pq.write_table(table, ppath)
            written.append(ppath)
    return written
