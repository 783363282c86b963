"""The memory-only ops' 32-bit fast loops (``_memops._word_loop``) and accumulation runs
(``memory_run_at``) against the element-by-element definition (``apply_elem`` in element
order, op after op): the same words, bit for bit, for every operand form (memory at any stride,
in place, overlapping, scalar) and for NaN, infinity, zero and subnormal operands (the NaN rule:
the first NaN operand, made quiet)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waferscale.fabric._layout_consts import K_MEM, K_NONE, K_SCALAR
from waferscale.fabric._memops import (
    MP_A_ARG,
    MP_A_KIND,
    MP_A_STRIDE,
    MP_A_WIDTH,
    MP_B_ARG,
    MP_B_KIND,
    MP_B_STRIDE,
    MP_B_WIDTH,
    MP_CODE,
    MP_D_ADDR,
    MP_D_STRIDE,
    MP_D_WIDTH,
    MP_FUSED,
    MP_N,
    MP_SCALAR,
    MP_SCALAR_AT,
    N_MP,
    RUN_STACK_WORDS,
    accumulates,
    joins_run,
    memory_op,
    memory_run_at,
)
from waferscale.fabric._numerics import ElemOp, _nan32, apply_elem

WORDS = 48  # the memory of the test, in 32-bit words

# f32 words the NaN rule and the rounding care about, plus ordinary ones
SPECIAL = [
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000,  # zeros, infinities
    0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFA00005, 0x7FC12345,  # quiet and signalling NaNs
    0x00000001, 0x807FFFFF, 0x00800000,  # subnormals, the least normal
    0x3F800000, 0xBF800000, 0x7F7FFFFF, 0x4B800000,  # 1, -1, the largest, 2**24
]  # fmt: skip
f32_words = st.one_of(st.sampled_from(SPECIAL), st.integers(0, 2**32 - 1))
OPS = [ElemOp.FADDS, ElemOp.FSUBS, ElemOp.FMULS, ElemOp.FMACS, ElemOp.MOV32]


def _reference(mem, code, n, scalar, d, a, b) -> np.ndarray:
    """The op as defined: element by element, in order, each result stored before the next
    element's operands are read."""
    out = mem.copy()
    for i in range(n):
        x = out[a[1] + i * a[2]] if a[0] == K_MEM else np.uint32(a[1])
        y = out[b[1] + i * b[2]] if b[0] == K_MEM else np.uint32(b[1])
        out[d[0] + i * d[1]] = apply_elem(int(code), x, y, np.uint32(scalar), False)
    return out


@st.composite
def _operand(draw, n, *, scalar_ok):
    """(kind, first word or the scalar, stride in words) with every element inside memory."""
    if scalar_ok and draw(st.booleans()):
        return (K_SCALAR, draw(f32_words), 0)
    stride = draw(st.integers(1, 3))
    first = draw(st.integers(0, WORDS - 1 - (n - 1) * stride))
    return (K_MEM, first, stride)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_fast_loops_give_the_elementwise_result(data) -> None:
    code = data.draw(st.sampled_from(OPS))
    n = data.draw(st.integers(1, 15))
    mem = np.array(data.draw(st.lists(f32_words, min_size=WORDS, max_size=WORDS)), np.uint32)
    scalar = data.draw(f32_words) if code == ElemOp.FMACS else 0
    d_stride = data.draw(st.integers(1, 3))
    d = (data.draw(st.integers(0, WORDS - 1 - (n - 1) * d_stride)), d_stride)
    a = data.draw(_operand(n, scalar_ok=True))
    if data.draw(st.booleans()) and a[0] == K_MEM:
        a = (K_MEM, d[0], d[1])  # in place: y = y op b
    b = (K_NONE, 0, 0) if code == ElemOp.MOV32 else data.draw(_operand(n, scalar_ok=True))
    want = _reference(mem, code, n, scalar, d, a, b)

    got = mem.copy()
    memory_op(
        got, int(code), n, False, scalar,
        4 * d[0], 4 * d[1], 4,
        a[0], 4 * a[1] if a[0] == K_MEM else a[1], 4 * a[2], 4,
        b[0], 4 * b[1] if b[0] == K_MEM else b[1], 4 * b[2], 4,
    )  # fmt: skip
    np.testing.assert_array_equal(got, want)


def test_a_nan_made_by_the_op_and_read_again_keeps_the_rule() -> None:
    # inf - inf makes the default NaN in element 0; element 1 reads it back (the destination
    # overlaps the source one word on): its result is that NaN, made quiet, as defined
    mem = np.array([0x7F800000, 0x7F800000, 0x3F800000, 0, 0x7F800000, 0x3F800000, 0, 0], np.uint32)
    want = _reference(mem, ElemOp.FSUBS, 3, 0, (1, 1), (K_MEM, 0, 1), (K_MEM, 4, 1))
    got = mem.copy()
    memory_op(got, int(ElemOp.FSUBS), 3, False, 0, 4, 4, 4,
              K_MEM, 0, 4, 4, K_MEM, 16, 4, 4)  # fmt: skip
    np.testing.assert_array_equal(got, want)
    assert got[1] == 0xFFC00000 and got[2] == 0xFFC00000  # x86's default NaN, quiet


