"""Static route checker: mistakes a layout's routes make visible before anything runs.

``check_routes(layout_or_compiled)`` reads the routes of every PE and color at every switch
position it configures (``Layout.rx`` / ``tx`` / ``sw_npos`` / ``swap``) and, where a rule needs
it, the programs of the tiles. It never runs the program, so it cannot see routes a task changes
at run time (``pe.set_route``, teardown); it reports what the routes *as loaded* imply.

A route at a position ``k`` of PE ``p``, color ``c`` says which ports ``rx`` the router accepts
``c`` from and which ports ``tx`` it sends it to. The routing graph of the layout has a node per
(PE, color) and an edge ``(p, c) -> (q, c')`` when ``p`` sends ``c`` towards its neighbour ``q``
at some position and ``q`` accepts it from the facing side at some position (``c' = c ^ 1`` when
``p`` swaps the color on an east/west hop, else ``c``). Rules, by ``Finding.kind``:

``off-rectangle`` (error)
    a ``tx`` port pointing off the rectangle (``Layout.compile`` refuses these too).
``not-accepted`` (error)
    ``p`` sends ``c`` to ``q``, but no position of ``q``'s route for ``c'`` accepts it from that
    side: the wavelets wait at ``p`` forever (the engine's ``not-accepted`` stall).
``dead-end`` (error)
    a position whose route accepts ``c`` from a side something sends it from (or from RAMP) but
    sends it nowhere (empty ``tx``): the wavelets stop in that router (``no-route`` stall).
``loop`` (error)
    a cycle of the routing graph (a strongly connected set of nodes) that either has no RAMP
    exit at any position of any of its routers - wavelets circulate and never reach a CE - or is
    made of routers without switches, where every wavelet entering it circulates forever (a
    multicast copy down a RAMP does not take the wavelet off the ring). Switch rings with RAMP
    exits (a token ring) are not reported.
``conflicting-inputs`` (warning)
    at one switch position a router accepts ``c`` from two or more *mesh* sides (N, S, E, W)
    that a neighbour really sends ``c`` from: two streams merge into one color FIFO in the order
    the routers' arbitration happens to give them (the hardware accepts a color from one input
    direction at a time [P]). Merging the PE's own CE (RAMP) into a passing stream - the bus
    pattern - is not a conflict.
``data-task-race`` (warning)
    a heuristic for "wavelets eaten by an unintended data task": the color reaches the CE (tx
    RAMP, and something can send it there), the PE's program binds a data task to the color
    *and* reads the color with a fabric-input DSD (``fabin_dsd``, found by the static scan of
    :mod:`waferscale.program.resources`), and the data task is neither blocked at start
    (``c.block``) nor blocked by any task (no ``.block(`` in the source of the program's
    functions). A wavelet meant for the op can then start the task instead.
``no-consumer`` (warning)
    the color reaches the CE but the program binds no data task to it and no fabric-input DSD
    of it is known: the wavelets fill the input queue and back-pressure stops the senders.
    Skipped (no finding) when the program binds control or teardown tasks (control wavelets
    need no data task) or uses fabric-input DSDs the scan cannot resolve.

The two program rules are heuristics: they may miss a mistake (DSDs built at run time), and
they are silent wherever they are unsure.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from ..program.layout import mask_ports
from ..program.ports import OPPOSITE, PORT_DX, PORT_DY, PORT_NAMES, RAMP

__all__ = ["Finding", "check_routes", "format_findings"]

ERROR_KINDS = ("off-rectangle", "not-accepted", "dead-end", "loop")
WARNING_KINDS = ("conflicting-inputs", "data-task-race", "no-consumer")


@dataclass
class Finding:
    """One problem of a layout: ``kind`` (see the module docstring), the PE (x, y), the color,
    a sentence, ``severity`` ("error" or "warning") and, where it applies, the switch
    position."""

    kind: str
    pe: tuple[int, int]
    color: int | None
    detail: str
    severity: str = "error"
    position: int | None = None

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} at PE {self.pe}: {self.detail}"


def _ports(mask: int) -> str:
    return "+".join(mask_ports(mask)) or "nothing"


@dataclass
class _Routes:
    width: int
    height: int
    rx: np.ndarray  # (h, w, colors, positions), only configured positions kept (others 0)
    tx: np.ndarray
    npos: np.ndarray  # (h, w, colors)
    swap: np.ndarray  # (h, w, colors)
    rx_any: np.ndarray  # (h, w, colors): OR over positions
    tx_any: np.ndarray
    code_index: np.ndarray | None
    codes: list | None


def _routes(obj: Any) -> _Routes:
    if hasattr(obj, "state") and hasattr(obj, "compiled"):  # an Engine: its layout as loaded
        obj = obj.compiled
    lay = getattr(obj, "layout", obj)
    codes = getattr(obj, "codes", None)
    if not isinstance(codes, list):
        try:
            codes = lay.codes()
        except Exception:  # a program that does not build: check the routes alone
            codes = None
    npos = lay.sw_npos.astype(np.int64)
    valid = np.arange(lay.rx.shape[3])[None, None, None, :] < npos[..., None]
    rx = np.where(valid, lay.rx, 0).astype(np.uint8)
    tx = np.where(valid, lay.tx, 0).astype(np.uint8)
    return _Routes(
        lay.width, lay.height, rx, tx, npos, lay.swap.astype(bool),
        np.bitwise_or.reduce(rx, axis=3), np.bitwise_or.reduce(tx, axis=3),
        getattr(lay, "code_index", None), codes,
    )


def check_routes(layout: Any) -> list[Finding]:
    """Check a :class:`~waferscale.program.Layout` (compiled or not; an ``Engine`` is checked
    as loaded) and return the findings, errors first. See the module docstring for the rules."""
    r = _routes(layout)
    findings: list[Finding] = []
    edges_src: list[np.ndarray] = []
    edges_dst: list[np.ndarray] = []
    # incoming[y, x, c] = mesh sides (bit = port at the receiver) a neighbour sends c in from
    incoming = np.zeros(r.rx_any.shape, np.uint8)
    n = r.width * r.height
    nc = r.rx.shape[2]
    for d in range(4):
        ys, xs, cs = np.nonzero((r.tx_any >> d) & 1)
        if len(ys) == 0:
            continue
        nx, ny = xs + PORT_DX[d], ys + PORT_DY[d]
        off = (nx < 0) | (nx >= r.width) | (ny < 0) | (ny >= r.height)
        for y, x, c in zip(ys[off].tolist(), xs[off].tolist(), cs[off].tolist(), strict=True):
            pos = [k for k in range(int(r.npos[y, x, c])) if (int(r.tx[y, x, c, k]) >> d) & 1]
            findings.append(Finding(
                "off-rectangle", (x, y), c,
                f"color {c} is sent {PORT_NAMES[d]} (position {', '.join(map(str, pos))}), off "
                f"the {r.width}x{r.height} rectangle", "error", pos[0]))
        ys, xs, cs, nx, ny = ys[~off], xs[~off], cs[~off], nx[~off], ny[~off]
        # color swap acts on east/west hops
        cs_in = np.where(r.swap[ys, xs, cs], cs ^ 1, cs) if d in (2, 3) else cs
        side = OPPOSITE[d]
        ok = ((r.rx_any[ny, nx, cs_in] >> side) & 1).astype(bool)
        for y, x, c, qx, qy, c2 in zip(
            *(a[~ok].tolist() for a in (ys, xs, cs, nx, ny, cs_in)), strict=True
        ):
            what = f"color {c}" + (f" (swapped to {c2})" if c2 != c else "")
            findings.append(Finding(
                "not-accepted", (x, y), c,
                f"{what} is sent {PORT_NAMES[d]} to PE ({qx}, {qy}), whose route for color {c2} "
                f"accepts it from {PORT_NAMES[side]} at no position (rx: "
                f"{_ports(int(r.rx_any[qy, qx, c2]))}): the wavelets wait forever", "error"))
        ys, xs, cs, nx, ny, cs_in = (a[ok] for a in (ys, xs, cs, nx, ny, cs_in))
        incoming[ny, nx, cs_in] |= np.uint8(1 << side)
        edges_src.append(cs * n + ys * r.width + xs)
        edges_dst.append(cs_in * n + ny * r.width + nx)

    findings += _dead_ends(r, incoming)
    findings += _conflicts(r, incoming)
    if edges_src:
        findings += _loops(r, np.concatenate(edges_src), np.concatenate(edges_dst), n, nc)
    if r.codes is not None and r.code_index is not None:
        findings += _program_rules(r, incoming)
    order = {k: i for i, k in enumerate(ERROR_KINDS + WARNING_KINDS)}
    findings.sort(key=lambda f: (f.severity != "error", order.get(f.kind, 99), f.pe[1], f.pe[0]))
    return findings


def _dead_ends(r: _Routes, incoming: np.ndarray) -> list[Finding]:
    out = []
    fed_from = incoming[..., None] | np.uint8(1 << RAMP)  # sides that can deliver
    dead = ((r.rx & fed_from) != 0) & (r.tx == 0)
    for y, x, c, k in zip(*(a.tolist() for a in np.nonzero(dead)), strict=True):
        sides = _ports(int(r.rx[y, x, c, k]) & int(fed_from[y, x, c, k]))
        out.append(Finding(
            "dead-end", (x, y), c,
            f"color {c} is accepted from {sides}"
            f" at position {k} but sent nowhere (empty tx): the wavelets stop in this router",
            "error", k))
    return out


def _conflicts(r: _Routes, incoming: np.ndarray) -> list[Finding]:
    out = []
    live = r.rx & incoming[..., None] & np.uint8(0x0F)
    # two or more bits set among the mesh sides
    multi = (live & (live - np.uint8(1))) != 0
    for y, x, c, k in zip(*(a.tolist() for a in np.nonzero(multi)), strict=True):
        out.append(Finding(
            "conflicting-inputs", (x, y), c,
            f"at position {k} the router accepts color {c} from {_ports(int(live[y, x, c, k]))} "
            "and neighbours send it from each of them: the streams merge into one color FIFO "
            "in arbitration order (the hardware takes a color from one input direction at a "
            "time); use one color per stream", "warning", k))
    return out


@nb.njit(cache=True)
def _scc(indptr, indices, n):  # pragma: no cover - compiled
    """Tarjan's strongly connected components, iterative; returns a component id per node."""
    index = np.full(n, -1, np.int64)
    low = np.zeros(n, np.int64)
    on_stack = np.zeros(n, np.bool_)
    comp = np.full(n, -1, np.int64)
    stack = np.empty(n, np.int64)
    sp = 0
    call_node = np.empty(n, np.int64)
    call_edge = np.empty(n, np.int64)
    counter = 0
    ncomp = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        depth = 0
        call_node[0] = root
        call_edge[0] = indptr[root]
        index[root] = counter
        low[root] = counter
        counter += 1
        stack[sp] = root
        sp += 1
        on_stack[root] = True
        while depth >= 0:
            v = call_node[depth]
            e = call_edge[depth]
            if e < indptr[v + 1]:
                call_edge[depth] = e + 1
                w = indices[e]
                if index[w] < 0:
                    index[w] = counter
                    low[w] = counter
                    counter += 1
                    stack[sp] = w
                    sp += 1
                    on_stack[w] = True
                    depth += 1
                    call_node[depth] = w
                    call_edge[depth] = indptr[w]
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            if low[v] == index[v]:
                while True:
                    sp -= 1
                    w = stack[sp]
                    on_stack[w] = False
                    comp[w] = ncomp
                    if w == v:
                        break
                ncomp += 1
            depth -= 1
            if depth >= 0:
                u = call_node[depth]
                if low[v] < low[u]:
                    low[u] = low[v]
    return comp


