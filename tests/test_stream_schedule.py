"""The engine's timing rules as a recursion (waferscale.fabric.schedule) against the engine itself:
every PE's completion cycle and the sums of a chain reduce, for any latencies and buffer depths."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _programs import TIMING_DRAWS, late_chain_layout, timing_mesh
from waferscale import arch as arch_mod
from waferscale.demos import chain_reduce_1d
from waferscale.demos._common import TS, load_region, read_region
from waferscale.fabric import Engine
from waferscale.fabric.schedule import chain_schedule, op_start_cycle


def _run_chain(eng: Engine, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a row chain on ``data`` (P x B): each PE's ``done`` stamp and the last PE's sums."""
    P = data.shape[0]
    load_region(eng, "a", data[None])
    eng.run()
    stamps = read_region(eng, TS, 0, 0, P, 1)[0, :, 1].astype(np.int64)
    return stamps, eng.read_symbol(P - 1, 0, "a")


def _engine_chain(spec, P: int, B: int, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The chain demo on the engine."""
    return _run_chain(chain_reduce_1d(P, B, arch=spec).new_engine(), data)


def _done_picked(spec, completion: np.ndarray, spent=0) -> np.ndarray:
    """The cycle each PE's ``done`` task is picked: when its op completes, or when the task that
    issued the op ends (picked at 0: startup, ``spent`` cycles, one cycle for the issue)."""
    return np.maximum(completion, np.asarray(spent) + spec.timing.task_startup_cycles + 1)


def _same_as_engine(spec, P: int, B: int, seed: int) -> None:
    data = np.random.default_rng(seed).standard_normal((P, B)).astype(np.float32)
    sched = chain_schedule(spec, P, B, data=data)
    stamps, sums = _engine_chain(spec, P, B, data)
    # the done task stamps after its startup
    startup = spec.timing.task_startup_cycles
    assert (stamps - startup).tolist() == _done_picked(spec, sched.completion).tolist()
    assert sums.view(np.uint32).tolist() == sched.sums.view(np.uint32).tolist()


def test_wse2_chain_matches_the_model_and_the_engine() -> None:
    wse2 = arch_mod.preset("wse2")
    sched = chain_schedule(wse2, 512, 256)
    # the near-optimal-reduce paper's chain model B + 6 (P - 1) from the op's start to the
    # cycle after its last element
    start = op_start_cycle(wse2)
    assert sched.cycles + 1 - start == 256 + 6 * 511
    assert sched.hops == 511 * 256
    assert not sched.order_dependent
    assert sched.sums is None
    _same_as_engine(wse2, 16, 40, 0)


def _delayed_chain_on_engine(spec, B: int, delays: list[int], data: np.ndarray):
    return _run_chain(Engine(late_chain_layout(spec, B, delays).compile()), data)


@pytest.mark.parametrize("delays", [[0, 0, 0, 0, 0, 80], [0, 0, 50, 0, 9, 30], [40, 0, 0, 0, 0, 0]])
def test_late_consumers_back_pressure_is_scheduled_exactly(delays) -> None:
    # a PE that starts late fills the queues before it and stalls its senders: the room terms
    # bind (a chain that starts together never fills them), and the schedule still agrees
    spec = arch_mod.custom_mesh(len(delays), 1, **{"router.buffer_depth": 1})
    P, B = len(delays), 40
    startup = spec.timing.task_startup_cycles
    begin = np.array(delays) + op_start_cycle(spec)
    data = np.random.default_rng(3).standard_normal((P, B)).astype(np.float32)
    sched = chain_schedule(spec, P, B, data=data, start=begin)
    roomy = arch_mod.custom_mesh(P, 1, **{"pe.input_queue_depth": 99, "pe.output_queue_depth": 99})
    unblocked = chain_schedule(roomy, P, B, start=begin).completion
    stalled = (sched.completion > unblocked).any()
    assert stalled == (delays[0] == 0)  # a late first PE delays the stream but stalls nobody
    stamps, sums = _delayed_chain_on_engine(spec, B, delays, data)
    picked = _done_picked(spec, sched.completion, spent=delays)
    assert (stamps - startup).tolist() == picked.tolist()
    assert sums.view(np.uint32).tolist() == sched.sums.view(np.uint32).tolist()


@settings(max_examples=25, deadline=None)
@given(
    P=st.integers(2, 9),
    B=st.integers(1, 24),
    op=st.integers(0, 2),
    seed=st.integers(0, 2**16),
    **TIMING_DRAWS,
)
def test_schedule_equals_the_engine(P, B, hop, ramp, depth, iq, oq, task, op, seed) -> None:
    spec = timing_mesh(P, hop=hop, ramp=ramp, depth=depth, iq=iq, oq=oq, task=task, op=op)
    sched = chain_schedule(spec, P, B)
    if sched.order_dependent:
        # the engine's cycle then depends on its router visit order; the recursion takes the
        # later one, so it can only be late, and by at most a cycle per element
        stamps, _ = _engine_chain(spec, P, B, np.ones((P, B), np.float32))
        late = _done_picked(spec, sched.completion) - (stamps - task)
        assert (late >= 0).all() and (late <= B).all()
        return
    _same_as_engine(spec, P, B, seed)


def test_engine_doc_example_runs() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text()
    block = text.split("## Streams as a schedule", 1)[1].split("```python\n", 1)[1]
    block = block.split("```", 1)[0]
    test = doctest.DocTestParser().get_doctest(block, {}, "engine.md", "engine.md", 0)
    assert test.examples, "docs/engine.md lost its schedule example"
    result = doctest.DocTestRunner(verbose=False).run(test)
    assert result.failed == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"P": 1, "B": 4}, "at least 2 PEs"),
        ({"P": 4, "B": 0}, "at least one word"),
        ({"P": 4, "B": 4, "data": np.zeros((4, 4), np.float64)}, "float32 of shape"),
        ({"P": 4, "B": 4, "data": np.zeros((4, 3), np.float32)}, "float32 of shape"),
    ],
)
def test_bad_input_is_named(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        chain_schedule(arch_mod.preset("wse2"), **kwargs)
