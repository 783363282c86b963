"""``cholesky`` (issue #6): right-looking tiled Cholesky on the lower-triangle PEs of a T x T
grid, row broadcasts re-routed by switches that control wavelets flip. Checked against
numpy.linalg.cholesky; the model (a max-plus recurrence over the tiles) stays within 10 % of the
simulator at three sizes and reaches the full wafer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale.kernels import REGISTRY, KernelError
from waferscale.kernels.cholesky import build_layout, work_cycles

K = REGISTRY["cholesky"]

SMALL = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _check(grid, n, seed=0, arch="wse2"):
    r = K.run(arch, grid, n, seed)
    assert r.ok, (grid, n, r.max_abs_err, r.extras)
    assert r.extras["switches_flipped"]
    return r


def test_default_run_passes_and_matches_the_model():
    assert K.summary and "rtol=1e-5" in K.check
    r = _check(None, None)
    assert abs(r.model_error) <= 0.10, (r.cycles, r.model_cycles)
    assert r.extras["residual_max"] < 1e-5


@pytest.mark.parametrize("grid,n", [((4, 4), 32), ((6, 6), 36), ((4, 4), 64)])
def test_model_within_ten_percent_at_three_sizes(grid, n):
    r = _check(grid, n)
    assert abs(r.model_error) <= 0.10, (grid, n, r.cycles, r.model_cycles)


def test_wse3_runs_and_matches_its_model():
    r = _check(None, None, arch="wse3")
    assert abs(r.model_error) <= 0.10


@SMALL
@given(T=st.integers(1, 5), n=st.integers(1, 20), seed=st.integers(0, 9))
def test_cholesky_property(T, n, seed):
    r = _check((T, T), n, seed)
    assert abs(r.model_error) <= 0.10, (T, n, r.cycles, r.model_cycles)


def test_routes_flip_by_switches():
    """Row routers between the first column and the diagonal start at 'receive' (position 0)
    with a 'send' position 1, in always_pop mode; the column color needs no switches."""
    lay = build_layout("wse2", 4, 2)
    for i in range(4):
        for j in range(1, i):
            assert lay.sw_npos[i, j, 0] == 2 and lay.sw_pop[i, j, 0] == 2
            assert lay.sw_current[i, j, 0] == 0
        assert lay.sw_npos[i, i, 1] == 1  # color C: one route


def test_work_counts():
    w = work_cycles(K_arch := __import__("waferscale").arch.preset("wse2"), 4)
    assert w["gemm"] == 4 * 4 * 4  # b^2 fmacs of b (simd 1)
    assert w["syrk"] == 4 * (4 + 3 + 2 + 1)
    assert K_arch.name == "wse2"


def test_refusals_and_the_full_wafer():
    with pytest.raises(KernelError, match="square"):
        K.run("wse2", (4, 2), 16)
    est = K.estimate("wse2", (750, 750), 7500)
    assert est["model_cycles"] > 0 and est["flops_per_s"] > 0
    with pytest.raises(KernelError, match="too large to simulate"):
        K.run("wse2", (750, 750), 7500)
