"""Device programs and small helpers shared by the fabric-engine tests (tests/test_engine_*.py).

Programs are plain functions ``prog(c, **params)``; the layout builds one per distinct param set.
Params may hold numpy arrays (initial values) and functions (task bodies), so one generic
program, :func:`body_prog`, covers most tests: it declares arrays and runs ``body(pe, syms)`` as
the local task :data:`MAIN`, activated when the program is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from waferscale.fabric import Engine
from waferscale.program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd

MAIN = 5  # local task id of the start-up task of body_prog
LOG = "log"  # array name of the payload logs of logger_prog

Arrays = Sequence[tuple[str, str, Any]]  # (name, dtype, length or initial values)


def declare(c, arrays: Arrays) -> dict[str, Any]:
    syms = {}
    for name, dtype, init in arrays:
        if isinstance(init, int | np.integer):
            syms[name] = c.array(name, dtype, int(init))
        else:
            init = np.asarray(init)
            syms[name] = c.array(name, dtype, init.size, init=init)
    return syms


def body_prog(c, *, arrays: Arrays = (), body: Callable[..., Any] | None = None) -> None:
    """Arrays plus one start-up task running ``body(pe, syms)`` (no task when body is None)."""
    syms = declare(c, arrays)
    if body is not None:

        def main(pe):
            body(pe, syms)

        c.bind_local_task(main, MAIN)
        c.activate(MAIN)


def logger_prog(
    c,
    *,
    colors: Sequence[int] = (),
    capacity: int = 64,
    sends: Sequence[tuple[int, np.ndarray]] = (),
) -> None:
    """Receives every color of ``colors`` with a u32 data task that appends the payload to
    ``log<color>`` (count in ``cnt[color]``); sends each (color, u32 values) of ``sends`` with an
    async mov32 at start. Used for routing tests where every wavelet must arrive exactly once."""
    cnt = c.array("cnt", "u32", 24)
    logs = {col: c.array(f"{LOG}{col}", "u32", capacity) for col in colors}
    outs = {col: c.array(f"out{col}", "u32", len(vals), init=vals) for col, vals in sends}

    for col in colors:

        def on_wavelet(pe, value, col=col):
            k = int(pe[cnt][col])
            if k < capacity:
                pe[logs[col]][k] = value
            pe[cnt][col] = k + 1

        c.bind_data_task(on_wavelet, col, dtype="u32")
    if sends:

        def main(pe):
            for col, vals in sends:
                pe.mov32(fabout_dsd(col, len(vals), "u32"), mem1d_dsd(outs[col]), async_=True)

        c.bind_local_task(main, 30)  # above every data-task id
        c.activate(30)


def received(eng: Engine, x: int, y: int, color: int) -> np.ndarray:
    """The payloads logged by logger_prog on PE (x, y) for ``color``, in arrival order."""
    n = int(eng.read_symbol(x, y, "cnt")[color])
    return eng.read_symbol(x, y, f"{LOG}{color}")[:n]


def engine(lay: Layout) -> Engine:
    return Engine(lay.compile())


def run(lay: Layout, **kw: Any) -> tuple[Engine, Any]:
    eng = engine(lay)
    return eng, eng.run(**kw)


# -- guarding the kernel's activity lists (see tests/conftest.py) ------------------------------

GUARDED = ("act_r", "act_c")
SENTINEL = -0x5EED


def pad_activity_lists(state) -> None:
    """Give the kernel's activity lists sentinel-filled spare slots (see tests/conftest.py)."""
    for name in GUARDED:
        arr = getattr(state, name, None)
        if not isinstance(arr, np.ndarray) or arr.ndim != 1:
            continue
        buf = np.full(2 * arr.size + 8, SENTINEL, arr.dtype)
        buf[: arr.size] = arr
        setattr(state, name, buf[: arr.size])
        setattr(state, f"_guard_{name}", buf)


def activity_list_overflow(state) -> dict[str, list[int]]:
    """Entries written past the end of the guarded lists: {name: values}."""
    out = {}
    for name in GUARDED:
        buf = getattr(state, f"_guard_{name}", None)
        if buf is None:
            continue
        n = getattr(state, name).size
        spill = buf[n:]
        if (spill != SENTINEL).any():
            out[name] = spill[spill != SENTINEL].tolist()
    return out


# -- chain reduce and row broadcast (the two timing models of machine.md) ---------------------


