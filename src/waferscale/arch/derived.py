"""Aggregate figures computed from the per-PE parameters of a spec.

Conventions (also in docs/arch.md):

* Wafer-wide aggregates count every PE of the fabric (``columns * rows``), not just the
  program rectangle, to be comparable with the vendor's whole-wafer claims.
* Peak FLOP/s = PEs x SIMD width x 2 (a fused multiply-add counts as two flops) x clock.
* Memory bandwidth = PEs x (reads + writes per cycle) x access width in bytes x clock.
* Fabric bandwidth = PEs x 4 mesh ports x 2 directions x 32 bits x clock: every router's four
  mesh ports in and out, so each wire between two PEs is counted twice (as one router's output
  and its neighbour's input); ramps are not counted. The vendor's own convention is not public.
* Relative difference = (derived - vendor) / vendor.

Integer products are formed exactly and multiplied by the clock once, so the figures are exact
to one float rounding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from waferscale.arch.spec import ArchSpec

__all__ = [
    "FABRIC_LINK_BITS",
    "FLOPS_PER_FMA",
    "MESH_PORTS",
    "Comparison",
    "DerivedQuantities",
    "derived",
]

MESH_PORTS = 4
"""Mesh links per router counted in the fabric bandwidth (NORTH, SOUTH, EAST, WEST)."""
FABRIC_LINK_BITS = 32
"""Payload bits a link carries per cycle per direction (one wavelet)."""
FLOPS_PER_FMA = 2


@dataclass(frozen=True)
class Comparison:
    """One derived aggregate beside the vendor's claim for it."""

    quantity: str
    unit: str
    derived: float
    vendor: float | None

    @property
    def relative_difference(self) -> float | None:
        """(derived - vendor) / vendor, or None without a vendor figure."""
        if self.vendor is None:
            return None
        return (self.derived - self.vendor) / self.vendor


@dataclass(frozen=True)
class DerivedQuantities:
    """Figures implied by a spec's per-PE parameters; see the module docstring."""

    name: str
    clock_hz: float
    cycle_time_s: float
    fabric_pes: int
    program_pes: int
    sram_bytes_per_pe: int
    user_sram_bytes_per_pe: int
    sram_bytes_total: int
    program_sram_bytes: int
    flops_per_cycle_per_pe_f16: int
    flops_per_cycle_per_pe_f32: int
    peak_flops_f16: float
    peak_flops_f32: float
    memory_bytes_per_cycle_per_pe: int
    memory_bandwidth_bytes_per_s: float
    fabric_bits_per_cycle_per_pe: int
    fabric_bandwidth_bits_per_s: float
    host_io_bits_per_s: float
    runtime_host_io_bits_per_s: float
    cycle_counter_wrap_s: float
    vendor_cores: int | None
    vendor_sram_bytes: int | None
    vendor_memory_bandwidth_bytes_per_s: float | None
    vendor_fabric_bandwidth_bits_per_s: float | None
    vendor_peak_flops: float | None

    def to_dict(self) -> dict[str, Any]:
        """All figures as a flat dict."""
        return asdict(self)

    def comparisons(self) -> tuple[Comparison, ...]:
        """Derived aggregates beside the vendor's claims (vendor None where not claimed)."""
        return (
            Comparison("PEs (fabric)", "", self.fabric_pes, self.vendor_cores),
            Comparison("SRAM", "B", self.sram_bytes_total, self.vendor_sram_bytes),
            Comparison(
                "memory bandwidth",
                "B/s",
                self.memory_bandwidth_bytes_per_s,
                self.vendor_memory_bandwidth_bytes_per_s,
            ),
            Comparison(
                "fabric bandwidth",
                "b/s",
                self.fabric_bandwidth_bits_per_s,
                self.vendor_fabric_bandwidth_bits_per_s,
            ),
            Comparison("peak f16", "FLOP/s", self.peak_flops_f16, self.vendor_peak_flops),
        )


def derived(spec: ArchSpec) -> DerivedQuantities:
    """Compute the :class:`DerivedQuantities` of ``spec``."""
    grid, pe, clock = spec.grid, spec.pe, spec.clock_hz
    pes = grid.fabric_pes
    f16 = pe.simd_width_f16 * FLOPS_PER_FMA
    f32 = pe.simd_width_f32 * FLOPS_PER_FMA
    mem = (pe.memory_reads_per_cycle + pe.memory_writes_per_cycle) * pe.memory_access_bits // 8
    fab = MESH_PORTS * 2 * FABRIC_LINK_BITS
    sysio = spec.system
    vendor = spec.vendor
    return DerivedQuantities(
        name=spec.name,
        clock_hz=clock,
        cycle_time_s=1.0 / clock,
        fabric_pes=pes,
        program_pes=grid.program_pes,
        sram_bytes_per_pe=pe.sram_bytes,
        user_sram_bytes_per_pe=pe.user_sram_bytes,
        sram_bytes_total=pes * pe.sram_bytes,
        program_sram_bytes=grid.program_pes * pe.sram_bytes,
        flops_per_cycle_per_pe_f16=f16,
        flops_per_cycle_per_pe_f32=f32,
        peak_flops_f16=(pes * f16) * clock,
        peak_flops_f32=(pes * f32) * clock,
        memory_bytes_per_cycle_per_pe=mem,
        memory_bandwidth_bytes_per_s=(pes * mem) * clock,
        fabric_bits_per_cycle_per_pe=fab,
        fabric_bandwidth_bits_per_s=(pes * fab) * clock,
        host_io_bits_per_s=2 * sysio.host_channels_per_edge * sysio.host_channel_bits_per_s,
        runtime_host_io_bits_per_s=sysio.runtime_host_channels * sysio.host_channel_bits_per_s,
        cycle_counter_wrap_s=float(2**spec.timing.cycle_counter_bits) / clock,
        vendor_cores=vendor.cores,
        vendor_sram_bytes=vendor.sram_bytes,
        vendor_memory_bandwidth_bytes_per_s=vendor.memory_bandwidth_bytes_per_s,
        vendor_fabric_bandwidth_bits_per_s=vendor.fabric_bandwidth_bits_per_s,
        vendor_peak_flops=vendor.peak_flops,
    )
