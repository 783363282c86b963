"""Vector ops over memory only, run in one compiled call at issue.

Element by element in order, as the hardware streams them, so overlapping operands behave as on
the machine (a shifted copy within one array propagates). Operands are described like the
kernel's op pool: a kind (memory or scalar), a byte address or a raw scalar, a byte stride and
an element width.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._kernel import _read_mem, _write_mem
from ._layout_consts import K_MEM
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
            a = _read_mem(mem32, mem16, a_arg + i * a_stride, a_width)
        else:
            a = np.uint32(a_arg & 0xFFFFFFFF)
        if b_kind == K_MEM:
            b = _read_mem(mem32, mem16, b_arg + i * b_stride, b_width)
        else:
            b = np.uint32(b_arg & 0xFFFFFFFF)
        r = apply_elem(code, a, b, c, fused)
        _write_mem(mem32, mem16, d_addr + i * d_stride, d_width, r)


# memory_op's arguments after (mem32, mem16), packed in one int64 array: a compiled call unboxes
# each scalar argument in Python, which made the 15-argument call cost more than the op itself.
(MP_CODE, MP_N, MP_FUSED, MP_SCALAR, MP_D_ADDR, MP_D_STRIDE, MP_D_WIDTH, MP_A_KIND, MP_A_ARG,
 MP_A_STRIDE, MP_A_WIDTH, MP_B_KIND, MP_B_ARG, MP_B_STRIDE, MP_B_WIDTH) = range(15)  # fmt: skip
N_MP = 15


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op_packed(mem32, mem16, prm, base):
    """:func:`memory_op` with its scalar arguments in ``prm`` (the ``MP_*`` layout), memory
    addresses relative to the PE's memory ``base`` (so one ``prm`` serves every PE running
    the same program)."""
    a_arg = prm[MP_A_ARG] + base if prm[MP_A_KIND] == K_MEM else prm[MP_A_ARG]
    b_arg = prm[MP_B_ARG] + base if prm[MP_B_KIND] == K_MEM else prm[MP_B_ARG]
    memory_op(
        mem32, mem16, prm[MP_CODE], prm[MP_N], prm[MP_FUSED] != 0, prm[MP_SCALAR],
        prm[MP_D_ADDR] + base, prm[MP_D_STRIDE], prm[MP_D_WIDTH],
        prm[MP_A_KIND], a_arg, prm[MP_A_STRIDE], prm[MP_A_WIDTH],
        prm[MP_B_KIND], b_arg, prm[MP_B_STRIDE], prm[MP_B_WIDTH],
    )  # fmt: skip
