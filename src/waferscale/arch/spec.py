"""Typed, validated machine specs of a wafer-scale engine.

Every latency, width, size and count the simulator and the models use lives here. Each field's
description cites where its value comes from:

* **[S]** stated by the vendor or the SDK docs/examples,
* **[P]** a peer-reviewed paper,
* **[3]** third-party notes (plausible, unconfirmed),
* **[?]** open: a chosen default, to be calibrated.

Defaults are the WSE-2 values; the presets in :mod:`waferscale.arch.presets` set the others.
All models are strict (no coercion: ``2.5`` or ``"2"`` for an integer is refused), frozen
(hashable, safe to share) and refuse unknown fields. Errors are :class:`SpecError`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from waferscale.arch._types import (
    Expected,
    Flag,
    Name,
    NonNegFloat,
    NonNegInt,
    OptPosFloat,
    OptPosInt,
    PosFloat,
    PosInt,
    Spec,
    Text,
    one_of,
    tuple_of,
)
from waferscale.arch.errors import field_problem

__all__ = [
    "FORMATS",
    "GENERATIONS",
    "PORTS",
    "ArchSpec",
    "GridSpec",
    "IdRange",
    "NumericsSpec",
    "PESpec",
    "RouterSpec",
    "SystemSpec",
    "TimingSpec",
    "VendorFigures",
]

PORTS: tuple[str, ...] = ("NORTH", "SOUTH", "EAST", "WEST", "RAMP")
"""The five router ports, in this order: four mesh links and the ramp to the PE's own CE."""

FORMATS: tuple[str, ...] = ("f16", "f32", "bf16", "cb16", "i16", "u16", "i32", "u32")
"""Number formats the spec may name."""

GENERATIONS: tuple[str, ...] = ("wse1", "wse2", "wse3", "custom")

Generation = Annotated[
    Literal["wse1", "wse2", "wse3", "custom"],
    BeforeValidator(one_of(*GENERATIONS)),
    Expected("one of " + ", ".join(repr(g) for g in GENERATIONS)),
]
BindTo = Annotated[
    Literal["color", "queue"],
    BeforeValidator(one_of("color", "queue")),
    Expected("one of 'color', 'queue'"),
]
Format = Annotated[
    Literal["f16", "f32", "bf16", "cb16", "i16", "u16", "i32", "u32"],
    BeforeValidator(one_of(*FORMATS)),
]
Ports = Annotated[
    tuple[str, ...],
    BeforeValidator(tuple_of("port names")),
    Expected("exactly " + repr(list(PORTS))),
]
ColorIds = Annotated[
    tuple[NonNegInt, ...],
    BeforeValidator(tuple_of("integers >= 0")),
    Expected("a list of integers >= 0"),
]
Formats = Annotated[
    tuple[Format, ...],
    BeforeValidator(tuple_of("format names")),
    Expected("a list of format names"),
]


# --------------------------------------------------------------------------------------------


class IdRange(Spec):
    """An inclusive range of ids, ``first..last``; ``len()`` and ``in`` work on it."""

    first: NonNegInt = Field(description="First id of the range (inclusive).")
    last: NonNegInt = Field(description="Last id of the range (inclusive), >= first.")

    @model_validator(mode="after")
    def _check_order(self) -> IdRange:
        if self.first > self.last:
            raise field_problem("last", self.last, f"an integer >= first ({self.first})")
        return self

    def __contains__(self, item: object) -> bool:
        return (
            isinstance(item, int) and not isinstance(item, bool) and self.first <= item <= self.last
        )

    def __len__(self) -> int:
        return self.last - self.first + 1

    @property
    def ids(self) -> range:
        """The ids as a ``range``."""
        return range(self.first, self.last + 1)


