"""Resource accounting at compile time: per PE, colors, input/output queues, task ids and
microthreads against the spec; an over-budget layout is refused with a table of what uses which
resource where; ``resource_report`` returns the same accounting."""

from __future__ import annotations

import re

import pytest

from waferscale.arch import custom_mesh
from waferscale.program import Layout, LayoutError, fabout_dsd, mem1d_dsd
from waferscale.program.resources import RESOURCES, format_table, resource_report


def exact(msg: str) -> str:
    return "^" + re.escape(msg) + "$"


def nothing(c):
    pass


def nine_data_tasks(c):
    for color in range(9):

        def recv(pe, v):
            pass

        recv.__name__ = f"recv{color}"
        c.bind_data_task(recv, color)


def test_too_many_input_queues_on_wse2():
    lay = Layout(2, 1, name="nine")
    lay.set_tile_code(0, 0, nothing)
    lay.set_tile_code(1, 0, nine_data_tasks)
    with pytest.raises(LayoutError, match=exact(
        "layout 'nine' is over its wse2 resource budget on 1 PE:\n"
        "PE      program          resource      used  budget  by\n"
        "(1, 0)  nine_data_tasks  input queues     9       8  c0: data task 'recv0'; c1: data "
        "task 'recv1'; c2: data task 'recv2'; c3: data task 'recv3'; c4: data task 'recv4'; "
        "c5: data task 'recv5'; c6: data task 'recv6'; c7: data task 'recv7'; c8: data task "
        "'recv8'\n"
        "Fix:\n"
        "  - input queues: deliver fewer colors to the CE: merge streams onto one color and tell "
        "them apart by index (range filter) or read them one after the other with fabric DSDs"
    )):
        lay.compile()


def test_too_many_output_queues_on_wse2():
    lay = Layout(2, 1, name="senders")
    lay.set_region_code(0, 0, 2, 1, nothing)
    for color in range(7):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="RAMP")
    with pytest.raises(LayoutError, match=exact(
        "layout 'senders' is over its wse2 resource budget on 1 PE:\n"
        "PE      program  resource       used  budget  by\n"
        "(0, 0)  nothing  output queues     7       6  c0: accepted from RAMP; c1: accepted from "
        "RAMP; c2: accepted from RAMP; c3: accepted from RAMP; c4: accepted from RAMP; c5: "
        "accepted from RAMP; c6: accepted from RAMP\n"
        "Fix:\n"
        "  - output queues: send on fewer colors from the CE (one output queue per color)"
    )):
        lay.compile()


def test_queues_routed_to_the_ramp_count_with_data_tasks_once():
    """A color with both a data task and a route down the ramp uses one input queue; a route
    down the ramp for a color without a data task (a fabric DSD reads it) uses another."""
    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, nothing)
    lay.set_tile_code(1, 0, nine_data_tasks)
    lay.set_route(1, 0, 3, rx="WEST", tx="RAMP")
    rows = {r["resource"]: r for r in resource_report(lay, pes=[(1, 0)])}
    assert rows["input queues"]["used"] == 9


def test_over_budget_on_many_pes_lists_the_first_twenty():
    arch = custom_mesh(6, 5, **{"pe.input_queues": 2})
    lay = Layout(6, 5, arch=arch, name="grid")
    lay.set_region_code(0, 0, 6, 5, nothing)
    lay.set_region_route(0, 0, 6, 5, 1, rx="NORTH", tx="RAMP")
    lay.set_region_route(0, 0, 6, 5, 2, rx="NORTH", tx="RAMP")
    lay.set_region_route(0, 0, 6, 5, 3, rx="NORTH", tx="RAMP")
    with pytest.raises(LayoutError) as info:
        lay.compile()
    lines = str(info.value).splitlines()
    assert lines[0] == "layout 'grid' is over its wse2-mesh-6x5 resource budget on 30 PEs:"
    assert lines[1] == "PE      program  resource      used  budget  by"
    assert lines[2] == (
        "(0, 0)  nothing  input queues     3       2  c1: routed to RAMP; c2: routed to RAMP; "
        "c3: routed to RAMP"
    )
    assert lines[21].startswith("(1, 3)  nothing  input queues     3       2")
    assert lines[22] == "  ... and 10 more PEs"
    assert lines[23:] == [
        "Fix:",
        "  - input queues: deliver fewer colors to the CE: merge streams onto one color and tell "
        "them apart by index (range filter) or read them one after the other with fabric DSDs",
    ]


def test_colors_used_reach_the_budget_of_a_small_machine():
    """Routes can only use routable, unreserved colors, so the color count reaches the budget
    at most (the report shows how close a PE is)."""
    arch = custom_mesh(2, 1, **{"router.colors": 6, "router.reserved_colors": [5],
                                "pe.data_task_ids": {"first": 0, "last": 5}})
    lay = Layout(2, 1, arch=arch, name="colors")
    lay.set_region_code(0, 0, 2, 1, nothing)
    for color in range(5):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="RAMP")
    lay.compile()
    colors = next(r for r in resource_report(lay, pes=[(0, 0)]) if r["resource"] == "colors")
    assert (colors["used"], colors["budget"], colors["over"]) == (5, 5, False)


