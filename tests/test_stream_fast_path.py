"""The stream fast path (decision 0004) against the cycle loop: the same cycles, memory, stats,
profile, link counters and router state, on the demos and on random chains; and the router room
rule it rests on (step 1), which makes a run independent of the order the loop visits routers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _programs import TIMING_DRAWS, late_chain_layout, timing_mesh
from waferscale import arch as arch_mod
from waferscale.demos import broadcast_1d, chain_reduce_1d, chain_reduce_2d, gemv
from waferscale.demos._common import load_region, read_region
from waferscale.demos.collectives import sync_chain_row
from waferscale.fabric import Engine
from waferscale.program import fabin_dsd, fabout_dsd, mem1d_dsd

# what the loop counts of its own work (visits), which the fast path does not do
VISIT_COUNTERS = ("cycles_stepped",)
COMPARED_STATE = ("mem32", "prof", "link_out", "rr", "ce_busy", "t_active", "t_blocked",
                  "r_count", "i_count", "o_count", "r_mask", "i_mask", "o_mask")  # fmt: skip


def _outcome(eng: Engine) -> dict:
    s = eng.state
    stats = {k: v for k, v in eng.stats().items() if k not in VISIT_COUNTERS}
    out = {"cycle": eng.now, "stats": stats}
    out.update({name: getattr(s, name).copy() for name in COMPARED_STATE})
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a["cycle"] == b["cycle"]
    assert a["stats"] == b["stats"]
    for name in COMPARED_STATE:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _both(make_engine, prepare=None) -> tuple[dict, dict, Engine]:
    results = []
    for fast in (False, True):
        eng = make_engine()
        eng.stream_fast_path = fast
        if prepare is not None:
            prepare(eng)
        eng.run()
        results.append((_outcome(eng), eng))
    return results[0][0], results[1][0], results[1][1]


@pytest.mark.parametrize(
    "workload",
    [
        lambda: chain_reduce_1d(40, 24),
        lambda: chain_reduce_2d(9, 7, 13),
        lambda: broadcast_1d(30, 20),
        lambda: gemv(64, 64, 4, 4),
    ],
    ids=["chain-1d", "chain-2d", "broadcast", "gemv"],
)
def test_demos_are_the_same_with_the_fast_path(workload) -> None:
    wl = workload()
    slow, fast, eng = _both(wl.new_engine)
    _assert_same(slow, fast)
    assert wl.check(eng).ok  # and the result equals numpy's


def test_the_fast_path_takes_the_chain_in_windows() -> None:
    # the evidence that it ran: a chain of 3,324 cycles is stepped for a handful of them
    wl = chain_reduce_1d(512, 256)
    slow, fast, eng = _both(wl.new_engine)
    _assert_same(slow, fast)
    assert slow["cycle"] == 3324
    assert eng.stats()["cycles_stepped"] < 20


def test_synchronous_chains_and_python_tasks_leave_it_to_the_loop() -> None:
    # completions that resume a Python task end each window before them: still the same
    lay = sync_chain_row(12, 10)
    slow, fast, _ = _both(lambda: Engine(lay.compile()))
    _assert_same(slow, fast)


@settings(max_examples=20, deadline=None)
@given(
    delays=st.lists(st.integers(0, 60), min_size=2, max_size=8),
    B=st.integers(1, 30),
    window=st.sampled_from([8, 13, 64, 256]),
    seed=st.integers(0, 2**16),
    **TIMING_DRAWS,
)
def test_random_chains_are_the_same_with_the_fast_path(
    delays, B, hop, ramp, depth, iq, oq, task, window, seed
) -> None:
    from waferscale.fabric._params import P_STREAM_WINDOW

    spec = timing_mesh(len(delays), hop=hop, ramp=ramp, depth=depth, iq=iq, oq=oq, task=task)
    lay = late_chain_layout(spec, B, delays)
    data = np.random.default_rng(seed).standard_normal((len(delays), B)).astype(np.float32)

    def prepare(eng: Engine) -> None:
        eng.state.params[P_STREAM_WINDOW] = window
        load_region(eng, "a", data[None])

    slow, fast, _ = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)


@pytest.mark.parametrize("delays", [[0, 0, 0, 0, 0, 80], [0, 0, 50, 0, 9, 30]])
@pytest.mark.parametrize("pause", [30, 61, 97])
def test_router_visit_order_does_not_change_a_run(delays, pause) -> None:
    # Late consumers fill the router buffers, so slots are freed and wanted in the same cycles.
    # Reversing the loop's router list mid-run must not change anything (decision 0004, step 1:
    # a slot freed in a cycle is taken from the next one on, whoever the loop visits first).
    spec = arch_mod.custom_mesh(len(delays), 1, **{"router.buffer_depth": 1})
    lay = late_chain_layout(spec, 40, delays)
    data = np.random.default_rng(5).standard_normal((len(delays), 40)).astype(np.float32)
    outcomes = []
    for reverse in (False, True):
        eng = Engine(lay.compile())
        load_region(eng, "a", data[None])
        eng.run(max_cycles=pause)
        s = eng.state
        n = int(s.act_r_n[0])
        assert n >= 3, "the pause should find several routers busy"
        if reverse:
            s.act_r[:n] = s.act_r[:n][::-1].copy()
        eng.run()
        outcomes.append(_outcome(eng))
    _assert_same(*outcomes)


def _relay_pe(c, *, B: int, role: str, late: int) -> None:
    """PE 0 sends ``a``; PE 1 writes what arrives into ``a`` while it sends ``a`` on (two ops
    of one PE on the same bytes, one writing: a race whose outcome depends on the cycles);
    PE 2 stores what arrives, ``late`` cycles late (so PE 1's send stalls and reads some
    elements before and some after they were overwritten)."""
    from waferscale.program import fabin_dsd, fabout_dsd, mem1d_dsd

    a = c.array("a", "f32", B, export=True)

    def main(pe):
        if role == "keep":
            pe.spend(late)
        if role in ("send", "relay"):
            pe.fmovs(fabout_dsd(1 if role == "relay" else 0, B), mem1d_dsd(a, B), async_=True)
        if role in ("relay", "keep"):
            pe.fmovs(mem1d_dsd(a, B), fabin_dsd(0 if role == "relay" else 1, B), async_=True)

    c.bind_local_task(main, 8)
    c.activate(8)


@pytest.mark.parametrize("late", [0, 30])
def test_a_relay_racing_on_its_own_memory_is_the_same_with_the_fast_path(late) -> None:
    from waferscale.program import Layout

    B = 40
    lay = Layout(3, 1, name="relay")
    for x, role in enumerate(("send", "relay", "keep")):
        lay.set_tile_code(x, 0, _relay_pe, B=B, role=role, late=late)
    lay.set_route(0, 0, 0, rx=["RAMP"], tx=["EAST"])
    lay.set_route(1, 0, 0, rx=["WEST"], tx=["RAMP"])
    lay.set_route(1, 0, 1, rx=["RAMP"], tx=["EAST"])
    lay.set_route(2, 0, 1, rx=["WEST"], tx=["RAMP"])
    data = np.random.default_rng(3).standard_normal((3, B)).astype(np.float32)

    def prepare(eng: Engine) -> None:
        load_region(eng, "a", data[None])

    slow, fast, _ = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)  # cycles and the whole memory arena, bit for bit


@pytest.mark.parametrize(
    ("pe_b", "read_at", "shared"),
    [(0, 8, True), (0, 16, False), (1, 8, False)],
    ids=["overlap", "apart", "other-pe"],
)
def test_the_shared_memory_rule_compares_the_ops_of_one_pe(pe_b, read_at, shared) -> None:
    # op 0 writes bytes [0, 16) of PE 0; op 1 reads 4 f32 from ``read_at`` on PE ``pe_b``;
    # op 2 keeps PE 1 at two ops too (it reads from a fabric queue)
    from waferscale.fabric import _layout_consts as L
    from waferscale.fabric._stream import _memory_shared

    ops = np.zeros((3, L.N_OP_FIELDS), np.int64)
    for o, pe in enumerate((0, pe_b, 1)):
        ops[o, [L.F_PE, L.F_LEN, L.F_DONE]] = (pe, 4, 0)
    ops[0, [L.F_DK, L.F_DA, L.F_DS, L.F_DW]] = (L.K_MEM, 0, 4, 4)
    ops[0, L.F_AK] = L.K_FABIN
    ops[1, [L.F_AK, L.F_AA, L.F_AS, L.F_AW]] = (L.K_MEM, read_at, 4, 4)
    ops[1, L.F_DK] = L.K_FABOUT
    ops[2, [L.F_AK, L.F_DK]] = (L.K_FABIN, L.K_FABOUT)
    pe_ops = np.bincount(ops[:, L.F_PE], minlength=2).astype(np.int32)
    assert _memory_shared(np.arange(3), 3, ops, pe_ops) is shared


def _two_stream_pe(c, *, B0: int, B1: int, gap: int, late: int, role: str) -> None:
    """PE 0 sends ``a0`` on color 0, then ``gap`` cycles later ``a1`` on color 1: one ramp-up
    and the same east ports for both. ``rx0`` / ``rx1`` receive them ``late`` cycles late."""
    a0 = c.array("a0", "f32", B0, export=True)
    a1 = c.array("a1", "f32", B1, export=True)

    def main(pe):
        if role == "send":
            pe.fmovs(fabout_dsd(0, B0), mem1d_dsd(a0), async_=True)
            pe.spend(gap)
            pe.fmovs(fabout_dsd(1, B1), mem1d_dsd(a1), async_=True)
            return
        pe.spend(late)
        if role in ("rx0", "rx01"):
            pe.fmovs(mem1d_dsd(a0), fabin_dsd(0, B0), async_=True)
        if role in ("rx1", "rx01"):
            pe.fmovs(mem1d_dsd(a1), fabin_dsd(1, B1), async_=True)

    c.bind_local_task(main, 8, static=True)
    c.activate(8)


@settings(max_examples=15, deadline=None)
@given(
    B0=st.integers(1, 40),
    B1=st.integers(1, 40),
    gap=st.integers(0, 60),
    to0=st.integers(1, 4),
    to1=st.integers(1, 4),
    late=st.integers(0, 50),
    depth=st.integers(1, 4),
)
def test_two_colors_on_one_ramp_up_and_port_are_the_same_with_the_fast_path(
    B0, B1, gap, to0, to1, late, depth
) -> None:
    # Two streams share PE 0's ramp-up and the east ports on the way: the window ends before
    # the second can move while the first still does (decision 0004), or the loop arbitrates.
    from waferscale.program import Layout

    spec = arch_mod.custom_mesh(5, 1, **{"router.buffer_depth": depth})
    lay = Layout(5, 1, arch=spec, name="two-streams")
    for x in range(5):
        receives = {(True, True): "rx01", (True, False): "rx0", (False, True): "rx1"}
        role = "send" if x == 0 else receives.get((x == to0, x == to1), "idle")
        lay.set_tile_code(x, 0, _two_stream_pe, B0=B0, B1=B1, gap=gap, late=late, role=role)
    for color, to in ((0, to0), (1, to1)):
        lay.set_route(0, 0, color, rx=["RAMP"], tx=["EAST"])
        for x in range(1, to):
            lay.set_route(x, 0, color, rx=["WEST"], tx=["EAST"])
        lay.set_route(to, 0, color, rx=["WEST"], tx=["RAMP"])
    data = np.random.default_rng(B0 * 41 + B1).standard_normal(B0 + B1).astype(np.float32)

    def prepare(eng: Engine) -> None:
        load_region(eng, "a0", data[None, None, :B0])
        load_region(eng, "a1", data[None, None, B0:])

    slow, fast, eng = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)
    np.testing.assert_array_equal(eng.read_symbol(to0, 0, "a0"), data[:B0])
    np.testing.assert_array_equal(eng.read_symbol(to1, 0, "a1"), data[B0:])


def _compute_relay_pe(c, *, B: int, work: int, role: str, cin: int, cout: int) -> None:
    """Receive a vector, then (a static task, run in place by a window) add ``b`` to it,
    spend ``work`` cycles and send it on: streaming ops issued by tasks a window starts."""
    a = c.array("a", "f32", B, export=True)
    b = c.array("b", "f32", B, export=True)

    def forward(pe):
        pe.fadds(mem1d_dsd(a), mem1d_dsd(a), mem1d_dsd(b))
        pe.spend(work)
        if role != "last":
            pe.fmovs(fabout_dsd(cout, B), mem1d_dsd(a), async_=True)

    def main(pe):
        if role == "first":
            forward(pe)
        else:
            pe.fmovs(mem1d_dsd(a), fabin_dsd(cin, B), async_=True, activate=forward)

    c.bind_local_task(forward, 9, static=True)
    c.bind_local_task(main, 8, static=True)
    c.activate(8)


def _long_stream_pe(c, *, L: int, role: str, color: int = 2, name: str = "long",
                    delay: int = 0) -> None:  # fmt: skip
    """A stream of ``L`` f32 along a row on ``color`` (by default going on while the relay
    above runs): sent from array ``name``, kept there, ``delay`` cycles late."""
    a = c.array(name, "f32", L, export=True)

    def main(pe):
        if role == "send":
            pe.fmovs(fabout_dsd(color, L), mem1d_dsd(a), async_=True)
        elif role == "keep":
            pe.spend(delay)
            pe.fmovs(mem1d_dsd(a), fabin_dsd(color, L), async_=True)

    c.bind_local_task(main, 8, static=True)
    c.activate(8)


@settings(max_examples=15, deadline=None)
@given(
    works=st.lists(st.integers(0, 70), min_size=2, max_size=7),
    B=st.integers(1, 30),
    window=st.sampled_from([8, 64, 1 << 20]),
)
def test_tasks_started_in_a_window_may_issue_streams(works, B, window) -> None:
    from waferscale.fabric._params import P_STREAM_WINDOW
    from waferscale.program import Layout

    # Row 0 relays; row 1 streams all along, so the windows go on past the tasks they start
    # and must end before the streams those tasks issue can move.
    W = len(works)
    L = 250
    lay = Layout(W, 2, name="compute-relay")
    for x in range(W):
        role = "send" if x == 0 else "keep" if x == W - 1 else "pass"
        lay.set_tile_code(x, 1, _long_stream_pe, L=L, role=role)
        if x < W - 1:
            lay.set_route(x, 1, 2, rx=["RAMP" if x == 0 else "WEST"], tx=["EAST"])
    lay.set_route(W - 1, 1, 2, rx=["WEST"], tx=["RAMP"])
    for x, work in enumerate(works):
        role = "first" if x == 0 else "last" if x == W - 1 else "mid"
        cin, cout = (x + 1) % 2, x % 2
        lay.set_tile_code(x, 0, _compute_relay_pe, B=B, work=work, role=role, cin=cin, cout=cout)
        if x < W - 1:
            lay.set_route(x, 0, cout, rx=["RAMP"], tx=["EAST"])
            lay.set_route(x + 1, 0, cout, rx=["WEST"], tx=["RAMP"])
    data = np.random.default_rng(W * 31 + B).standard_normal((2, W, B)).astype(np.float32)

    def prepare(eng: Engine) -> None:
        eng.state.params[P_STREAM_WINDOW] = window
        load_region(eng, "a", data[0][None])
        load_region(eng, "b", data[1][None])
        load_region(eng, "long", np.arange(L, dtype=np.float32)[None, None], 0, 1)

    slow, fast, eng = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)
    want = data[0][0] + data[1][0]
    for x in range(1, W):
        want = want + data[1][x]
    np.testing.assert_array_equal(eng.read_symbol(W - 1, 0, "a"), want)
    np.testing.assert_array_equal(eng.read_symbol(W - 1, 1, "long"), np.arange(L))
    if window > 64:
        assert eng.stats()["cycles_stepped"] < 10 * W  # the windows took the tasks in place


@settings(max_examples=20, deadline=None)
@given(
    delays=st.lists(st.sampled_from([0, 0, 0, 7, 30, 60]), min_size=2, max_size=7),
    B=st.integers(1, 30),
    window=st.sampled_from([13, 64, 256]),
    **TIMING_DRAWS,
)
def test_random_floods_are_the_same_with_the_fast_path(
    delays, B, hop, ramp, depth, iq, oq, task, window
) -> None:
    # routers 1 .. P-2 multicast to their ramp and east (two latencies from one forward);
    # late receivers fill the queues before them, so the room rules bind too
    from waferscale.fabric._params import P_STREAM_WINDOW
    from waferscale.program import Layout

    P = len(delays) + 1
    spec = timing_mesh(P, hop=hop, ramp=ramp, depth=depth, iq=iq, oq=oq, task=task)
    lay = Layout(P, 1, arch=spec, name="flood")
    for x in range(P):
        role, delay = ("send", 0) if x == 0 else ("keep", delays[x - 1])
        lay.set_tile_code(x, 0, _long_stream_pe, L=B, role=role, color=0, name="a", delay=delay)
    lay.set_route(0, 0, 0, rx=["RAMP"], tx=["EAST"])
    for x in range(1, P):
        lay.set_route(x, 0, 0, rx=["WEST"], tx=["RAMP", "EAST"] if x < P - 1 else ["RAMP"])
    data = np.random.default_rng(B).standard_normal((P, B)).astype(np.float32)

    def prepare(eng: Engine) -> None:
        eng.state.params[P_STREAM_WINDOW] = window
        load_region(eng, "a", data[None])

    slow, fast, eng = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)
    got = read_region(eng, "a", 0, 0, P, 1)[0]
    np.testing.assert_array_equal(got, np.broadcast_to(data[0], (P, B)))  # every PE has it


def _scan_pe(c, *, B: int, role: str, shift: int) -> None:
    """PE 0 sends ``B`` f32; PE 1 adds each to ``a`` ``shift`` words on in its own memory
    (``a[k + shift] = in[k] + a[k]``): with ``shift > 0`` an element reads what an earlier
    one of the same op wrote (a running sum), with 0 it adds in place."""
    a = c.array("a", "f32", B + 1, export=True)

    def main(pe):
        if role == "send":
            pe.fmovs(fabout_dsd(0, B), mem1d_dsd(a, B), async_=True)
        else:
            dst = mem1d_dsd(a, B, offset=shift)
            pe.fadds(dst, fabin_dsd(0, B), mem1d_dsd(a, B), async_=True)

    c.bind_local_task(main, 8)
    c.activate(8)


@pytest.mark.parametrize("shift", [0, 1])
def test_an_op_reading_its_own_writes_is_the_same_with_the_fast_path(shift) -> None:
    from waferscale.program import Layout

    B = 48
    lay = Layout(2, 1, name="scan")
    for x, role in enumerate(("send", "scan")):
        lay.set_tile_code(x, 0, _scan_pe, B=B, role=role, shift=shift)
    lay.set_route(0, 0, 0, rx=["RAMP"], tx=["EAST"])
    lay.set_route(1, 0, 0, rx=["WEST"], tx=["RAMP"])
    data = np.random.default_rng(5).standard_normal((2, B + 1)).astype(np.float32)

    def prepare(eng: Engine) -> None:
        load_region(eng, "a", data[None])

    slow, fast, eng = _both(lambda: Engine(lay.compile()), prepare)
    _assert_same(slow, fast)
    assert eng.stats()["cycles_stepped"] < eng.now / 2  # the window took the stream
    want = data[1].copy()
    for k in range(B):  # in element order, in f32
        want[k + shift] = np.float32(data[0][k] + want[k])
    np.testing.assert_array_equal(read_region(eng, "a", 1, 0, 1, 1)[0, 0], want)



def _crossing_pe(c, *, B: int, late: int, role: str) -> None:
    """``send`` sends ``a`` on color 0; ``relay1`` / ``relay2`` pass color 0 on as color 1 / 2
    (``relay2`` ``late`` cycles late); ``rx1`` / ``rx2`` receive colors 1 / 2 into ``a``."""
    a = c.array("a", "f32", B, export=True)

    def main(pe):
        if role == "send":
            pe.fmovs(fabout_dsd(0, B), mem1d_dsd(a), async_=True)
        elif role == "relay1":
            pe.fmovs(fabout_dsd(1, B), fabin_dsd(0, B), async_=True)
        elif role == "relay2":
            pe.spend(late)
            pe.fmovs(fabout_dsd(2, B), fabin_dsd(0, B), async_=True)
        elif role in ("rx1", "rx2"):
            pe.fmovs(mem1d_dsd(a), fabin_dsd(1 if role == "rx1" else 2, B), async_=True)

    c.bind_local_task(main, 8, static=True)
    c.activate(8)


# Router (1, 1) forwards colors 1 and 2; granted together each cycle, they move its pointer
# to 2 (past color 1), then 3 (past 2), then 2 (wrapped, past 1) ...: 2 after an odd number
# of such cycles, 3 after an even one; color 2 alone last (relayed late) leaves it at 3.
@pytest.mark.parametrize(("B", "late", "pointer"), [(40, 0, 3), (41, 0, 2), (41, 10, 3)])
def test_two_forwards_granted_in_one_cycle_leave_the_pointer_as_the_loop(B, late, pointer):
    # PE (0, 0) multicasts east and south; (1, 0) and (0, 1) relay it as colors 1 and 2,
    # which cross at router (1, 1) (1: north to east, 2: west to south) in the same cycles.
    # One source: one window's component holds both forwards, and its commit replays the
    # router's grants (decision 0004).
    from waferscale.program import Layout

    lay = Layout(3, 3, arch=arch_mod.custom_mesh(3, 3), name="crossing")
    roles = {(0, 0): "send", (1, 0): "relay1", (0, 1): "relay2", (2, 1): "rx1", (1, 2): "rx2"}
    for x in range(3):
        for y in range(3):
            lay.set_tile_code(x, y, _crossing_pe, B=B, late=late, role=roles.get((x, y), "idle"))
    for color, (x, y), rx, tx in (
        (0, (0, 0), "RAMP", ["EAST", "SOUTH"]),
        (0, (1, 0), "WEST", ["RAMP"]), (0, (0, 1), "NORTH", ["RAMP"]),
        (1, (1, 0), "RAMP", ["SOUTH"]), (1, (1, 1), "NORTH", ["EAST"]),
        (1, (2, 1), "WEST", ["RAMP"]),
        (2, (0, 1), "RAMP", ["EAST"]), (2, (1, 1), "WEST", ["SOUTH"]),
        (2, (1, 2), "NORTH", ["RAMP"]),
    ):  # fmt: skip
        lay.set_route(x, y, color, rx=[rx], tx=tx)
    a = np.random.default_rng(B).standard_normal(B).astype(np.float32)

    slow, fast, eng = _both(
        lambda: Engine(lay.compile()), lambda eng: load_region(eng, "a", a[None, None, :])
    )
    _assert_same(slow, fast)
    assert eng.stats()["cycles_stepped"] < 5  # windows ran it
    assert fast["rr"][1 * 3 + 1] == pointer  # PE (1, 1)
    np.testing.assert_array_equal(eng.read_symbol(2, 1, "a"), a)
    np.testing.assert_array_equal(eng.read_symbol(1, 2, "a"), a)
