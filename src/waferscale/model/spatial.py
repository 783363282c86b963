"""The spatial-model quantities of a communication pattern.

For a :class:`~waferscale.model.Pattern` (Gianinazzi et al., "The spatial computer", arXiv
2205.04934; Luczynski et al., "Near-Optimal Wafer-Scale Reduce", arXiv 2404.15888):

========================  ==================================================================
``E`` (total energy)      sum over transfers of words x links of its route (a multicast
                          counts each link of its route tree once)
``L`` (distance)          hops along the longest dependent chain; a chain link from transfer
                          ``u`` to a transfer ``t`` that waits for it counts ``u``'s hops to
                          ``t``'s source when that PE is one of ``u``'s destinations, else
                          ``u``'s longest hop count; the last transfer counts its longest
``maximum``               the longest single message, in hops (farthest destination)
``max_link_load``         the most words that cross one directed link
``D`` (depth)             messages on the longest dependent chain
``C`` (contention)        the most words one PE must receive, or send
``N`` (links)             distinct directed links used
========================  ==================================================================

Links are directed mesh links between neighbouring routers; ramps (router <-> CE) are not
links. Link loads and contention are computed with numpy over all links at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from waferscale.model._checks import PatternError
from waferscale.model.pattern import DIRECTION_INDEX, STEPS, Pattern, Transfer

__all__ = ["SpatialQuantities", "longest_chain", "spatial_quantities"]

_N, _S, _E, _W = (DIRECTION_INDEX[d] for d in "NSEW")


@dataclass(frozen=True)
class SpatialQuantities:
    """The spatial-model quantities of a pattern (see the module docstring)."""

    E: int | float
    """Total energy: sum of words x hops (links) over all transfers."""
    L: int
    """Distance: hops along the longest dependent chain."""
    maximum: int
    """Longest single message, in hops."""
    max_link_load: int | float
    """Most words carried by one directed link."""
    D: int
    """Depth: messages on the longest dependent chain."""
    C: int | float
    """Contention: the most words one PE must receive (or send)."""
    N: int
    """Distinct directed links used."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Analysis:
    """Per-transfer facts the quantities and the timing model are computed from."""

    hops: np.ndarray  # (n,) hops of each unicast transfer (multicasts: see ``multi``)
    turns: np.ndarray  # (n,) turns (axis changes) of each unicast transfer
    multi: dict[int, tuple[np.ndarray, np.ndarray]]  # multicast t -> hops, turns per destination
    extent: tuple[int, int]  # largest x and y any PE or route touches (-1, -1 when empty)
    quantities: SpatialQuantities


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(a, b)`` for each pair (empty where b <= a)."""
    lengths = np.maximum(stops - starts, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets + np.repeat(starts, lengths)


class _Links:
    """Directed links (x, y, direction) with the words each carries, gathered in chunks."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def segments(self, fixed, lo, hi, weight, direction, along_x) -> None:
        """For each i, the links leaving positions lo[i] .. hi[i]-1 along one axis, at the
        fixed coordinate fixed[i] of the other axis, carrying weight[i] words each."""
        keep = hi > lo
        if not keep.any():
            return
        fixed, lo, hi, weight = fixed[keep], lo[keep], hi[keep], weight[keep]
        run = _ranges(lo, hi)
        other = np.repeat(fixed, hi - lo)
        w = np.repeat(weight, hi - lo)
        d = np.full(len(run), direction, np.int64)
        self.parts.append((run, other, d, w) if along_x else (other, run, d, w))

    def add(self, x, y, d, w) -> None:
        if len(x):
            self.parts.append((x, y, d, w))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, np.zeros(0)
        return tuple(np.concatenate(a) for a in zip(*self.parts, strict=True))


def _xy_unicast(links: _Links, src, dst, words) -> tuple[np.ndarray, np.ndarray]:
    """Add the X-then-Y routes of many unicast transfers at once; return hops and turns."""
    x0, y0, x1, y1 = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    links.segments(y0, x0, x1, words, _E, True)  # east: leaving x0 .. x1-1
    links.segments(y0, x1 + 1, x0 + 1, words, _W, True)  # west: leaving x0 .. x1+1
    links.segments(x1, y0, y1, words, _S, False)  # south along column x1
    links.segments(x1, y1 + 1, y0 + 1, words, _N, False)  # north
    hops = np.abs(x1 - x0) + np.abs(y1 - y0)
    turns = ((x1 != x0) & (y1 != y0)).astype(np.int64)
    return hops, turns


