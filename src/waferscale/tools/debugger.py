"""A debugger for simulated programs: pause, step, break on tasks or conditions, look inside.

Two ways to use it:

* ``Debugger(engine)`` on an engine you drive yourself (an ``Engine`` whose programs start
  their own tasks): ``run_to(cycle)``, ``step(n)``, ``cont()`` advance it and return a
  :class:`Stop` saying why they stopped; ``break_on_task(name_or_id, pe=(x, y))`` and
  ``break_when(cond)`` set breakpoints; ``symbols(x, y)``, ``queues(x, y)``, ``router(x, y)``,
  ``tasks(x, y)`` and ``log()`` look inside.
* ``DebugSession(target)`` on a kernel of the library or an example script (what ``waferscale
  debug`` uses): the target's own host code runs in a greenlet and drives the engines it
  creates; every ``engine.run`` it makes goes through the session, which pauses it where you
  asked and hands control back to you. It pauses when an engine is created (before it runs),
  at breakpoints, at stalls (``StallError``, before the target sees it) and when the target
  ends.

When are conditions checked? ``break_when(cond)`` is evaluated whenever the engine returns to
Python: before each batch of tasks it runs (task boundaries), not at every cycle;
``break_when(cond, every=k)`` also checks it every ``k`` cycles (the engine then runs in
``k``-cycle slices: slower). A condition fires when it *becomes* true (it is checked once when
set; a condition already true fires only after it was false again).

``command_loop(debugger, lines)`` reads commands (``help`` lists them) from any iterable of
lines, so the debugger works with piped input and in tests.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..program.layout import mask_ports

__all__ = ["DebugSession", "Debugger", "Stop", "command_loop"]


@dataclass
class Stop:
    """Why the debugger handed control back: ``reason`` is one of "cycle" (reached the cycle
    asked for), "break" (before a task, ``task``/``pe`` say which), "condition" (``detail``
    names it), "stall" (``stall`` is the report), "quiet" (the fabric has nothing left to do),
    "engine" (a new engine was created), "finished" (the target ended; ``error`` if it raised)."""

    reason: str
    cycle: int
    detail: str = ""
    pe: tuple[int, int] | None = None
    task: str | None = None
    stall: Any = None
    error: BaseException | None = None

    def __str__(self) -> str:
        head = f"stopped at cycle {self.cycle:,}: {self.reason}"
        if self.reason == "break":
            head += f" before task {self.task!r} on PE {self.pe}"
        elif self.detail:
            head += f" ({self.detail})"
        if self.error is not None:
            head += f"\n  the target raised {type(self.error).__name__}: {self.error}"
        return head


@dataclass
class _Cond:
    name: str
    fn: Callable[[Any], bool]
    every: int | None
    last: bool = False

    def fired(self, engine: Any) -> bool:
        v = bool(self.fn(engine))
        hit = v and not self.last
        self.last = v
        return hit


@dataclass
class Debugger:
    """Debugging API over one :class:`~waferscale.fabric.Engine` (see the module docstring)."""

    engine: Any
    conditions: list[_Cond] = field(default_factory=list)
    cycle_breaks: list[int] = field(default_factory=list)
    task_breaks: list[tuple[str | int, tuple[int, int] | None]] = field(default_factory=list)
    last_stop: Stop | None = None
    stall: Any = None

    # -- breakpoints -----------------------------------------------------------------------

    def break_on_task(self, task: str | int, pe: tuple[int, int] | None = None) -> None:
        """Pause before task ``task`` (a name or id) runs, on PE ``pe`` = (x, y) or any PE."""
        if isinstance(task, str) and task.isdigit():
            task = int(task)
        if self.engine is not None:
            self.engine.break_on_task(task, pe)
        self.task_breaks.append((task, pe))

    def break_when(self, cond: Callable[[Any], bool], name: str | None = None, *,
                   every: int | None = None) -> None:
        """Pause when ``cond(engine)`` becomes true (checked at task boundaries, and every
        ``every`` cycles if given)."""
        c = _Cond(name or getattr(cond, "__name__", "condition"), cond, every)
        if self.engine is not None:
            c.last = bool(cond(self.engine))
        self.conditions.append(c)

    def break_at_cycle(self, cycle: int) -> None:
        """Pause when the engine reaches ``cycle`` (once)."""
        self.cycle_breaks = sorted({*self.cycle_breaks, int(cycle)})

    def clear_breaks(self) -> None:
        if self.engine is not None:
            self.engine.clear_breaks()
        self.task_breaks.clear()
        self.conditions.clear()
        self.cycle_breaks.clear()

    def breakpoints(self) -> list[str]:
        out = [f"task {t!r}" + (f" on PE {pe}" if pe else " on any PE")
               for t, pe in self.task_breaks]
        out += [f"cycle {c:,}" for c in self.cycle_breaks]
        out += [f"when {c.name}" + (f" (every {c.every} cycles)" if c.every else "")
                for c in self.conditions]
        return out

    # -- running ---------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self.engine.now if self.engine is not None else 0

    def run_to(self, cycle: int) -> Stop:
        """Run until cycle ``cycle`` (or an earlier breakpoint, condition, stall, end)."""
        return self._stop(self._advance(int(cycle)))

    def step(self, n: int = 1) -> Stop:
        """Advance ``n`` cycles (or less, if something stops it first)."""
        return self._stop(self._advance(self.now + max(0, int(n))))

    def cont(self) -> Stop:
        """Run until a breakpoint, a condition, a stall or the end."""
        return self._stop(self._advance(None))

    def _stop(self, stop: Stop) -> Stop:
        self.last_stop = stop
        if stop.stall is not None:
            self.stall = stop.stall
        return stop

    def _target_cycle(self, stop_cycle: int | None) -> int | None:
        now = self.now
        pending = [c for c in self.cycle_breaks if c > now]
        if stop_cycle is not None:
            pending.append(stop_cycle)
        return min(pending) if pending else None

    def _slice(self) -> int | None:
        every = [c.every for c in self.conditions if c.every]
        return min(every) if every else None

    def _check_conditions(self, engine: Any) -> str | None:
        for c in self.conditions:
            if c.fired(engine):
                return c.name
        return None

    def _advance(self, stop_cycle: int | None) -> Stop:
        """Direct mode: run the engine ourselves."""
        from ..fabric.stall import StallError

        eng = self.engine
        while True:
            target = self._target_cycle(stop_cycle)
            if target is not None and eng.now >= target:
                self.cycle_breaks = [c for c in self.cycle_breaks if c > eng.now]
                return Stop("cycle", eng.now)
            limits = [v - eng.now for v in (target,) if v is not None]
            if self._slice():
                limits.append(self._slice())
            fired: list[str] = []

            def until(fired=fired) -> bool:
                name = self._check_conditions(eng)
                if name:
                    fired.append(name)
                return bool(name)

            try:
                res = eng.run(until=until if self.conditions else None,
                              max_cycles=min(limits) if limits else None)
            except StallError as err:
                # run(until=...) also means "the host waits for until()": a fabric that went
                # quiet with no task suspended only ran out of work.
                if err.report.reason == "quiet" and not getattr(eng, "_parked", True):
                    return Stop("quiet", eng.now, "the fabric has nothing left to do")
                return Stop("stall", eng.now, str(err.report).splitlines()[0], stall=err.report)
            if res.reason == "until":
                return Stop("condition", eng.now, fired[0] if fired else "")
            if res.reason == "break":
                return self._break_stop()
            if res.reason == "quiet":
                return Stop("quiet", eng.now, "the fabric has nothing left to do")
            # "limit": a slice or the target cycle; loop

    def _break_stop(self) -> Stop:
        eng = self.engine
        p, tid, name = eng.break_at
        return Stop("break", eng.now, pe=(p % eng.width, p // eng.width),
                    task=name or str(tid))

    # -- looking inside --------------------------------------------------------------------

    def _pe(self, x: int, y: int) -> int:
        if self.engine is None:
            raise RuntimeError("no engine yet: run until the target creates one")
        return self.engine.pe_index(int(x), int(y))

    def symbols(self, x: int, y: int) -> dict[str, np.ndarray]:
        """Every array of PE (x, y), by name (copies)."""
        p = self._pe(x, y)
        eng = self.engine
        return {n: eng.view(p, s).copy() for n, s in eng.code_at(p).symbols.items()}

    def read(self, x: int, y: int, name: str) -> np.ndarray:
        """Array ``name`` of PE (x, y) (a copy)."""
        self._pe(x, y)
        return self.engine.read_symbol(int(x), int(y), name)

    def _colors_of(self, p: int) -> list[int]:
        s = self.engine.state
        c_used = (s.route_rx[p].any(axis=1) | s.route_tx[p].any(axis=1)
                  | (s.i_count[p] > 0) | (s.o_count[p] > 0) | (s.r_count[p] > 0)
                  | (s.t_color_task[p] >= 0))
        return np.nonzero(c_used)[0].tolist()

    def queues(self, x: int, y: int) -> list[dict[str, Any]]:
        """Per color the PE uses: wavelets in its input queue (router to CE) and output queue
        (CE to router), with their capacities, and the data task bound to the color."""
        p = self._pe(x, y)
        s = self.engine.state
        out = []
        for c in self._colors_of(p):
            tid = int(s.t_color_task[p, c])
            out.append({
                "color": c,
                "input": int(s.i_count[p, c]), "input_capacity": s.caps.input_queue,
                "output": int(s.o_count[p, c]), "output_capacity": s.caps.output_queue,
                "data_task": tid if tid >= 0 else None,
                "host_stream": bool((int(s.o_host[p]) >> c) & 1),
            })
        return out

    def router(self, x: int, y: int) -> list[dict[str, Any]]:
        """Per color the router knows: the current switch position (of how many), its rx and
        tx ports there, wavelets in the color's buffer, teardown / swap / filter flags."""
        p = self._pe(x, y)
        s = self.engine.state
        out = []
        for c in self._colors_of(p):
            pos = int(s.route_pos[p, c])
            rx, tx = int(s.route_rx[p, c, pos]), int(s.route_tx[p, c, pos])
            out.append({
                "color": c, "position": pos, "positions": int(s.sw_npos[p, c]),
                "rx": mask_ports(rx),
                "tx": mask_ports(tx),
                "buffer": int(s.r_count[p, c]), "buffer_capacity": s.caps.router,
                "torn_down": bool((int(s.torn[p]) >> c) & 1),
                "swap": bool((int(s.swap[p]) >> c) & 1),
                "filter": bool((int(s.filt_mask[p]) >> c) & 1),
            })
        return out

    def tasks(self, x: int, y: int) -> dict[str, Any]:
        """The PE's tasks (id -> name, kind), which are active and blocked, and the CE's state."""
        p = self._pe(x, y)
        eng = self.engine
        s = eng.state
        code = eng.code_at(p)
        active, blocked = int(s.t_active[p]), int(s.t_blocked[p])
        rows = []
        for tid, d in sorted(code.tasks.items()):
            rows.append({"id": tid, "name": d.name, "kind": d.kind, "color": d.color,
                         "active": bool((active >> tid) & 1),
                         "blocked": bool((blocked >> tid) & 1)})
        state = ("idle", "running", "suspended in a synchronous op")[int(s.ce_state[p])]
        return {"program": code.program, "ce": state, "busy_until": int(s.ce_busy[p]),
                "tasks": rows}

    def log(self, last: int | None = None) -> list[Any]:
        """Prints from the PEs (``pe.print``), each with its cycle and PE, oldest first."""
        prints = self.engine.prints if self.engine is not None else []
        return list(prints[-last:]) if last else list(prints)

    def where(self) -> dict[str, Any]:
        eng = self.engine
        if eng is None:
            return {"engine": None}
        s = eng.state
        return {
            "engine": eng.compiled.layout.name, "size": (eng.width, eng.height),
            "cycle": eng.now,
            "running": int((s.ce_state == 1).sum()), "suspended": int((s.ce_state == 2).sum()),
            "wavelets_in_routers": int(s.r_count.sum()),
            "stats": eng.stats(),
        }


