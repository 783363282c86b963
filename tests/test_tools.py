"""The tools (waferscale.tools, waferscale.viz): trace export, profiler, debugger, pictures."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from waferscale.demos.collectives import sync_chain_row
from waferscale.fabric import Engine, StallError
from waferscale.fabric._layout_consts import EVENT_NAMES
from waferscale.fabric.trace import Trace
from waferscale.program import Layout, fabout_dsd, mem1d_dsd
from waferscale.tools.debugger import Debugger
from waferscale.tools.export import (
    chrome_trace,
    trace_tables,
    validate_chrome_trace,
    write_chrome_trace,
    write_tables,
)
from waferscale.tools.profiler import profile
from waferscale.tools.targets import run_target

C = 3
MAX_PICTURE = 200_000  # bytes


def traced_chain(P: int = 4, B: int = 8):
    eng = Engine(sync_chain_row(P, B).compile())
    eng.start_trace()
    eng.run()
    assert (eng.read_symbol(P - 1, 0, "a") == P).all()
    return eng, eng.stop_trace()


def quiet_run(name: str):
    with contextlib.redirect_stdout(io.StringIO()):
        return run_target(name)


# -- trace export ------------------------------------------------------------------------------


def _check_counts(obj, trace):
    """The JSON holds exactly one event per task run, op issue and kernel event."""
    cats = Counter(e.get("cat") for e in obj["traceEvents"] if e["ph"] != "M")
    counts = trace.counts()
    assert cats.pop("task_run", 0) == counts["task_runs"]
    assert cats.pop("op", 0) == counts["op_issues"]
    for kind in EVENT_NAMES:
        assert cats.pop(kind, 0) == counts[kind], kind
    assert not cats, f"unexpected categories {cats}"
    spans = [e for e in obj["traceEvents"] if e["ph"] == "X"]
    by_thread: dict[int, list] = {}
    for e in spans:
        by_thread.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for runs in by_thread.values():  # complete events of one thread must nest: here, no overlap
        runs.sort()
        assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False)), runs
    assert sorted((e["args"]["start_cycle"], e["dur"]) for e in spans) == sorted(
        (int(s), int(e - s)) for s, e in zip(trace.tasks["start"], trace.tasks["end"],
                                             strict=True))


def test_chrome_trace_is_valid_and_complete(tmp_path):
    eng, trace = traced_chain()
    path = write_chrome_trace(tmp_path / "t.json", trace, engine=eng)
    obj = json.loads(path.read_text())
    assert validate_chrome_trace(obj) == []
    _check_counts(obj, trace)
    names = {e["args"]["name"] for e in obj["traceEvents"] if e["name"] == "thread_name"}
    assert {f"PE ({x}, 0)" for x in range(4)} <= names
    assert all(re.fullmatch(r"PE \(\d+, \d+\)( router| mt \d+)?", n) for n in names)
    # the chain's last PE runs one task from cycle 0 to 27 (B + 6 (P - 1) - 1)
    last = [e for e in obj["traceEvents"] if e["ph"] == "X" and e["name"] == "main"]
    assert max(e["ts"] + e["dur"] for e in last) == 27


@pytest.mark.parametrize("name", ["tutorial_06_memcpy_streaming", "router_range_filter",
                                  "tutorial_05_async_and_fifos"])
def test_chrome_trace_counts_every_kind(name):
    """Host streams, filtered drops, microthreads: every kind of event is exported once."""
    rec = quiet_run(name).records[0]
    obj = chrome_trace(rec.trace, engine=rec.engine)
    assert validate_chrome_trace(obj) == []
    _check_counts(obj, rec.trace)


def test_validator_catches_bad_events():
    bad = {"traceEvents": [
        {"name": "x", "ph": "X", "pid": 1, "tid": 1, "ts": 0},  # no dur
        {"name": "y", "ph": "i", "pid": 1, "tid": "a", "ts": 1},  # tid not an int
        {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {}},
        {"name": "z", "ph": "Q", "pid": 1, "tid": 1, "ts": 0},
        {"name": "c", "ph": "C", "pid": 1, "tid": 1, "ts": 0, "args": {"n": "many"}},
    ]}
    problems = validate_chrome_trace(bad)
    assert len(problems) == 5, problems
    assert validate_chrome_trace([]) != []


def test_tables(tmp_path):
    eng, trace = traced_chain()
    tables = trace_tables(trace, profile(eng, trace))
    files = write_tables(tmp_path, tables)
    names = {p.name for p in files}
    assert {"events.csv", "tasks.csv", "ops.csv", "pes.csv", "links.csv"} <= names
    rows = (tmp_path / "events.csv").read_text().splitlines()
    assert rows[0] == "cycle,kind,x,y,color,port,payload,ctrl"
    assert len(rows) - 1 == len(trace.events["cycle"])
    assert (tmp_path / "tasks.csv").read_text().count("\n") == 1 + 4


# -- profiler ----------------------------------------------------------------------------------


def test_profile_of_a_chain_reduce_is_exact():
    """Chain reduce, P=4, B=8: 28 cycles. Every CE is busy 9 (start-up + 8 elements); PE k
    waits 6 k cycles for its input (the model's 6 cycles per stage); the rest is idle."""
    eng, trace = traced_chain()
    pr = profile(eng, trace)
    assert pr.exact and pr.cycles == 28
    assert pr.busy[0].tolist() == [9, 9, 9, 9]
    assert pr.stalled_fabric[0].tolist() == [0, 6, 12, 18]
    assert pr.idle[0].tolist() == [19, 13, 7, 1]
    assert not pr.stalled_memory.any()
    assert pr.tasks == [{"name": "main", "task_ids": [8], "runs": 4, "pes": 4,
                         "cycles": 9 + 15 + 21 + 27, "mean": 18.0, "max": 27}]
    hot = pr.hottest_links(3)
    assert hot[0]["wavelets"] == 8 and hot[0]["utilisation"] == 8 / 28


@pytest.mark.parametrize("name", ["gemv", "histogram", "mandelbrot", "router_fifo",
                                  "tutorial_08_when_it_hangs"])
def test_profile_adds_up_to_the_cycles_of_every_pe(name):
    run = quiet_run(name)
    for rec in run.records:
        pr = profile(rec.engine, rec.trace)
        total = pr.busy + pr.stalled_fabric + pr.stalled_memory + pr.idle
        assert (total == pr.cycles).all(), (rec.name, total, pr.cycles)
        assert min(pr.busy.min(), pr.stalled_fabric.min(), pr.idle.min()) >= 0
        assert pr.cycles >= rec.engine.now
        d = json.loads(pr.to_json())
        assert all(r["busy"] + r["stalled_fabric"] + r["stalled_memory"] + r["idle"]
                   == d["cycles"] for r in d["pes"])


# -- debugger ----------------------------------------------------------------------------------


def producer(c, *, n: int):
    a = c.array("a", "u32", n, init=np.arange(1, n + 1))

    def main(pe):
        pe.mov32(fabout_dsd(C, n, "u32"), mem1d_dsd(a))

    c.bind_local_task(main, 8)
    c.activate(8)


def consumer(c):
    total = c.array("total", "u32", 1)
    count = c.array("count", "u32", 1)

    def recv(pe, v):
        pe[total][0] += v
        pe[count][0] += 1
        pe.print("got", v)

    c.bind_data_task(recv, C)


def producer_consumer(n: int = 8, *, route: bool = True) -> Layout:
    lay = Layout(3, 1, name="pc")
    lay.set_tile_code(0, 0, producer, n=n)
    lay.set_tile_code(1, 0, consumer)
    lay.set_tile_code(2, 0, consumer)
    lay.set_route(0, 0, C, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, C, rx="WEST", tx=["RAMP", "EAST"])
    if route:
        lay.set_route(2, 0, C, rx="WEST", tx="RAMP")
    return lay


def test_debugger_steps_breaks_and_looks_inside():
    dbg = Debugger(Engine(producer_consumer().compile()))
    stop = dbg.run_to(3)
    assert (stop.reason, dbg.now) == ("cycle", 3)
    assert dbg.step(2).cycle == 5
    dbg.break_on_task("recv", pe=(2, 0))
    stop = dbg.cont()
    assert (stop.reason, stop.pe, stop.task) == ("break", (2, 0), "recv")
    seen = int(dbg.read(2, 0, "count")[0])
    assert dbg.cont().reason == "break"
    assert int(dbg.read(2, 0, "count")[0]) == seen + 1  # the task ran once in between
    dbg.clear_breaks()
    dbg.break_when(lambda e: e.read_symbol(1, 0, "count")[0] >= 5, "five")
    stop = dbg.cont()
    assert (stop.reason, stop.detail) == ("condition", "five")
    assert int(dbg.read(1, 0, "count")[0]) == 5
    (q,) = [r for r in dbg.queues(1, 0) if r["color"] == C]
    assert q["data_task"] == C and q["input_capacity"] > 0
    (r,) = dbg.router(1, 0)
    assert (r["rx"], r["tx"]) == (["WEST"], ["EAST", "RAMP"])
    assert set(dbg.symbols(1, 0)) == {"total", "count"}
    assert dbg.tasks(1, 0)["tasks"][0]["name"] == "recv"
    assert dbg.cont().reason == "quiet"
    assert int(dbg.read(2, 0, "total")[0]) == 36
    log = [rec for rec in dbg.log() if (rec.x, rec.y) == (2, 0)]
    assert [rec.message for rec in log] == [f"got {v}" for v in range(1, 9)]
    assert [rec.cycle for rec in log] == sorted(rec.cycle for rec in log)


def test_debugger_condition_checked_every_cycle():
    dbg = Debugger(Engine(producer_consumer().compile()))
    dbg.break_when(lambda e: e.now >= 7, "seven", every=1)
    stop = dbg.cont()
    assert (stop.reason, stop.cycle) == ("condition", 7)
    assert dbg.breakpoints() == ["when seven (every 1 cycles)"]


def test_debugger_reports_a_stall():
    dbg = Debugger(Engine(producer_consumer(route=False).compile()))
    stop = dbg.cont()
    assert stop.reason == "stall" and stop.stall.by_kind("not-accepted")
    (r,) = dbg.router(1, 0)
    assert r["buffer"] > 0  # the stuck wavelets


STALLING_EXAMPLE = """
import numpy as np
from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

def producer(c, *, n):
    a = c.array("a", "u32", n, init=np.arange(1, n + 1))
    def main(pe):
        pe.mov32(fabout_dsd(3, n, "u32"), mem1d_dsd(a))
    c.bind_local_task(main, 8)
    c.activate(8)

def consumer(c):
    total = c.array("total", "u32", 1)
    def recv(pe, v):
        pe[total][0] += v
    c.bind_data_task(recv, 3)

def main():
    lay = Layout(3, 1, name="stalls")
    lay.set_tile_code(0, 0, producer, n=8)
    lay.set_region_code(1, 0, 2, 1, consumer)
    lay.set_route(0, 0, 3, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 3, rx="WEST", tx=["RAMP", "EAST"])  # PE (2, 0) has no route for 3
    Engine(lay.compile()).run()
"""


def _write_stalling_example(path: Path) -> Path:
    path.write_text(STALLING_EXAMPLE)
    return path


def test_debug_command_loop_on_a_kernel(monkeypatch, capsys):
    from waferscale.cli import main

    script = "\n".join([
        "break compute 1 1", "breaks", "run", "tasks 1 1", "step 3", "queues 1 1",
        "router 1 1", "print 1 1 y", "where", "bogus", "run", "quit",
    ])
    monkeypatch.setattr("sys.stdin", io.StringIO(script + "\n"))
    status = main(["debug", "gemv"])
    out = capsys.readouterr().out
    assert "stopped at cycle 0: engine (engine #0 created" in out
    assert "break before task 'compute' on PE (1, 1)" in out
    assert "(wsdb) step 3" in out and re.search(r"stopped at cycle \d+: cycle", out)
    assert "rx NORTH tx SOUTH+RAMP" in out  # the x segment flooding down the column
    assert "PE (1, 1) y = [" in out
    assert "unknown command 'bogus'" in out
    assert "finished (the target returned)" in out
    assert status == 1  # one command failed


def test_debug_quit_unwinds_the_target(monkeypatch, capsys):
    from waferscale.cli import main

    init = Engine.__init__
    monkeypatch.setattr("sys.stdin", io.StringIO("break compute 1 1\nrun\nlog\nquit\n"))
    assert main(["debug", "gemv"]) == 0
    assert "break before task" in capsys.readouterr().out
    assert Engine.__init__ is init  # the capture of new engines ended with the session


def test_debug_session_pauses_at_a_stall(tmp_path, monkeypatch, capsys):
    from waferscale.cli import main

    example = _write_stalling_example(tmp_path / "stalls.py")
    monkeypatch.setattr("sys.stdin", io.StringIO("run\nstall\nrouter 1 0\nrun\n"))
    assert main(["debug", str(example)]) == 0
    out = capsys.readouterr().out
    assert "stall (stall at cycle" in out and "likely cause" in out
    assert "not-accepted" in out and "buffer 4/4" in out
    assert "the target raised StallError" in out


# -- pictures ----------------------------------------------------------------------------------


def _small(path: Path) -> None:
    assert path.exists() and 0 < path.stat().st_size < MAX_PICTURE, path


def test_pictures(tmp_path):
    import matplotlib.pyplot as plt

    from waferscale.viz.animation import animate_wavelets
    from waferscale.viz.heatmaps import draw_link_heatmaps, draw_pe_heatmaps, link_counts
    from waferscale.viz.timeline import draw_timeline

    eng, trace = traced_chain(6, 16)
    assert (link_counts(trace) == eng.state.link_out).all()
    assert link_counts(trace, color=0)[:, 2].tolist() == [16, 0, 16, 0, 16, 0]
    for name, fig in [
        ("links.png", draw_link_heatmaps(eng, tmp_path / "links.png")),
        ("links_c1.png", draw_link_heatmaps(eng, tmp_path / "links_c1.png", trace=trace,
                                            color=1)),
        ("pes.png", draw_pe_heatmaps(profile(eng, trace), tmp_path / "pes.png")),
        ("timeline.png", draw_timeline(trace, tmp_path / "timeline.png")),
    ]:
        plt.close(fig)
        _small(tmp_path / name)
    _small(animate_wavelets(trace, tmp_path / "flow.gif", frames=12))
    html = animate_wavelets(trace, tmp_path / "flow.html", frames=6)
    text = html.read_text()
    assert text.count("data:image/png;base64,") == 1 + 6 and "<script>" in text
    with pytest.raises(ValueError, match="too many"):
        animate_wavelets(Trace(20, 20), tmp_path / "big.gif")


def test_stall_picture(tmp_path):
    import matplotlib.pyplot as plt

    from waferscale.viz.stall import draw_stall

    eng = Engine(producer_consumer(route=False).compile())
    with pytest.raises(StallError) as err:
        eng.run()
    fig = draw_stall(err.value.report, eng, tmp_path / "stall.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    assert any(s.startswith("not-accepted") for s in labels)
    assert any("router buffer" in s for s in labels)
    _small(tmp_path / "stall.png")


# -- command line ------------------------------------------------------------------------------


def test_cli_trace(tmp_path, capsys):
    from waferscale.cli import main

    assert main(["trace", "router_fifo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "ui.perfetto.dev" in out
    obj = json.loads((tmp_path / "trace.json").read_text())
    assert validate_chrome_trace(obj) == []
    for name in ("links.png", "pes.png", "timeline.png", "routes.png", "animation.gif"):
        _small(tmp_path / name)
    assert (tmp_path / "tables" / "events.csv").exists()
    prof = json.loads((tmp_path / "profile.json").read_text())
    assert prof["totals"]["pe_cycles"] == prof["cycles"] * 3


def test_cli_trace_of_a_stall(tmp_path, capsys):
    from waferscale.cli import main

    example = _write_stalling_example(tmp_path / "stalls.py")
    assert main(["trace", str(example), "--out", str(tmp_path / "out"), "--no-tables"]) == 1
    assert "raised StallError" in capsys.readouterr().out
    _small(tmp_path / "out" / "stall.png")


def test_cli_profile_json(capsys):
    from waferscale.cli import main

    assert main(["profile", "gemv", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["target"] == "gemv" and d["width"] * d["height"] == len(d["pes"]) == 12
    assert all(r["busy"] + r["stalled_fabric"] + r["stalled_memory"] + r["idle"]
               == d["cycles"] for r in d["pes"])
    assert d["tasks"][0]["name"] == "compute" and d["hottest_links"]


def test_cli_profile_table(capsys):
    from waferscale.cli import main

    assert main(["profile", "router_fifo", "--top", "3"]) == 0
    out = capsys.readouterr().out
    for words in ("stalled on fabric", "hottest links", "tasks", "not modelled"):
        assert words in out


def test_cli_routes(tmp_path, capsys):
    from waferscale.cli import main

    assert main(["routes", "gemv", "--out", str(tmp_path)]) == 0
    assert "no findings" in capsys.readouterr().out
    _small(tmp_path / "routes.png")


def test_cli_unknown_target(capsys):
    from waferscale.cli import main

    assert main(["profile", "gemvv"]) == 2
    assert "did you mean 'gemv'" in capsys.readouterr().err
