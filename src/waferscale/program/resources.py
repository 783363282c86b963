"""Compile-time rules and resource accounting of a layout.

Two checks run when a layout compiles (``Layout.compile()``):

* **Architecture rules** (:func:`check_program_rules`, once per distinct program): on an
  architecture whose data tasks bind to input queues (WSE-3, ``arch.pe.data_tasks_bind_to ==
  "queue"``) a data task must be bound to a declared input queue, an input or output queue is
  bound to one color, an async op with a fabric operand names its microthread, and an op reads
  at most one fabric input. On WSE-1/2 a data task binds to a color. A program that breaks a
  rule fails with one :class:`~waferscale.program.layout.LayoutError` naming each rule, the
  program, the PE (x, y) and the fix.
* **Resource budgets** (:func:`check_resources`, over the whole rectangle): per PE, colors used,
  input and output queues, task ids by kind and microthreads, against the spec. An over-budget
  layout fails with a table of what uses which resource where; :func:`resource_report` returns
  the same accounting as a list of dicts.

The op rules (microthreads, one fabric input) look at the source of each task and exported
function (Python ``ast``) and at the DSD values the function can see (closure cells and module
globals): operands written as ``fabin_dsd(...)`` / ``fabout_dsd(...)`` calls or as names bound to
fabric DSDs are recognised; DSDs built at run time by other means are not (the check is
best-effort: it never refuses a correct program, it may miss a wrong one).
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .code import Code, build_code
from .dsd import FabinDSD, FaboutDSD
from .encoding import CTRL_NO_TASK, RESERVED_TASK_IDS
from .ports import RAMP
from .types import u32

if TYPE_CHECKING:  # pragma: no cover
    from .layout import Layout

__all__ = [
    "RESOURCES",
    "UnreachableControlTaskWarning",
    "check_program_rules",
    "check_resources",
    "format_table",
    "resource_report",
]

RESOURCES = (
    "colors",
    "input queues",
    "output queues",
    "data task ids",
    "local task ids",
    "control task ids",
    "microthreads",
)
"""The resources :func:`resource_report` accounts, in report order."""

_MAX_TABLE_PES = 20  # over-budget PEs listed in a compile error (the rest are counted)


class UnreachableControlTaskWarning(UserWarning):
    """A control task is bound to an id that no control wavelet can name (payload bits 16..20
    hold 0..30, see :mod:`waferscale.program.control`)."""


# ------------------------------------------------------------------------------------------------
# What a program's functions do with the fabric (static scan of their source)
# ------------------------------------------------------------------------------------------------


@dataclass
class OpSite:
    """One call ``pe.<op>(...)`` in a task's source with its fabric operands."""

    function: str  # task or exported function name
    op: str
    where: str  # "file:line"
    fabin: list[Any] = field(default_factory=list)  # FabinDSD or None (not known statically)
    fabout: list[Any] = field(default_factory=list)  # FaboutDSD or None
    is_async: bool = False
    microthread: Any = None  # the literal id, "?" when not a literal, None when absent


@dataclass
class Scan:
    """What the static scan found in one program's functions."""

    ops: list[OpSite] = field(default_factory=list)


_FABRIC = (FabinDSD, FaboutDSD)
_FABRIC_OR_STR = (FabinDSD, FaboutDSD, str)
_PARSED: dict[Any, Any] = {}  # function code object -> _Template or None


