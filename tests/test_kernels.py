"""The kernel library (waferscale.kernels): every kernel passes its vendor-style check against
numpy on the simulator, at a small size and over random small sizes (hypothesis), and its
analytic cost model stays within 10 % of the simulator (three sizes per kernel) while reaching
the full wafer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waferscale.arch import preset
from waferscale.kernels import REGISTRY, Kernel, KernelError, KernelResult
from waferscale.kernels._base import parse_grid

NAMES = [
    "gemv",
    "gemv-checkerboard",
    "residual",
    "single-tile-matvec",
    "stencil-7pt-spmv",
    "game-of-life",
    "mandelbrot",
    "histogram",
    "wide-multiplication",
    "bandwidth-test",
]

WSE2 = preset("wse2")


def test_registry_holds_every_kernel_in_order():
    # these come first, in this order; later modules register more after them
    assert list(REGISTRY)[: len(NAMES)] == NAMES
    for name, k in REGISTRY.items():
        assert isinstance(k, Kernel) and k.name == name and k.summary and k.check
        assert set(k.default_size) == set(k.size_names)


# -- the vendor-style check at the default (small) size -----------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_default_run_passes_its_check(name):
    r = REGISTRY[name].run()
    assert isinstance(r, KernelResult)
    assert r.ok, (name, r.max_abs_err, r.extras)
    assert r.cycles > 0 and r.time_s == pytest.approx(r.cycles / WSE2.clock_hz)
    assert abs(r.model_error) <= 0.10, (name, r.cycles, r.model_cycles)
    d = r.to_dict()
    for key in ("ok", "max_abs_err", "cycles", "time_s", "flops_per_s", "model_cycles"):
        assert key in d
    json.dumps(d)  # serialisable


def test_checks_are_vendor_style():
    """f32 kernels: rtol 1e-5; f16 GEMV: atol 1e-2; integer programs: exact."""
    assert "rtol=1e-5" in REGISTRY["gemv"].check
    assert "rtol=1e-5" in REGISTRY["residual"].check
    assert "atol=1e-2" in REGISTRY["gemv-checkerboard"].check
    for name in ("game-of-life", "mandelbrot", "histogram", "wide-multiplication"):
        assert "exact" in REGISTRY[name].check


# -- hypothesis: random small grids and sizes ----------------------------------------------------

SMALL = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _grid(max_w=4, max_h=4):
    return st.tuples(st.integers(1, max_w), st.integers(1, max_h))


def _check(name, grid, size, seed=0):
    r = REGISTRY[name].run("wse2", grid, size, seed)
    assert r.ok, (name, grid, size, r.max_abs_err, r.extras)
    return r


@SMALL
@given(grid=_grid(), M=st.integers(1, 24), N=st.integers(1, 24), seed=st.integers(0, 9))
def test_gemv_property(grid, M, N, seed):
    r = _check("gemv", grid, (M, N), seed)
    assert r.cycles == r.model_cycles
    assert r.extras["bit_exact_pe_order"]


@SMALL
@given(grid=_grid(), M=st.integers(1, 24), N=st.integers(1, 24), seed=st.integers(0, 9))
def test_gemv_checkerboard_property(grid, M, N, seed):
    r = _check("gemv-checkerboard", grid, (M, N), seed)
    assert r.cycles == r.model_cycles
    assert r.extras["bit_exact_pe_order"]


@SMALL
@given(grid=_grid(3, 3), M=st.integers(1, 20), N=st.integers(1, 20), seed=st.integers(0, 9))
def test_residual_property(grid, M, N, seed):
    r = _check("residual", grid, (M, N), seed)
    assert r.cycles == r.model_cycles


@SMALL
@given(grid=_grid(3, 3), N=st.integers(1, 12), iters=st.integers(1, 2))
def test_single_tile_matvec_property(grid, N, iters):
    r = _check("single-tile-matvec", grid, (N, iters))
    assert r.cycles == r.model_cycles


@SMALL
@given(grid=_grid(4, 4), nz=st.integers(1, 12), seed=st.integers(0, 9))
def test_stencil_property(grid, nz, seed):
    r = _check("stencil-7pt-spmv", grid, nz, seed)
    assert r.cycles == r.model_cycles


@SMALL
@given(grid=_grid(5, 5), gens=st.integers(1, 4), seed=st.integers(0, 9))
def test_game_of_life_property(grid, gens, seed):
    r = _check("game-of-life", grid, gens, seed)
    assert abs(r.model_error) <= 0.10


@SMALL
@given(grid=_grid(3, 3), rows=st.integers(1, 6), cols=st.integers(1, 6), iters=st.integers(1, 8))
def test_mandelbrot_property(grid, rows, cols, iters):
    r = _check("mandelbrot", grid, (rows, cols, iters))
    assert r.cycles == r.model_cycles


@SMALL
@given(grid=_grid(4, 4), n=st.integers(1, 12), bpp=st.integers(1, 3), seed=st.integers(0, 9))
def test_histogram_property(grid, n, bpp, seed):
    _check("histogram", grid, (n, bpp), seed)


@SMALL
@given(grid=_grid(2, 2), words=st.integers(1, 4), seed=st.integers(0, 9))
def test_wide_multiplication_property(grid, words, seed):
    r = _check("wide-multiplication", grid, 16 * words, seed)
    assert r.cycles == r.model_cycles


@SMALL
@given(grid=_grid(4, 4), n=st.integers(1, 40), seed=st.integers(0, 9))
def test_bandwidth_test_property(grid, n, seed):
    r = _check("bandwidth-test", grid, n, seed)
    assert r.cycles == r.model_cycles


# -- the model against the simulator at three sizes ----------------------------------------------

THREE_SIZES = {
    "gemv": [((4, 3), (24, 32)), ((8, 8), (64, 64)), ((5, 4), (40, 100))],
    "gemv-checkerboard": [((4, 4), (32, 32)), ((4, 4), (64, 128)), ((3, 2), (17, 23))],
    "residual": [((2, 2), (16, 16)), ((4, 4), (64, 128)), ((2, 5), (6, 40))],
    "single-tile-matvec": [((4, 4), (16, 1)), ((2, 2), (40, 1)), ((3, 2), (24, 2))],
    "stencil-7pt-spmv": [((5, 5), 16), ((4, 4), 64), ((5, 5), 100)],
    "game-of-life": [((12, 12), 2), ((12, 12), 8), ((6, 6), 20)],
    "mandelbrot": [((4, 4), (16, 16, 16)), ((4, 2), (10, 12, 7)), ((5, 1), (6, 4, 20))],
    "histogram": [((8, 8), (16, 4)), ((4, 4), (64, 2)), ((16, 2), (32, 2))],
    "wide-multiplication": [((1, 1), 64), ((1, 1), 128), ((1, 1), 256)],
    "bandwidth-test": [((5, 5), 64), ((2, 3), 100), ((8, 8), 512)],
}


@pytest.mark.parametrize("name", NAMES)
def test_model_within_ten_percent_at_three_sizes(name):
    rows = []
    for grid, size in THREE_SIZES[name]:
        r = REGISTRY[name].run("wse2", grid, size)
        assert r.ok, (name, grid, size)
        rows.append((grid, size, r.cycles, r.model_cycles, r.model_error))
    assert len({(g, str(s)) for g, s, *_ in rows}) == 3
    bad = [row for row in rows if abs(row[4]) > 0.10]
    assert not bad, f"{name}: model off by more than 10 %: {bad}"


@pytest.mark.parametrize(
    "name",
    ["gemv-checkerboard", "stencil-7pt-spmv", "histogram", "wide-multiplication", "mandelbrot"],
)
def test_wse3_runs_and_matches_its_model(name):
    """WSE-3: data tasks bind to input queues, async fabric ops name their microthread."""
    r = REGISTRY[name].run("wse3")
    assert r.ok and abs(r.model_error) <= 0.10, (r.cycles, r.model_cycles)


# -- the model reaches the full wafer ------------------------------------------------------------

FULL_WAFER_SIZES = {
    "gemv": (994 * 64, 750 * 64),
    "gemv-checkerboard": (994 * 64, 750 * 64),
    "residual": (994 * 64, 750 * 64),
    "single-tile-matvec": (100, 1),
    "stencil-7pt-spmv": 500,
    "game-of-life": 1000,
    "mandelbrot": (994 * 8, 256, 3000),
    "histogram": (16, 4),
    "wide-multiplication": 128,
    "bandwidth-test": 1024,
}


@pytest.mark.parametrize("name", NAMES)
def test_model_reaches_the_full_wafer(name):
    k = REGISTRY[name]
    est = k.estimate("wse2", "full", FULL_WAFER_SIZES[name])
    assert est["grid"] == [750, 994]
    assert isinstance(est["model_cycles"], int) and est["model_cycles"] > 0
    assert est["time_s"] == pytest.approx(est["model_cycles"] / WSE2.clock_hz)
    with pytest.raises(KernelError, match="too large to simulate"):
        k.run("wse2", "full", FULL_WAFER_SIZES[name])


def test_models_scale_as_expected():
    g = REGISTRY["gemv"]
    # the compute term (nb fmacs of mb) dominates large blocks: 4x the block -> ~4x the cycles
    small = g.model("wse2", (16, 16), (48 * 16, 48 * 16))
    big = g.model("wse2", (16, 16), (96 * 16, 96 * 16))
    assert 3.5 < big / small < 4.5
    # single-tile matvec: independent of the grid
    stm = REGISTRY["single-tile-matvec"]
    assert stm.model("wse2", (1, 1), 50) == stm.model("wse2", "full", 50)
    # wide multiplication: quadratic in the bits
    wm = REGISTRY["wide-multiplication"]
    assert 3.5 < wm.model("wse2", None, 256) / wm.model("wse2", None, 128) < 4.5


def test_model_refuses_what_does_not_fit():
    with pytest.raises(KernelError, match="needs .* B per PE"):
        REGISTRY["single-tile-matvec"].model("wse2", (1, 1), 200)
    with pytest.raises(KernelError, match="does not fit"):
        REGISTRY["gemv"].model("wse2", (751, 10), 100)
    with pytest.raises(KernelError, match="multiple of 16"):
        REGISTRY["wide-multiplication"].model("wse2", None, 100)


# -- arguments ------------------------------------------------------------------------------------


def test_size_and_grid_parsing():
    g = REGISTRY["gemv"]
    assert g.size_of(None) == g.default_size
    assert g.size_of("64x32") == {"M": 64, "N": 32}
    assert g.size_of("M=8,N=4") == {"M": 8, "N": 4}
    assert g.size_of(16) == {"M": 16, "N": 16}  # square
    assert g.size_of({"N": 5}) == {"M": g.default_size["M"], "N": 5}
    m = REGISTRY["mandelbrot"]
    assert m.size_of(8) == {"rows": 8, "cols": 16, "iters": 16}
    with pytest.raises(KernelError, match="unknown size parameter"):
        g.size_of("K=3")
    with pytest.raises(KernelError, match="positive"):
        g.size_of((0, 3))
    assert parse_grid("4x3") == (4, 3)
    assert parse_grid("5") == (5, 5)
    assert parse_grid("full", WSE2) == (750, 994)
    with pytest.raises(KernelError):
        parse_grid("4xq")


def test_flop_and_byte_conventions():
    r = REGISTRY["gemv"].run("wse2", (2, 2), (8, 8))
    assert r.flops == 2 * 8 * 8 + 8
    assert r.flops_per_s == pytest.approx(r.flops / r.time_s)
    assert r.bytes == 4 * (8 * 8 + 8 + 2 * 8)
    bw = REGISTRY["bandwidth-test"].run("wse2", (2, 2), 16)
    assert bw.extras["host_time_model_s"] == pytest.approx(bw.extras["host_time_copy_h2d_s"])
    assert bw.extras["h2d_bytes_per_s"] > 0


def test_results_are_deterministic():
    a = REGISTRY["histogram"].run("wse2", (3, 3), (8, 2), seed=5)
    b = REGISTRY["histogram"].run("wse2", (3, 3), (8, 2), seed=5)
    assert a.cycles == b.cycles and a.max_abs_err == b.max_abs_err == 0


def test_reference_helpers_agree_with_numpy():
    from waferscale.kernels.game_of_life import life_reference
    from waferscale.kernels.stencil_spmv import stencil_reference

    glider = np.zeros((6, 6), np.int64)
    glider[0, 1] = glider[1, 2] = glider[2, 0] = glider[2, 1] = glider[2, 2] = 1
    moved = life_reference(glider, 4)  # a glider moves one cell down and right
    assert np.array_equal(moved[1:, 1:], glider[:-1, :-1])
    x = np.ones((2, 2, 3), np.float32)
    coef = np.ones((2, 2, 7, 3), np.float32)
    y = stencil_reference(x, coef)
    assert y[0, 0, 0] == 1 + 1 + 1 + 1  # center, east, south, up
