"""Bad input gets an exact, actionable message: coordinates, colors, task ids, memory budget,
DSD bounds, element types, async collisions, raising tasks, routes off the rectangle. Also the
PE's cycle counter (``pe.timestamp()``, 48 bits) and ``pe.print``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from _programs import MAIN, body_prog, engine, run
from waferscale.arch import custom_mesh
from waferscale.fabric import OpError, PrintRecord, StallError, TaskError
from waferscale.program import (
    Layout,
    LayoutError,
    ProgramError,
    fabin_dsd,
    fabout_dsd,
    increment_dsd_offset,
    mem1d_dsd,
    set_dsd_length,
)

# every engine built here gets padded activity lists (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("guarded_activity_lists")


def nop(c):
    c.array("a", "f32", 4)


def exact(msg: str) -> str:
    return "^" + re.escape(msg) + "$"


def _one(body, arrays=(("a", "f32", 4),), at=(0, 0), size=(1, 1), arch="wse2"):
    lay = Layout(*size, arch=arch)
    lay.set_region_code(0, 0, *size, body_prog, arrays=arrays)
    lay.set_tile_code(*at, body_prog, arrays=arrays, body=body)
    return lay


# -- coordinates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y"), [(2, 0), (0, 2), (-1, 0), (5, 5)])
def test_tile_code_outside_the_rectangle(x, y):
    lay = Layout(2, 2)
    with pytest.raises(
        LayoutError,
        match=re.escape(
            f"set_region_code(test_engine_errors:nop): region at ({x}, {y}) of size 1x1 leaves the "
            "2x2 rectangle: PEs are (0..1, 0..1)"
        ),
    ):
        lay.set_tile_code(x, y, nop)


def test_region_code_sticking_out():
    with pytest.raises(
        LayoutError,
        match=re.escape(
            "region at (1, 0) of size 3x1 leaves the 3x1 rectangle: PEs are (0..2, 0..0)"
        ),
    ):
        Layout(3, 1).set_region_code(1, 0, 3, 1, nop)
    with pytest.raises(LayoutError, match=re.escape("region size 0x1 must be positive")):
        Layout(3, 1).set_region_code(0, 0, 0, 1, nop)


@pytest.mark.parametrize(("x", "y"), [(3, 0), (0, 1), (0, -1)])
def test_route_outside_the_rectangle(x, y):
    with pytest.raises(
        LayoutError,
        match=exact(
            f"route of color 4: region at ({x}, {y}) of size 1x1 leaves the 3x1 rectangle: PEs are "
            "(0..2, 0..0)"
        ),
    ):
        Layout(3, 1).set_route(x, y, 4, rx="WEST", tx="RAMP")


def test_read_symbol_outside_the_rectangle_and_unknown_name():
    lay = Layout(2, 1)
    lay.set_region_code(0, 0, 2, 1, nop)
    eng = engine(lay)
    with pytest.raises(IndexError, match=exact("PE (2, 0) is outside the 2x1 program rectangle")):
        eng.read_symbol(2, 0, "a")
    with pytest.raises(IndexError, match=exact("PE (0, -1) is outside the 2x1 program rectangle")):
        eng.read_symbol(0, -1, "a")
    with pytest.raises(
        KeyError,
        match=re.escape("PE (1, 0) runs program 'nop', which has no array 'b' (it has: a)"),
    ):
        eng.read_symbol(1, 0, "b")


def test_layout_larger_than_the_machine_and_tiles_without_code():
    with pytest.raises(
        LayoutError,
        match=exact(
            "layout 5x4 does not fit the program rectangle of wse2-mesh-4x4 (4x4): use a smaller "
            "rectangle or a custom mesh (waferscale.arch.custom_mesh)"
        ),
    ):
        Layout(5, 4, arch=custom_mesh(4, 4))
    lay = Layout(3, 2)
    lay.set_tile_code(0, 0, nop)
    with pytest.raises(
        LayoutError,
        match=exact(
            "tile (1, 0) has no code (5 tiles without code): give every tile of the rectangle a "
            "program (set_tile_code / set_region_code)"
        ),
    ):
        lay.compile()


# -- colors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("color", [24, -1, 99])
def test_route_color_out_of_range(color):
    with pytest.raises(
        LayoutError,
        match=exact(f"route at (0, 0): color {color} is out of range: routable colors are 0..23"),
    ):
        Layout(1, 1).set_route(0, 0, color, rx="RAMP", tx="RAMP")


@pytest.mark.parametrize("color", [21, 22, 23])
def test_route_color_reserved(color):
    with pytest.raises(
        LayoutError,
        match=exact(
            f"route at (0, 0): color {color} is reserved by the runtime on wse2 (reserved: "
            "[21, 22, 23]): pick another color"
        ),
    ):
        Layout(1, 1).set_route(0, 0, color, rx="RAMP", tx="RAMP")
    with pytest.raises(LayoutError, match=f"color 'c': color {color} is reserved"):
        Layout(1, 1).color("c", color)


def test_reserved_colors_follow_the_spec():
    arch = custom_mesh(1, 1, **{"router.reserved_colors": [5]})
    lay = Layout(1, 1, arch=arch)
    lay.set_route(0, 0, 21, rx="RAMP", tx="RAMP")  # free on this machine
    with pytest.raises(LayoutError, match=re.escape("reserved: [5]")):
        lay.set_route(0, 0, 5, rx="RAMP", tx="RAMP")


def test_data_task_on_a_reserved_or_missing_color():
    def reserved(c):
        c.bind_data_task(lambda pe, v: None, 22)

    def beyond(c):
        c.bind_data_task(lambda pe, v: None, 24)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, reserved)
    with pytest.raises(
        LayoutError,
        match=exact(
            "data task '<lambda>' of 'test_data_task_on_a_reserved_or_missing_color.<locals>."
            "reserved': color 22 is reserved by the runtime on wse2 (reserved: [21, 22, 23]): pick "
            "another color"
        ),
    ):
        lay.compile()
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, beyond)
    with pytest.raises(
        LayoutError,
        match=re.escape("data task '<lambda>' has id 24, outside wse2's data task ids 0..23"),
    ):
        lay.compile()


def test_op_on_a_color_out_of_range():
    def body(pe, s):
        pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(30, 4))

    with pytest.raises(
        (OpError, TaskError), match=re.escape("PE(0, 0): fmovs src0 uses color 30, outside 0..23")
    ):
        engine(_one(body)).run()


# -- task ids ------------------------------------------------------------------------------------


def test_two_tasks_bound_to_one_id():
    def twice(c):
        def a(pe):
            pass

        def b(pe):
            pass

        c.bind_local_task(a, 5)
        c.bind_local_task(b, 5)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, twice)
    with pytest.raises(
        ProgramError,
        match=exact(
            "program 'test_two_tasks_bound_to_one_id.<locals>.twice': task id 5 is bound twice "
            "(local task 'a' and local task 'b'); give each task its own id"
        ),
    ):
        lay.compile()


def test_data_task_and_local_task_share_an_id():
    """On WSE-2 a data task's id is its color, in the same id space as local tasks."""

    def clash(c):
        def on_data(pe, v):
            pass

        def local(pe):
            pass

        c.bind_data_task(on_data, 7)
        c.bind_local_task(local, 7)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, clash)
    with pytest.raises(
        ProgramError,
        match=re.escape("task id 7 is bound twice (data task 'on_data' and local task 'local')"),
    ):
        lay.compile()


