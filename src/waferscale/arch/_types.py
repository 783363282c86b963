"""Strict scalar types and the common base of every spec model.

Every scalar field goes through one of the checkers below, so a refused value always produces a
``ws_value`` error whose ``expected`` text says what is allowed ("an integer >= 0", ...).
Integers refuse floats (also ``2.0``), strings and booleans; numbers accept ints and floats but
not booleans, strings, NaN or infinities. Lists are accepted where a tuple is declared (YAML,
TOML and JSON have no tuples) and stored as tuples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from waferscale.arch.errors import VALUE_ERROR, SpecError

__all__ = [
    "Flag",
    "NonNegFloat",
    "NonNegInt",
    "OptPosFloat",
    "OptPosInt",
    "PosFloat",
    "PosInt",
    "Spec",
    "Text",
    "Name",
    "one_of",
    "tuple_of",
]


@dataclass(frozen=True)
class Expected:
    """Annotation marker: what a field accepts, in words (used in error messages)."""

    ws_expected: str


def _refuse(expected: str) -> PydanticCustomError:
    return PydanticCustomError(VALUE_ERROR, "expected {expected}", {"expected": expected})


def _int_checker(minimum: int, optional: bool) -> tuple[Callable[[Any], Any], str]:
    expected = "an integer > 0" if minimum == 1 else f"an integer >= {minimum}"
    if optional:
        expected += " or null"

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _refuse(expected)
        return value

    return check, expected


def _float_checker(positive: bool, optional: bool) -> tuple[Callable[[Any], Any], str]:
    expected = "a number > 0" if positive else "a number >= 0"
    if optional:
        expected += " or null"

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(expected)
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            raise _refuse(expected)
        return number

    return check, expected


def _annotated_int(minimum: int, optional: bool = False) -> Any:
    check, expected = _int_checker(minimum, optional)
    bounded = Annotated[int, Field(gt=0) if minimum == 1 else Field(ge=minimum)]
    base = bounded | None if optional else bounded
    return Annotated[base, BeforeValidator(check), Expected(expected)]


def _annotated_float(positive: bool, optional: bool = False) -> Any:
    check, expected = _float_checker(positive, optional)
    bounded = Annotated[float, Field(gt=0) if positive else Field(ge=0)]
    base = bounded | None if optional else bounded
    return Annotated[base, BeforeValidator(check), Expected(expected)]


PosInt = _annotated_int(1)
"""A size or count: an integer > 0."""
NonNegInt = _annotated_int(0)
"""A latency, id or optional amount: an integer >= 0."""
OptPosInt = _annotated_int(1, optional=True)
PosFloat = _annotated_float(True)
NonNegFloat = _annotated_float(False)
OptPosFloat = _annotated_float(True, optional=True)


def _check_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _refuse("true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_check_bool), Expected("true or false")]


def _check_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise _refuse("a string")
    return value


def _check_name(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise _refuse("a non-empty string")
    return value


Text = Annotated[str, BeforeValidator(_check_text), Expected("a string")]
Name = Annotated[str, BeforeValidator(_check_name), Expected("a non-empty string")]


def one_of(*choices: str) -> Callable[[Any], Any]:
    """Checker for a string drawn from ``choices`` (pair it with a ``Literal`` type)."""
    expected = "one of " + ", ".join(repr(c) for c in choices)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in choices:
            raise _refuse(expected)
        return value

    return check


def tuple_of(item: str) -> Callable[[Any], Any]:
    """Checker turning a list into a tuple; anything else but a tuple is refused."""
    expected = f"a list of {item}"

    def check(value: Any) -> Any:
        if isinstance(value, list):
            return tuple(value)
        if not isinstance(value, tuple):
            raise _refuse(expected)
        return value

    return check


class Spec(BaseModel):
    """Base of every spec model: strict, frozen, no unknown fields, errors as SpecError."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise SpecError.from_validation_error(err, type(self)) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as err:
            raise SpecError.from_validation_error(err, cls) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as err:
            raise SpecError.from_validation_error(err, cls) from None

    @classmethod
    def field_names(cls) -> Sequence[str]:
        """Names of this model's fields, in declaration order."""
        return tuple(cls.model_fields)
