"""Host arrays <-> device words for memcpy: dtype rules, shapes and orders.

A memcpy moves the tensor ``T`` of shape ``(h, w, elem_per_pe)``: ``T[j, i, k]`` is element ``k``
of PE ``(px + i, py + j)``. The host array is a flat buffer of that tensor, read in C order of
the array's own elements (the vendor passes a raw pointer): ``ROW_MAJOR`` means the buffer is
``T.ravel(order="C")``, ``COL_MAJOR`` means ``T.ravel(order="F")``.

Device words are the raw bits of the elements: ``uint32`` for 32-bit data, ``uint16`` for
16-bit data.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class MemcpyDataType(IntEnum):
    """Element width of a memcpy (the SDK's ``MemcpyDataType``)."""

    MEMCPY_32BIT = 0
    MEMCPY_16BIT = 1


class MemcpyOrder(IntEnum):
    """How the host buffer lays out the ``(h, w, elem_per_pe)`` tensor (the SDK's
    ``MemcpyOrder``): ``ROW_MAJOR`` = C order, ``COL_MAJOR`` = Fortran order."""

    ROW_MAJOR = 0
    COL_MAJOR = 1


HOST_DTYPES_32 = (np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.uint32))
HOST_DTYPES_16_WORDS = (np.dtype(np.uint32), np.dtype(np.int32))
HOST_DTYPES_16_HALF = (np.dtype(np.float16), np.dtype(np.int16), np.dtype(np.uint16))


class HostArrayError(ValueError):
    """A host array does not fit the memcpy call (wrong size, dtype or writability)."""


def _names(dts) -> str:
    return ", ".join(d.name for d in dts)


def as_data_type(value) -> MemcpyDataType:
    try:
        return MemcpyDataType(value)
    except ValueError:
        raise HostArrayError(
            f"data_type={value!r} is not a MemcpyDataType: use MemcpyDataType.MEMCPY_32BIT or "
            "MemcpyDataType.MEMCPY_16BIT"
        ) from None


def as_order(value) -> MemcpyOrder:
    try:
        return MemcpyOrder(value)
    except ValueError:
        raise HostArrayError(
            f"order={value!r} is not a MemcpyOrder: use MemcpyOrder.ROW_MAJOR or "
            "MemcpyOrder.COL_MAJOR"
        ) from None


def check_host_array(
    what: str,
    arr,
    size: int,
    tensor: tuple[int, int, int],
    data_type: MemcpyDataType,
    *,
    writable: bool = False,
) -> np.ndarray:
    """Refuse a host array of the wrong kind, size or dtype, with the fix in the message."""
    if not isinstance(arr, np.ndarray):
        raise HostArrayError(
            f"{what}: the host array must be a numpy array, got {type(arr).__name__}: "
            "build it with np.asarray(..., dtype=np.float32) (or int32/uint32)"
        )
    if arr.size != size:
        h, w, e = tensor
        raise HostArrayError(
            f"{what}: the host array has shape {arr.shape} ({arr.size} elements) but the call "
            f"moves {size} elements (tensor of shape (h, w, elem_per_pe) = ({h}, {w}, {e})): "
            f"pass an array of {size} elements (1-D, e.g. np.zeros({size}, np.float32))"
        )
    dt = arr.dtype
    if data_type == MemcpyDataType.MEMCPY_32BIT:
        if dt not in HOST_DTYPES_32:
            fix = (
                "for 16-bit data use data_type=MemcpyDataType.MEMCPY_16BIT"
                if dt in HOST_DTYPES_16_HALF
                else "convert it with .astype(np.float32) (or np.int32 / np.uint32)"
            )
            raise HostArrayError(
                f"{what}: data_type=MEMCPY_32BIT takes a host array of {_names(HOST_DTYPES_32)}, "
                f"got {dt.name}: {fix}"
            )
    else:
        if dt not in HOST_DTYPES_16_WORDS + HOST_DTYPES_16_HALF:
            raise HostArrayError(
                f"{what}: data_type=MEMCPY_16BIT takes uint32/int32 words holding the 16-bit "
                f"values in their low half (or, for convenience, a float16/int16/uint16 array), "
                f"got {dt.name}: e.g. x.astype(np.float16).view(np.uint16).astype(np.uint32)"
            )
    if writable and not arr.flags.writeable:
        raise HostArrayError(f"{what}: the destination array is read-only: pass a writable copy")
    return arr


def host_to_tensor(arr: np.ndarray, tensor: tuple[int, int, int], order: MemcpyOrder) -> np.ndarray:
    """The host buffer as the (h, w, e) tensor (a view where possible)."""
    flat = arr.reshape(-1)  # C order of the array's elements: the buffer
    return flat.reshape(tensor, order="F" if order == MemcpyOrder.COL_MAJOR else "C")


def tensor_to_host(values: np.ndarray, arr: np.ndarray, order: MemcpyOrder) -> None:
    """Write the (h, w, e) tensor ``values`` (already in ``arr``'s dtype) into the host buffer."""
    flat = values.reshape(-1, order="F" if order == MemcpyOrder.COL_MAJOR else "C")
    if arr.ndim == 1:
        arr[:] = flat
    else:
        arr[...] = flat.reshape(arr.shape)


def host_words(values: np.ndarray, data_type: MemcpyDataType) -> np.ndarray:
    """Host elements -> device words: uint32 for 32-bit data, uint16 for 16-bit data."""
    dt = values.dtype
    if data_type == MemcpyDataType.MEMCPY_32BIT:
        return values.view(np.uint32)
    if dt.itemsize == 2:
        return values.view(np.uint16)
    return (values.view(np.uint32) & 0xFFFF).astype(np.uint16)


def words_to_host(words: np.ndarray, dtype: np.dtype, data_type: MemcpyDataType) -> np.ndarray:
    """Device words -> host elements of ``dtype``. 16-bit values widen into 32-bit host words
    by sign extension for int32 arrays and zero extension for uint32 arrays."""
    if data_type == MemcpyDataType.MEMCPY_32BIT:
        return words.astype(np.uint32, copy=False).view(dtype)
    half = words.astype(np.uint16)
    if dtype.itemsize == 2:
        return half.view(dtype)
    if dtype == np.int32:
        return half.view(np.int16).astype(np.int32)
    return half.astype(np.uint32)
