"""A picture of a stall: which PEs are stuck, why, and where wavelets wait.

Draws a :class:`~waferscale.fabric.StallReport` (``StallError.report``). Each PE is a cell (row
0 at the top) coloured by the most telling kind of finding at it - a missing route or a
missing consumer before the back-pressure it causes (order: ``cmd-stream-blocked``,
``no-route``, ``not-accepted``, ``off-rectangle``, ``no-consumer``, ``full-queue``,
``task-blocked``, ``host-stream-in``, ``host-stream-out``, ``op-waiting``, ``back-pressure``);
PEs without findings are white. Given the engine, the stuck wavelets are marked too: a
triangle at the side of a PE for each color whose router buffer holds wavelets (size grows with
the count, label ``c<color>:<count>`` on small rectangles), a square for an input queue holding
wavelets and a diamond for an output queue.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

__all__ = ["KIND_ORDER", "draw_stall"]

KIND_ORDER = (
    "cmd-stream-blocked",
    "no-route",
    "not-accepted",
    "off-rectangle",
    "no-consumer",
    "full-queue",
    "task-blocked",
    "host-stream-in",
    "host-stream-out",
    "op-waiting",
    "back-pressure",
)
_HUES = {
    "cmd-stream-blocked": "#9467bd",
    "no-route": "#d62728",
    "not-accepted": "#ff7f0e",
    "off-rectangle": "#8c564b",
    "no-consumer": "#e377c2",
    "full-queue": "#bcbd22",
    "task-blocked": "#17becf",
    "host-stream-in": "#1f77b4",
    "host-stream-out": "#aec7e8",
    "op-waiting": "#98df8a",
    "back-pressure": "#c7c7c7",
}


def draw_stall(
    report: Any,
    engine: Any = None,
    path: str | Path | None = None,
    *,
    region: tuple[int, int, int, int] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Draw ``report`` (with the stuck wavelets if ``engine`` is given); ``region`` = (x, y, w,
    h) draws part of a large rectangle (default: all of it, or the findings' bounding box
    without an engine)."""
    if engine is not None:
        width, height = engine.width, engine.height
    else:
        width = 1 + max((f.pe[0] for f in report.findings), default=0)
        height = 1 + max((f.pe[1] for f in report.findings), default=0)
    x0, y0, w, h = region if region is not None else (0, 0, width, height)
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    best: dict[tuple[int, int], str] = {}
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
        cur = best.get(f.pe)
        if cur is None or rank.get(f.kind, 99) < rank.get(cur, 99):
            best[f.pe] = f.kind
    small = w * h <= 64
    cell = min(0.55, 4.5 / max(w, h))
    fig, ax = plt.subplots(figsize=(max(3.2, cell * w + 2.8), max(2.2, cell * h + 1.3)),
                           dpi=dpi)
    for (x, y), kind in best.items():
        if x0 <= x < x0 + w and y0 <= y < y0 + h:
            ax.add_patch(Rectangle((x - x0 - 0.5, y - y0 - 0.5), 1, 1,
                                   fc=_HUES.get(kind, "0.5"), ec="none"))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal")
    if w * h <= 1024:
        for x in range(w + 1):
            ax.axvline(x - 0.5, color="0.85", lw=0.4)
        for y in range(h + 1):
            ax.axhline(y - 0.5, color="0.85", lw=0.4)
    step = max(1, max(w, h) // 10)
    ax.set_xticks(range(0, w, step), [str(x0 + i) for i in range(0, w, step)], fontsize=6)
    ax.set_yticks(range(0, h, step), [str(y0 + i) for i in range(0, h, step)], fontsize=6)
    ax.tick_params(length=0)
    handles = [Patch(fc=_HUES.get(k, "0.5"), label=f"{k} ({counts[k]})")
               for k in sorted(counts, key=lambda k: rank.get(k, 99))]
    if engine is not None:
        handles += _stuck_wavelets(ax, engine, x0, y0, w, h, small)
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0),
              frameon=False)
    head = title or f"stall ({report.reason}) at cycle {report.cycle:,}"
    cause = report.causes[0] if report.causes else ""
    if cause:
        head += "\n" + "\n".join(textwrap.wrap(cause, 70)[:3])
    ax.set_title(head, fontsize=7, loc="left")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def _stuck_wavelets(ax, engine, x0: int, y0: int, w: int, h: int, small: bool) -> list:
    s = engine.state
    width = engine.width
    handles = []
    pes, cols = np.nonzero(s.r_count > 0)
    shown = False
    per_pe: dict[int, int] = {}
    for p, c in zip(pes.tolist(), cols.tolist(), strict=True):
        x, y = p % width - x0, p // width - y0
        if not (0 <= x < w and 0 <= y < h):
            continue
        k = per_pe[p] = per_pe.get(p, -1) + 1
        n = int(s.r_count[p, c])
        dx = -0.32 + 0.2 * (k % 4)
        ax.scatter([x + dx], [y - 0.3], marker="^", s=8 + 6 * n, color="black", zorder=3)
        if small:
            ax.text(x + dx, y - 0.12 + 0.16 * (k % 2), f"c{c}:{n}", fontsize=5, ha="center",
                    va="top")
        shown = True
    if shown:
        handles.append(plt.Line2D([], [], marker="^", ls="", color="black",
                                  label="router buffer holding wavelets (c<color>:<count>)"))
    for arr, marker, label, dy in ((s.i_count, "s", "input queue holding wavelets", 0.3),
                                   (s.o_count, "D", "output queue holding wavelets", 0.3)):
        pes, cols = np.nonzero(arr > 0)
        xs = pes % width - x0
        ys = pes // width - y0
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        if inside.any():
            off = 0.25 if marker == "D" else -0.25
            ax.scatter(xs[inside] + off, ys[inside] + dy, marker=marker, s=14,
                       facecolors="none", edgecolors="black", zorder=3)
            handles.append(plt.Line2D([], [], marker=marker, ls="", mfc="none", color="black",
                                      label=label))
    return handles
