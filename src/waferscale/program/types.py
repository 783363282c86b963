"""Element types of PE memory: the SDK's f16, f32, i16, u16, i32, u32."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """A PE element type: its SDK name, its numpy dtype and its width in bytes."""

    name: str
    np_dtype: np.dtype
    width: int

    @property
    def is_float(self) -> bool:
        return self.name.startswith("f")

    def __repr__(self) -> str:
        return self.name


f16 = DType("f16", np.dtype(np.float16), 2)
f32 = DType("f32", np.dtype(np.float32), 4)
i16 = DType("i16", np.dtype(np.int16), 2)
u16 = DType("u16", np.dtype(np.uint16), 2)
i32 = DType("i32", np.dtype(np.int32), 4)
u32 = DType("u32", np.dtype(np.uint32), 4)

DTYPES = {d.name: d for d in (f16, f32, i16, u16, i32, u32)}


def dtype_of(value: DType | str) -> DType:
    """Accept a DType or its name; refuse anything else with the allowed names."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in DTYPES:
        return DTYPES[value]
    raise TypeError(f"unknown element type {value!r}: expected one of {', '.join(DTYPES)}")
