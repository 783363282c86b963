"""Errors of the model tier and the argument checks its public functions share.

Messages follow the arch spec's style: ``what: got VALUE, expected WHAT IS ALLOWED``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from waferscale.arch import ArchSpec

__all__ = ["ModelError", "PatternError", "check_arch", "check_count", "check_words", "row_fits"]


class ModelError(ValueError):
    """A model function was given something it cannot evaluate (bad P, B, arch, shape)."""


class PatternError(ModelError):
    """A communication pattern is malformed; the message names the transfer."""


def is_int(value: Any) -> bool:
    """True for Python/numpy integers, False for bools and everything else."""
    if type(value) is int:  # the common case, without the ABC check
        return True
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for finite real numbers (ints, floats, numpy scalars), False for bools."""
    if type(value) is int:
        return True
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or ModelError ``name: got ..., expected ...``."""
    if not is_int(value) or value < minimum:
        raise ModelError(f"{name}: got {value!r}, expected an integer >= {minimum}")
    return int(value)


def check_words(name: str, value: Any) -> int:
    """Words per PE (``B``): an integer >= 1."""
    return check_count(name, value, 1)


def check_arch(arch: Any) -> ArchSpec:
    """``arch`` must be a validated :class:`~waferscale.arch.ArchSpec`."""
    if not isinstance(arch, ArchSpec):
        raise ModelError(
            f"arch: got {type(arch).__name__} {arch!r:.60}, expected an ArchSpec "
            "(e.g. waferscale.arch.preset('wse2') or waferscale.arch.custom_mesh(w, h))"
        )
    return arch


def row_fits(name: str, count: int, arch: ArchSpec, axis: str = "columns") -> None:
    """A row (``axis='columns'``) or column (``'rows'``) of ``count`` PEs must fit the program
    rectangle of ``arch``."""
    room = arch.grid.program_columns if axis == "columns" else arch.grid.program_rows
    if count > room:
        raise ModelError(
            f"{name}: got {count}, expected at most {room} (the program rectangle of "
            f"{arch.name!r} has {arch.grid.program_columns} columns x "
            f"{arch.grid.program_rows} rows)"
        )
