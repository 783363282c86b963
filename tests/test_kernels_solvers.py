"""The Krylov solvers of the kernel library (power method, CG, Jacobi-PCG, BiCGSTAB on the 7-point
stencil matrix): host-driven iterations on the simulator, checked against a numpy float32
emulation of the same algorithm in the PEs' operation order (allclose rtol 1e-5, iteration
counts exact), the one-word allreduce they use, and the cost model (within 10 % at three sizes,
reaching the full wafer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale.arch import preset
from waferscale.cli import main
from waferscale.kernels import REGISTRY, KernelError
from waferscale.kernels import krylov as K
from waferscale.kernels._allreduce import (
    allreduce_cycles,
    allreduce_reference,
    allreduce_roles,
    allreduce_routes,
    allreduce_step,
)
from waferscale.kernels._base import d2h, declare_timer, h2d, open_runtime, read_cycles, stamp
from waferscale.program import Layout, mem1d_dsd

SOLVERS = ["power-method", "cg", "jacobi-pcg", "bicgstab"]
WSE2 = preset("wse2")


def test_solvers_are_registered():
    for name in SOLVERS:
        k = REGISTRY[name]
        assert k.name == name and k.summary and "rtol=1e-5" in k.check
        assert set(k.default_size) == set(k.size_names) == {"nz", "iters"}
        assert k.default_grid == (5, 5)


# -- the allreduce ---------------------------------------------------------------------------------


def _allreduce_program(c, *, roles):
    a = c.array("a", "f32", 1, export=True)
    ts = declare_timer(c)

    def f(pe):
        stamp(pe, ts, 0)
        allreduce_step(pe, mem1d_dsd(a), roles)
        stamp(pe, ts, 1)
        pe.unblock_cmd_stream()

    c.export(f)


@pytest.mark.parametrize(
    "arch,W,H", [("wse2", 1, 1), ("wse2", 5, 5), ("wse2", 3, 7), ("wse2", 6, 1), ("wse3", 4, 3)]
)
def test_allreduce_is_exact_and_its_model_too(arch, W, H):
    lay = Layout(W, H, arch=arch)
    for y in range(H):
        for x in range(W):
            lay.set_tile_code(x, y, _allreduce_program, roles=allreduce_roles(x, y, W, H))
    allreduce_routes(lay, W, H)
    runner = open_runtime(lay.compile())
    vals = np.random.default_rng(W * H).uniform(-1, 1, (H, W, 1)).astype(np.float32)
    h2d(runner, "a", vals, 0, 0, W, H)
    runner.launch("f", nonblock=False)
    out = d2h(runner, "a", 0, 0, W, H, 1)
    cycles = read_cycles(runner, W, H)["cycles"]
    runner.stop()
    assert np.array_equal(out, np.full_like(out, allreduce_reference(vals[:, :, 0])))
    assert cycles == allreduce_cycles(preset(arch), W, H)


# -- default runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SOLVERS)
def test_default_run_passes_its_check(name):
    r = REGISTRY[name].run()
    assert r.ok, (name, r.max_abs_err, r.extras)
    e = r.extras
    assert e["iterations"] == e["iterations_ref"]
    assert e["bit_exact_pe_order"] and e["allreduce_consistent"]
    assert e["launches"] == e["launches_model"]
    assert r.cycles == r.model_cycles, (name, r.cycles, r.model_cycles)  # exact
    assert r.model_cycles <= e["model_cycles_at_cap"]
    if name != "power-method":
        assert e["converged"] and e["rel_err_vs_f64"] < 1e-4  # a real solution of A x = b
    json.dumps(r.to_dict())


def test_wse3_runs_and_matches_its_model():
    r = REGISTRY["cg"].run("wse3", (3, 3), (8, 6))
    assert r.ok and r.extras["bit_exact_pe_order"] and abs(r.model_error) <= 0.10


# -- hypothesis: random small grids, sizes, solvers ------------------------------------------------

SMALL = settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@SMALL
@given(
    name=st.sampled_from(SOLVERS),
    grid=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    nz=st.integers(1, 10),
    iters=st.integers(1, 4),
    seed=st.integers(0, 9),
)
def test_solver_property(name, grid, nz, iters, seed):
    r = REGISTRY[name].run("wse2", grid, (nz, iters), seed)
    e = r.extras
    assert r.ok, (name, grid, nz, iters, r.max_abs_err, e)
    assert e["iterations"] == e["iterations_ref"] <= iters
    assert e["bit_exact_pe_order"] and e["launches"] == e["launches_model"]
    assert abs(r.model_error) <= 0.10, (name, grid, nz, iters, r.cycles, r.model_cycles)


# -- the model ---------------------------------------------------------------------------------

THREE_SIZES = [((5, 5), (16, 6)), ((4, 4), (64, 4)), ((3, 2), (24, 8))]


@pytest.mark.parametrize("name", SOLVERS)
def test_model_within_ten_percent_at_three_sizes(name):
    for grid, size in THREE_SIZES:
        r = REGISTRY[name].run("wse2", grid, size)
        assert r.ok, (name, grid, size, r.extras)
        assert abs(r.model_error) <= 0.10, (name, grid, size, r.cycles, r.model_cycles)


@pytest.mark.parametrize("name", SOLVERS)
def test_model_reaches_the_full_wafer(name):
    k = REGISTRY[name]
    est = k.estimate("wse2", "full", (300, 100))
    assert est["grid"] == [750, 994] and est["model_cycles"] > 0
    with pytest.raises(KernelError, match="too large to simulate"):
        k.run("wse2", "full", (300, 100))
    # per iteration: the launches' costs add
    a = k.model("wse2", (5, 5), (16, 10))
    b = k.model("wse2", (5, 5), (16, 20))
    c = k.model("wse2", (5, 5), (16, 30))
    assert b - a == c - b > 0


def test_model_counts_the_launches():
    cg = REGISTRY["cg"]
    cost = cg.launch_cycles(WSE2, (5, 5), {"nz": 16, "iters": 1})
    v = 16  # f32 SIMD width 1, no op start-up
    assert cost["axpy"] == cost["copy"] == 1 + v
    assert cost["dot"] == 1 + 1 + 2 * v + allreduce_cycles(WSE2, 5, 5)
    assert cost["spmv"] == 1 + REGISTRY["stencil-7pt-spmv"].model("wse2", (5, 5), 16)
    body = cost["spmv"] + 2 * cost["dot"] + 2 * cost["axpy"]
    setup = 2 * cost["copy"] + cost["dot"]
    early = K.early_start_credit(WSE2, (5, 5))
    assert early == (0 if K.LAUNCHES_ARE_BARRIERS else 12)  # one chain stage per axis
    want = setup + 3 * body + 2 * cost["axpy"] - 1 - 3 * early
    assert cg.model("wse2", (5, 5), (16, 3)) == want
    r = cg.run("wse2", (5, 5), (16, 3))
    assert r.cycles == r.model_cycles == want  # exact


def test_memory_limit_is_enforced():
    with pytest.raises(KernelError, match="needs .* B per PE"):
        REGISTRY["bicgstab"].model("wse2", (5, 5), (1000, 10))


# -- the reference ------------------------------------------------------------------------------


def test_reference_device_matches_float64():
    """The numpy emulation solves the system (f64 direct solve) and its SpMV is the stencil's."""
    rng = np.random.default_rng(3)
    coef = K.stencil_matrix(3, 4, 5, rng, symmetric=True, shift=0.1)
    x = rng.uniform(-1, 1, (3, 4, 5)).astype(np.float32)
    A = K.assemble(coef)
    np.testing.assert_allclose(
        K.stencil_pe_order(x, coef).reshape(-1), A @ x.reshape(-1), rtol=1e-5, atol=1e-5
    )
    assert np.allclose(A, A.T)  # symmetric for CG
    assert np.all(np.linalg.eigvalsh(A) > 0)  # and positive definite
    b = rng.uniform(-1, 1, (3, 4, 5)).astype(np.float32)
    dev = K.NumpyDevice(coef, {"b": b})
    info = K.cg(dev, 100, 1e-5)
    assert info["converged"]
    x64 = np.linalg.solve(A, b.reshape(-1).astype(np.float64))
    assert np.linalg.norm(dev.v["sol"].reshape(-1) - x64) < 1e-4 * np.linalg.norm(x64)


