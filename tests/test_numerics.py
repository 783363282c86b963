"""Bit-exactness tests for waferscale.fabric._numerics against numpy.

Scalar njit functions are exercised inside a few cached njit driver loops (a
compile per driver, not per example), so hypothesis examples are batches of
bit patterns rather than single values. Float results are compared bit for
bit, except that a NaN result only has to be a NaN.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit

from waferscale.fabric import _numerics as N
from waferscale.fabric._numerics import ElemOp

SETTINGS = settings(max_examples=25, deadline=None)

# ---------------------------------------------------------------------------
# compiled drivers: every dedicated scalar function, selected by op code
#
# One cached njit function covers all dedicated functions (passing functions
# as first-class arguments would cost a compile per function and cannot be
# cached), so hypothesis examples are batches of words run through it.
# ---------------------------------------------------------------------------

MOV16, MOV32 = int(ElemOp.MOV16), int(ElemOp.MOV32)
FADDS, FSUBS, FMULS, FMACS = (int(ElemOp[n]) for n in ("FADDS", "FSUBS", "FMULS", "FMACS"))
FNEGS, FABSS, FMAXS = int(ElemOp.FNEGS), int(ElemOp.FABSS), int(ElemOp.FMAXS)
FADDH, FSUBH, FMULH, FMACH = (int(ElemOp[n]) for n in ("FADDH", "FSUBH", "FMULH", "FMACH"))
FNEGH, FABSH, FMAXH = int(ElemOp.FNEGH), int(ElemOp.FABSH), int(ElemOp.FMAXH)
FH2S, FS2H = int(ElemOp.FH2S), int(ElemOp.FS2H)
ADD16, SUB16, AND16, OR16 = (int(ElemOp[n]) for n in ("ADD16", "SUB16", "AND16", "OR16"))
XOR16, SLL16, SRL16, SRA16 = (int(ElemOp[n]) for n in ("XOR16", "SLL16", "SRL16", "SRA16"))
ADD32, SUB32 = int(ElemOp.ADD32), int(ElemOp.SUB32)


@njit(cache=True)
def _dedicated_loop(op, a, b, c, fused, out):
    """out[i] = result word of the dedicated function for ``op``."""
    for i in range(out.size):
        wa = np.int64(a[i]) & 0xFFFFFFFF
        wb = np.int64(b[i]) & 0xFFFFFFFF
        wc = np.int64(c[i]) & 0xFFFFFFFF
        fa, fb, fc = N.bits_as_f32(wa), N.bits_as_f32(wb), N.bits_as_f32(wc)
        ha, hb, hc = np.uint16(wa & 0xFFFF), np.uint16(wb & 0xFFFF), np.uint16(wc & 0xFFFF)
        if op == MOV16:
            r = wa & 0xFFFF
        elif op == MOV32:
            r = wa
        elif op == FADDS:
            r = N.f32_as_bits(N.add_f32(fa, fb))
        elif op == FSUBS:
            r = N.f32_as_bits(N.sub_f32(fa, fb))
        elif op == FMULS:
            r = N.f32_as_bits(N.mul_f32(fa, fb))
        elif op == FMACS:
            if fused:
                r = N.f32_as_bits(N.fmac_f32_fused(fa, fb, fc))
            else:
                r = N.f32_as_bits(N.fmac_f32_unfused(fa, fb, fc))
        elif op == FNEGS:
            r = N.f32_as_bits(N.neg_f32(fa))
        elif op == FABSS:
            r = N.f32_as_bits(N.abs_f32(fa))
        elif op == FMAXS:
            r = N.f32_as_bits(N.max_f32(fa, fb))
        elif op == FADDH:
            r = np.int64(N.add_f16(ha, hb))
        elif op == FSUBH:
            r = np.int64(N.sub_f16(ha, hb))
        elif op == FMULH:
            r = np.int64(N.mul_f16(ha, hb))
        elif op == FMACH:
            if fused:
                r = np.int64(N.fmac_f16_fused(ha, hb, hc))
            else:
                r = np.int64(N.fmac_f16_unfused(ha, hb, hc))
        elif op == FNEGH:
            r = np.int64(N.neg_f16(ha))
        elif op == FABSH:
            r = np.int64(N.abs_f16(ha))
        elif op == FMAXH:
            r = np.int64(N.max_f16(ha, hb))
        elif op == FH2S:
            r = N.f32_as_bits(N.f16_to_f32(ha))
        elif op == FS2H:
            r = np.int64(N.f32_to_f16(fa))
        elif op == ADD16:
            r = np.int64(N.add16(ha, hb))
        elif op == SUB16:
            r = np.int64(N.sub16(ha, hb))
        elif op == AND16:
            r = np.int64(N.and16(ha, hb))
        elif op == OR16:
            r = np.int64(N.or16(ha, hb))
        elif op == XOR16:
            r = np.int64(N.xor16(ha, hb))
        elif op == SLL16:
            r = np.int64(N.sll16(ha, hb))
        elif op == SRL16:
            r = np.int64(N.srl16(ha, hb))
        elif op == SRA16:
            r = np.int64(N.sra16(ha, hb))
        elif op == ADD32:
            r = np.int64(N.add32(wa, wb))
        elif op == SUB32:
            r = np.int64(N.sub32(wa, wb))
        else:
            r = -1
        out[i] = r


@njit(cache=True)
def _f64_to_f16_loop(x, out):
    for i in range(x.size):
        out[i] = N.f64_to_f16(x[i])


@njit(cache=True)
def _apply_ops(ops, a, b, c, fused, out):
    for i in range(a.size):
        out[i] = N.apply_elem(ops[i], a[i], b[i], c[i], fused)


def words(x):
    x = np.asarray(x)
    if x.dtype == np.float32:
        return x.view(np.uint32)
    if x.dtype == np.float16:
        return x.view(np.uint16).astype(np.uint32)
    return x.astype(np.uint32)


def dedicated(op, a, b=None, c=None, fused=False):
    """Result words (uint32) of the dedicated function for ``op``."""
    a = words(a)
    b = a if b is None else words(b)
    c = a if c is None else words(c)
    out = np.empty(a.shape, dtype=np.uint32)
    _dedicated_loop(int(op), a, b, c, fused, out)
    return out


def ded_f32(op, *args, fused=False):
    return dedicated(op, *args, fused=fused).view(np.float32)


def ded_u16(op, *args, fused=False):
    return dedicated(op, *args, fused=fused).astype(np.uint16)


# ---------------------------------------------------------------------------
# comparison helpers
# ---------------------------------------------------------------------------


def assert_same_f32(got, ref, *, zero_tie_ok=None):
    """Bit-equal for non-NaN results, NaN where the reference is NaN."""
    got = np.asarray(got, dtype=np.float32)
    ref = np.asarray(ref, dtype=np.float32)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(got), nan)
    ok = got.view(np.uint32) == ref.view(np.uint32)
    if zero_tie_ok is not None:
        ok |= zero_tie_ok & (got == ref)
    bad = ~nan & ~ok
    assert not bad.any(), (
        f"{bad.sum()} mismatches, e.g. got {got[bad][:4].view(np.uint32)}, "
        f"ref {ref[bad][:4].view(np.uint32)}"
    )


def assert_same_f16(got_bits, ref):
    """``got_bits``: uint16 patterns; ``ref``: float16 array."""
    got = np.asarray(got_bits, dtype=np.uint16)
    ref = np.asarray(ref, dtype=np.float16)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(got.view(np.float16)), nan)
    bad = ~nan & (got != ref.view(np.uint16))
    assert not bad.any(), (
        f"{bad.sum()} mismatches, e.g. got {[hex(x) for x in got[bad][:4]]}, "
        f"ref {[hex(x) for x in ref.view(np.uint16)[bad][:4]]}"
    )


def as_f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def as_f16(bits):
    return np.asarray(bits, dtype=np.uint16).view(np.float16)


# ---------------------------------------------------------------------------
# strategies: batches of bit patterns rich in special values
# ---------------------------------------------------------------------------

_F32_SPECIAL = [
    0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,
    0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001, 0x3F800000, 0xBF800000,
    0x477FE000, 0x477FF000, 0x477FEFFF, 0x38800000, 0x387FFFFF, 0x33000000, 0x33000001,
    0x32FFFFFF, 0x33800000,
]  # fmt: skip
_sign32 = st.sampled_from([0, 0x80000000])
f32_bits = st.one_of(
    st.integers(0, 2**32 - 1),
    st.sampled_from(_F32_SPECIAL),
    st.builds(lambda s, m: s | m, _sign32, st.integers(0, 0x7FFFFF)),  # subnormals
    # exponents around the f16 range (2**-26 .. 2**17)
    st.builds(
        lambda s, e, m: s | (e << 23) | m, _sign32, st.integers(101, 144), st.integers(0, 0x7FFFFF)
    ),
)


def _f32_mix(rng, shape):
    """f32 bit patterns: uniform bits, subnormals, f16-range exponents, specials."""
    kind = rng.integers(0, 4, shape)
    sign = rng.integers(0, 2, shape, dtype=np.uint32) << np.uint32(31)
    mant = rng.integers(0, 1 << 23, shape, dtype=np.uint32)
    uniform = rng.integers(0, 2**32, shape, dtype=np.uint64).astype(np.uint32)
    f16_range = sign | (rng.integers(101, 145, shape).astype(np.uint32) << np.uint32(23)) | mant
    special = np.array(_F32_SPECIAL, dtype=np.uint32)[rng.integers(0, len(_F32_SPECIAL), shape)]
    picked = np.select(
        [kind == 0, kind == 1, kind == 2], [uniform, sign | mant, f16_range], special
    )
    return picked.astype(np.uint32)


def _uniform(dtype):
    top = np.iinfo(dtype).max
    return lambda rng, shape: rng.integers(0, top, shape, dtype=dtype, endpoint=True)


def _batches(make, dtype, elements, rows=3):
    """``(rows, n)`` arrays of bit patterns (operands a, b, c).

    Mostly a big batch from a hypothesis-chosen seed (fast to generate, wide
    coverage); sometimes a small array drawn element by element (shrinkable).
    """
    seeded = st.builds(
        lambda seed, n: make(np.random.default_rng(seed), (rows, n)),
        st.integers(0, 2**32 - 1),
        st.integers(1, 1024),
    )
    drawn = hnp.arrays(dtype, st.tuples(st.just(rows), st.integers(1, 16)), elements=elements)
    return st.one_of(seeded, drawn)


f32_triples = _batches(_f32_mix, np.uint32, f32_bits)
f16_triples = _batches(_uniform(np.uint16), np.uint16, st.integers(0, 0xFFFF))
u32_triples = _batches(_uniform(np.uint32), np.uint32, st.integers(0, 2**32 - 1))


# ---------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------

ALL_F16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)


def test_f16_to_f32_exhaustive():
    ref = as_f16(ALL_F16).astype(np.float32)
    assert_same_f32(N.f16_bits_to_f32_array(ALL_F16), ref)
    assert_same_f32(ded_f32(ElemOp.FH2S, ALL_F16), ref)
    # float16 input is accepted as-is; any integer dtype too
    assert_same_f32(N.f16_bits_to_f32_array(as_f16(ALL_F16)), ref)
    assert_same_f32(N.f16_bits_to_f32_array(ALL_F16.astype(np.int64)), ref)


def _f16_rounding_boundaries(wide):
    """Every finite f16 value, every midpoint between neighbours (and towards
    inf), and the nearest ``wide`` floats on both sides of each midpoint."""
    vals = as_f16(ALL_F16[:0x7C00]).astype(wide)  # 0 .. 65504
    nxt = np.append(vals[1:], wide(65536.0))
    mids = (vals + nxt) / wide(2)  # exact: f16 has far fewer bits than wide
    pts = np.concatenate(
        [vals, mids, np.nextafter(mids, wide(0)), np.nextafter(mids, wide(np.inf))]
    )
    return np.concatenate([pts, -pts])


def test_f32_to_f16_rounding_boundaries():
    x = _f16_rounding_boundaries(np.float32)
    with np.errstate(over="ignore"):  # the points beyond 65504 overflow to inf
        ref = x.astype(np.float16)
    assert_same_f16(N.f32_to_f16_bits_array(x), ref)
    assert_same_f16(ded_u16(ElemOp.FS2H, x), ref)


def test_f64_to_f16_rounding_boundaries():
    x = _f16_rounding_boundaries(np.float64)
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    assert_same_f16(N.f64_to_f16_bits_array(x), ref)
    out = np.empty(x.shape, dtype=np.uint16)
    _f64_to_f16_loop(x, out)
    assert_same_f16(out, ref)
    # single rounding: just above a midpoint rounds up although the f32
    # rounding of the same value would be the midpoint itself (-> even).
    x = np.float64(1 + 2**-11 + 2**-40)
    assert N.f64_to_f16(x) == 0x3C01
    assert N.f32_to_f16(np.float32(x)) == 0x3C00


@SETTINGS
@given(f32_triples)
def test_f32_to_f16_random(bits):
    x = as_f32(bits.reshape(-1))
    with np.errstate(over="ignore"):
        assert_same_f16(N.f32_to_f16_bits_array(x), x.astype(np.float16))


@SETTINGS
@given(hnp.arrays(np.uint64, st.integers(1, 300), elements=st.integers(0, 2**64 - 1)))
def test_f64_to_f16_random(bits):
    # squeeze most exponents into and around the f16 range
    e = (bits >> np.uint64(52)) & np.uint64(0x7FF)
    squeezed = (bits & np.uint64(0x800FFFFFFFFFFFFF)) | (
        (np.uint64(1023 - 30) + e % np.uint64(50)) << np.uint64(52)
    )
    for b in (bits, squeezed):
        x = b.view(np.float64)
        with np.errstate(over="ignore"):
            assert_same_f16(N.f64_to_f16_bits_array(x), x.astype(np.float16))


def test_nan_conversions_stay_nan_and_quiet():
    for b in (0x7F800001, 0xFF800001, 0x7FC00000, 0x7FBFFFFF, 0xFFFFFFFF):
        h = int(N.f32_to_f16(as_f32(b)))
        assert h & 0x7E00 == 0x7E00 and (h >> 15) == (b >> 31)
    for x in (np.nan, -np.nan, np.float64(np.uint64(0x7FF0000000000001).view(np.float64))):
        assert N.f64_to_f16(x) & 0x7E00 == 0x7E00
    for h in (0x7C01, 0xFC01, 0x7E00, 0x7FFF):
        assert np.isnan(N.f16_to_f32(np.uint16(h)))
    assert N.f16_to_f32(np.uint16(0x7C00)) == np.inf
    assert N.f16_to_f32(np.uint16(0xFC00)) == -np.inf


def test_array_wrappers_keep_shape():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    h = N.f32_to_f16_bits_array(x)
    assert h.shape == (3, 4) and h.dtype == np.uint16
    back = N.f16_bits_to_f32_array(h)
    assert back.shape == (3, 4) and back.dtype == np.float32
    assert np.array_equal(back, x.astype(np.float16).astype(np.float32))
    assert N.f64_to_f16_bits_array(x.astype(np.float64)).shape == (3, 4)


# ---------------------------------------------------------------------------
# f32 arithmetic
# ---------------------------------------------------------------------------


@SETTINGS
@given(f32_triples)
def test_f32_ops_match_numpy(abc):
    a, b, c = (as_f32(x) for x in abc)
    with np.errstate(all="ignore"):
        assert_same_f32(ded_f32(ElemOp.FADDS, a, b), a + b)
        assert_same_f32(ded_f32(ElemOp.FSUBS, a, b), a - b)
        assert_same_f32(ded_f32(ElemOp.FMULS, a, b), a * b)
        assert_same_f32(ded_f32(ElemOp.FMACS, a, b, c), a + b * c)
        # neg/abs are pure sign-bit operations, bit-exact even for NaN
        assert np.array_equal(dedicated(ElemOp.FNEGS, a), np.negative(a).view(np.uint32))
        assert np.array_equal(dedicated(ElemOp.FABSS, a), np.abs(a).view(np.uint32))
        # max(+0, -0) is implementation-specific in numpy (SIMD maxps gives
        # the second operand); accept either zero there.
        zeros = (a == 0) & (b == 0)
        assert_same_f32(ded_f32(ElemOp.FMAXS, a, b), np.maximum(a, b), zero_tie_ok=zeros)


def test_max_semantics():
    nan1, nan2 = as_f32(0x7FC00001), as_f32(0x7FC00002)
    one, pz, nz = np.float32(1), np.float32(0.0), np.float32(-0.0)

    def bits32(x):
        return int(np.float32(x).view(np.uint32))

    assert bits32(N.max_f32(nan1, one)) == 0x7FC00001
    assert bits32(N.max_f32(one, nan2)) == 0x7FC00002
    assert bits32(N.max_f32(nan1, nan2)) == 0x7FC00001
    assert bits32(N.max_f32(pz, nz)) == 0x80000000  # equal -> b
    assert bits32(N.max_f32(nz, pz)) == 0x00000000
    a = [0x7E01, 0x3C00, 0x0000, 0x8000, 0x3C00]
    b = [0x3C00, 0x7E02, 0x8000, 0x0000, 0x4000]
    # NaN propagates; equal (+0, -0) -> a, unlike f32 (numpy's f16 loop uses >=)
    assert ded_u16(ElemOp.FMAXH, a, b).tolist() == [0x7E01, 0x7E02, 0x0000, 0x8000, 0x4000]


def _round_exact(x: Fraction, p: int, emin: int, emax: int) -> float:
    """Round a rational to binary floating point (p-bit significand) with RNE."""
    if x == 0:
        return 0.0
    sign = -1.0 if x < 0 else 1.0
    x = abs(x)
    e = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** e > x:
        e -= 1
    e = max(e, emin)
    q = Fraction(2) ** (e - p + 1)
    v = round(x / q) * q  # round() on a Fraction is half-to-even
    if v >= Fraction(2) ** (emax + 1):
        return sign * math.inf
    return sign * float(v)


def _fused_reference(a, b, c, p, emin, emax, dtype):
    out = np.empty(a.shape, dtype=dtype)
    for i, (x, y, z) in enumerate(zip(a.tolist(), b.tolist(), c.tolist(), strict=True)):
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
            out[i] = x + y * z  # inf / nan propagation, no rounding involved
            continue
        exact = Fraction(x) + Fraction(y) * Fraction(z)
        if exact == 0:
            prod_neg = math.copysign(1, y) * math.copysign(1, z) < 0
            out[i] = -0.0 if (math.copysign(1, x) < 0 and prod_neg) else 0.0
        else:
            out[i] = _round_exact(exact, p, emin, emax)
    return out


def _near_midpoint_triples(rng, n, dtype):
    """(a, b, c) with a + b*c within a hair of a rounding midpoint of a's
    binade: the cases where a naive f64 FMA double-rounds wrongly."""
    a = rng.uniform(-4, 4, n).astype(dtype) * dtype(2.0) ** rng.integers(-8, 8, n).astype(dtype)
    b = rng.uniform(0.5, 2, n).astype(dtype) * np.where(rng.random(n) < 0.5, -1, 1).astype(dtype)
    ulp = np.spacing(np.abs(a)).astype(np.float64)
    k = rng.integers(-3, 4, n).astype(np.float64) + 0.5
    c = ((k * ulp) / b.astype(np.float64)).astype(dtype)
    return a, b, c


def test_fmac_f32_fused_double_rounding_case():
    # b*c = 2**-24 * (1 + 4688 * 2**-46): 1 + b*c is just above the midpoint
    # between 1 and 1 + 2**-23, but rounds to that midpoint in float64.
    a = np.float32(1.0)
    b = np.float32((2**23 + 2896) * 2.0**-23)
    c = np.float32((2**23 - 2895) * 2.0**-47)
    naive = np.float32(np.float64(a) + np.float64(b) * np.float64(c))
    assert naive == np.float32(1.0)  # the double-rounding trap
    assert N.fmac_f32_fused(a, b, c) == np.float32(1 + 2**-23)
    word = N.apply_elem(
        int(ElemOp.FMACS), a.view(np.uint32), b.view(np.uint32), c.view(np.uint32), True
    )
    assert word == np.float32(1 + 2**-23).view(np.uint32)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), _batches(_f32_mix, np.uint32, f32_bits).map(lambda x: x[:, :100]))
def test_fmac_f32_fused_correctly_rounded(seed, abc):
    a1, b1, c1 = _near_midpoint_triples(np.random.default_rng(seed), 200, np.float32)
    a2, b2, c2 = (as_f32(x) for x in abc)
    for a, b, c in ((a1, b1, c1), (a2, b2, c2)):
        ref = _fused_reference(a, b, c, 24, -126, 127, np.float32)
        assert_same_f32(ded_f32(ElemOp.FMACS, a, b, c, fused=True), ref)


# ---------------------------------------------------------------------------
# f16 arithmetic (on bit patterns)
# ---------------------------------------------------------------------------


@SETTINGS
@given(f16_triples)
def test_f16_ops_match_numpy(abc):
    a, b, c = abc
    fa, fb, fc = as_f16(a), as_f16(b), as_f16(c)
    with np.errstate(all="ignore"):
        assert_same_f16(ded_u16(ElemOp.FADDH, a, b), fa + fb)
        assert_same_f16(ded_u16(ElemOp.FSUBH, a, b), fa - fb)
        assert_same_f16(ded_u16(ElemOp.FMULH, a, b), fa * fb)
        assert_same_f16(ded_u16(ElemOp.FMACH, a, b, c), fa + fb * fc)
        assert np.array_equal(ded_u16(ElemOp.FNEGH, a), np.negative(fa).view(np.uint16))
        assert np.array_equal(ded_u16(ElemOp.FABSH, a), np.abs(fa).view(np.uint16))
        assert_same_f16(ded_u16(ElemOp.FMAXH, a, b), np.maximum(fa, fb))


def test_f16_binary_ops_dense():
    """A large random sample of f16 pairs (plus all f16 against a few values)."""
    rng = np.random.default_rng(1234)
    a = np.concatenate([rng.integers(0, 65536, 200_000), ALL_F16, ALL_F16]).astype(np.uint16)
    b = np.concatenate([rng.integers(0, 65536, 200_000), np.full(65536, 0x3C01),
                        np.full(65536, 0x0401)]).astype(np.uint16)  # fmt: skip
    fa, fb = as_f16(a), as_f16(b)
    with np.errstate(all="ignore"):
        for op, ref in ((ElemOp.FADDH, fa + fb), (ElemOp.FSUBH, fa - fb), (ElemOp.FMULH, fa * fb)):
            assert_same_f16(ded_u16(op, a, b), ref)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), f16_triples.map(lambda x: x[:, :100]))
def test_fmac_f16_fused_correctly_rounded(seed, abc):
    a1, b1, c1 = _near_midpoint_triples(np.random.default_rng(seed), 200, np.float16)
    triples = [tuple(x.view(np.uint16) for x in (a1, b1, c1)), abc]
    for a, b, c in triples:
        ref = _fused_reference(
            *(as_f16(x).astype(np.float64) for x in (a, b, c)), 11, -14, 15, np.float16
        )
        assert_same_f16(ded_u16(ElemOp.FMACH, a, b, c, fused=True), ref)


# ---------------------------------------------------------------------------
# integers: wrap-around
# ---------------------------------------------------------------------------


@SETTINGS
@given(f16_triples, u32_triples)
def test_int_ops_wrap_like_numpy(ab16, ab32):
    a, b, _ = ab16
    ia, ib = a.view(np.int16), b.view(np.int16)
    s = b & np.uint16(15)

    def same(op, ref):
        assert np.array_equal(ded_u16(op, a, b), np.asarray(ref).view(np.uint16)), op.name

    same(ElemOp.ADD16, ia + ib)
    same(ElemOp.SUB16, ia - ib)
    same(ElemOp.AND16, a & b)
    same(ElemOp.OR16, a | b)
    same(ElemOp.XOR16, a ^ b)
    same(ElemOp.SLL16, np.left_shift(a, s))
    same(ElemOp.SRL16, np.right_shift(a, s))
    same(ElemOp.SRA16, np.right_shift(ia, s.astype(np.int16)))
    x, y, _ = ab32
    assert np.array_equal(dedicated(ElemOp.ADD32, x, y), x + y)
    assert np.array_equal(dedicated(ElemOp.SUB32, x, y), x - y)
    assert np.array_equal(
        dedicated(ElemOp.ADD32, x, y).view(np.int32), x.view(np.int32) + y.view(np.int32)
    )


def test_int_wrap_edges():
    cases = [  # (op, a, b, expected)
        (ElemOp.ADD16, 0x7FFF, 1, 0x8000),
        (ElemOp.ADD16, 0xFFFF, 1, 0),
        (ElemOp.SUB16, 0, 1, 0xFFFF),
        (ElemOp.SUB16, 0x8000, 1, 0x7FFF),
        (ElemOp.SLL16, 0x8001, 1, 0x0002),
        (ElemOp.SLL16, 1, 17, 2),  # count & 15
        (ElemOp.SRL16, 0x8000, 15, 1),
        (ElemOp.SRA16, 0x8000, 15, 0xFFFF),
        (ElemOp.SRA16, 0x8000, 16, 0x8000),  # count & 15 == 0
        (ElemOp.SRA16, 0x4000, 14, 1),
        (ElemOp.ADD32, 0xFFFFFFFF, 1, 0),
        (ElemOp.ADD32, 0x7FFFFFFF, 1, 0x80000000),
        (ElemOp.SUB32, 0, 1, 0xFFFFFFFF),
    ]
    for op, a, b, want in cases:
        assert dedicated(op, [a], [b])[0] == want, op.name
        assert N.apply_elem_array(op, [a], [b])[0] == want, op.name


# ---------------------------------------------------------------------------
# apply_elem and metadata
# ---------------------------------------------------------------------------


def _is_nan_bits(words, bits):
    words = np.asarray(words, np.uint32)
    if bits == 32:
        return ((words & 0x7F800000) == 0x7F800000) & ((words & 0x007FFFFF) != 0)
    return ((words & 0x7C00) == 0x7C00) & ((words & 0x03FF) != 0)


def test_nan_payloads_follow_numpy():
    """With NaN operands the result is numpy's (x86's): the first NaN operand, made quiet."""
    rng = np.random.default_rng(7)

    def words(n):
        x = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        nan = rng.random(n) < 0.3
        x[nan] = (x[nan] & 0x807FFFFF) | 0x7F800001
        return x

    a, b, c = words(4000), words(4000), words(4000)
    fa, fb, fc = (x.view(np.float32) for x in (a, b, c))
    with np.errstate(all="ignore"):
        want = {
            ElemOp.FADDS: fa + fb,
            ElemOp.FSUBS: fa - fb,
            ElemOp.FMULS: fa * fb,
            ElemOp.FMACS: fa + fb * fc,
        }
    for op, ref in want.items():
        got = N.apply_elem_array(op, a, b, c)
        assert np.array_equal(got, ref.view(np.uint32)), op.name


@settings(max_examples=10, deadline=None)
@given(f32_triples, st.booleans())
def test_apply_elem_matches_dedicated_functions(abc, fused):
    a, b, c = abc
    # 16-bit operands get random garbage in the upper half, which must be ignored
    ops = np.array(list(ElemOp), dtype=np.int64)
    for op in ElemOp:
        want = dedicated(op, a, b, c, fused)
        got = N.apply_elem_array(op, a, b, c, fused=fused)
        assert got.dtype == np.uint32
        if N.ELEM_INFO[op].dst_bits == 16:
            assert not (got >> 16).any(), op.name
        if N.ELEM_INFO[op].dst_dtype in ("float32", "float16"):
            # NaN payloads: apply_elem picks the first NaN operand (numpy's rule, tested in
            # test_nan_payloads_follow_numpy); the dedicated functions leave it to LLVM.
            nan = _is_nan_bits(want, N.ELEM_INFO[op].dst_bits)
            assert _is_nan_bits(got, N.ELEM_INFO[op].dst_bits)[nan].all(), op.name
            assert np.array_equal(got[~nan], want[~nan]), op.name
        else:
            assert np.array_equal(got, want), op.name
    # the scalar entry point, with the op varying per element
    n = a.size
    op_per_elem = ops[np.arange(n) % ops.size]
    out = np.empty(n, dtype=np.uint32)
    _apply_ops(op_per_elem, a, b, c, fused, out)
    for op in ElemOp:
        sel = op_per_elem == op
        if sel.any():
            # the same entry point as apply_elem_array: the two must agree bit for bit
            want = N.apply_elem_array(op, a[sel], b[sel], c[sel], fused)
            assert np.array_equal(out[sel], want), op.name


def test_apply_elem_scalar_calls_and_fmac_convention():
    def call(op, a, b=0, c=0, fused=False):
        # same argument types as the engine's (and _apply_ops'): one compile
        return int(N.apply_elem(int(op), np.uint32(a), np.uint32(b), np.uint32(c), fused))

    one, two, three = (int(np.float32(x).view(np.uint32)) for x in (1, 2, 3))
    # dst = src0 + src1 * scalar
    assert call(ElemOp.FMACS, one, two, three) == np.float32(7).view(np.uint32)
    h1, h2, h3 = (int(np.float16(x).view(np.uint16)) for x in (1, 2, 3))
    assert call(ElemOp.FMACH, h1, h2, h3, True) == np.float16(7).view(np.uint16)
    assert call(ElemOp.FH2S, 0xABCD0000 | h3) == three  # upper half ignored
    assert call(ElemOp.SRA16, 0x8000, 0xFFF1) == 0xC000
    assert call(ElemOp.SUB32, 0, 1) == 0xFFFFFFFF
    assert call(99, 1, 2, 3) == 0


def test_elem_metadata():
    assert len(N.ELEM_INFO) == len(ElemOp)
    for op in ElemOp:
        info = N.ELEM_INFO[op]
        assert info.op == op
        assert N.ELEM_ARITY[op] == info.arity
        assert N.ELEM_SRC0_BITS[op] == info.src0_bits == np.dtype(info.src0_dtype).itemsize * 8
        assert N.ELEM_DST_BITS[op] == info.dst_bits == np.dtype(info.dst_dtype).itemsize * 8
        if info.arity == 1:
            assert info.src1_bits == 0 and info.src1_dtype is None
        else:
            assert N.ELEM_SRC1_BITS[op] == info.src1_bits == np.dtype(info.src1_dtype).itemsize * 8
    assert N.ELEM_ARITY[ElemOp.FMACS] == N.ELEM_ARITY[ElemOp.FMACH] == 3
    assert (N.ELEM_INFO[ElemOp.FH2S].src0_bits, N.ELEM_INFO[ElemOp.FH2S].dst_bits) == (16, 32)
    assert (N.ELEM_INFO[ElemOp.FS2H].src0_bits, N.ELEM_INFO[ElemOp.FS2H].dst_bits) == (32, 16)
    with pytest.raises(ValueError):
        N.ELEM_ARITY[0] = 5  # read-only tables


@njit(cache=True)
def _trailing_zeros_of(words):
    out = np.empty(words.size, np.int64)
    for i in range(words.size):
        out[i] = N.trailing_zeros(words[i])
    return out


@settings(deadline=None)  # the first example compiles
@given(st.lists(st.integers(-(2**63), 2**63 - 1).filter(lambda v: v != 0), min_size=1, max_size=50))
def test_trailing_zeros_is_the_index_of_the_lowest_set_bit(values):
    words = np.array(values + [1 << 62, -(2**63), 1], np.int64)
    expected = [((v & -v).bit_length() - 1) for v in words.tolist()]
    assert _trailing_zeros_of(words).tolist() == expected