class DebugSession(Debugger):
    """A debugger over a target (kernel name, example file or example name) whose own host code
    drives its engines; see the module docstring. ``start()`` runs it to its first pause."""

    def __init__(self, target: Any, **call_kwargs: Any):
        super().__init__(None)
        from .targets import resolve_target

        self.target = resolve_target(target) if isinstance(target, str) else target
        self.call_kwargs = call_kwargs
        self.engines: list[Any] = []
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._pause_at: int | None = None
        self._killing = False
        self._main: Any = None
        self._g: Any = None

    # -- the target's side -----------------------------------------------------------------

    def _body(self) -> Stop:
        from .targets import capture_engines

        with capture_engines(self._on_engine):
            try:
                self.result = self.target.call(**self.call_kwargs)
            except Exception as err:  # noqa: BLE001 - shown to the user
                self.error = err
        self.finished = True
        return Stop("finished", self.now, "the target returned" if self.error is None else
                    "the target raised", error=self.error)

    def _pause(self, stop: Stop) -> None:
        self._main.switch(stop)
        if self._killing:
            import greenlet

            raise greenlet.GreenletExit

    def _on_engine(self, eng: Any) -> None:
        self.engine = eng
        self.engines.append(eng)
        self._pause_at = None
        for task, pe in self.task_breaks:
            if pe is None or (0 <= pe[0] < eng.width and 0 <= pe[1] < eng.height):
                eng.break_on_task(task, pe)
        for c in self.conditions:
            c.last = bool(c.fn(eng))
        self.cycle_breaks.clear()
        inner = eng.run

        def run(*, until=None, max_cycles=None, waiting_for=None):
            return self._driven_run(eng, inner, until, max_cycles, waiting_for)

        eng.run = run
        lay = eng.compiled.layout
        self._pause(Stop("engine", eng.now, f"engine #{len(self.engines) - 1} created: layout "
                         f"{lay.name!r}, {lay.width}x{lay.height} PEs on {eng.arch.name}"))

    def _driven_run(self, eng, inner, until, max_cycles, waiting_for):
        from ..fabric.stall import StallError

        caller_limit = None if max_cycles is None else eng.now + max_cycles
        while True:
            if self._killing:
                import greenlet

                raise greenlet.GreenletExit
            target = self._target_cycle(self._pause_at)
            if target is not None and eng.now >= target:
                self._pause_at = None
                self.cycle_breaks = [c for c in self.cycle_breaks if c > eng.now]
                self._pause(Stop("cycle", eng.now))
                continue
            limits = [v - eng.now for v in (caller_limit, target) if v is not None]
            if self._slice():
                limits.append(self._slice())
            fired: list[str] = []
            caller_hit = [False]

            def u(fired=fired, caller_hit=caller_hit) -> bool:
                if until is not None and until():
                    caller_hit[0] = True
                    return True
                name = self._check_conditions(eng)
                if name:
                    fired.append(name)
                return bool(name)

            try:
                res = inner(until=u if until is not None or self.conditions else None,
                            max_cycles=min(limits) if limits else None,
                            waiting_for=waiting_for)
            except StallError as err:
                if (until is None and err.report.reason == "quiet"
                        and not getattr(eng, "_parked", True)):
                    # only our conditions made run() wait: the caller's run ended quietly
                    from ..fabric.engine import RunResult

                    return RunResult("quiet", eng.now, 0.0, eng.stats())
                self._pause(Stop("stall", eng.now, str(err.report).splitlines()[0],
                                 stall=err.report))
                raise
            if res.reason == "until":
                if caller_hit[0]:
                    return res
                self._pause(Stop("condition", eng.now, fired[0] if fired else ""))
                continue
            if res.reason == "break":
                self._pause(self._break_stop())
                continue
            if res.reason == "limit":
                if caller_limit is not None and eng.now >= caller_limit:
                    return res
                continue
            return res

    # -- the debugger's side ---------------------------------------------------------------

    def start(self) -> Stop:
        """Start the target; returns at its first pause (usually its first engine)."""
        import greenlet

        self._main = greenlet.getcurrent()
        self._g = greenlet.greenlet(self._body)
        return self._stop(self._g.switch())

    def _advance(self, stop_cycle: int | None) -> Stop:
        if self._g is None:
            return self.start()
        if self.finished or self._g.dead:
            return Stop("finished", self.now, "the target has ended", error=self.error)
        self._pause_at = stop_cycle
        return self._g.switch()

    def close(self) -> None:
        """Abandon the target (if it has not ended): unwinds it where it is paused."""
        if self._g is not None and not self._g.dead:
            self._killing = True
            import contextlib

            import greenlet

            with contextlib.suppress(greenlet.GreenletExit):
                self._g.throw(greenlet.GreenletExit)


