"""Routing on the fabric: multicast, color isolation, link arbitration, the timing models of
machine.md (chain reduce, row broadcast, a 2D route), and the stall reports of programs whose
wavelets cannot move (back-pressure, a route not accepted, no consumer, a data task eating an
op's input)."""

from __future__ import annotations

import numpy as np
import pytest

from _programs import (
    MAIN,
    activity_list_overflow,
    body_prog,
    chain_inputs,
    chain_layout,
    engine,
    logger_prog,
    received,
    run,
    span,
)
from waferscale.arch import custom_mesh
from waferscale.fabric import StallError
from waferscale.fabric.state import capacities
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

# every engine built here gets padded activity lists (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("guarded_activity_lists")

RNG = np.random.default_rng(2024)


def _vals(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint32)


# -- multicast and isolation ------------------------------------------------------------------


def test_multicast_tree_delivers_every_wavelet_exactly_once():
    """(0, 0) sends on color 3 to RAMP+EAST+SOUTH; a spanning tree of multicast routes covers the
    3x3 rectangle: every PE, the sender included, logs the whole stream once, in order."""
    n, color = 20, 3
    vals = _vals(n, 1)
    lay = Layout(3, 3)
    lay.set_region_code(0, 0, 3, 3, logger_prog, colors=(color,))
    lay.set_tile_code(0, 0, logger_prog, colors=(color,), sends=((color, vals),))
    routes = {
        (0, 0): ("RAMP", ["RAMP", "EAST", "SOUTH"]),
        (1, 0): ("WEST", ["RAMP", "EAST"]),
        (2, 0): ("WEST", ["RAMP", "SOUTH"]),
        (2, 1): ("NORTH", ["RAMP"]),
        (0, 1): ("NORTH", ["RAMP", "EAST", "SOUTH"]),
        (1, 1): ("WEST", ["RAMP"]),
        (0, 2): ("NORTH", ["RAMP", "EAST"]),
        (1, 2): ("WEST", ["RAMP", "EAST"]),
        (2, 2): ("WEST", ["RAMP"]),
    }
    for (x, y), (rx, tx) in routes.items():
        lay.set_route(x, y, color, rx=rx, tx=tx)
    eng, res = run(lay)
    assert res.reason == "quiet"
    for x, y in routes:
        np.testing.assert_array_equal(received(eng, x, y, color), vals, err_msg=f"PE {x, y}")
    assert res.stats["ramp_up"] == n
    assert res.stats["ramp_down"] == 9 * n  # one copy per PE
    assert res.stats["wavelet_hops"] == 8 * n  # one copy per tree edge: multicast is free


def test_colors_on_shared_links_do_not_mix():
    """Colors 1 and 2 from (0, 0) and color 4 from (1, 0) share the link (1, 0) -> (2, 0)."""
    a, b, c = _vals(17, 2), _vals(23, 3), _vals(11, 4)
    lay = Layout(3, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, a), (2, b)))
    lay.set_tile_code(1, 0, logger_prog, sends=((4, c),))
    lay.set_tile_code(2, 0, logger_prog, colors=(1, 2, 4))
    for color in (1, 2):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="EAST")
        lay.set_route(2, 0, color, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, 4, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, 4, rx="WEST", tx="RAMP")
    eng, _ = run(lay)
    np.testing.assert_array_equal(received(eng, 2, 0, 1), a)
    np.testing.assert_array_equal(received(eng, 2, 0, 2), b)
    np.testing.assert_array_equal(received(eng, 2, 0, 4), c)


