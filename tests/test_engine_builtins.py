"""Every vector builtin of the PE handle against numpy, bit for bit, on both engine paths:

* memory-only ops, computed at issue (``PE._memory_op``);
* streaming ops, where one operand is a fabric DSD or a FIFO and the compiled kernel applies the
  element function one element per cycle.

The two paths must agree bit for bit (NaN payloads included); against numpy a NaN only has to be
a NaN. Also: scalars as operands, strided/offset/negative-stride DSDs, fmacs/fmach fused and
unfused, ``map``, the memory-op cycle costs, async ops with ``activate=``/``unblock=``, FIFOs.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import pytest

from _programs import MAIN, body_prog, engine, run
from waferscale.arch import custom_mesh
from waferscale.fabric import OpError, TaskError
from waferscale.program import (
    Layout,
    fabin_dsd,
    fabout_dsd,
    fifo_dsd,
    increment_dsd_offset,
    mem1d_dsd,
    set_dsd_base_addr,
    set_dsd_length,
    set_dsd_stride,
)

# every engine built here gets padded activity lists (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("guarded_activity_lists")

F32, F16 = np.float32, np.float16
RAW = {
    "f32": np.uint32,
    "u32": np.uint32,
    "i32": np.uint32,
    "f16": np.uint16,
    "u16": np.uint16,
    "i16": np.uint16,
}
NP = {
    "f32": np.float32,
    "u32": np.uint32,
    "i32": np.int32,
    "f16": np.float16,
    "u16": np.uint16,
    "i16": np.int16,
}
WIDTH = {"f32": 4, "u32": 4, "i32": 4, "f16": 2, "u16": 2, "i16": 2}


# -- the op table ------------------------------------------------------------------------------


def _sll(a, b):
    return ((a.astype(np.uint32) << (b & 15).astype(np.uint32)) & 0xFFFF).astype(np.uint16)


def _srl(a, b):
    return (a >> (b & 15)).astype(np.uint16)


def _sra(a, b):
    return (a >> (b & 15).astype(np.int16)).astype(np.int16)


# name -> (source dtypes, destination dtype, scalar dtype or None, numpy reference, raw move)
OPS = {
    "mov16": (("u16",), "u16", None, lambda a, b, s: a, True),
    "mov32": (("u32",), "u32", None, lambda a, b, s: a, True),
    "fmovs": (("f32",), "f32", None, lambda a, b, s: a, True),
    "fmovh": (("f16",), "f16", None, lambda a, b, s: a, True),
    "fadds": (("f32", "f32"), "f32", None, lambda a, b, s: a + b, False),
    "fsubs": (("f32", "f32"), "f32", None, lambda a, b, s: a - b, False),
    "fmuls": (("f32", "f32"), "f32", None, lambda a, b, s: a * b, False),
    "fmacs": (("f32", "f32"), "f32", "f32", lambda a, b, s: a + b * s, False),
    "fnegs": (("f32",), "f32", None, lambda a, b, s: np.negative(a), False),
    "fabss": (("f32",), "f32", None, lambda a, b, s: np.abs(a), False),
    "fmaxs": (("f32", "f32"), "f32", None, lambda a, b, s: np.maximum(a, b), False),
    "faddh": (("f16", "f16"), "f16", None, lambda a, b, s: a + b, False),
    "fsubh": (("f16", "f16"), "f16", None, lambda a, b, s: a - b, False),
    "fmulh": (("f16", "f16"), "f16", None, lambda a, b, s: a * b, False),
    "fmach": (("f16", "f16"), "f16", "f16", lambda a, b, s: a + b * s, False),
    "fnegh": (("f16",), "f16", None, lambda a, b, s: np.negative(a), False),
    "fabsh": (("f16",), "f16", None, lambda a, b, s: np.abs(a), False),
    "fmaxh": (("f16", "f16"), "f16", None, lambda a, b, s: np.maximum(a, b), False),
    "fh2s": (("f16",), "f32", None, lambda a, b, s: a.astype(F32), False),
    "fs2h": (("f32",), "f16", None, lambda a, b, s: a.astype(F16), False),
    "add16": (("i16", "i16"), "i16", None, lambda a, b, s: a + b, False),
    "sub16": (("i16", "i16"), "i16", None, lambda a, b, s: a - b, False),
    "and16": (("u16", "u16"), "u16", None, lambda a, b, s: a & b, False),
    "or16": (("u16", "u16"), "u16", None, lambda a, b, s: a | b, False),
    "xor16": (("u16", "u16"), "u16", None, lambda a, b, s: a ^ b, False),
    "sll16": (("u16", "u16"), "u16", None, lambda a, b, s: _sll(a, b), False),
    "slr16": (("u16", "u16"), "u16", None, lambda a, b, s: _srl(a, b), False),
    "sar16": (("i16", "u16"), "i16", None, lambda a, b, s: _sra(a, b), False),
}
SCALARS = {"fmacs": F32(-0.3), "fmach": F16(0.3)}


def _specials(dt: str) -> np.ndarray:
    if dt == "f32":
        v = np.array(
            [
                0.0,
                -0.0,
                1.0,
                -1.0,
                1.5,
                -2.75,
                np.inf,
                -np.inf,
                np.nan,
                1e-45,
                -1e-45,
                1.1754942e-38,
                3.4028235e38,
                -3.4028235e38,
                1e-30,
            ],
            F32,
        )
        snan = np.array([0x7F800001, 0xFFC00123], np.uint32).view(F32)  # signalling, payload
        return np.concatenate([v, snan])
    if dt == "f16":
        v = np.array(
            [
                0.0,
                -0.0,
                1.0,
                -1.0,
                1.5,
                -2.75,
                np.inf,
                -np.inf,
                np.nan,
                6e-8,
                -6e-8,
                6.1e-5,
                65504,
                -65504,
                0.0999,
                2049,
            ],
            F16,
        )
        return np.concatenate([v, np.array([0x7C01, 0xFE05], np.uint16).view(F16)])
    if dt == "i16":
        return np.array([0, 1, -1, 2, 32767, -32768, 12345, -7], np.int16)
    if dt == "u16":
        return np.array([0, 1, 2, 15, 16, 17, 31, 0x7FFF, 0x8000, 0xFFFF], np.uint16)
    return np.array([0, 1, 0x7F800001, 0x80000000, 0xFFFFFFFF, 12345678], np.uint32)


def _random(dt: str, n: int, rng: np.random.Generator) -> np.ndarray:
    with np.errstate(over="ignore"):
        if dt == "f32":
            return (rng.standard_normal(n) * 2.0 ** rng.integers(-140, 128, n)).astype(F32)
        if dt == "f16":
            return (rng.standard_normal(n) * 2.0 ** rng.integers(-26, 16, n)).astype(F16)
    info = np.iinfo(NP[dt])
    return rng.integers(info.min, info.max, n, endpoint=True).astype(NP[dt])


@functools.cache
def op_inputs(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Every pair of special values (cross product), then random values."""
    srcs = OPS[name][0]
    rng = np.random.default_rng(sum(map(ord, name)))
    if len(srcs) == 1:
        sp = _specials(srcs[0])
        return np.concatenate([sp, _random(srcs[0], 48, rng)]), None
    s0, s1 = _specials(srcs[0]), _specials(srcs[1])
    a = np.concatenate([np.repeat(s0, len(s1)), _random(srcs[0], 48, rng)])
    b = np.concatenate([np.tile(s1, len(s0)), _random(srcs[1], 48, rng)])
    return a, b


