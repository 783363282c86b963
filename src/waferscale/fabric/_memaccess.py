"""Word access to the PEs' memory arena from compiled code (the cycle loop and the memory-only
ops): 32-bit words through the ``u32`` view, 16-bit ones through the ``u16`` view of the same
bytes, at byte addresses.

Every variable index goes through :func:`_u`: numba adds a negative-index wraparound (compare,
add, select) to each signed index, which measured 15-35% of the cycle loop's time
(``tests/test_kernel_source.py`` keeps the rule in the compiled modules).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


@nb.njit(**_INLINE)
def _u(i):
    """``i`` as an unsigned index: numba then skips its negative-index wraparound."""
    return nb.uint64(i)


@nb.njit(**_INLINE)
def read_mem(mem32, mem16, addr, width):
    """The ``width``-byte (4 or 2) word at byte address ``addr``, as a u32."""
    if width == 4:
        return np.uint32(mem32[_u(addr >> 2)])
    return np.uint32(mem16[_u(addr >> 1)])


@nb.njit(**_INLINE)
def write_mem(mem32, mem16, addr, width, value):
    """Store the low ``width`` bytes of ``value`` at byte address ``addr``."""
    if width == 4:
        mem32[_u(addr >> 2)] = value
    else:
        mem16[_u(addr >> 1)] = np.uint16(value & 0xFFFF)
