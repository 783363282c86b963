"""Vector ops over memory only, run in one compiled call at issue.

Element by element in order, as the hardware streams them, so overlapping operands behave as on
the machine (a shifted copy within one array propagates). Operands are described like the
kernel's op pool: a kind (memory or scalar), a byte address or a raw scalar, a byte stride and
an element width.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._layout_consts import K_MEM
from ._memaccess import _u, read_mem, write_mem
from ._numerics import (
    _FADDS,
    _FMACS,
    _FMULS,
    _FSUBS,
    _MOV32,
    _nan32,
    apply_elem,
    fadds_raw,
    fadds_word,
    fmacs_unfused_raw,
    fmacs_unfused_word,
    fmuls_raw,
    fmuls_word,
    fsubs_raw,
    fsubs_word,
)

_INLINE = {"cache": True, "nogil": True, "boundscheck": False, "forceinline": True}


@nb.njit(**_INLINE)
def _mov_word(a, b, c):
    return a


@nb.njit(**_INLINE)
def _has_nan(mem32, first, stride, n):
    """Is one of the ``n`` f32 words from ``first`` (step ``stride``) a NaN? (The largest
    magnitude bits, as i32: a reduction, which vectorises when the stride is the constant 1.)"""
    most = np.int32(0)
    if stride == 1:
        for i in range(n):
            most = max(most, np.int32(mem32[_u(first + i)] & np.uint32(0x7FFFFFFF)))
    else:
        for i in range(n):
            most = max(most, np.int32(mem32[_u(first + i * stride)] & np.uint32(0x7FFFFFFF)))
    return most > np.int32(0x7F800000)


@nb.njit(**_INLINE)
def _accumulate(raw, mem32, n, d, b, c):
    """``mem32[d + i] = raw(mem32[d + i], mem32[b + i], c)`` for ``i < n``; returns the
    largest magnitude bits (as i32) among ``b``'s words: a NaN if above ``0x7F800000``."""
    most = np.int32(0)
    for i in range(n):
        x = mem32[_u(b + i)]
        most = max(most, np.int32(x & np.uint32(0x7FFFFFFF)))
        mem32[_u(d + i)] = np.uint32(raw(mem32[_u(d + i)], x, c))
    return most


# Inlined: an out-of-line call would pass ``raw`` and ``exact`` as Python objects, which numba
# cannot cache.
@nb.njit(**_INLINE)
def _word_loop(raw, exact, nan_rule, mem32, n, d, ds, a_mem, a, a_s, b_mem, b, b_s, c):
    """``mem32[d + i*ds] = op(A[i], B[i], c)`` in element order, for 32-bit operands (indices
    and strides in words; an operand not in memory is its word ``a`` / ``b``), compiled per op
    (``raw``: the float unit's result; ``exact``: with the NaN rule).

    Operands without a NaN at the start take the raw op: a NaN that the op itself makes (inf -
    inf) is the float unit's default NaN, which the NaN rule returns unchanged when a later
    element reads it, so the result is the same word. Without the per-element NaN branch, the
    contiguous loops vectorise (LLVM's run-time overlap check keeps the element order's result
    where operands overlap; the in-place form ``y = y op b`` reads and writes one index, which
    that check would otherwise refuse)."""
    if nan_rule and (
        (_has_nan(mem32, a, a_s, n) if a_mem else _nan32(a))
        or (_has_nan(mem32, b, b_s, n) if b_mem else _nan32(b))
        or _nan32(c)
    ):
        for i in range(n):
            x = mem32[_u(a + i * a_s)] if a_mem else a
            y = mem32[_u(b + i * b_s)] if b_mem else b
            mem32[_u(d + i * ds)] = np.uint32(exact(x, y, c))
    elif ds == 1 and a_mem and b_mem and a == d and a_s == 1 and b_s == 1:
        _accumulate(raw, mem32, n, d, b, c)
    elif ds == 1 and (a_s == 1 or not a_mem) and (b_s == 1 or not b_mem):
        for i in range(n):  # the unit strides are constants here, so the loop vectorises
            x = mem32[_u(a + i)] if a_mem else a
            y = mem32[_u(b + i)] if b_mem else b
            mem32[_u(d + i)] = np.uint32(raw(x, y, c))
    else:
        for i in range(n):
            x = mem32[_u(a + i * a_s)] if a_mem else a
            y = mem32[_u(b + i * b_s)] if b_mem else b
            mem32[_u(d + i * ds)] = np.uint32(raw(x, y, c))


