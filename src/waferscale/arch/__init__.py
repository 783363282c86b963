"""Validated machine specs of wafer-scale engines: presets, custom meshes, files.

>>> from waferscale import arch
>>> spec = arch.preset("wse2")
>>> spec.grid.columns, spec.timing.ramp_latency_cycles
(757, 2)
>>> tiny = arch.custom_mesh(4, 3, **{"timing.ramp_latency_cycles": 7})
>>> tiny.grid.program_columns, tiny.timing.ramp_latency_cycles
(4, 7)
>>> arch.derived(spec).fabric_pes
753972

Every refused spec raises :class:`SpecError` (a ``ValueError``) with one line per problem,
e.g. ``timing.ramp_latency_cycles: got 2.5, expected an integer >= 0``. See docs/arch.md.
"""

from waferscale.arch.derived import Comparison, DerivedQuantities, derived
from waferscale.arch.errors import Problem, SpecError
from waferscale.arch.io import dumps, load, loads, save
from waferscale.arch.presets import apply_overrides, custom_mesh, preset, preset_names
from waferscale.arch.spec import (
    FORMATS,
    PORTS,
    ArchSpec,
    GridSpec,
    IdRange,
    NumericsSpec,
    PESpec,
    RouterSpec,
    SystemSpec,
    TimingSpec,
    VendorFigures,
)

__all__ = [
    "FORMATS",
    "PORTS",
    "ArchSpec",
    "Comparison",
    "DerivedQuantities",
    "GridSpec",
    "IdRange",
    "NumericsSpec",
    "PESpec",
    "Problem",
    "RouterSpec",
    "SpecError",
    "SystemSpec",
    "TimingSpec",
    "VendorFigures",
    "apply_overrides",
    "custom_mesh",
    "derived",
    "dumps",
    "load",
    "loads",
    "preset",
    "preset_names",
    "save",
]
