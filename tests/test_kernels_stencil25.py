"""``stencil-25pt``: the 3D acoustic wave equation with an 8th-order Laplacian, leapfrog in time, on
a z-column per PE; the neighbour columns travel by localized broadcasts whose switches are moved
by control wavelets. Checked against a numpy float32 emulation of the same scheme in the PEs'
order (allclose rtol 1e-5, in practice bit-exact), and its cost model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale.arch import preset
from waferscale.cli import main
from waferscale.kernels import REGISTRY, KernelError
from waferscale.kernels import stencil_25pt as S
from waferscale.program.control import ADVANCE, NOP

K = REGISTRY["stencil-25pt"]
WSE2 = preset("wse2")


def test_registered():
    assert K.name == "stencil-25pt" and "rtol=1e-5" in K.check
    assert K.default_grid == (10, 10) and set(K.default_size) == {"nz", "steps"}


# -- the localized broadcast protocol (no simulation) ----------------------------------------


def test_interior_router_cycles_through_three_routes():
    plan = S.line_plan(7, 20)
    assert plan["positions"] == [
        ("RAMP", ("next",)),  # root
        ("prev", ("RAMP",)),  # last of a segment
        ("prev", ("RAMP", "next")),  # forward and deliver
    ]
    # the root advances itself (-> last), the next root (fwd -> send) and the fourth
    # receiver (last -> fwd); the two in the middle stay
    slots = S.root_payload(7, 20) & 0x3FF
    assert [(slots >> (2 * k)) & 3 for k in range(5)] == [ADVANCE, ADVANCE, NOP, NOP, ADVANCE]
    assert S.root_payload(7, 20) >> 21 & 1  # CE-filtered: no CE receives it


@pytest.mark.parametrize("n", list(range(2, 23)))
def test_protocol_delivers_every_broadcast(n):
    """Play the phases of two time steps on a line of n routers: in every phase, the routers of
    each root's segment are at the route the root needs, and after the root's control wavelet
    (one slot per router) every router is ready for its next phase. Each PE receives exactly
    the columns of the 4 PEs behind it, in ``halo_order``."""
    plans = [S.line_plan(j, n) for j in range(n)]
    pos = [p["current"] for p in plans]
    assert all(len(p["positions"]) <= 3 for p in plans)  # <= the 4 switch positions
    got = {j: [] for j in range(n)}
    for phase in range(2 * S.PHASES):
        for root in range(phase % S.PHASES, n - 1, S.PHASES):
            path = list(range(root, min(root + S.R, n - 1) + 1))
            payload = S.root_payload(root, n)
            for k, j in enumerate(path):
                need = S._route(j, n, j - root)
                assert plans[j]["positions"][pos[j]] == need, (n, phase, root, j)
                if j > root:
                    got[j].append(j - root)
                if (payload >> (2 * k)) & 3 == ADVANCE:
                    pos[j] = (pos[j] + 1) % len(plans[j]["positions"])
    for j in range(n):
        assert got[j] == 2 * S.halo_order(j)


def test_lockstep_bound_and_busiest_pe():
    assert S.busiest_pe(10, 10) == (4, 4, 16)
    assert S.busiest_pe(1, 1) == (0, 0, 0)
    assert S.busiest_pe(5, 1) == (2, 2, 4)
    assert S.lockstep_streams(10, 10) == 18
    assert S.lockstep_streams(750, 994) == 20  # two streams per axis in every phase
    assert S.lockstep_streams(1, 1) == 0


# -- the reference -----------------------------------------------------------------------------


def test_reference_is_a_symmetric_wave():
    """Uniform medium, source in the middle of an odd grid: the field is symmetric and has left
    the source by the end; the weights make the Laplacian of a constant vanish."""
    assert abs(S.COEF[0] + 2 * sum(S.COEF[1:])) < 1e-12
    H = W = 7
    nz = 9
    vsq = np.full((H, W, nz), 0.16, np.float32)
    src = S.ricker(12, delay=4.0)
    z = np.zeros((H, W, nz), np.float32)
    u, _ = S.wave_reference(z, z, vsq, src, (3, 3, 4), 12)
    assert np.allclose(u, u[:, ::-1], atol=1e-7) and np.allclose(u, u[::-1], atol=1e-7)
    assert np.allclose(u, u[:, :, ::-1], atol=1e-7)
    assert abs(u[3, 0, 4]) > 1e-4  # the wave reached the edge


# -- runs ------------------------------------------------------------------------------------------


def test_default_run():
    r = K.run()
    assert r.ok and r.extras["bit_exact_pe_order"], (r.max_abs_err, r.extras)
    assert r.extras["max_abs_u"] > 0.05  # the source did inject a wave
    assert abs(r.model_error) <= 0.10, (r.cycles, r.model_cycles)
    json.dumps(r.to_dict())


def test_wse3():
    r = K.run("wse3", (6, 6), (12, 3))
    assert r.ok and r.extras["bit_exact_pe_order"] and abs(r.model_error) <= 0.10


SMALL = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@SMALL
@given(
    grid=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    nz=st.integers(1, 8),
    steps=st.integers(1, 3),
    seed=st.integers(0, 9),
)
def test_property(grid, nz, steps, seed):
    r = K.run("wse2", grid, (nz, steps), seed)
    assert r.ok and r.extras["bit_exact_pe_order"], (grid, nz, steps, r.max_abs_err)
    assert abs(r.model_error) <= 0.10, (grid, nz, steps, r.cycles, r.model_cycles)


THREE_SIZES = [((10, 10), (16, 4)), ((5, 5), (32, 4)), ((12, 4), (8, 4))]


def test_model_within_ten_percent_at_three_sizes():
    for grid, size in THREE_SIZES:
        r = K.run("wse2", grid, size)
        assert r.ok, (grid, size)
        assert abs(r.model_error) <= 0.10, (grid, size, r.cycles, r.model_cycles)


def test_model_reaches_the_full_wafer():
    est = K.estimate("wse2", "full", (200, 1000))
    assert est["grid"] == [750, 994] and est["model_cycles"] > 0
    with pytest.raises(KernelError, match="too large to simulate"):
        K.run("wse2", "full", (200, 1000))
    with pytest.raises(KernelError, match="needs .* B per PE"):
        K.model("wse2", (10, 10), (800, 10))
    # compute dominates: the time grows linearly in nz and in the steps
    assert K.model("wse2", (20, 20), (64, 20)) == 2 * K.model("wse2", (20, 20), (64, 10))


def test_cli(capsys):
    assert main(["run", "stencil-25pt", "--grid", "4x3", "--size", "nz=6,steps=2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is True and d["grid"] == [4, 3]