@pytest.mark.filterwarnings("ignore:.*which no control wavelet can start")
def test_task_ids_outside_their_ranges():
    def local31(c):
        c.bind_local_task(lambda pe: None, 31)

    def control31(c):
        c.bind_control_task(lambda pe: None, 31)

    def local32(c):
        c.bind_local_task(lambda pe: None, 32)

    for prog, kind in ((local31, "local"), (control31, "control")):
        lay = Layout(1, 1)
        lay.set_tile_code(0, 0, prog)
        with pytest.raises(
            (LayoutError, ProgramError),
            match=exact(
                f"program 'test_task_ids_outside_their_ranges.<locals>.{prog.__name__}': {kind} "
                "task '<lambda>' uses id 31, reserved by the runtime (host-launched functions): "
                "use another id"
            ),
        ):
            engine(lay)
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, local32)
    with pytest.raises(
        LayoutError,
        match=re.escape("local task '<lambda>' has id 32, outside wse2's local task ids 0..30"),
    ):
        lay.compile()


def test_activating_a_function_that_is_not_a_task():
    def helper(pe):
        pass

    def body(pe, s):
        pe.activate(helper)

    with pytest.raises(
        (ProgramError, TaskError),
        match=re.escape(
            "'helper' is not a bound task: bind it with bind_local_task/bind_data_task/"
            "bind_control_task first"
        ),
    ):
        engine(_one(body)).run()


