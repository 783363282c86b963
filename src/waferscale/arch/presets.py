"""Presets for WSE-1, WSE-2 and WSE-3, custom meshes, and dotted-path overrides.

Values and their provenance are documented on the fields (see :mod:`waferscale.arch.spec`) and
in docs/arch.md. Presets are built once and shared (specs are frozen).
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from functools import cache
from typing import Any

from waferscale.arch.errors import SpecError
from waferscale.arch.spec import ArchSpec, GridSpec, IdRange, PESpec, RouterSpec, TimingSpec

__all__ = ["apply_overrides", "custom_mesh", "preset", "preset_names"]


def _wse1() -> ArchSpec:
    return ArchSpec(
        name="wse1",
        generation="wse1",
        description="Cerebras WSE-1 (CS-1), 16 nm: program rectangle 600x595 as used in papers",
        grid=GridSpec(
            columns=607,
            rows=597,
            program_columns=600,
            program_rows=595,
            program_origin_x=4,
            program_origin_y=1,
            host_io_columns_west=4,
            host_io_columns_east=3,
        ),
        pe=PESpec(memory_access_bits=32),
        router=RouterSpec(color_swap=False),
        vendor={
            "cores": 400_000,
            "sram_bytes": 18_000_000_000,
            "memory_bandwidth_bytes_per_s": 9e15,
            "fabric_bandwidth_bits_per_s": 100e15,
        },
    )


def _wse2() -> ArchSpec:
    return ArchSpec(
        name="wse2",
        generation="wse2",
        description="Cerebras WSE-2 (CS-2), 7 nm: fabric 757x996, program rectangle 750x994",
        grid=GridSpec(
            columns=757,
            rows=996,
            program_columns=750,
            program_rows=994,
            program_origin_x=4,
            program_origin_y=1,
            host_io_columns_west=4,
            host_io_columns_east=3,
        ),
        vendor={
            "cores": 850_000,
            "sram_bytes": 40_000_000_000,
            "memory_bandwidth_bytes_per_s": 20e15,
            "fabric_bandwidth_bits_per_s": 220e15,
        },
    )


def _wse3() -> ArchSpec:
    return ArchSpec(
        name="wse3",
        generation="wse3",
        description="Cerebras WSE-3 (CS-3), 5 nm: fabric 762x1172, data tasks bind to queues",
        grid=GridSpec(
            columns=762,
            rows=1172,
            program_columns=755,
            program_rows=1170,
            program_origin_x=4,
            program_origin_y=1,
            host_io_columns_west=4,
            host_io_columns_east=3,
        ),
        pe=PESpec(
            simd_width_f16=8,
            simd_width_i16=8,
            data_task_ids=IdRange(first=0, last=7),
            local_task_ids=IdRange(first=8, last=30),
            data_tasks_bind_to="queue",
            output_queues=8,
            explicit_microthreads=True,
        ),
        router=RouterSpec(color_swap=False),
        timing=TimingSpec(hop_latency_cycles=2, turn_penalty_cycles=20),
        vendor={
            "cores": 900_000,
            "sram_bytes": 44_000_000_000,
            "memory_bandwidth_bytes_per_s": 21e15,
            "fabric_bandwidth_bits_per_s": 214e15,
            "peak_flops": 125e15,
        },
    )


_PRESETS = {"wse1": _wse1, "wse2": _wse2, "wse3": _wse3}


def preset_names() -> tuple[str, ...]:
    """Names accepted by :func:`preset`."""
    return tuple(_PRESETS)


def preset(name: str) -> ArchSpec:
    """The preset spec ``name`` ('wse1', 'wse2' or 'wse3'; any case), built once and shared."""
    if not isinstance(name, str) or name.lower() not in _PRESETS:
        raise SpecError.at("preset", name, "one of " + ", ".join(map(repr, _PRESETS)))
    return _build(name.lower())


@cache
def _build(name: str) -> ArchSpec:
    return _PRESETS[name]()


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of nested ``data`` with ``overrides`` applied.

    Keys are dotted paths (``"timing.ramp_latency_cycles"``) or the same with ``__`` for dots
    (``timing__ramp_latency_cycles``, handy as Python keywords). A value that is a mapping
    replaces the whole section. Unknown names are left for validation to refuse.
    """
    out: dict[str, Any] = deepcopy(dict(data))
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise SpecError.at(
                "override", key, "a dotted field path such as 'timing.hop_latency_cycles'"
            )
        parts = key.replace("__", ".").split(".")
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError.at(
                    key, value, f"a path through sections; {where} is a value, not a section"
                )
            node = child
        node[parts[-1]] = deepcopy(value)
    return out


def custom_mesh(
    columns: int,
    rows: int,
    base: str | ArchSpec = "wse2",
    **overrides: Any,
) -> ArchSpec:
    """A ``columns`` x ``rows`` mesh with every other parameter taken from ``base``.

    The program rectangle is the whole mesh, with no host I/O columns reserved unless the
    overrides give some (e.g. ``**{"grid.host_io_columns_west": 1}``). Vendor figures are
    dropped. Overrides are dotted paths, e.g. ``custom_mesh(8, 4, **{"timing.ramp_latency_cycles":
    7})`` or ``custom_mesh(8, 4, timing__ramp_latency_cycles=7)``; plain keys such as
    ``name="tiny"`` set top-level fields.
    """
    spec = base if isinstance(base, ArchSpec) else preset(base)
    data = spec.model_dump()
    data.update(
        name=f"{spec.name}-mesh-{columns}x{rows}",
        generation="custom",
        description=f"{columns}x{rows} mesh with {spec.name} parameters",
        grid={"columns": columns, "rows": rows},
        vendor={},
    )
    return ArchSpec.model_validate(apply_overrides(data, overrides))
