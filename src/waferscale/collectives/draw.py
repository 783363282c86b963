"""Pictures of collectives (matplotlib, Agg).

:func:`draw` draws what a collective sends: one arrow per message, from sender to receiver
along its path, colored by color slot (a tree's messages, a ring's links, a flood's multicast
tree). :func:`draw_routes` installs the collective on a layout of its own and draws the routers'
routes with :func:`waferscale.viz.draw_routes` (one panel per switch position).

``python -m waferscale.collectives.draw DIR`` writes the pictures of docs/collectives.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

__all__ = ["draw", "draw_routes", "make_doc_figures"]

_PALETTE = plt.get_cmap("tab10").colors
MAX_PES = 1024


def _xy(pe: tuple[int, int], h: int) -> tuple[float, float]:
    return pe[0] + 0.5, h - pe[1] - 0.5


def _path_arrow(ax, path, h, color, rad=0.0, lw=1.4):
    """One arrow from the path's first PE to its last (``rad`` bends it)."""
    start, end = _xy(path[0], h), _xy(path[-1], h)
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=9,
            color=color,
            lw=lw,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=6,
            shrinkB=6,
        )
    )


def _messages(d: dict) -> list[tuple]:
    out: list[tuple] = []
    if "phases" in d:
        base = 0
        for ph in d["phases"]:
            sub = _messages(ph)
            out += [(s, t, p, slot + base) for s, t, p, slot in sub]
            base = max([m[3] for m in out] + [-1]) + 1
        return out
    if "messages" in d:
        m = d["messages"]
        return list(m() if callable(m) else m)
    if "ring" in d:
        line = d["line"]
        index = {pe: k for k, pe in enumerate(line)}
        res = []
        for a, b, slot in d["ring"]:
            i, j = index[a], index[b]
            step = 1 if j > i else -1
            res.append((a, b, [line[k] for k in range(i, j + step, step)], slot))
        return res
    if "flood" in d:
        res = []
        for (x, y, slot), (_rx, tx) in d["flood"]():
            for port in tx:
                if port == "RAMP":
                    continue
                dx, dy = {"EAST": (1, 0), "WEST": (-1, 0), "NORTH": (0, -1), "SOUTH": (0, 1)}[port]
                res.append(((x, y), (x + dx, y + dy), [(x, y), (x + dx, y + dy)], slot))
        return res
    return out


def draw(
    coll: Any,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    cell: float = 0.8,
    dpi: int = 100,
) -> Figure:
    """The messages of a collective on its region: an arrow per message (arcs for messages
    that pass other PEs), one color per color slot. Scatter is drawn as the root's streams."""
    w, h = coll.shape
    if w * h > MAX_PES:
        raise ValueError(f"{w}x{h} PEs is too many to draw (at most {MAX_PES})")
    b = coll.built()
    msgs = _messages(b.drawing)
    if b.drawing.get("scatter"):
        reg = coll.region()
        root = reg.pe(0, 0)
        msgs = [(root, pe, [root, pe], 0) for pe in reg.all_pes() if pe != root]
    fig, ax = plt.subplots(figsize=(max(3.0, cell * w + 1.0), max(1.6, cell * h + 1.0)), dpi=dpi)
    for y in range(h):
        for x in range(w):
            ax.add_patch(Rectangle((x + 0.1, h - y - 0.9), 0.8, 0.8, fill=False, lw=0.6, ec="0.6"))
    root = coll.region().pe(0, 0)
    rx, ry = _xy(root, h)
    ax.add_patch(Rectangle((rx - 0.4, ry - 0.4), 0.8, 0.8, fill=True, color="0.85"))
    for src, dst, pth, slot in msgs:
        hops = abs(src[0] - dst[0]) + abs(src[1] - dst[1])
        straight = src[0] == dst[0] or src[1] == dst[1]
        rad = 0.0 if hops <= 1 or not straight else min(0.5, 0.12 + 0.02 * hops)
        _path_arrow(ax, pth, h, _PALETTE[slot % 10], rad=rad)
    ax.set_xlim(0, w)
    ax.set_ylim(-0.3 if h == 1 else 0, h + (0.6 if h == 1 else 0))
    ax.set_aspect("equal")
    ax.set_xticks([x + 0.5 for x in range(w)], [str(x) for x in range(w)], fontsize=6)
    ax.set_yticks([h - y - 0.5 for y in range(h)], [str(y) for y in range(h)], fontsize=6)
    ax.tick_params(length=0)
    for sp in ax.spines.values():
        sp.set_visible(False)
    slots = sorted({m[3] for m in msgs})
    if slots:
        ax.legend(
            handles=[
                plt.Line2D([], [], color=_PALETTE[s % 10], lw=2, label=f"color slot {s}")
                for s in slots
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.02 if h > 1 else -0.1),
            ncol=min(len(slots), 5),
            fontsize=6,
            frameon=False,
        )
    ax.set_title(title or f"{coll.name}  ({w}x{h}, B={coll.words}; grey: root)", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig


def draw_routes(coll: Any, path: str | Path | None = None, **kw: Any) -> Figure:
    """The routers' routes of the collective (installed alone on a layout of its shape), with
    :func:`waferscale.viz.draw_routes`: one panel per switch position."""
    from ..program import Layout
    from ..viz import draw_routes as _draw

    w, h = coll.shape
    lay = Layout(w, h, arch=coll.arch, name=coll.name)
    coll.install(lay)
    kw.setdefault("title", f"routes of {coll.name} ({w}x{h})")
    fig = _draw(lay, path=path, **kw)
    if path is not None:
        plt.close(fig)
    return fig


FIGURES: list[tuple[str, str, Any, int, str, dict]] = [
    # (file stem, op, shape, words, algorithm, options)
    ("star", "reduce", 8, 16, "star", {}),
    ("chain", "reduce", 8, 16, "chain", {}),
    ("tree", "reduce", 8, 16, "tree", {}),
    ("two_phase", "reduce", 9, 64, "two_phase", {}),
    ("autogen", "reduce", 16, 64, "autogen", {}),
    ("autogen_paper", "reduce", 16, 64, "autogen_paper", {}),
    ("flood_1d", "broadcast", 8, 16, "flood", {}),
    ("flood_2d", "broadcast", (6, 4), 16, "flood", {}),
    ("ring", "allreduce", 8, 64, "ring", {}),
    ("ring_dp", "allreduce", 8, 64, "ring_dp", {}),
    ("xy", "reduce", (6, 4), 16, "xy", {"row": "two_phase", "col": "chain"}),
    ("snake", "reduce", (6, 4), 16, "snake", {}),
    ("scatter_2d", "scatter", (4, 3), 4, "stream", {}),
    ("gather_2d", "gather", (4, 3), 4, "stream", {}),
    ("ring_dp_2d", "reduce_scatter", (4, 3), 24, "ring_dp", {}),
]


def make_doc_figures(out: str | Path) -> list[Path]:
    """The pictures of docs/collectives.md: ``collectives_<name>.png`` (messages) and
    ``collectives_<name>_routes.png`` (routes) for a few algorithms."""
    from .core import Collective

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, op, shape, words, algorithm, opts in FIGURES:
        coll = Collective(op, shape, words, algorithm, **opts)
        p = out / f"collectives_{stem}.png"
        draw(coll, p)
        written.append(p)
        if stem in ("star", "two_phase", "ring_dp", "flood_2d", "xy"):
            p = out / f"collectives_{stem}_routes.png"
            draw_routes(coll, p, positions="panels")
            written.append(p)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in make_doc_figures(sys.argv[1] if len(sys.argv) > 1 else "docs/figures"):
        print(p)
