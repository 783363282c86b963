"""Layouts: the program rectangle, which program runs on which tile, and the color routes.

The Python face of a CSL layout file::

    lay = Layout(4, 1, arch="wse2")
    lay.set_region_code(0, 0, 4, 1, my_program, n=16)
    lay.set_region_route(0, 0, 4, 1, color=3, rx=["WEST"], tx=["RAMP", "EAST"])
    compiled = lay.compile("out/my_program")

Routes are stored as dense arrays (rectangle x colors x switch positions) so a layout of the full
wafer costs a few tens of megabytes and per-region calls are vectorised.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..arch import ArchSpec, preset
from .code import Code, ProgramError, build_code
from .encoding import RESERVED_TASK_IDS
from .ports import PORT_DX, PORT_DY, PORT_NAMES
from .resources import check_program_rules, check_resources

PortSpec = str | int | Iterable[str | int]


class LayoutError(ValueError):
    """An invalid layout; the message names the tile (x, y), color or program and the fix."""


def port_mask(ports: PortSpec | None, what: str = "port") -> int:
    """Turn 'EAST', ['WEST', 'RAMP'], or port numbers into a 5-bit route mask."""
    if ports is None:
        return 0
    if isinstance(ports, str | int):
        ports = [ports]
    mask = 0
    for p in ports:
        if isinstance(p, str):
            name = p.upper()
            if name not in PORT_NAMES:
                raise LayoutError(f"unknown {what} {p!r}: expected one of {', '.join(PORT_NAMES)}")
            mask |= 1 << PORT_NAMES.index(name)
        elif isinstance(p, int) and 0 <= p < len(PORT_NAMES):
            mask |= 1 << p
        else:
            raise LayoutError(f"unknown {what} {p!r}: expected one of {', '.join(PORT_NAMES)}")
    return mask


def mask_ports(mask: int) -> list[str]:
    return [PORT_NAMES[i] for i in range(5) if (mask >> i) & 1]


@dataclass
class _Assignment:
    program: Callable[..., Any]
    params: dict[str, Any]
    code: Code | None = None


def _program_ref(program: Callable[..., Any]) -> str:
    return f"{program.__module__}:{program.__qualname__}"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    return value


@dataclass
class Layout:
    """A program rectangle of ``width`` x ``height`` tiles on an architecture."""

    width: int
    height: int
    arch: ArchSpec | str = "wse2"
    name: str = "program"
    _assignments: list[_Assignment] = field(default_factory=list, repr=False)
    _keys: dict[Any, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.arch, str):
            self.arch = preset(self.arch)
        for what, v in (("width", self.width), ("height", self.height)):
            if not isinstance(v, int) or v <= 0:
                raise LayoutError(f"layout {what} must be a positive integer, got {v!r}")
        g = self.arch.grid
        if self.width > g.program_columns or self.height > g.program_rows:
            raise LayoutError(
                f"layout {self.width}x{self.height} does not fit the program rectangle of "
                f"{self.arch.name} ({g.program_columns}x{g.program_rows}): use a smaller "
                "rectangle or a custom mesh (waferscale.arch.custom_mesh)"
            )
        nc = self.arch.router.colors
        npos = self.arch.router.switch_positions
        self.code_index = np.full((self.height, self.width), -1, np.int32)
        self.rx = np.zeros((self.height, self.width, nc, npos), np.uint8)
        self.tx = np.zeros((self.height, self.width, nc, npos), np.uint8)
        self.sw_npos = np.ones((self.height, self.width, nc), np.uint8)
        self.sw_ring = np.zeros((self.height, self.width, nc), np.uint8)
        self.sw_pop = np.zeros((self.height, self.width, nc), np.uint8)
        self.sw_current = np.zeros((self.height, self.width, nc), np.uint8)
        self.swap = np.zeros((self.height, self.width, nc), np.uint8)
        self.filters: dict[tuple[int, int, int], np.ndarray] = {}  # (x, y, color) -> row
        self.color_names: dict[str, int] = {}

    # -- code --------------------------------------------------------------------------------

    def _check_region(self, x: int, y: int, w: int, h: int, what: str) -> None:
        if w <= 0 or h <= 0:
            raise LayoutError(f"{what}: region size {w}x{h} must be positive")
        if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise LayoutError(
                f"{what}: region at ({x}, {y}) of size {w}x{h} leaves the {self.width}x"
                f"{self.height} rectangle: PEs are (0..{self.width - 1}, 0..{self.height - 1})"
            )

    def set_tile_code(self, x: int, y: int, program: Callable[..., Any], **params: Any) -> None:
        """Run ``program(code, **params)`` on tile (x, y) (the SDK's ``@set_tile_code``)."""
        self.set_region_code(x, y, 1, 1, program, **params)

    def set_region_code(
        self, x: int, y: int, w: int, h: int, program: Callable[..., Any], **params: Any
    ) -> None:
        """Run the same program with the same params on every tile of a region."""
        self._check_region(x, y, w, h, f"set_region_code({_program_ref(program)})")
        key = (program, _freeze(params))
        idx = self._keys.get(key)
        if idx is None:
            idx = len(self._assignments)
            self._assignments.append(_Assignment(program, dict(params)))
            self._keys[key] = idx
        self.code_index[y : y + h, x : x + w] = idx

    # -- colors and routes -------------------------------------------------------------------

    def color(self, name: str, color: int) -> int:
        """Name a color (recorded in the manifest, like the SDK's ``out.json``)."""
        self._check_color(color, f"color {name!r}")
        self.color_names[name] = int(color)
        return int(color)

    def _check_color(self, color: int, what: str) -> None:
        nc = self.arch.router.colors
        if not isinstance(color, int | np.integer) or not 0 <= int(color) < nc:
            raise LayoutError(
                f"{what}: color {color!r} is out of range: routable colors are 0..{nc - 1}"
            )
        if int(color) in self.arch.router.reserved_colors:
            raise LayoutError(
                f"{what}: color {color} is reserved by the runtime on {self.arch.name} "
                f"(reserved: {list(self.arch.router.reserved_colors)}): pick another color"
            )

    def set_route(
        self, x: int, y: int, color: int, rx: PortSpec, tx: PortSpec, position: int = 0
    ) -> None:
        """Route ``color`` at tile (x, y): accept from ``rx`` ports, send to ``tx`` ports (the
        SDK's ``@set_color_config(x, y, color, .{.routes = .{.rx = ..., .tx = ...}})``)."""
        self.set_region_route(x, y, 1, 1, color, rx, tx, position)

    def set_region_route(
        self,
        x: int,
        y: int,
        w: int,
        h: int,
        color: int,
        rx: PortSpec,
        tx: PortSpec,
        position: int = 0,
    ) -> None:
        """The same route on every tile of a region."""
        self._check_region(x, y, w, h, f"route of color {color}")
        self._check_color(color, f"route at ({x}, {y})")
        npos = self.arch.router.switch_positions
        if not 0 <= position < npos:
            raise LayoutError(
                f"route of color {color} at ({x}, {y}): switch position {position} out of range "
                f"0..{npos - 1}"
            )
        self.rx[y : y + h, x : x + w, color, position] = port_mask(rx, "rx port")
        self.tx[y : y + h, x : x + w, color, position] = port_mask(tx, "tx port")

    def set_switches(
        self,
        x: int,
        y: int,
        color: int,
        positions: list[tuple[PortSpec, PortSpec]],
        *,
        ring: bool = False,
        pop_mode: str = "none",
        current: int = 0,
        w: int = 1,
        h: int = 1,
    ) -> None:
        """Give ``color`` up to ``router.switch_positions`` routes (``[(rx, tx), ...]``), moved
        between by control wavelets (the SDK's ``.switches = .{.pos1 = ..., .ring_mode = ...,
        .pop_mode = ...}``). ``pop_mode``: 'none', 'pop_on_advance' or 'always_pop'. Applies
        to the ``w`` x ``h`` region at (x, y)."""
        what = f"switches of color {color} at ({x}, {y})"
        self._check_region(x, y, w, h, what)
        self._check_color(color, what)
        npos = self.arch.router.switch_positions
        if not 1 <= len(positions) <= npos:
            raise LayoutError(
                f"{what}: {len(positions)} positions given, {self.arch.name} routers hold 1.."
                f"{npos}"
            )
        modes = {"none": 0, "pop_on_advance": 1, "always_pop": 2}
        if pop_mode not in modes:
            raise LayoutError(f"{what}: pop_mode {pop_mode!r}: expected one of {', '.join(modes)}")
        if not 0 <= current < len(positions):
            raise LayoutError(f"{what}: current position {current} outside 0..{len(positions) - 1}")
        region = (slice(y, y + h), slice(x, x + w), color)
        for k, (rx, tx) in enumerate(positions):
            self.rx[region + (k,)] = port_mask(rx, "rx port")
            self.tx[region + (k,)] = port_mask(tx, "tx port")
        self.sw_npos[region] = len(positions)
        self.sw_ring[region] = int(ring)
        self.sw_pop[region] = modes[pop_mode]
        self.sw_current[region] = current

    def set_filter(
        self,
        x: int,
        y: int,
        color: int,
        *,
        kind: str,
        min_index: int = 0,
        max_index: int = 0xFFFF,
        pass_count: int = 1,
        max_counter: int = 0,
        init_counter: int = 0,
        count_data: bool = True,
        count_control: bool = False,
        w: int = 1,
        h: int = 1,
    ) -> None:
        """A filter on the wavelets of ``color`` that the router hands to its CE.

        ``kind='range'``: only data wavelets whose index (high 16 bits) lies in
        ``min_index..max_index`` reach the CE. ``kind='counter'``: a counter runs
        ``init_counter, ..., max_counter, 0, ...`` over the counted wavelets (data and/or
        control) and a wavelet reaches the CE while the counter is below ``pass_count``.
        Wavelets the filter stops and that go nowhere else end at this router."""
        from .encoding import (
            FILT_COUNTER,
            FILT_RANGE,
            FL_COUNT_CTRL,
            FL_COUNT_DATA,
            FL_COUNTER,
            FL_HI,
            FL_KIND,
            FL_LO,
            FL_MAX,
            FL_PASS,
        )

        what = f"filter of color {color} at ({x}, {y})"
        self._check_region(x, y, w, h, what)
        self._check_color(color, what)
        row = np.zeros(8, np.int64)
        if kind == "range":
            if not 0 <= min_index <= max_index <= 0xFFFF:
                raise LayoutError(f"{what}: need 0 <= min_index <= max_index <= 65535")
            row[FL_KIND], row[FL_LO], row[FL_HI] = FILT_RANGE, min_index, max_index
        elif kind == "counter":
            if not 0 <= init_counter <= max_counter or pass_count < 0:
                raise LayoutError(f"{what}: need 0 <= init_counter <= max_counter, pass_count >= 0")
            row[FL_KIND], row[FL_COUNTER], row[FL_MAX] = FILT_COUNTER, init_counter, max_counter
            row[FL_PASS] = pass_count
            row[FL_COUNT_DATA], row[FL_COUNT_CTRL] = int(count_data), int(count_control)
        else:
            raise LayoutError(f"{what}: kind {kind!r}: expected 'range' or 'counter'")
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                self.filters[(xx, yy, color)] = row

    def set_color_swap(self, x: int, y: int, color: int, *, w: int = 1, h: int = 1) -> None:
        """Color swap (WSE-2): wavelets of ``color`` this router sends EAST or WEST leave as
        ``color ^ 1`` (colors differing in the lowest bit swap on the row axis)."""
        what = f"color swap of color {color} at ({x}, {y})"
        self._check_region(x, y, w, h, what)
        self._check_color(color, what)
        self._check_color(color ^ 1, what + " (its partner color)")
        if not self.arch.router.color_swap:
            raise LayoutError(
                f"{what}: {self.arch.name} has no color swap (router.color_swap is false)"
            )
        self.swap[y : y + h, x : x + w, color] = 1

    # -- compilation -------------------------------------------------------------------------

    def codes(self) -> list[Code]:
        """Build every distinct (program, params) once."""
        out = []
        for a in self._assignments:
            if a.code is None:
                a.code = build_code(a.program, a.params)
                self._check_code(a)
            out.append(a.code)
        return out

    def _check_code(self, a: _Assignment) -> None:
        code = a.code
        assert code is not None
        pe = self.arch.pe
        budget = pe.sram_bytes - pe.runtime_reserved_bytes
        if code.memory_bytes > budget:
            rows = "\n".join(
                f"  {s.name:<20} {s.dtype.name:>4} x {s.length:<8} {s.nbytes:>8} B"
                for s in sorted(code.symbols.values(), key=lambda s: -s.nbytes)
            )
            index = next(i for i, x in enumerate(self._assignments) if x is a)
            where = np.argwhere(self.code_index == index)
            y0, x0 = (int(v) for v in where[0])
            raise LayoutError(
                f"program {code.program!r} on PE ({x0}, {y0}) needs {code.memory_bytes} B of "
                f"memory but {self.arch.name} leaves {budget} B per PE ({pe.sram_bytes} B SRAM - "
                f"{pe.runtime_reserved_bytes} B runtime reserve). What uses it:\n{rows}\n"
                "Shrink the arrays or spread the data over more PEs."
            )
        check_program_rules(self, a)
        for tid, decl in code.tasks.items():
            if decl.kind == "teardown":
                continue
            if tid in RESERVED_TASK_IDS:
                raise LayoutError(
                    f"program {code.program!r}: {decl.kind} task {decl.name!r} uses id {tid}, "
                    f"reserved by the runtime ({RESERVED_TASK_IDS[tid]}): use another id"
                )
            ranges = {
                "data": pe.data_task_ids,
                "local": pe.local_task_ids,
                "control": pe.control_task_ids,
            }
            rng = ranges[decl.kind]
            if tid not in rng:
                raise LayoutError(
                    f"program {code.program!r}: {decl.kind} task {decl.name!r} has id {tid}, "
                    f"outside {self.arch.name}'s {decl.kind} task ids {rng.first}..{rng.last}"
                )
            if decl.kind == "data":
                self._check_color(decl.color, f"data task {decl.name!r} of {code.program!r}")

    def check_routes(self) -> None:
        """Refuse routes that leave the rectangle (static check at compile time)."""
        for port in range(4):
            sending = (self.tx >> port) & 1
            if not sending.any():
                continue
            ys, xs, cs, ps = np.nonzero(sending)
            nx = xs + PORT_DX[port]
            ny = ys + PORT_DY[port]
            bad = (nx < 0) | (nx >= self.width) | (ny < 0) | (ny >= self.height)
            if bad.any():
                i = int(np.argmax(bad))
                raise LayoutError(
                    f"route of color {cs[i]} at PE ({xs[i]}, {ys[i]}) (position {ps[i]}) sends "
                    f"{PORT_NAMES[port]}, off the {self.width}x{self.height} rectangle: remove "
                    f"{PORT_NAMES[port]} from its tx or grow the rectangle"
                )

    def compile(self, out_dir: str | Path | None = None) -> CompiledLayout:
        """Validate, build every program, and (if ``out_dir``) write the artifact directory
        with its ``out.json`` manifest."""
        if (self.code_index < 0).any():
            ys, xs = np.nonzero(self.code_index < 0)
            raise LayoutError(
                f"tile ({xs[0]}, {ys[0]}) has no code ({len(xs)} tiles without code): give "
                "every tile of the rectangle a program (set_tile_code / set_region_code)"
            )
        codes = self.codes()
        self.check_routes()
        check_resources(self, codes)
        compiled = CompiledLayout(self, codes)
        if out_dir is not None:
            compiled.write(Path(out_dir))
        return compiled


@dataclass
class CompiledLayout:
    """A validated layout with its programs built: what the runtime loads."""

    layout: Layout
    codes: list[Code]
    path: Path | None = None
    #: The static tasks' records (``(program index, task id)`` -> the builtin calls it makes),
    #: made by the first engine that runs this layout and reused by the later ones.
    static_records: dict[tuple[int, int], list[tuple]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def arch(self) -> ArchSpec:
        return self.layout.arch  # type: ignore[return-value]

    def exported_symbols(self) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        for code in self.codes:
            for s in code.symbols.values():
                if s.export:
                    out.setdefault(s.name, (s.dtype.name, s.length))
        return out

    def exported_functions(self) -> list[str]:
        names: list[str] = []
        for code in self.codes:
            for n in code.functions:
                if n not in names:
                    names.append(n)
        return names

    def manifest(self) -> dict[str, Any]:
        lay = self.layout
        programs = []
        for i, (a, code) in enumerate(zip(lay._assignments, self.codes, strict=True)):
            programs.append(
                {
                    "program": _program_ref(a.program),
                    "params": {k: _jsonable(v) for k, v in a.params.items()},
                    "tiles": int((lay.code_index == i).sum()),
                    "memory_bytes": code.memory_bytes,
                    "symbols": [
                        {
                            "name": s.name,
                            "type": s.dtype.name,
                            "length": s.length,
                            "offset": s.offset,
                            "export": s.export,
                        }
                        for s in code.symbols.values()
                    ],
                    "tasks": [
                        {"id": t, "kind": d.kind, "name": d.name, "color": d.color,
                         "static": d.static}  # fmt: skip
                        for t, d in sorted(code.tasks.items())
                    ],
                    "functions": list(code.functions),
                }
            )
        return {
            "format": "waferscale-layout/1",
            "name": lay.name,
            "arch": self.arch.name,
            "rectangle": [lay.width, lay.height],
            "colors": lay.color_names,
            "programs": programs,
            "exported_symbols": {
                k: {"type": t, "length": n} for k, (t, n) in self.exported_symbols().items()
            },
            "exported_functions": self.exported_functions(),
        }

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "out.json").write_text(json.dumps(self.manifest(), indent=2))
        np.savez_compressed(
            out_dir / "layout.npz",
            **{name: getattr(self.layout, name) for name in _ROUTER_ARRAYS},
            filter_keys=np.array(list(self.layout.filters), np.int64).reshape(-1, 3),
            filter_rows=np.array(list(self.layout.filters.values()), np.int64).reshape(-1, 8),
        )
        self.path = out_dir
        _COMPILED[str(out_dir.resolve())] = self
        return out_dir


_COMPILED: dict[str, CompiledLayout] = {}
_ROUTER_ARRAYS = (
    "code_index", "rx", "tx", "sw_npos", "sw_ring", "sw_pop", "sw_current", "swap",
)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, int | float | str | bool | type(None) | list | dict):
        return v
    return repr(v)