def numpy_ref(name: str) -> np.ndarray:
    srcs, dst, _sdt, ref, _raw = OPS[name]
    a, b = op_inputs(name)
    with np.errstate(all="ignore"):
        return np.asarray(ref(a, b, SCALARS.get(name)), NP[dst])


def assert_bits(
    got: np.ndarray, want: np.ndarray, *, exact_nan: bool = False, loose: np.ndarray | None = None
) -> None:
    """Raw-bit equality; positions where ``want`` is NaN only need a NaN unless exact_nan
    (``loose`` marks positions where only NaN-ness is compared even then)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    raw = RAW[{np.dtype(v): k for k, v in NP.items()}[got.dtype]]
    gb, wb = got.view(raw), want.view(raw)
    if want.dtype.kind == "f" and (not exact_nan or loose is not None):
        nan = np.isnan(want) if not exact_nan else np.isnan(want) & loose
        assert np.isnan(got[nan]).all(), f"NaN expected at {np.nonzero(nan & ~np.isnan(got))}"
        keep = ~nan
    else:
        keep = np.ones(got.shape, bool)
    bad = np.nonzero(keep & (gb != wb))[0]
    assert bad.size == 0, (
        f"{bad.size} mismatches, first at {bad[:5]}: got {gb[bad[:5]]} want {wb[bad[:5]]}"
    )


# -- running one op on one path -----------------------------------------------------------------


def _send(pe, color, sym, dt):
    """Send an array's raw bits on ``color`` (async, so the task can go on)."""
    mov = pe.mov32 if WIDTH[dt] == 4 else pe.mov16
    mov(fabout_dsd(color, sym.length, dt), mem1d_dsd(sym), async_=True)


def _recv(pe, sym, color, dt):
    mov = pe.mov32 if WIDTH[dt] == 4 else pe.mov16
    mov(mem1d_dsd(sym), fabin_dsd(color, sym.length, dt))


PATHS_UNARY = ("mem", "fabin0_self", "fabout")
PATHS_BINARY = ("mem", "fabin0_self", "fabin1", "fabin01", "fabout")


