"""Bad specs are refused with one line per problem: path, value, what is allowed."""

import pytest

from waferscale import arch
from waferscale.arch import SpecError


def refused(**overrides) -> str:
    with pytest.raises(SpecError) as info:
        arch.custom_mesh(4, 4, **overrides)
    return str(info.value)


def wse2(overrides: dict) -> str:
    with pytest.raises(SpecError) as info:
        arch.preset("wse2").with_overrides(overrides)
    return str(info.value)


def test_spec_error_is_value_error():
    assert issubclass(SpecError, ValueError)


def test_ramp_latency_not_an_integer():
    assert refused(timing__ramp_latency_cycles=2.5) == (
        "timing.ramp_latency_cycles: got 2.5, expected an integer >= 0"
    )


def test_integer_given_as_string_or_float_or_bool():
    assert refused(timing__hop_latency_cycles="2") == (
        "timing.hop_latency_cycles: got '2', expected an integer >= 0"
    )
    assert refused(pe__sram_banks=8.0) == "pe.sram_banks: got 8.0, expected an integer > 0"
    assert refused(router__colors=True) == "router.colors: got True, expected an integer > 0"


def test_zero_and_negative_sizes():
    assert refused(grid__columns=0) == "grid.columns: got 0, expected an integer > 0"
    assert refused(pe__sram_bytes=-49152) == "pe.sram_bytes: got -49152, expected an integer > 0"
    assert refused(timing__turn_penalty_cycles=-1) == (
        "timing.turn_penalty_cycles: got -1, expected an integer >= 0"
    )


def test_float_fields():
    assert refused(clock_hz=0.0) == "clock_hz: got 0.0, expected a number > 0"
    assert refused(clock_hz="850e6") == "clock_hz: got '850e6', expected a number > 0"
    assert refused(system__system_io_latency_s=-1e-6) == (
        "system.system_io_latency_s: got -1e-06, expected a number >= 0"
    )
    assert refused(clock_hz=float("nan")) == "clock_hz: got nan, expected a number > 0"


def test_program_rectangle_larger_than_grid():
    assert wse2({"grid.program_columns": 800}) == (
        "grid.program_columns: got 800, expected <= 750 (columns 757 - program_origin_x 4 - "
        "host_io_columns_east 3): the program rectangle must fit in the fabric"
    )
    assert wse2({"grid.program_rows": 996}) == (
        "grid.program_rows: got 996, expected <= 995 (rows 996 - program_origin_y 1): "
        "the program rectangle must fit in the fabric"
    )


def test_program_rectangle_overlaps_io_columns():
    assert wse2({"grid.program_origin_x": 2}) == (
        "grid.program_origin_x: got 2, expected an integer >= host_io_columns_west (4): "
        "the program rectangle may not overlap the west I/O columns"
    )


def test_unknown_field():
    assert refused(**{"timing.foo": 3}) == (
        "timing.foo: unknown field (got 3); allowed fields: hop_latency_cycles, "
        "ramp_latency_cycles, turn_penalty_cycles, task_startup_cycles, op_startup_cycles, "
        "watchdog_cycles, cycle_counter_bits"
    )
    msg = refused(colour=3)
    assert msg.startswith("colour: unknown field (got 3); allowed fields: name, generation, ")


def test_more_reserved_colors_than_colors():
    assert refused(router__colors=3, router__reserved_colors=[0, 1, 2]) == (
        "router.reserved_colors: got [0, 1, 2], expected at most 2 colors "
        "(router.colors - 1: one must stay free)"
    )


def test_reserved_color_out_of_range():
    assert refused(router__reserved_colors=[21, 27]) == (
        "router.reserved_colors[1]: got 27, expected a color id < colors (24); "
        "ids >= colors are not routable"
    )
    assert refused(router__reserved_colors=[-1]) == (
        "router.reserved_colors[0]: got -1, expected an integer >= 0"
    )


def test_duplicate_reserved_colors():
    assert refused(router__reserved_colors=[21, 22, 22]) == (
        "router.reserved_colors[2]: got 22, expected each color at most once"
    )


def test_id_range_first_after_last():
    assert refused(**{"pe.local_task_ids": {"first": 9, "last": 3}}) == (
        "pe.local_task_ids.last: got 3, expected an integer >= first (9)"
    )


