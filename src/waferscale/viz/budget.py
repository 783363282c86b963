"""A bar chart of resource use against the budget, from ``resource_report`` rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["draw_budget"]


def draw_budget(rows: list[dict[str, Any]], path: str | Path | None = None, *,
                title: str | None = None, dpi: int = 100) -> Figure:
    """One group of bars per PE in ``rows`` (from
    :func:`waferscale.program.resources.resource_report`): each resource's use as a fraction of
    its budget, over-budget bars in red, labelled ``used/budget``."""
    if not rows:
        raise ValueError("no rows to draw: pass resource_report(...) rows")
    pes = list(dict.fromkeys((r["x"], r["y"]) for r in rows))
    resources = list(dict.fromkeys(r["resource"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(resources) * max(1, len(pes)) ** 0.5, 2.8),
                           dpi=dpi)
    width = 0.8 / len(pes)
    for i, pe in enumerate(pes):
        for j, res in enumerate(resources):
            row = next((r for r in rows if (r["x"], r["y"]) == pe and r["resource"] == res),
                       None)
            if row is None:
                continue
            frac = row["used"] / row["budget"] if row["budget"] else 0.0
            xpos = j - 0.4 + width * (i + 0.5)
            ax.bar(xpos, frac, width * 0.9, color="tab:red" if row["over"] else f"C{i % 10}",
                   label=f"PE {pe}" if j == 0 else None)
            ax.text(xpos, frac + 0.02, f"{row['used']}/{row['budget']}", ha="center",
                    fontsize=6, rotation=90 if len(pes) > 2 else 0, va="bottom")
    ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
    ax.set_xticks(range(len(resources)), resources, fontsize=7, rotation=20)
    ax.set_ylabel("used / budget", fontsize=8)
    ax.set_ylim(0, max(1.25, ax.get_ylim()[1]))
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title or "resource use per PE", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
