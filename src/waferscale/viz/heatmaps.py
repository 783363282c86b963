"""Heatmaps of a run: how busy each link was, and how each PE spent its cycles.

:func:`draw_link_heatmaps` draws one panel per direction (NORTH, SOUTH, EAST, WEST out of each
router, RAMP down to its CE, RAMP up from it); a cell is a PE (row 0 at the top, as in the
route maps), its value the link's *utilisation*: wavelets sent over it divided by the cycles of
the run (a link carries at most one wavelet per cycle). From the engine's per-link counters, or
for one color from a trace's hop and ramp events.

:func:`draw_pe_heatmaps` draws a :class:`~waferscale.tools.profiler.Profile`: the share of the
run each PE's CE was busy, stalled on the fabric, and idle (stalled on memory is always 0: bank
conflicts are not modelled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..tools.profiler import LINK_NAMES  # noqa: E402

__all__ = ["draw_link_heatmaps", "draw_pe_heatmaps", "link_counts"]

_ARROWS = ("\u2191", "\u2193", "\u2192", "\u2190", "\u25bc CE", "\u25b2 CE")


def link_counts(trace: Any, color: int | None = None) -> np.ndarray:
    """Wavelets per PE and link (PE x [N, S, E, W, RAMP down, RAMP up]) from a trace's
    ``hop``/``ramp_down``/``ramp_up`` events, of one color or all."""
    from ..fabric._layout_consts import EV_HOP, EV_RAMP_DOWN, EV_RAMP_UP

    ev = trace.events
    out = np.zeros((trace.width * trace.height, 6), np.int64)
    sel = np.ones(len(ev["kind"]), bool) if color is None else ev["color"] == color
    hop = sel & (ev["kind"] == EV_HOP)
    np.add.at(out, (ev["pe"][hop], ev["port"][hop]), 1)
    np.add.at(out[:, 4], ev["pe"][sel & (ev["kind"] == EV_RAMP_DOWN)], 1)
    np.add.at(out[:, 5], ev["pe"][sel & (ev["kind"] == EV_RAMP_UP)], 1)
    return out


def _grid(ax, values: np.ndarray, *, vmax: float, cmap: str, annotate: bool, fmt: str,
          dark_low: bool = True):
    h, w = values.shape
    im = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest",
                   origin="upper", aspect="equal")
    step_x = max(1, w // 8)
    step_y = max(1, h // 8)
    ax.set_xticks(range(0, w, step_x))
    ax.set_yticks(range(0, h, step_y))
    ax.tick_params(labelsize=6, length=2)
    if annotate:
        for y in range(h):
            for x in range(w):
                v = values[y, x]
                if v:
                    light = (v < 0.6 * vmax) if dark_low else (v >= 0.55 * vmax)
                    ax.text(x, y, format(v, fmt), ha="center", va="center", fontsize=5.5,
                            color="white" if light else "black")
    return im


def draw_link_heatmaps(
    source: Any,
    path: str | Path | None = None,
    *,
    cycles: int | None = None,
    trace: Any = None,
    color: int | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Per-link utilisation, one panel per direction. ``source``: an ``Engine`` (its link
    counters, ``cycles`` = its clock) or a ``Profile``. With ``trace`` and ``color``, only the
    wavelets of that color (from the trace's events)."""
    if hasattr(source, "link_out") and not hasattr(source, "state"):  # a Profile
        width, height = source.width, source.height
        counts = source.link_out.reshape(-1, 6)
        cycles = cycles or source.cycles
        name = source.name
    else:  # an Engine
        width, height = source.width, source.height
        counts = source.state.link_out
        cycles = cycles or source.now
        name = source.compiled.layout.name
    if trace is not None and color is not None:
        counts = link_counts(trace, color)
    util = counts.reshape(height, width, 6) / max(1, cycles)
    vmax = max(float(util.max()), 1e-9)
    cell = min(0.32, 2.4 / max(width, height))
    pw, ph = max(1.5, cell * width + 0.5), cell * height + 0.6
    fig, axes = plt.subplots(2, 3, figsize=(3 * pw + 0.8, 2 * ph + 0.7), dpi=dpi,
                             squeeze=False, layout="constrained")
    annotate = width * height <= 36
    im = None
    for d, ax in enumerate(axes.ravel()):
        im = _grid(ax, util[..., d], vmax=vmax, cmap="viridis", annotate=annotate, fmt=".2f")
        ax.set_title(f"{_ARROWS[d]} {LINK_NAMES[d]}", fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="wavelets / cycle")
    what = "all colors" if color is None else f"color {color}"
    fig.suptitle(title or f"{name}: link utilisation over {cycles:,} cycles ({what})",
                 fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def draw_pe_heatmaps(
    profile: Any, path: str | Path | None = None, *, title: str | None = None, dpi: int = 100
) -> Figure:
    """Busy, stalled-on-fabric and idle shares of the run per PE (a ``Profile``)."""
    pr = profile
    c = max(1, pr.cycles)
    panels = (
        ("busy", pr.busy / c, "Greens"),
        ("stalled on fabric", pr.stalled_fabric / c, "Reds"),
        ("idle", pr.idle / c, "Greys"),
    )
    cell = min(0.32, 2.4 / max(pr.width, pr.height))
    pw, ph = max(1.6, cell * pr.width + 0.5), cell * pr.height + 1.1
    fig, axes = plt.subplots(1, 3, figsize=(3 * pw + 0.4, ph + 0.4), dpi=dpi, squeeze=False,
                             layout="constrained")
    annotate = pr.width * pr.height <= 36
    for ax, (label, values, cmap) in zip(axes[0], panels, strict=True):
        im = _grid(ax, values, vmax=1.0, cmap=cmap, annotate=annotate, fmt=".0%",
                   dark_low=False)
        ax.set_title(f"{label} ({values.mean():.0%} mean)", fontsize=8)
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", shrink=0.8,
                          format=matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        cb.ax.tick_params(labelsize=6)
    fig.suptitle(title or f"{pr.name}: where each CE's {pr.cycles:,} cycles went (stalled on "
                 "memory: 0, not modelled)", fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig
