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
from numba.core import cgutils, types
from numba.extending import intrinsic

_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


@nb.njit(**_INLINE)
def _u(i):
    """``i`` as an unsigned index: numba then skips its negative-index wraparound."""
    return nb.uint64(i)


@intrinsic
def borrowed(typingctx, array):
    """``array`` without its reference count: the same data, shape and strides, no owner.

    Numba counts references to an array at every call level that holds it (an atomic
    increment and decrement per array argument per call, and per view made), which measured
    about a third of a stream window's time. A borrowed array's count is a null test. The
    caller must hold ``array`` while the result (or any view of it) is used: borrow a
    function's own arguments at its entry, or what a longer-lived owner holds."""
    if not isinstance(array, types.Array):
        return None
    sig = array(array)

    def codegen(context, builder, signature, args):
        view = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return sig, codegen


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
