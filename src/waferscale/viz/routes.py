"""Route maps: which ports each router accepts a color from and sends it to.

Every PE is a square (row 0 at the top, as in the SDK: y grows southward). For a color, an
arrow from a side of the square to its centre is an accepted input (``rx``); an arrow from the
centre to a side is an output (``tx``), so a multicast shows as several outgoing arrows. The
CE is the dot in the middle: an arrow out of it means the router accepts the color from its CE
(rx RAMP), an arrow ending on it means the color goes down the ramp (tx RAMP). Colors get
different hues and small offsets so that several fit one map.

Switches: with ``positions="panels"`` (default) each switch position gets its own panel (panel
k shows position k of every router that has one; routers without switches show their only
route in every panel, fainter); the position a router is *at* is framed. With
``positions="overlay"`` all positions share one panel, position k drawn with line style k.

Badges: ``F[lo..hi]`` a range filter on the ramp of the color (``Fp/n`` a counter filter
passing p of every n), ``S`` color swap, ``T`` a color in teardown
(engine state), ``ring``/``pop`` switch modes. Works on a :class:`~waferscale.program.Layout`,
a :class:`~waferscale.program.CompiledLayout` or a running :class:`~waferscale.fabric.Engine`
(its current routes, positions and teardown state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle  # noqa: E402

__all__ = ["draw_payload", "draw_routes", "plot_routes"]

MAX_PES = 1024  # larger maps are unreadable: draw a region

# Unit vectors of the ports in drawing coordinates (y grows downward on the wafer, upward on
# the page, so NORTH points up).
_DIRS = {0: (0.0, 1.0), 1: (0.0, -1.0), 2: (1.0, 0.0), 3: (-1.0, 0.0)}
_STYLES = ["-", "--", ":", "-."]
_PALETTE = plt.get_cmap("tab10").colors


@dataclass
class _Routes:
    """Routes of a rectangle as arrays indexed [y, x, color(, position)]."""

    width: int
    height: int
    rx: np.ndarray
    tx: np.ndarray
    npos: np.ndarray
    current: np.ndarray
    ring: np.ndarray
    pop: np.ndarray
    swap: np.ndarray
    torn: np.ndarray  # [y, x, color] bool
    filters: dict[tuple[int, int, int], str]  # (x, y, color) -> badge text
    title: str


def _routes_of(obj: Any) -> _Routes:
    """Accept a Layout, CompiledLayout or Engine."""
    if hasattr(obj, "state") and hasattr(obj, "compiled"):  # an Engine: its live state
        s, lay = obj.state, obj.compiled.layout
        h, w = lay.height, lay.width
        nc = s.colors
        bits = (s.torn[:, None] >> np.arange(nc)[None, :]) & 1
        filt = (s.filt_mask[:, None] >> np.arange(nc)[None, :]) & 1
        ps, cs = np.nonzero(filt)
        return _Routes(
            w, h,
            s.route_rx.reshape(h, w, nc, -1), s.route_tx.reshape(h, w, nc, -1),
            s.sw_npos.reshape(h, w, nc), s.route_pos.reshape(h, w, nc),
            s.sw_ring.reshape(h, w, nc), s.sw_pop.reshape(h, w, nc),
            ((s.swap[:, None] >> np.arange(nc)[None, :]) & 1).reshape(h, w, nc),
            bits.reshape(h, w, nc).astype(bool),
            {(int(p % w), int(p // w), int(c)): _filter_text(s.filt[p, c])
             for p, c in zip(ps, cs, strict=True)},
            f"{lay.name} at cycle {obj.now}",
        )
    lay = getattr(obj, "layout", obj)
    return _Routes(
        lay.width, lay.height, lay.rx, lay.tx, lay.sw_npos, lay.sw_current, lay.sw_ring,
        lay.sw_pop, lay.swap, np.zeros(lay.swap.shape, bool),
        {k: _filter_text(row) for k, row in lay.filters.items()}, lay.name,
    )


def _filter_text(row: np.ndarray) -> str:
    """A filter's badge: ``F[lo..hi]`` (range) or ``F<pass/period`` (counter)."""
    from ..program.encoding import FILT_RANGE, FL_HI, FL_KIND, FL_LO, FL_MAX, FL_PASS

    if int(row[FL_KIND]) == FILT_RANGE:
        lo, hi = int(row[FL_LO]), int(row[FL_HI])
        return f"F[{lo}]" if lo == hi else f"F[{lo}..{hi}]"
    return f"F{int(row[FL_PASS])}/{int(row[FL_MAX]) + 1}"