# -- the command loop ---------------------------------------------------------------------------

HELP = """commands:
  run [CYCLE]        continue (to CYCLE if given) until a breakpoint, a condition, a stall, the end
  step [N]           advance N cycles (default 1)
  break TASK [X Y]   pause before task TASK (name or id) runs on PE (X, Y), or on any PE
  break cycle N      pause when cycle N is reached
  breaks             list the breakpoints;  delete: remove them all
  print X Y [NAME]   array NAME of PE (X, Y), or all its arrays
  queues X Y         wavelets in the input / output queues of PE (X, Y), per color
  router X Y         the router of PE (X, Y) per color: position, rx, tx, buffered wavelets
  tasks X Y          the tasks of PE (X, Y): active, blocked, and the CE's state
  log [N]            the last N prints from the PEs (all without N), with their cycles
  where              the current engine, cycle and activity
  stall              the last stall report
  help               this list;  quit: leave (also at the end of the input)"""


def _fmt_array(a: np.ndarray) -> str:
    return np.array2string(a, threshold=64, edgeitems=8, max_line_width=100)


def command_loop(dbg: Debugger, lines: Iterable[str], write: Callable[[str], None] = print,
                 *, echo: bool = True) -> int:
    """Run debugger commands from ``lines`` (stops at ``quit`` or the end of the input);
    ``echo`` writes each command after the prompt (for transcripts of piped input). Returns
    the number of commands that failed."""
    failures = 0
    if isinstance(dbg, DebugSession) and dbg._g is None:
        write(str(dbg.start()))
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if echo:
            write(f"(wsdb) {line}")
        try:
            words = shlex.split(line)
        except ValueError as err:
            write(f"error: {err}")
            failures += 1
            continue
        cmd, args = words[0].lower(), words[1:]
        try:
            if cmd in ("quit", "q", "exit"):
                break
            out = _command(dbg, cmd, args)
        except (ValueError, IndexError, KeyError, RuntimeError) as err:
            out = f"error: {err}"
            failures += 1
        if out:
            write(out)
    if isinstance(dbg, DebugSession):
        dbg.close()
    return failures


