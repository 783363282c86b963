"""Property tests of the fabric engine (hypothesis, small rectangles).

* Random route configurations carrying random streams: every wavelet reaches every receiver
  exactly as often as the routes say (once along a tree), or the run ends in a StallError with
  a report; never another exception, never a silent loss.
* Determinism: two runs of the same program give identical memory, cycle counts, statistics and
  prints.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from _programs import chain_layout, logger_prog, received
from waferscale.arch import custom_mesh
from waferscale.fabric import Engine, StallError
from waferscale.program import Layout

# every engine built here gets padded activity lists (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("guarded_activity_lists")

NORTH, SOUTH, EAST, WEST, RAMP = 0, 1, 2, 3, 4
OPP = (SOUTH, NORTH, WEST, EAST, RAMP)
DX = (0, 0, 1, -1)
DY = (-1, 1, 0, 0)
USER_COLORS = tuple(range(21))  # WSE-2: 21, 22, 23 are reserved
WATCHDOG = 300
MAX_CYCLES = 20_000
CAPACITY = 256

SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@functools.cache
def arch(w: int, h: int):
    return custom_mesh(w, h, **{"timing.watchdog_cycles": WATCHDOG})


@dataclass(frozen=True)
class Stream:
    color: int
    src: int
    values: tuple[int, ...]
    rx: tuple[int, ...]  # per PE, a 5-bit port mask
    tx: tuple[int, ...]


@dataclass(frozen=True)
class Scenario:
    w: int
    h: int
    streams: tuple[Stream, ...]

    def nbr(self, p: int, port: int) -> int:
        x, y = p % self.w + DX[port], p // self.w + DY[port]
        return y * self.w + x if 0 <= x < self.w and 0 <= y < self.h else -1


@st.composite
def scenarios(draw, edits: bool = True) -> Scenario:
    w, h = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sc = Scenario(w, h, ())
    n_pe = w * h
    colors = draw(st.lists(st.sampled_from(USER_COLORS), min_size=1, max_size=3, unique=True))
    streams = []
    for color in colors:
        src = draw(st.integers(0, n_pe - 1))
        n = draw(st.integers(1, 12))
        values = tuple(draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n)))
        rx, tx = [0] * n_pe, [0] * n_pe
        # a random multicast tree grown from the source
        rx[src] = 1 << RAMP
        frontier, seen = [src], {src}
        while frontier:
            p = frontier.pop(0)
            cands = [
                port for port in range(4) if sc.nbr(p, port) >= 0 and sc.nbr(p, port) not in seen
            ]
            chosen = draw(st.lists(st.sampled_from(cands), unique=True)) if cands else []
            ramp = True if not chosen else draw(st.booleans())
            for port in chosen:
                q = sc.nbr(p, port)
                seen.add(q)
                rx[q] |= 1 << OPP[port]
                frontier.append(q)
            tx[p] = sum(1 << port for port in chosen) | (1 << RAMP if ramp else 0)
        # then a few edits: extra links (merges, loops), or arbitrary masks (routes nobody
        # accepts, dead ends)
        for _ in range(draw(st.integers(0, 3)) if edits else 0):
            p = draw(st.integers(0, n_pe - 1))
            ports = [port for port in range(4) if sc.nbr(p, port) >= 0]
            if ports and draw(st.booleans()):
                port = draw(st.sampled_from(ports))
                tx[p] |= 1 << port
                rx[sc.nbr(p, port)] |= 1 << OPP[port]
            else:
                tx[p] = sum(1 << port for port in draw(st.sets(st.sampled_from(ports + [RAMP]))))
                rx[p] = draw(st.integers(0, 31))
        streams.append(Stream(color, src, values, tuple(rx), tuple(tx)))
    return Scenario(w, h, tuple(streams))


class _Stall(Exception):
    pass


class _Loop(Exception):
    pass


def expected_copies(sc: Scenario, s: Stream) -> dict[int, int] | str:
    """How many copies of each wavelet every PE's CE receives, following the routes (each path
    from the source delivers one copy); or 'stall' (a wavelet reaches a router that cannot pass
    it on), or 'loop' (a route cycle: copies circulate)."""
    if not (s.rx[s.src] >> RAMP) & 1:
        return "stall"  # the CE's output never enters its router
    copies: dict[int, int] = {}
    on_path: set[int] = set()

    def visit(p: int) -> None:
        if p in on_path:
            raise _Loop
        on_path.add(p)
        if s.tx[p] == 0:
            raise _Stall
        for port in range(5):
            if not (s.tx[p] >> port) & 1:
                continue
            if port == RAMP:
                copies[p] = copies.get(p, 0) + 1
                continue
            q = sc.nbr(p, port)
            assert q >= 0  # the strategy only routes inside the rectangle
            if not (s.rx[q] >> OPP[port]) & 1:
                raise _Stall
            visit(q)
        on_path.discard(p)

    try:
        visit(s.src)
    except _Loop:
        return "loop"
    except _Stall:
        return "stall"
    return copies


def build(sc: Scenario) -> Layout:
    lay = Layout(sc.w, sc.h, arch=arch(sc.w, sc.h))
    colors = tuple(s.color for s in sc.streams)
    for p in range(sc.w * sc.h):
        sends = tuple((s.color, np.array(s.values, np.uint32)) for s in sc.streams if s.src == p)
        lay.set_tile_code(
            p % sc.w, p // sc.w, logger_prog, colors=colors, capacity=CAPACITY, sends=sends
        )
    for s in sc.streams:
        for p in range(sc.w * sc.h):
            lay.rx[p // sc.w, p % sc.w, s.color, 0] = s.rx[p]
            lay.tx[p // sc.w, p % sc.w, s.color, 0] = s.tx[p]
    return lay


def check_delivery(eng: Engine, sc: Scenario, s: Stream, copies: dict[int, int]) -> None:
    for p in range(sc.w * sc.h):
        x, y = p % sc.w, p // sc.w
        k = copies.get(p, 0)
        count = int(eng.read_symbol(x, y, "cnt")[s.color])
        assert count == k * len(s.values), (
            f"color {s.color} PE {(x, y)}: {count} wavelets, routes give {k} x {len(s.values)}"
        )
        got = received(eng, x, y, s.color) if count <= CAPACITY else None
        if got is None:
            continue
        if k == 1:  # one path: the stream, in order
            np.testing.assert_array_equal(got, np.array(s.values, np.uint32))
        else:  # several paths: each value k times (paths may interleave)
            np.testing.assert_array_equal(
                np.sort(got), np.sort(np.repeat(np.array(s.values, np.uint32), k))
            )


@SETTINGS
@given(scenarios())
def test_random_routes_deliver_exactly_or_report_a_stall(sc: Scenario):
    outcomes = {s.color: expected_copies(sc, s) for s in sc.streams}
    for o in outcomes.values():
        event("routes: " + (o if isinstance(o, str) else f"{sum(o.values())} copies"))
    eng = Engine(build(sc).compile())
    try:
        res = eng.run(max_cycles=MAX_CYCLES)
    except StallError as e:
        event("run: StallError")
        rep = e.report
        assert rep.findings, "a stall report names at least one stuck thing"
        assert str(e).startswith("stall at cycle")
        assert rep.cycle - rep.last_progress >= WATCHDOG
        assert any(o in ("stall", "loop") for o in outcomes.values()), f"unexpected stall: {e}"
        # streams whose routes are fine were not held up by the broken ones
        if all(o != "loop" for o in outcomes.values()):
            for s in sc.streams:
                if isinstance(outcomes[s.color], dict):
                    check_delivery(eng, sc, s, outcomes[s.color])
        return
    event(f"run: {res.reason}")
    if res.reason == "limit":  # copies circulating forever: only a route loop does that
        assert "loop" in outcomes.values(), f"ran {MAX_CYCLES} cycles without a route loop"
        return
    assert res.reason == "quiet"
    assert all(isinstance(o, dict) for o in outcomes.values()), (
        f"expected a stall or a loop ({outcomes}) but the run ended quietly"
    )
    for s in sc.streams:
        check_delivery(eng, sc, s, outcomes[s.color])
    # accounting: one ramp-up per sent wavelet, one ramp-down per delivered copy
    assert res.stats["ramp_up"] == sum(len(s.values) for s in sc.streams)
    assert res.stats["ramp_down"] == sum(
        len(s.values) * sum(outcomes[s.color].values()) for s in sc.streams
    )


@SETTINGS
@given(scenarios(edits=False))
def test_trees_deliver_every_wavelet(sc: Scenario):
    """Multicast trees only (no stall, no loop): the run ends quietly with exact deliveries."""
    assert all(isinstance(expected_copies(sc, s), dict) for s in sc.streams)
    eng = Engine(build(sc).compile())
    res = eng.run(max_cycles=MAX_CYCLES)
    assert res.reason == "quiet"
    for s in sc.streams:
        check_delivery(eng, sc, s, expected_copies(sc, s))


def _snapshot(eng: Engine, outcome) -> tuple:
    return (
        outcome,
        eng.now,
        eng.stats(),
        bytes(eng.state.mem32.tobytes()),
        [(r.cycle, r.x, r.y, r.message) for r in eng.prints],
    )


def _run_once(lay_factory) -> tuple:
    eng = Engine(lay_factory().compile())
    try:
        res = eng.run(max_cycles=MAX_CYCLES)
        outcome = (res.reason, res.cycle, tuple(sorted(res.stats.items())))
    except StallError as e:
        outcome = ("stall", str(e))
    return _snapshot(eng, outcome)


@SETTINGS
@given(scenarios())
def test_runs_are_deterministic(sc: Scenario):
    first = _run_once(lambda: build(sc))
    second = _run_once(lambda: build(sc))
    assert first == second


@SETTINGS
@given(st.integers(2, 6), st.integers(1, 20))
def test_chain_reduce_is_deterministic_and_exact(P, B):
    first = _run_once(lambda: chain_layout(P, B))
    second = _run_once(lambda: chain_layout(P, B))
    assert first == second
    assert first[0][0] == "quiet"
