"""Pieces of the FFT kernels: a radix-2 Stockham FFT over strided complex vectors with memory
vector ops (one PE), its exact cycle count, and an all-to-all along a line of PEs (the
transposes of the pencil decomposition).

Complex numbers are interleaved f32 pairs (re, im). A complex vector of ``N`` elements lives in
an f32 array at complex offset ``base`` with complex stride ``e``: element ``i`` is at f32 words
``2 (base + e i)`` (re) and ``2 (base + e i) + 1`` (im), so its real parts (and its imaginary
parts) form one strided memory DSD.

**Stockham autosort, radix 2.** Stage (n, s), ``n s = N``, ``m = n / 2``, for p < m, q < s:

    a = x[q + s p],  b = x[q + s (p + m)]
    y[q + 2 s p] = a + b,  y[q + s (2 p + 1)] = (a - b) w^(p s),   w = exp(-2 pi i / N)

then x and y swap, n halves, s doubles; after log2 N stages the result is in natural order.
For fixed p the q's are contiguous and the twiddle is a scalar (*variant P*: ``a - b`` into
temporaries, then ``fmuls`` + ``fmacs`` with the scalars ``wr``, ``wi``: 8 ops of s elements, 4
when p = 0); for fixed q the p's are strided and the twiddles a strided view of the table
(*variant Q*: 10 ops of m elements, products by ``fmuls`` of two vectors). A stage takes the
variant with fewer ops (Q while m > s). The twiddle tables are compile-time constants of the
program (``c.array(..., init=...)``).
"""

from __future__ import annotations

import math

import numpy as np

from ..program import fabin_dsd, fabout_dsd, mem1d_dsd
from ._base import vector_cycles


def log2_exact(n: int) -> int | None:
    """log2(n) if n is a power of two, else None."""
    if n < 1 or n & (n - 1):
        return None
    return n.bit_length() - 1