def run_op(
    name: str, path: str, a: np.ndarray, b: np.ndarray | None, scalar=None, arch="wse2"
) -> np.ndarray:
    """Run builtin ``name`` over ``a`` (and ``b``) on ``path``; return the destination array.

    mem:          one PE, every operand in memory (computed at issue)
    fabin0_self:  one PE sends ``a`` to itself (route RAMP -> RAMP), the op reads it from the
                  fabric
    fabin1:       PE (0, 0) sends ``b`` east, PE (1, 0) reads src1 from the fabric
    fabin01:      PE (0, 0) sends both, PE (1, 0) reads both operands from the fabric
    fabout:       PE (0, 0) computes into a fabric-output DSD, PE (1, 0) stores what arrives
    """
    srcs, dst, _sdt, _ref, _raw = OPS[name]
    n = a.size
    arrays = [("x", srcs[0], a)]
    if b is not None:
        arrays.append(("y", srcs[1], b))
    arrays.append(("out", dst, n))
    arrays = tuple(arrays)
    extra = () if scalar is None else (scalar,)

    def operands(s, fab0=False, fab1=False, fab_out=False):
        d = fabout_dsd(1, n, dst) if fab_out else mem1d_dsd(s["out"])
        x = fabin_dsd(1, n, srcs[0]) if fab0 else mem1d_dsd(s["x"])
        if b is None:
            return (d, x, *extra)
        y = fabin_dsd(2, n, srcs[1]) if fab1 else mem1d_dsd(s["y"])
        return (d, x, y, *extra)

    if path == "mem":

        def body(pe, s):
            getattr(pe, name)(*operands(s))

        lay = Layout(1, 1, arch=arch)
        lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=body)
        eng, _ = run(lay)
        return eng.read_symbol(0, 0, "out")
    if path == "fabin0_self":

        def body(pe, s):
            _send(pe, 1, s["x"], srcs[0])
            getattr(pe, name)(*operands(s, fab0=True))

        lay = Layout(1, 1, arch=arch)
        lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=body)
        lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP")
        eng, _ = run(lay)
        return eng.read_symbol(0, 0, "out")
    lay = Layout(2, 1, arch=arch)
    for color in (1, 2):
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="RAMP")
    if path in ("fabin1", "fabin01"):

        def sender(pe, s):
            if path == "fabin01":
                _send(pe, 1, s["x"], srcs[0])
            _send(pe, 2, s["y"], srcs[1])

        def receiver(pe, s):
            getattr(pe, name)(*operands(s, fab0=path == "fabin01", fab1=True))

    elif path == "fabout":

        def sender(pe, s):
            getattr(pe, name)(*operands(s, fab_out=True))

        def receiver(pe, s):
            _recv(pe, s["out"], 1, dst)

    else:
        raise AssertionError(path)
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=sender)
    lay.set_tile_code(1, 0, body_prog, arrays=arrays, body=receiver)
    eng, res = run(lay)
    assert res.reason == "quiet"
    return eng.read_symbol(1, 0, "out")


@functools.cache
def mem_result(name: str) -> np.ndarray:
    a, b = op_inputs(name)
    return run_op(name, "mem", a, b, SCALARS.get(name))


CASES = [
    (name, path)
    for name, (srcs, *_rest) in OPS.items()
    for path in (PATHS_UNARY if len(srcs) == 1 else PATHS_BINARY)
]


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_builtin_matches_numpy_and_memory_path(name, path):
    a, b = op_inputs(name)
    got = run_op(name, path, a, b, SCALARS.get(name))
    raw_move = OPS[name][4]
    assert_bits(got, numpy_ref(name), exact_nan=raw_move)
    # the memory path and the streaming path agree bit for bit, NaN payloads included, except
    # where both sources are NaN: which payload wins there differs between the paths (see
    # test_nan_payload_of_two_nan_operands_agrees_between_paths)
    assert_bits(got, mem_result(name), exact_nan=True, loose=_both_nan(a, b))


def _both_nan(a, b):
    if b is None or a.dtype.kind != "f" or b.dtype.kind != "f":
        return np.zeros(a.shape, bool)
    return np.isnan(a) & np.isnan(b)


QNAN, SNAN1 = 0x7FC00000, 0x7F800001


@pytest.mark.parametrize("name", ["fadds", "fmuls"])
def test_nan_payload_of_two_nan_operands_agrees_between_paths(name):
    a = np.array([QNAN, SNAN1], np.uint32).view(F32)
    b = a[::-1].copy()
    with np.errstate(invalid="ignore"):
        want = numpy_ref_of(name, a, b)  # numpy: src0's payload, quieted: 7fc00000, 7fc00001
    assert_bits(run_op(name, "mem", a, b), want, exact_nan=True)  # passes
    assert_bits(run_op(name, "fabin01", a, b), want, exact_nan=True)  # 7fc00001, 7fc00000


def numpy_ref_of(name, a, b):
    return np.asarray(OPS[name][3](a, b, None), NP[OPS[name][1]])


def test_every_vector_builtin_is_covered():
    from waferscale.fabric.pe import PE

    def is_vector_builtin(name):  # the methods that issue an element op
        fn = getattr(PE, name)
        return callable(fn) and "_op" in getattr(fn, "__code__", compile("", "", "exec")).co_names

    builtins = {n for n in dir(PE) if not n.startswith("_") and is_vector_builtin(n)}
    assert builtins == set(OPS)


# -- scalars as operands ----------------------------------------------------------------------


SCALAR_CASES = [
    # name, operand order ("as"/"sa": which source is the scalar), scalar, input dtype
    ("fadds", "as", 2.5, "f32"),
    ("fsubs", "sa", 2.5, "f32"),
    ("fsubs", "as", -0.1, "f32"),
    ("fmuls", "sa", 3.0, "f32"),
    ("fmaxs", "as", 0.0, "f32"),
    ("faddh", "as", 0.1, "f16"),
    ("fsubh", "sa", 1.0, "f16"),
    ("fmaxh", "sa", -1.0, "f16"),
    ("add16", "as", -1, "i16"),
    ("sub16", "sa", 100, "i16"),
    ("and16", "as", 0x0F0F, "u16"),
    ("xor16", "sa", 0xFFFF, "u16"),
    ("sll16", "as", 3, "u16"),
    ("slr16", "as", 19, "u16"),  # shift counts use the low 4 bits: 19 & 15 = 3
    ("sar16", "as", 4, "i16"),
]


@pytest.mark.parametrize(("name", "order", "scalar", "dt"), SCALAR_CASES)
@pytest.mark.parametrize("path", ["mem", "fabin", "fabout"])
def test_scalar_operand(name, order, scalar, dt, path):
    srcs, dst, _s, ref, _raw = OPS[name]
    a = np.concatenate([_specials(dt), _random(dt, 16, np.random.default_rng(1))])
    n = a.size
    sc = np.full(n, scalar).astype(NP[srcs[1] if order == "as" else srcs[0]])
    with np.errstate(all="ignore"):
        want = np.asarray(ref(a, sc, None) if order == "as" else ref(sc, a, None), NP[dst])

    def ops(s, src):
        return (src, scalar) if order == "as" else (scalar, src)

    lay = Layout(2, 1)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    arrays = (("x", dt, a), ("out", dst, n))
    if path == "mem":

        def b0(pe, s):
            getattr(pe, name)(mem1d_dsd(s["out"]), *ops(s, mem1d_dsd(s["x"])))

        def b1(pe, s):
            pass
    elif path == "fabin":

        def b0(pe, s):
            _send(pe, 1, s["x"], dt)

        def b1(pe, s):
            getattr(pe, name)(mem1d_dsd(s["out"]), *ops(s, fabin_dsd(1, n, dt)))
    else:

        def b0(pe, s):
            getattr(pe, name)(fabout_dsd(1, n, dst), *ops(s, mem1d_dsd(s["x"])))

        def b1(pe, s):
            _recv(pe, s["out"], 1, dst)

    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=b0)
    lay.set_tile_code(1, 0, body_prog, arrays=arrays, body=b1)
    eng, _ = run(lay)
    got = eng.read_symbol(0 if path == "mem" else 1, 0, "out")
    assert_bits(got, want)


def test_fmacs_scalar_as_both_sources():
    """fmacs src0 and src1 may each be a scalar; dst = src0 + src1 * scalar."""
    x = np.array([1.0, -2.0, 0.1, 3e38], F32)

    def body(pe, s):
        pe.fmacs(mem1d_dsd(s["o1"]), 0.5, mem1d_dsd(s["x"]), F32(-3.0))
        pe.fmacs(mem1d_dsd(s["o2"]), mem1d_dsd(s["x"]), 0.25, 4.0)

    lay = Layout(1, 1)
    lay.set_tile_code(
        0, 0, body_prog, arrays=(("x", "f32", x), ("o1", "f32", 4), ("o2", "f32", 4)), body=body
    )
    eng, _ = run(lay)
    with np.errstate(over="ignore"):
        assert_bits(eng.read_symbol(0, 0, "o1"), F32(0.5) + x * F32(-3.0))
        assert_bits(eng.read_symbol(0, 0, "o2"), x + F32(0.25) * F32(4.0))


# -- fmacs / fmach: unfused by default, fused on request ----------------------------------------


def _round_exact(q: Fraction, dtype) -> np.floating:
    """Round an exact rational to ``dtype`` (nearest, ties to even), with overflow to inf."""
    fi = np.finfo(dtype)
    # the overflow threshold: max + half an ulp of max (a tie there rounds to even = inf)
    thresh = Fraction(float(fi.max)) + Fraction(2) ** (int(fi.maxexp) - int(fi.nmant) - 2)
    if abs(q) >= thresh:
        return dtype(np.inf) if q > 0 else dtype(-np.inf)
    f = dtype(float(q))
    if np.isinf(f):
        f = dtype(fi.max) if q > 0 else dtype(-fi.max)
    with np.errstate(over="ignore"):  # the neighbour of max is inf, dropped below
        cands = [np.nextafter(f, dtype(-np.inf)), f, np.nextafter(f, dtype(np.inf))]
    cands = [c for c in cands if np.isfinite(c)]
    raw = np.uint32 if dtype == F32 else np.uint16

    def key(c):
        return (abs(Fraction(float(c)) - q), int(np.array(c).view(raw)) & 1)

    return min(cands, key=key)


def fused_ref(a: np.ndarray, b: np.ndarray, s, dtype) -> np.ndarray:
    out = np.empty_like(a)
    s = dtype(s)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(s)):
            with np.errstate(all="ignore"):
                out[i] = dtype(np.float64(x) + np.float64(y) * np.float64(s))
            continue
        q = Fraction(float(x)) + Fraction(float(y)) * Fraction(float(s))
        if q == 0:  # exact cancellation: b*s == -a is exact, so one rounding = two roundings
            with np.errstate(all="ignore"):
                out[i] = x + y * s
        else:
            out[i] = _round_exact(q, dtype)
    return out


def test_fmacs_unfused_vs_fused_on_a_rounding_tie():
    """(1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: the f32 product rounds (tie to even) to 1 + 2^-11.
    Unfused: a + round(b*s) = 0; fused: round(a + b*s) = 2^-24."""
    b = F32(1 + 2.0**-12)
    a = -F32(1 + 2.0**-11)
    for fused, want in ((False, F32(0.0)), (True, F32(2.0**-24))):
        arch = custom_mesh(2, 1, **{"numerics.fused_multiply_add": fused})
        for path in ("mem", "fabin0_self", "fabin01", "fabout"):
            got = run_op("fmacs", path, np.array([a], F32), np.array([b], F32), b, arch=arch)
            assert_bits(got, np.array([want], F32))


@pytest.mark.parametrize("name", ["fmacs", "fmach"])
@pytest.mark.parametrize("path", ["mem", "fabin01", "fabout"])
def test_fmac_fused_is_correctly_rounded(name, path):
    dtype = F32 if name == "fmacs" else F16
    a, b = op_inputs(name)
    s = SCALARS[name]
    arch = custom_mesh(2, 1, **{"numerics.fused_multiply_add": True})
    got = run_op(name, path, a, b, s, arch=arch)
    assert_bits(got, fused_ref(a, b, s, dtype))
    # and the default (unfused) really is numpy's a + b*s, which differs on these inputs
    unfused = numpy_ref(name)
    assert (
        got.view(RAW["f32" if dtype == F32 else "f16"])
        != unfused.view(RAW["f32" if dtype == F32 else "f16"])
    )[~np.isnan(unfused)].any()