def _loops(r: _Routes, src: np.ndarray, dst: np.ndarray, n: int, nc: int) -> list[Finding]:
    nodes, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    s, d = inv[: len(src)], inv[len(src):]
    order = np.argsort(s, kind="stable")
    indptr = np.zeros(len(nodes) + 1, np.int64)
    np.add.at(indptr, s + 1, 1)
    indptr = np.cumsum(indptr)
    comp = _scc(indptr, d[order].astype(np.int64), len(nodes))
    sizes = np.bincount(comp)
    out = []
    for k in np.nonzero(sizes > 1)[0].tolist():
        members = nodes[comp == k]
        cs, ps = members // n, members % n
        xs, ys = ps % r.width, ps // r.width
        ramp_exit = ((r.tx_any[ys, xs, cs] >> RAMP) & 1).any()
        static = bool((r.npos[ys, xs, cs] == 1).all())
        if ramp_exit and not static:
            continue
        where = ", ".join(f"({x}, {y})" for x, y in zip(xs[:6].tolist(), ys[:6].tolist(),
                                                       strict=True))
        more = f" and {len(members) - 6} more" if len(members) > 6 else ""
        colors = sorted(set(cs.tolist()))
        why = ("no router on it sends the color down a RAMP: the wavelets circulate and never "
               "reach a CE") if not ramp_exit else (
               "its routers have no switches: every wavelet entering it circulates forever "
               "(copies down a RAMP do not take it off the ring) unless a teardown stops it")
        out.append(Finding(
            "loop", (int(xs[0]), int(ys[0])), int(cs[0]),
            f"color{'s' if len(colors) > 1 else ''} {', '.join(map(str, colors))} form a cycle "
            f"through PEs {where}{more}: {why}", "error"))
    return out