# -- memory ----------------------------------------------------------------------------------


def test_memory_over_budget_lists_what_uses_it():
    def big(c):
        c.array("small", "f16", 10)
        c.array("weights", "f32", 11000)
        c.array("acts", "i32", 1000)

    lay = Layout(2, 1)
    lay.set_tile_code(0, 0, nop)
    lay.set_tile_code(1, 0, big)
    with pytest.raises(LayoutError) as ei:
        lay.compile()
    msg = str(ei.value)
    lines = msg.splitlines()
    assert lines[0] == (
        "program 'test_memory_over_budget_lists_what_uses_it.<locals>.big' on PE (1, 0) needs "
        "48020 B of memory but wse2 leaves 47104 B per PE (49152 B SRAM - 2048 B runtime "
        "reserve). What uses it:"
    )
    rows = [re.split(r"\s+", ln.strip()) for ln in lines[1:4]]
    assert rows == [  # largest first
        ["weights", "f32", "x", "11000", "44000", "B"],
        ["acts", "i32", "x", "1000", "4000", "B"],
        ["small", "f16", "x", "10", "20", "B"],
    ]
    assert lines[4] == "Shrink the arrays or spread the data over more PEs."


def test_memory_budget_exactly_full_is_fine():
    def full(c):
        c.array("a", "u32", 47104 // 4)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, full)
    lay.compile()


def test_bad_array_declarations():
    def zero(c):
        c.array("a", "f32", 0)

    def twice(c):
        c.array("a", "f32", 2)
        c.array("a", "f32", 2)

    def badtype(c):
        c.array("a", "f64", 2)

    for prog, exc, msg in (
        (zero, ProgramError, "array 'a' needs a positive integer length, got 0"),
        (twice, ProgramError, "array 'a' is declared twice"),
        # the program's own TypeError, not mistaken for a params mismatch
        (
            badtype,
            TypeError,
            "unknown element type 'f64': expected one of f16, f32, i16, u16, i32, u32",
        ),
    ):
        lay = Layout(1, 1)
        lay.set_tile_code(0, 0, prog)
        with pytest.raises(
            exc,
            match=exact(
                msg
                if exc is TypeError
                else f"program 'test_bad_array_declarations.<locals>.{prog.__name__}': {msg}"
            ),
        ):
            lay.compile()


def test_program_params_mismatch():
    def prog(c, *, n):
        c.array("a", "f32", n)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog, m=3)
    with pytest.raises(
        ProgramError,
        match=exact(
            "program 'test_program_params_mismatch.<locals>.prog' called with params ['m']: "
            "missing a required argument: 'n'"
        ),
    ):
        lay.compile()


# -- DSDs ------------------------------------------------------------------------------------


def test_dsd_out_of_bounds():
    def prog(c):
        a = c.array("a", "f32", 8)
        with pytest.raises(
            IndexError,
            match=exact(
                "mem1d_dsd over 'a' (length 8) reaches elements 0..9 (offset 0, length 10, stride "
                "1): keep every element inside 0..7"
            ),
        ):
            mem1d_dsd(a, 10)
        with pytest.raises(
            IndexError, match=re.escape("reaches elements -1..1 (offset 1, length 3, stride -1)")
        ):
            mem1d_dsd(a, 3, offset=1, stride=-1)
        with pytest.raises(
            IndexError, match=re.escape("reaches elements 6..10 (offset 6, length 3, stride 2)")
        ):
            mem1d_dsd(a, 3, offset=6, stride=2)
        d = mem1d_dsd(a, 4, offset=2)
        with pytest.raises(IndexError, match=re.escape("reaches elements 5..8")):
            increment_dsd_offset(d, 3)
        with pytest.raises(IndexError, match=re.escape("reaches elements 2..8")):
            set_dsd_length(d, 7)
        with pytest.raises(ValueError, match=re.escape("length -1 < 0")):
            mem1d_dsd(a, -1)
        with pytest.raises(
            TypeError, match=re.escape("mem1d_dsd needs an array declared with Code.array, got 'a'")
        ):
            mem1d_dsd("a")
        c.array("done", "u32", 1)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    lay.compile()