def _xy_multicast(links: _Links, t: Transfer) -> tuple[np.ndarray, np.ndarray, int]:
    """Add the X-then-Y route tree of one multicast; return hops, turns, links used."""
    x0, y0 = t.src
    d = t._dst_array
    dx, dy = d[:, 0], d[:, 1]
    before = sum(len(p[0]) for p in links.parts)
    one = np.ones(1, np.int64)
    w1 = np.full(1, float(t.words))
    links.segments(one * y0, one * x0, one * int(dx.max()), w1, _E, True)
    links.segments(one * y0, one * (int(dx.min()) + 1), one * (x0 + 1), w1, _W, True)
    off_row = dy != y0
    if off_row.any():
        cols, inverse = np.unique(dx[off_row], return_inverse=True)
        ymax = np.full(len(cols), y0, np.int64)
        ymin = np.full(len(cols), y0, np.int64)
        np.maximum.at(ymax, inverse, dy[off_row])
        np.minimum.at(ymin, inverse, dy[off_row])
        w = np.full(len(cols), float(t.words))
        start = np.full(len(cols), y0, np.int64)
        links.segments(cols, start, ymax, w, _S, False)
        links.segments(cols, ymin + 1, start + 1, w, _N, False)
    used = sum(len(p[0]) for p in links.parts) - before
    hops = np.abs(dx - x0) + np.abs(dy - y0)
    turns = ((dx != x0) & (dy != y0)).astype(np.int64)
    return hops, turns, used


def _routed(links: _Links, t: Transfer) -> tuple[np.ndarray, np.ndarray, int]:
    """Add the union of a transfer's explicit routes; return hops, turns, links used."""
    seen: dict[tuple[int, int, int], None] = {}
    hops, turns = [], []
    for route in t.routes or ():
        x, y = t.src
        for hop in route:
            seen[(x, y, DIRECTION_INDEX[hop])] = None
            dx, dy = STEPS[hop]
            x, y = x + dx, y + dy
        hops.append(len(route))
        turns.append(sum(1 for a, b in zip(route, route[1:], strict=False) if a != b))
    arr = np.array(list(seen), dtype=np.int64).reshape(-1, 3)
    links.add(arr[:, 0], arr[:, 1], arr[:, 2], np.full(len(arr), float(t.words)))
    return np.array(hops, np.int64), np.array(turns, np.int64), len(arr)


def _number(value: Any, integral: bool) -> int | float:
    return int(round(float(value))) if integral else float(value)


