"""The demo workloads (waferscale.demos): results equal numpy, cycles match the timing model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from waferscale.demos import (
    broadcast_1d,
    chain_reduce_1d,
    chain_reduce_2d,
    chain_reference,
    gemv,
    tasks_flood,
)
from waferscale.demos.gemv import gemv_reference_hw_order

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("P,B", [(2, 1), (2, 16), (8, 16), (33, 5), (64, 100), (128, 7)])
def test_chain_1d_cycles_equal_the_model(P, B):
    r = chain_reduce_1d(P, B, seed=P).run()
    assert r["ok"] and r["bit_exact"] and r["max_abs_err"] == 0.0
    assert r["cycles"] == B + 6 * (P - 1) == r["model_cycles"]
    assert r["stats"]["wavelet_hops"] == B * (P - 1)
    assert r["stats"]["tasks"] == 2 * P  # each PE: main, then the completion task of its op


@pytest.mark.parametrize("W,H,B", [(5, 4, 8), (1, 5, 8), (6, 1, 3), (4, 4, 1), (7, 3, 20)])
def test_chain_2d_is_bit_exact_in_hardware_order(W, H, B):
    wl = chain_reduce_2d(W, H, B, seed=W * H)
    r = wl.run()
    assert r["ok"] and r["bit_exact"], r
    # rows, then the last column: no overlap between the phases
    assert r["cycles"] == r["model_cycles"]
    got = wl.engine.read_symbol(W - 1, 0, "a")
    assert got.dtype == np.float32


def test_chain_reference_is_the_sequential_float32_order():
    data = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    rows = []
    for y in range(3):
        s = data[y, 0]
        for x in range(1, 4):
            s = np.float32(s + data[y, x])
        rows.append(s)
    total = rows[2]
    for y in (1, 0):
        total = total + rows[y]
    assert np.array_equal(chain_reference(data), total)
    assert chain_reference(data).dtype == np.float32


@pytest.mark.parametrize("P,B", [(2, 8), (16, 1), (64, 100), (200, 50)])
def test_broadcast_1d_every_pe_receives_within_5_percent_of_the_model(P, B):
    r = broadcast_1d(P, B).run()
    assert r["ok"] and r["max_abs_err"] == 0.0
    model = B + P + 2 * 2
    assert r["model_cycles"] == model
    assert abs(r["cycles"] - model) <= 0.05 * model
    assert r["stats"]["ramp_down"] == B * (P - 1)


@pytest.mark.parametrize(
    "M,N,W,H", [(64, 48, 4, 4), (16, 16, 1, 1), (32, 32, 4, 1), (24, 36, 3, 2), (20, 8, 1, 5)]
)
def test_gemv_matches_numpy(M, N, W, H):
    r = gemv(M, N, W, H, seed=M + N).run()
    assert r["ok"], r
    assert r["bit_exact"]  # unfused multiply-add in the PEs' order
    assert r["max_abs_err"] < 1e-4
    assert r["flops"] == 2 * M * N
    # local work alone: N/W multiply-adds of M/H elements at one f32 per cycle
    assert r["cycles"] >= (M // H) * (N // W)


def test_gemv_reference_hw_order_close_to_matmul():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((12, 10)).astype(np.float32)
    x = rng.standard_normal(10).astype(np.float32)
    np.testing.assert_allclose(gemv_reference_hw_order(A, x, 2, 3), A @ x, rtol=1e-5, atol=1e-5)


def test_gemv_rejects_uneven_tiling():
    with pytest.raises(ValueError, match="divide"):
        gemv(10, 10, 3, 2)


@pytest.mark.parametrize("W,H,n", [(2, 1, 5), (4, 3, 10), (5, 2, 33)])
def test_tasks_flood_every_pe_gets_n_wavelets(W, H, n):
    # two-way traffic along each row (east, and the wrap back west): this once overflowed the
    # kernel's active-router list (scratch/repro_act_r_overflow.py)
    r = tasks_flood(W, H, n, seed=n).run()
    assert r["ok"] and r["max_abs_err"] == 0.0
    assert r["stats"]["tasks"] == r["tasks_expected"] == W * H * (n + 1)
    assert r["cycles"] >= n


def test_tasks_flood_needs_two_columns():
    with pytest.raises(ValueError, match="W >= 2"):
        tasks_flood(1, 4, 3)


def test_run_reports_the_measurements():
    r = chain_reduce_1d(4, 4).run()
    for key in ("cycles", "ok", "max_abs_err", "stats", "wall_s", "peak_rss_mb", "pes"):
        assert key in r
    assert r["pes"] == 4 and r["wall_s"] >= 0 and r["peak_rss_mb"] > 0
    assert r["stats"]["wavelet_hops"] == 12


def test_cli_demo_runs_gemv(capsys):
    from waferscale.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "matches numpy" in out
    assert "16 x 16" in out and "FLOP/s" in out and "850 MHz" in out


def test_benchmark_quick_json():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "fabric.py"),
            "--json",
            "--quick",
            "--only",
            "chain-1d",
            "--only",
            "gemv",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [r["name"] for r in rows] == ["chain-1d", "gemv"]
    for r in rows:
        for key in (
            "name",
            "pes",
            "simulated_cycles",
            "wall_s",
            "pe_cycles_per_s",
            "wavelet_hops_per_s",
            "tasks_per_s",
            "peak_rss_mb",
            "ok",
        ):
            assert key in r, key
        assert r["ok"] is True