def test_dsd_out_of_bounds_inside_a_task():
    def body(pe, s):
        pe.fnegs(mem1d_dsd(s["a"], 5), mem1d_dsd(s["a"], 5))

    with pytest.raises(
        TaskError,
        match=exact(
            "task 'main' (id 5) on PE (0, 0) raised at cycle 1: IndexError: mem1d_dsd over 'a' "
            "(length 4) reaches elements 0..4 (offset 0, length 5, stride 1): keep every element "
            "inside 0..3"
        ),
    ):
        engine(_one(body)).run()


# -- element types and operands -------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "arrays", "args", "msg"),
    [
        (
            "fadds",
            (("a", "i32", 4),),
            ("a", "a", "a"),
            "fadds dst holds i32 elements but fadds takes f32",
        ),
        (
            "faddh",
            (("a", "f16", 4), ("b", "f32", 4)),
            ("a", "a", "b"),
            "faddh src1 holds f32 elements but faddh takes f16",
        ),
        (
            "add16",
            (("a", "i16", 4), ("h", "f16", 4)),
            ("a", "h", "a"),
            "add16 src0 holds f16 elements but add16 takes i16",
        ),
        (
            "mov32",
            (("a", "u32", 4), ("h", "u16", 4)),
            ("a", "h"),
            "mov32 src0 holds u16 elements but mov32 takes u32",
        ),
        (
            "fmovs",
            (("a", "f32", 4), ("i", "i32", 4)),
            ("a", "i"),
            "fmovs src0 holds i32 elements but fmovs takes f32",
        ),
        ("fh2s", (("a", "f32", 4),), ("a", "a"), "fh2s src0 holds f32 elements but fh2s takes f16"),
    ],
)
def test_op_on_the_wrong_element_type(op, arrays, args, msg):
    def body(pe, s):
        getattr(pe, op)(*(mem1d_dsd(s[n]) for n in args))

    with pytest.raises((OpError, TaskError), match=re.escape(f"PE(0, 0): {msg} (operand ")):
        engine(_one(body, arrays)).run()


def test_fabric_dsd_of_the_wrong_element_type():
    def body(pe, s):
        pe.fadds(mem1d_dsd(s["a"]), fabin_dsd(1, 4, "f16"), mem1d_dsd(s["a"]))

    with pytest.raises(
        (OpError, TaskError),
        match=re.escape(
            "fadds src0 holds f16 elements but fadds takes f32 (operand FabinDSD(color=1, "
            "extent=4, dtype=f16, input_queue=None)): declare the array or DSD with dtype='f32'"
        ),
    ):
        engine(_one(body)).run()


@pytest.mark.parametrize(
    ("call", "msg"),
    [
        (
            lambda pe, a: pe.fadds(mem1d_dsd(a), mem1d_dsd(a, 3), mem1d_dsd(a)),
            "fadds operands differ in length: src0 has 3, an earlier operand has 4",
        ),
        (
            lambda pe, a: pe.fadds(fabin_dsd(1, 4), mem1d_dsd(a), mem1d_dsd(a)),
            "fadds cannot write to a fabric-input DSD",
        ),
        (
            lambda pe, a: pe.fadds(mem1d_dsd(a), fabout_dsd(1, 4), mem1d_dsd(a)),
            "fadds cannot read from a fabric-output DSD",
        ),
        (
            lambda pe, a: pe.fadds(1.0, mem1d_dsd(a), mem1d_dsd(a)),
            "fadds destination must be a DSD, got 1.0",
        ),
        (
            lambda pe, a: pe.fadds(mem1d_dsd(a), "x", mem1d_dsd(a)),
            "fadds src0 must be a DSD or a scalar, got 'x'",
        ),
        (
            lambda pe, a: pe.fadds(mem1d_dsd(a), fabin_dsd(1, 4), fabin_dsd(1, 4)),
            "fadds reads color 1 twice in one op",
        ),
        (
            lambda pe, a: pe.fnegs(mem1d_dsd(a), mem1d_dsd(a), activate=MAIN),
            "fnegs: activate/unblock need async_=True",
        ),
        (
            lambda pe, a: pe.fnegs(mem1d_dsd(a), mem1d_dsd(a), asynch=True),
            "fnegs got unknown options ['asynch']: allowed are async_, activate, unblock, "
            "microthread",
        ),
        (
            lambda pe, a: pe.map(lambda v: v, mem1d_dsd(a), mem1d_dsd(a, 2)),
            "map operands differ in length (2 vs 4)",
        ),
    ],
)
def test_bad_operands(call, msg):
    def body(pe, s):
        call(pe, s["a"])

    with pytest.raises((OpError, TaskError), match=re.escape(f"PE(0, 0): {msg}")):
        engine(_one(body)).run()


