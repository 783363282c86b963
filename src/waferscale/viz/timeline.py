"""A timeline of a row of PEs: task spans and op completions over cycles, from a trace.

One lane per PE (``PE (x, y)``, west at the top). A bar is a task run from the cycle the task
was picked to the cycle it ended, coloured by task name; the hatched part of a bar is the task
inside a synchronous fabric op (from its issue to its completion: streaming elements or
waiting for them); a black tick marks a synchronous op completing (the CE's main thread), a red
triangle an asynchronous op completing on a microthread, a grey dot a vector op issued by the
task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["draw_timeline"]

MAX_LANES = 64


def draw_timeline(
    trace: Any,
    path: str | Path | None = None,
    *,
    row: int = 0,
    x0: int = 0,
    x1: int | None = None,
    cycles: tuple[int, int] | None = None,
    microthreads: int = 8,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Draw PEs ``x0..x1`` (inclusive; default the whole row, at most 64) of row ``row``.
    ``cycles`` = (first, last) limits the time axis. ``microthreads``: the arch's count (the
    main thread's slot number in op completions)."""
    from ..fabric._layout_consts import EV_OP_DONE

    w = trace.width
    if not 0 <= row < trace.height:
        raise ValueError(f"row {row} is outside 0..{trace.height - 1}")
    x1 = min(w - 1, x0 + MAX_LANES - 1) if x1 is None else x1
    if not 0 <= x0 <= x1 < w:
        raise ValueError(f"PEs {x0}..{x1} are outside the row 0..{w - 1}")
    if x1 - x0 + 1 > MAX_LANES:
        raise ValueError(f"at most {MAX_LANES} PEs per timeline: narrow x0..x1")
    pes = np.arange(x0, x1 + 1) + row * w
    lane = {int(p): i for i, p in enumerate(pes)}
    t = trace.tasks
    ev = trace.events
    ops = trace.ops
    names = sorted({str(n) for n, p in zip(t["name"].tolist(), t["pe"].tolist(), strict=True)
                    if p in lane})
    palette = plt.get_cmap("tab10").colors
    hue = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    n_lanes = len(pes)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * n_lanes), dpi=dpi)
    for p, name, start, end in zip(t["pe"].tolist(), t["name"].tolist(), t["start"].tolist(),
                                   t["end"].tolist(), strict=True):
        if p in lane:
            ax.broken_barh([(start, max(end - start, 0.6))], (lane[p] - 0.35, 0.7),
                           facecolors=hue[str(name)], alpha=0.75, edgecolor="none")
    # A synchronous streaming op holds the task from its issue to its completion: shade it.
    shaded = False
    for p in pes.tolist():
        issued = np.sort(ops["cycle"][(ops["pe"] == p) & (ops["cycles"] < 0)])
        dones = np.sort(ev["cycle"][(ev["kind"] == EV_OP_DONE) & (ev["pe"] == p)
                                    & (ev["port"] >= microthreads)])
        for d in dones.tolist():
            before = issued[issued <= d]
            if len(before):
                ax.broken_barh([(int(before[-1]), d + 1 - int(before[-1]))],
                               (lane[p] - 0.35, 0.7), facecolors="none", edgecolor="0.15",
                               hatch="////", lw=0.0, label=None if shaded else
                               "in a synchronous fabric op (streaming or waiting)")
                shaded = True
    done = (ev["kind"] == EV_OP_DONE) & np.isin(ev["pe"], pes)
    if done.any():
        ys = np.array([lane[int(p)] for p in ev["pe"][done]])
        cs = ev["cycle"][done]
        main = ev["port"][done] >= microthreads
        ax.scatter(cs[main], ys[main], marker="|", s=70, color="black", lw=1.2,
                   label="sync op done", zorder=3)
        if (~main).any():
            ax.scatter(cs[~main], ys[~main] - 0.25, marker="v", s=18, color="tab:red",
                       label="async op done", zorder=3)
    issued = np.isin(ops["pe"], pes)
    if issued.any():
        ys = np.array([lane[int(p)] for p in ops["pe"][issued]])
        ax.scatter(ops["cycle"][issued], ys + 0.25, marker=".", s=10, color="0.35",
                   label="op issued", zorder=3)
    ax.set_yticks(range(n_lanes), [f"PE ({x}, {row})" for x in range(x0, x1 + 1)], fontsize=6)
    ax.set_ylim(n_lanes - 0.5, -0.5)
    ax.set_xlabel("cycle", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    if cycles is not None:
        ax.set_xlim(*cycles)
    handles, labels = ax.get_legend_handles_labels()
    handles += [plt.Rectangle((0, 0), 1, 1, color=hue[n], alpha=0.75) for n in names[:10]]
    labels += [f"task {n}" for n in names[:10]]
    ax.legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    ax.grid(axis="x", lw=0.3, alpha=0.5)
    ax.set_title(title or f"row {row}: tasks and ops over time", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig
