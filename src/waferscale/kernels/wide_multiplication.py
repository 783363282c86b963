"""``wide-multiplication``: the product of two ``bits``-bit unsigned integers (128 x 128 by
default) on one PE, bit-serially with 16-bit word operations, the words streamed in and out
(the SDK's wide multiplication example). Exact check against Python integers.

Mapping. Every PE of the grid (default 1x1) multiplies its own pair. With ``nw = bits / 16``
words per operand (little-endian), the host streams ``a`` then ``b`` (2 nw 16-bit wavelets) into
the PE on color ``IN_COLOR`` (``memcpy_h2d`` streaming); the launched ``compute`` receives them
with one fabric-input ``mov16``, and streams the ``2 nw``-word product out on ``OUT_COLOR``
(``memcpy_d2h`` streaming). In between, over ``2 nw``-word vectors of u16 (vector 16-bit ops,
``simd_i16`` lanes):

* **bit masks**: ``m[j] = 0 - ((b[j / 16] >> (j mod 16)) & 1)`` (0 or 0xFFFF) for every bit j of
  b: per shift k, ``slr16`` over the words of b into a stride-16 view, then ``and16`` and
  ``sub16`` over all bits;
* **carry-save accumulation**, one bit of b per step (LSB first), with ``A`` = a shifted left by
  j bits:

      X = A & m[j]                                  (and16; the scalar mask)
      T = S ^ C; M = (S & C) | (T & X); S = T ^ X   (5 ops: the full adders of every bit)
      C = M << 1 across words; A = A << 1           (3 ops each: sll16, slr16 15, or16)

  S + C stays equal to the partial product mod 2^(2 bits), with no carry to propagate: 12
  vector ops per bit, whatever the data;
* **final carry propagation**: S + C with a scalar ripple over the 2 nw words
  (``RIPPLE_CYCLES`` per word).

Cost model (cycles), ``v(n) = op_startup + ceil(n / simd_i16)``, ``L = 2 nw``:

    T = L + 1                                  (receive a, b: one wavelet per cycle)
        + 3 v(L) + 17 v(nw) + 2 v(bits)        (clear S, C, A; copy a; 16 shifts of b's
                                                words; the masks' and16, sub16)
        + bits * (6 v(L) + 2 (2 v(L - 1) + v(L)))   (the bit-serial steps)
        + RIPPLE_CYCLES * L + L                (carry ripple; send the product)

(WSE-2, 128 bits: 6351 cycles). Counts: ``flops`` reports the 16-bit word operations (12
(2 nw) per bit); bytes: the 4 nw bytes in and 4 nw bytes out.
"""

from __future__ import annotations

import numpy as np

from ..program import Layout, fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import (
    Kernel,
    KernelError,
    Outcome,
    declare_timer,
    open_runtime,
    read_cycles,
    register,
    stamp,
    vector_cycles,
)

IN_COLOR = 2
OUT_COLOR = 3
RIPPLE_CYCLES = 4
"""Scalar cycles per 16-bit word of the final carry ripple (load, add, add carry, store)."""


def wide_mult_program(c, *, bits: int) -> None:
    nw = bits // 16
    L = 2 * nw
    ab = c.array("ab", "u16", L)  # a, then b
    A = c.array("A", "u16", L)  # a shifted left by j bits
    S = c.array("S", "u16", L)
    Cc = c.array("C", "u16", L)
    T = c.array("T", "u16", L)
    M = c.array("M", "u16", L)
    X = c.array("X", "u16", L)
    masks = c.array("masks", "u16", bits)
    prod = c.array("prod", "u16", L, export=True)
    ts = declare_timer(c)
    full = {
        n: mem1d_dsd(a) for n, a in (("A", A), ("S", S), ("C", Cc), ("T", T), ("M", M), ("X", X))
    }
    lo = {n: mem1d_dsd(a, L - 1) for n, a in (("A", A), ("C", Cc), ("T", T), ("M", M))}
    hi = {n: mem1d_dsd(a, L - 1, offset=1) for n, a in (("A", A), ("C", Cc), ("T", T))}

    def shift_left(pe, dst, src):
        """dst = src << 1 across the words (dst may be src; T is scratch)."""
        pe.slr16(hi["T"], lo[src], 15)  # the bit leaving word i enters word i + 1
        pe.sll16(full[dst], full[src], 1)
        pe.or16(hi[dst], hi[dst], hi["T"])

    def compute(pe):
        pe.unblock_cmd_stream()  # the host streams a and b next
        stamp(pe, ts, 0)
        pe.mov16(mem1d_dsd(ab), fabin_dsd(IN_COLOR, L, "u16"))
        pe.mov16(full["S"], 0)
        pe.mov16(full["C"], 0)
        pe.mov16(full["A"], 0)
        pe.mov16(mem1d_dsd(A, nw), mem1d_dsd(ab, nw))
        for k in range(16):  # masks[16 w + k] = bit k of word w of b
            pe.slr16(mem1d_dsd(masks, nw, offset=k, stride=16), mem1d_dsd(ab, nw, offset=nw), k)
        md = mem1d_dsd(masks)
        pe.and16(md, md, 1)
        pe.sub16(md, 0, md)  # 0 or 0xFFFF
        mv = pe[masks].tolist()
        for j in range(bits):
            pe.and16(full["X"], full["A"], mv[j])
            pe.xor16(full["T"], full["S"], full["C"])
            pe.and16(full["M"], full["S"], full["C"])
            pe.xor16(full["S"], full["T"], full["X"])
            pe.and16(full["T"], full["T"], full["X"])
            pe.or16(full["M"], full["M"], full["T"])
            shift_left(pe, "C", "M")
            shift_left(pe, "A", "A")
        s, cc = pe[S].tolist(), pe[Cc].tolist()
        carry, out = 0, pe[prod]
        for i in range(L):  # scalar ripple: prod = S + C
            v = s[i] + cc[i] + carry
            out[i] = v & 0xFFFF
            carry = v >> 16
        pe.spend(RIPPLE_CYCLES * L)
        pe.mov16(fabout_dsd(OUT_COLOR, L, "u16"), mem1d_dsd(prod))
        stamp(pe, ts, 1)

    c.export(compute)


