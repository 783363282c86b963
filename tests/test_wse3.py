"""WSE-3 rules, checked when a layout compiles: data tasks bind to declared input queues, local
task ids 8..30, queues bound to one color, explicit microthreads for async fabric ops, one
fabric input per op. Each broken rule is named with the PE (x, y), the program and the fix; a
WSE-2 program is refused on wse3 and runs after the documented fix."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from waferscale.fabric import Engine, OpError
from waferscale.program import Layout, LayoutError, fabin_dsd, fabout_dsd, mem1d_dsd

C = 4


def exact(msg: str) -> str:
    return "^" + re.escape(msg) + "$"


def line_of(fn, marker: str) -> str:
    """``file:line`` of the line of ``fn``'s source that holds ``marker``."""
    lines, first = inspect.getsourcelines(fn)
    for k, text in enumerate(lines):
        if marker in text:
            return f"test_wse3.py:{first + k}"
    raise AssertionError(marker)


def empty(c):
    pass


def compile_on(arch, prog, name=None, at=(1, 0)):
    lay = Layout(2, 1, arch=arch, name=name or prog.__name__)
    lay.set_tile_code(0, 0, empty)
    lay.set_tile_code(*at, prog)
    return lay.compile()


def recv(pe, v):
    pass


# -- data tasks bind to input queues -------------------------------------------------------------


def direct(c):
    c.bind_data_task(recv, C)


def test_data_task_bound_directly_to_a_color():
    with pytest.raises(LayoutError, match=exact(
        "layout 'direct' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'direct': WSE-3 rule 'data tasks bind to input queues': data task "
        "'recv' is bound directly to color 4 (task id 4) and no input queue is declared for it. "
        "Fix: declare an input queue for the color and bind the task to it: "
        "c.bind_data_task_to_queue(recv, c.input_queue(q, 4)) with q a free input queue in 0..7."
    )):
        compile_on("wse3", direct)


def test_the_same_program_is_fine_on_wse2():
    compile_on("wse2", direct)


def undeclared(c):
    c.bind_data_task_to_queue(recv, 2)


def test_data_task_bound_to_an_undeclared_queue():
    with pytest.raises(LayoutError, match=exact(
        "layout 'undeclared' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'undeclared': WSE-3 rule 'data tasks bind to input queues': data "
        "task 'recv' is bound to input queue 2, which is not declared. Fix: declare it with its "
        "color: c.input_queue(2, color)."
    )):
        compile_on("wse3", undeclared)


def wrong_queue(c):
    c.input_queue(1, 5)
    c.bind_data_task(recv, C, task_id=1)


def test_data_task_bound_to_the_queue_of_another_color():
    with pytest.raises(LayoutError, match=exact(
        "layout 'wrong_queue' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'wrong_queue': WSE-3 rule 'data tasks bind to input queues': data "
        "task 'recv' is bound to color 4 with task id 1, but input queue 1 is declared for color "
        "5. Fix: bind the task to the queue of its color: c.bind_data_task_to_queue(recv, 1) or "
        "declare c.input_queue(1, 4)."
    )):
        compile_on("wse3", wrong_queue)


def test_queue_bound_data_tasks_are_refused_on_wse2():
    with pytest.raises(LayoutError, match=exact(
        "layout 'undeclared' breaks 1 rule of wse2:\n"
        "  - PE (1, 0) program 'undeclared': WSE-2 rule 'data tasks bind to colors': data task "
        "'recv' is bound to input queue 2. Fix: bind it to its color: c.bind_data_task(recv, "
        "color) (input queues are a WSE-3 feature)."
    )):
        compile_on("wse2", undeclared)


# -- queues --------------------------------------------------------------------------------------


def two_colors(c):
    c.input_queue(0, 4)
    c.input_queue(0, 5)
    c.output_queue(3, 6)
    c.output_queue(3, 7)


def test_a_queue_is_bound_to_one_color():
    with pytest.raises(LayoutError, match=exact(
        "layout 'two_colors' breaks 2 rules of wse3:\n"
        "  - PE (1, 0) program 'two_colors': WSE-3 rule 'an input queue is bound to one color': "
        "input queue 0 is declared for colors 4, 5. Fix: give each color its own input queue "
        "(c.input_queue(q, color) with a different q per color).\n"
        "  - PE (1, 0) program 'two_colors': WSE-3 rule 'an output queue is bound to one color': "
        "output queue 3 is declared for colors 6, 7. Fix: give each color its own output queue "
        "(c.output_queue(q, color) with a different q per color)."
    )):
        compile_on("wse3", two_colors)


OUT_A = fabout_dsd(6, 4, "u32", output_queue=2)
OUT_B = fabout_dsd(7, 4, "u32", output_queue=2)


def dsds_share_a_queue(c):
    a = c.array("a", "u32", 4)

    def main(pe):
        pe.mov32(OUT_A, mem1d_dsd(a))
        pe.mov32(OUT_B, mem1d_dsd(a))

    c.bind_local_task(main, 10)