# -- async collisions -------------------------------------------------------------------------


def test_two_async_ops_on_one_queue_collide():
    def body(pe, s):
        pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(1, 4, input_queue=2), async_=True)
        pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(3, 4, input_queue=2), async_=True)

    with pytest.raises(
        (OpError, TaskError),
        match=re.escape(
            "PE(0, 0): microthread 2 is still running an op issued at cycle 1: two async ops on "
            "one queue collide; wait for its completion (activate a task when it is done) or use "
            "another queue"
        ),
    ):
        engine(_one(body)).run()


def test_a_repeated_streaming_op_collides_on_its_queue_too():
    # The second op equals the first (by value): it takes the engine's known-op path, which
    # must refuse the busy queue with the same message.
    def body(pe, s):
        for _ in range(2):
            pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(1, 4, input_queue=2), async_=True)

    with pytest.raises(
        (OpError, TaskError),
        match=re.escape("PE(0, 0): microthread 2 is still running an op issued at cycle 1"),
    ):
        engine(_one(body)).run()


def test_explicit_microthread_collision_and_range():
    def body(pe, s):
        pe.fnegs(mem1d_dsd(s["a"]), mem1d_dsd(s["a"]), async_=True, microthread=4)
        pe.fnegs(mem1d_dsd(s["a"]), mem1d_dsd(s["a"]), async_=True, microthread=4)

    with pytest.raises(
        (OpError, TaskError),
        match=re.escape("PE(0, 0): microthread 4 is still running an op issued at cycle 1"),
    ):
        engine(_one(body)).run()

    def body2(pe, s):
        pe.fnegs(mem1d_dsd(s["a"]), mem1d_dsd(s["a"]), async_=True, microthread=8)

    with pytest.raises(
        (OpError, TaskError), match=re.escape("PE(0, 0): microthread/queue 8 outside 0..7")
    ):
        engine(_one(body2)).run()


def test_all_microthreads_busy():
    def body(pe, s):
        for k in range(9):
            pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(k + 1, 4), async_=True)

    with pytest.raises(
        (OpError, TaskError),
        match=re.escape(
            "PE(0, 0): all 8 microthreads are busy: wait for an async op to finish before issuing "
            "another"
        ),
    ):
        engine(_one(body)).run()


def test_queue_free_again_after_completion():
    """Once an async op completes, its queue can take the next one: the sender on queue 3
    unblocks a task that reuses queue 3 for the receive."""

    def unblocker(c):
        a = c.array("a", "f32", 4, init=[1, 2, 3, 4])
        b = c.array("b", "f32", 4)

        def main(pe):
            pe.fmovs(fabout_dsd(1, 4), mem1d_dsd(a), async_=True, microthread=3, unblock=again)

        def again(pe):
            pe.fnegs(mem1d_dsd(b), fabin_dsd(1, 4, input_queue=3), async_=True)

        c.bind_local_task(main, MAIN)
        c.bind_local_task(again, 6)
        c.activate(MAIN)
        c.activate(6)
        c.block(6)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, unblocker)
    lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP")
    eng, _ = run(lay)
    np.testing.assert_array_equal(eng.read_symbol(0, 0, "b"), [-1, -2, -3, -4])


# -- tasks that raise ---------------------------------------------------------------------------


def test_task_that_raises_names_pe_task_and_cycle():
    def prog(c):
        c.array("a", "f32", 4)

        def boom(pe):
            pe.spend(6)
            raise ValueError("boom")

        c.bind_local_task(boom, 7)
        c.activate(7)

    lay = Layout(2, 2)
    lay.set_region_code(0, 0, 2, 2, nop)
    lay.set_tile_code(1, 1, prog)
    with pytest.raises(
        TaskError,
        match=exact("task 'boom' (id 7) on PE (1, 1) raised at cycle 7: ValueError: boom"),
    ) as ei:
        engine(lay).run()
    assert isinstance(ei.value.__cause__, ValueError)


