"""What the tools run: a kernel of the library or an example script, with every engine it
creates captured (traced, profiled, or handed to the debugger).

A *target* is a kernel name (``waferscale.kernels.REGISTRY``), the path of a Python file that
defines ``main()`` (an example), or the stem of a file in the repository's ``examples/``
(``tutorial_03_routes``). Running it calls ``kernel.run(arch, grid, size, seed)`` or
``main()``; while it runs, every :class:`~waferscale.fabric.Engine` constructed is captured
(``capture_engines``) and every layout compiled is recorded (``capture_layouts``), by wrapping
``Engine.__init__`` and ``Layout.compile`` for the duration of the call only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EngineRecord",
    "Target",
    "TargetError",
    "TargetRun",
    "capture_engines",
    "capture_layouts",
    "examples_dir",
    "resolve_target",
    "run_target",
    "target_layouts",
]


class TargetError(ValueError):
    """A target name that is neither a kernel nor an example (the message lists both)."""


def examples_dir() -> Path | None:
    """The repository's ``examples/`` (next to ``src/``), or ``./examples``, if there is one."""
    here = Path(__file__).resolve().parents[3] / "examples"
    for cand in (here, Path.cwd() / "examples"):
        if cand.is_dir():
            return cand
    return None


@dataclass
class Target:
    """A runnable thing: ``kind`` is "kernel" (``obj`` the Kernel) or "example" (``obj`` the
    file's path)."""

    name: str
    kind: str
    obj: Any

    def call(self, *, arch: Any = None, grid: Any = None, size: Any = None, seed: int = 0) -> Any:
        if self.kind == "kernel":
            return self.obj.run(arch or "wse2", grid, size, seed=seed)
        module = load_example(self.obj)
        main = getattr(module, "main", None)
        if not callable(main):
            raise TargetError(f"{self.obj} defines no main()")
        return main()


def load_example(path: Path) -> Any:
    """Import an example file as a fresh module (its folder on ``sys.path`` while it loads, so
    it can import its siblings)."""
    path = Path(path).resolve()
    name = f"_waferscale_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))
    return module


def resolve_target(name: str) -> Target:
    """A kernel name, an example file, or the stem of a file in ``examples/``."""
    from ..kernels import REGISTRY

    if name in REGISTRY:
        return Target(name, "kernel", REGISTRY[name])
    path = Path(name)
    if path.suffix == ".py" and path.is_file():
        return Target(path.stem, "example", path)
    ex = examples_dir()
    if ex is not None:
        cand = ex / (path.stem + ".py")
        if cand.is_file() and path.suffix in ("", ".py"):
            return Target(cand.stem, "example", cand)
    import difflib

    names = list(REGISTRY) + ([p.stem for p in sorted(ex.glob("[!_]*.py"))] if ex else [])
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TargetError(
        f"unknown target {name!r}{hint}: give a kernel ({', '.join(REGISTRY)}), an example "
        "file (path/to/file.py with main()) or an example name from examples/"
    )