def stages(N: int) -> list[tuple[int, int, int]]:
    """(n, s, m) of every Stockham stage of an N-point FFT."""
    out, n, s = [], N, 1
    while n > 1:
        out.append((n, s, n // 2))
        n //= 2
        s *= 2
    return out


def twiddles(N: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and -sin of 2 pi t / N for t < N/2 (at least one element), rounded to f32."""
    t = np.arange(max(N // 2, 1))
    ang = 2 * np.pi * t / max(N, 1)
    return np.cos(ang).astype(np.float32), (-np.sin(ang)).astype(np.float32)


def fft_cycles(arch, N: int) -> int:
    """Cycles of :func:`fft1d` for one N-point vector."""
    total = 0
    for _n, s, m in stages(N):
        if m > s:
            total += s * 10 * vector_cycles(arch, m)
        else:
            total += (4 + 8 * (m - 1)) * vector_cycles(arch, s)
    return total


def fft_ops(N: int) -> int:
    return sum(s * 10 if m > s else 4 + 8 * (m - 1) for _n, s, m in stages(N))


class FFTPlan:
    """Declares the twiddle table and temporaries of an N-point FFT in a program (``c``)."""

    def __init__(self, c, N: int, tmp=None, tag: str = ""):
        self.N = N
        wr, wi = twiddles(N)
        self.twr = c.array(f"twr{tag}", "f32", len(wr), init=wr)
        self.twi = c.array(f"twi{tag}", "f32", len(wi), init=wi)
        self.wr = wr.tolist()
        self.wi = wi.tolist()
        half = max(N // 2, 1)
        self.tmp = tmp if tmp is not None else fft_temporaries(c, half, tag)

    def run(self, pe, src, dst, base: int, e: int):
        """FFT of the vector at complex offset ``base``, stride ``e`` of ``src``, ping-ponging
        with the same place in ``dst``; returns the array that holds the result."""
        x, y = src, dst
        dre, dim, t1, t2 = self.tmp
        for _n, s, m in stages(self.N):
            if m > s:  # variant Q: loop over q, vectors over p
                wr = mem1d_dsd(self.twr, m, 0, s)
                wi = mem1d_dsd(self.twi, m, 0, s)
                d_re, d_im = mem1d_dsd(dre, m), mem1d_dsd(dim, m)
                u1, u2 = mem1d_dsd(t1, m), mem1d_dsd(t2, m)
                for q in range(s):
                    a = base + e * q
                    b = base + e * (q + s * m)
                    o0 = base + e * q
                    o1 = base + e * (q + s)
                    ar, ai = _re(x, a, m, e * s), _im(x, a, m, e * s)
                    br, bi = _re(x, b, m, e * s), _im(x, b, m, e * s)
                    y0r, y0i = _re(y, o0, m, 2 * e * s), _im(y, o0, m, 2 * e * s)
                    y1r, y1i = _re(y, o1, m, 2 * e * s), _im(y, o1, m, 2 * e * s)
                    pe.fadds(y0r, ar, br)
                    pe.fadds(y0i, ai, bi)
                    pe.fsubs(d_re, ar, br)
                    pe.fsubs(d_im, ai, bi)
                    pe.fmuls(u1, d_re, wr)
                    pe.fmuls(u2, d_im, wi)
                    pe.fsubs(y1r, u1, u2)
                    pe.fmuls(u1, d_im, wr)
                    pe.fmuls(u2, d_re, wi)
                    pe.fadds(y1i, u1, u2)
            else:  # variant P: loop over p, vectors over q, scalar twiddle
                d_re, d_im = mem1d_dsd(dre, s), mem1d_dsd(dim, s)
                for p in range(m):
                    a = base + e * (s * p)
                    b = base + e * (s * (p + m))
                    o0 = base + e * (s * 2 * p)
                    o1 = base + e * (s * (2 * p + 1))
                    ar, ai = _re(x, a, s, e), _im(x, a, s, e)
                    br, bi = _re(x, b, s, e), _im(x, b, s, e)
                    y1r, y1i = _re(y, o1, s, e), _im(y, o1, s, e)
                    pe.fadds(_re(y, o0, s, e), ar, br)
                    pe.fadds(_im(y, o0, s, e), ai, bi)
                    if p == 0:
                        pe.fsubs(y1r, ar, br)
                        pe.fsubs(y1i, ai, bi)
                        continue
                    wr, wi = self.wr[p * s], self.wi[p * s]
                    pe.fsubs(d_re, ar, br)
                    pe.fsubs(d_im, ai, bi)
                    pe.fmuls(y1r, d_re, wr)
                    pe.fmacs(y1r, y1r, d_im, -wi)
                    pe.fmuls(y1i, d_im, wr)
                    pe.fmacs(y1i, y1i, d_re, wi)
            x, y = y, x
        return x


def fft_temporaries(c, half: int, tag: str = ""):
    return tuple(c.array(f"{n}{tag}", "f32", half) for n in ("dre", "dim", "t1", "t2"))


def _re(sym, off: int, n: int, stride: int):
    return mem1d_dsd(sym, n, 2 * off, 2 * stride)


def _im(sym, off: int, n: int, stride: int):
    return mem1d_dsd(sym, n, 2 * off + 1, 2 * stride)


def pe_order_fft(x: np.ndarray) -> np.ndarray:
    """The Stockham FFT in float32 with the PEs' operations (unfused, each op rounded), along the
    last axis of ``x`` (complex64). Used to report ``bit_exact_pe_order``."""
    re = np.ascontiguousarray(x.real, np.float32)
    im = np.ascontiguousarray(x.imag, np.float32)
    N = x.shape[-1]
    wr, wi = twiddles(N)
    for _n, s, m in stages(N):
        shp = re.shape[:-1]
        r4 = re.reshape(*shp, 2, m, s)  # index q + s p + s m h -> (h, p, q)
        i4 = im.reshape(*shp, 2, m, s)
        ar, br, ai, bi = r4[..., 0, :, :], r4[..., 1, :, :], i4[..., 0, :, :], i4[..., 1, :, :]
        y0r, y0i = ar + br, ai + bi
        dr, di = ar - br, ai - bi
        w_r = wr[np.arange(m) * s][:, None].astype(np.float32)
        w_i = wi[np.arange(m) * s][:, None].astype(np.float32)
        if m > s:
            y1r = dr * w_r - di * w_i
            y1i = di * w_r + dr * w_i
        else:
            y1r = (dr * w_r) + (di * (-w_i))
            y1i = (di * w_r) + (dr * w_i)
            y1r[..., 0, :] = dr[..., 0, :]
            y1i[..., 0, :] = di[..., 0, :]
        # output index q + s (2 p + h) -> (p, h, q)
        re = np.stack([y0r, y1r], axis=-2).reshape(*shp, N).astype(np.float32)
        im = np.stack([y0i, y1i], axis=-2).reshape(*shp, N).astype(np.float32)
    return re + 1j * im.astype(np.complex64)


# -- all-to-all along a line --------------------------------------------------------------------
#
# Store and forward through the CEs: toward higher positions ("fwd" direction), PE k first sends
# its own blocks for k+1, k+2, ..., then handles what arrives from k-1 - blocks from k-1, k-2,
# ..., 0 (nearest source first), each for k, k+1, ...: it receives its own, forwards the others
# (one fabric-to-fabric op streaming through the CE). The other direction mirrors it. Each
# direction is a list of asynchronous ops run one after the other on its own microthread; the
# completion of each op activates the direction's task, which issues the next one.


def line_steps(k: int, P: int, send_runs, recv_runs, block_len):
    """(forward steps, backward steps) of PE k: lists of ("send", off, n) / ("recv", off, n) /
    ("fwd", n) in complex units. ``send_runs(k, dst)``, ``recv_runs(src, k)``: runs (offset,
    length) of the block in the source / destination buffer; ``block_len(src, dst)``: its
    length."""
    fwd, bwd = [], []
    for dsts, srcs, out in (
        (range(k + 1, P), range(k - 1, -1, -1), fwd),
        (range(k - 1, -1, -1), range(k + 1, P), bwd),
    ):
        for d in dsts:
            out.extend(("send", off, n) for off, n in send_runs(k, d) if n)
        ahead = [d for d in dsts]
        for s in srcs:
            if recv_runs(s, k):
                out.extend(("recv", off, n) for off, n in recv_runs(s, k) if n)
            for d in ahead:
                n = block_len(s, d)
                if n:
                    out.append(("fwd", n))
    return fwd, bwd


def local_copy(pe, src, dst, send_runs, recv_runs):
    """Copy a block within the PE (source runs -> destination runs, same element order)."""
    si = [list(r) for r in send_runs]
    di = [list(r) for r in recv_runs]
    a = b = 0
    while a < len(si) and b < len(di):
        n = min(si[a][1], di[b][1])
        if n:
            pe.fmovs(mem1d_dsd(dst, 2 * n, 2 * di[b][0]), mem1d_dsd(src, 2 * n, 2 * si[a][0]))
        for r, idx in ((si, a), (di, b)):
            r[idx][0] += n
            r[idx][1] -= n
        if si[a][1] == 0:
            a += 1
        if di[b][1] == 0:
            b += 1


def local_copy_cycles(arch, send_runs, recv_runs) -> int:
    si = [list(r) for r in send_runs]
    di = [list(r) for r in recv_runs]
    a = b = 0
    total = 0
    while a < len(si) and b < len(di):
        n = min(si[a][1], di[b][1])
        if n:
            total += vector_cycles(arch, 2 * n)
        si[a][1] -= n
        di[b][1] -= n
        if si[a][1] == 0:
            a += 1
        if di[b][1] == 0:
            b += 1
    return total


class LineExchange:
    """One PE's part of an all-to-all along a line: ``colors`` = (fwd out, fwd in, bwd out, bwd
    in) (None where there is no neighbour), tasks and microthreads per direction."""

    def __init__(self, steps, colors, tasks, threads, src, dst):
        self.steps = steps  # (fwd list, bwd list)
        self.colors = colors
        self.tasks = tasks
        self.threads = threads
        self.src = src
        self.dst = dst

    def issue(self, pe, direction: int, index: int) -> bool:
        """Issue step ``index`` of ``direction``; False when the list is done."""
        lst = self.steps[direction]
        if index >= len(lst):
            return False
        cout = self.colors[2 * direction]
        cin = self.colors[2 * direction + 1]
        st = lst[index]
        opts = {"async_": True, "microthread": self.threads[direction],
                "activate": self.tasks[direction]}
        if st[0] == "send":
            _k, off, n = st
            pe.fmovs(fabout_dsd(cout, 2 * n), mem1d_dsd(self.src, 2 * n, 2 * off), **opts)
        elif st[0] == "recv":
            _k, off, n = st
            pe.fmovs(mem1d_dsd(self.dst, 2 * n, 2 * off), fabin_dsd(cin, 2 * n), **opts)
        else:
            _k, n = st
            pe.fmovs(fabout_dsd(cout, 2 * n), fabin_dsd(cin, 2 * n), **opts)
        return True


def line_loads(P: int, block_len) -> dict[str, int]:
    """Words (complex x 2) through the busiest PE's down ramp and up ramp, and over the busiest
    link, for a store-and-forward all-to-all along a line of P."""
    down = up = link = 0
    for k in range(P):
        d = sum(block_len(s, t) for s in range(k) for t in range(k, P))
        d += sum(block_len(s, t) for s in range(k + 1, P) for t in range(0, k + 1))
        u = sum(block_len(s, t) for s in range(k + 1) for t in range(k + 1, P))
        u += sum(block_len(s, t) for s in range(k, P) for t in range(0, k))
        down, up = max(down, 2 * d), max(up, 2 * u)
        if k + 1 < P:
            east = sum(block_len(s, t) for s in range(k + 1) for t in range(k + 1, P))
            west = sum(block_len(s, t) for s in range(k + 1, P) for t in range(k + 1))
            link = max(link, 2 * east, 2 * west)
    return {"down": down, "up": up, "link": link}


_ = math  # (kept for callers computing log2 sizes)