def _source_facts(code) -> tuple[bool, bool]:
    """(may block a task at run time, hands ``pe`` to helper functions) for a program's tasks
    and exported functions, from their source; both True when a source is not available."""
    cached = getattr(code, "_routecheck_facts", None)
    if cached is not None:
        return cached
    blocks = helpers = False
    fns = [d.fn for d in code.tasks.values()] + list(code.functions.values())
    for fn in fns:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError):
            blocks = helpers = True
            break
        root = tree.body[0] if tree.body else None
        if not isinstance(root, ast.FunctionDef) or not root.args.args:
            continue
        pe = root.args.args[0].arg
        for node in ast.walk(root):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            on_pe = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id == pe
            if on_pe and f.attr == "block":
                blocks = True
            if not on_pe and any(isinstance(a, ast.Name) and a.id == pe for a in node.args):
                helpers = True
    facts = (blocks, helpers)
    code._routecheck_facts = facts
    return facts


def _program_rules(r: _Routes, incoming: np.ndarray) -> list[Finding]:
    from ..program.resources import fabric_dsds, scan_program

    out = []
    # delivered[y, x, c]: the color goes down the ramp and something can send it there
    down = ((r.tx >> RAMP) & 1).astype(bool)
    fed = (r.rx & (incoming[..., None] | np.uint8(1 << RAMP))) != 0
    delivered = (down & fed).any(axis=3)
    for i, code in enumerate(r.codes):
        mine = r.code_index == i
        if not mine.any():
            continue
        colors = np.nonzero((delivered & mine[..., None]).any(axis=(0, 1)))[0].tolist()
        if not colors:
            continue
        data = {d.color: d for d in code.tasks.values() if d.kind == "data" and d.color is not None}
        fabin: set[int] = set()
        unknown = False
        try:
            for _fn, dsd in fabric_dsds(code):
                if type(dsd).__name__ == "FabinDSD":
                    q = getattr(dsd, "input_queue", None)
                    fabin.add(code.input_queues.get(q, dsd.color) if q is not None else dsd.color)
            unknown = any(None in site.fabin for site in scan_program(code).ops)
        except Exception:
            unknown = True
        blocks, helpers = _source_facts(code)
        unknown = unknown or helpers
        control = any(d.kind in ("control", "teardown") for d in code.tasks.values())
        for c in colors:
            ys, xs = np.nonzero(delivered[..., c] & mine)
            x0, y0 = int(xs[0]), int(ys[0])
            where = f" (and {len(xs) - 1} more PEs running {code.program!r})" if len(xs) > 1 else ""
            decl = data.get(c)
            if decl is not None and c in fabin:
                if decl.task_id in code.blocked_at_start or blocks:
                    continue
                out.append(Finding(
                    "data-task-race", (x0, y0), c,
                    f"color {c} reaches the CE, where program {code.program!r} binds data task "
                    f"{decl.name!r} to it and also reads it with a fabric-input DSD; the task is "
                    f"never blocked, so it may take wavelets meant for the op{where}",
                    "warning"))
            elif decl is None and c not in fabin and not unknown and not control:
                out.append(Finding(
                    "no-consumer", (x0, y0), c,
                    f"color {c} reaches the CE, but program {code.program!r} binds no data task "
                    f"to it and reads it with no fabric-input DSD: the wavelets would fill its "
                    f"input queue{where}", "warning"))
    return out


def format_findings(findings: list[Finding], *, limit: int = 12) -> str:
    """The findings as text, grouped by kind (at most ``limit`` lines per kind)."""
    if not findings:
        return "routes: no findings"
    kinds: dict[str, list[Finding]] = {}
    for f in findings:
        kinds.setdefault(f.kind, []).append(f)
    lines = []
    for kind, items in kinds.items():
        lines.append(f"{kind} ({len(items)}, {items[0].severity}):")
        lines += [f"  PE {f.pe}: {f.detail}" for f in items[:limit]]
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")
    return "\n".join(lines)