def test_congestion_on_one_color_does_not_block_another():
    """The receiver's color-1 task stays blocked until all of color 2 has arrived; color 1 backs
    up through every buffer on the shared link, color 2 still gets through."""
    n1, n2 = 30, 12
    a, b = _vals(n1, 5), _vals(n2, 6)

    def recv(c):
        log1 = c.array("log1", "u32", n1)
        log2 = c.array("log2", "u32", n2)
        when = c.array("when", "u32", n1 + n2)
        cnt = c.array("cnt", "u32", 2)

        def on1(pe, v):
            k = int(pe[cnt][0])
            pe[log1][k] = v
            pe[when][k] = pe.timestamp()
            pe[cnt][0] = k + 1

        def on2(pe, v):
            k = int(pe[cnt][1])
            pe[log2][k] = v
            pe[when][n1 + k] = pe.timestamp()
            pe[cnt][1] = k + 1
            if k + 1 == n2:
                pe.unblock(1)

        c.bind_data_task(on1, 1)
        c.bind_data_task(on2, 2)
        c.block(1)

    lay = Layout(3, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, a), (2, b)))
    lay.set_tile_code(1, 0, logger_prog)
    lay.set_tile_code(2, 0, recv)
    for color in (1, 2):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="EAST")
        lay.set_route(2, 0, color, rx="WEST", tx="RAMP")
    eng, _ = run(lay)
    np.testing.assert_array_equal(eng.read_symbol(2, 0, "log1"), a)
    np.testing.assert_array_equal(eng.read_symbol(2, 0, "log2"), b)
    when = eng.read_symbol(2, 0, "when").astype(np.int64)
    assert when[n1:].max() < when[:n1].min()  # all of color 2 before any of color 1
    assert np.all(np.diff(when[:n1]) >= 1)


# -- arbitration ------------------------------------------------------------------------------


N_FAIR = 30


def _stream_prog(c, *, sends=(), recvs=()):
    a = c.array("a", "u32", N_FAIR, init=np.arange(N_FAIR, dtype=np.uint32) * 3 + 1)
    outs = {col: c.array(f"r{col}", "u32", N_FAIR) for col in recvs}

    def main(pe):
        for col in sends:
            pe.mov32(fabout_dsd(col, N_FAIR, "u32"), mem1d_dsd(a), async_=True)
        for col in recvs:
            pe.mov32(mem1d_dsd(outs[col]), fabin_dsd(col, N_FAIR, "u32"), async_=True)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def _trace(lay, x, y):
    """(n1, n2) received at (x, y) after every cycle (an element is in memory once its
    receiving op has stored it; stores go in order, so the count is the first zero)."""
    eng = engine(lay)
    hist = []
    for _ in range(1000):
        res = eng.run(max_cycles=1)
        hist.append(tuple(int(np.count_nonzero(eng.read_symbol(x, y, f"r{c}"))) for c in (1, 2)))
        if res.reason == "quiet":
            break
    want = np.arange(N_FAIR, dtype=np.uint32) * 3 + 1
    for c in (1, 2):
        np.testing.assert_array_equal(eng.read_symbol(x, y, f"r{c}"), want)
    return np.array(hist)


def test_link_arbitration_is_fair():
    """(0, 0) sends color 1 east, (1, 1) sends color 2 north; (1, 0) forwards both over its one
    EAST link to (2, 0). The link carries one wavelet per cycle, alternating between the
    colors: at every cycle the two counts differ by at most one."""
    lay = Layout(3, 2)
    lay.set_region_code(0, 0, 3, 2, _stream_prog)
    lay.set_tile_code(0, 0, _stream_prog, sends=(1,))
    lay.set_tile_code(1, 1, _stream_prog, sends=(2,))
    lay.set_tile_code(2, 0, _stream_prog, recvs=(1, 2))
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="EAST")
    lay.set_route(1, 1, 2, rx="RAMP", tx="NORTH")
    lay.set_route(1, 0, 2, rx="SOUTH", tx="EAST")
    for c in (1, 2):
        lay.set_route(2, 0, c, rx="WEST", tx="RAMP")
    h = _trace(lay, 2, 0)
    assert np.abs(h[:, 0] - h[:, 1]).max() <= 1
    total = h.sum(axis=1)
    first, last = np.argmax(total > 0), np.argmax(total == 2 * N_FAIR)
    # saturated: exactly one wavelet per cycle over the shared link
    assert np.all(np.diff(total[first : last + 1]) == 1)
    assert last - first + 1 == 2 * N_FAIR