def analyse(pattern: Pattern) -> _Analysis:
    """Compute (once; cached on the pattern) the per-transfer facts and the quantities."""
    if not isinstance(pattern, Pattern):
        raise PatternError(f"pattern: got {type(pattern).__name__}, expected a Pattern")
    cached = pattern._cache.get("analysis")
    if cached is not None:
        return cached
    transfers = pattern.transfers
    n = len(transfers)
    integral = all(isinstance(t.words, int) for t in transfers)
    words = np.array([t.words for t in transfers], np.float64)
    src = np.array([t.src for t in transfers], np.int64).reshape(n, 2)
    links = _Links()
    hops = np.zeros(n, np.int64)
    turns = np.zeros(n, np.int64)
    used = np.zeros(n, np.int64)  # links per transfer
    multi: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    recv = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))]
    simple = [i for i, t in enumerate(transfers) if t.routes is None and t._dst_array is None]
    if simple:
        idx = np.array(simple, np.int64)
        dst = np.array([transfers[i].dst for i in simple], np.int64).reshape(-1, 2)
        h, tr = _xy_unicast(links, src[idx], dst, words[idx])
        hops[idx], turns[idx], used[idx] = h, tr, h
        recv.append((dst[:, 0], dst[:, 1], words[idx]))
    for i, t in enumerate(transfers):
        if t.routes is None and t._dst_array is None:
            continue
        if t.routes is None:
            h, tr, used[i] = _xy_multicast(links, t)
        else:
            h, tr, used[i] = _routed(links, t)
        if len(t.dsts) > 1:
            multi[i] = (h, tr)
        hops[i], turns[i] = int(h.max()), int(tr[np.argmax(h)])
        d = t._dst_array if t._dst_array is not None else np.array(t.dsts, np.int64)
        recv.append((d[:, 0], d[:, 1], np.full(len(d), words[i])))
    if integral:
        energy: int | float = sum(
            int(t.words) * int(u) for t, u in zip(transfers, used.tolist(), strict=True)
        )
    else:
        energy = float((words * used).sum())
    lx, ly, ld, lw = links.arrays()
    rx, ry, rw = (np.concatenate(a) for a in zip(*recv, strict=True))
    if n:
        width = int(lx.max()) + 2 if len(lx) else 1
        uniq, inverse = np.unique((ly * width + lx) * 4 + ld, return_inverse=True)
        max_load = float(np.bincount(inverse, weights=lw).max()) if len(uniq) else 0.0
        width = int(max(rx.max(), src[:, 0].max())) + 1
        received = np.bincount(ry * width + rx, weights=rw).max()
        sent = np.bincount(src[:, 1] * width + src[:, 0], weights=words).max()
        contention = max(float(received), float(sent))
        maximum = int(max(hops.max(), max((int(h.max()) for h, _ in multi.values()), default=0)))
        extent = (
            int(max(rx.max(), src[:, 0].max(), (lx + (ld == _E)).max() if len(lx) else 0)),
            int(max(ry.max(), src[:, 1].max(), (ly + (ld == _S)).max() if len(ly) else 0)),
        )
        n_links = len(uniq)
    else:
        n_links, max_load, contention, maximum, extent = 0, 0, 0, 0, (-1, -1)
    partial = _Analysis(hops, turns, multi, extent, None)  # type: ignore[arg-type]
    quantities = SpatialQuantities(
        E=energy,
        L=int(_chain(pattern, partial, 1, 0)),
        maximum=maximum,
        max_link_load=_number(max_load, integral),
        D=_depth(pattern),
        C=_number(contention, integral),
        N=n_links,
    )
    result = _Analysis(hops, turns, multi, extent, quantities)
    pattern._cache["analysis"] = result
    return result


def _depth(pattern: Pattern) -> int:
    depth = [0] * len(pattern)
    deps = pattern._deps
    for t in pattern.order:
        if deps[t]:
            depth[t] = 1 + max(depth[u] for u in deps[t])
        else:
            depth[t] = 1
    return max(depth, default=0)


def longest_chain(pattern: Pattern, hop_cycles: int | float, turn_cycles: int | float):
    """Wire latency of the longest dependent chain, where a message to a destination costs
    ``hop_cycles`` per hop plus ``turn_cycles`` per turn; ``longest_chain(p, 1, 0)`` is ``L``."""
    return _chain(pattern, analyse(pattern), hop_cycles, turn_cycles)


def _chain(pattern: Pattern, an: _Analysis, hw, tw) -> int | float:
    latmax = (hw * an.hops + tw * an.turns).tolist()
    per_dest: dict[int, tuple[list, dict]] = {}
    for t, (h, tr) in an.multi.items():
        lat = (hw * h + tw * tr).tolist()
        latmax[t] = max(lat)
        per_dest[t] = (lat, {})
    transfers = pattern.transfers
    deps = pattern._deps
    arrive = [0] * len(transfers)  # latency until t's source may start (its inputs arrived)
    best = 0
    for t in pattern.order:
        start = 0
        if deps[t]:
            src = transfers[t].src
            for u in deps[t]:
                reach = latmax[u]
                if u in per_dest:  # a multicast: its latency to this PE, if it is one of its
                    lat, index = per_dest[u]
                    if not index:
                        index.update((pe, k) for k, pe in enumerate(transfers[u].dsts))
                    k = index.get(src)
                    if k is not None:
                        reach = lat[k]
                if arrive[u] + reach > start:
                    start = arrive[u] + reach
        arrive[t] = start
        if start + latmax[t] > best:
            best = start + latmax[t]
    return best


def spatial_quantities(pattern: Pattern) -> SpatialQuantities:
    """E, L, maximum, max_link_load, D, C and N of ``pattern`` (see the module docstring)."""
    return analyse(pattern).quantities
