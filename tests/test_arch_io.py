"""Spec files: YAML, TOML and JSON round trips, `base:` files, bad files."""

import pytest

from waferscale import arch
from waferscale.arch import SpecError

PRESETS = ["wse1", "wse2", "wse3"]


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml", ".json"])
def test_preset_round_trips_through_files(tmp_path, name, suffix):
    spec = arch.preset(name)
    path = arch.save(spec, tmp_path / f"{name}{suffix}")
    back = arch.load(path)
    assert back == spec
    assert back.model_dump() == spec.model_dump()
    assert arch.dumps(back, suffix.lstrip(".").replace("yml", "yaml")) == path.read_text()


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_custom_mesh_round_trips(fmt):
    spec = arch.custom_mesh(5, 7, base="wse3", **{"timing.ramp_latency_cycles": 7})
    assert arch.loads(arch.dumps(spec, fmt), fmt) == spec


def test_toml_leaves_out_none():
    text = arch.dumps(arch.preset("wse2"), "toml")
    assert "peak_flops" not in text
    assert arch.loads(text, "toml").vendor.peak_flops is None


def test_yaml_reads_exponent_floats():
    text = """
name: hand-written
generation: custom
clock_hz: 1.1e9
grid: {columns: 3, rows: 2}
system:
  host_channel_bits_per_s: 7e9
  system_io_latency_s: 5e-6
"""
    spec = arch.loads(text, "yaml")
    assert spec.clock_hz == 1.1e9
    assert spec.system.host_channel_bits_per_s == 7e9
    assert spec.system.system_io_latency_s == 5e-6
    assert spec.grid.program_pes == 6


def test_base_preset_file(tmp_path):
    path = tmp_path / "slow.yaml"
    path.write_text("base: wse2\nname: wse2-slow\ntiming:\n  ramp_latency_cycles: 7\n")
    spec = arch.load(path)
    assert spec.name == "wse2-slow"
    assert spec.timing.ramp_latency_cycles == 7
    assert spec.timing.hop_latency_cycles == 1
    assert spec.grid == arch.preset("wse2").grid


def test_base_file_replaces_grid_whole(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(
        'base = "wse3"\nname = "small"\ngeneration = "custom"\n[grid]\ncolumns = 10\nrows = 4\n'
    )
    spec = arch.load(path)
    assert (spec.grid.program_columns, spec.grid.program_rows) == (10, 4)
    assert spec.pe.data_tasks_bind_to == "queue"


def test_bad_base(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: wse7\n")
    with pytest.raises(SpecError) as info:
        arch.load(path)
    assert str(info.value) == "preset: got 'wse7', expected one of 'wse1', 'wse2', 'wse3'"


def test_errors_in_files_name_the_field(tmp_path):
    path = tmp_path / "bad.toml"
    text = arch.dumps(arch.preset("wse2"), "toml").replace(
        "ramp_latency_cycles = 2", "ramp_latency_cycles = 2.5"
    )
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        arch.load(path)
    assert str(info.value) == "timing.ramp_latency_cycles: got 2.5, expected an integer >= 0"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        arch.load(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_unparseable_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(SpecError, match=r"broken.toml: not valid TOML: "):
        arch.load(path)
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: not valid YAML: "):
        arch.load(path)


def test_top_level_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError) as info:
        arch.load(path)
    assert (
        str(info.value)
        == f"{path}: got [1, 2], expected a mapping of ArchSpec fields at the top level"
    )


def test_unknown_format():
    with pytest.raises(SpecError, match="format: got 'xml'"):
        arch.dumps(arch.preset("wse2"), "xml")