def test_ramp_arbitration_shares_the_link():
    """One PE sends two colors at once: its ramp-up (one wavelet per cycle) and its EAST link
    are shared; both progress, the split stays within two wavelets (the ramp-up arbiter
    rotates with the router's forwarding grant, so it grants in pairs), and the link is
    saturated."""
    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, _stream_prog, sends=(1, 2))
    lay.set_tile_code(1, 0, _stream_prog, recvs=(1, 2))
    for c in (1, 2):
        lay.set_route(0, 0, c, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, c, rx="WEST", tx="RAMP")
    h = _trace(lay, 1, 0)
    assert np.abs(h[:, 0] - h[:, 1]).max() <= 2
    total = h.sum(axis=1)
    first, last = np.argmax(total > 0), np.argmax(total == 2 * N_FAIR)
    assert np.all(np.diff(total[first : last + 1]) == 1)


# -- timing models --------------------------------------------------------------------------


@pytest.mark.parametrize("P", [2, 3, 5])
@pytest.mark.parametrize("B", [1, 4, 16])
def test_chain_reduce_cycles_and_sum(P, B):
    """Chain reduce: exactly B + (2*T_R + 2)(P - 1) = B + 6(P - 1) cycles on WSE-2 timing."""
    eng, res = run(chain_layout(P, B))
    assert res.reason == "quiet"
    assert span(eng, [(x, 0) for x in range(P)]) == B + 6 * (P - 1)
    data = chain_inputs(P, B)
    want = data[0].copy()
    for x in range(1, P):
        want = want + data[x]  # PE x adds the incoming stream to its own vector
    np.testing.assert_array_equal(eng.read_symbol(P - 1, 0, "a"), want)


@pytest.mark.parametrize(("ramp", "hop"), [(7, 1), (2, 3), (0, 1)])
def test_chain_reduce_model_follows_the_spec_latencies(ramp, hop):
    """The per-stage cost is ramp up + hop + ramp down + one CE cycle: with other latencies
    the same program costs B + (2*T_R + hop + 1)(P - 1) (a latency of 0 counts as 1)."""
    P, B = 4, 9
    arch = custom_mesh(
        4, 1, **{"timing.ramp_latency_cycles": ramp, "timing.hop_latency_cycles": hop}
    )
    eng, _ = run(chain_layout(P, B, arch))
    r = max(ramp, 1)
    assert span(eng, [(x, 0) for x in range(P)]) == B + (2 * r + hop + 1) * (P - 1)


def _bcast_pe(c, *, B, role):
    a = c.array("a", "f32", B, init=(np.arange(B, dtype=np.float32) + 1) if role == "src" else 0)
    t = c.array("t", "u32", 2)

    def main(pe):
        pe[t][0] = pe.timestamp()
        if role == "src":
            pe.fmovs(fabout_dsd(3, B), mem1d_dsd(a))
        elif role == "dst":
            pe.fmovs(mem1d_dsd(a), fabin_dsd(3, B))
        pe[t][1] = pe.timestamp()

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