def _arrow(ax, start, end, color, style, lw, alpha=1.0):
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=8, color=color, lw=lw, linestyle=style,
        alpha=alpha, shrinkA=0, shrinkB=0,
    ))


def _draw_pe_color(ax, r: _Routes, x: int, y: int, c: int, k: int, hue, offset: float,
                   style: str, faint: bool) -> bool:
    """Draw position ``k`` of color ``c`` at PE (x, y); False if there is nothing to draw."""
    rx, tx = int(r.rx[y, x, c, k]), int(r.tx[y, x, c, k])
    if not rx and not tx:
        return False
    cx, cy = x + 0.5, r.height - y - 0.5
    alpha = 0.35 if faint else 1.0
    lw = 1.0 if faint else 1.6
    for port in range(4):
        dx, dy = _DIRS[port]
        # a lane per color: offset perpendicular to the port direction
        ox, oy = -dy * offset, dx * offset
        edge = (cx + 0.46 * dx + ox, cy + 0.46 * dy + oy)
        near = (cx + 0.12 * dx + ox, cy + 0.12 * dy + oy)
        if (rx >> port) & 1:
            _arrow(ax, edge, near, hue, style, lw, alpha)
        if (tx >> port) & 1:
            _arrow(ax, (near[0] + 0.02 * dx, near[1] + 0.02 * dy),
                   (edge[0] + 0.03 * dx, edge[1] + 0.03 * dy), hue, style, lw, alpha)
    # the ramp: down to the CE = an arrow ending on the dot from the upper left; up from the
    # CE = an arrow leaving the dot to the lower right (shifted per color like the links)
    ox, oy = offset, offset
    if (tx >> 4) & 1:
        _arrow(ax, (cx - 0.3 + ox, cy + 0.3 + oy), (cx - 0.05 + ox, cy + 0.05 + oy), hue, style,
               lw, alpha)
    if (rx >> 4) & 1:
        _arrow(ax, (cx + 0.05 + ox, cy - 0.05 + oy), (cx + 0.3 + ox, cy - 0.3 + oy), hue, style,
               lw, alpha)
    return True


def _badges(ax, r: _Routes, x: int, y: int, colors: Sequence[int], hues) -> None:
    cx, cy = x + 0.5, r.height - y - 0.5
    texts = []
    for c, hue in zip(colors, hues, strict=True):
        tags = []
        if (x, y, c) in r.filters:
            tags.append(r.filters[(x, y, c)])
        if r.swap[y, x, c]:
            tags.append("S")
        if r.torn[y, x, c]:
            tags.append("T")
        if r.npos[y, x, c] > 1:
            mode = ["", "pop/adv", "pop"][int(r.pop[y, x, c])]
            tags.append("ring" if r.ring[y, x, c] else "")
            tags.append(mode)
        tags = [t for t in tags if t]
        if tags:
            texts.append((" ".join(tags), hue))
    for i, (text, hue) in enumerate(texts):
        ax.text(cx + 0.45, cy + 0.44 - 0.11 * i, text, fontsize=5.5, color=hue, va="top",
                ha="right")