# -- strided, offset and negative-stride DSDs ----------------------------------------------------


def test_strided_memory_dsds():
    x = np.arange(12, dtype=F32) * F32(1.25)
    y = (np.arange(12, dtype=F32) - 6) * F32(0.5)
    init = np.full(12, -1.0, F32)

    def body(pe, s):
        # out[1], out[3], ..., out[9] = x[11], x[9], ..., x[3] + y[0], y[3], y[6], y[9], y[0]...
        d = mem1d_dsd(s["out"], 5, offset=1, stride=2)
        xs = mem1d_dsd(s["x"], 5, offset=11, stride=-2)
        ys = mem1d_dsd(s["y"], 5, offset=0, stride=2)
        pe.fadds(d, xs, ys)
        # zero stride reads one element 3 times: o2[0..2] = x[4] * 2
        pe.fmuls(mem1d_dsd(s["o2"], 3), mem1d_dsd(s["x"], 3, offset=4, stride=0), 2.0)
        # the DSD-editing builtins: o2[3..6] = x[7..10] (base/offset/length/stride edits)
        e = set_dsd_length(mem1d_dsd(s["y"], 2), 4)
        e = set_dsd_base_addr(e, s["x"], 7)
        e = increment_dsd_offset(set_dsd_stride(e, -1), 3)  # x[10], x[9], x[8], x[7]
        pe.fmovs(mem1d_dsd(s["o2"], 4, offset=3), e)

    lay = Layout(1, 1)
    lay.set_tile_code(
        0,
        0,
        body_prog,
        body=body,
        arrays=(("x", "f32", x), ("y", "f32", y), ("out", "f32", init), ("o2", "f32", init)),
    )
    eng, _ = run(lay)
    want = init.copy()
    want[1:10:2] = x[11:2:-2] + y[0:10:2]
    np.testing.assert_array_equal(eng.read_symbol(0, 0, "out"), want)
    want2 = init.copy()
    want2[:3] = x[4] * 2
    want2[3:7] = x[10:6:-1]
    np.testing.assert_array_equal(eng.read_symbol(0, 0, "o2"), want2)


@pytest.mark.parametrize("dt", ["f32", "f16"])
def test_strided_dsds_streaming(dt):
    """A strided, reversed source streamed over the fabric into a strided destination, with a
    strided memory operand on the receiving op; 16-bit arrays use odd element offsets."""
    t = NP[dt]
    x = (np.arange(15) * 0.75 - 3).astype(t)
    y = (np.arange(15) * -0.5 + 1).astype(t)
    init = np.full(15, 7.0, t)
    add = "fadds" if dt == "f32" else "faddh"
    mov = "mov32" if dt == "f32" else "mov16"

    def sender(pe, s):  # x[13], x[10], x[7], x[4], x[1]
        getattr(pe, mov)(fabout_dsd(1, 5, dt), mem1d_dsd(s["x"], 5, offset=13, stride=-3))

    def receiver(pe, s):  # out[2], out[5], ..., out[14] = fabric + y[1], y[2], ... y[5]
        getattr(pe, add)(
            mem1d_dsd(s["out"], 5, offset=2, stride=3),
            fabin_dsd(1, 5, dt),
            mem1d_dsd(s["y"], 5, offset=1),
        )
        # and a reversed destination on the streaming path: o2[4..0] = out[2], out[5], ...
        getattr(pe, mov)(
            fabout_dsd(2, 5, dt), mem1d_dsd(s["out"], 5, offset=2, stride=3), async_=True
        )
        getattr(pe, mov)(mem1d_dsd(s["o2"], 5, offset=4, stride=-1), fabin_dsd(2, 5, dt))

    lay = Layout(2, 1)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    lay.set_route(1, 0, 2, rx="RAMP", tx="RAMP")
    arrays = (("x", dt, x), ("y", dt, y), ("out", dt, init), ("o2", dt, init))
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=sender)
    lay.set_tile_code(1, 0, body_prog, arrays=arrays, body=receiver)
    eng, _ = run(lay)
    want = init.copy()
    want[2:15:3] = x[13::-3] + y[1:6]
    assert_bits(eng.read_symbol(1, 0, "out"), want)
    want2 = init.copy()
    want2[4::-1] = want[2:15:3]
    assert_bits(eng.read_symbol(1, 0, "o2"), want2)
    # neighbours of the strided elements are untouched
    assert_bits(eng.read_symbol(0, 0, "out"), init)


# -- map ------------------------------------------------------------------------------------------