def three_threads(c):
    a = c.array("a", "u32", 4)

    def main(pe):
        pe.mov32(fabout_dsd(1, 4, "u32"), mem1d_dsd(a), async_=True, microthread=1)
        pe.mov32(fabout_dsd(2, 4, "u32"), mem1d_dsd(a), async_=True, microthread=4)

    def more(pe):
        pe.mov32(fabout_dsd(1, 4, "u32"), mem1d_dsd(a), async_=True, microthread=4)

    def on_data(pe, v):
        pass

    c.bind_local_task(main, 10)
    c.bind_local_task(more, 11)
    c.bind_control_task(lambda pe: None, 20)
    c.bind_data_task(on_data, 3)


def test_resource_report_rows():
    lay = Layout(2, 1, arch="wse2")
    lay.set_tile_code(0, 0, nothing)
    lay.set_tile_code(1, 0, three_threads)
    lay.set_switches(1, 0, 1, [("RAMP", "EAST"), ("WEST", ["RAMP", "EAST"])])
    lay.set_route(1, 0, 2, rx="RAMP", tx="NORTH")
    lay.set_route(0, 0, 1, rx="WEST", tx="EAST")
    rows = resource_report(lay, pes=[(1, 0)])
    assert [r["resource"] for r in rows] == list(RESOURCES)
    by = {r["resource"]: (r["used"], r["budget"], r["by"]) for r in rows}
    assert by == {
        "colors": (3, 21, ["c1: route R->E | W->E+R", "c2: route R->N",
                           "c3: data task 'on_data'"]),
        "input queues": (2, 8, ["c1: routed to RAMP", "c3: data task 'on_data'"]),
        "output queues": (2, 6, ["c1: accepted from RAMP", "c2: accepted from RAMP"]),
        "data task ids": (1, 24, ["on_data (3)"]),
        "local task ids": (2, 31, ["main (10)", "more (11)"]),
        "control task ids": (1, 62, ["<lambda> (20)"]),
        "microthreads": (2, 8, ["1: main", "4: main, more"]),
    }
    assert all(r["x"] == 1 and r["y"] == 0 and r["program"] == "three_threads" for r in rows)
    assert not any(r["over"] for r in rows)
    table = format_table(rows[:1])
    assert table.splitlines() == [
        "PE      program        resource  used  budget  by",
        "(1, 0)  three_threads  colors       3      21  c1: route R->E | W->E+R; c2: route R->N; "
        "c3: data task 'on_data'",
    ]


def test_resource_report_of_a_compiled_layout_and_filters():
    lay = Layout(3, 2, arch="wse3")
    lay.set_region_code(0, 0, 3, 2, nothing)
    compiled = lay.compile()
    rows = resource_report(compiled)
    assert len(rows) == 6 * len(RESOURCES)
    assert [(r["x"], r["y"]) for r in rows[:: len(RESOURCES)]] == [
        (0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert resource_report(compiled, over_only=True) == []
    budgets = {r["resource"]: r["budget"] for r in rows[: len(RESOURCES)]}
    assert budgets == {"colors": 21, "input queues": 8, "output queues": 8, "data task ids": 8,
                       "local task ids": 23, "control task ids": 62, "microthreads": 8}
    with pytest.raises(IndexError, match=exact(
        "PE (3, 0) is outside the 3x2 program rectangle"
    )):
        resource_report(compiled, pes=[(3, 0)])


def declared_queues(c):
    c.bind_data_task_to_queue(lambda pe, v: None, c.input_queue(0, 4))
    c.input_queue(1, 5)
    c.output_queue(2, 6)


def test_wse3_counts_declared_queues():
    lay = Layout(1, 1, arch="wse3")
    lay.set_tile_code(0, 0, declared_queues)
    lay.set_route(0, 0, 7, rx="RAMP", tx="RAMP")  # routed, but no queue declared: not counted
    by = {r["resource"]: (r["used"], r["by"]) for r in resource_report(lay)}
    assert by["input queues"] == (2, ["q0: c4", "q1: c5"])
    assert by["output queues"] == (1, ["q2: c6"])
    assert by["colors"] == (4, ["c4: data task '<lambda>', input queue 0", "c5: input queue 1",
                                "c6: output queue 2", "c7: route R->R"])


def test_control_task_ids_that_no_wavelet_can_reach_warn():
    def prog(c):
        c.bind_control_task(lambda pe: None, 40)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    with pytest.warns(UserWarning, match=re.escape(
        "control task '<lambda>' has id 40, which no control wavelet can start (payload bits "
        "16..20 name tasks 0..30); use an id in 0..30 or start it with pe.activate"
    )):
        lay.compile()
