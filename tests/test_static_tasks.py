"""Static tasks (``bind_local_task(static=True)``): recorded once per program when the first
run starts, replayed by the compiled cycle loop. A static task must do exactly what the same
task does as plain Python: same cycles, memory, statistics and profile, whatever its builtins."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waferscale.demos._common import load_region, read_region, sdk_cycles
from waferscale.demos.collectives import chain_reduce_2d
from waferscale.fabric import Engine, OpError, TaskError
from waferscale.fabric._script import A_MEM, A_MEM_RUN, ACTION_WORDS, SCRIPT_HEADER
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd, mem_scalar


def _outcome(eng: Engine) -> dict:
    s = eng.state
    return {
        "cycle": eng.now,
        "memory": s.mem32.copy(),
        # all but the loop's visit counter (the stream fast path takes static chains in windows)
        "stats": {k: v for k, v in eng.stats().items() if k != "cycles_stepped"},
        "prof": s.prof.copy(),
        "ce_busy": s.ce_busy.copy(),
        "link_out": s.link_out.copy(),
    }


def _same(a: dict, b: dict) -> None:
    assert a["cycle"] == b["cycle"]
    assert a["stats"] == b["stats"]
    for key in ("memory", "prof", "ce_busy", "link_out"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _run_layout(build, static: bool) -> tuple[Engine, dict]:
    eng = Engine(build(static).compile())
    eng.run()
    return eng, _outcome(eng)


@pytest.mark.parametrize("size", [(6, 1, 8), (5, 4, 12), (12, 9, 3)])
def test_a_static_chain_reduce_equals_the_python_one(size):
    W, H, B = size
    outcomes = []
    for static in (False, True):
        wl = chain_reduce_2d(W, H, B, static=static)
        eng = Engine(wl.compiled)
        wl.load(eng)
        eng.run()
        assert wl.check(eng).ok
        outcomes.append(_outcome(eng))
    _same(*outcomes)
    assert sdk_cycles(eng)[0] == chain_reduce_2d(W, H, B).model_cycles


def _pipeline(static: bool, *, n: int = 6, scalars=(1.5, -2.0), spend: int = 3) -> Layout:
    """Three PEs in a row. Each runs a static 'main' that stamps the time (u32 and the SDK's
    three u16 words), does memory-only ops, spends cycles, sends its vector east (async) and
    activates 'wait', which blocks and unblocks 'later'; PEs 1 and 2 also receive from the west
    into a data task... no: into an async fadds started by 'main', whose completion activates
    'later' (static too)."""

    def prog(c, *, cin, cout):
        a = c.array("a", "f32", n, export=True, init=1.0)
        acc = c.array("acc", "f32", n, export=True, init=0.5)
        ts = c.array("ts", "u32", 3, export=True)
        t16 = c.array("t16", "u16", 3, export=True)

        def main(pe):
            pe.store_timestamp(ts, 0)
            pe.store_timestamp(t16, 0)
            for k, s in enumerate(scalars):
                pe.fmacs(mem1d_dsd(acc), mem1d_dsd(acc), mem1d_dsd(a), s)
                pe.spend(spend + k)
            if cout is not None:
                pe.fmovs(fabout_dsd(cout, n), mem1d_dsd(acc), async_=True)
            if cin is not None:
                pe.fadds(mem1d_dsd(acc), mem1d_dsd(acc), fabin_dsd(cin, n), async_=True,
                         activate=later)  # fmt: skip
            pe.block(later)
            pe.activate(wait)

        def wait(pe):
            pe.store_timestamp(ts, 1)
            pe.unblock(later)
            if cin is None:
                pe.activate(later)

        def later(pe):
            pe.store_timestamp(ts, 2)

        c.bind_local_task(main, 8, static=static)
        c.bind_local_task(wait, 9, static=static)
        c.bind_local_task(later, 10, static=static)
        c.activate(8)

    lay = Layout(3, 1)
    for x in range(3):
        cin = (x - 1) % 2 if x > 0 else None
        cout = x % 2 if x < 2 else None
        lay.set_tile_code(x, 0, prog, cin=cin, cout=cout)
        if cout is not None:
            lay.set_route(x, 0, cout, rx="RAMP", tx="EAST")
        if cin is not None:
            lay.set_route(x, 0, cin, rx="WEST", tx="RAMP")
    return lay


def test_every_recordable_builtin_replays_as_python_runs_it():
    eng_py, py = _run_layout(_pipeline, False)
    eng_st, st_ = _run_layout(_pipeline, True)
    _same(py, st_)
    ts = eng_st.read_symbol(1, 0, "ts")
    assert 0 < ts[0] < ts[1] < ts[2]  # main, wait, later, in that order
    t16 = eng_st.read_symbol(1, 0, "t16").astype(np.int64)
    assert t16[0] + (t16[1] << 16) + (t16[2] << 32) == ts[0]


@settings(deadline=None, max_examples=12)
@given(
    n=st.integers(1, 40),
    scalars=st.lists(st.floats(-4, 4, width=32), min_size=0, max_size=3),
    spend=st.integers(0, 20),
)
def test_static_replay_matches_python_for_random_programs(n, scalars, spend):
    def build(static):
        return _pipeline(static, n=n, scalars=tuple(scalars), spend=spend)

    _same(_run_layout(build, False)[1], _run_layout(build, True)[1])


def test_replayed_tasks_do_not_call_python():
    calls = []

    def prog(c):
        a = c.array("a", "f32", 4, export=True, init=2.0)

        def main(pe):
            calls.append(1)
            pe.fadds(mem1d_dsd(a), mem1d_dsd(a), mem1d_dsd(a))

        c.bind_local_task(main, 8, static=True)
        c.activate(8)

    lay = Layout(10, 10)
    lay.set_region_code(0, 0, 10, 10, prog)
    eng = Engine(lay.compile())
    eng.run()
    assert len(calls) == 2  # the two records, then no Python at all
    assert eng.stats()["tasks"] == 100
    assert (eng.state.mem32.view(np.float32).reshape(100, 4) == 4.0).all()


def _single(body, *, static=True, W=2):
    def prog(c):
        a = c.array("a", "f32", 4, export=True)
        c.bind_local_task(lambda pe: body(pe, a), 8, static=static)
        c.activate(8)

    lay = Layout(W, 1)
    lay.set_region_code(0, 0, W, 1, prog)
    return Engine(lay.compile())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda pe, a: pe[a], r"reads memory \(pe\['a'\]\)"),
        (lambda pe, a: pe.timestamp(), r"uses pe\.timestamp"),
        (lambda pe, a: pe.x, r"uses pe\.x"),
        (lambda pe, a: pe.print("hi"), r"uses pe\.print"),
        (lambda pe, a: pe.map(lambda v: v, mem1d_dsd(a)), r"uses pe\.map"),
        (lambda pe, a: pe.fmovs(mem1d_dsd(a), fabin_dsd(1, 4)), "synchronous streaming op"),
        (
            lambda pe, a: pe.fmovs(mem1d_dsd(a), mem1d_dsd(a), async_=True),
            "asynchronous memory-only op",
        ),
    ],
)
def test_a_static_task_that_is_not_static_is_refused_by_name(body, message):
    eng = _single(body)
    with pytest.raises((OpError, TaskError), match=message) as info:
        eng.run()
    assert "static" in str(info.value) and "PE(0, 0)" in str(info.value)


def test_a_static_task_that_changes_between_runs_is_refused():
    seen = []

    def body(pe, a):
        seen.append(1)
        pe.fmacs(mem1d_dsd(a), mem1d_dsd(a), mem1d_dsd(a), float(len(seen)))

    with pytest.raises(TaskError, match=r"did not do the same on PE\(0, 0\) and PE\(1, 0\)"):
        _single(body).run()


def test_traced_runs_take_the_python_path_with_the_same_result():
    outcomes = []
    for traced in (False, True):
        eng = Engine(_pipeline(True).compile())
        if traced:
            eng.start_trace()
        eng.run()
        outcomes.append(_outcome(eng))
    _same(*outcomes)


def test_replays_that_find_the_op_pool_short_fall_back_to_python():
    # 1,600 PEs start a static task with an async streaming op in the same cycle; shrink the
    # pool after recording so that most replays find it short and run as Python instead.
    wl_py = chain_reduce_2d(40, 40, 2, static=False)
    wl_st = chain_reduce_2d(40, 40, 2, static=True)
    eng_py = Engine(wl_py.compiled)
    wl_py.load(eng_py)
    eng_py.run()
    eng = Engine(wl_st.compiled)
    wl_st.load(eng)
    eng.prepare()
    s = eng.state
    s.op_free_n[0] = 100  # pretend the rest is in use: replays must not take rows they lack
    eng.run()
    assert wl_st.check(eng).ok
    assert eng.now == eng_py.now
    np.testing.assert_array_equal(
        eng.state.mem32.view(np.float32), eng_py.state.mem32.view(np.float32)
    )


def _scaled(static: bool, scalars: np.ndarray) -> tuple[Engine, dict]:
    """Four PEs of one program, each with its own scalar in memory: y += a * s[0], twice."""

    def prog(c):
        a = c.array("a", "f32", 5, export=True, init=1.25)
        y = c.array("y", "f32", 5, export=True, init=0.5)
        s = c.array("s", "f32", 1, export=True)

        def main(pe):
            for _ in range(2):
                pe.fmacs(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(a), mem_scalar(s, 0))

        c.bind_local_task(main, 8, static=static)
        c.activate(8)

    lay = Layout(4, 1)
    lay.set_region_code(0, 0, 4, 1, prog)
    eng = Engine(lay.compile())
    for x in range(4):
        eng.view(x, eng.symbol(x, "s"))[:] = scalars[x]
    eng.run()
    return eng, _outcome(eng)


def test_a_scalar_read_from_memory_differs_per_pe_and_replays_exactly():
    scalars = np.array([1.5, -2.0, 3.0e-3, 7.0], np.float32)
    eng, static = _scaled(True, scalars)
    _same(_scaled(False, scalars)[1], static)
    for x in range(4):
        y = np.float32(0.5)
        for _ in range(2):
            y = np.float32(y + np.float32(1.25) * scalars[x])
        assert eng.read_symbol(x, 0, "y").tolist() == [float(y)] * 5


def test_mem_scalar_is_checked():
    def prog(c):
        h = c.array("h", "f16", 2)
        a = c.array("a", "f32", 2)

        def main(pe):
            pe.fmacs(mem1d_dsd(a), mem1d_dsd(a), mem1d_dsd(a), mem_scalar(h, 1))

        c.bind_local_task(main, 8)
        c.activate(8)
        with pytest.raises(IndexError, match=r"element 2 of 'h' is outside 0\.\.1"):
            mem_scalar(h, 2)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    with pytest.raises(OpError, match=r"a scalar from 'h' \(f16\) where the op takes f32"):
        Engine(lay.compile()).run()
    with pytest.raises(TypeError, match="mem_scalar needs an array"):
        mem_scalar("h", 0)


def test_a_static_streaming_op_cannot_take_its_scalar_from_memory():
    def body(pe, a):
        pe.fmacs(fabout_dsd(1, 4), mem1d_dsd(a), mem1d_dsd(a), mem_scalar(a, 0), async_=True)

    with pytest.raises(OpError, match="streaming op's scalar read from memory"):
        _single(body).run()


def test_an_error_in_a_static_task_is_reported_as_raised_while_recording():
    def body(pe, a):
        raise ValueError("no such thing")

    with pytest.raises(
        TaskError,
        match=r"static task '<lambda>' \(id 8\) on PE\(0, 0\) raised while the engine recorded "
        r"it .*ValueError: no such thing",
    ):
        _single(body).run()


def test_a_breakpoint_stops_before_a_static_task_as_before_a_python_one():
    runs = []
    for static in (False, True):
        eng = Engine(_pipeline(static).compile())
        eng.break_on_task("later", pe=(1, 0))
        assert eng.run().reason == "break"
        stopped_at = eng.now
        eng.clear_breaks()
        eng.run()
        runs.append((stopped_at, _outcome(eng)))
    (stop_py, out_py), (stop_static, out_static) = runs
    assert stop_py == stop_static
    _same(out_py, out_static)


def test_a_static_task_waiting_for_a_stream_that_never_comes_ends_as_the_python_one():
    def body(pe, a):
        pe.fadds(mem1d_dsd(a), mem1d_dsd(a), fabin_dsd(3, 4), async_=True)

    results = []
    for static in (False, True):
        eng = _single(body, static=static)
        reason = eng.run().reason
        waiting = int((eng.state.slot_op[:, :] >= 0).sum())  # the op still holds its slot
        results.append((reason, waiting, _outcome(eng)))
    (r0, w0, o0), (r1, w1, o1) = results
    assert r0 == r1 == "quiet" and w0 == w1 == 2
    _same(o0, o1)


def test_static_tasks_on_wse3_name_their_queues_and_microthreads():
    def build(static):
        def sender(c):
            x = c.array("x", "u32", 6, export=True, init=7)
            ts = c.array("ts", "u32", 2, export=True)
            oq = c.output_queue(2, 4)

            def main(pe):
                pe.store_timestamp(ts, 0)
                pe.mov32(fabout_dsd(4, 6, "u32", output_queue=oq), mem1d_dsd(x), async_=True,
                         activate=done, microthread=oq)  # fmt: skip

            def done(pe):
                pe.store_timestamp(ts, 1)

            c.bind_local_task(main, 10, static=static)
            c.bind_local_task(done, 11, static=static)
            c.activate(10)

        def receiver(c):
            y = c.array("y", "u16", 6, export=True, init=1)
            ts = c.array("ts", "u32", 2, export=True)
            iq = c.input_queue(1, 4)

            def main(pe):
                pe.add16(mem1d_dsd(y), mem1d_dsd(y), fabin_dsd(4, 6, "u16", input_queue=iq),
                         async_=True, activate=done, microthread=iq)  # fmt: skip

            def done(pe):
                pe.store_timestamp(ts, 1)

            c.bind_local_task(main, 10, static=static)
            c.bind_local_task(done, 11, static=static)
            c.activate(10)

        lay = Layout(3, 1, arch="wse3")
        lay.set_tile_code(0, 0, sender)
        lay.set_region_code(1, 0, 2, 1, receiver)
        lay.set_route(0, 0, 4, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, 4, rx="WEST", tx=["RAMP", "EAST"])
        lay.set_route(2, 0, 4, rx="WEST", tx="RAMP")
        return lay

    eng, static = _run_layout(build, True)
    _same(_run_layout(build, False)[1], static)
    assert eng.read_symbol(2, 0, "y").tolist() == [8] * 6


def test_records_are_made_once_per_compiled_layout() -> None:
    # The second engine of a layout replays the first one's records: the task body is not run
    # again to record it, and the run is the same.
    calls = []

    def prog(c):
        y = c.array("y", "f32", 6, export=True, init=1.5)

        def main(pe):
            calls.append(pe)
            pe.fadds(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(y))

        c.bind_local_task(main, 8, static=True)
        c.activate(8)

    lay = Layout(3, 1, name="records-once")
    lay.set_region_code(0, 0, 3, 1, prog)
    compiled = lay.compile()
    results = []
    for _ in range(2):
        eng = Engine(compiled)
        eng.run()
        results.append((eng.now, eng.read_symbol(2, 0, "y").copy()))
    assert len(calls) == 2  # recorded on the first and the last PE, by the first engine only
    assert set(compiled.static_records) == {(0, 8)}
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], np.full(6, 3.0, np.float32))
    np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.mark.parametrize("nan_in", [None, "y", "A", "x"])
def test_an_accumulation_run_replays_as_python_runs_it(nan_in):
    # Four fmacs into one y form an accumulation run: the replay does it in one call and
    # charges its cycles at once; a NaN in y, a column or a scalar sends it back to the ops
    # one by one. Memory, cycles, stamps and profile are Python's either way.
    n, k = 6, 4

    def build(static):
        def prog(c):
            y = c.array("y", "f32", n, export=True, init=0.25)
            A = c.array("A", "f32", n * k, export=True)
            x = c.array("x", "f32", k, export=True)
            ts = c.array("ts", "u32", 2, export=True)

            def main(pe):
                pe.store_timestamp(ts, 0)
                for j in range(k):
                    pe.fmacs(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(A, n, offset=j * n),
                             mem_scalar(x, j))  # fmt: skip
                pe.store_timestamp(ts, 1)

            c.bind_local_task(main, 8, static=static)
            c.activate(8)

        lay = Layout(2, 1)
        lay.set_region_code(0, 0, 2, 1, prog)
        return lay

    rng = np.random.default_rng(7)
    A = rng.standard_normal((1, 2, n * k)).astype(np.float32)
    x = rng.standard_normal((1, 2, k)).astype(np.float32)
    y = np.full((1, 2, n), 0.25, np.float32)
    where = {"y": (y, 3), "A": (A, n * 2 + 1), "x": (x, 2)}
    if nan_in is not None:
        array, at = where[nan_in]
        array[0, 1, at] = np.nan  # PE 1 only: PE 0 still takes the run
    outcomes = []
    for static in (False, True):
        eng = Engine(build(static).compile())
        for name, values in (("A", A), ("x", x), ("y", y)):
            load_region(eng, name, values)
        eng.run()
        outcomes.append(_outcome(eng))
    _same(*outcomes)
    want = y[0].astype(np.float32)
    for j in range(k):
        want = want + A[0, :, j * n : (j + 1) * n] * x[0, :, j, None]
    got = read_region(eng, "y", 0, 0, 2, 1)[0]
    np.testing.assert_array_equal(got[0], want[0])
    assert np.isnan(got[1]).any() == (nan_in is not None)
    # the record: a run marker that holds its four ops' cycles
    s = eng.state
    at = s.prog_script[s.code_of[0], 8]
    kinds = [s.script[at + SCRIPT_HEADER + a * ACTION_WORDS] for a in range(s.script[at])]
    r = kinds.index(A_MEM_RUN)
    w = at + SCRIPT_HEADER + r * ACTION_WORDS
    assert kinds[r + 1 : r + 1 + k] == [A_MEM] * k and s.script[w + 3] == k
    op_cycles = [s.script[w + (1 + j) * ACTION_WORDS + 2] for j in range(k)]
    assert s.script[w + 2] == sum(op_cycles) > 0