@nb.njit(**_INLINE)
def _f32_op(raw, exact, nan_rule, mem32, n, d, ds, a_mem, a, a_s, b_mem, b, b_s, c):
    """:func:`_word_loop`, compiled twice: once with every stride the constant 1 (the common
    case, whose loops and NaN scans then carry no stride at all) and once with strides as
    given. (In a replay driver, strides as constants measured 7-11 ns less per 64-element op
    than strides read from the record; this split itself was not measured apart from the
    change that brought it.)"""
    if ds == 1 and (a_s == 1 or not a_mem) and (b_s == 1 or not b_mem):
        _word_loop(raw, exact, nan_rule, mem32, n, d, 1, a_mem, a, 1, b_mem, b, 1, c)
    else:
        _word_loop(raw, exact, nan_rule, mem32, n, d, ds, a_mem, a, a_s, b_mem, b, b_s, c)


RUN_STACK_WORDS = 512  # an accumulation run up to this length saves its d on the stack


@intrinsic
def _stack_u32(typingctx, count):
    """A pointer to ``count`` (a literal) u32 words on the calling function's stack frame,
    valid until it returns."""
    if not isinstance(count, types.IntegerLiteral):
        return None
    words = count.literal_value
    sig = types.CPointer(types.uint32)(count)

    def codegen(context, builder, signature, args):
        block = cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(32), words))
        return builder.bitcast(block, ir.IntType(32).as_pointer())

    return sig, codegen