def test_map_elementwise_function():
    x = np.array([1.0, -2.5, 3.25, 1e30, 0.1, -0.0], F32)
    y = np.array([2.0, 4.0, -1.0, 1e10, 3.0, 5.0], F32)
    k = np.array([3, -7, 1000, -32768, 0, 5], np.int16)

    def body(pe, s):
        # element values arrive as numpy scalars of the DSD's type: 1e30 * 1e10 overflows to
        # inf, 2 * int16(-32768) wraps, as in numpy (the error state is the task's own:
        # greenlets do not inherit the host's np.errstate context)
        with np.errstate(over="ignore"):
            pe.map(lambda a, b: a * b + 1, mem1d_dsd(s["o"]), mem1d_dsd(s["x"]), mem1d_dsd(s["y"]))
            # strided + reversed operands, integer to float destination
            pe.map(
                lambda a, b: a + 2 * b,
                mem1d_dsd(s["o2"], 3, offset=2, stride=-1),
                mem1d_dsd(s["x"], 3, offset=0, stride=2),
                mem1d_dsd(s["k"], 3, offset=3),
            )
        pe.map(lambda: 4.0, mem1d_dsd(s["o3"], 2))  # no sources: a fill

    lay = Layout(1, 1)
    lay.set_tile_code(
        0,
        0,
        body_prog,
        body=body,
        arrays=(
            ("x", "f32", x),
            ("y", "f32", y),
            ("k", "i16", k),
            ("o", "f32", 6),
            ("o2", "f32", 6),
            ("o3", "f32", 6),
        ),
    )
    eng, _ = run(lay)
    with np.errstate(over="ignore"):
        assert_bits(eng.read_symbol(0, 0, "o"), x * y + F32(1))
    want = np.zeros(6, F32)
    want[2::-1] = x[0:6:2] + 2 * k[3:6]
    assert_bits(eng.read_symbol(0, 0, "o2"), want)
    assert_bits(eng.read_symbol(0, 0, "o3"), np.array([4, 4, 0, 0, 0, 0], F32))


def test_map_refuses_fabric_operands():
    def body(pe, s):
        pe.map(lambda a: a, mem1d_dsd(s["o"]), fabin_dsd(1, 4))

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, body_prog, body=body, arrays=(("o", "f32", 4),))
    with pytest.raises((OpError, TaskError), match=r"map works on memory DSDs only"):
        engine(lay).run()


# -- cycle costs of memory-only ops -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dts", "n", "cycles"),
    [
        ("fadds", ("f32", "f32", "f32"), 10, 10),  # f32: 1 per cycle
        ("faddh", ("f16", "f16", "f16"), 10, 3),  # f16: 4 per cycle -> ceil(10/4)
        ("add16", ("i16", "i16", "i16"), 9, 3),
        ("fh2s", ("f32", "f16"), 8, 2),  # an f16 source counts as f16 SIMD
        ("fs2h", ("f16", "f32"), 8, 2),  # so does an f16 destination
        ("mov16", ("u16", "u16"), 5, 2),
        ("mov32", ("u32", "u32"), 5, 5),
        ("fmacs", ("f32", "f32", "f32", 2.0), 7, 7),
    ],
)
def test_memory_op_cycles(name, dts, n, cycles):
    """A memory-only op costs op_startup_cycles (0) + ceil(length / simd width); a map costs
    one cycle per element. Timestamps around the op show exactly that."""
    arrays = tuple((f"a{i}", dt, n) for i, dt in enumerate(dts) if isinstance(dt, str))
    arrays += (("t", "u32", 4),)
    scal = tuple(d for d in dts if not isinstance(d, str))

    def body(pe, s):
        t0 = pe.timestamp()
        getattr(pe, name)(*(mem1d_dsd(s[f"a{i}"]) for i in range(len(arrays) - 1)), *scal)
        t1 = pe.timestamp()
        pe.map(lambda v: v, mem1d_dsd(s["a0"]), mem1d_dsd(s["a0"]))
        t2 = pe.timestamp()
        pe[s["t"]][:3] = (t0, t1, t2)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=body)
    eng, _ = run(lay)
    t = eng.read_symbol(0, 0, "t")
    assert t[0] == 1  # task_startup_cycles after the pick at cycle 0
    assert t[1] - t[0] == cycles == math.ceil(n / (1 if cycles == n else 4))
    assert t[2] - t[1] == n


# -- async ops, activate= / unblock=, FIFOs ---------------------------------------------------


def _two_pe(sender_body, receiver_body, arrays, colors=(1,)):
    lay = Layout(2, 1)
    for color in colors:
        lay.set_route(0, 0, color, rx="RAMP", tx="EAST")
        lay.set_route(1, 0, color, rx="WEST", tx="RAMP")
    lay.set_tile_code(0, 0, body_prog, arrays=arrays, body=sender_body)
    lay.set_tile_code(1, 0, receiver_body[0], **receiver_body[1])
    return lay


N_ASYNC = 24
XA = (np.arange(N_ASYNC, dtype=F32) - 5) * F32(0.37)
YA = np.linspace(-2, 2, N_ASYNC).astype(F32)


def _sync_recv_end() -> int:
    """Timestamp right after a synchronous receive of the same stream (for comparison)."""

    def recv(c):
        out = c.array("out", "f32", N_ASYNC)
        y = c.array("y", "f32", N_ASYNC, init=YA)
        t = c.array("t", "u32", 2)

        def main(pe):
            pe.fadds(mem1d_dsd(out), fabin_dsd(1, N_ASYNC), mem1d_dsd(y))
            pe[t][1] = pe.timestamp()

        c.bind_local_task(main, MAIN)
        c.activate(MAIN)

    lay = _two_pe(lambda pe, s: _send(pe, 1, s["x"], "f32"), (recv, {}), (("x", "f32", XA),))
    eng, _ = run(lay)
    return int(eng.read_symbol(1, 0, "t")[1])


