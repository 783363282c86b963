"""An animation of wavelets flowing through a small rectangle, from a trace.

Each frame covers a slice of cycles. A PE is a square (row 0 at the top); a line from its
centre towards a side is a hop out of its router on that side in the slice (thicker for more
wavelets, hue per color); a filled dot is a wavelet going down the ramp to the CE, a ring one
coming up from it. Saved as a GIF (written with pillow) when pillow is available, else - or
when the path ends in ``.html`` - as a self-contained HTML player (the frames embedded as PNG,
a slider and a play button).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

__all__ = ["animate_wavelets"]

MAX_PES = 256
_DIRS = ((0.0, -1.0), (0.0, 1.0), (1.0, 0.0), (-1.0, 0.0))  # N, S, E, W in data coordinates


def _has_pillow() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def animate_wavelets(
    trace: Any,
    path: str | Path,
    *,
    cycles: tuple[int, int] | None = None,
    frames: int = 40,
    fps: int = 6,
    dpi: int = 72,
    region: tuple[int, int, int, int] | None = None,
    title: str | None = None,
) -> Path:
    """Write the animation to ``path`` (``.gif``; ``.html`` for the HTML player, also used
    when pillow is missing) and return the path written. At most 256 PEs; ``cycles`` =
    (first, last) picks the slice of time (default: every traced cycle), ``frames`` how many
    frames it is cut into; ``region`` = (x, y, w, h) animates part of a larger rectangle."""
    from ..fabric._layout_consts import EV_HOP, EV_RAMP_DOWN, EV_RAMP_UP

    rx0, ry0, w, h = region if region is not None else (0, 0, trace.width, trace.height)
    if w * h > MAX_PES:
        raise ValueError(f"{w}x{h} PEs is too many to animate (at most {MAX_PES}): pass "
                         "region=(x, y, w, h)")
    ev = trace.events
    kinds = ev["kind"]
    ex, ey = ev["pe"] % trace.width - rx0, ev["pe"] // trace.width - ry0
    inside = (ex >= 0) & (ex < w) & (ey >= 0) & (ey < h)
    sel = np.isin(kinds, (EV_HOP, EV_RAMP_DOWN, EV_RAMP_UP)) & inside
    cyc = ev["cycle"][sel]
    if cycles is None:
        cycles = (int(cyc.min()), int(cyc.max())) if len(cyc) else (0, 1)
    c0, c1 = int(cycles[0]), max(int(cycles[1]), int(cycles[0]) + 1)
    n_frames = max(1, min(frames, c1 - c0 + 1))
    edges = np.linspace(c0, c1 + 1, n_frames + 1)
    keep = sel & (ev["cycle"] >= c0) & (ev["cycle"] <= c1)
    fr = np.searchsorted(edges, ev["cycle"][keep], side="right") - 1
    k = kinds[keep]
    p = (ey * w + ex)[keep]
    col = ev["color"][keep]
    port = ev["port"][keep]
    palette = plt.get_cmap("tab10").colors

    size = min(4.0, 0.45 * max(w, h) + 1.2)
    fig, ax = plt.subplots(figsize=(size * w / max(w, h) + 0.4, size * h / max(w, h) + 0.6),
                           dpi=dpi)
    for y in range(h):
        for x in range(w):
            ax.add_patch(plt.Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, fill=False, lw=0.6,
                                       ec="0.7"))
    ax.set_xlim(-0.6, w - 0.4)
    ax.set_ylim(h - 0.4, -0.6)
    ax.set_aspect("equal")
    ax.set_xticks(range(w), [str(rx0 + i) for i in range(w)])
    ax.set_yticks(range(h), [str(ry0 + i) for i in range(h)])
    ax.tick_params(labelsize=6, length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    lines = LineCollection([], linewidths=[], colors=[])
    ax.add_collection(lines)
    down = ax.scatter([], [], s=18, marker="o")
    up = ax.scatter([], [], s=24, marker="o", facecolors="none")
    label = ax.set_title("", fontsize=8)
    present = sorted(set(col.tolist()))
    if present:
        ax.legend(handles=[plt.Line2D([], [], color=palette[c % len(palette)], lw=2,
                                      label=f"color {c}") for c in present[:8]],
                  fontsize=5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    head = title or "wavelets"

    # Per frame: hops aggregated by (PE, port, color), ramps by (PE, color).
    hop = k == EV_HOP
    per_frame: list[tuple[np.ndarray, ...]] = []
    for f in range(n_frames):
        m = fr == f
        hm = m & hop
        keys, counts = np.unique(np.stack([p[hm], port[hm], col[hm]], 1), axis=0,
                                 return_counts=True) if hm.any() else (np.zeros((0, 3), int),
                                                                      np.zeros(0, int))
        dm = m & (k == EV_RAMP_DOWN)
        um = m & (k == EV_RAMP_UP)
        per_frame.append((keys, counts, p[dm], col[dm], p[um], col[um]))
    span = (edges[1] - edges[0])

    def draw(f: int):
        keys, counts, dp, dc, upp, upc = per_frame[f]
        segs, widths, hues = [], [], []
        for (pe, d, c), n in zip(keys.tolist(), counts.tolist(), strict=True):
            x, y = pe % w, pe // w
            dx, dy = _DIRS[d]
            off = 0.06 * ((c % 5) - 2)  # a lane per color
            ox, oy = -dy * off, dx * off
            segs.append([(x + 0.1 * dx + ox, y + 0.1 * dy + oy),
                         (x + 0.5 * dx + ox, y + 0.5 * dy + oy)])
            widths.append(0.8 + 3.0 * min(1.0, n / span))
            hues.append(palette[c % len(palette)])
        lines.set_segments(segs)
        lines.set_linewidths(widths)
        lines.set_colors(hues)
        jitter = lambda c: 0.08 * ((np.asarray(c) % 3) - 1)  # noqa: E731
        down.set_offsets(np.c_[dp % w + jitter(dc), dp // w - 0.15] if len(dp)
                         else np.zeros((0, 2)))
        down.set_color([palette[c % len(palette)] for c in dc.tolist()])
        up.set_offsets(np.c_[upp % w + jitter(upc), upp // w + 0.15] if len(upp)
                       else np.zeros((0, 2)))
        up.set_edgecolors([palette[c % len(palette)] for c in upc.tolist()])
        a, b = int(np.ceil(edges[f])), int(np.ceil(edges[f + 1])) - 1
        label.set_text(f"{head}: cycles {a}..{max(a, b)}")
        return lines, down, up, label

    for artist in (lines, down, up, label):
        artist.set_animated(True)
    fig.tight_layout()
    # Blit: draw the static picture once, then only the moving artists per frame.
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    images = []
    for f in range(n_frames):
        fig.canvas.restore_region(background)
        for artist in draw(f):
            ax.draw_artist(artist)
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif" and _has_pillow():
        from PIL import Image

        frames = [Image.fromarray(im).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
                  for im in images]
        frames[0].save(path, save_all=True, append_images=frames[1:],
                       duration=int(1000 / fps), loop=0, optimize=True)
        return path
    if path.suffix.lower() != ".html":
        path = path.with_suffix(".html")
    path.write_text(_html_player(images, fps, head))
    return path


def _html_player(images: list[np.ndarray], fps: int, title: str) -> str:
    """A self-contained HTML page that plays PNG frames (embedded, base64) with a slider."""
    import base64
    import html
    import io

    from matplotlib import image as mimage

    uris = []
    for im in images:
        buf = io.BytesIO()
        mimage.imsave(buf, im, format="png")
        uris.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    frames = ",".join(f'"{u}"' for u in uris)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif">
<img id="frame" src="{uris[0]}"><br>
<button id="play">pause</button>
<input id="pos" type="range" min="0" max="{len(uris) - 1}" value="0" style="width: 300px">
<span id="label">1/{len(uris)}</span>
<script>
const frames = [{frames}];
let i = 0, playing = true;
const img = document.getElementById("frame"), pos = document.getElementById("pos");
const label = document.getElementById("label"), play = document.getElementById("play");
function show(k) {{ i = k; img.src = frames[i]; pos.value = i;
  label.textContent = (i + 1) + "/" + frames.length; }}
pos.oninput = () => show(Number(pos.value));
play.onclick = () => {{ playing = !playing; play.textContent = playing ? "pause" : "play"; }};
setInterval(() => {{ if (playing) show((i + 1) % frames.length); }}, {int(1000 / fps)});
</script></body></html>
"""