def _visible(fn: Callable[..., Any]) -> dict[str, Any]:
    """Names a function can see: its closure cells over its globals."""
    out: dict[str, Any] = {}
    code = getattr(fn, "__code__", None)
    if code is None:
        return out
    g = getattr(fn, "__globals__", {})
    for name in code.co_names:
        if name in g:
            out[name] = g[name]
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell (assigned after the function was defined)
            continue
    return out


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.AST, env: dict[str, Any]) -> Any:
    """The value of a literal or of a name bound to an int in ``env``; ``...`` if unknown."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and isinstance(env.get(node.id), int | np.integer):
        return int(env[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _literal(node.operand, env)
        return -v if isinstance(v, int) else ...
    return ...


def _dsd_of(node: ast.AST, env: dict[str, Any], local: dict[str, Any]) -> Any:
    """A FabinDSD/FaboutDSD the expression stands for, the string 'fabin'/'fabout' when it is
    one whose fields are not known statically, or None when it is not a fabric DSD."""
    if isinstance(node, ast.Name):
        v = local.get(node.id, env.get(node.id))
        return v if isinstance(v, _FABRIC_OR_STR) else None
    if isinstance(node, ast.Call):
        name = _call_name(node.func)
        if name in ("fabin_dsd", "fabout_dsd"):
            kind = name[:-4]
            args = [_literal(a, env) for a in node.args]
            kws = {k.arg: _literal(k.value, env) for k in node.keywords if k.arg}
            color = args[0] if args else kws.get("color", ...)
            queue_kw = "input_queue" if kind == "fabin" else "output_queue"
            queue = args[3] if len(args) > 3 else kws.get(queue_kw)
            if not isinstance(color, int) or queue is ...:
                return kind
            cls = FabinDSD if kind == "fabin" else FaboutDSD
            return cls(color, 0, u32, queue) if isinstance(queue, int | None) else kind
        if name in ("set_dsd_length", "replace") and node.args:
            return _dsd_of(node.args[0], env, local)
    return None


@dataclass
class _Template:
    """What the scan needs from one ``def``'s source, extracted once per code object: the
    single-name assignments and the calls ``pe.<method>(...)`` on the task's first parameter."""

    assigns: list[tuple[str, ast.expr]]
    calls: list[ast.Call]
    first_line: int
    file: str


def _template(fn: Callable[..., Any]) -> _Template | None:
    """The scan template of ``fn`` (cached per code object: every closure made from one
    ``def`` shares it), or None when its source is not available."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    if code in _PARSED:
        return _PARSED[code]
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        _PARSED[code] = None
        return None
    root = tree.body[0] if tree.body else None
    pe_name = None
    if isinstance(root, ast.FunctionDef | ast.AsyncFunctionDef) and root.args.args:
        pe_name = root.args.args[0].arg
    assigns, calls = [], []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            assigns.append((node.targets[0].id, node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and (pe_name is None or (isinstance(node.func.value, ast.Name)
                                       and node.func.value.id == pe_name))
              and (node.args or node.keywords)):
            calls.append(node)
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    t = _Template(assigns, calls, code.co_firstlineno, os.path.basename(code.co_filename))
    _PARSED[code] = t
    return t


def _scan_function(fname: str, fn: Callable[..., Any]) -> list[OpSite] | None:
    t = _template(fn)
    if t is None:
        return None
    if not t.calls:
        return []
    env = _visible(fn)
    local: dict[str, Any] = {}
    assigned: dict[str, int] = {}
    for target, _ in t.assigns:
        assigned[target] = assigned.get(target, 0) + 1
    for target, value in t.assigns:
        d = _dsd_of(value, env, local)
        if d is not None and assigned[target] == 1:  # a name reassigned is not followed
            local[target] = d
    sites: list[OpSite] = []
    for node in t.calls:
        site = OpSite(fname, node.func.attr, f"{t.file}:{t.first_line + node.lineno - 1}")
        for arg in node.args:
            d = _dsd_of(arg, env, local)
            if isinstance(d, FabinDSD) or d == "fabin":
                site.fabin.append(d if isinstance(d, FabinDSD) else None)
            elif isinstance(d, FaboutDSD) or d == "fabout":
                site.fabout.append(d if isinstance(d, FaboutDSD) else None)
        for kw in node.keywords:
            if kw.arg == "async_":
                site.is_async = not (isinstance(kw.value, ast.Constant) and not kw.value.value)
            elif kw.arg == "microthread":
                v = _literal(kw.value, env)
                site.microthread = v if isinstance(v, int) else "?"
        if site.fabin or site.fabout or site.microthread is not None:
            sites.append(site)
    return sites


def _functions(code: Code) -> Iterable[tuple[str, Callable[..., Any]]]:
    for decl in code.tasks.values():
        yield decl.name, decl.fn
    yield from code.functions.items()


def _closure_dsds(fn: Callable[..., Any]) -> list[Any]:
    out = []
    for v in _visible(fn).values():
        items = v.values() if isinstance(v, dict) else v if isinstance(v, list | tuple) else [v]
        out.extend(d for d in items if isinstance(d, _FABRIC))
    return out


def scan_program(code: Code) -> Scan:
    """Statically scan a program's tasks and exported functions (see the module docstring)."""
    cached = getattr(code, "_resource_scan", None)
    if cached is not None:
        return cached
    scan = Scan()
    seen: set[int] = set()
    for name, fn in _functions(code):
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        scan.ops.extend(_scan_function(name, fn) or [])
    code._resource_scan = scan  # type: ignore[attr-defined]
    return scan