@pytest.mark.parametrize(("P", "B", "ramp"), [(2, 1, 2), (4, 8, 2), (8, 3, 2), (6, 5, 7)])
def test_row_broadcast_by_flooding(P, B, ramp):
    """PE 0 floods B wavelets east; every other PE of the row takes a copy (RAMP+EAST) and
    stores it. Last element stored at exactly B + P + 2*T_R cycles after the sender starts:
    one CE cycle to send, ramp up, P - 1 hops, ramp down, one CE cycle to store, B - 1 more."""
    arch = custom_mesh(8, 1, **{"timing.ramp_latency_cycles": ramp})
    lay = Layout(P, 1, arch=arch)
    lay.set_region_code(1, 0, P - 1, 1, _bcast_pe, B=B, role="dst")
    lay.set_tile_code(0, 0, _bcast_pe, B=B, role="src")
    lay.set_route(0, 0, 3, rx="RAMP", tx="EAST")
    if P > 2:
        lay.set_region_route(1, 0, P - 2, 1, 3, rx="WEST", tx=["RAMP", "EAST"])
    lay.set_route(P - 1, 0, 3, rx="WEST", tx="RAMP")
    eng, res = run(lay)
    assert span(eng, [(x, 0) for x in range(P)]) == B + P + 2 * ramp
    for x in range(P):
        np.testing.assert_array_equal(eng.read_symbol(x, 0, "a"), np.arange(B) + 1)
    assert res.stats["wavelet_hops"] == B * (P - 1)
    # each PE's copy arrives one hop (one cycle) after its western neighbour's
    ends = np.array([eng.read_symbol(x, 0, "t")[1] for x in range(1, P)], np.int64)
    assert np.all(np.diff(ends) == 1)


def _turn_layout(B, arch="wse2"):
    """(0, 0) -> east to (2, 0) -> turn south -> (2, 2): 4 hops, one turn."""
    lay = Layout(3, 3, arch=arch)
    lay.set_region_code(0, 0, 3, 3, _bcast_pe, B=B, role="none")
    lay.set_tile_code(0, 0, _bcast_pe, B=B, role="src")
    lay.set_tile_code(2, 2, _bcast_pe, B=B, role="dst")
    lay.set_route(0, 0, 3, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 3, rx="WEST", tx="EAST")
    lay.set_route(2, 0, 3, rx="WEST", tx="SOUTH")
    lay.set_route(2, 1, 3, rx="NORTH", tx="SOUTH")
    lay.set_route(2, 2, 3, rx="NORTH", tx="RAMP")
    return lay


def test_2d_route_east_then_south():
    B = 6
    eng, res = run(_turn_layout(B))
    np.testing.assert_array_equal(eng.read_symbol(2, 2, "a"), np.arange(B) + 1)
    # B + hops + 1 + 2*T_R (as the row broadcast, with 4 hops); turns cost nothing by default
    assert span(eng, [(0, 0), (2, 2)]) == B + 4 + 1 + 2 * 2
    assert res.stats["wavelet_hops"] == 4 * B
    # nothing leaked to the PEs on the path
    for x, y in [(1, 0), (2, 0), (2, 1)]:
        assert not eng.read_symbol(x, y, "a").any()


def test_turn_penalty_is_charged():
    B = 6
    arch = custom_mesh(3, 3, **{"timing.turn_penalty_cycles": 20})
    eng, _ = run(_turn_layout(B, arch))
    assert span(eng, [(0, 0), (2, 2)]) == B + 4 + 1 + 2 * 2 + 20


# -- stalls -----------------------------------------------------------------------------------


def _pipeline_layout(n: int, drain: bool) -> Layout:
    """(0, 0) streams n values on color 1 into (1, 0), whose one op is fabric in -> add ->
    fabric out on color 2, routed east to (2, 0); (2, 0) drains color 2 only if ``drain``."""
    x = np.arange(n, dtype=np.float32)

    def src(pe, s):
        pe.fmovs(fabout_dsd(1, n), mem1d_dsd(s["x"]))

    def pipe(pe, s):
        pe.fadds(fabout_dsd(2, n), fabin_dsd(1, n), mem1d_dsd(s["x"]))

    def sink(pe, s):
        pe.fmovs(mem1d_dsd(s["x"]), fabin_dsd(2, n))

    arrays = (("x", "f32", x),)
    lay = Layout(3, 1)
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=src)
    lay.set_tile_code(1, 0, body_prog, arrays=arrays, body=pipe)
    lay.set_tile_code(2, 0, body_prog, arrays=arrays, body=sink if drain else None)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, 2, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, 2, rx="WEST", tx="RAMP")
    return lay


def test_pipeline_with_a_drain_completes():
    n = 40
    eng, res = run(_pipeline_layout(n, drain=True))
    assert res.reason == "quiet"
    np.testing.assert_array_equal(eng.read_symbol(2, 0, "x"), 2 * np.arange(n, dtype=np.float32))