def _ints(args: list[str], n: int, what: str) -> list[int]:
    if len(args) < n:
        raise ValueError(f"{what}: expected {n} numbers")
    try:
        return [int(a) for a in args[:n]]
    except ValueError:
        raise ValueError(f"{what}: expected {n} integers, got {' '.join(args[:n])}") from None


def _command(dbg: Debugger, cmd: str, args: list[str]) -> str:
    if cmd in ("run", "r", "continue", "c", "cont"):
        stop = dbg.run_to(_ints(args, 1, "run")[0]) if args else dbg.cont()
        return _describe(dbg, stop)
    if cmd in ("step", "s"):
        return _describe(dbg, dbg.step(_ints(args, 1, "step")[0] if args else 1))
    if cmd in ("break", "b"):
        if not args:
            raise ValueError("break: name a task (break TASK [X Y]) or a cycle (break cycle N)")
        if args[0] == "cycle":
            n = _ints(args[1:], 1, "break cycle")[0]
            dbg.break_at_cycle(n)
            return f"breakpoint at cycle {n:,}"
        pe = tuple(_ints(args[1:], 2, "break TASK X Y")) if len(args) > 1 else None
        dbg.break_on_task(args[0], pe)  # type: ignore[arg-type]
        return f"breakpoint before task {args[0]!r}" + (f" on PE {pe}" if pe else " on any PE")
    if cmd == "breaks":
        return "\n".join(dbg.breakpoints()) or "no breakpoints"
    if cmd == "delete":
        dbg.clear_breaks()
        return "breakpoints deleted"
    if cmd in ("print", "p"):
        x, y = _ints(args, 2, "print X Y")
        if len(args) > 2:
            return f"PE ({x}, {y}) {args[2]} = {_fmt_array(dbg.read(x, y, args[2]))}"
        syms = dbg.symbols(x, y)
        return "\n".join(f"PE ({x}, {y}) {n} = {_fmt_array(v)}" for n, v in syms.items()) \
            or f"PE ({x}, {y}) has no arrays"
    if cmd == "queues":
        x, y = _ints(args, 2, "queues X Y")
        rows = dbg.queues(x, y)
        if not rows:
            return f"PE ({x}, {y}): no colors in use"
        lines = [f"PE ({x}, {y}) queues at cycle {dbg.now:,}:"]
        for r in rows:
            task = f", data task {r['data_task']}" if r["data_task"] is not None else ""
            host = ", drained by the host" if r["host_stream"] else ""
            lines.append(f"  color {r['color']:>2}: in {r['input']}/{r['input_capacity']}, out "
                         f"{r['output']}/{r['output_capacity']}{task}{host}")
        return "\n".join(lines)
    if cmd == "router":
        x, y = _ints(args, 2, "router X Y")
        rows = dbg.router(x, y)
        if not rows:
            return f"PE ({x}, {y}): no colors in use"
        lines = [f"PE ({x}, {y}) router at cycle {dbg.now:,}:"]
        for r in rows:
            flags = [f for f in ("torn_down", "swap", "filter") if r[f]]
            lines.append(
                f"  color {r['color']:>2}: position {r['position']}/{r['positions']} rx "
                f"{'+'.join(r['rx']) or '-'} tx {'+'.join(r['tx']) or '-'}, buffer "
                f"{r['buffer']}/{r['buffer_capacity']}" + (f" [{', '.join(flags)}]" if flags
                                                           else ""))
        return "\n".join(lines)
    if cmd == "tasks":
        x, y = _ints(args, 2, "tasks X Y")
        t = dbg.tasks(x, y)
        lines = [f"PE ({x}, {y}) program {t['program']!r}: CE {t['ce']}"
                 f" (busy until cycle {t['busy_until']:,})"]
        for r in t["tasks"]:
            state = ", ".join(s for s in ("active", "blocked") if r[s]) or "-"
            color = f" color {r['color']}" if r["color"] is not None else ""
            lines.append(f"  {r['id']:>2} {r['name']} ({r['kind']}{color}): {state}")
        return "\n".join(lines)
    if cmd == "log":
        recs = dbg.log(_ints(args, 1, "log")[0] if args else None)
        return "\n".join(f"[cycle {r.cycle:,}] PE ({r.x}, {r.y}): {r.message}"
                         for r in recs) or "no prints"
    if cmd in ("where", "info"):
        w = dbg.where()
        if w.get("engine") is None:
            return "no engine yet"
        return (f"engine {w['engine']!r} {w['size'][0]}x{w['size'][1]} at cycle {w['cycle']:,}: "
                f"{w['running']} CE(s) running, {w['suspended']} suspended in an op, "
                f"{w['wavelets_in_routers']} wavelet(s) in routers; "
                f"{w['stats']['tasks']:,} tasks run, {w['stats']['wavelet_hops']:,} hops")
    if cmd == "stall":
        return str(dbg.stall) if dbg.stall is not None else "no stall so far"
    if cmd in ("help", "h", "?"):
        return HELP
    raise ValueError(f"unknown command {cmd!r} (help lists them)")


def _describe(dbg: Debugger, stop: Stop) -> str:
    text = str(stop)
    if stop.stall is not None:
        causes = stop.stall.causes[:2]
        text += "".join(f"\n  likely cause: {c}" for c in causes)
        text += "\n  (the target sees the StallError when you continue; 'stall' prints it all)"
    return text


def interactive_lines(prompt: str = "(wsdb) ") -> Iterable[str]:
    """Lines from the terminal with a prompt (``input``), until end of input."""
    while True:
        try:
            yield input(prompt)
        except EOFError:
            return


def stdin_lines() -> Iterable[str]:
    return iter(sys.stdin.readline, "")
