"""The model package's public surface, its docs, and the shapes of the fixed trees."""

import doctest
import math
import re
from pathlib import Path

import pytest

import waferscale.model
from waferscale import arch, model
from waferscale.model.table import main, reduce_table

ROOT = Path(__file__).resolve().parents[1]
WSE2 = arch.preset("wse2")


def test_public_surface():
    for name in (
        "Pattern",
        "Transfer",
        "spatial_quantities",
        "SpatialQuantities",
        "predict_cycles",
        "chain_reduce",
        "star_reduce",
        "flood_broadcast_1d",
        "broadcast_2d",
        "ring_allreduce",
        "reduce_then_broadcast_allreduce",
        "lower_bound_cycles",
        "autogen_tree",
        "ReductionTree",
        "reduce_pattern",
        "best_reduce",
    ):
        assert name in model.__all__ and hasattr(model, name), name
    assert model.ALGORITHMS == ("star", "chain", "tree", "two_phase", "autogen")
    assert issubclass(model.PatternError, model.ModelError)
    assert issubclass(model.ModelError, ValueError)


def test_package_doctest():
    result = doctest.testmod(waferscale.model, raise_on_error=False, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def test_docs_table_is_the_scripts_output():
    text = (ROOT / "docs" / "model.md").read_text()
    table = re.search(r"<!-- table:begin -->\n(.*?)\n<!-- table:end -->", text, re.S)
    assert table, "docs/model.md must hold the table between the table markers"
    assert table.group(1) == reduce_table(WSE2)


def test_docs_mention_every_public_name():
    text = (ROOT / "docs" / "model.md").read_text()
    missing = [
        n
        for n in model.__all__
        if n not in text and n not in ("ModelError", "SpatialQuantities", "Prediction")
    ]
    assert not missing, f"docs/model.md does not mention {missing}"


def test_table_script(capsys):
    assert main(["--P", "4", "--B", "1", "16"]) == 0
    out = capsys.readouterr().out
    assert "| 4 | 1 | 10 | 19 | 14.3 | 14.3 | 10 | 10 | star |" in out


@pytest.mark.parametrize("k", range(1, 9))
def test_binary_tree_formula(k):
    # P = 2^k: hops = (P/2) log2 P, C = B log2 P, D = log2 P
    P, B = 2**k, 12
    tree = model.reduce_tree("tree", P, B, WSE2)
    assert (tree.hops, tree.max_children, tree.depth) == (P // 2 * k, k, k)
    expected = max(B * k, (B * (P // 2 * k)) / (P - 1) + (P - 1)) + 5 * k
    assert tree.predicted_cycles == expected


@pytest.mark.parametrize("P", [4, 5, 9, 10, 16, 17, 30, 64, 100, 512])
def test_two_phase_formula(P):
    s = math.isqrt(P)
    G = -(-P // s)
    sizes = [min(s, P - g * s) for g in range(G)]
    tree = model.reduce_tree("two_phase", P, 7, WSE2)
    assert tree.hops == (P - G) + s * (G - 1)
    assert tree.max_children == 2
    assert tree.depth == max(n - 1 + g for g, n in enumerate(sizes))