def test_data_task_ids_beyond_colors_or_queues():
    assert refused(**{"pe.data_task_ids": {"first": 0, "last": 24}}) == (
        "pe.data_task_ids.last: got 24, expected an integer < router.colors (24): "
        "data tasks bind to colors"
    )
    with pytest.raises(SpecError) as info:
        arch.custom_mesh(2, 2, base="wse3", pe__input_queues=4)
    assert str(info.value) == (
        "pe.data_task_ids.last: got 7, expected an integer < pe.input_queues (4): "
        "data tasks bind to input queues"
    )


def test_unknown_preset_name():
    with pytest.raises(SpecError) as info:
        arch.preset("wse4")
    assert str(info.value) == "preset: got 'wse4', expected one of 'wse1', 'wse2', 'wse3'"


def test_file_with_unknown_suffix(tmp_path):
    path = tmp_path / "spec.txt"
    path.write_text("name: x\n")
    with pytest.raises(SpecError) as info:
        arch.load(path)
    assert str(info.value) == (
        f"{path}: got '.txt', expected a file ending in .yaml, .yml, .toml, .json"
    )
    with pytest.raises(SpecError, match=r"got '.txt', expected a file ending in"):
        arch.save(arch.preset("wse2"), path)


def test_literal_fields():
    assert refused(generation="wse9") == (
        "generation: got 'wse9', expected one of 'wse1', 'wse2', 'wse3', 'custom'"
    )
    assert refused(pe__data_tasks_bind_to="colour") == (
        "pe.data_tasks_bind_to: got 'colour', expected one of 'color', 'queue'"
    )
    assert refused(numerics__formats=["f16", "f64"]) == (
        "numerics.formats[1]: got 'f64', expected one of 'f16', 'f32', 'bf16', 'cb16', 'i16', "
        "'u16', 'i32', 'u32'"
    )


def test_bool_and_string_fields():
    assert refused(pe__explicit_microthreads=1) == (
        "pe.explicit_microthreads: got 1, expected true or false"
    )
    assert refused(name="") == "name: got '', expected a non-empty string"
    assert refused(description=5) == "description: got 5, expected a string"


def test_ports_are_fixed():
    assert refused(router__ports=["NORTH", "SOUTH"]) == (
        "router.ports: got ['NORTH', 'SOUTH'], expected exactly "
        "['NORTH', 'SOUTH', 'EAST', 'WEST', 'RAMP']"
    )


def test_section_of_wrong_type():
    assert refused(timing=5) == "timing: got 5, expected a mapping of TimingSpec fields"
    assert refused(router__reserved_colors=21) == (
        "router.reserved_colors: got 21, expected a list of integers >= 0"
    )


def test_missing_field():
    with pytest.raises(SpecError) as info:
        arch.ArchSpec(name="x", generation="custom", grid={"rows": 3})
    assert str(info.value) == "grid.columns: missing, expected an integer > 0"


def test_memory_layout_checks():
    assert refused(pe__sram_bytes=1000) == (
        "pe.sram_bytes: got 1000, expected a multiple of sram_banks * bank_word_bits / 8 = 16 "
        "(whole words per bank)"
    )
    assert refused(pe__runtime_reserved_bytes=49152) == (
        "pe.runtime_reserved_bytes: got 49152, expected an integer < sram_bytes (49152)"
    )


def test_vendor_figures():
    assert refused(vendor__cores=-1) == "vendor.cores: got -1, expected an integer > 0 or null"


def test_override_through_a_value():
    assert refused(**{"timing.hop_latency_cycles.x": 1}) == (
        "timing.hop_latency_cycles.x: got 1, expected a path through sections; "
        "timing.hop_latency_cycles is a value, not a section"
    )


def test_one_line_per_problem():
    with pytest.raises(SpecError) as info:
        arch.TimingSpec(hop_latency_cycles=-1, ramp_latency_cycles=1.5)
    err = info.value
    assert str(err).splitlines() == [
        "hop_latency_cycles: got -1, expected an integer >= 0",
        "ramp_latency_cycles: got 1.5, expected an integer >= 0",
    ]
    assert [p.path for p in err.problems] == ["hop_latency_cycles", "ramp_latency_cycles"]


def test_direct_construction_of_nested_models():
    with pytest.raises(SpecError) as info:
        arch.ArchSpec(
            name="x",
            generation="custom",
            grid={"columns": 4, "rows": 4},
            timing={"hop_latency_cycles": 2.5},
        )
    assert str(info.value) == "timing.hop_latency_cycles: got 2.5, expected an integer >= 0"
    with pytest.raises(SpecError) as info:
        arch.IdRange(first=3, last=1)
    assert str(info.value) == "last: got 1, expected an integer >= first (3)"