def fabric_dsds(code: Code) -> list[tuple[str, Any]]:
    """(function, DSD) for every fabric DSD a program's functions use or can see."""
    out = [(name, d) for name, fn in _functions(code) for d in _closure_dsds(fn)]
    for site in scan_program(code).ops:
        out.extend((site.function, d) for d in site.fabin + site.fabout if d is not None)
    return out


# ------------------------------------------------------------------------------------------------
# Architecture rules (per program)
# ------------------------------------------------------------------------------------------------


def _first_pe(layout: Layout, index: int) -> tuple[int, int]:
    where = np.argwhere(layout.code_index == index)
    y, x = (int(v) for v in where[0])
    return x, y


def _queues_by_id(decls: list[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for q, col in decls:
        if col not in out.setdefault(q, []):
            out[q].append(col)
    return out


def program_rule_violations(arch: Any, code: Code) -> list[tuple[str, str, str]]:
    """The rules ``code`` breaks on ``arch``: a list of (rule, what, fix)."""
    pe = arch.pe
    out: list[tuple[str, str, str]] = []
    to_queue = pe.data_tasks_bind_to == "queue"
    gen = {"wse1": "WSE-1", "wse2": "WSE-2", "wse3": "WSE-3"}.get(arch.generation, arch.name)
    nq_in, nq_out = pe.input_queues, pe.output_queues
    ins = _queues_by_id(code.input_queue_decls)
    outs = _queues_by_id(code.output_queue_decls)
    scan = scan_program(code)
    for site in scan.ops:
        k = site.microthread
        if isinstance(k, int) and not 0 <= k < pe.microthreads:
            out.append((
                f"{gen} rule 'microthread ids 0..{pe.microthreads - 1}'",
                f"pe.{site.op} in {site.function!r} ({site.where}) names microthread {k}",
                f"use a microthread id in 0..{pe.microthreads - 1}",
            ))

    if not to_queue:
        for decl in code.tasks.values():
            if decl.kind == "data" and decl.queue is not None:
                out.append((
                    f"{gen} rule 'data tasks bind to colors'",
                    f"data task {decl.name!r} is bound to input queue {decl.queue}",
                    f"bind it to its color: c.bind_data_task({decl.name}, color) "
                    "(input queues are a WSE-3 feature)",
                ))
        return out

    rule_q = f"{gen} rule 'data tasks bind to input queues'"
    for decl in code.tasks.values():
        if decl.kind != "data":
            continue
        if decl.queue is None:
            q = decl.task_id
            cols = ins.get(q)
            if cols is None:
                out.append((
                    rule_q,
                    f"data task {decl.name!r} is bound directly to color {decl.color} (task id "
                    f"{q}) and no input queue is declared for it",
                    f"declare an input queue for the color and bind the task to it: "
                    f"c.bind_data_task_to_queue({decl.name}, c.input_queue(q, {decl.color})) "
                    f"with q a free input queue in 0..{nq_in - 1}",
                ))
                continue
            if decl.color not in cols:
                out.append((
                    rule_q,
                    f"data task {decl.name!r} is bound to color {decl.color} with task id {q}, "
                    f"but input queue {q} is declared for color {cols[0]}",
                    f"bind the task to the queue of its color: c.bind_data_task_to_queue("
                    f"{decl.name}, {q}) or declare c.input_queue({q}, {decl.color})",
                ))
        elif decl.queue not in ins:
            out.append((
                rule_q,
                f"data task {decl.name!r} is bound to input queue {decl.queue}, which is not "
                "declared",
                f"declare it with its color: c.input_queue({decl.queue}, color)",
            ))
        if decl.task_id not in pe.data_task_ids and 0 <= decl.task_id < nq_in:
            rng = pe.data_task_ids
            out.append((
                rule_q,
                f"data task {decl.name!r} uses input queue / task id {decl.task_id}",
                f"use an input queue in {rng.first}..{rng.last}",
            ))
    for decl in code.tasks.values():
        if decl.kind == "local" and decl.task_id not in pe.local_task_ids:
            rng = pe.local_task_ids
            out.append((
                f"{gen} rule 'local task ids {rng.first}..{rng.last}'",
                f"local task {decl.name!r} has id {decl.task_id} (ids {pe.data_task_ids.first}.."
                f"{pe.data_task_ids.last} are the input queues' data tasks)",
                f"renumber it into {rng.first}..{rng.last}",
            ))
    for kind, decls, n in (("input", ins, nq_in), ("output", outs, nq_out)):
        for q, cols in sorted(decls.items()):
            if not 0 <= q < n:
                out.append((
                    f"{gen} rule '{kind} queue ids 0..{n - 1}'",
                    f"{kind} queue {q} is declared (for color {cols[0]})",
                    f"use an {kind} queue id in 0..{n - 1}",
                ))
            if len(cols) > 1:
                out.append((
                    f"{gen} rule 'an {kind} queue is bound to one color'",
                    f"{kind} queue {q} is declared for colors {', '.join(map(str, cols))}",
                    f"give each color its own {kind} queue (c.{kind}_queue(q, color) with a "
                    "different q per color)",
                ))
    # DSDs naming a queue: the queue's color must be the DSD's color
    by_q: dict[tuple[str, int], dict[int, str]] = {}
    for fname, d in fabric_dsds(code):
        kind = "input" if isinstance(d, FabinDSD) else "output"
        q = d.input_queue if isinstance(d, FabinDSD) else d.output_queue
        if q is None:
            continue
        by_q.setdefault((kind, q), {}).setdefault(d.color, fname)
    for (kind, q), users in sorted(by_q.items()):
        declared = (ins if kind == "input" else outs).get(q)
        cols = list(users)
        if declared is not None:
            cols = list(dict.fromkeys([*declared, *cols]))
        if len(cols) > 1:
            who = ", ".join(f"color {c} in {users[c]!r}" for c in users)
            dec = f" (declared for color {declared[0]})" if declared else ""
            out.append((
                f"{gen} rule 'an {kind} queue is bound to one color'",
                f"{'fabin' if kind == 'input' else 'fabout'} DSDs use {kind} queue {q}{dec} "
                f"with {who}",
                f"give each color its own {kind} queue",
            ))
    for site in scan.ops:
        nfab = len(site.fabin)
        if nfab > 1:
            cols = ", ".join(str(d.color) if d is not None else "?" for d in site.fabin)
            out.append((
                f"{gen} rule 'one fabric input per op'",
                f"pe.{site.op} in {site.function!r} ({site.where}) reads {nfab} fabric inputs "
                f"(colors {cols})",
                "read one stream into memory (or a FIFO) first, then combine it with the other",
            ))
        if site.is_async and (site.fabin or site.fabout) and site.microthread is None:
            out.append((
                f"{gen} rule 'explicit microthread ids for async fabric ops'",
                f"async pe.{site.op} in {site.function!r} ({site.where}) names no microthread",
                f"add microthread=k with k in 0..{pe.microthreads - 1} (one op per microthread "
                "at a time)",
            ))
    return out


def check_program_rules(layout: Layout, assignment: Any) -> None:
    """Refuse a program of ``layout`` (one of its assignments, just built) if it breaks a rule
    of the layout's architecture (called by ``Layout._check_code``)."""
    from .layout import LayoutError

    code = assignment.code
    assert code is not None
    arch = layout.arch
    for kind, decls in (("input", code.input_queue_decls), ("output", code.output_queue_decls)):
        for q, col in decls:
            layout._check_color(col, f"{kind} queue {q} of {code.program!r}")
    for decl in code.tasks.values():
        if (decl.kind == "control" and decl.task_id >= CTRL_NO_TASK
                and decl.task_id not in RESERVED_TASK_IDS):
            warnings.warn(
                f"program {code.program!r}: control task {decl.name!r} has id {decl.task_id}, "
                f"which no control wavelet can start (payload bits 16..20 name tasks 0.."
                f"{CTRL_NO_TASK - 1}); use an id in 0..{CTRL_NO_TASK - 1} or start it with "
                "pe.activate",
                UnreachableControlTaskWarning,
                stacklevel=4,
            )
    bad = program_rule_violations(arch, code)
    if not bad:
        return
    index = next(i for i, a in enumerate(layout._assignments) if a is assignment)
    # Refuse with every broken rule of every program of the layout, not just this one's.
    found: list[tuple[tuple[int, int], str, list[tuple[str, str, str]]]] = [
        (_first_pe(layout, index), code.program, bad)
    ]
    for j, a in enumerate(layout._assignments):
        if j <= index or not (layout.code_index == j).any():
            continue
        try:
            other = a.code if a.code is not None else build_code(a.program, a.params)
        except Exception:  # noqa: BLE001 - its own error is reported when it is built
            continue
        more = program_rule_violations(arch, other)
        if more:
            found.append((_first_pe(layout, j), other.program, more))
    found.sort()
    n = sum(len(b) for _, _, b in found)
    lines = [f"layout {layout.name!r} breaks {n} rule{'s' if n > 1 else ''} of {arch.name}:"]
    for (x, y), program, rules in found:
        for rule, what, fix in rules:
            lines.append(f"  - PE ({x}, {y}) program {program!r}: {rule}: {what}. Fix: {fix}.")
    raise LayoutError("\n".join(lines))


# ------------------------------------------------------------------------------------------------
# Resource accounting (per PE)
# ------------------------------------------------------------------------------------------------


@dataclass
class _CodeUse:
    """Per-program parts of the accounting (the same on every PE running the program)."""

    colors: dict[int, list[str]]  # color -> who (data tasks, queues)
    in_declared: dict[int, int]  # queue -> color
    out_declared: dict[int, int]
    delivered: dict[int, list[str]]  # WSE-2: colors the CE receives by data task
    tasks: dict[str, list[str]]  # kind -> ["name (id)"]
    microthreads: dict[int, list[str]]


def _code_use(code: Code) -> _CodeUse:
    cached = getattr(code, "_resource_use", None)
    if cached is not None:
        return cached
    colors: dict[int, list[str]] = {}
    delivered: dict[int, list[str]] = {}
    tasks: dict[str, list[str]] = {"data": [], "local": [], "control": []}
    for tid, decl in sorted(code.tasks.items()):
        if decl.kind in tasks:
            tasks[decl.kind].append(f"{decl.name} ({tid})")
        if decl.kind == "data" and decl.color is not None:
            colors.setdefault(decl.color, []).append(f"data task {decl.name!r}")
            delivered.setdefault(decl.color, []).append(f"data task {decl.name!r}")
    for q, col in code.input_queue_decls:
        colors.setdefault(col, []).append(f"input queue {q}")
    for q, col in code.output_queue_decls:
        colors.setdefault(col, []).append(f"output queue {q}")
    micro: dict[int, list[str]] = {}
    for site in scan_program(code).ops:
        if isinstance(site.microthread, int):
            who = micro.setdefault(site.microthread, [])
            if site.function not in who:
                who.append(site.function)
    use = _CodeUse(colors, code.input_queues, code.output_queues, delivered, tasks, micro)
    code._resource_use = use  # type: ignore[attr-defined]
    return use


def _color_table(
    uses: list[_CodeUse], nc: int, f: Callable[[_CodeUse], Iterable[int]]
) -> np.ndarray:
    """Per program, a boolean row over the colors: ``f(use)`` are the colors set."""
    table = np.zeros((len(uses), nc), bool)
    for i, u in enumerate(uses):
        for c in f(u):
            if 0 <= c < nc:
                table[i, c] = True
    return table


_UINT_OF_WIDTH = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _any_position(a: np.ndarray, bits: int) -> np.ndarray:
    """``(a & bits) != 0`` at any switch position: (h, w, colors, positions) -> (h, w, colors).
    Reads the positions of a color as one machine word when they fit one (the usual 4)."""
    npos = a.shape[3]
    dt = _UINT_OF_WIDTH.get(npos)
    if dt is not None and a.flags.c_contiguous:
        word = a.view(dt)[..., 0]
        return (word & dt(int.from_bytes(bytes([bits]) * npos, "little"))) != 0
    return ((a & np.uint8(bits)) != 0).any(axis=3)


def _route_use(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per PE and color (h, w, colors) over every switch position: routed at all, routed down
    the ramp (tx RAMP), accepted from the ramp (rx RAMP)."""
    ramp = 1 << RAMP
    routed = _any_position(layout.rx, 0xFF) | _any_position(layout.tx, 0xFF)
    return routed, _any_position(layout.tx, ramp), _any_position(layout.rx, ramp)


@dataclass
class _Accounts:
    """Counts per PE (h, w) of each resource, with budgets."""

    used: dict[str, np.ndarray]
    budget: dict[str, int]
    routed: np.ndarray
    down: np.ndarray
    up: np.ndarray
    uses: list[_CodeUse]


def _accounts(layout: Layout, codes: list[Code]) -> _Accounts:
    arch = layout.arch
    pe, router = arch.pe, arch.router
    to_queue = pe.data_tasks_bind_to == "queue"
    uses = [_code_use(c) for c in codes]
    nc = layout.rx.shape[2]
    routed, down, up = _route_use(layout)
    ci = layout.code_index
    colors = (routed | _color_table(uses, nc, lambda u: u.colors)[ci]).sum(axis=2)
    n_in_decl = np.array([len(u.in_declared) for u in uses], np.int64)[ci]
    n_out_decl = np.array([len(u.out_declared) for u in uses], np.int64)[ci]
    if to_queue:
        in_q, out_q = n_in_decl, n_out_decl
    else:
        in_cov = _color_table(uses, nc, lambda u: u.in_declared.values())[ci]
        out_cov = _color_table(uses, nc, lambda u: u.out_declared.values())[ci]
        deliv = _color_table(uses, nc, lambda u: u.delivered)[ci]
        in_q = n_in_decl + ((down | deliv) & ~in_cov).sum(axis=2)
        out_q = n_out_decl + (up & ~out_cov).sum(axis=2)
    per_code = {
        "data task ids": [len(u.tasks["data"]) for u in uses],
        "local task ids": [len(u.tasks["local"]) for u in uses],
        "control task ids": [len(u.tasks["control"]) for u in uses],
        "microthreads": [len(u.microthreads) for u in uses],
    }
    used = {"colors": colors, "input queues": in_q, "output queues": out_q}
    for k, v in per_code.items():
        used[k] = np.array(v, np.int64)[ci]
    budget = {
        "colors": router.colors - len(router.reserved_colors),
        "input queues": pe.input_queues,
        "output queues": pe.output_queues,
        "data task ids": len(pe.data_task_ids),
        "local task ids": len(pe.local_task_ids),
        "control task ids": len(pe.control_task_ids) - len(
            [t for t in RESERVED_TASK_IDS if t in pe.control_task_ids]),
        "microthreads": pe.microthreads,
    }
    return _Accounts(used, budget, routed, down, up, uses)


def _who(acc: _Accounts, layout: Layout, x: int, y: int, resource: str) -> list[str]:
    """Who uses ``resource`` at PE (x, y), one entry per use."""
    u = acc.uses[int(layout.code_index[y, x])]
    to_queue = layout.arch.pe.data_tasks_bind_to == "queue"
    routed, down, up = (a[y, x] for a in (acc.routed, acc.down, acc.up))
    nc = layout.rx.shape[2]

    def route_text(c: int) -> str:
        npos = int(layout.sw_npos[y, x, c])
        parts = []
        for k in range(layout.rx.shape[3]):
            r, t = int(layout.rx[y, x, c, k]), int(layout.tx[y, x, c, k])
            if r or t or k < npos and npos > 1:
                parts.append(f"{_ports(r)}->{_ports(t)}")
        return "route " + " | ".join(parts)

    if resource == "colors":
        out = []
        for c in range(nc):
            who = []
            if routed[c]:
                who.append(route_text(c))
            who += u.colors.get(c, [])
            if who:
                out.append(f"c{c}: " + ", ".join(who))
        return out
    if resource in ("input queues", "output queues"):
        declared = u.in_declared if resource == "input queues" else u.out_declared
        out = [f"q{q}: c{col}" for q, col in sorted(declared.items())]
        if not to_queue:
            cov = set(declared.values())
            if resource == "input queues":
                bits = down.copy()
                bits[[c for c in u.delivered if 0 <= c < nc]] = True
            else:
                bits = up
            for c in range(nc):
                if bits[c] and c not in cov:
                    if resource == "input queues":
                        why = u.delivered.get(c) or ["routed to RAMP"]
                    else:
                        why = ["accepted from RAMP"]
                    out.append(f"c{c}: " + ", ".join(why))
        return out
    if resource.endswith("task ids"):
        return list(u.tasks[resource.split()[0]])
    if resource == "microthreads":
        return [f"{k}: {', '.join(v)}" for k, v in sorted(u.microthreads.items())]
    raise KeyError(resource)


def _ports(mask: int) -> str:
    from .ports import PORT_NAMES

    names = [PORT_NAMES[i][0] for i in range(5) if (mask >> i) & 1]
    return "+".join(names) or "-"


def _pe_list(layout: Layout, pes: Iterable[tuple[int, int]] | None) -> list[tuple[int, int]]:
    if pes is None:
        return [(x, y) for y in range(layout.height) for x in range(layout.width)]
    out = []
    for x, y in pes:
        if not (0 <= x < layout.width and 0 <= y < layout.height):
            raise IndexError(
                f"PE ({x}, {y}) is outside the {layout.width}x{layout.height} program rectangle"
            )
        out.append((int(x), int(y)))
    return out


def _as_layout(obj: Any) -> tuple[Layout, list[Code]]:
    lay = getattr(obj, "layout", obj)
    codes = getattr(obj, "codes", None)
    if not isinstance(codes, list):
        codes = lay.codes()
    return lay, codes


def resource_report(
    layout: Any,
    *,
    pes: Iterable[tuple[int, int]] | None = None,
    over_only: bool = False,
) -> list[dict[str, Any]]:
    """Per PE and resource: ``{"x", "y", "program", "resource", "used", "budget", "by",
    "over"}`` (``by``: who uses it, one string per use). ``layout`` is a ``Layout`` or a
    ``CompiledLayout``; ``pes`` limits the report to some PEs (x, y) and ``over_only`` to the
    resources over budget (use either on large rectangles: the full report has one row per PE
    and resource)."""
    lay, codes = _as_layout(layout)
    acc = _accounts(lay, codes)
    if over_only and pes is None:
        over = np.zeros(lay.code_index.shape, bool)
        for r in RESOURCES:
            over |= acc.used[r] > acc.budget[r]
        ys, xs = np.nonzero(over)
        todo = list(zip(xs.tolist(), ys.tolist(), strict=True))
    else:
        todo = _pe_list(lay, pes)
    rows = []
    for x, y in todo:
        program = codes[int(lay.code_index[y, x])].program
        for r in RESOURCES:
            used = int(acc.used[r][y, x])
            if over_only and used <= acc.budget[r]:
                continue
            rows.append({
                "x": x,
                "y": y,
                "program": program,
                "resource": r,
                "used": used,
                "budget": acc.budget[r],
                "by": _who(acc, lay, x, y, r),
                "over": used > acc.budget[r],
            })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`resource_report` rows."""
    head = ("PE", "program", "resource", "used", "budget", "by")
    body = [
        (f"({r['x']}, {r['y']})", r["program"], r["resource"], str(r["used"]), str(r["budget"]),
         "; ".join(r["by"]))
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    widths[-1] = 0

    def line(cells: tuple[str, ...]) -> str:
        out = []
        for i, (cell, wd) in enumerate(zip(cells, widths, strict=True)):
            out.append(cell.rjust(wd) if i in (3, 4) else cell.ljust(wd))
        return "  ".join(out).rstrip()

    return "\n".join([line(head), *(line(b) for b in body)])


_FIXES = {
    "colors": "route fewer colors through the PE: reuse a color for streams that never "
    "overlap in time, or time-share one color with switches or teardown",
    "input queues": "deliver fewer colors to the CE: merge streams onto one color and tell them "
    "apart by index (range filter) or read them one after the other with fabric DSDs",
    "output queues": "send on fewer colors from the CE (one output queue per color)",
    "data task ids": "bind fewer data tasks (one data task can serve a color / queue)",
    "local task ids": "merge local tasks",
    "control task ids": "merge control tasks (one control task can branch on its data)",
    "microthreads": "use microthread ids 0..{n} and reuse one after its op completes",
}


def check_resources(layout: Layout, codes: list[Code]) -> None:
    """Refuse a layout that is over a resource budget at some PE, with a table of what uses
    which resource where (called by ``Layout.compile``)."""
    from .layout import LayoutError

    acc = _accounts(layout, codes)
    over = np.zeros(layout.code_index.shape, bool)
    bad_resources = []
    for r in RESOURCES:
        o = acc.used[r] > acc.budget[r]
        if o.any():
            bad_resources.append(r)
            over |= o
    if not bad_resources:
        return
    ys, xs = np.nonzero(over)
    n = len(xs)
    pes = list(zip(xs.tolist(), ys.tolist(), strict=True))[:_MAX_TABLE_PES]
    rows = resource_report(layout=_Bound(layout, codes), pes=pes, over_only=True)
    rows = [r for r in rows if r["over"]]
    arch = layout.arch
    more = f"\n  ... and {n - len(pes)} more PEs" if n > len(pes) else ""
    fixes = "\n".join(
        f"  - {r}: " + _FIXES[r].format(n=arch.pe.microthreads - 1) for r in bad_resources
    )
    raise LayoutError(
        f"layout {layout.name!r} is over its {arch.name} resource budget on {n} PE"
        f"{'s' if n > 1 else ''}:\n{format_table(rows)}{more}\nFix:\n{fixes}"
    )


@dataclass
class _Bound:
    """A layout with its codes already built (what resource_report needs)."""

    layout: Layout
    codes: list[Code]
