"""The memory-only ops' 32-bit fast loops (``_memops._word_loop``) against the element-by-element
definition (``apply_elem`` in element order): the same words, bit for bit, for every operand
form (memory at any stride, in place, overlapping, scalar) and for NaN, infinity, zero and
subnormal operands (the NaN rule: the first NaN operand, made quiet)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waferscale.fabric._layout_consts import K_MEM, K_NONE, K_SCALAR
from waferscale.fabric._memops import memory_op
from waferscale.fabric._numerics import ElemOp, apply_elem

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