def test_async_op_activates_a_task_when_done():
    def recv(c):
        out = c.array("out", "f32", N_ASYNC)
        y = c.array("y", "f32", N_ASYNC, init=YA)
        t = c.array("t", "u32", 3)
        snap = c.array("snap", "f32", N_ASYNC)

        def main(pe):
            pe.fadds(
                mem1d_dsd(out), fabin_dsd(1, N_ASYNC), mem1d_dsd(y), async_=True, activate=done
            )
            pe[t][0] = pe.timestamp()  # the task goes on at once

        def done(pe):
            pe[t][1] = pe.timestamp()
            pe.fmovs(mem1d_dsd(snap), mem1d_dsd(out))  # what the op had written by now

        c.bind_local_task(main, MAIN)
        c.bind_local_task(done, 12)
        c.activate(MAIN)

    lay = _two_pe(lambda pe, s: _send(pe, 1, s["x"], "f32"), (recv, {}), (("x", "f32", XA),))
    eng, _ = run(lay)
    want = XA + YA
    assert_bits(eng.read_symbol(1, 0, "out"), want)
    assert_bits(eng.read_symbol(1, 0, "snap"), want)  # complete when `done` ran
    t = eng.read_symbol(1, 0, "t")
    assert t[0] == 2  # issue costs one cycle; the task did not wait for the stream
    sync_end = _sync_recv_end()
    assert sync_end <= t[1] <= sync_end + 1


def test_async_op_unblocks_a_blocked_task():
    def recv(c):
        out = c.array("out", "f32", N_ASYNC)
        snap = c.array("snap", "f32", N_ASYNC)
        t = c.array("t", "u32", 2)

        def main(pe):
            pe.fnegs(mem1d_dsd(out), fabin_dsd(1, N_ASYNC), async_=True, unblock=waiter)
            pe[t][0] = pe.timestamp()

        def waiter(pe):  # activated at load, but blocked until the op completes
            pe[t][1] = pe.timestamp()
            pe.fmovs(mem1d_dsd(snap), mem1d_dsd(out))

        c.bind_local_task(main, MAIN)
        c.bind_local_task(waiter, 9)
        c.activate(MAIN)
        c.activate(9)
        c.block(9)

    lay = _two_pe(lambda pe, s: _send(pe, 1, s["x"], "f32"), (recv, {}), (("x", "f32", XA),))
    eng, _ = run(lay)
    assert_bits(eng.read_symbol(1, 0, "snap"), -XA)
    t = eng.read_symbol(1, 0, "t")
    assert t[1] >= _sync_recv_end() > t[0]


@pytest.mark.parametrize(("dt", "cap"), [("f32", 4), ("f16", 3), ("f32", 1)])
def test_fifo_between_two_async_ops(dt, cap):
    """fabric -> (async mov) -> FIFO of ``cap`` slots -> (async neg) -> memory: the FIFO wraps
    around many times and back-pressures the producer; every element arrives once, in order."""
    n = 40
    t = NP[dt]
    x = (np.arange(n) * 0.5 - 7).astype(t)
    mov = "mov32" if dt == "f32" else "mov16"
    neg = "fnegs" if dt == "f32" else "fnegh"

    def recv(c):
        buf = c.array("buf", dt, cap)
        out = c.array("out", dt, n)
        fifo = c.fifo(buf)
        flags = c.array("flags", "u32", 1)

        def main(pe):
            getattr(pe, mov)(fifo_dsd(fifo, n), fabin_dsd(1, n, dt), async_=True)
            getattr(pe, neg)(mem1d_dsd(out), fifo_dsd(fifo, n), async_=True, activate=done)

        def done(pe):
            pe[flags][0] += 1

        c.bind_local_task(main, MAIN)
        c.bind_local_task(done, 14)
        c.activate(MAIN)

    lay = _two_pe(lambda pe, s: _send(pe, 1, s["x"], dt), (recv, {}), (("x", dt, x),))
    eng, res = run(lay)
    assert res.reason == "quiet"
    assert_bits(eng.read_symbol(1, 0, "out"), -x)
    assert eng.read_symbol(1, 0, "flags")[0] == 1


def test_fifo_from_memory_to_fabric():
    """memory -> FIFO (async) -> fadds with a memory operand -> fabric -> the neighbour."""
    n = 30
    x = np.arange(n, dtype=F32) * F32(0.1)
    y = np.arange(n, dtype=F32)[::-1].copy()

    def prog(c):
        xs = c.array("x", "f32", n, init=x)
        ys = c.array("y", "f32", n, init=y)
        fifo = c.fifo(c.array("buf", "f32", 5))

        def main(pe):
            pe.fmovs(fifo_dsd(fifo, n), mem1d_dsd(xs), async_=True)
            pe.fadds(fabout_dsd(1, n), fifo_dsd(fifo, n), mem1d_dsd(ys), async_=True)

        c.bind_local_task(main, MAIN)
        c.activate(MAIN)

    def recv(pe, s):
        pe.fmovs(mem1d_dsd(s["out"]), fabin_dsd(1, n))

    lay = Layout(2, 1)
    lay.set_route(0, 0, 1, rx="RAMP", tx="EAST")
    lay.set_route(1, 0, 1, rx="WEST", tx="RAMP")
    lay.set_tile_code(0, 0, prog)
    lay.set_tile_code(1, 0, body_prog, arrays=(("out", "f32", n),), body=recv)
    eng, _ = run(lay)
    assert_bits(eng.read_symbol(1, 0, "out"), x + y)


