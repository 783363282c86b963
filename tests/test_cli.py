"""The command line, called in-process through main([...]) and once as a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from waferscale import arch
from waferscale.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo(capsys):
    code, out, err = run(capsys, "demo")
    assert code == 0 and err == ""
    assert "757 x 996" in out
    assert "750 x 994" in out
    assert "753,972" in out and "850,000" in out  # derived beside vendor
    assert "-11.3%" in out
    assert "5.13 PFLOP/s" in out


def test_arch_list(capsys):
    code, out, _ = run(capsys, "arch", "list")
    assert code == 0
    for name in arch.preset_names():
        assert name in out
    code, out, _ = run(capsys, "arch", "list", "--json")
    assert [row["name"] for row in json.loads(out)] == ["wse1", "wse2", "wse3"]


@pytest.mark.parametrize("name", ["wse1", "wse2", "wse3"])
def test_arch_show_table(capsys, name):
    code, out, _ = run(capsys, "arch", "show", name)
    assert code == 0
    assert "ramp_latency_cycles" in out
    assert "difference" in out
    assert f"{arch.derived(arch.preset(name)).fabric_pes:,}" in out


def test_arch_show_json(capsys):
    code, out, _ = run(capsys, "arch", "show", "wse2", "--json")
    assert code == 0
    data = json.loads(out)
    expected = {
        "name": "wse2",
        "columns": 757,
        "rows": 996,
        "pe_count": 753_972,
        "sram_bytes_per_pe": 49_152,
        "clock_hz": 850e6,
        "colors": 24,
        "hop_latency_cycles": 1,
        "ramp_latency_cycles": 2,
        "f16_simd_width": 4,
        "peak_flops_f16": 5_127_009_600_000_000.0,
        "memory_bandwidth_bytes_per_s": 15_381_028_800_000_000.0,
        "fabric_bandwidth_bits_per_s": 164_064_307_200_000_000.0,
    }
    for key, value in expected.items():
        assert data[key] == value, key
    assert arch.ArchSpec.model_validate(data["spec"]) == arch.preset("wse2")
    assert data["derived"]["program_pes"] == 745_500
    assert data["comparison"][0]["vendor"] == 850_000
    _, out2, _ = run(capsys, "arch", "show", "wse2", "--format", "json")
    assert out2 == out


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_arch_show_file_formats_and_files(capsys, tmp_path, fmt):
    code, out, _ = run(capsys, "arch", "show", "wse3", "--format", fmt)
    assert code == 0
    path = tmp_path / f"spec.{fmt}"
    path.write_text(out)
    assert arch.load(path) == arch.preset("wse3")
    code, out, _ = run(capsys, "arch", "show", str(path), "--json")
    assert code == 0 and json.loads(out)["columns"] == 762
    code, out, _ = run(capsys, "arch", "validate", str(path))
    assert (code, out) == (0, "ok\n")


def test_arch_show_unknown(capsys):
    code, out, err = run(capsys, "arch", "show", "wse9")
    assert code == 1 and out == ""
    assert err == (
        "NAME: got 'wse9', expected a preset (wse1, wse2, wse3) or a .yaml/.yml/.toml/.json file\n"
    )


def test_arch_validate_bad(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    text = arch.dumps(arch.preset("wse2"), "yaml")
    text = text.replace("ramp_latency_cycles: 2", "ramp_latency_cycles: 2.5")
    text = text.replace("reserved_colors: [21, 22, 23]", "reserved_colors: [21, 22, 22]")
    path.write_text(text)
    code, out, err = run(capsys, "arch", "validate", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "router.reserved_colors[2]: got 22, expected each color at most once",
        "timing.ramp_latency_cycles: got 2.5, expected an integer >= 0",
    ]


def test_arch_validate_missing_and_suffix(capsys, tmp_path):
    code, _, err = run(capsys, "arch", "validate", str(tmp_path / "none.yaml"))
    assert code == 1 and "cannot read" in err
    code, _, err = run(capsys, "arch", "validate", str(tmp_path / "spec.ini"))
    assert code == 1 and "expected a file ending in .yaml" in err


def test_arch_schema(capsys):
    code, out, _ = run(capsys, "arch", "schema")
    schema = json.loads(out)
    assert code == 0 and "TimingSpec" in schema["$defs"]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["demo"],
        ["arch"],
        ["arch", "list"],
        ["arch", "show"],
        ["arch", "validate"],
        ["arch", "schema"],
    ],
)
def test_help_everywhere(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    assert "usage: waferscale" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: waferscale" in out
    code, out, _ = run(capsys, "arch")
    assert code == 2 and "usage: waferscale arch" in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("waferscale 0.")


def test_subprocess_module_entry():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "waferscale", "arch", "show", "wse2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pe_count"] == 753_972
