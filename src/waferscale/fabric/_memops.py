"""Vector ops over memory only, run in one compiled call at issue.

Element by element in order, as the hardware streams them, so overlapping operands behave as on
the machine (a shifted copy within one array propagates). Operands are described like the
kernel's op pool: a kind (memory or scalar), a byte address or a raw scalar, a byte stride and
an element width.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._layout_consts import K_MEM
from ._memaccess import read_mem, write_mem
from ._numerics import apply_elem


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op(
    mem32, mem16, code, n, fused, scalar,
    d_addr, d_stride, d_width,
    a_kind, a_arg, a_stride, a_width,
    b_kind, b_arg, b_stride, b_width,
):  # fmt: skip
    c = np.uint32(scalar & 0xFFFFFFFF)
    for i in range(n):
        if a_kind == K_MEM:
            a = read_mem(mem32, mem16, a_arg + i * a_stride, a_width)
        else:
            a = np.uint32(a_arg & 0xFFFFFFFF)
        if b_kind == K_MEM:
            b = read_mem(mem32, mem16, b_arg + i * b_stride, b_width)
        else:
            b = np.uint32(b_arg & 0xFFFFFFFF)
        r = apply_elem(code, a, b, c, fused)
        write_mem(mem32, mem16, d_addr + i * d_stride, d_width, r)


# memory_op's arguments packed in one int64 array, with the address and size of the engine's
# memory: a compiled call unboxes each argument in Python (about 0.25 us per array), which made
# the 17-argument call, then the three-array one, cost more than a 64-element op itself.
(MP_CODE, MP_N, MP_FUSED, MP_SCALAR, MP_D_ADDR, MP_D_STRIDE, MP_D_WIDTH, MP_A_KIND, MP_A_ARG,
 MP_A_STRIDE, MP_A_WIDTH, MP_B_KIND, MP_B_ARG, MP_B_STRIDE, MP_B_WIDTH, MP_MEM_ADDRESS,
 MP_MEM_WORDS) = range(17)  # fmt: skip
N_MP = 17


@intrinsic
def _u32_pointer(typingctx, address):
    """The integer ``address`` as a pointer to u32 words."""
    sig = types.CPointer(types.uint32)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


def pack_memory(prm: np.ndarray, mem32: np.ndarray) -> None:
    """Store where ``mem32`` lives in ``prm``: the packed op then runs on that array, which must
    stay alive and in place as long as ``prm`` is used (the engine's memory, allocated once)."""
    if not (mem32.dtype == np.uint32 and mem32.ndim == 1 and mem32.flags.c_contiguous):
        raise ValueError("pack_memory needs a 1-D C-contiguous uint32 array")
    prm[MP_MEM_ADDRESS] = mem32.ctypes.data
    prm[MP_MEM_WORDS] = mem32.size


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op_row(mem32, mem16, prm, base):
    """:func:`memory_op` with its arguments in ``prm`` (the ``MP_*`` layout), memory addresses
    relative to the PE's memory ``base`` (so one ``prm`` serves every PE running the same
    program)."""
    a_arg = prm[MP_A_ARG] + base if prm[MP_A_KIND] == K_MEM else prm[MP_A_ARG]
    b_arg = prm[MP_B_ARG] + base if prm[MP_B_KIND] == K_MEM else prm[MP_B_ARG]
    memory_op(
        mem32, mem16, prm[MP_CODE], prm[MP_N], prm[MP_FUSED] != 0, prm[MP_SCALAR],
        prm[MP_D_ADDR] + base, prm[MP_D_STRIDE], prm[MP_D_WIDTH],
        prm[MP_A_KIND], a_arg, prm[MP_A_STRIDE], prm[MP_A_WIDTH],
        prm[MP_B_KIND], b_arg, prm[MP_B_STRIDE], prm[MP_B_WIDTH],
    )  # fmt: skip


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op_packed(prm, base):
    """:func:`memory_op_row` on the memory that :func:`pack_memory` stored in ``prm``."""
    mem32 = nb.carray(_u32_pointer(prm[MP_MEM_ADDRESS]), prm[MP_MEM_WORDS])
    memory_op_row(mem32, mem32.view(np.uint16), prm, base)