def chain_pe(c, *, B: int, role: str, cin: int, cout: int, seed: int) -> None:
    """One stage of a chain reduce along a row: the first PE sends its vector east, each middle
    PE adds its own vector to the stream, the last adds the stream into its memory.
    ``t`` records (timestamp before, timestamp after)."""
    vals = np.random.default_rng(seed).standard_normal(B).astype(np.float32)
    a = c.array("a", "f32", B, init=vals)
    t = c.array("t", "u32", 2)

    def main(pe):
        pe[t][0] = pe.timestamp()
        if role == "first":
            pe.fmovs(fabout_dsd(cout, B), mem1d_dsd(a))
        elif role == "mid":
            pe.fadds(fabout_dsd(cout, B), fabin_dsd(cin, B), mem1d_dsd(a))
        else:
            pe.fadds(mem1d_dsd(a), fabin_dsd(cin, B), mem1d_dsd(a))
        pe[t][1] = pe.timestamp()

    c.bind_local_task(main, MAIN)
    c.activate(MAIN)


def chain_layout(P: int, B: int, arch: Any = "wse2") -> Layout:
    """Chain reduce over PEs (0..P-1, 0); colors alternate 0/1 by parity."""
    lay = Layout(P, 1, arch=arch)
    for x in range(P):
        cin = 0 if x % 2 else 1
        cout = 1 if x % 2 else 0
        role = "first" if x == 0 else ("last" if x == P - 1 else "mid")
        lay.set_tile_code(x, 0, chain_pe, B=B, role=role, cin=cin, cout=cout, seed=x)
        if x < P - 1:
            lay.set_route(x, 0, cout, rx=["RAMP"], tx=["EAST"])
        if x > 0:
            lay.set_route(x, 0, cin, rx=["WEST"], tx=["RAMP"])
    return lay


def chain_inputs(P: int, B: int) -> np.ndarray:
    return np.stack(
        [np.random.default_rng(x).standard_normal(B).astype(np.float32) for x in range(P)]
    )


def span(eng: Engine, pes: Sequence[tuple[int, int]]) -> int:
    """max(end) - min(start) over the ``t`` arrays of ``pes`` (the SDK examples' runtime)."""
    ts = np.array([eng.read_symbol(x, y, "t") for x, y in pes], np.int64)
    return int(ts[:, 1].max() - ts[:, 0].min())


def _late_chain_pe(c, *, B: int, cin, cout, delay: int) -> None:
    """A chain PE whose op starts ``delay`` cycles of scalar work after its task; its ``done``
    task stamps ``ts[1]``. Static tasks."""
    from waferscale.demos._common import TS
    from waferscale.kernels._patterns import chain_step

    a = c.array("a", "f32", B, export=True)
    ts = c.array(TS, "u32", 2, export=True)
    mem = mem1d_dsd(a, B)

    def main(pe):
        pe.spend(delay)
        chain_step(pe, "fadds", mem, B, cin, cout, async_=True, activate=done)

    def done(pe):
        pe.store_timestamp(ts, 1)

    c.bind_local_task(main, 8, static=True)
    c.bind_local_task(done, 10, static=True)
    c.activate(8)


def late_chain_layout(spec, B: int, delays: Sequence[int]) -> Layout:
    """A row chain reduce of ``B`` f32 per PE whose PE ``x`` starts ``delays[x]`` cycles late:
    late consumers fill the queues before them, so the room rules bind."""
    from waferscale.kernels._patterns import chain_colors, row_chain_routes

    P = len(delays)
    lay = Layout(P, 1, arch=spec, name="late_chain")
    for x in range(P):
        cin, cout = chain_colors(x, P, (0, 1))
        lay.set_tile_code(x, 0, _late_chain_pe, B=B, cin=cin, cout=cout, delay=delays[x])
    row_chain_routes(lay, P, 1, (0, 1))
    return lay


# the timing parameters the stream tests draw (hypothesis strategies, by keyword)
TIMING_DRAWS = {
    "hop": st.integers(1, 3),
    "ramp": st.integers(1, 4),
    "depth": st.integers(1, 3),
    "iq": st.integers(1, 5),
    "oq": st.integers(1, 5),
    "task": st.integers(0, 3),
}


def timing_mesh(P: int, *, hop: int, ramp: int, depth: int, iq: int, oq: int, task: int,
                op: int | None = None):  # fmt: skip
    """A ``P`` x 1 custom mesh with these hop and ramp latencies, router buffer and CE queue
    depths, task startup (and op startup, if given)."""
    from waferscale import arch as arch_mod

    overrides = {"timing.hop_latency_cycles": hop, "timing.ramp_latency_cycles": ramp,
                 "router.buffer_depth": depth, "pe.input_queue_depth": iq,
                 "pe.output_queue_depth": oq, "timing.task_startup_cycles": task}  # fmt: skip
    if op is not None:
        overrides["timing.op_startup_cycles"] = op
    return arch_mod.custom_mesh(P, 1, **overrides)
