"""Human and machine-readable views of a spec: rich tables and a flat JSON summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from waferscale.arch.derived import DerivedQuantities, derived
from waferscale.arch.spec import ArchSpec, IdRange

__all__ = [
    "comparison_table",
    "format_si",
    "other_derived_table",
    "spec_table",
    "summary",
    "summary_table",
]

_PREFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``format_si(5.127e15, "FLOP/s")`` -> ``'5.13 PFLOP/s'`` (decimal prefixes)."""
    if value is None:
        return "-"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".rstrip()
    if value and abs(value) < 1e-3:
        for scale, prefix in ((1e-9, "n"), (1e-6, "u"), (1e-3, "m")):
            if abs(value) < scale * 1e3:
                return f"{value / scale:.{digits}g} {prefix}{unit}".rstrip()
    return f"{value:.{digits}g} {unit}".rstrip()


def _percent(rel: float | None) -> str:
    return "-" if rel is None else f"{rel * 100:+.1f}%"


def _plain(value: Any) -> str:
    if isinstance(value, IdRange):
        return f"{value.first}..{value.last}"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "-"
    return str(value)


def spec_table(spec: ArchSpec) -> Table:
    """Every field of the spec, grouped by section."""
    table = Table(title=f"{spec.name}: machine spec", title_justify="left")
    table.add_column("section", style="bold")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key in ("name", "generation", "description", "clock_hz"):
        table.add_row("", key, _plain(getattr(spec, key)))
    for section in ("grid", "pe", "router", "timing", "numerics", "system", "vendor"):
        sub = getattr(spec, section)
        table.add_section()
        for i, field in enumerate(type(sub).model_fields):
            table.add_row(section if i == 0 else "", field, _plain(getattr(sub, field)))
    return table


def comparison_table(spec: ArchSpec, d: DerivedQuantities | None = None) -> Table:
    """Aggregates derived from per-PE figures beside the vendor's claims."""
    d = d or derived(spec)
    table = Table(
        title=f"{spec.name}: derived from per-PE figures vs vendor claims", title_justify="left"
    )
    table.add_column("quantity")
    table.add_column("derived", justify="right")
    table.add_column("vendor", justify="right")
    table.add_column("difference", justify="right")
    for row in d.comparisons():
        unit = row.unit
        if row.quantity.startswith("PEs"):
            shown = f"{int(row.derived):,}"
            vendor = "-" if row.vendor is None else f"{int(row.vendor):,}"
        else:
            shown, vendor = format_si(row.derived, unit), format_si(row.vendor, unit)
        table.add_row(row.quantity, shown, vendor, _percent(row.relative_difference))
    return table


def other_derived_table(spec: ArchSpec, d: DerivedQuantities | None = None) -> Table:
    """Derived figures the vendor makes no claim about."""
    d = d or derived(spec)
    table = Table(title=f"{spec.name}: other derived figures", title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("program rectangle PEs", f"{d.program_pes:,}"),
        ("user SRAM per PE", f"{d.user_sram_bytes_per_pe:,} B"),
        ("program rectangle SRAM", format_si(d.program_sram_bytes, "B")),
        ("peak f32", format_si(d.peak_flops_f32, "FLOP/s")),
        ("f16 FLOP per cycle per PE", str(d.flops_per_cycle_per_pe_f16)),
        ("memory bytes per cycle per PE", str(d.memory_bytes_per_cycle_per_pe)),
        ("fabric bits per cycle per PE", str(d.fabric_bits_per_cycle_per_pe)),
        ("cycle time", format_si(d.cycle_time_s, "s")),
        ("host I/O (all channels)", format_si(d.host_io_bits_per_s, "b/s")),
        ("host I/O (runtime channels)", format_si(d.runtime_host_io_bits_per_s, "b/s")),
        ("cycle counter wraps after", f"{d.cycle_counter_wrap_s / 86400:.1f} days"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def summary_table(spec: ArchSpec) -> Table:
    """The few facts that characterise a machine, on one screen."""
    g, pe, r, t = spec.grid, spec.pe, spec.router, spec.timing
    table = Table(title=f"{spec.name}: machine summary", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.show_header = False
    rows = [
        ("about", spec.description or "-"),
        ("fabric", f"{g.columns} x {g.rows} PEs"),
        (
            "program rectangle",
            f"{g.program_columns} x {g.program_rows} at ({g.program_origin_x}, "
            f"{g.program_origin_y})",
        ),
        ("clock", format_si(spec.clock_hz, "Hz")),
        ("SRAM per PE", f"{pe.sram_bytes:,} B ({pe.runtime_reserved_bytes:,} B runtime)"),
        ("SIMD width f16 / f32", f"{pe.simd_width_f16} / {pe.simd_width_f32}"),
        ("colors (reserved)", f"{r.colors} ({_plain(r.reserved_colors) or 'none'})"),
        ("data tasks bind to", f"{pe.data_tasks_bind_to} (ids {_plain(pe.data_task_ids)})"),
        ("queues in / out", f"{pe.input_queues} / {pe.output_queues}"),
        (
            "hop / ramp / turn latency",
            f"{t.hop_latency_cycles} / {t.ramp_latency_cycles} / {t.turn_penalty_cycles} cycles",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def summary(spec: ArchSpec) -> dict[str, Any]:
    """Flat figures (stable keys for scripts) plus nested ``derived``, ``comparison``, ``spec``."""
    d = derived(spec)
    return {
        "name": spec.name,
        "generation": spec.generation,
        "description": spec.description,
        "columns": spec.grid.columns,
        "rows": spec.grid.rows,
        "program_columns": spec.grid.program_columns,
        "program_rows": spec.grid.program_rows,
        "pe_count": d.fabric_pes,
        "program_pe_count": d.program_pes,
        "sram_bytes_per_pe": spec.pe.sram_bytes,
        "sram_bytes_total": d.sram_bytes_total,
        "clock_hz": spec.clock_hz,
        "colors": spec.router.colors,
        "hop_latency_cycles": spec.timing.hop_latency_cycles,
        "ramp_latency_cycles": spec.timing.ramp_latency_cycles,
        "f16_simd_width": spec.pe.simd_width_f16,
        "f32_simd_width": spec.pe.simd_width_f32,
        "peak_flops_f16": d.peak_flops_f16,
        "peak_flops_f32": d.peak_flops_f32,
        "memory_bandwidth_bytes_per_s": d.memory_bandwidth_bytes_per_s,
        "fabric_bandwidth_bits_per_s": d.fabric_bandwidth_bits_per_s,
        "derived": d.to_dict(),
        "comparison": [
            {
                "quantity": c.quantity,
                "unit": c.unit,
                "derived": c.derived,
                "vendor": c.vendor,
                "relative_difference": c.relative_difference,
            }
            for c in d.comparisons()
        ],
        "spec": spec.to_dict(),
    }
