"""The :class:`Collective`: one object that answers "what does it cost" (the analytic model)
and "run it" (on the simulator, or inside your own program).

>>> from waferscale import collectives as wc
>>> red = wc.Collective("reduce", 16, words=64, algorithm="chain")
>>> red.model_cycles()                 # B + 6 (P - 1) on WSE-2
154.0
>>> red.simulate().cycles              # doctest: +SKIP
154
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arch import ArchSpec, preset
from ..model import predict
from ..program.dsd import Symbol
from ..program.encoding import RESERVED_TASK_IDS
from ..program.layout import Layout
from . import _algorithms as alg
from ._errors import CollectiveError
from ._geometry import Region, parse_corner, parse_shape
from ._plan import AsyncSteps, run_steps

__all__ = ["Collective", "CollectiveError", "Handle", "Installed", "SimResult"]

DTYPES = ("f32", "f16")
REDUCE_OPS = ("sum", "max")


_TERMS: dict[tuple, list] = {}  # model terms per unit of B, shared by equal structures


def _arch(arch: ArchSpec | str) -> ArchSpec:
    return preset(arch) if isinstance(arch, str) else arch


@dataclass
class ModelTerms:
    """One phase of the model, per unit of B: T = max(C B, (E/N) B + wire) + stages."""

    contention: float
    link_term: float
    wire: float
    stages: float
    quantities: Any


class Collective:
    """A collective operation on a ``w`` x ``h`` region (a row, a column or a rectangle).

    ``op``: reduce, broadcast, allreduce, reduce_scatter, scatter, gather, allgather.
    ``shape``: ``P`` (a row), ``(w, h)`` or ``"WxH"``. ``words``: B (see the buffer conventions
    in :mod:`waferscale.collectives._algorithms`: B elements per PE, P * B for scatter, gather and
    allgather). ``algorithm``: one of :func:`waferscale.collectives.algorithms`, or ``"auto"``
    (the model's choice, :func:`waferscale.collectives.best`). ``reduce_op``: ``"sum"`` or
    ``"max"``; ``dtype``: ``"f32"`` or ``"f16"``; ``root``: the corner of the root PE (``"nw"``,
    ``"ne"``, ``"sw"``, ``"se"``; ``"west"``/``"east"`` for a row). Options: ``row``/``col``
    (the 1D algorithms of an X-Y reduce, default: each axis' best), ``line`` (the tree along a
    snake, default ``"chain"``)."""

    def __init__(
        self,
        op: str,
        shape: Any,
        words: int,
        algorithm: str = "auto",
        *,
        reduce_op: str = "sum",
        dtype: str = "f32",
        root: str = "nw",
        arch: ArchSpec | str = "wse2",
        **options: Any,
    ) -> None:
        if op not in alg.OPS:
            raise CollectiveError(f"op {op!r}: expected one of {', '.join(alg.OPS)}")
        self.op = op
        self.shape = parse_shape(shape)
        if not isinstance(words, int | np.integer) or words < 1:
            raise CollectiveError(f"words: got {words!r}, expected an integer >= 1")
        self.words = int(words)
        if reduce_op not in REDUCE_OPS:
            raise CollectiveError(f"reduce_op {reduce_op!r}: expected 'sum' or 'max'")
        if dtype not in DTYPES:
            raise CollectiveError(f"dtype {dtype!r}: expected 'f32' or 'f16'")
        self.reduce_op = reduce_op
        self.dtype = dtype
        self.root = parse_corner(root)
        self.arch = _arch(arch)
        w, h = self.shape
        g = self.arch.grid
        if w > g.program_columns or h > g.program_rows:
            raise CollectiveError(
                f"shape {w}x{h} does not fit the program rectangle of {self.arch.name} "
                f"({g.program_columns}x{g.program_rows})"
            )
        known = alg.algorithms(op, self.shape)
        if not known:
            raise CollectiveError(
                f"{op} has no algorithm for a {w}x{h} region (only rows or columns)"
            )
        unknown = set(options) - {"row", "col", "line"}
        if unknown:
            raise CollectiveError(
                f"unknown options {sorted(unknown)}: expected row=, col= (X-Y) or line= (snake)"
            )
        self.options = dict(options)
        if algorithm == "auto":
            from .select import best

            algorithm = best(op, self.shape, self.words, self.arch, root=self.root).algorithm
        if algorithm not in known:
            raise CollectiveError(
                f"{op} on a {w}x{h} region: algorithm {algorithm!r}, expected one of "
                + ", ".join(known)
                + " or 'auto'"
            )
        self.algorithm = algorithm
        if algorithm == "xy":  # each axis' own best 1D reduce unless given
            from .select import pick_reduce

            for axis, P, side in (("row", w, "columns"), ("col", h, "rows")):
                if self.options.get(axis, "auto") == "auto":
                    self.options[axis] = (
                        pick_reduce(P, self.words, self.arch, axis=side) if P > 1 else "chain"
                    )
        elif algorithm == "snake":
            self.options.setdefault("line", "chain")
        self._built: dict[Region, alg.Built] = {}
        self._terms: list[ModelTerms] | None = None

    # -- description ---------------------------------------------------------------------

    @property
    def P(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def name(self) -> str:
        extra = ""
        if self.algorithm == "xy":
            extra = f"({self.options['row']},{self.options['col']})"
        elif self.algorithm == "snake" and self.options.get("line", "chain") != "chain":
            extra = f"({self.options['line']})"
        return f"{self.op}/{self.algorithm}{extra}"

    def __repr__(self) -> str:
        w, h = self.shape
        return (
            f"Collective({self.name}, {w}x{h}, words={self.words}, {self.dtype} "
            f"{self.reduce_op}, root={self.root}, arch={self.arch.name})"
        )

    def region(self, x: int = 0, y: int = 0) -> Region:
        return Region(x, y, self.shape[0], self.shape[1], self.root)

    def built(self, x: int = 0, y: int = 0) -> alg.Built:
        """The collective laid out with its region at (x, y)."""
        reg = self.region(x, y)
        b = self._built.get(reg)
        if b is None:
            b = alg.build(self.op, self.algorithm, reg, self.words, self.arch, self.options)
            self._built[reg] = b
        return b

    @property
    def colors_needed(self) -> int:
        return self.built().plan.slots

    @property
    def buffer_words(self) -> int:
        """Elements of the buffer every PE passes to the collective."""
        return self.built().buffer_words

    # -- the model -----------------------------------------------------------------------

    def patterns(self) -> list:
        """The model's communication patterns (phases run back to back), words in units of B."""
        return self.built().phases()

    def _structure_key(self) -> tuple:
        """What the patterns depend on besides B (B too where the tree depends on it)."""
        trees = [self.algorithm, *self.options.values()]
        by_b = any(str(t).startswith("autogen") for t in trees)
        return (
            self.op,
            self.algorithm,
            self.shape,
            self.root,
            id(self.arch),
            tuple(sorted(self.options.items())),
            self.words if by_b else None,
        )

    def _model_terms(self) -> list[ModelTerms]:
        if self._terms is None:
            key = self._structure_key()
            terms = _TERMS.get(key)
            if terms is None:
                terms = []
                for p in self.patterns():
                    pr = predict(p, self.arch)
                    terms.append(
                        ModelTerms(pr.contention, pr.link_term, pr.wire, pr.stages, pr.quantities)
                    )
                if len(_TERMS) > 256:
                    _TERMS.clear()
                _TERMS[key] = terms
            self._terms = terms
        return self._terms

    def model_cycles(self) -> float:
        """Predicted cycles: the algorithm's own cost model. For the trees (every reduce, the
        reduce of an allreduce, gather) the schedule of the tree as it runs
        (:mod:`waferscale.model.schedule`: a node takes its children in turn); for broadcast
        and the rings the paper's closed forms; for the rest (scatter) the paper's generic
        model of the patterns (:meth:`generic_model_cycles`). Phases add."""
        b = self.built()
        if b.closed_form is not None:
            return float(b.closed_form())
        return self.generic_model_cycles()

    def generic_model_cycles(self) -> float:
        """The paper's generic CS-2 timing model, ``max(C, E/N + L) + (2 T_R + 1) D``, applied
        to the collective's communication patterns (phases add), by a closed form where there
        is one."""
        b = self.built()
        if b.generic is not None:
            return float(b.generic())
        return self._pattern_cycles()

    def _pattern_cycles(self) -> float:
        B = self.words
        return float(
            sum(
                max(t.contention * B, t.link_term * B + t.wire) + t.stages
                for t in self._model_terms()
            )
        )

    def model_quantities(self) -> list[dict[str, float]]:
        """The spatial-model quantities of each phase (E, L, maximum, max_link_load, D, C, N)
        for this B."""
        out = []
        for t in self._model_terms():
            q = t.quantities
            out.append(
                {
                    "E": q.E * self.words,
                    "N": q.N,
                    "C": q.C * self.words,
                    "L": q.L,
                    "D": q.D,
                    "maximum": q.maximum,
                    "max_link_load": q.max_link_load * self.words,
                }
            )
        return out

    def lower_bound_cycles(self) -> float | None:
        from .select import lower_bound

        return lower_bound(self.op, self.shape, self.words, self.arch)

    # -- in a user's program -------------------------------------------------------------

    def install(
        self,
        layout: Layout,
        at: tuple[int, int] = (0, 0),
        *,
        colors: list[int] | None = None,
        name: str | None = None,
    ) -> Installed:
        """Add the collective's routes to ``layout`` for the region at ``at``. ``colors``: one
        per color slot the collective needs (:attr:`colors_needed`); default: the lowest
        colors that no route of the layout uses inside the region and that are neither
        reserved nor named with ``layout.color``. The colors are recorded in the layout's
        manifest as ``collective:<name>.0``, ``collective:<name>.1``, ... (``name`` defaults to
        ``<op>@x,y``)."""
        x, y = at
        reg = self.region(x, y)
        if x < 0 or y < 0 or x + reg.w > layout.width or y + reg.h > layout.height:
            raise CollectiveError(
                f"{self.name}: region {reg.w}x{reg.h} at ({x}, {y}) leaves the "
                f"{layout.width}x{layout.height} layout"
            )
        if layout.arch.name != self.arch.name:
            raise CollectiveError(
                f"{self.name} was planned for {self.arch.name}, the layout is for "
                f"{layout.arch.name}: build the collective with arch=layout.arch"
            )
        b = self.built(x, y)
        need = b.plan.slots
        if colors is None:
            colors = free_colors(layout, reg, need)
        colors = [int(c) for c in colors]
        if len(colors) != need:
            raise CollectiveError(f"{self.name} needs {need} colors, got {len(colors)}")
        npos = layout.arch.router.switch_positions
        if b.plan.max_positions() > npos:
            raise CollectiveError(
                f"{self.name} needs {b.plan.max_positions()} switch positions, {layout.arch.name}"
                f" routers have {npos}"
            )
        for (px, py, slot), positions in b.plan.routes.items():
            c = colors[slot]
            if len(positions) == 1:
                rx, tx = positions[0]
                layout.set_route(px, py, c, rx=rx, tx=list(tx))
            else:
                pop = "pop_on_advance" if (px, py, slot) in b.plan.pop else "none"
                layout.set_switches(
                    px, py, c, [(rx, list(tx)) for rx, tx in positions], pop_mode=pop
                )
        name = name or f"{self.op}@{x},{y}"
        for k, c in enumerate(colors):
            layout.color(f"{NAME_PREFIX}{name}.{k}", c)
        return Installed(self, reg, tuple(colors), b)

    # -- on the simulator ------------------------------------------------------------------

    def simulate(self, *, seed: int = 0, data: np.ndarray | None = None) -> SimResult:
        """Run the collective alone on a layout of its own shape (the paper's protocol: every PE
        starts at cycle 0 and stamps start and end; cycles = max end - min start), check it
        against numpy and measure the spatial quantities from the fabric's link counters."""
        from ._sim import simulate

        return simulate(self, seed=seed, data=data)

    def draw(self, path=None, **kw):
        """A picture of the collective's routes (see :func:`waferscale.collectives.draw`)."""
        from .draw import draw

        return draw(self, path, **kw)


NAME_PREFIX = "collective:"


def free_colors(layout: Layout, region: Region, n: int) -> list[int]:
    """The ``n`` lowest colors without a route in ``region``, not reserved and not named with
    ``layout.color`` (except by collectives: theirs have routes, so they are free outside the
    collective's routers)."""
    nc = layout.arch.router.colors
    named = {c for k, c in layout.color_names.items() if not k.startswith(NAME_PREFIX)}
    reserved = set(layout.arch.router.reserved_colors) | named
    ys = slice(region.y0, region.y0 + region.h)
    xs = slice(region.x0, region.x0 + region.w)
    used = (layout.rx[ys, xs] | layout.tx[ys, xs]).any(axis=(0, 1, 3))
    free = [c for c in range(nc) if c not in reserved and not used[c]]
    if len(free) < n:
        raise CollectiveError(
            f"the region {region.w}x{region.h} at ({region.x0}, {region.y0}) has {len(free)} "
            f"free colors ({free}), the collective needs {n}: pass colors=[...] or free some"
        )
    return free[:n]


@dataclass(eq=False)
class Installed:
    """A collective whose routes are in a layout; :meth:`declare` it in the PE programs of its
    region."""

    collective: Collective
    region: Region
    colors: tuple[int, ...]
    built: alg.Built

    def declare(
        self, c: Any, buf: Symbol, offset: int = 0, *, task_id: int | None = None, then: Any = None
    ) -> Handle:
        """Called from a PE program (``def prog(c, ...)``) of a PE of the region: ``buf`` is
        the array the collective reads and writes (at least :attr:`Collective.buffer_words`
        elements from ``offset``, of the collective's dtype). Returns a :class:`Handle`:
        ``handle.run(pe)`` runs the collective inside one of your tasks (the task waits while
        it streams); ``handle.start(pe)`` runs it as its own local task (``task_id``, default
        the highest free local id at declaration: declare after binding your tasks) which
        activates ``then`` when done."""
        coll = self.collective
        if buf.dtype.name != coll.dtype:
            raise CollectiveError(
                f"{coll.name}: buffer {buf.name!r} is {buf.dtype.name}, the collective is "
                f"{coll.dtype}"
            )
        if offset + self.built.buffer_words > buf.length:
            raise CollectiveError(
                f"{coll.name}: buffer {buf.name!r} has {buf.length} elements, the collective "
                f"needs {self.built.buffer_words} from offset {offset}"
            )
        handle = Handle(self, buf, offset, then, blocking=not self.built.plan.is_async)
        if task_id is None:
            task_id = _free_local_task(c, coll.arch)
        handle.task_id = task_id
        if not handle.blocking:
            arch = coll.arch
            handle.async_tasks = (_free_local_task(c, arch, below=task_id),)
            handle.async_tasks += (_free_local_task(c, arch, below=handle.async_tasks[0]),)

            def recv_task(pe: Any) -> None:
                handle._runs[(pe.x, pe.y)].on_recv(pe)

            def send_task(pe: Any) -> None:
                handle._runs[(pe.x, pe.y)].on_send(pe)

            c.bind_local_task(recv_task, handle.async_tasks[0])
            c.bind_local_task(send_task, handle.async_tasks[1])

            def collective_task(pe: Any) -> None:
                handle._start_async(pe)
        else:

            def collective_task(pe: Any) -> None:
                handle.run(pe)
                if handle.then is not None:
                    pe.activate(handle.then)

        c.bind_local_task(collective_task, task_id)
        return handle


def _free_local_task(c: Any, arch: ArchSpec, below: int | None = None) -> int:
    """The highest local task id (below ``below``) the program has not bound (nor reserved by
    the runtime)."""
    rng = arch.pe.local_task_ids
    top = rng.last if below is None else below - 1
    for tid in range(top, rng.first - 1, -1):
        if tid not in c.tasks and tid not in RESERVED_TASK_IDS:
            return tid
    raise CollectiveError("no free local task id: pass task_id=")


@dataclass(eq=False)
class Handle:
    """A collective declared in one PE program."""

    installed: Installed
    buf: Symbol
    offset: int
    then: Any = None
    blocking: bool = True
    """Can :meth:`run` be used (every algorithm but the rings)?"""
    task_id: int = -1
    async_tasks: tuple[int, ...] = ()
    _runs: dict = field(default_factory=dict)

    def run(self, pe: Any) -> None:
        """Run this PE's part of the collective now, inside the calling task (its ops are
        synchronous: the task waits while they stream). Rings run asynchronously: use
        :meth:`start`."""
        inst = self.installed
        coll = inst.collective
        if not self.blocking:
            raise CollectiveError(
                f"{coll.name} runs asynchronously (a ring): call handle.start(pe) and pass "
                "then=<task> to declare() to continue when it is done"
            )
        steps = inst.built.plan.steps.get((pe.x, pe.y), ())
        run_steps(pe, steps, self.buf, self.offset, inst.colors, coll.dtype, coll.reduce_op)

    def start(self, pe: Any) -> None:
        """Start the collective on this PE in its own task(s); ``then`` (given to
        :meth:`Installed.declare`) is activated when this PE's part is done."""
        pe.activate(self.task_id)

    def _start_async(self, pe: Any) -> None:
        inst = self.installed
        coll = inst.collective
        steps = inst.built.plan.steps.get((pe.x, pe.y), ())
        run = AsyncSteps(
            steps,
            self.buf,
            self.offset,
            inst.colors,
            coll.dtype,
            coll.reduce_op,
            self.then,
            *self.async_tasks,
        )
        self._runs[(pe.x, pe.y)] = run
        run.start(pe)


@dataclass
class SimResult:
    """One simulated run, checked and measured."""

    op: str
    algorithm: str
    shape: tuple[int, int]
    words: int
    dtype: str
    reduce_op: str
    cycles: int
    model_cycles: float
    """the algorithm's cost model (:meth:`Collective.model_cycles`)"""
    lower_bound_cycles: float | None
    ok: bool
    bit_exact: bool
    max_abs_err: float
    measured: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    build_s: float = 0.0
    start: np.ndarray | None = None
    end: np.ndarray | None = None
    generic_model_cycles: float | None = None
    """the paper's generic model of the patterns (:meth:`Collective.generic_model_cycles`)"""

    @property
    def model_error(self) -> float:
        """(sim - model) / model."""
        return (self.cycles - self.model_cycles) / self.model_cycles if self.model_cycles else 0.0

    @property
    def generic_error(self) -> float | None:
        """(sim - generic model) / generic model."""
        g = self.generic_model_cycles
        return (self.cycles - g) / g if g else None

    def as_dict(self) -> dict[str, Any]:
        d = {
            k: getattr(self, k)
            for k in (
                "op",
                "algorithm",
                "words",
                "dtype",
                "reduce_op",
                "cycles",
                "model_cycles",
                "generic_model_cycles",
                "lower_bound_cycles",
                "ok",
                "bit_exact",
                "max_abs_err",
                "measured",
                "model",
                "wall_s",
                "build_s",
            )
        }
        d["shape"] = f"{self.shape[0]}x{self.shape[1]}"
        d["model_error"] = self.model_error
        d["generic_error"] = self.generic_error
        return d