def _select(
    r: _Routes, region: tuple[int, int, int, int] | None, colors: Sequence[int] | None
) -> tuple[tuple[int, int, int, int], list[int]]:
    """Check ``region`` (default: the whole rectangle) and pick the colors to draw (default:
    every color with a route in the region)."""
    x0, y0, w, h = region if region is not None else (0, 0, r.width, r.height)
    if w <= 0 or h <= 0 or x0 < 0 or y0 < 0 or x0 + w > r.width or y0 + h > r.height:
        raise ValueError(
            f"region {(x0, y0, w, h)} leaves the {r.width}x{r.height} rectangle"
        )
    if w * h > MAX_PES:
        raise ValueError(
            f"{w}x{h} = {w * h} PEs is too many to draw (at most {MAX_PES}): pass "
            "region=(x, y, w, h)"
        )
    used = (r.rx | r.tx)[y0 : y0 + h, x0 : x0 + w].any(axis=(0, 1, 3))
    if colors is None:
        colors = [int(c) for c in np.nonzero(used)[0]]
    colors = [int(c) for c in colors]
    if not colors:
        raise ValueError("no color to draw: no route in the region (pass colors=[...])")
    return (x0, y0, w, h), colors


def _plot_panel(ax, r: _Routes, region: tuple[int, int, int, int], colors: list[int], hues,
                panel: int | None, npos_max: int) -> None:
    """Draw one panel: switch position ``panel`` of every router (None: all positions,
    overlaid with a line style each)."""
    x0, y0, w, h = region
    offsets = np.linspace(-0.12, 0.12, len(colors)) if len(colors) > 1 else [0.0]
    sub = _Routes(w, h, *(a[y0 : y0 + h, x0 : x0 + w] for a in (
        r.rx, r.tx, r.npos, r.current, r.ring, r.pop, r.swap, r.torn)),
        {(fx - x0, fy - y0, fc): t for (fx, fy, fc), t in r.filters.items()}, r.title)
    for yy in range(h):
        for xx in range(w):
            ax.add_patch(Rectangle((xx + 0.04, h - yy - 0.96), 0.92, 0.92, fill=False,
                                   lw=0.6, ec="0.6"))
            ax.add_patch(Circle((xx + 0.5, h - yy - 0.5), 0.06, color="0.35"))
            for c, hue, off in zip(colors, hues, offsets, strict=True):
                npos = int(sub.npos[yy, xx, c])
                if panel is None:
                    for k in range(npos):
                        _draw_pe_color(ax, sub, xx, yy, c, k, hue, off, _STYLES[k % 4],
                                       False)
                    continue
                if npos > 1 and panel >= npos:
                    continue
                k = panel if npos > 1 else 0
                _draw_pe_color(ax, sub, xx, yy, c, k, hue, off, "-", npos == 1 and panel > 0)
                if npos > 1 and int(sub.current[yy, xx, c]) == panel:
                    ax.add_patch(Rectangle((xx + 0.07, h - yy - 0.93), 0.86, 0.86,
                                           fill=False, lw=1.4, ec=hue, ls="--"))
            _badges(ax, sub, xx, yy, colors, hues)
    ax.set_xlim(0, w)
    ax.set_ylim(0, h)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(w) + 0.5, [str(x0 + i) for i in range(w)], fontsize=7)
    ax.set_yticks(np.arange(h) + 0.5, [str(y0 + h - 1 - i) for i in range(h)], fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if panel is not None and npos_max > 1:
        ax.set_title(f"switch position {panel}", fontsize=8)


def _position_handles(npos_max: int) -> list[Any]:
    """Legend entries for the line styles of switch positions (overlay mode)."""
    if npos_max <= 1:
        return []
    return [plt.Line2D([], [], color="0.3", ls=_STYLES[k], label=f"position {k}")
            for k in range(npos_max)]


def plot_routes(
    ax: Any,
    layout: Any,
    colors: Sequence[int] | None = None,
    *,
    region: tuple[int, int, int, int] | None = None,
    hues: Sequence[Any] | None = None,
) -> list[Any]:
    """Draw the routes of ``colors`` on an existing matplotlib axes ``ax`` (one PE per unit
    square, row 0 at the top; every switch position overlaid, position k with line style k),
    for composing a route map into a larger figure. ``hues``: one matplotlib color per entry
    of ``colors`` (default: the tab10 palette in order). Returns the legend handles (one per
    color, then one per switch position if any router has several)."""
    r = _routes_of(layout)
    region, colors = _select(r, region, colors)
    x0, y0, w, h = region
    if hues is None:
        hues = [_PALETTE[i % len(_PALETTE)] for i in range(len(colors))]
    hues = list(hues)
    if len(hues) != len(colors):
        raise ValueError(f"{len(hues)} hues for {len(colors)} colors")
    npos_max = int(r.npos[y0 : y0 + h, x0 : x0 + w][..., colors].max())
    _plot_panel(ax, r, region, colors, hues, None, npos_max)
    handles = [plt.Line2D([], [], color=hue, lw=2, label=f"color {c}")
               for c, hue in zip(colors, hues, strict=True)]
    return handles + _position_handles(npos_max)


def draw_routes(
    layout: Any,
    colors: Sequence[int] | None = None,
    path: str | Path | None = None,
    *,
    positions: str = "panels",
    region: tuple[int, int, int, int] | None = None,
    title: str | None = None,
    cell: float = 0.9,
    dpi: int = 100,
) -> Figure:
    """Draw the routes of ``colors`` (default: every color with a route) of a layout, compiled
    layout or engine; save to ``path`` (PNG, SVG, ... by suffix) if given. ``region`` = (x, y,
    w, h) draws part of a large rectangle. Returns the matplotlib figure."""
    r = _routes_of(layout)
    region, colors = _select(r, region, colors)
    x0, y0, w, h = region
    hues = [_PALETTE[i % len(_PALETTE)] for i in range(len(colors))]
    npos_max = int(r.npos[y0 : y0 + h, x0 : x0 + w][..., colors].max())
    if positions not in ("panels", "overlay"):
        raise ValueError(f"positions={positions!r}: expected 'panels' or 'overlay'")
    panels = list(range(npos_max)) if positions == "panels" else [None]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(cell * w * len(panels) + 0.4 * len(panels), cell * h + 0.9),
        squeeze=False, dpi=dpi,
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        _plot_panel(ax, r, region, colors, hues, panel, npos_max)
    handles = [plt.Line2D([], [], color=hue, lw=2, label=f"color {c}")
               for c, hue in zip(colors, hues, strict=True)]
    if positions == "overlay":
        handles += _position_handles(npos_max)
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7,
               frameon=False)
    fig.suptitle(title if title is not None else r.title, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def draw_payload(path: str | Path | None = None, *, dpi: int = 100) -> Figure:
    """The 32-bit control-wavelet payload layout (see :mod:`waferscale.program.control`)."""
    fields = [  # (low bit, high bit, label, hue)
        (0, 15, "data for the control task\nor 8 command slots (2 bits each, slot 0 lowest)", 0),
        (16, 20, "task id\n(31: none)", 1),
        (21, 21, "CE\nfilter", 2),
        (22, 23, "cmd", 3),
        (24, 31, "unused", 7),
    ]
    fig, ax = plt.subplots(figsize=(8.0, 1.7), dpi=dpi)
    for lo, hi, label, k in fields:
        x_left = 31 - hi
        ax.add_patch(Rectangle((x_left, 0), hi - lo + 1, 1, fc=_PALETTE[k], alpha=0.35,
                               ec="0.2"))
        ax.text(x_left + (hi - lo + 1) / 2, 0.5, label, ha="center", va="center", fontsize=7)
        ax.text(x_left + 0.1, 1.08, str(hi), fontsize=6, ha="left")
        if hi != lo:
            ax.text(x_left + hi - lo + 0.9, 1.08, str(lo), fontsize=6, ha="right")
    ax.set_xlim(0, 32)
    ax.set_ylim(-0.1, 1.35)
    ax.axis("off")
    ax.set_title("control wavelet payload (bit 31 left, bit 0 right); cmd: 0 NOP, 1 ADVANCE, "
                 "2 RESET, 3 TEARDOWN", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