def to_words(v: int, nw: int) -> list[int]:
    return [(v >> (16 * i)) & 0xFFFF for i in range(nw)]


def from_words(words) -> int:
    return sum(int(w) << (16 * i) for i, w in enumerate(words))


@register
class WideMultiplication(Kernel):
    name = "wide-multiplication"
    summary = "bits x bits unsigned product (128 x 128), bit-serial carry-save, 16-bit words"
    size_names = ("bits",)
    default_grid = (1, 1)
    default_size = {"bits": 128}
    check = "product == Python int a * b (exact), every PE"

    def validate(self, arch, grid, size):
        if size["bits"] % 16:
            raise KernelError(f"{self.name}: bits={size['bits']} must be a multiple of 16")

    def pe_memory_bytes(self, grid, size):
        return 2 * (2 * size["bits"] // 16) * 8 + 2 * size["bits"] + 64

    def flops(self, grid, size):
        return 12.0 * size["bits"] * (2 * size["bits"] // 16) * grid[0] * grid[1]

    def bytes(self, grid, size):
        return 4.0 * (size["bits"] // 16) * 2 * grid[0] * grid[1]

    def model_cycles(self, arch, grid, size):
        bits = size["bits"]
        nw = bits // 16
        L = 2 * nw
        v = vector_cycles(arch, L, "u16")
        setup = (
            3 * v
            + vector_cycles(arch, nw, "u16")
            + 16 * vector_cycles(arch, nw, "u16")
            + 2 * vector_cycles(arch, bits, "u16")
        )
        step = 6 * v + 2 * (2 * vector_cycles(arch, L - 1, "u16") + v)
        return L + 1 + setup + bits * step + RIPPLE_CYCLES * L + L

    def simulate(self, arch, grid, size, seed):
        from ..runtime import MemcpyDataType, MemcpyOrder

        W, H = grid
        bits = size["bits"]
        nw = bits // 16
        rng = np.random.default_rng(seed)
        pairs = [
            (
                int.from_bytes(rng.bytes(bits // 8), "little"),
                int.from_bytes(rng.bytes(bits // 8), "little"),
            )
            for _ in range(W * H)
        ]
        words = np.array([to_words(a, nw) + to_words(b, nw) for a, b in pairs], np.uint32)
        lay = Layout(W, H, arch=arch, name=f"wide_multiplication_{bits}")
        lay.set_region_code(0, 0, W, H, wide_mult_program, bits=bits)
        lay.color("ab_in", IN_COLOR)
        lay.color("prod_out", OUT_COLOR)
        runner = open_runtime(lay.compile())
        runner.launch("compute", nonblock=False)
        runner.memcpy_h2d(
            runner.get_id("ab_in"),
            words.reshape(-1),
            0,
            0,
            W,
            H,
            2 * nw,
            streaming=True,
            data_type=MemcpyDataType.MEMCPY_16BIT,
            order=MemcpyOrder.ROW_MAJOR,
            nonblock=True,
        )
        out = np.zeros(W * H * 2 * nw, np.uint32)
        runner.memcpy_d2h(
            out,
            runner.get_id("prod_out"),
            0,
            0,
            W,
            H,
            2 * nw,
            streaming=True,
            data_type=MemcpyDataType.MEMCPY_16BIT,
            order=MemcpyOrder.ROW_MAJOR,
            nonblock=False,
        )
        timing = read_cycles(runner, W, H)
        runner.stop()
        got = [from_words(r) for r in out.reshape(W * H, 2 * nw)]
        wrong = sum(g != a * b for g, (a, b) in zip(got, pairs, strict=True))
        return Outcome(
            wrong == 0,
            float(wrong),
            timing["cycles"],
            {"products_wrong": wrong, "a0": hex(pairs[0][0]), "product0": hex(got[0])},
        )