@contextlib.contextmanager
def capture_engines(on_engine: Callable[[Any], None] | None = None) -> Iterator[list[Any]]:
    """Collect every Engine constructed inside the ``with`` block (in order); ``on_engine`` is
    called with each right after its construction (before it runs)."""
    from ..fabric.engine import Engine

    engines: list[Any] = []
    original = Engine.__init__

    def init(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        engines.append(self)
        if on_engine is not None:
            on_engine(self)

    Engine.__init__ = init  # type: ignore[method-assign]
    try:
        yield engines
    finally:
        Engine.__init__ = original  # type: ignore[method-assign]


class _StopAfterCompile(Exception):
    pass


@contextlib.contextmanager
def capture_layouts(stop_after: int | None = None) -> Iterator[list[Any]]:
    """Collect every layout compiled successfully inside the ``with`` block (the
    ``CompiledLayout`` objects). With ``stop_after=k`` the block is interrupted after the k-th
    (the exception is swallowed by this context manager): no simulation runs."""
    from ..program.layout import Layout

    compiled: list[Any] = []
    original = Layout.compile

    def compile(self, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        compiled.append(out)
        if stop_after is not None and len(compiled) >= stop_after:
            raise _StopAfterCompile
        return out

    Layout.compile = compile  # type: ignore[method-assign]
    try:
        yield compiled
    except _StopAfterCompile:
        pass
    finally:
        Layout.compile = original  # type: ignore[method-assign]


def target_layouts(target: Target | str, **kwargs: Any) -> list[Any]:
    """The compiled layouts of a target without simulating it where that can be avoided: a
    kernel is stopped right after it compiles its layout; an example's ``main()`` runs to the
    end (examples may compile several layouts), keeping the ones that compiled; an exception
    raised after a layout compiled (a program that stalls) is not the layouts' concern."""
    if isinstance(target, str):
        target = resolve_target(target)
    stop = 1 if target.kind == "kernel" else None
    with capture_layouts(stop_after=stop) as layouts:
        try:
            target.call(**kwargs)
        except Exception:
            if not layouts:  # it failed before compiling anything: that is the caller's error
                raise
    return layouts


@dataclass
class EngineRecord:
    """One engine a target created: its trace (if traced) and the stall report if a run of it
    raised :class:`~waferscale.fabric.StallError`."""

    index: int
    engine: Any
    trace: Any = None
    stall: Any = None

    @property
    def name(self) -> str:
        return self.engine.compiled.layout.name


@dataclass
class TargetRun:
    """What :func:`run_target` saw: the engines, what the target returned, and the exception
    it raised (None if it finished)."""

    target: Target
    records: list[EngineRecord] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    wall_s: float = 0.0

    def pick(self, index: int | None = None) -> EngineRecord:
        """Engine ``index``, or by default the one that simulated the most PE-cycles."""
        if not self.records:
            raise TargetError(f"{self.target.name} created no engine")
        if index is not None:
            if not -len(self.records) <= index < len(self.records):
                raise TargetError(
                    f"{self.target.name} created {len(self.records)} engine(s); no engine "
                    f"#{index}"
                )
            return self.records[index]
        return max(self.records, key=lambda r: (r.engine.now * r.engine.width
                                                * r.engine.height, -r.index))


def run_target(
    target: Target | str,
    *,
    trace: bool = True,
    window: Any = None,
    capacity: int = 1 << 16,
    progress: Any = None,
    arch: Any = None,
    grid: Any = None,
    size: Any = None,
    seed: int = 0,
) -> TargetRun:
    """Run a target with every engine it creates captured; with ``trace`` each engine records
    a trace from its first cycle (``window``: a :class:`~waferscale.fabric.trace.TraceWindow`).
    Exceptions of the target are caught and kept in ``.error`` (a stalled program still leaves
    its engines, traces and stall report behind). ``progress``: a rich Console on which to show
    the current engine's cycle while it runs (only on a terminal)."""
    from ..fabric.stall import StallError

    if isinstance(target, str):
        target = resolve_target(target)
    out = TargetRun(target)

    def on_engine(eng: Any) -> None:
        rec = EngineRecord(len(out.records), eng)
        if trace:
            rec.trace = eng.start_trace(window, capacity)
        inner = eng.run

        def run(**kw: Any) -> Any:
            try:
                return inner(**kw)
            except StallError as err:
                rec.stall = err.report
                raise

        eng.run = run
        out.records.append(rec)

    t0 = time.perf_counter()
    live = _progress(progress, target, out, t0)
    with capture_engines(on_engine), live:
        try:
            out.result = target.call(arch=arch, grid=grid, size=size, seed=seed)
        except Exception as err:  # noqa: BLE001 - reported to the caller
            out.error = err
    out.wall_s = time.perf_counter() - t0
    if isinstance(out.error, StallError) and out.records and out.records[-1].stall is None:
        out.records[-1].stall = out.error.report
    for rec in out.records:
        if rec.trace is not None and rec.engine.trace is not None:
            rec.trace = rec.engine.stop_trace()
    return out


def _progress(console: Any, target: Target, run: TargetRun, t0: float) -> Any:
    """A rich Live line with the running engine's cycle (a no-op off a terminal)."""
    if console is None or not getattr(console, "is_terminal", False):
        return contextlib.nullcontext()
    from rich.live import Live
    from rich.text import Text

    class Status:
        def __rich__(self) -> Text:
            if not run.records:
                return Text(f"{target.name}: building ...", style="dim")
            eng = run.records[-1].engine
            return Text(
                f"{target.name}: engine #{len(run.records) - 1} ({eng.width}x{eng.height} "
                f"PEs) at cycle {eng.now:,} - {time.perf_counter() - t0:.1f} s",
                style="dim",
            )

    return Live(Status(), console=console, refresh_per_second=4, transient=True)