def test_data_task_that_raises():
    def prog(c):
        def on_data(pe, v):
            if v == 3:
                raise RuntimeError(f"bad value {v}")

        c.bind_data_task(on_data, 2, dtype="i32")

    def sender(pe, s):
        pe.mov32(fabout_dsd(2, 4, "i32"), mem1d_dsd(s["v"]))

    lay = Layout(2, 1)
    lay.set_tile_code(
        0, 0, body_prog, arrays=(("v", "i32", np.arange(4, dtype=np.int32)),), body=sender
    )
    lay.set_tile_code(1, 0, prog)
    lay.set_route(0, 0, 2, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 2, rx="WEST", tx="RAMP")
    with pytest.raises(
        TaskError,
        match=r"^task 'on_data' \(id 2\) on PE \(1, 0\) raised at "
        r"cycle \d+: RuntimeError: bad value 3$",
    ):
        engine(lay).run()


def test_task_that_raises_after_waiting_on_the_fabric():
    """The task was suspended in a synchronous receive (its frame parked) and raises after it
    resumes: still a TaskError, stamped with the cycle it resumed at: B + P + 2*T_R cycles
    after the sender started at cycle 1 (the row-broadcast model with P = 2, B = 4)."""

    def sender(pe, s):
        pe.fmovs(fabout_dsd(1, 4), mem1d_dsd(s["a"]))

    def receiver(pe, s):
        pe.fmovs(mem1d_dsd(s["a"]), fabin_dsd(1, 4))
        raise ValueError(f"got {pe[s['a']].tolist()}")

    lay = Layout(2, 1)
    arrays = (("a", "f32", np.arange(4, dtype=np.float32)),)
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=sender)
    lay.set_tile_code(1, 0, body_prog, arrays=arrays, body=receiver)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    with pytest.raises(
        TaskError,
        match=exact(
            "task 'main' (id 5) on PE (1, 0) raised at cycle 11: ValueError: "
            "got [0.0, 1.0, 2.0, 3.0]"
        ),
    ):
        engine(lay).run()


# -- routes at compile time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "tx", "port"),
    [
        (1, 0, "EAST", "EAST"),
        (0, 0, ["RAMP", "NORTH"], "NORTH"),
        (0, 1, "SOUTH", "SOUTH"),
        (0, 0, "WEST", "WEST"),
    ],
)
def test_route_off_the_rectangle_at_compile(x, y, tx, port):
    lay = Layout(2, 2)
    lay.set_region_code(0, 0, 2, 2, nop)
    lay.set_route(x, y, 3, rx="RAMP", tx=tx)
    with pytest.raises(
        LayoutError,
        match=exact(
            f"route of color 3 at PE ({x}, {y}) (position 0) sends {port}, off the 2x2 rectangle: "
            f"remove {port} from its tx or grow the rectangle"
        ),
    ):
        lay.compile()


def test_bad_ports_and_switch_positions():
    lay = Layout(1, 1)
    with pytest.raises(
        LayoutError,
        match=exact("unknown tx port 'UP': expected one of NORTH, SOUTH, EAST, WEST, RAMP"),
    ):
        lay.set_route(0, 0, 1, rx="RAMP", tx="UP")
    with pytest.raises(
        LayoutError,
        match=exact("unknown rx port 7: expected one of NORTH, SOUTH, EAST, WEST, RAMP"),
    ):
        lay.set_route(0, 0, 1, rx=7, tx="RAMP")
    with pytest.raises(
        LayoutError, match=exact("route of color 1 at (0, 0): switch position 4 out of range 0..3")
    ):
        lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP", position=4)
    lay.set_route(0, 0, 1, rx="ramp", tx=["Ramp"])  # names are case-insensitive
    assert lay.rx[0, 0, 1, 0] == lay.tx[0, 0, 1, 0] == 1 << 4


# -- the cycle counter and prints -----------------------------------------------------------


def _clock_prog(c, *, k):
    t = c.array("t", "u32", 4)

    def a(pe):
        pe[t][0] = pe.timestamp()
        pe.spend(k)
        pe[t][1] = pe.timestamp()
        pe.print("spent", k, "at", pe.x, pe.y)
        pe.activate(b)

    def b(pe):
        pe[t][2] = pe.timestamp()
        pe.print("b")

    c.bind_local_task(a, MAIN)
    c.bind_local_task(b, 6)
    c.activate(MAIN)