def test_pipeline_without_a_drain_stalls_with_a_report():
    """Nothing drains the pipeline's output: it stops once every buffer downstream of its CE is
    full (output queue, two routers, the sink's input queue), and the watchdog reports it."""
    n = 40
    eng = engine(_pipeline_layout(n, drain=False))
    with pytest.raises(StallError, match=r"^stall at cycle \d+: no progress since") as ei:
        eng.run()
    rep = ei.value.report
    assert rep.reason == "watchdog"
    assert rep.cycle - rep.last_progress >= eng.arch.timing.watchdog_cycles
    caps = capacities(eng.arch)
    in_flight = caps.output_queue + 2 * caps.router + caps.input_queue
    assert in_flight == 19  # with WSE-2 depths: the "~14 wavelets" of machine.md, plus wires
    waiting = {f.pe: f.detail for f in rep.by_kind("op-waiting")}
    assert f"fadds issued at cycle 1, {in_flight}/{n} elements done" in waiting[(1, 0)]
    assert "waiting for room in the output queue of color 2 (full)" in waiting[(1, 0)]
    bp = [(f.pe, f.color, f.detail) for f in rep.by_kind("back-pressure")]
    assert ((1, 0), 2, "color 2 waits for room at PE (2, 0)") in bp
    full = rep.by_kind("full-queue")
    assert [(f.pe, f.color) for f in full] == [((2, 0), 2)]
    assert "nothing consumes it" in full[0].detail
    assert rep.causes[0].startswith("full queue: input queue of color 2 is full")
    assert "PE (2, 0)" in rep.causes[0]
    # and the text of the error carries all of it
    text = str(ei.value)
    assert "likely cause:" in text and "back-pressure (" in text and "PE (1, 0)" in text


def test_route_not_accepted_by_the_next_router():
    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, _vals(4, 7)),))
    lay.set_tile_code(1, 0, logger_prog, colors=(1,))
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="NORTH", tx="RAMP")  # does not accept from WEST
    with pytest.raises(StallError) as ei:
        engine(lay).run()
    rep = ei.value.report
    na = rep.by_kind("not-accepted")
    assert len(na) == 1 and na[0].pe == (0, 0) and na[0].color == 1
    assert na[0].detail == (
        "color 1 is sent EAST to PE (1, 0), whose route for color 1 does not accept from WEST "
        "(rx = ['NORTH'])"
    )
    assert any(c.startswith("a route that the next router does not accept") for c in rep.causes)


def test_wavelets_with_no_route():
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((2, _vals(3, 8)),))
    lay.set_route(0, 0, 2, rx="RAMP", tx=[])
    with pytest.raises(StallError) as ei:
        engine(lay).run()
    nr = ei.value.report.by_kind("no-route")
    assert [(f.pe, f.color) for f in nr] == [((0, 0), 2)]
    assert "router has no tx route for color 2" in nr[0].detail


def test_color_without_consumer():
    """More wavelets than the buffers hold, for a color with no data task and no op: the
    watchdog fires and the report names the queue nobody reads."""
    n = 20
    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, _vals(n, 9)),))
    lay.set_tile_code(1, 0, logger_prog, colors=(2,))  # a data task, but for another color
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    eng = engine(lay)
    with pytest.raises(StallError) as ei:
        eng.run()
    rep = ei.value.report
    icap = capacities(eng.arch).input_queue
    nc = rep.by_kind("no-consumer")
    assert [(f.pe, f.color) for f in nc] == [((1, 0), 1)]
    assert nc[0].detail == (
        f"{icap} wavelet(s) of color 1 wait in the input queue: no data task is bound to it and "
        "no op reads it"
    )
    assert any("full queue" in c and "PE (1, 0)" in c for c in rep.causes)