class GridSpec(Spec):
    """The fabric (the whole mesh of PEs) and the program rectangle the SDK exposes inside it.

    Coordinates are (x, y) = (column, row) with (0, 0) at the north-west corner. The program
    rectangle spans columns ``program_origin_x .. program_origin_x + program_columns - 1`` and
    rows ``program_origin_y .. program_origin_y + program_rows - 1``. Fabric columns west and
    east of it are reserved for host I/O (memcpy).

    Omitted fields are derived: ``program_origin_x`` = ``host_io_columns_west`` (or 0),
    ``host_io_columns_west`` = ``program_origin_x``, ``program_columns`` = what is left between
    the reservations, ``host_io_columns_east`` = what is left east of the program rectangle;
    ``program_origin_y`` = 0 and ``program_rows`` = ``rows - program_origin_y``.
    """

    columns: PosInt = Field(
        description="Fabric width in PEs (x extent). WSE-2: 757 [S] (SDK fabric dims 757x996); "
        "WSE-3: 762 [S]; WSE-1: 607 [?] (program width ~600 from papers + 7 as on WSE-2)."
    )
    rows: PosInt = Field(
        description="Fabric height in PEs (y extent). WSE-2: 996 [S]; WSE-3: 1172 [S]; "
        "WSE-1: 597 [?] (program height 595 from papers + 2 as on WSE-2)."
    )
    program_columns: PosInt = Field(
        description="Width of the program rectangle user code may use. WSE-2: 750 [S]; "
        "WSE-3: 755 [?] (fabric minus the WSE-2 reservations); WSE-1: ~600 [P]."
    )
    program_rows: PosInt = Field(
        description="Height of the program rectangle. WSE-2: 994 [S]; WSE-3: 1170 [?]; "
        "WSE-1: 595 [P]."
    )
    program_origin_x: NonNegInt = Field(
        description="Fabric column of the program rectangle's west edge. WSE-2: 4 [S] (the SDK "
        "examples compile with fabric offsets 4,1); other generations: 4 [?]."
    )
    program_origin_y: NonNegInt = Field(
        description="Fabric row of the program rectangle's north edge. WSE-2: 1 [S]; "
        "other generations: 1 [?]."
    )
    host_io_columns_west: NonNegInt = Field(
        description="Fabric columns west of the program reserved for host I/O (memcpy). "
        "WSE-2: 4 [S] (from the fabric offsets); others [?]; custom meshes: 0 unless given."
    )
    host_io_columns_east: NonNegInt = Field(
        description="Fabric columns east of the program reserved for host I/O (memcpy). "
        "WSE-2: 3 [S] (757 - 4 - 750); others [?]; custom meshes: 0 unless given."
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_omitted(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)

        def given(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        if "program_origin_x" not in data:
            data["program_origin_x"] = given("host_io_columns_west") or 0
        if "host_io_columns_west" not in data:
            data["host_io_columns_west"] = given("program_origin_x") or 0
        # Where an input is missing or bad, derive a placeholder: validation then reports
        # only the bad input, and the placeholder is never used.
        columns = given("columns") or 1
        ox = given("program_origin_x") or 0
        if "program_columns" not in data:
            data["program_columns"] = max(1, columns - ox - (given("host_io_columns_east") or 0))
        if "host_io_columns_east" not in data:
            data["host_io_columns_east"] = max(0, columns - ox - (given("program_columns") or 0))
        if "program_origin_y" not in data:
            data["program_origin_y"] = 0
        if "program_rows" not in data:
            data["program_rows"] = max(1, (given("rows") or 1) - (given("program_origin_y") or 0))
        return data

    @model_validator(mode="after")
    def _check_fits(self) -> GridSpec:
        io_room = self.columns - self.host_io_columns_east
        if self.host_io_columns_west >= io_room:
            raise field_problem(
                "host_io_columns_west",
                self.host_io_columns_west,
                f"an integer < {io_room} (columns {self.columns} - host_io_columns_east "
                f"{self.host_io_columns_east}): at least one column must stay for the program",
            )
        if self.program_origin_x < self.host_io_columns_west:
            raise field_problem(
                "program_origin_x",
                self.program_origin_x,
                f"an integer >= host_io_columns_west ({self.host_io_columns_west}): the program "
                "rectangle may not overlap the west I/O columns",
            )
        room = self.columns - self.host_io_columns_east
        if self.program_origin_x >= room:
            raise field_problem(
                "program_origin_x",
                self.program_origin_x,
                f"an integer < {room} (columns {self.columns} - host_io_columns_east "
                f"{self.host_io_columns_east}): the program rectangle must start in the fabric",
            )
        if self.program_origin_y >= self.rows:
            raise field_problem(
                "program_origin_y",
                self.program_origin_y,
                f"an integer < rows ({self.rows}): the program rectangle must start in the fabric",
            )
        room = self.columns - self.program_origin_x - self.host_io_columns_east
        if self.program_columns > room:
            raise field_problem(
                "program_columns",
                self.program_columns,
                f"<= {room} (columns {self.columns} - program_origin_x {self.program_origin_x}"
                f" - host_io_columns_east {self.host_io_columns_east}): the program rectangle "
                "must fit in the fabric",
            )
        room = self.rows - self.program_origin_y
        if self.program_rows > room:
            raise field_problem(
                "program_rows",
                self.program_rows,
                f"<= {room} (rows {self.rows} - program_origin_y {self.program_origin_y}): "
                "the program rectangle must fit in the fabric",
            )
        return self

    @property
    def fabric_pes(self) -> int:
        """PEs in the whole fabric (columns x rows)."""
        return self.columns * self.rows

    @property
    def program_pes(self) -> int:
        """PEs in the program rectangle."""
        return self.program_columns * self.program_rows


class PESpec(Spec):
    """One processing element: compute engine (CE), its SRAM, tasks and queues."""

    sram_bytes: PosInt = Field(
        49152, description="Private SRAM per PE in bytes: 48 KiB on WSE-1/2/3 [S]."
    )
    sram_banks: PosInt = Field(
        8, description="SRAM banks; successive 16-bit words sit in successive banks [S]."
    )
    bank_word_bits: PosInt = Field(
        16, description="Width of one bank word in bits (the bank interleave unit) [S]."
    )
    runtime_reserved_bytes: NonNegInt = Field(
        2048,
        description="SRAM bytes the memcpy runtime keeps per PE (~2 KB; user code should stay "
        "under ~46 KB) [S]; 0 allowed for a machine without that runtime.",
    )
    memory_reads_per_cycle: PosInt = Field(
        2, description="Memory reads the CE can issue per cycle: two [S]."
    )
    memory_writes_per_cycle: PosInt = Field(
        1, description="Memory writes the CE can issue per cycle: one [S]."
    )
    memory_access_bits: PosInt = Field(
        64,
        description="Width of one memory access in bits: 32 on WSE-1, 64 on WSE-2 [S]; "
        "WSE-3: 64 [?] (assumed as WSE-2).",
    )
    simd_width_f16: PosInt = Field(
        4, description="f16 elements per vector op per cycle: 4 on WSE-1/2, 8 on WSE-3 [3]."
    )
    simd_width_f32: PosInt = Field(
        1,
        description="f32 elements per vector op per cycle: 1 [?] (not public; a published "
        "stencil sustains ~0.9 f32 flop/cycle/PE).",
    )
    simd_width_i16: PosInt = Field(
        4, description="16-bit integer elements per vector op per cycle: as f16 [?]."
    )
    data_task_ids: IdRange = Field(
        default_factory=lambda: IdRange(first=0, last=23),
        description="Ids data tasks may use. WSE-2: 0..23, one per color [S]; WSE-3: 0..7, "
        "one per input queue [S]; WSE-1: as WSE-2 [?].",
    )
    local_task_ids: IdRange = Field(
        default_factory=lambda: IdRange(first=0, last=30),
        description="Ids local tasks may use. WSE-2: 0..30 [S] (shared with data task ids); "
        "WSE-3: 8..30 [S]; WSE-1: as WSE-2 [?].",
    )
    control_task_ids: IdRange = Field(
        default_factory=lambda: IdRange(first=0, last=63),
        description="Ids control tasks may use: up to 63 [S]; lower bound 0 [?].",
    )
    data_tasks_bind_to: BindTo = Field(
        "color",
        description="What a data task is bound to: a color on WSE-1/2, an input queue on "
        "WSE-3 [S].",
    )
    input_queues: PosInt = Field(
        8,
        description="Input queues (router -> CE) per PE: WSE-2 8 [S]; WSE-3 8 [S] (data task "
        "ids 0..7); WSE-1 8 [?].",
    )
    output_queues: PosInt = Field(
        6, description="Output queues (CE -> router) per PE: WSE-2 6 [S]; WSE-3 8 [?]; WSE-1 6 [?]."
    )
    input_queue_depth: PosInt = Field(
        4,
        description="Wavelets an input queue holds: 4 [?] (third-party notes say 2-6 [3]). "
        "Full queues back-pressure the fabric; calibrate against the ~14-wavelet stall [S].",
    )
    output_queue_depth: PosInt = Field(
        4, description="Wavelets an output queue holds: 4 [?] (2-6 [3])."
    )
    microthreads: PosInt = Field(
        8, description="Microthreads running async vector ops: 8 [S] (WSE-3 ids 0..7)."
    )
    explicit_microthreads: Flag = Field(
        False,
        description="True when an async op names its microthread (WSE-3) [S]; False when the "
        "microthread is implied by the fabric operand's queue (WSE-1/2) [S].",
    )

    @model_validator(mode="after")
    def _check_memory(self) -> PESpec:
        if self.bank_word_bits % 8:
            raise field_problem("bank_word_bits", self.bank_word_bits, "a multiple of 8")
        unit = self.sram_banks * self.bank_word_bits // 8
        if self.sram_bytes % unit:
            raise field_problem(
                "sram_bytes",
                self.sram_bytes,
                f"a multiple of sram_banks * bank_word_bits / 8 = {unit} (whole words per bank)",
            )
        if self.runtime_reserved_bytes >= self.sram_bytes:
            raise field_problem(
                "runtime_reserved_bytes",
                self.runtime_reserved_bytes,
                f"an integer < sram_bytes ({self.sram_bytes})",
            )
        return self

    @property
    def user_sram_bytes(self) -> int:
        """SRAM left to user programs after the runtime's reservation."""
        return self.sram_bytes - self.runtime_reserved_bytes


class RouterSpec(Spec):
    """The router of every PE: ports, colors (virtual channels), buffers, switches."""

    ports: Ports = Field(
        PORTS,
        description="Router ports, fixed: NORTH, SOUTH, EAST, WEST (mesh links) and RAMP (to "
        "the PE's own CE); one wavelet per cycle per port per direction [S][P].",
    )
    colors: PosInt = Field(
        24,
        description="Routable colors (virtual channels sharing the links), ids 0..colors-1: "
        "24 on WSE-2/3 [S]; WSE-1: 24 [?].",
    )
    reserved_colors: ColorIds = Field(
        (21, 22, 23),
        description="Routable colors the memcpy runtime reserves: WSE-2 21, 22, 23 [S]; WSE-1/3 "
        "the same [?]. The runtime also uses ids >= colors (WSE-2: 27, 28, 30; 29/31 reserved) "
        "[S], which are not routable and so not listed; each id must be < colors, unique, and "
        "at least one color must stay free.",
    )
    buffer_depth: PosInt = Field(
        2,
        description="Wavelets buffered per color per router input: 2 [?], the smallest depth "
        "that keeps a stream at one wavelet per cycle per link when back-pressure reaches the "
        "upstream router one cycle late.",
    )
    switch_positions: PosInt = Field(
        4, description="Route positions a color's switch holds (pos0..pos3) [S]."
    )
    color_swap: Flag = Field(
        True,
        description="Colors differing in the lowest bit swap along an axis: WSE-2 True [S]; "
        "WSE-1 False [?]; WSE-3 False [?].",
    )

    @model_validator(mode="after")
    def _check(self) -> RouterSpec:
        if self.ports != PORTS:
            raise field_problem("ports", self.ports, "exactly " + repr(list(PORTS)))
        reserved = self.reserved_colors
        if len(reserved) >= self.colors:
            raise field_problem(
                "reserved_colors",
                reserved,
                f"at most {self.colors - 1} colors (router.colors - 1: one must stay free)",
            )
        seen: set[int] = set()
        for i, color in enumerate(reserved):
            if color >= self.colors:
                raise field_problem(
                    f"reserved_colors[{i}]",
                    color,
                    f"a color id < colors ({self.colors}); ids >= colors are not routable",
                )
            if color in seen:
                raise field_problem(f"reserved_colors[{i}]", color, "each color at most once")
            seen.add(color)
        return self

    @property
    def user_colors(self) -> tuple[int, ...]:
        """Routable colors not reserved by the runtime."""
        return tuple(c for c in range(self.colors) if c not in self.reserved_colors)


class TimingSpec(Spec):
    """Latencies in cycles, and the simulator's watchdog."""

    hop_latency_cycles: NonNegInt = Field(
        1,
        description="Cycles for a wavelet to move one hop, router to router: 1 [S][P]; "
        "WSE-3: 2 [3] (a third-party study).",
    )
    ramp_latency_cycles: NonNegInt = Field(
        2,
        description="Cycles between router and CE, each way: 2 (T_R, validated against CS-2 "
        "runs) [P]; a vendor slide says 7 [S].",
    )
    turn_penalty_cycles: NonNegInt = Field(
        0,
        description="Extra cycles when a wavelet turns (changes axis) in a router: 0 [?]; "
        "WSE-3: ~20 [3] (a third-party study).",
    )
    task_startup_cycles: NonNegInt = Field(
        1, description="Cycles the CE spends to start a task once picked: 1 [?]."
    )
    op_startup_cycles: NonNegInt = Field(
        0,
        description="Issue overhead of one vector op before its first element: 0 [?], so that "
        "fabric-in -> add -> fabric-out passes an element in 1 cycle, as the chain-reduce "
        "model B + (2*T_R + 2)(P - 1) assumes [P].",
    )
    watchdog_cycles: PosInt = Field(
        10_000,
        description="Cycles with pending work and no progress before the simulator reports a "
        "stall: 10,000 [?] (a simulator setting, not a hardware fact).",
    )
    cycle_counter_bits: PosInt = Field(
        48, description="Width of the per-PE cycle counter programs read for timing [S]."
    )


class NumericsSpec(Spec):
    """Number formats and rounding behaviour."""

    formats: Formats = Field(
        FORMATS,
        description="Number formats the PE supports: f16, f32 (IEEE), bf16 and cb16 (16-bit "
        "alternatives), i16, u16, i32, u32 [S]. Unique names from that list.",
    )
    fused_multiply_add: Flag = Field(
        False,
        description="False [?]: fmacs rounds the product, then the sum (like numpy's "
        "a + b * c); True rounds once.",
    )

    @model_validator(mode="after")
    def _check(self) -> NumericsSpec:
        if not self.formats:
            raise field_problem("formats", self.formats, "at least one format")
        seen: set[str] = set()
        for i, name in enumerate(self.formats):
            if name in seen:
                raise field_problem(f"formats[{i}]", name, "each format at most once")
            seen.add(name)
        return self


class SystemSpec(Spec):
    """Host I/O and multi-system links."""

    host_channels_per_edge: PosInt = Field(
        60, description="Host I/O channels entering at each of the east and west edges: ~60 [S]."
    )
    runtime_host_channels: PosInt = Field(
        16, description="Host channels the SDK runtime uses: up to 16 [S]."
    )
    host_channel_bits_per_s: PosFloat = Field(
        7e9, description="Bandwidth of one host channel: ~7 Gb/s [S]."
    )
    host_transaction_overhead_s: NonNegFloat = Field(
        200e-6, description="Fixed cost of one host transaction (memcpy, launch): ~200 us [S]."
    )
    system_io_latency_s: NonNegFloat = Field(
        5e-6, description="Latency between systems (wafers): < 5 us [S]."
    )
    system_io_bits_per_s: PosFloat = Field(
        1.2e12, description="I/O bandwidth of one system to other systems: 1.2 Tb/s [S]."
    )

    @model_validator(mode="after")
    def _check(self) -> SystemSpec:
        most = 2 * self.host_channels_per_edge
        if self.runtime_host_channels > most:
            raise field_problem(
                "runtime_host_channels",
                self.runtime_host_channels,
                f"an integer <= 2 * host_channels_per_edge ({most})",
            )
        return self


class VendorFigures(Spec):
    """The vendor's aggregate claims, for comparison with what the per-PE figures imply.

    Not used by the simulator. Every figure is optional (None for custom meshes). Decimal
    units: 40 GB = 40e9 bytes, 20 PB/s = 20e15 bytes/s, 220 Pb/s = 220e15 bits/s.
    """

    cores: OptPosInt = Field(
        None, description="Cores (PEs) claimed: 400,000 / 850,000 / 900,000 [S]."
    )
    sram_bytes: OptPosInt = Field(
        None, description="On-chip SRAM claimed in bytes: 18 GB / 40 GB / 44 GB [S]."
    )
    memory_bandwidth_bytes_per_s: OptPosFloat = Field(
        None, description="Aggregate memory bandwidth claimed: 9 / 20 / 21 PB/s [S]."
    )
    fabric_bandwidth_bits_per_s: OptPosFloat = Field(
        None, description="Aggregate fabric bandwidth claimed: 100 / 220 / 214 Pb/s [S]."
    )
    peak_flops: OptPosFloat = Field(
        None,
        description="Peak FLOP/s claimed: WSE-3 125 PFLOP/s 'AI' (likely sparse) [S]; none "
        "published for WSE-1/2.",
    )


class ArchSpec(Spec):
    """A whole wafer-scale machine. Build one from a preset, ``custom_mesh`` or a file."""

    name: Name = Field(description="Short name of this spec, e.g. 'wse2' (a label).")
    generation: Generation = Field(
        description="Hardware generation the spec models: 'wse1', 'wse2', 'wse3' or 'custom' "
        "(a label; behaviour follows the fields, not this)."
    )
    description: Text = Field("", description="One line about this spec (a label).")
    clock_hz: PosFloat = Field(
        850e6,
        description="Clock used to convert cycles to seconds: 850 MHz, as the SDK's timing "
        "code [S]; a talk quotes 1.1 GHz for WSE-2 [3].",
    )
    grid: GridSpec = Field(description="Fabric size and program rectangle.")
    pe: PESpec = Field(default_factory=PESpec, description="The processing element.")
    router: RouterSpec = Field(default_factory=RouterSpec, description="The router.")
    timing: TimingSpec = Field(default_factory=TimingSpec, description="Latencies in cycles.")
    numerics: NumericsSpec = Field(
        default_factory=NumericsSpec, description="Number formats and rounding."
    )
    system: SystemSpec = Field(default_factory=SystemSpec, description="Host and system I/O.")
    vendor: VendorFigures = Field(
        default_factory=VendorFigures, description="Vendor aggregate claims (comparison only)."
    )

    @model_validator(mode="after")
    def _check_tasks(self) -> ArchSpec:
        ids = self.pe.data_task_ids
        if self.pe.data_tasks_bind_to == "color" and ids.last >= self.router.colors:
            raise field_problem(
                "pe.data_task_ids.last",
                ids.last,
                f"an integer < router.colors ({self.router.colors}): data tasks bind to colors",
            )
        if self.pe.data_tasks_bind_to == "queue" and ids.last >= self.pe.input_queues:
            raise field_problem(
                "pe.data_task_ids.last",
                ids.last,
                f"an integer < pe.input_queues ({self.pe.input_queues}): data tasks bind to "
                "input queues",
            )
        return self

    def with_overrides(self, overrides: dict[str, Any] | None = None, **kw: Any) -> ArchSpec:
        """A new, validated spec with dotted-path overrides applied.

        ``spec.with_overrides({"timing.ramp_latency_cycles": 7})`` or
        ``spec.with_overrides(timing__ramp_latency_cycles=7)``.
        """
        from waferscale.arch.presets import apply_overrides

        data = apply_overrides(self.model_dump(), {**(overrides or {}), **kw})
        return ArchSpec.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples), as written to YAML/TOML/JSON files."""
        return self.model_dump(mode="json")

    def cycles_to_seconds(self, cycles: float) -> float:
        """Convert a cycle count to seconds at ``clock_hz``."""
        return cycles / self.clock_hz