def test_bicgstab_matrix_is_not_symmetric():
    coef = K.stencil_matrix(3, 3, 4, np.random.default_rng(0), symmetric=False, shift=0.1)
    A = K.assemble(coef)
    assert not np.allclose(A, A.T)


# -- the command line --------------------------------------------------------------------------


def test_cli_runs_a_solver(capsys):
    assert main(["run", "cg", "--grid", "3x3", "--size", "nz=8,iters=5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is True and d["extras"]["iterations"] == 5 and d["grid"] == [3, 3]
    assert main(["run", "bicgstab", "--grid", "full", "--size", "300x100", "--model"]) == 0
    assert "model cycles" in capsys.readouterr().out


# -- a runtime behaviour the model does not follow ----------------------------------------------


def _launch_probe(c, *, n):
    a = c.array("a", "f32", 100)
    t = c.array("t", "u32", 1, export=True)

    def work(pe):
        if n:
            pe.fmovs(mem1d_dsd(a, n), 0.0)
        pe.unblock_cmd_stream()

    def when(pe):
        pe[t][0] = pe.timestamp()
        pe.unblock_cmd_stream()

    c.export(work)
    c.export(when)


def test_runtime_launch_is_a_barrier():
    lay = Layout(2, 1, arch="wse2")
    lay.set_tile_code(0, 0, _launch_probe, n=100)
    lay.set_tile_code(1, 0, _launch_probe, n=0)
    runner = open_runtime(lay.compile())
    first = runner.launch("work", nonblock=False)
    runner.launch("when", nonblock=False)
    started = [int(runner.read_symbol(x, 0, "t")[0]) for x in (0, 1)]
    runner.stop()
    assert min(started) >= first.end_cycle, (started, first.end_cycle)
