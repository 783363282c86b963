"""``waferscale run``: the kernel library from the command line."""

from __future__ import annotations

import json

import pytest

from waferscale.cli import main
from waferscale.kernels import REGISTRY


def test_run_list_prints_every_kernel(capsys):
    assert main(["run", "--list"]) == 0
    assert capsys.readouterr().out.split() == list(REGISTRY)


def test_run_prints_check_error_cycles_time_flops(capsys):
    assert main(["run", "gemv", "--grid", "2x2", "--size", "8x8"]) == 0
    out = capsys.readouterr().out
    for word in ("check", "ok", "max error", "cycles", "time", "FLOP/s", "model cycles"):
        assert word in out
    assert "[f64]" in out  # the check's text is printed literally (no markup eaten)


def test_run_json(capsys):
    assert main(["run", "residual", "--json", "--size", "M=12,N=10", "--seed", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("ok", "max_abs_err", "cycles", "time_s", "flops_per_s", "model_cycles"):
        assert key in d
    assert d["ok"] is True and d["size"] == {"M": 12, "N": 10} and d["grid"] == [2, 2]
    assert d["cycles"] == d["model_cycles"]


def test_run_model_only_reaches_the_full_wafer(capsys):
    assert main(["run", "stencil-7pt-spmv", "--grid", "full", "--size", "500", "--model"]) == 0
    out = capsys.readouterr().out
    assert "750 x 994" in out and "model cycles" in out
    assert (
        main(["run", "gemv", "--grid", "full", "--size", "63616x48000", "--model", "--json"]) == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["model_cycles"] == REGISTRY["gemv"].model("wse2", "full", (63616, 48000))


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "gemvv"], "did you mean 'gemv'"),
        (["run"], "name a kernel"),
        (["run", "gemv", "--size", "K=3"], "unknown size parameter"),
        (["run", "gemv", "--grid", "full"], "too large to simulate"),
    ],
)
def test_run_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_run_other_arch(capsys):
    assert main(["run", "wide-multiplication", "--arch", "wse3", "--size", "64", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "wse3" and d["ok"]
