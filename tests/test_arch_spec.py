"""Presets, the spec models, custom meshes and overrides."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waferscale import arch
from waferscale.arch import ArchSpec, GridSpec, IdRange, SpecError

SUBSPECS = {
    "grid": arch.GridSpec,
    "pe": arch.PESpec,
    "router": arch.RouterSpec,
    "timing": arch.TimingSpec,
    "numerics": arch.NumericsSpec,
    "system": arch.SystemSpec,
    "vendor": arch.VendorFigures,
}
TAGS = ("[S]", "[P]", "[3]", "[?]")
LABELS = {"name", "generation", "description", *SUBSPECS}  # not machine facts


def test_preset_names():
    assert arch.preset_names() == ("wse1", "wse2", "wse3")


@pytest.mark.parametrize("name", ["wse1", "wse2", "wse3"])
def test_presets_build_and_are_shared(name):
    spec = arch.preset(name)
    assert isinstance(spec, ArchSpec)
    assert spec.name == name and spec.generation == name
    assert arch.preset(name) is spec
    assert arch.preset(name.upper()) is spec
    assert hash(spec) == hash(ArchSpec.model_validate(spec.model_dump()))


def test_wse2_values():
    s = arch.preset("wse2")
    assert s.clock_hz == 850e6
    g = s.grid
    assert (g.columns, g.rows, g.program_columns, g.program_rows) == (757, 996, 750, 994)
    assert (g.program_origin_x, g.program_origin_y) == (4, 1)
    assert (g.host_io_columns_west, g.host_io_columns_east) == (4, 3)
    pe = s.pe
    assert (pe.sram_bytes, pe.sram_banks, pe.bank_word_bits) == (49152, 8, 16)
    assert pe.runtime_reserved_bytes == 2048 and pe.user_sram_bytes == 47104
    assert (pe.memory_reads_per_cycle, pe.memory_writes_per_cycle) == (2, 1)
    assert pe.memory_access_bits == 64
    assert (pe.simd_width_f16, pe.simd_width_f32, pe.simd_width_i16) == (4, 1, 4)
    assert (pe.data_task_ids.first, pe.data_task_ids.last) == (0, 23)
    assert (pe.local_task_ids.first, pe.local_task_ids.last) == (0, 30)
    assert pe.control_task_ids.last == 63
    assert pe.data_tasks_bind_to == "color"
    assert (pe.input_queues, pe.output_queues) == (8, 6)
    assert (pe.input_queue_depth, pe.output_queue_depth) == (4, 4)
    assert pe.microthreads == 8 and pe.explicit_microthreads is False
    r = s.router
    assert r.ports == ("NORTH", "SOUTH", "EAST", "WEST", "RAMP")
    assert r.colors == 24 and r.reserved_colors == (21, 22, 23)
    assert r.user_colors == tuple(range(21))
    assert (r.buffer_depth, r.switch_positions, r.color_swap) == (2, 4, True)
    t = s.timing
    assert (t.hop_latency_cycles, t.ramp_latency_cycles, t.turn_penalty_cycles) == (1, 2, 0)
    assert (t.task_startup_cycles, t.op_startup_cycles) == (1, 0)
    assert (t.watchdog_cycles, t.cycle_counter_bits) == (10_000, 48)
    assert s.numerics.formats == ("f16", "f32", "bf16", "cb16", "i16", "u16", "i32", "u32")
    assert s.numerics.fused_multiply_add is False
    y = s.system
    assert (y.host_channels_per_edge, y.runtime_host_channels) == (60, 16)
    assert y.host_channel_bits_per_s == 7e9 and y.host_transaction_overhead_s == 200e-6
    assert y.system_io_latency_s == 5e-6 and y.system_io_bits_per_s == 1.2e12
    assert s.vendor.cores == 850_000 and s.vendor.peak_flops is None


def test_wse3_differences():
    s = arch.preset("wse3")
    assert (s.grid.columns, s.grid.rows) == (762, 1172)
    assert s.pe.simd_width_f16 == 8
    assert s.pe.data_tasks_bind_to == "queue"
    assert s.pe.data_task_ids.ids == range(0, 8)
    assert (s.pe.local_task_ids.first, s.pe.local_task_ids.last) == (8, 30)
    assert s.pe.explicit_microthreads is True
    assert s.timing.turn_penalty_cycles == 20
    assert s.vendor.peak_flops == 125e15


def test_wse1_differences():
    s = arch.preset("wse1")
    assert (s.grid.program_columns, s.grid.program_rows) == (600, 595)
    assert s.pe.memory_access_bits == 32


def test_types_are_exact():
    s = arch.preset("wse2")
    assert type(s.clock_hz) is float
    assert type(s.grid.columns) is int
    assert type(s.router.reserved_colors) is tuple
    assert type(s.system.host_channel_bits_per_s) is float
    # ints given for float fields are stored as floats
    assert type(s.with_overrides(clock_hz=1_000_000_000).clock_hz) is float


def test_frozen():
    s = arch.preset("wse2")
    with pytest.raises(Exception, match="frozen"):
        s.clock_hz = 1.0  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        s.timing.hop_latency_cycles = 3  # type: ignore[misc]


def test_model_config():
    for model in (ArchSpec, IdRange, *SUBSPECS.values()):
        assert model.model_config["extra"] == "forbid"
        assert model.model_config["frozen"] is True
        assert model.model_config["strict"] is True


@pytest.mark.parametrize("model", [ArchSpec, *SUBSPECS.values()])
def test_every_field_documented_with_provenance(model):
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
        if model is ArchSpec and name in LABELS:
            continue
        if model is arch.VendorFigures or any(tag in info.description for tag in TAGS):
            continue
        pytest.fail(f"{model.__name__}.{name}: no provenance tag in {info.description!r}")


def test_idrange():
    r = IdRange(first=8, last=30)
    assert len(r) == 23
    assert 8 in r and 30 in r and 7 not in r and 31 not in r
    assert True not in IdRange(first=0, last=3) and "1" not in r
    assert list(r.ids) == list(range(8, 31))
    assert len(IdRange(first=5, last=5)) == 1


def test_custom_mesh_defaults():
    s = arch.custom_mesh(4, 3)
    assert s.generation == "custom"
    assert s.name == "wse2-mesh-4x3"
    g = s.grid
    assert (g.columns, g.rows, g.program_columns, g.program_rows) == (4, 3, 4, 3)
    assert (g.program_origin_x, g.program_origin_y) == (0, 0)
    assert (g.host_io_columns_west, g.host_io_columns_east) == (0, 0)
    assert s.vendor == arch.VendorFigures()
    assert s.timing == arch.preset("wse2").timing
    assert s.pe == arch.preset("wse2").pe


def test_custom_mesh_overrides_and_base():
    s = arch.custom_mesh(8, 2, base="wse3", **{"timing.ramp_latency_cycles": 7}, name="tiny")
    assert s.timing.ramp_latency_cycles == 7
    assert s.name == "tiny"
    assert s.pe.data_tasks_bind_to == "queue"
    s2 = arch.custom_mesh(8, 2, base=arch.preset("wse3"), timing__ramp_latency_cycles=7)
    assert s2.timing == s.timing
    io = arch.custom_mesh(10, 2, **{"grid.host_io_columns_west": 2, "grid.host_io_columns_east": 1})
    assert (io.grid.program_origin_x, io.grid.program_columns) == (2, 7)


def test_with_overrides_validates():
    s = arch.preset("wse2").with_overrides({"timing.hop_latency_cycles": 3})
    assert s.timing.hop_latency_cycles == 3
    assert arch.preset("wse2").timing.hop_latency_cycles == 1
    with pytest.raises(SpecError, match=r"^timing.hop_latency_cycles: got -3"):
        arch.preset("wse2").with_overrides(timing__hop_latency_cycles=-3)


def test_apply_overrides_on_plain_data():
    data = {"a": {"b": 1}, "c": 2}
    out = arch.apply_overrides(data, {"a.b": 5, "d.e": 1})
    assert out == {"a": {"b": 5}, "c": 2, "d": {"e": 1}}
    assert data == {"a": {"b": 1}, "c": 2}


def test_grid_derivation():
    g = GridSpec(columns=10, rows=5, host_io_columns_west=2)
    assert (g.program_origin_x, g.program_columns, g.host_io_columns_east) == (2, 8, 0)
    g = GridSpec(columns=10, rows=5, program_origin_x=2, program_columns=3, program_origin_y=1)
    assert (g.host_io_columns_west, g.host_io_columns_east, g.program_rows) == (2, 5, 4)
    assert g.fabric_pes == 50 and g.program_pes == 12


def test_minimal_archspec():
    s = ArchSpec(name="m", generation="custom", grid={"columns": 2, "rows": 2})
    assert s.pe == arch.PESpec() and s.clock_hz == 850e6 and s.description == ""


def test_cycles_to_seconds():
    assert arch.preset("wse2").cycles_to_seconds(850e6) == 1.0


@settings(max_examples=25, deadline=None)
@given(
    columns=st.integers(1, 2000),
    rows=st.integers(1, 2000),
    ramp=st.integers(0, 50),
)
def test_custom_mesh_any_size(columns, rows, ramp):
    s = arch.custom_mesh(columns, rows, timing__ramp_latency_cycles=ramp)
    assert s.grid.program_pes == columns * rows == arch.derived(s).fabric_pes
    assert arch.loads(arch.dumps(s, "toml"), "toml") == s
