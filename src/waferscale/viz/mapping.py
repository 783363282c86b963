"""Mapping pictures: how a program is laid out on the PE grid, in one figure.

:func:`draw_mapping` puts side by side (or one above the other, for a wide grid)

1. **what each PE holds**: every PE a square tinted by its *role* (a name per PE given by the
   caller: "row 0: floods x", "owner column", ...; one legend entry per role) with a text
   label (the arrays it holds; by default the arrays its program declares);
2. **routes**: the layout's color routes, drawn by :func:`waferscale.viz.routes.plot_routes` on
   the same grid (tinted by role), with a legend that says what each color carries;
3. **link traffic** (optional): what actually flowed in a run, from an engine's per-link
   counters - every directed mesh link a short arrow colored by its wavelet count, every
   PE's ramp counts as text (``down`` to the CE, ``up`` from it).

Row 0 is at the top (y grows southward, as in the SDK and :mod:`waferscale.viz.routes`).
Routed colors left out of ``colors`` are named in a footnote, so a legend never hides a
color silently.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from .routes import _DIRS, _PALETTE, MAX_PES, plot_routes  # noqa: E402

__all__ = ["draw_mapping", "link_traffic", "pe_symbols"]

PEText = Mapping[tuple[int, int], str] | Callable[[int, int], str] | None
"""Text per PE: a mapping ``(x, y) -> text`` (missing PEs: none) or a function of (x, y)."""

_TINTS = plt.get_cmap("Pastel1").colors + plt.get_cmap("Pastel2").colors
_RAMP_KEY = "\u2193n \u2191m: wavelets down to / up from the CE"
# figure geometry, inches
_MARGIN, _YTICKS, _CBAR = 0.12, 0.3, 0.75
_TITLE_LINE, _PANEL_TITLE, _TICKS, _LEG_ROW, _NOTE_LINE = 0.16, 0.25, 0.2, 0.14, 0.115


def _layout_of(obj: Any) -> Any:
    """The :class:`~waferscale.program.Layout` of a Layout, CompiledLayout or Engine."""
    if hasattr(obj, "compiled"):  # an Engine
        obj = obj.compiled
    return getattr(obj, "layout", obj)


def pe_symbols(layout: Any, x: int, y: int, skip: Sequence[str] = ("ts",)) -> list[str]:
    """The arrays PE (x, y)'s program declares, as ``name[length]``, in declaration order
    (``skip``: names to leave out; the SDK timer ``ts`` by default). ``layout``: a compiled
    layout or an engine (the programs must be built)."""
    compiled = layout.compiled if hasattr(layout, "compiled") else layout
    if not hasattr(compiled, "codes"):
        raise TypeError("pe_symbols needs a CompiledLayout or an Engine (programs built)")
    code = compiled.codes[int(compiled.layout.code_index[y, x])]
    return [f"{s.name}[{s.length}]" for s in code.symbols.values() if s.name not in skip]


def link_traffic(source: Any) -> np.ndarray:
    """Wavelets per PE and link as an array (height, width, 6): NORTH, SOUTH, EAST, WEST out of
    each router, RAMP down to the CE, RAMP up from it. ``source``: an Engine (its counters so
    far), a :class:`~waferscale.tools.profiler.Profile`, or such an array (returned as is)."""
    if hasattr(source, "traffic") and hasattr(source, "width"):  # an Engine
        return source.traffic()["link_out"].reshape(source.height, source.width, 6)
    if hasattr(source, "link_out"):  # a Profile
        return np.asarray(source.link_out).reshape(source.height, source.width, 6)
    arr = np.asarray(source)
    if arr.ndim != 3 or arr.shape[2] != 6:
        raise ValueError(f"link traffic must have shape (height, width, 6), got {arr.shape}")
    return arr


def _text_of(spec: PEText, x: int, y: int) -> str | None:
    if spec is None:
        return None
    if callable(spec):
        return spec(x, y)
    return spec.get((x, y))


def _ranges(values: Sequence[int]) -> str:
    """``[8, 9, 10, 12]`` -> ``"8-10, 12"``."""
    out: list[str] = []
    for v in sorted(values):
        if out and v == int(out[-1].split("-")[-1]) + 1:
            out[-1] = out[-1].split("-")[0] + f"-{v}"
        else:
            out.append(str(v))
    return ", ".join(out)


def _centre(x: int, y: int, h: int) -> tuple[float, float]:
    return x + 0.5, h - y - 0.5


def _grid_axes(ax: Any, w: int, h: int, tints: np.ndarray | None, alpha: float) -> None:
    """PE squares (tinted by role), ticks as in the route maps."""
    for y in range(h):
        for x in range(w):
            fc = tints[y][x] if tints is not None else "none"
            ax.add_patch(Rectangle((x + 0.04, h - y - 0.96), 0.92, 0.92, fc=fc, alpha=alpha,
                                   ec="0.6", lw=0.6))
    ax.set_xlim(0, w)
    ax.set_ylim(0, h)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(w) + 0.5, [str(i) for i in range(w)], fontsize=7)
    ax.set_yticks(np.arange(h) + 0.5, [str(h - 1 - i) for i in range(h)], fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _legend_below(ax: Any, handles: list[Any]) -> None:
    """A legend under the axes, clear of its tick labels."""
    if handles:
        below = offset_copy(ax.transAxes, fig=ax.figure, y=-11, units="points")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  bbox_transform=below, fontsize=6.5, frameon=False, handlelength=1.6)


def _draw_traffic(ax: Any, counts: np.ndarray, tints: np.ndarray | None, cmap: Any,
                  norm: Normalize) -> None:
    h, w, _ = counts.shape
    _grid_axes(ax, w, h, tints, 0.25)
    for y in range(h):
        for x in range(w):
            cx, cy = _centre(x, y, h)
            for port in range(4):
                n = int(counts[y, x, port])
                if not n:
                    continue
                dx, dy = _DIRS[port]
                ox, oy = 0.1 * dy, -0.1 * dx  # keep to the right of the direction of travel
                ax.add_patch(FancyArrowPatch(
                    (cx + 0.12 * dx + ox, cy + 0.12 * dy + oy),
                    (cx + 0.88 * dx + ox, cy + 0.88 * dy + oy), arrowstyle="-|>",
                    mutation_scale=7, color=cmap(norm(n)), lw=2.2, shrinkA=0, shrinkB=0,
                ))
            down, up = int(counts[y, x, 4]), int(counts[y, x, 5])
            if down or up:
                ax.text(cx - 0.42, cy - 0.42, f"\u2193{down} \u2191{up}", fontsize=5.5,
                        ha="left", va="bottom", color="0.25")


def draw_mapping(
    layout: Any,
    *,
    colors: Mapping[int, str] | Sequence[int] | None = None,
    roles: PEText = None,
    labels: PEText = None,
    traffic: Any = None,
    notes: Sequence[str] = (),
    title: str | None = None,
    cell: float = 1.0,
    label_size: float = 6.0,
    dpi: int = 80,
    path: str | Path | None = None,
) -> Figure:
    """Draw the mapping of a layout (a Layout, CompiledLayout or Engine: its load-time routes).

    ``colors``: the colors to draw and, as a mapping, what each carries (the legend reads
    "color c: meaning"); default every routed color. ``roles``: a role name per PE (tints and
    the role legend). ``labels``: what each PE holds (default: the arrays of its program, see
    :func:`pe_symbols`; needs a compiled layout). ``traffic``: an Engine after a run (or a
    Profile, or a (height, width, 6) array, see :func:`link_traffic`) for a third panel.
    ``notes``: footnote lines (host transfers, colors set at run time, ...). Returns the
    figure; saves it to ``path`` if given."""
    lay = _layout_of(layout)
    w, h = int(lay.width), int(lay.height)
    if w * h > MAX_PES:
        raise ValueError(f"{w}x{h} = {w * h} PEs is too many to draw (at most {MAX_PES})")
    routed = [int(c) for c in np.nonzero((lay.rx | lay.tx).any(axis=(0, 1, 3)))[0]]
    meanings: dict[int, str] = (
        {int(c): str(m) for c, m in colors.items()} if isinstance(colors, Mapping)
        else {int(c): "" for c in (routed if colors is None else colors)}
    )
    unrouted = [c for c in meanings if c not in routed]
    drawn = [c for c in meanings if c in routed]
    notes = list(notes)
    left_out = [c for c in routed if c not in meanings]
    if left_out:
        notes.append("routed but not drawn: color" + ("s " if len(left_out) > 1 else " ")
                     + _ranges(left_out))

    role_of = [[_text_of(roles, x, y) for x in range(w)] for y in range(h)]
    role_names = list(dict.fromkeys(r for row in role_of for r in row if r))
    tint_of = {r: _TINTS[i % len(_TINTS)] for i, r in enumerate(role_names)}
    tints = None
    if role_names:
        tints = np.empty((h, w), object)
        for y in range(h):
            for x in range(w):
                tints[y, x] = tint_of.get(role_of[y][x], "white")

    counts = link_traffic(traffic) if traffic is not None else None
    if counts is not None and counts.shape[:2] != (h, w):
        raise ValueError(f"traffic of shape {counts.shape[:2]} for a {w}x{h} layout")
    if unrouted:
        notes.insert(0, "; ".join(f"color {c}: {meanings[c]}" if meanings[c] else f"color {c}"
                                  for c in unrouted) + " (no route in the layout)")
    hues = [_PALETTE[i % len(_PALETTE)] for i in range(len(drawn))]
    route_labels = [f"color {c}: {meanings[c]}" if meanings[c] else f"color {c}"
                    for c in drawn]
    npos = int(lay.sw_npos[..., drawn].max()) if drawn else 1
    panels: list[tuple[str, list[str]]] = [("holds", role_names)]
    if drawn:
        panels.append(("routes", route_labels + [f"position {k}" for k in range(npos)
                                                 if npos > 1]))
    if counts is not None:
        panels.append(("traffic", [_RAMP_KEY]))

    # geometry in inches (fixed: a layout engine mis-places equal-aspect axes with legends)
    stacked = w >= 2 * h and len(panels) > 1
    aw, ah = cell * w, cell * h
    boxes = []  # (panel width incl. tick labels and colorbar, height incl. title and legend)
    for kind, legend in panels:
        lw = max((len(t) for t in legend), default=0) * 0.046 + 0.45
        pw = _YTICKS + max(aw, lw) + (_CBAR if kind == "traffic" else 0.0)
        boxes.append((pw, _PANEL_TITLE + ah + _TICKS + _LEG_ROW * len(legend) + 0.12))
    if stacked:
        area_w, area_h = max(b[0] for b in boxes), sum(b[1] for b in boxes)
    else:
        area_w, area_h = sum(b[0] for b in boxes), max(b[1] for b in boxes)
    width = max(area_w + 2 * _MARGIN, 4.5)
    head = textwrap.wrap(title if title is not None else lay.name, int(12 * width))
    lines = [ln for note in notes for ln in textwrap.wrap(note, int(17 * width))]
    head_h = _TITLE_LINE * len(head) + 0.12
    notes_h = _NOTE_LINE * len(lines) + (0.1 if lines else 0.0)
    height = head_h + area_h + notes_h
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    axes = []
    x, top = _MARGIN + (width - 2 * _MARGIN - area_w) / 2, height - head_h
    for (pw, ph), (kind, _) in zip(boxes, panels, strict=True):
        inner = pw - _YTICKS - (_CBAR if kind == "traffic" else 0.0)
        left = x + _YTICKS + (inner - aw) / 2
        bottom = top - _PANEL_TITLE - ah
        axes.append(fig.add_axes((left / width, bottom / height, aw / width, ah / height)))
        if stacked:
            top -= ph
        else:
            x += pw

    ax = axes[0]
    _grid_axes(ax, w, h, tints, 0.9)
    built = hasattr(layout, "codes") or hasattr(layout, "compiled")
    for y in range(h):
        for x in range(w):
            if labels is not None:
                text = _text_of(labels, x, y)
            else:
                text = "\n".join(pe_symbols(layout, x, y)) if built else None
            if text:
                cx, cy = _centre(x, y, h)
                ax.text(cx, cy, text, ha="center", va="center", fontsize=label_size,
                        linespacing=1.15)
    ax.set_title("what each PE holds", fontsize=8)
    _legend_below(ax, [Patch(fc=tint_of[r], ec="0.6", label=r) for r in role_names])

    k = 1
    if drawn:
        ax = axes[k]
        k += 1
        _grid_axes(ax, w, h, tints, 0.35)
        handles = plot_routes(ax, lay, drawn, hues=hues)
        for hd, text in zip(handles, route_labels, strict=False):
            hd.set_label(text)
        ax.set_title("routes (at load time)", fontsize=8)
        _legend_below(ax, handles)

    if counts is not None:
        ax = axes[k]
        cmap = plt.get_cmap("viridis")
        top = int(counts[..., :4].max(initial=0))
        norm = Normalize(0, max(top, 1))
        _draw_traffic(ax, counts, tints, cmap, norm)
        now = getattr(traffic, "now", None)
        ax.set_title("link traffic" + (f" of a run ({now:,} cycles)" if now else ""),
                     fontsize=8)
        pos = ax.get_position()
        cax = fig.add_axes((pos.x1 + 0.12 / width, pos.y0 + 0.15 * pos.height,
                            0.12 / width, 0.7 * pos.height))
        cb = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax,
                          ticks=MaxNLocator(nbins=6, integer=True))
        cb.set_label("wavelets per link", fontsize=7)
        cb.ax.tick_params(labelsize=6)
        _legend_below(ax, [plt.Line2D([], [], color="none", label=_RAMP_KEY)])
    if lines:
        fig.text(_MARGIN / width, 0.06 / height, "\n".join(lines), ha="left", va="bottom",
                 fontsize=6.5, color="0.2", linespacing=1.2)
    fig.text(0.5, 1 - 0.06 / height, "\n".join(head), ha="center", va="top", fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
