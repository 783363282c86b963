"""Bit-exact scalar arithmetic for the numba-compiled fabric engine.

PE memory is a ``uint32`` arena; 16-bit quantities (``f16``, ``i16``,
``u16``) live in the low half of a word, and ``f16`` values are carried as
raw IEEE binary16 bit patterns.  Everything here is scalar and
``@numba.njit``-compiled so that the engine can call it from inside its own
compiled loops; everything is bit-exact against numpy (see
``docs/numerics.md`` for the semantics and the reasoning behind them).

numba 0.68 has no ``float16`` support in nopython mode on CPU (``np.float16(x)``,
``.view(np.float16)`` and float16 arrays all raise ``NotImplementedError``),
so the binary16 conversions are written out by hand.  Float <-> bits
reinterpretation uses four tiny LLVM ``bitcast`` intrinsics
(:func:`f32_as_bits`, :func:`bits_as_f32`, :func:`f64_as_bits`,
:func:`bits_as_f64`) which compile to zero or one instruction; they are only
callable from njit code.

Public njit functions (callable from Python too, with dispatcher overhead):

* conversions: :func:`f16_to_f32`, :func:`f32_to_f16`, :func:`f64_to_f16`
* f32 values: :func:`add_f32`, :func:`sub_f32`, :func:`mul_f32`,
  :func:`fmac_f32_unfused`, :func:`fmac_f32_fused`, :func:`neg_f32`,
  :func:`abs_f32`, :func:`max_f32`
* f16 bit patterns: :func:`add_f16`, :func:`sub_f16`, :func:`mul_f16`,
  :func:`fmac_f16_unfused`, :func:`fmac_f16_fused`, :func:`neg_f16`,
  :func:`abs_f16`, :func:`max_f16`
* integers (wrap-around, raw unsigned bit patterns out): :func:`add16`,
  :func:`sub16`, :func:`and16`, :func:`or16`, :func:`xor16`, :func:`sll16`,
  :func:`srl16`, :func:`sra16`, :func:`add32`, :func:`sub32`
* the op stream: :class:`ElemOp`, :func:`apply_elem`, metadata
  :data:`ELEM_INFO`, :data:`ELEM_ARITY`, :data:`ELEM_SRC0_BITS`,
  :data:`ELEM_SRC1_BITS`, :data:`ELEM_DST_BITS`

Python-level array wrappers: :func:`f16_bits_to_f32_array`,
:func:`f32_to_f16_bits_array`, :func:`f64_to_f16_bits_array`,
:func:`apply_elem_array`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

__all__ = [
    "ELEM_ARITY",
    "ELEM_DST_BITS",
    "ELEM_INFO",
    "ELEM_SRC0_BITS",
    "ELEM_SRC1_BITS",
    "ElemInfo",
    "ElemOp",
    "abs_f16",
    "abs_f32",
    "add16",
    "add32",
    "add_f16",
    "add_f32",
    "and16",
    "apply_elem",
    "apply_elem_array",
    "bits_as_f32",
    "bits_as_f64",
    "f16_bits_to_f32_array",
    "f16_to_f32",
    "f32_as_bits",
    "f32_to_f16",
    "f32_to_f16_bits_array",
    "f64_as_bits",
    "f64_to_f16",
    "f64_to_f16_bits_array",
    "fmac_f16_fused",
    "fmac_f16_unfused",
    "fmac_f32_fused",
    "fmac_f32_unfused",
    "max_f16",
    "max_f32",
    "mul_f16",
    "mul_f32",
    "neg_f16",
    "neg_f32",
    "or16",
    "sll16",
    "sra16",
    "srl16",
    "sub16",
    "sub32",
    "sub_f16",
    "sub_f32",
    "xor16",
]

# No fastmath anywhere in this module: IEEE semantics (no contraction into
# hardware FMA, no reassociation, NaN/inf/signed-zero care) are the point.
_JIT = {"nogil": True, "cache": True}
# Internal helpers and apply_elem are inlined at the numba-IR level into their
# njit callers: numba does not let LLVM inline across its per-function
# libraries, and an out-of-line call costs ~4 ns, more than most ops.
_INL = {"nogil": True, "cache": True, "forceinline": True}


# ---------------------------------------------------------------------------
# Bit reinterpretation intrinsics (njit-only)
# ---------------------------------------------------------------------------


@intrinsic
def f32_as_bits(typingctx, x):
    """float32 -> its IEEE bit pattern as an int64 in ``[0, 2**32)`` (njit only)."""
    if x != types.float32:
        raise TypingError(f"f32_as_bits expects float32, got {x}")

    def codegen(context, builder, sig, args):
        i32 = builder.bitcast(args[0], ir.IntType(32))
        return builder.zext(i32, ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def bits_as_f32(typingctx, u):
    """Low 32 bits of an integer -> float32 with that bit pattern (njit only)."""
    if not isinstance(u, types.Integer):
        raise TypingError(f"bits_as_f32 expects an integer, got {u}")

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], u, types.int64)
        i32 = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(i32, ir.FloatType())

    return types.float32(u), codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """Count of trailing zero bits of an integer, as int64: one ``tzcnt`` (njit only)."""
    if not isinstance(x, types.Integer):
        raise TypingError(f"trailing_zeros expects an integer, got {x}")

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], x, types.int64)
        return builder.cttz(v, ir.Constant(ir.IntType(1), 0))

    return types.int64(x), codegen


@intrinsic
def f64_as_bits(typingctx, x):
    """float64 -> its IEEE bit pattern reinterpreted as int64 (njit only)."""
    if x != types.float64:
        raise TypingError(f"f64_as_bits expects float64, got {x}")

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def bits_as_f64(typingctx, u):
    """int64 bit pattern -> float64 (njit only)."""
    if not isinstance(u, types.Integer):
        raise TypingError(f"bits_as_f64 expects an integer, got {u}")

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], u, types.int64)
        return builder.bitcast(v, ir.DoubleType())

    return types.float64(u), codegen


# ---------------------------------------------------------------------------
# binary16 <-> binary32 / binary64 conversions on int64-held bit patterns
# ---------------------------------------------------------------------------

_F32_HALF_BITS = 0x3F000000  # bits of 0.5f
_F64_2P28_BITS = 0x41B0000000000000  # bits of 2.0**28


@njit(**_INL)
def _f16b_to_f32b(h):
    """f16 bits (int64, low 16 bits used) -> f32 bits (int64). Exact."""
    h = h & 0xFFFF
    sign = (h & 0x8000) << 16
    e = h & 0x7C00
    m = h & 0x3FF
    if e == 0x7C00:
        # inf, or NaN with its payload (quiet bit 9 -> f32 quiet bit 22);
        # a non-zero f16 mantissa stays non-zero, so NaN stays NaN.
        return sign | 0x7F800000 | (m << 13)
    if e == 0:
        if m == 0:
            return sign
        # subnormal: m * 2**-24, exact in f32 (a power-of-two scaling of a
        # 10-bit integer lands in the f32 normal range).
        return sign | f32_as_bits(np.float32(m) * np.float32(5.9604644775390625e-08))
    # normal: rebias exponent 15 -> 127 (112 << 23) and widen the mantissa.
    return sign | (((h & 0x7FFF) << 13) + (112 << 23))


@njit(**_INL)
def _f32b_to_f16b(u):
    """f32 bits (int64, low 32 bits) -> f16 bits (int64). RNE, single rounding."""
    u = u & 0xFFFFFFFF
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    if a >= 0x477FF000:  # |x| >= 65520 (the 65504/65536 tie rounds to even = inf), inf, nan
        if a > 0x7F800000:  # NaN: quiet it, keep the top 9 payload bits
            return sign | 0x7E00 | ((a >> 13) & 0x3FF)
        return sign | 0x7C00
    if a < 0x38800000:  # |x| < 2**-14: f16 subnormal (or zero) result
        # In the binade [0.5, 1) the f32 ulp is 2**-24, the f16 subnormal
        # quantum, so the hardware RNE addition |x| + 0.5 performs exactly the
        # rounding we want; the excess over 0.5 is the f16 mantissa (1024 ->
        # 0x0400, the smallest normal, which is also the right encoding).
        r = f32_as_bits(bits_as_f32(a) + np.float32(0.5))
        return sign | (r - _F32_HALF_BITS)
    # normal: round the 13 dropped bits to nearest even (a carry ripples into
    # the exponent correctly), then rebias 127 -> 15.
    a += 0xFFF + ((a >> 13) & 1)
    return sign | ((a >> 13) - (112 << 10))


@njit(**_INL)
def _f64b_to_f16b(u):
    """f64 bits (int64) -> f16 bits (int64). RNE, single rounding from f64."""
    sign = (u >> 48) & 0x8000
    a = u & 0x7FFFFFFFFFFFFFFF
    if a >= 0x40EFFE0000000000:  # |x| >= 65520.0, inf, nan
        if a > 0x7FF0000000000000:
            return sign | 0x7E00 | ((a >> 42) & 0x3FF)
        return sign | 0x7C00
    if a < 0x3F10000000000000:  # |x| < 2**-14
        # same trick as for f32: the f64 ulp in [2**28, 2**29) is 2**-24.
        r = f64_as_bits(bits_as_f64(a) + 268435456.0)
        return sign | (r - _F64_2P28_BITS)
    a += (1 << 41) - 1 + ((a >> 42) & 1)
    return sign | ((a >> 42) - (1008 << 10))


@njit(**_JIT)
def f16_to_f32(bits):
    """f16 bit pattern (low 16 bits of an integer) -> float32, exactly."""
    return bits_as_f32(_f16b_to_f32b(np.int64(bits)))


@njit(**_JIT)
def f32_to_f16(x):
    """float32 -> f16 bit pattern (uint16), IEEE round-to-nearest-even.

    Bit-identical to ``np.float32(x).astype(np.float16)`` for non-NaN input;
    NaN becomes a quiet NaN (``0x7E00 | payload``, sign kept).
    """
    return np.uint16(_f32b_to_f16b(f32_as_bits(np.float32(x))))


@njit(**_JIT)
def f64_to_f16(x):
    """float64 -> f16 bit pattern (uint16) with a single RNE rounding.

    Bit-identical to ``np.float64(x).astype(np.float16)`` for non-NaN input.
    """
    return np.uint16(_f64b_to_f16b(f64_as_bits(np.float64(x))))


# ---------------------------------------------------------------------------
# Fused multiply-add helper
# ---------------------------------------------------------------------------


@njit(**_INL)
def _fma_f64_round_to_odd(a, b, c):
    """``a + b*c`` in float64 rounded *to odd*, for f32/f16-representable inputs.

    ``b*c`` is exact in f64 (two <=24-bit significands -> <=48 bits, exponents
    far inside the f64 range).  The sum is computed with a TwoSum so its
    rounding error ``e`` is known exactly; if the RNE sum was inexact and has
    an even last bit, it is moved one ulp towards the exact value, which gives
    the round-to-odd result.  Rounding a round-to-odd value with >= p+2 bits
    (53 >= 24+2) to p bits with RNE is the same as rounding the exact value
    once, so the caller's final conversion to f32/f16 is correctly rounded:
    no double-rounding error.
    """
    p = b * c
    s = a + p
    bp = s - a
    e = (a - (s - bp)) + (p - bp)
    if e > 0.0 or e < 0.0:  # inexact (and finite: e is NaN for infinite s)
        sb = f64_as_bits(s)
        if (sb & 1) == 0:
            # s != 0 here (a + p == 0 only for an exact cancellation).
            if (e > 0.0) == (s > 0.0):
                sb += 1  # away from zero
            else:
                sb -= 1  # towards zero
            s = bits_as_f64(sb)
    return s


# ---------------------------------------------------------------------------
# f32 element ops (float32 values in, float32 out)
# ---------------------------------------------------------------------------


@njit(**_JIT)
def add_f32(a, b):
    return np.float32(a) + np.float32(b)


@njit(**_JIT)
def sub_f32(a, b):
    return np.float32(a) - np.float32(b)


@njit(**_JIT)
def mul_f32(a, b):
    return np.float32(a) * np.float32(b)


@njit(**_JIT)
def fmac_f32_unfused(a, b, c):
    """``a + round(b*c)``: two roundings, like numpy float32 ``a + b*c``."""
    return np.float32(a) + np.float32(b) * np.float32(c)


@njit(**_JIT)
def fmac_f32_fused(a, b, c):
    """``round(a + b*c)``: one rounding (a correctly rounded f32 FMA)."""
    return np.float32(
        _fma_f64_round_to_odd(
            np.float64(np.float32(a)), np.float64(np.float32(b)), np.float64(np.float32(c))
        )
    )


@njit(**_JIT)
def neg_f32(a):
    """Sign flip (also of NaN), like ``np.negative``."""
    return bits_as_f32(f32_as_bits(np.float32(a)) ^ 0x80000000)


@njit(**_JIT)
def abs_f32(a):
    """Sign clear (also of NaN), like ``np.abs``."""
    return bits_as_f32(f32_as_bits(np.float32(a)) & 0x7FFFFFFF)


@njit(**_JIT)
def max_f32(a, b):
    """``np.maximum`` on float32: NaN propagates (``a`` if ``a`` is NaN, else
    ``b`` if ``b`` is NaN); on equality (``max(+0, -0)``) returns ``b``."""
    a = np.float32(a)
    b = np.float32(b)
    if a > b or a != a:
        return a
    return b


# ---------------------------------------------------------------------------
# f16 element ops (f16 bit patterns in, uint16 bit pattern out)
#
# Computed in f32 and rounded to f16.  For + - * that double rounding is
# innocuous: an exact result rounded first to p' bits and then to p bits
# equals the direct rounding whenever p' >= 2p + 2 (Figueroa, "When is double
# rounding innocuous?", SIGNUM 1995); here p' = 24 >= 2*11 + 2 = 24.  (The f16
# product is even exact in f32.)  This is also how numpy computes float16.
# ---------------------------------------------------------------------------


@njit(**_INL)
def _h2f(h):
    return bits_as_f32(_f16b_to_f32b(np.int64(h)))


@njit(**_INL)
def _f2h(x):
    return _f32b_to_f16b(f32_as_bits(x))


@njit(**_JIT)
def add_f16(a, b):
    return np.uint16(_f2h(_h2f(a) + _h2f(b)))


@njit(**_JIT)
def sub_f16(a, b):
    return np.uint16(_f2h(_h2f(a) - _h2f(b)))


@njit(**_JIT)
def mul_f16(a, b):
    return np.uint16(_f2h(_h2f(a) * _h2f(b)))


@njit(**_JIT)
def fmac_f16_unfused(a, b, c):
    """``a + round16(b*c)`` rounded to f16, like numpy float16 ``a + b*c``."""
    p = bits_as_f32(_f16b_to_f32b(_f2h(_h2f(b) * _h2f(c))))
    return np.uint16(_f2h(_h2f(a) + p))


@njit(**_JIT)
def fmac_f16_fused(a, b, c):
    """``round16(a + b*c)`` with a single rounding."""
    s = _fma_f64_round_to_odd(np.float64(_h2f(a)), np.float64(_h2f(b)), np.float64(_h2f(c)))
    return np.uint16(_f64b_to_f16b(f64_as_bits(s)))


@njit(**_JIT)
def neg_f16(a):
    return np.uint16((np.int64(a) ^ 0x8000) & 0xFFFF)


@njit(**_JIT)
def abs_f16(a):
    return np.uint16(np.int64(a) & 0x7FFF)


@njit(**_INL)
def _max_f16b(a, b):
    fa = _h2f(a)
    fb = _h2f(b)
    if fa >= fb or fa != fa:
        return a
    return b


@njit(**_JIT)
def max_f16(a, b):
    """``np.maximum`` on float16 bit patterns: returns one operand's bits.

    NaN propagates (``a`` if ``a`` is NaN, else ``b``); on equality
    (``max(+0, -0)``) returns ``a`` -- numpy's float16 loop uses ``>=``,
    unlike its float32 loop.
    """
    return np.uint16(_max_f16b(np.int64(a) & 0xFFFF, np.int64(b) & 0xFFFF))


# ---------------------------------------------------------------------------
# Integer ops: two's-complement wrap-around, raw unsigned patterns out.
# Shift counts use the low 4 bits (count & 15).
# ---------------------------------------------------------------------------


@njit(**_JIT)
def add16(a, b):
    return np.uint16((np.int64(a) + np.int64(b)) & 0xFFFF)


@njit(**_JIT)
def sub16(a, b):
    return np.uint16((np.int64(a) - np.int64(b)) & 0xFFFF)


@njit(**_JIT)
def and16(a, b):
    return np.uint16(np.int64(a) & np.int64(b) & 0xFFFF)


@njit(**_JIT)
def or16(a, b):
    return np.uint16((np.int64(a) | np.int64(b)) & 0xFFFF)


@njit(**_JIT)
def xor16(a, b):
    return np.uint16((np.int64(a) ^ np.int64(b)) & 0xFFFF)


@njit(**_JIT)
def sll16(a, b):
    return np.uint16((np.int64(a) << (np.int64(b) & 15)) & 0xFFFF)


@njit(**_JIT)
def srl16(a, b):
    return np.uint16((np.int64(a) & 0xFFFF) >> (np.int64(b) & 15))


@njit(**_INL)
def _sra16(a, b):
    x = a & 0xFFFF
    x = x - ((x & 0x8000) << 1)  # sign-extend
    return (x >> (b & 15)) & 0xFFFF


@njit(**_JIT)
def sra16(a, b):
    return np.uint16(_sra16(np.int64(a), np.int64(b)))


@njit(**_JIT)
def add32(a, b):
    return np.uint32((np.int64(a) + np.int64(b)) & 0xFFFFFFFF)


@njit(**_JIT)
def sub32(a, b):
    return np.uint32((np.int64(a) - np.int64(b)) & 0xFFFFFFFF)


# ---------------------------------------------------------------------------
# Op codes, metadata and the single dispatch function
# ---------------------------------------------------------------------------


class ElemOp(IntEnum):
    """Element op codes streamed through :func:`apply_elem`."""

    MOV16 = 0
    MOV32 = 1
    FADDS = 2
    FSUBS = 3
    FMULS = 4
    FMACS = 5
    FNEGS = 6
    FABSS = 7
    FMAXS = 8
    FADDH = 9
    FSUBH = 10
    FMULH = 11
    FMACH = 12
    FNEGH = 13
    FABSH = 14
    FMAXH = 15
    FH2S = 16
    FS2H = 17
    ADD16 = 18
    SUB16 = 19
    AND16 = 20
    OR16 = 21
    XOR16 = 22
    SLL16 = 23
    SRL16 = 24
    SRA16 = 25
    ADD32 = 26
    SUB32 = 27


class ElemInfo(NamedTuple):
    """Static description of one :class:`ElemOp`.

    ``arity`` counts the operands read (1: ``a``; 2: ``a, b``; 3: ``a, b, c``).
    ``src0_bits``/``src1_bits``/``dst_bits`` are the widths in memory of
    ``a``, of ``b`` (and ``c``, which always has ``b``'s type), and of the
    result; ``src1_bits`` is 0 for unary ops.  Dtype names are numpy names.
    """

    op: ElemOp
    arity: int
    src0_bits: int
    src1_bits: int
    dst_bits: int
    src0_dtype: str
    src1_dtype: str | None
    dst_dtype: str


def _info(op, arity, s0, s1, d):
    bits = {"float16": 16, "float32": 32, "int16": 16, "uint16": 16, "int32": 32, "uint32": 32}
    return ElemInfo(op, arity, bits[s0], bits[s1] if s1 else 0, bits[d], s0, s1, d)


_F16, _F32, _I16, _U16, _I32, _U32 = "float16", "float32", "int16", "uint16", "int32", "uint32"

ELEM_INFO: tuple[ElemInfo, ...] = (
    _info(ElemOp.MOV16, 1, _U16, None, _U16),
    _info(ElemOp.MOV32, 1, _U32, None, _U32),
    _info(ElemOp.FADDS, 2, _F32, _F32, _F32),
    _info(ElemOp.FSUBS, 2, _F32, _F32, _F32),
    _info(ElemOp.FMULS, 2, _F32, _F32, _F32),
    _info(ElemOp.FMACS, 3, _F32, _F32, _F32),
    _info(ElemOp.FNEGS, 1, _F32, None, _F32),
    _info(ElemOp.FABSS, 1, _F32, None, _F32),
    _info(ElemOp.FMAXS, 2, _F32, _F32, _F32),
    _info(ElemOp.FADDH, 2, _F16, _F16, _F16),
    _info(ElemOp.FSUBH, 2, _F16, _F16, _F16),
    _info(ElemOp.FMULH, 2, _F16, _F16, _F16),
    _info(ElemOp.FMACH, 3, _F16, _F16, _F16),
    _info(ElemOp.FNEGH, 1, _F16, None, _F16),
    _info(ElemOp.FABSH, 1, _F16, None, _F16),
    _info(ElemOp.FMAXH, 2, _F16, _F16, _F16),
    _info(ElemOp.FH2S, 1, _F16, None, _F32),
    _info(ElemOp.FS2H, 1, _F32, None, _F16),
    _info(ElemOp.ADD16, 2, _I16, _I16, _I16),
    _info(ElemOp.SUB16, 2, _I16, _I16, _I16),
    _info(ElemOp.AND16, 2, _U16, _U16, _U16),
    _info(ElemOp.OR16, 2, _U16, _U16, _U16),
    _info(ElemOp.XOR16, 2, _U16, _U16, _U16),
    _info(ElemOp.SLL16, 2, _U16, _U16, _U16),
    _info(ElemOp.SRL16, 2, _U16, _U16, _U16),
    _info(ElemOp.SRA16, 2, _I16, _U16, _I16),
    _info(ElemOp.ADD32, 2, _I32, _I32, _I32),
    _info(ElemOp.SUB32, 2, _I32, _I32, _I32),
)
assert [i.op for i in ELEM_INFO] == list(ElemOp)

#: Per-op tables indexed by op code (read-only constants inside njit code).
ELEM_ARITY = np.array([i.arity for i in ELEM_INFO], dtype=np.int8)
ELEM_SRC0_BITS = np.array([i.src0_bits for i in ELEM_INFO], dtype=np.int8)
ELEM_SRC1_BITS = np.array([i.src1_bits for i in ELEM_INFO], dtype=np.int8)
ELEM_DST_BITS = np.array([i.dst_bits for i in ELEM_INFO], dtype=np.int8)
for _t in (ELEM_ARITY, ELEM_SRC0_BITS, ELEM_SRC1_BITS, ELEM_DST_BITS):
    _t.flags.writeable = False

# Plain-int copies: numba freezes module-level ints as compile-time constants.
_MOV16 = int(ElemOp.MOV16)
_MOV32 = int(ElemOp.MOV32)
_FADDS = int(ElemOp.FADDS)
_FSUBS = int(ElemOp.FSUBS)
_FMULS = int(ElemOp.FMULS)
_FMACS = int(ElemOp.FMACS)
_FNEGS = int(ElemOp.FNEGS)
_FABSS = int(ElemOp.FABSS)
_FMAXS = int(ElemOp.FMAXS)
_FADDH = int(ElemOp.FADDH)
_FSUBH = int(ElemOp.FSUBH)
_FMULH = int(ElemOp.FMULH)
_FMACH = int(ElemOp.FMACH)
_FNEGH = int(ElemOp.FNEGH)
_FABSH = int(ElemOp.FABSH)
_FMAXH = int(ElemOp.FMAXH)
_FH2S = int(ElemOp.FH2S)
_FS2H = int(ElemOp.FS2H)
_ADD16 = int(ElemOp.ADD16)
_SUB16 = int(ElemOp.SUB16)
_AND16 = int(ElemOp.AND16)
_OR16 = int(ElemOp.OR16)
_XOR16 = int(ElemOp.XOR16)
_SLL16 = int(ElemOp.SLL16)
_SRL16 = int(ElemOp.SRL16)
_SRA16 = int(ElemOp.SRA16)
_ADD32 = int(ElemOp.ADD32)
_SUB32 = int(ElemOp.SUB32)


# NaN operands: the result is the first NaN operand in the order a, b, c, made quiet - what x86
# and numpy give. Deciding it here, rather than leaving it to the compiled float instruction,
# keeps it independent of how LLVM orders the operands of a commutative add or multiply.
@njit(**_INL)
def _nan32(x):
    return (x & 0x7F800000) == 0x7F800000 and (x & 0x007FFFFF) != 0


@njit(**_INL)
def _first_nan32(a, b, c):
    if _nan32(a):
        return (a | 0x00400000) & 0xFFFFFFFF
    if _nan32(b):
        return (b | 0x00400000) & 0xFFFFFFFF
    return (c | 0x00400000) & 0xFFFFFFFF


@njit(**_INL)
def _nan16(x):
    return (x & 0x7C00) == 0x7C00 and (x & 0x03FF) != 0


@njit(**_INL)
def _first_nan16(a, b, c):
    if _nan16(a):
        return (a | 0x0200) & 0xFFFF
    if _nan16(b):
        return (b | 0x0200) & 0xFFFF
    return (c | 0x0200) & 0xFFFF


# The f32 arithmetic ops on raw words: ``*_raw`` is the float unit's result, ``*_word`` that
# result with the NaN rule (a NaN operand always gives a NaN result, and a NaN result from
# non-NaN operands, like inf - inf, is the float unit's own default NaN), applied after the
# op on the rare NaN result only. The memory ops' loops (``_memops``) use the raw form for
# operands with no NaN.
@njit(**_INL)
def _f32_result(r, a, b, c):
    if _nan32(r) and (_nan32(a) or _nan32(b) or _nan32(c)):
        return _first_nan32(a, b, c)
    return r


@njit(**_INL)
def fadds_raw(a, b, c):
    return f32_as_bits(bits_as_f32(a) + bits_as_f32(b))


@njit(**_INL)
def fsubs_raw(a, b, c):
    return f32_as_bits(bits_as_f32(a) - bits_as_f32(b))


@njit(**_INL)
def fmuls_raw(a, b, c):
    return f32_as_bits(bits_as_f32(a) * bits_as_f32(b))


@njit(**_INL)
def fmacs_unfused_raw(a, b, c):
    return f32_as_bits(bits_as_f32(a) + bits_as_f32(b) * bits_as_f32(c))


@njit(**_INL)
def fadds_word(a, b, c):
    """f32 ``a + b`` on raw words (``c`` unused)."""
    return _f32_result(fadds_raw(a, b, c), a, b, b)


@njit(**_INL)
def fsubs_word(a, b, c):
    """f32 ``a - b`` on raw words (``c`` unused)."""
    return _f32_result(fsubs_raw(a, b, c), a, b, b)


@njit(**_INL)
def fmuls_word(a, b, c):
    """f32 ``a * b`` on raw words (``c`` unused)."""
    return _f32_result(fmuls_raw(a, b, c), a, b, b)


@njit(**_INL)
def fmacs_unfused_word(a, b, c):
    """f32 ``a + round(b * c)`` on raw words (two roundings)."""
    return _f32_result(fmacs_unfused_raw(a, b, c), a, b, c)


@njit(**_INL)
def _apply(op, a, b, c, fused):
    """Core of :func:`apply_elem` on int64 words; returns an int64 word."""
    if op == _MOV16:
        return a & 0xFFFF
    elif op == _MOV32:
        return a
    elif op == _FADDS:
        return fadds_word(a, b, c)
    elif op == _FSUBS:
        return fsubs_word(a, b, c)
    elif op == _FMULS:
        return fmuls_word(a, b, c)
    elif op == _FMACS:
        if not fused:
            return fmacs_unfused_word(a, b, c)
        if _nan32(a) or _nan32(b) or _nan32(c):
            return _first_nan32(a, b, c)
        fa = np.float64(bits_as_f32(a))
        fb = np.float64(bits_as_f32(b))
        fc = np.float64(bits_as_f32(c))
        return f32_as_bits(np.float32(_fma_f64_round_to_odd(fa, fb, fc)))
    elif op == _FNEGS:
        return a ^ 0x80000000
    elif op == _FABSS:
        return a & 0x7FFFFFFF
    elif op == _FMAXS:
        fa = bits_as_f32(a)
        fb = bits_as_f32(b)
        if fa > fb or fa != fa:
            return a
        return b
    elif op == _FADDH:
        if _nan16(a) or _nan16(b):
            return _first_nan16(a, b, b)
        return _f2h(_h2f(a) + _h2f(b))
    elif op == _FSUBH:
        if _nan16(a) or _nan16(b):
            return _first_nan16(a, b, b)
        return _f2h(_h2f(a) - _h2f(b))
    elif op == _FMULH:
        if _nan16(a) or _nan16(b):
            return _first_nan16(a, b, b)
        return _f2h(_h2f(a) * _h2f(b))
    elif op == _FMACH:
        if _nan16(a) or _nan16(b) or _nan16(c):
            return _first_nan16(a, b, c)
        if fused:
            s = _fma_f64_round_to_odd(np.float64(_h2f(a)), np.float64(_h2f(b)), np.float64(_h2f(c)))
            return _f64b_to_f16b(f64_as_bits(s))
        p = bits_as_f32(_f16b_to_f32b(_f2h(_h2f(b) * _h2f(c))))
        return _f2h(_h2f(a) + p)
    elif op == _FNEGH:
        return (a ^ 0x8000) & 0xFFFF
    elif op == _FABSH:
        return a & 0x7FFF
    elif op == _FMAXH:
        return _max_f16b(a & 0xFFFF, b & 0xFFFF)
    elif op == _FH2S:
        return _f16b_to_f32b(a)
    elif op == _FS2H:
        return _f32b_to_f16b(a)
    elif op == _ADD16:
        return (a + b) & 0xFFFF
    elif op == _SUB16:
        return (a - b) & 0xFFFF
    elif op == _AND16:
        return a & b & 0xFFFF
    elif op == _OR16:
        return (a | b) & 0xFFFF
    elif op == _XOR16:
        return (a ^ b) & 0xFFFF
    elif op == _SLL16:
        return (a << (b & 15)) & 0xFFFF
    elif op == _SRL16:
        return (a & 0xFFFF) >> (b & 15)
    elif op == _SRA16:
        return _sra16(a, b)
    elif op == _ADD32:
        return (a + b) & 0xFFFFFFFF
    elif op == _SUB32:
        return (a - b) & 0xFFFFFFFF
    return 0


@njit(**_INL)
def apply_elem(op, a, b, c, fused):
    """Apply element op ``op`` to raw 32-bit operand words; return the raw word.

    For 16-bit types the value is in the low 16 bits of a word (the upper
    bits of inputs are ignored, those of results are zero).  Binary ops
    compute ``op(a, b)``; FMACS/FMACH compute ``a + b * c`` (``dst = src0 +
    src1 * scalar``), with a single rounding if ``fused`` else two; unary ops
    read only ``a``; shifts shift ``a`` by ``b & 15``.  Unknown op codes give 0.
    """
    return np.uint32(
        _apply(
            np.int64(op),
            np.int64(a) & 0xFFFFFFFF,
            np.int64(b) & 0xFFFFFFFF,
            np.int64(c) & 0xFFFFFFFF,
            fused,
        )
    )


# ---------------------------------------------------------------------------
# Python-level vectorized wrappers
# ---------------------------------------------------------------------------


@njit(**_JIT)
def _f16_to_f32_loop(src, dst):
    for i in range(src.size):
        dst[i] = _f16b_to_f32b(np.int64(src[i]))


@njit(**_JIT)
def _f32_to_f16_loop(src, dst):
    for i in range(src.size):
        dst[i] = _f32b_to_f16b(np.int64(src[i]))


@njit(**_JIT)
def _f64_to_f16_loop(src, dst):
    for i in range(src.size):
        dst[i] = _f64b_to_f16b(src[i])


@njit(**_JIT)
def _apply_loop(op, a, b, c, fused, out):
    for i in range(out.size):
        out[i] = _apply(op, np.int64(a[i]), np.int64(b[i]), np.int64(c[i]), fused)


def f16_bits_to_f32_array(bits) -> np.ndarray:
    """Array of f16 bit patterns (any integer dtype, or float16) -> float32 array."""
    src = np.asarray(bits)
    if src.dtype == np.float16:
        src = src.view(np.uint16)
    src = np.ascontiguousarray(src, dtype=np.uint16)
    out = np.empty(src.shape, dtype=np.uint32)
    _f16_to_f32_loop(src.reshape(-1), out.reshape(-1))
    return out.view(np.float32)


def f32_to_f16_bits_array(x) -> np.ndarray:
    """float32 array (or anything castable to float32) -> uint16 f16 bit patterns (RNE)."""
    src = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    out = np.empty(src.shape, dtype=np.uint16)
    _f32_to_f16_loop(src.reshape(-1), out.reshape(-1))
    return out


def f64_to_f16_bits_array(x) -> np.ndarray:
    """float64 array -> uint16 f16 bit patterns, single RNE rounding."""
    src = np.ascontiguousarray(x, dtype=np.float64).view(np.int64)
    out = np.empty(src.shape, dtype=np.uint16)
    _f64_to_f16_loop(src.reshape(-1), out.reshape(-1))
    return out


def apply_elem_array(op, a, b=None, c=None, fused: bool = False) -> np.ndarray:
    """Element-wise :func:`apply_elem` over arrays of raw words (broadcasting).

    ``a``/``b``/``c`` are integer arrays of raw bit patterns (``float32`` /
    ``float16`` arrays are reinterpreted as their bits); missing operands are
    0.  Returns a ``uint32`` array of raw result words.
    """

    def words(x):
        if x is None:
            return np.zeros((), dtype=np.int64)
        x = np.asarray(x)
        if x.dtype == np.float32:
            x = x.view(np.uint32)
        elif x.dtype == np.float16:
            x = x.view(np.uint16)
        elif x.dtype.kind == "f":
            raise TypeError(f"apply_elem_array: unsupported float dtype {x.dtype}")
        return x

    ws = [words(x) for x in (a, b, c)]
    shape = np.broadcast_shapes(*(w.shape for w in ws))
    wa, wb, wc = (np.broadcast_to(w, shape).astype(np.int64).reshape(-1) for w in ws)
    out = np.empty(wa.size, dtype=np.uint32)
    _apply_loop(np.int64(op), wa, wb, wc, bool(fused), out)
    return out.reshape(shape)
