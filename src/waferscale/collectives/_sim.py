"""Run one collective alone on the simulator, check it and measure it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..fabric import Engine
from ..program import Layout
from .core import Collective, SimResult

MAIN_TASK = 8
DONE_TASK = 9


def _harness(c: Any, *, inst: Any) -> None:
    """The PE program of a standalone run: stamp, run the collective, stamp."""
    coll = inst.collective
    buf = c.array("buf", coll.dtype, inst.built.buffer_words, export=True)
    ts = c.array("ts", "u32", 2, export=True)

    def done(pe: Any) -> None:
        pe[ts][1] = pe.timestamp() & 0xFFFFFFFF

    c.bind_local_task(done, DONE_TASK)
    handle = inst.declare(c, buf, then=DONE_TASK)

    def main(pe: Any) -> None:
        pe[ts][0] = pe.timestamp() & 0xFFFFFFFF
        if handle.blocking:  # inline: no task switch between the stamps and the ops
            handle.run(pe)
            pe[ts][1] = pe.timestamp() & 0xFFFFFFFF
        else:
            handle.start(pe)

    c.bind_local_task(main, MAIN_TASK)
    c.activate(MAIN_TASK)


def random_data(coll: Collective, seed: int) -> np.ndarray:
    """Standard normal values of the collective's dtype, shaped (h, w, buffer)."""
    w, h = coll.shape
    rng = np.random.default_rng(seed)
    vals = rng.standard_normal((h, w, coll.buffer_words))
    return vals.astype(np.float32 if coll.dtype == "f32" else np.float16)


def simulate(coll: Collective, *, seed: int = 0, data: np.ndarray | None = None) -> SimResult:
    t0 = time.perf_counter()
    w, h = coll.shape
    lay = Layout(w, h, arch=coll.arch, name=f"{coll.op}_{coll.algorithm}_{w}x{h}_B{coll.words}")
    inst = coll.install(lay, (0, 0))
    lay.set_region_code(0, 0, w, h, _harness, inst=inst)
    eng = Engine(lay.compile())
    built = inst.built
    if data is None:
        data = random_data(coll, seed)
    data = np.asarray(data)
    if data.shape != (h, w, built.buffer_words):
        raise ValueError(f"data: got shape {data.shape}, expected {(h, w, built.buffer_words)}")
    idx, sym = eng.region_indices("buf", 0, 0, w, h)
    eng._typed(sym.dtype.np_dtype)[idx] = data.astype(sym.dtype.np_dtype)
    build_s = time.perf_counter() - t0
    r = eng.run()
    wall = r.wall_s
    got = eng._typed(sym.dtype.np_dtype)[idx]
    ts = eng.state.mem32[eng.region_indices("ts", 0, 0, w, h)[0]].astype(np.int64)
    start, end = ts[..., 0], ts[..., 1]
    cycles = int(end.max() - start.min())

    want, mask = built.reference(data, coll.reduce_op)
    g, e = got[mask], want[mask]
    if g.size:
        bit_exact = bool(
            np.array_equal(
                g.view(np.uint16 if coll.dtype == "f16" else np.uint32),
                e.view(np.uint16 if coll.dtype == "f16" else np.uint32),
            )
        )
        err = float(np.abs(g.astype(np.float64) - e.astype(np.float64)).max())
        if coll.reduce_op == "max" or coll.op in ("broadcast", "scatter", "gather", "allgather"):
            ok = bit_exact
        else:
            tol = (1e-5, 1e-6) if coll.dtype == "f32" else (1e-2, 1e-3)
            ok = bool(np.allclose(g, e, rtol=tol[0], atol=tol[1] * coll.P))
    else:
        bit_exact, err, ok = True, 0.0, True

    tr = eng.traffic()
    measured: dict[str, Any] = {k: tr[k] for k in ("E", "N", "C", "max_link_load")}
    measured["control_wavelets"] = built.ctrl_wavelets
    measured["control_hops"] = built.ctrl_hops
    measured["E_data"] = tr["E"] - built.ctrl_hops
    phases = coll.model_quantities()
    if phases:
        measured["L"] = max(p["L"] for p in phases)
        measured["D"] = sum(p["D"] for p in phases)
    model_q: dict[str, Any] = {}
    if phases:
        model_q = {
            "E": sum(p["E"] for p in phases),
            "N": sum(p["N"] for p in phases),  # phases here use disjoint links
            "C": max(p["C"] for p in phases),
            "max_link_load": max(p["max_link_load"] for p in phases),
            "L": max(p["L"] for p in phases),
            "D": sum(p["D"] for p in phases),
            "phases": phases,
        }
    return SimResult(
        coll.op,
        coll.name.split("/", 1)[1],
        coll.shape,
        coll.words,
        coll.dtype,
        coll.reduce_op,
        cycles,
        coll.model_cycles(),
        coll.lower_bound_cycles(),
        ok,
        bit_exact,
        err,
        measured,
        model_q,
        wall,
        build_s,
        start,
        end,
        coll.generic_model_cycles(),
    )