@intrinsic
def _u32_pointer(typingctx, address):
    """The integer ``address`` as a pointer to u32 words."""
    sig = types.CPointer(types.uint32)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _data_address(typingctx, array):
    """The address of ``array``'s first element, as an integer."""
    sig = types.int64(array)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.ptrtoint(data, context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def prefetch(typingctx, address):
    """Ask the cache for the line holding byte ``address`` (an integer), without waiting: a
    hint, so any address is safe."""
    sig = types.void(address)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        ptr = builder.inttoptr(args[0], i8p)
        # a read, kept in every cache level, of data
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


RUN_AHEAD = 8  # ops of a run whose ``b`` is asked for before the op that reads it


@nb.njit(**_INLINE)
def prefetch_range(first, end):
    """:func:`prefetch` every cache line of the bytes at addresses ``first`` .. ``end - 1``."""
    for line in range(first & ~63, end, 64):
        prefetch(line)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op_at(
    address, words, code, n, fused, scalar,
    d_addr, d_stride, d_width,
    a_kind, a_arg, a_stride, a_width,
    b_kind, b_arg, b_stride, b_width,
):  # fmt: skip
    """The op over the ``words`` u32 words of memory at ``address`` (byte addresses and strides
    in it). Memory as a raw view, not an array argument: each compiled call level holding an
    array keeps its reference count with an atomic increment and decrement, which measured
    about 6 ns of a 64-element op's 35."""
    mem32 = nb.carray(_u32_pointer(address), words)
    mem16 = mem32.view(np.uint16)
    c = np.uint32(scalar & 0xFFFFFFFF)
    if (
        d_width == 4
        and (a_kind != K_MEM or a_width == 4)
        and (b_kind != K_MEM or b_width == 4)
        and ((d_stride | a_stride | b_stride) & 3) == 0
    ):
        # 32-bit ops without a dispatch per element (the same element functions)
        a_mem, b_mem = a_kind == K_MEM, b_kind == K_MEM
        aw = a_arg >> 2 if a_mem else np.uint32(a_arg & 0xFFFFFFFF)
        bw = b_arg >> 2 if b_mem else np.uint32(b_arg & 0xFFFFFFFF)
        d, ds, a_s, b_s = d_addr >> 2, d_stride >> 2, a_stride >> 2, b_stride >> 2
        if code == _FMACS and not fused:
            _f32_op(fmacs_unfused_raw, fmacs_unfused_word, True,
                    mem32, n, d, ds, a_mem, aw, a_s, b_mem, bw, b_s, c)
            return
        if code == _FADDS:
            _f32_op(fadds_raw, fadds_word, True, mem32, n, d, ds, a_mem, aw, a_s, b_mem, bw, b_s, c)
            return
        if code == _FSUBS:
            _f32_op(fsubs_raw, fsubs_word, True, mem32, n, d, ds, a_mem, aw, a_s, b_mem, bw, b_s, c)
            return
        if code == _FMULS:
            _f32_op(fmuls_raw, fmuls_word, True, mem32, n, d, ds, a_mem, aw, a_s, b_mem, bw, b_s, c)
            return
        if code == _MOV32:
            _f32_op(_mov_word, _mov_word, False,
                    mem32, n, d, ds, a_mem, aw, a_s, b_mem, bw, b_s, c)
            return
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


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op(
    mem32, code, n, fused, scalar,
    d_addr, d_stride, d_width,
    a_kind, a_arg, a_stride, a_width,
    b_kind, b_arg, b_stride, b_width,
):  # fmt: skip
    """:func:`memory_op_at` on the C-contiguous u32 array ``mem32``."""
    if not mem32.flags.c_contiguous:
        raise ValueError("memory_op: mem32 must be C-contiguous (it is read through its address)")
    memory_op_at(
        _data_address(mem32), mem32.size, code, n, fused, scalar, d_addr, d_stride, d_width,
        a_kind, a_arg, a_stride, a_width, b_kind, b_arg, b_stride, b_width,
    )  # fmt: skip


# memory_op's arguments packed in one int64 array, with the address and size of the engine's
# memory: a compiled call unboxes each argument in Python (about 0.25 us per array), which made
# the 17-argument call, then the three-array one, cost more than a 64-element op itself.
# MP_SCALAR_AT: where a recorded op reads its scalar when it issues, ``(byte offset in the PE's
# memory << 3) | width``; 0: the scalar is MP_SCALAR.
(MP_CODE, MP_N, MP_FUSED, MP_SCALAR, MP_D_ADDR, MP_D_STRIDE, MP_D_WIDTH, MP_A_KIND, MP_A_ARG,
 MP_A_STRIDE, MP_A_WIDTH, MP_B_KIND, MP_B_ARG, MP_B_STRIDE, MP_B_WIDTH, MP_MEM_ADDRESS,
 MP_MEM_WORDS, MP_SCALAR_AT) = range(18)  # fmt: skip
N_MP = 18


def pack_memory(prm: np.ndarray, mem32: np.ndarray) -> None:
    """Store where ``mem32`` lives in ``prm``: the packed op then runs on that array, which must
    stay alive and in place as long as ``prm`` is used (the engine's memory, allocated once)."""
    if not (mem32.dtype == np.uint32 and mem32.ndim == 1 and mem32.flags.c_contiguous):
        raise ValueError("pack_memory needs a 1-D C-contiguous uint32 array")
    prm[MP_MEM_ADDRESS] = mem32.ctypes.data
    prm[MP_MEM_WORDS] = mem32.size


@nb.njit(**_INLINE)
def memory_op_row(address, words, prms, row, base, scalar):
    """:func:`memory_op_at` with its arguments in row ``row`` of ``prms`` (the ``MP_*`` layout)
    but the ``scalar`` given, memory addresses relative to the PE's memory ``base`` (so one row
    serves every PE running the same program). The table and a row number rather than a view
    of the row, inlined: a view costs 12 ns, and a call layer with the scalar stored into the
    row and read back about 15 ns, against 30 ns for a 64-element op."""
    a_arg = prms[_u(row), MP_A_ARG]
    if prms[_u(row), MP_A_KIND] == K_MEM:
        a_arg += base
    b_arg = prms[_u(row), MP_B_ARG]
    if prms[_u(row), MP_B_KIND] == K_MEM:
        b_arg += base
    memory_op_at(
        address, words, prms[_u(row), MP_CODE], prms[_u(row), MP_N],
        prms[_u(row), MP_FUSED] != 0, scalar, prms[_u(row), MP_D_ADDR] + base,
        prms[_u(row), MP_D_STRIDE], prms[_u(row), MP_D_WIDTH], prms[_u(row), MP_A_KIND], a_arg,
        prms[_u(row), MP_A_STRIDE], prms[_u(row), MP_A_WIDTH], prms[_u(row), MP_B_KIND], b_arg,
        prms[_u(row), MP_B_STRIDE], prms[_u(row), MP_B_WIDTH],
    )  # fmt: skip


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_op_packed(prm, base):
    """:func:`memory_op_row` on the memory that :func:`pack_memory` stored in ``prm``."""
    memory_op_row(
        prm[MP_MEM_ADDRESS], prm[MP_MEM_WORDS], prm.reshape((1, prm.shape[0])), 0, base,
        prm[MP_SCALAR],
    )


@nb.njit(**_INLINE)
def row_scalar(mem32, mem16, prms, row, base):
    """The scalar of the op in row ``row`` of ``prms``: its own, or read now from the memory of
    the PE at ``base``."""
    at = prms[_u(row), MP_SCALAR_AT]
    if at == 0:
        return prms[_u(row), MP_SCALAR]
    return np.int64(read_mem(mem32, mem16, base + (at >> 3), at & 7))


_RUN_CODES = (_FMACS, _FADDS, _FSUBS, _FMULS)


def accumulates(prm: np.ndarray) -> bool:
    """Can the packed op (``MP_*``) be part of an accumulation run: f32 ``d = op(d, b, c)``
    in place, unit strides, ``b`` in memory, the scalar an f32 word, and neither ``b`` nor the
    scalar in ``d``'s bytes (so no op of the run changes what another reads, except ``d``)."""
    d, n = int(prm[MP_D_ADDR]), int(prm[MP_N])
    b, at = int(prm[MP_B_ARG]), int(prm[MP_SCALAR_AT])
    return bool(
        prm[MP_CODE] in _RUN_CODES
        and (prm[MP_CODE] != _FMACS or prm[MP_FUSED] == 0)
        and prm[MP_D_WIDTH] == 4 and prm[MP_D_STRIDE] == 4
        and prm[MP_A_KIND] == K_MEM and prm[MP_A_ARG] == d
        and prm[MP_A_WIDTH] == 4 and prm[MP_A_STRIDE] == 4
        and prm[MP_B_KIND] == K_MEM and prm[MP_B_WIDTH] == 4 and prm[MP_B_STRIDE] == 4
        and (b + 4 * n <= d or d + 4 * n <= b)
        and (at == 0 or (at & 7 == 4 and ((at >> 3) + 4 <= d or d + 4 * n <= at >> 3)))
    )  # fmt: skip


def joins_run(first: np.ndarray, prm: np.ndarray) -> bool:
    """Can op ``prm`` follow op ``first`` (which :func:`accumulates`) in its run?"""
    return bool(
        accumulates(prm) and prm[MP_D_ADDR] == first[MP_D_ADDR] and prm[MP_N] == first[MP_N]
    )


@nb.njit(cache=True, nogil=True, boundscheck=False)
def memory_run_at(address, words, prms, first, count, base):
    """Rows ``first`` .. ``first + count - 1`` of ``prms``, one accumulation run (recorded
    with :func:`joins_run`), one after the other on the memory of the PE at ``base`` (memory
    as in :func:`memory_op_at`). Returns False, with the memory as it was, when ``d``, a ``b``
    or a scalar holds a NaN at the start: the ops then run one by one (the NaN rule).

    Without a NaN at the start, every op takes the raw element function: a NaN that an op
    makes is the float unit's default NaN, which the NaN rule returns unchanged when a later
    op of the run reads it in ``d`` (the only operand the run writes). So one scan of ``d``
    and of the scalars, and each ``b`` scanned as the op reads it (``d`` is put back from a
    copy if one holds a NaN), rather than a call, a dispatch and a scan of ``d`` and ``b``
    before each op."""
    mem32 = nb.carray(_u32_pointer(address), words)
    mem16 = mem32.view(np.uint16)
    d = (prms[_u(first), MP_D_ADDR] + base) >> 2
    n = prms[_u(first), MP_N]
    if _has_nan(mem32, d, 1, n):
        return False
    # the scalars first: independent loads, whose cache misses overlap (each op's would stall)
    for row in range(first, first + count):
        if _nan32(np.uint32(row_scalar(mem32, mem16, prms, row, base) & 0xFFFFFFFF)):
            return False
    # d as it was, on the stack where it fits (not an allocation and a free per run)
    if n <= RUN_STACK_WORDS:
        saved = nb.carray(_stack_u32(RUN_STACK_WORDS), n)
        saved[:] = mem32[d : d + n]
    else:
        saved = mem32[d : d + n].copy()
    for row in range(first, min(first + RUN_AHEAD, first + count)):
        b_at = address + prms[_u(row), MP_B_ARG] + base
        prefetch_range(b_at, b_at + 4 * n)
    for row in range(first, first + count):
        if row + RUN_AHEAD < first + count:
            b_at = address + prms[_u(row + RUN_AHEAD), MP_B_ARG] + base
            prefetch_range(b_at, b_at + 4 * n)
        b = (prms[_u(row), MP_B_ARG] + base) >> 2
        c = np.uint32(row_scalar(mem32, mem16, prms, row, base) & 0xFFFFFFFF)
        code = prms[_u(row), MP_CODE]
        if code == _FMACS:
            most = _accumulate(fmacs_unfused_raw, mem32, n, d, b, c)
        elif code == _FADDS:
            most = _accumulate(fadds_raw, mem32, n, d, b, c)
        elif code == _FSUBS:
            most = _accumulate(fsubs_raw, mem32, n, d, b, c)
        else:
            most = _accumulate(fmuls_raw, mem32, n, d, b, c)
        if most > np.int32(0x7F800000):
            mem32[d : d + n] = saved
            return False
    return True