def test_color_without_consumer_while_the_host_waits():
    """Fewer wavelets than the buffers hold: the fabric goes quiet; a host waiting for
    something gets a stall report naming the stranded wavelets."""
    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, _vals(4, 10)),))
    lay.set_tile_code(1, 0, logger_prog)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    eng = engine(lay)
    with pytest.raises(
        StallError,
        match=r"the fabric went quiet at cycle \d+ but the host is "
        r"still waiting \(host waits for: results\)",
    ):
        eng.run(until=lambda: False, waiting_for="results")
    with pytest.raises(StallError) as ei:
        eng.run(until=lambda: False)
    nc = ei.value.report.by_kind("no-consumer")
    assert [(f.pe, f.color) for f in nc] == [((1, 0), 1)]
    assert nc[0].detail.startswith("4 wavelet(s) of color 1 wait in the input queue")


def _eaten_layout(n: int) -> Layout:
    def eater(c):
        r = c.array("r", "u32", n)
        got = c.array("got", "u32", 1)

        def first(pe):
            pe.spend(30)  # the stream arrives meanwhile
            pe.activate(later)

        def later(pe):
            pe.mov32(mem1d_dsd(r), fabin_dsd(1, n, "u32"))

        def stray(pe, v):  # bound to the op's color by mistake
            pe[got][0] += 1

        c.bind_local_task(first, MAIN)
        c.bind_local_task(later, 6)
        c.bind_data_task(stray, 1)
        c.activate(MAIN)

    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, logger_prog, sends=((1, _vals(n, 11)),))
    lay.set_tile_code(1, 0, eater)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    return lay


def test_input_eaten_by_an_unintended_data_task():
    n = 4
    eng = engine(_eaten_layout(n))
    with pytest.raises(StallError) as ei:
        eng.run(until=lambda: False)
    rep = ei.value.report
    assert eng.read_symbol(1, 0, "got")[0] == n  # the data task took every wavelet
    assert rep.causes[0] == (
        "wavelets eaten by an unintended data task: on PE (1, 0) an op waits for color 1, but a "
        "data task is bound to color 1 and consumes its wavelets; use another color for one of "
        "them or block the data task"
    )
    ow = rep.by_kind("op-waiting")
    assert [f.pe for f in ow] == [(1, 0)]
    assert ow[0].detail.endswith(
        f"0/{n} elements done; waiting for input on color 1 (its queue is empty)"
    )


def test_suspended_task_is_a_stall_even_without_until():
    eng = engine(_eaten_layout(4))
    with pytest.raises(StallError):
        eng.run()


# -- kernel memory safety -------------------------------------------------------------------


def _router_list_repro_layout() -> Layout:
    """(0, 0) sends one wavelet to its own CE (route RAMP -> RAMP) while (1, 0) sends one west
    to (0, 0). At cycle 4 the router pass first retires (0, 0) (its wavelet went down the ramp:
    nothing left, dropped from the list), then (1, 0) forwards to (0, 0), which is appended
    after the slots the pass has not compacted yet: index 2 of a 2-slot list."""

    def prog(c, *, color):
        a = c.array("a", "u32", 1)

        def main(pe):
            pe.mov32(fabout_dsd(color, 1, "u32"), mem1d_dsd(a))

        def sink(pe, v):
            pass

        c.bind_local_task(main, MAIN)
        c.activate(MAIN)
        c.bind_data_task(sink, 1)
        c.bind_data_task(sink, 2)

    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, prog, color=1)
    lay.set_tile_code(1, 0, prog, color=2)
    lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP")
    lay.set_route(1, 0, 2, rx="RAMP", tx="WEST")
    lay.set_route(0, 0, 2, rx="EAST", tx="RAMP")
    return lay


def test_router_activity_list_stays_in_bounds():
    eng = engine(_router_list_repro_layout())
    res = eng.run()
    assert res.reason == "quiet" and res.stats["ramp_down"] == 2  # the run itself is right...
    assert activity_list_overflow(eng.state) == {}  # ...but it wrote act_r[2]: {'act_r': [0]}
