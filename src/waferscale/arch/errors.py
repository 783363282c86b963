"""One error type for every refused machine spec: :class:`SpecError`.

Pydantic's ``ValidationError`` is translated into one line per problem of the form::

    timing.ramp_latency_cycles: got 2.5, expected an integer >= 0

i.e. the dotted field path (tuple items as ``[i]``), the value that was refused and what is
allowed. Non-validation problems (unknown preset, unreadable file, bad override path) use the
same shape.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

__all__ = ["Problem", "SpecError", "field_problem", "format_path", "format_value"]

# Error types raised by our own validators (see waferscale.arch._types).
VALUE_ERROR = "ws_value"  # ctx: expected
FIELD_ERROR = "ws_field"  # ctx: field, value, expected (cross-field checks in a model)

_MAX_VALUE_CHARS = 80


def format_value(value: Any) -> str:
    """``repr`` of a refused value, shortened to one readable line."""
    if isinstance(value, tuple):
        value = list(value)
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def format_path(loc: Iterable[str | int]) -> str:
    """``("router", "reserved_colors", 2)`` -> ``"router.reserved_colors[2]"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Problem:
    """One refused value: where, what was given, and what is allowed."""

    path: str
    """Dotted field path, e.g. ``timing.ramp_latency_cycles`` (empty for the whole spec)."""
    message: str
    """Everything after ``path: ``, e.g. ``got 2.5, expected an integer >= 0``."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """An architecture spec (or a file, preset name or override naming one) was refused.

    ``str(err)`` holds one line per problem; ``err.problems`` holds them as :class:`Problem`.
    """

    def __init__(self, problems: Sequence[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, path: str, value: Any, expected: str) -> SpecError:
        """``SpecError.at("grid.columns", -1, "an integer > 0")``."""
        return cls([Problem(path, f"got {format_value(value)}, expected {expected}")])

    @classmethod
    def from_validation_error(
        cls, err: ValidationError, model: type[BaseModel], prefix: Sequence[str | int] = ()
    ) -> SpecError:
        """Translate pydantic's error for ``model`` (validated at ``prefix``) into ours."""
        problems = [
            problem
            for e in err.errors(include_url=False)
            for problem in _translate(e, model, tuple(prefix))
        ]
        # The same problem can be reported twice (e.g. union branches); keep the first.
        unique = list(dict.fromkeys(problems))
        return cls(unique)


def field_problem(field: str, value: Any, expected: str) -> PydanticCustomError:
    """Error for a model-level (cross-field) check, reported at ``<model path>.<field>``."""
    return PydanticCustomError(
        FIELD_ERROR,
        "{field}: got {value}, expected {expected}",
        {"field": field, "value": format_value(value), "expected": expected},
    )


# --------------------------------------------------------------------------------------------
# translation of one pydantic error dict


def _translate(
    e: dict[str, Any], model: type[BaseModel], prefix: tuple[str | int, ...]
) -> list[Problem]:
    loc = tuple(e.get("loc", ()))
    ctx = e.get("ctx") or {}
    nested = ctx.get("error")
    if isinstance(nested, SpecError):
        # A nested spec model validated by its own __init__ (pydantic calls a custom __init__
        # for nested models): re-root its problems under this location.
        path = format_path(prefix + loc)
        return [Problem(_join(path, p.path), p.message) for p in nested.problems]
    return [_translate_one(e, model, prefix)]


def _join(outer: str, inner: str) -> str:
    if not outer:
        return inner
    if not inner:
        return outer
    return outer + inner if inner.startswith("[") else f"{outer}.{inner}"


def _translate_one(
    e: dict[str, Any], model: type[BaseModel], prefix: tuple[str | int, ...]
) -> Problem:
    loc = tuple(e.get("loc", ()))
    kind = e.get("type", "")
    ctx = e.get("ctx") or {}
    value = e.get("input")
    path = format_path(prefix + loc)

    if kind == FIELD_ERROR:
        sub = format_path(prefix + loc + (str(ctx["field"]),))
        return Problem(sub, f"got {ctx['value']}, expected {ctx['expected']}")
    if kind == VALUE_ERROR:
        return Problem(path, f"got {format_value(value)}, expected {ctx['expected']}")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else "?"
        return Problem(
            path, f"unknown field (got {format_value(value)}); allowed fields: {allowed}"
        )
    if kind == "missing":
        return Problem(path, f"missing, expected {_expected_for(model, loc)}")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        target = _model_at(model, loc)
        what = f"a mapping of {target.__name__} fields" if target else "a mapping"
        return Problem(path, f"got {format_value(value)}, expected {what}")
    if kind == "literal_error":
        return Problem(path, f"got {format_value(value)}, expected one of {ctx.get('expected')}")
    if kind == "frozen_instance":
        return Problem(path, "specs are frozen; build a new one with with_overrides(...)")
    msg = str(e.get("msg", kind))
    msg = msg[:1].lower() + msg[1:]
    if msg.startswith("value error, "):
        msg = msg[len("value error, ") :]
    return Problem(path, f"got {format_value(value)}, {msg}")


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the interesting type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Any, Any] | None:
    """(FieldInfo, annotation) of the field at ``loc`` inside ``model`` or None."""
    current: Any = model
    info = None
    for part in loc:
        if isinstance(part, int):
            tp = _unwrap(current)
            args = get_args(tp)
            if get_origin(tp) is tuple and args:
                current = args[0]
                info = None
                continue
            return None
        cls = _unwrap(current)
        if not _is_model(cls) or part not in cls.model_fields:
            return None
        info = cls.model_fields[part]
        current = info.annotation
    return info, current


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    if not loc:
        return model
    found = _field_at(model, loc)
    if found is None:
        return None
    tp = _unwrap(found[1])
    return tp if _is_model(tp) else None


def _expected_for(model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """Human description of what the field at ``loc`` accepts (used for missing fields)."""
    found = _field_at(model, loc)
    if found is None:
        return "a value"
    info, annotation = found
    for meta in getattr(info, "metadata", ()) or ():
        text = getattr(meta, "ws_expected", None)
        if text:
            return text
    tp = _unwrap(annotation)
    if _is_model(tp):
        return f"a mapping of {tp.__name__} fields"
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return f"a value of type {getattr(tp, '__name__', tp)}"
