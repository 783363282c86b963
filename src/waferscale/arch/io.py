"""Read and write specs as YAML, TOML or JSON files (chosen by the file's suffix).

A file holds the fields of :class:`ArchSpec`. It may instead start from a preset and change a
few fields: a top-level ``base: wse2`` key loads that preset, and every other key is merged
into it (sections merge field by field, except ``grid``, which is replaced whole because its
omitted fields are derived from the given ones; other values replace)::

    base: wse2
    name: wse2-slow-ramp
    timing:
      ramp_latency_cycles: 7
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
import yaml

from waferscale.arch.errors import SpecError
from waferscale.arch.presets import preset
from waferscale.arch.spec import ArchSpec

__all__ = ["SUFFIXES", "dumps", "load", "loads", "save"]

SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e9`` and ``1.1e9`` as floats (YAML 1.2 style)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _Dumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists: ``reserved_colors: [21, 22, 23]``."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(list, _represent_list)


def _format_of(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise SpecError.at(
            str(path), path.suffix or "(no suffix)", "a file ending in " + ", ".join(SUFFIXES)
        )
    return fmt


def dumps(spec: ArchSpec, fmt: str = "yaml") -> str:
    """The spec as text in ``fmt`` ('yaml', 'toml' or 'json')."""
    data = spec.to_dict()
    if fmt == "yaml":
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    if fmt == "toml":
        return tomli_w.dumps(_drop_none(data))
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    raise SpecError.at("format", fmt, "one of 'yaml', 'toml', 'json'")


def loads(text: str, fmt: str = "yaml", source: str = "<string>") -> ArchSpec:
    """Parse and validate a spec from ``text`` in ``fmt``."""
    try:
        if fmt == "yaml":
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        elif fmt == "toml":
            data = tomllib.loads(text)
        elif fmt == "json":
            data = json.loads(text)
        else:
            raise SpecError.at("format", fmt, "one of 'yaml', 'toml', 'json'")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        first = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in first)
        raise SpecError(f"{source}: not valid {fmt.upper()}: {detail}") from None
    return from_data(data, source)


def from_data(data: Any, source: str = "<data>") -> ArchSpec:
    """Validate plain data (as read from a file), honouring a top-level ``base`` key."""
    if not isinstance(data, Mapping):
        raise SpecError.at(source, data, "a mapping of ArchSpec fields at the top level")
    data = dict(data)
    if "base" in data:
        base = preset(data.pop("base"))
        data = _merge(base.model_dump(), data)
    return ArchSpec.model_validate(data)


def load(path: str | Path) -> ArchSpec:
    """Read and validate a spec from a .yaml/.yml, .toml or .json file."""
    path = Path(path)
    fmt = _format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read: {err.strerror or err}") from None
    return loads(text, fmt, source=str(path))


def save(spec: ArchSpec, path: str | Path) -> Path:
    """Write ``spec`` to ``path`` as YAML, TOML or JSON (by suffix); returns the path."""
    path = Path(path)
    path.write_text(dumps(spec, _format_of(path)), encoding="utf-8")
    return path


def _drop_none(value: Any) -> Any:
    """TOML has no null: leave None-valued keys out (they default back to None on load)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if key != "grid" and isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