@pytest.mark.parametrize("startup", [1, 5])
def test_timestamps_and_prints(startup):
    """A task picked at cycle t starts at t + task_startup_cycles; spend(k) adds exactly k;
    the next task is picked when the CE is free. Prints carry the cycle they were made at."""
    k = 40
    arch = custom_mesh(2, 1, **{"timing.task_startup_cycles": startup})
    lay = Layout(2, 1, arch=arch)
    lay.set_region_code(0, 0, 2, 1, _clock_prog, k=k)
    eng, res = run(lay)
    t = eng.read_symbol(1, 0, "t").astype(np.int64)
    assert t[0] == startup
    assert t[1] == startup + k
    assert t[2] == t[1] + startup
    recs = sorted(eng.prints, key=lambda r: (r.x, r.cycle))
    assert recs == [
        PrintRecord(startup + k, 0, 0, f"spent {k} at 0 0"),
        PrintRecord(2 * startup + k, 0, 0, "b"),
        PrintRecord(startup + k, 1, 0, f"spent {k} at 1 0"),
        PrintRecord(2 * startup + k, 1, 0, "b"),
    ]


def test_run_ends_after_the_last_task():
    def body(pe, s):
        pe.spend(1000)  # or a long memory-only vector op
        pe[s["t"]][0] = pe.timestamp()

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, body_prog, arrays=(("t", "u32", 1),), body=body)
    eng, res = run(lay)
    assert eng.read_symbol(0, 0, "t")[0] == 1001
    assert res.cycle >= 1001  # res.cycle is 2


def test_timestamp_is_48_bits():
    def prog(c):
        t = c.array("t", "u32", 4)

        def main(pe):
            t0 = pe.timestamp()
            pe.spend((1 << 48) - t0 - 1)
            t1 = pe.timestamp()  # the last value before the wrap
            pe.spend(8)
            t2 = pe.timestamp()
            pe[t][:] = (t0, t1 >> 32, t1 & 0xFFFFFFFF, t2)

        c.bind_local_task(main, MAIN)
        c.activate(MAIN)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    eng, _ = run(lay)
    t0, hi, lo, t2 = (int(v) for v in eng.read_symbol(0, 0, "t"))
    assert t0 == 1
    assert (hi << 32 | lo) == (1 << 48) - 1
    assert t2 == 7  # wrapped: (2**48 - 1 + 8) mod 2**48


def test_timestamp_width_follows_the_spec():
    arch = custom_mesh(1, 1, **{"timing.cycle_counter_bits": 8})
    lay = Layout(1, 1, arch=arch)
    lay.set_tile_code(0, 0, _clock_prog, k=300)
    eng, _ = run(lay)
    t = eng.read_symbol(0, 0, "t")
    assert list(t[:3]) == [1, 301 % 256, 302 % 256]


def test_long_running_task_is_not_a_stall():
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, _clock_prog, k=20_000)  # > timing.watchdog_cycles (10,000)
    eng, _ = run(lay)
    assert eng.read_symbol(0, 0, "t")[2] == 20_002


def test_long_memory_op_then_next_task_below_the_watchdog():
    """The same shape below the watchdog runs (control for the test above)."""
    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, _clock_prog, k=9_000)
    eng, _ = run(lay)
    assert eng.read_symbol(0, 0, "t")[2] == 9_002


def test_stall_error_is_raised_not_hung():
    """The watchdog is a spec parameter: a deadlock is reported after that many idle cycles."""
    arch = custom_mesh(2, 1, **{"timing.watchdog_cycles": 500})
    lay = Layout(2, 1, arch=arch)

    def src(pe, s):
        pe.fmovs(fabout_dsd(1, 4), mem1d_dsd(s["a"]))

    lay.set_tile_code(0, 0, body_prog, arrays=(("a", "f32", 4),), body=src)
    lay.set_tile_code(1, 0, nop)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")  # (1, 0) has no route for color 1
    eng = engine(lay)
    with pytest.raises(StallError) as ei:
        eng.run()
    rep = ei.value.report
    assert rep.cycle - rep.last_progress == 500