def test_async_memory_op_delays_its_completion():
    """An async memory-only op computes at issue but signals completion after its cost."""

    def prog(c):
        a = c.array("a", "f32", 20, init=np.arange(20, dtype=F32))
        t = c.array("t", "u32", 2)

        def main(pe):
            pe[t][0] = pe.timestamp()
            pe.fnegs(mem1d_dsd(a), mem1d_dsd(a), async_=True, activate=done)

        def done(pe):
            pe[t][1] = pe.timestamp()

        c.bind_local_task(main, MAIN)
        c.bind_local_task(done, 6)
        c.activate(MAIN)

    lay = Layout(1, 1)
    lay.set_tile_code(0, 0, prog)
    eng, _ = run(lay)
    np.testing.assert_array_equal(eng.read_symbol(0, 0, "a"), -np.arange(20, dtype=F32))
    t = eng.read_symbol(0, 0, "t")
    assert 20 <= t[1] - t[0] <= 22  # 20 elements at 1 f32/cycle, plus pick/startup


@pytest.mark.parametrize("path", ["mem", "fabin"])
def test_overlapping_operands_go_element_by_element(path):
    """dst = a[1:], src = a[:-1]: element i reads what element i - 1 just wrote, on both paths
    (memory-only ops run in order as the hardware streams them), so a[0] propagates."""
    n = 9
    a = np.arange(n, dtype=F32) + 1

    def body(pe, s):
        d = mem1d_dsd(s["a"], n - 1, offset=1)
        src = mem1d_dsd(s["a"], n - 1)
        if path == "mem":
            pe.fmovs(d, src)
        else:  # the same through the streaming kernel: + zeros from the fabric
            pe.fmovs(fabout_dsd(1, n - 1), mem1d_dsd(s["z"]), async_=True)
            pe.fadds(d, src, fabin_dsd(1, n - 1))

    lay = Layout(1, 1)
    lay.set_route(0, 0, 1, rx="RAMP", tx="RAMP")
    lay.set_tile_code(0, 0, body_prog, arrays=(("a", "f32", a), ("z", "f32", n - 1)), body=body)
    eng, _ = run(lay)
    np.testing.assert_array_equal(eng.read_symbol(0, 0, "a"), np.ones(n, F32))


def _repeated_fmacs(fresh_dsds: bool, scalars: list[float]) -> np.ndarray:
    """y += A[:, k] * s_k over the columns, twice, with the same DSD objects every time (the
    engine's cached path) or new ones per call (its checking path)."""
    from waferscale.fabric import Engine

    m, n = 8, len(scalars)

    def prog(c):
        A = c.array("A", "f32", m * n, export=True)
        y = c.array("y", "f32", m, export=True)
        cols = [mem1d_dsd(A, m, offset=k * m) for k in range(n)]
        yd = mem1d_dsd(y)

        def main(pe):
            for _ in range(2):
                for k in range(n):
                    if fresh_dsds:
                        pe.fmacs(mem1d_dsd(y), mem1d_dsd(y), mem1d_dsd(A, m, offset=k * m),
                                 scalars[k])
                    else:
                        pe.fmacs(yd, yd, cols[k], scalars[k])
            pe.fmovs(mem1d_dsd(A, m), yd)  # a second op kind on a reused destination

        c.bind_local_task(main, 10)
        c.activate(10)

    lay = Layout(1, 1, arch="wse2")
    lay.set_tile_code(0, 0, prog)
    eng = Engine(lay.compile())
    rng = np.random.default_rng(3)
    eng.view(0, eng.symbol(0, "A"))[:] = rng.standard_normal(m * n).astype(np.float32)
    eng.view(0, eng.symbol(0, "y"))[:] = rng.standard_normal(m).astype(np.float32)
    eng.run()
    return np.concatenate([eng.read_symbol(0, 0, "y"), eng.read_symbol(0, 0, "A")[:m]])


def test_repeated_memory_ops_on_the_same_dsds_match_fresh_ones():
    scalars = [1.5, -0.25, 3.0e30, 1e-40, 2.0, 7.0]
    cached = _repeated_fmacs(False, scalars)
    fresh = _repeated_fmacs(True, scalars)
    assert cached.view(np.uint32).tolist() == fresh.view(np.uint32).tolist()
    assert np.isfinite(cached).all()
    assert np.array_equal(cached[:8], cached[8:])  # the fmovs ran, on the cached path too


def test_a_task_resumed_after_other_batches_finishes_and_frees_its_ce():
    # PE 0's task parks in a synchronous receive while PE 1's tasks run and finish in earlier
    # batches; once resumed it must hand its CE back, or its follow-up task never starts.
    from waferscale.fabric import Engine

    def receiver(c):
        buf = c.array("buf", "f32", 4, export=True)
        seen = c.array("seen", "u32", 1, export=True)

        def main(pe):
            pe.fmovs(mem1d_dsd(buf), fabin_dsd(2, 4))  # synchronous: parks the task
            pe.activate(11)

        def after(pe):
            pe[seen][0] = 7

        c.bind_local_task(main, 10)
        c.bind_local_task(after, 11)
        c.activate(10)

    def sender(c):
        src = c.array("src", "f32", 4, export=True, init=1.5)

        def main(pe):
            pe.activate(11)

        def later(pe):
            pe.spend(40)
            pe.fmovs(fabout_dsd(2, 4), mem1d_dsd(src), async_=True)

        c.bind_local_task(main, 10)
        c.bind_local_task(later, 11)
        c.activate(10)

    lay = Layout(2, 1, arch="wse2")
    lay.set_tile_code(0, 0, receiver)
    lay.set_tile_code(1, 0, sender)
    lay.set_route(1, 0, 2, rx="RAMP", tx="WEST")
    lay.set_route(0, 0, 2, rx="EAST", tx="RAMP")
    eng = Engine(lay.compile())
    eng.run()
    assert eng.read_symbol(0, 0, "buf").tolist() == [1.5] * 4
    assert int(eng.read_symbol(0, 0, "seen")[0]) == 7
