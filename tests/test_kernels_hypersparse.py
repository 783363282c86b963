"""``hypersparse-spmv``: y = A x for a matrix with fewer nonzeros than rows (power-law rows), on a
load-balanced 2D partition: x flooded along the rows through counter filters, partial y
chain-reduced to the owners. Checked against numpy (allclose, and bit-exact against the PEs'
order), the partition's balance, and the cost model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from waferscale.cli import main
from waferscale.kernels import REGISTRY, KernelError
from waferscale.kernels import hypersparse as HS

K = REGISTRY["hypersparse-spmv"]


def test_registered():
    assert K.name == "hypersparse-spmv" and "rtol=1e-5" in K.check
    assert K.default_grid == (4, 4) and K.size_names == ("M", "N", "nnz")


# -- the matrix and the partition (no simulation) ----------------------------------------------


def test_structure_is_hypersparse_and_deterministic():
    rows, cols = HS.structure(4096, 4096, 1024)
    assert len(rows) == 1024 and len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == 1024
    assert len(np.unique(rows)) < 4096 // 4  # most rows are empty
    assert np.bincount(rows)[:8].sum() > 8 * 1024 / 4096 * 10  # the top rows are heavy
    again = HS.structure.__wrapped__(4096, 4096, 1024)
    assert np.array_equal(rows, again[0]) and np.array_equal(cols, again[1])


@pytest.mark.parametrize("grid", [(4, 4), (3, 5), (1, 6), (7, 1)])
def test_partition_covers_every_nonzero_once_and_balances(grid):
    W, H = grid
    M, N, nnz = 3000, 2000, 900
    rows, cols = HS.structure(M, N, nnz)
    part = HS.partition(M, N, nnz, W, H)
    seen = np.zeros(nnz, int)
    for j in range(H):
        for i in range(W):
            e = part.pe_nonzeros(j, i)
            seen[e] += 1
            assert np.all((rows[e] >= part.row_cut[j]) & (rows[e] < part.row_cut[j + 1]))
            k0, k1 = part.k[j, i], part.k[j, i + 1]
            assert np.all(np.isin(cols[e], part.cols[j][k0:k1]))
            assert len(e) == part.loads[j, i]
    assert np.all(seen == 1)
    loads = part.loads
    assert loads.max() <= 1.15 * loads.mean() + 2
    if W * H > 1:  # a plain block partition of the same matrix is far worse
        assert HS.block_partition_loads(M, N, nnz, W, H).max() > loads.max()


def test_counter_filters_pass_each_pe_its_slice():
    part = HS.partition(4096, 4096, 1024, 4, 4)
    for j in range(4):
        nc = len(part.cols[j])
        for i in range(1, 4):
            k0, k1 = int(part.k[j, i]), int(part.k[j, i + 1])
            init, passing = (nc - k0) % nc, k1 - k0
            got = [k for k in range(2 * nc) if (init + k) % nc < passing]  # two floods
            assert got == list(range(k0, k1)) + list(range(nc + k0, nc + k1))


# -- runs ------------------------------------------------------------------------------------------


def test_default_run():
    r = K.run()
    e = r.extras
    assert r.ok and e["bit_exact_pe_order"], (r.max_abs_err, e)
    assert e["imbalance"] < 1.05 and e["block_partition_imbalance"] > 2
    assert abs(r.model_error) <= 0.02, (r.cycles, r.model_cycles)
    json.dumps(r.to_dict())


def test_wse3():
    r = K.run("wse3", (3, 3), (900, 700, 300))
    assert r.ok and r.extras["bit_exact_pe_order"] and abs(r.model_error) <= 0.10


SMALL = settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@SMALL
@given(
    grid=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    M=st.integers(1, 150),
    N=st.integers(1, 150),
    nnz=st.integers(1, 200),
    seed=st.integers(0, 9),
)
def test_property(grid, M, N, nnz, seed):
    assume(nnz <= M * N // 2)
    r = K.run("wse2", grid, (M, N, nnz), seed)
    assert r.ok and r.extras["bit_exact_pe_order"], (grid, M, N, nnz, r.max_abs_err)
    assert abs(r.model_error) <= 0.10, (grid, M, N, nnz, r.cycles, r.model_cycles)


THREE_SIZES = [
    ((4, 4), (4096, 4096, 1024)),
    ((5, 5), (2000, 3000, 900)),
    ((8, 2), (800, 5000, 640)),
]


def test_model_within_ten_percent_at_three_sizes():
    for grid, size in THREE_SIZES:
        r = K.run("wse2", grid, size)
        assert r.ok, (grid, size)
        assert abs(r.model_error) <= 0.10, (grid, size, r.cycles, r.model_cycles)


def test_model_reaches_the_full_wafer():
    est = K.estimate("wse2", "full", (10_000_000, 10_000_000, 1_000_000))
    assert est["grid"] == [750, 994] and est["model_cycles"] > 0
    with pytest.raises(KernelError, match="too large to simulate"):
        K.run("wse2", "full", (10_000_000, 10_000_000, 1_000_000))
    with pytest.raises(KernelError, match="needs .* B per PE"):
        K.model("wse2", (2, 2), (100_000, 100_000, 40_000))
    with pytest.raises(KernelError, match="not sparse"):
        K.model("wse2", (2, 2), (10, 10, 60))


def test_cli(capsys):
    assert (
        main(["run", "hypersparse-spmv", "--grid", "3x2", "--size", "300x200x100", "--json"]) == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is True and d["size"] == {"M": 300, "N": 200, "nnz": 100}
