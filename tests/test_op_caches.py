"""The engine's shortcuts for ops a program issues again: interned fabric DSDs, streaming ops
matched by identity or by value, memory-only ops run from packed arguments. Each shortcut must
give exactly what the checking path gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from waferscale.fabric import Engine
from waferscale.fabric._memops import MP_MEM_ADDRESS, MP_MEM_WORDS, N_MP, pack_memory
from waferscale.program import FabinDSD, Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from waferscale.program.types import dtype_of


def test_fabric_dsd_constructors_share_one_object_per_argument_list():
    assert fabin_dsd(3, 8) is fabin_dsd(3, 8)
    assert fabout_dsd(3, 8, "u32") is fabout_dsd(3, 8, "u32")
    assert fabin_dsd(3, 8) is not fabin_dsd(3, 9)
    assert fabout_dsd(3, 8) is not fabout_dsd(3, 8, control=True)
    assert fabout_dsd(3, 8, control=True).control is True
    assert fabin_dsd(3, 8) == FabinDSD(3, 8, dtype_of("f32"))
    # arguments are normalised as before: equal keys give the same normalised DSD
    assert fabin_dsd(np.int64(4), 2.0).color == 4 and fabin_dsd(4, 2).extent == 2
    # an unhashable argument still builds a DSD (and bad ones are still refused)
    assert fabin_dsd(np.array(5), 8).color == 5
    with pytest.raises(TypeError, match="unknown element type"):
        fabin_dsd(1, 8, "f64")


def _loopback_sums(fresh: bool, rounds: int = 3, n: int = 6) -> tuple[int, np.ndarray]:
    """A PE sends its vector to itself and adds it back in, ``rounds`` times; ``fresh``: the
    fabric DSDs are new (equal) objects every round, so the op cache matches them by value
    instead of by identity."""

    def dsd(d):
        return dataclasses.replace(d) if fresh else d

    def prog(c):
        a = c.array("a", "f32", n, export=True)
        s = c.array("s", "f32", n, export=True)

        def main(pe):
            for _ in range(rounds):
                pe.fmovs(dsd(fabout_dsd(1, n)), mem1d_dsd(a), async_=True)
                pe.fadds(mem1d_dsd(s), mem1d_dsd(s), dsd(fabin_dsd(1, n)))

        c.bind_local_task(main, 10)
        c.activate(10)

    lay = Layout(1, 1)
    lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP")
    lay.set_tile_code(0, 0, prog)
    eng = Engine(lay.compile())
    eng.view(0, eng.symbol(0, "a"))[:] = np.arange(1, n + 1, dtype=np.float32) / 3
    eng.run()
    return eng.now, eng.read_symbol(0, 0, "s")


def test_streaming_ops_matched_by_identity_or_by_value_run_alike():
    cycles_same, sums_same = _loopback_sums(fresh=False)
    cycles_fresh, sums_fresh = _loopback_sums(fresh=True)
    expected = np.float32(0)
    for _ in range(3):
        expected = expected + np.arange(1, 7, dtype=np.float32) / 3
    assert sums_same.view(np.uint32).tolist() == expected.view(np.uint32).tolist()
    assert sums_fresh.view(np.uint32).tolist() == expected.view(np.uint32).tolist()
    assert cycles_same == cycles_fresh > 3 * 6


def test_packed_memory_ops_need_the_engines_flat_word_array():
    prm = np.zeros(N_MP, np.int64)
    with pytest.raises(ValueError, match="1-D C-contiguous uint32"):
        pack_memory(prm, np.zeros(8, np.int32))
    with pytest.raises(ValueError, match="1-D C-contiguous uint32"):
        pack_memory(prm, np.zeros(16, np.uint32)[::2])
    words = np.zeros(8, np.uint32)
    pack_memory(prm, words)
    assert prm[[MP_MEM_ADDRESS, MP_MEM_WORDS]].tolist() == [words.ctypes.data, 8]


def test_an_op_cache_stops_growing_when_operands_never_recur():
    from waferscale.fabric.pe import MAX_KNOWN_OPS

    calls = MAX_KNOWN_OPS + 300

    def prog(c):
        y = c.array("y", "f32", 4, export=True)
        one = c.array("one", "f32", 4, init=1.0)

        def main(pe):
            for _ in range(calls):  # new DSD objects every call: identity keys never recur
                pe.fadds(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(one))

        c.bind_local_task(main, 10)
        c.activate(10)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    eng = Engine(lay.compile())
    eng.run()
    assert eng.read_symbol(0, 0, "y").tolist() == [float(calls)] * 4
    assert len(eng.known_ops_of(eng.code_at(0))) == MAX_KNOWN_OPS