def test_fabout_dsds_of_two_colors_on_one_output_queue():
    with pytest.raises(LayoutError, match=exact(
        "layout 'dsds_share_a_queue' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'dsds_share_a_queue': WSE-3 rule 'an output queue is bound to one "
        "color': fabout DSDs use output queue 2 with color 6 in 'main', color 7 in 'main'. Fix: "
        "give each color its own output queue."
    )):
        compile_on("wse3", dsds_share_a_queue)


def dsd_against_declaration(c):
    q = c.output_queue(1, 6)

    def main(pe):
        pe.mov32(fabout_dsd(7, 1, "u32", output_queue=q), 5)

    c.bind_local_task(main, 10)


def test_a_fabout_dsd_on_the_queue_of_another_color():
    with pytest.raises(LayoutError, match=re.escape(
        "WSE-3 rule 'an output queue is bound to one color': fabout DSDs use output queue 1 "
        "(declared for color 6) with color 7 in 'main'."
    )):
        compile_on("wse3", dsd_against_declaration)


def queue_ids(c):
    c.input_queue(8, 4)
    c.output_queue(9, 5)


def test_queue_ids_out_of_range():
    with pytest.raises(LayoutError, match=exact(
        "layout 'queue_ids' breaks 2 rules of wse3:\n"
        "  - PE (1, 0) program 'queue_ids': WSE-3 rule 'input queue ids 0..7': input queue 8 is "
        "declared (for color 4). Fix: use an input queue id in 0..7.\n"
        "  - PE (1, 0) program 'queue_ids': WSE-3 rule 'output queue ids 0..7': output queue 9 is "
        "declared (for color 5). Fix: use an output queue id in 0..7."
    )):
        compile_on("wse3", queue_ids)


def reserved_queue_color(c):
    c.input_queue(0, 22)


def test_queue_on_a_reserved_color():
    with pytest.raises(LayoutError, match=exact(
        "input queue 0 of 'reserved_queue_color': color 22 is reserved by the runtime on wse3 "
        "(reserved: [21, 22, 23]): pick another color"
    )):
        compile_on("wse3", reserved_queue_color)


# -- ops -----------------------------------------------------------------------------------------


def two_inputs(c):
    a = c.array("a", "u16", 4)

    def main(pe):
        pe.add16(mem1d_dsd(a), fabin_dsd(4, 4, "u16"), fabin_dsd(5, 4, "u16"))  # op

    c.bind_local_task(main, 10)


def test_one_fabric_input_per_op():
    where = line_of(two_inputs, "# op")
    with pytest.raises(LayoutError, match=exact(
        "layout 'two_inputs' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'two_inputs': WSE-3 rule 'one fabric input per op': pe.add16 in "
        f"'main' ({where}) reads 2 fabric inputs (colors 4, 5). Fix: read one stream into "
        "memory (or a FIFO) first, then combine it with the other."
    )):
        compile_on("wse3", two_inputs)


def test_two_fabric_inputs_are_fine_on_wse2():
    compile_on("wse2", two_inputs)


IN4 = fabin_dsd(4, 4, "u32")


def no_microthread(c):
    a = c.array("a", "u32", 4)

    def main(pe):
        pe.mov32(mem1d_dsd(a), IN4, async_=True)  # op
        pe.mov32(fabout_dsd(5, 4, "u32"), mem1d_dsd(a), async_=True, microthread=3)
        pe.mov32(fabout_dsd(5, 4, "u32"), mem1d_dsd(a), async_=False)
        pe.mov32(fabout_dsd(5, 4, "u32"), mem1d_dsd(a))

    c.bind_local_task(main, 10)


def test_async_fabric_ops_name_their_microthread():
    where = line_of(no_microthread, "# op")
    with pytest.raises(LayoutError, match=exact(
        "layout 'no_microthread' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'no_microthread': WSE-3 rule 'explicit microthread ids for async "
        f"fabric ops': async pe.mov32 in 'main' ({where}) names no microthread. Fix: add "
        "microthread=k with k in 0..7 (one op per microthread at a time)."
    )):
        compile_on("wse3", no_microthread)


def microthread_nine(c):
    def main(pe):
        pe.mov32(fabout_dsd(5, 1, "u32"), 1, async_=True, microthread=9)  # op

    c.bind_local_task(main, 10)


@pytest.mark.parametrize(("arch", "gen"), [("wse3", "WSE-3"), ("wse2", "WSE-2")])
def test_microthread_ids_in_range(arch, gen):
    where = line_of(microthread_nine, "# op")
    with pytest.raises(LayoutError, match=re.escape(
        f"{gen} rule 'microthread ids 0..7': pe.mov32 in 'main' ({where}) names microthread 9. "
        "Fix: use a microthread id in 0..7."
    )):
        compile_on(arch, microthread_nine)