def test_a_strided_memory_array_is_refused() -> None:
    mem = np.zeros(16, np.uint32)[::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        memory_op(mem, int(ElemOp.MOV32), 2, False, 0, 0, 4, 4, K_MEM, 8, 4, 4, K_NONE, 0, 0, 4)


RUN_OPS = [ElemOp.FADDS, ElemOp.FSUBS, ElemOp.FMULS, ElemOp.FMACS]


def _run_rows(run, n, d, base) -> np.ndarray:
    """Packed rows (``MP_*``) of ops ``d = op(d, b, c)`` on ``n`` words at word ``d``: ``run``
    lists (code, word of b, scalar or ("at", word)); words of the arena, the PE's memory at
    byte ``base``."""
    rows = np.zeros((len(run), N_MP), np.int64)
    for r, (code, b, scalar) in enumerate(run):
        rows[r, [MP_CODE, MP_N, MP_D_ADDR, MP_D_STRIDE, MP_D_WIDTH]] = (int(code), n, 4 * d, 4, 4)
        rows[r, [MP_A_KIND, MP_A_ARG, MP_A_STRIDE, MP_A_WIDTH]] = (K_MEM, 4 * d, 4, 4)
        rows[r, [MP_B_KIND, MP_B_ARG, MP_B_STRIDE, MP_B_WIDTH]] = (K_MEM, 4 * b, 4, 4)
        if isinstance(scalar, tuple):
            rows[r, MP_SCALAR_AT] = ((4 * scalar[1] - base) << 3) | 4
        else:
            rows[r, MP_SCALAR] = scalar
    rows[:, [MP_D_ADDR, MP_A_ARG, MP_B_ARG]] -= base  # relative to the PE's memory
    return rows


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_an_accumulation_run_gives_the_ops_one_by_one(data) -> None:
    pe = 2  # the PE's memory starts at word 2 of the arena
    n = data.draw(st.integers(1, 8))
    d = data.draw(st.integers(pe, WORDS - n))
    outside = [w for w in range(pe, WORDS) if not d <= w < d + n]
    free = [w for w in range(pe, WORDS - n + 1) if w + n <= d or d + n <= w]
    nan_free = data.draw(st.booleans())  # most runs have no NaN: they take the run's loop
    words = st.integers(0, 2**32 - 1).filter(lambda w: (w & 0x7FFFFFFF) <= 0x7F800000)
    word = words if nan_free else f32_words
    mem = np.array(data.draw(st.lists(word, min_size=WORDS, max_size=WORDS)), np.uint32)
    op = st.tuples(
        st.sampled_from(RUN_OPS),
        st.sampled_from(free),
        st.one_of(word, st.tuples(st.just("at"), st.sampled_from(outside))),
    )
    run = data.draw(st.lists(op, min_size=1, max_size=5))
    want = mem.copy()
    for code, b, scalar in run:  # one by one, each scalar read when its op issues
        c = int(want[scalar[1]]) if isinstance(scalar, tuple) else scalar
        want = _reference(want, code, n, c, (d, 1), (K_MEM, d, 1), (K_MEM, b, 1))
    base = 4 * pe
    rows = _run_rows(run, n, d, base)
    assert all(accumulates(row) and joins_run(rows[0], row) for row in rows)

    got = mem.copy()
    ran = memory_run_at(got.ctypes.data, got.size, rows, 0, len(run), base)
    scalars = [int(mem[s[1]]) if isinstance(s, tuple) else s for _, _, s in run]
    has_nan = [_nan32(int(w)) for w in mem[d : d + n]]
    has_nan += [_nan32(int(w)) for _, b, _ in run for w in mem[b : b + n]]
    has_nan += [_nan32(c) for c in scalars]
    assert ran is not any(has_nan)  # a NaN at the start: left to the ops one by one
    np.testing.assert_array_equal(got, want if ran else mem)


@pytest.mark.parametrize("nan", [False, True])
def test_a_run_longer_than_its_stack_copy_is_put_back_on_a_nan(nan) -> None:
    # d longer than the stack copy: the run keeps its copy on the heap, and a NaN in the
    # second op's b (found after the first op changed d) still leaves the memory as it was
    pe = 2
    n = RUN_STACK_WORDS + 8
    d, b1, b2, at = pe, pe + n, pe + 2 * n, pe + 3 * n
    rng = np.random.default_rng(3)
    mem = rng.standard_normal(at + 4).astype(np.float32).view(np.uint32)
    if nan:
        mem[b2 + n - 1] = 0x7FC00000
    run = [(ElemOp.FMACS, b1, ("at", at)), (ElemOp.FADDS, b2, 0)]
    want = mem.copy()
    for code, b, scalar in run:
        c = int(want[scalar[1]]) if isinstance(scalar, tuple) else scalar
        want = _reference(want, code, n, c, (d, 1), (K_MEM, d, 1), (K_MEM, b, 1))
    got = mem.copy()
    ran = memory_run_at(got.ctypes.data, got.size, _run_rows(run, n, d, 4 * pe), 0, 2, 4 * pe)
    assert ran is not nan
    np.testing.assert_array_equal(got, mem if nan else want)


@pytest.mark.parametrize(
    ("change", "joins"),
    [
        ({}, True),
        ({MP_B_ARG: 4 * 3}, False),  # b overlaps d
        ({MP_SCALAR_AT: (4 * 2 << 3) | 4}, False),  # the scalar is in d
        ({MP_SCALAR_AT: (4 * 30 << 3) | 2}, False),  # a 16-bit scalar
        ({MP_FUSED: 1}, False),
        ({MP_B_STRIDE: 8}, False),
        ({MP_A_ARG: 4 * 20}, False),  # not in place
        ({MP_N: 3}, False),  # another length than the run's first op
        ({MP_CODE: int(ElemOp.MOV32)}, False),
    ],
)
def test_what_joins_an_accumulation_run(change, joins) -> None:
    first = _run_rows([(ElemOp.FMACS, 10, 0x3F800000)], 4, 0, 0)[0]
    row = first.copy()
    for field, value in change.items():
        row[field] = value
    assert joins_run(first, row) is joins
