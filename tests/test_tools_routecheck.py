"""The static route checker (waferscale.tools.routecheck): one planted bug per kind of finding,
each found (and only it), and no finding on any shipped example or kernel."""

from __future__ import annotations

import contextlib
import io

import pytest

from waferscale.kernels import REGISTRY
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.tools.routecheck import check_routes, format_findings
from waferscale.tools.targets import examples_dir, target_layouts

C = 3  # the color of the planted bugs
N = 4


def idle(c):
    c.array("a", "u32", 1)


def sender(c, *, color: int = C):
    a = c.array("a", "u32", N, init=7)

    def main(pe):
        pe.mov32(fabout_dsd(color, N, "u32"), mem1d_dsd(a))

    c.bind_local_task(main, 8)
    c.activate(8)


def op_receiver(c, *, color: int = C):
    a = c.array("a", "u32", N)

    def main(pe):
        pe.mov32(mem1d_dsd(a), fabin_dsd(color, N, "u32"))

    c.bind_local_task(main, 8)
    c.activate(8)


def task_and_op_receiver(c, *, color: int = C, blocked: bool = False):
    """Binds a data task to the color *and* reads it with a fabric-input op."""
    a = c.array("a", "u32", N)
    got = c.array("got", "u32", 1)

    def recv(pe, v):
        pe[got][0] = v

    def main(pe):
        pe.mov32(mem1d_dsd(a), fabin_dsd(color, N, "u32"))

    c.bind_data_task(recv, color)
    c.bind_local_task(main, 8)
    c.activate(8)
    if blocked:
        c.block(recv)


def kinds(lay) -> set[str]:
    return {f.kind for f in check_routes(lay)}


def pair(receiver=op_receiver, **params) -> Layout:
    """PE (0, 0) sends color C east to PE (1, 0), which takes it down its ramp."""
    lay = Layout(2, 1, name="pair")
    lay.set_tile_code(0, 0, sender)
    lay.set_tile_code(1, 0, receiver, **params)
    lay.set_route(0, 0, C, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, C, rx="WEST", tx="RAMP")
    return lay


def test_a_correct_layout_has_no_finding():
    assert check_routes(pair()) == []
    assert check_routes(pair().compile()) == []


def test_off_rectangle():
    lay = pair()
    lay.set_route(1, 0, C, rx="WEST", tx=["RAMP", "EAST"])  # the east edge
    found = check_routes(lay)  # Layout.compile refuses it; the checker reads the Layout
    assert {f.kind for f in found} == {"off-rectangle"}
    assert found[0].pe == (1, 0) and found[0].color == C and found[0].severity == "error"


def test_not_accepted():
    lay = pair()
    lay.set_route(1, 0, C, rx="NORTH", tx="RAMP")  # accepts from the wrong side
    found = check_routes(lay)
    assert {f.kind for f in found} == {"not-accepted"}
    assert found[0].pe == (0, 0) and "PE (1, 0)" in found[0].detail


def test_not_accepted_sees_every_switch_position():
    lay = pair()
    lay.set_switches(1, 0, C, [("NORTH", "RAMP"), ("WEST", "RAMP")])  # position 1 accepts it
    assert kinds(lay) == set()


def test_color_swap_changes_the_color_that_must_be_accepted():
    lay = pair()
    lay.set_color_swap(0, 0, C)  # leaves as C ^ 1 = 2, but PE (1, 0) routes only 3
    assert kinds(lay) == {"not-accepted"}
    lay.set_route(1, 0, C ^ 1, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, C, rx=[], tx=[])
    assert "not-accepted" not in kinds(lay)


def test_dead_end():
    lay = pair()
    lay.set_route(1, 0, C, rx="WEST", tx=[])
    found = check_routes(lay)
    assert {f.kind for f in found} == {"dead-end"}
    assert found[0].pe == (1, 0) and found[0].position == 0


def _ring(lay: Layout, color: int, *, ramp: bool) -> None:
    """A clockwise ring over a 2x2 rectangle; PE (0, 0) also injects from its CE."""
    extra = ["RAMP"] if ramp else []
    lay.set_route(0, 0, color, rx=["SOUTH", "RAMP"], tx=["EAST", *extra])
    lay.set_route(1, 0, color, rx="WEST", tx=["SOUTH", *extra])
    lay.set_route(1, 1, color, rx="NORTH", tx=["WEST", *extra])
    lay.set_route(0, 1, color, rx="EAST", tx=["NORTH", *extra])


def test_loop_without_a_ramp_exit():
    lay = Layout(2, 2, name="ring")
    lay.set_region_code(0, 0, 2, 2, idle)
    _ring(lay, C, ramp=False)
    found = check_routes(lay)
    assert [f.kind for f in found] == ["loop"]
    assert "never reach a CE" in found[0].detail


def test_loop_of_fixed_routes_with_ramp_exits():
    lay = Layout(2, 2, name="ring")
    lay.set_region_code(0, 0, 2, 2, idle)
    _ring(lay, C, ramp=True)
    found = [f for f in check_routes(lay) if f.severity == "error"]
    assert [f.kind for f in found] == ["loop"]
    assert "circulates forever" in found[0].detail


def test_conflicting_inputs():
    lay = Layout(3, 1, name="merge")
    lay.set_tile_code(0, 0, sender)
    lay.set_tile_code(2, 0, sender)
    lay.set_tile_code(1, 0, op_receiver)
    lay.set_route(0, 0, C, rx="RAMP", tx="EAST")
    lay.set_route(2, 0, C, rx="RAMP", tx="WEST")
    lay.set_route(1, 0, C, rx=["WEST", "EAST"], tx="RAMP")
    found = check_routes(lay)
    assert {f.kind for f in found} == {"conflicting-inputs"}
    assert found[0].pe == (1, 0) and found[0].severity == "warning"


def test_a_bus_merging_the_ce_into_a_stream_is_no_conflict():
    lay = pair()
    lay.set_route(1, 0, C, rx=["WEST", "RAMP"], tx="RAMP")
    assert kinds(lay) == set()


def test_data_task_race():
    found = check_routes(pair(task_and_op_receiver))
    assert {f.kind for f in found} == {"data-task-race"}
    assert found[0].pe == (1, 0) and "recv" in found[0].detail
    assert kinds(pair(task_and_op_receiver, blocked=True)) == set()


def test_no_consumer():
    found = check_routes(pair(idle))
    assert {f.kind for f in found} == {"no-consumer"}
    assert found[0].pe == (1, 0) and found[0].color == C
    assert "no-consumer" in format_findings(found)


# -- no findings on what ships --------------------------------------------------------------


def _example_names() -> list[str]:
    ex = examples_dir()
    assert ex is not None
    return [p.stem for p in sorted(ex.glob("[!_]*.py"))]


@pytest.mark.parametrize("name", _example_names())
def test_no_finding_on_examples(name):
    with contextlib.redirect_stdout(io.StringIO()):
        layouts = target_layouts(name)
    assert layouts, f"{name} compiled no layout"
    for cl in layouts:
        found = check_routes(cl)
        assert not found, f"{name} / {cl.layout.name}:\n{format_findings(found)}"


@pytest.mark.parametrize("name", list(REGISTRY))
def test_no_finding_on_kernels(name):
    (cl,) = target_layouts(name)  # compiled at the default size, not run
    found = check_routes(cl)
    assert not found, f"{name}:\n{format_findings(found)}"