def load_compiled(path: str | Path) -> CompiledLayout:
    """Load an artifact directory written by :meth:`Layout.compile`: rebuilds each program from
    its ``module:qualname`` reference and params, and restores codes and routes."""
    path = Path(path)
    key = str(path.resolve())
    if key in _COMPILED:
        return _COMPILED[key]
    manifest_file = path / "out.json"
    if not manifest_file.exists():
        raise FileNotFoundError(
            f"{path} is not a compiled layout (no out.json): compile it with Layout.compile()"
        )
    manifest = json.loads(manifest_file.read_text())
    arrays = np.load(path / "layout.npz")
    w, h = manifest["rectangle"]
    lay = Layout(w, h, arch=manifest["arch"], name=manifest["name"])
    for entry in manifest["programs"]:
        mod, _, qual = entry["program"].partition(":")
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            if part == "<locals>":
                raise ProgramError(
                    f"{path}: program {entry['program']} is a nested function and cannot be "
                    "re-imported: define programs at module level to load them from disk"
                )
            obj = getattr(obj, part)
        lay._assignments.append(_Assignment(obj, entry["params"]))
    for name in _ROUTER_ARRAYS:
        getattr(lay, name)[:] = arrays[name]
    for key, row in zip(arrays["filter_keys"], arrays["filter_rows"], strict=True):
        lay.filters[tuple(int(v) for v in key)] = row
    lay.color_names = dict(manifest["colors"])
    compiled = CompiledLayout(lay, lay.codes(), path)
    _COMPILED[key] = compiled
    return compiled