def dynamic_dsds(c):
    """DSDs built by means the static check cannot follow are not refused at compile time."""
    a = c.array("a", "u16", 4)
    make = {"in": fabin_dsd}

    def main(pe):
        pe.add16(mem1d_dsd(a), make["in"](4, 4, "u16"), make["in"](5, 4, "u16"))

    c.bind_local_task(main, 10)


def test_the_static_op_check_is_best_effort():
    compile_on("wse3", dynamic_dsds)


def test_the_microthread_option_runs_ops_concurrently_and_collides_on_reuse():
    from test_router_features import example

    example("microthreads").main()
    with pytest.raises(OpError, match="microthread 1 is still running an op"):
        example("microthreads").main(same_microthread=True)


# -- local task ids ------------------------------------------------------------------------------


def low_local(c):
    c.bind_local_task(lambda pe: None, 3)


def test_local_task_ids_start_at_8():
    with pytest.raises(LayoutError, match=exact(
        "layout 'low_local' breaks 1 rule of wse3:\n"
        "  - PE (1, 0) program 'low_local': WSE-3 rule 'local task ids 8..30': local task "
        "'<lambda>' has id 3 (ids 0..7 are the input queues' data tasks). Fix: renumber it into "
        "8..30."
    )):
        compile_on("wse3", low_local)


# -- accepted programs, run on wse3 ------------------------------------------------------------


def sender(c, *, n=6):
    buf = c.array("buf", "u32", n, init=np.arange(1, n + 1, dtype=np.uint32))
    q = c.output_queue(0, C)

    def main(pe):
        pe.mov32(fabout_dsd(C, n, "u32", output_queue=q), mem1d_dsd(buf), async_=True,
                 microthread=q)

    c.bind_local_task(main, 10)
    c.activate(10)


def logger(c, *, style, n=6):
    log = c.array("log", "u32", n, export=True)
    k = c.array("k", "u32", 1, export=True)

    def on_data(pe, v):
        i = int(pe[k][0])
        pe[log][i] = v
        pe[k][0] = i + 1

    if style == "task_id":
        c.input_queue(3, C)
        c.bind_data_task(on_data, C, task_id=3)
    elif style == "queue_first":
        c.bind_data_task_to_queue(on_data, c.input_queue(5, C))
    else:  # bind first, declare the queue afterwards: the color is filled in then
        c.bind_data_task_to_queue(on_data, 6)
        c.input_queue(6, C)


@pytest.mark.parametrize("style", ["task_id", "queue_first", "bind_first"])
def test_queue_bound_data_tasks_run_on_wse3(style):
    lay = Layout(2, 1, arch="wse3")
    lay.set_tile_code(0, 0, sender)
    lay.set_tile_code(1, 0, logger, style=style)
    lay.set_route(0, 0, C, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, C, rx="WEST", tx="RAMP")
    eng = Engine(lay.compile())
    eng.run()
    assert eng.read_symbol(1, 0, "log").tolist() == [1, 2, 3, 4, 5, 6]
    tasks = {t["id"]: t for t in lay.compile().manifest()["programs"][1]["tasks"]}
    (tid,) = tasks
    assert tasks[tid]["color"] == C and tasks[tid]["kind"] == "data"


def test_wse2_program_rejected_on_wse3_and_accepted_after_the_fix():
    from test_router_features import example

    mod = example("wse3_migration")
    message = mod.main()
    assert message.splitlines() == [
        "layout 'migration' breaks 4 rules of wse3:",
        "  - PE (0, 0) program 'producer_wse2': WSE-3 rule 'local task ids 8..30': local task "
        "'main' has id 5 (ids 0..7 are the input queues' data tasks). Fix: renumber it into "
        "8..30.",
        "  - PE (0, 0) program 'producer_wse2': WSE-3 rule 'local task ids 8..30': local task "
        "'done' has id 6 (ids 0..7 are the input queues' data tasks). Fix: renumber it into "
        "8..30.",
        "  - PE (0, 0) program 'producer_wse2': WSE-3 rule 'explicit microthread ids for async "
        "fabric ops': async pe.mov32 in 'main' (router_wse3_migration.py:"
        f"{_line(mod.producer_wse2, 'async_=True')}) names no microthread. Fix: add "
        "microthread=k with k in 0..7 (one op per microthread at a time).",
        "  - PE (1, 0) program 'consumer_wse2': WSE-3 rule 'data tasks bind to input queues': "
        "data task 'recv' is bound directly to color 4 (task id 4) and no input queue is "
        "declared for it. Fix: declare an input queue for the color and bind the task to it: "
        "c.bind_data_task_to_queue(recv, c.input_queue(q, 4)) with q a free input queue in "
        "0..7.",
    ]


def _line(fn, marker):
    lines, first = inspect.getsourcelines(fn)
    return next(first + k for k, t in enumerate(lines) if marker in t)
