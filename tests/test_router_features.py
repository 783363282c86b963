"""Router and task features, each shown by a program whose result is right only if the feature
works (issue #4): the runnable examples in examples/router_*.py, run here, plus extra checks of
pop modes, ring mode, counter filters counting control wavelets, CE filtering and RESET."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waferscale.fabric import Engine, OpError, StallError
from waferscale.program import Layout, fabout_dsd
from waferscale.program.control import (
    ADVANCE,
    NOP,
    RESET,
    command_slots_payload,
    control_payload,
    decode,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str):
    """Import examples/router_<name>.py (examples/ is not a package)."""
    mod_name = f"router_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, EXAMPLES / f"{mod_name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    spec.loader.exec_module(mod)
    return mod


ALL_EXAMPLES = sorted(p.stem.removeprefix("router_") for p in EXAMPLES.glob("router_*.py"))


def test_every_feature_and_tutorial_topic_has_an_example():
    assert set(ALL_EXAMPLES) >= {
        "ring_token", "range_filter", "sentinel", "teardown", "control_data", "color_swap",
        "wse3_migration", "switches", "entry_points", "fifo", "microthreads", "queue_flush",
        "pop_modes",
    }


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_example_main_runs_and_checks_itself(name, capsys):
    example(name).main()
    out = capsys.readouterr().out
    assert out.strip(), f"examples/router_{name}.py printed nothing"


# -- switches --------------------------------------------------------------------------------


def test_ring_token_values_and_laps():
    seen = example("ring_token").main(laps=3)
    assert seen[(0, 0)] == [8, 16, 24]
    assert seen[(1, 0)] == [1, 9, 17]
    assert seen[(0, 1)] == [7, 15, 23]


def test_ring_token_needs_ring_mode():
    mod = example("ring_token")
    with pytest.raises(StallError, match=r"does not accept color 1 from RAMP"):
        Engine(mod.build(2, ring=False).compile()).run()


def test_switches_ring_versus_no_ring():
    mod = example("switches")
    assert mod.main(8, ring=True) == {
        "NORTH": [0, 4], "EAST": [1, 5], "SOUTH": [2, 6], "WEST": [3, 7]}
    assert mod.main(8, ring=False) == {
        "NORTH": [0], "EAST": [1], "SOUTH": [2], "WEST": [3, 4, 5, 6, 7]}


@pytest.mark.parametrize(
    ("mode", "slots", "advanced"),
    [
        ("always_pop", ["advance", "nop", "advance"], [1, 0, 1]),
        ("pop_on_advance", ["advance", "nop", "advance"], [1, 0, 0]),
        ("always_pop", ["nop", "advance", "advance"], [0, 1, 1]),
        ("pop_on_advance", ["nop", "advance", "advance"], [0, 0, 0]),
        ("pop_on_advance", ["advance", "advance", "advance"], [1, 1, 1]),
        ("always_pop", ["advance"], [1, 0, 0]),
    ],
)
def test_pop_on_advance_versus_always_pop(mode, slots, advanced):
    assert example("pop_modes").main(mode, slots) == advanced


def test_command_slot_payload_layout():
    p = command_slots_payload(["advance", "reset", "teardown", "nop"], task=7, ce_filter=True)
    assert p & 0xFFFF == 0b00_11_10_01
    assert decode(p) == {"data": 0b00111001, "task": 7, "ce_filter": True, "command": NOP}
    assert decode(control_payload("reset"))["command"] == RESET
    with pytest.raises(ValueError, match="at most 8 command slots"):
        command_slots_payload(["nop"] * 9)
    with pytest.raises(ValueError, match="control wavelets can start tasks 0..30, got 31"):
        control_payload(task=31)


# Programs for the extra checks: a sender of a scripted mix of data and control wavelets, and a
# logger of data wavelets and of control-task activations.
MAIN = 10
COLOR = 3
CT_A, CT_B = 12, 13


def script_sender(c, *, script):
    def main(pe):
        for kind, value in script:
            if kind == "d":
                pe.mov32(fabout_dsd(COLOR, 1, "u32"), value)
            else:  # "c": a control wavelet with this payload
                pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), value)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def logger(c, *, n=16):
    log = c.array("log", "u32", n, export=True)
    clog = c.array("clog", "u32", n, export=True)
    cnt = c.array("cnt", "u32", 2, export=True)
    pos = c.array("pos", "u32", 2, export=True)

    def on_data(pe, value):
        k = int(pe[cnt][0])
        pe[log][k] = value
        pe[cnt][0] = k + 1

    def ctrl(tag):
        def on_control(pe, data):
            k = int(pe[cnt][1])
            pe[clog][k] = tag * 100000 + data
            pe[cnt][1] = k + 1
            pe[pos][0] = pe.switch_position(COLOR)

        on_control.__name__ = f"on_control_{tag}"
        return on_control

    c.bind_data_task(on_data, COLOR)
    c.bind_control_task(ctrl(1), CT_A)
    c.bind_control_task(ctrl(2), CT_B)


def run_row(script, width=3, configure=None):
    """Sender at (0, 0), loggers east of it; color COLOR flows east, the last PE receives."""
    lay = Layout(width, 1, arch="wse2")
    lay.set_tile_code(0, 0, script_sender, script=script)
    lay.set_region_code(1, 0, width - 1, 1, logger)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    if width > 2:
        lay.set_region_route(1, 0, width - 2, 1, COLOR, rx="WEST", tx="EAST")
    lay.set_route(width - 1, 0, COLOR, rx="WEST", tx="RAMP")
    if configure:
        configure(lay)
    eng = Engine(lay.compile())
    eng.run()

    def logs(x):
        nd, nc = (int(v) for v in eng.read_symbol(x, 0, "cnt"))
        data = eng.read_symbol(x, 0, "log")[:nd].tolist()
        return data, eng.read_symbol(x, 0, "clog")[:nc].tolist()

    return eng, logs


@pytest.mark.parametrize(("second", "pe1", "pe2"), [
    (RESET, [20], [10, 30]),  # RESET brings the switch back to position 0: 30 passes on
    (NOP, [20, 30], [10]),  # without it the switch stays at position 1: 30 stays at PE 1
    (ADVANCE, [20], [10, 30]),  # ring mode: position 1 -> 0
])
def test_reset_and_advance_move_the_switch(second, pe1, pe2):
    script = [("d", 10), ("c", control_payload(ADVANCE)), ("d", 20),
              ("c", control_payload(second)), ("d", 30)]

    def configure(lay):
        lay.set_switches(1, 0, COLOR, [("WEST", "EAST"), ("WEST", "RAMP")], ring=True)

    _, logs = run_row(script, configure=configure)
    assert logs(1)[0] == pe1
    assert logs(2)[0] == pe2


def test_a_control_task_sees_the_switch_position_and_can_set_it():
    script = [("c", control_payload(ADVANCE, task=CT_A, data=5)), ("d", 1)]

    def configure(lay):
        lay.set_switches(2, 0, COLOR, [("WEST", "RAMP"), ("WEST", "RAMP")])

    eng, logs = run_row(script, configure=configure)
    assert logs(2) == ([1], [100005])
    assert int(eng.read_symbol(2, 0, "pos")[0]) == 1  # the router advanced after forwarding


# -- CE filter, filters ------------------------------------------------------------------------


def test_ce_filtered_control_wavelets_start_no_task():
    script = [
        ("c", control_payload(task=CT_A, data=1, ce_filter=True)),
        ("c", control_payload(task=CT_B, data=2)),
        ("d", 7),
    ]

    def configure(lay):  # PE 1 takes a copy and forwards: the filter applies at both CEs
        lay.set_route(1, 0, COLOR, rx="WEST", tx=["RAMP", "EAST"])

    _, logs = run_row(script, configure=configure)
    assert logs(1) == ([7], [200002])
    assert logs(2) == ([7], [200002])


def _counter_model(script, pass_count, max_counter, init, count_data, count_control):
    counter, out = init, []
    for kind, value in script:
        if kind == "d" and counter < pass_count:
            out.append(value)
        if (kind == "d" and count_data) or (kind == "c" and count_control):
            counter = 0 if counter + 1 > max_counter else counter + 1
    return out


GATE = [("d", 1), ("d", 2), ("c", control_payload()), ("d", 3), ("d", 4),
        ("c", control_payload()), ("d", 5), ("d", 6)]


@pytest.mark.parametrize(("count_data", "count_control", "want"), [
    (False, True, [1, 2, 5, 6]),  # control wavelets open and close the gate
    (True, True, [1, 4, 5]),
    (True, False, [1, 3, 5]),
])
def test_counter_filter_counting_control_wavelets(count_data, count_control, want):
    def configure(lay):
        lay.set_filter(2, 0, COLOR, kind="counter", pass_count=1, max_counter=1,
                       count_data=count_data, count_control=count_control)

    _, logs = run_row(GATE, configure=configure)
    assert logs(2)[0] == want
    assert want == _counter_model(GATE, 1, 1, 0, count_data, count_control)


def test_counter_filter_phases_match_the_model():
    for lane in range(4):
        got = example("range_filter").main("counter")[lane + 1]
        assert got == [100 + i for i in range(16) if i % 4 == lane]


def test_range_filter_on_every_index():
    script = [("d", v | (i << 16)) for i, v in enumerate(range(40, 50))]

    def configure(lay):
        lay.set_filter(2, 0, COLOR, kind="range", min_index=3, max_index=6)

    _, logs = run_row(script, configure=configure)
    assert [v & 0xFFFF for v in logs(2)[0]] == [43, 44, 45, 46]


# -- the rest of the examples, with other parameters ---------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 20])
def test_sentinel_for_streams_of_any_length(n):
    assert example("sentinel").main(n, seed=n)[0] == n


def test_teardown_with_other_stream_lengths():
    assert example("teardown").main(1, 9) == {"middle": [1], "east": list(range(100, 1000, 100))}


def test_color_swap_is_needed():
    mod = example("color_swap")
    data = np.ones((3, 4), np.float32)
    with pytest.raises(StallError, match="does not accept from WEST"):
        Engine(mod.build(data, swap=False).compile()).run()


def test_fifo_smaller_and_larger_than_the_stream():
    mod = example("fifo")
    mod.main(n=9, depth=2)
    mod.main(n=5, depth=8)


def test_microthreads_collide_on_one_id():
    with pytest.raises(OpError, match=r"PE\(1, 0\): microthread 1 is still running an op"):
        example("microthreads").main(same_microthread=True)


# -- engine problems found while writing these (see the report in docs/router.md) ----------------


def _two_pe(sender_prog, receiver_prog, **kw):
    lay = Layout(2, 1, arch="wse2")
    lay.set_tile_code(0, 0, sender_prog)
    lay.set_tile_code(1, 0, receiver_prog)
    lay.set_route(0, 0, COLOR, rx="RAMP", tx="EAST")
    for k, v in kw.items():
        getattr(lay, k)(*v)
    return lay


def _advance_filtered(c):
    def main(pe):
        payload = control_payload(ADVANCE, ce_filter=True)
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), payload)

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def _nothing(c):
    pass


def test_ce_filtered_advance_moves_the_switch_at_the_end_of_a_route():
    lay = _two_pe(_advance_filtered, _nothing,
                  set_switches=(1, 0, COLOR, [("WEST", "RAMP"), ("WEST", "RAMP")]))
    eng = Engine(lay.compile())
    eng.run()
    assert int(eng.state.route_pos[1, COLOR]) == 1


def _two_controls(c):
    def main(pe):
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), control_payload(task=CT_A, data=1))
        pe.mov32(fabout_dsd(COLOR, 1, "u32", control=True), control_payload(task=CT_A, data=2))

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def _busy_logger(c):
    log = c.array("log", "u32", 4, export=True)
    n = c.array("n", "u32", 1, export=True)

    def busy(pe):
        pe.spend(100)

    def on_control(pe, data):
        k = int(pe[n][0])
        pe[log][k] = data
        pe[n][0] = k + 1

    c.bind_local_task(busy, MAIN)
    c.activate(MAIN)
    c.bind_control_task(on_control, CT_A)


def test_control_wavelets_for_a_busy_ce_each_start_their_task():
    lay = _two_pe(_two_controls, _busy_logger,
                  set_route=(1, 0, COLOR, "WEST", "RAMP"))
    eng = Engine(lay.compile())
    eng.run()
    assert eng.read_symbol(1, 0, "log")[: int(eng.read_symbol(1, 0, "n")[0])].tolist() == [1, 2]



# -- switch changes take effect at the next cycle, for every router ---------------------------

SWITCH_COLOR = 3


def _switch_sender(c, *, vals, advance, delay):
    def main(pe):
        pe.spend(delay)
        for v in vals:
            pe.mov32(fabout_dsd(SWITCH_COLOR, 1, "u32", advance_switch=advance), v)

    c.bind_local_task(main, 10)
    c.activate(10)


def _switch_root(c, *, n):
    log = c.array("log", "u32", n, export=True)
    count = c.array("count", "u32", 1, export=True)
    last = c.array("last", "u32", 1, export=True)

    def on_data(pe, value):
        k = int(pe[count][0])
        pe[log][k] = value
        pe[count][0] = k + 1
        pe[last][0] = pe.timestamp()

    c.bind_data_task(on_data, SWITCH_COLOR)


def _switch_gather(root_west: bool, delays: list[int]) -> tuple[list[int], int]:
    """A row gathers one value per PE at an end PE: each middle PE sends its value with an
    ADVANCE that turns its switch from RAMP -> root to pass-through."""
    P = len(delays)
    toward, away = ("WEST", "EAST") if root_west else ("EAST", "WEST")
    xs = list(range(P)) if root_west else list(range(P - 1, -1, -1))
    lay = Layout(P, 1, arch="wse2")
    lay.set_tile_code(xs[0], 0, _switch_root, n=P - 1)
    lay.set_route(xs[0], 0, SWITCH_COLOR, rx=away, tx="RAMP")
    for k, x in enumerate(xs[1:], 1):
        last = k == P - 1
        lay.set_tile_code(x, 0, _switch_sender, vals=[k], advance=not last, delay=delays[k])
        if last:
            lay.set_route(x, 0, SWITCH_COLOR, rx="RAMP", tx=toward)
        else:
            lay.set_switches(x, 0, SWITCH_COLOR, [("RAMP", toward), (away, toward)])
    eng = Engine(lay.compile())
    eng.run()
    got = sorted(eng.read_symbol(xs[0], 0, "log").tolist())
    return got, int(eng.read_symbol(xs[0], 0, "last")[0])


@given(delays=st.lists(st.integers(0, 6), min_size=3, max_size=6))
@settings(max_examples=15, deadline=None)
def test_mirror_image_switch_layouts_take_the_same_cycles(delays):
    # The router pass visits PEs in an order of its own; a switch change made in one cycle must
    # be seen by every router from the next, so mirror images cannot differ.
    west = _switch_gather(True, delays)
    east = _switch_gather(False, delays)
    assert west[0] == list(range(1, len(delays)))
    assert west == east
