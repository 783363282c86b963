"""Derived quantities of every preset, pinned to exact numbers."""

import pytest

from waferscale import arch
from waferscale.arch.derived import Comparison

MHZ_850 = 850_000_000.0

# Per preset: every figure, computed by hand from the per-PE parameters (see docs/arch.md).
EXPECTED = {
    "wse1": {
        "fabric_pes": 607 * 597,  # 362,379
        "program_pes": 600 * 595,
        "sram_bytes_total": 362_379 * 49_152,
        "program_sram_bytes": 357_000 * 49_152,
        "user_sram_bytes_per_pe": 47_104,
        "flops_per_cycle_per_pe_f16": 8,
        "flops_per_cycle_per_pe_f32": 2,
        "peak_flops_f16": 2_464_177_200_000_000.0,  # 362,379 * 4 * 2 * 850e6
        "peak_flops_f32": 616_044_300_000_000.0,
        "memory_bytes_per_cycle_per_pe": 12,  # (2 + 1) * 32 / 8
        "memory_bandwidth_bytes_per_s": 3_696_265_800_000_000.0,
        "fabric_bits_per_cycle_per_pe": 256,
        "fabric_bandwidth_bits_per_s": 78_853_670_400_000_000.0,
    },
    "wse2": {
        "fabric_pes": 757 * 996,  # 753,972
        "program_pes": 750 * 994,
        "sram_bytes_total": 37_059_231_744,
        "program_sram_bytes": 36_642_816_000,
        "user_sram_bytes_per_pe": 47_104,
        "flops_per_cycle_per_pe_f16": 8,
        "flops_per_cycle_per_pe_f32": 2,
        "peak_flops_f16": 5_127_009_600_000_000.0,
        "peak_flops_f32": 1_281_752_400_000_000.0,
        "memory_bytes_per_cycle_per_pe": 24,  # (2 + 1) * 64 / 8
        "memory_bandwidth_bytes_per_s": 15_381_028_800_000_000.0,
        "fabric_bits_per_cycle_per_pe": 256,
        "fabric_bandwidth_bits_per_s": 164_064_307_200_000_000.0,
    },
    "wse3": {
        "fabric_pes": 762 * 1172,  # 893,064
        "program_pes": 755 * 1170,
        "sram_bytes_total": 43_895_881_728,
        "program_sram_bytes": 43_418_419_200,
        "user_sram_bytes_per_pe": 47_104,
        "flops_per_cycle_per_pe_f16": 16,
        "flops_per_cycle_per_pe_f32": 2,
        "peak_flops_f16": 12_145_670_400_000_000.0,
        "peak_flops_f32": 1_518_208_800_000_000.0,
        "memory_bytes_per_cycle_per_pe": 24,
        "memory_bandwidth_bytes_per_s": 18_218_505_600_000_000.0,
        "fabric_bits_per_cycle_per_pe": 256,
        "fabric_bandwidth_bits_per_s": 194_330_726_400_000_000.0,
    },
}

VENDOR = {
    "wse1": (400_000, 18_000_000_000, 9e15, 100e15, None),
    "wse2": (850_000, 40_000_000_000, 20e15, 220e15, None),
    "wse3": (900_000, 44_000_000_000, 21e15, 214e15, 125e15),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_derived_figures_exact(name):
    d = arch.derived(arch.preset(name))
    got = d.to_dict()
    for key, value in EXPECTED[name].items():
        assert got[key] == value, key
        assert type(got[key]) is type(value), key
    assert d.clock_hz == MHZ_850
    assert d.cycle_time_s == 1 / MHZ_850
    assert d.sram_bytes_per_pe == 49_152
    assert d.host_io_bits_per_s == 2 * 60 * 7e9
    assert d.runtime_host_io_bits_per_s == 16 * 7e9
    assert d.cycle_counter_wrap_s == 2**48 / MHZ_850


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_comparison_with_vendor(name):
    d = arch.derived(arch.preset(name))
    rows = d.comparisons()
    assert [r.quantity for r in rows] == [
        "PEs (fabric)",
        "SRAM",
        "memory bandwidth",
        "fabric bandwidth",
        "peak f16",
    ]
    assert tuple(r.vendor for r in rows) == VENDOR[name]
    for row in rows:
        if row.vendor is None:
            assert row.relative_difference is None
        else:
            assert row.relative_difference == (row.derived - row.vendor) / row.vendor


def test_wse2_relative_differences():
    rel = {
        r.quantity: r.relative_difference for r in arch.derived(arch.preset("wse2")).comparisons()
    }
    assert rel["PEs (fabric)"] == pytest.approx(753_972 / 850_000 - 1)
    assert rel["SRAM"] == pytest.approx(-0.0735192064)
    assert rel["memory bandwidth"] == pytest.approx(-0.23094856)
    assert rel["fabric bandwidth"] == pytest.approx(164.0643072 / 220 - 1)
    assert rel["peak f16"] is None


def test_custom_mesh_derived_follows_parameters():
    spec = arch.custom_mesh(10, 3, **{"pe.simd_width_f16": 8, "clock_hz": 1e9})
    d = arch.derived(spec)
    assert d.fabric_pes == d.program_pes == 30
    assert d.peak_flops_f16 == 30 * 8 * 2 * 1e9
    assert d.fabric_bandwidth_bits_per_s == 30 * 256 * 1e9
    assert all(r.vendor is None for r in d.comparisons())


def test_comparison_row():
    row = Comparison("x", "B", 90.0, 100.0)
    assert row.relative_difference == pytest.approx(-0.1)
    assert Comparison("x", "B", 90.0, None).relative_difference is None


def test_derived_is_frozen():
    d = arch.derived(arch.preset("wse2"))
    with pytest.raises(AttributeError):
        d.fabric_pes = 1  # type: ignore[misc]
